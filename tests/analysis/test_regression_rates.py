"""The regression test's error rates, measured on fixed seeds (benchmarks/bench_regression.py prints the full figures)."""

import sys
from pathlib import Path

import numpy as np
import pytest

from analysis.baseline import load_baseline
from analysis.histogram import Histogram
from analysis.regression import bootstrap_percentiles

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_regression import PRODUCTION, _literal_bootstrap, measure_false_alarms, measure_power  # noqa: E402

SAMPLES = 300  # "a few hundred samples"


@pytest.fixture(scope="module")
def production():
    return load_baseline(PRODUCTION)


def test_a_a_false_alarm_rate_is_at_most_5_percent_at_the_smallest_sample_judged(production):
    alarms = measure_false_alarms(production, trials=40, samples=production.regression.min_samples, seed=11)
    assert alarms.comparisons == 600
    assert alarms.per_endpoint <= 0.05
    assert alarms.per_run <= 0.05  # the stricter reading: exit 4 is a verdict on the whole run


def test_power_for_a_30_percent_p95_slowdown_of_one_endpoint(production):
    power = measure_power(production, trials=40, samples=SAMPLES, slow="scale", seed=12)
    assert power.detected >= 0.95
    assert power.others_unchanged >= 0.95


def test_bootstrap_shortcut_has_the_distribution_of_literal_resampling():
    rng = np.random.default_rng(5)
    histogram = Histogram.from_samples(rng.lognormal(np.log(200), 0.6, 250))
    qs = [0.5, 0.95, 0.99]
    shortcut = bootstrap_percentiles(histogram, qs, 20_000, rng)
    literal = _literal_bootstrap(histogram, qs, 20_000, rng)
    for column in range(len(qs)):
        deciles = np.linspace(0.05, 0.95, 10)
        shortcut_q, literal_q = np.quantile(shortcut[:, column], deciles), np.quantile(literal[:, column], deciles)
        # Same buckets at every decile, give or take one bucket step of Locust's histogram.
        assert np.allclose(shortcut_q, literal_q, rtol=0.03), (qs[column], shortcut_q, literal_q)
