"""A test-only traffic model whose task crashes right after a request, loaded beside locustfile.py by the secrets test.

An exception then escapes the task while every secret is in scope (the apikey and bearer headers, the session, the
settings), so Locust records it in locust_exceptions.csv, the HTML report and the console: exactly where a careless
repr would leak a token. (A crash inside a response check is caught by the base user and recorded as a failure, so
it would not reach those places.)
"""

from locust import task

from scenarios import names
from scenarios.base import ProspectProUser


class ExplodingUser(ProspectProUser):
    pacing_key = "AuthUser"

    @task
    def crash_after_a_request(self) -> None:
        self.call(names.GET_USER, "/auth/v1/user")
        raise RuntimeError("a task crashed with the session in scope")
