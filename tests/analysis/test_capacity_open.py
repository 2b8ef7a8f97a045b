"""Capacity by offered load (analysis/capacity_open.py): discovery jobs judged per step of an open-model step run."""

from __future__ import annotations

from itertools import takewhile
from pathlib import Path

import pytest

from analysis.baseline import load_baseline
from analysis.capacity_open import offered_levels, offered_load_capacity
from analysis.cli import main
from analysis.exit_codes import ExitCode
from analysis.intervals import load_intervals
from analysis.openmodel import ArrivalSummary
from analysis.verdicts import Verdict
from tests.analysis.synthetic_steps import JOB, SUBMIT, open_step_run, write_open_run

PRODUCTION = Path(__file__).resolve().parents[2] / "baselines" / "production.toml"


def quota_exhausted(offered: float) -> float:
    """The Google quota runs out from 30 arrivals/s on: a fifth of the jobs fail, every request still succeeds."""
    return 0.2 if offered >= 30 else 0.0


def _levels(tmp_path: Path, job_failure_share):
    rows, arrivals = open_step_run(10, 4, job_failure_share=job_failure_share)
    folder = write_open_run(tmp_path / "run", rows, arrivals)
    series = load_intervals(folder, latency="corrected")
    levels = offered_levels(series, ArrivalSummary.model_validate(arrivals), load_baseline(PRODUCTION))
    return folder, levels


def _table(markdown: str) -> list[dict[str, str]]:
    header = next(line for line in markdown.splitlines() if line.startswith("| offered arrivals/s"))
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    lines = takewhile(lambda line: line.startswith("| "), markdown.split(header + "\n", 1)[1].splitlines()[1:])
    return [dict(zip(columns, (cell.strip() for cell in line.strip("|").split("|")))) for line in lines]


def test_failing_jobs_break_the_step_on_the_discovery_success_rate(tmp_path):
    _, levels = _levels(tmp_path, quota_exhausted)
    assert [level.offered_rps for level in levels] == [10, 20, 30, 40]
    for level in levels:
        arrivals = int(level.offered_rps * 2) * 9  # nine whole 2 s intervals of the 20 s step (the first settles)
        # One submit per arrival is the throughput; jobs are no requests, their 1.5 s is no arrival's latency.
        assert (level.requests, level.failures, level.error_rate) == (arrivals, 0, 0.0)
        assert level.throughput_rps == pytest.approx(level.offered_rps)
        assert level.latency_ms == {0.5: 320, 0.95: 320, 0.99: 320}  # from the intended start, submits only
        assert level.jobs == arrivals // 2
        assert level.failed_jobs == (round(arrivals // 2 * 0.2) if level.offered_rps >= 30 else 0)
        job = level.endpoints[JOB]
        if level.offered_rps >= 30:
            assert level.verdict == Verdict.BREACH and job.verdict == Verdict.BREACH
            assert job.breaches == ("failed jobs 20.0% > 5.0%",)
            assert level.breaches == [f"{JOB}: failed jobs 20.0% > 5.0%"]  # the submits hold their 1 % error SLA
        else:
            assert level.verdict == Verdict.PASS and job.verdict == Verdict.PASS
    result = offered_load_capacity(levels)
    assert (result.capacity_rps, result.first_breach_rps) == (20, 30)
    assert result.bottleneck is not None and result.bottleneck.key == JOB


def test_the_report_breaks_on_failed_jobs_and_shows_them_beside_the_http_errors(tmp_path):
    folder, _ = _levels(tmp_path, quota_exhausted)
    assert main(["capacity", str(folder), "--baseline", str(PRODUCTION)]) == ExitCode.OK
    markdown = (folder / "capacity.md").read_text(encoding="utf-8")
    assert ("SLA-bound capacity 20 arrivals/s (SLAs broke at 30/s, bottleneck "
            f"{JOB}: failed jobs 20.0% > 5.0%)") in markdown  # fmt: skip
    rows = _table(markdown)
    assert [row["offered arrivals/s"] for row in rows] == ["10", "20", "30", "40"]
    for row, rate in zip(rows, (10, 20, 30, 40)):
        arrivals = rate * 2 * 9
        failed = arrivals // 2 // 5 if rate >= 30 else 0
        assert row["HTTP errors"] == f"0.00% (0/{arrivals})"
        assert row["failed jobs"] == f"{failed / (arrivals // 2):.2%} ({failed}/{arrivals // 2})"
        assert row["SLA verdict"] == ("breach" if rate >= 30 else "pass"), row
        assert ("failed jobs 20.0% > 5.0%" in row["breaches"]) == (rate >= 30)
    assert "Failed jobs: discovery jobs that failed or timed out, of those that ended in the step" in markdown
    page = (folder / "capacity.html").read_text(encoding="utf-8")
    assert "<th>HTTP errors</th><th>failed jobs</th>" in page


def test_a_run_without_jobs_is_reported_as_before(tmp_path):
    folder, levels = _levels(tmp_path, None)
    assert all(set(level.endpoints) == {SUBMIT} and level.jobs == 0 for level in levels)
    result = offered_load_capacity(levels)
    assert (result.capacity_rps, result.first_breach_rps, result.bottleneck) == (40, None, None)
    assert main(["capacity", str(folder), "--baseline", str(PRODUCTION)]) == ExitCode.OK
    markdown = (folder / "capacity.md").read_text(encoding="utf-8")
    assert "SLA-bound capacity 40 arrivals/s (no tested rate broke an SLA: at least this)." in markdown
    rows = _table(markdown)
    assert list(rows[0]) == ["offered arrivals/s", "throughput req/s", "p50", "p95", "p99", "HTTP errors",
                             "SLA verdict", "breaches"]  # fmt: skip
    assert [row["SLA verdict"] for row in rows] == ["pass"] * 4
    assert "failed jobs" not in markdown.lower() and "JOB entry" not in markdown
