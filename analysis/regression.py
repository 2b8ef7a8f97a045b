"""Is one endpoint's latency different from the reference's? An interval that must clear the noise band.

The test is a bootstrap confidence interval of the relative change in a percentile, computed on the full
histograms: each run's requests are resampled with replacement, the percentile is taken from every resample the
way Locust takes it, and the interval is read from the distribution of ``current / reference - 1`` over paired
replicates. Vectorised with numpy, no Python loop over resamples (see bootstrap_percentiles for the shortcut).

That interval holds only the sampling noise inside each run. Two runs of an unchanged system also differ by
machine load, warm-up and the rest of the mix. When the reference holds two or more recorded runs
(analysis/reference.py), that run-to-run variation is measured between them (``run_to_run_variance``, in log
space, per endpoint) and added to the endpoint's interval: the current run brings its own run effect, and the
reference's mean brings 1/R of one; the estimate's own uncertainty (few runs) widens it further (Student t).

Verdicts (analysis.verdicts.Verdict): regressed only when the whole interval is above the noise band
(``low > min_relative_change``) and above 1.5 Locust bucket steps, improved only when it is wholly below minus
them; unchanged otherwise;
inconclusive when either side has too few samples to judge. Exit code 4 is a verdict on the whole run, so the
false-alarm rate that matters is per run: the confidence is split (Bonferroni) across every percentile of every
endpoint tested in the run. benchmarks/bench_regression.py measures the share of unchanged runs called
"regressed", on synthetic draws and on repeated real runs against the simulator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.baseline import RegressionRule
from analysis.histogram import Histogram
from analysis.verdicts import Verdict


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
    degrees_of_freedom: int  # (R - 1) per percentile it was pooled over

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


def run_to_run_variance(runs: list[dict[str, Histogram]], rule: RegressionRule) -> RunToRun | None:
    """tau^2 per endpoint, from the reference runs that each measured it with enough samples.

    Per endpoint, because it differs by an order of magnitude between endpoints (measured on the simulator: a
    10 ms PostgREST read moves ~40 % from run to run with the machine's load, a 200 ms orchestrator call ~6 %).
    For each percentile, the between-run variance of the log percentile (R - 1 degrees of freedom) minus the mean
    of the runs' own sampling variances (bootstrap) estimates the run effect; the endpoint's percentiles are pooled
    (floored at 0). Endpoints not measured by every run get the mean over the others. None with fewer than two
    runs (nothing to measure it on).
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


def compare_histograms(
    reference: Histogram, current: Histogram, rule: RegressionRule, *, endpoints_tested: int = 1,
    run_to_run: RunToRunVariance | None = None,
) -> list[PercentileChange]:  # fmt: skip
    """One PercentileChange per percentile in ``rule.percentiles``.

    ``endpoints_tested``: how many endpoints of the run get this test; the confidence is shared among them all.
    ``run_to_run``: this endpoint's variation measured between the reference's runs, added to the interval
    (None: a one-run reference, whose run-to-run variation is unknown).
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
        if run_to_run is not None and run_to_run.log_variance > 0:
            # The run effect, with its estimate's own uncertainty: Student t with the estimate's degrees of freedom.
            log_ratios = log_ratios + run_to_run.added_scale * rng.standard_t(run_to_run.degrees_of_freedom, log_ratios.size)
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
        if run_to_run is not None:
            reason = (reason + "; " if reason else "") + f"interval includes the run-to-run variation of {run_to_run.runs} reference runs"
        changes.append(PercentileChange(q, verdict, reference_ms, current_ms, point, (low, high), reason))
    return changes
