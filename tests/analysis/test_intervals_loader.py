"""Loading intervals.jsonl: typed series, merged percentiles, and every kind of bad file as one InputError."""

import json
import logging

import numpy as np
import pytest

from analysis.errors import InputError
from analysis.histogram import Histogram
from analysis.intervals import load_intervals

HEADER = {"schema_version": 1, "interval_s": 5.0, "started_at": 100.0}


def write(tmp_path, lines, *, trailing_newline=True):
    path = tmp_path / "intervals.jsonl"
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    path.write_text(text + ("\n" if trailing_newline else ""), encoding="utf-8")
    return path


def interval(t, endpoints, users=3):
    return {"t": t, "user_count": users, "endpoints": endpoints}


def test_series_columns_and_merged_percentiles_equal_a_direct_computation(tmp_path):
    rng = np.random.default_rng(2)
    samples = [rng.lognormal(5, 1, 50 + 10 * i) for i in range(6)]
    hists = [Histogram.from_samples(s) for s in samples]
    lines = [HEADER] + [interval(100.0 + 5 * i, {"GET /a": {"requests": h.count, "failures": i, "hist": h.to_dict()}}) for i, h in enumerate(hists)]
    lines.insert(3, interval(110.0, {}))  # an interval with no requests, between 105 and 115
    for i, line in enumerate(lines[4:]):
        line["t"] = 115.0 + 5 * i
    series = load_intervals(write(tmp_path, lines))
    endpoint = series.endpoints["GET /a"]
    assert series.times.tolist() == [100.0 + 5 * i for i in range(7)]
    assert endpoint.requests.tolist() == [hists[0].count, hists[1].count, 0] + [h.count for h in hists[2:]]
    assert endpoint.failures.tolist() == [0, 1, 0, 2, 3, 4, 5]
    assert endpoint.merged() == Histogram.from_samples(np.concatenate(samples))
    assert endpoint.merged(3, 5) == Histogram.from_samples(np.concatenate(samples[2:4]))
    p95 = endpoint.percentile_series([0.5, 0.95])
    assert np.isnan(p95[2]).all()  # the empty interval is a gap, not a zero
    assert p95[4].tolist() == hists[3].percentiles([0.5, 0.95])
    assert series.total_requests().tolist() == endpoint.requests.tolist()


def test_a_cut_short_last_line_is_dropped_with_a_warning(tmp_path, caplog):
    good = interval(100.0, {"GET /a": {"requests": 1, "failures": 0, "hist": {"12": 1}}})
    path = write(tmp_path, [HEADER, good, '{"t": 105.0, "user_count": 3, "endpo'], trailing_newline=False)
    with caplog.at_level(logging.WARNING):
        series = load_intervals(path)
    assert len(series) == 1 and series.truncated
    assert "line 3 is cut short" in series.warnings[0]
    assert "cut short" in caplog.text


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([], "file is empty"),
        ([{"schema_version": 2, "interval_s": 5}], "schema_version is 2"),
        ([{"schema_version": 1, "interval_s": 0}], "interval_s must be a positive number"),
        ([HEADER, "not json", interval(105.0, {})], "line 2: invalid JSON"),
        ([HEADER, "[1, 2]"], "line 2: expected a JSON object"),
        ([HEADER, {"t": "soon", "user_count": 1, "endpoints": {}}], "line 2: t must be epoch seconds"),
        ([HEADER, {"t": 100.0, "user_count": -1, "endpoints": {}}], "line 2: user_count must be a non-negative integer"),
        ([HEADER, interval(100.0, {"GET /a": {"requests": 1, "failures": 2, "hist": {}}})], "line 2: endpoints.GET /a: failures (2) exceed requests (1)"),
        ([HEADER, interval(100.0, {"GET /a": {"requests": 1, "failures": 0, "hist": {"fast": 1}}})], "line 2: endpoints.GET /a.hist: histogram bucket 'fast'"),
        ([HEADER, interval(100.0, {"GET /a": {"requests": 1, "failures": 0, "hist": {"12": 5}}})], "line 2: endpoints.GET /a: hist holds 5 requests, more than requests (1)"),
        ([HEADER, interval(100.0, {"GET /a": {"requests": 2, "failures": 0, "hist": {"12": 1.5}}})], "line 2: endpoints.GET /a.hist: histogram count for bucket '12'"),
        ([HEADER, interval(100.0, {}), interval(105.0, {"GET /a": {"requests": 2, "failures": 0, "hist": {"-3": 1}}})], "line 3: endpoints.GET /a.hist: histogram bucket '-3'"),
        ([HEADER, interval(100.0, {"GET /a": {"requests": 1, "failures": 0, "hist": {"7": True}}})], "histogram count for bucket '7' must be a non-negative integer"),
        ([HEADER, interval(105.0, {}), interval(100.0, {})], "line 3: interval t=100.0 is not after the previous one"),
    ],
)
def test_bad_content_names_the_file_and_line(tmp_path, lines, expected):
    path = write(tmp_path, lines) if lines else tmp_path / "intervals.jsonl"
    if not lines:
        path.write_text("")
    with pytest.raises(InputError) as raised:
        load_intervals(path)
    assert str(path) in str(raised.value)
    assert expected in str(raised.value)


def test_a_bad_line_in_the_middle_is_an_error_even_without_a_trailing_newline(tmp_path):
    path = write(tmp_path, [HEADER, "{broken", interval(105.0, {})], trailing_newline=False)
    with pytest.raises(InputError, match="line 2: invalid JSON"):
        load_intervals(path)


def test_missing_file_says_what_recorded_it(tmp_path):
    with pytest.raises(InputError, match="file not found.*interval recorder"):
        load_intervals(tmp_path)


def test_unusual_but_valid_histograms_are_normalised_like_histogram_from_dict(tmp_path):
    lines = [HEADER, interval(100.0, {"GET /a": {"requests": 3, "failures": 0, "hist": {"12": 2, "40": 0, "7": 1}}})]
    endpoint = load_intervals(write(tmp_path, lines)).endpoints["GET /a"]
    assert endpoint.histogram(0).to_dict() == {"7": 1, "12": 2}
