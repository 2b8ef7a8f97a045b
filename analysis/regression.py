"""Is one endpoint's latency different from the reference run's? A noise rule AND a significance test.

The test is a bootstrap confidence interval of the relative change in a percentile, computed on the full
histograms: each run's requests are resampled with replacement, the percentile is taken from every resample the
way Locust takes it, and the interval is read from the distribution of ``current / reference - 1`` over paired
replicates. Vectorised with numpy, no Python loop over resamples (see bootstrap_percentiles for the shortcut).

Verdicts (analysis.verdicts.Verdict): regressed / improved when the interval excludes zero AND the point change
passes the noise rule; unchanged otherwise; inconclusive when either side has too few samples to judge.
Exit code 4 is a verdict on the whole run, so the false-alarm rate that matters is per run: the confidence is
split (Bonferroni) across every percentile of every endpoint tested in the run, and the noise rule must pass as
well; benchmarks/bench_regression.py measures the resulting share of unchanged runs called "regressed".
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


def has_enough_samples(reference: Histogram, current: Histogram, rule: RegressionRule) -> bool:
    return min(reference.count, current.count) >= rule.min_samples


def compare_histograms(
    reference: Histogram, current: Histogram, rule: RegressionRule, *, endpoints_tested: int = 1
) -> list[PercentileChange]:
    """One PercentileChange per percentile in ``rule.percentiles``.

    ``endpoints_tested``: how many endpoints of the run get this test; the confidence is shared among them all.
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
    changes = []
    for column, q in enumerate(qs):
        reference_ms, current_ms = reference.percentile(q), current.percentile(q)
        assert reference_ms is not None and current_ms is not None  # both histograms have samples here
        if reference_ms == 0 or np.any(reference_boot[:, column] == 0):
            # A 0 ms percentile (sub-millisecond responses) has no relative change; absolute ms says more.
            changes.append(PercentileChange(q, Verdict.INCONCLUSIVE, reference_ms, current_ms, None, None, "reference percentile is 0 ms"))
            continue
        ratios = current_boot[:, column] / reference_boot[:, column] - 1
        low, high = (float(v) for v in np.quantile(ratios, [alpha / 2, 1 - alpha / 2]))
        point = current_ms / reference_ms - 1
        significant_up = low > 0 and point >= rule.min_relative_change
        significant_down = high < 0 and point <= -rule.min_relative_change
        if significant_up:
            verdict, reason = Verdict.REGRESSED, ""
        elif significant_down:
            verdict, reason = Verdict.IMPROVED, ""
        elif low > 0 or high < 0:
            verdict, reason = Verdict.UNCHANGED, f"significant but under the {rule.min_relative_change:.0%} noise rule"
        else:
            verdict, reason = Verdict.UNCHANGED, "not significant"
        changes.append(PercentileChange(q, verdict, reference_ms, current_ms, point, (low, high), reason))
    return changes
