"""Is one endpoint's latency different from the reference's? An interval that must clear the noise band.

The test is a bootstrap confidence interval of the relative change in a percentile, computed on the full
histograms: each run's requests are resampled with replacement, the percentile is taken from every resample the
way Locust takes it, and the interval is read from the distribution of ``current / reference - 1`` over paired
replicates. Vectorised with numpy, no Python loop over resamples (see bootstrap_percentiles for the shortcut).

That interval holds only the sampling noise inside each run. Two runs of an unchanged system also differ by
machine load, warm-up and the rest of the mix. When the reference holds two or more recorded runs
(analysis/reference.py), the interval becomes the prediction interval of an unchanged run instead: how far a run's
log percentile lands from the reference runs' mean, measured between those runs, per endpoint and per percentile
(``moderated_spreads``), the current run bringing its own deviation and the reference's mean 1/R of one
(``RunSpread.scale``). The between-run variance of a log percentile holds each run's sampling noise too, so it is
not reduced by the bootstrap's estimate of that noise before use: a difference of two estimates is often 0 by
chance, and a Student t scales 0 to 0 (an unchanged run's background-discovery p95 of +18 % was called regressed
that way). The bootstrap only adds what the current run has beyond a reference run (fewer samples).

**Why per percentile.** A p50 and a p95 do not move alike from run to run: measured on this machine, a CSV
download's p50 ~2 %, its p95 ~8 %; a PostgREST read's p50 3 %, its p95 44 %. Pooling the two (as this gate once
did) made the p50 interval too wide (a real +25 % p50 slowdown got [+4 %, +51 %], "unchanged") and the p95
interval too narrow.

**Why moderated across endpoints (empirical Bayes, Smyth 2004).** One percentile of three runs has only 2 degrees
of freedom, and a Student t with 2 at the level the run's ~40 tests share (0.5 / 40, two-sided) is ~8.9 standard
deviations: no test at all. Cutting the runs into parts (as the sequential gate does) does not add degrees of
freedom for what matters: a run's effect (the machine's load during that run) is shared by all its parts, so five
parts of three runs still hold three run effects (measured on synthetic runs that vary as this machine's do: a t
with the parts' 10 degrees of freedom called 21 % of unchanged runs regressed). The other endpoints of the same
runs do hold information: how much a percentile moves follows how fast the endpoint is (a 2 ms Realtime message
~40 %, a 20 ms PostgREST read ~10 %, a 400 ms export ~2 %: the machine's load adds milliseconds, which weigh more on
fast requests). So each endpoint's own variance (R - 1 degrees of freedom) is shrunk toward a prior read from all
endpoints' variances: a trend of log variance over the log of the endpoint's median, with d0 prior degrees of
freedom set by how far the endpoints scatter around the trend, and the test is a Student t with d0 + R - 1
degrees of freedom. With three runs an endpoint's own log variance is so noisy that the scatter is nearly
invisible, which would make d0 large and every interval narrow: d0 is taken where the scatter is at the upper end
of its 95 % interval (a smaller d0, wider intervals) and never above MAX_PRIOR_DEGREES_OF_FREEDOM. What it rests
on: endpoints of about the same speed vary about alike, except by the scatter it measured. An endpoint that moves
far more than others as fast (it happens: the trend is a model, not a law) gets too narrow an interval; more
reference runs make its own estimate count more. The median, not the percentile judged, places an endpoint on the
trend: a Realtime message's 70 ms p95 varies like its 1 ms median, not like a 70 ms PostgREST read.
benchmarks/bench_regression.py --varying measures the A/A false-alarm share on synthetic runs that vary as
measured on this machine, endpoint by endpoint.

Verdicts (analysis.verdicts.Verdict): regressed only when the whole interval is above the noise band
(``low > min_relative_change``) and above 1.5 Locust bucket steps, improved only when it is wholly below minus
them; unchanged otherwise;
inconclusive when either side has too few samples to judge. Exit code 4 is a verdict on the whole run, so the
false-alarm rate that matters is per run: the confidence is split (Bonferroni) across every percentile of every
endpoint tested in the run. benchmarks/bench_regression.py measures the share of unchanged runs called
"regressed", on synthetic draws and on repeated real runs against the simulator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import chdtri, digamma, polygamma, stdtrit

from analysis.baseline import RegressionRule
from analysis.histogram import Histogram
from analysis.verdicts import Verdict

# The most weight the trend of the endpoints' variation (the prior) may carry, in degrees of freedom: however well
# the endpoints seem to follow it, an endpoint's own runs still count (see the module docstring).
MAX_PRIOR_DEGREES_OF_FREEDOM = 10.0
# A run's interval histograms, by the interval's end in seconds since the start (analysis/reference.py).
Timeline = Sequence[tuple[float, Mapping[str, Histogram]]]

@dataclass(frozen=True)
class PercentileChange:
    q: float
    verdict: Verdict
    reference_ms: int | None
    current_ms: int | None
    relative_change: float | None  # point estimate: current / reference - 1
    interval: tuple[float, float] | None  # confidence interval of the relative change
    reason: str = ""


def bootstrap_percentiles(histogram: Histogram, qs: list[float], resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(resamples x len(qs)) bootstrap replicates of Locust's percentiles of ``histogram``.

    Resampling N requests with replacement and taking Locust's percentile means taking one order statistic of the
    resample: Locust's q-percentile is the sorted value at 0-based index k = min(int(N * q), N - 1). Only that one
    order statistic is needed, and the k-th smallest of N uniforms is Beta(k + 1, N - k) distributed, so each
    replicate is one Beta draw mapped through the histogram's inverse CDF. Same distribution as resampling the
    requests (a test checks it against literal resampling), ~35x faster than drawing whole multinomial resamples.
    Each column is a marginal bootstrap distribution; the percentiles are judged one at a time.
    """
    total = histogram.count
    cumulative = np.cumsum(histogram.counts)
    result = np.empty((resamples, len(qs)), dtype=np.float64)
    for column, q in enumerate(qs):
        k = min(int(np.floor(total * q)), total - 1)
        uniform_order_statistic = rng.beta(k + 1, total - k, size=resamples)
        position = np.minimum(np.floor(uniform_order_statistic * total), total - 1)  # index into the sorted requests
        result[:, column] = histogram.buckets[np.searchsorted(cumulative, position, side="right")]
    return result


def bucket_step(value_ms: float) -> int:
    """The width of Locust's histogram bucket at ``value_ms`` (analysis/histogram.py: 1, 10, 100 or 1000 ms)."""
    return 1 if value_ms < 100 else 10 if value_ms < 1000 else 100 if value_ms < 10000 else 1000


def has_enough_samples(reference: Histogram, current: Histogram, rule: RegressionRule) -> bool:
    return min(reference.count, current.count) >= rule.min_samples


# ---- the run effect alone, per endpoint and part: the sequential gate's noise factor (analysis/sequential.py) ----
@dataclass(frozen=True)
class RunToRunVariance:
    """How much an endpoint's log percentile moves from run to run, beyond sampling noise, for one endpoint."""

    log_variance: float  # tau^2: variance of one run's log percentile from run to run, sampling noise removed
    runs: int  # R, the reference runs it was measured on
    degrees_of_freedom: int  # (R - 1) per part (and per percentile) it was measured on

    @property
    def added_scale(self) -> float:
        """Scale of what a comparison with the R runs' merged reference adds: this run's effect plus 1/R of one."""
        return float(np.sqrt(self.log_variance * (1 + 1 / self.runs)))


@dataclass(frozen=True)
class RunToRun:
    """Run-to-run variation measured between a reference's runs: per endpoint, and pooled for the others."""

    by_endpoint: dict[str, RunToRunVariance]
    pooled: RunToRunVariance

    def for_endpoint(self, key: str) -> RunToRunVariance:
        return self.by_endpoint.get(key, self.pooled)


def run_to_run_variance(runs: Sequence[Mapping[str, Histogram]], rule: RegressionRule) -> RunToRun | None:
    """tau^2 per endpoint, from the reference runs that each measured it with enough samples.

    Per endpoint, because it differs by an order of magnitude between endpoints (measured on the simulator: a
    10 ms PostgREST read moves ~40 % from run to run with the machine's load, a 200 ms orchestrator call ~6 %).
    For each percentile, the between-run variance of the log percentile (R - 1 degrees of freedom) minus the mean
    of the runs' own sampling variances (bootstrap) estimates the run effect; the rule's percentiles are pooled
    (floored at 0). Endpoints not measured by every run get the mean over the others. None with fewer than two runs.
    Neither gate uses it any more (both use ``moderated_spreads``): benchmarks/bench_regression.py keeps it to
    show what the pooled estimate did.
    """
    if len(runs) < 2:
        return None
    qs = list(rule.percentiles)
    rng = np.random.default_rng(rule.seed + 1)
    keys = sorted(set.intersection(*(set(run) for run in runs)))
    by_endpoint = {}
    for key in keys:
        histograms = [run[key] for run in runs]
        if min(h.count for h in histograms) < rule.min_samples:
            continue
        replicates = [bootstrap_percentiles(h, qs, 2000, rng) for h in histograms]
        excess = []
        for column, q in enumerate(qs):
            points = np.array([h.percentile(q) for h in histograms], dtype=np.float64)
            if np.any(points <= 0) or any(np.any(r[:, column] <= 0) for r in replicates):
                continue
            between = float(np.var(np.log(points), ddof=1))
            within = float(np.mean([np.var(np.log(r[:, column])) for r in replicates]))
            excess.append(between - within)
        if excess:
            by_endpoint[key] = RunToRunVariance(max(0.0, float(np.mean(excess))), len(runs), len(excess) * (len(runs) - 1))
    if by_endpoint:
        pooled = RunToRunVariance(float(np.mean([v.log_variance for v in by_endpoint.values()])), len(runs),
                                  sum(v.degrees_of_freedom for v in by_endpoint.values()))  # fmt: skip
    else:
        pooled = RunToRunVariance(0.0, len(runs), len(runs) - 1)
    return RunToRun(by_endpoint, pooled)


def part_index(end_s: float, part_s: float, parts: int) -> int:
    """The part (0-based) of an interval ending ``end_s`` seconds after the start: parts of ``part_s`` seconds, the
    last one open-ended."""
    return min(max(0, math.ceil(end_s / part_s) - 1), parts - 1)


def split_timelines(timelines: Sequence[Timeline], part_s: float, parts: int | None = None) -> list[list[dict[str, Histogram]]]:
    """The runs cut into parts of ``part_s`` seconds by each interval's end: ``[part][run]`` -> each endpoint's
    histogram over that part of that run. ``parts``: how many (default: as many whole parts as the runs' common
    length holds, at least one); the last part is open-ended (a run longer than the others adds to it)."""
    if parts is None:
        common = min(timeline[-1][0] for timeline in timelines)
        parts = max(1, int(common // part_s))
    collected: list[list[dict[str, list[Histogram]]]] = [[{} for _ in timelines] for _ in range(parts)]
    for number, timeline in enumerate(timelines):
        for end_s, histograms in timeline:
            into = collected[part_index(end_s, part_s, parts)][number]
            for key, histogram in histograms.items():
                into.setdefault(key, []).append(histogram)
    return [[{key: Histogram.merge_all(found) for key, found in run.items()} for run in part] for part in collected]


# ---- the fixed-sample gate: an unchanged run's spread, per endpoint and percentile, moderated ----------------------
@dataclass(frozen=True)
class RunSpread:
    """How far an unchanged run's log percentile lands from the reference runs' (one endpoint, one percentile).

    ``variance`` estimates the variance of one run's log percentile between runs, its own sampling noise included
    (the run effect plus what the bootstrap sees in one run): the endpoint's own estimate from the R runs, moderated
    toward the trend of the endpoints' variation with their latency (``moderated_spreads``).
    """

    variance: float  # moderated between-run variance of one run's log percentile
    sampling_variance: float  # one reference run's sampling variance of its log percentile (bootstrap); 0: unknown
    runs: int  # R
    degrees_of_freedom: float  # R - 1 of its own, plus the prior's
    own_variance: float | None  # the endpoint's own between-run variance (None: not measured in every run)
    prior_variance: float  # the trend's value at the endpoint's latency

    def scale(self, bootstrap_variance: float) -> float:
        """Standard deviation of log(current / reference) when nothing changed: this run's deviation plus 1/R of
        the reference mean's, and any sampling noise the current run has beyond a reference run's (fewer samples)."""
        inflate = 1 + 1 / self.runs
        return math.sqrt(self.variance * inflate + max(0.0, bootstrap_variance - self.sampling_variance * inflate))


@dataclass(frozen=True)
class PercentileSpreads:
    """Every endpoint's RunSpread for one percentile, and the trend for endpoints not measured in every run."""

    by_endpoint: dict[str, RunSpread]
    runs: int
    intercept: float  # prior log variance = intercept + slope * log(median ms)
    slope: float
    prior_degrees_of_freedom: float

    def for_endpoint(self, key: str, median_ms: float) -> RunSpread:
        found = self.by_endpoint.get(key)
        if found is not None:
            return found
        prior = math.exp(self.intercept + self.slope * math.log(max(median_ms, 1.0)))
        # Sampling noise unknown: the bootstrap's comes on top (scale), which counts it twice: the quiet side.
        return RunSpread(prior, 0.0, self.runs, max(self.prior_degrees_of_freedom, 1.0), None, prior)


def _trigamma_inverse(value: float) -> float:
    """x with trigamma(x) = value (Newton's method, as Smyth 2004 computes it)."""
    if value > 1e7:
        return 1 / math.sqrt(value)
    if value < 1e-6:
        return 1 / value
    x = 0.5 + 1 / value
    for _ in range(50):
        trigamma = float(polygamma(1, x))
        step = trigamma * (1 - trigamma / value) / float(polygamma(2, x))
        x += step
        if -step / x < 1e-8:
            break
    return x


def moderated_spreads(runs: Sequence[Mapping[str, Histogram]], rule: RegressionRule) -> dict[float, PercentileSpreads] | None:
    """Per percentile, every endpoint's between-run variance moderated toward the endpoints' trend (Smyth 2004).

    Each endpoint measured by every run with ``min_samples`` gives s^2, the variance of its log percentile between
    the R runs (R - 1 degrees of freedom; never below Locust's bucket rounding, so that three equal percentiles
    are not a variance of 0). log s^2 is regressed on the log percentile (in ms) over the endpoints (the prior's
    trend; a constant with fewer than four endpoints), and the spread of the endpoints around it, beyond what R - 1
    degrees of freedom alone make, gives the prior's degrees of freedom d0 (capped at
    MAX_PRIOR_DEGREES_OF_FREEDOM). Posterior: (d0 s0^2 + (R - 1) s^2) / (d0 + R - 1), with d0 + R - 1 degrees of
    freedom. None with fewer than two runs.
    """
    if len(runs) < 2:
        return None
    own_freedom = len(runs) - 1
    rng = np.random.default_rng(rule.seed + 1)
    keys = sorted(set.intersection(*(set(run) for run in runs)))
    found: dict[float, PercentileSpreads] = {}
    for q in rule.percentiles:
        rows = []  # (key, log median ms, s^2, sampling variance)
        for key in keys:
            histograms = [run[key] for run in runs]
            if min(h.count for h in histograms) < rule.min_samples:
                continue
            points = np.array([h.percentile(q) for h in histograms], dtype=np.float64)
            replicates = [bootstrap_percentiles(h, [q], 2000, rng)[:, 0] for h in histograms]
            if np.any(points <= 0) or any(np.any(r <= 0) for r in replicates):
                continue
            typical = float(np.exp(np.mean(np.log(points))))
            rounding = (bucket_step(typical) / typical) ** 2 / 12  # a uniform rounding error of one bucket
            between = max(float(np.var(np.log(points), ddof=1)), rounding)
            sampling = float(np.mean([np.var(np.log(r)) for r in replicates]))
            median = Histogram.merge_all(histograms).percentile(0.5) or 1
            rows.append((key, math.log(max(median, 1)), between, sampling))
        found[q] = _moderate(rows, own_freedom, len(runs))
    return found


# A reference's spread depends on the reference and the rule alone, and costs a bootstrap of every endpoint of every
# reference run (~30 ms): the in-run gate (analysis/sequential.py), the live SLA view and the final verdict all ask
# for the same reference's. Kept for the last reference asked about (held, so its identity stays its own).
_spreads_cache: list[tuple[object, str, dict[float, PercentileSpreads] | None]] = []


def reference_spreads(reference, rule: RegressionRule) -> dict[float, PercentileSpreads] | None:
    """``moderated_spreads`` of a loaded reference's recorded runs (``reference.runs``; None with fewer than two),
    computed once per reference object and rule."""
    key = rule.model_dump_json()
    for cached, cached_key, spreads in _spreads_cache:
        if cached is reference and cached_key == key:
            return spreads
    runs = [{name: e.histogram for name, e in run.endpoints.items() if e.histogram is not None}
            for run in getattr(reference, "runs", ()) or ()]  # fmt: skip
    spreads = moderated_spreads(runs, rule)
    _spreads_cache[:] = [(reference, key, spreads)]
    return spreads


def _moderate(rows: list[tuple[str, float, float, float]], own_freedom: int, runs: int) -> PercentileSpreads:
    if len(rows) < 2:  # nothing to borrow from: the endpoint's own runs alone
        by_endpoint = {key: RunSpread(between, sampling, runs, own_freedom, between, between) for key, _, between, sampling in rows}
        return PercentileSpreads(by_endpoint, runs, math.log(max([r[2] for r in rows], default=1.0)), 0.0, 0.0)
    x = np.array([r[1] for r in rows])
    # Smyth's e_g: log s^2 corrected so that its mean is log sigma^2 under a scaled chi-square of own_freedom.
    e = np.log([r[2] for r in rows]) - digamma(own_freedom / 2) + math.log(own_freedom / 2)
    design = np.vstack([np.ones_like(x), x]).T if len(rows) >= 4 else np.ones((len(rows), 1))
    coefficients, *_ = np.linalg.lstsq(design, e, rcond=None)
    fitted = design @ coefficients
    # How far the endpoints scatter around the trend beyond what own_freedom alone makes (trigamma): the true
    # variances' own scatter, which sets d0. Taken at the upper end of its 95 % interval (the residual variance's
    # chi-square bound, approximate for log chi-square terms): with three runs each endpoint's log s^2 has a
    # standard deviation of 1.3, which hides a real scatter, and overrating d0 would narrow every interval.
    residual_freedom = len(rows) - design.shape[1]
    scatter = float(np.sum((e - fitted) ** 2)) / float(chdtri(residual_freedom, 0.95)) - float(polygamma(1, own_freedom / 2))
    prior_freedom = MAX_PRIOR_DEGREES_OF_FREEDOM if scatter <= 0 else min(2 * _trigamma_inverse(scatter), MAX_PRIOR_DEGREES_OF_FREEDOM)
    correction = float(digamma(prior_freedom / 2)) - math.log(prior_freedom / 2)  # back from log space to s0^2
    freedom = prior_freedom + own_freedom
    by_endpoint = {}
    for (key, _, between, sampling), log_prior in zip(rows, fitted):
        prior = math.exp(float(log_prior) + correction)
        by_endpoint[key] = RunSpread((prior_freedom * prior + own_freedom * between) / freedom, sampling, runs, freedom, between, prior)
    intercept = float(coefficients[0]) + correction
    slope = float(coefficients[1]) if len(coefficients) > 1 else 0.0
    return PercentileSpreads(by_endpoint, runs, intercept, slope, prior_freedom)

def compare_histograms(
    reference: Histogram, current: Histogram, rule: RegressionRule, *, endpoints_tested: int = 1,
    run_to_run: Mapping[float, RunSpread] | None = None,
) -> list[PercentileChange]:  # fmt: skip
    """One PercentileChange per percentile in ``rule.percentiles``.

    ``endpoints_tested``: how many endpoints of the run get this test; the confidence is shared among them all.
    ``run_to_run``: by percentile, how far this endpoint's percentile moves between the reference's runs
    (``moderated_spreads``): the interval is then the prediction interval of an unchanged run (Student t), not
    the bootstrap's (None, or a percentile missing: a one-run reference, whose variation is unknown).
    """
    qs = list(rule.percentiles)
    if not has_enough_samples(reference, current, rule):
        reason = f"too few samples (reference {reference.count}, this run {current.count}; need {rule.min_samples} each)"
        return [
            PercentileChange(q, Verdict.INCONCLUSIVE, reference.percentile(q), current.percentile(q), None, None, reason)
            for q in qs
        ]
    rng = np.random.default_rng(rule.seed)
    reference_boot = bootstrap_percentiles(reference, qs, rule.bootstrap_resamples, rng)
    current_boot = bootstrap_percentiles(current, qs, rule.bootstrap_resamples, rng)
    alpha = (1 - rule.confidence) / (len(qs) * max(endpoints_tested, 1))  # Bonferroni across the run's tests
    band = rule.min_relative_change
    changes = []
    for column, q in enumerate(qs):
        reference_ms, current_ms = reference.percentile(q), current.percentile(q)
        assert reference_ms is not None and current_ms is not None  # both histograms have samples here
        if reference_ms == 0 or np.any(reference_boot[:, column] == 0) or np.any(current_boot[:, column] == 0):
            # A 0 ms percentile (sub-millisecond responses) has no relative change; absolute ms says more.
            changes.append(PercentileChange(q, Verdict.INCONCLUSIVE, reference_ms, current_ms, None, None, "a percentile is 0 ms"))
            continue
        log_ratios = np.log(current_boot[:, column]) - np.log(reference_boot[:, column])
        spread = run_to_run.get(q) if run_to_run is not None else None
        if spread is not None:
            # An unchanged run lands within t x scale of the reference runs (a prediction interval): the spread's
            # variance holds one run's sampling noise too, so the bootstrap adds only what this run has beyond it.
            reach = float(stdtrit(spread.degrees_of_freedom, 1 - alpha / 2)) * spread.scale(float(np.var(log_ratios)))
            point_log = float(np.log(current_ms / reference_ms))
            bounds = np.expm1([point_log - reach, point_log + reach])
        else:
            bounds = np.expm1(np.quantile(log_ratios, [alpha / 2, 1 - alpha / 2]))
        # Rounded: a bucket step can put a bound exactly on the band (210 / 200 ms = +5 %), which does not clear it.
        low, high = (round(float(v), 9) for v in bounds)
        point = current_ms / reference_ms - 1
        # Locust keeps 2 significant digits (whole ms below 100 ms): at 18 ms one bucket is +5.6 %, so the band
        # alone would let a one-bucket shift count, and two rounded percentiles can differ by a bucket from rounding
        # alone (17.6 -> 18, 18.4 -> 19). The interval must also clear one and a half bucket steps.
        step = 1.5 * bucket_step(reference_ms) / reference_ms
        if low > max(band, step):
            verdict, reason = Verdict.REGRESSED, ""
        elif high < -max(band, step):
            verdict, reason = Verdict.IMPROVED, ""
        elif low > 0 or high < 0:
            verdict, reason = Verdict.UNCHANGED, (f"significant, but the interval reaches into the {band:.0%} noise band"
                                                  if step <= band else "significant, but within 1.5 Locust buckets")
        else:
            verdict, reason = Verdict.UNCHANGED, "not significant"
        if spread is not None:
            own = f"its own {math.sqrt(spread.own_variance):.1%} and " if spread.own_variance is not None else ""
            reason = (reason + "; " if reason else "") + (
                f"interval includes the run-to-run variation of {spread.runs} reference runs: "
                f"{math.sqrt(spread.variance):.1%} for this percentile ({own}{math.sqrt(spread.prior_variance):.1%} of endpoints "
                f"this fast), t with {spread.degrees_of_freedom:.0f} degrees of freedom")  # fmt: skip
        changes.append(PercentileChange(q, verdict, reference_ms, current_ms, point, (low, high), reason))
    return changes
