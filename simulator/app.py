"""Routing and the per-request pipeline: faults -> capacity gate -> endpoint -> simulated latency -> faults.

Routing is a dict lookup on (method, path) first; only paths not seen before are resolved by prefix (edge function
slugs, PostgREST tables), and known routes are then cached. Every ProspectPro endpoint belongs to an endpoint class
(latency distribution and concurrency gate) and a group (which faults apply: auth, rest, functions).
"""

from __future__ import annotations

import random
import sys
import time
from typing import Any, Callable

import gevent

from simulator import edge
from simulator.accounting import Accounting
from simulator.admin import Admin
from simulator.authtest import serve_test_new_auth
from simulator.config import SimulatorConfig
from simulator.discovery import Discovery
from simulator.edge import CORS_HEADERS, AuthFailure
from simulator.enrichment import enrich
from simulator.enrichment_services import EnrichmentServices
from simulator.export import export
from simulator.faults import Faults, gateway_response
from simulator.gotrue import GoTrue
from simulator.httpserver import ConnectionReset, Request, Response
from simulator.jsonbody import json_response
from simulator.latency import LatencyModel
from simulator.platform import Platform
from simulator.postgrest import PostgREST
from simulator.profiles import COMPONENT_OF, Model
from simulator.realtime import PUBLISHED_TABLES, WEBSOCKET_PATH, Realtime
from simulator.seed import seed, seeded_at
from simulator.store import Store

ADMIN_PREFIX = "/__admin/"
FUNCTIONS_PREFIX = "/functions/v1/"
REST_PREFIX = "/rest/v1/"
AUTH_PREFIX = "/auth/v1/"
# Kong's CORS plugin in front of /auth/v1 and /rest/v1 (the functions answer their own preflight, edge.preflight).
KONG_CORS_METHODS = "GET,HEAD,PUT,PATCH,POST,DELETE"
KONG_CORS_HEADERS = "authorization, x-client-info, apikey, content-type, prefer, accept, accept-profile, content-profile, range, x-upsert"


def kong_preflight(request: Request) -> Response:
    """A browser's CORS preflight to the Supabase API gateway: 200, no body, no apikey needed."""
    origin = request.headers.get("origin") or "*"
    allowed = request.headers.get("access-control-request-headers") or KONG_CORS_HEADERS
    return Response(200, b"", content_type=None, headers=[
        ("Access-Control-Allow-Origin", origin), ("Access-Control-Allow-Credentials", "true"),
        ("Access-Control-Allow-Methods", KONG_CORS_METHODS), ("Access-Control-Allow-Headers", allowed),
        ("Access-Control-Max-Age", "3600"), ("Vary", "Origin")])
ROUTE_CACHE_LIMIT = 10_000
HIGHLIGHT_HEADERS = ("x-highlight-request", "x-highlight-trace", "x-highlight-session", "x-highlight-project",
                     "x-highlight-user", "x-highlight-origin")
FUNCTION_NOT_FOUND = {"code": "NOT_FOUND", "message": "Requested function was not found"}
NO_ROUTE = {"message": "no Route matched with those values"}  # Kong, for paths outside the Supabase API


_FROM_REQUEST = object()  # Work.authenticate(): use the request's own Authorization header


class Work:
    """What an endpoint handler may ask of the pipeline: the getUser hop, and how many rows it handled. A handler
    that already spent its own simulated time (a provider call) sets `timed`, so none is added after it."""

    __slots__ = ("items", "timed", "then", "_simulator", "_request", "_endpoint_class")

    def __init__(self, simulator: "Simulator", request: Request, endpoint_class: str):
        self.items = 0
        self.timed = False
        self.then = None  # run once the response is ready (after the function's own simulated time)
        self._simulator = simulator
        self._request = request
        self._endpoint_class = endpoint_class

    @property
    def authorization(self) -> str | None:
        return self._request.headers.get("authorization")

    def authenticate(self, authorization=_FROM_REQUEST) -> edge.AuthContext | AuthFailure:
        """`authenticateRequest`: one GoTrue getUser round trip through GoTrue's pool when there is a bearer.
        `authorization` overrides the header value (test-new-auth prefers x-prospect-session)."""
        simulator = self._simulator
        header = self._request.headers.get("authorization") if authorization is _FROM_REQUEST else authorization
        if self.fixed_service_time:
            return edge.authenticate(simulator.gotrue, header)
        return simulator.platform.get_user(header)

    @property
    def fixed_service_time(self) -> bool:
        """--service-time replaces the whole model of the function's work (no hop, no third-party quota)."""
        return self._simulator.latency.has_fixed_service_time(self._endpoint_class)


# (endpoint class, fault group, handler): the handler gets a Work when the route has an endpoint class, None for
# the answers that need no component (CORS preflights, 404s, the websocket handshake), which ignore it.
Route = tuple[str | None, str, Callable[[Request, Any], Response]]


class Simulator:
    def __init__(self, config: SimulatorConfig, model: Model):
        self.config = config
        self.model = model
        # Separate streams, so that e.g. latency draws never shift the seeded ids and rows.
        ids_rng = random.Random(f"ids-{config.seed}")
        self._data_rng = random.Random(f"data-{config.seed}")
        self.store = Store()
        self.gotrue = GoTrue(config, ids_rng, issuer="http://127.0.0.1/auth/v1", seeded_at=seeded_at())
        self.seeded_campaigns = seed(self.store, self.gotrue, ids_rng)
        self.postgrest = PostgREST(config, self.store, self.gotrue)
        self.latency = LatencyModel(model, random.Random(f"latency-{config.seed}"), config.time_scale,
                                    config.service_time_ms)
        self.faults = Faults(config.profile, model.profiles[config.profile], random.Random(f"faults-{config.seed}"),
                             config.time_scale)
        self.platform = Platform(config, model, self.gotrue, self.latency, self._data_rng,
                                 profile=lambda: self.faults.profile)
        self.components = self.platform.components
        self.google = self.components["google-places"]
        self.discovery = Discovery(self.store, ids_rng, self.platform, model.job, config.service_role_key,
                                   self.gotrue.new_uuid, failure_rate=lambda: self.faults.profile.job_failure_rate)
        self.accounting = Accounting()
        # Realtime's connection limit is its component's capacity (--capacity realtime=N, else
        # --realtime-max-connections); a connected user holds a slot of it.
        realtime_limit = int(config.capacity.get("realtime", config.realtime_max_connections))
        self.components["realtime"].capacity = max(1, realtime_limit)
        self.realtime = Realtime(self.gotrue, config.publishable_key, config.service_role_key, realtime_limit,
                                 self.accounting.count_key, component=self.components["realtime"])
        for table in PUBLISHED_TABLES:
            self.store.watch(table, self.realtime.on_change)
        self.admin = Admin(config.admin_token, self)
        self.enrichment_services = EnrichmentServices(self._data_rng, self.platform)
        self.profile_names = list(model.profiles)
        self.switch_profile(config.profile)
        self._routes: dict[tuple[str, str], Route] = {
            ("POST", "/auth/v1/token"): ("auth-token", "auth", lambda r, w: self.gotrue.token(r)),
            ("GET", "/auth/v1/user"): ("auth-user", "auth", lambda r, w: self.gotrue.get_user(r)),
            ("POST", "/auth/v1/admin/users"): ("auth-admin", "auth", lambda r, w: self.gotrue.admin_create_user(r)),
            # No gate or latency: the handshake is answered at once, the socket then lives outside the pipeline.
            ("GET", WEBSOCKET_PATH): (None, "realtime", lambda r, w: self.realtime.handshake(r)),
            ("POST", "/auth/v1/logout"): ("auth-token", "auth", lambda r, w: self.gotrue.logout(r)),
        }
        self._functions = {
            "business-discovery-background": self._discovery_background,
            "business-discovery-optimized": self._discovery_optimized,
            "enrichment-orchestrator": lambda r, w: enrich(r, w, self.platform,
                                                           provider_failure_rate=self.faults.profile.provider_failure_rate),
            "campaign-export-user-aware": self._export,
            "test-new-auth": lambda r, w: serve_test_new_auth(r, w.authenticate, self.store),
            "enrichment-hunter": lambda r, w: self.enrichment_services.hunter(r, w.authenticate, w),
            "enrichment-neverbounce": lambda r, w: self.enrichment_services.neverbounce(r, w.authenticate, w),
        }

    # --- admin controls ------------------------------------------------------------------------------------------
    def stats(self) -> dict:
        return {**self.accounting.snapshot(), "components": self.components.snapshot()}

    def realtime_stats(self) -> dict:
        return self.realtime.snapshot()

    def reset_stats(self) -> None:
        self.accounting.reset()
        self.realtime.reset()
        self.components.reset()

    def current_profile(self) -> tuple[str, str]:
        return self.faults.name, self.faults.profile.description

    def switch_profile(self, name: str) -> None:
        profile = self.model.profiles[name]
        self.faults.activate(name, profile)
        if profile.connection_reset or (profile.gateway_error and "realtime" in profile.gateway_error.applies_to):
            self.realtime.drop_all()  # Realtime went down: open sockets close, as a restart of the service would
        self.gotrue.jwt_ttl_s = profile.jwt_ttl_s or self.config.jwt_ttl_s
        # A profile's own quota (real seconds), else the configured one: --capacity google-places=N or the model's,
        # per simulated second (a switch must not drop the flag).
        self.google.set_rate(profile.google_queries_per_second or self.google.base_rate)

    # --- the pipeline ----------------------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        if request.path.startswith(ADMIN_PREFIX):
            return self.admin.handle(request)
        route = self._routes.get((request.method, request.path)) or self._resolve(request)
        endpoint_class, group, handler = route
        faults = self.faults
        if faults.profile.connection_reset:
            raise ConnectionReset()
        early = faults.before(group)
        if early is not None:
            return early
        if endpoint_class is None:  # CORS preflight, unknown function or path: answered at once
            return handler(request, None)
        component = self.components[COMPONENT_OF[endpoint_class]]
        refused = component.enter()
        if refused:
            return gateway_response(refused)
        entered = time.monotonic()
        try:
            if component.tracks_cold_starts and component.cold_start() and not self.latency.has_fixed_service_time(
                    endpoint_class):
                self.platform.wait("cold-start")
            work = Work(self, request, endpoint_class)
            try:
                response = handler(request, work)
            except Exception as error:  # a simulator bug: answer as the function's catch-all would, and say so
                print(f"simulator: unexpected {type(error).__name__} serving {request.method} {request.path}: "
                      f"{error}", file=sys.stderr, flush=True)
                response = edge.function_error(500, str(error))
            if not work.timed:
                delay = self.latency.seconds(endpoint_class, faults.profile, work.items)
                if delay:
                    gevent.sleep(delay)
            if work.then is not None:
                work.then()
            factor = self.config.slow.get(endpoint_class)
            if factor:
                # --slow FUNCTION=FACTOR: the function's whole time (its own draw, its getUser hop, its siblings,
                # providers and PostgREST calls) stretched FACTOR times, inside its slot as a slower function would.
                gevent.sleep(max(0.0, (factor - 1) * (time.monotonic() - entered)))
        finally:
            component.leave()
        if group != "functions" and "origin" in request.headers:  # Kong's CORS plugin on the actual request
            response.headers = [*response.headers, ("Access-Control-Allow-Origin", request.headers["origin"])]
        return faults.after(group, response)

    def on_written(self, request: Request, response: Response, delta: int) -> None:
        self.accounting.count(request, response, delta)
        if self.config.verbose and delta > 0:
            # The path only: a query string may carry an apikey, and logs end up in results folders.
            print(f"{request.method} {request.path} {response.status}", file=sys.stderr, flush=True)

    def _resolve(self, request: Request) -> Route:
        path = request.path
        route: Route | None = None
        if path.startswith(FUNCTIONS_PREFIX):
            slug = path[len(FUNCTIONS_PREFIX):]
            handler = self._functions.get(slug)
            if handler is None:
                return None, "functions", lambda r, w: json_response(404, FUNCTION_NOT_FOUND)
            if request.method == "OPTIONS":
                route = (None, "functions", lambda r, w: edge.preflight())
            else:
                route = (slug, "functions", handler)
        elif request.method == "OPTIONS" and (path.startswith(REST_PREFIX) or path.startswith(AUTH_PREFIX)):
            route = (None, "rest" if path.startswith(REST_PREFIX) else "auth", lambda r, w: kong_preflight(r))
        elif path.startswith(REST_PREFIX):
            name = path[len(REST_PREFIX):]
            if name.startswith("rpc/"):
                route = ("rest", "rest", lambda r, w, fn=name[4:]: self.postgrest.rpc(r, fn))
            elif "/" not in name:
                route = ("rest", "rest", lambda r, w, table=name: self.postgrest.handle(r, table))
        if route is None:
            return None, "auth" if path.startswith("/auth/") else "rest", lambda r, w: json_response(404, NO_ROUTE)
        if len(self._routes) < ROUTE_CACHE_LIMIT:
            self._routes[(request.method, path)] = route
        return route

    # --- edge function adapters -------------------------------------------------------------------------------------
    def _discovery_background(self, request: Request, work: Work) -> Response:
        auth = work.authenticate()
        if isinstance(auth, AuthFailure):
            return edge.function_error(401, auth.error, diagnostics=auth.diagnostics())
        return self.discovery.submit(request.body, auth, defer=lambda start: setattr(work, "then", start))

    def _discovery_optimized(self, request: Request, work: Work) -> Response:
        highlight = {name[len("x-highlight-"):]: request.headers[name] for name in HIGHLIGHT_HEADERS
                     if name in request.headers}
        echoed = [(name, request.headers[name]) for name in HIGHLIGHT_HEADERS if name in request.headers]
        auth = work.authenticate()
        if isinstance(auth, AuthFailure):
            return json_response(401, {"success": False, "error": auth.error, "highlight": highlight},
                                 headers=[*CORS_HEADERS, *echoed])
        return self.discovery.optimized(request.body, highlight, echoed, google_quota=not work.fixed_service_time)

    def _export(self, request: Request, work: Work) -> Response:
        auth = work.authenticate()
        if isinstance(auth, AuthFailure):
            return edge.function_error(401, auth.error)
        response, work.items = export(request, auth, self.store)
        return response
