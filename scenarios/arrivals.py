"""ProspectPro's open-model user classes: what one arrival does (``--arrival-rate``, harness/arrivals.py).

Each class pairs the generic ``ArrivalUser`` with a closed-model class: the pool's users sign in and prepare as
that class does (``on_start``), and each arrival runs one of that class's tasks, chosen by task weight:
    ProspectorArrivalUser     one prospecting session per arrival (the journey: sign-in ... export)
    DiscoveryArrivalUser      one discovery (background with job polling, or the synchronous one)
    EnrichmentArrivalUser     one lead enrichment
    ExportArrivalUser         one export (metadata, CSV or JSON)
    AuthArrivalUser           one auth request (session check, test-new-auth, refresh or sign-in)
    SessionCheckArrivalUser   one request per arrival: GET /auth/v1/user (a request rate, not a session rate)
Class weights come from workload.toml [mix] under the closed class's name, so an open run of several classes
keeps the closed mix: each arrival's class is drawn by those weights.
"""

from __future__ import annotations

from locust import events, task
from locust.env import Environment

from harness.arrivals import ArrivalUser
from scenarios.auth import AuthUser, validate_session
from scenarios.base import ProspectProUser
from scenarios.discovery import DiscoveryUser
from scenarios.enrichment import EnrichmentUser
from scenarios.export import ExportUser
from scenarios.journey import ProspectorUser
from scenarios.workload import get_workload


class ProspectorArrivalUser(ArrivalUser, ProspectorUser):
    """One prospecting session (ProspectorUser's journey) per arrival."""


class DiscoveryArrivalUser(ArrivalUser, DiscoveryUser):
    """One discovery per arrival."""


class EnrichmentArrivalUser(ArrivalUser, EnrichmentUser):
    """One lead enrichment per arrival."""


class ExportArrivalUser(ArrivalUser, ExportUser):
    """One export per arrival."""


class AuthArrivalUser(ArrivalUser, AuthUser):
    """One auth request per arrival."""


class SessionCheckArrivalUser(ArrivalUser, ProspectProUser):
    """One GET /auth/v1/user per arrival: a rate of requests (the benchmark's and the split test's unit)."""

    in_default_mix = False  # run only when named

    @task
    def check_session(self) -> None:
        validate_session(self)


ARRIVAL_CLASSES = (ProspectorArrivalUser, DiscoveryArrivalUser, EnrichmentArrivalUser, ExportArrivalUser,
                   AuthArrivalUser, SessionCheckArrivalUser)  # fmt: skip


@events.init.add_listener
def _mix_weights(environment: Environment, **_kwargs) -> None:
    """Each arrival class weighs what its closed class weighs in workload.toml [mix] (its pacing key names it)."""
    mix = get_workload().mix
    for arrival_class in ARRIVAL_CLASSES:
        if arrival_class.pacing_key in mix and arrival_class is not SessionCheckArrivalUser:
            arrival_class.weight = mix[arrival_class.pacing_key]
