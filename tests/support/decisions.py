"""Small builders for decision tests: runs made of histograms drawn from known distributions."""

from __future__ import annotations

import numpy as np

from analysis.baseline import baseline_from_dict
from analysis.histogram import Histogram
from analysis.results import BusinessMetrics, EndpointResult, Manifest, RunResult


def endpoint(key: str, samples, failures: int = 0, max_ms: float | None = None) -> EndpointResult:
    method, name = key.split(" ", 1)
    histogram = Histogram.from_samples(samples)
    return EndpointResult(method, name, histogram.count, failures, histogram, max_ms=max_ms or float(np.max(samples)))


def run(*endpoints: EndpointResult, manifest: dict | None = None, business: dict | None = None) -> RunResult:
    return RunResult(
        source="<test run>",
        endpoints={e.key: e for e in endpoints},
        manifest=Manifest.model_validate(manifest) if manifest is not None else None,
        manifest_raw=manifest,
        business=BusinessMetrics.model_validate(business) if business is not None else None,
        business_raw=business,
    )


def baseline(**sections):
    return baseline_from_dict({"schema_version": 1, "name": "test", **sections}, source="<test baseline>")


def lognormal(rng: np.random.Generator, n: int, median_ms: float, sigma: float = 0.5, scale: float = 1.0):
    return rng.lognormal(np.log(median_ms), sigma, n) * scale


GOOD_MANIFEST = {
    "schema_version": 1,
    "partial": False,
    "stop_reason": "run-time",
    "scenario_hash": "abc",
    "options": {"users": 10, "spawn_rate": 10, "run_time_s": 60, "user_classes": ["U"], "tags": [], "exclude_tags": [], "shape": None},
    "generator": {"cpu_warning": False, "cpu_percent_max": 30.0},
    "load": {"intended_users": 10, "reached_users": 10, "workers_lost": 0},
}
