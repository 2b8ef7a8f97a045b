"""``python -m harness health|monitor``: the runbook's Thunder Client checks, as a command and as a monitor.

    python -m harness health [COLLECTION ...] [--env FILE] [--output DIR]
    python -m harness monitor [COLLECTION ...] [--interval 300] [--count N | --duration S] [--log FILE]
                              [--alert-after 3] [--on-alert COMMAND]

Without COLLECTION the project's own collections (collections/*.json) run. The target is the launcher's: the
embedded simulator, started here and stopped afterwards, unless PP_TARGET_URL or --host names one, which the same
guards as a load run must allow. Sign-in first (collections/setup/*.json) fills the JWT variables.

health   prints a table, writes health.json and health.junit.xml, exits 0 (all passed) or 3 (a check failed).
monitor  runs the collections every --interval, one request at a time, appends one JSON line per check to --log,
         and after --alert-after consecutive failures of one check prints an alert and exits 3, or, with
         --on-alert, runs that command (the check in MONITOR_CHECK, MONITOR_DETAIL) and goes on. It stops after
         --count rounds or --duration seconds (default: 12 rounds), and before a round once the responses' costs
         reach the spend ceiling (exit 6). Ctrl-C stops it (exit 0); each round is in the log as it ends.
A collection, environment or drift file that cannot be read is one line and exit 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from analysis.errors import InputError
from analysis.exit_codes import ExitCode
from harness.health import (DEFAULT_TIMEOUT_S, HealthRun, RequestResult, load_known_drift, render_table, run_health,
                            send, write_results)  # fmt: skip
from harness.results import new_run_id
from harness.thunder import (Collection, PreparedRequest, Response, Variables, load_collection, load_environment, origin,
                             query)  # fmt: skip

PROJECT_ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS_DIR = PROJECT_ROOT / "collections"
DEFAULT_MONITOR_ROUNDS = 12  # an hour at the runbook's 5-minute interval
RESIGN_AFTER_S = 1800.0
DEFAULT_DRIFT = str(COLLECTIONS_DIR / "known-drift.toml")  # a monitor signs in again after this long (GoTrue's tokens live an hour)


@dataclass
class HealthTarget:
    """What the launcher resolved: the URL (allowed by the guards), variables from the settings (target URL, keys,
    test users), which of them the --env file may not change, and the spend ceiling with the JSON paths of costs."""

    url: str
    variables: dict[str, str]
    secrets: set[str] = field(default_factory=set)
    pinned: set[str] = field(default_factory=set)  # variables naming the target: an --env file cannot redirect
    spend_ceiling_usd: float | None = None
    cost_paths: tuple[str, ...] = ()


OpenTarget = Callable[[argparse.Namespace, Path], AbstractContextManager[HealthTarget]]


def default_collections() -> list[Path]:
    return sorted(COLLECTIONS_DIR.glob("*.json"))


def default_setup() -> list[Path]:
    return sorted((COLLECTIONS_DIR / "setup").glob("*.json"))


def build_parser(verb: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m harness {verb}", description=__doc__.split("\n\n")[0])
    parser.add_argument("verb", choices=[verb])
    parser.add_argument("collections", nargs="*", metavar="COLLECTION", help="Thunder Client collection files "
                        "(default: collections/*.json)")  # fmt: skip
    parser.add_argument("--env", action="append", default=[], metavar="FILE",
                        help="Thunder Client environment file(s); its values fill {{variables}} (repeatable)")
    parser.add_argument("--setup", action="append", default=None, metavar="FILE",
                        help="collections run first to sign in (default collections/setup/*.json)")
    parser.add_argument("--no-sign-in", action="store_true", help="run no setup collection (tokens come from --env)")
    parser.add_argument("--drift", default=DEFAULT_DRIFT, metavar="FILE",
                        help="documented Thunder-vs-code drift: failures it lists are named as such")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="per request, seconds (default 15)")
    parser.add_argument("--host", "-H", default=None, help="the target (default PP_TARGET_URL, else the simulator)")
    parser.add_argument("--profile", default="healthy", help="simulator fault profile (default healthy)")
    parser.add_argument("--seed", default="1", help="simulator seed (default 1)")
    parser.add_argument("--time-scale", default="1.0", help="simulator latency scale (default 1.0: realistic)")
    parser.add_argument("--job-time-scale", default="0.05", help="simulator job duration scale (default 0.05)")
    parser.add_argument("--simulator-arg", action="append", default=[], metavar="ARG",
                        help="one more argument for the simulator, written with '='")
    if verb == "health":
        parser.add_argument("--output", default=None, metavar="DIR",
                            help="folder for health.json and health.junit.xml (default results/health/<run-id>)")
    else:
        parser.add_argument("--interval", type=float, default=300.0, help="seconds between rounds (default 300)")
        bound = parser.add_mutually_exclusive_group()
        bound.add_argument("--count", type=int, default=None, help=f"rounds, then stop (default {DEFAULT_MONITOR_ROUNDS})")
        bound.add_argument("--duration", type=float, default=None, help="seconds, then stop")
        parser.add_argument("--log", default="results/monitor.jsonl", help="JSONL file to append to")
        parser.add_argument("--alert-after", type=int, default=3, help="consecutive failures of one check (default 3)")
        parser.add_argument("--on-alert", default=None, metavar="COMMAND",
                            help="run this instead of exiting when a check alerts (it gets MONITOR_CHECK, MONITOR_DETAIL)")
    return parser


@dataclass
class Plan:
    collections: list[Collection]
    setup: list[Collection]
    drift: dict
    env: dict[str, str]


def load_plan(args: argparse.Namespace) -> Plan:
    """Read every file before anything is sent: one unreadable file is one line and exit 1, nothing sent."""
    paths = [Path(p) for p in args.collections] or default_collections()
    if not paths:
        raise InputError("no collection given and collections/*.json is empty", hint="name a collection file")
    setup_paths = [] if args.no_sign_in else [Path(p) for p in (args.setup if args.setup is not None else default_setup())]
    env: dict[str, str] = {}
    for env_path in args.env:
        env.update(load_environment(env_path))
    # The default drift file is optional (a checkout without it still runs); one named on the command line is not.
    drift = {} if not args.drift or (args.drift == DEFAULT_DRIFT and not Path(DEFAULT_DRIFT).exists()) \
        else load_known_drift(args.drift)
    return Plan([load_collection(p) for p in paths], [load_collection(p) for p in setup_paths], drift, env)


def variables_for(target: HealthTarget, env: dict[str, str]) -> Variables:
    variables = Variables()
    for name, value in target.variables.items():
        variables.set(name, value, secret=name in target.secrets or None)
    for name, value in env.items():
        if name in target.pinned:
            if value and value.rstrip("/") != target.variables.get(name, "").rstrip("/"):
                print(f"note: --env {name}={value} ignored: the target is {target.url} (PP_TARGET_URL or --host "
                      f"choose it, under the guards)", file=sys.stderr)  # fmt: skip
            continue
        if value or name not in variables.values:  # an empty value in a shared env file must not blank a setting
            variables.set(name, value)
    return variables


def on_target_only(target_url: str, sender=send):
    """A sender that refuses any URL outside the target's origin: a collection with a hard-coded host cannot send
    load past the guards."""
    target = origin(target_url)

    def guarded(request: PreparedRequest, timeout: float) -> Response:
        if origin(request.url) != target:
            return Response(0, {}, b"", 0.0, error=f"not sent: {origin(request.url) or request.url} is not the "
                                                   f"target {target}")  # fmt: skip
        return sender(request, timeout)

    return guarded


def main(argv: list[str], open_target: OpenTarget) -> int:
    verb = argv[0]
    args = build_parser(verb).parse_args(argv)
    try:
        plan = load_plan(args)
    except InputError as error:
        print(f"error: {error.one_line()}", file=sys.stderr)
        return int(ExitCode.BAD_INPUT)
    run_id = new_run_id()
    output = Path(args.output) if verb == "health" and args.output else Path("results") / verb / run_id
    try:
        with open_target(args, output) as target:
            if verb == "health":
                return _health(args, plan, target, output)
            return _monitor(args, plan, target)
    except InputError as error:
        print(f"error: {error.one_line()}", file=sys.stderr)
        return int(ExitCode.BAD_INPUT)
    except KeyboardInterrupt:  # Ctrl-C: the simulator (if started here) is stopped on the way out
        if verb == "monitor":
            print(f"monitor: stopped by Ctrl-C; the rounds so far are in {args.log}", file=sys.stderr)
            return int(ExitCode.OK)
        print("health: interrupted; no results written", file=sys.stderr)
        return int(ExitCode.RUN_NOT_VALID)


def _health(args: argparse.Namespace, plan: Plan, target: HealthTarget, output: Path) -> int:
    variables = variables_for(target, plan.env)
    run = run_health(target.url, plan.collections, variables, setup=plan.setup, sender=on_target_only(target.url),
                     timeout=args.timeout, drift=plan.drift)  # fmt: skip
    sys.stdout.write(render_table(run))
    try:
        json_path, junit_path = write_results(run, output)
    except OSError as error:
        print(f"error: {output}: cannot write the results ({error.strerror}); give --output a writable folder",
              file=sys.stderr)  # fmt: skip
        return int(ExitCode.BAD_INPUT)
    print(f"results: {json_path} and {junit_path.name}", file=sys.stderr)
    return int(ExitCode.OK if run.healthy else ExitCode.SLA_BREACHED)


def preflight(target: HealthTarget, collections: list[Path], setup: list[Path], output: Path,
              timeout: float = DEFAULT_TIMEOUT_S) -> str | None:
    """The perf pre-flight: run the health collections once; None when healthy, else the first failing check.
    Raises InputError for an unreadable collection. Writes health.json/health.junit.xml into ``output``."""
    loaded, loaded_setup = [load_collection(p) for p in collections], [load_collection(p) for p in setup]
    variables = variables_for(target, {})
    run = run_health(target.url, loaded, variables, setup=loaded_setup, sender=on_target_only(target.url),
                     timeout=timeout, judge_time=False, stop_after_failed_setup=True)  # fmt: skip
    write_results(run, output)
    if run.count("slow"):
        print(f"pre-flight: {run.count('slow')} res-time checks over their limit (the load run measures speed)",
              file=sys.stderr)  # fmt: skip
    return None if run.healthy else run.first_failure()


# --- monitor --------------------------------------------------------------------------------------------------------
def _monitor(args: argparse.Namespace, plan: Plan, target: HealthTarget) -> int:
    if args.interval < 0 or (args.count is not None and args.count < 1) or (args.duration is not None and args.duration <= 0) \
            or args.alert_after < 1:
        print("error: --interval must be >= 0, --count and --alert-after >= 1, --duration > 0", file=sys.stderr)
        return int(ExitCode.USAGE)
    rounds = args.count if args.count is not None else (None if args.duration is not None else DEFAULT_MONITOR_ROUNDS)
    deadline = time.monotonic() + args.duration if args.duration is not None else None
    log = Path(args.log)
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.open("a").close()
    except OSError as error:
        print(f"error: {log}: cannot append to it ({error.strerror}); give --log a writable file", file=sys.stderr)
        return int(ExitCode.BAD_INPUT)
    variables = variables_for(target, plan.env)
    sender = on_target_only(target.url)
    streaks: dict[str, int] = {}
    spend = 0.0
    signed_in_at: float | None = None
    number = 0
    while (rounds is None or number < rounds) and (deadline is None or time.monotonic() < deadline):
        if target.spend_ceiling_usd is not None and spend >= target.spend_ceiling_usd:
            print(f"monitor: stopped by the spend guard: ${spend:.2f} of responses' costs reached the ceiling "
                  f"${target.spend_ceiling_usd:g}", file=sys.stderr)  # fmt: skip
            return int(ExitCode.STOPPED_BY_GUARD)
        number += 1
        resign = signed_in_at is None or time.monotonic() - signed_in_at > RESIGN_AFTER_S
        costs: list[float] = []
        run = run_health(target.url, plan.collections, variables, setup=plan.setup if resign else [], sender=_costed(sender, target.cost_paths, costs),
                         timeout=args.timeout, drift=plan.drift)  # fmt: skip
        spend += sum(costs)
        if resign and not any(check.verdict == "fail" for _, check in run.checks(setup=True)):
            signed_in_at = time.monotonic()
        _append(log, run, number)
        alert = _update_streaks(run, streaks, args.alert_after)
        print(f"monitor round {number}: {'healthy' if run.healthy else 'UNHEALTHY: ' + (run.first_failure() or '')}",
              file=sys.stderr)  # fmt: skip
        if alert is not None:
            check, detail = alert
            message = f"ALERT: {check} failed {args.alert_after} consecutive times (last: {detail})"
            print(message)
            sys.stdout.flush()
            if args.on_alert is None:
                return int(ExitCode.SLA_BREACHED)
            environment = {**os.environ, "MONITOR_CHECK": check, "MONITOR_DETAIL": detail, "MONITOR_LOG": str(log)}
            subprocess.run(shlex.split(args.on_alert), env=environment, check=False)
        more = (rounds is None or number < rounds) and (deadline is None or time.monotonic() + args.interval < deadline)
        if not more:
            break
        time.sleep(args.interval)
    return int(ExitCode.OK)


def _costed(sender, cost_paths: tuple[str, ...], costs: list[float]):
    """Wrap the sender: add up the cost fields the responses report (the spend the monitor itself causes)."""

    def costed(request: PreparedRequest, timeout: float) -> Response:
        response = sender(request, timeout)
        document = response.json() if response.status else None
        if isinstance(document, dict):
            for path in cost_paths:
                value = query(document, path)
                if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                    costs.append(float(value))
                    break
        return response

    return costed


def _append(log: Path, run: HealthRun, number: int) -> None:
    with log.open("a", encoding="utf-8") as stream:
        for result, check in run.checks():
            stream.write(json.dumps({"at": result.at, "round": number, "collection": result.collection,
                                     "request": result.request, "check": check.label, "verdict": check.verdict,
                                     "status": result.status, "elapsed_ms": result.elapsed_ms, "detail": check.detail,
                                     "setup": result.setup}) + "\n")  # fmt: skip


def _update_streaks(run: HealthRun, streaks: dict[str, int], alert_after: int) -> tuple[str, str] | None:
    """Count consecutive failing rounds per check; the first check that reaches ``alert_after`` alerts (once per
    streak: it alerts again only after it passed in between)."""
    alert = None
    for result, check in run.checks():
        if check.verdict == "skipped":
            continue
        key = f"{result.collection} / {result.request}: {check.label}"
        if check.verdict == "pass":
            streaks[key] = 0
            continue
        streaks[key] = streaks.get(key, 0) + 1
        if streaks[key] == alert_after and alert is None:
            alert = (key, check.detail)
    return alert


__all__ = ["HealthTarget", "main", "preflight", "RequestResult"]
