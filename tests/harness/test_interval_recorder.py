"""The interval recorder in a real Locust Environment, events fired by hand with a controlled clock."""

import json

import numpy as np
import pytest
from locust.env import Environment
from locust.event import Events

from analysis.histogram import Histogram
from analysis.intervals import load_intervals
from harness.intervals import INTERVALS_FILE, IntervalTable, attach


class FakeClock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def fire(environment, request_type, name, response_time, failed=False):
    environment.events.request.fire(
        request_type=request_type, name=name, response_time=response_time, response_length=10,
        exception=RuntimeError("boom") if failed else None, context={}, response=None, url=name, start_time=0,
    )  # fmt: skip


@pytest.fixture
def local_environment():
    environment = Environment(events=Events())
    environment.create_local_runner()
    try:
        yield environment
    finally:
        environment.runner.quit()


def test_intervals_sum_to_locusts_totals_and_histograms(local_environment, tmp_path):
    clock = FakeClock(1000.0)
    recorder = attach(local_environment, interval_s=5.0, clock=clock)
    local_environment.events.test_start.fire(environment=local_environment)
    rng = np.random.default_rng(11)
    # 30 s of traffic with a silent stretch from 15 s to 25 s: those intervals must still be written, empty.
    for step in range(300):
        clock.now = 1000.0 + step * 0.1
        if 15 <= step * 0.1 < 25:
            continue
        fire(local_environment, "GET", "/a", float(rng.lognormal(4, 1)), failed=step % 17 == 0)
        fire(local_environment, "POST", "/b [csv]", float(rng.lognormal(6, 0.5)))
        recorder.close_due(clock.now)
    clock.now = 1030.2
    path = recorder.finish(tmp_path)
    assert path == tmp_path / INTERVALS_FILE

    series = load_intervals(tmp_path)
    assert series.interval_s == 5.0
    assert series.times.tolist() == [1000.0 + 5 * i for i in range(7)]  # contiguous: gaps are written
    assert series.durations[-1] == pytest.approx(0.2)  # the last interval covered only 0.2 s of the run
    stats = local_environment.stats
    for request_type, name in (("GET", "/a"), ("POST", "/b [csv]")):
        entry = stats.get(name, request_type)
        endpoint = series.endpoints[f"{request_type} {name}"]
        assert endpoint.requests.sum() == entry.num_requests
        assert endpoint.failures.sum() == entry.num_failures
        assert endpoint.merged() == Histogram.from_dict(entry.response_times)
        assert endpoint.requests[3:5].tolist() == [0, 0]  # 15..25 s were silent
    assert series.endpoints["GET /a"].failures.sum() == len([s for s in range(300) if s % 17 == 0 and not 15 <= s * 0.1 < 25])


def test_progress_file_holds_closed_intervals_before_the_end(local_environment, tmp_path, monkeypatch):
    import harness.intervals as module

    monkeypatch.setattr(module, "results_dir_of", lambda environment: tmp_path)
    clock = FakeClock(2000.0)
    recorder = attach(local_environment, interval_s=1.0, clock=clock)
    local_environment.events.test_start.fire(environment=local_environment)
    fire(local_environment, "GET", "/a", 12.0)
    clock.now = 2001.5
    fire(local_environment, "GET", "/a", 140.0)
    recorder.close_due(2001.5)  # interval [2000, 2001) ended more than the grace period ago
    lines = (tmp_path / INTERVALS_FILE).read_text().splitlines()
    assert json.loads(lines[0]) == {"schema_version": 1, "interval_s": 1.0, "started_at": 2000.0}
    assert [json.loads(line)["endpoints"]["GET /a"]["hist"] for line in lines[1:]] == [{"12": 1}]
    recorder.finish(tmp_path)  # the same folder: appends the rest, does not rewrite
    lines = (tmp_path / INTERVALS_FILE).read_text().splitlines()
    assert [json.loads(line)["endpoints"]["GET /a"]["hist"] for line in lines[1:]] == [{"12": 1}, {"140": 1}]


def test_user_count_is_sampled_when_the_interval_closes(local_environment, tmp_path, monkeypatch):
    clock = FakeClock(3000.0)
    recorder = attach(local_environment, interval_s=5.0, clock=clock)
    local_environment.events.test_start.fire(environment=local_environment)
    running = {"users": 2}
    # The runner's user count, controlled directly: a unit test does not spawn real users.
    monkeypatch.setattr(type(local_environment.runner), "user_count", property(lambda runner: running["users"]))
    clock.now = 3005.1
    recorder.close_due(clock.now)  # 3000..3005 ended with 2 users: sampled now, written after the grace period
    running["users"] = 0
    clock.now = 3007.0
    recorder.finish(tmp_path)
    assert load_intervals(tmp_path).user_counts.tolist() == [2, 0]


def test_worker_deltas_merge_by_adding_counts():
    # What a worker's report carries and what the master adds: the merge of two tables equals one table that saw
    # every request.
    clock = FakeClock(100.0)
    one, two, single = (IntervalTable(5.0, clock) for _ in range(3))
    rng = np.random.default_rng(5)
    master = IntervalTable(5.0, clock)
    for step in range(200):
        clock.now = 100.0 + step * 0.07
        table = one if step % 3 else two
        response_time = float(rng.lognormal(5, 1))
        table.record("GET", "/x", response_time, step % 9 == 0)
        single.record("GET", "/x", response_time, step % 9 == 0)
        if step % 50 == 49:  # a report every so often: deltas since the last one
            for worker in (one, two):
                for index, endpoints in worker.drain():
                    for key, (requests, failures, histogram) in endpoints.items():
                        master.add(index, key, requests, failures, histogram)
    for worker in (one, two):
        for index, endpoints in worker.drain():
            for key, (requests, failures, histogram) in endpoints.items():
                master.add(index, key, requests, failures, histogram)
    assert master.pending_indexes() == single.pending_indexes() == [20, 21, 22]
    for index in single.pending_indexes():
        assert master.pop(index) == single.pop(index)


def test_request_without_response_time_is_counted_but_not_timed():
    table = IntervalTable(5.0, FakeClock(10.0))
    table.record("JOB", "submit->completed", None, True)
    assert table.pop(2) == {"JOB submit->completed": [1, 1, {}]}


def test_counts_for_an_interval_already_written_land_in_the_next_one(local_environment, tmp_path):
    # What a worker report later than the master's grace period looks like: counts for interval 0 after it was
    # written. They must not be lost (totals equal Locust's); they are counted in the next interval written.
    clock = FakeClock(500.0)
    recorder = attach(local_environment, interval_s=5.0, clock=clock)
    local_environment.events.test_start.fire(environment=local_environment)
    fire(local_environment, "GET", "/a", 10.0)
    clock.now = 506.0
    recorder.close_due(clock.now)  # interval [500, 505) written
    recorder.table.add(100, "GET /a", 3, 1, {30: 3})  # index 100 = [500, 505): already written
    clock.now = 512.0
    recorder.close_due(clock.now)
    clock.now = 513.0
    recorder.finish(tmp_path)
    series = load_intervals(tmp_path)
    assert series.endpoints["GET /a"].requests.tolist() == [1, 3, 0]
    assert series.endpoints["GET /a"].failures.tolist() == [0, 1, 0]
    assert recorder.late_requests == 3


def test_without_a_results_folder_until_the_end_the_whole_file_is_written_there(local_environment, tmp_path):
    clock = FakeClock(700.0)
    recorder = attach(local_environment, interval_s=5.0, clock=clock)
    local_environment.events.test_start.fire(environment=local_environment)  # results_dir_of() is None here
    fire(local_environment, "GET", "/a", 10.0)
    clock.now = 711.0
    recorder.close_due(clock.now)
    recorder.finish(tmp_path / "first")
    recorder.finish(tmp_path / "second")  # another folder: the same complete file
    first, second = (load_intervals(tmp_path / name) for name in ("first", "second"))
    assert first.times.tolist() == second.times.tolist() == [700.0, 705.0, 710.0]
    assert first.endpoints["GET /a"].requests.tolist() == [1, 0, 0]


def test_gauges_are_sampled_when_the_interval_closes_and_summed_over_workers(local_environment, tmp_path, monkeypatch):
    import harness.intervals as intervals

    monkeypatch.setattr(intervals, "_gauges", {})
    open_now = {"sockets": 3}
    intervals.register_gauge("open_sockets", lambda: open_now["sockets"])
    clock = FakeClock(4000.0)
    recorder = attach(local_environment, interval_s=5.0, clock=clock)
    local_environment.events.test_start.fire(environment=local_environment)
    recorder.on_worker_report("worker-a", {intervals.REPORT_KEY: {"interval_s": 5.0, "intervals": [],
                                                                   "gauges": {"open_sockets": 4}}})
    clock.now = 4005.1
    recorder.close_due(clock.now)  # 4000..4005 closes with 3 here + 4 on the worker
    open_now["sockets"] = 1
    clock.now = 4007.0
    recorder.finish(tmp_path)
    lines = [json.loads(line) for line in (tmp_path / INTERVALS_FILE).read_text().splitlines()[1:]]
    assert [line["gauges"] for line in lines] == [{"open_sockets": 7}, {"open_sockets": 5}]
    series = load_intervals(tmp_path)
    assert series.gauges["open_sockets"].tolist() == [7, 5]
    from analysis.report import gauge_rows

    assert gauge_rows(series) == [("open_sockets", "peak 7, mean 6.0 (at each interval's close)")]
