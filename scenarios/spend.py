"""The spend guard: a run stops before it spends more than a ceiling on ProspectPro's paid third-party APIs.

Against a real ProspectPro every discovery job pays Google Places, and every enrichment Hunter.io and NeverBounce.
The running spend is kept by scenarios/metrics.py (returned cost fields, plus the reference's per-call estimates
where a function returns none) and checked after every cost by ``scenarios.guards.check_spend``, which stops the
run with stop_reason "spend-guard" and exit code 6. This module adds the two things that check cannot know:

* which ceiling applies. PP_SPEND_CEILING_USD when it is set. Otherwise DEFAULT_REMOTE_CEILING_USD for any target
  that is not a loopback address: a real project is guarded unless someone chose a ceiling. A loopback target (the
  embedded simulator) has none by default: its costs are play money, and benchmarks that drive it flat out
  would trip any ceiling. A local Supabase stack on 127.0.0.1 that calls the paid APIs needs
  PP_SPEND_CEILING_USD set. The web UI can change the host for each test, so the ceiling is decided again at
  every test_start.
* the whole run's spend. In master/worker runs each worker checks only its own spend, so N workers could
  together spend N times the ceiling; the master checks the merged spend after every worker report.

Registered on import (locustfile.py: ``import scenarios.spend``). The ceiling and whether it tripped appear in
business_metrics.json ``spend_guard``, the spend itself in ``costs_usd.third_party_spend``; the report shows both.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from urllib.parse import urlsplit

from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from scenarios.guards import check_spend, is_loopback
from scenarios.metrics import business_metrics
from scenarios.settings import HarnessSettings, get_settings

logger = logging.getLogger(__name__)

# The default ceiling for a real target nobody set one for: about 60 prospecting journeys at the reference's unit
# costs (a 3-lead discovery, ~$0.08 of Google Places, then 3 enrichments at ~$0.10). Measured on the simulator, the
# default `python -m harness perf` (30 users, compressed think times) spends ~$0.9/s, ~$90 over its 100 s; so
# against a real project it stops after about half a minute unless someone chose a ceiling on purpose. A load test
# must not become the incident, and the stop says which setting to raise.
DEFAULT_REMOTE_CEILING_USD = 25.0


@dataclass(frozen=True)
class Ceiling:
    """The spend ceiling of one run and why it is what it is (logged once, so nobody has to guess)."""

    usd: float | None
    why: str

    def describe(self) -> str:
        return f"spend guard: {'off' if self.usd is None else f'ceiling ${self.usd:g}'} ({self.why})"


def decide_ceiling(host: str | None, settings: HarnessSettings) -> Ceiling:
    """The ceiling for a run against ``host``: the configured one, else the default for a non-loopback target."""
    if settings.spend_ceiling_usd is not None:
        return Ceiling(settings.spend_ceiling_usd, "PP_SPEND_CEILING_USD")
    hostname = (urlsplit(host).hostname or "").lower() if host else ""
    if hostname and not is_loopback(hostname):
        return Ceiling(DEFAULT_REMOTE_CEILING_USD, f"default for a target that is not loopback: {hostname}; "
                                                   "set PP_SPEND_CEILING_USD to change it")  # fmt: skip
    return Ceiling(None, "loopback target such as the embedded simulator; set PP_SPEND_CEILING_USD to guard it")


# The master's environment, for the worker_report listener (Locust passes it only the worker's id and data).
_master: weakref.ReferenceType[Environment] | None = None


def apply_ceiling(environment: Environment) -> Ceiling:
    """Decide the ceiling for the environment's current host and hand it to the running spend."""
    ceiling = decide_ceiling(environment.host, get_settings())
    business_metrics().spend_ceiling_usd = ceiling.usd
    return ceiling


@events.init.add_listener
def _on_init(environment: Environment, runner=None, **_kwargs) -> None:
    # Runs after scenarios.guards' init listener (imported above, so registered first): a bad .env has already
    # been reported there as one line, and the ceiling it set from PP_SPEND_CEILING_USD alone is refined here.
    global _master
    apply_ceiling(environment)
    _master = weakref.ref(environment) if isinstance(runner, MasterRunner) else None


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_kwargs) -> None:
    ceiling = apply_ceiling(environment)
    if not isinstance(environment.runner, WorkerRunner):  # said once, by the process that owns the run
        logger.info(ceiling.describe())


@events.worker_report.add_listener
def _check_merged_spend(**_kwargs) -> None:
    # scenarios.metrics merged this report already: its listener was registered first (imported above).
    environment = _master() if _master is not None else None
    if environment is not None and environment.runner is not None:
        check_spend(environment)
