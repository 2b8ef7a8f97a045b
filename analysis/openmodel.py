"""The open workload model's shared knowledge: rate plans, arrival streams, the corrected-latency file, validity.

Pure (no Locust): harness/arrivals.py generates load with it, analysis reads and judges what it wrote with it, so
each format and rule is written once.

Rate plans (``RatePlan``): arrivals per second as a function of the time since arrivals began.
    constant  ``rate`` for as long as the run lasts (--run-time ends it)
    step      ``steps`` plateaus of ``step_seconds``: rate, 2 x rate, ... (the last one ``steps`` x rate)
    ramp      0 -> ``rate`` linearly over ``ramp_seconds``, then ``hold_seconds`` at ``rate``
Arrival times are the inverse of the cumulative rate L(t) = integral of the rate: arrival j (0, 1, 2, ...) is due
when L(t) reaches u_j, with u_j = j (even spacing) or the running sum of unit exponentials from a seeded stream
(Poisson spacing: a Poisson process of the plan's rate, thinned by nothing). Every generator process computes the
same stream from the same seed and takes every n-th arrival (``slot``, ``slot + n``, ...), so n processes together
send exactly the plan's arrivals and none sends more than its ceil(1/n) share.

The corrected-latency file ``locust_corrected.json`` has exactly locust.json's form (``StatsEntry.serialize()``
dicts), with each request's latency measured from its intended start instead of its actual send: service time +
how late the arrival that sent it began (wrk2's correction for coordinated omission). The manifest's ``arrivals``
section (``ArrivalSummary``) says what was intended and what was achieved.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from analysis.jsonfiles import parse_model
from common.results_format import MANIFEST_FILE

CORRECTED_JSON = "locust_corrected.json"
# In a request's Locust context: how late (ms) the arrival that sent it began. harness/arrivals.py sets it,
# harness/intervals.py reads it for intervals.jsonl's corrected_hist.
ARRIVAL_LAG_KEY = "arrival_lag_ms"
MANIFEST_SECTION = "arrivals"
RATE_SHAPES = ("constant", "step", "ramp")
SPACINGS = ("poisson", "even")
DEFAULT_TOLERANCE = 0.01  # share of due arrivals that may be dropped or never sent before a run is not valid


@dataclass(frozen=True)
class RatePlan:
    """Arrivals per second over time. ``rate`` is the constant rate, the per-step increment, or the ramp's peak."""

    shape: str = "constant"
    rate: float = 1.0
    step_seconds: float = 30.0
    steps: int = 4
    ramp_seconds: float = 60.0
    hold_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.shape not in RATE_SHAPES:
            raise ValueError(f"rate shape {self.shape!r} is not one of {RATE_SHAPES}")

    def segments(self) -> list[tuple[float, float, float, float]]:
        """(start_s, length_s, rate at start, rate at end): the rate is linear within each segment."""
        if self.shape == "constant":
            return [(0.0, math.inf, self.rate, self.rate)]
        if self.shape == "step":
            return [(i * self.step_seconds, self.step_seconds, (i + 1) * self.rate, (i + 1) * self.rate)
                    for i in range(self.steps)]  # fmt: skip
        segments = [(0.0, self.ramp_seconds, 0.0, self.rate)]
        if self.hold_seconds > 0:
            segments.append((self.ramp_seconds, self.hold_seconds, self.rate, self.rate))
        return segments

    @property
    def duration_s(self) -> float | None:
        """None for a constant rate (it lasts as long as the run)."""
        start, length, _, _ = self.segments()[-1]
        return None if math.isinf(length) else start + length

    @property
    def peak_rate(self) -> float:
        return max(max(r0, r1) for _, _, r0, r1 in self.segments())

    def rate_at(self, t: float) -> float:
        for start, length, r0, r1 in self.segments():
            if start <= t < start + length:
                return r0 if math.isinf(length) else r0 + (r1 - r0) * (t - start) / length
        return 0.0

    def cumulative(self, t: float) -> float:
        """Expected arrivals in [0, t): the integral of the rate."""
        total = 0.0
        for start, length, r0, r1 in self.segments():
            if t <= start:
                break
            tau = min(t - start, length)
            slope = 0.0 if math.isinf(length) else (r1 - r0) / length
            total += r0 * tau + slope * tau * tau / 2
        return total

    def time_of(self, area: float) -> float | None:
        """The time at which ``cumulative`` reaches ``area``; None if the plan ends first."""
        before = 0.0
        for start, length, r0, r1 in self.segments():
            slope = 0.0 if math.isinf(length) else (r1 - r0) / length
            whole = math.inf if math.isinf(length) else r0 * length + slope * length * length / 2
            remaining = area - before
            if remaining <= whole:
                if slope == 0:
                    if r0 <= 0:
                        return None
                    return start + remaining / r0
                # slope/2 tau^2 + r0 tau - remaining = 0, the positive root
                return start + (-r0 + math.sqrt(r0 * r0 + 2 * slope * remaining)) / slope
            before += whole
        return None

    def describe(self) -> str:
        if self.shape == "constant":
            return f"{self.rate:g} arrivals/s"
        if self.shape == "step":
            return (f"{self.steps} steps of {self.step_seconds:g} s, +{self.rate:g} arrivals/s each "
                    f"(peak {self.peak_rate:g}/s)")  # fmt: skip
        return f"0 -> {self.rate:g} arrivals/s over {self.ramp_seconds:g} s, held {self.hold_seconds:g} s"

    def as_dict(self) -> dict[str, Any]:
        return {"shape": self.shape, "rate": self.rate, "step_seconds": self.step_seconds, "steps": self.steps,
                "ramp_seconds": self.ramp_seconds, "hold_seconds": self.hold_seconds}  # fmt: skip


def arrival_offsets(plan: RatePlan, spacing: str, seed: int, slot: int = 0, of: int = 1) -> Iterator[tuple[int, float]]:
    """(arrival number j, seconds after the start it is due) for this process's share: j = slot, slot + of, ...

    Every process draws the whole stream (the draws are cheap) so that the shares interleave exactly.
    """
    if spacing not in SPACINGS:
        raise ValueError(f"spacing {spacing!r} is not one of {SPACINGS}")
    if not 0 <= slot < of:
        raise ValueError(f"slot {slot} is not in 0..{of - 1}")
    rng = random.Random(seed)
    end = plan.duration_s
    area = 0.0
    j = 0
    while True:
        area = area + rng.expovariate(1.0) if spacing == "poisson" else float(j)
        offset = plan.time_of(area)
        if offset is None or (end is not None and offset >= end):
            return
        if j % of == slot:
            yield j, offset
        j += 1


# ---- the manifest section ---------------------------------------------------------------------------------------
class ArrivalSummary(BaseModel):
    """manifest.json ``arrivals``: what the open-model run intended and what it achieved."""

    model_config = ConfigDict(extra="allow")

    plan: dict[str, Any]
    spacing: str
    seed: int
    pool_users: int
    started_epoch: float | None = None  # wall clock (epoch s) at which arrival 0 was due
    duration_s: float
    target_rate: float  # the plan's mean rate over the run's arrival time (arrivals/s)
    due: int  # arrivals whose intended start fell inside the run (what the stream scheduled)
    started: int  # handed to a free user
    dropped: int  # found every user of their class busy
    missed: int  # due, but the run ended (or the generator lagged) before they were handed out
    late: int  # started more than late_ms after their intended start
    late_ms: float
    max_lag_ms: float
    achieved_rate: float  # started / duration_s
    tolerance: float = DEFAULT_TOLERANCE
    dropped_by_class: dict[str, int] = {}  # the user classes whose users were all busy when an arrival came
    workers: dict[str, dict[str, Any]] = {}  # per worker slot: its counts and active_s (master/worker runs)


def arrival_problems(section: dict | None, source: str = MANIFEST_FILE) -> list[str]:
    """Why an open-model run is not valid (empty: it is, or it is not an open-model run). Rules, with tolerance t:
    more than t of the due arrivals were dropped (the pool was too small: the run measured a different load than
    the one asked for), or else fewer than (1 - t) of them started (the generator fell behind its target rate)."""
    if not section:
        return []
    summary = parse_model(ArrivalSummary, section, path=source, prefix=f"{MANIFEST_SECTION}.")
    problems = []
    due, t = summary.due, summary.tolerance
    rates = f"achieved {summary.achieved_rate:.3g}/s of target {summary.target_rate:.3g}/s"
    if due == 0:
        return ["no arrival was due: the run ended before the arrival rate started"]
    if summary.dropped > t * due:
        by_class = ", ".join(f"{name} {count}" for name, count in sorted(summary.dropped_by_class.items(),
                                                                           key=lambda item: -item[1]) if count)
        problems.append(f"{summary.dropped} of {due} arrivals dropped, every user of the pool busy ({rates}; "
                        f"pool {summary.pool_users} users: raise it"
                        + (f"; dropped by class: {by_class}" if by_class else "") + ")")  # fmt: skip
    elif summary.started < (1 - t) * due:
        problems.append(f"arrival rate not reached ({rates}; {summary.started} of {due} arrivals started, "
                        f"{summary.missed} never sent: the generator fell behind)")  # fmt: skip
    return problems
