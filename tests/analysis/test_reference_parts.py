"""Sequential regression tests against a reference of several recorded runs: part by part, with their variation.

Why parts: the simulator's enrichment orchestrator (like ProspectPro's, whose sibling functions keep in-isolate
caches) gets faster for its first minutes, so a run's whole-run p50 depends on how long it ran. Until decided, runs
differ in length; compared whole, a run longer than its reference looked ~20 % faster than it was (a 30 % slowdown
showed as +18-22 %) and a shorter one slower. Each part of a run is now compared with the same part of the
reference runs. Why the variation: with several reference runs the noise allowance is what they measured.
"""

import json
import math

import numpy as np
import pytest

from analysis.baseline import baseline_from_dict
from analysis.reference import load_reference
from analysis.sequential import PART_S, LookCounts, SequentialJudge, reference_of
from analysis.verdicts import Verdict

KEY = "POST /functions/v1/enrichment-orchestrator"
BASELINE = baseline_from_dict({
    "schema_version": 1, "name": "t",
    "defaults": {"p95_ms": 100000, "fail_ratio": 0.5, "min_samples": 20},
    "endpoints": {KEY: {}},
    # One regression test here (production has ~40 sharing 0.5): 0.98 gives its run-to-run allowance a similar z (2.3).
    "regression": {"percentiles": [0.5], "min_relative_change": 0.05, "min_samples": 100, "confidence": 0.98},
}, source="test")  # fmt: skip
INTERVAL_S, RATE = 5.0, 8.0  # requests per second of the endpoint


def median_at(t: float) -> float:
    """A latency that falls from ~700 ms to ~350 ms over the first two minutes (caches filling), then holds."""
    return 350.0 + 350.0 * math.exp(-t / 45.0)


def intervals(rng, seconds: float, factor: float = 1.0) -> list[tuple[float, dict]]:
    """A run as its interval recorder writes it: (end_s, {key: (requests, failures, {bucket: count})})."""
    rows = []
    for end in np.arange(INTERVAL_S, seconds + 1e-9, INTERVAL_S):
        n = rng.poisson(RATE * INTERVAL_S)
        samples = factor * median_at(end - INTERVAL_S / 2) * rng.lognormal(0.0, 0.3, n)
        rounded = np.where(samples < 100, np.round(samples), np.round(samples, -1)).astype(int)
        buckets, counts = np.unique(rounded, return_counts=True)
        rows.append((float(end), {KEY: (int(n), 0, {str(b): int(c) for b, c in zip(buckets, counts)})}))
    return rows


def reference_file(tmp_path, rng, run_factors, seconds=300.0):
    """A reference file of several runs with their timelines, as `record --add` writes it."""
    runs = []
    for factor in run_factors:
        rows = intervals(rng, seconds, factor)
        whole: dict[str, int] = {}
        for _end, endpoints in rows:
            for bucket, count in endpoints[KEY][2].items():
                whole[bucket] = whole.get(bucket, 0) + count
        runs.append({
            "provenance": {}, "manifest": None, "business_metrics": None,
            "endpoints": {KEY: {"method": "POST", "name": KEY.split(" ", 1)[1], "requests": sum(whole.values()),
                                "failures": 0, "histogram": whole}},
            "timeline": [{"end_s": end, "endpoints": {KEY: endpoints[KEY][2]}} for end, endpoints in rows],
        })  # fmt: skip
    path = tmp_path / "reference.json"
    path.write_text(json.dumps({"schema_version": 2, "kind": "prospectpro-reference-run", "runs": runs}))
    return load_reference(path)


def judged(reference, rows, *, by_parts=True) -> Verdict | None:
    """The p50 change's verdict when the run stops (looked at after every interval, as the gate does)."""
    judge = SequentialJudge(BASELINE, reference_of(reference, BASELINE.regression))
    counts = LookCounts(judge.reference if by_parts else None)
    for end, endpoints in rows:
        counts.add(end, endpoints)
        checks = counts.look(judge, end)
    return next(c for c in checks if c.metric == "p50 change").verdict


@pytest.fixture(scope="module")
def stationary_reference(tmp_path_factory):
    return reference_file(tmp_path_factory.mktemp("ref"), np.random.default_rng(11), [1.0, 1.0, 1.0])


def test_the_reference_is_cut_into_parts_of_the_runs_common_length(stationary_reference):
    reference = reference_of(stationary_reference, BASELINE.regression)
    assert reference.part_starts == tuple(PART_S * i for i in range(5)) and reference.runs == 3
    assert reference.part_of(3.1) == 0 and reference.part_of(60.0) == 0 and reference.part_of(61) == 1
    assert reference.part_of(900) == 4  # the last part is open-ended: a run longer than the reference
    early, late = (reference.parts[i][KEY].percentile(0.5) for i in (0, 4))
    assert early > 1.4 * late  # the falling latency is in the parts


def test_a_run_shorter_than_its_reference_is_not_called_regressed_for_its_age(stationary_reference):
    # The same system for 150 s: whole-run p50 ~+25 % over the 300 s reference's, only because it is younger.
    rows = intervals(np.random.default_rng(21), 150.0)
    assert judged(stationary_reference, rows, by_parts=False) is Verdict.REGRESSED  # the bias parts remove
    assert judged(stationary_reference, rows) is not Verdict.REGRESSED


@pytest.mark.parametrize("seconds", [120.0, 300.0])
def test_a_30_percent_slowdown_is_called_regressed_whatever_the_run_length(stationary_reference, seconds):
    assert judged(stationary_reference, intervals(np.random.default_rng(31), seconds, factor=1.3)) is Verdict.REGRESSED


def test_the_noise_allowance_is_the_run_to_run_variation_the_reference_runs_measured(tmp_path, stationary_reference):
    rng = np.random.default_rng(41)
    varied = reference_file(tmp_path, rng, [0.85, 1.0, 1.15])  # runs ~15 % apart in log terms: a busy machine
    quiet = SequentialJudge(BASELINE, reference_of(stationary_reference, BASELINE.regression))
    noisy = SequentialJudge(BASELINE, reference_of(varied, BASELINE.regression))
    assert quiet.noise_factor(KEY) == pytest.approx(1.05, abs=0.03)  # the band: the runs agree
    assert noisy.noise_factor(KEY) > 1.3
    # A run 20 % slower than the reference mean is within what the noisy reference's runs showed; not within the
    # quiet one's.
    rows = intervals(np.random.default_rng(42), 300.0, factor=1.2)
    assert judged(varied, rows) is not Verdict.REGRESSED
    assert judged(stationary_reference, rows) is Verdict.REGRESSED


def test_a_one_run_reference_keeps_the_band_and_a_file_without_timeline_compares_whole_runs(tmp_path):
    rng = np.random.default_rng(51)
    one = reference_file(tmp_path, rng, [1.0])
    judge = SequentialJudge(BASELINE, reference_of(one, BASELINE.regression))
    assert judge.reference.spreads is None and judge.noise_factor(KEY) == pytest.approx(1.05)
    document = json.loads((tmp_path / "reference.json").read_text())
    for run in document["runs"]:
        del run["timeline"]
    (tmp_path / "reference.json").write_text(json.dumps(document))
    assert reference_of(load_reference(tmp_path / "reference.json"), BASELINE.regression).part_starts == (0.0,)


def test_a_one_bucket_step_of_a_fast_endpoint_is_not_a_regression(tmp_path):
    # As in the fixed-sample gate: a 6 ms Realtime message at 7 ms is one Locust bucket (+17 %), not a regression,
    # however tight the runs agreed; a change must clear 1.5 buckets.
    fast = {"schema_version": 2, "kind": "prospectpro-reference-run", "runs": [
        {"provenance": {}, "endpoints": {KEY: {"method": "POST", "name": KEY.split(" ", 1)[1], "requests": 3000,
                                               "failures": 0, "histogram": {"5": 1000, "6": 1000, "7": 1000}}},
         "timeline": [{"end_s": 300.0, "endpoints": {KEY: {"5": 1000, "6": 1000, "7": 1000}}}]} for _ in range(3)]}  # fmt: skip
    (tmp_path / "fast.json").write_text(json.dumps(fast))
    reference = load_reference(tmp_path / "fast.json")
    one_bucket = [(end, {KEY: (100, 0, {"6": 34, "7": 33, "8": 33})}) for end in np.arange(5.0, 301.0, 5.0)]
    assert judged(reference, one_bucket) is not Verdict.REGRESSED
    # Twice as slow is a regression. (Two buckets, 8-10 ms, are not here: with one endpoint there is no trend to
    # borrow from, and three runs agreeing to the bucket still leave a rounding error of 1/6 of 6 ms with 2 degrees
    # of freedom; analysis.regression.moderated_spreads.)
    doubled = [(end, {KEY: (100, 0, {"11": 34, "12": 33, "13": 33})}) for end in np.arange(5.0, 301.0, 5.0)]
    assert judged(reference, doubled) is Verdict.REGRESSED
