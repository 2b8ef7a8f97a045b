"""ProspectPro's side of the launcher (``python -m harness``), as locustfile.py is its side of Locust.

harness/product.py says what the generic launcher asks of a product; this file answers for ProspectPro: the target
comes from scenarios.settings (PP_TARGET_URL, environment or .env), and the health checks' variables, guards and
spend ceiling from scenarios/thunder_target.py, and the embedded simulator's sizing for the launcher's loads from
SIMULATOR_SIZING below. Imports are lazy: the launcher loads this file before it knows
whether it needs the settings, and bad settings must be its one-line error, not an import failure.
"""

from __future__ import annotations

from harness.product import Product
from harness.thunder_cli import HealthTarget


def configured_target() -> str | None:
    from scenarios.settings import get_settings

    return get_settings().target_url


def health_target(url: str) -> HealthTarget:
    from scenarios.settings import get_settings
    from scenarios.thunder_target import health_target as prospectpro_health_target

    return prospectpro_health_target(url, get_settings())


# The embedded simulator sized for the load a launcher mode names (harness/product.py). perf judges the platform's
# SLAs at its load; its discovery jobs (80 users at think times x 0.25) would offer Google about three times the
# assumed 6,000/minute quota, which on the real project is a quota request, not a code change: so its Google quota is
# sized for that load, 1000 queries/s, 10x the assumed default (simulator/profiles.toml [components.google-places]).
# make capacity names no load: on the default quota it reports where that quota ends (README "Capacity limits").
SIMULATOR_SIZING = {"perf": ("--capacity=google-places=1000",)}

PRODUCT = Product(configured_target=configured_target, health_target=health_target, simulator_sizing=SIMULATOR_SIZING)
