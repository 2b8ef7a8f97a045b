"""Command-line flags -> one immutable SimulatorConfig. Bad values raise ConfigError with a one-line message."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field

from simulator.profiles import COMPONENT_OF, COMPONENTS, LATENCY_CLASSES

# --capacity names a component (profiles.toml [components.*]); `auth` and `rest`, and the GoTrue endpoint classes,
# are accepted spellings of GoTrue's and PostgREST's.
CAPACITY_ALIASES = {"auth": "gotrue", "rest": "postgrest", "auth-token": "gotrue", "auth-user": "gotrue",
                    "auth-admin": "gotrue"}
# --service-time names a latency class; a component name means every class it serves.
SERVICE_TIME_ALIASES = {"auth": ("auth-token", "auth-user", "auth-admin"),
                        **{component: tuple(c for c, owner in COMPONENT_OF.items() if owner == component)
                           for component in ("gotrue", "postgrest")}}

DEFAULT_ADMIN_TOKEN = "sim-admin-token"
DEFAULT_PUBLISHABLE_KEY = "sb_publishable_simulator"
DEFAULT_SERVICE_ROLE_KEY = "sb_secret_simulator"


class ConfigError(Exception):
    """A flag value the simulator cannot use; str() is the one line printed before exiting 1."""


@dataclass(frozen=True)
class RateWindow:
    """N requests per SECONDS, e.g. GoTrue's 30 sign-ins per 300 s per IP."""

    requests: int
    seconds: float


@dataclass(frozen=True)
class SimulatorConfig:
    host: str = "127.0.0.1"
    port: int = 0
    profile: str = "healthy"
    seed: int = 1
    time_scale: float = 1.0
    job_time_scale: float = 1.0
    capacity: dict[str, float] = field(default_factory=dict)  # component -> slots (pool) or requests/s (rate)
    service_time_ms: dict[str, float] = field(default_factory=dict)  # endpoint class -> fixed ms (real time)
    slow: dict[str, float] = field(default_factory=dict)  # endpoint class -> time factor >= 1 (--slow; 1.3 = 30 % slower)
    queue_limit: int | None = None  # None: the model file's queue_limit
    signin_rate_limit: RateWindow = RateWindow(30, 300.0)
    refresh_rate_limit: RateWindow = RateWindow(150, 300.0)
    admin_token: str = DEFAULT_ADMIN_TOKEN
    publishable_key: str = DEFAULT_PUBLISHABLE_KEY
    service_role_key: str = DEFAULT_SERVICE_ROLE_KEY
    jwt_ttl_s: int = 3600
    refresh_reuse_interval_s: float = 10.0
    users: int = 50
    # Realtime's concurrent connections (sockets with a joined channel): the Pro plan's 500 (assumption: the plan
    # ProspectPro runs on; Free is 200). Past it the handshake gets 429 "Too many connected users".
    realtime_max_connections: int = 500
    verbose: bool = False
    exit_with_parent: bool = False
    parent_pid: int | None = None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulator",
        description="The embedded ProspectPro stand-in (GoTrue, edge functions, PostgREST) on 127.0.0.1.",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    add("--port", default="0", help="port; 0 picks a free one, printed in the ready line (default 0)")
    add("--profile", default="healthy", help="fault profile from simulator/profiles.toml (default healthy)")
    add("--seed", default="1", help="seed for ids, seeded data and latency draws (default 1)")
    add("--time-scale", default="1.0", help="multiplies every simulated latency and job duration (default 1.0)")
    add("--job-time-scale", default=None, help="multiplies only background job durations (default: --time-scale)")
    add("--capacity", action="append", default=[], metavar="COMPONENT=N",
        help="slots of COMPONENT (edge function slug, gotrue/auth, postgrest/rest, realtime) or requests/s of a "
             "third-party quota (google-places, hunter-api, ...); repeatable")
    add("--service-time", action="append", default=[], metavar="COMPONENT=MS",
        help="fixed service time in real ms (not scaled) of a function, gotrue/auth or postgrest/rest; "
             "peak throughput = N / service time")
    add("--slow", action="append", default=[], metavar="FUNCTION=FACTOR",
        help="make FUNCTION's whole time (its own work and its calls) FACTOR times as long (1.3 = 30 %% slower; at "
             "least 1) to stage a regression of one function; repeatable; the other functions are untouched")
    add("--queue-limit", default=None, metavar="N",
        help="requests that may wait for a busy function before the gateway answers 503 (default from profiles.toml)")
    add("--signin-rate-limit", default="30/300", metavar="N/SECONDS", help="GoTrue sign-ins per IP (default 30/300)")
    add("--refresh-rate-limit", default="150/300", metavar="N/SECONDS",
        help="GoTrue token refreshes per IP (default 150/300)")
    add("--admin-token", default=DEFAULT_ADMIN_TOKEN, help="bearer token for /__admin/* (default sim-admin-token)")
    add("--publishable-key", default=DEFAULT_PUBLISHABLE_KEY, help="apikey clients must send")
    add("--service-role-key", default=DEFAULT_SERVICE_ROLE_KEY, help="key for /auth/v1/admin/users")
    add("--jwt-ttl", default="3600", metavar="SECONDS", help="access token lifetime (default 3600)")
    add("--refresh-reuse-interval", default="10", metavar="SECONDS",
        help="GoTrue's refresh-token reuse interval, real seconds (default 10, the reference's config.toml)")
    add("--users", default="50", metavar="N", help="seeded users loadtest-1..N@prospectpro.test (default 50)")
    add("--realtime-max-connections", default="500", metavar="N",
        help="Realtime concurrent connections before 429 'Too many connected users' (default 500, the Pro plan)")
    add("--verbose", action="store_true", help="log one line per request to stderr")
    add("--exit-with-parent", action="store_true",
        help="stop when the process that started this one goes away (so a killed test run leaves no server)")
    add("--parent-pid", default=None, metavar="PID",
        help="with --exit-with-parent: the starter's pid, so that a starter killed while this process was still "
             "starting up is noticed too (default: the parent at start-up)")
    return parser


def _number(flag: str, text: str, kind: type, minimum: float, *, exclusive: bool = False) -> float | int:
    try:
        value = kind(text)
    except ValueError:
        raise ConfigError(f"{flag}: {text!r} is not a valid {kind.__name__}") from None
    if value != value or value in (float("inf"), float("-inf")):  # NaN or infinite
        raise ConfigError(f"{flag}: {text!r} must be a finite number")
    if value < minimum or (exclusive and value == minimum):
        relation = "greater than" if exclusive else "at least"
        raise ConfigError(f"{flag}: {text!r} must be {relation} {minimum:g}")
    return value


def _rate_window(flag: str, text: str) -> RateWindow:
    count, slash, seconds = text.partition("/")
    if not slash:
        raise ConfigError(f"{flag}: {text!r} must look like N/SECONDS, e.g. 30/300")
    return RateWindow(int(_number(flag, count, int, 1)), float(_number(flag, seconds, float, 0, exclusive=True)))


def _function_values(flag: str, items: list[str], kind: type, minimum: float, exclusive: bool,
                     names: Mapping[str, tuple[str, ...]]) -> dict:
    """`NAME=VALUE` items -> {target: value}; `names` maps each accepted NAME to the targets it sets."""
    values: dict = {}
    for item in items:
        name, equals, text = item.partition("=")
        if not equals:
            raise ConfigError(f"{flag}: {item!r} must look like FUNCTION=VALUE")
        if name not in names:
            raise ConfigError(f"{flag}: unknown function {name!r}; use one of {', '.join(names)}")
        value = _number(f"{flag} {name}", text, kind, minimum, exclusive=exclusive)
        for target in names[name]:
            values[target] = value
    return values


CAPACITY_NAMES = {**{name: (name,) for name in COMPONENTS}, "auth": ("gotrue",), "rest": ("postgrest",),
                  **{name: (component,) for name, component in CAPACITY_ALIASES.items() if name not in ("auth", "rest")}}
SERVICE_TIME_NAMES = {**{name: (name,) for name in LATENCY_CLASSES}, **SERVICE_TIME_ALIASES}


def parse_config(argv: list[str] | None, known_profiles: set[str]) -> SimulatorConfig:
    args = build_parser().parse_args(argv)
    if args.profile not in known_profiles:
        raise ConfigError(f"--profile: unknown profile {args.profile!r}; choose one of {', '.join(sorted(known_profiles))}")
    time_scale = float(_number("--time-scale", args.time_scale, float, 0))
    job_time_scale = (
        time_scale if args.job_time_scale is None else float(_number("--job-time-scale", args.job_time_scale, float, 0))
    )
    for flag, secret in (("--admin-token", args.admin_token), ("--publishable-key", args.publishable_key),
                         ("--service-role-key", args.service_role_key)):
        if not secret or any(ch.isspace() for ch in secret):
            raise ConfigError(f"{flag}: must be a non-empty value without spaces")
    port = int(_number("--port", args.port, int, 0))
    if port > 65535:
        raise ConfigError(f"--port: {args.port!r} must be at most 65535")
    return SimulatorConfig(
        host=args.host,
        port=port,
        profile=args.profile,
        seed=int(_number("--seed", args.seed, int, 0)),
        time_scale=time_scale,
        job_time_scale=job_time_scale,
        capacity=_function_values("--capacity", args.capacity, float, 1, exclusive=False, names=CAPACITY_NAMES),
        service_time_ms=_function_values("--service-time", args.service_time, float, 0, exclusive=True,
                                         names=SERVICE_TIME_NAMES),
        slow=_function_values("--slow", args.slow, float, 1, exclusive=False, names=SERVICE_TIME_NAMES),
        queue_limit=None if args.queue_limit is None else int(_number("--queue-limit", args.queue_limit, int, 0)),
        signin_rate_limit=_rate_window("--signin-rate-limit", args.signin_rate_limit),
        refresh_rate_limit=_rate_window("--refresh-rate-limit", args.refresh_rate_limit),
        admin_token=args.admin_token,
        publishable_key=args.publishable_key,
        service_role_key=args.service_role_key,
        jwt_ttl_s=int(_number("--jwt-ttl", args.jwt_ttl, int, 1)),
        refresh_reuse_interval_s=float(_number("--refresh-reuse-interval", args.refresh_reuse_interval, float, 0)),
        users=int(_number("--users", args.users, int, 1)),
        realtime_max_connections=int(_number("--realtime-max-connections", args.realtime_max_connections, int, 0)),
        verbose=args.verbose,
        exit_with_parent=args.exit_with_parent,
        parent_pid=None if args.parent_pid is None else int(_number("--parent-pid", args.parent_pid, int, 1)),
    )
