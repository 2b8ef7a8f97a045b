"""The in-run verdict gate: ``locust ... --baseline FILE [--reference FILE]``.

Importing this module (locustfile.py does) registers:
- the options ``--baseline`` and ``--reference`` (also ``baseline = ...`` in locust.conf, or LOCUST_BASELINE /
  LOCUST_REFERENCE in the environment);
- an ``init`` listener that loads both files before any load is sent: a bad file is one line on stderr and exit 1;
- a finalizer in harness.results (which owns the single ``quitting`` listener and calls finalizers after every
  result file is written) that decides over the final stats, writes verdict.json/.txt/.md/.junit.xml into the
  results folder, prints the table, and sets the process exit code.

It decides with exactly the functions the offline ``python -m analysis compare`` uses. With --processes N or
master/worker runs it runs on the master only, where Locust has merged every worker's stats (workers skip).
"""

from __future__ import annotations

import sys
import weakref
from dataclasses import dataclass
from pathlib import Path

from locust import events
from locust.env import Environment
from locust.runners import WorkerRunner

from analysis.baseline import Baseline, load_baseline
from analysis.decide import decide
from analysis.errors import InputError
from analysis.exit_codes import ExitCode
from analysis.jsonfiles import read_json_object
from analysis.reference import load_reference
from analysis.render import render_text, write_verdict_files
from analysis.results import BUSINESS_METRICS_JSON, INTERVALS_JSONL, RunResult, run_from_entries
from harness.results import register_finalizer


@dataclass(frozen=True)
class _Gate:
    baseline: Baseline
    reference: RunResult | None


_gates: weakref.WeakKeyDictionary[Environment, _Gate] = weakref.WeakKeyDictionary()


@events.init_command_line_parser.add_listener
def _add_options(parser, **_kwargs) -> None:
    parser.add_argument(
        "--baseline",
        default=None,
        env_var="LOCUST_BASELINE",
        include_in_web_ui=False,
        help="SLA baseline (TOML, e.g. baselines/production.toml): decide a verdict at the end of the run, "
        "write verdict files into the results folder and set the exit code",
    )
    parser.add_argument(
        "--reference",
        default=None,
        env_var="LOCUST_REFERENCE",
        include_in_web_ui=False,
        help="reference run (recorded with `python -m analysis record`) to test for regressions; needs --baseline",
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
    _gates[environment] = _Gate(baseline, reference)


@events.init.add_listener
def _on_init(environment: Environment, **_kwargs) -> None:
    prepare_gate(environment)


def _exit_bad_input(message: str) -> None:
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
        )
        decision = decide(run, gate.baseline, gate.reference)
        if results_dir is not None:
            write_verdict_files(decision, results_dir)
    except InputError as error:
        print(f"error: {error.one_line()}", file=sys.stderr)
        _set_exit_code(environment, ExitCode.BAD_INPUT)
        return
    sys.stdout.write("\n" + render_text(decision))
    sys.stdout.flush()
    _set_exit_code(environment, decision.exit_code)


def _set_exit_code(environment: Environment, code: ExitCode) -> None:
    # A guard's 6 stands: the run was cut short on purpose, so its numbers are no verdict on the system.
    if environment.process_exit_code == ExitCode.STOPPED_BY_GUARD:
        return
    environment.process_exit_code = int(code)
