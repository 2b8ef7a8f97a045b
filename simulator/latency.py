"""Seeded latency draws per endpoint class, shaped by the active profile and --time-scale.

Each class's healthy latency is a lognormal given by its median and p95 (sigma = ln(p95/median) / 1.645), clipped
to [min, max] so no draw can breach an SLA by chance, plus `per_item_ms` per row handled. A profile multiplies the
whole draw; --time-scale multiplies the result. A --service-time override replaces the draw with a fixed number of
real milliseconds (unscaled) so that a test can compute capacity exactly.

``--slow FUNCTION=FACTOR`` is not applied here but in simulator/app.py, to the function's whole time (its own
draw and its fan-out): benchmarks/bench_sequential.py and tests/analysis/test_sequential.py rely on it; keep it in any rework.
"""

from __future__ import annotations

import math
import random

from simulator.profiles import Model, Profile

Z_95 = 1.6448536269514722


class LatencyModel:
    def __init__(self, model: Model, rng: random.Random, time_scale: float, service_time_ms: dict[str, float]):
        self._rng = rng
        self._time_scale = time_scale
        self._service_time_s = {name: ms / 1000.0 for name, ms in service_time_ms.items()}
        # Precomputed per class: (median, sigma, min, max, per_item) in ms.
        self._shapes = {}
        for name, dist in model.latency.items():
            sigma = math.log(dist.p95_ms / dist.median_ms) / Z_95 if dist.median_ms > 0 else 0.0
            self._shapes[name] = (dist.median_ms, sigma, dist.min_ms, dist.max_ms, dist.per_item_ms)

    def has_fixed_service_time(self, endpoint_class: str) -> bool:
        return endpoint_class in self._service_time_s

    def seconds(self, endpoint_class: str, profile: Profile, items: int = 0, scale: float | None = None) -> float:
        """Real seconds to spend serving one request of this class (0.0 on zero-latency). `scale` replaces
        --time-scale (a background job's own waits use --job-time-scale)."""
        fixed = self._service_time_s.get(endpoint_class)
        if fixed is not None:
            return fixed
        time_scale = self._time_scale if scale is None else scale
        if profile.zero_latency or time_scale == 0:
            return 0.0
        median, sigma, low, high, per_item = self._shapes[endpoint_class]
        draw = median * math.exp(sigma * self._rng.gauss(0.0, 1.0)) if sigma else median
        draw = min(high, max(low, draw)) + per_item * items
        return draw * profile.multiplier(endpoint_class) * time_scale / 1000.0
