"""Finite capacity: concurrency gates with a bounded FIFO queue, and token buckets for rate limits.

A Gate models one edge function's (or GoTrue's, or PostgREST's) concurrent executions behind the gateway: past
`concurrency`, requests wait in arrival order, and the wait adds to their latency; past `queue_limit` waiting, the
gateway answers 503 at once; a request that waits longer than the queue timeout gets 504. With a fixed service
time S held inside the gate, the gate's peak throughput is exactly concurrency / S.
"""

from __future__ import annotations

import time

from gevent.lock import Semaphore

QUEUE_FULL = 503
QUEUE_TIMEOUT = 504


class Gate:
    def __init__(self, concurrency: int, queue_limit: int, queue_timeout_s: float):
        self.concurrency = concurrency
        self.queue_limit = queue_limit
        self.queue_timeout_s = queue_timeout_s
        self._slots = Semaphore(concurrency)
        self.waiting = 0

    def enter(self) -> int | None:
        """Take a slot, waiting in line if needed. Returns None when in, else the gateway's status (503/504)."""
        # Only take the fast path when nobody is queued, so a newcomer never overtakes a waiter (FIFO).
        if not self.waiting and self._slots.acquire(blocking=False):
            return None
        if self.waiting >= self.queue_limit:
            return QUEUE_FULL
        self.waiting += 1
        try:
            acquired = self._slots.acquire(timeout=self.queue_timeout_s)
        finally:
            self.waiting -= 1
        return None if acquired else QUEUE_TIMEOUT

    def leave(self) -> None:
        self._slots.release()

    @property
    def busy(self) -> int:
        return self.concurrency - self._slots.counter


class TokenBucket:
    """`rate` tokens per real second, holding at most `burst`. Starts full."""

    def __init__(self, rate: float, burst: float, clock=time.monotonic):
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def take(self, count: float = 1) -> bool:
        """Spend `count` tokens if they are there now."""
        self._refill()
        if self._tokens >= count:
            self._tokens -= count
            return True
        return False

    def seconds_until(self, count: float = 1) -> float:
        """How long until `count` tokens would be available (0 if they are now)."""
        self._refill()
        return max(0.0, (count - self._tokens) / self.rate)

    def reserve(self, count: float, max_wait_s: float) -> float | None:
        """Book `count` tokens, possibly in the future. Returns the wait in seconds, or None (and books nothing)
        when the wait would exceed max_wait_s: callers sleep the wait, so queued demand shows up as latency."""
        self._refill()
        wait = max(0.0, (count - self._tokens) / self.rate)
        if wait > max_wait_s:
            return None
        self._tokens -= count
        return wait


class PerClientBuckets:
    """One TokenBucket per client IP, as GoTrue limits per IP (`N` requests per `seconds`)."""

    def __init__(self, requests: int, seconds: float):
        self.requests = requests
        self.seconds = seconds
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, client_ip: str) -> bool:
        bucket = self._buckets.get(client_ip)
        if bucket is None:
            bucket = self._buckets[client_ip] = TokenBucket(self.requests / self.seconds, self.requests)
        return bucket.take()
