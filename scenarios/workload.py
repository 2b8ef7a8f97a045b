"""The workload data in workload.toml, loaded once, validated, and sampled.

Bad content is an InputError naming the file and key. ``get_workload()`` caches the default file; ``load_workload``
takes any path (tests). ``Workload.discovery_request(rng, settings)`` builds the body the SPA sends to
business-discovery-background (reference §3.1), with PP_TIER / PP_BUSINESS_TYPE / PP_LOCATION / PP_MAX_RESULTS
overriding the sampled values.
"""

from __future__ import annotations

import random
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from analysis.errors import InputError

WORKLOAD_FILE = Path(__file__).with_name("workload.toml")
USER_CLASS_NAMES = ("ProspectorUser", "AuthUser", "DiscoveryUser", "EnrichmentUser", "ExportUser")
THINK_STEPS = ("after_sign_in", "fill_discovery_form", "review_results", "between_enrichments", "before_export")


@dataclass(frozen=True)
class Weighted:
    values: tuple
    weights: tuple[float, ...]

    def pick(self, rng: random.Random):
        return rng.choices(self.values, self.weights)[0]


@dataclass(frozen=True)
class Workload:
    business_types: Weighted
    locations: Weighted
    tiers: Weighted
    max_results: Weighted
    search_radius_miles: int
    min_confidence_score: int
    keywords: tuple[str, ...]
    tier_prices_usd: dict[str, float]
    enrich_top_n: int
    results_fetch_attempts: int
    results_fetch_interval_s: float
    think_time_s: dict[str, tuple[float, float]]
    wait_time_s: dict[str, tuple[float, float]]
    mix: dict[str, int]

    def think_time(self, step: str, rng: random.Random, scale: float = 1.0) -> float:
        low, high = self.think_time_s[step]
        return rng.uniform(low, high) * scale

    def discovery_request(self, rng: random.Random, user_id: str, settings: Any) -> dict:
        """The body useBusinessDiscovery sends (reference §3.1), for the signed-in user ``user_id``."""
        tier = settings.tier or self.tiers.pick(rng)
        max_results = settings.max_results or self.max_results.pick(rng)
        price = self.tier_prices_usd[tier]
        budget = round(max_results * price, 2)
        return {
            "businessType": settings.business_type or self.business_types.pick(rng),
            "location": settings.location or self.locations.pick(rng),
            "keywords": list(self.keywords),
            "searchRadius": f"{self.search_radius_miles} miles",
            "expandGeography": False,
            "maxResults": max_results,
            "budgetLimit": budget,
            "minConfidenceScore": self.min_confidence_score,
            "tierKey": tier,
            "tierName": tier.title(),
            "tierPrice": price,
            "options": {"tradeAssociation": True, "professionalLicense": True, "chamberVerification": True,
                        "apolloDiscovery": tier == "ENTERPRISE"},
            "sessionUserId": user_id,
            "userId": user_id,
            "billingContext": {"tier": tier, "tierName": tier.title(), "unitPrice": price,
                               "estimatedBudget": budget, "currency": "USD"},
        }  # fmt: skip


def load_workload(path: Path = WORKLOAD_FILE) -> Workload:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError(f"cannot read: {error.strerror}", path=path) from None
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"not valid TOML: {error}", path=path) from None
    reader = _Reader(data, path)
    if reader.number("schema_version", int) != 1:
        raise InputError("unsupported schema_version; expected 1", path=path, key="schema_version")
    prices = {tier: reader.number(f"tier_prices_usd.{tier}", float, minimum=0) for tier in ("BASE", "PROFESSIONAL", "ENTERPRISE")}
    tiers = reader.weighted("discovery.tiers", str)
    for tier in tiers.values:
        if tier not in prices:
            raise InputError(f"unknown tier {tier!r}", path=path, key="discovery.tiers", hint="use BASE, PROFESSIONAL or ENTERPRISE")
    return Workload(
        business_types=reader.weighted("discovery.business_types", str),
        locations=reader.weighted("discovery.locations", str),
        tiers=tiers,
        max_results=reader.weighted("discovery.max_results", int, minimum=1, maximum=10),
        search_radius_miles=reader.number("discovery.search_radius_miles", int, minimum=1),
        min_confidence_score=reader.number("discovery.min_confidence_score", int, minimum=0, maximum=100),
        keywords=tuple(reader.get("discovery.keywords", list)),
        tier_prices_usd=prices,
        enrich_top_n=reader.number("journey.enrich_top_n", int, minimum=0),
        results_fetch_attempts=reader.number("journey.results_fetch_attempts", int, minimum=1),
        results_fetch_interval_s=reader.number("journey.results_fetch_interval_s", float, minimum=0),
        think_time_s={step: reader.range(f"think_time_s.{step}") for step in THINK_STEPS},
        wait_time_s={name: reader.range(f"wait_time_s.{name}") for name in USER_CLASS_NAMES},
        mix={name: reader.number(f"mix.{name}", int, minimum=0) for name in USER_CLASS_NAMES},
    )


class _Reader:
    """Typed access to the TOML document; every failure names the dotted key."""

    def __init__(self, data: dict, path: Path):
        self.data, self.path = data, path

    def fail(self, key: str, problem: str) -> InputError:
        return InputError(problem, path=self.path, key=key)

    def get(self, key: str, kind: type) -> Any:
        value: Any = self.data
        for part in key.split("."):
            if not isinstance(value, dict) or part not in value:
                raise self.fail(key, "missing")
            value = value[part]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise self.fail(key, f"expected {kind.__name__}, got {type(value).__name__}")
        return value

    def number(self, key: str, kind: type, minimum: float | None = None, maximum: float | None = None):
        value = self.get(key, kind)
        if problem := _out_of_range(value, minimum, maximum):
            raise self.fail(key, problem)
        return value

    def range(self, key: str) -> tuple[float, float]:
        pair = self.get(key, list)
        if len(pair) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pair):
            raise self.fail(key, "expected [min, max] seconds")
        low, high = float(pair[0]), float(pair[1])
        if low < 0 or high < low:
            raise self.fail(key, f"[{low}, {high}] is not 0 <= min <= max")
        return low, high

    def weighted(self, key: str, kind: type, minimum: float | None = None, maximum: float | None = None) -> Weighted:
        entries = self.get(key, list)
        if not entries:
            raise self.fail(key, "needs at least one entry")
        values, weights = [], []
        for index, entry in enumerate(entries):
            where = f"{key}[{index}]"
            if not isinstance(entry, dict) or set(entry) != {"value", "weight"}:
                raise self.fail(where, "expected { value = ..., weight = ... }")
            value, weight = entry["value"], entry["weight"]
            if not isinstance(value, kind) or isinstance(value, bool):
                raise self.fail(where, f"value should be {kind.__name__}")
            if problem := _out_of_range(value, minimum, maximum):
                raise self.fail(where, f"value {problem}")
            if not isinstance(weight, (int, float)) or isinstance(weight, bool) or weight <= 0:
                raise self.fail(where, "weight should be a positive number")
            values.append(value)
            weights.append(float(weight))
        return Weighted(tuple(values), tuple(weights))


def _out_of_range(value: float, minimum: float | None, maximum: float | None) -> str | None:
    if minimum is not None and maximum is not None and not minimum <= value <= maximum:
        return f"{value} must be between {minimum} and {maximum}"
    if minimum is not None and value < minimum:
        return f"{value} must be at least {minimum}"
    if maximum is not None and value > maximum:
        return f"{value} must be at most {maximum}"
    return None


@lru_cache(maxsize=1)
def get_workload() -> Workload:
    return load_workload()
