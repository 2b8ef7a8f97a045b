"""Load ``intervals.jsonl`` (written by harness/intervals.py) into typed, numpy-backed series.

One row per interval, in time order; per endpoint, request and failure counts per interval and the interval
histograms stored together as flat arrays (an offsets array says where each interval's buckets are). That layout
makes "merge intervals a..b" one vectorised Histogram construction instead of hundreds of pairwise merges.

Bad content raises InputError naming the file and line. A last line cut short (a run killed while writing) is
dropped with a warning: everything before it is still good data.

Public interface:
    load_intervals(path, latency="service") -> IntervalSeries      path: the file or the results folder holding it;
        latency="corrected": an open-model run's latency from the intended start (an entry's corrected_hist)
        wherever the run recorded one, its service-time hist elsewhere
    IntervalSeries: times, durations, user_counts, endpoints {key: EndpointSeries}, warnings, truncated,
                    total_requests(), total_failures(), merged_histogram(key, start, stop)
    EndpointSeries: requests, failures, histogram(i), merged(start, stop), percentile_series(qs, window)
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeGuard

import numpy as np

from analysis.errors import InputError
from analysis.histogram import Histogram
from common.results_format import INTERVALS_FILE
from common.results_format import INTERVALS_SCHEMA_VERSION as SCHEMA_VERSION

logger = logging.getLogger(__name__)



@dataclass(frozen=True)
class EndpointSeries:
    """One endpoint across every interval of the run (zeros where it had no requests)."""

    key: str
    requests: np.ndarray  # int64, one per interval
    failures: np.ndarray  # int64, one per interval
    offsets: np.ndarray  # int64, len(intervals) + 1: interval i's buckets are buckets[offsets[i]:offsets[i+1]]
    buckets: np.ndarray  # int64
    counts: np.ndarray  # int64

    def histogram(self, index: int) -> Histogram:
        start, stop = self.offsets[index], self.offsets[index + 1]
        return Histogram.from_arrays(self.buckets[start:stop], self.counts[start:stop])

    def merged(self, start: int = 0, stop: int | None = None) -> Histogram:
        """Intervals ``start`` to ``stop`` (exclusive) merged by adding counts: one vectorised pass."""
        stop = len(self.requests) if stop is None else stop
        lo, hi = self.offsets[start], self.offsets[stop]
        return Histogram.from_arrays(self.buckets[lo:hi], self.counts[lo:hi])

    def percentile_series(self, qs: Sequence[float], window: int = 1) -> np.ndarray:
        """Percentiles of every ``window`` consecutive intervals merged by adding counts (never by averaging
        percentiles): shape (ceil(intervals / window), len(qs)), ms as floats, NaN where a window has no timed
        request (a gap, not a zero)."""
        starts = range(0, len(self.requests), window)
        result = np.full((len(starts), len(qs)), np.nan)
        for row, start in enumerate(starts):
            stop = min(start + window, len(self.requests))
            if self.offsets[stop] > self.offsets[start]:
                result[row] = self.merged(start, stop).percentiles(qs)
        return result


@dataclass(frozen=True)
class IntervalSeries:
    path: Path
    interval_s: float
    started_at: float | None
    times: np.ndarray  # float64: each interval's start, epoch seconds
    durations: np.ndarray  # float64: seconds of the interval the run covered (first and last may be partial)
    user_counts: np.ndarray  # int64: users running when the interval closed
    endpoints: dict[str, EndpointSeries]
    truncated: bool = False
    warnings: tuple[str, ...] = field(default=())
    # The generator's own gauges sampled at each interval's close (e.g. "realtime_connections": open websockets);
    # NaN where an interval has no reading of that gauge.
    gauges: dict[str, np.ndarray] = field(default_factory=dict)
    has_corrected: bool = False  # the file holds open-model corrected histograms (corrected_hist)

    def __len__(self) -> int:
        return len(self.times)

    def total_requests(self) -> np.ndarray:
        return _sum_rows([series.requests for series in self.endpoints.values()], len(self))

    def total_failures(self) -> np.ndarray:
        return _sum_rows([series.failures for series in self.endpoints.values()], len(self))

    def merged_histogram(self, key: str | None = None, start: int = 0, stop: int | None = None) -> Histogram:
        """One endpoint's (or, with key None, every endpoint's) histogram over intervals start..stop."""
        if key is not None:
            return self.endpoints[key].merged(start, stop) if key in self.endpoints else Histogram.empty()
        return Histogram.merge_all(series.merged(start, stop) for series in self.endpoints.values())


def _sum_rows(rows: list[np.ndarray], length: int) -> np.ndarray:
    return np.asarray(np.sum(rows, axis=0, dtype=np.int64)) if rows else np.zeros(length, dtype=np.int64)


def load_intervals(path: str | Path, latency: str = "service") -> IntervalSeries:
    if latency not in ("service", "corrected"):
        raise ValueError(f"latency must be 'service' or 'corrected', not {latency!r}")
    path = Path(path)
    if path.is_dir():
        path = path / INTERVALS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("file not found", path=path, hint="the run was recorded without the harness's interval recorder (harness/intervals.py)") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read file ({type(error).__name__})", path=path) from None
    lines = text.split("\n")
    cut_short = not text.endswith("\n")  # a complete file ends every line with a newline
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or not lines[0].strip():
        raise InputError("file is empty", path=path, hint="expected a header line, then one line per interval")
    header = _parse_line(lines[0], path, 1, last_and_cut=False)
    if header is None:
        raise AssertionError("unreachable: the header is never tolerated as truncated")
    interval_s, started_at = _check_header(header, path)

    warnings: list[str] = []
    times: list[float] = []
    durations: list[float] = []
    user_counts: list[int] = []
    line_numbers: list[int] = []
    columns: dict[str, _Columns] = {}
    gauges: dict[str, dict[int, float]] = {}
    has_corrected = False
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parsed = _parse_line(line, path, number, last_and_cut=cut_short and number == len(lines))
        if parsed is None:
            message = f"{path}: line {number} is cut short (the run was interrupted while writing it); ignored"
            logger.warning(message)
            warnings.append(message)
            continue
        row = _check_interval(parsed, path, number)
        if times and row["t"] <= times[-1]:
            raise InputError(f"interval t={row['t']} is not after the previous one (t={times[-1]})", path=path,
                             key=f"line {number}", hint="intervals must be in time order")  # fmt: skip
        # Copy what is needed out of the parsed line and let the line go: holding thousands of parsed dicts made
        # loading an 8 h run superlinear (measured 12x the 1 h time); columns keep it linear.
        for key, entry in row["endpoints"].items():
            if "corrected_hist" in entry:
                has_corrected = True
                if latency == "corrected":
                    entry = {**entry, "hist": entry["corrected_hist"]}
            columns.setdefault(key, _Columns()).add(len(times), number, entry)
        for name, value in (row.get("gauges") or {}).items():
            if not _is_number(value):
                raise InputError(f"gauge {name!r} must be a number, got {value!r}", path=path, key=f"line {number}")
            gauges.setdefault(name, {})[len(times)] = value
        times.append(row["t"])
        durations.append(row.get("duration_s", interval_s))
        user_counts.append(row["user_count"])
        line_numbers.append(number)
    return IntervalSeries(
        path=path,
        interval_s=interval_s,
        started_at=started_at,
        times=np.array(times, dtype=np.float64),
        durations=np.array(durations, dtype=np.float64),
        user_counts=np.array(user_counts, dtype=np.int64),
        endpoints={key: columns[key].series(key, len(times), path) for key in sorted(columns)},
        truncated=bool(warnings),
        warnings=tuple(warnings),
        gauges={name: np.array([readings.get(i, np.nan) for i in range(len(times))], dtype=np.float64)
                for name, readings in sorted(gauges.items())},
        has_corrected=has_corrected,
    )


def _parse_line(line: str, path: Path, number: int, *, last_and_cut: bool) -> dict | None:
    try:
        parsed = json.loads(line)
    except json.JSONDecodeError as error:
        if last_and_cut:
            return None
        raise InputError(f"invalid JSON ({error.msg} at column {error.colno})", path=path, key=f"line {number}") from None
    if not isinstance(parsed, dict):
        raise InputError(f"expected a JSON object, got {type(parsed).__name__}", path=path, key=f"line {number}")
    return parsed


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_header(header: dict, path: Path) -> tuple[float, float | None]:
    where = "line 1 (header)"
    if header.get("schema_version") != SCHEMA_VERSION:
        raise InputError(f"schema_version is {header.get('schema_version')!r}, this harness reads {SCHEMA_VERSION}", path=path, key=where)
    interval_s = header.get("interval_s")
    if not _is_number(interval_s) or interval_s <= 0:
        raise InputError(f"interval_s must be a positive number of seconds, got {interval_s!r}", path=path, key=where)
    started_at = header.get("started_at")
    if started_at is not None and not _is_number(started_at):
        raise InputError(f"started_at must be epoch seconds, got {started_at!r}", path=path, key=where)
    return float(interval_s), started_at


def _check_interval(row: dict, path: Path, number: int) -> dict:
    where = f"line {number}"
    if not _is_number(row.get("t")):
        raise InputError(f"t must be epoch seconds, got {row.get('t')!r}", path=path, key=where)
    if not _is_count(row.get("user_count")):
        raise InputError(f"user_count must be a non-negative integer, got {row.get('user_count')!r}", path=path, key=where)
    if "duration_s" in row and (not _is_number(row["duration_s"]) or row["duration_s"] < 0):
        raise InputError(f"duration_s must be a non-negative number of seconds, got {row['duration_s']!r}", path=path, key=where)
    endpoints = row.get("endpoints")
    if not isinstance(endpoints, dict):
        raise InputError("endpoints must be an object of endpoint key -> counts", path=path, key=where)
    for key, entry in endpoints.items():
        at = f"{where}: endpoints.{key}"
        if not isinstance(entry, dict):
            raise InputError("expected {requests, failures, hist}", path=path, key=at)
        requests, failures = entry.get("requests"), entry.get("failures")
        if not _is_count(requests) or not _is_count(failures):
            raise InputError(f"requests and failures must be non-negative integers, got {requests!r} and {failures!r}", path=path, key=at)
        if failures > requests:
            raise InputError(f"failures ({failures}) exceed requests ({requests})", path=path, key=at)
        if not isinstance(entry.get("hist"), dict):
            raise InputError("hist must be an object of bucket ms -> count", path=path, key=at)
        if "corrected_hist" in entry and not isinstance(entry["corrected_hist"], dict):
            raise InputError("corrected_hist must be an object of bucket ms -> count", path=path, key=at)
    return row


class _Columns:
    """One endpoint's intervals as flat lists while the file is read, turned into arrays once at the end."""

    __slots__ = ("indexes", "line_numbers", "requests", "failures", "sizes", "bucket_texts", "count_values")

    def __init__(self) -> None:
        self.indexes: list[int] = []
        self.line_numbers: list[int] = []
        self.requests: list[int] = []
        self.failures: list[int] = []
        self.sizes: list[int] = []
        self.bucket_texts: list = []
        self.count_values: list = []

    def add(self, index: int, line_number: int, entry: dict) -> None:
        histogram = entry["hist"]
        self.indexes.append(index)
        self.line_numbers.append(line_number)
        self.requests.append(entry["requests"])
        self.failures.append(entry["failures"])
        self.sizes.append(len(histogram))
        self.bucket_texts.extend(histogram)
        self.count_values.extend(histogram.values())

    def series(self, key: str, length: int, path: Path) -> EndpointSeries:
        """All histograms converted in one pass; only if that finds something odd are they checked one by one
        through Histogram.from_dict, which names the line or normalises what it accepts (zero counts dropped)."""
        columns = _plain_columns(self.bucket_texts, self.count_values)
        if columns is None:
            columns, sizes = self._checked_columns(key, path)
        else:
            sizes = self.sizes
        buckets, counts = columns
        present = np.array(self.indexes, dtype=np.int64)
        requests = np.zeros(length, dtype=np.int64)
        requests[present] = self.requests
        failures = np.zeros(length, dtype=np.int64)
        failures[present] = self.failures
        size_per_interval = np.zeros(length, dtype=np.int64)
        size_per_interval[present] = sizes
        offsets = np.zeros(length + 1, dtype=np.int64)
        np.cumsum(size_per_interval, out=offsets[1:])
        timed = np.zeros(length, dtype=np.int64)
        non_empty = size_per_interval > 0
        if counts.size:
            timed[non_empty] = np.add.reduceat(counts, offsets[:-1][non_empty])
        over = np.flatnonzero(timed > requests)
        if over.size:
            index = int(over[0])
            line_number = self.line_numbers[self.indexes.index(index)]
            raise InputError(f"hist holds {timed[index]} requests, more than requests ({requests[index]})",
                             path=path, key=f"line {line_number}: endpoints.{key}")  # fmt: skip
        return EndpointSeries(key, requests, failures, offsets, buckets, counts)

    def _checked_columns(self, key: str, path: Path) -> tuple[tuple[np.ndarray, np.ndarray], list[int]]:
        histograms = []
        start = 0
        for size, line_number in zip(self.sizes, self.line_numbers):
            mapping = dict(zip(self.bucket_texts[start : start + size], self.count_values[start : start + size]))
            histograms.append(Histogram.from_dict(mapping, source=str(path), key=f"line {line_number}: endpoints.{key}.hist"))
            start += size
        empty = np.zeros(0, dtype=np.int64)
        buckets = np.concatenate([h.buckets for h in histograms] or [empty])
        counts = np.concatenate([h.counts for h in histograms] or [empty])
        return (buckets, counts), [h.buckets.size for h in histograms]


def _plain_columns(bucket_texts: list, count_values: list) -> tuple[np.ndarray, np.ndarray] | None:
    """Buckets and counts as arrays if every bucket is a whole non-negative number and every count a positive int
    (what the recorder writes); None if anything needs a closer look."""
    if set(map(type, count_values)) - {int}:
        return None  # floats, bools, strings, nulls
    try:
        buckets = np.fromiter(map(int, bucket_texts), dtype=np.int64, count=len(bucket_texts))
        counts = np.array(count_values, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        return None
    if buckets.size and (buckets.min() < 0 or counts.min() <= 0):
        return None
    return buckets, counts
