"""The in-run verdict gate: ``locust ... --baseline FILE [--reference FILE]``.

Importing this module (locustfile.py does) registers:
- the options ``--baseline`` and ``--reference`` (also ``baseline = ...`` in locust.conf, or LOCUST_BASELINE /
  LOCUST_REFERENCE in the environment);
- an ``init`` listener that loads both files before any load is sent: a bad file is one line on stderr and exit 1;
- a finalizer in harness.results (which owns the single ``quitting`` listener and calls finalizers after every
  result file is written) that decides over the final stats, writes verdict.json/.txt/.md/.junit.xml into the
  results folder, prints the table, and sets the process exit code.

It decides with exactly the functions the offline ``python -m analysis compare`` uses. An open-model run
(``--arrival-rate``, harness/arrivals.py) is judged on its latency from the intended start, not on Locust's service
time, and on its arrival rate (analysis/openmodel.py: a run that missed its rate or dropped arrivals is not valid). With --processes N or
master/worker runs it runs on the master only, where Locust has merged every worker's stats (workers skip).

Until decided (``--until-decided``, on for ``make perf``): --run-time becomes the MAXIMUM duration and
``--min-run-time`` the minimum. Each time the interval recorder (harness/intervals.py) writes an interval on the
master, the merged counts so far are judged by analysis/sequential.py (always-valid tests: looking every interval
does not inflate false alarms). Once every check of every required endpoint is decided (pass or breach; with a
reference also regressed, unchanged or improved) and the minimum has passed, the master stops the run, once, for
all workers (stop reason "decided"). When the only checks left undecided have had under a 5 % chance of being
decided by the maximum at every look for 30 s, none of them pointing to a breach or a regression (futility:
analysis.sequential.SequentialJudge.out_of_reach), it stops too, with "undecidable". A run that reaches its maximum first stops with "max-duration". Either way what is still undecided
is reported inconclusive with the samples it lacked. The final verdict takes the sequential
verdicts; sequential.json (and a table after the verdict) says when each check was decided.

--baseline and --reference are also fields of the web UI's start form: each web-UI test loads the files the form
names when it starts (a bad file there is one error line in Locust's log and that test gets no verdict;
``gate_error`` says why). ``gate_of`` gives the loaded files to the live SLA view (harness/livesla.py).
"""

from __future__ import annotations

import logging
import sys
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import gevent
from locust import events
from locust.env import Environment
from locust.runners import STATE_RUNNING, STATE_SPAWNING, WorkerRunner
from locust.util.timespan import parse_timespan

from analysis.baseline import Baseline, load_baseline
from analysis.decide import decide
from analysis.errors import InputError
from analysis.exit_codes import ExitCode
from analysis.jsonfiles import read_json_object
from analysis.reference import load_reference
from analysis.render import render_text, write_verdict_files
from analysis.results import BUSINESS_METRICS_JSON, INTERVALS_JSONL, RunResult, run_from_entries
from analysis import sequential
from harness import intervals
from harness.arrivals import corrected_entries
from harness.results import name_run_time_stop, record_stop_reason, register_artifact_writer, register_finalizer, running_scenario_hash

logger = logging.getLogger(__name__)
DEFAULT_MIN_RUN_TIME_S = 30.0


@dataclass
class _UntilDecided:
    """The until-decided state of one run (master or local runner only)."""

    judge: sequential.SequentialJudge
    min_s: float
    max_s: float
    counts: sequential.LookCounts  # the run so far, and per part of the reference
    started_at: float | None = None  # epoch seconds, the interval recorder's start
    stopping: bool = False
    missing_required: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Gate:
    baseline: Baseline
    reference: RunResult | None
    until_decided: _UntilDecided | None = None
    paths: tuple[str | None, str | None] = (None, None)  # (--baseline, --reference) as given


_gates: weakref.WeakKeyDictionary[Environment, _Gate] = weakref.WeakKeyDictionary()
_gate_errors: weakref.WeakKeyDictionary[Environment, str] = weakref.WeakKeyDictionary()


def gate_of(environment: Environment) -> _Gate | None:
    """The loaded baseline and reference (None without --baseline): the live SLA view decides with them too."""
    return _gates.get(environment)


def gate_error(environment: Environment) -> str | None:
    """Why the files named in the web UI's form could not be loaded for the current test (None: they could)."""
    return _gate_errors.get(environment)


@events.init_command_line_parser.add_listener
def _add_options(parser, **_kwargs) -> None:
    parser.add_argument(
        "--baseline",
        default=None,
        env_var="LOCUST_BASELINE",
        include_in_web_ui=True,
        help="SLA baseline (TOML, e.g. baselines/production.toml): decide a verdict at the end of the run, "
        "write verdict files into the results folder and set the exit code",
    )
    parser.add_argument(
        "--reference",
        default=None,
        env_var="LOCUST_REFERENCE",
        include_in_web_ui=True,
        help="reference run (recorded with `python -m analysis record`) to test for regressions; needs --baseline",
    )
    parser.add_argument(
        "--until-decided",
        action="store_true",
        default=False,
        env_var="LOCUST_UNTIL_DECIDED",
        include_in_web_ui=False,
        help="stop as soon as every check of every required endpoint is decided (always-valid sequential tests); "
        "--run-time is then the maximum duration; needs --baseline",
    )
    parser.add_argument(
        "--min-run-time",
        default=None,
        env_var="LOCUST_MIN_RUN_TIME",
        include_in_web_ui=False,
        help=f"with --until-decided: never stop before this long (e.g. 60s, 2m; default {DEFAULT_MIN_RUN_TIME_S:g}s, "
        "or --run-time if that is shorter)",
    )


def prepare_gate(environment: Environment) -> None:
    """Load --baseline/--reference now, so a bad file stops the run before any load: one line, exit 1."""
    options = environment.parsed_options
    if options is None or isinstance(environment.runner, WorkerRunner):
        return
    baseline_path, reference_path = getattr(options, "baseline", None), getattr(options, "reference", None)
    if not baseline_path:
        if reference_path:
            _exit_bad_input("--reference needs --baseline (the regression rule lives in the baseline file)")
        return
    try:
        baseline = load_baseline(baseline_path)
        reference = load_reference(reference_path) if reference_path else None
    except InputError as error:
        _exit_bad_input(error.one_line())
    gate = _gates[environment] = _Gate(baseline, reference, _until_decided(environment, baseline, reference),
                                       (baseline_path, reference_path or None))  # fmt: skip
    if gate.until_decided is not None:
        state = gate.until_decided
        # The recorder calls this each time it writes an interval: at each interval on the master, after the
        # workers' reports for it have arrived (harness/intervals.py waits a grace period for them).
        register_artifact_writer(intervals.write_intervals_artifact)  # the last, partial interval is a look too
        intervals.attach(environment).interval_listeners.append(lambda _start_s, end_s, counts: _look(environment, state, end_s, counts))


def _until_decided(environment: Environment, baseline: Baseline, reference: RunResult | None) -> _UntilDecided | None:
    options = environment.parsed_options
    if not getattr(options, "until_decided", False):
        if getattr(options, "min_run_time", None):
            _exit_bad_input("--min-run-time needs --until-decided")
        return None
    max_s = getattr(options, "run_time", None)
    if not max_s:
        _exit_bad_input("--until-decided needs --run-time: the maximum duration, so that an undecided run still ends")
    text = getattr(options, "min_run_time", None)
    try:
        min_s = float(parse_timespan(str(text))) if text else min(DEFAULT_MIN_RUN_TIME_S, float(max_s))
    except ValueError:
        _exit_bad_input(f"--min-run-time: {text!r} is not a duration (e.g. 60s, 2m)")
    if min_s > max_s:
        _exit_bad_input(f"--min-run-time ({min_s:g} s) is longer than --run-time ({max_s:g} s), the maximum")
    recorded_hash = reference.manifest.scenario_hash if reference is not None and reference.manifest is not None else None
    if recorded_hash and recorded_hash != running_scenario_hash():
        # decide() will call every regression check not comparable: waiting for them would only lengthen the run.
        logger.warning("until-decided: the reference was recorded with other scenario code (scenario_hash); its "
                       "regression checks are not comparable, and the run does not wait for them")  # fmt: skip
        reference = None
    judge = sequential.SequentialJudge(baseline, sequential.reference_of(reference, baseline.regression) if reference else None)
    name_run_time_stop(environment, "max-duration")
    return _UntilDecided(judge, min_s, float(max_s), sequential.LookCounts(judge.reference))


@events.init.add_listener
def _on_init(environment: Environment, **_kwargs) -> None:
    prepare_gate(environment)


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_kwargs) -> None:
    """Web UI: the start form may name other files than the command line (or the last test) did."""
    options = environment.parsed_options
    if options is None or getattr(options, "headless", True) or isinstance(environment.runner, WorkerRunner):
        return
    wanted = (getattr(options, "baseline", None) or None, getattr(options, "reference", None) or None)
    current = _gates.get(environment)
    if current is not None and current.paths == wanted:
        return
    _gates.pop(environment, None)
    _gate_errors.pop(environment, None)
    try:
        if wanted[0] is None:
            if wanted[1]:
                raise InputError("--reference needs --baseline (the regression rule lives in the baseline file)")
            return
        baseline = load_baseline(wanted[0])
        reference = load_reference(wanted[1]) if wanted[1] else None
    except InputError as error:
        _gate_errors[environment] = error.one_line()
        logger.error("baseline: %s; this test gets no verdict", error.one_line())
        return
    # Until-decided is a headless option (not in the form): a web-UI test is stopped by its user.
    _gates[environment] = _Gate(baseline, reference, None, wanted)


def _look(environment: Environment, state: _UntilDecided, end_s: float, endpoints: dict) -> None:
    """One look, each time an interval is written: add its counts, judge everything, stop if all is decided."""
    try:
        recorder = intervals.recorder_for(environment)
        state.started_at = recorder.started_at if recorder is not None else state.started_at
        elapsed = end_s - (state.started_at or end_s)
        state.counts.add(elapsed, {key: (requests, failures, corrected[0] if corrected else histogram)  # open model:
                                   for key, (requests, failures, histogram, *corrected) in endpoints.items()})  # intended start
        state.counts.look(state.judge, elapsed)
        baseline = state.judge.baseline
        state.missing_required = tuple(k for k in sorted(baseline.endpoints) if baseline.is_required(k) and k not in state.counts.totals)
        undecided = state.judge.undecided_required()
        detail = _undecided_detail(undecided, state.missing_required)
        name_run_time_stop(environment, "max-duration", detail or "every required check decided at the last look")
        runner = environment.runner
        if state.stopping or state.missing_required or runner is None or runner.state not in (STATE_RUNNING, STATE_SPAWNING):
            return
        if time.time() - (state.started_at or time.time()) < state.min_s:
            return
        if not undecided:
            reason, detail = "decided", f"every required check decided after {elapsed:.0f} s"
        elif len(state.judge.out_of_reach(state.max_s)) == len(undecided):
            # Futility: what is left would not be decided by the maximum either; waiting for it costs CI time only.
            reason = "undecidable"
            detail = (f"after {elapsed:.0f} s every required check is decided but these, which the maximum "
                      f"({state.max_s:g} s) would not settle: " + _undecided_detail(undecided, ()).split(": ", 1)[1])  # fmt: skip
        else:
            return
        state.stopping = True
        record_stop_reason(environment, reason, detail)
        logger.info("until-decided: %s, stopping the run", detail)
        gevent.spawn(_stop, environment)
    except Exception as error:  # noqa: BLE001 - a failing look must not kill the interval recorder's greenlet
        logger.error("until-decided: the look failed: %s: %s", type(error).__name__, error)


def _undecided_detail(undecided: list, missing: tuple[str, ...]) -> str:
    parts = [f"{check.subject} {check.metric} ({check.describe()})" for check in undecided]
    parts += [f"{key} never sent" for key in missing]
    return "undecided at the maximum duration: " + "; ".join(parts) if parts else ""


def _stop(environment: Environment) -> None:
    """Stop the run once, from the master: headless runs quit (as --run-time does), a web-UI test stops."""
    runner = environment.runner
    if runner is None:
        return
    if getattr(environment.parsed_options, "headless", True):
        runner.quit()
    else:
        runner.stop()


def _exit_bad_input(message: str) -> NoReturn:
    # Locust turns an exception in an init listener into a logged traceback and exit 1; a person needs one line.
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(int(ExitCode.BAD_INPUT))


@register_finalizer
def finalize_gate(environment: Environment, results_dir: Path | None, manifest: dict) -> None:
    """Decide over the final (merged, on the master) stats and set the exit code. Skips workers and runs without --baseline."""
    gate = _gates.get(environment)
    if gate is None or isinstance(environment.runner, WorkerRunner) or environment.runner is None:
        return
    try:
        business = (
            read_json_object(results_dir / BUSINESS_METRICS_JSON, what="the harness's business_metrics.json")
            if results_dir is not None
            else None
        )
        # serialize() per entry copies the numbers; stats.serialize_stats() would RESET them (Locust pitfall).
        entries = [entry.serialize() for entry in environment.runner.stats.entries.values()]
        run = run_from_entries(
            entries,
            manifest,
            business,
            source=str(results_dir) if results_dir else "<in-run stats>",
            has_intervals=bool(results_dir and (results_dir / INTERVALS_JSONL).is_file()),
            corrected_entries=corrected_entries(environment),  # open model: judge latency from the intended start
        )
        decision = decide(run, gate.baseline, gate.reference)
        record = None
        if gate.until_decided is not None:
            state = gate.until_decided
            stop = manifest.get("stop_reason") or "unknown"
            record = sequential.record_of(state.judge, stop=stop, min_s=state.min_s, max_s=state.max_s,
                                          reference=gate.reference.source if gate.reference is not None else None)
            decision = sequential.apply_to_decision(decision, record)
        if results_dir is not None:
            write_verdict_files(decision, results_dir)
            if record is not None:
                sequential.write_record(record, results_dir)
    except InputError as error:
        print(f"error: {error.one_line()}", file=sys.stderr)
        _set_exit_code(environment, ExitCode.BAD_INPUT)
        return
    sys.stdout.write("\n" + render_text(decision))
    if record is not None:
        sys.stdout.write("\n" + sequential.render_text(record))
    sys.stdout.flush()
    _set_exit_code(environment, decision.exit_code)


def _set_exit_code(environment: Environment, code: ExitCode) -> None:
    # A guard's 6 stands: the run was cut short on purpose, so its numbers are no verdict on the system.
    if environment.process_exit_code == ExitCode.STOPPED_BY_GUARD:
        return
    environment.process_exit_code = int(code)
