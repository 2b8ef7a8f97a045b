"""The platform every handler runs on: the components, the simulated latency, and the calls between components.

Fan-out as in production: every edge-function call authenticates with one GoTrue getUser (`get_user`), the
orchestrator calls its siblings one after another (`call_function`: the sibling's worker, its own getUser, then its
provider's quota), and background jobs go through Google's quota, PostgREST and the orchestrator the same way. The
internal calls are in-process, not HTTP, but they take capacity exactly as external calls do.
"""

from __future__ import annotations

import random
import time
from typing import Callable

import gevent

from simulator import edge
from simulator.components import Component, Components, RateLimit
from simulator.config import SimulatorConfig
from simulator.edge import AuthContext, AuthFailure
from simulator.faults import GATEWAY_BODIES
from simulator.gotrue import GoTrue
from simulator.latency import LatencyModel
from simulator.profiles import Model, Profile

# How the orchestrator's waterfall steps map onto sibling functions, their provider quota and their latency class.
SIBLINGS = {
    "hunter_io": ("enrichment-hunter", "hunter-api", "enrichment-hunter"),
    "cobalt_sos": ("enrichment-cobalt", "cobalt-api", "enrichment-cobalt"),
    "state_license": ("enrichment-business-license", "state-license-api", "enrichment-business-license"),
    "people_data_labs_company": ("enrichment-pdl", "pdl-api", "enrichment-pdl"),
    "people_data_labs_person": ("enrichment-pdl", "pdl-api", "enrichment-pdl"),
    "neverbounce": ("enrichment-neverbounce", "neverbounce-api", "enrichment-neverbounce"),
}
# In-isolate caches of the sibling functions (reference §7.4): Hunter 24 h, NeverBounce 7 days. Simplification: one
# cache per function, shared by its workers (real isolates each keep their own, lost on a cold start).
CONTEXT_CACHE_LIMIT = 100_000
CACHE_TTL_S = {"hunter_io": 24 * 3600.0, "neverbounce": 7 * 24 * 3600.0}


def build_components(model: Model, config: SimulatorConfig) -> Components:
    # Scaled like every simulated duration; at --time-scale 0 the unscaled timeout still bounds the wait.
    scale = config.time_scale or 1.0
    queue_timeout = model.queue.queue_timeout_s * scale
    queue_limit = model.queue.queue_limit if config.queue_limit is None else config.queue_limit
    components = Components()
    for name, spec in model.components.items():
        capacity = config.capacity.get(name, spec.capacity)
        if spec.kind == "pool":
            limit = spec.queue_limit if spec.queue_limit is not None and config.queue_limit is None else queue_limit
            components[name] = Component(name, max(1, int(capacity)), limit, queue_timeout,
                                         cold_starts=spec.cold_starts)
        else:
            # A quota is per simulated second: at --time-scale s the same load arrives 1/s times faster, so the
            # quota allows capacity / s real requests per second and saturates at the same number of users.
            burst = spec.burst or max(1, int(round(spec.capacity)))
            if capacity != spec.capacity:  # an override keeps the burst as the same seconds' worth of the quota
                burst = max(1, int(round(burst * capacity / spec.capacity)))
            components[name] = RateLimit(name, float(capacity) / scale, burst, spec.max_wait_s * scale)
    return components


class Platform:
    def __init__(self, config: SimulatorConfig, model: Model, gotrue: GoTrue, latency: LatencyModel,
                 rng: random.Random, profile: Callable[[], Profile]):
        self.config = config
        self.model = model
        self.gotrue = gotrue
        self.latency = latency
        self.components = build_components(model, config)
        self.rng = rng
        self._profile = profile
        self.job_time_scale = config.job_time_scale
        self.email_weights = model.enrichment.hunter_email_weights
        self.neverbounce_pause_s = model.enrichment.neverbounce_pause_s
        self.caches: dict[str, dict[str, float]] = {service: {} for service in CACHE_TTL_S}  # key -> expiry
        self._gotrue_pool = self.components["gotrue"]
        self._contexts: dict[str, AuthContext] = {}

    @property
    def profile(self) -> Profile:
        return self._profile()

    # --- time -----------------------------------------------------------------------------------------------------
    def wait(self, latency_class: str, scale: float | None = None) -> float:
        """Sleep one draw of `latency_class`; returns the seconds slept."""
        delay = self.latency.seconds(latency_class, self.profile, scale=scale)
        if delay:
            gevent.sleep(delay)
        return delay

    def pause(self, simulated_s: float, scale: float) -> None:
        """A fixed pause written in the code (pagination, detail spacing), scaled; none on zero-latency."""
        if simulated_s and scale and not self.profile.zero_latency:
            gevent.sleep(simulated_s * scale)

    # --- calls between components -----------------------------------------------------------------------------------
    def get_user(self, authorization: str | None) -> AuthContext | AuthFailure:
        """`authenticateRequest`: a bearer is checked by one GoTrue getUser round trip, through GoTrue's pool."""
        token = edge.extract_bearer(authorization)
        if isinstance(token, AuthFailure):
            return token
        gotrue = self._gotrue_pool
        refused = gotrue.enter()
        if refused is not None:
            return AuthFailure("verify_user_service", "service_lookup_failed", GATEWAY_BODIES[refused]["message"],
                               token)
        try:
            delay = self.latency.seconds("auth-user", self._profile())
            if delay:
                gevent.sleep(delay)
        finally:
            gotrue.leave()
        # The hot path (every call and sub-call): a context already built for this token is reused while GoTrue
        # still accepts the token (expiry and revocation are checked by GoTrue.verify on every call).
        cached = self._contexts.get(token)
        if cached is not None and self.gotrue.still_valid(token, cached.claims):
            return cached
        context = edge.authenticate(self.gotrue, authorization)
        if isinstance(context, AuthContext):
            if len(self._contexts) >= CONTEXT_CACHE_LIMIT:
                self._contexts.clear()
            self._contexts[token] = context
        return context

    def call_function(self, slug: str, authorization: str | None, run: Callable[[AuthContext], object]):
        """An in-process call of edge function `slug`: a worker (queue, cold start), its getUser, then `run(auth)`.
        Returns (None, run's result) or (error text, None) when the call failed as an HTTP call would have."""
        component = self.components[slug]
        refused = component.enter()
        if refused is not None:
            return f"{refused} {GATEWAY_BODIES[refused]['message']}", None
        try:
            if component.cold_start():
                self.wait("cold-start")
            auth = self.get_user(authorization)
            if isinstance(auth, AuthFailure):
                return f"401 {auth.error}", None
            return None, run(auth)
        finally:
            component.leave()

    def spend(self, quota: str, calls: int = 1, service_s: float = 0.0) -> bool:
        """`calls` requests through a third-party quota (waiting for it), then `service_s`. The zero-latency
        profile, which measures the harness itself, counts them but lifts the quota."""
        limit: RateLimit = self.components[quota]
        if self.profile.zero_latency:
            limit.calls += calls
            return True
        return limit.spend(calls, service_s)

    def provider_call(self, quota: str, latency_class: str, calls: int = 1, pause_s: float = 0.0,
                      scale: float | None = None) -> bool:
        """`calls` requests to a third-party API, one after another, each through its quota, with `pause_s`
        (simulated) between them. False when the provider answered over-quota."""
        for index in range(calls):
            if index and pause_s:
                self.pause(pause_s, self.config.time_scale if scale is None else scale)
            if not self.spend(quota, 1, self.latency.seconds(latency_class, self.profile, scale=scale)):
                return False
        return True

    def sibling(self, service: str, authorization: str | None, keys: list[str]) -> tuple[str | None, int]:
        """One waterfall step of the orchestrator through its sibling function, for `keys` (a domain, emails...).
        Returns (None, keys that went to the provider) or (the error, 0). Hunter and NeverBounce answer from their
        in-isolate caches (24 h and 7 days, reference §7.4) what they looked up before: no provider call, no cost,
        and NeverBounce's pause is only between the emails it really sends."""
        slug, quota, latency_class = SIBLINGS[service]
        cache = self.caches.get(service)
        pause = self.neverbounce_pause_s if service == "neverbounce" else 0.0

        def run(_auth):
            now = time.monotonic()
            fresh = keys if cache is None else [key for key in keys if cache.get(key, 0.0) <= now]
            if fresh and not self.provider_call(quota, latency_class, len(fresh), pause):
                return None
            if cache is not None:
                ttl = CACHE_TTL_S[service]
                cache.update((key, now + ttl) for key in fresh)
            return len(fresh)

        error, paid = self.call_function(slug, authorization, run)
        if error is not None:
            return error, 0
        return (None, paid) if paid is not None else ("429 provider quota exceeded", 0)

    def db_write(self, scale: float | None = None) -> None:
        """One PostgREST write by a function's service-role client, through PostgREST's pool."""
        postgrest: Component = self.components["postgrest"]
        with postgrest.slot() as refused:
            if refused is None:
                self.wait("db-write", scale)
