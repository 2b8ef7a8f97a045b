"""One run's state in the scenarios package: one ``RunState`` per Locust Environment, registered explicitly.

A run keeps: the business metrics (counts, costs, the running third-party spend and its ceiling), the guards'
state (the current test's refusal, the master's word on a worker, the discovery-job count, whether a guard
tripped), this process's part of the sign-in budget (a master also keeps the authority that shares it) and the
session pool. All of it hangs off the environment's RunState: ``state_of(environment)``, which the virtual users
keep as ``self.run_state``. Locust runs one environment per process; tests build several, and each keeps its own.

``attach(environment)`` (this module's init listener) builds the state, runs the init-time checks (a bad .env or
workload.toml, a refused target: one line and exit 1) and calls ``register(environment.events)``, which adds the
state's listeners as bound methods, each doing its steps in the order they need (the spend ceiling is decided in
one place, guards.apply_ceiling; the merged spend is checked right after a worker's report is merged), so nothing
depends on the order in which modules were imported.
"""

from __future__ import annotations

import logging
import weakref
from functools import partial
from pathlib import Path

from locust import events
from locust.env import Environment
from locust.event import Events
from locust.runners import MasterRunner, Runner, WorkerRunner

from harness.results import register_artifact_writer
from scenarios import auth_pacing, guards
from scenarios.auth_pacing import PermitClient
from scenarios.metrics import REPORT_KEY, BusinessMetrics, summary_line
from scenarios.sessions import SessionPool, build_session_pool
from scenarios.settings import HarnessSettings

logger = logging.getLogger(__name__)


class RunState:
    """What the scenarios package keeps for one environment's run."""

    def __init__(self, environment: Environment) -> None:
        self._environment = weakref.ref(environment)  # the environment holds this state (through its listeners)
        self.metrics = BusinessMetrics()
        self.guard = guards.GuardState()
        self.permits = PermitClient()  # a local run keeps its own sign-in budget; attach() makes a worker ask the master
        self.permit_master: auth_pacing.MasterSide | None = None
        self.sessions: SessionPool | None = None

    @property
    def environment(self) -> Environment | None:
        return self._environment()

    def session_pool(self, settings: HarnessSettings) -> SessionPool:
        """The run's session pool, built on first use from the settings and this process's sign-in share."""
        if self.sessions is None:
            self.sessions = build_session_pool(settings, self.permits)
        return self.sessions

    def register(self, events: Events) -> None:
        """Listen to ``events`` (the environment's) for the rest of the run."""
        events.test_start.add_listener(self._on_test_start)
        events.report_to_master.add_listener(self._ship_to_master)
        events.worker_report.add_listener(self._merge_from_worker)
        events.usage_monitor.add_listener(self._on_usage_monitor)

    # -- listeners -----------------------------------------------------------------------------------------------------
    def _on_test_start(self, environment: Environment, **_kwargs) -> None:
        # A test counts from zero (a restart from the web UI too); the ceiling is decided again for its host.
        self.metrics = BusinessMetrics()
        ceiling = guards.apply_ceiling(self, environment)
        if not isinstance(environment.runner, WorkerRunner):  # said once, by the process that owns the run
            logger.info(ceiling.describe())
        guards.on_test_start(self, environment)
        auth_pacing.on_test_start(self.permits, self.permit_master, environment)

    def _ship_to_master(self, data: dict, **_kwargs) -> None:
        data[REPORT_KEY] = self.metrics.take_unreported()

    def _merge_from_worker(self, data: dict, **_kwargs) -> None:
        if REPORT_KEY not in data:
            return
        self.metrics.merge(data[REPORT_KEY])
        # Each worker checks only its own spend: the master checks the whole run's, once the report is merged.
        environment = self.environment
        if environment is not None and environment.runner is not None:
            guards.check_spend(self, environment)

    def _on_usage_monitor(self, environment: Environment, **_kwargs) -> None:
        guards.watch_user_count(self, environment)


_states: weakref.WeakKeyDictionary[Environment, RunState] = weakref.WeakKeyDictionary()


def state_of(environment: Environment) -> RunState:
    """The environment's run state (built unregistered for an environment that Locust's init never saw: a test's)."""
    state = _states.get(environment)
    if state is None:
        state = _states[environment] = RunState(environment)
    return state


def attach(environment: Environment, runner: Runner | None = None) -> RunState:
    """A fresh state for the environment's run: init-time checks, the runner's messages, then its listeners."""
    state = _states[environment] = RunState(environment)
    guards.on_init(state, environment)
    state.permit_master = auth_pacing.attach(state.permits, environment, runner)
    if isinstance(runner, MasterRunner):
        runner.register_message(guards.GUARD_MESSAGE, partial(guards.on_guard_message_from_worker, state))
    elif isinstance(runner, WorkerRunner):
        runner.register_message(guards.REFUSAL_MESSAGE, partial(guards.on_refusal_from_master, state))
    state.register(environment.events)
    return state


@events.init.add_listener
def _on_init(environment: Environment, runner: Runner | None = None, **_kwargs) -> None:
    attach(environment, runner)


@register_artifact_writer
def write_business_metrics(environment: Environment, results_dir: Path) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return
    content = state_of(environment).metrics.write(results_dir)
    logger.info("business metrics: %s", summary_line(content))
