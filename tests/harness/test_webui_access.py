"""Who may read the SLA routes and /metrics: behind Locust's --web-login, or a bearer token for Prometheus.

In-process: a real Locust Environment and WebUI (not started: Flask's test client talks to its app), and the
harness's own init listeners for the SLA tab and /metrics called as Locust's init event calls them, so the routes
under test are the ones `make ui` serves. Not by firing the global init event: in a test process it also reaches
every other module's listener that some earlier test imported (the Thunder user's exits without a collection).
"""

from __future__ import annotations

import pytest
from locust.argument_parser import parse_options
from locust.env import Environment
from locust.event import Events

from harness import prometheus, webui

PROTECTED = ("/sla/data", "/sla/report", "/sla/runs/some-run/report.html", "/metrics")


def web_ui_client(*, web_login: bool, metrics_token: str | None = None):
    options = parse_options(["--metrics-token", metrics_token] if metrics_token else [])  # with the harness's options
    environment = Environment(events=Events(), parsed_options=options)
    environment.create_local_runner()
    web_ui = environment.create_web_ui("127.0.0.1", 0, web_login=web_login, delayed_start=True)
    if web_login:
        # What a --web-login auth plugin sets up (Locust's examples/web_ui_auth): a session key and a user loader.
        web_ui.app.config["SECRET_KEY"] = "test-only"
        web_ui.login_manager.user_loader(lambda _user_id: None)  # nobody is signed in
    for on_init in (webui._on_init, prometheus._on_init):  # the init listeners under test, as Locust calls them
        on_init(environment=environment, runner=environment.runner, web_ui=web_ui)
    return web_ui.app.test_client(), environment


@pytest.fixture
def cleanup(monkeypatch):
    monkeypatch.setattr("sys.argv", ["locust"])  # Locust's WebUI reads the default options from the command line
    environments = []
    yield environments
    for environment in environments:
        environment.runner.quit()


@pytest.mark.parametrize("path", PROTECTED)
def test_with_web_login_every_harness_route_sends_a_stranger_to_the_login_page(path, cleanup):
    client, environment = web_ui_client(web_login=True)
    cleanup.append(environment)
    answer = client.get(path)
    assert answer.status_code == 302 and "/login" in answer.headers["Location"], (path, answer.status_code)


def test_without_web_login_the_routes_answer_as_before(cleanup):
    client, environment = web_ui_client(web_login=False)
    cleanup.append(environment)
    assert client.get("/sla/data").status_code == 200
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and b"prospectpro_" in metrics.data


def test_a_metrics_token_lets_prometheus_in_without_a_login_and_nobody_else(cleanup):
    client, environment = web_ui_client(web_login=True, metrics_token="s3cret-token")
    cleanup.append(environment)
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    answer = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
    assert answer.status_code == 200 and b"prospectpro_run_exit_code" in answer.data
    assert client.get("/sla/data", headers={"Authorization": "Bearer s3cret-token"}).status_code == 302  # UI pages keep the login


def test_the_headless_metrics_server_checks_the_token_too():
    """The WSGI guard in front of --metrics-port's server (a real scrape of it is in tests/webui/test_live_sla.py)."""
    calls = []
    guarded = prometheus._token_guard(lambda environ, start: calls.append(1) or [b"ok"], "t0ken")
    statuses = []
    assert guarded({"HTTP_AUTHORIZATION": "Bearer t0ken"}, lambda status, headers: statuses.append(status)) == [b"ok"]
    body = guarded({}, lambda status, headers: statuses.append(status))
    assert calls == [1] and statuses[-1].startswith("401") and b"metrics-token" in body[0]
    assert not prometheus.bearer_ok("Basic dDBrZW4=", "t0ken") and not prometheus.bearer_ok(None, "t0ken")
