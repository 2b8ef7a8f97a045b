"""The report on plain Locust output (no harness sidecars): its title, failures, error rate and missing figures."""

import shutil
from pathlib import Path

import numpy as np

from analysis.baseline import load_baseline
from analysis.report import build_report, failure_rows, overall_error_line, render_markdown
from analysis.results import load_run
from tests.analysis.test_report import BASELINE, make_run

VERSIONS = Path(__file__).resolve().parents[1] / "golden" / "versions"
OTHER_BASELINE = VERSIONS / "baseline.toml"


def test_csv_report_draws_no_empty_figure_and_says_why(tmp_path):
    shutil.copytree(VERSIONS / "2.47.0", tmp_path / "nightly-42", ignore=shutil.ignore_patterns("locust.json"))
    report = build_report(load_run(tmp_path / "nightly-42" / "locust"), load_baseline(OTHER_BASELINE))
    assert report.overview_figures == {} and all(not s.figures for s in report.endpoints)
    assert "no histograms" in report.missing_figures["latency_cdf"]
    markdown = render_markdown(report, {})
    assert markdown.startswith("# Load test report: nightly-42 (baseline other-project)\n")
    assert "![" not in markdown and "Not drawn: Locust's CSV has percentile columns but no histograms" in markdown


def test_failures_table_lists_messages_by_count_and_the_overall_error_rate():
    run = load_run(VERSIONS / "2.8.6" / "locust")
    rows, note = failure_rows(run)
    assert [row[1] for row in rows] == ["GET /broken", "POST /orders"] and note is None
    assert int(rows[0][0]) > int(rows[1][0]) and "503 Server Error" in rows[0][2]
    requests = sum(e.requests for e in run.endpoints.values())
    failures = sum(e.failures for e in run.endpoints.values())
    assert overall_error_line(run) == (f"Overall error rate: {failures / requests * 100:.2f} % "
                                       f"({failures} failed of {requests} requests, all endpoints).")  # fmt: skip


def test_the_overall_error_rate_counts_requests_not_derived_job_timings(tmp_path):
    run = load_run(make_run(tmp_path / "run", extra={"JOB discovery submit->completed": [np.array([5.0])] * 12}))
    http = [e for e in run.endpoints.values() if e.method != "JOB"]
    assert "JOB discovery submit->completed" in run.endpoints
    assert f"of {sum(e.requests for e in http)} requests" in overall_error_line(run)


def test_without_a_failures_file_the_table_has_counts_per_endpoint_and_says_so(tmp_path):
    shutil.copy(VERSIONS / "2.47.0" / "locust.json", tmp_path / "locust.json")
    rows, note = failure_rows(load_run(tmp_path / "locust.json"))
    assert [(row[1], row[2]) for row in rows] == [("GET /broken", "-"), ("POST /orders", "-")]
    assert "no Locust _failures.csv" in note


def test_a_harness_run_is_titled_by_its_run_id(tmp_path):
    run = load_run(make_run(tmp_path / "run", run_id="20261126-120000-abc123"))
    assert run.name == "20261126-120000-abc123"
    report = build_report(run, load_baseline(BASELINE))
    assert render_markdown(report, {}).startswith("# Load test report: 20261126-120000-abc123 (baseline production)\n")
