"""The spend guard: which ceiling applies, and real runs that reach it stop with exit 6 and say so everywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime

import pytest

from analysis.exit_codes import ExitCode
from tests.support.failure_runs import REPO_ROOT, TRACEBACK, finish_run, processes_args, start_run
from scenarios.guards import DEFAULT_REMOTE_CEILING_USD, decide_ceiling
from tests.support.locust_runs import clean_environment


def test_a_real_target_is_guarded_by_default_and_the_simulator_is_not(settings):
    remote = decide_ceiling("https://abcdefghij.supabase.co", settings())
    assert remote.usd == DEFAULT_REMOTE_CEILING_USD and "not loopback: abcdefghij.supabase.co" in remote.why
    for loopback in ("http://127.0.0.1:54321", "http://localhost:8000", "http://[::1]:80", None):
        assert decide_ceiling(loopback, settings()).usd is None, loopback
    assert "spend guard: off" in decide_ceiling("http://127.0.0.1:1", settings()).describe()


def test_a_configured_ceiling_wins_everywhere(settings):
    configured = settings(PP_SPEND_CEILING_USD="3.5")
    for host in ("https://abcdefghij.supabase.co", "http://127.0.0.1:1"):
        ceiling = decide_ceiling(host, configured)
        assert (ceiling.usd, ceiling.why) == (3.5, "PP_SPEND_CEILING_USD")
    assert decide_ceiling("https://x.supabase.co", settings(PP_SPEND_CEILING_USD="0")).usd == 0.0


@pytest.mark.integration
def test_a_tiny_ceiling_stops_the_perf_run_early_with_exit_6_and_every_file_and_the_report_say_why(tmp_path):
    """`python -m harness perf`, the main job, against its own simulator: the guard's stop reaches every output."""
    ceiling = 0.3
    command = [sys.executable, "-m", "harness", "perf", "--time-scale", "0.05", "--results-root", str(tmp_path),
               "-u", "3", "-r", "3", "-t", "60s"]  # fmt: skip
    completed = subprocess.run(command, cwd=REPO_ROOT, env=clean_environment(PP_SPEND_CEILING_USD=str(ceiling)),
                               capture_output=True, text=True, timeout=120)  # fmt: skip
    console = completed.stdout + completed.stderr
    assert completed.returncode == ExitCode.STOPPED_BY_GUARD, console[-3000:]
    assert TRACEBACK not in console
    assert f"reached PP_SPEND_CEILING_USD={ceiling:g}; stopping the run" in console

    results = tmp_path / "latest"
    manifest = json.loads((results / "manifest.json").read_text())
    assert manifest["stop_reason"] == "spend-guard" and manifest["partial"] is True
    assert f"PP_SPEND_CEILING_USD={ceiling:g}" in manifest["stop_detail"]
    business = json.loads((results / "business_metrics.json").read_text())
    assert business["spend_guard"] == {"ceiling_usd": ceiling, "tripped": True}
    spend = business["costs_usd"]["third_party_spend"]
    assert ceiling <= spend < 10 * ceiling  # stopped soon after: one or two calls in flight, not a minute's worth
    verdict = json.loads((results / "verdict.json").read_text())
    assert verdict["exit_code"] == ExitCode.STOPPED_BY_GUARD
    # The report leads with the partial-run notice and shows the ceiling, that it tripped, and the spend.
    report = (results / "report.md").read_text()
    assert "PARTIAL RUN" in report and "spend-guard" in report
    assert "spend guard" in report and "TRIPPED" in report
    assert "third_party_spend (USD)" in report
    # Early: 60 s were asked for.
    duration = datetime.fromisoformat(manifest["ended_at"]) - datetime.fromisoformat(manifest["started_at"])
    assert duration.total_seconds() < 30


# Enrichment at a person's pace (1-3 s between calls, ~$0.095 each): 4 users spend ~$0.2/s between them, so the
# merged spend passes $2 in ~10 s while each worker alone would need ~20 s.
MASTER_WORKER = ("-u", "4", "-r", "4", "-t", "40s", "EnrichmentUser")
PACED = {"PP_SPEND_CEILING_USD": "2", "PP_THINK_TIME_SCALE": "1"}


@pytest.mark.integration
def test_master_worker_runs_stop_on_the_merged_spend_not_on_one_workers(simulator, tmp_path):
    process = start_run(simulator.url, tmp_path / "run", *processes_args(), *MASTER_WORKER, settings=PACED)
    run = finish_run(process, tmp_path / "run")
    assert run.returncode == ExitCode.STOPPED_BY_GUARD, run.stderr[-3000:]
    assert run.json("manifest.json")["stop_reason"] == "spend-guard"
    business = run.json("business_metrics.json")
    assert business["spend_guard"] == {"ceiling_usd": 2.0, "tripped": True}
    # Stopped when both workers together reached $2 (plus one report interval), not when one of them alone did (~$4).
    assert 2.0 <= business["costs_usd"]["third_party_spend"] < 3.2, business["costs_usd"]
    assert "spend guard: ceiling $2 (PP_SPEND_CEILING_USD)" in run.stderr


@pytest.mark.integration
def test_a_guard_that_trips_on_a_worker_stops_the_whole_run(simulator, tmp_path):
    """The discovery job cap trips on a worker, which only the worker counts: its message to the master is what stops
    the run (the master's handler once had the wrong signature: a TypeError, and the run went on)."""
    results_dir = tmp_path / "run"
    process = start_run(simulator.url, results_dir, *processes_args(), "-u", "2", "-r", "2", "-t", "8s", "DiscoveryUser",
                        settings={"PP_MAX_DISCOVERY_JOBS": "2"})  # fmt: skip
    run = finish_run(process, results_dir)
    assert "Uncaught exception" not in run.stderr, run.stderr[-2000:]
    assert run.returncode == ExitCode.STOPPED_BY_GUARD
    assert json.loads((results_dir / "manifest.json").read_text())["stop_reason"] == "safety"
