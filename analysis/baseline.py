"""Baseline files: SLA limits as data (TOML), validated on load.

Shape (schema_version 1)::

    schema_version = 1
    name = "production"
    [defaults]                       # apply to every endpoint the run sent, unless the endpoint overrides them
    p95_ms = 3000
    [endpoints."GET /auth/v1/user"]  # "<Locust request_type> <Locust name>", exactly as scenarios/names.py
    p95_ms = 500
    required = true                  # false: the run may legitimately not send it (then "missing" is not a breach)
    not_applicable = ["max_ms"]      # defaults that make no sense for this entry
    [run]                            # run-wide limits over all requests of the run, e.g. fail_ratio = 0.01
    [business]                       # business-metric limits (business_metrics.json)
    [decision]                       # confidence of the SLA bounds (analysis/bounds.py)
    [regression]                     # the noise rule and significance test for comparisons with a reference run

Any limit may carry a warning level beside it (``max_ms = 10000`` with ``max_ms_warning = 5000``): a check past
its warning level but within its limit is a "warning", listed everywhere the verdict goes, exit code unchanged.

Unknown keys, wrong types and negative limits are InputErrors naming the file and the key. Types are strict: a
quoted "500" is an error, not silently a number.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from analysis.errors import InputError
from common.validation import first_error, toml_key

SUPPORTED_SCHEMA_VERSION = 1

LimitMetric = Literal[
    "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "fail_ratio", "min_rps", "min_samples",
    "p50_ms_warning", "p90_ms_warning", "p95_ms_warning", "p99_ms_warning", "max_ms_warning", "fail_ratio_warning",
]  # fmt: skip
WARNING_SUFFIX = "_warning"
# Percentile limits and the fraction each one reads from a histogram.
PERCENTILE_LIMITS: dict[str, float] = {"p50_ms": 0.50, "p90_ms": 0.90, "p95_ms": 0.95, "p99_ms": 0.99}
_ENDPOINT_KEY = re.compile(r"^[A-Z]+ \S.*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class EndpointLimits(_Strict):
    """Limits for one endpoint. None = no limit for that metric."""

    p50_ms: float | None = Field(None, ge=0)
    p90_ms: float | None = Field(None, ge=0)
    p95_ms: float | None = Field(None, ge=0)
    p99_ms: float | None = Field(None, ge=0)
    max_ms: float | None = Field(None, ge=0)
    fail_ratio: float | None = Field(None, ge=0, le=1)
    min_rps: float | None = Field(None, ge=0)
    # The floor for a pass: below this many samples a percentile or failure-ratio check cannot pass (it can
    # still breach, when the bounds prove it: analysis/bounds.py).
    min_samples: int | None = Field(None, ge=0)
    # Warning levels (same units): past one, the check is a "warning" unless it breaches.
    p50_ms_warning: float | None = Field(None, ge=0)
    p90_ms_warning: float | None = Field(None, ge=0)
    p95_ms_warning: float | None = Field(None, ge=0)
    p99_ms_warning: float | None = Field(None, ge=0)
    max_ms_warning: float | None = Field(None, ge=0)
    fail_ratio_warning: float | None = Field(None, ge=0, le=1)

    def warning_for(self, metric: str) -> float | None:
        return getattr(self, metric + WARNING_SUFFIX, None)


class EndpointSection(EndpointLimits):
    required: bool = True
    not_applicable: list[LimitMetric] = []


class RunLimits(_Strict):
    """Run-wide limits over every request of the run (HTTP requests; JOB timings are not responses)."""

    fail_ratio: float | None = Field(None, ge=0, le=1)
    fail_ratio_warning: float | None = Field(None, ge=0, le=1)

    def warning_for(self, metric: str) -> float | None:
        return getattr(self, metric + WARNING_SUFFIX, None)


class DecisionRule(_Strict):
    """Confidence of the SLA bounds (analysis/bounds.py explains the two sides)."""

    # Family-wise: split (Bonferroni) over every statistical check of the run, so a run within all its limits
    # breaches by chance in at most 1 - breach_confidence of runs.
    breach_confidence: float = Field(0.95, gt=0.5, lt=1)
    # Per check: a check exactly at its limit passes by chance at most 1 - pass_confidence of the time.
    pass_confidence: float = Field(0.80, gt=0.5, lt=1)


class BusinessLimits(_Strict):
    discovery_success_rate_min: float | None = Field(None, ge=0, le=1)
    job_completion_rate_min: float | None = Field(None, ge=0, le=1)
    export_success_rate_min: float | None = Field(None, ge=0, le=1)
    cost_per_discovery_max_usd: float | None = Field(None, ge=0)
    cost_per_lead_max_usd: float | None = Field(None, ge=0)
    # Alert when cost per discovery exceeds this factor times the reference run's (1.5 = above 150 %).
    cost_anomaly_factor: float | None = Field(None, ge=1)
    # Each third-party provider's failure rate (business_metrics.json "third_party"), judged with exact bounds.
    third_party_failure_rate_max: float | None = Field(None, ge=0, le=1)


class RegressionRule(_Strict):
    """How a change against a reference is judged: an interval that must clear a noise band (analysis/regression.py)."""

    percentiles: list[float] = [0.50, 0.95]
    # Noise band: "regressed" only when the whole interval of the relative change is above +band ("improved":
    # wholly below -band); a change whose interval reaches into the band is "unchanged".
    min_relative_change: float = Field(0.05, ge=0)
    # Confidence of the intervals, shared (Bonferroni) by every percentile of every endpoint in the run. Since the
    # interval must also clear the band, the share of unchanged runs called "regressed" is far below 1 - confidence
    # (measured by benchmarks/bench_regression.py; the values in baselines/production.toml are explained there).
    confidence: float = Field(0.50, gt=0, lt=1)
    min_samples: int = Field(100, ge=1)
    # Enough replicates that the far tails a shared confidence needs are still estimated from many replicates.
    bootstrap_resamples: int = Field(10000, ge=1000)
    seed: int = 20261126  # fixed: the same two runs always get the same verdict

    @field_validator("percentiles")
    @classmethod
    def _fractions(cls, value: list[float]) -> list[float]:
        if not value or any(not 0 < q < 1 for q in value):
            raise ValueError("percentiles are fractions strictly between 0 and 1, e.g. [0.5, 0.95]")
        return value


class Baseline(_Strict):
    schema_version: int
    name: str
    description: str = ""
    defaults: EndpointLimits = EndpointLimits()
    endpoints: dict[str, EndpointSection] = {}
    run: RunLimits = RunLimits()
    business: BusinessLimits = BusinessLimits()
    decision: DecisionRule = DecisionRule()
    regression: RegressionRule = RegressionRule()

    def limits_for(self, endpoint_key: str) -> EndpointLimits:
        """The effective limits: the endpoint's own values over the defaults, minus its not_applicable ones."""
        section = self.endpoints.get(endpoint_key)
        merged = self.defaults.model_dump()
        if section is not None:
            merged.update({k: v for k, v in section.model_dump(exclude={"required", "not_applicable"}).items() if v is not None})
            for metric in section.not_applicable:
                merged[metric] = None
                if not metric.endswith(WARNING_SUFFIX) and metric + WARNING_SUFFIX in merged:
                    merged[metric + WARNING_SUFFIX] = None  # a limit that does not apply has no warning level
        return EndpointLimits(**merged)

    def is_required(self, endpoint_key: str) -> bool:
        section = self.endpoints.get(endpoint_key)
        return section is not None and section.required


def load_baseline(path: str | Path) -> Baseline:
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise InputError("baseline file not found", path=path, hint="give a TOML file such as baselines/production.toml") from None
    except OSError as error:
        raise InputError(f"cannot read baseline ({error.__class__.__name__})", path=path) from None
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"invalid TOML ({error})", path=path) from None
    return baseline_from_dict(data, source=path)


def baseline_from_dict(data: dict, *, source: str | Path) -> Baseline:
    version = data.get("schema_version")
    if version is None:
        raise InputError("missing", path=source, key="schema_version", hint=f"add schema_version = {SUPPORTED_SCHEMA_VERSION}")
    if version != SUPPORTED_SCHEMA_VERSION or isinstance(version, bool):
        raise InputError(f"unsupported value {version!r}", path=source, key="schema_version", hint=f"this harness reads schema_version = {SUPPORTED_SCHEMA_VERSION}")
    endpoints = data.get("endpoints")
    for key in endpoints if isinstance(endpoints, dict) else ():
        if not _ENDPOINT_KEY.match(key):
            raise InputError(
                'not "<METHOD> <name>"', path=source, key=toml_key(("endpoints", key)),
                hint='use the Locust key from scenarios/names.py, e.g. "GET /auth/v1/user"',
            )
    try:
        return Baseline.model_validate(data)
    except ValidationError as error:
        key, problem = first_error(error, unknown_key="unknown key (check the spelling; see analysis/baseline.py for "
                                                      "the keys a baseline may hold)")  # fmt: skip
        raise InputError(problem, path=source, key=key) from None
