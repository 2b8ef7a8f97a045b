"""Capacity by offered load: an open-model step run (``--arrival-rate R --arrival-shape step``) read the way capacity
planners read it, throughput and latency against the offered arrival rate.

A closed step run raises users and finds plateaus in the data (analysis/capacity.py). An open run holds the pool
fixed and raises the offered rate on a known schedule (the manifest's ``arrivals``: the plan and the moment arrival 0
was due), so each step's intervals are known exactly: those wholly inside the step, less the first one (the
system settling at the new rate). Per step: the offered rate, the throughput (HTTP requests/s; derived "JOB"
timings are not requests) and the arrivals actually started, the latency from the intended start (corrected_hist)
of the HTTP requests, every entry judged against the baseline exactly as the gate judges a run (the closed model's
judge_window), and the HTTP errors and failed discovery jobs apart (analysis/capacity.py's JudgedWindow).

    SLA-bound capacity   the highest offered rate below the first step that breaks any SLA
    saturation           the first step whose request throughput stopped growing in proportion to the offered rate
                         (below SATURATION_RATIO of what the first step's requests per arrival would give)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.baseline import Baseline
from analysis.capacity import DERIVED_REQUEST_TYPES, EndpointAtPlateau, JudgedWindow, format_share, judge_window
from analysis.histogram import Histogram
from analysis.intervals import IntervalSeries
from analysis.openmodel import ArrivalSummary, RatePlan
from analysis.verdicts import Verdict

SATURATION_RATIO = 0.9


@dataclass(frozen=True)
class OfferedLevel(JudgedWindow):
    offered_rps: float  # arrivals/s the plan offered during this step
    first_interval: int
    stop_interval: int  # exclusive
    duration_s: float
    requests: int  # HTTP requests completed in the window
    failures: int
    throughput_rps: float  # HTTP requests completed per second
    latency_ms: dict[float, int | None]  # all HTTP requests merged: p50/p95/p99 of the corrected latency
    endpoints: dict[str, EndpointAtPlateau]  # every entry judged, JOB and WS included (judge_window)

    @property
    def verdict(self) -> Verdict | None:
        verdicts = {e.verdict for e in self.endpoints.values()}
        for verdict in (Verdict.BREACH, Verdict.INCONCLUSIVE, Verdict.PASS):
            if verdict in verdicts:
                return verdict
        return None

    @property
    def breaches(self) -> list[str]:
        return [f"{e.key}: {b}" for e in self.endpoints.values() for b in e.breaches]


@dataclass(frozen=True)
class OfferedLoadCapacity:
    levels: tuple[OfferedLevel, ...]
    capacity_rps: float | None  # the highest offered rate with every SLA holding (None: the first step broke one)
    first_breach_rps: float | None
    saturation_rps: float | None  # the first offered rate at which throughput fell behind the offer
    bottleneck: EndpointAtPlateau | None = None  # the entry furthest over its limit at the first breaking rate


def offered_levels(series: IntervalSeries, summary: ArrivalSummary, baseline: Baseline | None) -> list[OfferedLevel]:
    """One level per step of the plan that had at least two whole intervals (the first is left out as settling)."""
    plan = RatePlan(**summary.plan)
    if summary.started_epoch is None or plan.shape != "step":
        return []
    http_keys = [k for k in series.endpoints if k.split(" ", 1)[0] not in DERIVED_REQUEST_TYPES]
    starts = series.times - summary.started_epoch
    ends = starts + series.interval_s
    levels = []
    for step_start, length, rate, _ in plan.segments():
        inside = np.flatnonzero((starts >= step_start - 1e-6) & (ends <= step_start + length + 1e-6))
        if len(inside) < 2:
            continue
        first, stop = int(inside[1]), int(inside[-1]) + 1
        duration = float(series.durations[first:stop].sum())
        # Discovery jobs (the JOB entry) in an open model: an arrival that submits a discovery starts a job, and the
        # job's entry is recorded when the job ends (completed, failed or timed out), in the interval it ends in. So
        # a step's jobs are those that ENDED in its window: started by this step's arrivals or, for a job longer
        # than the settling interval left out, by the step below. A job has no offered rate of its own (about the
        # offered rate x the share of arrivals that submit one) and is no request: it stays out of the throughput
        # and of the step's merged p50/p95/p99, since its submit->completed time is not the latency an arrival
        # sees. It is judged on its own like any entry, as the gate judges it: its fail_ratio is the discovery
        # success rate (failed jobs / jobs ended), its latency the corrected one (submit->completed plus how late
        # its arrival began).
        endpoints = judge_window(series, first, stop, baseline)
        http = [endpoints[k] for k in http_keys if k in endpoints]
        requests = sum(e.requests for e in http)
        merged = Histogram.merge_all(series.endpoints[e.key].merged(first, stop) for e in http)
        latency = dict(zip((0.5, 0.95, 0.99), merged.percentiles((0.5, 0.95, 0.99)))) if merged.count else {}
        levels.append(OfferedLevel(offered_rps=rate, first_interval=first, stop_interval=stop, duration_s=duration,
                                   requests=requests, failures=sum(e.failures for e in http),
                                   throughput_rps=requests / duration if duration else 0.0, latency_ms=latency,
                                   endpoints=endpoints))  # fmt: skip
    return levels


def offered_load_capacity(levels: list[OfferedLevel]) -> OfferedLoadCapacity:
    capacity = first_breach = saturation = None
    bottleneck = None
    for level in sorted(levels, key=lambda lv: lv.offered_rps):
        if level.verdict == Verdict.BREACH:
            first_breach, bottleneck = level.offered_rps, level.bottleneck
            break
        if level.verdict == Verdict.PASS:
            capacity = level.offered_rps
    if levels and levels[0].offered_rps > 0:
        per_arrival = levels[0].throughput_rps / levels[0].offered_rps  # requests each arrival sends
        for level in levels[1:]:
            if level.throughput_rps < SATURATION_RATIO * per_arrival * level.offered_rps:
                saturation = level.offered_rps
                break
    return OfferedLoadCapacity(tuple(levels), capacity, first_breach, saturation, bottleneck)


# ---- the report ------------------------------------------------------------------------------------------------
def describe(result: OfferedLoadCapacity) -> str:
    """One headline sentence."""
    if not result.levels:
        return "No step of the arrival-rate plan had two whole intervals: nothing to measure (longer steps)."
    parts = []
    broke = ""
    if result.bottleneck is not None:
        broke = f"bottleneck {result.bottleneck.key}: {', '.join(result.bottleneck.breaches)}"
    if result.capacity_rps is not None:
        parts.append(f"SLA-bound capacity {result.capacity_rps:g} arrivals/s"
                     + (f" (SLAs broke at {result.first_breach_rps:g}/s, {broke})" if result.first_breach_rps is not None
                        else " (no tested rate broke an SLA: at least this)"))  # fmt: skip
    elif result.first_breach_rps is not None:
        parts.append(f"the lowest offered rate ({result.first_breach_rps:g} arrivals/s) already breaks an SLA ({broke})")
    else:
        parts.append("no step could be judged (too few samples)")
    if result.saturation_rps is not None:
        parts.append(f"throughput fell behind the offered load at {result.saturation_rps:g} arrivals/s")
    return "; ".join(parts) + "."


def has_jobs(result: OfferedLoadCapacity) -> bool:
    """Whether any step saw discovery jobs end: then "failed jobs" stands beside the HTTP errors."""
    return any(level.jobs for level in result.levels)


def level_rows(result: OfferedLoadCapacity) -> list[list[str]]:
    def ms(value):
        return "-" if value is None else f"{value} ms"

    jobs = has_jobs(result)
    rows = []
    for level in result.levels:
        rows.append([f"{level.offered_rps:g}", f"{level.throughput_rps:.2f}", ms(level.latency_ms.get(0.5)),
                     ms(level.latency_ms.get(0.95)), ms(level.latency_ms.get(0.99)),
                     format_share(level.failures, level.requests),
                     *([format_share(level.failed_jobs, level.jobs)] if jobs else []),
                     level.verdict.value if level.verdict else "-", "; ".join(level.breaches) or "-"])  # fmt: skip
    return rows


def level_header(result: OfferedLoadCapacity) -> list[str]:
    return ["offered arrivals/s", "throughput req/s", "p50", "p95", "p99", "HTTP errors",
            *(["failed jobs"] if has_jobs(result) else []), "SLA verdict", "breaches"]  # fmt: skip


def draw(result: OfferedLoadCapacity):
    """Throughput and p95/p99 latency (from the intended start) against the offered rate."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 3.4), dpi=80)
    left, right = figure.subplots(1, 2)
    offered = [lv.offered_rps for lv in result.levels]
    left.plot(offered, [lv.throughput_rps for lv in result.levels], marker="o")
    left.set_xlabel("offered arrivals/s")
    left.set_ylabel("throughput (requests/s)")
    for q, style in ((0.95, "o-"), (0.99, "s--")):
        right.plot(offered, [lv.latency_ms.get(q) or np.nan for lv in result.levels], style, label=f"p{q * 100:g}")
    right.set_xlabel("offered arrivals/s")
    right.set_ylabel("latency from intended start (ms)")
    right.legend(fontsize=8)
    for axis in (left, right):
        axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure
