"""Latency histograms in Locust's own bucketing, so that histograms from any source merge by adding counts.

A histogram maps a bucket (whole milliseconds, as ``locust.stats.bucket_response_time`` rounds them) to a count.
Percentiles are computed exactly as Locust computes them, so a p95 here equals the p95 in Locust's own report for
the same histogram. The arrays are numpy so that merging hundreds of interval histograms and computing many
percentiles stays fast (the report merges ~720 intervals x 15 endpoints).

Public, stable API (other modules build on it):
    Histogram.from_dict / to_dict, from_samples, from_arrays, empty, merge_all
    h.merge(other) / h + other, h.count, h.percentile(q), h.percentiles([q, ...]), h.max, h.min, h.mean,
    h.buckets, h.counts (read-only numpy arrays, buckets ascending)
    bucket_ms(value), bucket_array(values)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from analysis.errors import InputError

# Locust's rule (locust.stats.bucket_response_time): exact ms below 100, then ~2 significant digits. Each entry is
# (upper bound of the range, decimals argument of round()). A test compares this with Locust's function so that a
# change in Locust's bucketing is caught rather than silently mixing two bucketings.
_BUCKET_RULE: tuple[tuple[float, int], ...] = ((100, 0), (1000, -1), (10000, -2), (float("inf"), -3))


# Up to this bucket (ms) merging counts into a dense array is cheaper than sorting; beyond it, sort.
_DENSE_MERGE_MAX_MS = 2_000_000


def bucket_ms(response_time_ms: float) -> int:
    """The Locust bucket of one response time in milliseconds."""
    for upper, decimals in _BUCKET_RULE:
        if response_time_ms < upper:
            return int(round(response_time_ms, decimals))
    raise AssertionError("unreachable: the last range is unbounded")


def bucket_array(response_times_ms: Sequence[float] | np.ndarray) -> np.ndarray:
    """Vectorised ``bucket_ms``: numpy rounds half to even, like Python's round(), so the results agree."""
    values = np.asarray(response_times_ms, dtype=np.float64)
    result = np.empty_like(values)
    lower = -np.inf
    for upper, decimals in _BUCKET_RULE:
        in_range = (values >= lower) & (values < upper)
        result[in_range] = np.round(values[in_range], decimals)
        lower = upper
    return result.astype(np.int64)


class Histogram:
    """An immutable latency histogram: ascending unique buckets (ms) with positive counts."""

    __slots__ = ("_buckets", "_counts", "_cumulative")

    def __init__(self, buckets: np.ndarray, counts: np.ndarray):
        # Callers go through the constructors below, which normalise; this one trusts its input.
        self._buckets = buckets
        self._counts = counts
        self._buckets.flags.writeable = False
        self._counts.flags.writeable = False
        self._cumulative: np.ndarray | None = None

    # ---- construction ------------------------------------------------------------------------------------------
    @classmethod
    def empty(cls) -> Histogram:
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))

    @classmethod
    def from_arrays(cls, buckets: Sequence[int] | np.ndarray, counts: Sequence[int] | np.ndarray) -> Histogram:
        """Buckets in any order, duplicates allowed (their counts add up), zero counts dropped."""
        bucket_array_ = np.asarray(buckets, dtype=np.int64)
        count_array = np.asarray(counts, dtype=np.int64)
        if bucket_array_.shape != count_array.shape or bucket_array_.ndim != 1:
            raise ValueError("buckets and counts must be 1-D arrays of the same length")
        if count_array.size and count_array.min() < 0:
            raise ValueError("histogram counts cannot be negative")
        if bucket_array_.size and bucket_array_.min() < 0:
            raise ValueError("histogram buckets cannot be negative")
        if bucket_array_.size and bucket_array_.max() <= _DENSE_MERGE_MAX_MS:
            # Dense: one counting pass over 0..max (Locust's buckets above 10 s are whole seconds, so realistic
            # histograms stay far below the bound); ~10x faster than sorting the buckets.
            summed = np.bincount(bucket_array_, weights=count_array).astype(np.int64)
            present = np.flatnonzero(summed)
            return cls(present.astype(np.int64), summed[present])
        unique_buckets, inverse = np.unique(bucket_array_, return_inverse=True)
        summed = np.bincount(inverse, weights=count_array, minlength=unique_buckets.size).astype(np.int64)
        keep = summed > 0
        return cls(unique_buckets[keep], summed[keep])

    @classmethod
    def from_samples(cls, response_times_ms: Sequence[float] | np.ndarray) -> Histogram:
        """Bucket raw response times (ms) the way Locust does and count them."""
        buckets, counts = np.unique(bucket_array(response_times_ms), return_counts=True)
        return cls(buckets.astype(np.int64), counts.astype(np.int64))

    @classmethod
    def from_dict(cls, mapping: Mapping[str | int, int], *, source: str | None = None, key: str | None = None) -> Histogram:
        """From ``{"<bucket ms>": count}`` (JSON keys are strings; Locust's in-memory keys are ints).

        Bad content raises InputError naming ``source`` (a file) and ``key`` (where in it), for one-line messages.
        """
        if not isinstance(mapping, Mapping):
            raise InputError(f"expected an object of bucket -> count, got {type(mapping).__name__}", path=source, key=key)
        buckets: list[int] = []
        counts: list[int] = []
        for raw_bucket, raw_count in mapping.items():
            try:
                bucket = int(raw_bucket)
                as_float = float(raw_bucket)
            except (TypeError, ValueError):
                raise InputError(f"histogram bucket {raw_bucket!r} is not a number of milliseconds", path=source, key=key) from None
            if bucket != as_float or bucket < 0:
                raise InputError(f"histogram bucket {raw_bucket!r} is not a whole non-negative millisecond", path=source, key=key)
            if isinstance(raw_count, bool) or not isinstance(raw_count, int) or raw_count < 0:
                raise InputError(f"histogram count for bucket {raw_bucket!r} must be a non-negative integer, got {raw_count!r}", path=source, key=key)
            buckets.append(bucket)
            counts.append(raw_count)
        return cls.from_arrays(buckets, counts)

    @classmethod
    def merge_all(cls, histograms: Iterable[Histogram]) -> Histogram:
        """Merge many histograms in one vectorised pass (much faster than adding them pairwise)."""
        parts = [h for h in histograms if h.count]
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        return cls.from_arrays(np.concatenate([h._buckets for h in parts]), np.concatenate([h._counts for h in parts]))

    def to_dict(self) -> dict[str, int]:
        """JSON-ready ``{"<bucket ms>": count}``, ascending."""
        return {str(int(b)): int(c) for b, c in zip(self._buckets, self._counts)}

    # ---- combination -------------------------------------------------------------------------------------------
    def merge(self, other: Histogram) -> Histogram:
        return Histogram.merge_all((self, other))

    def __add__(self, other: Histogram) -> Histogram:
        if not isinstance(other, Histogram):
            return NotImplemented
        return self.merge(other)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Histogram):
            return NotImplemented
        return np.array_equal(self._buckets, other._buckets) and np.array_equal(self._counts, other._counts)

    __hash__ = None  # type: ignore[assignment]  # mutable-looking value type: compare, don't hash

    def __repr__(self) -> str:
        return f"Histogram(count={self.count}, buckets={self._buckets.size}, max={self.max})"

    # ---- reading -----------------------------------------------------------------------------------------------
    @property
    def buckets(self) -> np.ndarray:
        return self._buckets

    @property
    def counts(self) -> np.ndarray:
        return self._counts

    @property
    def count(self) -> int:
        return int(self._cumulative_counts()[-1]) if self._counts.size else 0

    def __bool__(self) -> bool:
        return self._counts.size > 0

    @property
    def max(self) -> int | None:
        return int(self._buckets[-1]) if self._buckets.size else None

    @property
    def min(self) -> int | None:
        return int(self._buckets[0]) if self._buckets.size else None

    @property
    def mean(self) -> float | None:
        """Mean of the bucketed values (close to, not equal to, Locust's mean of raw times)."""
        if not self._counts.size:
            return None
        return float(np.dot(self._buckets, self._counts) / self.count)

    def percentile(self, q: float) -> int | None:
        """Locust's percentile for ``q`` in [0, 1] (0.95 = p95); None when the histogram is empty."""
        return self.percentiles([q])[0]

    def percentiles(self, qs: Sequence[float]) -> list[int | None]:
        """Several percentiles in one pass, exactly as ``locust.stats.calculate_response_time_percentile``.

        Locust walks the buckets from the slowest down and returns the first bucket at which the requests
        *below* it number at most ``int(total * q)``. Equivalently: the highest bucket whose count of strictly
        faster requests is <= int(total * q) -- one searchsorted over the cumulative counts.
        """
        q_array = np.asarray(qs, dtype=np.float64)
        if q_array.size and (q_array.min() < 0 or q_array.max() > 1):
            raise ValueError(f"percentiles are fractions in [0, 1], got {list(qs)}")
        if not self._counts.size:
            return [None] * q_array.size
        cumulative = self._cumulative_counts()
        total = int(cumulative[-1])
        allowed_below = np.floor(total * q_array).astype(np.int64)  # int(total * q) for q >= 0, as Locust
        faster_than_bucket = cumulative - self._counts  # requests strictly below each bucket, non-decreasing
        index = np.searchsorted(faster_than_bucket, allowed_below, side="right") - 1
        return [int(v) for v in self._buckets[index]]

    def _cumulative_counts(self) -> np.ndarray:
        if self._cumulative is None:
            self._cumulative = np.cumsum(self._counts)
        return self._cumulative
