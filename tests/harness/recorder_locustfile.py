"""A minimal locustfile for the recorder's real headless runs: two endpoints on a local test server, one flaky.

Only the interval recorder is registered (plus harness.results, which it writes through), so the test measures the
recorder and nothing of ProspectPro.
"""

from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser

import harness.intervals

harness.intervals.register()


class RecorderTestUser(FastHttpUser):
    wait_time = constant(0.02)

    @task(3)
    def fast(self):
        self.client.get("/fast", name="/fast")

    @task(1)
    def flaky(self):
        self.client.get("/flaky?id=1", name="/flaky?id=[id]")  # the server fails every 5th
