"""Every simulator fault profile (and a closed port, and a wrong key) through a real bounded headless run of the
harness's own locustfile and user classes: the harness never crashes, every fault is recorded as a failure in a
category a person understands, Locust's counts equal what the simulator served, a 429's Retry-After is honoured
by the user that got it, and expiring tokens are refreshed. One more run is switched healthy -> outage -> healthy
while it goes: it survives, and intervals.jsonl shows the failures inside the outage and none outside it.

The runs go at once (one simulator each, all on 127.0.0.1) in one module fixture, so the matrix costs about its
longest run's wall time; each test then reads what its run left behind.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from analysis.intervals import load_intervals
from tests.support.failure_runs import (SIMULATOR_FLAGS, TRACEBACK, LocustRun, count_mismatches, finish_run,
                          start_run, stop_if_running)  # fmt: skip
from harness.simulator_process import start_simulator
from tests.support.ports import closed_port_url

pytestmark = pytest.mark.integration

# What a person sees first in a failure message (scenarios/base.py), plus the harness's own app-level words.
CATEGORIES = {"connection refused", "connection error", "timeout", "5xx", "429", "auth", "4xx", "contract",
              "job failed", "app error"}  # fmt: skip
RESULT_FILES = ("locust.json", "locust_stats.csv", "locust_failures.csv", "locust_exceptions.csv",
                "locust_stats_history.csv", "manifest.json", "business_metrics.json", "intervals.jsonl")  # fmt: skip
# One of each user class (--equal-weights), so every endpoint meets the fault; --stop-timeout lets each user finish
# the task it is in when the time is up, so no request is cut off between the simulator's count and Locust's.
USERS = ("-u", "5", "-r", "5", "--equal-weights", "--stop-timeout", "10")


@dataclass(frozen=True)
class Fault:
    name: str
    profile: str | None  # None: nothing listens on the port
    expected: frozenset[str]  # categories that must appear
    allowed: frozenset[str] = frozenset()  # categories that may appear besides
    simulator_flags: tuple[str, ...] = SIMULATOR_FLAGS
    settings: dict = field(default_factory=dict)
    locust_args: tuple[str, ...] = USERS + ("-t", "8s")


def _fault(name, profile, expected=(), allowed=(), **kwargs) -> Fault:
    return Fault(name, profile, frozenset(expected), frozenset(allowed), **kwargs)


NO_SESSION = ("auth",)  # sign-in failed: a request that needs the session may be recorded "auth: no session", unsent
FAULTS = [
    _fault("healthy", "healthy"),
    _fault("zero-latency", "zero-latency"),
    # A quarter of background jobs fail (and the low Google quota fails more): 12 discovery users run ~30 jobs, so
    # at least one fails (P(none) ~ 0.75^30 < 0.02 %).
    _fault("degraded-discovery", "degraded-discovery", {"job failed"}, {"5xx", "timeout", "app error"},
           locust_args=("-u", "12", "-r", "12", "--stop-timeout", "10", "-t", "8s", "DiscoveryUser")),
    _fault("error-burst", "error-burst", {"5xx"}, {"job failed"}),
    # Users barely pause (1 % think time): far more than the 10 function calls/s the gateway allows, so 429s come.
    # Two users of each class, and the third-party quotas (real seconds) lifted: the twin's enrichment calls its
    # siblings one after another and Hunter's quota would pace it, so five users alone, on a machine busy with the
    # whole matrix, could stay under the gateway's limit; this fault is about the gateway.
    _fault("rate-limited", "rate-limited", {"429"}, settings={"PP_THINK_TIME_SCALE": "0.01"},
           simulator_flags=(*SIMULATOR_FLAGS, "--capacity", "hunter-api=1000", "--capacity", "neverbounce-api=1000",
                            "--capacity", "state-license-api=1000"),
           locust_args=("-u", "10", "-r", "10", "--equal-weights", "--stop-timeout", "10", "-t", "8s")),
    _fault("outage", "outage", {"5xx"}, NO_SESSION),
    _fault("unreachable", "unreachable", {"connection error"}, NO_SESSION),
    _fault("connection-refused", None, {"connection refused"}, NO_SESSION),
    _fault("malformed", "malformed", {"contract"}, {"job failed"}),
    # Tokens live 20 s: a 25 s run outlives every session's first token. AuthUser is left out: its own measured
    # sign-ins and refreshes would blur the count of refreshes that expiry caused.
    _fault("token-expiry", "token-expiry", (), locust_args=("-u", "4", "-r", "4", "--equal-weights", "--stop-timeout",
           "10", "-t", "25s", "ProspectorUser", "DiscoveryUser", "EnrichmentUser", "ExportUser")),
    # Real latencies (time scale 1): a 100-lead export takes ~2.8 s, past a 1.5 s request timeout.
    _fault("slow-export", "slow-export", {"timeout"}, simulator_flags=("--time-scale", "1", "--job-time-scale", "0.02"),
           settings={"PP_REQUEST_TIMEOUT_S": "1.5"}),
    # A rotated publishable key: everything the gateway answers is 401.
    _fault("wrong-key", "healthy", {"auth"}, simulator_flags=SIMULATOR_FLAGS + ("--publishable-key", "sb_publishable_rotated")),
]  # fmt: skip
FAULT_NAMES = [fault.name for fault in FAULTS]
BY_NAME = {fault.name: fault for fault in FAULTS}
# Besides the faults: one run switched healthy -> outage -> healthy through /__admin/profile while it goes.
SWITCHED = "healthy-outage-healthy"
# Counted in the run's own closed intervals (1 s each, all users running), not in seconds from its start: on a busy
# machine spawning can take most of a fixed 4 s, and the healthy part before the outage was then empty.
HEALTHY_BEFORE_INTERVALS = 3
OUTAGE_INTERVALS = 5
# A request sent just before a switch is answered after it (~0.2 s at time scale 0.05 on an idle machine, up to a
# second with a CPU hog on each core), so the intervals next to a switch may hold both kinds; the ones clear of it
# must not.
SWITCH_MARGIN_S = 1.0


@dataclass
class MatrixRun:
    run: LocustRun
    served: dict | None  # GET /__admin/stats after the run; None when no simulator was there
    switches: dict[str, float] = field(default_factory=dict)  # profile -> when it was switched in (epoch s)


@pytest.fixture(scope="module")
def matrix(tmp_path_factory) -> dict[str, MatrixRun]:
    """Run every fault at once; every simulator and Locust process started here is stopped here."""
    root = tmp_path_factory.mktemp("fault-matrix")
    with contextlib.ExitStack() as stack:
        simulators = {}
        for fault in FAULTS:
            if fault.profile is not None:
                simulators[fault.name] = stack.enter_context(
                    start_simulator("--profile", fault.profile, *fault.simulator_flags))
        processes = {}
        for fault in FAULTS:
            host = simulators[fault.name].url if fault.name in simulators else closed_port_url()
            process = start_run(host, root / fault.name, *fault.locust_args, settings=fault.settings)
            stack.callback(stop_if_running, process)
            processes[fault.name] = process
        # And healthy -> outage -> healthy, switched by the run's progress (it fits inside the longest run, 25 s).
        simulators[SWITCHED] = stack.enter_context(start_simulator("--profile", "healthy", *SIMULATOR_FLAGS))
        processes[SWITCHED] = start_run(simulators[SWITCHED].url, root / SWITCHED, *USERS, "-t", "22s")
        stack.callback(stop_if_running, processes[SWITCHED])
        switches = stack.enter_context(switching_profiles(simulators[SWITCHED], root / SWITCHED / "intervals.jsonl"))
        runs = {}
        for name, process in processes.items():
            run = finish_run(process, root / name)
            simulator = simulators.get(name)
            runs[name] = MatrixRun(run, simulator.stats() if simulator else None, switches if name == SWITCHED else {})
        return runs


@pytest.mark.parametrize("name", FAULT_NAMES)
def test_the_harness_survives_the_fault_and_writes_every_file(matrix, name):
    run = matrix[name].run
    assert TRACEBACK not in run.console, run.stderr[-3000:]
    assert run.exceptions() == [], run.exceptions()[0]["Traceback"]
    assert run.returncode in (0, 1), run.stderr[-2000:]  # 1: Locust's code for a run with recorded failures
    for name_ in RESULT_FILES:
        assert (run.results_dir / name_).is_file(), f"{name_} missing"
    manifest = run.json("manifest.json")
    assert manifest["ended_at"] and manifest["stop_reason"] == "run-time" and manifest["partial"] is False, manifest


@pytest.mark.parametrize("name", FAULT_NAMES)
def test_each_fault_is_recorded_as_a_failure_in_its_category(matrix, name):
    fault, run = BY_NAME[name], matrix[name].run
    final = run.failure_categories()
    assert set(final) <= CATEGORIES, f"failure messages without a known category: {set(final) - CATEGORIES}"
    assert fault.expected <= set(final) <= fault.expected | fault.allowed, final
    # What a person opens: locust_failures.csv says the same (it may miss the last second, never add to it).
    shown = run.failure_categories(run.failures_csv())
    assert fault.expected <= set(shown) <= set(final), shown
    # And every failure is counted in locust.json too.
    assert sum(entry["num_failures"] for entry in run.entries().values()) == sum(final.values())


@pytest.mark.parametrize("name", FAULT_NAMES)
def test_locust_counts_equal_what_the_simulator_served(matrix, name):
    outcome = matrix[name]
    served = outcome.served if outcome.served is not None else {"served": {}, "total": 0}
    assert count_mismatches(outcome.run, served) == []


def test_a_429_with_retry_after_is_honoured_by_the_user_that_got_it(matrix):
    """The rate-limited gateway says Retry-After: 1; that user's next request starts at least 1 s after the 429."""
    timeline = matrix["rate-limited"].run.json("request_timeline.json")
    gaps = []
    for requests in timeline:
        requests.sort()
        for (start, duration_ms, status), (next_start, _, _) in zip(requests, requests[1:]):
            if status == 429:
                gaps.append(next_start - (start + duration_ms / 1000))
    assert len(gaps) >= 5, "the run met too few 429s to show anything"
    assert min(gaps) >= 1.0 - 0.02, sorted(gaps)[:5]
    # Without the pause these users send a request every few tens of ms: the pause is what kept them away.
    others = [b[0] - a[0] - a[1] / 1000 for requests in timeline for a, b in zip(requests, requests[1:]) if a[2] != 429]
    assert sorted(others)[len(others) // 2] < 0.5


def test_expiring_tokens_are_refreshed_without_a_storm_or_auth_failures(matrix):
    run = matrix["token-expiry"].run
    entries = run.entries()
    refreshes = entries.get("POST /auth/v1/token?grant_type=refresh_token", {"num_requests": 0, "num_failures": 0})
    sessions = entries["POST /auth/v1/token?grant_type=password"]["num_requests"]
    assert refreshes["num_requests"] >= sessions  # every session outlived its first 20 s token
    # Refreshing a quarter of a token's life ahead is 1-2 refreshes per session in 25 s. Refreshing before every
    # request (a 20 s token is always "within 30 s of expiry") was hundreds, then GoTrue's 429s and expired tokens.
    assert refreshes["num_requests"] <= 4 * sessions, refreshes["num_requests"]
    assert refreshes["num_failures"] == 0
    assert run.failure_categories().get("auth", 0) <= 2


# ---- a profile switch in the middle of a run --------------------------------------------------------------------
def _running_intervals(intervals_path: Path) -> int:
    """How many intervals with every user running the recorder has closed so far (it appends each as it closes)."""
    try:
        lines = intervals_path.read_text(encoding="utf-8").splitlines()[1:]  # after the header
    except FileNotFoundError:
        return 0
    closed = 0
    for line in lines:
        try:
            closed += json.loads(line).get("user_count", 0) >= 5
        except ValueError:
            pass  # the line being written
    return closed


@contextlib.contextmanager
def switching_profiles(simulator, intervals_path: Path):
    """healthy -> outage -> healthy, by the run's own progress (its closed intervals); yields when each began."""
    switches: dict[str, float] = {}
    stop = threading.Event()

    def switch() -> None:
        deadline, wanted = time.monotonic() + 60, 0
        for profile, intervals in (("outage", HEALTHY_BEFORE_INTERVALS), ("healthy", OUTAGE_INTERVALS)):
            wanted += intervals
            while _running_intervals(intervals_path) < wanted:
                if stop.wait(0.05) or time.monotonic() > deadline:
                    return
            simulator.set_profile(profile)
            switches[profile] = time.time()

    switcher = threading.Thread(target=switch)
    switcher.start()
    try:
        yield switches
    finally:
        stop.set()
        switcher.join()


def test_a_mid_run_outage_is_survived_and_shows_in_the_intervals(matrix):
    outcome = matrix[SWITCHED]
    run, switches, results_dir = outcome.run, outcome.switches, outcome.run.results_dir
    assert set(switches) == {"outage", "healthy"}, "the run ended before the profile switches"
    assert TRACEBACK not in run.console and run.exceptions() == []
    assert count_mismatches(run, outcome.served) == []

    series = load_intervals(results_dir)
    outage_from, outage_to = switches["outage"] + SWITCH_MARGIN_S, switches["healthy"] + SWITCH_MARGIN_S
    # HTTP requests only: a background job submitted just before the switch runs on inside the platform, and
    # Realtime (not part of the outage) delivers its changes and its completion (WS and JOB entries) meanwhile.
    http = [endpoint for key, endpoint in series.endpoints.items() if not key.startswith(("WS ", "JOB "))]
    requests, failures = sum(e.requests for e in http), sum(e.failures for e in http)
    phases = {"before": [], "during": [], "after": []}
    for start, duration, users, sent, failed in zip(series.times, series.durations, series.user_counts, requests, failures):
        if duration < series.interval_s or users < 5:
            continue  # the run's first and last moments: users starting, or finishing their last task
        end = start + series.interval_s
        if end <= switches["outage"]:
            phases["before"].append((sent, failed))
        elif start >= outage_from and end <= switches["healthy"]:
            phases["during"].append((sent, failed))
        elif start >= outage_to:
            phases["after"].append((sent, failed))
    assert all(len(intervals) >= 2 for intervals in phases.values()), phases
    assert all(failed == 0 for _, failed in phases["before"] + phases["after"]), phases
    assert all(sent > 0 for sent, _ in phases["before"] + phases["after"]), "users stopped sending"
    # Inside the outage every request the users send fails (503), and they keep sending.
    assert all(sent > 0 and failed == sent for sent, failed in phases["during"]), phases["during"]
    categories = run.failure_categories()
    assert set(categories) == {"5xx"}, categories
