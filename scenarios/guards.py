"""Target safety and caps: nothing reaches a real ProspectPro unless someone asked for it, twice for production.

Before any request (Locust ``init`` for the command line, ``test_start`` for the web UI form), after the settings
and workload.toml have loaded (a bad value in either is one line and exit 1):
* a target that is not a loopback address needs PP_ALLOW_REMOTE_TARGET=true;
* a production Supabase project (PP_PRODUCTION_PROJECT_REFS) also needs PP_CONFIRM_PRODUCTION=<that ref>;
* more users than PP_MAX_USERS is refused.
A refusal is one line on stderr and exit 1 (bad configuration). In the web UI the test is stopped, and no virtual
user sends anything: every request goes through ``ProspectProUser.call``, which asks ``assert_run_allowed()`` first,
and the refusal is in place before Locust spawns the first user (``test_start`` fires before the spawn loop). With
workers, every process decides for itself from the host the master sends, and the master also tells each worker its
own decision before any spawn message (one ZeroMQ connection keeps the order), so a worker with a laxer .env still
sends nothing to a target the master refused.

During the run (each discovery job spends real money on third-party APIs):
* at most PP_MAX_DISCOVERY_JOBS discovery submits per process: the next one is not sent and the run stops;
* the user count is watched against PP_MAX_USERS (shapes and the web UI change it while running);
* the running third-party spend (scenarios/metrics.py) is watched against the spend ceiling (below).
A guard stop records its reason in the manifest (stop_reason "safety" or "spend-guard") and exits 6.
In master/worker runs a worker's guard asks the master to stop the whole run.

The spend guard (each discovery job spends real money on Google Places, each enrichment on Hunter.io and
NeverBounce; the running spend is returned cost fields plus the reference's per-call estimates where a function
returns none):
* the ceiling is PP_SPEND_CEILING_USD when it is set. Otherwise DEFAULT_REMOTE_CEILING_USD for any target that is not
  a loopback address: a real project is guarded unless someone chose a ceiling. A loopback target (the embedded
  simulator) has none by default: its costs are play money, and benchmarks that drive it flat out would trip any
  ceiling. A local Supabase stack on 127.0.0.1 that calls the paid APIs needs PP_SPEND_CEILING_USD set. The web UI
  can change the host for each test, so the ceiling is decided at init and again at every test start
  (``apply_ceiling``, the one place that sets it);
* the spend is checked after every cost (``check_spend``); in master/worker runs each worker checks its own, and the
  master the merged spend after every worker report, so N workers cannot together spend N times the ceiling.
The ceiling and whether it tripped appear in business_metrics.json ``spend_guard``, the spend itself in
``costs_usd.third_party_spend``; the report shows both.

The state of all this is the run's (scenarios/run_state.py: ``RunState.guard``, ``RunState.metrics``); this module's
functions are given it, and its listeners are the run state's.
"""

from __future__ import annotations

import ipaddress
import logging
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import urlsplit

import gevent
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

from analysis.errors import InputError
from analysis.exit_codes import ExitCode
from harness.results import record_stop_reason
from harness.workers import await_verification
from scenarios.sessions import preminted_tokens
from scenarios.settings import HarnessSettings, get_settings
from scenarios.workload import get_workload

if TYPE_CHECKING:  # the run state holds this module's GuardState: imported for annotations only
    from scenarios.run_state import RunState

logger = logging.getLogger(__name__)

# The default ceiling for a real target nobody set one for: about 60 prospecting journeys at the reference's unit
# costs (a 3-lead discovery, ~$0.08 of Google Places, then 3 enrichments at ~$0.10). Measured on the simulator, the
# default `python -m harness perf` (30 users, compressed think times) spends ~$0.9/s, ~$90 over its 100 s; so
# against a real project it stops after about half a minute unless someone chose a ceiling on purpose. A load test
# must not become the incident, and the stop says which setting to raise.
DEFAULT_REMOTE_CEILING_USD = 25.0

GUARD_MESSAGE = "prospectpro_guard_stop"  # worker -> master: please stop the run
REFUSAL_MESSAGE = "prospectpro_guard_refusal"  # master -> workers at every test start: {"refusal": str | None}


class TargetRefused(Exception):
    """The configured target or load is not allowed; str() is the one-line reason."""


def check_target(url: str | None, settings: HarnessSettings) -> None:
    """Raise TargetRefused unless ``url`` may receive load under ``settings``."""
    if not url:
        return
    hostname = (urlsplit(url).hostname or "").lower()
    if is_loopback(hostname):
        return
    if not settings.allow_remote_target:
        raise TargetRefused(f"refusing to send load to {hostname or url}: not a loopback address; "
                            "set PP_ALLOW_REMOTE_TARGET=true to test a real ProspectPro")  # fmt: skip
    for ref in settings.production_project_refs:
        if ref and ref.lower() in hostname and settings.confirm_production != ref:
            raise TargetRefused(f"refusing to send load to {hostname}: it is the production project {ref}; "
                                f"set PP_CONFIRM_PRODUCTION={ref} to confirm")  # fmt: skip


def check_user_count(users: int | None, settings: HarnessSettings) -> None:
    if users is not None and users > settings.max_users:
        raise TargetRefused(f"refusing to run {users} users: more than PP_MAX_USERS={settings.max_users}")


def is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


class GuardState:
    """The guards' part of one run's state (scenarios/run_state.py)."""

    def __init__(self) -> None:
        self.refusal: str | None = None  # why this process must send nothing in the current test (None: allowed)
        self.master_refusal: str | None = None  # a worker: the master's decision for the current test
        self.discovery_jobs = 0
        self.tripped = False


def run_refused(state: RunState) -> bool:
    """True while the current test is refused: this process must send nothing. On a worker the master has not
    accepted yet (harness/workers.py), this waits for its verdict first."""
    return state.guard.refusal is not None or not await_verification()


def assert_run_allowed(state: RunState) -> None:
    """Called before every request a virtual user sends: in a refused test the user stops and sends nothing."""
    if state.guard.refusal is not None or not await_verification():
        raise StopUser()


def permit_discovery_job(state: RunState, environment: Environment) -> bool:
    """Count one discovery submit; False (and the run stops) once PP_MAX_DISCOVERY_JOBS would be exceeded."""
    cap = get_settings().max_discovery_jobs
    if state.guard.discovery_jobs >= cap:
        trip(state, environment, "safety", f"discovery job cap reached: PP_MAX_DISCOVERY_JOBS={cap}")
        return False
    state.guard.discovery_jobs += 1
    return True


# ---- the spend guard ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ceiling:
    """The spend ceiling of one run and why it is what it is (logged once, so nobody has to guess)."""

    usd: float | None
    why: str

    def describe(self) -> str:
        return f"spend guard: {'off' if self.usd is None else f'ceiling ${self.usd:g}'} ({self.why})"


def decide_ceiling(host: str | None, settings: HarnessSettings) -> Ceiling:
    """The ceiling for a run against ``host``: the configured one, else the default for a non-loopback target."""
    if settings.spend_ceiling_usd is not None:
        return Ceiling(settings.spend_ceiling_usd, "PP_SPEND_CEILING_USD")
    hostname = (urlsplit(host).hostname or "").lower() if host else ""
    if hostname and not is_loopback(hostname):
        return Ceiling(DEFAULT_REMOTE_CEILING_USD, f"default for a target that is not loopback: {hostname}; "
                                                   "set PP_SPEND_CEILING_USD to change it")  # fmt: skip
    return Ceiling(None, "loopback target such as the embedded simulator; set PP_SPEND_CEILING_USD to guard it")


def apply_ceiling(state: RunState, environment: Environment) -> Ceiling:
    """Decide the ceiling for the environment's current host and hand it to the run's spend."""
    ceiling = decide_ceiling(environment.host, get_settings())
    state.metrics.spend_ceiling_usd = ceiling.usd
    return ceiling


def check_spend(state: RunState, environment: Environment) -> None:
    """Stop the run once the running third-party spend passes the spend ceiling (called after each cost)."""
    metrics = state.metrics
    ceiling = metrics.spend_ceiling_usd
    if ceiling is not None and not metrics.spend_guard_tripped and metrics.third_party_spend_usd >= ceiling:
        metrics.spend_guard_tripped = True
        trip(state, environment, "spend-guard", f"third-party spend ${metrics.third_party_spend_usd:.2f} reached "
                                                f"PP_SPEND_CEILING_USD={ceiling:g}")  # fmt: skip


# ---- stopping ----------------------------------------------------------------------------------------------------
def trip(state: RunState, environment: Environment, reason: str, detail: str) -> None:
    """Stop the run because of a guard: record why (manifest), exit code 6, stop from outside the caller's greenlet."""
    if state.guard.tripped:
        return
    state.guard.tripped = True
    logger.error("guard: %s; stopping the run", detail)
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        runner.send_message(GUARD_MESSAGE, {"reason": reason, "detail": detail})
        return
    record_stop_reason(environment, reason, detail)
    if runner is None:  # an environment without a runner (a unit test's): nothing is running to stop
        return
    headless = bool(environment.parsed_options and environment.parsed_options.headless)
    # A guard usually fires inside a virtual user's greenlet, which stopping the runner kills: stop from another.
    gevent.spawn(runner.quit if headless else runner.stop)


def _refuse(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(int(ExitCode.BAD_INPUT))


def on_init(state: RunState, environment: Environment) -> None:
    """Locust's init (scenarios/run_state.py): settings, workload.toml, the target and the users, before any load."""
    try:
        settings = get_settings()
        get_workload()  # workload.toml is configuration too: a bad value is one line here, not a user's traceback
    except InputError as error:
        _refuse(str(error))
    if not environment.host and settings.target_url:
        environment.host = settings.target_url  # `locust -f locustfile.py` with PP_TARGET_URL and no --host
    try:
        preminted_tokens(settings)  # pre-minted JWTs are checked now, not when the first user needs one
    except ValueError as error:
        _refuse(str(error))
    options = environment.parsed_options
    try:
        check_target(environment.host, settings)
        if options is not None and not getattr(options, "worker", False):
            check_user_count(getattr(options, "num_users", None), settings)
    except TargetRefused as refusal:
        _refuse(str(refusal))
    apply_ceiling(state, environment)


def on_guard_message_from_worker(state: RunState, environment: Environment, msg, **_kwargs) -> None:
    """A worker's guard tripped: the master stops the whole run (Locust calls this with environment= and msg=)."""
    trip(state, environment, msg.data["reason"], msg.data["detail"])


def on_test_start(state: RunState, environment: Environment) -> None:
    """Decide, before Locust spawns any user, whether this test may send anything (the web UI form can change host
    and users after init). Runs on every process: the master (or local runner) and each worker."""
    guard = state.guard
    guard.discovery_jobs = 0
    guard.tripped = False
    runner = environment.runner
    settings = get_settings()
    refusal = None
    try:
        check_target(environment.host, settings)
        if not isinstance(runner, WorkerRunner):
            check_user_count(runner.target_user_count if runner else None, settings)
    except TargetRefused as why:
        refusal = str(why)
    if isinstance(runner, WorkerRunner):
        # The master's word for this test arrived before this spawn message; either refusal is enough.
        guard.refusal = guard.master_refusal or refusal
        if refusal is not None and guard.master_refusal is None:  # this worker's own settings refuse: say so
            trip(state, environment, "safety", f"a worker refused the target: {refusal}")
        return
    guard.refusal = refusal
    if isinstance(runner, MasterRunner):
        runner.send_message(REFUSAL_MESSAGE, {"refusal": refusal})  # sent before any spawn message of this test
    if refusal is None:
        return
    logger.error("error: %s", refusal)
    environment.process_exit_code = int(ExitCode.BAD_INPUT)
    if runner is not None:
        gevent.spawn(runner.quit if environment.parsed_options and environment.parsed_options.headless else runner.stop)


def on_refusal_from_master(state: RunState, environment: Environment, msg, **_kwargs) -> None:
    guard = state.guard
    guard.master_refusal = msg.data.get("refusal")
    if guard.master_refusal is not None:
        guard.refusal = guard.master_refusal  # also stops users already running from a previous spawn


def watch_user_count(state: RunState, environment: Environment) -> None:
    """Every few seconds (usage_monitor): the user count against PP_MAX_USERS (shapes and the web UI change it)."""
    runner = environment.runner
    if runner is None or isinstance(runner, WorkerRunner):
        return
    cap = get_settings().max_users
    if max(runner.user_count, runner.target_user_count) > cap:
        trip(state, environment, "safety", f"user cap exceeded: {runner.target_user_count} users > PP_MAX_USERS={cap}")
