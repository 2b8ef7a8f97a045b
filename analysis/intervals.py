"""Load ``intervals.jsonl`` (written by harness/intervals.py) into typed, numpy-backed series.

One row per interval, in time order; per endpoint, request and failure counts per interval and the interval
histograms stored together as flat arrays (an offsets array says where each interval's buckets are). That layout
makes "merge intervals a..b" one vectorised Histogram construction instead of hundreds of pairwise merges.

Bad content raises InputError naming the file and line. A last line cut short (a run killed while writing) is
dropped with a warning: everything before it is still good data.

Public interface:
    load_intervals(path) -> IntervalSeries      path: the file or the results folder holding it
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
from typing import Any

import numpy as np

from analysis.errors import InputError
from analysis.histogram import Histogram

logger = logging.getLogger(__name__)

INTERVALS_FILE = "intervals.jsonl"
SCHEMA_VERSION = 1


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
    return np.sum(rows, axis=0, dtype=np.int64) if rows else np.zeros(length, dtype=np.int64)


def load_intervals(path: str | Path) -> IntervalSeries:
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
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parsed = _parse_line(line, path, number, last_and_cut=cut_short and number == len(lines))
        if parsed is None:
            message = f"{path}: line {number} is cut short (the run was interrupted while writing it); ignored"
            logger.warning(message)
            warnings.append(message)
            continue
        rows.append(_check_interval(parsed, path, number))
    for (earlier, _), (later, number) in zip(rows, rows[1:]):
        if later["t"] <= earlier["t"]:
            raise InputError(f"interval t={later['t']} is not after the previous one (t={earlier['t']})", path=path, key=f"line {number}", hint="intervals must be in time order")
    rows_only = [row for row, _ in rows]
    return IntervalSeries(
        path=path,
        interval_s=interval_s,
        started_at=started_at,
        times=np.array([row["t"] for row in rows_only], dtype=np.float64),
        durations=np.array([row.get("duration_s", interval_s) for row in rows_only], dtype=np.float64),
        user_counts=np.array([row["user_count"] for row in rows_only], dtype=np.int64),
        endpoints=_endpoint_series(rows, path),
        truncated=bool(warnings),
        warnings=tuple(warnings),
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


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_count(value: Any) -> bool:
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


def _check_interval(row: dict, path: Path, number: int) -> tuple[dict, int]:
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
    return row, number


def _endpoint_series(rows: list[tuple[dict, int]], path: Path) -> dict[str, EndpointSeries]:
    """Columns per endpoint. Histogram dicts go through a fast path (plain int conversion); anything odd is handed
    to Histogram.from_dict, which either accepts it or raises the precise InputError."""
    length = len(rows)
    keys = sorted({key for row, _ in rows for key in row["endpoints"]})
    series: dict[str, EndpointSeries] = {}
    for key in keys:
        requests = np.zeros(length, dtype=np.int64)
        failures = np.zeros(length, dtype=np.int64)
        sizes = np.zeros(length, dtype=np.int64)
        bucket_parts: list[list[int]] = []
        count_parts: list[list[int]] = []
        for index, (row, number) in enumerate(rows):
            entry = row["endpoints"].get(key)
            if entry is None:
                continue
            requests[index] = entry["requests"]
            failures[index] = entry["failures"]
            buckets, counts = _histogram_columns(entry["hist"], path, f"line {number}: endpoints.{key}.hist")
            if sum(counts) > entry["requests"]:
                raise InputError(f"hist holds {sum(counts)} requests, more than requests ({entry['requests']})", path=path, key=f"line {number}: endpoints.{key}")
            sizes[index] = len(buckets)
            bucket_parts.append(buckets)
            count_parts.append(counts)
        offsets = np.zeros(length + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        series[key] = EndpointSeries(
            key=key,
            requests=requests,
            failures=failures,
            offsets=offsets,
            buckets=np.fromiter((b for part in bucket_parts for b in part), dtype=np.int64, count=int(offsets[-1])),
            counts=np.fromiter((c for part in count_parts for c in part), dtype=np.int64, count=int(offsets[-1])),
        )
    return series


def _histogram_columns(hist: dict, path: Path, key: str) -> tuple[list[int], list[int]]:
    try:
        buckets = [int(bucket) for bucket in hist]
        counts = list(hist.values())
        plain = all(text.isdigit() for text in hist) and all(type(count) is int and count > 0 for count in counts)
    except (TypeError, ValueError):
        plain = False
    if plain:
        return buckets, counts
    checked = Histogram.from_dict(hist, source=str(path), key=key)  # raises the precise error, or normalises
    return checked.buckets.tolist(), checked.counts.tolist()
