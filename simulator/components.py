"""ProspectPro's back end as components with finite capacity, and what each one did (GET /__admin/stats).

Two kinds, both declared in profiles.toml [components.*] with the source of their numbers:

    pool   `capacity` concurrent slots with a bounded FIFO queue in front (capacity.Gate): GoTrue, PostgREST with
           Postgres's pool, each edge function's workers (with cold starts), Realtime's connection limit.
    rate   a third-party API's quota, `capacity` requests per second (TokenBucket, burst `burst`): a call past the
           quota waits for it (latency) up to `max_wait_s`, then fails (a rejection); with `max_wait_s` 0 it is
           refused at once, as Google Places answers OVER_QUERY_LIMIT. Google Places, Hunter, ...

Accounting per component (counters since the last reset; `clock_s` is the time they cover):
    calls         slots taken (pool) or requests spent (rate)
    busy_s        integral of slots in use over time (pool), or the summed service time of the calls (rate)
    queue_wait_s  integral of requests waiting over time (pool: FIFO queue), or the summed quota waits (rate)
    rejections    {"queue_full": n, "queue_timeout": n} (pool) or {"over_quota": n} (rate)
    in_use, waiting, peak_in_use, peak_waiting, cold_starts (edge functions)
Utilisation over a window is d(busy_s) / (capacity x window). Conservation: every call that got in leaves, so when
the system is idle `in_use` and `waiting` are 0, and calls = slots taken.

For other modules (e.g. the Realtime websocket endpoint): `components.get("realtime")` is a Component;
`status = component.enter()` (None = in, else 503/504 as the gateway would answer), then `component.leave()` once,
in a finally; or `with component.slot() as refused:` which does both.
"""

from __future__ import annotations

import time
from collections import deque
from contextlib import contextmanager

import gevent
from gevent.event import Event

from simulator.capacity import QUEUE_FULL, QUEUE_TIMEOUT, TokenBucket


class Component:
    """A pool of concurrent slots with a bounded FIFO queue, accounted. (The same semantics as capacity.Gate, with
    its own counters: this is on the path of every external and internal call.)"""

    kind = "pool"

    def __init__(self, name: str, capacity: int, queue_limit: int, queue_timeout_s: float, *,
                 cold_starts: bool = False):
        self.name = name
        self.capacity = capacity
        self.queue_limit = queue_limit
        self.queue_timeout_s = queue_timeout_s
        self.tracks_cold_starts = cold_starts
        self.warm = 0  # workers started so far (edge functions): a slot beyond them is a cold start
        self.in_use = 0
        self._waiters: deque[Event] = deque()
        self.reset()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def reset(self) -> None:
        now = time.monotonic()
        self._since = now
        self._changed = now
        self.calls = 0
        self._busy = 0.0
        self._waited = 0.0
        self.rejections = {"queue_full": 0, "queue_timeout": 0}
        self.peak_in_use = self.in_use
        self.peak_waiting = len(self._waiters)
        self.cold_starts = 0

    def _advance(self) -> None:
        """Add the time since the last change, weighted by slots in use and requests waiting."""
        now = time.monotonic()
        elapsed = now - self._changed
        if elapsed:
            self._busy += self.in_use * elapsed
            if self._waiters:
                self._waited += len(self._waiters) * elapsed
            self._changed = now

    def enter(self) -> int | None:
        """Take a slot (waiting in line if needed). None when in; else the gateway status (503 full, 504 timeout)."""
        self._advance()
        if self.in_use < self.capacity and not self._waiters:  # nobody queued: never overtake a waiter (FIFO)
            self.in_use += 1
        else:
            if len(self._waiters) >= self.queue_limit:
                self.rejections["queue_full"] += 1
                return QUEUE_FULL
            ticket = Event()
            self._waiters.append(ticket)
            if len(self._waiters) > self.peak_waiting:
                self.peak_waiting = len(self._waiters)
            handed = ticket.wait(self.queue_timeout_s)
            self._advance()
            if not handed:
                self._waiters.remove(ticket)  # still queued: nobody handed it a slot
                self.rejections["queue_timeout"] += 1
                return QUEUE_TIMEOUT
            # leave() handed this waiter its slot: in_use already counts it
        self.calls += 1
        if self.in_use > self.peak_in_use:
            self.peak_in_use = self.in_use
        return None

    def refuse(self) -> None:
        """Count a call the component's owner turned away itself (e.g. Realtime's connection limit)."""
        self.rejections["queue_full"] += 1

    def cold_start(self) -> bool:
        """True when the slot just taken needs a worker that was never started (edge runtime scale-up)."""
        if self.tracks_cold_starts and self.in_use > self.warm:
            self.warm = self.in_use
            self.cold_starts += 1
            return True
        return False

    def leave(self) -> None:
        self._advance()
        if self._waiters:
            self._waiters.popleft().set()  # the slot passes straight to the first in line
        else:
            self.in_use -= 1

    @contextmanager
    def slot(self):
        """`with component.slot() as refused:` refused is None when in (and the slot is left afterwards)."""
        refused = self.enter()
        try:
            yield refused
        finally:
            if refused is None:
                self.leave()

    def snapshot(self) -> dict:
        self._advance()
        return {
            "kind": self.kind, "capacity": self.capacity, "calls": self.calls, "busy_s": round(self._busy, 6),
            "queue_wait_s": round(self._waited, 6), "rejections": dict(self.rejections),
            "in_use": self.in_use, "waiting": len(self._waiters), "peak_in_use": self.peak_in_use,
            "peak_waiting": self.peak_waiting, "cold_starts": self.cold_starts,
            "clock_s": round(time.monotonic() - self._since, 6),
        }


class RateLimit:
    """A third-party API's quota: `rate` requests per real second, `burst` at once; waits past it, up to max_wait_s."""

    kind = "rate"

    def __init__(self, name: str, rate: float, burst: int, max_wait_s: float):
        self.name = name
        self.base_rate = rate  # as configured (a profile may change the rate for a while: set_rate)
        self.bucket = TokenBucket(rate, burst)
        self.max_wait_s = max_wait_s
        self.reset()

    @property
    def capacity(self) -> float:
        return self.bucket.rate

    def set_rate(self, rate: float) -> None:
        self.bucket.rate = rate

    def reset(self) -> None:
        self._since = time.monotonic()
        self.calls = 0
        self._busy = 0.0
        self._waited = 0.0
        self.rejections = {"over_quota": 0}

    def spend(self, calls: int = 1, service_s: float = 0.0) -> bool:
        """Spend `calls` requests, sleeping while waiting for quota, then `service_s` (the API's own time).
        False (and nothing spent) when the wait would pass max_wait_s: the API answers "over quota"."""
        wait = self.bucket.reserve(calls, self.max_wait_s)
        if wait is None:
            self.rejections["over_quota"] += calls
            return False
        self.calls += calls
        self._waited += wait
        self._busy += service_s
        if wait + service_s > 0:
            gevent.sleep(wait + service_s)
        return True

    def snapshot(self) -> dict:
        return {
            "kind": self.kind, "capacity": self.bucket.rate, "burst": self.bucket.burst, "calls": self.calls,
            "busy_s": round(self._busy, 6), "queue_wait_s": round(self._waited, 6),
            "rejections": dict(self.rejections), "clock_s": round(time.monotonic() - self._since, 6),
        }


class Components(dict):
    """name -> Component | RateLimit."""

    def snapshot(self) -> dict:
        return {name: component.snapshot() for name, component in sorted(self.items())}

    def reset(self) -> None:
        for component in self.values():
            component.reset()
