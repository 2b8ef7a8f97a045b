"""ProspectPro's side of the launcher (``python -m harness``), as locustfile.py is its side of Locust.

harness/product.py says what the generic launcher asks of a product; this file answers for ProspectPro: the target
comes from scenarios.settings (PP_TARGET_URL, environment or .env), and the health checks' variables, guards and
spend ceiling from scenarios/thunder_target.py. Imports are lazy: the launcher loads this file before it knows
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


PRODUCT = Product(configured_target=configured_target, health_target=health_target)
