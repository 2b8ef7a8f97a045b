"""GoTrue's per-IP limits as a budget that the whole run shares, however many Locust processes send the sign-ins.

GoTrue counts password sign-ins (30 per 5 minutes) and token refreshes (150 per 5 minutes) per client IP address
(reference §2.2, ProspectPro's app/backend/config.toml; a hosted project's defaults are the same order). Every
Locust worker on one host, or behind one NAT, signs in from the same address, so a budget kept per process is
multiplied by the number of workers and GoTrue answers 429 (measured: `--processes 2` got 15 of 53 sign-ins
refused). So the budget belongs to the egress address, and one process keeps it: the master (or the only process
of a local run), as a ``PermitAuthority``:

* workers are grouped by egress address: all of them share one (``--egress-ips shared``, the default), each worker
  host has its own (``per-host``: Locust's worker ids start with the host name), or N addresses that workers are
  spread over as they connect (``--egress-ips N``; a worker keeps its address for the run);
* a sliding window per group and kind holds every permit granted, so a group never gets more than the limit in any
  window, whoever asked and whenever workers joined or left (a lost worker's permits stay in the window until they
  age out, as they do in GoTrue's);
* within a group each worker has an equal quota, so no worker starves another; the master sends each worker its
  share (quotas and how many sessions to mint) when it starts a test and whenever a worker joins or leaves;
* a worker asks the master for each permit (a round trip of a few milliseconds, once per sign-in: sign-ins are
  rare, and this keeps the group's window exact); refreshes a session needs (expiry, a 401) always go, and are
  recorded in the window so that measured refreshes (AuthUser) leave room for them.

A 429 from GoTrue's token endpoint is then not ProspectPro's fault but a sign that something else signs in from the
same address, or that the workers have more addresses than ``--egress-ips`` says: scenarios/base.py records it in
its own failure category, ``sign-in budget exceeded``, with that hint.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import gevent
from gevent.event import AsyncResult, Event
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, Runner, WorkerRunner

from harness.health import sent_requests
from scenarios import names
from scenarios.sessions import (REFRESH_BUDGET, REFRESH_PERMITS, SIGN_IN_BUDGET, SIGN_IN_PERMITS, SIGN_IN_WINDOW_S,
                                RateBudget)  # fmt: skip

logger = logging.getLogger(__name__)

SIGN_IN = "sign_in"
REFRESH = "refresh"
# Usable permits per egress address and window: GoTrue's limit less a little spare, because our window and GoTrue's
# do not start at the same instant (sign-ins: 28 of 30; refreshes: 140 of 150).
USABLE = {SIGN_IN: SIGN_IN_PERMITS, REFRESH: REFRESH_PERMITS}
WINDOW_S = SIGN_IN_WINDOW_S
POOL_FRACTION = SIGN_IN_BUDGET / SIGN_IN_PERMITS  # sessions minted per permit of quota; the rest is headroom
MEASURED_REFRESH_FRACTION = REFRESH_BUDGET / REFRESH_PERMITS  # the rest is kept for refreshes sessions need
PERMIT_TIMEOUT_S = 10.0  # a worker that hears nothing from the master signs nothing in
SHARE_TIMEOUT_S = 15.0  # how long a worker's first sign-in waits for its share
WATCH_INTERVAL_S = 1.0  # how often the master looks for workers that joined or left

SHARE_MESSAGE = "prospectpro_auth_share"  # master -> worker: Share as a dict
PERMIT_MESSAGE = "prospectpro_auth_permit"  # worker -> master: {"id", "kind", "forced"}
PERMIT_REPLY = "prospectpro_auth_permit_reply"  # master -> worker: {"id", "granted"}
LOCAL = "local"


@dataclass(frozen=True)
class Share:
    """What one process may use of its egress address's budget."""

    group: str  # the egress address's label ("shared", a host name, "ip-2")
    group_size: int  # processes sharing that address
    sign_ins: int  # quota of sign-ins per window
    refreshes: int  # quota of measured refreshes per window
    pool: int  # sessions this process mints (the rest of its sign-in quota is headroom: AuthUser, retries)

    def describe(self) -> str:
        return (f"sign-in budget: {self.sign_ins} sign-ins and {self.refreshes} measured refreshes per "
                f"{WINDOW_S:g} s, {self.pool} sessions (egress {self.group}, shared by {self.group_size} "
                f"process{'es' if self.group_size != 1 else ''})")  # fmt: skip


def parse_egress(value: str) -> str | int:
    """``--egress-ips``: "shared", "per-host" or a whole number of addresses (1 is the same as shared)."""
    text = str(value).strip().lower()
    if text in ("shared", "per-host"):
        return text
    try:
        number = int(text)
    except ValueError:
        raise ValueError(f"--egress-ips must be 'shared', 'per-host' or a number of addresses, not {value!r}") from None
    if number < 1:
        raise ValueError(f"--egress-ips must be at least 1, not {number}")
    return "shared" if number == 1 else number


class PermitAuthority:
    """The run's budget, kept by one process: egress groups, a window per group and kind, a quota per worker."""

    def __init__(self, egress: str | int = "shared", clock: Callable[[], float] = time.monotonic):
        self.egress = egress
        self._clock = clock
        self._group_of: dict[str, str] = {}  # worker id -> group label (kept for the worker's life)
        self._windows: dict[tuple[str, str], RateBudget] = {}  # (group, kind) -> the address's window
        self._quotas: dict[tuple[str, str], RateBudget] = {}  # (worker, kind) -> that worker's own window
        self.shares: dict[str, Share] = {}
        self.granted = {SIGN_IN: 0, REFRESH: 0}
        self._spent_before: dict[str, list[float]] = {}  # ages of permits used before the run (the pre-flight's)
        self.denied = {SIGN_IN: 0, REFRESH: 0}
        self.set_workers([LOCAL])

    def _assign(self, worker: str, present: list[str]) -> str:
        if self.egress == "shared":
            return "shared"
        if self.egress == "per-host":
            return worker.rsplit("_", 1)[0] if "_" in worker else worker  # Locust: "<hostname>_<uuid hex>"
        counts = {f"ip-{n + 1}": 0 for n in range(int(self.egress))}
        for other in present:
            if other in self._group_of and self._group_of[other] in counts:
                counts[self._group_of[other]] += 1
        return min(counts, key=lambda label: (counts[label], label))  # the least crowded address

    def set_workers(self, workers: Iterable[str]) -> dict[str, Share]:
        """The processes sending load now; returns every one's share (recomputed: joins shrink, leaves grow)."""
        present = sorted(workers)
        for worker in present:
            if worker not in self._group_of:
                self._group_of[worker] = self._assign(worker, [w for w in present if w in self._group_of])
        members: dict[str, list[str]] = {}
        for worker in present:
            members.setdefault(self._group_of[worker], []).append(worker)
        self.shares = {}
        for group, group_members in members.items():
            size = len(group_members)
            for kind in (SIGN_IN, REFRESH):
                if (group, kind) not in self._windows:
                    window = self._windows[(group, kind)] = RateBudget(USABLE[kind], WINDOW_S, clock=self._clock)
                    for age in self._spent_before.get(kind, []):
                        window.record(age)
            sign_ins = max(1, USABLE[SIGN_IN] // size)
            refreshes = max(1, int(USABLE[REFRESH] * MEASURED_REFRESH_FRACTION) // size)
            share = Share(group, size, sign_ins, refreshes, max(1, int(sign_ins * POOL_FRACTION)))
            for worker in group_members:
                self.shares[worker] = share
                for kind, quota in ((SIGN_IN, sign_ins), (REFRESH, USABLE[REFRESH] // size)):
                    window = self._quotas.setdefault((worker, kind), RateBudget(quota, WINDOW_S, clock=self._clock))
                    window.limit = quota
        return dict(self.shares)

    def spent_before(self, kind: str, ages_s: Iterable[float]) -> None:
        """Permits this address used before the run (seconds ago each): they stay in every group's window until they
        age out, as they do in GoTrue's. All groups, because which address made them is not known."""
        ages = [age for age in ages_s if 0 <= age < WINDOW_S]
        for (_group, window_kind), window in self._windows.items():
            if window_kind == kind:
                for age in ages:
                    window.record(age)
        self._spent_before.setdefault(kind, []).extend(ages)

    def grant(self, worker: str, kind: str, forced: bool = False) -> bool:
        """One permit of ``kind`` for ``worker``; ``forced`` (a refresh a session needs) is recorded, never denied."""
        if worker not in self._group_of:
            self.set_workers([*self.shares, worker])
        group_window = self._windows[(self._group_of[worker], kind)]
        own_window = self._quotas[(worker, kind)]
        if forced:
            group_window.record()
            own_window.record()
        elif own_window.remaining() <= 0 or not group_window.try_acquire():
            self.denied[kind] += 1
            return False
        else:
            own_window.record()
        self.granted[kind] += 1
        return True


class PermitClient:
    """This process's side: asks the authority (in-process, or the master over Locust's messages) for permits."""

    def __init__(self) -> None:
        self.authority: PermitAuthority | None = PermitAuthority()  # a local run keeps its own budget
        self.runner: WorkerRunner | None = None
        self.share: Share | None = self.authority.shares[LOCAL]
        self.share_known = Event()
        self.share_known.set()
        self._pending: dict[int, AsyncResult] = {}
        self._ids = itertools.count(1)

    def as_worker(self, runner: WorkerRunner) -> None:
        self.authority, self.runner, self.share = None, runner, None
        self.share_known.clear()

    def pool_size(self) -> int:
        """How many sessions this process mints: its share's, once the master has sent it (a worker waits)."""
        if not self.share_known.wait(SHARE_TIMEOUT_S) or self.share is None:
            logger.warning("no sign-in share from the master within %g s: this process mints 1 session",
                           SHARE_TIMEOUT_S)  # fmt: skip
            return 1
        return self.share.pool

    def try_acquire(self, kind: str = SIGN_IN, forced: bool = False) -> bool:
        if self.authority is not None:
            return self.authority.grant(LOCAL, kind, forced)
        if self.runner is None:
            return False
        if forced:  # recorded at the master, never waited for
            self.runner.send_message(PERMIT_MESSAGE, {"id": 0, "kind": kind, "forced": True})
            return True
        request_id = next(self._ids)
        answer = self._pending[request_id] = AsyncResult()
        self.runner.send_message(PERMIT_MESSAGE, {"id": request_id, "kind": kind, "forced": False})
        try:
            return bool(answer.get(timeout=PERMIT_TIMEOUT_S))
        except gevent.Timeout:
            logger.warning("no %s permit from the master within %g s: not signing in", kind, PERMIT_TIMEOUT_S)
            return False
        finally:
            self._pending.pop(request_id, None)

    # -- worker message handlers --------------------------------------------------------------------------------------
    def on_share(self, environment: Environment, msg, **_kwargs) -> None:
        share = Share(**msg.data)
        if share != self.share:
            logger.info(share.describe())
        self.share = share
        self.share_known.set()

    def on_reply(self, environment: Environment, msg, **_kwargs) -> None:
        answer = self._pending.get(msg.data["id"])
        if answer is not None:
            answer.set(msg.data["granted"])


class MasterSide:
    """The master's authority, its worker watcher and its message handler."""

    def __init__(self, runner: MasterRunner, authority: PermitAuthority):
        self.runner = runner
        self.authority = authority
        self.workers: tuple[str, ...] = ()

    def active_workers(self) -> tuple[str, ...]:
        clients = self.runner.clients
        return tuple(sorted(node.id for node in [*clients.ready, *clients.spawning, *clients.running]))

    def publish(self, force: bool = False) -> None:
        """Send every worker its share when the set of workers changed (or always, at a test start)."""
        workers = self.active_workers()
        if not force and workers == self.workers:
            return
        changed, self.workers = workers != self.workers, workers
        shares = self.authority.set_workers(workers)
        for worker, share in shares.items():
            self.runner.send_message(SHARE_MESSAGE, share.__dict__, client_id=worker)
        if shares and changed:
            sizes = sorted({(s.group, s.group_size, s.sign_ins) for s in shares.values()})
            logger.info("sign-in budget shared: " + "; ".join(f"egress {g}: {n} process(es), {q} sign-ins each per "
                                                             f"{WINDOW_S:g} s" for g, n, q in sizes))  # fmt: skip

    def watch(self) -> None:
        while True:
            gevent.sleep(WATCH_INTERVAL_S)
            self.publish()

    def on_permit(self, environment: Environment, msg, **_kwargs) -> None:
        data = msg.data
        granted = self.authority.grant(msg.node_id, data["kind"], bool(data.get("forced")))
        if not data.get("forced"):
            self.runner.send_message(PERMIT_REPLY, {"id": data["id"], "granted": granted}, client_id=msg.node_id)


def _egress_option(value: str) -> str | int:
    try:
        return parse_egress(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


@events.init_command_line_parser.add_listener
def _add_options(parser, **_kwargs) -> None:
    parser.add_argument("--egress-ips", default="shared", type=_egress_option, env_var="LOCUST_EGRESS_IPS",
                        include_in_web_ui=False,
                        help="how many addresses the load leaves from, for GoTrue's per-IP sign-in limit: 'shared' "
                             "(default: every worker signs in from one address), 'per-host' (each worker host has "
                             "its own), or a number N of addresses the workers are spread over")  # fmt: skip


def attach(client: PermitClient, environment: Environment, runner: Runner | None) -> MasterSide | None:
    """Locust's init, with the run's fresh client (scenarios/run_state.py): a worker asks the master for permits, a
    master keeps the authority for every worker (returned); a local run keeps its own."""
    options = environment.parsed_options
    egress = getattr(options, "egress_ips", "shared") if options is not None else "shared"
    master = None
    if isinstance(runner, WorkerRunner):
        client.as_worker(runner)
        runner.register_message(SHARE_MESSAGE, client.on_share)
        runner.register_message(PERMIT_REPLY, client.on_reply)
    elif isinstance(runner, MasterRunner):
        client.authority = PermitAuthority(egress)
        master = MasterSide(runner, client.authority)
        runner.register_message(PERMIT_MESSAGE, master.on_permit)
        gevent.spawn(master.watch)
    if client.authority is not None:
        _count_preflight_sign_ins(environment, client.authority)
    return master


def _count_preflight_sign_ins(environment: Environment, authority: PermitAuthority) -> None:
    """The launcher's pre-flight (harness/health.py) signs in from this address just before the load: those
    sign-ins are in GoTrue's window, so they go into ours (its health.json lies in the run's results folder)."""
    results_dir = getattr(environment.parsed_options, "results_dir", None) if environment.parsed_options else None
    if not results_dir:
        return
    now = time.time()
    ages = [now - at for method, url, at in sent_requests(Path(results_dir))
            if method == names.SIGN_IN.method and url.endswith(names.SIGN_IN.name)]  # fmt: skip
    if ages:
        authority.spent_before(SIGN_IN, ages)
        logger.info("sign-in budget: %d sign-in(s) of the pre-flight count against it", len(ages))


def on_test_start(client: PermitClient, master: MasterSide | None, environment: Environment) -> None:
    # On the master this runs before the first spawn message, so each worker has its share before its users start.
    if master is not None:
        master.publish(force=True)
    elif client.authority is not None and client.share is not None and environment.runner is not None \
            and not isinstance(environment.runner, WorkerRunner):  # fmt: skip
        logger.info(client.share.describe())
