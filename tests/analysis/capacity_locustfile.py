"""Minimal locustfile for the measured capacity check: one user type hammering ONE edge function, step load.

The simulator fixes that function's concurrency and service time, so its true peak throughput is known. Users sign
in once with the simulator's default credentials and then call the function back to back (no think time), so the
load is a closed system whose only limit is the function under test. The step shape is the harness's own
StepLoadShape (its only shape here, so Locust runs it); the harness's results folder and interval recorder write
manifest.json and intervals.jsonl exactly as in a real run.
"""

from __future__ import annotations

import itertools

from locust import FastHttpUser, constant, task

from harness import intervals, results  # noqa: F401  (results: its listeners create the results folder)
from scenarios.shapes import StepLoadShape  # noqa: F401  (the shape Locust runs)

FUNCTION = "business-discovery-optimized"
FUNCTION_PATH = f"/functions/v1/{FUNCTION}"
APIKEY = "sb_publishable_simulator"  # the simulator's default publishable key
PASSWORD = "prospectpro-loadtest"  # the simulator's default password for its seeded users
SEEDED_USERS = 50

intervals.register()
_user_numbers = itertools.count(1)


class OneFunctionUser(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        number = (next(_user_numbers) - 1) % SEEDED_USERS + 1
        self.headers = {"apikey": APIKEY}
        with self.client.post("/auth/v1/token?grant_type=password", headers=self.headers, catch_response=True,
                              json={"email": f"loadtest-{number}@prospectpro.test", "password": PASSWORD}) as response:
            token = _access_token(response) if response.status_code == 200 else None
            if token is None:
                response.failure(f"sign-in failed with status {response.status_code}")
                return
        self.headers = {"apikey": APIKEY, "Authorization": f"Bearer {token}"}

    @task
    def discover(self) -> None:
        self.client.post(FUNCTION_PATH, headers=self.headers,
                         json={"businessType": "coffee shop", "location": "Seattle, WA", "maxResults": 3})


def _access_token(response) -> str | None:
    # An exception inside catch_response would leave the sign-in unrecorded: turn a bad body into None instead.
    try:
        token = response.json()["access_token"]
    except (ValueError, KeyError, TypeError):
        return None
    return token if isinstance(token, str) and token else None
