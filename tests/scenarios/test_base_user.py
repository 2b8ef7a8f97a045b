"""ProspectProUser's request path in-process against the real simulator: 401 refresh-and-retry, 429 pacing,
short-lived tokens refreshed ahead of expiry."""

from __future__ import annotations

import time

import pytest
from locust.env import Environment

from scenarios import names
from scenarios.auth import AuthUser
from scenarios.settings import get_settings
from tests.support.locust_runs import run_locust, served_per_key

pytestmark = pytest.mark.integration


@pytest.fixture
def make_user(clean_pp_environment):
    get_settings.cache_clear()  # each Environment has its own run state (scenarios/run_state.py): nothing to reset

    def make(url: str) -> tuple[AuthUser, Environment]:
        environment = Environment(user_classes=[AuthUser], host=url)
        environment.create_local_runner()
        clean_pp_environment.setattr(AuthUser, "host", url)  # what the runner does when a test starts
        user = AuthUser(environment)
        user.on_start()
        return user, environment

    yield make
    get_settings.cache_clear()


def entry(environment: Environment, request: names.RequestName):
    return environment.stats.get(request.name, request.method)


def test_a_401_is_recorded_then_the_session_is_refreshed_once_and_the_request_retried_once(simulator, make_user):
    user, environment = make_user(simulator.url)
    user.session.access_token = "not-a-valid-jwt"  # what an expired or revoked session looks like to a function
    user.session.generation += 1  # as a refresh elsewhere would: the headers are rebuilt from it
    answer = user.call(names.TEST_NEW_AUTH, "/functions/v1/test-new-auth", json={"diagnostics": True})
    assert answer is not None  # the retry succeeded
    tested = entry(environment, names.TEST_NEW_AUTH)
    assert (tested.num_requests, tested.num_failures) == (2, 1)
    assert entry(environment, names.REFRESH).num_requests == 1
    [(error_key, error)] = environment.stats.errors.items()
    assert str(error.error).startswith("auth: status 401, expected 200: Auth failure")


def test_a_check_that_raises_is_a_recorded_failure_not_a_lost_request(simulator, make_user):
    user, environment = make_user(simulator.url)

    def crashing_check(_response):
        raise RuntimeError("boom")

    assert user.call(names.GET_USER, "/auth/v1/user", check=crashing_check) is None
    checked = entry(environment, names.GET_USER)
    assert (checked.num_requests, checked.num_failures) == (1, 1)
    [error] = environment.stats.errors.values()
    assert str(error.error) == "harness error: response check raised RuntimeError: boom"


def test_a_429_is_recorded_and_the_user_waits_retry_after_before_its_next_request(simulator_factory, make_user):
    simulator = simulator_factory("--profile", "rate-limited", "--time-scale", "0.05")
    user, environment = make_user(simulator.url)
    for _ in range(30):
        user.call(names.TEST_NEW_AUTH, "/functions/v1/test-new-auth", json={})
        if entry(environment, names.TEST_NEW_AUTH).num_failures:
            break
    messages = [str(error.error) for error in environment.stats.errors.values()]
    assert messages and messages[0].startswith("429 (Retry-After 1 s): status 429, expected 200: ")
    started = time.monotonic()
    user.call(names.TEST_NEW_AUTH, "/functions/v1/test-new-auth", json={})
    assert time.monotonic() - started >= 0.9  # waited out Retry-After: 1 first


def test_short_lived_tokens_are_refreshed_ahead_of_expiry_with_no_failures(simulator_factory, tmp_path):
    simulator = simulator_factory("--profile", "healthy", "--time-scale", "0.05", "--jwt-ttl", "4")
    run = run_locust(simulator.url, tmp_path / "run", "ProspectorUser", users=2, seconds=10)
    assert run.returncode == 0, run.output[-3000:]
    assert run.entries()["POST /auth/v1/token?grant_type=refresh_token"]["num_requests"] >= 2
    assert sum(row["num_failures"] for row in run.entries().values()) == 0
    assert served_per_key(simulator.stats()).get("POST /auth/v1/token?grant_type=refresh_token", 0) >= 2
