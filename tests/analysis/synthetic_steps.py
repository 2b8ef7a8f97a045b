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


# ---- open model: an arrival-rate step run (--arrival-rate R --arrival-shape step) -----------------------------------
SUBMIT = "POST /functions/v1/business-discovery-background"
JOB = "JOB business-discovery-background submit->completed"


def open_step_run(
    rate: int,
    steps: int,
    *,
    step_seconds: float = 20.0,
    interval_s: float = 2.0,
    job_failure_share: Callable[[float], float] | None = None,
    started_epoch: float = 1_800_000_000.0,
) -> tuple[list[dict], dict]:
    """Interval rows and the manifest's ``arrivals`` section of an open step run offering rate, 2 x rate, ... arrivals/s.

    Even spacing, every arrival started: each sends one discovery submit (300 ms service time, 320 ms from its
    intended start), and every second one follows a discovery job, whose JOB entry (1.5 s submit->completed) ends
    in the same interval. ``job_failure_share(offered rate)`` of the jobs fail (None: no discovery jobs at all).
    """
    rows = []
    for index in range(int(steps * step_seconds / interval_s)):
        offered = rate * (1 + int(index * interval_s // step_seconds))
        arrivals = int(offered * interval_s)
        endpoints = {SUBMIT: {"requests": arrivals, "failures": 0, "hist": {"300": arrivals},
                              "corrected_hist": {"320": arrivals}}}  # fmt: skip
        if job_failure_share is not None:
            jobs = arrivals // 2
            endpoints[JOB] = {"requests": jobs, "failures": round(jobs * job_failure_share(offered)),
                              "hist": {"1500": jobs}, "corrected_hist": {"1500": jobs}}  # fmt: skip
        rows.append({"t": started_epoch + index * interval_s, "user_count": 40, "endpoints": endpoints})
    due = sum(row["endpoints"][SUBMIT]["requests"] for row in rows)
    duration = steps * step_seconds
    arrivals = {"plan": {"shape": "step", "rate": rate, "step_seconds": step_seconds, "steps": steps},
                "spacing": "even", "seed": 1, "pool_users": 40, "started_epoch": started_epoch, "duration_s": duration,
                "target_rate": due / duration, "due": due, "started": due, "dropped": 0, "missed": 0, "late": 0,
                "late_ms": 50.0, "max_lag_ms": 20.0, "achieved_rate": due / duration}  # fmt: skip
    return rows, arrivals


def write_open_run(folder: Path, rows: Sequence[dict], arrivals: dict, interval_s: float = 2.0) -> Path:
    """A results folder as the harness leaves it for an open-model run: intervals.jsonl, locust.json, manifest.json."""
    write_intervals(folder, rows, interval_s)
    (folder / "locust.json").write_text("[]", encoding="utf-8")
    (folder / "manifest.json").write_text(json.dumps({"schema_version": 1, "arrivals": arrivals}), encoding="utf-8")
    return folder
