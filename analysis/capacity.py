"""Capacity planning from a step-load run: plateaus, SLA-bound capacity, a Universal Scalability Law fit, headroom
and a cost projection. Pure functions over already-loaded data (analysis/intervals.py, analysis/baseline.py);
reading files and writing the report live in analysis/capacity_cli.py.

Vocabulary:
    plateau     a stretch of consecutive intervals at one user count whose throughput and latency are steady;
                the intervals where the load was still settling (ramp transients) are left out, found from the
                data (not from the shape's schedule, which the analysis never sees).
    throughput  completed requests per second over a plateau, HTTP requests only (derived timings such as the
                "JOB ..." entries of scenarios/names.py are not requests). The USL is fitted to the goodput
                (successful requests per second): a system that answers fast with errors is not serving load.
    SLA-bound capacity   the highest plateau load below the first plateau that breaks any SLA.
    USL         X(N) = lambda*N / (1 + sigma*(N-1) + kappa*N*(N-1))   (Gunther). sigma: contention, kappa: coherency.
    knee        the load at which ideal linear scaling (lambda*N) would reach the peak throughput: X* / lambda.
                Below it users add throughput almost linearly; above it they mostly add queueing.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats
from scipy.optimize import OptimizeWarning, curve_fit

from analysis.baseline import Baseline, EndpointLimits
from analysis.decide import JOB_METHOD, NOT_RUN_WIDE_METHODS, Check, endpoint_checks
from analysis.histogram import Histogram
from analysis.intervals import IntervalSeries
from analysis.results import EndpointResult
from analysis.verdicts import Verdict

# Locust request types that are not HTTP requests, so not throughput: derived timings (scenarios/names.py:
# JOB_COMPLETION) and Realtime's websocket messages (WS, pushed per change; still judged per endpoint).
DERIVED_REQUEST_TYPES: tuple[str, ...] = NOT_RUN_WIDE_METHODS
REPORTED_PERCENTILES: tuple[float, ...] = (0.50, 0.95, 0.99)


# ---- plateau detection -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tolerance:
    """How far an interval may be from its load level's settled state, beyond its own sampling noise.

    Both tests are noise-aware, so they work for a 30-request interval of a mixed workload and for a 3000-request
    interval of one endpoint alike:
    - throughput: relative difference in requests/s, plus ``sigmas`` x the Poisson noise 1/sqrt(requests);
    - latency: where the interval's median falls in the settled latency distribution (0.5 = right in the middle).
      A sample median of n requests scatters there by about 0.5/sqrt(n), whatever the shape of the distribution
      (a mix of 15 ms reads and 2 s functions included), so the test is distribution-free.
    """

    throughput: float
    median_quantile: float  # slack around 0.5 for the interval median's position in the settled distribution
    sigmas: float


@dataclass(frozen=True)
class PlateauRules:
    """What "steady" means. The settled state of a load level is its later half.

    Two tolerances: a strict one decides which intervals at the edges of a level are transients (leaving out one
    interval too many costs little), a lax one decides whether what remains is steady (calling a plateau unsteady
    throws it away, so chance deviations must not do that).
    """

    min_steady_intervals: int = 2
    transient: Tolerance = Tolerance(throughput=0.05, median_quantile=0.05, sigmas=2.0)
    steady: Tolerance = Tolerance(throughput=0.10, median_quantile=0.10, sigmas=3.0)
    derived_request_types: tuple[str, ...] = DERIVED_REQUEST_TYPES


@dataclass(frozen=True)
class EndpointAtPlateau:
    key: str
    requests: int
    failures: int
    error_rate: float | None
    percentiles_ms: dict[float, int | None]  # REPORTED_PERCENTILES -> ms
    max_ms: float | None  # exact when Locust's CSV gives it, else the histogram's bucket
    verdict: Verdict | None  # None: the baseline sets no limit for this endpoint
    breaches: tuple[str, ...] = ()  # "p95 412 ms > 300 ms", one per broken limit
    worst_ratio: float = 0.0  # the largest measured/limit among the breaches: how far over it is


class JudgedWindow:
    """What a stretch of the run judged as one load level shares, in the closed model (a Plateau, by users) and the
    open one (analysis/capacity_open.py's OfferedLevel, by offered arrival rate): its HTTP request totals, every
    entry judged on its own against the baseline (``endpoints``, judge_window), and the discovery jobs among them.

    HTTP errors and failed jobs are two figures: a discovery job that fails is answered 200 all along (its submit and
    reads succeed), so it is never an HTTP error; the JOB entry (jobs that ended: completed, failed or timed out)
    counts it, and the discovery success-rate SLA (the JOB entry's fail_ratio) judges it.
    """

    requests: int  # HTTP requests (derived timings and WS messages left out)
    failures: int
    endpoints: Mapping[str, EndpointAtPlateau]

    @property
    def error_rate(self) -> float | None:
        """Failed HTTP requests / HTTP requests ("HTTP errors"): a failed discovery job is not among them."""
        return self.failures / self.requests if self.requests else None

    @property
    def jobs(self) -> int:
        """Jobs followed to their end in this window (the JOB entries: completed, failed or timed out)."""
        return sum(e.requests for e in self._job_entries())

    @property
    def failed_jobs(self) -> int:
        return sum(e.failures for e in self._job_entries())

    @property
    def job_failure_rate(self) -> float | None:
        """Failed (or timed-out) jobs / jobs: what the discovery success SLA judges, apart from the HTTP errors."""
        return self.failed_jobs / self.jobs if self.jobs else None

    def _job_entries(self) -> list[EndpointAtPlateau]:
        return [e for key, e in self.endpoints.items() if key.split(" ", 1)[0] == JOB_METHOD]

    @property
    def breached(self) -> list[EndpointAtPlateau]:
        return [e for e in self.endpoints.values() if e.verdict == Verdict.BREACH]

    @property
    def sla_holds(self) -> bool:
        return not self.breached

    @property
    def bottleneck(self) -> EndpointAtPlateau | None:
        """The breaking entry furthest over its limit (None: nothing broke)."""
        return max(self.breached, key=lambda e: e.worst_ratio, default=None)


def format_share(part: int, whole: int) -> str:
    """"21.43% (36/168)": a window's failed share with the counts it comes from; "-" when there were none."""
    return f"{part / whole:.2%} ({part}/{whole})" if whole else "-"


@dataclass(frozen=True)
class Plateau(JudgedWindow):
    users: int
    first_interval: int  # index into the interval series
    stop_interval: int  # exclusive
    transient_intervals: int  # intervals at this user count left out as ramp transients
    duration_s: float
    requests: int
    failures: int
    throughput_rps: float
    goodput_rps: float
    endpoints: dict[str, EndpointAtPlateau]
    # The generator's gauges over the plateau (intervals.jsonl "gauges", e.g. realtime_connections), mean.
    gauges: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RejectedLevel:
    """A user count the run visited that gave no usable plateau, and why."""

    users: int
    intervals: int
    reason: str


@dataclass(frozen=True)
class PlateauDetection:
    plateaus: list[Plateau]
    rejected: list[RejectedLevel]


def http_endpoint_keys(series: IntervalSeries, rules: PlateauRules = PlateauRules()) -> list[str]:
    return [key for key in series.endpoints if key.split(" ", 1)[0] not in rules.derived_request_types]


def detect_plateaus(series: IntervalSeries, baseline: Baseline | None = None, rules: PlateauRules = PlateauRules()) -> PlateauDetection:
    """Split the run into steady plateaus, each judged against ``baseline`` (None: no SLA verdicts)."""
    keys = http_endpoint_keys(series, rules)
    requests = _sum_columns([series.endpoints[k].requests for k in keys], len(series))
    covered = series.durations > 0  # an interval the run did not cover at all has no rate (NaN), not zero
    rates = np.full(len(series), np.nan)
    rates[covered] = requests[covered] / series.durations[covered]
    latencies = [Histogram.merge_all(series.endpoints[k].histogram(i) for k in keys) for i in range(len(series))]

    plateaus: list[Plateau] = []
    rejected: list[RejectedLevel] = []
    for start, stop in _runs_of_equal_users(series.user_counts):
        users = int(series.user_counts[start])
        if users == 0:
            continue  # before the first user or after the last: not a load level
        steady = _steady_span(rates[start:stop], requests[start:stop], latencies[start:stop], rules)
        if isinstance(steady, str):
            rejected.append(RejectedLevel(users, stop - start, steady))
            continue
        first, last = start + steady[0], start + steady[1]
        plateaus.append(_summarise(series, keys, users, first, last, first - start, baseline))
    return PlateauDetection(plateaus, rejected)


def _sum_columns(columns: list[np.ndarray], length: int) -> np.ndarray:
    return np.asarray(np.sum(columns, axis=0, dtype=np.int64)) if columns else np.zeros(length, dtype=np.int64)


def _runs_of_equal_users(user_counts: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index ranges of consecutive intervals with the same user count."""
    if len(user_counts) == 0:
        return []
    change_points = np.flatnonzero(np.diff(user_counts) != 0) + 1
    edges = [0, *change_points.tolist(), len(user_counts)]
    return list(zip(edges[:-1], edges[1:]))


def _steady_span(rates: np.ndarray, requests: np.ndarray, latencies: list[Histogram], rules: PlateauRules) -> tuple[int, int] | str:
    """The steady part [first, stop) of one user level, or the reason there is none.

    The level's settled state is its later half (a step's transient is at its start). Intervals are trimmed from the
    start while they differ from it (the ramp: users still starting, queues still filling) and from the end (the run
    stopping, or the next step's spawn landing in the last interval). What remains must all be steady.
    """
    count = len(rates)
    if count < rules.min_steady_intervals:
        return f"only {count} interval(s) at this load; need {rules.min_steady_intervals} steady ones"
    if np.nansum(requests) == 0:
        return "no requests at this load"
    tail = range(count // 2, count)
    reference_rate = float(np.nanmedian(rates[tail.start:]))
    settled = Histogram.merge_all(latencies[i] for i in tail)
    median_offsets = [_median_offset(h, settled) for h in latencies]

    def within(i: int, tolerance: Tolerance) -> bool:
        rate, n = rates[i], int(requests[i])
        if not math.isfinite(rate) or reference_rate <= 0:
            return False
        noise = 1.0 / math.sqrt(max(n, 1))
        if abs(rate - reference_rate) > (tolerance.throughput + tolerance.sigmas * noise) * reference_rate:
            return False
        offset, timed = median_offsets[i], latencies[i].count
        if offset is None:
            return timed == 0 and settled.count == 0  # no latencies at all is steady only if none are expected
        return offset <= tolerance.median_quantile + tolerance.sigmas * 0.5 / math.sqrt(timed)

    first, stop = 0, count
    while first < stop and not within(first, rules.transient):
        first += 1
    while stop > first and not within(stop - 1, rules.transient):
        stop -= 1
    if stop - first < rules.min_steady_intervals:
        return (f"throughput/latency never settled ({stop - first} steady interval(s) of {count}); "
                "use longer steps (--step-seconds)")
    unsteady = [i for i in range(first, stop) if not within(i, rules.steady)]
    if unsteady:
        return (f"throughput/latency not steady ({len(unsteady)} of {stop - first} intervals far off the settled level "
                "in mid-plateau); use longer steps or check the target for oscillation")
    return first, stop


def _median_offset(interval: Histogram, settled: Histogram) -> float | None:
    """How far (in quantiles) the interval's median lies from the middle of the settled distribution.

    The median's bucket covers the quantile range [share strictly below it, share up to and including it]; the offset
    is 0 when that range contains 0.5. Using the range, not a point, matters for concentrated latencies (a fixed
    service time puts half the requests in one bucket): a median in that bucket is right in the middle.
    """
    median = interval.percentile(0.5)
    if median is None or not settled.count:
        return None
    below = int(settled.counts[settled.buckets < median].sum()) / settled.count
    up_to = int(settled.counts[settled.buckets <= median].sum()) / settled.count
    if below <= 0.5 <= up_to:
        return 0.0
    return min(abs(below - 0.5), abs(up_to - 0.5))


def _summarise(series: IntervalSeries, keys: list[str], users: int, first: int, stop: int, transients: int,
               baseline: Baseline | None) -> Plateau:
    duration = float(np.sum(series.durations[first:stop]))
    endpoints = judge_window(series, first, stop, baseline)
    http_requests = sum(endpoints[k].requests for k in keys if k in endpoints)
    http_failures = sum(endpoints[k].failures for k in keys if k in endpoints)
    return Plateau(
        users=users, first_interval=first, stop_interval=stop, transient_intervals=transients, duration_s=duration,
        requests=http_requests, failures=http_failures,
        throughput_rps=http_requests / duration if duration else 0.0,
        goodput_rps=(http_requests - http_failures) / duration if duration else 0.0,
        endpoints=endpoints,
        gauges={name: float(np.nanmean(values[first:stop])) for name, values in series.gauges.items()
                if not np.all(np.isnan(values[first:stop]))},
    )


def judge_window(series: IntervalSeries, first: int, stop: int, baseline: Baseline | None) -> dict[str, EndpointAtPlateau]:
    """Every entry with requests in intervals [first, stop) (HTTP, JOB and WS alike), its counts and merged histogram
    judged against ``baseline`` (None: no verdicts), as the gate judges each entry of a run."""
    endpoints = {}
    for key, endpoint in series.endpoints.items():
        requests = int(endpoint.requests[first:stop].sum())
        if requests == 0:
            continue
        failures = int(endpoint.failures[first:stop].sum())
        limits = baseline.limits_for(key) if baseline is not None else None
        endpoints[key] = judge_endpoint(key, requests, failures, endpoint.merged(first, stop), limits)
    return endpoints


def judge_endpoint(key: str, requests: int, failures: int, histogram: Histogram, limits: EndpointLimits | None,
                   csv_percentiles: Mapping[float, int] | None = None, csv_max_ms: float | None = None) -> EndpointAtPlateau:  # fmt: skip
    """Percentiles from the merged histogram, and the SLA verdict against ``limits`` (None: no baseline).

    The verdict comes from the same ``endpoint_checks`` the gate uses, so a plateau is judged exactly like a run.
    ``min_rps`` is left out: a plateau's request rate is set by its load level, not a property to hold it to.
    ``csv_percentiles`` (plain Locust CSV input, no histograms): Locust's own percentile columns are judged instead,
    and ``csv_max_ms`` as the maximum.
    """
    if csv_percentiles is not None:
        percentiles = {q: csv_percentiles.get(q) for q in REPORTED_PERCENTILES}
        max_ms = csv_max_ms
    else:
        percentiles = dict(zip(REPORTED_PERCENTILES, histogram.percentiles(REPORTED_PERCENTILES)))
        max_ms = histogram.max

    def at_plateau(verdict: Verdict | None, breaches: tuple[str, ...] = (), worst_ratio: float = 0.0) -> EndpointAtPlateau:
        return EndpointAtPlateau(key=key, requests=requests, failures=failures,
                                 error_rate=failures / requests if requests else None, percentiles_ms=percentiles,
                                 max_ms=max_ms, verdict=verdict, breaches=breaches, worst_ratio=worst_ratio)  # fmt: skip

    method, name = key.split(" ", 1)
    measured = EndpointResult(method=method, name=name, requests=requests, failures=failures,
                              histogram=None if csv_percentiles is not None else histogram,
                              csv_percentiles=csv_percentiles or {}, max_ms=max_ms if csv_percentiles is not None else None)  # fmt: skip
    checks = [c for c in endpoint_checks(measured, limits) if c.metric != "min_rps"] if limits is not None else []
    if not checks:
        return at_plateau(None)
    breaches = [c for c in checks if c.verdict == Verdict.BREACH]
    if breaches:
        described = tuple(_describe_breach(c, jobs=method == JOB_METHOD) for c in breaches)
        return at_plateau(Verdict.BREACH, described, max(_over_limit_ratio(c) for c in breaches))
    if any(c.verdict == Verdict.INCONCLUSIVE for c in checks):
        return at_plateau(Verdict.INCONCLUSIVE)
    return at_plateau(Verdict.PASS)


def _describe_breach(check: Check, *, jobs: bool = False) -> str:
    """"p95 412 ms > 300 ms"; a JOB entry's fail ratio counts jobs, so it says "failed jobs", not "errors"."""
    if check.metric == "fail_ratio":
        return f"{'failed jobs' if jobs else 'errors'} {check.actual:.1%} > {check.limit:.1%}"
    return f"{check.metric.removesuffix('_ms')} {check.actual:g} ms > {check.limit:g} ms"


def _over_limit_ratio(check: Check) -> float:
    if check.actual is None or not check.limit:  # a breach proven by counts alone, or a zero limit: past any ratio
        return math.inf
    return check.actual / check.limit


# ---- SLA-bound capacity ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SlaCapacity:
    """The highest load with every SLA holding, below the first load that breaks one.

    ``capacity_users`` None: the lowest load tested already breaks an SLA. ``lower_bound``: no tested load broke
    an SLA, so the capacity is at least ``capacity_users``.
    """

    capacity_users: int | None
    capacity_throughput_rps: float | None
    lower_bound: bool
    first_breach_users: int | None
    bottleneck: str | None  # the endpoint furthest over its limit at the first breaking load
    bottleneck_breaches: tuple[str, ...] = ()
    also_breached: tuple[str, ...] = ()  # other endpoints breaking at that same load
    judged: bool = True  # False: no baseline limits applied to any endpoint


def sla_capacity(plateaus: Sequence[Plateau]) -> SlaCapacity | None:
    """None when there is no plateau at all."""
    if not plateaus:
        return None
    ordered = sorted(plateaus, key=lambda p: p.users)
    judged = any(e.verdict is not None for p in ordered for e in p.endpoints.values())
    first_breaking = next((p for p in ordered if not p.sla_holds), None)
    if first_breaking is None:
        top = ordered[-1]
        return SlaCapacity(top.users, top.goodput_rps, True, None, None, judged=judged)
    below = [p for p in ordered if p.users < first_breaking.users]
    worst = first_breaking.bottleneck
    assert worst is not None  # it broke an SLA
    others = tuple(e.key for e in first_breaking.breached if e.key != worst.key)
    best = below[-1] if below else None
    return SlaCapacity(
        capacity_users=best.users if best else None,
        capacity_throughput_rps=best.goodput_rps if best else None,
        lower_bound=False,
        first_breach_users=first_breaking.users,
        bottleneck=worst.key,
        bottleneck_breaches=worst.breaches,
        also_breached=others,
        judged=judged,
    )


# ---- Universal Scalability Law ---------------------------------------------------------------------------------
def usl_throughput(users: np.ndarray | float, lam: float, sigma: float, kappa: float) -> np.ndarray | float:
    users = np.asarray(users, dtype=np.float64)
    return lam * users / (1.0 + sigma * (users - 1.0) + kappa * users * (users - 1.0))


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float  # bounds of the confidence interval; may be inf for an unbounded peak
    high: float


@dataclass(frozen=True)
class UslFit:
    lam: Estimate
    sigma: Estimate
    kappa: Estimate
    peak_users: Estimate | None  # None: kappa is 0, throughput levels off without a peak (asymptote instead)
    peak_throughput_rps: Estimate
    knee_users: float
    r_squared: float
    confidence: float
    points: int
    max_tested_users: int
    covariance: np.ndarray = field(repr=False)
    notes: tuple[str, ...] = ()

    def curve(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(usl_throughput(users, self.lam.value, self.sigma.value, self.kappa.value))


@dataclass(frozen=True)
class NotEnoughData:
    """Why there is no fit, and what to change in the next run."""

    reason: str
    advice: str


@dataclass(frozen=True)
class FitSettings:
    min_points: int = 4  # three parameters: with fewer than four plateaus any curve fits exactly
    confidence: float = 0.95
    draws: int = 2000  # parameter draws from the covariance for the peak's interval and the curve's band
    seed: int = 20261126  # fixed: the same data always gives the same intervals
    extrapolation_factor: float = 2.0  # a peak beyond this times the highest load tested is not reported


def fit_usl(users: Sequence[float], throughput: Sequence[float], settings: FitSettings = FitSettings()) -> UslFit | NotEnoughData:
    """Fit the USL to (users, throughput) plateau points; NotEnoughData instead of a curve the data cannot carry."""
    n = np.asarray(users, dtype=np.float64)
    x = np.asarray(throughput, dtype=np.float64)
    distinct = len(np.unique(n))
    more_steps = "run more steps (--steps or --step-max-users) and make each long enough to settle (--step-seconds)"
    if distinct < settings.min_points:
        return NotEnoughData(
            f"{distinct} steady load level(s); the three-parameter USL needs at least {settings.min_points}", more_steps)
    if np.any(x <= 0) or not np.all(np.isfinite(x)):
        return NotEnoughData("a plateau served no successful requests", "check the target; a load level with zero goodput cannot be fitted")
    if np.max(x) < 1.25 * np.min(x) and np.max(n) >= 2 * np.min(n):
        return NotEnoughData("throughput did not grow with load: the system was saturated at the lowest load tested",
                             "start the steps lower (fewer --step-users) so the first plateaus are below saturation")

    lowest = int(np.argmin(n))
    initial = (x[lowest] / n[lowest], 0.01, 0.0001)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", OptimizeWarning)
            params, covariance = curve_fit(usl_throughput, n, x, p0=initial,
                                           bounds=([0.0, 0.0, 0.0], [np.inf, 1.0, 1.0]), maxfev=20000)
    except (RuntimeError, OptimizeWarning, ValueError) as error:
        return NotEnoughData(f"the USL fit did not converge ({error})", more_steps)
    if not np.all(np.isfinite(covariance)):
        return NotEnoughData("the USL parameters are not determined by these points (infinite covariance)", more_steps)

    lam, sigma, kappa = (float(v) for v in params)
    dof = max(len(n) - 3, 1)
    t_value = float(stats.t.ppf(0.5 + settings.confidence / 2, dof))
    errors = np.sqrt(np.clip(np.diag(covariance), 0, None))
    bounds_low, bounds_high = (0.0, 0.0, 0.0), (math.inf, 1.0, 1.0)
    lam_e, sigma_e, kappa_e = (
        Estimate(v, float(max(lo, v - t_value * e)), float(min(hi, v + t_value * e)))
        for v, e, lo, hi in zip((lam, sigma, kappa), errors, bounds_low, bounds_high)
    )

    residuals = x - usl_throughput(n, lam, sigma, kappa)
    total = float(np.sum((x - x.mean()) ** 2))
    r_squared = 1.0 - float(np.sum(residuals**2)) / total if total > 0 else 0.0

    draws = _parameter_draws(params, covariance, settings)
    peak_users_value, peak_x_value = usl_peak(lam, sigma, kappa)
    if peak_x_value is None:
        return NotEnoughData(
            f"throughput still grows linearly up to {int(n.max())} users (sigma = kappa = 0): no saturation in the tested range",
            f"add steps beyond {int(n.max())} users (--steps or --step-max-users) until throughput stops growing")
    draw_peaks = np.array([usl_peak(*d) for d in draws], dtype=object)
    peak_x_draws = np.array([p[1] if p[1] is not None else math.inf for p in draw_peaks], dtype=np.float64)
    alpha = (1 - settings.confidence) / 2
    peak_throughput = Estimate(peak_x_value, *_quantiles(peak_x_draws, alpha))
    peak_users = None
    if peak_users_value is not None:
        peak_n_draws = np.array([p[0] if p[0] is not None else math.inf for p in draw_peaks], dtype=np.float64)
        peak_users = Estimate(peak_users_value, *_quantiles(peak_n_draws, alpha))

    max_tested = float(n.max())
    knee = peak_x_value / lam if lam > 0 else math.inf
    # The peak is only measured if the tested loads reach it; otherwise the curve would be extrapolating.
    reach = peak_users_value if peak_users_value is not None else knee
    if reach > settings.extrapolation_factor * max_tested or float(x.max()) < 0.8 * peak_x_value:
        if reach <= 10 * max_tested:
            where = f"the fitted peak ({peak_x_value:.4g} req/s near {reach:.3g} users) lies beyond"
            advice = f"add steps up to about {math.ceil(reach)} users (--steps or --step-max-users)"
        else:
            where = "throughput still grows almost linearly; no peak within ten times"
            advice = (f"add steps well beyond {int(max_tested)} users (e.g. --step-max-users {4 * int(max_tested)}) "
                      "until throughput stops growing")
        return NotEnoughData(f"no saturation in the tested range: {where} the highest load tested ({int(max_tested)} users)",
                             advice)
    notes: list[str] = []
    if r_squared < 0.8:
        notes.append(f"the USL describes these points poorly (R^2 = {r_squared:.2f}); read the curve with care")
    if kappa == 0:
        notes.append("kappa = 0: throughput levels off without falling; the peak is the asymptote lambda/sigma")
    return UslFit(
        lam=lam_e, sigma=sigma_e, kappa=kappa_e, peak_users=peak_users, peak_throughput_rps=peak_throughput,
        knee_users=knee, r_squared=r_squared, confidence=settings.confidence, points=len(n),
        max_tested_users=int(max_tested), covariance=covariance, notes=tuple(notes),
    )


def usl_peak(lam: float, sigma: float, kappa: float) -> tuple[float | None, float | None]:
    """(N*, X*): with kappa > 0 the maximum at N* = sqrt((1 - sigma) / kappa); with kappa = 0 and sigma > 0 no
    maximum, and X* is the asymptote lambda / sigma (N* None); with both 0, linear scaling: (None, None)."""
    if kappa > 0:
        peak_n = math.sqrt(max(1.0 - sigma, 0.0) / kappa)
        peak_n = max(peak_n, 1.0)
        return peak_n, float(usl_throughput(peak_n, lam, sigma, kappa))
    if sigma > 0:
        return None, lam / sigma
    return None, None


def usl_band(fit: UslFit, users: np.ndarray, settings: FitSettings = FitSettings()) -> tuple[np.ndarray, np.ndarray]:
    """The pointwise confidence band of the fitted curve (from parameter draws of the fit's covariance)."""
    params = np.array([fit.lam.value, fit.sigma.value, fit.kappa.value])
    draws = _parameter_draws(params, fit.covariance, settings)
    curves = np.array([usl_throughput(users, *d) for d in draws])
    alpha = (1 - fit.confidence) / 2
    return np.quantile(curves, alpha, axis=0), np.quantile(curves, 1 - alpha, axis=0)


def _parameter_draws(params: np.ndarray, covariance: np.ndarray, settings: FitSettings) -> np.ndarray:
    """Parameter sets drawn from the fit's normal approximation, clipped to the USL's bounds (lambda, sigma, kappa >= 0;
    sigma, kappa <= 1). A parametric bootstrap: cheap, deterministic (seeded), and honest about correlations."""
    rng = np.random.default_rng(settings.seed)
    draws = rng.multivariate_normal(params, covariance, size=settings.draws, check_valid="ignore", method="eigh")
    draws[:, 0] = np.clip(draws[:, 0], 0.0, None)
    draws[:, 1:] = np.clip(draws[:, 1:], 0.0, 1.0)
    return draws


def _quantiles(values: np.ndarray, alpha: float) -> tuple[float, float]:
    # np.quantile interpolates; between a finite value and inf that is inf, between two infs nan -> read as inf.
    ordered = np.sort(values)
    low_index = int(math.floor(alpha * (len(ordered) - 1)))
    high_index = int(math.ceil((1 - alpha) * (len(ordered) - 1)))
    return float(ordered[low_index]), float(ordered[high_index])


# ---- headroom and cost -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Headroom:
    expected_users: int
    capacity_users: int | None
    ratio: float | None  # capacity / expected; None when the capacity is unknown
    lower_bound: bool  # the capacity is only "at least" (no tested load broke an SLA)
    predicted_throughput_rps: float | None  # the USL curve at the expected load, when there is a fit

    @property
    def headroom_fraction(self) -> float | None:
        return self.ratio - 1.0 if self.ratio is not None else None


def headroom(expected_users: int, capacity: SlaCapacity | None, fit: UslFit | NotEnoughData | None) -> Headroom:
    capacity_users = capacity.capacity_users if capacity else None
    ratio = capacity_users / expected_users if capacity_users is not None and expected_users > 0 else None
    predicted = float(fit.curve(np.array([expected_users]))[0]) if isinstance(fit, UslFit) else None
    return Headroom(expected_users, capacity_users, ratio, bool(capacity and capacity.lower_bound), predicted)


@dataclass(frozen=True)
class CostProjection:
    cost_per_discovery_usd: float
    monthly_discoveries: float | None
    monthly_budget_usd: float
    monthly_cost_usd: float | None
    budget_share: float | None  # monthly cost / budget
    discoveries_budget_allows: float  # per month, at the measured cost per discovery
    source_of_volume: str  # how the monthly discoveries were obtained


def discoveries_per_user_hour(discoveries: int, user_seconds: float) -> float | None:
    """The run's discovery rate per concurrent user; None when the run had no user time."""
    return discoveries / (user_seconds / 3600.0) if user_seconds > 0 else None


def project_cost(cost_per_discovery_usd: float, monthly_budget_usd: float, monthly_discoveries: float | None,
                 source_of_volume: str) -> CostProjection:
    monthly_cost = cost_per_discovery_usd * monthly_discoveries if monthly_discoveries is not None else None
    allows = monthly_budget_usd / cost_per_discovery_usd if cost_per_discovery_usd > 0 else math.inf
    return CostProjection(
        cost_per_discovery_usd=cost_per_discovery_usd,
        monthly_discoveries=monthly_discoveries,
        monthly_budget_usd=monthly_budget_usd,
        monthly_cost_usd=monthly_cost,
        budget_share=monthly_cost / monthly_budget_usd if monthly_cost is not None and monthly_budget_usd > 0 else None,
        discoveries_budget_allows=allows,
        source_of_volume=source_of_volume,
    )


def user_seconds(series: IntervalSeries) -> float:
    return float(np.sum(series.user_counts * series.durations))


# ---- the whole analysis ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CapacityAnalysis:
    detection: PlateauDetection
    capacity: SlaCapacity | None
    fit: UslFit | NotEnoughData
    interval_s: float


def analyse(series: IntervalSeries, baseline: Baseline | None, rules: PlateauRules = PlateauRules(),
            fit_settings: FitSettings = FitSettings()) -> CapacityAnalysis:
    detection = detect_plateaus(series, baseline, rules)
    plateaus = detection.plateaus
    if not plateaus:
        fit: UslFit | NotEnoughData = NotEnoughData(
            "no steady plateau in the run",
            "run a step shape (--load-shape step) with steps long enough to settle: several intervals each (--step-seconds)")
    else:
        fit = fit_usl([p.users for p in plateaus], [p.goodput_rps for p in plateaus], fit_settings)
    return CapacityAnalysis(detection, sla_capacity(plateaus), fit, series.interval_s)


def plateau_table(plateaus: Sequence[Plateau]) -> Mapping[str, np.ndarray]:
    """Columns for plots and tables, ordered by load."""
    ordered = sorted(plateaus, key=lambda p: p.users)
    return {
        "users": np.array([p.users for p in ordered], dtype=np.float64),
        "throughput_rps": np.array([p.throughput_rps for p in ordered]),
        "goodput_rps": np.array([p.goodput_rps for p in ordered]),
        "error_rate": np.array([p.error_rate if p.error_rate is not None else np.nan for p in ordered]),
    }
