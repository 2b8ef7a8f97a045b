"""The latency/capacity model and the fault profiles, read from profiles.toml and validated.

Everything tunable about how the simulator behaves lives in that file; this module only gives it types, so a typo
in the data fails at start with the key named instead of silently changing behaviour.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

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


class Capacity(_Strict):
    concurrency: int = Field(ge=1)


class QueueSettings(_Strict):
    queue_limit: int = Field(ge=0)
    queue_timeout_s: float = Field(gt=0)


class GooglePlaces(_Strict):
    queries_per_second: float = Field(gt=0)
    burst: int = Field(ge=1)
    max_wait_s: float = Field(ge=0)


class JobDuration(_Strict):
    min_duration_s: float = Field(ge=0)
    max_duration_s: float = Field(ge=0)


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
    google_queries_per_second: float | None = Field(default=None, gt=0)
    stall: Stall | None = None

    @model_validator(mode="after")
    def _known_classes(self) -> "Profile":
        unknown = set(self.latency_multiplier) - {"*", *ENDPOINT_CLASSES}
        if unknown:
            raise ValueError(f"latency_multiplier names unknown endpoint classes {sorted(unknown)}")
        return self

    def multiplier(self, endpoint_class: str) -> float:
        return self.latency_multiplier.get(endpoint_class, self.latency_multiplier.get("*", 1.0))


class Model(_Strict):
    latency: dict[str, LatencyDistribution]
    capacity: dict[str, Capacity]
    queue: QueueSettings
    google_places: GooglePlaces
    job: JobDuration
    profiles: dict[str, Profile]

    @model_validator(mode="after")
    def _complete(self) -> "Model":
        for table_name, table in (("latency", self.latency), ("capacity", self.capacity)):
            missing = set(ENDPOINT_CLASSES) - set(table)
            extra = set(table) - set(ENDPOINT_CLASSES)
            if missing or extra:
                raise ValueError(f"[{table_name}] must cover exactly {list(ENDPOINT_CLASSES)}")
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
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise ModelFileError(f"{path}: {key}: {first['msg']}") from None
