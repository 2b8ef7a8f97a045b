"""The live SLA view's merge of interval counts: an open-model run's corrected histograms go along (the view judges
the latency from the intended start, as the gate does), and a closed run's counts are unchanged."""

from __future__ import annotations

from analysis.results import run_from_entries
from harness.livesla import _entries, _merge

KEY = "GET /auth/v1/user"


def test_open_model_intervals_are_judged_on_the_latency_from_the_intended_start():
    first = {KEY: [10, 1, {100: 10}, {100: 5, 900: 5}]}  # half the arrivals waited 800 ms for a free user
    second = {KEY: [5, 0, {100: 5}]}  # an interval with no lag keeps three slots: corrected == service time
    merged = _merge([first, second])
    assert merged[KEY][:3] == [15, 1, {100: 15}] and merged[KEY][3] == {100: 10, 900: 5}
    assert first[KEY][3] == {100: 5, 900: 5} and second[KEY] == [5, 0, {100: 5}]  # inputs untouched

    run = run_from_entries(_entries(merged, {}), corrected_entries=_entries(merged, {}, corrected=True))
    assert run.endpoints[KEY].histogram.percentile(0.95) == 900  # what the gate judges
    assert run.service_endpoints is not None and run.service_endpoints[KEY].histogram.percentile(0.95) == 100
    assert run.endpoints[KEY].requests == 15 and run.endpoints[KEY].failures == 1


def test_closed_run_counts_merge_as_before():
    merged = _merge([{KEY: [2, 0, {50: 2}]}, {KEY: [3, 1, {50: 1, 70: 2}]}])
    assert merged[KEY][:3] == [5, 1, {50: 3, 70: 2}] and merged[KEY][3] is None
    entry = _entries(merged, {KEY: {"max_response_time": 71.5, "start_time": 1.0, "last_request_timestamp": 9.0}})[0]
    assert entry["response_times"] == {"50": 3, "70": 2} and entry["max_response_time"] == 71.5
    assert _entries(merged, {}, corrected=True)[0]["response_times"] == {"50": 3, "70": 2}
