"""The fixed-sample gate's run-to-run variation, per percentile and measured on parts of the reference runs (issue 18).

A p50 moves far less from run to run than a p95. Pooled over both, a real +25 % p50 slowdown stayed "unchanged"
(its interval widened by the p95's variation), and one percentile of three whole runs has too few degrees of
freedom to be of use. These tests build references whose runs carry timelines (as recorded from results folders).
"""

import numpy as np
import pytest

from analysis.baseline import RegressionRule
from analysis.decide import decide
from analysis.histogram import Histogram
from analysis.reference import ReferenceRuns
from analysis.regression import (
    FIXED_PARTS,
    RunToRun,
    RunToRunVariance,
    compare_histograms,
    part_index,
    pooled_over_parts,
    reference_run_to_run,
    run_to_run_variance,
    split_timelines,
)
from analysis.results import EndpointResult, RunResult
from analysis.verdicts import Verdict
from tests.support.decisions import baseline

RULE = RegressionRule()
KEY = "POST /functions/v1/export [csv]"
MEDIAN = 360.0
TESTED = 20  # endpoints tested in a typical run: the confidence is shared among them


def timeline_run(seed: int, sigma: float, part_effects=(0.0,), per_interval: int = 30, intervals: int = 20):
    """One 100 s run of 5 s intervals: lognormal latencies around MEDIAN with spread ``sigma``; the log median
    shifted by ``part_effects`` (spread evenly over the run). Returns (whole-run histogram, timeline)."""
    rng = np.random.default_rng(seed)
    timeline = []
    for interval in range(intervals):
        effect = part_effects[interval * len(part_effects) // intervals]
        samples = rng.lognormal(np.log(MEDIAN) + effect, sigma, per_interval)
        timeline.append((5.0 * (interval + 1), {KEY: Histogram.from_samples(samples)}))
    return Histogram.merge_all(histograms[KEY] for _, histograms in timeline), tuple(timeline)


def reference(runs):
    wholes = [{KEY: whole} for whole, _ in runs]
    return wholes, [timeline for _, timeline in runs]


def current_run(seed: int, scale: float = 1.0, sigma: float = 0.3, n: int = 600) -> Histogram:
    return Histogram.from_samples(np.random.default_rng(seed).lognormal(np.log(MEDIAN * scale), sigma, n))


# Three reference runs whose median holds still while their tails move: the spread differs from run to run
# (p95 ~500, ~590, ~690 ms), as a machine's load moves a p95 far more than a p50.
STEADY_MEDIAN_MOVING_TAIL = [timeline_run(seed, sigma) for seed, sigma in ((1, 0.2), (2, 0.3), (3, 0.4))]


def test_each_percentile_gets_its_own_variation_with_the_degrees_of_freedom_of_the_parts():
    wholes, timelines = reference(STEADY_MEDIAN_MOVING_TAIL)
    variation = reference_run_to_run(wholes, timelines, RULE)
    p50, p95 = variation[0.5].for_endpoint(KEY), variation[0.95].for_endpoint(KEY)
    assert np.sqrt(p50.log_variance) < 0.05 < 0.10 < np.sqrt(p95.log_variance)
    # 5 parts x (3 runs - 1): what makes one percentile's estimate usable (2 alone: a t of ~8.9 sd)
    assert p50.degrees_of_freedom == p95.degrees_of_freedom == FIXED_PARTS * 2 and p50.runs == 3


def test_a_p50_slowdown_is_not_hidden_by_the_p95s_variation():
    wholes, timelines = reference(STEADY_MEDIAN_MOVING_TAIL)
    merged = Histogram.merge_all(whole[KEY] for whole in wholes)
    slower = current_run(10, scale=1.25)  # the whole distribution +25 %, the spread of the middle run
    variation = reference_run_to_run(wholes, timelines, RULE)
    per_percentile = {q: v.for_endpoint(KEY) for q, v in variation.items()}
    p50, _ = compare_histograms(merged, slower, RULE, endpoints_tested=TESTED, run_to_run=per_percentile)
    assert p50.verdict is Verdict.REGRESSED, p50
    assert "for this percentile, 10 degrees of freedom" in p50.reason
    # The pooled estimate (p50 and p95 together, whole runs) called the same change "unchanged".
    pooled = run_to_run_variance(wholes, RULE).for_endpoint(KEY)
    old, _ = compare_histograms(merged, slower, RULE, endpoints_tested=TESTED, run_to_run=dict.fromkeys(RULE.percentiles, pooled))
    assert old.verdict is Verdict.UNCHANGED and old.interval[0] < RULE.min_relative_change


def test_a_p95_change_within_the_p95s_own_variation_is_unchanged():
    wholes, timelines = reference(STEADY_MEDIAN_MOVING_TAIL)
    merged = Histogram.merge_all(whole[KEY] for whole in wholes)
    wider = current_run(11, sigma=0.48)  # p95 ~790 ms: beyond the three runs' but within how much they move
    variation = {q: v.for_endpoint(KEY) for q, v in reference_run_to_run(wholes, timelines, RULE).items()}
    p50, p95 = compare_histograms(merged, wider, RULE, endpoints_tested=TESTED, run_to_run=variation)
    assert p95.relative_change > 0.25 and p95.verdict is Verdict.UNCHANGED, p95
    assert p50.verdict is Verdict.UNCHANGED
    # Without the run-to-run variation (sampling noise alone) the same p95 would be an alarm.
    bare, = compare_histograms(merged, wider, RULE.model_copy(update={"percentiles": [0.95]}), endpoints_tested=2 * TESTED)
    assert bare.verdict is Verdict.REGRESSED


def test_parts_see_the_variation_that_three_whole_runs_can_hide():
    # Each run's minutes move +-10 % against the other runs' same minutes, but the moves cancel over each run:
    # three whole runs agree (an estimate of 0, as the background discovery's p95 had before a +18 % false alarm),
    # while the parts measure the variation (an upper bound of a whole run's: the conservative side).
    effects = [(0.1, -0.1, 0.1, -0.1, 0.0), (-0.1, 0.1, -0.1, 0.1, 0.0), (0.1, 0.1, -0.1, -0.1, 0.0)]
    runs = [timeline_run(seed, 0.2, shifts, per_interval=60) for seed, shifts in zip((21, 22, 23), effects)]
    wholes, timelines = reference(runs)
    whole_runs = reference_run_to_run(wholes, [None] * 3, RULE)[0.5].for_endpoint(KEY)
    by_parts = reference_run_to_run(wholes, timelines, RULE)[0.5].for_endpoint(KEY)
    assert whole_runs.degrees_of_freedom == 2 and np.sqrt(whole_runs.log_variance) < 0.03
    assert by_parts.degrees_of_freedom == 10 and np.sqrt(by_parts.log_variance) > 0.05


def test_without_timelines_each_percentile_is_measured_on_whole_runs():
    wholes, timelines = reference(STEADY_MEDIAN_MOVING_TAIL)
    variation = reference_run_to_run(wholes, [timelines[0], None, timelines[2]], RULE)  # one run without intervals
    assert {q: v.for_endpoint(KEY).degrees_of_freedom for q, v in variation.items()} == {0.5: 2, 0.95: 2}
    assert reference_run_to_run(wholes[:1], timelines[:1], RULE) is None


def test_a_short_reference_is_cut_into_equal_parts_and_a_long_one_too():
    _, timelines = reference(STEADY_MEDIAN_MOVING_TAIL)  # 100 s runs
    parts = split_timelines(timelines, 100.0 / FIXED_PARTS, FIXED_PARTS)
    assert len(parts) == FIXED_PARTS and all(len(part) == 3 for part in parts)
    assert [part[0][KEY].count for part in parts] == [4 * 30] * FIXED_PARTS  # four 5 s intervals each
    assert part_index(20.0, 20.0, 5) == 0 and part_index(20.5, 20.0, 5) == 1 and part_index(500, 20.0, 5) == 4
    assert len(split_timelines(timelines, 60.0)) == 1  # the sequential gate's 60 s parts: one part of 100 s


def test_a_part_that_measured_nothing_does_not_pull_the_fallback_to_zero():
    measured = RunToRun({"GET /a": RunToRunVariance(0.04, 3, 2)}, RunToRunVariance(0.04, 3, 2))
    empty = RunToRun({}, RunToRunVariance(0.0, 3, 2))
    pooled = pooled_over_parts([measured, empty, None])
    assert pooled.pooled.log_variance == pytest.approx(0.04) and pooled.for_endpoint("GET /b").log_variance == pytest.approx(0.04)
    assert pooled_over_parts([empty, None]) is None


def test_decide_measures_the_variation_on_the_reference_runs_timelines():
    runs = STEADY_MEDIAN_MOVING_TAIL
    results = [RunResult(source=f"<run {i}>", endpoints={KEY: EndpointResult("POST", KEY.split(" ", 1)[1], h.count, 0, h)})
               for i, (h, _) in enumerate(runs)]  # fmt: skip
    merged = Histogram.merge_all(h for h, _ in runs)
    multi = ReferenceRuns(source="<3 runs>", endpoints={KEY: EndpointResult("POST", KEY.split(" ", 1)[1], merged.count, 0, merged)},
                          runs=tuple(results), timelines=tuple(timeline for _, timeline in runs))  # fmt: skip
    slower = current_run(12, scale=1.3)
    current = RunResult(source="<current>", endpoints={KEY: EndpointResult("POST", KEY.split(" ", 1)[1], slower.count, 0, slower)})
    checks = {c.metric: c for c in decide(current, baseline(regression={}), multi).checks if c.metric.endswith(" change")}
    assert checks["p50 change"].verdict is Verdict.REGRESSED
    assert all("10 degrees of freedom" in c.reason for c in checks.values())
