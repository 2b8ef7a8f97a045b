"""The results folder of one run: its path option, manifest.json, the artifact writers and finalizers.

This module owns the run's single ``quitting`` listener, so the order of the end-of-run work is fixed in one
place instead of depending on the order in which modules happened to register listeners:

1. ``manifest.json`` is built (provenance and run validity; format in docs/architecture.md),
2. every registered artifact writer runs: ``fn(environment, results_dir)`` (business metrics, intervals, ...),
3. the manifest is written,
4. every registered finalizer runs: ``fn(environment, results_dir, manifest)`` (the verdict gate),
5. a stop forced by a guard keeps exit code 6 whatever a finalizer decided (a run a guard cut short is not
   a verdict on the system).

Headless, that happens once, at ``quitting``. In the web UI every test is a run of its own: when a test stops (by
its user, its run time, a shape's end or a guard) the same steps run for it, plus Locust's own files for that test
(locust.json, locust_stats.csv, locust_failures.csv, locust_exceptions.csv, locust_report.html, written here from
the runner's stats because Locust itself writes them once, at quit); the next test starts a new run folder beside
it. On a master the test's files wait for the workers' last reports (sent every 3 s). Quitting while a test runs
ends that test as ``interrupted``, as headless.

Workers write nothing: the master owns the folder. Nothing here knows ProspectPro.

Public interface:
    register_artifact_writer(fn), register_finalizer(fn), register_manifest_section(name)(fn)
    record_stop_reason(environment, reason, detail=None)   guards and shapes say why the run stopped
    name_run_time_stop(environment, reason, detail=None)   what to call a stop at --run-time (default "run-time")
    results_dir_of(environment) -> Path | None
    run_record(environment) -> the current run's record (read-only: results_dir, run_id, finished, manifest)
    runs_per_test(environment) -> bool                     True in the web UI: a run folder per test
    new_run_id() -> str
"""

from __future__ import annotations

import ast
import csv
import functools
import hashlib
import json
import logging
import os
import platform
import signal
import subprocess
import sys
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import gevent
import locust
from locust import events, log
from locust.env import Environment
from locust.html import get_html_report, process_html_filename
from locust.rpc import Message
from locust.runners import (STATE_RUNNING, STATE_SPAWNING, STATE_STOPPED, WORKER_REPORT_INTERVAL, MasterRunner,
                            WorkerRunner)
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

from analysis.exit_codes import ExitCode
from common.results_format import (COMPLETE_STOP_REASONS, GUARD_STOP_REASONS, MANIFEST_FILE,  # noqa: F401  re-exported
                                   MANIFEST_SCHEMA_VERSION, STOP_REASONS)

logger = logging.getLogger(__name__)

SCHEMA_VERSION = MANIFEST_SCHEMA_VERSION
LATEST_LINK = "latest"
PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The closed set of stop reasons the manifest may carry, which of them mean a complete run, and which a guard's stop:
# STOP_REASONS, COMPLETE_STOP_REASONS, GUARD_STOP_REASONS (common/results_format.py, shared with analysis/decide.py).
# A run that reached its --run-time ends a little after the timer fires; a run that stopped this much earlier
# than its --run-time was interrupted.
RUN_TIME_TOLERANCE_S = 1.5
# A web-UI test on a master is written this long after it stopped: a worker's last samples come with its next
# periodic report (every WORKER_REPORT_INTERVAL s), which it sends after it told the master it stopped.
MASTER_TEST_END_GRACE_S = WORKER_REPORT_INTERVAL + 1.5
# Quitting waits at most this long for a test's files (and report) still being written.
FINISH_JOIN_TIMEOUT_S = 120

ArtifactWriter = Callable[[Environment, Path], None]
Finalizer = Callable[[Environment, Path, dict], None]

_artifact_writers: list[ArtifactWriter] = []
_finalizers: list[Finalizer] = []
_manifest_sections: dict[str, Callable[[Environment], dict | None]] = {}


def register_artifact_writer(writer: ArtifactWriter) -> ArtifactWriter:
    """Call ``writer(environment, results_dir)`` at the end of the run, before the manifest is written.

    Usable as a decorator. Registering the same function twice registers it once.
    """
    if writer not in _artifact_writers:
        _artifact_writers.append(writer)
    return writer


def register_finalizer(finalizer: Finalizer) -> Finalizer:
    """Call ``finalizer(environment, results_dir, manifest)`` after every file of the harness is written."""
    if finalizer not in _finalizers:
        _finalizers.append(finalizer)
    return finalizer


def register_manifest_section(name: str) -> Callable:
    """Decorator: ``fn(environment) -> dict | None`` adds the section ``name`` to the final manifest (None: absent)."""

    def register(section: Callable[[Environment], dict | None]) -> Callable[[Environment], dict | None]:
        _manifest_sections[name] = section
        return section

    return register


def new_run_id(now: datetime | None = None) -> str:
    """``YYYYmmdd-HHMMSS-<6 hex>`` in UTC: sorts by time, and two runs in the same second still differ."""
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%d-%H%M%S}-{os.urandom(3).hex()}"


@dataclass
class _RunRecord:
    """What this module learns about one run while it happens."""

    results_dir: Path
    run_id: str
    started_at: datetime | None = None
    started_monotonic: float | None = None
    stop_reason: str | None = None
    stop_detail: str | None = None
    reached_users: int = 0
    intended_users_peak: int = 0
    cpu_percent_max: float = 0.0
    workers_seen: set[str] = field(default_factory=set)
    workers_at_stop: set[str] | None = None  # connected when the test stopped, before the master let them go
    run_time_reason: str = "run-time"  # the stop reason of a run that reached its --run-time
    run_time_detail: str | None = None
    locust_outputs: _LocustOutputs | None = None  # web UI: Locust's own files, written here per test
    finished: bool = False  # its files are written
    manifest: dict[str, Any] | None = None  # the final manifest, once finished
    finishing: gevent.Greenlet | None = None  # web UI: the greenlet writing this test's files


@dataclass(frozen=True)
class _LocustOutputs:
    """Which of Locust's own files the command line asked for (file names inside the run folder)."""

    json_name: str | None
    csv_prefix_name: str | None
    html_name: str | None


_runs: weakref.WeakKeyDictionary[Environment, _RunRecord] = weakref.WeakKeyDictionary()


def results_dir_of(environment: Environment) -> Path | None:
    """The run's results folder (None on workers, or when Locust runs without this module's options)."""
    record = _runs.get(environment)
    return record.results_dir if record else None


def run_record(environment: Environment) -> _RunRecord | None:
    """The current run (the last test's, in the web UI, until the next test starts). Read it; do not change it."""
    return _runs.get(environment)


def runs_per_test(environment: Environment) -> bool:
    """True in the web UI (not headless, not a worker): each test is a run with its own folder."""
    options = environment.parsed_options
    return options is not None and not getattr(options, "headless", True) and not _is_worker(environment)


def record_stop_reason(environment: Environment, reason: str, detail: str | None = None) -> None:
    """Say why the run stopped (first reason wins: the cause, not its consequences).

    ``reason`` is one of STOP_REASONS; ``detail`` is one human line for the manifest ("discovery job cap 50
    reached"). Guards call this before stopping the runner.
    """
    if reason not in STOP_REASONS:
        raise ValueError(f"stop reason {reason!r} is not one of {STOP_REASONS}")
    record = _runs.get(environment)
    if record is not None and record.stop_reason is None:
        record.stop_reason = reason
        record.stop_detail = detail
    if reason in GUARD_STOP_REASONS:
        environment.process_exit_code = int(ExitCode.STOPPED_BY_GUARD)


def name_run_time_stop(environment: Environment, reason: str, detail: str | None = None) -> None:
    """Call a run that ends by reaching its --run-time ``reason`` instead of "run-time" (e.g. "max-duration" when
    --run-time is the maximum of a run meant to stop once decided). ``detail`` may be updated until the end."""
    if reason not in COMPLETE_STOP_REASONS:
        raise ValueError(f"stop reason {reason!r} is not one of {COMPLETE_STOP_REASONS}")
    record = _runs.get(environment)
    if record is not None:
        record.run_time_reason = reason
        record.run_time_detail = detail


LAST_REPORT_MARGIN_S = 10.0  # beyond --stop-timeout, how long a quitting master waits for its workers' last reports

# ---- Locust options -------------------------------------------------------------------------------------------
@events.init_command_line_parser.add_listener
def _add_options(parser, **_kwargs) -> None:
    # Plain parser.add_argument: Locust's web-UI flags (include_in_web_ui) only work there, not on groups.
    parser.add_argument(
        "--results-dir",
        default=None,
        include_in_web_ui=False,
        help="Folder for manifest.json and the harness's other files (default: results/<run-id>); "
        "results/latest (beside it) points at the newest run",
    )
    # Set by the launcher when it started the embedded simulator, so the manifest can say what was tested.
    for option, kind in (("--simulator-profile", str), ("--simulator-seed", int), ("--simulator-time-scale", float),
                         ("--simulator-job-time-scale", float), ("--simulator-extra-args", str)):  # fmt: skip
        parser.add_argument(option, type=kind, default=None, include_in_web_ui=False,
                           help="Recorded in the manifest (set by `python -m harness`)")


# ---- listeners --------------------------------------------------------------------------------------------------
def _is_worker(environment: Environment) -> bool:
    return isinstance(environment.runner, WorkerRunner)


@events.init.add_listener
def _on_init(environment: Environment, **_kwargs) -> None:
    options = environment.parsed_options
    if options is None or not hasattr(options, "results_dir"):
        return
    # Locust schedules --run-time with gevent.spawn_later, which counts from the event loop's cached clock. The loop
    # has not run since before the imports, so that clock is seconds stale on a loaded machine and the run would end
    # that much early (and be recorded as interrupted). Refresh it now, just before Locust starts its timer.
    gevent.get_hub().loop.update_now()
    if isinstance(environment.runner, MasterRunner):
        _collect_worker_stats_before_quitting(environment.runner)
    if _is_worker(environment):
        # Locust 2.47 forks --processes workers with the master's --json-file; each worker would then overwrite the
        # master's locust.json with its own (reset, empty) stats when it exits after the master.
        options.json_file = None
        return
    if options.results_dir:
        results_dir = Path(options.results_dir)
        run_id = results_dir.name
    else:
        run_id = new_run_id()
        results_dir = Path("results") / run_id
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        # Before any user starts: a traceback here would hide the one thing to fix.
        print(f"error: {results_dir}: cannot create the results folder ({error.strerror}); give --results-dir a "
              f"writable folder", file=sys.stderr)  # fmt: skip
        raise SystemExit(int(ExitCode.BAD_INPUT)) from None
    record = _runs[environment] = _RunRecord(results_dir=results_dir, run_id=run_id)
    if runs_per_test(environment):
        record.locust_outputs = _take_locust_outputs(options)


def _take_locust_outputs(options) -> _LocustOutputs:
    """Note Locust's --json-file/--csv/--html and clear them: in the web UI this module writes them per test, into
    each test's folder; Locust would write them once, at quit, over the first test's files."""
    outputs = _LocustOutputs(
        json_name=Path(options.json_file).name + ".json" if getattr(options, "json_file", None) else None,
        csv_prefix_name=Path(options.csv_prefix).name if getattr(options, "csv_prefix", None) else None,
        html_name=Path(options.html_file).name if getattr(options, "html_file", None) else None,
    )
    options.json_file = options.csv_prefix = options.html_file = None
    options.stats_history_enabled = False  # its CSV link in the UI reads Locust's (now unwritten) history file
    return outputs


@events.init.add_listener
def _ctrl_c_reaches_the_main_greenlet(environment: Environment, **_kwargs) -> None:
    """Ctrl-C makes Python raise KeyboardInterrupt in whichever greenlet runs at that instant; gevent then prints that
    greenlet's traceback (the interval recorder's, a user's) before passing the interrupt on to Locust's main
    greenlet. Handled by gevent's loop instead, the interrupt goes to the main greenlet alone, where Locust's own
    `except KeyboardInterrupt` ends the run as before: same results, no traceback on the console."""
    options = environment.parsed_options
    if options is None or not hasattr(options, "results_dir"):
        return
    hub = gevent.get_hub()
    gevent.signal_handler(signal.SIGINT, lambda: hub.parent.throw(KeyboardInterrupt))


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_kwargs) -> None:
    record = _runs.get(environment)
    if record is None:
        return
    if runs_per_test(environment):
        record = _next_test_record(environment, record)
    if record.started_at is not None:
        return
    record.started_at = datetime.now(timezone.utc)
    record.started_monotonic = time.monotonic()
    # A first, partial manifest: a run that dies without reaching `quitting` still says what it was.
    _write_json(record.results_dir / MANIFEST_FILE, build_manifest(environment, record, stop_reason=None))
    _point_latest_at(record.results_dir)


@events.spawning_complete.add_listener
def _on_spawning_complete(user_count: int, **_kwargs) -> None:
    for record in _runs.values():
        record.reached_users = max(record.reached_users, user_count)


@events.usage_monitor.add_listener
def _on_usage_monitor(environment: Environment, cpu_usage: float, **_kwargs) -> None:
    """Every few seconds: peak generator CPU, and the load asked for and reached (shapes change both)."""
    record = _runs.get(environment)
    if record is None:
        return
    runner = environment.runner
    if runner is None:
        return
    cpu_samples = [cpu_usage]
    if isinstance(runner, MasterRunner):
        cpu_samples += [worker.cpu_usage for worker in runner.clients.values()]
    record.cpu_percent_max = max(record.cpu_percent_max, *cpu_samples)
    record.reached_users = max(record.reached_users, runner.user_count)
    record.intended_users_peak = max(record.intended_users_peak, runner.target_user_count)


@events.worker_connect.add_listener
def _on_worker_connect(client_id: str, **_kwargs) -> None:
    for record in _runs.values():
        record.workers_seen.add(client_id)


def _next_test_record(environment: Environment, record: _RunRecord) -> _RunRecord:
    """Web UI: the record of the test starting now; a new run folder beside the last one if that one is written."""
    if record.finishing is not None:
        record.finishing.join(timeout=FINISH_JOIN_TIMEOUT_S)  # the last test's files first, then the new test
    if not record.finished:
        return record  # the first test (or one restarted before it stopped: the same run goes on)
    run_id = new_run_id()
    results_dir = record.results_dir.parent / run_id
    results_dir.mkdir(parents=True, exist_ok=True)
    new = _runs[environment] = _RunRecord(results_dir=results_dir, run_id=run_id, locust_outputs=record.locust_outputs,
                                          run_time_reason=record.run_time_reason)  # fmt: skip
    if isinstance(environment.runner, MasterRunner):
        new.workers_seen = _connected_workers(environment.runner)
    return new


@events.test_stopping.add_listener
def _on_test_stopping(environment: Environment, **_kwargs) -> None:
    """Workers still connected when the test begins to stop; those seen earlier but gone by now were lost.

    Measured as the stop begins: once it has begun, workers that stop cleanly say "client_stopped" and Locust drops
    them from its list until they are ready again, and by ``quitting`` a headless master has told them to quit.
    """
    record = _runs.get(environment)
    if record is not None and isinstance(environment.runner, MasterRunner):
        record.workers_at_stop = _connected_workers(environment.runner)


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_kwargs) -> None:
    """In the web UI this is where the test's run ends: its files are written in a greenlet (after the workers'
    last reports on a master) while Locust keeps serving the UI."""
    record = _runs.get(environment)
    if record is None:
        return
    if isinstance(environment.runner, MasterRunner) and record.workers_at_stop is None:
        record.workers_at_stop = _connected_workers(environment.runner)
    if runs_per_test(environment) and record.started_at is not None and not record.finished and record.finishing is None:
        stop_reason = _stop_reason(environment, record, test_ended=True)
        record.finishing = gevent.spawn(_finish_test, environment, record, stop_reason)


def _finish_test(environment: Environment, record: _RunRecord, stop_reason: str) -> None:
    if isinstance(environment.runner, MasterRunner):
        gevent.sleep(MASTER_TEST_END_GRACE_S)
    _finish_run(environment, record, stop_reason)


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_kwargs) -> None:
    record = _runs.get(environment)
    if record is None:
        return
    if runs_per_test(environment):
        if record.finishing is not None:
            record.finishing.join(timeout=FINISH_JOIN_TIMEOUT_S)
        if record.finished or record.started_at is None:
            return  # every test already has its folder (or none was started: no run to write)
        record.finishing = gevent.getcurrent()  # quitting while a test runs: this ends it, not its test_stop
    if environment.runner is not None:
        record.reached_users = max(record.reached_users, environment.runner.user_count)
    # Decided before anything else: stopping the runner below clears the shape's greenlet that tells a completed
    # shape from an interrupted one, and a failing writer must not make a completed run look like an error.
    stop_reason = _stop_reason(environment, record)
    _stop_users_still_running(environment)
    _finish_run(environment, record, stop_reason)
    _write_missing_html_report(environment)


def _finish_run(environment: Environment, record: _RunRecord, stop_reason: str) -> None:
    """Write the run's files in the documented order (module docstring) and mark the run finished."""
    for writer in list(_artifact_writers):
        _call_safely(writer, environment, record.results_dir)
    manifest = build_manifest(environment, record, stop_reason=stop_reason)
    _write_json(record.results_dir / MANIFEST_FILE, manifest)
    _point_latest_at(record.results_dir)
    record.manifest = manifest
    if record.locust_outputs is not None:
        _call_safely(_write_locust_outputs, environment, record.results_dir, record.locust_outputs)
    for finalizer in list(_finalizers):
        _call_safely(finalizer, environment, record.results_dir, manifest)
    if manifest["stop_reason"] in GUARD_STOP_REASONS:
        environment.process_exit_code = int(ExitCode.STOPPED_BY_GUARD)
    record.finished = True
    logger.info("results: %s", record.results_dir)


def _collect_worker_stats_before_quitting(runner: MasterRunner) -> None:
    """Make a master's quit wait for every worker's last numbers.

    Locust ends a headless run at --run-time with ``runner.quit()``: the master sends its workers "quit", waits half a
    second and stops listening. A worker receiving "quit" first lets its users finish their current task
    (--stop-timeout), and only then sends its last stats, which nobody reads any more: a master/worker run lost about
    10 % of its requests (measured: a 14 s run on three hosts recorded 224 orchestrator calls of the 247 the target
    served). So the master's quit sends "quit" itself and then waits, up to --stop-timeout and a margin, until every
    worker has said "quit" back: a worker says it after its last report, and one connection keeps their order.
    """
    quit_now = runner.quit

    def quit_after_last_reports() -> None:
        runner.stop(send_stop_to_client=False)  # what Locust's quit does first (fires test_stopping/test_stop)
        for worker in list(runner.clients.all):
            runner.server.send_to_client(Message("quit", None, worker.id))
        deadline = time.monotonic() + runner.environment.stop_timeout + LAST_REPORT_MARGIN_S
        while any(worker.state != "missing" for worker in runner.clients.all) and time.monotonic() < deadline:
            gevent.sleep(0.1)
        quit_now()

    runner.quit = quit_after_last_reports  # type: ignore[method-assign]  # Locust has no hook before a master's quit


@events.test_stop.add_listener
def _send_last_report_before_stopping(environment: Environment, **_kwargs) -> None:
    """On a worker: report the last numbers now. Told to stop, a worker says "client_stopped" right after its users
    stop, and the master then forgets it and discards its next report as coming from "an unrecognized worker", so
    the requests of the last reporting interval (up to 3 s) were lost. Sent here, they arrive first."""
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        runner._send_stats()  # noqa: SLF001 - Locust's own report, sent early; there is no public hook for it


def _write_locust_outputs(environment: Environment, results_dir: Path, outputs: _LocustOutputs) -> None:
    """One web-UI test's share of Locust's own files, from the runner's (merged, on a master) stats.

    The same content Locust writes at quit: --json-file is the non-empty entries' serialize() (without the reset
    that Locust's serialize_stats() does), --csv its StatsCSV tables, --html its report.
    """
    runner = environment.runner
    if runner is None:
        return
    if outputs.json_name:
        entries = [entry.serialize() for entry in runner.stats.entries.values() if entry.num_requests or entry.num_failures]
        _write_text(results_dir / outputs.json_name, json.dumps(entries, indent=4))
    if outputs.csv_prefix_name:
        tables = StatsCSV(environment, PERCENTILES_TO_REPORT)
        for suffix, write_table in (("_stats.csv", tables.requests_csv), ("_failures.csv", tables.failures_csv),
                                    ("_exceptions.csv", tables.exceptions_csv)):  # fmt: skip
            path = results_dir / f"{outputs.csv_prefix_name}{suffix}"
            temporary = path.with_name(path.name + ".tmp")
            with temporary.open("w", newline="", encoding="utf-8") as handle:
                write_table(csv.writer(handle))
            os.replace(temporary, path)
        # Locust opened its full-history file when it started and, its writer never running here, left it empty.
        history = results_dir / f"{outputs.csv_prefix_name}_stats_history.csv"
        if history.is_file() and history.stat().st_size == 0:
            history.unlink()
    if outputs.html_name:
        _write_text(results_dir / outputs.html_name, get_html_report(environment, show_download_link=False))


def _stop_users_still_running(environment: Environment) -> None:
    """On Ctrl-C or SIGTERM Locust fires `quitting` before it stops the users; stop them first, or requests sent
    while the files are written would be counted in some files (locust.json) and not in others (intervals)."""
    runner = environment.runner
    if runner is not None and runner.state in (STATE_SPAWNING, STATE_RUNNING):
        runner.stop()


def _write_missing_html_report(environment: Environment) -> None:
    """Locust writes --html on normal ends and Ctrl-C but not on SIGTERM; write it then, from the same stats."""
    options = environment.parsed_options
    if options is None or not getattr(options, "html_file", None):
        return
    process_html_filename(options)
    html_path = Path(options.html_file)
    if not html_path.exists():
        html_path.parent.mkdir(parents=True, exist_ok=True)
        html_path.write_text(get_html_report(environment, show_download_link=False), encoding="utf-8")


def _call_safely(function: Callable, *args) -> None:
    """One broken writer must not cost the run its other files: log it in one line and carry on.

    The failure is flagged the way Locust flags an exception in any listener (exit code 2 unless a finalizer
    decided otherwise), so a run with a missing file never passes silently.
    """
    try:
        function(*args)
    except Exception as error:  # noqa: BLE001 - deliberately broad, see docstring

        name = getattr(function, "__qualname__", repr(function))
        logger.error("results: %s failed: %s: %s", name, type(error).__name__, error)
        log.unhandled_greenlet_exception = True


# ---- the manifest -----------------------------------------------------------------------------------------------
def build_manifest(environment: Environment, record: _RunRecord, *, stop_reason: str | None) -> dict[str, Any]:
    """The manifest; ``stop_reason`` None means the run is still going (the early, partial manifest)."""
    options = environment.parsed_options
    runner = environment.runner
    final = stop_reason is not None
    shape = environment.shape_class
    intended_users = record.intended_users_peak if shape is not None else (getattr(options, "num_users", None) or 0)
    intended_users = max(intended_users, runner.target_user_count if runner else 0)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "run_id": record.run_id,
        "started_at": _iso(record.started_at),
        "ended_at": _iso(datetime.now(timezone.utc)) if final else None,
        "partial": (stop_reason not in COMPLETE_STOP_REASONS) if final else True,
        "stop_reason": stop_reason,
        "stop_detail": record.stop_detail or (record.run_time_detail if stop_reason == record.run_time_reason else None),
        "target": _target(environment.host, options),
        "options": {
            "users": getattr(options, "num_users", None),
            "spawn_rate": getattr(options, "spawn_rate", None),
            "run_time_s": getattr(options, "run_time", None),
            "user_classes": sorted(user_class.__name__ for user_class in environment.user_classes),
            "tags": list(getattr(options, "tags", None) or []),
            "exclude_tags": list(getattr(options, "exclude_tags", None) or []),
            "shape": type(shape).__name__ if shape is not None else None,
            "processes": getattr(options, "processes", None) or 1,
            "workers": len(record.workers_seen),
        },
        "scenario_hash": running_scenario_hash(),
        "versions": dict(_versions()),
        "generator": {
            "cpu_warning": bool(runner and (runner.cpu_warning_emitted or getattr(runner, "worker_cpu_warning_emitted", False))),
            "cpu_percent_max": round(record.cpu_percent_max, 1),
        },
        "load": {
            "intended_users": intended_users,
            "reached_users": record.reached_users,
            "workers_lost": len(lost := _workers_lost(runner, record)),
            "workers_lost_ids": lost,
        },
    }
    if final:
        for name, section in _manifest_sections.items():
            try:
                value = section(environment)
            except Exception as error:  # noqa: BLE001 - one broken section must not cost the run its manifest
                logger.error("results: manifest section %s failed: %s: %s", name, type(error).__name__, error)
                log.unhandled_greenlet_exception = True
                continue
            if value is not None:
                manifest[name] = value
    return manifest


def _stop_reason(environment: Environment, record: _RunRecord, *, test_ended: bool = False) -> str:
    """Why the run ended: a reason someone recorded, else inferred from how far it got.

    ``test_ended``: called when a web-UI test stopped (not at quit): neither its run time nor its shape ended it,
    so its user (or Locust's API) stopped it.
    """
    if record.stop_reason:
        return record.stop_reason

    if log.unhandled_greenlet_exception:
        return "error"
    runner = environment.runner
    shape = environment.shape_class
    if shape is not None:
        # A shape ends the run when its tick() returns None; asked again now, a time-based shape still says None
        # if it ran to its end, and a schedule if it was cut short (Ctrl-C, SIGTERM). Locust's own state cannot
        # tell: either way its runner has already killed the shape's greenlet.
        if record.started_at is None:
            return "interrupted"
        try:
            finished = shape.tick() is None
        except Exception:  # noqa: BLE001 - a shape that cannot answer outside the run: do not claim it finished
            finished = False
        if finished:
            return "shape"
        return "stopped" if test_ended else "interrupted"
    run_time = getattr(environment.parsed_options, "run_time", None)
    if run_time and record.started_monotonic is not None:
        elapsed = time.monotonic() - record.started_monotonic
        if elapsed >= run_time - RUN_TIME_TOLERANCE_S:
            return record.run_time_reason
    if test_ended:
        return "stopped"
    # In the web UI a person stops the test, then quits Locust: the runner is already stopped when `quitting` fires.
    # A headless run cut short by Ctrl-C or SIGTERM is still running at that moment.
    if not getattr(environment.parsed_options, "headless", True) and runner is not None and runner.state == STATE_STOPPED:
        return "stopped"
    return "interrupted"


def _target(host: str | None, options) -> dict[str, Any]:
    simulator_profile = getattr(options, "simulator_profile", None)
    simulator = None
    if simulator_profile is not None:
        simulator = {
            "profile": simulator_profile,
            "seed": getattr(options, "simulator_seed", None),
            "time_scale": getattr(options, "simulator_time_scale", None),
            "job_time_scale": getattr(options, "simulator_job_time_scale", None),
            # e.g. "--capacity enrichment-orchestrator=4": it changes the system under test, so it is provenance.
            "extra_args": getattr(options, "simulator_extra_args", None) or "",
        }
    return {"url": redact_url(host), "kind": "simulator" if simulator else "remote", "simulator": simulator}


def redact_url(url: str | None) -> str | None:
    """Scheme, host, port and path only: user-info, query and fragment may carry credentials."""
    if not url:
        return url
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _workers_lost(runner, record: _RunRecord) -> list[str]:
    """The workers seen during the run but gone (or missing) when it stopped, by Locust id ("<host>_<uuid>")."""
    if not isinstance(runner, MasterRunner):
        return []
    still_there = record.workers_at_stop if record.workers_at_stop is not None else _connected_workers(runner)
    return sorted(record.workers_seen - still_there)


def _connected_workers(runner: MasterRunner) -> set[str]:
    return {worker_id for worker_id, worker in runner.clients.items() if worker.state != "missing"}


def scenario_hash(root: Path = PROJECT_ROOT) -> str:
    """sha256 over what decides the load the generator sends: scenarios/*.py, scenarios/*.toml and locustfile.py.

    Python files count by their code (``_code_of``): a comment, a docstring, a function's or a variable's type
    annotation (not a class field's: dataclasses and pydantic models act on those) or a reformatting
    does not change the hash, so a reference recorded before such a commit stays comparable; any change to what
    runs does. TOML files count byte for byte. Paths are hashed with contents, so renaming a file changes it too.
    """
    paths = sorted([*root.glob("scenarios/*.py"), *root.glob("scenarios/*.toml"), root / "locustfile.py"])
    digest = hashlib.sha256()
    for path in paths:
        if path.is_file():
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(b"\0")
            digest.update(_code_of(path) if path.suffix == ".py" else path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


@functools.cache
def running_scenario_hash() -> str:
    """Once per process, the hash of the scenario code this process runs: it does not change while it runs, and
    hashing it parses every scenario file (~0.1 s of the generator's CPU), where the live SLA view builds a
    manifest every few seconds."""
    return scenario_hash()


def _code_of(path: Path) -> bytes:
    """A Python file's syntax tree without docstrings and annotations (a file that does not parse: its bytes)."""
    source = path.read_bytes()
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return source  # it will fail where it is imported; the hash only has to differ from a good file's
    return ast.dump(_WithoutCommentary().visit(tree), include_attributes=False).encode()


class _WithoutCommentary(ast.NodeTransformer):
    """Drops what Python does not execute as behaviour: docstrings, and annotations outside class bodies
    (``from __future__ import annotations`` keeps them unevaluated in this code base)."""

    def generic_visit(self, node: ast.AST) -> ast.AST:
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and _is_docstring(body[0]):
            node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined]  # every node with a body list has .body
        return super().generic_visit(node)

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.annotation = None
        return self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node.returns = None
        return self.generic_visit(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        node.returns = None
        return self.generic_visit(node)

    def __init__(self) -> None:
        self._fields: set[int] = set()  # the AnnAssign nodes directly in a class body

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        # In a class body an annotation is behaviour: a dataclass or a pydantic model makes it a field with a type
        # (pydantic validates and coerces by it). Those stay.
        self._fields.update(id(statement) for statement in node.body if isinstance(statement, ast.AnnAssign))
        return self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST | None:
        if id(node) in self._fields:
            return self.generic_visit(node)
        if node.value is None:
            return None  # elsewhere a bare "x: int" runs as nothing
        return self.generic_visit(ast.Assign(targets=[node.target], value=node.value))  # and "x: int = 1" as "x = 1"


def _is_docstring(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant) and isinstance(statement.value.value, str)


@functools.cache
def _versions() -> dict[str, Any]:
    """Once per process: the code that runs does not change while it runs, and a git subprocess per manifest (the
    live SLA view builds one every few seconds) costs the generator CPU."""
    return {
        "python": platform.python_version(),
        "locust": locust.__version__,
        "harness_commit": _git("rev-parse", "HEAD"),
        "dirty": None if (status := _git("status", "--porcelain")) is None else bool(status),
    }


def _git(*args: str) -> str | None:
    try:
        completed = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None  # not a git checkout (an unpacked archive) or git missing: the manifest says "unknown"
    return completed.stdout.strip()


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z") if moment else None


def _write_json(path: Path, content: dict) -> None:
    _write_text(path, json.dumps(content, indent=2) + "\n")


def _write_text(path: Path, text: str) -> None:
    # Write-then-rename: a reader (or a crash) never sees half a file, and a handle Locust still holds on an older
    # file of the same name (its CSV writer's) cannot write into the new one.
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _point_latest_at(results_dir: Path) -> None:
    """Make ``<parent>/latest`` name this run: a relative symlink, or a text file where symlinks fail."""
    latest = results_dir.parent / LATEST_LINK
    if latest.exists() and latest.is_dir() and not latest.is_symlink():
        logger.warning("results: %s is a real folder, not pointing it at %s", latest, results_dir.name)
        return
    temporary = results_dir.parent / f".{LATEST_LINK}.{os.getpid()}"
    try:
        if temporary.is_symlink() or temporary.exists():
            temporary.unlink()
        os.symlink(results_dir.name, temporary)
    except OSError:
        temporary.write_text(results_dir.name + "\n", encoding="utf-8")
    os.replace(temporary, latest)
