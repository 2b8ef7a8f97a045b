"""A tiny HTTP client for the simulator's contract tests (http.client: no dependency on what is under test)."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from harness.simulator_process import start_simulator

PUBLISHABLE_KEY = "sb_publishable_simulator"
PASSWORD = "prospectpro-loadtest"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self):
        return json.loads(self.body)


class Api:
    """Calls one simulator; `token` (when set) is sent as the bearer, the publishable key as apikey."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.url = url
        self.host, self.port = parts.hostname, parts.port
        self.token: str | None = None

    def request(self, method: str, path: str, body=None, headers: dict | None = None, *, token=...,
                apikey: bool = True, timeout: float = 30.0) -> Reply:
        sent = {}
        if apikey:
            sent["apikey"] = PUBLISHABLE_KEY
        bearer = self.token if token is ... else token
        if bearer:
            sent["Authorization"] = f"Bearer {bearer}"
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            connection.close()

    def sign_in(self, user: int = 1) -> dict:
        reply = self.request("POST", "/auth/v1/token?grant_type=password",
                             {"email": f"loadtest-{user}@prospectpro.test", "password": PASSWORD}, token=None)
        assert reply.status == 200, reply.body
        session = reply.json()
        self.token = session["access_token"]
        return session

    def function(self, slug: str, body=None, query: str = "", **kwargs) -> Reply:
        return self.request("POST", f"/functions/v1/{slug}{query}", body if body is not None else {}, **kwargs)

    def rest(self, path: str, **kwargs) -> Reply:
        return self.request("GET", f"/rest/v1/{path}", **kwargs)

    def single(self, path: str, **kwargs) -> Reply:
        headers = {"Accept": "application/vnd.pgrst.object+json", **kwargs.pop("headers", {})}
        return self.rest(path, headers=headers, **kwargs)

    def seeded_campaign(self) -> dict:
        reply = self.rest("campaigns?select=id,business_type,results_count&status=eq.completed&limit=1")
        return reply.json()[0]


@pytest.fixture
def api(simulator) -> Api:
    """A client signed in as loadtest-1 on a fresh healthy simulator (--time-scale 0.05)."""
    client = Api(simulator.url)
    client.sign_in(1)
    return client


@pytest.fixture
def api_for():
    """`api_for(simulator)`: a client (not signed in) for any simulator from simulator_factory."""
    return lambda process: Api(process.url)


@pytest.fixture(scope="module")
def shared_simulator():
    """One healthy simulator for a whole module of read-mostly contract tests (start-up is most of their cost).
    Tests using it must not switch profiles or depend on absolute counts."""
    with start_simulator("--profile", "healthy", "--time-scale", "0.05") as process:
        yield process


@pytest.fixture
def shared_api(shared_simulator) -> Api:
    """A client signed in as loadtest-1 on the module's shared simulator."""
    client = Api(shared_simulator.url)
    client.sign_in(1)
    return client
