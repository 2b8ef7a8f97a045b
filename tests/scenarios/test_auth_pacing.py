"""The run's sign-in budget: one window per egress address, whatever the number of workers (issue: scaling out on one
host got 429s from GoTrue because every process kept the whole budget for itself)."""

from __future__ import annotations

import argparse

import pytest

from scenarios.auth_pacing import REFRESH, SIGN_IN, USABLE, PermitAuthority, _egress_option, parse_egress


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _grant_all(authority: PermitAuthority, workers: list[str], kind: str = SIGN_IN) -> dict[str, int]:
    """Ask for permits round-robin until every worker is refused; how many each got."""
    got = dict.fromkeys(workers, 0)
    progress = True
    while progress:
        progress = False
        for worker in workers:
            if authority.grant(worker, kind):
                got[worker] += 1
                progress = True
    return got


def test_a_process_alone_has_the_whole_budget_and_mints_twenty_sessions():
    authority = PermitAuthority(clock=Clock())
    share = authority.shares["local"]
    assert (share.sign_ins, share.pool, share.group_size) == (28, 20, 1)
    assert _grant_all(authority, ["local"]) == {"local": 28}


@pytest.mark.parametrize("workers", [2, 3, 4, 7])
def test_workers_on_one_address_split_it_and_never_exceed_it_together(workers):
    authority = PermitAuthority(clock=Clock())
    ids = [f"host_{n:032x}" for n in range(workers)]
    shares = authority.set_workers(ids)
    quotas = {share.sign_ins for share in shares.values()}
    assert quotas == {28 // workers} and all(share.pool >= 1 for share in shares.values())
    got = _grant_all(authority, ids)
    assert sum(got.values()) <= USABLE[SIGN_IN]
    assert set(got.values()) == {28 // workers}  # each its equal share, nobody starved


def test_a_worker_joining_mid_window_gets_its_share_from_what_is_left():
    clock = Clock()
    authority = PermitAuthority(clock=clock)
    first = "host_" + "a" * 32
    authority.set_workers([first])
    assert _grant_all(authority, [first]) == {first: 28}  # alone, it used the whole window
    second = "host_" + "b" * 32
    shares = authority.set_workers([first, second])
    assert shares[second].sign_ins == 14
    assert not authority.grant(second, SIGN_IN)  # GoTrue still counts the first worker's 28: nothing left
    clock.now += 301  # the window moves on
    assert _grant_all(authority, [first, second]) == {first: 14, second: 14}


def test_a_worker_leaving_does_not_free_its_permits_before_they_age_out():
    clock = Clock()
    authority = PermitAuthority(clock=clock)
    workers = ["h_" + "1" * 32, "h_" + "2" * 32]
    authority.set_workers(workers)
    assert sum(_grant_all(authority, workers).values()) == 28
    authority.set_workers(workers[:1])
    assert not authority.grant(workers[0], SIGN_IN)
    clock.now += 301
    assert _grant_all(authority, workers[:1]) == {workers[0]: 28}


def test_sign_ins_made_before_the_run_count_until_they_age_out():
    clock = Clock()
    authority = PermitAuthority(clock=clock)
    authority.spent_before(SIGN_IN, [10.0, 20.0, 400.0])  # the pre-flight's two, and one long gone
    assert _grant_all(authority, ["local"]) == {"local": 26}
    workers = ["h_" + "1" * 32, "h_" + "2" * 32]
    authority = PermitAuthority("per-host", clock=clock)
    authority.spent_before(SIGN_IN, [5.0])
    authority.set_workers(workers)  # a group made after the pre-flight still carries its sign-in
    assert sum(_grant_all(authority, workers).values()) == 27
    clock.now += 300  # the window moves past them
    assert sum(_grant_all(authority, workers).values()) == 28


def test_needed_refreshes_always_go_and_count_against_measured_ones():
    authority = PermitAuthority(clock=Clock())
    for _ in range(USABLE[REFRESH]):
        assert authority.grant("local", REFRESH, forced=True)
    assert authority.grant("local", REFRESH, forced=True)  # never refused
    assert not authority.grant("local", REFRESH)  # but nothing is left for a measured one


def test_per_host_gives_each_host_its_own_address():
    authority = PermitAuthority("per-host", clock=Clock())
    ids = ["alpha_" + "1" * 32, "alpha_" + "2" * 32, "beta_" + "3" * 32]
    shares = authority.set_workers(ids)
    assert {worker: (share.group, share.sign_ins) for worker, share in shares.items()} == {
        ids[0]: ("alpha", 14), ids[1]: ("alpha", 14), ids[2]: ("beta", 28)}
    assert _grant_all(authority, ids) == {ids[0]: 14, ids[1]: 14, ids[2]: 28}


def test_n_addresses_spread_workers_and_keep_each_on_its_address():
    authority = PermitAuthority(2, clock=Clock())
    ids = [f"h_{n:032x}" for n in range(3)]
    shares = authority.set_workers(ids)
    assert sorted(share.group_size for share in shares.values()) == [1, 2, 2]
    groups = {worker: share.group for worker, share in shares.items()}
    assert authority.set_workers(ids + ["h_" + "f" * 32])  # a fourth joins the less crowded address
    assert {worker: authority.shares[worker].group for worker in ids} == groups
    assert sorted(share.group_size for share in authority.shares.values()) == [2, 2, 2, 2]


def test_the_egress_option():
    assert parse_egress("shared") == "shared" and parse_egress("1") == "shared"
    assert parse_egress("per-host") == "per-host" and parse_egress(" 3 ") == 3
    for bad in ("0", "many", "-2"):
        with pytest.raises(argparse.ArgumentTypeError, match="--egress-ips must be"):
            _egress_option(bad)


# ---- real runs against the simulator, whose GoTrue keeps the real per-IP limit (30 sign-ins per 5 minutes) ----------
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from analysis.exit_codes import ExitCode  # noqa: E402
from tests.support.locust_runs import ROOT, clean_environment, run_locust  # noqa: E402
from tests.support.ports import free_port  # noqa: E402
from tests.support.processes import stop_all  # noqa: E402

TOKEN_PATHS = ("POST /auth/v1/token?grant_type=password", "POST /auth/v1/token?grant_type=refresh_token")


def _token_statuses(simulator) -> dict[str, dict[str, int]]:
    served = simulator.stats()["served"]
    return {path: served.get(path, {}) for path in TOKEN_PATHS}


# The time-compressed simulator (--time-scale 0.05) runs discovery jobs 20x faster, so 36 journeys would exceed its
# Google Places quota (a real limit of the twin): lifted here, since this test is about GoTrue's limit only.
UNLIMITED_PLACES = ("--profile", "healthy", "--time-scale", "0.05", "--capacity", "google-places=10000")


@pytest.mark.integration
def test_four_processes_on_one_address_get_no_429(simulator_factory, tmp_path):
    simulator = simulator_factory(*UNLIMITED_PLACES)
    port = str(free_port())
    # AuthUser signs in as a task as often as the budget lets it: the hardest case for the shared window.
    run = run_locust(simulator.url, tmp_path / "run", "ProspectorUser", "AuthUser", "--processes", "4",
                     "--master-bind-host", "127.0.0.1", "--master-bind-port", port, "--master-host", "127.0.0.1",
                     "--master-port", port, users=40, seconds=20, timeout=150)  # fmt: skip
    statuses = _token_statuses(simulator)
    sign_ins = statuses[TOKEN_PATHS[0]]
    assert "429" not in sign_ins and "429" not in statuses[TOKEN_PATHS[1]], statuses
    assert 8 <= sum(sign_ins.values()) <= 28, sign_ins  # the four workers used the one window, and no more of it
    assert run.returncode == 0, run.output[-3000:]
    assert "sign-in budget shared: egress shared: 4 process(es), 7 sign-ins each" in run.output


@pytest.mark.integration
def test_a_worker_joining_mid_run_gets_its_share(simulator_factory, tmp_path):
    simulator = simulator_factory(*UNLIMITED_PLACES)
    port = str(free_port())
    common = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py")]
    # At most 90 s; the test stops the master itself once the second worker has its share (a busy machine can take
    # most of a fixed 30 s run to start that worker, and the run then ended before it joined).
    master_command = [*common, "--master", "--headless", "--expect-workers", "1", "-u", "30", "-r", "30", "-t", "90s",
                      "--master-bind-host", "127.0.0.1", "--master-bind-port", port, "--host", simulator.url,
                      "--results-dir", str(tmp_path / "run"), "ProspectorUser", "AuthUser"]  # fmt: skip
    worker_command = [*common, "--worker", "--master-host", "127.0.0.1", "--master-port", port]
    logs = [tmp_path / name for name in ("master.log", "worker-1.log", "worker-2.log")]
    processes: list[subprocess.Popen] = []

    def start(command: list[str], log) -> None:
        with open(log, "w") as console:
            processes.append(subprocess.Popen(command, cwd=tmp_path, env=clean_environment(), stdout=console,
                                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))  # fmt: skip

    def wait_for(text: str, log) -> None:
        deadline = time.monotonic() + 60
        while text not in log.read_text():
            assert time.monotonic() < deadline and processes[0].poll() is None, f"no {text!r} in {log.name}"
            time.sleep(0.2)

    try:
        start(master_command, logs[0])
        start(worker_command, logs[1])
        wait_for("sign-in budget: 28 sign-ins", logs[1])  # the first worker is at work with the whole budget
        start(worker_command, logs[2])  # joins mid-run
        wait_for("sign-in budget: 14 sign-ins", logs[2])
        time.sleep(3)  # both workers at work on their halves for a while (what is checked is the simulator's 429s)
        processes[0].send_signal(signal.SIGTERM)  # the master stops the workers and writes its results
        assert processes[0].wait(timeout=90) == ExitCode.OK, logs[0].read_text()[-3000:]  # no gate here: a clean stop
    finally:
        stop_all(processes)
    first, joined = logs[1].read_text(), logs[2].read_text()
    said = [line for log in logs for line in log.read_text().splitlines() if "budget" in line or "worker" in line]
    assert "sign-in budget: 28 sign-ins" in first, said  # alone at the start
    assert "sign-in budget: 14 sign-ins" in first and "sign-in budget: 14 sign-ins" in joined, said  # halved
    assert "429" not in str(_token_statuses(simulator)), _token_statuses(simulator)
