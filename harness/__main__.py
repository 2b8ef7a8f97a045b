"""The launcher: ``python -m harness perf|ui|capacity [launcher flags] [Locust arguments]``.

    perf      a bounded headless run, verdict against baselines/production.toml, then the report
    ui        Locust's web UI on 127.0.0.1 (class picker on)
    capacity  a step-load run (locustfile.py,scenarios/shapes.py; the shape sets users and duration, shape options
              such as --step-users pass through to Locust), no in-run verdict, then the capacity report; with
              --arrival-rate R --arrival-shape step an open-model step run, reported by offered load
    health    Thunder Client collections against the target, once (harness/thunder_cli.py)
    monitor   the same every --interval, alerting after consecutive failures (harness/thunder_cli.py)

perf first runs the health collections (collections/*.json) against the target: an unhealthy target ends the run
with exit 5, "target unhealthy: <failing check>", before any load (--no-preflight skips it).

When no target is configured (PP_TARGET_URL unset and no --host among the Locust arguments) it starts the embedded
simulator as a separate process on a free loopback port, says so, and stops it afterwards, always (also on
Ctrl-C or SIGTERM, which are forwarded to Locust first so that Locust still writes its results). Each run writes
results/<run-id>/ and points results/latest at it. The exit code is Locust's (which the in-run gate sets); for
capacity, whose failures past capacity are the finding (Locust's own exit 1), the capacity report's.

Launcher flags (everything else goes to Locust unchanged; -u/-r/-t given there override the defaults):
    --profile NAME --seed N --time-scale X --job-time-scale X    the simulator's (recorded in the manifest)
    --results-root DIR                                           where run folders go (default results)
    --no-report                                                   skip the report after the run
    --no-preflight                                                perf: no health check before the load

Why perf runs the full mix and compresses think times: the production baseline (baselines/production.toml)
judges every endpoint it lists, including the synchronous discovery and the export metadata call, which the
journey alone does not send. So perf gives Locust ``--mix perf`` (an option of the locustfile's: every class, in
the weights that make every required endpoint decide; naming classes or -T tags overrides it) and sets
PP_THINK_TIME_SCALE=0.25 unless it is set, and the
simulator's --job-time-scale 0.05 makes a discovery job take seconds instead of 1-2 minutes while request
latencies stay realistic (--time-scale 1).

Until decided (perf's default): the in-run gate stops the run once every required check is decided
(``--until-decided``; harness/gate.py), after at least --min-run-time (default 30 s, or --run-time if that is
shorter) and at most --run-time (300 s unless given). The
check that needs most data is "fail ratio <= 1 %": with no failure at all it takes ~230 requests of an endpoint to
show (analysis/sequential.py). So perf's mix gives the endpoints that are rare in the everyday mix (the synchronous
discovery, the export metadata call) enough users to reach that in a typical run. ``--fixed-duration`` turns it off: then --run-time (default 100 s) is the run's exact length.

The launcher knows no class names and no Locust flag list: Locust's arguments go through untouched, after its
defaults. What it needs of the product (the target in its settings, the health checks' variables, the embedded
simulator's sizing for a mode's load) it asks product.py at the project's root (harness/product.py): no module of harness imports scenarios or the simulator.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from analysis.errors import InputError
from analysis.exit_codes import ExitCode
from harness.component_samples import ComponentSampler
from harness.product import Product, load_product
from common.results_format import MANIFEST_FILE
from harness.results import LATEST_LINK, new_run_id
from harness.simulator_process import SimulatorStartError, start_simulator

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BASELINE = "baselines/production.toml"
SHAPES_FILE = "scenarios/shapes.py"
PRODUCT_FILE = "product.py"  # the product's answers to the launcher (harness/product.py)
PERF_MAX_RUN_TIME = "300s"
THUNDER_LOCUSTFILE = "harness/thunder_locust.py"


@dataclass(frozen=True)
class Mode:
    """What one launcher verb runs."""

    locustfiles: str
    headless: bool
    defaults: tuple[tuple[tuple[str, ...], str], ...]  # ((option spellings), default value) added when absent
    job_time_scale: str
    mix: str | None = None  # the locustfile's --mix when the caller gives none (scenarios/selection.py)
    environment: tuple[tuple[str, str], ...] = ()  # PP_* defaults for Locust's environment (unless already set)
    gate: bool = False  # the in-run verdict against the baseline (a step run mixes load levels: no single verdict)
    report: str | None = None  # the analysis verb that writes this run's report afterwards
    preflight: bool = False  # the health collections run first; an unhealthy target gets no load (exit 5)
    until_decided: bool = False  # the gate stops the run once decided; --run-time is the maximum (--fixed-duration: off)
    simulator_load: str | None = None  # the load the product sizes the embedded simulator for (product.py)


MODES = {
    # Until decided: typically 2-4 minutes, at most 300 s plus start-up, report and shut-down. --fixed-duration:
    # exactly --run-time (100 s unless given).
    # perf judges the platform's SLAs at its load: the product sizes the simulator for "perf" (product.py; recorded
    # in the manifest's extra_args); make capacity names no load and reports where the default sizing ends.
    "perf": Mode("locustfile.py", headless=True, job_time_scale="0.05", mix="perf",
                 defaults=((("-u", "--users"), "80"), (("-r", "--spawn-rate"), "10"), (("-t", "--run-time"), "100s")),
                 environment=(("PP_THINK_TIME_SCALE", "0.25"),), gate=True, report="report", preflight=True,
                 until_decided=True, simulator_load="perf"),
    # The baseline is the start form's default: the SLA tab, /metrics and each test's verdict and report use it.
    "ui": Mode("locustfile.py", headless=False, job_time_scale="0.05", defaults=(), gate=True),
    # The shape in scenarios/shapes.py decides users and duration; it stops the run by itself. Default plan: 5 steps
    # of 15 users, 36 s each (3 min, peak 75 users): on the default simulator Google's quota refuses calls from
    # about 45-60 users on and failed jobs break the discovery success SLA (README "Capacity limits"). ~800
    # discovery jobs: longer or higher plans reach the 1000-discovery-job guard (PP_MAX_DISCOVERY_JOBS, exit 6).
    "capacity": Mode("locustfile.py,scenarios/shapes.py", headless=True, job_time_scale="0.05",
                     defaults=((("--step-users",), "15"), (("--step-seconds",), "36"), (("--steps",), "5")),
                     mix="all", environment=(("PP_THINK_TIME_SCALE", "0.25"),), report="capacity"),
}  # fmt: skip


def parse_arguments(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("mode", choices=sorted([*MODES, "health", "monitor"]), help="what to run")
    parser.add_argument("--profile", default="healthy", help="simulator fault profile (default healthy)")
    parser.add_argument("--seed", default="1", help="simulator seed (default 1)")
    parser.add_argument("--time-scale", default="1.0", help="simulator latency scale (default 1.0: realistic)")
    parser.add_argument("--job-time-scale", default=None, help="simulator job duration scale (default 0.05)")
    parser.add_argument("--simulator-arg", action="append", default=[], metavar="ARG",
                        help="one more argument for the simulator, repeatable, written with '=': "
                             "--simulator-arg=--capacity=COMPONENT=N")  # fmt: skip
    parser.add_argument("--results-root", default="results", help="folder for run folders (default results)")
    parser.add_argument("--no-report", action="store_true", help="do not write the report after the run")
    parser.add_argument("--termination-message", default=None, metavar="FILE",
                        help="write the one-line verdict to FILE when the run ends (Kubernetes reads "
                             "/dev/termination-log: see deploy/kubernetes/harness.yaml)")  # fmt: skip
    parser.add_argument("--no-preflight", action="store_true", help="perf: skip the health check before the load")
    parser.add_argument("--fixed-duration", action="store_true",
                        help="perf: run exactly --run-time (default 100 s) instead of until every required check is "
                             "decided (default: --min-run-time 30s, --run-time 300s as the maximum)")  # fmt: skip
    return parser.parse_known_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["health"], ["monitor"]):
        from harness.thunder_cli import main as thunder_main

        return thunder_main(argv, open_target=open_health_target)
    args, locust_args = parse_arguments(argv)
    mode = MODES[args.mode]
    if _has_option(locust_args, ("--thunder-collection",)):  # load from a Thunder collection: its own generated baseline
        mode = replace(mode, locustfiles=THUNDER_LOCUSTFILE, mix=None, gate=False)
    try:
        configured_target = _configured_target(locust_args, _product())
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return int(ExitCode.BAD_INPUT)
    run_id = new_run_id()
    results_dir = Path(args.results_root).resolve() / run_id  # absolute, so it means the same to every child
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        print(f"error: {results_dir}: cannot create the run folder ({error.strerror}); give --results-root a "
              f"writable folder", file=sys.stderr)  # fmt: skip
        return int(ExitCode.BAD_INPUT)
    try:
        with _target(configured_target, args, mode, results_dir) as (url, simulator_flags):
            if mode.preflight and not args.no_preflight:
                refusal = _preflight(url, results_dir)
                if refusal is not None:
                    print(refusal[1], file=sys.stderr)
                    return int(refusal[0])
            command = locust_command(mode, url, results_dir, locust_args, simulator_flags,
                                     fixed_duration=args.fixed_duration)
            environment = _locust_environment(mode, simulator=not configured_target)
            if mode.locustfiles == THUNDER_LOCUSTFILE:
                # The variables the settings fill (keys, test users), by environment: never in a file.
                environment["THUNDER_VARIABLES"] = json.dumps(_product().health_target(url).variables)
            exit_code = run_until_done(command, environment)
    except SimulatorStartError as error:
        print(f"error: the simulator did not start: {error}", file=sys.stderr)
        # Nothing ran: a folder holding only the simulator's error would just be a stale run in results/.
        shutil.rmtree(results_dir, ignore_errors=True)
        return int(ExitCode.BAD_INPUT)
    if (results_dir / MANIFEST_FILE).exists():
        print(f"results: {results_dir}  (also {Path(args.results_root) / LATEST_LINK})", file=sys.stderr)
    else:
        print(f"results: {results_dir} (no test was started: Locust's files only)", file=sys.stderr)
    if mode.report and not args.no_report and (results_dir / MANIFEST_FILE).exists():
        report_code = _write_report(mode.report, results_dir)
        if mode.report == "capacity" and exit_code == 1:  # Locust's "some requests failed": the report judges them
            exit_code = report_code
    if args.termination_message:
        _write_termination_message(Path(args.termination_message), results_dir, exit_code)
    return exit_code


def _write_termination_message(path: Path, results_dir: Path, exit_code: int) -> None:
    """The verdict's first line ("Verdict: PASS (exit 0): ..."), or the exit code alone when no verdict was made."""
    verdict = results_dir / "verdict.txt"
    lines = verdict.read_text(errors="replace").splitlines() if verdict.is_file() else []
    line = lines[0] if lines else f"no verdict (exit {exit_code}): see {results_dir}"
    try:
        path.write_text(line + "\n")
    except OSError as error:
        print(f"error: --termination-message {path}: {error.strerror or error}", file=sys.stderr)


def _product() -> Product:
    """The product's answers to the launcher (product.py at the project's root), loaded once."""
    global _loaded_product
    if _loaded_product is None:
        _loaded_product = load_product(PROJECT_ROOT / PRODUCT_FILE)
    return _loaded_product


_loaded_product: Product | None = None


def _configured_target(locust_args: list[str], product: Product) -> str | None:
    """--host among the Locust arguments, else the product's settings (PP_TARGET_URL), else None (the simulator)."""
    for index, arg in enumerate(locust_args):
        if arg in ("-H", "--host") and index + 1 < len(locust_args):
            return locust_args[index + 1]
        if arg.startswith("--host="):
            return arg.split("=", 1)[1]
    return product.configured_target()


@contextmanager
def _target(configured: str | None, args: argparse.Namespace, mode: Mode, results_dir: Path):
    """Yield (url, simulator flags for the manifest); a simulator started here is stopped here, whatever happens."""
    if configured:
        print(f"target: {configured} (configured; no simulator started)", file=sys.stderr)
        yield configured, []
        return
    job_time_scale = args.job_time_scale or mode.job_time_scale
    sizing = _product().simulator_sizing[mode.simulator_load] if mode.simulator_load else ()
    extra = [*sizing, *args.simulator_arg]  # the caller's come last: a repeated --capacity wins
    simulator = start_simulator("--profile", args.profile, "--seed", args.seed, "--time-scale", args.time_scale,
                                "--job-time-scale", job_time_scale, *extra,
                                log_path=results_dir / "simulator.log")  # fmt: skip
    try:
        print(f"target: embedded ProspectPro simulator at {simulator.url} (not a real ProspectPro; profile "
              f"{args.profile}, seed {args.seed}, time scale {args.time_scale}, job time scale {job_time_scale})",
              file=sys.stderr)  # fmt: skip
        flags = ["--simulator-profile", args.profile, "--simulator-seed", str(args.seed),
                 "--simulator-time-scale", str(args.time_scale), "--simulator-job-time-scale", str(job_time_scale),
                 f"--simulator-extra-args={' '.join(extra)}"]  # fmt: skip
        # The simulator's component accounting over time (components.jsonl), for the capacity report.
        with ComponentSampler(simulator, results_dir):
            yield simulator.url, flags
    finally:
        simulator.stop()


def locust_command(mode: Mode, url: str, results_dir: Path, locust_args: list[str], simulator_flags: list[str],
                   *, fixed_duration: bool = False) -> list[str]:
    """The Locust command line: results files in the run folder, the target, bounded defaults, then the user's args."""
    # Absolute paths, because Locust runs in the caller's folder (see run_until_done).
    open_model = _has_option(locust_args, ("--arrival-rate",)) or bool(os.environ.get("LOCUST_ARRIVAL_RATE"))
    # An open-model run's arrival-rate plan is its load shape: a LoadTestShape file would take the run over.
    names = [name for name in mode.locustfiles.split(",") if not (open_model and name == SHAPES_FILE)]
    locustfiles = ",".join(str(PROJECT_ROOT / name) for name in names)
    command = [sys.executable, "-m", "locust", "-f", locustfiles,
               "--csv", str(results_dir / "locust"), "--csv-full-history", "--json-file", str(results_dir / "locust"),
               "--html", str(results_dir / "locust_report.html"), "--results-dir", str(results_dir), *simulator_flags]  # fmt: skip
    if not _has_option(locust_args, ("-H", "--host")):
        command += ["--host", url]
    if mode.headless:
        # --only-summary: no stats table every 2 s; the verdict table at the end is the summary.
        command += ["--headless", "--only-summary"]
    else:
        command += ["--web-host", "127.0.0.1", "--class-picker"]
    if mode.gate and not _has_option(locust_args, ("--baseline",)):
        command += ["--baseline", str(PROJECT_ROOT / BASELINE)]
    # A step or ramp arrival plan sets its own duration, like a load shape: nothing to run until decided.
    planned = open_model and _option_value(locust_args, "--arrival-shape") in ("step", "ramp")
    until_decided = (mode.until_decided and not fixed_duration and not planned
                     and not _has_option(locust_args, ("--until-decided",)))  # fmt: skip
    if until_decided:
        command += ["--until-decided"]  # the gate's own --min-run-time default (30 s, or --run-time if shorter)
    for spellings, default in mode.defaults:
        if spellings == ("-t", "--run-time") and (until_decided or _has_option(locust_args, ("--until-decided",))):
            default = PERF_MAX_RUN_TIME  # the maximum duration
        if not _has_option(locust_args, spellings):
            command += [spellings[-1], default]
    if mode.mix and not _has_option(locust_args, ("--mix",)):
        command += [f"--mix={mode.mix}"]  # used only when no class is named (scenarios/selection.py)
    command += _private_master_port(locust_args)
    return command + locust_args  # untouched: Locust alone reads its options and class names


def _private_master_port(locust_args: list[str]) -> list[str]:
    """``--processes N`` on one machine: a free master port on 127.0.0.1 unless one is given.

    Locust's default port 5557 is shared by every run on the machine: two runs at once would exchange workers (seen:
    another run's worker joined a perf run's master and took a share of its users and sign-ins).
    """
    if not _has_option(locust_args, ("--processes",)) or _has_option(locust_args, ("--master-bind-port", "--master-port")):
        return []
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    host = [] if _has_option(locust_args, ("--master-bind-host",)) else ["--master-bind-host", "127.0.0.1"]
    return [*host, "--master-bind-port", port, "--master-port", port]


def _option_value(arguments: list[str], option: str) -> str | None:
    for index, arg in enumerate(arguments):
        if arg == option and index + 1 < len(arguments):
            return arguments[index + 1]
        if arg.startswith(f"{option}="):
            return arg.split("=", 1)[1]
    return None


def _has_option(arguments: list[str], spellings: tuple[str, ...]) -> bool:
    return any(arg in spellings or any(arg.startswith(f"{s}=") for s in spellings if s.startswith("--")) for arg in arguments)


# Against the embedded simulator only (it costs nothing): room for the discoveries of a run until decided, which
# sends ~6 a second for up to 300 s; the settings' default cap (1000) stays for every real target.
SIMULATOR_ENVIRONMENT = (("PP_MAX_DISCOVERY_JOBS", "5000"),)


def _locust_environment(mode: Mode, *, simulator: bool = False) -> dict[str, str]:
    environment = dict(os.environ)
    for key, value in mode.environment + (SIMULATOR_ENVIRONMENT if simulator and mode.until_decided else ()):
        environment.setdefault(key, value)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), environment.get("PYTHONPATH")]))
    return environment


def run_until_done(command: list[str], environment: dict[str, str]) -> int:
    """Run Locust; forward Ctrl-C / SIGTERM to it once and wait, so it still writes its results."""
    # Its own session: a Ctrl-C in the terminal reaches Locust once, through us, not twice. SIGINT back to its
    # default in the child: a launcher started in the background by a script inherits it ignored, and Locust
    # would then ignore the Ctrl-C we forward.
    # In the caller's folder, like the launcher itself: Locust then reads the same .env (and locust.conf) that the
    # launcher read to find the target, and relative paths given on the command line mean what the caller meant.
    process = subprocess.Popen(command, env=environment, start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip

    def forward(signum, _frame):
        if process.poll() is None:
            process.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return process.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


REPORT_PAGES = {"report": "report.html", "capacity": "capacity.html"}


def _write_report(verb: str, results_dir: Path) -> int:
    """``python -m analysis report|capacity <dir> --baseline ... --output <dir>``; its exit code."""
    page = REPORT_PAGES[verb]
    command = [sys.executable, "-m", "analysis", verb, str(results_dir), "--baseline", str(PROJECT_ROOT / BASELINE),
               "--output", str(results_dir)]  # fmt: skip
    completed = subprocess.run(command, cwd=PROJECT_ROOT, env=_locust_environment(MODES["perf"]))
    if not (results_dir / page).exists():  # when it is written, the analysis CLI prints its path itself
        print(f"report: not written (python -m analysis {verb} exited {completed.returncode})", file=sys.stderr)
    return completed.returncode


# --- health, monitor and the perf pre-flight (the product's side of them: product.py) --------------------------
EXPIRED_SESSION_COLLECTION = PROJECT_ROOT / "collections" / "setup" / "expired" / "ProspectPro-Expired-Session.json"
EXPIRED_TOKEN_TTL_S = 1


def _health_target(url: str):
    return _product().health_target(url)


@contextmanager
def open_health_target(args: argparse.Namespace, output: Path):
    """health/monitor: the configured target (guarded), else a simulator started here and stopped afterwards."""
    configured = args.host or _product().configured_target()
    if configured:
        print(f"target: {configured} (configured; no simulator started)", file=sys.stderr)
        yield _health_target(configured.rstrip("/"))
        return
    # Only the team's Auth collection needs an expired token; the project's collections do not.
    wanted = args.verb == "health" and any("{{EXPIRED_SESSION_JWT}}" in Path(p).read_text(errors="replace")
                                           for p in args.collections)  # fmt: skip
    stack = ExitStack()
    try:
        expired = _expired_session_token(args) if wanted else None
        url, _flags = stack.enter_context(_target(None, args, MODES["perf"], output))
    except SimulatorStartError as error:
        raise InputError(f"the simulator did not start: {error}") from None
    with stack:
        target = _health_target(url)
        if expired is not None:
            target.variables["EXPIRED_SESSION_JWT"], minted_at = expired
            target.secrets.add("EXPIRED_SESSION_JWT")
            time.sleep(max(0.0, minted_at + EXPIRED_TOKEN_TTL_S + 0.1 - time.time()))  # it has expired once used
        yield target


def _expired_session_token(args: argparse.Namespace) -> tuple[str, float] | None:
    """A session token that has expired, for the team's expired-token check: issued by a twin of the simulator
    (same --seed, so the same users and signing key) with --jwt-ttl 1, which is stopped at once."""
    from harness.health import run_collection
    from harness.thunder import Variables, load_collection

    twin = start_simulator("--seed", args.seed, "--time-scale", "0", "--jwt-ttl", str(EXPIRED_TOKEN_TTL_S))
    try:
        variables = Variables()
        for name, value in _health_target(twin.url).variables.items():
            variables.set(name, value)
        minted_at = time.time()
        run_collection(load_collection(EXPIRED_SESSION_COLLECTION), variables, setup=True)
    finally:
        twin.stop()
    token = variables.values.get("EXPIRED_SESSION_JWT")
    return (token, minted_at) if token else None


class _PreflightInterrupted(SystemExit):
    """SIGTERM during the pre-flight."""


def _preflight(url: str, results_dir: Path) -> tuple[ExitCode, str] | None:
    """Run the health collections before any load: None when healthy, else (exit code, the one line to print)."""
    from harness.thunder_cli import default_collections, default_setup, preflight

    def interrupt(_signum, _frame):
        raise _PreflightInterrupted()  # a SystemExit: gevent's hub passes it to us without printing a traceback

    previous = signal.signal(signal.SIGTERM, interrupt)  # so that the simulator is stopped and the line printed
    try:
        target = _health_target(url)
        failing = preflight(target, default_collections(), default_setup(), results_dir)
    except InputError as error:
        return ExitCode.BAD_INPUT, f"error: {error.one_line()}"
    except (_PreflightInterrupted, KeyboardInterrupt):
        return ExitCode.RUN_NOT_VALID, "pre-flight interrupted: no load was sent"
    finally:
        signal.signal(signal.SIGTERM, previous)
    if failing is None:
        print(f"pre-flight: target healthy ({results_dir / 'health.json'})", file=sys.stderr)
        return None
    return ExitCode.RUN_NOT_VALID, f"target unhealthy: {failing}"


if __name__ == "__main__":
    sys.exit(main())
