"""The bad-input corpus (tests/corpus/) through the real command lines, as a person would meet it.

Each case runs `locust -f locustfile.py`, `python -m harness` or `python -m analysis` as a process and expects ONE
`error:` line naming the file (and the key or line), the documented exit code (1 bad input, 2 usage), no
traceback, nothing sent, and no secret echoed. The analysis CLI's own in-process cases (tests/analysis/
test_bad_input.py, test_report.py, test_capacity*.py) are not repeated: this file covers .env files, the Locust-side
gate, the launcher, intervals.jsonl, older references, and the results-file cases of the verbs those tests skip.

All cases run at once in a small pool (each is a short-lived process), then each test reads its own outcome.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from analysis.exit_codes import ExitCode
from tests.support.failure_runs import REPO_ROOT, SIMULATOR_FLAGS, TRACEBACK, finish_run, start_run
from tests.support.ports import closed_port_url
from harness.simulator_process import start_simulator
from tests.support.locust_runs import clean_environment

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parent / "corpus"
PRODUCTION = str(REPO_ROOT / "baselines" / "production.toml")
LOCUST = [sys.executable, "-m", "locust", "-f", str(REPO_ROOT / "locustfile.py"), "--headless", "-u", "1", "-t", "2s"]
HARNESS = [sys.executable, "-m", "harness"]
ANALYSIS = [sys.executable, "-m", "analysis"]
PARALLEL = 4


@dataclass(frozen=True)
class Case:
    """One bad input: the command (``{run}``, ``{tmp}``, ``{host}`` filled in), what it must say, and its code."""

    id: str
    command: tuple[str, ...]
    code: int
    says: tuple[str, ...]  # fragments of the one error line: the file, the key or line, the problem
    env_file: str | None = None  # a corpus .env copied into the case's working folder as .env
    results: dict | None = None  # {file name: content or None (delete)} applied to a copy of a real run
    secret: str | None = None  # a value from the input that must never be printed
    one_line: bool = True  # False: an argparse usage error (usage text + one error line)


def env_case(name: str, *says: str, tool=LOCUST, secret: str | None = None, code: int = ExitCode.BAD_INPUT) -> Case:
    command = (*tool, "--host", "{host}", "--results-dir", "{tmp}/results") if tool is LOCUST else \
              (*tool, "perf", "--no-report", "-u", "1", "-t", "1s", "--results-root", "{tmp}/results")  # fmt: skip
    return Case(f"{'locust' if tool is LOCUST else 'harness'}-{name}", command, code, (".env", *says),
                env_file=f"{name}.env", secret=secret)  # fmt: skip


def _cut(text: str, keep: float) -> str:
    return text[: int(len(text) * keep)]


def _damage_middle_line(text: str) -> str:
    lines = text.splitlines()
    lines[2] = lines[2][:30]
    return "\n".join(lines) + "\n"


JMETER_CSV = "timeStamp,elapsed,label,responseCode,success\n1795728000000,12,GET /auth/v1/user,200,true\n"
REPORT = (*ANALYSIS, "report", "{run}", "--baseline", PRODUCTION, "--output", "{tmp}/report")
CASES = [
    # ---- .env (scenarios.settings), read by Locust's init and by the launcher ----------------------------------
    env_case("unknown-key", "unknown setting PP_MAX_USER", "known settings: "),
    env_case("bad-number", "PP_MAX_USERS", "valid integer"),
    env_case("bad-url", "PP_TARGET_URL", "not an http(s) URL"),
    env_case("malformed-line", "line 3 is not KEY=VALUE", "fix or remove that line", secret="hunter2-CANARY"),
    env_case("negative-ceiling", "PP_SPEND_CEILING_USD", "greater than or equal to 0"),
    env_case("unknown-tier", "PP_TIER", "'BASE', 'PROFESSIONAL' or 'ENTERPRISE'"),
    env_case("countdown-range", "PP_TEST_USERS", "counts down"),
    env_case("not-a-jwt", "PP_SESSION_JWTS", "is not a JWT", secret="CANARYTOKEN-not-a-jwt-at-all"),
    env_case("unknown-key", "unknown setting PP_MAX_USER", tool=HARNESS),
    env_case("malformed-line", "line 3 is not KEY=VALUE", tool=HARNESS, secret="hunter2-CANARY"),
    env_case("not-a-jwt", "PP_SESSION_JWTS", "is not a JWT", tool=HARNESS, secret="CANARYTOKEN-not-a-jwt-at-all"),
    # ---- baselines and references at the Locust-side gate: refused before any load ------------------------------
    *[Case(f"locust-baseline-{name}", (*LOCUST, "--host", "{host}", "--results-dir", "{tmp}/results", "--baseline",
                                       str(CORPUS / "baselines" / f"{name}.toml")), ExitCode.BAD_INPUT,
           (f"{name}.toml", *says))
      for name, says in [("syntax-error", ("invalid TOML", "line 4")),
                         ("unknown-key", ('endpoints."GET /auth/v1/user".p95', "unknown key")),
                         ("wrong-type", ("defaults.fail_ratio", "valid number")),
                         ("negative-limit", ('endpoints."POST /functions/v1/enrichment-orchestrator".p95_ms',
                                             "greater than or equal to 0"))]],
    Case("locust-reference-older-schema", (*LOCUST, "--host", "{host}", "--results-dir", "{tmp}/results", "--baseline",
                                           PRODUCTION, "--reference", str(CORPUS / "references" / "schema0-reference.json")),
         ExitCode.BAD_INPUT, ("schema0-reference.json", "schema_version", "unsupported schema_version 0",
                              "record the reference again")),
    Case("report-reference-older-schema", (*REPORT, "--reference", str(CORPUS / "references" / "schema0-reference.json")),
         ExitCode.BAD_INPUT, ("schema0-reference.json", "schema_version", "record the reference again")),
    Case("compare-reference-folder-older-manifest", (*ANALYSIS, "compare", str(REPO_ROOT / "tests/golden/runs/healthy"),
                                                     "--baseline", PRODUCTION, "--reference", "{run}"),
         ExitCode.BAD_INPUT, ("manifest.json", "schema_version"), results={"manifest.json": '{"schema_version": 0}'}),
    # ---- results files, through the verbs the analysis tests do not drive ----------------------------------------
    Case("record-truncated-locust-json", (*ANALYSIS, "record", "{run}", "--output", "{tmp}/reference.json"),
         ExitCode.BAD_INPUT, ("locust.json", "invalid JSON", "may be truncated"), results={"locust.json": 0.5}),
    Case("record-truncated-manifest", (*ANALYSIS, "record", "{run}", "--output", "{tmp}/reference.json"),
         ExitCode.BAD_INPUT, ("manifest.json", "invalid JSON", "may be truncated"), results={"manifest.json": 0.3}),
    Case("report-empty-locust-json", REPORT, ExitCode.BAD_INPUT, ("locust.json", "file is empty"),
         results={"locust.json": ""}),
    Case("report-empty-business-metrics", REPORT, ExitCode.BAD_INPUT, ("business_metrics.json", "file is empty"),
         results={"business_metrics.json": ""}),
    Case("report-csv-from-another-tool", REPORT, ExitCode.BAD_INPUT,
         ("locust_stats.csv", "missing column 'Type'", "not a Locust --csv stats file"),
         results={"locust.json": None, "locust_stats.csv": JMETER_CSV}),
    Case("capacity-intervals-damaged-line", (*ANALYSIS, "capacity", "{run}", "--baseline", PRODUCTION, "--output", "{tmp}/c"),
         ExitCode.BAD_INPUT, ("intervals.jsonl", "line 3", "invalid JSON"), results={"intervals.jsonl": _damage_middle_line}),
    Case("capacity-intervals-missing", (*ANALYSIS, "capacity", "{run}", "--baseline", PRODUCTION, "--output", "{tmp}/c"),
         ExitCode.BAD_INPUT, ("no intervals.jsonl", "interval recorder", "--csv-full-history"),
         results={"intervals.jsonl": None, "locust_stats_history.csv": None}),
    Case("plot-intervals-empty", (*ANALYSIS, "plot", "{run}", "--output", "{tmp}/plots"), ExitCode.BAD_INPUT,
         ("intervals.jsonl", "file is empty"), results={"intervals.jsonl": ""}),
    # ---- command-line misuse ----------------------------------------------------------------------------------
    Case("harness-no-mode", tuple(HARNESS), ExitCode.USAGE, ("required: mode",), one_line=False),
    Case("harness-unknown-mode", (*HARNESS, "fly"), ExitCode.USAGE, ("invalid choice: 'fly'",), one_line=False),
    Case("harness-unknown-profile", (*HARNESS, "perf", "--profile", "no-such-profile", "--results-root", "{tmp}/results"),
         ExitCode.BAD_INPUT, ("--profile", "unknown profile 'no-such-profile'", "choose one of")),
    Case("locust-interval-zero", (*LOCUST, "--host", "{host}", "--interval-seconds", "0"), ExitCode.USAGE,
         ("--interval-seconds", "positive number"), one_line=False),
    Case("locust-results-dir-is-a-file", (*LOCUST, "--host", "{host}", "--results-dir", "{tmp}/a-file/results"),
         ExitCode.BAD_INPUT, ("a-file",)),
]  # fmt: skip
BY_ID = {case.id: case for case in CASES}
assert len(BY_ID) == len(CASES), "case ids must be unique"

@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    workdir: Path


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> Path:
    """A short real run's results folder (every file, intervals included): the base the results cases damage."""
    results_dir = tmp_path_factory.mktemp("real-run") / "run"
    with start_simulator("--profile", "zero-latency", *SIMULATOR_FLAGS) as simulator:
        process = start_run(simulator.url, results_dir, "-u", "2", "-r", "2", "-t", "3s", "AuthUser", "ExportUser")
        finish_run(process, results_dir)
    return results_dir


def _prepare(case: Case, workdir: Path, real_run: Path) -> tuple[list[str], Path]:
    workdir.mkdir(parents=True)
    (workdir / "a-file").write_text("not a folder\n")
    run = workdir / "run"
    shutil.copytree(real_run, run)
    for name, change in (case.results or {}).items():
        path = run / name
        if change is None:
            path.unlink()
        elif isinstance(change, float):
            path.write_text(_cut(path.read_text(), change))
        elif callable(change):
            path.write_text(change(path.read_text()))
        else:
            path.write_text(change)
    if case.env_file:
        shutil.copy(CORPUS / "env" / case.env_file, workdir / ".env")
    fill = {"run": str(run), "tmp": str(workdir), "host": closed_port_url()}
    return [part.format(**fill) for part in case.command], workdir


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory, real_run) -> dict[str, Outcome]:
    root = tmp_path_factory.mktemp("corpus")

    def run(case: Case) -> tuple[str, Outcome]:
        command, workdir = _prepare(case, root / case.id, real_run)
        # The case's own folder is the working directory: that is where a .env is read from.
        completed = subprocess.run(command, cwd=workdir, env=clean_environment(), stdin=subprocess.DEVNULL,
                                   capture_output=True, text=True, timeout=120)  # fmt: skip
        return case.id, Outcome(completed.returncode, completed.stdout, completed.stderr, workdir)

    with ThreadPoolExecutor(PARALLEL) as pool:
        return dict(pool.map(run, CASES))


def _error_lines(case: Case, outcome: Outcome) -> list[str]:
    """stderr without Locust's own timestamped log lines (it logs "Starting Locust" before any listener runs)."""
    return [line for line in outcome.stderr.splitlines() if line.strip() and not line.startswith("[20")]


@pytest.mark.parametrize("case_id", [case.id for case in CASES])
def test_bad_input_is_one_line_naming_the_file_with_its_exit_code_and_no_traceback(outcomes, case_id):
    case, outcome = BY_ID[case_id], outcomes[case_id]
    console = outcome.stdout + outcome.stderr
    assert TRACEBACK not in console, console[-2000:]
    assert outcome.code == case.code, console[-2000:]
    lines = _error_lines(case, outcome)
    if case.one_line:
        assert len(lines) == 1, lines
    error = lines[-1]
    assert "error:" in error, lines
    for fragment in case.says:
        assert fragment in error, f"{fragment!r} not in {error!r}"
    if case.secret:
        assert case.secret not in console
    # Refused before any load: Locust never started its users, so it wrote no results.
    assert "Ramping" not in console
    assert not (outcome.workdir / "results" / "locust.json").exists()


def test_a_cut_short_last_interval_is_dropped_with_a_one_line_warning_and_the_report_is_still_written(real_run, tmp_path):
    """Not an error: a run killed while writing its last interval keeps every interval before it."""
    run = tmp_path / "run"
    shutil.copytree(real_run, run)
    intervals = run / "intervals.jsonl"
    lines = intervals.read_text().splitlines()
    intervals.write_text("\n".join(lines[:-1] + [lines[-1][: len(lines[-1]) // 2]]))
    completed = subprocess.run([*ANALYSIS, "report", str(run), "--baseline", PRODUCTION, "--output", str(tmp_path / "report")],
                               cwd=REPO_ROOT, env=clean_environment(), capture_output=True, text=True, timeout=120)  # fmt: skip
    assert TRACEBACK not in completed.stderr
    assert completed.returncode != ExitCode.BAD_INPUT, completed.stderr
    warnings = [line for line in completed.stderr.splitlines() if "intervals.jsonl" in line]
    assert warnings == [f"{intervals}: line {len(lines)} is cut short (the run was interrupted while writing it); ignored"]
    assert (tmp_path / "report" / "report.md").is_file()


def test_a_baseline_endpoint_the_run_never_sent_is_reported_missing(tmp_path):
    completed = subprocess.run([*ANALYSIS, "compare", str(REPO_ROOT / "tests/golden/runs/healthy"), "--baseline",
                                str(CORPUS / "baselines" / "never-sent.toml"), "--format", "json"],
                               cwd=REPO_ROOT, env=clean_environment(), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert completed.returncode == ExitCode.SLA_BREACHED, completed.stderr
    verdict = json.loads(completed.stdout)
    assert verdict["counts"]["missing"] == 1
    [missing] = verdict["failing"]
    assert (missing["subject"], missing["verdict"]) == ("POST /functions/v1/lead-scoring", "missing")
    assert "never sent" in missing["reason"]
