"""The data behind every plot, checked against a direct computation from raw samples (not pixels)."""

import io

import numpy as np
import pytest
from matplotlib.figure import Figure

from analysis.baseline import baseline_from_dict
from analysis.decide import Check, Decision
from analysis.histogram import Histogram
from analysis.intervals import load_intervals
from analysis.plots import (
    draw_endpoint_detail, draw_latency_cdf, draw_latency_over_time, draw_regression_chart, draw_throughput_over_time, draw_trend,
    latency_cdf, latency_over_time, regression_bars, throughput_over_time, trend, window_for,
)  # fmt: skip
from analysis.results import run_from_entries
from analysis.verdicts import Verdict
from tests.analysis.synthetic_runs import write_intervals

KEY = "POST /functions/v1/enrichment-orchestrator"
OTHER = "GET /auth/v1/user"
QS = [0.5, 0.95, 0.99]


@pytest.fixture
def recorded(tmp_path):
    rng = np.random.default_rng(42)
    # 12 intervals; interval 4 silent for KEY (a gap), OTHER only in the first half.
    samples = {KEY: [rng.lognormal(6, 0.6, 40 + 5 * i) if i != 4 else np.array([]) for i in range(12)],
               OTHER: [rng.lognormal(4, 0.3, 30) for _ in range(6)]}  # fmt: skip
    users = [2, 4, 6, 8, 10, 10, 10, 10, 10, 10, 10, 5]
    failures = {KEY: [i % 3 if i != 4 else 0 for i in range(12)], OTHER: [0] * 6}  # none in the silent interval
    path = write_intervals(tmp_path, samples, users=users, failures=failures, durations={11: 2.5})
    return load_intervals(path), samples, users, failures


def test_latency_series_per_interval_match_each_intervals_own_histogram(recorded):
    series, samples, users, _ = recorded
    limits = baseline_from_dict({"schema_version": 1, "name": "t", "defaults": {"p95_ms": 3000},
                                 "endpoints": {KEY: {"p99_ms": 4500, "p50_ms": 900}}}, source="t").limits_for(KEY)  # fmt: skip
    data = latency_over_time(series, KEY, limits)
    assert data.window_s == 5.0
    assert data.minutes.tolist() == pytest.approx([i * 5 / 60 for i in range(12)])
    for index, raw in enumerate(samples[KEY]):
        expected = Histogram.from_samples(raw).percentiles(QS) if len(raw) else [np.nan] * 3
        actual = [data.percentiles_ms[name][index] for name in ("p50_ms", "p95_ms", "p99_ms")]
        np.testing.assert_array_equal(actual, expected)
    assert data.sla_ms == {"p50_ms": 900.0, "p95_ms": 3000.0, "p99_ms": 4500.0}  # the endpoint's over the defaults
    assert data.users.tolist() == users


def test_merged_windows_take_percentiles_of_merged_histograms_not_averages(recorded):
    series, samples, users, _ = recorded
    data = latency_over_time(series, KEY, None, max_points=4)  # 12 intervals -> windows of 3
    assert window_for(12, 4) == 3 and data.window_s == 15.0
    for window in range(4):
        raw = np.concatenate(samples[KEY][window * 3 : window * 3 + 3])
        expected = Histogram.from_samples(raw).percentiles(QS)
        assert [data.percentiles_ms[name][window] for name in ("p50_ms", "p95_ms", "p99_ms")] == expected
    assert data.users.tolist() == [users[2], users[5], users[8], users[11]]
    assert data.sla_ms == {}


def test_an_endpoint_absent_from_the_run_is_all_gaps(recorded):
    series, *_ = recorded
    data = latency_over_time(series, "GET /never", None)
    assert all(np.isnan(values).all() for values in data.percentiles_ms.values())


def test_throughput_divides_by_covered_seconds(recorded):
    series, samples, _, failures = recorded
    data = throughput_over_time(series)
    for index in range(12):
        requests = sum(len(per[index]) for per in samples.values() if index < len(per))
        failed = sum(per[index] for per in failures.values() if index < len(per))
        seconds = 2.5 if index == 11 else 5.0
        assert data.requests_per_s[index] == pytest.approx(requests / seconds)
        assert data.failures_per_s[index] == pytest.approx(failed / seconds)
    merged = throughput_over_time(series, max_points=6)  # windows of 2 intervals; the last covers 5 + 2.5 s
    assert merged.requests_per_s[5] == pytest.approx((len(samples[KEY][10]) + len(samples[KEY][11])) / 7.5)


def test_cdf_curves_equal_the_share_of_bucketed_samples_at_or_below(recorded):
    series, samples, *_ = recorded
    run_histogram = series.merged_histogram(KEY)
    reference_histogram = Histogram.from_samples(np.random.default_rng(1).lognormal(6.2, 0.6, 500))
    data = latency_cdf(KEY, {"this run": run_histogram, "reference": reference_histogram, "absent": None})
    assert [curve.label for curve in data.curves] == ["this run", "reference"]
    bucketed = Histogram.from_samples(np.concatenate(samples[KEY]))
    raw_buckets = np.repeat(bucketed.buckets, bucketed.counts)
    curve = data.curves[0]
    assert curve.count == raw_buckets.size
    for ms, fraction in zip(curve.ms, curve.fraction):
        assert fraction == pytest.approx(np.mean(raw_buckets <= ms))
    assert curve.fraction[-1] == 1.0


def test_regression_bars_carry_every_change_with_its_interval_and_verdict():
    checks = (
        Check(KEY, "p95_ms", Verdict.BREACH, actual=3500, limit=3000, margin=500),
        Check(KEY, "p95 change", Verdict.REGRESSED, actual=3500, reference=2500, change=0.4, interval=(0.3, 0.5)),
        Check(OTHER, "p50 change", Verdict.UNCHANGED, actual=50, reference=49, change=0.02, interval=(-0.01, 0.05)),
        Check(OTHER, "p95 change", Verdict.INCONCLUSIVE, reason="too few samples"),
        Check("business", "cost_per_discovery_usd anomaly", Verdict.UNCHANGED, change=0.1),
    )
    bars = regression_bars(Decision("t", "run", checks))
    assert [(b.endpoint, b.metric, b.change, b.low, b.high, b.verdict) for b in bars] == [
        (KEY, "p95 change", 0.4, 0.3, 0.5, Verdict.REGRESSED),
        (OTHER, "p50 change", 0.02, -0.01, 0.05, Verdict.UNCHANGED),
    ]


def _entry(key, samples):
    method, name = key.split(" ", 1)
    h = Histogram.from_samples(samples)
    return {"name": name, "method": method, "num_requests": h.count, "num_failures": 0, "response_times": h.to_dict()}


def test_trend_is_one_point_per_run_from_each_runs_whole_histogram():
    rng = np.random.default_rng(9)
    raw = [rng.lognormal(5 + 0.1 * i, 0.5, 300) for i in range(3)]
    runs = [(f"run {i}", run_from_entries([_entry(KEY, raw[i])] + ([_entry(OTHER, raw[i] / 10)] if i != 1 else [])))
            for i in range(3)]  # fmt: skip
    data = trend(runs, q=0.95)
    assert data.labels == ("run 0", "run 1", "run 2") and data.metric == "p95_ms"
    assert data.values[KEY].tolist() == [Histogram.from_samples(r).percentile(0.95) for r in raw]
    assert np.isnan(data.values[OTHER][1])


def test_every_drawing_returns_a_figure_that_saves_as_png_and_svg(recorded):
    series, *_ = recorded
    bars = regression_bars(Decision("t", "run", (Check(KEY, "p95 change", Verdict.REGRESSED, change=0.4, interval=(0.3, 0.5)),)))
    figures = [
        draw_latency_over_time(latency_over_time(series, KEY, None)),
        draw_throughput_over_time(throughput_over_time(series)),
        draw_latency_cdf(latency_cdf(KEY, {"this run": series.merged_histogram(KEY)})),
        draw_regression_chart(bars, noise_threshold=0.1),
        draw_regression_chart([]),
        draw_trend(trend([("a", run_from_entries([_entry(KEY, [10.0, 20.0])]))])),
    ]
    for figure in figures:
        assert isinstance(figure, Figure)
        for fmt, magic in (("png", b"\x89PNG"), ("svg", b"<?xml")):
            buffer = io.BytesIO()
            figure.savefig(buffer, format=fmt)
            assert buffer.getvalue().startswith(magic)


def test_endpoint_detail_puts_latency_over_time_beside_the_distribution(recorded):
    series, *_ = recorded
    latency = latency_over_time(series, KEY, None)
    cdf = latency_cdf(KEY, {"this run": series.merged_histogram(KEY)})
    both = draw_endpoint_detail(latency, cdf)
    assert len(both.axes) == 3  # latency, its user-count twin, the distribution
    assert len(draw_endpoint_detail(None, cdf).axes) == 1
    with pytest.raises(ValueError):
        draw_endpoint_detail(None, None)
