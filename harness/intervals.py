"""Per-endpoint, per-interval latency histograms recorded during the run: ``intervals.jsonl``.

Locust's own history keeps only cumulative, aggregate percentiles, so "when during the run did p95 of export
drift up?" cannot be answered from it. This listener keeps, for every endpoint key ``"<request_type> <name>"`` and
every interval (5 s by default, ``--interval-seconds``), a histogram in Locust's own bucketing plus request and
failure counts, and the user count when the interval closed. Format: docs/architecture.md.

Roles, by runner type:
- local: records requests, closes intervals in a background greenlet, appends each to the file as it closes;
- worker: records requests and ships what it has (deltas) with every stats report to the master
  (``report_to_master``), including a final report when it quits;
- master: merges worker deltas by adding counts (``worker_report``) and writes like a local runner, waiting a
  grace period past each interval's end so that workers' reports (every 3 s) have arrived.

The request listener is on the hot path (it fires for every request): it does one clock read, one dict lookup and
a few integer increments. Everything else happens in the greenlet or when the run ends.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
from locust import events as global_events
from locust.env import Environment
from locust.runners import WORKER_REPORT_INTERVAL, MasterRunner, WorkerRunner
from locust.stats import bucket_response_time

from analysis.openmodel import ARRIVAL_LAG_KEY
from common.results_format import INTERVALS_FILE
from common.results_format import INTERVALS_SCHEMA_VERSION as SCHEMA_VERSION
from harness.results import register_artifact_writer, results_dir_of

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 5.0
# The key under which a worker's deltas travel in its stats report to the master.
REPORT_KEY = "prospectpro_intervals"

# How long past an interval's end the writer waits before closing it. Locally requests are logged the moment they
# finish, so a short pause suffices; a master must wait for two worker reports (sent every 3 s) plus slack, or a
# slow report would arrive for an interval already written.
LOCAL_GRACE_S = 0.25
MASTER_GRACE_S = 2 * WORKER_REPORT_INTERVAL + 1.0

# Gauges: a value of the generator's own state sampled when each interval closes (e.g. open websockets), by name.
# A traffic module registers a reader (``register_gauge``); the harness knows nothing of what it measures. Workers
# send their latest readings with every report; the master sums the latest reading of each worker.
_gauges: dict[str, Callable[[], float]] = {}


def register_gauge(name: str, read: Callable[[], float]) -> None:
    """Add ``"gauges": {name: read()}`` to every interval line (read when the interval closes, summed over workers)."""
    _gauges[name] = read


def read_gauges() -> dict[str, float]:
    return {name: read() for name, read in _gauges.items()}


# One endpoint in one interval: [requests, failures, {bucket_ms: count}]. A list, not an object: it is mutated on
# the hot path and a list index is the cheapest mutable slot in CPython.
# The fourth slot is the open model's histogram of latency from the intended start (None until a request of an
# arrival is seen; from then on every request of the endpoint-interval is counted in it, those outside arrivals at
# their service time, as locust_corrected.json counts them).
Counts = list  # [int, int, dict[int, int], dict[int, int] | None]; pop() and drain() leave out a None fourth


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def add_interval_option(parser) -> None:
    """``init_command_line_parser`` listener: the interval length option (also shown in the web UI)."""
    parser.add_argument(
        "--interval-seconds",
        type=_positive_seconds,
        default=DEFAULT_INTERVAL_S,
        env_var="LOCUST_INTERVAL_SECONDS",
        help="length of one interval in intervals.jsonl (per-endpoint latency over time); default 5",
    )


class IntervalTable:
    """Counts per interval index and endpoint: the data structure, with no Locust or file knowledge.

    Interval ``k`` covers ``[k * interval_s, (k + 1) * interval_s)`` in epoch seconds. Integer indexes (not float
    start times) keep master and workers aligned exactly and make gap filling exact.
    """

    __slots__ = ("interval_s", "_clock", "_by_index", "_open", "_open_start", "_open_end")

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.time):
        self.interval_s = interval_s
        self._clock = clock
        self._by_index: dict[int, dict[Any, Counts]] = {}
        self._forget_open()

    def _forget_open(self) -> None:
        # Forces the next request to look its interval up again (after a drain or pop removed the open one).
        self._open: dict[Any, Counts] = {}
        self._open_start = math.inf
        self._open_end = -math.inf

    # ---- hot path ----------------------------------------------------------------------------------------------
    def record(self, request_type: str, name: str, response_time: float | None, failed: bool,
               lag_ms: float | None = None) -> None:
        now = self._clock()
        if not (self._open_start <= now < self._open_end):
            self._open_interval_at(now)
        key = (request_type, name)
        counts = self._open.get(key)
        if counts is None:
            counts = self._open[key] = [0, 0, {}, None]
        counts[0] += 1
        if failed:
            counts[1] += 1
        # Locust counts a request with no response time (None) but keeps it out of the histogram; so do we.
        if response_time is not None:
            bucket = bucket_response_time(response_time)
            histogram = counts[2]
            corrected = counts[3]
            if lag_ms is not None and corrected is None:
                corrected = counts[3] = dict(histogram)  # the requests before it had no lag
            histogram[bucket] = histogram.get(bucket, 0) + 1
            if corrected is not None:
                if lag_ms:
                    bucket = bucket_response_time(response_time + lag_ms)
                corrected[bucket] = corrected.get(bucket, 0) + 1

    def _open_interval_at(self, now: float) -> None:
        index = self.index_at(now)
        self._open = self._by_index.setdefault(index, {})
        self._open_start = index * self.interval_s
        self._open_end = (index + 1) * self.interval_s

    # ---- everything else ---------------------------------------------------------------------------------------
    def index_at(self, timestamp: float) -> int:
        return math.floor(timestamp / self.interval_s)

    def add(self, index: int, key: str, requests: int, failures: int, histogram: dict, corrected: dict | None = None) -> None:
        """Merge counts shipped by a worker: adding counts is exact, whatever the order of arrival."""
        merge_counts(self._by_index.setdefault(index, {}).setdefault(key, [0, 0, {}, None]),
                      requests, failures, histogram, corrected)  # fmt: skip

    def pending_indexes(self) -> list[int]:
        return sorted(self._by_index)

    def peek(self) -> list[tuple[int, dict[str, Counts]]]:
        """Copies of the intervals not written yet, keyed by endpoint string, without removing them (a live view
        reads what the file will hold once these intervals close)."""
        return [(index, _keyed_by_string(endpoints)) for index, endpoints in sorted(self._by_index.items()) if endpoints]

    def pop(self, index: int) -> dict[str, Counts]:
        """Remove one interval and return its endpoints keyed by ``"<request_type> <name>"``."""
        endpoints = self._by_index.pop(index, {})
        if endpoints is self._open:
            self._forget_open()
        return _keyed_by_string(endpoints)

    def drain(self) -> list[list]:
        """Remove everything (for a worker's report): ``[[index, {key: [requests, failures, hist]}], ...]``."""
        drained = [[index, _keyed_by_string(endpoints)] for index, endpoints in sorted(self._by_index.items())]
        self._by_index = {}
        self._forget_open()
        return [[index, endpoints] for index, endpoints in drained if endpoints]


def merge_counts(target: Counts, requests: int, failures: int, histogram: dict, corrected: dict | None) -> None:
    """Add one Counts' numbers into another. A side without a corrected histogram had no lag: its corrected
    histogram is its own histogram."""
    if corrected is not None and target[3] is None:
        target[3] = dict(target[2])
    target[0] += requests
    target[1] += failures
    for into, source in ((target[2], histogram), (target[3], histogram if corrected is None else corrected)):
        if into is None:
            continue
        for bucket, count in source.items():
            bucket = int(bucket)
            into[bucket] = into.get(bucket, 0) + count


def _keyed_by_string(endpoints: dict[Any, Counts]) -> dict[str, Counts]:
    """Hot-path keys are (request_type, name) tuples (cheaper than formatting a string per request); merged keys
    are already strings. Both become the endpoint key, adding counts if the same endpoint appears in both forms."""
    keyed: dict[str, Counts] = {}
    for key, (requests, failures, histogram, *corrected) in endpoints.items():
        text = key if isinstance(key, str) else f"{key[0]} {key[1]}"
        merge_counts(keyed.setdefault(text, [0, 0, {}, None]), requests, failures, histogram,
                      corrected[0] if corrected else None)  # fmt: skip
    # Out of the table, a closed run's counts stay [requests, failures, hist]; an open run's add corrected_hist.
    return {text: counts if counts[3] is not None else counts[:3] for text, counts in keyed.items()}


def interval_line(start_s: float, user_count: int, endpoints: dict[str, Counts], covered_s: float | None,
                  gauges: dict[str, float] | None = None) -> dict:  # fmt: skip
    """One line of intervals.jsonl. ``duration_s`` appears only on an interval the run covered partly (its first
    and last), so that a rate computed from it is not diluted by time the run was not running; ``gauges`` only
    when some are registered."""
    line: dict[str, Any] = {
        "t": start_s,
        "user_count": int(user_count),
        "endpoints": {
            key: {"requests": requests, "failures": failures,
                  "hist": {str(bucket): histogram[bucket] for bucket in sorted(histogram)},
                  **({"corrected_hist": {str(b): corrected[0][b] for b in sorted(corrected[0])}}
                     if corrected and corrected[0] is not None else {})}
            for key, (requests, failures, histogram, *corrected) in sorted(endpoints.items())
        },
    }  # fmt: skip
    if covered_s is not None:
        line["duration_s"] = round(covered_s, 3)
    if gauges:
        line["gauges"] = {name: gauges[name] for name in sorted(gauges)}
    return line


class IntervalRecorder:
    """Wires an IntervalTable into one Locust environment and writes intervals.jsonl (master/local)."""

    def __init__(self, environment: Environment, interval_s: float | None = None, clock: Callable[[], float] = time.time):
        self.environment = environment
        self._clock = clock
        self._fixed_interval_s = interval_s
        self.table = IntervalTable(interval_s or DEFAULT_INTERVAL_S, clock)
        self.is_worker = isinstance(environment.runner, WorkerRunner)
        self.grace_s = MASTER_GRACE_S if isinstance(environment.runner, MasterRunner) else LOCAL_GRACE_S
        self.started_at: float | None = None
        self.late_requests = 0  # arrived after their interval was written: counted in the next one written
        self._next_index: int | None = None  # the next interval to write; everything before it is written
        self._user_count_at_close: dict[int, int] = {}
        self._gauges_at_close: dict[int, dict[str, float]] = {}
        self._worker_gauges: dict[str, dict[str, float]] = {}  # master: each worker's latest readings
        self._lines: list[str] = []  # closed intervals while no results folder is known (else they are in the file)
        self._progress_path: Path | None = None
        self._finished_path: Path | None = None
        self._greenlet: gevent.Greenlet | None = None
        # Called with (start_s, covered_to_s, endpoints) each time an interval is written (master/local): the
        # merged counts of that interval, e.g. for the in-run gate's until-decided mode.
        self.interval_listeners: list[Callable[[float, float, dict[str, Counts]], None]] = []
        events = environment.events
        events.request.add_listener(self.on_request)
        events.test_start.add_listener(self.on_test_start)
        if self.is_worker:
            events.report_to_master.add_listener(self.on_report_to_master)
        else:
            events.worker_report.add_listener(self.on_worker_report)

    # ---- listeners ---------------------------------------------------------------------------------------------
    def on_request(self, request_type, name, response_time, exception=None, context=None, **_kwargs) -> None:
        lag_ms = context.get(ARRIVAL_LAG_KEY) if context else None  # an open-model arrival's (harness/arrivals.py)
        self.table.record(request_type, name, response_time, exception is not None, lag_ms)

    def on_test_start(self, environment: Environment, **_kwargs) -> None:
        if not self.is_worker and self._finished_path is not None:
            self._start_over()  # a new test from the web UI after the last one's file was finished: a new file
        # Read the interval here, not at init: a worker receives the master's options just before test_start.
        if self._fixed_interval_s is None:
            interval_s = getattr(environment.parsed_options, "interval_seconds", None) or DEFAULT_INTERVAL_S
            if interval_s != self.table.interval_s and not self.table.pending_indexes():
                self.table = IntervalTable(interval_s, self._clock)
        if self.is_worker or self.started_at is not None:
            return  # a test restarted before the file was finished continues it; gaps are written as empty intervals
        self.started_at = self._clock()
        self._next_index = self.table.index_at(self.started_at)
        results_dir = results_dir_of(environment)
        if results_dir is not None:
            self._start_progress_file(Path(results_dir) / INTERVALS_FILE)
        self._greenlet = gevent.spawn(self._close_intervals_as_time_passes)

    def on_report_to_master(self, client_id: str, data: dict, **_kwargs) -> None:
        data[REPORT_KEY] = {"interval_s": self.table.interval_s, "intervals": self.table.drain(),
                            "gauges": read_gauges()}

    def on_worker_report(self, client_id: str, data: dict, **_kwargs) -> None:
        shipped = data.get(REPORT_KEY)
        if not shipped:
            return
        if shipped.get("gauges"):
            self._worker_gauges[client_id] = shipped["gauges"]
        if shipped["interval_s"] != self.table.interval_s:
            logger.warning("worker %s records %s s intervals, master %s s: realigning", client_id, shipped["interval_s"], self.table.interval_s)
        for index, endpoints in shipped["intervals"]:
            if shipped["interval_s"] != self.table.interval_s:
                index = self.table.index_at(index * shipped["interval_s"])
            for key, (requests, failures, histogram, *corrected) in endpoints.items():
                self.table.add(index, key, requests, failures, histogram, corrected[0] if corrected else None)

    @property
    def finished(self) -> bool:
        """The file of this run is complete (finish() ran): a live view stops reading the table."""
        return self._finished_path is not None

    def _start_over(self) -> None:
        self.table = IntervalTable(self.table.interval_s, self._clock)
        self.started_at = None
        self.late_requests = 0
        self._next_index = None
        self._user_count_at_close = {}
        self._gauges_at_close = {}
        self._lines = []
        self._progress_path = None
        self._finished_path = None

    # ---- closing and writing -----------------------------------------------------------------------------------
    def _close_intervals_as_time_passes(self) -> None:
        tick_s = min(1.0, self.table.interval_s / 4)
        while True:
            self.close_due(self._clock())
            gevent.sleep(tick_s)

    def close_due(self, now: float) -> None:
        """Write every interval that ended more than the grace period ago; note the user count of those that ended."""
        if self._next_index is None:
            return
        interval_s = self.table.interval_s
        runner = self.environment.runner
        ended_before = self.table.index_at(now)  # intervals with an index below this one have ended
        for index in range(self._next_index, ended_before):
            if index not in self._user_count_at_close:
                self._user_count_at_close[index] = runner.user_count if runner else 0
                self._gauges_at_close[index] = self._gauge_readings()
        while (self._next_index + 1) * interval_s + self.grace_s <= now:
            self._fold_late_counts()
            self._write_interval(self._next_index, end_s=None)

    def _gauge_readings(self) -> dict[str, float]:
        """This process's readings, plus (on a master) the sum of each worker's latest."""
        readings = read_gauges()
        for worker in self._worker_gauges.values():
            for name, value in worker.items():
                readings[name] = readings.get(name, 0) + value
        return readings

    def _fold_late_counts(self) -> None:
        """Counts for an interval already written (a worker report later than the grace period, or a clock step
        back) go into the next interval to write: the totals must still equal Locust's. Counted and logged."""
        next_index = self._next_index
        if next_index is None:  # not started: nothing written yet, nothing late
            return
        for index in self.table.pending_indexes():
            if index >= next_index:
                break
            for key, (requests, failures, histogram, *corrected) in self.table.pop(index).items():
                self.late_requests += requests
                self.table.add(next_index, key, requests, failures, histogram, corrected[0] if corrected else None)

    def _write_interval(self, index: int, end_s: float | None) -> None:
        interval_s = self.table.interval_s
        start_s = index * interval_s
        assert self.started_at is not None  # intervals are written between start and finish only
        covered_from = max(start_s, self.started_at)
        covered_to = (start_s + interval_s) if end_s is None else min(start_s + interval_s, end_s)
        partly = covered_from > start_s or covered_to < start_s + interval_s
        user_count = self._user_count_at_close.pop(index, None)
        if user_count is None:
            user_count = self.environment.runner.user_count if self.environment.runner else 0
        endpoints = self.table.pop(index)
        gauges = self._gauges_at_close.pop(index, None)
        if gauges is None:
            gauges = self._gauge_readings()
        line = interval_line(start_s, user_count, endpoints, max(0.0, covered_to - covered_from) if partly else None,
                             gauges)  # fmt: skip
        self._append_line(json.dumps(line, separators=(",", ":")))
        self._next_index = index + 1
        for listener in self.interval_listeners:
            listener(start_s, covered_to, endpoints)

    def _header(self) -> str:
        return json.dumps({"schema_version": SCHEMA_VERSION, "interval_s": self.table.interval_s, "started_at": self.started_at})

    def _start_progress_file(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self._header() + "\n", encoding="utf-8")
        self._progress_path = path

    def _append_line(self, text: str) -> None:
        if self._progress_path is None:
            self._lines.append(text)  # no results folder known yet: kept until finish() is told where
            return
        # Append and close per interval: an interrupted run keeps every interval closed before it stopped.
        with self._progress_path.open("a", encoding="utf-8") as file:
            file.write(text + "\n")

    def finish(self, results_dir: str | Path) -> Path | None:
        """Write the remaining intervals (the last one partly covered) and return the file's path.

        Called once when the run ends, after the workers' final reports (an artifact writer). A second call for
        the same folder does nothing; for another folder it writes the whole file there.
        """
        if self.is_worker or self.started_at is None or self._next_index is None:  # (set together by start)
            return None
        target = Path(results_dir) / INTERVALS_FILE
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None
        if self._finished_path is None:
            end_s = self._clock()
            self._fold_late_counts()
            last_index = max([self.table.index_at(end_s)] + self.table.pending_indexes())
            for index in range(self._next_index, last_index + 1):
                self._write_interval(index, end_s=end_s)
            if self.late_requests:
                logger.warning("intervals.jsonl: %d request(s) reported after their interval was written were "
                               "counted in a later interval", self.late_requests)  # fmt: skip
        if target not in (self._progress_path, self._finished_path):
            target.parent.mkdir(parents=True, exist_ok=True)
            if self._progress_path is not None:
                shutil.copyfile(self._progress_path, target)
            else:
                target.write_text("\n".join([self._header(), *self._lines]) + "\n", encoding="utf-8")
        self._finished_path = target
        return target


# ---- registration ------------------------------------------------------------------------------------------------
_recorders: weakref.WeakKeyDictionary[Environment, IntervalRecorder] = weakref.WeakKeyDictionary()


def attach(environment: Environment, interval_s: float | None = None, clock: Callable[[], float] = time.time) -> IntervalRecorder:
    """Start recording in ``environment`` (its runner must exist). ``interval_s`` None reads --interval-seconds."""
    if environment in _recorders:
        return _recorders[environment]
    recorder = _recorders[environment] = IntervalRecorder(environment, interval_s, clock)
    return recorder


def recorder_for(environment: Environment) -> IntervalRecorder | None:
    return _recorders.get(environment)


def write_intervals_artifact(environment: Environment, results_dir: str | Path) -> None:
    """Artifact writer for harness.results: the end of the run on the master/local runner."""
    recorder = recorder_for(environment)
    if recorder is not None:
        recorder.finish(results_dir)


def _on_init(environment: Environment, **_kwargs) -> None:
    attach(environment)


_registered = False


def register(events=global_events) -> None:
    """Called once by the locustfile: the option, the recorder for every environment, the file at the end."""
    global _registered
    if _registered:
        return
    _registered = True
    events.init_command_line_parser.add_listener(add_interval_option)
    events.init.add_listener(_on_init)
    register_artifact_writer(write_intervals_artifact)
