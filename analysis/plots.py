"""The run's plots: for each, one function computes the data (what tests check) and one draws it (a Figure).

Drawing uses ``matplotlib.figure.Figure`` directly (the Agg backend, no pyplot and its global state), and nothing
here saves a file: the CLI decides where figures go. Percentiles always come from merged histograms; when a long run
has more intervals than a plot can show, consecutive intervals are merged (by adding counts) into windows.

Public interface (data -> drawing):
    latency_over_time(series, key, limits)      -> LatencyOverTime    draw_latency_over_time
    throughput_over_time(series)                -> ThroughputOverTime draw_throughput_over_time
    latency_cdf(title, {label: Histogram})      -> LatencyCdf         draw_latency_cdf
    (both of the above for one endpoint)                              draw_endpoint_detail
    regression_bars(decision)                   -> list[RegressionBar] draw_regression_chart
    trend(runs, q)                              -> Trend              draw_trend
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from analysis.baseline import PERCENTILE_LIMITS, EndpointLimits
from analysis.decide import Decision
from analysis.histogram import Histogram
from analysis.intervals import IntervalSeries
from analysis.results import RunResult
from analysis.verdicts import Verdict

# The percentiles drawn over time, named as the baseline names their limits, so an SLA line pairs with its curve.
PLOTTED_PERCENTILES: tuple[str, ...] = ("p50_ms", "p95_ms", "p99_ms")
# More points than this per line tell a reader nothing more and cost drawing time: merge intervals into windows.
MAX_POINTS_PER_LINE = 360

VERDICT_COLOURS: dict[Verdict, str] = {
    Verdict.PASS: "#2e7d32",
    Verdict.UNCHANGED: "#607d8b",
    Verdict.IMPROVED: "#1565c0",
    Verdict.REGRESSED: "#c62828",
    Verdict.BREACH: "#c62828",
    Verdict.MISSING: "#6a1b9a",
    Verdict.INCONCLUSIVE: "#f9a825",
    Verdict.WARNING: "#ef6c00",
    Verdict.NOT_COMPARABLE: "#9e9e9e",
}
_PERCENTILE_COLOURS = {"p50_ms": "#1f77b4", "p95_ms": "#ff7f0e", "p99_ms": "#d62728"}
_FIGURE_SIZE = (9.0, 4.0)


def _figure(width: float, height: float, *, left: float = 0.75, right: float = 0.7, bottom: float = 0.55,
            top: float = 0.35, columns: int = 1, gap: float = 0.0) -> Figure:  # fmt: skip
    """A figure with fixed margins and gaps between columns of axes, in inches. Not a layout engine: constrained
    layout measures every tick label before drawing, which cost ~45 % of a report's drawing time (measured)."""
    figure = Figure(figsize=(width, height))
    axes_width = (width - left - right - gap * (columns - 1)) / columns
    figure.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height,
                           wspace=gap / axes_width)  # fmt: skip
    return figure


def window_for(interval_count: int, max_points: int = MAX_POINTS_PER_LINE) -> int:
    """How many consecutive intervals to merge so that a line has at most ``max_points`` points."""
    return max(1, math.ceil(interval_count / max_points))


def _window_starts_minutes(series: IntervalSeries, window: int) -> np.ndarray:
    if not len(series):
        return np.zeros(0)
    return (series.times[::window] - series.times[0]) / 60.0


def _window_sums(values: np.ndarray, window: int) -> np.ndarray:
    return np.add.reduceat(values, np.arange(0, len(values), window)) if len(values) else values


def _users_at_window_close(series: IntervalSeries, window: int) -> np.ndarray:
    """The user count when each window's last interval closed."""
    count = len(series)
    last_of_window = np.minimum(np.arange(window - 1, count + window - 1, window), count - 1)
    return series.user_counts[last_of_window] if count else np.zeros(0, dtype=np.int64)


# ---- latency over time ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LatencyOverTime:
    key: str
    minutes: np.ndarray  # start of each window, minutes since the first interval
    percentiles_ms: dict[str, np.ndarray]  # "p95_ms" -> one value per window (NaN: no requests in the window)
    sla_ms: dict[str, float]  # "p95_ms" -> the baseline's limit, only for the plotted percentiles that have one
    users: np.ndarray  # user count at the close of each window's last interval
    window_s: float  # seconds per point


def latency_over_time(series: IntervalSeries, key: str, limits: EndpointLimits | None = None,
                      max_points: int = MAX_POINTS_PER_LINE) -> LatencyOverTime:  # fmt: skip
    window = window_for(len(series), max_points)
    endpoint = series.endpoints.get(key)
    windows = len(range(0, len(series), window))
    if endpoint is None:
        values = np.full((windows, len(PLOTTED_PERCENTILES)), np.nan)
    else:
        values = endpoint.percentile_series([PERCENTILE_LIMITS[name] for name in PLOTTED_PERCENTILES], window)
    sla = {name: float(getattr(limits, name)) for name in PLOTTED_PERCENTILES if limits is not None and getattr(limits, name) is not None}
    return LatencyOverTime(
        key=key,
        minutes=_window_starts_minutes(series, window),
        percentiles_ms={name: values[:, column] for column, name in enumerate(PLOTTED_PERCENTILES)},
        sla_ms=sla,
        users=_users_at_window_close(series, window),
        window_s=series.interval_s * window,
    )


def draw_latency_over_time(data: LatencyOverTime) -> Figure:
    figure = _figure(*_FIGURE_SIZE)
    _draw_latency_over_time(figure.add_subplot(), data)
    return figure


def _draw_latency_over_time(axes, data: LatencyOverTime) -> None:
    for name, values in data.percentiles_ms.items():
        axes.plot(data.minutes, values, label=name.removesuffix("_ms"), color=_PERCENTILE_COLOURS[name], linewidth=1.2)
    for name, limit in data.sla_ms.items():
        axes.axhline(limit, color=_PERCENTILE_COLOURS[name], linestyle="--", linewidth=1, label=f"SLA {name.removesuffix('_ms')} {limit:g} ms")
    axes.set_xlabel("minutes since start")
    axes.set_ylabel("response time (ms)")
    axes.set_title(f"{data.key}  (one point per {data.window_s:g} s)", fontsize=9)
    _users_and_legend(axes, data.minutes, data.users, [*data.percentiles_ms.values(), list(data.sla_ms.values())])


def _users_and_legend(axes, minutes: np.ndarray, users: np.ndarray, plotted: list) -> None:
    """The user count on its own right-hand scale, and one legend for both.

    Headroom above the highest plotted value for the legend, and the user count drawn at about 60 % of its axis, so
    that it never lies on an SLA line or under the legend by a coincidence of scales.
    """
    finite = [float(np.nanmax(values)) for values in map(np.asarray, plotted) if values.size and np.isfinite(values).any()]
    highest = max(finite, default=0.0)
    axes.set_ylim(0, highest * 1.3 if highest > 0 else 1.0)
    users_axes = axes.twinx()
    users_axes.step(minutes, users, where="post", color="#9e9e9e", linewidth=0.8, label="users")
    users_axes.set_ylabel("users")
    peak_users = float(np.nanmax(users)) if len(users) and np.isfinite(users).any() else 0.0
    users_axes.set_ylim(0, max(peak_users, 1.0) * 1.6)
    _legend(axes, users_axes)


def _legend(*all_axes) -> None:
    handles, labels = [], []
    for axes in all_axes:
        more_handles, more_labels = axes.get_legend_handles_labels()
        handles += more_handles
        labels += more_labels
    if handles:
        all_axes[0].legend(handles, labels, loc="upper left", fontsize=7, ncols=3)


# ---- throughput and failures ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ThroughputOverTime:
    minutes: np.ndarray
    requests_per_s: np.ndarray  # all endpoints, per window
    failures_per_s: np.ndarray
    users: np.ndarray
    window_s: float


def throughput_over_time(series: IntervalSeries, max_points: int = MAX_POINTS_PER_LINE) -> ThroughputOverTime:
    """Rates divide by the seconds each window actually covered (the first and last interval may be partial)."""
    window = window_for(len(series), max_points)
    seconds = _window_sums(series.durations, window)
    with np.errstate(divide="ignore", invalid="ignore"):
        requests = np.where(seconds > 0, _window_sums(series.total_requests(), window) / seconds, np.nan)
        failures = np.where(seconds > 0, _window_sums(series.total_failures(), window) / seconds, np.nan)
    return ThroughputOverTime(
        minutes=_window_starts_minutes(series, window),
        requests_per_s=requests,
        failures_per_s=failures,
        users=_users_at_window_close(series, window),
        window_s=series.interval_s * window,
    )


def draw_throughput_over_time(data: ThroughputOverTime) -> Figure:
    figure = _figure(*_FIGURE_SIZE)
    axes = figure.add_subplot()
    axes.plot(data.minutes, data.requests_per_s, color="#1f77b4", linewidth=1.2, label="requests/s")
    axes.plot(data.minutes, data.failures_per_s, color="#c62828", linewidth=1.2, label="failures/s")
    axes.set_xlabel("minutes since start")
    axes.set_ylabel("per second")
    axes.set_title(f"Throughput and failures, all endpoints  (one point per {data.window_s:g} s)", fontsize=9)
    _users_and_legend(axes, data.minutes, data.users, [data.requests_per_s, data.failures_per_s])
    return figure


# ---- latency distribution ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CdfCurve:
    label: str
    ms: np.ndarray  # bucket values, ascending
    fraction: np.ndarray  # share of requests at or below each bucket
    count: int


@dataclass(frozen=True)
class LatencyCdf:
    title: str
    curves: tuple[CdfCurve, ...]


def latency_cdf(title: str, histograms: Mapping[str, Histogram | None]) -> LatencyCdf:
    """One curve per labelled histogram (this run, the reference); empty or missing histograms are left out."""
    curves = []
    for label, histogram in histograms.items():
        if histogram is None or not histogram.count:
            continue
        cumulative = np.cumsum(histogram.counts)
        curves.append(CdfCurve(label, histogram.buckets.astype(np.float64), cumulative / cumulative[-1], histogram.count))
    return LatencyCdf(title, tuple(curves))


def draw_latency_cdf(data: LatencyCdf) -> Figure:
    figure = _figure(*_FIGURE_SIZE, right=0.3)
    _draw_latency_cdf(figure.add_subplot(), data)
    return figure


def _draw_latency_cdf(axes, data: LatencyCdf) -> None:
    for curve, colour in zip(data.curves, ("#1f77b4", "#9e9e9e", "#ff7f0e", "#2e7d32")):
        axes.step(curve.ms, curve.fraction, where="post", color=colour, label=f"{curve.label} (n={curve.count})")
    if any(curve.ms.size and curve.ms.max() > 0 for curve in data.curves):
        axes.set_xscale("symlog", linthresh=10)  # 1 ms to minutes on one axis, and a 0 ms bucket still drawn
    axes.set_xlabel("response time (ms)")
    axes.set_ylabel("share of requests at or below")
    axes.set_ylim(0, 1.01)
    axes.set_title(data.title, fontsize=9)
    if data.curves:
        axes.legend(loc="lower right", fontsize=7)


# ---- one endpoint: both of the above side by side ------------------------------------------------------------------
def draw_endpoint_detail(latency: LatencyOverTime | None, cdf: LatencyCdf | None) -> Figure:
    """Latency over time (wide) beside the distribution against the reference. One figure instead of two: half
    the drawing cost per endpoint, and the two views of one endpoint are read together anyway."""
    panels = [panel for panel in (latency, cdf) if panel is not None]
    if not panels:
        raise ValueError("an endpoint detail figure needs latency over time, a distribution, or both")
    widths = [2.0 if isinstance(panel, LatencyOverTime) else 1.0 for panel in panels]
    figure = _figure(3.8 * sum(widths), 3.6, right=0.3 if cdf is not None else 0.7, columns=len(panels), gap=1.4)
    all_axes = figure.subplots(1, len(panels), width_ratios=widths, squeeze=False)[0]
    for axes, panel in zip(all_axes, panels):
        if isinstance(panel, LatencyOverTime):
            _draw_latency_over_time(axes, panel)
        else:
            _draw_latency_cdf(axes, panel)
    return figure


# ---- regression chart ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RegressionBar:
    endpoint: str
    metric: str  # "p95 change"
    change: float  # relative change against the reference (0.3 = 30 % slower)
    low: float | None  # confidence interval of the change
    high: float | None
    verdict: Verdict


def regression_bars(decision: Decision) -> list[RegressionBar]:
    """Every endpoint-percentile comparison that has a change to show, in the decision's order."""
    return [
        RegressionBar(check.subject, check.metric, check.change,
                      check.interval[0] if check.interval else None, check.interval[1] if check.interval else None,
                      check.verdict)  # fmt: skip
        for check in decision.checks
        if check.metric.endswith(" change") and check.change is not None
    ]


def draw_regression_chart(bars: Sequence[RegressionBar], noise_threshold: float | None = None) -> Figure:
    height = max(2.5, 0.28 * len(bars) + 1.2)
    figure = _figure(9.0, height, left=3.3, right=0.3)  # room for "<endpoint key>  p95" labels
    axes = figure.add_subplot()
    rows = np.arange(len(bars))[::-1]  # first bar at the top
    for row, bar in zip(rows, bars):
        colour = VERDICT_COLOURS[bar.verdict]
        if bar.low is not None and bar.high is not None:
            axes.plot([bar.low * 100, bar.high * 100], [row, row], color=colour, linewidth=2.5, alpha=0.6)
        axes.plot([bar.change * 100], [row], "o", color=colour)
    axes.axvline(0, color="#333333", linewidth=0.8)
    if noise_threshold:
        axes.axvspan(-noise_threshold * 100, noise_threshold * 100, color="#eeeeee", zorder=0, label="noise band")
    axes.set_yticks(rows, [f"{bar.endpoint}  {bar.metric.removesuffix(' change')}" for bar in bars], fontsize=6)
    axes.set_xlabel("change against the reference (%), with its confidence interval")
    for verdict in dict.fromkeys(bar.verdict for bar in bars):
        axes.plot([], [], "o", color=VERDICT_COLOURS[verdict], label=verdict.value)  # legend entry per verdict
    axes.set_title("Change per endpoint and percentile against the reference run", fontsize=9)
    if bars:
        axes.legend(fontsize=7, loc="lower right")
    else:
        axes.text(0.5, 0.5, "no comparison with a reference run", ha="center", va="center", transform=axes.transAxes)
    return figure


# ---- trend across recorded runs ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Trend:
    labels: tuple[str, ...]  # one per run, oldest first
    metric: str  # "p95_ms"
    values: dict[str, np.ndarray]  # endpoint key -> one value per run (NaN where the run lacks it)


def trend(runs: Sequence[tuple[str, RunResult]], q: float = 0.95) -> Trend:
    """One point per run and endpoint: the percentile of that run's whole histogram for the endpoint."""
    keys = sorted({key for _, run in runs for key in run.endpoints})
    values = {}
    for key in keys:
        row = [run.endpoints[key].percentile(q) if key in run.endpoints else None for _, run in runs]
        values[key] = np.array([np.nan if value is None else value for value in row], dtype=np.float64)
    return Trend(tuple(label for label, _ in runs), f"p{q * 100:g}_ms", values)


def draw_trend(data: Trend) -> Figure:
    figure = _figure(11.0, 4.5, left=1.6, right=3.6, bottom=1.3)  # legend outside on the right, slanted run labels
    axes = figure.add_subplot()
    positions = np.arange(len(data.labels))
    for key, values in data.values.items():
        axes.plot(positions, values, marker="o", linewidth=1, markersize=3, label=key)
    axes.set_xticks(positions, data.labels, rotation=30, ha="right", fontsize=7)
    axes.set_ylabel(f"{data.metric.removesuffix('_ms')} (ms)")
    axes.set_ylim(bottom=0)
    axes.set_title(f"Trend across recorded runs: {data.metric.removesuffix('_ms')} per endpoint", fontsize=9)
    if data.values:
        axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return figure
