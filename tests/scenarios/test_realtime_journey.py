"""Jobs followed over Realtime as the SPA does, against the real simulator: one REST read per job instead of one per
poll; REST polling only while the channel is not SUBSCRIBED (Realtime down, or dropped mid-job); the WS entries'
counts equal what the simulator served; PP_REALTIME=false polls as before."""

from __future__ import annotations

import pytest

from tests.support.locust_runs import clean_environment, recorded_per_simulator_key, run_locust, served_per_key
from tests.support.switching import served, switch_when

pytestmark = pytest.mark.integration

JOB_READ = "GET /rest/v1/discovery_jobs?id=eq.[jobId]"
JOB = "JOB business-discovery-background submit->completed"
CONNECT = "WS /realtime/v1/websocket"
JOIN = "WS phx_join realtime:discovery_jobs_[jobId]"
DELIVERY = "WS postgres_changes discovery_jobs id=eq.[jobId]"
CLASSES = ("ProspectorUser", "DiscoveryUser")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three runs against simulators of their own: healthy, polling only, and healthy switched to realtime-down."""
    from harness.simulator_process import start_simulator

    root = tmp_path_factory.mktemp("realtime")
    results = {}
    with start_simulator("--time-scale", "0.05") as simulator:
        results["realtime"] = (run_locust(simulator.url, root / "realtime", *CLASSES, users=4, seconds=7),
                               served_per_key(simulator.stats()))
    with start_simulator("--time-scale", "0.05") as simulator:
        run = run_locust(simulator.url, root / "polling", *CLASSES, users=4, seconds=7,
                         env=clean_environment(PP_REALTIME="false"))
        results["polling"] = (run, served_per_key(simulator.stats()))
    with start_simulator("--time-scale", "0.05") as simulator:
        # Down once jobs have been followed over Realtime for a while (by what was served, not by a timer).
        with switch_when(simulator, "realtime-down", lambda stats: served(stats, "WS phx_join") >= 2):
            run = run_locust(simulator.url, root / "down", *CLASSES, users=4, seconds=8)
        results["down"] = (run, served_per_key(simulator.stats()))
    return results


def test_realtime_means_one_rest_job_read_per_job_and_clean_ws_entries(runs):
    run, served = runs["realtime"]
    assert run.returncode == 0, run.output[-3000:]
    entries = run.entries()
    jobs = entries[JOB]["num_requests"]
    assert jobs >= 4
    assert entries[JOB_READ]["num_requests"] == jobs  # the mount read only: every update came over Realtime
    assert entries[CONNECT]["num_requests"] == entries[JOIN]["num_requests"] == jobs
    assert entries[DELIVERY]["num_requests"] >= 3 * jobs  # processing, scoring, per-lead progress, completed
    assert sum(row["num_failures"] for row in entries.values()) == 0, run.failure_rows()
    assert recorded_per_simulator_key(run) == served


def test_polling_only_setting_reads_the_job_every_interval_and_opens_no_socket(runs):
    run, served = runs["polling"]
    assert run.returncode == 0, run.output[-3000:]
    entries = run.entries()
    assert not [key for key in entries if key.startswith("WS ")]
    assert entries[JOB_READ]["num_requests"] > 2 * entries[JOB]["num_requests"]  # 0.3 s polls of 1-6 s jobs
    assert recorded_per_simulator_key(run) == served


def test_when_realtime_goes_down_jobs_fall_back_to_polling_and_still_complete(runs):
    run, served = runs["down"]
    entries = run.entries()
    failures = run.failure_rows()
    # Realtime's failures are its own entries' and say what happened; everything else stays clean.
    ws_failures = {f"WS {row['Name']}": row["Error"] for row in failures if row["Method"] == "WS"}
    assert any("5xx: status 503, expected 101" in error for error in ws_failures.values()), failures
    assert [row for row in failures if row["Method"] != "WS"] == []
    assert entries[JOB]["num_failures"] == 0 and entries[JOB]["num_requests"] >= 4
    assert entries[JOB_READ]["num_requests"] > 2 * entries[JOB]["num_requests"]  # polling took over
    # Sockets open when it went down were closed by the server: one failure under delivery each, then polling.
    closed = sum(int(row["Occurrences"]) for row in failures if f"WS {row['Name']}" == DELIVERY)
    if closed:
        assert "websocket closed by the server" in ws_failures[DELIVERY], ws_failures
    # Like a connection reset, a closed channel is a failure the server never answered: the rest is exact.
    recorded = recorded_per_simulator_key(run)
    recorded["WS postgres_changes"] = recorded.get("WS postgres_changes", 0) - closed
    assert {key: count for key, count in recorded.items() if count} == served
