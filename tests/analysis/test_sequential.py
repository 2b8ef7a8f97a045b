"""analysis/sequential.py: the always-valid Bernoulli test, the reference bounds, and the judge's bookkeeping."""

import math

import numpy as np
import pytest

from analysis.baseline import baseline_from_dict
from analysis.histogram import Histogram
from analysis.sequential import (
    EndpointCounts,
    SequentialJudge,
    bernoulli_decision,
    log_evidence,
    percentile_bounds,
    samples_to_decide,
)
from analysis.verdicts import Verdict


def first_rejection(stream: np.ndarray, theta0: float, alpha: float, direction: str, every: int) -> int | None:
    exceed = np.cumsum(stream)
    for n in range(every, len(stream) + 1, every):
        if log_evidence(int(exceed[n - 1]), n, theta0, direction) >= math.log(1 / alpha):
            return n
    return None


@pytest.mark.parametrize("theta0", [0.5, 0.05])
def test_looking_after_every_few_requests_keeps_false_alarms_under_alpha(theta0):
    # theta exactly at the limit (the hardest null): a naive fixed-n test looked at 100 times would alarm far
    # more often than alpha; the test martingale may not, however often it is looked at.
    rng = np.random.default_rng(7)
    alpha, streams = 0.05, 400
    alarms = sum(
        first_rejection(rng.random(2000) < theta0, theta0, alpha, "above", every=20) is not None for _ in range(streams)
    )
    assert alarms / streams <= alpha


def test_a_naive_repeated_fixed_sample_test_would_inflate_false_alarms():
    # The reason for the method: a one-sided normal-approximation test at 5 %, looked at every 20 requests.
    rng = np.random.default_rng(7)
    theta0, streams, alarms = 0.5, 400, 0
    for _ in range(streams):
        exceed = np.cumsum(rng.random(2000) < theta0)
        n = np.arange(20, 2001, 20)
        z = (exceed[n - 1] / n - theta0) / np.sqrt(theta0 * (1 - theta0) / n)
        alarms += bool(np.any(z > 1.645))
    assert alarms / streams > 0.2


def test_decisions_on_clear_data():
    assert bernoulli_decision(10, 10, 0.01, 0.05 / 40, 0.05) == "above"  # 10 of 10 failed: a breach at once
    assert bernoulli_decision(0, 600, 0.01, 0.05 / 40, 0.05) == "below"  # 600 clean requests show <= 1 %
    assert bernoulli_decision(0, 200, 0.01, 0.05 / 40, 0.05) is None  # 200 do not
    assert bernoulli_decision(50, 100, 0.5, 0.05 / 40, 0.05) is None


def test_samples_to_decide_is_what_the_test_then_needs():
    more = samples_to_decide(0, 200, 0.01, 0.05 / 40, 0.05)
    assert more is not None and 150 < more < 400
    assert bernoulli_decision(0, 200 + more, 0.01, 0.05 / 40, 0.05) == "below"
    assert bernoulli_decision(0, 200 + more // 2, 0.01, 0.05 / 40, 0.05) is None
    assert samples_to_decide(1, 100, 0.01, 0.05, 0.05) is None  # the estimate sits on the limit


def test_percentile_bounds_cover_the_true_quantile():
    rng = np.random.default_rng(3)
    true_p95 = float(np.exp(5 + 0.5 * 1.6448536))  # lognormal(5, 0.5)
    misses_low = misses_high = 0
    trials = 300
    for _ in range(trials):
        lo, hi = percentile_bounds(Histogram.from_samples(rng.lognormal(5, 0.5, 400)), 0.95, 0.05)
        misses_low += hi < true_p95 * 0.98  # buckets round to ~2 significant digits: allow their width
        misses_high += lo > true_p95 * 1.02
    assert misses_low / trials <= 0.08 and misses_high / trials <= 0.08
    assert percentile_bounds(Histogram.from_samples([100.0] * 10), 0.95, 0.01) is None  # too few for a bound


BASELINE = baseline_from_dict({
    "schema_version": 1, "name": "t",
    "defaults": {"p95_ms": 1000, "fail_ratio": 0.01, "min_samples": 20},
    "endpoints": {"GET /a": {}, "GET /b": {"required": False}},
    "regression": {"percentiles": [0.5], "min_relative_change": 0.1, "min_samples": 50},
}, source="test")  # fmt: skip


def counts(samples, failures=0) -> EndpointCounts:
    return EndpointCounts(len(samples), failures, Histogram.from_samples(samples))


def test_the_judge_remembers_when_each_check_was_decided_and_which_hold_the_run():
    judge = SequentialJudge(BASELINE)
    rng = np.random.default_rng(1)
    checks = judge.look(10, {"GET /a": counts(rng.uniform(10, 20, 100)), "GET /b": counts(rng.uniform(10, 20, 5))})
    by = {(c.subject, c.metric): c for c in checks}
    assert by[("GET /a", "p95_ms")].verdict is Verdict.PASS and by[("GET /a", "p95_ms")].decided_after_s == 10
    assert by[("GET /a", "fail_ratio")].verdict is None  # 100 clean requests do not show <= 1 %
    # /b is optional; the run-wide error rate ([defaults] fail_ratio over every request) is required, as in decide.
    assert [(c.subject, c.metric) for c in judge.undecided_required()] == [("GET /a", "fail_ratio"), ("run", "fail_ratio")]
    checks = judge.look(60, {"GET /a": counts(rng.uniform(10, 20, 700)), "GET /b": counts(rng.uniform(10, 20, 5))})
    by = {(c.subject, c.metric): c for c in checks}
    assert by[("GET /a", "fail_ratio")].verdict is Verdict.PASS and by[("GET /a", "fail_ratio")].decided_after_s == 60
    assert by[("GET /a", "p95_ms")].decided_after_s == 10  # the first decision's time stands
    assert judge.undecided_required() == []


def test_regression_against_the_reference_and_its_uncertainty():
    rng = np.random.default_rng(2)
    reference = {"GET /a": counts(rng.lognormal(5, 0.3, 2000))}
    slowed = SequentialJudge(BASELINE, reference).look(60, {"GET /a": counts(1.3 * rng.lognormal(5, 0.3, 1500))})
    same = SequentialJudge(BASELINE, reference).look(60, {"GET /a": counts(rng.lognormal(5, 0.3, 1500))})
    verdict = {c.metric: c.verdict for c in slowed}
    assert verdict["p50 change"] is Verdict.REGRESSED
    assert {c.metric: c.verdict for c in same}["p50 change"] is Verdict.UNCHANGED
    small_reference = {"GET /a": counts(rng.lognormal(5, 0.3, 30))}
    check = next(c for c in SequentialJudge(BASELINE, small_reference).look(60, {"GET /a": counts(rng.lognormal(5, 0.3, 500))}) if c.metric == "p50 change")
    assert check.verdict is None and not check.decidable  # no amount of this run's data helps: it does not hold the run


def test_a_burst_that_later_data_dilutes_is_no_longer_a_breach():
    # Decided on what the data says at each look: a short burst of slow responses (a busy shared machine) can make
    # a breach for a while; once the run's data as a whole no longer shows it, the check is undecided again and
    # then passes, with its clock restarted.
    judge = SequentialJudge(BASELINE)
    rng = np.random.default_rng(5)
    burst = np.concatenate([rng.uniform(10, 20, 200), np.full(60, 1500.0)])
    first = {c.metric: c for c in judge.look(20, {"GET /a": counts(burst)}) if c.subject == "GET /a"}
    assert first["p95_ms"].verdict is Verdict.BREACH
    diluted = np.concatenate([burst, rng.uniform(10, 20, 3000)])
    later = {c.metric: c for c in judge.look(200, {"GET /a": counts(diluted)}) if c.subject == "GET /a"}
    assert later["p95_ms"].verdict is Verdict.PASS and later["p95_ms"].decided_after_s == 200


def test_applying_the_record_to_a_decision():
    from analysis.decide import Check, Decision
    from analysis.exit_codes import ExitCode
    from analysis.sequential import apply_to_decision

    decision = Decision("t", "run", (
        Check("GET /a", "p95_ms", Verdict.PASS, actual=120, limit=1000),
        Check("GET /a", "fail_ratio", Verdict.PASS, actual=0.0, limit=0.01, more_samples=3),
        Check("GET /a", "p95 change", Verdict.UNCHANGED),
        Check("GET /a", "max_ms", Verdict.PASS, actual=300, limit=10000),
    ))  # fmt: skip
    record = {"looks": 3, "elapsed_s": 60, "stop": "max-duration", "checks": [
        {"subject": "GET /a", "metric": "p95_ms", "required": True, "verdict": "pass", "samples": 300, "decided_after_s": 12.0},
        {"subject": "GET /a", "metric": "fail_ratio", "required": True, "verdict": None, "samples": 300, "decided_after_s": None,
         "more_samples_needed": 150, "decidable": True},
        {"subject": "GET /a", "metric": "p95 change", "required": True, "verdict": None, "samples": 300, "decided_after_s": None,
         "more_samples_needed": 900, "decidable": True},
    ]}  # fmt: skip
    applied = apply_to_decision(decision, record)
    by = {c.metric: c for c in applied.checks}
    assert by["p95_ms"].verdict is Verdict.PASS and by["p95_ms"].reason.startswith("decided after 12 s")
    assert by["fail_ratio"].verdict is Verdict.INCONCLUSIVE and by["fail_ratio"].more_samples == 150
    assert "about 150 more needed" in by["fail_ratio"].reason
    assert by["p95 change"].verdict is Verdict.INCONCLUSIVE and by["max_ms"] == decision.checks[3]
    # An undecided SLA check of a required endpoint makes the run not valid; an undecided change alone would not.
    assert applied.undersampled_endpoints == ("GET /a",) and applied.exit_code is ExitCode.RUN_NOT_VALID
    record["checks"] = [record["checks"][0], record["checks"][2]]
    assert apply_to_decision(decision, record).undersampled_endpoints == ()


def clean_and_failed(rng, requests: int, failures: int) -> EndpointCounts:
    return counts(rng.uniform(10, 20, requests), failures=failures)


def test_futility_waits_while_the_rest_of_the_run_could_decide_and_gives_up_when_it_could_not():
    # An endpoint at 5 requests/s failing 1 % of them, against a 1 % limit, in a run of at most 300 s: the observed
    # share sits on the limit, so at that share nothing would decide; but early on the share is loosely known and
    # the rest of the run long (a 16-31 % chance to decide), so the run goes on. Later the data pin it and the rest
    # is short (4 % at 165 s): given up on once that has held at every look for 30 s.
    judge = SequentialJudge(BASELINE)
    rng = np.random.default_rng(4)
    judge.look(60, {"GET /a": clean_and_failed(rng, 300, 3)})
    assert [c.more_samples_needed for c in judge.undecided_required()] == [None, None]  # at the observed share: never
    for elapsed in (60, 75, 90, 105):
        judge.look(elapsed, {"GET /a": clean_and_failed(rng, 5 * elapsed, elapsed // 20)})
        assert judge.out_of_reach(300) == []
    for elapsed in (165, 180):
        judge.look(elapsed, {"GET /a": clean_and_failed(rng, 5 * elapsed, elapsed // 20)})
        assert judge.out_of_reach(300) == []  # out of reach since 165 s: not yet for 30 s
    judge.look(195, {"GET /a": clean_and_failed(rng, 975, 9)})
    assert {(c.subject, c.metric) for c in judge.out_of_reach(300)} == {("GET /a", "fail_ratio"), ("run", "fail_ratio")}
    assert judge.out_of_reach(300) != []  # asking again at the same look changes nothing


def test_futility_starts_its_clock_afresh_when_a_check_comes_back_in_reach():
    judge = SequentialJudge(BASELINE)
    rng = np.random.default_rng(4)
    pinned = clean_and_failed(rng, 30_000, 300)  # 1 % of 30,000 at 240 s of 300: nothing the last minute brings decides it
    for elapsed in (240, 255):
        judge.look(elapsed, {"GET /a": pinned})
        assert judge.out_of_reach(300) == []
    judge.look(260, {"GET /a": clean_and_failed(rng, 30_300, 360)})  # a burst of failures: the estimate says breach
    assert judge.out_of_reach(300) == []
    judge.look(270, {"GET /a": pinned})
    assert judge.out_of_reach(300) == []  # out of reach since 270 s only
    judge.look(300, {"GET /a": pinned})
    assert len(judge.out_of_reach(300)) == 2


def test_futility_never_gives_up_on_a_check_whose_estimate_points_to_an_alarm():
    # 1.1 % failures of 30,000 against a 1 % limit, 20 s before the maximum: not a breach yet, and the last 20 s
    # will not show one at this share; but the estimate says breach, and a degradation can grow: the run goes on.
    judge = SequentialJudge(BASELINE)
    rng = np.random.default_rng(4)
    for elapsed in (240, 260, 280):
        judge.look(elapsed, {"GET /a": clean_and_failed(rng, 30_000, 330)})
        assert [c.verdict for c in judge.undecided_required()] == [None, None]
        assert judge.out_of_reach(300) == []
