"""The issue's measured check: a short real step run against the simulator with one function's capacity fixed.

4 concurrent executions x 100 ms service time = a true peak of 40 requests/s, and (capacity_baseline.toml explains
why) a true SLA-bound capacity of 4 users. A real headless Locust run (the harness's StepLoadShape, results folder
and interval recorder) drives 2, 4, ... 12 users for 8 s each; the capacity report must put the USL peak within
15 % of 40 req/s and the SLA-bound capacity within one step of 4 users.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from analysis.baseline import load_baseline
from analysis.capacity import UslFit, analyse
from analysis.cli import main
from analysis.exit_codes import ExitCode
from analysis.intervals import load_intervals
from harness.simulator_process import start_simulator
from tests.support.ports import free_port

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
FUNCTION = "business-discovery-optimized"
ENDPOINT = f"POST /functions/v1/{FUNCTION}"
CONCURRENCY, SERVICE_TIME_MS = 4, 100
TRUE_PEAK_RPS = CONCURRENCY / (SERVICE_TIME_MS / 1000)
TRUE_SLA_CAPACITY_USERS = CONCURRENCY
STEP_USERS, STEP_SECONDS, STEPS, INTERVAL_S = 2, 8, 6, 2
TIME_SCALE = "0.1"  # the sign-ins' simulated latency; the function's fixed service time is real time, not scaled


def _measured_peak_rps(component: dict) -> float:
    """The function's true peak as the simulator measured it: its slots over the mean time a call held one. 100 ms
    on an idle machine (TRUE_PEAK_RPS); a busy one stretches every call a little, and the target's peak with it."""
    return CONCURRENCY / (component["busy_s"] / component["calls"])


def _step_run(results: Path, steps: int, step_seconds: float, *extra: str) -> tuple[subprocess.CompletedProcess, float]:
    """A real headless step run against a fresh simulator whose FUNCTION has the fixed capacity; with the function's
    peak as the simulator measured it during the run."""
    with start_simulator("--capacity", f"{FUNCTION}={CONCURRENCY}", "--service-time", f"{FUNCTION}={SERVICE_TIME_MS}",
                         "--time-scale", TIME_SCALE) as simulator:
        completed = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(HERE / "capacity_locustfile.py"), "--headless",
             "--host", simulator.url, "--results-dir", str(results), "--json-file", str(results / "locust"),
             "--interval-seconds", str(INTERVAL_S), "--step-users", str(STEP_USERS),
             "--step-seconds", str(step_seconds), "--steps", str(steps), "--only-summary", "--loglevel", "WARNING",
             "--simulator-profile", simulator.profile, "--simulator-time-scale", TIME_SCALE, *extra],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=steps * step_seconds + 40,  # guards a hang only
        )
        peak_rps = _measured_peak_rps(simulator.stats()["components"][FUNCTION])
    assert (results / "intervals.jsonl").is_file(), completed.stderr[-2000:]
    assert peak_rps == pytest.approx(TRUE_PEAK_RPS, rel=0.3), "the simulator could not keep its service time"
    return completed, peak_rps


@pytest.mark.integration
def test_capacity_report_finds_the_known_peak_and_sla_capacity(tmp_path):
    results = tmp_path / "run"
    _, peak_rps = _step_run(results, STEPS, STEP_SECONDS)

    analysis = analyse(load_intervals(results), load_baseline(HERE / "capacity_baseline.toml"))
    plateaus = analysis.detection.plateaus
    assert [p.users for p in plateaus] == list(range(STEP_USERS, STEP_USERS * STEPS + 1, STEP_USERS)), analysis.detection.rejected
    assert all(p.endpoints[ENDPOINT].requests > 0 for p in plateaus)

    fit = analysis.fit
    assert isinstance(fit, UslFit), fit
    assert fit.peak_throughput_rps.value == pytest.approx(peak_rps, rel=0.15)
    assert abs(analysis.capacity.capacity_users - TRUE_SLA_CAPACITY_USERS) <= STEP_USERS
    assert analysis.capacity.bottleneck == ENDPOINT

    # The same run through the verb: the report files exist and carry the same answer.
    report = tmp_path / "report"
    assert main(["capacity", str(results), "--baseline", str(HERE / "capacity_baseline.toml"),
                 "--output", str(report)]) == ExitCode.OK
    markdown = (report / "capacity.md").read_text(encoding="utf-8")
    assert f"SLA-bound capacity: {analysis.capacity.capacity_users} users" in markdown
    assert "time scale 0.1" in markdown
    assert (report / "capacity.html").stat().st_size > 10_000


@pytest.mark.integration
def test_master_worker_runs_give_the_same_plateaus(tmp_path):
    # Two worker processes; the master merges their interval histograms. Its own port: the default 5557 would let
    # any other Locust master on this machine collect our workers (and us theirs).
    results = tmp_path / "run"
    port = str(free_port())
    _, peak_rps = _step_run(results, 4, 6, "--processes", "2", "--master-bind-host", "127.0.0.1", "--master-bind-port", port,
              "--master-host", "127.0.0.1", "--master-port", port)
    analysis = analyse(load_intervals(results), load_baseline(HERE / "capacity_baseline.toml"))
    by_users = {p.users: p for p in analysis.detection.plateaus}
    assert set(by_users) == {2, 4, 6, 8}, analysis.detection.rejected
    for users, plateau in by_users.items():
        # Closed loop, no think time: N users / 100 ms each, capped by the 4 slots (a few % lost to client overhead).
        assert plateau.goodput_rps == pytest.approx(min(users, CONCURRENCY) / CONCURRENCY * peak_rps, rel=0.15)
    assert analysis.capacity.capacity_users == TRUE_SLA_CAPACITY_USERS
