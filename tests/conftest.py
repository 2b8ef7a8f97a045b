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

import os  # noqa: E402

import gevent  # noqa: E402

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Under pytest-xdist, a worker waits for its next test on an Event that a native thread (execnet's reader) sets.
    # With every module patched, that wait is gevent's, and gevent's hub gives up ("LoopExit: This operation would
    # block forever") when nothing in this thread could wake it. A repeating timer keeps the hub alive meanwhile.
    _keep_hub_alive = gevent.get_hub().loop.timer(0.5, 0.5)
    _keep_hub_alive.start(lambda: None)

import pytest  # noqa: E402

from harness.simulator_process import SimulatorProcess, start_simulator  # noqa: E402
from scenarios.settings import load_settings  # noqa: E402

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


@pytest.fixture(autouse=True)
def clean_pp_environment(monkeypatch, tmp_path):
    """Every test runs in an empty folder of its own with no PP_* variables: no developer's .env or shell settings
    leak in, and nothing a test writes by a relative path meets another test's (pytest-xdist runs several at once).
    Returns the monkeypatch, for any further patching."""
    monkeypatch.chdir(tmp_path)
    for key in [key for key in os.environ if key.startswith("PP_")]:
        monkeypatch.delenv(key)
    return monkeypatch


@pytest.fixture
def settings(clean_pp_environment):
    """`settings(PP_KEY="value", ...)`: HarnessSettings built from exactly these values and the defaults."""

    def build(**values: str):
        for key, value in values.items():
            clean_pp_environment.setenv(key, value)
        return load_settings()

    return build



def pytest_collection_modifyitems(config, items):
    """Modules with real runs first. Under pytest-xdist (`make test` runs `-n 4 --dist loadscope`: a module's tests
    stay on one worker, so a run shared through a module-scoped fixture happens once) the long modules then start
    early and the quick ones fill in at the end. The order within each group is kept."""
    def module(item) -> str:
        return item.nodeid.split("::", 1)[0]

    with_runs = {module(item) for item in items if item.get_closest_marker("integration") is not None}
    items.sort(key=lambda item: module(item) not in with_runs)  # a stable sort: False (real runs) first
