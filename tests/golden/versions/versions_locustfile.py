"""Locust file for the multi-version golden runs (tests/golden/versions/): plain Locust API only, so the same file
runs under Locust 1.x and every 2.x, against tests/golden/tiny_server.py on 127.0.0.1.

It sends what other projects' runs contain and this harness must read: a fast endpoint, a slow one whose response
times land in 10 ms buckets above 100 ms (Locust 2.16-2.41 write those bucket keys as "120.0"), an endpoint that
fails one request in four with an HTTP 500, one that always fails with a 503, and a request name that is not ASCII.
With VERSIONS_SHAPE=steps a step load (2, 4, 6 users, STEP_SECONDS each) replaces -u/-r/-t, for the capacity verb.
"""

import os
import random

from locust import HttpUser, constant, task

STEP_SECONDS = 8
STEPS = (2, 4, 6)


class VersionsUser(HttpUser):
    wait_time = constant(0.05)

    def on_start(self):
        self.count = 0

    @task
    def walk(self):
        self.count += 1
        self.client.get("/fast", name="/fast", headers={"X-Delay-Ms": "%.1f" % random.uniform(2, 8)})
        self.client.get("/slow", name="/slow", headers={"X-Delay-Ms": "%.1f" % random.uniform(105, 185)})
        status = "500" if self.count % 4 == 0 else "200"
        self.client.post("/orders", name="/orders", headers={"X-Delay-Ms": "10", "X-Status": status})
        self.client.get("/broken", name="/broken", headers={"X-Status": "503"})
        self.client.get("/caf%C3%A9", name="/café/[id]", headers={"X-Delay-Ms": "5"})


if os.environ.get("VERSIONS_SHAPE") == "steps":
    from locust import LoadTestShape  # Locust 1.0-1.1 have none: only the step runs need it

    class Steps(LoadTestShape):
        """2, 4 then 6 users, STEP_SECONDS each (24 s), then stop."""

        def tick(self):
            step = int(self.get_run_time() // STEP_SECONDS)
            return (STEPS[step], 10) if step < len(STEPS) else None
