"""Is one endpoint's latency different from the reference's? An interval that must clear the noise band.

The test is a bootstrap confidence interval of the relative change in a percentile, computed on the full
histograms: each run's requests are resampled with replacement, the percentile is taken from every resample the
way Locust takes it, and the interval is read from the distribution of ``current / reference - 1`` over paired
replicates. Vectorised with numpy, no Python loop over resamples (see bootstrap_percentiles for the shortcut).

That interval holds only the sampling noise inside each run. Two runs of an unchanged system also differ by
machine load, warm-up and the rest of the mix. When the reference holds two or more recorded runs
(analysis/reference.py), that run-to-run variation is measured between them (in log space, per endpoint and per
percentile) and added to the endpoint's interval: the current run brings its own run effect, and the reference's
mean brings 1/R of one; the estimate's own uncertainty (few runs) widens it further (Student t).

**Why per percentile, and why on parts of the runs.** A p50 and a p95 do not move alike from run to run: measured
on this machine, a CSV download's p50 ~2 %, its p95 ~8 %; a PostgREST read's p50 3 %, its p95 44 %. Pooling the
two (as this gate once did) made the p50 interval too wide (a real +25 % p50 slowdown got [+4 %, +51 %],
"unchanged") and the p95 interval too narrow. But one percentile of three runs has only 2 degrees of freedom,
and a Student t with 2 at the level the run's ~40 tests share (0.5 / 40, two-sided) is ~8.9 standard deviations:
no test at all. The degrees of freedom come from the runs' timelines instead (the interval histograms a reference
recorded from results folders keeps): each run is cut into ``FIXED_PARTS`` parts of equal length by time since
the start, the runs' same part is compared with each other (R - 1 degrees of freedom per part, sampling noise
removed), and the parts are pooled (``pooled_over_parts``; three runs: 10 degrees of freedom), as the sequential
gate does with its 60 s parts (analysis/sequential.py; a 100 s reference has a single 60 s part, hence equal
parts here: 20 s each for a 100 s run, 60 s for a 300 s one).
Conservative by construction: a whole run's effect is (about) the mean of its parts' effects, and the variance of
a mean is at most the mean of the variances, so a part's run-to-run variance is an upper bound of a whole run's
(equal when the machine's state holds for the whole run; larger when the load also swings within a run). Each
part's estimate is floored at 0 before pooling, which can only raise it. What the parts cannot do: an endpoint
with fewer than ``min_samples`` requests in a part of some run gets the percentile's variation pooled over the
endpoints measured (dominated by the most variable ones: wide, rarely decisive). A reference without timelines
(recorded from locust.json) falls back to whole runs, per percentile, with R - 1 degrees of freedom: sound, but
wide unless it holds many runs. benchmarks/bench_regression.py --varying measures the A/A false-alarm share on
synthetic runs that vary from run to run as measured on this machine.

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from analysis.baseline import RegressionRule
from analysis.histogram import Histogram
from analysis.verdicts import Verdict

# The fixed-sample gate measures the run-to-run variation on this many equal parts of the reference runs.
FIXED_PARTS = 5
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
    (floored at 0): the gates call it with one percentile at a time (``by_percentile``). Endpoints not measured by
    every run get the mean over the others. None with fewer than two runs (nothing to measure it on).
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


def by_percentile(measure: Callable[[RegressionRule], RunToRun | None], rule: RegressionRule | None) -> dict[float, RunToRun] | None:
    """``measure(rule)`` for each of the rule's percentiles alone, by percentile: a p50 moves far less from run to
    run than a p95 (see the module docstring), and each change test is widened by its own percentile's variation."""
    if rule is None:
        return None
    found = {q: measure(rule.model_copy(update={"percentiles": [q]})) for q in rule.percentiles}
    return {q: variation for q, variation in found.items() if variation is not None} or None


def pooled_over_parts(per_part: Sequence[RunToRun | None]) -> RunToRun | None:
    """One run-to-run variation per endpoint from the variations measured part by part (each part: the runs'
    same stretch of time against each other), averaged with their degrees of freedom: two or three runs give an
    estimate per endpoint that is often 0 by chance; five parts give it five times the degrees of freedom. A part's
    variation also holds the load swings within a run, which part-by-part comparisons meet too (and which make it
    an upper bound of a whole run's). A part in which no endpoint had enough samples measured nothing: it does not
    pull the fallback for unmeasured endpoints toward 0."""
    measured = [variation for variation in per_part if variation is not None and variation.by_endpoint]
    if not measured:
        return None
    keys = sorted({key for variation in measured for key in variation.by_endpoint})
    by_endpoint = {}
    for key in keys:
        found = [variation.by_endpoint[key] for variation in measured if key in variation.by_endpoint]
        freedom = sum(v.degrees_of_freedom for v in found)
        by_endpoint[key] = RunToRunVariance(sum(v.log_variance * v.degrees_of_freedom for v in found) / freedom,
                                            found[0].runs, freedom)  # fmt: skip
    pooled = [variation.pooled for variation in measured]
    freedom = sum(v.degrees_of_freedom for v in pooled)
    return RunToRun(by_endpoint, RunToRunVariance(sum(v.log_variance * v.degrees_of_freedom for v in pooled) / max(freedom, 1),
                                                  pooled[0].runs, freedom))  # fmt: skip


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


def run_to_run_over_parts(by_part: Sequence[Sequence[Mapping[str, Histogram]]], rule: RegressionRule | None) -> dict[float, RunToRun] | None:
    """Per percentile, the runs' variation measured part by part (``split_timelines``) and pooled over the parts."""
    return by_percentile(lambda one: pooled_over_parts([run_to_run_variance(list(part), one) for part in by_part]), rule)


def reference_run_to_run(runs: Sequence[Mapping[str, Histogram]], timelines: Sequence[Timeline | None],
                         rule: RegressionRule, parts: int = FIXED_PARTS) -> dict[float, RunToRun] | None:  # fmt: skip
    """What the fixed-sample gate widens each change interval by: per percentile, per endpoint, the variation
    between the reference's runs, measured on ``parts`` equal parts of them when every run has a timeline (pooled
    over the parts), otherwise between the whole runs (R - 1 degrees of freedom). None with fewer than two runs."""
    if len(runs) < 2:
        return None
    if len(timelines) == len(runs) and all(timelines):
        recorded = [timeline for timeline in timelines if timeline]
        common = min(timeline[-1][0] for timeline in recorded)
        if common > 0:
            return run_to_run_over_parts(split_timelines(recorded, common / parts, parts), rule)
    return by_percentile(lambda one: run_to_run_variance(list(runs), one), rule)


def compare_histograms(
    reference: Histogram, current: Histogram, rule: RegressionRule, *, endpoints_tested: int = 1,
    run_to_run: Mapping[float, RunToRunVariance] | None = None,
) -> list[PercentileChange]:  # fmt: skip
    """One PercentileChange per percentile in ``rule.percentiles``.

    ``endpoints_tested``: how many endpoints of the run get this test; the confidence is shared among them all.
    ``run_to_run``: by percentile, this endpoint's variation measured between the reference's runs, added to that
    percentile's interval (None, or a percentile missing: a one-run reference, whose variation is unknown).
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
        variation = run_to_run.get(q) if run_to_run is not None else None
        if variation is not None and variation.log_variance > 0:
            # The run effect, with its estimate's own uncertainty: Student t with the estimate's degrees of freedom.
            log_ratios = log_ratios + variation.added_scale * rng.standard_t(variation.degrees_of_freedom, log_ratios.size)
        # Rounded: a bucket step can put a bound exactly on the band (210 / 200 ms = +5 %), which does not clear it.
        low, high = (round(float(v), 9) for v in np.expm1(np.quantile(log_ratios, [alpha / 2, 1 - alpha / 2])))
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
        if variation is not None:
            reason = (reason + "; " if reason else "") + (
                f"interval includes the run-to-run variation of {variation.runs} reference runs "
                f"({math.sqrt(variation.log_variance):.1%} for this percentile, {variation.degrees_of_freedom} degrees of freedom)")
        changes.append(PercentileChange(q, verdict, reference_ms, current_ms, point, (low, high), reason))
    return changes
