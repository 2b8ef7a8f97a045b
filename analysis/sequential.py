"""Sequential decisions: judge every check at every look, stop when all required ones are decided.

Why a separate method. The fixed-sample rules (analysis/decide.py, regression.py) are valid once, at the end of a
run of planned length. Looking at the data every interval and stopping as soon as a test "passes" or "fails" makes
their error rates grow with the number of looks. The tests here stay valid under continuous monitoring:

**One Bernoulli test for every statistical check.** Each check is the statement "the probability ``theta`` that a
request exceeds a threshold is below ``theta0``":
- fail ratio <= f:            a request fails,                        theta0 = f;
- pXX <= L (percentile):      a response time is above L,             theta0 = 1 - XX/100;
- pXX not regressed:          a response time is above m x the reference's pXX (m: the noise factor, below),
                              theta0 = 1 - XX/100.
A percentile is at most L exactly when at most a share 1 - q of requests are above L, so one test serves all three.

**The test: a mixture of sequential probability-ratio tests (a test martingale), thresholded by Ville's
inequality.** Against H0 "theta <= theta0", the evidence after n requests with k exceedances is

    M_n = mean over alternatives theta_i > theta0 of (theta_i / theta0)^k ((1 - theta_i) / (1 - theta0))^(n - k)

(alternatives spaced in log-odds, see ``_SHIFTS``). Under any theta <= theta0 each factor has expectation <= 1, so
M_n is a non-negative supermartingale starting at 1, and Ville's inequality gives P(M_n >= 1/alpha at ANY n) <= alpha:
however often the gate looks, and whenever it stops, H0 is rejected wrongly with probability at most alpha. The
mirror image (alternatives theta_i < theta0) tests H0 "theta >= theta0". Together they form an always-valid
confidence sequence for theta (Howard, Ramdas, McAuliffe & Sekhon 2021; Robbins 1970).

**Two error budgets.**
The same two budgets as the fixed-sample gate (the baseline's [decision]; analysis/bounds.py says why they differ):
- Alarms (breach, regressed) share 1 - breach_confidence (5 %) across the whole run (Bonferroni over every alarm
  test): a run of a healthy, unchanged system gets any false alarm with probability <= 5 %.
- Each "pass" / "not regressed" claim has its own 1 - pass_confidence (20 %): the chance of passing one check whose
  true value sits at its limit. ``min_samples`` of the baseline stays a floor for a pass.
Latency counts are bracketed against Locust's bucket rounding exactly as the fixed-sample gate brackets them
(analysis.bounds.count_above). The exact Clopper-Pearson bounds of analysis/bounds.py are NOT reused for the
looks themselves: they are valid once, and looked at every interval they would alarm far too often.

**The reference, part by part.** A regression compares with the reference's percentile r, itself an estimate,
of a system whose latency may change over a run (the enrichment functions' in-isolate caches fill for minutes:
the orchestrator's p50 falls from ~700 to ~350 ms over the first 2.5 minutes). Runs until decided differ in length,
so whole runs are not comparable: a run longer than its reference looked faster than it was (a 30 % slowdown
showed as +18-22 %), a shorter one slower. With a reference recorded from results folders (their intervals, see
analysis/reference.py), each part of a run (``PART_S`` = 60 s by time since the start; the last part open-ended from
the reference runs' common length) is compared with the same part of the reference runs, merged. Each request is
counted against its own part's thresholds, which are fixed once the reference is loaded, so the counts still grow
as Bernoulli trials and the test stays always valid.
- "Regressed" needs the share of requests above m x r_hi shown above 1 - q, where r_hi is the reference part's
  exact order-statistic upper bound (its own sampling error) and m the noise factor; the alarm's level is split
  between the reference's bound (shared by the parts) and the test.
- The noise factor m: with one reference run, 1 + the band (baseline [regression] min_relative_change); with
  several, how far an unchanged run's percentile lands from the reference runs' mean, as the fixed-sample gate
  measures it (analysis.regression.moderated_spreads: per endpoint and percentile, between the reference's whole
  runs, moderated toward the trend of all endpoints' variation over their median latency, empirical Bayes):
  m = exp(t * s), s the log-scale deviation of this run's and the reference mean's, t the Student quantile with
  the estimate's degrees of freedom at the level the fixed-sample gate gives the same variation: the baseline's
  [regression] confidence shared by the run's regression tests (0.5 / 40 two-sided). Never below 1 + band. The
  variation holds each run's sampling noise too, which the reference's bound and the test itself also allow for:
  counted twice, on the quiet side. Measuring it part by part and pooling the parts (as this gate did) claimed
  degrees of freedom the parts do not have: a run's effect is shared by all its parts; and subtracting the sampling
  noise left estimates of 0 by chance (the band alone) for endpoints whose moderated run-to-run variation is 10-20 %.
  A model of machine-to-run variation estimated from a few runs, not a proof: the real-run A/A share in the README
  is what shows it holds.
- "Unchanged" needs the share above m x r shown below 1 - q (a pass-side claim); "improved" the share above r / m.
- As in the fixed-sample gate, m is never below 1 + 1.5 Locust bucket steps of r (a 6 ms percentile: x1.25).

Pure functions and one small state object (``SequentialJudge``) that remembers when each check was first decided.
Nothing here reads files except ``load_record``/``write_record`` for ``sequential.json`` (this module owns it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
from scipy.special import bdtr, bdtrik, betaln, gammaln, stdtrit  # scipy.stats costs every Locust process ~1 s

from analysis.baseline import PERCENTILE_LIMITS, Baseline
from analysis.bounds import count_above
from analysis.decide import RUN_SUBJECT, TOO_FEW_SAMPLES, counts_run_wide, limit_count, run_limits
from analysis.errors import InputError
from analysis.histogram import Histogram
from analysis.regression import PercentileSpreads, bucket_step, part_index, reference_spreads, split_timelines
from analysis.verdicts import Verdict

SEQUENTIAL_JSON = "sequential.json"
SCHEMA_VERSION = 1
# The mixture's alternatives, as log-odds steps away from theta0: from a fine step (~+28 % in odds, what a 30 %
# slowdown does to a median) to a gross one (x55 in odds: a limit missed by far decides in a few dozen requests).
_SHIFTS = (0.25, 0.5, 1.0, 2.0, 4.0)
SAMPLES_CAP = 10_000_000  # "needs more than this" is reported as such
# Futility: a check is given up on when the chance that it is decided by the maximum is below FUTILITY_CHANCE, the
# rest of the run counted generously (FUTILITY_MARGIN times the samples it would bring at its rate so far) ...
FUTILITY_MARGIN = 2.0
FUTILITY_CHANCE = 0.05
_PRIOR = 0.5  # Jeffreys' prior for the share, Beta(1/2, 1/2), in the futility's predictive chance
# ... and only once that has held at every look for this long (or a tenth of the maximum, if shorter): the chance
# jumps from look to look (a new part brings new thresholds), and one look's estimate is no reason to give up.
FUTILITY_PERSISTENCE_S = 30.0
# Regression tests compare each part of a run with the same part of the reference runs (by time since the start):
# parts of this length, the last one open-ended from the reference runs' common length on.
PART_S = 60.0

Direction = Literal["above", "below"]


# ---- the Bernoulli test ------------------------------------------------------------------------------------------
def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _alternatives(theta0: float, direction: Direction) -> list[float]:
    sign = 1 if direction == "above" else -1
    base = _logit(theta0)
    return [1 / (1 + math.exp(-(base + sign * shift))) for shift in _SHIFTS]


def log_evidence(exceed: int, n: int, theta0: float, direction: Direction) -> float:
    """log M_n: evidence that theta is ``direction`` theta0 (against H0: theta on the other side or equal).

    A value >= log(1/alpha) rejects H0 at level alpha, valid at any number of looks (Ville's inequality).
    """
    if not 0 < theta0 < 1:
        raise ValueError(f"theta0 must be strictly between 0 and 1, got {theta0}")
    if n <= 0:
        return 0.0
    terms = [
        exceed * math.log(theta / theta0) + (n - exceed) * math.log((1 - theta) / (1 - theta0))
        for theta in _alternatives(theta0, direction)
    ]
    top = max(terms)
    return top + math.log(sum(math.exp(term - top) for term in terms) / len(terms))


def bernoulli_decision(exceed: int, n: int, theta0: float, alarm_alpha: float, pass_alpha: float) -> Direction | None:
    """"above" (theta > theta0 shown at ``alarm_alpha``), "below" (theta < theta0 shown at ``pass_alpha``) or None."""
    if log_evidence(exceed, n, theta0, "above") >= math.log(1 / alarm_alpha):
        return "above"
    if log_evidence(exceed, n, theta0, "below") >= math.log(1 / pass_alpha):
        return "below"
    return None


def samples_to_decide(exceed: int, n: int, theta0: float, alarm_alpha: float, pass_alpha: float) -> int | None:
    """How many MORE requests would decide, if the observed share of exceedances held (None: unknown or more than
    the cap). An estimate for people ("about 400 more requests"), not part of any decision.
    """
    return _fewest(samples_to_show(exceed, n, theta0, alarm_alpha, "above"), samples_to_show(exceed, n, theta0, pass_alpha, "below"))


def samples_to_show(exceed: int, n: int, theta0: float, alpha: float, direction: Direction) -> int | None:
    """How many MORE requests would show theta ``direction`` theta0 at ``alpha``, if the observed share held.

    None when the share is not on that side of theta0 (no number of such requests would), or past the cap.
    """
    if n <= 0:
        return None
    share = exceed / n
    if (share <= theta0) if direction == "above" else (share >= theta0):
        return None
    threshold = math.log(1 / alpha)

    def shows(total: int) -> bool:
        return log_evidence(round(share * total), total, theta0, direction) >= threshold

    if shows(n):
        return 0
    low, high = n, max(2 * n, 16)
    while not shows(high):
        low, high = high, high * 2
        if high > SAMPLES_CAP:
            return None
    while high - low > max(1, low // 100):  # 1 % is precise enough for an estimate
        middle = (low + high) // 2
        low, high = (low, middle) if shows(middle) else (middle, high)
    return max(1, high - n)


def chance_to_show(exceed: int, n: int, more: int, theta0: float, alpha: float, direction: Direction,
                   minimum: int = 0) -> float:  # fmt: skip
    """The chance that ``more`` further trials make the test show theta ``direction`` theta0 at ``alpha``, the
    further events drawn from the share's posterior predictive given exceed of n so far (Jeffreys' prior
    Beta(1/2, 1/2): a Beta-binomial; a uniform prior would put a clean endpoint's failure share at 5 % after 18
    requests). Judged at the end of the ``more`` trials only, an estimate for futility, not a decision.

    Why predictive rather than the observed share: after 56 clean requests the observed 0 % says "never a breach",
    the share's 95 % bound (5 %) says "a breach within 50 requests"; the predictive chance weighs every share by
    how well it explains the data, so neither a few samples nor a share sitting near its threshold misleads it.
    """
    total = n + more
    if more <= 0 or total < max(minimum, 1):
        return 0.0
    threshold = math.log(1 / alpha)

    def shows(events: int) -> bool:
        return log_evidence(events, total, theta0, direction) >= threshold

    # The evidence for "above" grows with the events, for "below" it falls: one boundary, found by bisection.
    if direction == "above":
        if not shows(exceed + more):
            return 0.0
        low, high = exceed - 1, exceed + more  # shows(high); the boundary is the smallest such
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (low, middle) if shows(middle) else (middle, high)
        further = np.arange(high - exceed, more + 1)
    else:
        if not shows(exceed):
            return 0.0
        low, high = exceed, exceed + more + 1  # shows(low); the boundary is the largest such
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if shows(middle) else (low, middle)
        further = np.arange(0, low - exceed + 1)
    # Beta-binomial(more; exceed + 1/2, n - exceed + 1/2) probabilities of the further events that would show it.
    a, b = exceed + _PRIOR, n - exceed + _PRIOR
    log_pmf = (gammaln(more + 1) - gammaln(further + 1) - gammaln(more - further + 1)
               + betaln(further + a, more - further + b) - betaln(a, b))  # fmt: skip
    return float(min(1.0, np.exp(log_pmf).sum()))


def _fewest(*estimates: int | None) -> int | None:
    known = [estimate for estimate in estimates if estimate is not None]
    return min(known) if known else None


# ---- order-statistic bounds of a reference percentile -----------------------------------------------------------
def percentile_bounds(histogram: Histogram, q: float, alpha: float) -> tuple[int, int] | None:
    """One-sided (1 - alpha) bounds [lo, hi] of the q-quantile the histogram's requests were drawn from.

    The k-th smallest of N draws lies above the q-quantile with probability P(Binomial(N, q) < k); the bounds are
    the order statistics at which that probability crosses alpha and 1 - alpha (exact, distribution-free), read
    from the histogram's buckets. None when N is too small for a finite bound.
    """
    total = histogram.count
    if total == 0:
        return None
    # hi: smallest rank k (1-based) with P(Bin(N, q) <= k - 1) >= 1 - alpha; lo: largest j with P(Bin(N, q) >= j) >= 1 - alpha.
    k_hi = _binomial_quantile(1 - alpha, total, q) + 1
    j_lo = _binomial_quantile(alpha, total, q)
    if k_hi > total or j_lo < 1:
        return None
    cumulative = np.cumsum(histogram.counts)
    lo = int(histogram.buckets[np.searchsorted(cumulative, j_lo, side="left")])
    hi = int(histogram.buckets[np.searchsorted(cumulative, k_hi, side="left")])
    return lo, hi


# ---- checks ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EndpointCounts:
    """What one endpoint has sent so far: requests, failures, and the histogram of its response times."""

    requests: int
    failures: int
    histogram: Histogram


@dataclass(frozen=True)
class SequentialCheck:
    """One statistical check at one look. ``verdict`` None: not decided yet."""

    subject: str  # endpoint key
    metric: str  # the names analysis.decide uses: "p95_ms", "fail_ratio", "p50 change", ...
    required: bool  # holds the run until decided
    verdict: Verdict | None
    samples: int
    decided_after_s: float | None = None
    more_samples_needed: int | None = None  # when undecided: estimate at the observed rate (None: unknown / huge)
    decidable: bool = True  # False: no amount of data from this run can decide it (e.g. a reference too small)
    reason: str = ""

    @property
    def decided(self) -> bool:
        return self.verdict is not None

    def describe(self) -> str:
        if self.verdict is not None:
            return f"{self.verdict.value}, decided after {self.decided_after_s:.0f} s ({self.samples} samples)"
        if not self.decidable:
            return f"inconclusive: {self.reason}"
        if self.more_samples_needed is None:
            return f"undecided after {self.samples} samples (the estimate sits at the limit)"
        return f"undecided after {self.samples} samples (about {self.more_samples_needed} more needed)"


@dataclass(frozen=True)
class _Test:
    """One planned Bernoulli test. A latency SLA test counts samples above ``threshold_ms``; a failure test
    (threshold None) counts failures; a regression test's thresholds come from the reference, part by part."""

    subject: str
    metric: str
    kind: Literal["sla", "regression"]
    theta0: float
    threshold_ms: float | None = None
    warning: float | None = None  # the warning level: a threshold in ms, or a failure share for fail_ratio
    min_samples: int = 0


def _exceedances(counts: EndpointCounts, threshold_ms: float | None, side: Literal["alarm", "pass"]) -> tuple[int, int]:
    """(events, trials). Latency: samples above the threshold, bracketed against Locust's bucket rounding as the
    fixed-sample gate does (analysis.bounds.count_above): an alarm counts only samples certainly above it, a pass
    every sample possibly above it, so rounding alone never decides either way."""
    if threshold_ms is None:
        return counts.failures, counts.requests
    if not counts.histogram.count:
        return 0, 0
    certain, possible = count_above(counts.histogram, threshold_ms)
    return (certain if side == "alarm" else possible), counts.histogram.count


@dataclass(frozen=True)
class SequentialReference:
    """What the regression tests compare with (``reference_of`` builds it from a loaded reference).

    ``counts``: the reference runs merged (sample floors; and what a run without parts is compared with).
    ``parts``: per part of a run (``part_starts``, seconds since the start; the last part open-ended), the runs'
    histograms over that part, merged: a system whose latency changes over a run (caches filling, warm-up) is then
    compared with itself at the same age, whatever length either run has. One part when a run has no timeline.
    ``spreads``: how far an unchanged run lands from the reference runs' mean, per percentile
    (analysis.regression.moderated_spreads of the whole runs), None with one run.
    """

    counts: Mapping[str, EndpointCounts]
    part_starts: tuple[float, ...] = (0.0,)
    parts: tuple[Mapping[str, Histogram], ...] = ()
    spreads: Mapping[float, PercentileSpreads] | None = None  # by percentile
    runs: int = 1

    def part_of(self, end_s: float) -> int:
        """The part an interval ending ``end_s`` seconds after the start belongs to."""
        return part_index(end_s, PART_S, len(self.part_starts))


def reference_of(run, rule=None) -> SequentialReference:
    """A loaded reference (analysis.reference.load_reference) as the sequential regression tests use it.

    With a timeline for every run (recorded from results folders), the runs are cut into PART_S parts up to their
    common length; with two or more runs, ``rule`` (the baseline's [regression]) measures how far one run lands
    from their mean (``moderated_spreads``, whole runs).
    """
    counts = counts_from_run(run)
    runs = tuple(getattr(run, "runs", ()) or ())
    timelines = tuple(getattr(run, "timelines", ()) or ())
    variation = reference_spreads(run, rule) if rule is not None else None
    if len(runs) < 1 or len(timelines) != len(runs) or any(not timeline for timeline in timelines):
        return SequentialReference(counts, spreads=variation, runs=max(1, len(runs)))
    by_run = split_timelines(timelines, PART_S)  # [part][run]: key -> that run's histogram over that part
    starts = tuple(PART_S * index for index in range(len(by_run)))
    parts = tuple({key: Histogram.merge_all(run[key] for run in part if key in run) for key in set().union(*part)}
                  for part in by_run)  # fmt: skip
    return SequentialReference(counts, starts, parts, variation, len(runs))


class LookCounts:
    """What a judge looks at, added interval by interval: the run's counts so far, and its histograms per part of
    the reference (``SequentialReference.part_of`` of each interval's end). The in-run gate feeds it each interval
    the recorder writes; benchmarks/bench_sequential.py --replay feeds it a recorded intervals.jsonl."""

    def __init__(self, reference: SequentialReference | None):
        self.reference = reference
        self.totals: dict[str, list] = {}  # endpoint key -> [requests, failures, {bucket: count}]
        self.parts: list[dict[str, dict]] = []  # per part: endpoint key -> {bucket: count}
        # Each part's histograms, built once per change of the part: a part the run has moved past keeps the same
        # objects look after look, so the judge counts its requests once (see SequentialJudge._count_above).
        self._histograms: dict[int, dict[str, Histogram]] = {}

    def add(self, end_s: float, endpoints: Mapping[str, tuple]) -> None:
        """One interval ending ``end_s`` seconds after the start: ``{key: (requests, failures, {bucket: count})}``."""
        part = None
        if self.reference is not None:
            index = self.reference.part_of(end_s)
            while len(self.parts) <= index:
                self.parts.append({})
            part = self.parts[index]
            self._histograms.pop(index, None)
        for key, (requests, failures, histogram) in endpoints.items():
            total = self.totals.setdefault(key, [0, 0, {}])
            total[0] += requests
            total[1] += failures
            for bucket, count in histogram.items():
                total[2][bucket] = total[2].get(bucket, 0) + count
            if part is not None:
                into = part.setdefault(key, {})
                for bucket, count in histogram.items():
                    into[bucket] = into.get(bucket, 0) + count

    def look(self, judge: SequentialJudge, elapsed_s: float) -> list[SequentialCheck]:
        parts = None
        if self.reference is not None:
            for index, part in enumerate(self.parts):
                if index not in self._histograms:
                    self._histograms[index] = {key: Histogram.from_dict(h) for key, h in part.items()}
            parts = [self._histograms[index] for index in range(len(self.parts))]
        return judge.look(elapsed_s, counts_from_dict(self.totals), parts)


class SequentialJudge:
    """Judges a growing run look after look; remembers since when each check has been decided.

    Each look judges the cumulative counts afresh: a check is decided while its evidence crosses a threshold, and
    ``decided_after_s`` is the look at which its current verdict was first reached. A verdict that the later data
    no longer supports (a burst of slow responses that was diluted, a pass that a degradation undid) goes back to
    undecided, and the run goes on. Valid: whatever look the run stops at, each claim is wrong with at most its
    alpha, because Ville's inequality bounds the chance that the evidence EVER crosses wrongly.

    Error budgets come from the baseline's [decision] rule, as for the fixed-sample gate: alarms share
    1 - breach_confidence over the run (Bonferroni over every statistical SLA limit, as
    analysis.decide.statistical_check_count counts them, plus every regression test); each pass has
    1 - pass_confidence.
    """

    def __init__(self, baseline: Baseline, reference: SequentialReference | Mapping[str, EndpointCounts] | None = None):
        self.baseline = baseline
        if reference is not None and not isinstance(reference, SequentialReference):
            reference = SequentialReference(reference)  # counts alone: one part, no run-to-run variation
        self.reference: SequentialReference | None = reference
        self.alarm_alpha = 1 - baseline.decision.breach_confidence  # run-wide
        self.pass_alpha = 1 - baseline.decision.pass_confidence  # per claim
        self._first_decided: dict[tuple[str, str], float] = {}
        self._verdicts: dict[tuple[str, str], Verdict] = {}
        self._out_of_reach_since: dict[tuple[str, str], float] = {}  # futility: out of reach at every look since
        # futility: each undecided test's (theta0, (alarm events, trials, alpha), (pass events, trials, min samples))
        self._sides: dict[tuple[str, str], tuple] = {}
        # A look runs in the loop that times the responses (harness/gate.py): what does not change between looks is
        # counted once. By object: (histogram, threshold) -> counts; (reference histogram, q, alpha) -> bounds.
        self._counted: dict[tuple[int, float], tuple[Histogram, tuple[int, int]]] = {}
        self._bounds: dict[tuple[int, float, float], tuple[int, int] | None] = {}
        self._alarm_tests_max = 1
        self._regression_tests_max = 1
        self.last: list[SequentialCheck] = []
        self.looks = 0
        self.last_elapsed_s = 0.0

    # ---- planning ----------------------------------------------------------------------------------------------
    def _tests_for(self, key: str) -> tuple[list[_Test], list[SequentialCheck]]:
        """The Bernoulli tests of one endpoint, and checks that cannot be decided by more data (reference too small)."""
        limits = self.baseline.limits_for(key)
        minimum = limits.min_samples or 0
        required = self.baseline.is_required(key)
        tests: list[_Test] = []
        fixed: list[SequentialCheck] = []
        for metric, q in PERCENTILE_LIMITS.items():
            limit = getattr(limits, metric)
            if limit is not None:
                tests.append(_Test(key, metric, "sla", 1 - q, threshold_ms=limit, warning=limits.warning_for(metric), min_samples=minimum))
        if limits.fail_ratio is not None:
            test = _fail_ratio_test(key, limits.fail_ratio, limits.warning_for("fail_ratio"), minimum, required)
            if isinstance(test, _Test):
                tests.append(test)
            else:
                fixed.append(test)
        if self.reference is not None:
            rule = self.baseline.regression
            previous = self.reference.counts.get(key)
            for q in rule.percentiles:
                metric = f"p{q * 100:g} change"
                if previous is None:
                    continue  # decide.py says "not comparable"; nothing to wait for
                if previous.histogram.count < rule.min_samples:
                    fixed.append(SequentialCheck(key, metric, required, None, 0, decidable=False,
                                                 reason=f"the reference has {previous.histogram.count} samples, fewer than {rule.min_samples}"))  # fmt: skip
                    continue
                tests.append(_Test(key, metric, "regression", 1 - q, min_samples=rule.min_samples))
        return tests, fixed

    def _run_tests(self, endpoints: Mapping[str, EndpointCounts]) -> tuple[list[_Test], dict[str, EndpointCounts]]:
        """The run-wide failure ratio over every HTTP request (not JOB timings nor WS messages), as decide.run_checks."""
        limits = run_limits(self.baseline)
        if limits.fail_ratio is None:
            return [], {}
        http = [counts for key, counts in endpoints.items() if counts_run_wide(key.split(" ", 1)[0])]
        total = EndpointCounts(sum(c.requests for c in http), sum(c.failures for c in http), Histogram.empty())
        test = _fail_ratio_test(RUN_SUBJECT, limits.fail_ratio, limits.warning_for("fail_ratio"),
                                self.baseline.defaults.min_samples or 0, True)  # fmt: skip
        return ([test] if isinstance(test, _Test) else []), {RUN_SUBJECT: total}

    def run_effect_alpha(self) -> float:
        """The one-sided level of the run-to-run allowance of each regression test: the baseline's [regression]
        confidence shared by the run's regression tests, as the fixed-sample gate shares it (analysis/regression.py
        widens its intervals by the same variation at that level)."""
        return (1 - self.baseline.regression.confidence) / (2 * self._regression_tests_max)

    def noise_factor(self, key: str, alpha: float | None = None, q: float | None = None) -> float:
        """How far above the reference's percentile an unchanged run's may land: 1 + the baseline's band, or, with
        a reference of several runs, exp(t * s) when that is wider: s the deviation of this run's log percentile
        from the reference runs' mean (analysis.regression.RunSpread.scale), t the Student quantile with its
        degrees of freedom at ``alpha`` (default ``run_effect_alpha``). ``q``: the percentile whose variation
        counts (None: the most variable one).
        """
        band = self.baseline.regression.min_relative_change
        reference = self.reference
        if reference is None or not reference.spreads:
            return 1 + band
        previous = reference.counts.get(key)
        median = (previous.histogram.percentile(0.5) if previous is not None else None) or 1
        spreads = [spread.for_endpoint(key, median) for measured, spread in reference.spreads.items()
                   if q is None or abs(measured - q) < 1e-9]  # fmt: skip
        if not spreads:
            spreads = [spread.for_endpoint(key, median) for spread in reference.spreads.values()]
        level = 1 - (self.run_effect_alpha() if alpha is None else alpha)
        return max(1 + band, max(math.exp(float(stdtrit(spread.degrees_of_freedom, level)) * spread.scale(0.0)) for spread in spreads))

    def _regression_events(self, test: _Test, counts: EndpointCounts, parts: Sequence[Mapping[str, Histogram]] | None,
                           alarm_alpha: float) -> _RegressionEvents | None:  # fmt: skip
        """The regression test's counts: each part of this run against the same part of the reference runs.

        The alarm's level is split between the reference's own sampling error (its order-statistic upper bound,
        shared by the parts) and the test itself; the run-to-run allowance (``noise_factor``) has its own level.
        Each request is compared with its own part's thresholds, which do not move once the reference is loaded,
        so the counts grow as a sequence of Bernoulli trials and the test stays always valid.
        None when the reference percentile has no finite bound (too few samples, or 0 ms).
        """
        reference = self.reference
        assert reference is not None
        share = alarm_alpha / 2  # half for the reference's sampling error, half for the test
        factor = self.noise_factor(test.subject, q=1 - test.theta0)
        if parts is not None and len(reference.parts) > 1:
            pairs = []
            for index, part in enumerate(parts[: len(reference.parts)]):
                current = part.get(test.subject)
                if current is not None and current.count:
                    pairs.append((current, reference.parts[index].get(test.subject)))
            found = self._events(pairs, 1 - test.theta0, share, factor) if pairs and all(ref is not None for _, ref in pairs) else None
            if found is not None:
                return replace(found, test_alpha=share, factor=factor)
        found = self._events([(counts.histogram, reference.counts[test.subject].histogram)], 1 - test.theta0, share, factor)
        return None if found is None else replace(found, test_alpha=share, factor=factor)

    def _events(self, pairs: list, q: float, alpha: float, factor: float) -> _RegressionEvents | None:
        """Count each (current, reference) part's requests against that reference part's thresholds: "regressed"
        above factor x the reference percentile's upper bound (at ``alpha`` shared by the parts), "unchanged" at
        most factor x its value, "improved" below its value / factor. Bucket rounding bracketed as everywhere."""
        alarm, passing, improved = [0, 0], [0, 0], [0, 0]  # [events, trials]
        alarm_ms = pass_ms = 0.0
        for current, reference in pairs:
            bound_key = (id(reference), q, alpha / len(pairs))  # reference histograms live as long as the judge
            if bound_key not in self._bounds:
                self._bounds[bound_key] = percentile_bounds(reference, q, alpha / len(pairs))
            bounds = self._bounds[bound_key]
            point = reference.percentile(q)
            if bounds is None or not point:
                return None
            # As the fixed-sample gate (analysis/regression.py): a change must also clear 1.5 Locust buckets, or a
            # 1 ms step of a 6 ms Realtime message (+17 %, one bucket) would count.
            part_factor = max(factor, 1 + 1.5 * bucket_step(point) / point)
            alarm_ms, pass_ms = part_factor * bounds[1], part_factor * point
            for side, threshold, kind in ((alarm, alarm_ms, "alarm"), (passing, pass_ms, "pass"), (improved, point / part_factor, "pass")):
                certain, possible = self._count_above(current, threshold)
                side[0] += certain if kind == "alarm" else possible
                side[1] += current.count
        return _RegressionEvents((alarm[0], alarm[1]), (passing[0], passing[1]), (improved[0], improved[1]), alarm_ms,
                                 pass_ms, len(pairs))  # fmt: skip

    def _count_above(self, histogram: Histogram, threshold: float) -> tuple[int, int]:
        """analysis.bounds.count_above, once per histogram object and threshold (the object is kept with its count,
        so its id cannot be reused while the count is kept)."""
        key = (id(histogram), threshold)
        found = self._counted.get(key)
        if found is None or found[0] is not histogram:
            found = self._counted[key] = (histogram, count_above(histogram, threshold))
        return found[1]

    def _is_required(self, subject: str) -> bool:
        return subject == RUN_SUBJECT or self.baseline.is_required(subject)

    # ---- one look ----------------------------------------------------------------------------------------------
    def look(self, elapsed_s: float, endpoints: Mapping[str, EndpointCounts],
             parts: Sequence[Mapping[str, Histogram]] | None = None) -> list[SequentialCheck]:  # fmt: skip
        """Judge every check on the cumulative counts so far; ``elapsed_s`` is the run's age at this look.

        ``parts``: this run's histograms per part of the reference (``SequentialReference.part_of`` of each
        interval's end), for the regression tests; None compares the whole run with the whole reference.
        """
        self.looks += 1
        self.last_elapsed_s = elapsed_s
        # Counts of histograms no longer looked at are dropped (and their ids freed).
        alive = {id(histogram) for part in parts or () for histogram in part.values()}
        self._counted = {key: value for key, value in self._counted.items() if key[0] in alive}
        planned: list[_Test] = []
        checks: list[SequentialCheck] = []
        for key in sorted(endpoints):
            tests, fixed = self._tests_for(key)
            planned += tests
            checks += fixed
        run_tests, run_counts = self._run_tests(endpoints)
        planned += run_tests
        counts = {**endpoints, **run_counts}
        # The Bonferroni divisor: the fixed-sample gate's count of statistical SLA limits (warning levels included),
        # plus this run's regression tests; never smaller than at an earlier look.
        sla_limits = limit_count(endpoints, self.baseline)
        regressions = sum(test.kind == "regression" for test in planned)
        self._alarm_tests_max = max(self._alarm_tests_max, sla_limits + regressions)
        self._regression_tests_max = max(self._regression_tests_max, regressions)
        alarm_alpha = self.alarm_alpha / self._alarm_tests_max
        for test in planned:
            checks.append(self._judge(test, counts[test.subject], elapsed_s, alarm_alpha, parts))
        self.last = checks
        return checks

    def _alarm(self, events: int, trials: int, theta0: float, alpha: float) -> bool:
        return trials > 0 and log_evidence(events, trials, theta0, "above") >= math.log(1 / alpha)

    def _passes(self, events: int, trials: int, theta0: float, minimum: int) -> bool:
        return trials >= max(minimum, 1) and log_evidence(events, trials, theta0, "below") >= math.log(1 / self.pass_alpha)

    def _judge(self, test: _Test, counts: EndpointCounts, elapsed_s: float, alarm_alpha: float,
               parts: Sequence[Mapping[str, Histogram]] | None = None) -> SequentialCheck:  # fmt: skip
        required = self._is_required(test.subject)
        ident = (test.subject, test.metric)
        events: _RegressionEvents | None = None
        if test.kind == "regression":
            events = self._regression_events(test, counts, parts, alarm_alpha)
            if events is None:
                return SequentialCheck(test.subject, test.metric, required, None, counts.histogram.count, decidable=False,
                                       reason="the reference percentile has no finite confidence bound (too few samples or 0 ms)")  # fmt: skip
            (exceed, n), (pass_exceed, pass_n) = events.alarm, events.passing
            alarm_alpha = events.test_alpha
        else:
            exceed, n = _exceedances(counts, test.threshold_ms, "alarm")
            pass_exceed, pass_n = _exceedances(counts, test.threshold_ms, "pass")
        alarm = self._alarm(exceed, n, test.theta0, alarm_alpha) and (test.kind == "sla" or n >= test.min_samples)
        passed = self._passes(pass_exceed, pass_n, test.theta0, test.min_samples)
        verdict: Verdict | None = None
        if alarm:
            verdict = Verdict.BREACH if test.kind == "sla" else Verdict.REGRESSED
        elif passed:
            verdict = Verdict.PASS if test.kind == "sla" else Verdict.UNCHANGED
            if events is not None:
                better, better_n = events.improved
                if self._passes(better, better_n, test.theta0, test.min_samples):
                    verdict = Verdict.IMPROVED
            if test.warning is not None and self._warning_proven(test, test.warning, counts, alarm_alpha):
                verdict = Verdict.WARNING
        if verdict is None:
            self._verdicts.pop(ident, None)
        else:
            if self._verdicts.get(ident) is not verdict:  # a new decision (or a changed one) starts its clock now
                self._first_decided[ident] = elapsed_s
            self._verdicts[ident] = verdict
            return SequentialCheck(test.subject, test.metric, required, verdict, n, self._first_decided[ident],
                                   reason=_threshold_text(test, events))  # fmt: skip
        # Each side at its own threshold and counts (they differ for regressions, and by bucket rounding).
        more_to_pass = samples_to_show(pass_exceed, pass_n, test.theta0, self.pass_alpha, "below")
        if more_to_pass is not None and pass_n + more_to_pass < test.min_samples:
            more_to_pass = test.min_samples - pass_n
        more = _fewest(samples_to_show(exceed, n, test.theta0, alarm_alpha, "above"), more_to_pass)
        self._sides[ident] = (test.theta0, (exceed, n, alarm_alpha), (pass_exceed, pass_n, test.min_samples))
        return SequentialCheck(test.subject, test.metric, required, None, n, more_samples_needed=more, reason=_threshold_text(test, events))

    def _warning_proven(self, test: _Test, warning: float, counts: EndpointCounts, alarm_alpha: float) -> bool:
        """The warning level proven passed (as an alarm, at the alarm's level): the check is a warning, not a pass."""
        if test.threshold_ms is None:  # fail_ratio: the warning is a lower failure share
            return self._alarm(counts.failures, counts.requests, warning, alarm_alpha)
        events, trials = _exceedances(counts, warning, "alarm")
        return self._alarm(events, trials, test.theta0, alarm_alpha)

    # ---- summary -----------------------------------------------------------------------------------------------
    def undecided_required(self) -> list[SequentialCheck]:
        """Required checks that more data could still decide: while any is left, the run goes on."""
        return [check for check in self.last if check.required and check.decidable and not check.decided]

    def chance_to_decide(self, check: SequentialCheck, more: int) -> float:
        """The chance that ``more`` further samples decide an undecided check either way (``chance_to_show`` of
        its alarm and its pass side, each with its own counts; the two cannot both happen)."""
        sides = self._sides.get((check.subject, check.metric))
        if sides is None:
            return 0.0
        theta0, (exceed, n, alarm_alpha), (pass_exceed, pass_n, minimum) = sides
        return min(1.0, chance_to_show(exceed, n, more, theta0, alarm_alpha, "above")
                   + chance_to_show(pass_exceed, pass_n, more, theta0, self.pass_alpha, "below", minimum))  # fmt: skip

    def _points_to_alarm(self, check: SequentialCheck) -> bool:
        """The check's estimate is past its alarm threshold (more exceedances than theta0 allows), unproven yet."""
        sides = self._sides.get((check.subject, check.metric))
        if sides is None:
            return False
        theta0, (exceed, n, _alpha), _pass = sides
        return n > 0 and exceed / n > theta0

    def out_of_reach(self, max_s: float, margin: float = FUTILITY_MARGIN,
                     persistence_s: float | None = None) -> list[SequentialCheck]:  # fmt: skip
        """Undecided required checks that the rest of the run cannot be expected to decide (futility).

        A check is out of reach when the chance that it is decided by ``max_s`` (``chance_to_decide``, with
        ``margin`` times the samples its endpoint would still send at its rate so far) is below FUTILITY_CHANCE,
        and has been at every look of the last ``persistence_s`` seconds (default: FUTILITY_PERSISTENCE_S, or a
        tenth of ``max_s`` if shorter). Judged at the observed share alone (the rule before), a check whose share
        sat near its threshold after a few hundred samples was given up on while its evidence was still building:
        a 30 % slower orchestrator, +13 % in its first minute and +33 % in its second, stopped "undecidable" after
        124 s, in reach 10 s earlier. What is given up on now is what the data pin near a threshold (a p95 change
        well inside its noise factor after thousands of samples) or what the rest is too short for (a 0.5 %
        fail-ratio limit that needs ~460 clean requests, in a run that sends 150). A check whose estimate is past
        its alarm threshold (a breach or a regression not yet shown) is never given up on: the chance assumes the
        share stays where it is, and a slowed service's change grows as its caches fill later (the orchestrator
        above: +13 %, +33 %, then +30-55 %); missing a regression costs more than a run that lasts its maximum.
        Stopping is as valid as at any other look (the tests are always valid); futility only gives up on what the
        maximum would not settle.
        Call this at every look from the first one that may stop the run; calling it again at the same look
        changes nothing.
        """
        elapsed = self.last_elapsed_s
        if elapsed <= 0:
            return []
        if persistence_s is None:
            persistence_s = min(FUTILITY_PERSISTENCE_S, max_s / 10)
        reach = []
        undecided = self.undecided_required()
        current = {(check.subject, check.metric) for check in undecided}
        for ident in [ident for ident in self._out_of_reach_since if ident not in current]:
            del self._out_of_reach_since[ident]  # decided since: a later return starts afresh
        for check in undecided:
            ident = (check.subject, check.metric)
            still_to_come = check.samples / elapsed * max(max_s - elapsed, 0.0)
            if not self._points_to_alarm(check) and self.chance_to_decide(check, math.ceil(margin * still_to_come)) < FUTILITY_CHANCE:
                since = self._out_of_reach_since.setdefault(ident, elapsed)
                if elapsed - since >= persistence_s:
                    reach.append(check)
            else:
                self._out_of_reach_since.pop(ident, None)
        return reach


def _fail_ratio_test(subject: str, limit: float, warning: float | None, minimum: int, required: bool) -> _Test | SequentialCheck:
    if 0 < limit < 1:
        return _Test(subject, "fail_ratio", "sla", limit, warning=warning if warning and 0 < warning < 1 else None, min_samples=minimum)
    # 0 or 1: no statistics needed (any failure breaches a 0 limit; a limit of 1 always passes)
    return SequentialCheck(subject, "fail_ratio", required, None, 0, decidable=False,
                           reason="a fail_ratio limit of 0 or 1 is judged at the end of the run")  # fmt: skip


@dataclass(frozen=True)
class _RegressionEvents:
    """A regression test's counts at one look: (events, trials) for each side, and what they were counted against."""

    alarm: tuple[int, int]
    passing: tuple[int, int]
    improved: tuple[int, int]
    alarm_ms: float  # thresholds of the last part compared (what the reason shows)
    pass_ms: float
    parts: int
    test_alpha: float = 0.0
    factor: float = 1.0


def _threshold_text(test: _Test, events: _RegressionEvents | None = None) -> str:
    share = f"{test.theta0:.3g}"
    if test.threshold_ms is None and events is None:
        return f"failures vs {share}"
    if events is not None:
        where = f" (the last of {events.parts} parts of the run, each against the same part of the reference)" if events.parts > 1 else ""
        return (f"share above {events.alarm_ms:.0f} ms (regressed) / {events.pass_ms:.0f} ms (unchanged){where} vs {share}: "
                f"the reference's upper bound / value x {events.factor:.3f} (noise factor)")  # fmt: skip
    return f"share above {test.threshold_ms:g} ms vs {share}"


# ---- applying the sequential verdicts to a Decision --------------------------------------------------------------
def apply_to_decision(decision, record: dict):
    """The final Decision of an until-decided run: statistical checks take their sequential verdicts.

    Every percentile, fail-ratio and percentile-change check that the sequential test covered gets its verdict
    (or "inconclusive" with the samples it lacked, if still undecided), and its reason says when it was decided.
    Checks it does not cover (max_ms, presence, business, min_rps, not comparable) keep decide()'s verdict.
    Required endpoints (and the run-wide rate) with an undecided SLA check are the run's "too few samples" ones.
    """
    by_ident = {(c["subject"], c["metric"]): c for c in record.get("checks", [])}
    checks = []
    undersampled = set()
    for check in decision.checks:
        seq = by_ident.get((check.subject, check.metric))
        if seq is None:
            checks.append(check)
            continue
        if seq["verdict"] is not None:
            verdict = Verdict(seq["verdict"])
            reason = f"decided after {seq['decided_after_s']:.0f} s, {seq['samples']} samples (sequential)"
        else:
            verdict = Verdict.INCONCLUSIVE
            if not seq.get("decidable", True):
                reason = seq["reason"]
            else:
                more = seq.get("more_samples_needed")
                need = f"about {more} more needed" if more is not None else "the estimate sits at the limit"
                reason = f"{TOO_FEW_SAMPLES}: undecided after {seq['samples']} samples, {need} (sequential)"
                # As in decide(): an undecided SLA check of a required endpoint (or the run-wide rate) makes the run
                # not valid; an undecided regression check is inconclusive and leaves the exit code alone.
                if seq["required"] and not check.metric.endswith(" change"):
                    undersampled.add(check.subject)
        # The fixed-sample bounds and settling estimate of decide() do not describe a sequential decision: replaced.
        more = None if seq["verdict"] is not None else seq.get("more_samples_needed")
        checks.append(replace(check, verdict=verdict, reason=reason, bounds=None, more_samples=more, settles_as=None))
    note = (f"sequential decision (always-valid tests, {record.get('looks', 0)} looks): stopped after "
            f"{record.get('elapsed_s', 0):.0f} s, {record.get('stop', 'at the end of the run')}")  # fmt: skip
    return replace(decision, checks=tuple(checks), undersampled_endpoints=tuple(sorted(undersampled)),
                   notes=(*decision.notes, note))  # fmt: skip


def apply_recorded(decision, source: str | Path):
    """``decision`` with the sequential verdicts of ``source``'s sequential.json, when the folder has one and it was
    judged against the same baseline (and with a reference exactly when this decision has one): the offline
    ``compare`` and ``report`` then say what the in-run gate said. Otherwise ``decision`` unchanged (with a note
    when a record exists but does not match)."""
    folder = Path(source)
    record = load_record(folder) if folder.is_dir() else None
    if record is None:
        return decision
    if record.get("baseline") != decision.baseline_name or (record.get("reference") is None) != (decision.reference_source is None):
        note = ("sequential.json not applied: the run was judged until decided against another baseline or reference; "
                "these verdicts are fixed-sample ones")  # fmt: skip
        return replace(decision, notes=(*decision.notes, note))
    return apply_to_decision(decision, record)


# ---- sequential.json ---------------------------------------------------------------------------------------------
def record_of(judge: SequentialJudge, *, stop: str, min_s: float, max_s: float | None, reference: str | None = None) -> dict:
    """What sequential.json holds: the settings, why the run stopped, and every check at the last look."""
    return {
        "schema_version": SCHEMA_VERSION,
        "baseline": judge.baseline.name,
        "reference": reference,
        "method": "mixture SPRT test martingales (always-valid, Ville's inequality)",
        "alarm_alpha": round(judge.alarm_alpha, 6),
        "pass_alpha": round(judge.pass_alpha, 6),
        "min_s": min_s,
        "max_s": max_s,
        "looks": judge.looks,
        "elapsed_s": round(judge.last_elapsed_s, 1),
        "stop": stop,
        "checks": [
            {**asdict(check), "verdict": check.verdict.value if check.verdict else None,
             "decided_after_s": None if check.decided_after_s is None else round(check.decided_after_s, 1)}
            for check in judge.last
        ],  # fmt: skip
    }


def write_record(record: dict, folder: str | Path) -> Path:
    path = Path(folder) / SEQUENTIAL_JSON
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


def load_record(folder: str | Path) -> dict | None:
    """sequential.json of a results folder, or None when the run was not until-decided."""
    path = Path(folder) / SEQUENTIAL_JSON
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InputError(f"unreadable ({error.__class__.__name__})", path=path) from None
    if not isinstance(record, dict) or record.get("schema_version") != SCHEMA_VERSION or not isinstance(record.get("checks"), list):
        raise InputError(f"not a sequential.json of schema_version {SCHEMA_VERSION}", path=path)
    return record


def render_text(record: dict) -> str:
    """The time each check took to decide, for the verdict text and the job log."""
    lines = [f"Sequential gate: {record['stop']} after {record['elapsed_s']:.0f} s ({record['looks']} looks; "
             f"min {record['min_s']:g} s, max {record['max_s'] if record['max_s'] is not None else 'none'} s)"]  # fmt: skip
    rows = [("ENDPOINT", "METRIC", "REQUIRED", "DECISION", "AFTER", "SAMPLES", "MORE NEEDED")]
    for check in record["checks"]:
        decided = check["verdict"] is not None
        rows.append((
            check["subject"], check["metric"], "yes" if check["required"] else "no",
            check["verdict"] or ("undecided" if check.get("decidable", True) else "inconclusive"),
            f"{check['decided_after_s']:.0f} s" if decided else "-",
            str(check["samples"]),
            "" if decided or not check.get("decidable", True) else (str(check["more_samples_needed"]) if check["more_samples_needed"] is not None else "?"),
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines) + "\n"


def counts_from_dict(endpoints: Mapping[str, list]) -> dict[str, EndpointCounts]:
    """``{key: [requests, failures, {bucket: count}]}`` (the interval recorder's shape) -> EndpointCounts."""
    return {
        key: EndpointCounts(int(requests), int(failures), Histogram.from_dict(histogram))
        for key, (requests, failures, histogram) in endpoints.items()
    }


def counts_from_run(run) -> dict[str, EndpointCounts]:
    """A RunResult's endpoints (with histograms) as EndpointCounts: e.g. the reference run."""
    return {
        key: EndpointCounts(endpoint.requests, endpoint.failures, endpoint.histogram)
        for key, endpoint in run.endpoints.items()
        if endpoint.histogram is not None
    }


__all__ = [
    "SEQUENTIAL_JSON", "EndpointCounts", "SequentialCheck", "SequentialJudge",
    "LookCounts", "SequentialReference", "apply_recorded", "apply_to_decision", "bernoulli_decision", "counts_from_dict", "counts_from_run",
    "load_record", "reference_of",
    "chance_to_show", "log_evidence", "percentile_bounds", "record_of", "render_text", "samples_to_decide", "samples_to_show",
    "write_record",
]  # fmt: skip


def _binomial_quantile(p: float, n: int, q: float) -> int:
    """The smallest k with P(Binomial(n, q) <= k) >= p: scipy.stats.binom.ppf, computed as it does, from the
    continuous inverse (bdtrik) checked one step down with the CDF (bdtr)."""
    k = max(math.ceil(float(bdtrik(p, n, q))), 0)
    return k - 1 if k > 0 and float(bdtr(k - 1, n, q)) >= p else min(k, n)
