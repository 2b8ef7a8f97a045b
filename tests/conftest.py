"""Shared fixtures: a running simulator per test, always stopped in teardown (even when the test fails).

    def test_x(simulator):                 # healthy, --time-scale 0.05, a fresh process
        simulator.url, simulator.stats()

    def test_y(simulator_factory):         # any flags; every process started is stopped afterwards
        sim = simulator_factory("--profile", "outage", "--time-scale", "0.05")
"""

from __future__ import annotations

# Patch first, as the locust command does before it imports a locustfile: many tests run Locust in-process, and
# gevent must patch ssl and sockets before anything (PyJWT, urllib) imports them.
from gevent import monkey

monkey.patch_all()

import pytest  # noqa: E402

from harness.simulator_process import SimulatorProcess, start_simulator  # noqa: E402

FAST_TIME_SCALE = "0.05"


@pytest.fixture
def simulator_factory():
    """Start simulators with any flags: `simulator_factory(*args, **start_simulator_kwargs)`."""
    started: list[SimulatorProcess] = []

    def start(*args: str, **kwargs) -> SimulatorProcess:
        process = start_simulator(*args, **kwargs)
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            process.stop()


@pytest.fixture
def simulator(simulator_factory) -> SimulatorProcess:
    """A healthy simulator at --time-scale 0.05 (jobs take 3-6 s, requests a few ms)."""
    return simulator_factory("--profile", "healthy", "--time-scale", FAST_TIME_SCALE)
