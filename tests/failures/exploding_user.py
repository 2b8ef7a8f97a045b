"""A test-only traffic model whose response check crashes, loaded beside locustfile.py by the secrets test.

An exception then escapes the harness's request path while every secret is in scope (the apikey and bearer
headers, the session, the settings), so Locust records it in locust_exceptions.csv, the HTML report and the
console: exactly where a careless repr would leak a token.
"""

from locust import task

from scenarios import names
from scenarios.base import ProspectProUser


class ExplodingUser(ProspectProUser):
    pacing_key = "AuthUser"

    @task
    def crash_while_checking_the_response(self) -> None:
        def crash(_response):
            raise RuntimeError("a response check crashed")

        self.call(names.GET_USER, "/auth/v1/user", check=crash)
