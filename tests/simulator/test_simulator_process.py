"""harness/simulator_process.py: start, ready line, admin calls, stop, and start-up failures."""

from __future__ import annotations

import os

import pytest

from harness.simulator_process import REPO_ROOT, SimulatorStartError, start_simulator

pytestmark = pytest.mark.integration


def test_fixture_gives_a_ready_healthy_simulator(simulator):
    assert simulator.url.startswith("http://127.0.0.1:")
    assert simulator.profile == "healthy" and simulator.seed == 1 and simulator.time_scale == 0.05
    assert {k: v for k, v in simulator.stats().items() if k != "components"} == {"served": {}, "total": 0}


def test_stop_is_idempotent_and_ends_the_process():
    sim = start_simulator("--time-scale", "0.05")
    pid = sim.pid
    assert sim.is_running()
    sim.stop()
    sim.stop()
    assert not sim.is_running()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_bad_flag_raises_with_the_simulators_error_line():
    with pytest.raises(SimulatorStartError, match=r"--profile: unknown profile 'nope'"):
        start_simulator("--profile", "nope")


def test_log_path_keeps_the_console_output(tmp_path):
    log = tmp_path / "sim" / "simulator.log"
    with start_simulator("--time-scale", "0.05", log_path=log) as sim:
        assert sim.log_path == log
    assert log.read_text().startswith("prospectpro-simulator ready url=http://127.0.0.1:")


def test_admin_token_flag_is_used_by_the_helper(simulator_factory):
    sim = simulator_factory("--admin-token", "other-token", "--time-scale", "0.05")
    assert sim.admin_token == "other-token"
    assert sim.get_profile()["profile"] == "healthy"


def test_simulator_exits_when_its_parent_dies(tmp_path):
    import subprocess
    import sys
    import time

    # A parent that starts a simulator, prints its pid and dies without stopping it.
    script = ("import sys; sys.path.insert(0, %r)\n"
              "from harness.simulator_process import start_simulator\n"
              "sim = start_simulator('--time-scale', '0.05', log_path=%r)\n"
              "print(sim.pid, flush=True)\n"
              "import os; os._exit(0)\n") % (str(REPO_ROOT), str(tmp_path / "sim.log"))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    pid = int(out.stdout.strip())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return
        if state == "Z":  # exited; only waiting for a (possibly absent) init to reap it
            return
        time.sleep(0.1)
    os.kill(pid, 9)
    raise AssertionError("the orphaned simulator kept running")


def test_simulator_whose_parent_died_during_its_start_up_does_not_serve_on(tmp_path):
    """The parent is gone before the simulator reads its own parent: --parent-pid still tells it."""
    import subprocess
    import sys

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that no longer has a process: the "parent" died while the simulator started
    simulator = subprocess.Popen([sys.executable, "-m", "simulator", "--port", "0", "--exit-with-parent",
                                  "--parent-pid", str(gone.pid)], cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        assert simulator.wait(timeout=30) == 0  # it noticed at once and stopped serving
    finally:
        if simulator.poll() is None:
            simulator.kill()
            simulator.wait()


def test_no_ready_line_in_time_raises_and_leaves_no_process():
    import subprocess

    def children() -> set[str]:
        listed = subprocess.run(["pgrep", "-P", str(os.getpid())], capture_output=True, text=True)
        return set(listed.stdout.split())

    before = children()
    with pytest.raises(SimulatorStartError, match=r"printed no ready line within 0.01 s"):
        start_simulator("--time-scale", "0.05", ready_timeout=0.01)
    assert children() <= before  # the silent simulator was killed and reaped
