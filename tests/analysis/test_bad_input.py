"""Every kind of bad input is one line on stderr naming the file (and the key where there is one), exit 1."""

import json
import shutil
from pathlib import Path

import pytest

from analysis.cli import main

REPO = Path(__file__).resolve().parents[2]
PRODUCTION = str(REPO / "baselines" / "production.toml")
HEALTHY_RUN = REPO / "tests" / "golden" / "runs" / "healthy"
REFERENCE = REPO / "tests" / "golden" / "references" / "healthy.json"


def one_line_error(capsys, args: list[str]) -> str:
    code = main(args)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 1, captured.err
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "Traceback" not in captured.err
    return lines[0]


def compare(results, baseline=PRODUCTION, *extra) -> list[str]:
    return ["compare", str(results), "--baseline", str(baseline), *extra]


# ---- results ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("locust.json", "", "file is empty"),
        ("locust.json", '[{"name": "/a", "method": "GET", "num_requests"', "invalid JSON"),
        ("locust.json", '{"stats": []}', "expected a list of Locust stats entries"),
        ("locust.json", '[{"name": "/a", "method": "GET", "num_requests": 1, "num_failures": 0}]', "[0]: missing key 'response_times'"),
        ("locust.json", '[{"name": "/a", "method": "GET", "num_requests": "3", "num_failures": 0, "response_times": {}}]', "[0].num_requests"),
        ("locust.json", '[{"name": "/a", "method": "GET", "num_requests": 3, "num_failures": 0, "response_times": {"x": 3}}]', "[0].response_times"),
        ("locust_stats.csv", "", "file is empty"),
        ("locust_stats.csv", "timeStamp,elapsed,label,responseCode,success\n1,2,a,200,true\n", "missing column 'Type'"),
        ("locust_stats.csv", None, "line 3: has"),  # truncated: written below from the real CSV
        ("locust_stats.csv", None, "Request Count"),  # a word where a count should be
    ],
)
def test_bad_results_file(tmp_path, capsys, name, content, expected):
    path = tmp_path / name
    if content is None:  # derived from the real golden CSV
        header, first_row = (HEALTHY_RUN / "locust_stats.csv").read_text().splitlines()[:2]
        if expected.startswith("line 3"):
            content = "\n".join([header, first_row, first_row[: len(first_row) // 3]]) + "\n"
        else:
            fields = first_row.split(",")
            fields[2] = "many"  # the Request Count column
            content = "\n".join([header, ",".join(fields)]) + "\n"
    path.write_text(content)
    line = one_line_error(capsys, compare(path))
    assert str(path) in line and expected in line


def test_missing_results_path(tmp_path, capsys):
    line = one_line_error(capsys, compare(tmp_path / "nothing-here"))
    assert "no run results found" in line and "nothing-here" in line


def test_folder_without_locust_outputs(tmp_path, capsys):
    (tmp_path / "manifest.json").write_text(json.dumps({"schema_version": 1}))
    assert "no locust.json or locust_stats.csv" in one_line_error(capsys, compare(tmp_path))


@pytest.mark.parametrize(
    "sidecar, content, expected",
    [
        ("manifest.json", "{", "invalid JSON"),
        ("manifest.json", "[]", "expected a JSON object"),
        ("manifest.json", json.dumps({"schema_version": 1, "generator": {"cpu_warning": "very"}}), "generator.cpu_warning"),
        ("manifest.json", json.dumps({"schema_version": 7}), "schema_version"),
        ("business_metrics.json", json.dumps({"schema_version": 1, "derived": {"export_success_rate": "high"}}), "derived.export_success_rate"),
    ],
)
def test_bad_sidecar_in_results_folder(tmp_path, capsys, sidecar, content, expected):
    run = tmp_path / "run"
    shutil.copytree(HEALTHY_RUN, run)
    (run / sidecar).write_text(content)
    line = one_line_error(capsys, compare(run))
    assert str(run / sidecar) in line and expected in line


# ---- baselines ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "toml, expected",
    [
        ('name = "x"\n', "schema_version: missing"),
        ('schema_version = 2\nname = "x"\n', "schema_version: unsupported value 2"),
        ('schema_version = 1\nname = "x"\n[defaults\n', "invalid TOML"),
        ('schema_version = 1\nname = "x"\n[defaults]\np95 = 3\n', "defaults.p95: unknown key"),
        ('schema_version = 1\nname = "x"\n[defaults]\np95_ms = "3000"\n', "defaults.p95_ms: Input should be a valid number"),
        ('schema_version = 1\nname = "x"\n[endpoints."GET /a"]\nmax_ms = -1\n', 'endpoints."GET /a".max_ms: Input should be greater than or equal to 0'),
        ('schema_version = 1\nname = "x"\n[endpoints."/a"]\nmax_ms = 1\n', 'endpoints."/a": not "<METHOD> <name>"'),
        ('schema_version = 1\nname = "x"\n[endpoints."GET /a"]\nnot_applicable = ["p97_ms"]\n', 'endpoints."GET /a".not_applicable[0]'),
        ('schema_version = 1\nname = "x"\n[business]\nexport_success_rate_min = 1.5\n', "business.export_success_rate_min"),
        ('schema_version = 1\nname = "x"\n[regression]\npercentiles = [95]\n', "regression.percentiles"),
        ('schema_version = 1\n', "name: Field required"),
    ],
)
def test_bad_baseline(tmp_path, capsys, toml, expected):
    baseline = tmp_path / "baseline.toml"
    baseline.write_text(toml)
    line = one_line_error(capsys, compare(HEALTHY_RUN, baseline))
    assert str(baseline) in line and expected in line


def test_missing_baseline(tmp_path, capsys):
    assert "baseline file not found" in one_line_error(capsys, compare(HEALTHY_RUN, tmp_path / "nope.toml"))


# ---- references ---------------------------------------------------------------------------------------------------
def _reference_with(tmp_path, change) -> Path:
    document = json.loads(REFERENCE.read_text())
    change(document)
    path = tmp_path / "reference.json"
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda d: d.update(schema_version=0), "schema_version: unsupported schema_version 0"),
        (lambda d: d.pop("schema_version"), "schema_version: unsupported schema_version None"),
        (lambda d: d.update(kind="something-else"), "kind: not a reference run file"),
        (lambda d: d.update(extra=1), "extra"),
        (lambda d: d["runs"][0]["endpoints"]["GET /auth/v1/user"].update(histogram={"fast": 3}), "histogram"),
        (lambda d: d["runs"][0]["endpoints"]["GET /auth/v1/user"].pop("requests"), "requests"),
        (lambda d: d["runs"][0]["manifest"].update(schema_version=3), "schema_version"),
        (lambda d: d.update(runs=[]), "runs: a reference holds no runs"),
    ],
)
def test_bad_reference(tmp_path, capsys, change, expected):
    path = _reference_with(tmp_path, change)
    line = one_line_error(capsys, compare(HEALTHY_RUN, PRODUCTION, "--reference", str(path)))
    assert str(path) in line and expected in line


def test_missing_reference(tmp_path, capsys):
    assert "reference not found" in one_line_error(capsys, compare(HEALTHY_RUN, PRODUCTION, "--reference", str(tmp_path / "r.json")))


def test_recording_csv_input_is_refused(tmp_path, capsys):
    line = one_line_error(capsys, ["record", str(HEALTHY_RUN / "locust_stats.csv"), "--output", str(tmp_path / "r.json")])
    assert "CSV input has no histograms" in line


# ---- debug and usage ----------------------------------------------------------------------------------------------
def test_debug_shows_the_traceback(tmp_path, capsys):
    assert main(["--debug", *compare(tmp_path / "nothing")]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["compare", str(HEALTHY_RUN), "--format", "yaml"])
    assert exited.value.code == 2
