"""Golden files: committed real Locust outputs, and the exact verdict (text and JSON) and exit code for each.

A change in a decision or a renderer shows up here as a diff. If the change is intended, regenerate the expected
outputs with `.venv/bin/python tests/golden/make_golden.py --expected-only` and review the diff before committing.
"""

import json
from pathlib import Path

import pytest

from analysis.exit_codes import ExitCode
from tests.golden.make_golden import CASES, normalise, run_cli

CASE_DIRS = sorted(p for p in CASES.iterdir() if (p / "case.json").is_file())


def test_every_exit_code_has_a_golden_case():
    codes = {json.loads((case / "case.json").read_text())["exit_code"] for case in CASE_DIRS}
    assert codes == {int(code) for code in ExitCode}


def test_golden_inputs_are_small():
    for path in Path(CASES).parent.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".csv"):
            assert path.stat().st_size < 100_000, path


@pytest.mark.parametrize("case", CASE_DIRS, ids=lambda p: p.name)
def test_golden_case(case: Path):
    spec = json.loads((case / "case.json").read_text())
    code, text, err = run_cli(spec["args"])
    assert code == spec["exit_code"], err
    if (case / "expected.stderr").is_file():
        lines = err.strip().splitlines()
        assert normalise(lines[-1]) + "\n" == (case / "expected.stderr").read_text()
        assert not text and "Traceback" not in err
        return
    assert normalise(text) == (case / "expected.txt").read_text()
    code, as_json, _ = run_cli(spec["args"] + ["--format", "json"])
    assert json.loads(normalise(as_json)) == json.loads((case / "expected.json").read_text())


def test_csv_and_json_inputs_of_one_run_agree_on_counts_and_available_percentiles():
    """The two outputs of the same real run: CSV may lag, but never exceeds the JSON's final counts."""
    from analysis.results import load_run

    folder = CASES.parent / "runs" / "healthy"
    from_json, from_csv = load_run(folder / "locust.json"), load_run(folder / "locust_stats.csv")
    assert set(from_json.endpoints) == set(from_csv.endpoints)
    for key, endpoint in from_csv.endpoints.items():
        assert endpoint.percentile_source == "csv" and from_json.endpoints[key].percentile_source == "histogram"
        assert 0 < endpoint.requests <= from_json.endpoints[key].requests
