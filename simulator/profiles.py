"""The latency/capacity model and the fault profiles, read from profiles.toml and validated.

Everything tunable about how the simulator behaves lives in that file; this module only gives it types, so a typo
in the data fails at start with the key named instead of silently changing behaviour.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from common.validation import first_error

PROFILES_FILE = Path(__file__).with_name("profiles.toml")

# The endpoint classes every latency/capacity table must cover: GoTrue, PostgREST, and each edge function slug.
EDGE_FUNCTIONS = (
    "business-discovery-background",
    "business-discovery-optimized",
    "enrichment-orchestrator",
    "campaign-export-user-aware",
    "test-new-auth",
    "enrichment-hunter",
    "enrichment-neverbounce",
)
ENDPOINT_CLASSES = ("auth-token", "auth-user", "auth-admin", "rest", *EDGE_FUNCTIONS)
# Sibling functions only the orchestrator calls (in-process here, through the same components as HTTP calls).
INTERNAL_FUNCTIONS = ("enrichment-cobalt", "enrichment-business-license", "enrichment-pdl")
# Latency classes of work inside the components: a worker's cold start, the third-party calls of a discovery job,
# the sub-functions' own time, and one PostgREST write of the job's service-role client.
WORK_CLASSES = ("cold-start", "google-text-search", "google-place-details", "db-write", *INTERNAL_FUNCTIONS)
LATENCY_CLASSES = (*ENDPOINT_CLASSES, *WORK_CLASSES)
# The components (profiles.toml [components.*]): pools and third-party quotas.
POOL_COMPONENTS = ("gotrue", "postgrest", "realtime", *EDGE_FUNCTIONS, *INTERNAL_FUNCTIONS)
RATE_COMPONENTS = ("google-places", "hunter-api", "neverbounce-api", "cobalt-api", "state-license-api", "pdl-api")
COMPONENTS = (*POOL_COMPONENTS, *RATE_COMPONENTS)
# Which component serves an endpoint class.
COMPONENT_OF = {"auth-token": "gotrue", "auth-user": "gotrue", "auth-admin": "gotrue", "rest": "postgrest",
                **{slug: slug for slug in EDGE_FUNCTIONS}}

Group = Literal["auth", "rest", "functions", "realtime"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LatencyDistribution(_Strict):
    median_ms: float = Field(ge=0)
    p95_ms: float = Field(ge=0)
    min_ms: float = Field(ge=0)
    max_ms: float = Field(ge=0)
    per_item_ms: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> "LatencyDistribution":
        if not self.min_ms <= self.median_ms <= self.p95_ms <= self.max_ms:
            raise ValueError("needs min_ms <= median_ms <= p95_ms <= max_ms")
        return self


class ComponentSpec(_Strict):
    """One component: a pool (`capacity` concurrent slots) or a third-party quota (`capacity` requests/s)."""

    kind: Literal["pool", "rate"]
    capacity: float = Field(gt=0)
    source: str = Field(min_length=1)  # where the number comes from, or the stated assumption
    queue_limit: int | None = Field(default=None, ge=0)  # pool: overrides [queue] queue_limit
    cold_starts: bool = False  # pool: an edge function whose workers start cold when it scales up
    burst: int | None = Field(default=None, ge=1)  # rate: requests at once (default: one second's worth)
    max_wait_s: float = Field(default=4.0, ge=0)  # rate: longest wait for quota (simulated s) before over-quota

    @model_validator(mode="after")
    def _whole_slots(self) -> "ComponentSpec":
        if self.kind == "pool" and self.capacity != int(self.capacity):
            raise ValueError("a pool's capacity is a whole number of slots")
        return self


class QueueSettings(_Strict):
    queue_limit: int = Field(ge=0)
    queue_timeout_s: float = Field(gt=0)


class JobWork(_Strict):
    """The background job's code-level timings (reference §3.1, §8), in simulated seconds."""

    page_interval_s: float = Field(ge=0)  # sleep between Google text-search result pages
    details_spacing_s: float = Field(ge=0)  # sleep after each Place Details call
    results_per_page: int = Field(ge=1)
    max_pages: int = Field(ge=1)
    google_results: tuple[int, int]  # [min, max] results Google has for a query (seeded per query)
    pass_multipliers: tuple[float, ...]  # maxResults x these in the passes after the first
    expand_multipliers: tuple[float, ...]  # more passes only with expandGeography


class Enrichment(_Strict):
    """What the orchestrator's sub-services find (assumptions where the reference is silent)."""

    hunter_email_weights: tuple[float, ...]  # weight of 0, 1, 2, ... emails found by a domain search
    neverbounce_pause_s: float = Field(ge=0)  # the function's sleep between the emails of a batch


class GatewayError(_Strict):
    status: int = Field(ge=500, le=599)
    applies_to: tuple[Group, ...]


class ErrorBurst(_Strict):
    period_s: float = Field(gt=0)
    burst_s: float = Field(gt=0)
    rate: float = Field(gt=0, le=1)
    statuses: tuple[int, ...] = Field(min_length=1)
    applies_to: tuple[Group, ...]


class RateLimit(_Strict):
    requests_per_second: float = Field(gt=0)
    burst: int = Field(ge=1)
    retry_after_s: int = Field(ge=1)
    applies_to: tuple[Group, ...]


class Stall(_Strict):
    """The whole target pauses for ``stall_s`` at the start of every ``period_s`` (aligned to the wall clock)."""

    period_s: float = Field(gt=0)
    stall_s: float = Field(gt=0)

    @model_validator(mode="after")
    def _shorter_than_period(self) -> "Stall":
        if self.stall_s >= self.period_s:
            raise ValueError("needs stall_s < period_s")
        return self


class Profile(_Strict):
    description: str
    latency_multiplier: dict[str, float] = {}
    zero_latency: bool = False
    gateway_error: GatewayError | None = None
    connection_reset: bool = False
    error_burst: ErrorBurst | None = None
    rate_limit: RateLimit | None = None
    malformed_rate: float = Field(default=0.0, ge=0, le=1)
    jwt_ttl_s: int | None = Field(default=None, ge=1)
    job_failure_rate: float = Field(default=0.0, ge=0, le=1)
    provider_failure_rate: float = Field(default=0.0, ge=0, le=1)
    google_queries_per_second: float | None = Field(default=None, gt=0)
    optimized_google_cache_s: float = Field(default=0.0, ge=0)  # 0: per request, as the code at HEAD
    stall: Stall | None = None

    @model_validator(mode="after")
    def _known_classes(self) -> "Profile":
        unknown = set(self.latency_multiplier) - {"*", *LATENCY_CLASSES}
        if unknown:
            raise ValueError(f"latency_multiplier names unknown endpoint classes {sorted(unknown)}")
        return self

    def multiplier(self, endpoint_class: str) -> float:
        return self.latency_multiplier.get(endpoint_class, self.latency_multiplier.get("*", 1.0))


class Model(_Strict):
    latency: dict[str, LatencyDistribution]
    components: dict[str, ComponentSpec]
    queue: QueueSettings
    job: JobWork
    enrichment: Enrichment
    profiles: dict[str, Profile]

    @model_validator(mode="after")
    def _complete(self) -> "Model":
        for table_name, table, names in (("latency", self.latency, LATENCY_CLASSES),
                                         ("components", self.components, COMPONENTS)):
            if set(table) != set(names):
                raise ValueError(f"[{table_name}] must cover exactly {list(names)}")
        for name, spec in self.components.items():
            if spec.kind != ("rate" if name in RATE_COMPONENTS else "pool"):
                raise ValueError(f"[components.{name}] kind must be {'rate' if name in RATE_COMPONENTS else 'pool'}")
        if "healthy" not in self.profiles:
            raise ValueError("a 'healthy' profile is required")
        return self


class ModelFileError(Exception):
    """profiles.toml cannot be used; the message is one line naming the file and key."""


def load_model(path: Path = PROFILES_FILE) -> Model:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return Model.model_validate(data)
    except OSError as error:
        raise ModelFileError(f"{path}: cannot read: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ModelFileError(f"{path}: not valid TOML: {error}") from None
    except ValidationError as error:
        key, problem = first_error(error)
        raise ModelFileError(f"{path}: {key}: {problem}") from None
