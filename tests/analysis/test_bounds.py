"""Exact bounds (analysis/bounds.py) and the failures of issue 10 part 1 they fix: a failing run that passed."""

import numpy as np
import pytest

from analysis.bounds import (
    BoundRule,
    count_above,
    count_above_from_percentiles,
    judge_count,
    lower_bound,
    per_check_breach_confidence,
    samples_to_settle,
    upper_bound,
)
from analysis.decide import decide
from analysis.exit_codes import ExitCode
from analysis.histogram import Histogram
from analysis.render import render_junit, render_markdown, render_text
from analysis.verdicts import Verdict
from tests.support.decisions import GOOD_MANIFEST, baseline, endpoint, run

DEFAULTS_ONLY = {"p95_ms": 3000, "fail_ratio": 0.01, "min_samples": 20}  # the issue's [defaults]-only baseline


# ---- the bounds themselves ---------------------------------------------------------------------------------------
def test_clopper_pearson_matches_the_closed_forms():
    # 0 events of n: the upper bound solves (1 - p)^n = 1 - c; n events of n: the lower bound solves p^n = 1 - c.
    for n in (1, 10, 300):
        assert upper_bound(0, n, 0.8) == pytest.approx(1 - 0.2 ** (1 / n))
        assert lower_bound(n, n, 0.95) == pytest.approx(0.05 ** (1 / n))
    assert lower_bound(0, 10, 0.95) == 0 and upper_bound(10, 10, 0.8) == 1


def test_ten_of_ten_failed_is_a_breach_and_zero_of_ten_is_not_yet_a_pass():
    rule = BoundRule(breach_confidence=per_check_breach_confidence(0.95, 30), pass_confidence=0.8, min_samples=0)
    assert judge_count(10, 10, 0.01, rule).verdict is Verdict.BREACH
    clean = judge_count(0, 10, 0.01, rule)
    assert clean.verdict is Verdict.INCONCLUSIVE and clean.settles_as is Verdict.PASS
    # The settling estimate is exact for a clean endpoint: 0 of (10 + more) passes, one fewer does not.
    assert judge_count(0, 10 + clean.more_samples, 0.01, rule).verdict is Verdict.PASS
    assert judge_count(0, 9 + clean.more_samples, 0.01, rule).verdict is Verdict.INCONCLUSIVE


def test_min_samples_is_the_floor_for_a_pass_only():
    rule = BoundRule(breach_confidence=0.95, pass_confidence=0.8, min_samples=500)
    assert judge_count(0, 400, 0.05, rule).verdict is Verdict.INCONCLUSIVE
    assert samples_to_settle(0, 400, 0.05, rule) == (100, Verdict.PASS)
    assert judge_count(400, 400, 0.05, rule).verdict is Verdict.BREACH


def test_a_ratio_on_the_limit_is_never_settled():
    rule = BoundRule(breach_confidence=0.95, pass_confidence=0.8)
    assert samples_to_settle(1, 100, 0.01, rule) == (None, None)


def test_a_healthy_run_breaches_by_chance_in_at_most_5_percent_of_runs():
    # 30 checks, each with a true rate exactly on its limit (the worst healthy case), 300 trials each: the
    # Bonferroni split keeps the share of runs with any false breach under 1 - breach_confidence.
    checks, n, limit = 30, 300, 0.01
    rule = BoundRule(breach_confidence=per_check_breach_confidence(0.95, checks), pass_confidence=0.8)
    breaches_at = np.array([judge_count(k, n, limit, rule).verdict is Verdict.BREACH for k in range(n + 1)])
    failures = np.random.default_rng(7).binomial(n, limit, size=(4000, checks))
    runs_with_a_breach = breaches_at[failures].any(axis=1).mean()
    assert runs_with_a_breach <= 0.05


# ---- counting samples above a latency limit, with Locust's rounding ----------------------------------------------
@pytest.mark.parametrize("limit", [100, 500, 3000, 10000])
def test_counts_above_bracket_the_truth_under_locusts_rounding(limit):
    rng = np.random.default_rng(limit)
    raw = rng.uniform(0.8 * limit, 1.2 * limit, 5000)
    certain, possible = count_above(Histogram.from_samples(raw), limit)
    truth = int((raw > limit).sum())
    assert certain <= truth <= possible
    assert possible - certain <= 0.2 * len(raw)  # only the bucket(s) straddling the limit are uncertain


def test_counts_above_from_csv_percentiles_bracket_the_histograms():
    rng = np.random.default_rng(3)
    histogram = Histogram.from_samples(rng.lognormal(np.log(200), 0.8, 2000))
    qs = [0.5, 0.66, 0.75, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0]
    columns = dict(zip(qs, histogram.percentiles(qs)))
    for limit in (100, 300, 1000):
        certain, possible = count_above(histogram, limit)
        csv_certain, csv_possible = count_above_from_percentiles(columns, histogram.count, limit)
        assert csv_certain <= certain <= possible <= csv_possible


# ---- the failures, through decide() ----------------------------------------------------------------------
def test_a_run_with_22_percent_failures_in_small_endpoints_is_not_a_pass():
    # Issue 10: ten endpoints failing 100 % with under 20 samples each, a [defaults]-only baseline: was PASS (exit 0).
    failing = [endpoint(f"GET /broken-{i}", [50.0] * 12, failures=12) for i in range(10)]
    healthy = [endpoint(f"GET /ok-{i}", [50.0] * 85) for i in range(5)]
    decision = decide(run(*failing, *healthy, manifest=GOOD_MANIFEST), baseline(defaults=DEFAULTS_ONLY))
    assert decision.exit_code == ExitCode.SLA_BREACHED
    assert {c.subject for c in decision.breaches if c.metric == "fail_ratio"} == {e.key for e in failing} | {"run"}
    (run_wide,) = [c for c in decision.checks if c.subject == "run"]
    assert run_wide.actual == pytest.approx(120 / 545) and run_wide.trials == 545


def test_a_run_too_small_to_judge_is_not_a_silent_pass():
    # Every endpoint clean but tiny: nothing is proven, so the run-wide error rate is inconclusive: exit 5, not 0.
    tiny = [endpoint(f"GET /ok-{i}", [50.0] * 8) for i in range(5)]
    decision = decide(run(*tiny, manifest=GOOD_MANIFEST), baseline(defaults=DEFAULTS_ONLY))
    assert decision.exit_code == ExitCode.RUN_NOT_VALID and decision.undersampled_endpoints == ("run",)
    text = render_text(decision)
    assert "Inconclusive checks (" in text and "more requests would settle it (as pass)" in text


def test_run_section_sets_the_run_wide_error_rate():
    # 3 % of 2000 requests failed, spread so that no endpoint alone can prove its own 1 % broken.
    spread = [endpoint(f"GET /e-{i}", [50.0] * 100, failures=3) for i in range(20)]
    b = baseline(defaults={"fail_ratio": 0.01}, run={"fail_ratio": 0.01})
    decision = decide(run(*spread, manifest=GOOD_MANIFEST), b)
    assert [(c.subject, c.metric) for c in decision.breaches] == [("run", "fail_ratio")]
    assert decision.exit_code == ExitCode.SLA_BREACHED


def test_inconclusive_checks_are_listed_right_after_the_breaches_everywhere():
    broken = endpoint("GET /broken", [50.0] * 10, failures=10)
    few = endpoint("GET /few", [50.0] * 10)
    decision = decide(run(broken, few, manifest=GOOD_MANIFEST), baseline(defaults=DEFAULTS_ONLY, endpoints={"GET /few": {}}))
    text = render_text(decision)
    assert text.index("Failing checks (") < text.index("Inconclusive checks (")
    assert "GET /few fail_ratio: inconclusive" in text.split("Inconclusive checks (", 1)[1]
    markdown = render_markdown(decision)
    assert markdown.index("### Failing checks") < markdown.index("### Inconclusive checks") < markdown.index("<details>")
    assert 'message="inconclusive: too few samples to decide: 0 of 10 requests failed' in render_junit(decision)


# ---- warning levels ----------------------------------------------------------------------------------------------
def test_a_single_slow_response_past_the_warning_level_is_a_warning_and_keeps_exit_0():
    samples = [50.0] * 299 + [6200.0]
    b = baseline(defaults={"max_ms": 10000, "max_ms_warning": 5000, "p95_ms": 3000})
    decision = decide(run(endpoint("GET /x", samples), manifest=GOOD_MANIFEST), b)
    (maximum,) = [c for c in decision.checks if c.metric == "max_ms"]
    assert maximum.verdict is Verdict.WARNING and maximum.warning_limit == 5000
    assert decision.exit_code == ExitCode.OK and decision.warnings == (maximum,)
    assert "Warnings (1):\n  - GET /x max_ms: warning: 6200 ms, limit 10000 ms" in render_text(decision)
    assert "### Warnings" in render_markdown(decision)
    junit = render_junit(decision)
    assert "WARNING: GET /x max_ms" in junit and 'name="warning"' in junit and 'failures="0"' in junit
    over = decide(run(endpoint("GET /x", [50.0] * 299 + [10400.0]), manifest=GOOD_MANIFEST), b)
    assert over.exit_code == ExitCode.SLA_BREACHED


def test_a_percentile_warning_level_is_judged_with_the_same_bounds():
    samples = [2000.0] * 150 + [4000.0] * 150  # half the requests above 3 s: the p95 is proven past 3 s, not 5 s
    b = baseline(defaults={"p95_ms": 5000, "p95_ms_warning": 3000})
    decision = decide(run(endpoint("GET /x", samples), manifest=GOOD_MANIFEST), b)
    (p95,) = [c for c in decision.checks if c.metric == "p95_ms"]
    assert p95.verdict is Verdict.WARNING and decision.exit_code == ExitCode.OK


def test_not_applicable_removes_the_warning_level_too():
    b = baseline(defaults={"max_ms": 10000, "max_ms_warning": 5000}, endpoints={"JOB x": {"not_applicable": ["max_ms"]}})
    assert b.limits_for("JOB x").max_ms_warning is None
