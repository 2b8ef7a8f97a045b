"""One RunState per Locust Environment (scenarios/run_state.py): two environments in one process keep separate
metrics, guards and sign-in budgets, each listens to its own events, and the spend ceiling does not depend on the
order in which the scenarios modules are imported."""

from __future__ import annotations

import subprocess
import sys

from locust.env import Environment
from locust.runners import LocalRunner

from scenarios import guards
from scenarios.auth import AuthUser
from scenarios.run_state import attach, state_of
from scenarios.settings import get_settings
from tests.support.locust_runs import clean_environment


def _two_environments(clean_pp_environment) -> tuple[Environment, Environment]:
    get_settings.cache_clear()
    first, second = (Environment(user_classes=[AuthUser], host="http://127.0.0.1:9") for _ in range(2))
    for environment in (first, second):
        attach(environment, environment.create_local_runner())
    return first, second


def test_two_environments_in_one_process_keep_separate_state(clean_pp_environment):
    first, second = _two_environments(clean_pp_environment)
    one, two = state_of(first), state_of(second)
    assert one is not two and state_of(first) is one  # one state per environment, the same on every lookup
    assert one.metrics is not two.metrics and one.guard is not two.guard and one.permits is not two.permits

    one.metrics.count("discovery_submitted", 3)
    one.metrics.add_cost("third_party_spend", 1.5)
    assert two.metrics.counts["discovery_submitted"] == 0 and two.metrics.third_party_spend_usd == 0.0

    # The discovery-job cap and a tripped guard belong to their run.
    for _ in range(3):
        assert guards.permit_discovery_job(one, first)
    assert (one.guard.discovery_jobs, two.guard.discovery_jobs) == (3, 0)
    guards.trip(one, first, "safety", "a test trip")
    assert one.guard.tripped and not two.guard.tripped

    # The sign-in budget is per run: permits granted to one do not use up the other's window.
    assert one.permits.try_acquire()
    assert one.permits.authority is not None and two.permits.authority is not None
    assert one.permits.authority.granted["sign_in"] == 1 and two.permits.authority.granted["sign_in"] == 0


def test_each_state_listens_to_its_own_environments_events(clean_pp_environment):
    first, second = _two_environments(clean_pp_environment)
    one, two = state_of(first), state_of(second)
    one.metrics.count("jobs_completed")
    two.metrics.count("jobs_completed", 2)
    assert isinstance(second.runner, LocalRunner)
    second.events.test_start.fire(environment=second)  # a new test of the second run only
    assert one.metrics.counts["jobs_completed"] == 1 and two.metrics.counts["jobs_completed"] == 0

    shipped: dict = {}
    first.events.report_to_master.fire(client_id="worker-1", data=shipped)  # what a worker of the first run ships
    second.events.worker_report.fire(client_id="worker-1", data=shipped)  # merged by the second run's master
    assert two.metrics.counts["jobs_completed"] == 1 and one.metrics.counts["jobs_completed"] == 1


def test_the_master_checks_the_merged_spend_after_a_worker_report(clean_pp_environment):
    clean_pp_environment.setenv("PP_SPEND_CEILING_USD", "1")
    first, _second = _two_environments(clean_pp_environment)
    one = state_of(first)
    worker = type(one.metrics)()
    worker.add_cost("third_party_spend", 1.25)
    first.events.worker_report.fire(client_id="worker-1", data={"prospectpro_business_metrics": worker.take_unreported()})
    assert one.metrics.spend_guard_tripped and one.guard.tripped


IMPORT_ORDERS = (
    ["scenarios.guards", "scenarios.metrics", "scenarios.run_state"],
    ["scenarios.run_state", "scenarios.metrics", "scenarios.guards"],
    ["scenarios.metrics", "scenarios.sessions", "scenarios.auth_pacing", "scenarios.guards", "scenarios.run_state"],
    ["locustfile"],
)
HOSTS = ("https://abcdefghij.supabase.co", "http://127.0.0.1:9")  # a real project (never contacted), loopback
PROBE = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
from locust.env import Environment
from scenarios.run_state import attach
for host in %r:
    environment = Environment(host=host)
    state = attach(environment)  # Locust's init, without a runner: nothing is spawned, nothing sent
    at_init = state.metrics.spend_ceiling_usd
    environment.events.test_start.fire(environment=environment)
    print(at_init, state.metrics.spend_ceiling_usd)
""" % (HOSTS,)


def test_the_spend_ceiling_is_the_same_whatever_the_import_order(tmp_path):
    env = clean_environment(PP_ALLOW_REMOTE_TARGET="true")
    expected = [f"{guards.DEFAULT_REMOTE_CEILING_USD} {guards.DEFAULT_REMOTE_CEILING_USD}", "None None"]
    for order in IMPORT_ORDERS:
        probe = subprocess.run([sys.executable, "-c", PROBE, *order], cwd=tmp_path, env=env, capture_output=True,
                               text=True, timeout=60)  # fmt: skip
        assert probe.returncode == 0, probe.stderr
        assert probe.stdout.strip().splitlines()[-2:] == expected, (order, probe.stdout)
