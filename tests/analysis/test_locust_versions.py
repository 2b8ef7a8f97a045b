"""Real output of other Locust versions (tests/golden/versions/, made once by make_versions.py; README there):
every file loads as what it is, and every verb gives a sensible verdict or one line, never a traceback or a
silent PASS.

The runs send five requests per loop: /fast, /slow (105-185 ms), /orders (1 in 4 fails with a 500), /broken
(always 503) and a non-ASCII name, /café/[id]. tests/golden/versions/baseline.toml breaches on the failures.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest

from analysis.cli import main
from analysis.errors import InputError
from analysis import results
from analysis.results import load_run

VERSIONS = Path(__file__).resolve().parents[1] / "golden" / "versions"
BASELINE = VERSIONS / "baseline.toml"
PLAIN_RUNS = sorted(p for p in VERSIONS.iterdir() if p.is_dir() and (p / "command.txt").is_file() and not p.name.endswith("-steps"))
STEP_RUNS = sorted(p for p in VERSIONS.iterdir() if p.is_dir() and p.name.endswith("-steps"))
ENDPOINTS = {"GET /fast", "GET /slow", "POST /orders", "GET /broken", "GET /café/[id]"}
# Locust 2.12.2 wrote its history once, at the start, and lost the rest at exit (it flushes every 10 s): real too.
WITHOUT_HISTORY = {"2.12.2"}


def version_of(run: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in run.name.removesuffix("-steps").split("."))


def run_verb(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_golden_runs_cover_locust_1_and_the_2x_minors():
    versions = {version_of(run)[:2] for run in PLAIN_RUNS}
    assert {(1, 0), (1, 1), (1, 4), (1, 6), (2, 0), (2, 8), (2, 12), (2, 16), (2, 20), (2, 24), (2, 29), (2, 32), (2, 37),
            (2, 41), (2, 47)} <= versions  # fmt: skip
    for run in PLAIN_RUNS + STEP_RUNS:
        assert (run / "locust_stats.csv").is_file() and (run / "locust_failures.csv").is_file(), run
        assert (run / "command.txt").read_text().startswith(f"locust {run.name.removesuffix('-steps')} "), run


@pytest.mark.parametrize("run", PLAIN_RUNS, ids=lambda p: p.name)
def test_every_version_loads_as_its_five_endpoints_with_failure_messages(run: Path):
    """Through the --csv/--json-file prefix: the JSON when the version wrote one, else the stats CSV."""
    loaded = load_run(run / "locust")
    assert set(loaded.endpoints) == ENDPOINTS  # no "None Aggregated" endpoint (Locust 1.0's total row)
    assert loaded.percentile_source == ("histogram" if (run / "locust.json").is_file() else "csv")
    broken, orders = loaded.endpoints["GET /broken"], loaded.endpoints["POST /orders"]
    assert broken.failures == broken.requests > 50
    assert 0.15 < orders.fail_ratio < 0.35
    assert 100 < loaded.endpoints["GET /slow"].percentile(0.5) < 200
    top = loaded.failure_messages[0]
    assert top.key == "GET /broken" and "503" in top.error
    assert 0.9 * broken.failures <= top.occurrences <= broken.failures  # the CSV lags locust.json by a second
    assert loaded.warnings == ()


def test_locust_1_0_total_row_is_none_aggregated_and_is_not_an_endpoint():
    """Locust 1.0 quotes every field and writes the total row's missing method as "None" (1.1 on: empty)."""
    rows = list(csv.reader((VERSIONS / "1.0.3" / "locust_stats.csv").open(encoding="utf-8")))
    assert rows[-1][:2] == ["None", "Aggregated"]
    assert '"GET","/fast"' in (VERSIONS / "1.0.3" / "locust_stats.csv").read_text(encoding="utf-8")
    assert "None Aggregated" not in load_run(VERSIONS / "1.0.3" / "locust_stats.csv").endpoints


@pytest.mark.parametrize("version", ["2.16.1", "2.20.1", "2.24.1", "2.29.1", "2.32.3", "2.37.13", "2.41.6"])
def test_float_histogram_keys_of_locust_2_16_to_2_41_are_read_as_buckets(version: str):
    raw = json.loads((VERSIONS / version / "locust.json").read_text())
    slow = next(entry for entry in raw if entry["name"] == "/slow")
    assert any(re.fullmatch(r"\d+\.0", key) for key in slow["response_times"])  # what the real file holds
    histogram = load_run(VERSIONS / version / "locust.json").endpoints["GET /slow"].histogram
    assert histogram.count == sum(slow["response_times"].values())
    assert set(histogram.buckets.tolist()) == {int(float(key)) for key in slow["response_times"]}


def test_a_name_that_is_not_utf8_is_decoded_with_replacement_and_one_warning(tmp_path, caplog):
    """A run on Windows writes names in its code page: cp1252 'café' is not UTF-8."""
    source = VERSIONS / "2.47.0" / "locust_stats.csv"
    (tmp_path / "locust_stats.csv").write_bytes(source.read_text(encoding="utf-8").encode("cp1252"))
    bad_line = 1 + next(i for i, line in enumerate(source.read_text(encoding="utf-8").splitlines()) if "café" in line)
    loaded = load_run(tmp_path / "locust")
    assert set(loaded.endpoints) == ENDPOINTS - {"GET /café/[id]"} | {"GET /caf\ufffd/[id]"}
    assert len(loaded.warnings) == 1
    assert str(tmp_path / "locust_stats.csv") in loaded.warnings[0] and f"line {bad_line}" in loaded.warnings[0]
    assert loaded.warnings[0] in caplog.text


LOCUST_0X_STATS_HEADER = ('"Method","Name","# requests","# failures","Median response time","Average response time",'
                          '"Min response time","Max response time","Average Content Size","Requests/s"\n')


@pytest.mark.parametrize("layout", ["stats-columns", "requests-file", "distribution-file"])
def test_locust_0x_layouts_get_one_line_naming_the_format(tmp_path, capsys, layout):
    """Locust 0.x is not installable here (the index starts at 1.0), so its layouts are written from its headers:
    PREFIX_requests.csv / PREFIX_distribution.csv (before 0.13), then '# requests' columns in PREFIX_stats.csv."""
    name = {"stats-columns": "locust_stats.csv", "requests-file": "locust_requests.csv",
            "distribution-file": "locust_distribution.csv"}[layout]  # fmt: skip
    (tmp_path / name).write_text(LOCUST_0X_STATS_HEADER + '"GET","/a",10,0,5,5,4,7,12,2.0\n')
    with pytest.raises(InputError, match=r"Locust 0\.x format \(.+\), not supported; re-run with Locust 1\.0 or newer"):
        load_run(tmp_path / "locust")
    code, out, err = run_verb(capsys, "compare", tmp_path / "locust", "--baseline", BASELINE)
    assert code == 1 and not out and len(err.strip().splitlines()) == 1 and "Locust 0.x format" in err


@pytest.mark.parametrize("run", PLAIN_RUNS, ids=lambda p: p.name)
def test_compare_breaches_on_every_version_never_a_silent_pass(run: Path, capsys):
    for source in [run / "locust_stats.csv"] + ([run / "locust.json"] if (run / "locust.json").is_file() else []):
        code, out, err = run_verb(capsys, "compare", source, "--baseline", BASELINE)
        assert code == 3, err
        assert out.startswith("Verdict: BREACH") and "GET /broken fail_ratio" in out and "Traceback" not in err


@pytest.mark.parametrize("run", PLAIN_RUNS, ids=lambda p: p.name)
def test_report_on_every_version(run: Path, tmp_path, capsys):
    code, out, err = run_verb(capsys, "report", run / "locust", "--baseline", BASELINE, "--output", tmp_path / "report")
    assert code == 0 and "Traceback" not in err, err
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert markdown.startswith(f"# Load test report: {run.name} (baseline other-project)")
    assert "503 Server Error" in markdown and "Overall error rate: " in markdown
    assert "![" in markdown if run.name not in WITHOUT_HISTORY or (run / "locust.json").is_file() else "![" not in markdown


# plot draws what report draws (PNG and SVG): one run per kind of input is enough, and spares the CPU.
PLOT_RUNS = [VERSIONS / name for name in ("1.0.3", "2.12.2", "2.20.1", "2.47.0")]


@pytest.mark.parametrize("run", PLOT_RUNS, ids=lambda p: p.name)
def test_plot_on_each_kind_of_input(run: Path, tmp_path, capsys):
    code, out, err = run_verb(capsys, "plot", run / "locust", "--output", tmp_path / "plots")
    assert code == 0 and "Traceback" not in err, err
    drawn = {p.stem for p in (tmp_path / "plots").glob("*.png")}
    if run.name in WITHOUT_HISTORY:
        assert "throughput" not in drawn and "plots: throughput: Not drawn: no intervals in the input" in out
    else:
        assert "throughput" in drawn  # from Locust's --csv-full-history file: counts over time are exact there
    if (run / "locust.json").is_file():
        assert "latency_cdf" in drawn and "get-slow-detail" in drawn
    else:
        assert "latency_cdf" not in drawn and "plots: latency_cdf: Not drawn: Locust's CSV has percentile columns" in out


@pytest.mark.parametrize("run", [run for run in PLAIN_RUNS if run.name not in WITHOUT_HISTORY], ids=lambda p: p.name)
def test_stats_history_of_every_version_has_exact_running_totals(run: Path):
    history = results.load_stats_history(run / "locust")
    assert history.full and set(history.totals) == ENDPOINTS | {"Aggregated"}
    aggregated = [requests for requests, _ in history.totals["Aggregated"]]
    assert aggregated == sorted(aggregated) and aggregated[-1] > 0
    last = [history.totals[key][-1][0] for key in ENDPOINTS]
    assert sum(last) == aggregated[-1]  # the endpoints' running totals add up to Locust's own total
    assert max(history.user_counts) == 4


def test_a_truncated_results_copy_is_one_line_not_a_traceback(tmp_path, capsys):
    shutil.copytree(VERSIONS / "1.6.0", tmp_path / "run")
    text = (tmp_path / "run" / "locust_stats.csv").read_text(encoding="utf-8")
    (tmp_path / "run" / "locust_stats.csv").write_text(text[: len(text) // 2], encoding="utf-8")
    code, out, err = run_verb(capsys, "report", tmp_path / "run" / "locust", "--baseline", BASELINE, "--output", tmp_path / "r")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "locust_stats.csv" in err


@pytest.mark.parametrize("run", PLAIN_RUNS, ids=lambda p: p.name)
def test_record_takes_histograms_and_refuses_csv_in_one_line(run: Path, tmp_path, capsys):
    code, out, err = run_verb(capsys, "record", run / "locust", "--output", tmp_path / "reference.json")
    if not (run / "locust.json").is_file():
        assert code == 1 and len(err.strip().splitlines()) == 1 and "CSV input has no histograms" in err
        return
    assert code == 0, err
    # The run against itself as the reference: every endpoint unchanged, still the same SLA breach.
    code, out, err = run_verb(capsys, "compare", run / "locust.json", "--baseline", BASELINE, "--reference",
                              tmp_path / "reference.json", "--format", "json")  # fmt: skip
    counts = json.loads(out)["counts"]
    assert code == 3 and counts["breach"] > 0 and counts["regressed"] == counts["improved"] == 0 and counts["unchanged"] > 0


def test_any_file_of_a_csv_run_stands_for_the_run():
    """People pass whichever file they see: the history or failures file of a --csv run means that run."""
    whole = load_run(VERSIONS / "2.8.6" / "locust")
    for name in ("locust_stats_history.csv", "locust_failures.csv"):
        assert load_run(VERSIONS / "2.8.6" / name).endpoints == whole.endpoints
