"""Closed-model users for benchmarks/bench_openmodel.py (a second locustfile: -f locustfile.py,benchmarks/...).

    PacedSessionCheckUser   one GET /auth/v1/user every PACING_S per user (Locust's constant_pacing): N users
                            offer N / PACING_S requests/s while the target keeps up, and fewer when it stalls
    FlatOutSessionCheckUser the same request with no pause
    FlatOutPingUser, PingArrivalUser   GET /ping flat out, and one per arrival (the timing-accuracy measurement)
"""

from locust import FastHttpUser, constant, constant_pacing, task

from harness.arrivals import ArrivalUser
from scenarios.auth import validate_session
from scenarios.base import ProspectProUser

PACING_S = 0.15


class PacedSessionCheckUser(ProspectProUser):
    wait_time = constant_pacing(PACING_S)

    @task
    def check_session(self) -> None:
        validate_session(self)


class FlatOutSessionCheckUser(ProspectProUser):
    wait_time = constant(0)

    @task
    def check_session(self) -> None:
        validate_session(self)


class FlatOutPingUser(FastHttpUser):
    """GET /ping with no pause, against benchmarks/bench_openmodel.py's fixed-delay server: the generator flat out."""

    wait_time = constant(0)

    @task
    def ping(self) -> None:
        self.client.get("/ping")


class PingArrivalUser(ArrivalUser, FastHttpUser):
    """One GET /ping per arrival (--arrival-rate), against the fixed-delay server: the harness's timing accuracy."""

    @task
    def ping(self) -> None:
        self.client.get("/ping")
