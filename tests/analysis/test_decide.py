"""Decisions: verdicts per endpoint and metric, run validity, and the exit-code precedence."""

import copy

import numpy as np
import pytest

from analysis.decide import decide
from analysis.exit_codes import ExitCode
from analysis.verdicts import Verdict
from tests.support.decisions import GOOD_MANIFEST, baseline, endpoint, lognormal, run

RNG_SEED = 42
FAST = "GET /fast"
SLOW = "POST /slow"


def checks_of(decision, subject, metric=None):
    return [c for c in decision.checks if c.subject == subject and (metric is None or c.metric == metric)]


def test_margins_signed_and_a_bucket_on_the_limit_never_passes_by_rounding():
    # Locust's p95 here is the 100 ms bucket, which holds responses from 99.5 to 105 ms: some may be above the
    # 100 ms limit, so the p95 cannot pass on rounding; 99 % of samples at 90 ms (bucket 90, all below) pass.
    samples = [100.0] * 96 + [200.0] * 4
    decision = decide(run(endpoint(FAST, samples), manifest=GOOD_MANIFEST), baseline(endpoints={FAST: {"p95_ms": 100, "max_ms": 150}}))
    (p95,) = checks_of(decision, FAST, "p95_ms")
    (maximum,) = checks_of(decision, FAST, "max_ms")
    assert (p95.verdict, p95.actual, p95.margin) == (Verdict.INCONCLUSIVE, 100, 0)
    assert (maximum.verdict, maximum.actual, maximum.limit, maximum.margin) == (Verdict.BREACH, 200, 150, 50)
    assert decision.exit_code == ExitCode.SLA_BREACHED and decision.breaches == (maximum,)
    below = decide(run(endpoint(FAST, [90.0] * 99 + [200.0]), manifest=GOOD_MANIFEST), baseline(endpoints={FAST: {"p95_ms": 100}}))
    (p95,) = checks_of(below, FAST, "p95_ms")
    assert (p95.verdict, p95.actual, p95.margin, p95.events, p95.trials) == (Verdict.PASS, 90, -10, 1, 100)


def test_defaults_apply_to_unlisted_endpoints_and_not_applicable_removes_them():
    rng = np.random.default_rng(RNG_SEED)
    b = baseline(defaults={"p95_ms": 50, "fail_ratio": 0.01}, endpoints={SLOW: {"not_applicable": ["p95_ms"]}})
    decision = decide(run(endpoint(FAST, lognormal(rng, 200, 100)), endpoint(SLOW, lognormal(rng, 200, 100)), manifest=GOOD_MANIFEST), b)
    assert [c.verdict for c in checks_of(decision, FAST, "p95_ms")] == [Verdict.BREACH]
    assert checks_of(decision, SLOW, "p95_ms") == []
    assert [c.verdict for c in checks_of(decision, SLOW, "fail_ratio")] == [Verdict.PASS]


def test_fail_ratio_breach_is_listed_with_actual_limit_margin():
    decision = decide(run(endpoint(FAST, [10.0] * 100, failures=8), manifest=GOOD_MANIFEST), baseline(defaults={"fail_ratio": 0.01}))
    (check,) = checks_of(decision, FAST, "fail_ratio")
    assert check.verdict is Verdict.BREACH and check.actual == pytest.approx(0.08) and check.margin == pytest.approx(0.07)
    assert check.bounds[0] > 0.01 and "8 of 100 requests failed" in check.reason


def test_a_fail_ratio_over_its_limit_by_chance_is_inconclusive_with_what_would_settle_it():
    # 3 of 100 failed: 3 % is over 1 %, but 100 requests cannot prove the true rate is (the exact lower bound is
    # 0.8 %). About 30 more requests failing at 3 % would.
    decision = decide(run(endpoint(FAST, [10.0] * 100, failures=3), manifest=GOOD_MANIFEST), baseline(defaults={"fail_ratio": 0.01}))
    (check,) = checks_of(decision, FAST, "fail_ratio")
    assert check.verdict is Verdict.INCONCLUSIVE and check.settles_as is Verdict.BREACH
    assert 10 < check.more_samples < 100 and "more requests would settle it (as breach)" in check.reason


def test_min_rps():
    e = endpoint(FAST, [10.0] * 100)
    slow_rate = type(e)(**{**e.__dict__, "rps": 0.5})
    decision = decide(run(slow_rate, manifest=GOOD_MANIFEST), baseline(defaults={"min_rps": 2}))
    (check,) = checks_of(decision, FAST, "min_rps")
    assert check.verdict is Verdict.BREACH and check.margin == pytest.approx(1.5)


def test_required_endpoint_never_sent_is_missing_and_a_breach_optional_is_not():
    sent = endpoint(FAST, [10.0] * 50)
    required = decide(run(sent, manifest=GOOD_MANIFEST), baseline(endpoints={SLOW: {"p95_ms": 10}}))
    assert [c.verdict for c in checks_of(required, SLOW)] == [Verdict.MISSING]
    assert required.exit_code == ExitCode.SLA_BREACHED
    optional = decide(run(sent, manifest=GOOD_MANIFEST), baseline(endpoints={SLOW: {"p95_ms": 10, "required": False}}))
    assert [c.verdict for c in checks_of(optional, SLOW)] == [Verdict.INCONCLUSIVE]
    assert optional.exit_code == ExitCode.OK


def test_too_few_samples_is_inconclusive_and_makes_the_run_not_valid_for_a_required_endpoint():
    few = endpoint(SLOW, [10.0] * 5)  # would pass, but five samples are under min_samples: the floor for a pass
    b = baseline(defaults={"min_samples": 20, "p95_ms": 100, "max_ms": 10_000}, endpoints={SLOW: {}})
    decision = decide(run(few, manifest=GOOD_MANIFEST), b)
    assert [c.verdict for c in checks_of(decision, SLOW, "p95_ms")] == [Verdict.INCONCLUSIVE]
    assert [c.verdict for c in checks_of(decision, SLOW, "max_ms")] == [Verdict.PASS]  # a max needs no sample size
    assert decision.exit_code == ExitCode.RUN_NOT_VALID and "too few samples" in decision.validity_problems[0]
    assert decision.undersampled_endpoints == (SLOW,)
    unlisted = decide(run(few, manifest=GOOD_MANIFEST), baseline(defaults={"min_samples": 20, "p95_ms": 100}))
    assert unlisted.exit_code == ExitCode.OK


def test_few_samples_prove_a_breach_when_all_of_them_are_past_the_limit():
    # Five of five at 9 s: the share above 100 ms is at least 55 % (exact bound), far past the 5 % a p95 allows.
    few = endpoint(SLOW, [9000.0] * 5)
    b = baseline(defaults={"min_samples": 20, "p95_ms": 100})
    decision = decide(run(few, manifest=GOOD_MANIFEST), b)
    assert [c.verdict for c in checks_of(decision, SLOW, "p95_ms")] == [Verdict.BREACH]  # unlisted endpoint, judged
    assert decision.exit_code == ExitCode.SLA_BREACHED


def test_a_measured_breach_outranks_another_endpoints_shortage_of_samples():
    few = endpoint(SLOW, [10.0] * 5)
    slow = endpoint(FAST, [500.0] * 100)
    b = baseline(defaults={"min_samples": 20, "p95_ms": 100}, endpoints={SLOW: {}, FAST: {}})
    decision = decide(run(few, slow, manifest=GOOD_MANIFEST), b)
    assert decision.exit_code == ExitCode.SLA_BREACHED and not decision.valid
    assert [c.subject for c in decision.breaches] == [FAST] and decision.undersampled_endpoints == (SLOW,)
    # ...but a run-wide problem still outranks the breach: under an overloaded generator no number is trusted.
    overloaded = {**GOOD_MANIFEST, "generator": {"cpu_warning": True}}
    assert decide(run(few, slow, manifest=overloaded), b).exit_code == ExitCode.RUN_NOT_VALID


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"generator": {"cpu_warning": True, "cpu_percent_max": 99.0}}, "CPU overloaded (peak 99 %)"),
        ({"load": {"intended_users": 10, "reached_users": 7, "workers_lost": 0}}, "intended users not reached (7 of 10)"),
        ({"load": {"intended_users": 10, "reached_users": 10, "workers_lost": 2}}, "2 worker(s) lost"),
        ({"partial": True, "stop_reason": "interrupted"}, "partial run (stop_reason: interrupted)"),
    ],
)
def test_invalid_runs_are_neither_pass_nor_breach(change, problem):
    manifest = {**copy.deepcopy(GOOD_MANIFEST), **change}
    over_limit = endpoint(FAST, [500.0] * 100)  # breaches p95 100: validity still wins
    decision = decide(run(over_limit, manifest=manifest), baseline(defaults={"p95_ms": 100}))
    assert decision.exit_code == ExitCode.RUN_NOT_VALID and not decision.valid
    assert any(problem in p for p in decision.validity_problems), decision.validity_problems


def test_empty_run_is_not_valid():
    assert decide(run(manifest=GOOD_MANIFEST), baseline()).exit_code == ExitCode.RUN_NOT_VALID


@pytest.mark.parametrize("reason", ["spend-guard", "safety"])
def test_guard_stop_wins_over_everything_decided(reason):
    manifest = {**GOOD_MANIFEST, "partial": True, "stop_reason": reason}
    decision = decide(run(endpoint(FAST, [500.0] * 100), manifest=manifest), baseline(defaults={"p95_ms": 100}))
    assert decision.exit_code == ExitCode.STOPPED_BY_GUARD and decision.guard_stop_reason == reason


def test_breach_outranks_regression_and_regression_alone_is_4():
    rng = np.random.default_rng(RNG_SEED)
    reference = run(endpoint(FAST, lognormal(rng, 400, 100)), endpoint(SLOW, lognormal(rng, 400, 100)), manifest=GOOD_MANIFEST)
    slower = run(endpoint(FAST, lognormal(rng, 400, 100, scale=1.5)), endpoint(SLOW, lognormal(rng, 400, 100)), manifest=GOOD_MANIFEST)
    regression_only = decide(slower, baseline(), reference)
    assert regression_only.exit_code == ExitCode.REGRESSED
    assert {c.subject for c in regression_only.regressions} == {FAST}
    assert all(c.verdict is Verdict.UNCHANGED for c in checks_of(regression_only, SLOW))
    both = decide(slower, baseline(endpoints={SLOW: {"p95_ms": 10}}), reference)
    assert both.exit_code == ExitCode.SLA_BREACHED and both.regressions


def test_improvement_is_not_a_failure():
    rng = np.random.default_rng(RNG_SEED)
    reference = run(endpoint(FAST, lognormal(rng, 400, 100)), manifest=GOOD_MANIFEST)
    faster = run(endpoint(FAST, lognormal(rng, 400, 100, scale=0.6)), manifest=GOOD_MANIFEST)
    decision = decide(faster, baseline(), reference)
    assert {c.verdict for c in checks_of(decision, FAST)} == {Verdict.IMPROVED} and decision.exit_code == ExitCode.OK
    (change,) = [c for c in checks_of(decision, FAST) if c.metric == "p95 change"]
    assert change.change < -0.1 and change.interval[1] < 0


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"scenario_hash": "other"}, "scenario_hash"),
        ({"options": {**GOOD_MANIFEST["options"], "users": 50}}, "option users differs"),
        ({"options": {**GOOD_MANIFEST["options"], "tags": ["export"]}}, "option tags differs"),
    ],
)
def test_reference_from_other_code_or_options_is_not_comparable(change, reason):
    rng = np.random.default_rng(RNG_SEED)
    reference = run(endpoint(FAST, lognormal(rng, 400, 100)), manifest={**GOOD_MANIFEST, **change})
    slower = run(endpoint(FAST, lognormal(rng, 400, 100, scale=2)), manifest=GOOD_MANIFEST)
    decision = decide(slower, baseline(), reference)
    (check,) = [c for c in decision.checks if c.verdict is Verdict.NOT_COMPARABLE]
    assert reason in check.reason and decision.exit_code == ExitCode.OK


def test_too_few_samples_for_a_regression_test_is_inconclusive():
    rng = np.random.default_rng(RNG_SEED)
    reference = run(endpoint(FAST, lognormal(rng, 30, 100)), manifest=GOOD_MANIFEST)
    slower = run(endpoint(FAST, lognormal(rng, 30, 100, scale=3)), manifest=GOOD_MANIFEST)
    decision = decide(slower, baseline(), reference)
    assert {c.verdict for c in checks_of(decision, FAST)} == {Verdict.INCONCLUSIVE}


BUSINESS = {"schema_version": 1, "derived": {"discovery_success_rate": 0.9, "export_success_rate": None, "cost_per_discovery_usd": 0.1}}
BUSINESS_LIMITS = {"discovery_success_rate_min": 0.95, "export_success_rate_min": 0.99, "cost_per_discovery_max_usd": 0.15, "cost_anomaly_factor": 1.5}


def test_business_limits_and_null_rates():
    decision = decide(run(endpoint(FAST, [1.0] * 50), manifest=GOOD_MANIFEST, business=BUSINESS), baseline(business=BUSINESS_LIMITS))
    verdicts = {c.metric: c.verdict for c in checks_of(decision, "business")}
    assert verdicts == {"discovery_success_rate": Verdict.BREACH, "export_success_rate": Verdict.INCONCLUSIVE,
                        "cost_per_discovery_usd": Verdict.PASS}  # fmt: skip
    (rate,) = checks_of(decision, "business", "discovery_success_rate")
    assert rate.margin == pytest.approx(0.05)  # 5 points short of the minimum


def test_cost_anomaly_against_the_reference():
    cheap = {**BUSINESS, "derived": {**BUSINESS["derived"], "cost_per_discovery_usd": 0.06}}
    reference = run(endpoint(FAST, [1.0] * 50), manifest=GOOD_MANIFEST, business=cheap)
    current = run(endpoint(FAST, [1.0] * 50), manifest=GOOD_MANIFEST, business=BUSINESS)  # 0.10 > 1.5 x 0.06
    (check,) = checks_of(decide(current, baseline(business=BUSINESS_LIMITS), reference), "business", "cost_per_discovery_usd anomaly")
    assert check.verdict is Verdict.REGRESSED and check.limit == pytest.approx(0.09) and check.change == pytest.approx(2 / 3)


def test_counts_list_every_verdict():
    decision = decide(run(endpoint(FAST, [1.0] * 50), manifest=GOOD_MANIFEST), baseline(defaults={"p95_ms": 5}))
    assert set(decision.counts) == {v.value for v in Verdict}
    assert sum(decision.counts.values()) == len(decision.checks)


def test_realtime_ws_messages_are_judged_by_their_own_entries_not_the_run_wide_error_rate():
    from analysis.decide import RUN_SUBJECT, run_checks
    from tests.support.decisions import baseline, endpoint, run

    # Realtime down: every handshake refused while the REST fallback and the functions stay clean.
    rng = np.random.default_rng(3)
    result = run(endpoint("GET /rest/v1/discovery_jobs?id=eq.[jobId]", rng.uniform(5, 20, 2000)),
                 endpoint("WS /realtime/v1/websocket", rng.uniform(1, 5, 300), failures=300),
                 endpoint("JOB business-discovery-background submit->completed", rng.uniform(3000, 6000, 300), failures=30))
    [check] = run_checks(result, baseline(defaults={"fail_ratio": 0.01, "min_samples": 20}))
    assert check.subject == RUN_SUBJECT and check.actual == 0 and check.verdict.value == "pass"
