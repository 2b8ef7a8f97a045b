"""The active fault profile, applied in front of (and to the answers of) the ProspectPro endpoints.

Gateway-level faults answer before the endpoint runs: outage (a fixed 5xx), rate limiting (429 + Retry-After) and
error bursts (5xx for a share of requests during part of each period). Malformed answers are made after it ran.
A stall (the whole target pauses, as in a stop-the-world GC or a failover) holds requests that arrive during a pause
and answers that are ready during one, until the pause ends.
The connection-level fault (connection_reset) is decided here and carried out by the HTTP server.
"""

from __future__ import annotations

import random
import time

import gevent

from simulator.capacity import TokenBucket
from simulator.httpserver import Response
from simulator.jsonbody import json_response
from simulator.profiles import Profile

# What Supabase's gateway (Kong) and edge runtime answer; one place so every fault speaks the same way.
GATEWAY_BODIES = {
    429: {"message": "API rate limit exceeded"},
    500: {"code": "WORKER_ERROR", "message": "Function exited due to an error (please check logs)"},
    502: {"message": "An invalid response was received from the upstream server"},
    503: {"message": "Service Unavailable"},
    504: {"message": "The upstream server is timing out"},
}
MALFORMED_BODIES = (b"<html><head><title>502 Bad Gateway</title></head><body>upstream error</body></html>",)


def gateway_response(status: int, headers: list[tuple[str, str]] | None = None) -> Response:
    return json_response(status, GATEWAY_BODIES.get(status, {"message": "Gateway error"}), headers=headers)


class Faults:
    def __init__(self, profile_name: str, profile: Profile, rng: random.Random, time_scale: float):
        self._rng = rng
        self._time_scale = time_scale
        self.activate(profile_name, profile)

    def activate(self, name: str, profile: Profile) -> None:
        self.name = name
        self.profile = profile
        self._activated = time.monotonic()
        limit = profile.rate_limit
        self._rate_bucket = TokenBucket(limit.requests_per_second, limit.burst) if limit else None

    def stall_remaining_s(self, now: float | None = None) -> float:
        """Seconds until the current pause ends (0.0 outside a pause, or with no stall in the profile)."""
        stall = self.profile.stall
        if stall is None:
            return 0.0
        scale = self._time_scale or 1.0
        return stall_remaining_s(time.time() if now is None else now, stall.period_s * scale, stall.stall_s * scale)

    def _wait_out_stall(self) -> None:
        remaining = self.stall_remaining_s()
        if remaining > 0:
            gevent.sleep(remaining)

    def before(self, group: str) -> Response | None:
        """A gateway answer that replaces the endpoint's, or None to let the request through."""
        self._wait_out_stall()
        profile = self.profile
        outage = profile.gateway_error
        if outage and group in outage.applies_to:
            return gateway_response(outage.status)
        limit = profile.rate_limit
        bucket = self._rate_bucket  # set with the profile (activate)
        if limit and bucket is not None and group in limit.applies_to and not bucket.take():
            return gateway_response(429, [("Retry-After", str(limit.retry_after_s))])
        burst = profile.error_burst
        if burst and group in burst.applies_to:
            scale = self._time_scale or 1.0  # at --time-scale 0 the period keeps its unscaled length
            phase = (time.monotonic() - self._activated) % (burst.period_s * scale)
            if phase < burst.burst_s * scale and self._rng.random() < burst.rate:
                return gateway_response(self._rng.choice(burst.statuses))
        return None

    def after(self, group: str, response: Response) -> Response:
        """Corrupt a share of 2xx JSON answers from functions and REST (malformed profile); status stays 200.
        An answer ready during a stall is held until it ends."""
        self._wait_out_stall()
        rate = self.profile.malformed_rate
        if (rate and group != "auth" and 200 <= response.status < 300 and response.content_type
                and "json" in response.content_type and self._rng.random() < rate):
            if self._rng.random() < 0.5 and len(response.body) > 1:
                response.body = response.body[: len(response.body) // 2]
            else:
                response.body = MALFORMED_BODIES[0]
        return response


def stall_remaining_s(now: float, period_s: float, stall_s: float) -> float:
    """A pause covers [k * period_s, k * period_s + stall_s) for every whole k (epoch seconds)."""
    phase = now % period_s
    return stall_s - phase if phase < stall_s else 0.0
