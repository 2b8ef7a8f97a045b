"""Load from a Thunder Client collection: every request a Locust task, its res-code and res-time tests its checks.

    python -m harness perf --thunder-collection collections/ProspectPro-Discovery.json \\
        --thunder-request "Load Test: Discovery Endpoint" -u 10 -t 60s
    locust -f harness/thunder_locust.py --thunder-collection FILE [--thunder-request NAME ...] [--thunder-env FILE]

``ThunderUser`` gets one task per request of the collection (or of the requests named by --thunder-request), with
the request's name as Locust's name, so stats and baselines are keyed "<METHOD> <request name>". Each user has its
own variables: the setup collections (the sign-in, collections/setup/) run once per process and every user starts
from their result; ``set-env-var`` tests then chain values within the user, as in Thunder. A response fails when a
``res-code`` or ``res-time`` test fails (json-query tests are for the health check, not for load).

At init the collection's res-time and res-code tests also become a baseline (``baseline.thunder.toml`` in the
results folder) that the in-run gate judges, unless --baseline names another: ``res-time < X`` is ``max_ms = X``
(Thunder judges every response, so the slowest one must be under X) and ``res-code`` is ``fail_ratio =
--thunder-fail-ratio`` (default 0.01: a load run judges a rate, and the gate can only prove a rate under a limit
above zero; 1 % is the runbook's error-rate alert).

The variables come from --thunder-env files and from the launcher (THUNDER_VARIABLES, a JSON object in the
environment, never written to disk); SUPABASE_URL and baseUrl are always Locust's host, and a request to any other
host is not sent. Nothing here knows ProspectPro.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from gevent.lock import Semaphore
from locust import FastHttpUser, events, task
from locust.env import Environment
from locust.runners import WorkerRunner

from analysis.errors import InputError
from analysis.exit_codes import ExitCode
from harness.health import run_collection
from harness.thunder import (Collection, Request, Response, Variables, evaluate, load_collection, load_environment, origin,
                             prepare)  # fmt: skip

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SETUP = PROJECT_ROOT / "collections" / "setup" / "ProspectPro-Session.json"
BASELINE_FILE = "baseline.thunder.toml"
VARIABLES_ENV = "THUNDER_VARIABLES"
TARGET_VARIABLES = ("SUPABASE_URL", "baseUrl")
LOAD_TEST_KINDS = ("res-code", "res-time", "set-env-var")
DEFAULT_FAIL_RATIO = 0.01


@events.init_command_line_parser.add_listener
def _add_options(parser, **_kwargs) -> None:
    parser.add_argument("--thunder-collection", default=None, include_in_web_ui=False,
                        help="Thunder Client collection whose requests ThunderUser sends")
    parser.add_argument("--thunder-request", action="append", default=[], include_in_web_ui=False,
                        help="only this request of the collection (by name; repeatable)")
    parser.add_argument("--thunder-setup", action="append", default=None, include_in_web_ui=False,
                        help="setup collection run once per process before the users start (default: the sign-in)")
    parser.add_argument("--thunder-env", action="append", default=[], include_in_web_ui=False,
                        help="Thunder Client environment file (repeatable)")
    parser.add_argument("--thunder-fail-ratio", type=float, default=DEFAULT_FAIL_RATIO, include_in_web_ui=False,
                        help="failure ratio a res-code test allows under load (default 0.01)")  # fmt: skip


class _Plan:
    collection: Collection | None = None
    setup: list[Collection] = []
    variables: dict[str, str] = {}
    secrets: set[str] = set()
    prepared: dict[str, str] | None = None  # the variables after setup, shared by every user of this process
    lock = Semaphore()


def _refuse(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(int(ExitCode.BAD_INPUT))


@events.init.add_listener
def _on_init(environment: Environment, **_kwargs) -> None:
    options = environment.parsed_options
    if options is None:
        return
    if not options.thunder_collection:
        _refuse("--thunder-collection: name the Thunder Client collection to send (ThunderUser has no requests)")
    try:
        collection = load_collection(options.thunder_collection)
        setup = [load_collection(path) for path in (options.thunder_setup or [DEFAULT_SETUP])]
        variables = json.loads(os.environ.get(VARIABLES_ENV) or "{}")
        for env_file in options.thunder_env:
            variables.update({k: v for k, v in load_environment(env_file).items() if v and k not in TARGET_VARIABLES})
    except InputError as error:
        _refuse(error.one_line())
    except json.JSONDecodeError:
        _refuse(f"{VARIABLES_ENV}: not a JSON object")
    requests = _selected(collection, options.thunder_request)
    _Plan.collection, _Plan.setup, _Plan.prepared = collection, setup, None
    _Plan.variables = {**variables, **{name: (environment.host or "").rstrip("/") for name in TARGET_VARIABLES}}
    ThunderUser.tasks = [_task_for(request, collection) for request in requests]
    if not isinstance(environment.runner, WorkerRunner) and not getattr(options, "baseline", None):
        if not 0 <= options.thunder_fail_ratio <= 1:
            _refuse(f"--thunder-fail-ratio: {options.thunder_fail_ratio:g} is not a ratio between 0 and 1")
        text = baseline_text(collection, requests, options.thunder_fail_ratio)
        options.baseline = str(_write_baseline(text, getattr(options, "results_dir", None)))


def _selected(collection: Collection, names: list[str]) -> list[Request]:
    if not names:
        return list(collection.requests)
    known = {request.name: request for request in collection.requests}
    unknown = [name for name in names if name not in known]
    if unknown:
        _refuse(f"{collection.path}: --thunder-request {unknown[0]!r}: no such request; it has: "
                f"{', '.join(repr(n) for n in known)}")  # fmt: skip
    return [known[name] for name in names]


def baseline_text(collection: Collection, requests: list[Request], fail_ratio: float = DEFAULT_FAIL_RATIO) -> str:
    """The collection's res-time and res-code tests as a baseline (analysis/baseline.py format)."""
    lines = ["# Generated by harness/thunder_locust.py from the res-time and res-code tests of", f"# {collection.path}",
             "schema_version = 1", f"name = {json.dumps('thunder: ' + collection.name)}",
             f'description = "res-time < X: max_ms = X (every response, as Thunder judges one); res-code: fail_ratio = {fail_ratio:g}"',
             "[defaults]", "min_samples = 1"]  # fmt: skip
    for request in requests:
        limits = []
        for test in request.tests:
            if test.kind == "res-time" and test.op in ("<", "<=") and _number(test.expected) is not None:
                limits.append(f"max_ms = {_number(test.expected)}  # {test.label}")
            elif test.kind == "res-code" and not any(line.startswith("fail_ratio") for line in limits):
                limits.append(f"fail_ratio = {float(fail_ratio)}  # {test.label}")
        if limits:
            lines += [f"[endpoints.{json.dumps(request.method + ' ' + request.name, ensure_ascii=False)}]", *limits]
    return "\n".join(lines) + "\n"


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _write_baseline(text: str, results_dir: str | None) -> Path:
    folder = Path(results_dir) if results_dir else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / BASELINE_FILE
    path.write_text(text, encoding="utf-8")
    return path


def _task_for(request: Request, collection: Collection) -> Callable[["ThunderUser"], None]:
    checks = tuple(test for test in request.tests if test.kind in LOAD_TEST_KINDS)

    def send(user: "ThunderUser") -> None:
        prepared = prepare(request, user.variables, collection)
        if origin(prepared.url) != origin(user.host or ""):  # a hard-coded host in the collection gets nothing
            user.environment.events.request.fire(
                request_type=request.method, name=request.name, response_time=0, response_length=0, context={},
                exception=RuntimeError(f"not sent: {origin(prepared.url) or prepared.url} is not the target"))  # fmt: skip
            return
        # data: Locust types it str | dict, but sends bytes as they are (its docstring: "String/bytes")
        with user.client.request(request.method, prepared.url, name=request.name, data=prepared.body,  # type: ignore[arg-type]
                                 headers=dict(prepared.headers), catch_response=True) as answer:  # fmt: skip
            error = getattr(answer, "error", None)
            response = Response(answer.status_code or 0, {k.lower(): v for k, v in (answer.headers or {}).items()},
                                answer.content or b"", float(answer.request_meta.get("response_time") or 0.0),
                                error=str(error) if error and not answer.status_code else None)  # fmt: skip
            failed = []
            for test in checks:
                outcome = evaluate(test, response)
                if outcome.sets is not None:
                    user.variables.set(*outcome.sets)
                elif not outcome.passed:
                    failed.append(f"{test.label}: {user.variables.redact(outcome.detail)}")
            if failed:
                answer.failure("; ".join(failed))
            else:
                answer.success()

    send.__name__ = f"thunder: {request.name}"
    return send


class ThunderUser(FastHttpUser):
    """Sends the collection's requests (tasks set at init from --thunder-collection), with its variables."""

    abstract = False

    @task
    def _placeholder(self) -> None:  # replaced at init; a class without any task is refused by Locust
        raise RuntimeError("ThunderUser: no --thunder-collection was loaded")

    def on_start(self) -> None:
        self.variables = Variables()
        for name, value in _shared_variables(self.host or "").items():
            self.variables.set(name, value)


def _shared_variables(host: str) -> dict[str, str]:
    """The setup collections' result, computed once per process (one sign-in, whatever the number of users)."""
    with _Plan.lock:
        if _Plan.prepared is None:
            from harness.thunder_cli import on_target_only

            variables = Variables()
            for name, value in _Plan.variables.items():
                variables.set(name, value)
            for collection in _Plan.setup:
                run_collection(collection, variables, setup=True, sender=on_target_only(host))
            _Plan.prepared = dict(variables.values)
        return _Plan.prepared


import harness.gate  # noqa: E402,F401  the in-run verdict; imported after _on_init so the baseline is chosen first
import harness.intervals  # noqa: E402
import harness.results  # noqa: E402,F401  --results-dir, manifest.json

harness.intervals.register()
