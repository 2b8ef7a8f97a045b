"""Capacity maths on synthetic runs with a known truth: plateaus, SLA-bound capacity, USL fit, headroom, cost."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.baseline import baseline_from_dict
from analysis.capacity import (
    NotEnoughData,
    UslFit,
    analyse,
    detect_plateaus,
    discoveries_per_user_hour,
    fit_usl,
    headroom,
    project_cost,
    usl_band,
    usl_peak,
    usl_throughput,
)
from analysis.intervals import load_intervals
from analysis.verdicts import Verdict
from tests.analysis.synthetic_steps import ENDPOINT, step_run, usl, write_intervals

TRUE = dict(lam=20.0, sigma=0.05, kappa=0.005)  # peak at N* = sqrt(0.95/0.005) = 13.8 users
TRUE_PEAK_USERS, TRUE_PEAK_X = usl_peak(**TRUE)
LEVELS = [2, 4, 6, 8, 10, 12, 14, 16]


def _series(tmp_path, rows):
    return load_intervals(write_intervals(tmp_path, rows))


def _baseline(p95_ms: float, fail_ratio: float = 0.01, min_samples: int = 20):
    return baseline_from_dict(
        {"schema_version": 1, "name": "test", "defaults": {"fail_ratio": fail_ratio, "min_samples": min_samples},
         "endpoints": {ENDPOINT: {"p95_ms": p95_ms}}},
        source="test.toml",
    )


# ---- plateaus --------------------------------------------------------------------------------------------------
def test_one_plateau_per_step_with_the_ramp_transient_left_out(tmp_path):
    rows = step_run([4, 8, 12], usl(**TRUE), intervals_per_step=6)
    # Make the transients unmistakable: the first interval of each step at a quarter of the rate.
    for index in (0, 6, 12):
        entry = rows[index]["endpoints"][ENDPOINT]
        rows[index]["endpoints"][ENDPOINT] = {**entry, "requests": entry["requests"] // 4, "hist": {"50": entry["requests"] // 4}}
    detection = detect_plateaus(_series(tmp_path, rows))
    assert [p.users for p in detection.plateaus] == [4, 8, 12]
    assert [(p.first_interval, p.stop_interval) for p in detection.plateaus] == [(1, 6), (7, 12), (13, 18)]
    assert all(p.transient_intervals == 1 for p in detection.plateaus)
    for plateau in detection.plateaus:
        assert plateau.goodput_rps == pytest.approx(usl_throughput(plateau.users, **TRUE), rel=0.08)


def test_each_plateau_carries_the_mean_of_the_generators_gauges(tmp_path):
    rows = step_run([4, 8], usl(**TRUE), intervals_per_step=6)
    for row in rows:  # e.g. open websockets: half the users hold one, plus one in the transient
        row["gauges"] = {"realtime_connections": row["user_count"] / 2}
    rows[0]["gauges"]["realtime_connections"] += 1
    detection = detect_plateaus(_series(tmp_path, rows))
    assert [p.gauges for p in detection.plateaus] == [{"realtime_connections": 2.0}, {"realtime_connections": 4.0}]


def test_plateau_percentiles_come_from_the_merged_histograms(tmp_path):
    rows = step_run([5], usl(**TRUE), intervals_per_step=4, transient=False)
    series = _series(tmp_path, rows)
    (plateau,) = detect_plateaus(series).plateaus
    merged = series.endpoints[ENDPOINT].merged(plateau.first_interval, plateau.stop_interval)
    endpoint = plateau.endpoints[ENDPOINT]
    assert endpoint.percentiles_ms == {0.5: merged.percentile(0.5), 0.95: merged.percentile(0.95), 0.99: merged.percentile(0.99)}
    assert endpoint.requests == merged.count == plateau.requests


def test_levels_that_never_settle_are_rejected_with_a_reason(tmp_path):
    rows = step_run([4, 8], usl(**TRUE), intervals_per_step=6, transient=False)
    for offset, row in enumerate(rows[6:]):  # the 8-user level swings between full and a third of its rate
        if offset % 2:
            entry = row["endpoints"][ENDPOINT]
            row["endpoints"][ENDPOINT] = {**entry, "requests": entry["requests"] // 3, "hist": {"80": entry["requests"] // 3}}
    detection = detect_plateaus(_series(tmp_path, rows))
    assert [p.users for p in detection.plateaus] == [4]
    (rejected,) = detection.rejected
    assert rejected.users == 8 and ("steady" in rejected.reason or "settled" in rejected.reason)


def test_a_ramp_has_no_plateaus(tmp_path):
    rows = step_run(list(range(1, 21)), usl(**TRUE), intervals_per_step=1, transient=False)
    analysis = analyse(_series(tmp_path, rows), None)
    assert analysis.detection.plateaus == []
    assert isinstance(analysis.fit, NotEnoughData) and "no steady plateau" in analysis.fit.reason
    assert analysis.capacity is None
    assert all("interval" in r.reason for r in analysis.detection.rejected)


def test_concentrated_latencies_are_steady_when_their_median_bucket_spans_the_middle(tmp_path):
    # A fixed service time with a queue: about half the calls take 100 ms, half 200 ms, and interval medians land
    # in either bucket. Neither is a transient.
    histograms = [{"100": 41, "200": 39}, {"100": 39, "200": 41}, {"100": 40, "200": 40}, {"100": 38, "200": 42}]
    rows = [{"t": 1_800_000_000.0 + 2 * i, "user_count": 6,
             "endpoints": {ENDPOINT: {"requests": 80, "failures": 0, "hist": hist}}} for i, hist in enumerate(histograms)]
    (plateau,) = detect_plateaus(_series(tmp_path, rows)).plateaus
    assert (plateau.first_interval, plateau.stop_interval) == (0, 4)


def test_a_latency_shift_alone_marks_a_transient(tmp_path):
    rows = [{"t": 1_800_000_000.0 + 2 * i, "user_count": 6,
             "endpoints": {ENDPOINT: {"requests": 400, "failures": 0, "hist": {str(ms): 400}}}}
            for i, ms in enumerate([150, 200, 200, 200, 200])]
    (plateau,) = detect_plateaus(_series(tmp_path, rows)).plateaus
    assert (plateau.first_interval, plateau.transient_intervals) == (1, 1)


def test_zero_user_intervals_are_not_a_load_level(tmp_path):
    rows = step_run([3], usl(**TRUE), intervals_per_step=4, transient=False)
    idle = {"t": rows[-1]["t"] + 2, "user_count": 0, "endpoints": {}}
    detection = detect_plateaus(_series(tmp_path, [*rows, idle, {**idle, "t": idle["t"] + 2}]))
    assert [p.users for p in detection.plateaus] == [3] and detection.rejected == []


# ---- SLA-bound capacity ----------------------------------------------------------------------------------------
def test_sla_capacity_is_the_last_load_below_the_first_breach_and_names_the_bottleneck(tmp_path):
    # Latency = N / X(N): about 100 ms at 2 users, 145 ms at 16. A p95 limit between them breaks part-way.
    analysis = analyse(_series(tmp_path, step_run(LEVELS, usl(**TRUE))), _baseline(p95_ms=130))
    by_users = {p.users: p for p in analysis.detection.plateaus}
    first_breach = min(u for u, p in by_users.items() if not p.sla_holds)
    assert analysis.capacity.first_breach_users == first_breach
    assert analysis.capacity.capacity_users == max(u for u in by_users if u < first_breach)
    assert all(by_users[u].sla_holds for u in by_users if u < first_breach)
    assert analysis.capacity.bottleneck == ENDPOINT
    assert analysis.capacity.bottleneck_breaches[0].startswith("p95 ")
    assert not analysis.capacity.lower_bound


def test_no_breach_gives_a_lower_bound_and_an_early_breach_gives_none(tmp_path):
    series = _series(tmp_path, step_run(LEVELS, usl(**TRUE)))
    generous = analyse(series, _baseline(p95_ms=10_000)).capacity
    assert (generous.capacity_users, generous.lower_bound, generous.bottleneck) == (16, True, None)
    strict = analyse(series, _baseline(p95_ms=1)).capacity
    assert (strict.capacity_users, strict.first_breach_users) == (None, 2)


def test_error_rate_breaks_the_sla_too(tmp_path):
    rows = step_run(LEVELS, usl(**TRUE), failure_rate=lambda users: 0.2 if users >= 10 else 0.0)
    capacity = analyse(_series(tmp_path, rows), _baseline(p95_ms=10_000, fail_ratio=0.01)).capacity
    assert (capacity.capacity_users, capacity.first_breach_users) == (8, 10)
    assert any(b.startswith("errors ") for b in capacity.bottleneck_breaches)


def test_too_few_samples_is_inconclusive_not_a_breach(tmp_path):
    rows = step_run([2], usl(**TRUE), intervals_per_step=3, transient=False)
    # Well within the limit, but under min_samples (the floor for a pass): not proven either way. (A 1 ms limit
    # would be proven broken by these samples: a breach needs no minimum, analysis/bounds.py.)
    (plateau,) = analyse(_series(tmp_path, rows), _baseline(p95_ms=100_000, min_samples=10_000)).detection.plateaus
    assert plateau.endpoints[ENDPOINT].verdict == Verdict.INCONCLUSIVE and plateau.sla_holds


# ---- USL fit ---------------------------------------------------------------------------------------------------
def test_usl_fit_recovers_known_parameters_and_peak_from_noisy_plateaus(tmp_path):
    fit = analyse(_series(tmp_path, step_run(LEVELS, usl(**TRUE))), None).fit
    assert isinstance(fit, UslFit)
    for name, estimate in (("lam", fit.lam), ("sigma", fit.sigma), ("kappa", fit.kappa)):
        assert estimate.low <= TRUE[name] <= estimate.high, name
    assert fit.peak_throughput_rps.value == pytest.approx(TRUE_PEAK_X, rel=0.05)
    assert fit.peak_users.low <= TRUE_PEAK_USERS <= fit.peak_users.high
    assert fit.peak_throughput_rps.low <= fit.peak_throughput_rps.value <= fit.peak_throughput_rps.high
    assert fit.knee_users == pytest.approx(fit.peak_throughput_rps.value / fit.lam.value)
    assert fit.r_squared > 0.95


def test_usl_fit_on_exact_points_is_exact():
    users = np.arange(1, 11, dtype=float)
    fit = fit_usl(users, usl_throughput(users, 10.0, 0.1, 0.01))
    assert (fit.lam.value, fit.sigma.value, fit.kappa.value) == pytest.approx((10.0, 0.1, 0.01), rel=1e-4)
    assert fit.peak_users.value == pytest.approx(math.sqrt(0.9 / 0.01), rel=1e-4)


def test_band_surrounds_the_curve():
    users = np.array([1, 2, 4, 6, 8, 10, 12], dtype=float)
    noisy = usl_throughput(users, 10.0, 0.1, 0.01) * np.array([1.02, 0.97, 1.03, 0.98, 1.01, 0.99, 1.02])
    fit = fit_usl(users, noisy)
    grid = np.linspace(1, 12, 30)
    low, high = usl_band(fit, grid)
    curve = fit.curve(grid)
    assert np.all(low <= curve + 1e-9) and np.all(curve <= high + 1e-9) and np.all(high - low > 0)


@pytest.mark.parametrize(
    ("users", "throughput", "reason_part"),
    [
        ([2, 4, 6], [20, 38, 50], "at least 4"),
        ([2, 2, 4, 4, 6, 6], [20, 21, 38, 39, 50, 51], "at least 4"),
        ([2, 4, 6, 8], [40, 41, 40, 39], "saturated at the lowest load"),
        ([1, 2, 3, 4, 5], [10, 20, 30, 40, 50], "no saturation in the tested range"),
        ([1, 2, 3, 4], [10, 20, 0, 40], "no successful requests"),
    ],
)
def test_not_enough_data_says_why_and_what_to_change(users, throughput, reason_part):
    result = fit_usl(users, throughput)
    assert isinstance(result, NotEnoughData)
    assert reason_part in result.reason
    assert result.advice


def test_a_peak_far_beyond_the_tested_loads_is_not_reported():
    users = np.array([1, 2, 3, 4, 5], dtype=float)
    result = fit_usl(users, usl_throughput(users, 10.0, 0.01, 0.0005))
    assert isinstance(result, NotEnoughData) and "beyond the highest load tested" in result.reason
    assert "add steps up to about" in result.advice or "add steps well beyond 5 users" in result.advice


def test_usl_peak_cases():
    assert usl_peak(10.0, 0.2, 0.0) == (None, 50.0)
    assert usl_peak(10.0, 0.0, 0.0) == (None, None)
    n_star, x_star = usl_peak(10.0, 0.0, 0.01)
    assert n_star == pytest.approx(10.0) and x_star == pytest.approx(usl_throughput(10.0, 10.0, 0.0, 0.01))


# ---- headroom and cost -----------------------------------------------------------------------------------------
def test_headroom_compares_capacity_with_the_expected_load(tmp_path):
    analysis = analyse(_series(tmp_path, step_run(LEVELS, usl(**TRUE))), _baseline(p95_ms=130))
    result = headroom(4, analysis.capacity, analysis.fit)
    assert result.ratio == pytest.approx(analysis.capacity.capacity_users / 4)
    assert result.predicted_throughput_rps == pytest.approx(float(analysis.fit.curve(np.array([4.0]))[0]))
    assert headroom(4, None, NotEnoughData("x", "y")).ratio is None


def test_cost_projection_against_the_budget():
    projection = project_cost(0.06, 200.0, 5000, "flag")
    assert projection.monthly_cost_usd == pytest.approx(300.0)
    assert projection.budget_share == pytest.approx(1.5)
    assert projection.discoveries_budget_allows == pytest.approx(200 / 0.06)
    unknown_volume = project_cost(0.06, 200.0, None, "not given")
    assert unknown_volume.monthly_cost_usd is None and unknown_volume.budget_share is None
    assert discoveries_per_user_hour(30, 3600 * 10) == pytest.approx(3.0)
    assert discoveries_per_user_hour(30, 0) is None
