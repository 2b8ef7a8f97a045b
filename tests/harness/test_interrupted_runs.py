"""Ctrl-C or SIGTERM in the middle of a headless run: every result file is still written, marked partial, with a
report that says so, and the next run in the same results root is unaffected."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from analysis.exit_codes import ExitCode
from analysis.intervals import load_intervals
from tests.support.failure_runs import (LOCUSTFILES, REPO_ROOT, SIMULATOR_FLAGS, TRACEBACK, LocustRun, finish_run, start_run,
                          stop_if_running)  # fmt: skip
from harness.simulator_process import start_simulator
from tests.support.locust_runs import clean_environment

pytestmark = pytest.mark.integration

# locust_report.html included: Locust's own SIGTERM path skips it, so harness.results writes it when missing.
RESULT_FILES = ("locust.json", "locust_stats.csv", "locust_stats_history.csv", "locust_failures.csv",
                "locust_exceptions.csv", "locust_report.html", "manifest.json", "business_metrics.json",
                "intervals.jsonl")  # fmt: skip
CLOSED_INTERVALS = 3  # signal once this many 1 s intervals are on disk: the run is well under way


def _wait_until_running(results_dir: Path, process: subprocess.Popen, timeout: float = 40) -> None:
    """Until intervals.jsonl holds CLOSED_INTERVALS intervals (the recorder appends each as it closes)."""
    intervals = results_dir / "intervals.jsonl"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the run ended before it could be interrupted (exit {process.returncode})")
        if intervals.exists() and len(intervals.read_text().splitlines()) > CLOSED_INTERVALS:
            return
        time.sleep(0.1)
    pytest.fail("the run never got going")


def _launch_perf(results_root: Path, *args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "harness", "perf", "--time-scale", "0.05", "--results-root", str(results_root),
               "--interval-seconds", "1", "-u", "3", "-r", "3", *args]  # fmt: skip
    return subprocess.Popen(command, cwd=REPO_ROOT, env=clean_environment(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def _run_folders(results_root: Path) -> list[Path]:
    return sorted(path for path in results_root.iterdir() if path.is_dir() and not path.is_symlink())


def _assert_partial_run_with_every_file(results_dir: Path) -> dict:
    for name in RESULT_FILES:
        assert (results_dir / name).is_file(), f"{name} missing after the interrupt"
    manifest = json.loads((results_dir / "manifest.json").read_text())
    assert manifest["partial"] is True and manifest["stop_reason"] == "interrupted", manifest
    assert manifest["ended_at"] is not None  # the final manifest, not the one written at the start
    entries = json.loads((results_dir / "locust.json").read_text())
    recorded = sum(entry["num_requests"] for entry in entries)
    json.loads((results_dir / "business_metrics.json").read_text())  # complete JSON, not a torn write
    series = load_intervals(results_dir)
    assert len(series) >= CLOSED_INTERVALS and not series.truncated
    # What the intervals hold is what Locust counted: the users were stopped before the files were written.
    assert recorded > 0 and int(series.total_requests().sum()) == recorded
    return manifest


def test_ctrl_c_to_the_launcher_still_writes_every_file_and_a_partial_report_and_the_next_run_is_unaffected(tmp_path):
    first = _launch_perf(tmp_path, "-t", "60s")
    try:
        folders = []
        deadline = time.monotonic() + 30
        while not folders and time.monotonic() < deadline:
            folders = _run_folders(tmp_path)
            time.sleep(0.1)
        assert folders, "the launcher made no run folder"
        _wait_until_running(folders[0], first)
        first.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal sends the launcher
        stdout, stderr = first.communicate(timeout=60)
    finally:
        stop_if_running(first)
    console = stdout + stderr
    assert TRACEBACK not in console, console[-3000:]
    # A partial run is no verdict on the system: "run not valid", never a pass.
    assert first.returncode == ExitCode.RUN_NOT_VALID, console[-3000:]
    interrupted = folders[0]
    manifest = _assert_partial_run_with_every_file(interrupted)
    report = (interrupted / "report.md").read_text()
    assert "PARTIAL RUN" in report and "interrupted" in report
    assert "PARTIAL RUN" in (interrupted / "report.html").read_text()
    assert (tmp_path / "latest").resolve() == interrupted.resolve()

    # The next run in the same root: its own folder, complete, and `latest` moves to it; the first is untouched.
    before = {path.name: path.stat().st_mtime_ns for path in interrupted.iterdir()}
    second = _launch_perf(tmp_path, "-t", "4s", "--no-report")
    try:
        stdout, stderr = second.communicate(timeout=90)
    finally:
        stop_if_running(second)
    assert TRACEBACK not in stdout + stderr
    newest = [folder for folder in _run_folders(tmp_path) if folder != interrupted]
    assert len(newest) == 1
    assert (tmp_path / "latest").resolve() == newest[0].resolve()
    following = json.loads((newest[0] / "manifest.json").read_text())
    # perf runs until decided, -t being its maximum: a complete run ends "max-duration" (or "decided").
    assert following["partial"] is False and following["stop_reason"] in ("max-duration", "decided"), following
    assert following["run_id"] != manifest["run_id"]
    assert {path.name: path.stat().st_mtime_ns for path in interrupted.iterdir()} == before


@pytest.fixture(scope="module")
def sigterm_run(tmp_path_factory) -> LocustRun:
    """A run of the full mix, sent SIGTERM (what a CI runner sends a job it cancels) three intervals in."""
    results_dir = tmp_path_factory.mktemp("sigterm") / "run"
    with start_simulator("--profile", "healthy", *SIMULATOR_FLAGS) as simulator:
        process = start_run(simulator.url, results_dir, "-u", "3", "-r", "3", "-t", "60s")
        try:
            _wait_until_running(results_dir, process)
            process.send_signal(signal.SIGTERM)
            return finish_run(process, results_dir, timeout=60)
        finally:
            stop_if_running(process)


def test_sigterm_to_locust_still_writes_every_harness_file_and_the_report_says_partial(sigterm_run):
    assert TRACEBACK not in sigterm_run.console, sigterm_run.stderr[-3000:]
    results_dir = sigterm_run.results_dir
    _assert_partial_run_with_every_file(results_dir)
    report = subprocess.run([sys.executable, "-m", "analysis", "report", str(results_dir), "--baseline",
                             "baselines/production.toml", "--output", str(results_dir)], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert TRACEBACK not in report.stderr, report.stderr
    assert "PARTIAL RUN" in (results_dir / "report.md").read_text()


def test_files_agree_after_an_interrupt_even_with_busy_users(simulator_factory, tmp_path):
    """Busy users (no pauses) against instant answers: had users kept sending while the end-of-run files were written
    (Locust fires `quitting` before it stops them on Ctrl-C), locust.json would count requests no interval holds."""
    simulator = simulator_factory("--profile", "zero-latency")
    results_dir = tmp_path / "run"
    process = start_run(simulator.url, results_dir, "-u", "2", "-r", "2", "-t", "60s", "EnrichmentUser",
                        settings={"PP_THINK_TIME_SCALE": "0"})  # fmt: skip
    try:
        _wait_until_running(results_dir, process)
        process.send_signal(signal.SIGINT)
        run = finish_run(process, results_dir, timeout=60)
    finally:
        stop_if_running(process)
    recorded = sum(entry["num_requests"] for entry in run.json("locust.json"))
    assert int(load_intervals(results_dir).total_requests().sum()) == recorded


def test_a_run_that_reached_its_run_time_is_not_recorded_as_interrupted_when_imports_were_slow(simulator, tmp_path):
    """Locust schedules --run-time on gevent's cached loop clock, stale by however long the imports kept the CPU busy
    (seconds on a loaded CI machine): the run used to end that much early and read as interrupted (not valid)."""
    results_dir = tmp_path / "run"
    process = start_run(simulator.url, results_dir, "-u", "1", "-r", "1", "-t", "5s", "AuthUser",
                        locustfiles=LOCUSTFILES + ",tests/support/slow_import.py")  # fmt: skip
    run = finish_run(process, results_dir)
    manifest = run.json("manifest.json")
    assert manifest["stop_reason"] == "run-time" and manifest["partial"] is False, manifest["stop_reason"]
    # And it really ran its 5 s (the stale clock ended it after ~2.5), to the second the manifest records.
    lasted = datetime.fromisoformat(manifest["ended_at"]) - datetime.fromisoformat(manifest["started_at"])
    assert lasted.total_seconds() >= 4, lasted
