"""Open workload model for Locust: arrivals at a rate, run by a bounded pool of users (``--arrival-rate``).

Locust's users are closed loops: a user sends its next request only after the last one answered, so when the
target stalls the load stops, and the stall is measured once instead of once for every request that real users
would have sent meanwhile (coordinated omission). Here the load is open: a scheduler starts arrivals (a session, or
one request: whatever one arrival of the user class does) at intended times from a rate plan
(analysis/openmodel.py: constant, step or ramp; even or Poisson spacing), whether or not earlier ones finished.

How it rides on Locust 2.47's own mechanisms:
- The pool is ordinary Locust users (``-u``, or ``--arrival-pool``), spawned and split across workers by Locust's
  dispatcher. Classes built on ``ArrivalUser`` have one task: wait until the scheduler hands them an arrival, run
  one of the session tasks of their other base class (chosen by its task weights), and wait again.
- The scheduler is a greenlet in every generator process (the local runner, or each worker). It starts when the
  pool has spawned: on the master's ``spawning_complete``, the master sends every worker the custom message
  ``arrivals_start`` with its slot, the number of slots, the stream's seed and the classes' weights; each worker
  takes every n-th arrival of the same seeded stream, so the workers split the rate exactly. When the test stops,
  the master first sends ``arrivals_stop`` with the moment every worker's share ends.
- An arrival is handed to an idle user of the class drawn for it (by the classes' weights, from the same seeded
  stream); when every user of that class is busy it is counted ``dropped``. A user that wakes more than
  ``--arrival-late-ms`` after the arrival's intended start counts it ``late``.
- Every request an arrival sends carries, in its Locust request context, how late the arrival started
  (``ARRIVAL_LAG_KEY``). This module keeps a second Locust ``RequestStats`` of service time + that lag: the latency
  from the intended start. Workers ship it (and their arrival counts) with every stats report (``report_to_master``);
  the master merges it as Locust merges its own stats, and writes ``locust_corrected.json`` (locust.json's form) and
  the manifest's ``arrivals`` section. A request outside any arrival (a pool user's sign-in) is recorded with lag 0,
  so the corrected file counts exactly what locust.json counts.
- A step or ramp plan ends the run when it ends (stop reason ``shape``); a constant rate lasts ``--run-time``.
  Arrivals in flight then finish (``--stop-timeout``, 30 s unless given): the ones a stall holds longest would
  otherwise be the ones lost; idle pool users stop at once.

Nothing here knows ProspectPro: scenarios/arrivals.py says which sessions arrive.
"""

from __future__ import annotations

import json
import logging
import random
import sys
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeGuard, overload

import gevent
from gevent.event import AsyncResult
from locust import User, events, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner
from locust.stats import RequestStats, StatsEntry, StatsEntryDict
from locust.user.task import LOCUST_STATE_RUNNING, LOCUST_STATE_STOPPING, LOCUST_STATE_WAITING

from analysis.argtypes import non_negative_float, positive_float, positive_int
from analysis.exit_codes import ExitCode
from analysis.openmodel import (ARRIVAL_LAG_KEY, CORRECTED_JSON, DEFAULT_TOLERANCE, MANIFEST_SECTION, RATE_SHAPES,
                                SPACINGS, RatePlan, arrival_offsets)
from harness.results import record_stop_reason, register_artifact_writer, register_manifest_section

logger = logging.getLogger(__name__)

START_MESSAGE = "arrivals_start"
STOP_MESSAGE = "arrivals_stop"
REPORT_KEY = "prospectpro_arrivals"  # a worker's counts and corrected stats in its report to the master
DEFAULT_LATE_MS = 50.0
DEFAULT_STOP_TIMEOUT_S = 30.0  # --stop-timeout of an open-model run unless one is given
WORKER_START_LEAD_S = 2.0  # the master's start order reaches every worker well within this (same host or LAN)
MAX_START_SKEW_S = 1.0  # a process ready later than this past the common start begins on its own clock
POOL_READY_TIMEOUT_S = 30.0  # a pool that has not signed in by then starts anyway (its arrivals drop: not valid)


# ---- options ------------------------------------------------------------------------------------------------------
@events.init_command_line_parser.add_listener
def add_arrival_options(parser, **_kwargs) -> None:
    plan = RatePlan()
    group = parser.add_argument_group("open workload model (harness/arrivals.py)")
    group.add_argument("--arrival-rate", type=positive_float, default=None, env_var="LOCUST_ARRIVAL_RATE",
                       help="open model: arrivals per second (a session or one request each, per the user class); "
                            "the constant rate, the step shape's increment or the ramp's peak")
    group.add_argument("--arrival-shape", choices=RATE_SHAPES, default="constant",
                       help="constant (for --run-time), step or ramp (each ends the run when it ends)")
    group.add_argument("--arrival-steps", type=positive_int, default=plan.steps,
                       help=f"step shape: number of steps, rate 1x, 2x, ... (default {plan.steps})")
    group.add_argument("--arrival-step-seconds", type=positive_float, default=plan.step_seconds,
                       help=f"step shape: length of each step (default {plan.step_seconds:g})")
    group.add_argument("--arrival-ramp-seconds", type=positive_float, default=plan.ramp_seconds,
                       help=f"ramp shape: time from 0 to the rate (default {plan.ramp_seconds:g})")
    group.add_argument("--arrival-hold-seconds", type=non_negative_float, default=plan.hold_seconds,
                       help=f"ramp shape: time held at the rate (default {plan.hold_seconds:g})")
    group.add_argument("--arrival-spacing", choices=SPACINGS, default="poisson",
                       help="intended start times: poisson (random, as independent people arrive) or even")
    group.add_argument("--arrival-pool", type=positive_int, default=None,
                       help="users that run arrivals (default: -u); an arrival finding all busy is dropped")
    group.add_argument("--arrival-seed", type=int, default=None, help="seed of the arrival stream (default: random)")
    group.add_argument("--arrival-late-ms", type=non_negative_float, default=DEFAULT_LATE_MS,
                       help=f"an arrival starting later than this is counted late (default {DEFAULT_LATE_MS:g})")
    group.add_argument("--arrival-tolerance", type=non_negative_float, default=DEFAULT_TOLERANCE,
                       help="share of due arrivals that may be dropped or not sent before the run is not valid "
                            f"(default {DEFAULT_TOLERANCE:g})")


def plan_from_options(options: Any) -> RatePlan | None:
    """The rate plan the options ask for, or None for a closed-model run."""
    rate = _number(getattr(options, "arrival_rate", None))
    if not rate:
        return None
    return RatePlan(shape=getattr(options, "arrival_shape", None) or "constant", rate=rate,
                    step_seconds=_number(getattr(options, "arrival_step_seconds", None)) or RatePlan.step_seconds,
                    steps=int(_number(getattr(options, "arrival_steps", None)) or RatePlan.steps),
                    ramp_seconds=_number(getattr(options, "arrival_ramp_seconds", None)) or RatePlan.ramp_seconds,
                    hold_seconds=_number(getattr(options, "arrival_hold_seconds", None), RatePlan.hold_seconds))  # fmt: skip


@overload
def _number(value: Any, default: float) -> float: ...
@overload
def _number(value: Any, default: None = None) -> float | None: ...
def _number(value: Any, default: float | None = None) -> float | None:
    # The web UI hands custom options back as strings; the command line and locust.conf as parsed numbers.
    return default if value in (None, "") else float(value)


# ---- the pool's users -------------------------------------------------------------------------------------------
@dataclass
class Arrival:
    number: int
    intended: float  # time.perf_counter() at which it should start


class ArrivalUser(User):
    """Base of users that run arrivals. Subclass it together with a closed-model user class:

        class ProspectorArrivalUser(ArrivalUser, ProspectorUser): ...

    The subclass's only Locust task waits for an arrival; the closed class's tasks become its session tasks, one
    of which (by task weight) runs per arrival. Override ``on_arrival`` to run something else.
    """

    abstract = True
    in_default_mix = True  # run with --arrival-rate when no user class is named
    session_tasks: list = []
    _arrival_lag_ms: float | None = None

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        # Locust's metaclass gathered every base's tasks into cls.tasks: keep them as the session's, run only ours.
        arrive = ArrivalUser._arrive
        cls.session_tasks = [t for t in cls.tasks if t is not arrive] or list(getattr(cls, "session_tasks", []))
        cls.tasks = [arrive]

    def wait_time(self) -> float:
        return 0.0  # the pause between arrivals is the wait for the next one

    @task
    def _arrive(self) -> None:
        pool = pool_for(self.environment)
        if pool is None:
            gevent.sleep(1.0)  # not an open-model run (or not started yet): nothing to do
            return
        # Idle, a user is "waiting" to Locust (as between tasks): a stop ends it at once. Running an arrival it is
        # "running": a stop lets the arrival finish, within the stop timeout.
        if self._state == LOCUST_STATE_STOPPING:
            raise StopUser()
        self._state = LOCUST_STATE_WAITING
        arrival = pool.wait_for_arrival(self)
        self._state = LOCUST_STATE_RUNNING
        lag_ms = max(0.0, time.perf_counter() - arrival.intended) * 1000
        pool.note_start(lag_ms)
        self._arrival_lag_ms = lag_ms
        try:
            self.on_arrival()
        finally:
            self._arrival_lag_ms = None

    def on_arrival(self) -> None:
        if not self.session_tasks:
            raise NotImplementedError(f"{type(self).__name__} has no session task to run per arrival")
        random.choice(self.session_tasks)(self)

    def context(self) -> dict:
        context = super().context()
        if self._arrival_lag_ms is not None:
            context = {**context, ARRIVAL_LAG_KEY: self._arrival_lag_ms}
        return context


def is_arrival_class(user_class: type) -> TypeGuard[type[ArrivalUser]]:
    return isinstance(user_class, type) and issubclass(user_class, ArrivalUser)


# ---- one process's scheduler and pool ----------------------------------------------------------------------------
@dataclass
class Counts:
    due: int = 0
    started: int = 0
    dropped: int = 0
    missed: int = 0
    late: int = 0
    max_lag_ms: float = 0.0
    dropped_by_class: dict[str, int] = field(default_factory=dict)  # which class's users were all busy

    def add(self, other: dict) -> None:
        for name in ("due", "started", "dropped", "missed", "late"):
            setattr(self, name, getattr(self, name) + int(other.get(name, 0)))
        self.max_lag_ms = max(self.max_lag_ms, float(other.get("max_lag_ms", 0.0)))
        for name, count in (other.get("dropped_by_class") or {}).items():
            self.dropped_by_class[name] = self.dropped_by_class.get(name, 0) + int(count)

    def as_dict(self) -> dict:
        return {"due": self.due, "started": self.started, "dropped": self.dropped, "missed": self.missed,
                "late": self.late, "max_lag_ms": round(self.max_lag_ms, 1),
                "dropped_by_class": dict(sorted(self.dropped_by_class.items()))}  # fmt: skip


@dataclass
class StartOrder:
    """What the master tells each generator process (or the local runner tells itself) when arrivals begin."""

    plan: RatePlan
    spacing: str
    seed: int
    slot: int
    of: int
    weights: dict[str, int]  # arrival class name -> weight
    late_ms: float
    start_at: float = 0.0  # epoch seconds: no process begins before (the pools sign in meanwhile)

    def as_message(self) -> dict:
        return {"plan": self.plan.as_dict(), "spacing": self.spacing, "seed": self.seed, "slot": self.slot,
                "of": self.of, "weights": self.weights, "late_ms": self.late_ms, "start_at": self.start_at}  # fmt: skip

    @classmethod
    def from_message(cls, data: dict) -> StartOrder:
        return cls(plan=RatePlan(**data["plan"]), spacing=data["spacing"], seed=int(data["seed"]), slot=int(data["slot"]),
                   of=int(data["of"]), weights=dict(data["weights"]), late_ms=float(data["late_ms"]),
                   start_at=float(data.get("start_at", 0.0)))  # fmt: skip


class ArrivalPool:
    """The idle users of one process, by class, and the scheduler greenlet that hands them arrivals."""

    def __init__(self, order: StartOrder):
        self.order = order
        self.counts = Counts()
        self._idle: dict[str, deque[AsyncResult]] = {}
        self._greenlet: gevent.Greenlet | None = None
        self._started_at: float | None = None
        self._stopped_at: float | None = None
        self._pending_offset: float | None = None
        self._recent: deque[tuple[float, str, str]] = deque(maxlen=10_000)  # (offset, outcome, class), latest first
        self.started_epoch: float | None = None  # wall clock of arrival 0's intended start
        self._stream: Iterator[tuple[int, float]] | None = None

    # users
    def wait_for_arrival(self, user: User) -> Arrival:
        waiter = AsyncResult()
        idle = self._idle.setdefault(type(user).__name__, deque())
        idle.append(waiter)
        try:
            return waiter.get()
        finally:
            if not waiter.ready():  # killed while idle (the test stopped): no longer available
                try:
                    idle.remove(waiter)
                except ValueError:
                    pass

    def note_start(self, lag_ms: float) -> None:
        if lag_ms > self.order.late_ms:
            self.counts.late += 1
        self.counts.max_lag_ms = max(self.counts.max_lag_ms, lag_ms)

    # the scheduler
    def start(self, pool_size: Callable[[], int] = lambda: 0, ready_timeout_s: float = POOL_READY_TIMEOUT_S) -> None:
        """Begin once ``pool_size()`` users wait for arrivals (they sign in first), or after ``ready_timeout_s``."""
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._run, pool_size, ready_timeout_s)

    def idle_users(self) -> int:
        return sum(len(waiters) for waiters in self._idle.values())

    def _run(self, pool_size: Callable[[], int], ready_timeout_s: float) -> None:
        give_up = time.perf_counter() + ready_timeout_s
        while self.idle_users() < pool_size() and time.perf_counter() < give_up:
            gevent.sleep(0.05)
        if self.idle_users() < pool_size():
            logger.warning("arrivals: %d of %d pool users ready for arrivals after %g s (the rest still starting, "
                           "e.g. signing in); starting anyway, arrivals for busy classes will drop",
                           self.idle_users(), pool_size(), ready_timeout_s)  # fmt: skip
        # Every process of a run begins at the same moment (the master's start_at), so that their shares interleave.
        gevent.sleep(max(0.0, self.order.start_at - time.time()))
        # Intended times count from start_at itself, not from when this greenlet woke (late, on a busy machine):
        # the workers' shares then interleave exactly and a late wake shows as lag. A pool that signed in much
        # later than start_at begins on its own clock instead (its share then ends early; logged).
        now_epoch = time.time()
        origin = self.order.start_at if 0 < now_epoch - self.order.start_at <= MAX_START_SKEW_S else now_epoch
        if origin == now_epoch and self.order.start_at and now_epoch - self.order.start_at > MAX_START_SKEW_S:
            logger.warning("arrivals: this process's pool was ready %.1f s after the common start; its share "
                           "begins late", now_epoch - self.order.start_at)  # fmt: skip
        self._started_at = time.perf_counter() - (now_epoch - origin)
        self.started_epoch = origin
        order = self.order
        names = sorted(order.weights)
        weights = [order.weights[name] for name in names]
        class_rng = random.Random(f"{order.seed}-classes")
        next_class = 0  # class draws happen for every arrival of the stream, so that all processes agree
        self._stream = stream = arrival_offsets(order.plan, order.spacing, order.seed, order.slot, order.of)
        for number, offset in stream:
            while next_class <= number:
                chosen = class_rng.choices(names, weights)[0] if len(names) > 1 else names[0]
                next_class += 1
            due = self._started_at + offset
            delay = due - time.perf_counter()
            if delay > 0:
                self._pending_offset = offset  # taken from the stream, not yet due: stop() must still see it
                gevent.sleep(delay)
                self._pending_offset = None
            self.counts.due += 1
            self._recent.append((offset, self._dispatch(Arrival(number, due), chosen), chosen))

    def _dispatch(self, arrival: Arrival, class_name: str) -> str:
        idle = self._idle.get(class_name)
        while idle:
            waiter = idle.popleft()
            if not waiter.ready():
                self.counts.started += 1
                waiter.set(arrival)
                return "started"
        self.counts.dropped += 1
        self.counts.dropped_by_class[class_name] = self.counts.dropped_by_class.get(class_name, 0) + 1
        return "dropped"

    def stop(self, end_epoch: float | None = None) -> None:
        """Stop scheduling at ``end_epoch`` (the master's, so that every worker ends its share at the same moment;
        default now). Arrivals due by then but never handed out count as ``missed``; any handed out after it (the
        master's word took a moment to arrive) are taken back out of the counts, as if never due."""
        if self._greenlet is None:
            return
        self._greenlet.kill(block=True)
        self._greenlet = None
        if self._started_at is None:
            return
        self._stopped_at = time.perf_counter()
        elapsed = self._stopped_at - self._started_at
        if end_epoch is not None and self.started_epoch is not None:
            elapsed = min(elapsed, max(0.0, end_epoch - self.started_epoch))
            self._stopped_at = self._started_at + elapsed
        while self._recent and self._recent[-1][0] > elapsed:
            _offset, outcome, class_name = self._recent.pop()
            setattr(self.counts, outcome, getattr(self.counts, outcome) - 1)
            if outcome == "dropped":
                self.counts.dropped_by_class[class_name] -= 1
            self.counts.due -= 1
        if self._pending_offset is not None and self._pending_offset <= elapsed:
            self.counts.missed += 1
            self.counts.due += 1
        self._pending_offset = None
        if self._stream is not None:
            for _number, offset in self._stream:
                if offset > elapsed:
                    break
                self.counts.missed += 1
                self.counts.due += 1
        self._stream = None

    @property
    def active_s(self) -> float:
        """Seconds this process has been sending arrivals (until it stopped)."""
        if self._started_at is None:
            return 0.0
        return (self._stopped_at or time.perf_counter()) - self._started_at

    def report(self) -> dict:
        return {**self.counts.as_dict(), "active_s": round(self.active_s, 3), "started_epoch": self.started_epoch}


# ---- per-environment state ---------------------------------------------------------------------------------------
@dataclass
class _OpenRun:
    plan: RatePlan
    spacing: str
    seed: int
    pool_users: int
    late_ms: float
    tolerance: float
    weights: dict[str, int] = field(default_factory=dict)
    pool: ArrivalPool | None = None  # this process's (local runner or worker)
    corrected: RequestStats = field(default_factory=RequestStats)
    started_at: float | None = None  # master/local: when arrivals were ordered to begin (perf_counter)
    worker_counts: dict[str, dict] = field(default_factory=dict)  # master: latest cumulative counts per worker
    worker_slots: dict[str, int] = field(default_factory=dict)


_runs: weakref.WeakKeyDictionary[Environment, _OpenRun] = weakref.WeakKeyDictionary()


def pool_for(environment: Environment) -> ArrivalPool | None:
    run = _runs.get(environment)
    return run.pool if run is not None else None


def open_run_of(environment: Environment) -> _OpenRun | None:
    return _runs.get(environment)


def _exit_bad_input(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(int(ExitCode.BAD_INPUT))


@events.init.add_listener
def _on_init(environment: Environment, **_kwargs) -> None:
    runner = environment.runner
    if runner is None:
        return
    if isinstance(runner, WorkerRunner):
        environment.events.request.add_listener(lambda **kw: _on_request(environment, **kw))
        environment.events.test_start.add_listener(lambda **kw: _worker_test_start(environment))
        runner.register_message(START_MESSAGE, _on_start_message)
        runner.register_message(STOP_MESSAGE, _on_stop_message)
        environment.events.report_to_master.add_listener(lambda client_id, data, **kw: _report(environment, data))
        return  # a worker learns the plan from the master's options with its first spawn message
    options = environment.parsed_options
    plan = plan_from_options(options)
    named = bool(getattr(options, "user_classes", None))
    arrival_classes = [c for c in environment.user_classes if is_arrival_class(c) and (named or c.in_default_mix)]
    if plan is not None and not named and not arrival_classes:
        available = getattr(environment, "available_user_classes", None) or {}
        arrival_classes = [c for c in available.values() if is_arrival_class(c) and c.in_default_mix]
    if plan is None or options is None:  # (no options, no plan)
        if arrival_classes and named:
            names = ", ".join(sorted(c.__name__ for c in arrival_classes))
            _exit_bad_input(f"{names} run(s) arrivals: give --arrival-rate (or name a closed-model user class)")
        # A closed run never spawns arrival users (they would idle).
        environment.user_classes[:] = [c for c in environment.user_classes if not is_arrival_class(c)]
        return
    if not arrival_classes:
        _exit_bad_input("--arrival-rate needs a user class built on harness.arrivals.ArrivalUser "
                        "(e.g. ProspectorArrivalUser); name one")  # fmt: skip
    environment.user_classes[:] = arrival_classes
    pool = int(_number(getattr(options, "arrival_pool", None)) or getattr(options, "num_users", None) or 0)
    if pool < 1:
        _exit_bad_input("--arrival-rate needs a pool of users: give -u or --arrival-pool")
    options.num_users = pool  # Locust spawns the pool; the rate, not the user count, is the load
    if not getattr(options, "spawn_rate", None) or options.spawn_rate < pool / 10:
        options.spawn_rate = pool / 10  # the pool up within about 10 s: arrivals begin once it is
    if plan.duration_s is not None:
        if getattr(options, "until_decided", False):
            _exit_bad_input(f"--until-decided does not go with a {plan.shape} arrival plan, which sets the run's "
                            f"duration itself; drop one")  # fmt: skip
        options.run_time = None  # a step or ramp plan ends the run itself, after the pool spawned
    if not environment.stop_timeout:
        # Arrivals in flight when the run ends are the ones a stall holds longest: let them finish, or the slowest
        # requests would be the ones lost. Workers get it from the master with their spawn message.
        environment.stop_timeout = DEFAULT_STOP_TIMEOUT_S
    seed = getattr(options, "arrival_seed", None)
    _runs[environment] = _OpenRun(
        plan=plan, spacing=getattr(options, "arrival_spacing", None) or "poisson",
        seed=int(seed) if seed is not None else random.randrange(2**31), pool_users=pool,
        late_ms=float(_number(getattr(options, "arrival_late_ms", None), DEFAULT_LATE_MS)),
        tolerance=float(_number(getattr(options, "arrival_tolerance", None), DEFAULT_TOLERANCE)))  # fmt: skip
    environment.events.request.add_listener(lambda **kw: _on_request(environment, **kw))
    environment.events.spawning_complete.add_listener(lambda user_count, **kw: _begin(environment))
    environment.events.test_stop.add_listener(lambda **kw: _end(environment))
    if isinstance(runner, MasterRunner):
        environment.events.test_stopping.add_listener(lambda **kw: _order_stop(environment))
        environment.events.worker_report.add_listener(lambda client_id, data, **kw: _merge(environment, client_id, data))


def _begin(environment: Environment) -> None:
    """Master or local runner, once the pool has spawned: start the arrivals (once per run)."""
    run = _runs.get(environment)
    if run is None or run.started_at is not None:
        return
    run.weights = {c.__name__: max(1, int(getattr(c, "weight", 1) or 1)) for c in environment.user_classes}
    run.started_at = time.perf_counter()
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        workers = sorted(runner.clients.ready + runner.clients.running + runner.clients.spawning, key=lambda w: w.id)
        start_at = time.time() + WORKER_START_LEAD_S
        for slot, worker in enumerate(workers):
            run.worker_slots[worker.id] = slot
            order = StartOrder(run.plan, run.spacing, run.seed, slot, len(workers), run.weights, run.late_ms, start_at)
            runner.send_message(START_MESSAGE, order.as_message(), client_id=worker.id)
    else:
        run.pool = ArrivalPool(StartOrder(run.plan, run.spacing, run.seed, 0, 1, run.weights, run.late_ms))
        run.pool.start(lambda: _user_count(environment))
    logger.info("arrivals: %s, %s spacing, pool %d users, seed %d", run.plan.describe(), run.spacing,
                run.pool_users, run.seed)  # fmt: skip
    if run.plan.duration_s is not None:
        gevent.spawn(_end_with_plan, environment, run)


def _end_with_plan(environment: Environment, run: _OpenRun) -> None:
    """A step or ramp plan ends the run once every process has played it to its end (each began when its pool
    had signed in; workers say how far they are in their reports, every few seconds)."""
    duration_s = run.plan.duration_s
    if duration_s is None:  # an open-ended plan: the run's own end stops it
        return
    give_up = time.perf_counter() + duration_s + POOL_READY_TIMEOUT_S + 10
    while time.perf_counter() < give_up:
        gevent.sleep(0.2)
        if run.pool is not None:
            actives = [run.pool.active_s]
        else:
            actives = [float(c.get("active_s", 0.0)) for c in run.worker_counts.values()]
            if len(actives) < len(run.worker_slots):
                continue
        if actives and min(actives) >= duration_s:
            break
    record_stop_reason(environment, "shape", f"the arrival-rate plan ended ({run.plan.describe()})")
    if environment.runner is not None:
        environment.runner.quit()


def _end(environment: Environment) -> None:
    run = _runs.get(environment)
    if run is None:
        return
    if run.pool is not None:
        run.pool.stop()


def _worker_test_start(environment: Environment) -> None:
    """Worker: the master's options arrived with the first spawn message. In an open-model run the corrected stats
    start now, before the pool signs in, so that they count every request locust.json counts."""
    plan = plan_from_options(environment.parsed_options)
    if plan is not None and environment not in _runs:
        _runs[environment] = _OpenRun(plan=plan, spacing="", seed=0, pool_users=0, late_ms=DEFAULT_LATE_MS,
                                      tolerance=DEFAULT_TOLERANCE)  # fmt: skip
        environment.events.test_stop.add_listener(lambda **kw: _end(environment))


def _order_stop(environment: Environment) -> None:
    """Master, before Locust tells the workers to stop: the moment every worker's share ends (sent first, so it
    arrives first)."""
    runner = environment.runner
    if not isinstance(runner, MasterRunner):  # (listened to on a master only)
        return
    end_epoch = time.time()
    for worker in runner.clients.all:
        runner.send_message(STOP_MESSAGE, {"end_epoch": end_epoch}, client_id=worker.id)


def _on_stop_message(environment: Environment, msg, **_kwargs) -> None:
    run = _runs.get(environment)
    if run is not None and run.pool is not None:
        run.pool.stop(float(msg.data["end_epoch"]))


def _on_start_message(environment: Environment, msg, **_kwargs) -> None:
    """Worker: the master's order to start this process's share of the arrivals."""
    order = StartOrder.from_message(msg.data)
    _worker_test_start(environment)
    run = _runs.get(environment)
    if run is None:  # the master runs an arrival plan the worker's options did not show: follow the master
        run = _runs[environment] = _OpenRun(plan=order.plan, spacing=order.spacing, seed=order.seed, pool_users=0,
                                            late_ms=order.late_ms, tolerance=DEFAULT_TOLERANCE)  # fmt: skip
        environment.events.test_stop.add_listener(lambda **kw: _end(environment))
    if run.pool is not None:
        run.pool.stop()
    run.pool = ArrivalPool(order)
    run.pool.start(lambda: _user_count(environment))


def _user_count(environment: Environment) -> int:
    return environment.runner.user_count if environment.runner is not None else 0


# ---- corrected latency ---------------------------------------------------------------------------------------------
def _on_request(environment: Environment, request_type, name, response_time, response_length=0, exception=None,
                context=None, **_kwargs) -> None:  # fmt: skip
    run = _runs.get(environment)
    if run is None:
        return
    stats = run.corrected
    if response_time is not None:
        response_time += (context or {}).get(ARRIVAL_LAG_KEY, 0.0)
    stats.log_request(request_type, name, response_time, response_length or 0)  # None: counted, not timed
    if exception is not None:
        stats.log_error(request_type, name, exception)


def _report(environment: Environment, data: dict) -> None:
    """Worker: ship the corrected stats since the last report (deltas) and the cumulative arrival counts."""
    run = _runs.get(environment)
    if run is None:
        return
    data[REPORT_KEY] = {
        "stats": run.corrected.serialize_stats(),  # resets our own entries: deltas, as Locust ships its stats
        "counts": run.pool.report() if run.pool is not None else None,
        "slot": run.pool.order.slot if run.pool is not None else None,
    }
    run.corrected.errors = {}  # failures are counted in the entries; the messages are Locust's to keep


def _merge(environment: Environment, client_id: str, data: dict) -> None:
    """Master: add a worker's corrected deltas, keep its latest arrival counts."""
    run = _runs.get(environment)
    shipped = data.get(REPORT_KEY)
    if run is None or not shipped:
        return
    for entry_data in shipped["stats"]:
        entry = StatsEntry.unserialize(entry_data, run.corrected)
        run.corrected.get(entry.name, entry.method).extend(entry)
    if shipped.get("counts") is not None:
        run.worker_counts[client_id] = shipped["counts"]


def corrected_entries(environment: Environment) -> list[StatsEntryDict] | None:
    """The corrected stats as ``StatsEntry.serialize()`` dicts (locust.json's form), or None (closed run)."""
    run = _runs.get(environment)
    if run is None:
        return None
    return [entry.serialize() for entry in run.corrected.entries.values() if entry.num_requests or entry.num_failures]


@register_artifact_writer
def write_corrected_json(environment: Environment, results_dir: Path) -> None:
    entries = corrected_entries(environment)
    if entries is None:
        return
    (Path(results_dir) / CORRECTED_JSON).write_text(json.dumps(entries, indent=1) + "\n", encoding="utf-8")


@register_manifest_section(MANIFEST_SECTION)
def arrival_summary(environment: Environment) -> dict | None:
    """The manifest's ``arrivals`` section (format: analysis.openmodel.ArrivalSummary), or None (closed run)."""
    run = _runs.get(environment)
    if run is None or isinstance(environment.runner, WorkerRunner):
        return None
    reports = [run.pool.report()] if run.pool is not None else []
    workers: dict[str, dict] = {}
    for client_id, counts in run.worker_counts.items():
        reports.append(counts)
        workers[str(run.worker_slots.get(client_id, client_id))] = counts
    totals = Counts()
    for counts in reports:
        totals.add(counts)
    epochs = [counts["started_epoch"] for counts in reports if counts.get("started_epoch") is not None]
    # Each process begins when its own pool has signed in: the run's arrival time is their mean active time.
    actives = [float(counts.get("active_s", 0.0)) for counts in reports]
    duration = sum(actives) / len(actives) if actives else 0.0
    if run.plan.duration_s is not None:
        duration = min(duration, run.plan.duration_s)
    target_rate = run.plan.cumulative(duration) / duration if duration > 0 else 0.0
    return {
        "plan": run.plan.as_dict(), "spacing": run.spacing, "seed": run.seed, "pool_users": run.pool_users,
        "started_epoch": min(epochs) if epochs else None, "duration_s": round(duration, 3),
        "target_rate": round(target_rate, 4),
        **{k: v for k, v in totals.as_dict().items()}, "late_ms": run.late_ms,
        "achieved_rate": round(totals.started / duration, 4) if duration > 0 else 0.0,
        "tolerance": run.tolerance, "workers": dict(sorted(workers.items())),
    }  # fmt: skip


def is_open_model(environment: Environment) -> bool:
    return environment in _runs and not isinstance(environment.runner, WorkerRunner)

