"""Workers that cannot disagree with the master: each worker's harness version and scenario hash are checked when it
connects, and a worker that differs is refused before it can send any load.

A worker started from another checkout, an older container image or a half-updated host would otherwise send
another mix, name requests differently, or write interval records another way, and the master would merge its
numbers into the run as if they were the same test. So:

* at init, each worker sends the master its identity (``HELLO_MESSAGE``: the harness version and the scenario hash
  that the manifest records);
* the master answers (``VERDICT_MESSAGE``): accepted, or refused with one line naming both identities, which the
  master logs and the refused worker prints before it quits with exit code 1 (Locust's own ``quit``, so the master
  drops it);
* until its verdict arrives a worker's users wait (``await_verification``: a locustfile's users call it before
  their first request; scenarios/guards.py does for ProspectPro's), because Locust may hand a worker users before
  its init listeners have even run (a worker joining a running test gets a spawn message straight after the ack).

Generic: nothing here knows ProspectPro. The scenario hash is harness.results.running_scenario_hash.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import gevent
from gevent.event import Event
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

import harness
from analysis.exit_codes import ExitCode
from harness.results import running_scenario_hash

logger = logging.getLogger(__name__)

HELLO_MESSAGE = "harness_worker_hello"  # worker -> master at init: identity()
VERDICT_MESSAGE = "harness_worker_verdict"  # master -> that worker: {"accepted": bool, "master": identity()}
VERIFY_TIMEOUT_S = 30.0  # a worker whose master never answers sends nothing

_verified = Event()
_verified.set()  # a local run or a master has nothing to wait for; a worker clears it at init


def identity() -> dict[str, Any]:
    """What must be equal on the master and every worker."""
    return {"harness": harness.__version__, "scenario_hash": running_scenario_hash()}


def describe(who: dict[str, Any]) -> str:
    return f"harness {who.get('harness')} (scenario hash {str(who.get('scenario_hash'))[:12]})"


def mismatch_line(worker_id: str, worker: dict[str, Any], master: dict[str, Any]) -> str:
    return (f"worker {worker_id} refused: it runs {describe(worker)}, the master runs {describe(master)}; start "
            "every worker from the master's version of the project")  # fmt: skip


def await_verification(timeout: float = VERIFY_TIMEOUT_S) -> bool:
    """True once this process may send load (at once except on a worker the master has not accepted yet)."""
    return _verified.is_set() or _verified.wait(timeout)


@events.init.add_listener
def _on_init(environment: Environment, runner=None, **_kwargs) -> None:
    if isinstance(runner, MasterRunner):
        _verified.set()
        runner.register_message(HELLO_MESSAGE, _judge_worker)
    elif isinstance(runner, WorkerRunner):
        _verified.clear()
        runner.register_message(VERDICT_MESSAGE, _on_verdict)
        runner.send_message(HELLO_MESSAGE, identity())
    else:
        _verified.set()


def _judge_worker(environment: Environment, msg, **_kwargs) -> None:
    own, worker = identity(), dict(msg.data)
    accepted = worker == own
    if not accepted:
        logger.error("error: %s", mismatch_line(msg.node_id, worker, own))
    runner = environment.runner
    if isinstance(runner, MasterRunner):  # (registered on a master only)
        runner.send_message(VERDICT_MESSAGE, {"accepted": accepted, "master": own}, client_id=msg.node_id)


def _on_verdict(environment: Environment, msg, **_kwargs) -> None:
    if msg.data["accepted"]:
        _verified.set()
        return
    runner = environment.runner
    if not isinstance(runner, WorkerRunner):  # (registered on a worker only)
        return
    line = mismatch_line(runner.client_id, identity(), msg.data["master"])
    print(f"error: {line}", file=sys.stderr, flush=True)
    environment.process_exit_code = int(ExitCode.BAD_INPUT)
    gevent.spawn(runner.quit)  # tells the master, which drops this worker; its users never passed the wait
