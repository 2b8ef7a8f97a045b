"""harness/simulator_process.py: start, ready line, admin calls, stop, and start-up failures."""

from __future__ import annotations

import os

import pytest

from harness.simulator_process import SimulatorStartError, start_simulator

pytestmark = pytest.mark.integration


def test_fixture_gives_a_ready_healthy_simulator(simulator):
    assert simulator.url.startswith("http://127.0.0.1:")
    assert simulator.profile == "healthy" and simulator.seed == 1 and simulator.time_scale == 0.05
    assert simulator.stats() == {"served": {}, "total": 0}


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
