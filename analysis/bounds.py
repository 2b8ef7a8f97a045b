"""Exact bounds that decide an SLA check as soon as the data decides it, and say so when they cannot.

Both kinds of statistical SLA limit are limits on a proportion, so one pure function judges both:

- ``fail_ratio <= L``: k failures of n requests; the true failure probability p must be <= L.
- ``pNN_ms <= T`` (e.g. p95 <= 3000 ms): k of the n samples are slower than T; the true share of requests slower
  than T must be <= 1 - NN/100 (5 % for a p95). This is the order-statistic bound: the p95 is above T exactly
  when more than 5 % of all requests are above T, so "how many samples above the limit prove the p95 is above it"
  is a binomial question about k.

``judge_count(k, n, limit, rule)`` gives the verdict with exact Clopper-Pearson bounds (scipy's beta quantiles):

- **breach** when the one-sided lower bound of p, at the per-check breach confidence, is above the limit. No
  sample minimum: 10 failures of 10 requests prove a 1 % limit broken.
- **pass** when the one-sided upper bound of p, at the pass confidence, is at or below the limit AND n reaches
  the endpoint's ``min_samples`` (the floor for a pass).
- **inconclusive** otherwise, with ``more_samples``: how many more samples, at the ratio seen so far, would settle
  it, and which way (None when more samples at this ratio never would: the ratio sits on the limit).

Confidence and multiple testing (the rule is stated in baselines/production.toml [decision] and the README):
a run is judged on many checks (endpoints x criteria), and one false breach fails the whole run. So the breach
side is family-wise: ``breach_confidence`` (default 0.95) is split by Bonferroni over every statistical check of
the run (``per_check_breach_confidence``): a run whose every true rate is within its limits breaches by chance in
at most 5 % of runs, however many endpoints it sends. The pass side is per check (``pass_confidence``, default
0.80): a check whose true rate sits exactly on its limit passes by chance at most 20 % of the time; anything
truly worse passes less often. Splitting the pass side too would demand thousands of samples per endpoint
before any 1 % error-rate limit could pass.

Everything here is a pure function of counts: the sequential gate (run until decided) calls the same functions
after every interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import betaincinv  # beta.ppf itself; scipy.stats costs every Locust process ~1 s to import

from analysis.histogram import Histogram
from analysis.verdicts import Verdict

# Most samples ``samples_to_settle`` searches for; beyond it the answer is "not within reach" (None).
MAX_SETTLING_SAMPLES = 10_000_000


@dataclass(frozen=True)
class BoundRule:
    """Confidence levels of a judgement (see the module docstring for why the two sides differ)."""

    breach_confidence: float  # per check, already split among the run's checks (per_check_breach_confidence)
    pass_confidence: float  # per check
    min_samples: int = 0  # floor for a pass


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict  # PASS, BREACH or INCONCLUSIVE
    k: int  # events: failures, or samples above the limit
    n: int  # trials: requests, or samples
    low: float  # one-sided lower bound of p at the breach confidence
    high: float  # one-sided upper bound of p at the pass confidence
    more_samples: int | None = None  # inconclusive only: how many more samples would settle it (None: never at this ratio)
    settles_as: Verdict | None = None  # inconclusive only: the verdict those samples would give


def lower_bound(k: float, n: float, confidence: float) -> float:
    """One-sided Clopper-Pearson lower bound of p for k events in n trials (0 when k == 0)."""
    if k <= 0 or n <= 0:
        return 0.0
    return float(betaincinv(k, n - k + 1, 1 - confidence))  # the Beta(k, n-k+1) quantile


def upper_bound(k: float, n: float, confidence: float) -> float:
    """One-sided Clopper-Pearson upper bound of p for k events in n trials (1 when k == n)."""
    if n <= 0 or k >= n:
        return 1.0
    return float(betaincinv(k + 1, n - k, confidence))  # the Beta(k+1, n-k) quantile


def per_check_breach_confidence(family_confidence: float, checks: int) -> float:
    """Bonferroni: each of ``checks`` checks gets 1 - (1 - family) / checks, so any false breach <= 1 - family."""
    return 1 - (1 - family_confidence) / max(checks, 1)


def _verdict(k: float, n: float, limit: float, rule: BoundRule) -> tuple[Verdict, float, float]:
    low, high = lower_bound(k, n, rule.breach_confidence), upper_bound(k, n, rule.pass_confidence)
    if low > limit:
        return Verdict.BREACH, low, high
    if high <= limit and n >= rule.min_samples:
        return Verdict.PASS, low, high
    return Verdict.INCONCLUSIVE, low, high


def judge_count(k: int, n: int, limit: float, rule: BoundRule) -> Judgement:
    """The verdict on "true rate <= limit" from k events in n trials, and what would settle it if inconclusive."""
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    verdict, low, high = _verdict(k, n, limit, rule)
    if verdict is not Verdict.INCONCLUSIVE:
        return Judgement(verdict, k, n, low, high)
    more, settles_as = samples_to_settle(k, n, limit, rule)
    return Judgement(verdict, k, n, low, high, more, settles_as)


def samples_to_settle(k: int, n: int, limit: float, rule: BoundRule) -> tuple[int | None, Verdict | None]:
    """How many more samples at the observed ratio k/n would turn an inconclusive check into a verdict.

    An estimate, not a promise: it assumes the next samples show the same ratio (k scales with n). With no samples
    yet, it answers for a ratio of 0 (the number needed to pass a clean endpoint). None when no number of samples
    would: the ratio sits on the limit, or the answer is beyond MAX_SETTLING_SAMPLES.
    """
    ratio = k / n if n else 0.0

    def settled(total: int) -> Verdict | None:
        verdict, _, _ = _verdict(ratio * total, total, limit, rule)
        return None if verdict is Verdict.INCONCLUSIVE else verdict

    if settled(n) is not None and n > 0:
        return 0, settled(n)
    # Grow until settled (doubling), then bisect to the smallest total. The bounds are monotone in the total at a
    # fixed ratio, so the first settled total is the answer.
    high = max(n, 1)
    while settled(high) is None:
        high *= 2
        if high > MAX_SETTLING_SAMPLES:
            return None, None
    low = max(n, 0)  # not settled (or n == 0)
    while high - low > 1:
        middle = (low + high) // 2
        if settled(middle) is None:
            low = middle
        else:
            high = middle
    return high - n, settled(high)


# ---- samples above a latency limit -------------------------------------------------------------------------------
def bucket_range(bucket: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lowest, highest) response time that Locust rounds into each bucket (highest exclusive).

    Locust (locust.stats.bucket_response_time) keeps whole ms below 100 ms, rounds to 10 ms below 1 s, to 100 ms
    below 10 s, to 1 s beyond: bucket 3000 holds [2950, 3050) ms, bucket 100 holds [99.5, 105) ms.
    """
    bucket = np.asarray(bucket, dtype=np.float64)
    above = np.select([bucket < 100, bucket < 1000, bucket < 10000], [0.5, 5.0, 50.0], 500.0)
    below = np.select([bucket <= 100, bucket <= 1000, bucket <= 10000], [0.5, 5.0, 50.0], 500.0)
    return bucket - below, bucket + above


def count_above(histogram: Histogram, limit_ms: float) -> tuple[int, int]:
    """(certainly above, possibly above): samples slower than ``limit_ms``, bracketed against Locust's rounding.

    Locust stores a rounded response time (3040 ms is stored as 3000), so a bucket that straddles the limit
    holds samples on both sides of it: counting it as within the limit errs towards pass (a 3040 ms response
    hidden under a 3000 ms limit), counting it as above errs towards breach. Rounding errs both ways, so both counts are kept and each errs towards the
    safe side of the verdict it feeds: a breach is proven only from samples *certainly* above the limit (the whole
    bucket range above it: never a breach from rounding alone), a pass only when even the samples *possibly* above
    it (any part of the bucket range above it) are few enough (never a pass from rounding alone).
    """
    lowest, highest = bucket_range(histogram.buckets)
    counts = histogram.counts
    certain = int(counts[lowest > limit_ms].sum())
    possible = int(counts[highest > limit_ms].sum())
    return certain, possible


def count_above_from_percentiles(percentiles: dict[float, int], samples: int, limit_ms: float) -> tuple[int, int]:
    """(certainly above, possibly above) from Locust's CSV percentile columns, for input without histograms.

    Locust's q-percentile is the sample at sorted index int(n * q) (bucketed). If it is certainly above the limit,
    every sample from that index up is too; if it is at most the limit, every sample up to that index may be
    within it. The counts are looser than a histogram's (only the listed percentiles are known).
    """
    certain, possible = 0, samples
    for q, value in percentiles.items():
        index = min(int(samples * q), samples - 1)
        lowest, highest = bucket_range(np.asarray([value]))
        if lowest[0] > limit_ms:
            certain = max(certain, samples - index)
        if highest[0] <= limit_ms:
            possible = min(possible, samples - index - 1)
    return certain, max(possible, certain)


def judge_latency(certain: int, possible: int, n: int, share_limit: float, rule: BoundRule) -> Judgement:
    """A percentile limit: breach judged on the samples certainly above it, pass on those possibly above it."""
    breach = judge_count(certain, n, share_limit, rule)
    if breach.verdict is Verdict.BREACH:
        return breach
    judged = judge_count(possible, n, share_limit, rule)
    if judged.verdict is Verdict.BREACH:  # only possibly above: rounding cannot prove a breach
        more, settles_as = samples_to_settle(certain, n, share_limit, rule)
        return Judgement(Verdict.INCONCLUSIVE, possible, n, breach.low, judged.high, more, settles_as)
    return judged


def describe_settling(judgement: Judgement, unit: str = "samples") -> str:
    """'about 240 more samples would settle it (as pass)', for people."""
    if judgement.more_samples is None:
        return f"more {unit} at this ratio would not settle it"
    as_what = f" (as {judgement.settles_as.value})" if judgement.settles_as else ""
    return f"about {judgement.more_samples} more {unit} would settle it{as_what}"

