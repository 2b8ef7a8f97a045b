"""The workload data in workload.toml, loaded once, validated, and sampled.

workload.toml is validated by a pydantic model (WorkloadFile: unknown keys are an error); bad content is one
InputError naming the file and key (common/validation.py, as for baselines and the simulator's profiles). ``get_workload()`` caches the default file; ``load_workload``
takes any path (tests). ``Workload.discovery_request(rng, settings)`` builds the body the SPA sends to
business-discovery-background (reference §3.1), with PP_TIER / PP_BUSINESS_TYPE / PP_LOCATION / PP_MAX_RESULTS
overriding the sampled values.
"""

from __future__ import annotations

import random
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from analysis.errors import InputError
from common.validation import first_error

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


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class _Entry(_Strict):
    value: Any
    weight: Annotated[float, Field(gt=0)]


class _TextEntry(_Entry):
    value: str


class _MaxResultsEntry(_Entry):
    value: Annotated[int, Field(ge=1, le=10)]


def _check_range(pair: list[float]) -> tuple[float, float]:
    low, high = (float(value) for value in pair)
    if low < 0 or high < low:
        raise ValueError(f"[{low}, {high}] is not 0 <= min <= max")
    return low, high


# [min, max] seconds (a TOML array: strict mode would refuse it as a tuple)
_Range = Annotated[list[float], Field(min_length=2, max_length=2), AfterValidator(_check_range)]


class _Discovery(_Strict):
    business_types: Annotated[list[_TextEntry], Field(min_length=1)]
    locations: Annotated[list[_TextEntry], Field(min_length=1)]
    tiers: Annotated[list[_TextEntry], Field(min_length=1)]
    max_results: Annotated[list[_MaxResultsEntry], Field(min_length=1)]
    search_radius_miles: Annotated[int, Field(ge=1)]
    min_confidence_score: Annotated[int, Field(ge=0, le=100)]
    keywords: list[str]


class _TierPrices(_Strict):
    BASE: Annotated[float, Field(ge=0)]
    PROFESSIONAL: Annotated[float, Field(ge=0)]
    ENTERPRISE: Annotated[float, Field(ge=0)]


class _Journey(_Strict):
    enrich_top_n: Annotated[int, Field(ge=0)]
    results_fetch_attempts: Annotated[int, Field(ge=1)]
    results_fetch_interval_s: Annotated[float, Field(ge=0)]


class _ThinkTimes(_Strict):  # one per step of THINK_STEPS
    after_sign_in: _Range
    fill_discovery_form: _Range
    review_results: _Range
    between_enrichments: _Range
    before_export: _Range


class _WaitTimes(_Strict):  # one per class of USER_CLASS_NAMES
    ProspectorUser: _Range
    AuthUser: _Range
    DiscoveryUser: _Range
    EnrichmentUser: _Range
    ExportUser: _Range


_Weight = Annotated[int, Field(ge=0)]


class _Mix(_Strict):  # one per class of USER_CLASS_NAMES
    ProspectorUser: _Weight
    AuthUser: _Weight
    DiscoveryUser: _Weight
    EnrichmentUser: _Weight
    ExportUser: _Weight


class WorkloadFile(_Strict):
    """workload.toml as written: every table and key, typed and bounded (unknown keys are an error)."""

    schema_version: Literal[1]
    discovery: _Discovery
    tier_prices_usd: _TierPrices
    journey: _Journey
    think_time_s: _ThinkTimes
    wait_time_s: _WaitTimes
    mix: _Mix


def _weighted(entries: Sequence[_Entry]) -> Weighted:
    return Weighted(tuple(entry.value for entry in entries), tuple(float(entry.weight) for entry in entries))


def load_workload(path: Path = WORKLOAD_FILE) -> Workload:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError(f"cannot read: {error.strerror}", path=path) from None
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"not valid TOML: {error}", path=path) from None
    if data.get("schema_version") != 1 or isinstance(data.get("schema_version"), bool):
        raise InputError("unsupported schema_version; expected 1", path=path, key="schema_version")
    try:
        file = WorkloadFile.model_validate(data)
    except ValidationError as error:
        key, problem = first_error(error, unknown_key="unknown key (check the spelling; see scenarios/workload.py "
                                                      "WorkloadFile for the keys workload.toml may hold)")  # fmt: skip
        raise InputError(problem, path=path, key=key) from None
    prices = file.tier_prices_usd.model_dump()
    for tier in (entry.value for entry in file.discovery.tiers):
        if tier not in prices:
            raise InputError(f"unknown tier {tier!r}", path=path, key="discovery.tiers", hint="use BASE, PROFESSIONAL or ENTERPRISE")
    discovery, journey = file.discovery, file.journey
    return Workload(
        business_types=_weighted(discovery.business_types),
        locations=_weighted(discovery.locations),
        tiers=_weighted(discovery.tiers),
        max_results=_weighted(discovery.max_results),
        search_radius_miles=discovery.search_radius_miles,
        min_confidence_score=discovery.min_confidence_score,
        keywords=tuple(discovery.keywords),
        tier_prices_usd=prices,
        enrich_top_n=journey.enrich_top_n,
        results_fetch_attempts=journey.results_fetch_attempts,
        results_fetch_interval_s=journey.results_fetch_interval_s,
        think_time_s={step: getattr(file.think_time_s, step) for step in THINK_STEPS},
        wait_time_s={name: getattr(file.wait_time_s, name) for name in USER_CLASS_NAMES},
        mix={name: getattr(file.mix, name) for name in USER_CLASS_NAMES},
    )


@lru_cache(maxsize=1)
def get_workload() -> Workload:
    return load_workload()
