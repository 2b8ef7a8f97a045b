"""Histogram: Locust's bucketing and percentiles, reproduced exactly, and merging by adding counts."""

import numpy as np
import pytest
from locust.stats import PERCENTILES_TO_REPORT, RequestStats, bucket_response_time, calculate_response_time_percentile

from analysis.errors import InputError
from analysis.histogram import Histogram, bucket_array, bucket_ms

# Values at and around every boundary of Locust's rule, halves (round half to even), and random floats.
EDGE_VALUES = [0, 0.4, 0.5, 1.5, 2.5, 99.4, 99.5, 99.9, 100, 104.9, 105, 115, 994, 995, 999.9, 1000, 1049, 1050,
               1150, 9949, 9950, 9999, 10000, 10499, 10500, 11500, 59999, 123456.7]


def test_bucket_ms_matches_locust_on_edges_and_random_values():
    rng = np.random.default_rng(7)
    values = EDGE_VALUES + list(rng.uniform(0, 70_000, 20_000)) + list(rng.integers(0, 20_000, 5_000).astype(float) + 0.5)
    ours_scalar = [bucket_ms(v) for v in values]
    ours_vector = bucket_array(values).tolist()
    locust = [bucket_response_time(v) for v in values]
    assert ours_scalar == locust
    assert ours_vector == locust


def test_percentiles_equal_locusts_for_the_same_recorded_requests():
    rng = np.random.default_rng(3)
    stats = RequestStats()
    samples = np.concatenate([rng.lognormal(5, 1.0, 997), [12_345.0, 0.2, 99.5]])
    for ms in samples:
        stats.log_request("GET", "/x", float(ms), 10)
    entry = stats.get("/x", "GET")
    ours = Histogram.from_dict(entry.response_times)
    assert ours == Histogram.from_samples(samples)
    assert ours.count == entry.num_requests
    assert ours.percentiles(PERCENTILES_TO_REPORT) == [entry.get_response_time_percentile(q) for q in PERCENTILES_TO_REPORT]
    assert ours.max == bucket_response_time(entry.max_response_time)


@pytest.mark.parametrize("counts", [{5: 1}, {5: 1, 7: 1}, {1: 3, 2: 3, 3: 3, 4: 1}, {100: 19, 200: 1}, {10: 50, 20: 50}])
def test_percentile_on_small_histograms_at_every_quantile(counts):
    total = sum(counts.values())
    h = Histogram.from_dict(counts)
    for q in np.linspace(0, 1, 101):
        assert h.percentile(float(q)) == calculate_response_time_percentile(counts, total, float(q))


def test_merge_adds_counts_and_is_order_independent():
    a = Histogram.from_dict({"10": 2, "20": 1})
    b = Histogram.from_dict({20: 3, 30: 1})
    assert (a + b).to_dict() == {"10": 2, "20": 4, "30": 1}
    assert a + b == b + a == Histogram.merge_all([b, Histogram.empty(), a])
    assert (a + b).count == 7


def test_merge_all_equals_pairwise_merge_and_percentiles_of_the_pooled_samples():
    rng = np.random.default_rng(11)
    chunks = [rng.gamma(2.0, 40.0, rng.integers(0, 50)) for _ in range(200)]
    merged = Histogram.merge_all(Histogram.from_samples(c) for c in chunks)
    pairwise = Histogram.empty()
    for c in chunks:
        pairwise = pairwise + Histogram.from_samples(c)
    assert merged == pairwise == Histogram.from_samples(np.concatenate(chunks))


def test_empty_histogram_reads_as_not_measured():
    h = Histogram.empty()
    assert h.count == 0 and not h
    assert h.percentile(0.95) is None and h.max is None and h.mean is None
    assert h.to_dict() == {}


def test_round_trip_through_dict():
    h = Histogram.from_samples([1, 2, 2, 150, 1234, 56789])
    assert Histogram.from_dict(h.to_dict()) == h
    assert h.to_dict() == {"1": 1, "2": 2, "150": 1, "1200": 1, "57000": 1}


def test_arrays_are_read_only():
    h = Histogram.from_dict({"1": 1})
    with pytest.raises(ValueError):
        h.counts[0] = 5


@pytest.mark.parametrize("bad", [{"abc": 1}, {"1.5": 1}, {"-3": 1}, {"3": -1}, {"3": 1.5}, {"3": "2"}, [1, 2]])
def test_bad_histogram_content_is_an_input_error_naming_file_and_key(bad):
    with pytest.raises(InputError) as caught:
        Histogram.from_dict(bad, source="run/locust.json", key="[0].response_times")
    assert caught.value.path == "run/locust.json" and caught.value.key == "[0].response_times"


def test_percentile_outside_zero_one_is_a_programming_error():
    with pytest.raises(ValueError):
        Histogram.from_dict({"1": 1}).percentile(95)


def test_merge_of_very_large_buckets_takes_the_sorting_path_and_agrees():
    big = Histogram.from_dict({"5000000": 2, "3000000": 1, "12": 4})
    assert big.to_dict() == {"12": 4, "3000000": 1, "5000000": 2}
    assert (big + Histogram.from_dict({"12": 1})).to_dict() == {"12": 5, "3000000": 1, "5000000": 2}
    assert big.percentile(0.99) == 5_000_000
