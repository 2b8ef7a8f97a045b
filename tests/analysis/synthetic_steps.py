"""Synthetic step-load runs written as real intervals.jsonl files (the documented format), for the capacity tests.

A closed system driven by a step shape: at N users it serves X(N) requests/s (a USL curve), and by Little's law each
request takes N / X(N) seconds. The first interval of every step is a ramp transient: half of it still at the
previous load. Counting noise is Poisson and latency is spread around its mean, both from a seeded generator.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from analysis.capacity import usl_throughput
from analysis.histogram import Histogram

ENDPOINT = "POST /functions/v1/business-discovery-optimized"


def usl(lam: float, sigma: float, kappa: float) -> Callable[[float], float]:
    return lambda users: float(usl_throughput(users, lam, sigma, kappa))


def step_run(
    levels: Sequence[int],
    throughput: Callable[[float], float],
    *,
    intervals_per_step: int = 6,
    interval_s: float = 2.0,
    transient: bool = True,
    failure_rate: Callable[[float], float] = lambda users: 0.0,
    seed: int = 7,
) -> list[dict]:
    """Interval rows (without the header) for a step run over ``levels`` users."""
    rng = np.random.default_rng(seed)
    rows = []
    t = 1_800_000_000.0
    previous = 0
    for users in levels:
        for index in range(intervals_per_step):
            if transient and index == 0 and previous:
                # Half the interval still at the previous load, half at the new one, and latency still settling.
                rate = (throughput(previous) + throughput(users)) / 2
                latency_s = previous / throughput(previous)
            elif transient and index == 0:
                rate, latency_s = throughput(users) / 2, users / throughput(users)
            else:
                rate, latency_s = throughput(users), users / throughput(users)
            requests = int(rng.poisson(rate * interval_s))
            failures = int(rng.binomial(requests, failure_rate(users))) if requests else 0
            samples = rng.gamma(shape=16.0, scale=latency_s * 1000 / 16.0, size=requests)
            endpoints = {}
            if requests:
                endpoints[ENDPOINT] = {"requests": requests, "failures": failures, "hist": Histogram.from_samples(samples).to_dict()}
            rows.append({"t": t, "user_count": users, "endpoints": endpoints})
            t += interval_s
        previous = users
    return rows


def write_intervals(folder: Path, rows: Sequence[dict], interval_s: float = 2.0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "intervals.jsonl"
    header = {"schema_version": 1, "interval_s": interval_s, "started_at": rows[0]["t"] if rows else 0.0}
    path.write_text("".join(json.dumps(line) + "\n" for line in [header, *rows]), encoding="utf-8")
    return path
