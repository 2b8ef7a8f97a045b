"""The capacity report's plots: for each, one function computes the data (what tests check), one draws it.

Drawing uses ``matplotlib.figure.Figure`` directly (no pyplot, no global state) and nothing here saves a file.
All x axes are concurrent users; every point is a steady plateau from analysis/capacity.py.

Public interface (data -> drawing):
    throughput_vs_users(analysis)        -> ThroughputVsUsers  draw_throughput_vs_users
    latency_vs_users(plateaus, baseline) -> LatencyVsUsers     draw_latency_vs_users
    errors_vs_users(plateaus, baseline)  -> ErrorsVsUsers      draw_errors_vs_users
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from matplotlib import colormaps  # the colour-map registry, not pyplot: no global figure state
from matplotlib.figure import Figure

from analysis.baseline import Baseline
from analysis.capacity import DERIVED_REQUEST_TYPES, CapacityAnalysis, Plateau, UslFit, plateau_table, usl_band

CURVE_POINTS = 200
FIGURE_SIZE = (8.0, 4.5)
WIDE_FIGURE_SIZE = (11.0, 4.5)  # room for a legend of endpoint keys beside the axes


@dataclass(frozen=True)
class ThroughputVsUsers:
    users: np.ndarray
    throughput_rps: np.ndarray
    goodput_rps: np.ndarray
    curve_users: np.ndarray | None  # None: no USL fit to draw
    curve_rps: np.ndarray | None
    band_low: np.ndarray | None
    band_high: np.ndarray | None
    peak_users: float | None
    peak_rps: float | None
    knee_users: float | None
    capacity_users: int | None
    capacity_is_lower_bound: bool  # no tested load broke an SLA: the capacity is "at least"
    confidence: float | None


def throughput_vs_users(analysis: CapacityAnalysis) -> ThroughputVsUsers:
    table = plateau_table(analysis.detection.plateaus)
    fit = analysis.fit if isinstance(analysis.fit, UslFit) else None
    capacity_users = analysis.capacity.capacity_users if analysis.capacity else None
    lower_bound = bool(analysis.capacity and analysis.capacity.lower_bound)
    if fit is None:
        return ThroughputVsUsers(table["users"], table["throughput_rps"], table["goodput_rps"], None, None, None, None,
                                 None, None, None, capacity_users, lower_bound, None)
    # Draw the curve a little past the tested loads (and past its peak, when that is close) so its shape shows.
    right_edge = max(float(table["users"].max()) * 1.2, (fit.peak_users.value * 1.1) if fit.peak_users else 0.0)
    right_edge = min(right_edge, float(table["users"].max()) * 2.0)
    grid = np.linspace(1.0, right_edge, CURVE_POINTS)
    low, high = usl_band(fit, grid)
    return ThroughputVsUsers(
        users=table["users"], throughput_rps=table["throughput_rps"], goodput_rps=table["goodput_rps"],
        curve_users=grid, curve_rps=fit.curve(grid), band_low=low, band_high=high,
        peak_users=fit.peak_users.value if fit.peak_users else None, peak_rps=fit.peak_throughput_rps.value,
        knee_users=fit.knee_users, capacity_users=capacity_users, capacity_is_lower_bound=lower_bound,
        confidence=fit.confidence,
    )


def draw_throughput_vs_users(data: ThroughputVsUsers) -> Figure:
    figure = Figure(figsize=FIGURE_SIZE, layout="constrained")
    axes = figure.add_subplot()
    users, rps, low, high = data.curve_users, data.curve_rps, data.band_low, data.band_high
    if users is not None and rps is not None and low is not None and high is not None:  # all set together, by a fit
        axes.fill_between(users, low, high, color="#90caf9", alpha=0.5, label=f"USL {data.confidence:.0%} band")
        axes.plot(users, rps, color="#1565c0", label="USL fit")
        if data.peak_rps is not None:
            axes.axhline(data.peak_rps, color="#1565c0", linestyle=":", linewidth=1, label=f"peak {data.peak_rps:.1f} req/s")
        if data.knee_users is not None:
            axes.axvline(data.knee_users, color="#6a1b9a", linestyle="--", linewidth=1, label=f"knee {data.knee_users:.1f} users")
    axes.plot(data.users, data.throughput_rps, "o", color="#757575", markersize=4, label="throughput (all)")
    axes.plot(data.users, data.goodput_rps, "o", color="#000000", label="goodput (successful)")
    if data.capacity_users is not None:
        axes.axvline(data.capacity_users, color="#2e7d32", linestyle="-", linewidth=1.5,
                     label=f"SLA-bound capacity {'≥ ' if data.capacity_is_lower_bound else ''}{data.capacity_users} users")
    axes.set(title="Throughput against concurrent users", xlabel="concurrent users", ylabel="requests / s")
    axes.set_xlim(left=0)
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize="small")
    return figure


@dataclass(frozen=True)
class LatencyVsUsers:
    users: np.ndarray
    p95_ms: dict[str, np.ndarray]  # endpoint -> p95 per plateau (NaN where the endpoint had no requests)
    p95_limit_ms: dict[str, float]  # endpoint -> its p95 SLA, for the endpoints that have one


def latency_vs_users(plateaus: Sequence[Plateau], baseline: Baseline | None) -> LatencyVsUsers:
    ordered = sorted(plateaus, key=lambda p: p.users)
    # Derived timings (a background job's minutes) are not responses and would squash every real line flat.
    keys = sorted({key for p in ordered for key in p.endpoints if key.split(" ", 1)[0] not in DERIVED_REQUEST_TYPES})
    p95 = {key: np.array([_p95(p, key) for p in ordered], dtype=np.float64) for key in keys}
    limits: dict[str, float] = {}
    if baseline is not None:
        limits = {key: limit for key in keys if (limit := baseline.limits_for(key).p95_ms) is not None}
    return LatencyVsUsers(np.array([p.users for p in ordered], dtype=np.float64), p95, limits)


def _p95(plateau: Plateau, key: str) -> float:
    endpoint = plateau.endpoints.get(key)
    value = endpoint.percentiles_ms.get(0.95) if endpoint else None
    return float(value) if value is not None else np.nan


def draw_latency_vs_users(data: LatencyVsUsers) -> Figure:
    figure = Figure(figsize=WIDE_FIGURE_SIZE, layout="constrained")
    axes = figure.add_subplot()
    colours = _colours(len(data.p95_ms))
    for colour, (key, values) in zip(colours, data.p95_ms.items()):
        axes.plot(data.users, values, "o-", color=colour, markersize=3, label=key)
        if key in data.p95_limit_ms:
            axes.axhline(data.p95_limit_ms[key], color=colour, linestyle="--", linewidth=1)
    axes.set(title="p95 latency against concurrent users (dashed: p95 SLA)", xlabel="concurrent users", ylabel="p95 (ms)")
    axes.set_yscale("log")  # endpoints span 10 ms reads to multi-second functions: a linear axis hides the fast ones
    axes.set_xlim(left=0)
    axes.grid(alpha=0.3)
    _legend_beside(axes)
    return figure


@dataclass(frozen=True)
class ErrorsVsUsers:
    users: np.ndarray
    error_rate: np.ndarray  # all HTTP requests of the plateau
    by_endpoint: dict[str, np.ndarray]  # only endpoints that failed at some plateau (a JOB entry: failed jobs)
    fail_ratio_limit: float | None  # the baseline's default error-rate SLA
    # endpoint -> its own fail_ratio SLA where it differs from the default (a JOB entry's 5 %: the success rate)
    limit_by_endpoint: dict[str, float] = field(default_factory=dict)


def errors_vs_users(plateaus: Sequence[Plateau], baseline: Baseline | None) -> ErrorsVsUsers:
    ordered = sorted(plateaus, key=lambda p: p.users)
    table = plateau_table(ordered)
    failing = sorted({key for p in ordered for key, e in p.endpoints.items() if e.failures})
    by_endpoint = {
        key: np.array([p.endpoints[key].error_rate if key in p.endpoints else np.nan for p in ordered], dtype=np.float64)
        for key in failing
    }
    limit = baseline.defaults.fail_ratio if baseline is not None else None
    own: dict[str, float] = {}
    if baseline is not None:
        own = {key: value for key in failing
               if (value := baseline.limits_for(key).fail_ratio) is not None and value != limit}  # fmt: skip
    return ErrorsVsUsers(table["users"], table["error_rate"], by_endpoint, limit, own)


def draw_errors_vs_users(data: ErrorsVsUsers) -> Figure:
    figure = Figure(figsize=WIDE_FIGURE_SIZE, layout="constrained")
    axes = figure.add_subplot()
    axes.plot(data.users, data.error_rate * 100, "o-", color="#000000", label="all HTTP requests")
    for colour, (key, values) in zip(_colours(len(data.by_endpoint)), data.by_endpoint.items()):
        axes.plot(data.users, values * 100, "o--", color=colour, markersize=3, label=key)
        if key in data.limit_by_endpoint:  # its own SLA, not the default's: a JOB line is judged against this one
            axes.axhline(data.limit_by_endpoint[key] * 100, color=colour, linestyle=":", linewidth=1.2,
                         label=f"its SLA {data.limit_by_endpoint[key]:.1%}")
    if data.fail_ratio_limit is not None:
        axes.axhline(data.fail_ratio_limit * 100, color="#c62828", linestyle="--", linewidth=1,
                     label=f"default SLA {data.fail_ratio_limit:.1%}")
    # A JOB entry's line is its failed jobs (of jobs), which the HTTP requests' line does not count.
    axes.set(title="Failures against concurrent users", xlabel="concurrent users",
             ylabel="failed (% of requests; of jobs for JOB)")
    axes.set_xlim(left=0)
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    _legend_beside(axes)
    return figure


def _legend_beside(axes) -> None:
    # Many endpoints: a legend inside the axes would cover the lines it explains.
    axes.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def _colours(count: int) -> list:
    palette = colormaps["tab20"]
    return [palette(i % 20) for i in range(count)]
