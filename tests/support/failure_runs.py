"""Real, bounded headless Locust runs of the harness against the simulator, and how to read what they left.

The Locust command line is the launcher's own (``harness.__main__.locust_command``: the results-folder wiring
of ``python -m harness perf``), with the test-only observers.py loaded beside locustfile.py. Runs are
started as processes (``start_run``) and collected (``finish_run``), so a test can run several at once, signal one
in the middle, or switch the simulator's profile while it goes. Every process started here is stopped by its PID.
"""

from __future__ import annotations

import csv
import json
import re
import signal
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from harness.__main__ import Mode, locust_command
from tests.support.locust_runs import clean_environment, served_per_key, simulator_key
from tests.support.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
# The harness's own locustfile, and the test-only observers beside it.
LOCUSTFILES = "locustfile.py,tests/support/observers.py"
# A job takes 1.2-2.4 s at job time scale 0.02; with the scenarios tests' fast pacing (people's pauses at 5 %,
# polls every 0.3 s) every class reaches every endpoint it has within a few seconds.
SIMULATOR_FLAGS = ("--time-scale", "0.05", "--job-time-scale", "0.02")
WAIT_S = 90  # no run here is meant to last a third of that: a hang fails the test instead of the suite
TRACEBACK = "Traceback (most recent call last)"


@dataclass
class LocustRun:
    """What one finished run left behind."""

    results_dir: Path
    returncode: int
    stdout: str
    stderr: str

    @property
    def console(self) -> str:
        return self.stdout + self.stderr

    def json(self, name: str):
        return json.loads((self.results_dir / name).read_text())

    def entries(self) -> dict[str, dict]:
        """locust.json by endpoint key ``"<method> <name>"``."""
        return {f"{entry['method']} {entry['name']}": entry for entry in self.json("locust.json")}

    def failures_csv(self) -> list[dict]:
        """locust_failures.csv as a person reads it: {key, message, occurrences} (may lag the end by <= 1 s)."""
        with (self.results_dir / "locust_failures.csv").open(newline="") as file:
            return [{"key": f"{row['Method']} {row['Name']}", "message": failure_message(row["Error"]),
                     "occurrences": int(row["Occurrences"])} for row in csv.DictReader(file)]  # fmt: skip

    def failures(self) -> list[dict]:
        """Every failure with its exact final count (observers.py): {key, message, occurrences}."""
        rows = self.json("final_failures.json")
        for row in rows:
            row["message"] = failure_message(row["message"])
        return rows

    def failure_categories(self, rows: list[dict] | None = None) -> Counter:
        """Occurrences per category: the words before the first colon of each message."""
        counts: Counter = Counter()
        for row in self.failures() if rows is None else rows:
            counts[category(row["message"])] += row["occurrences"]
        return counts

    def exceptions(self) -> list[dict]:
        with (self.results_dir / "locust_exceptions.csv").open(newline="") as file:
            return list(csv.DictReader(file))


_WRAPPED = re.compile(r"^\w+\((['\"])(?P<message>.*)\1\)$", re.DOTALL)


def failure_message(error: str) -> str:
    """``CatchResponseError('5xx: status 503 ...')`` -> ``5xx: status 503 ...`` (Locust stores the repr)."""
    match = _WRAPPED.match(error.strip())
    return match["message"] if match else error


def category(message: str) -> str:
    """The cause a person reads first: ``5xx``, ``429``, ``contract``, ``auth``, ``timeout``, ``connection refused``."""
    head = message.split(":", 1)[0].strip()
    if head.startswith("429"):
        return "429"  # "429 (Retry-After 1 s)"
    if head.startswith("timeout"):
        return "timeout"  # "timeout after 1 s"
    return head


def start_run(host: str, results_dir: Path, *locust_args: str, cwd: Path = REPO_ROOT, settings: dict | None = None,
              locustfiles: str = LOCUSTFILES) -> subprocess.Popen:  # fmt: skip
    """Start ``locust`` as the launcher would; ``locust_args`` as on its command line (-u, -r, -t, classes)."""
    mode = Mode(locustfiles, headless=True, defaults=(), job_time_scale="0.02", mix="all")
    command = locust_command(mode, host, results_dir, ["--interval-seconds", "1", "--only-summary", *locust_args], [])
    return subprocess.Popen(command, cwd=cwd, env=clean_environment(**(settings or {})), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def finish_run(process: subprocess.Popen, results_dir: Path, timeout: float = WAIT_S) -> LocustRun:
    """Wait for the run to end by itself; one that does not is killed (by its PID) and fails the caller."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        raise AssertionError(f"locust did not stop by itself within {timeout} s:\n{stderr[-3000:]}") from None
    # Beside the results (not in the folder: that holds only what the harness wrote), for reading a failed test.
    results_dir.with_name(results_dir.name + ".console.txt").write_text(stdout + stderr)
    return LocustRun(results_dir, process.returncode, stdout, stderr)


def stop_if_running(process: subprocess.Popen) -> None:
    """Cleanup for a failing test: kill our own process by its PID and reap it."""
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)


def processes_args(processes: int = 2) -> tuple[str, ...]:
    """``--processes N`` on a free master port: Locust's default 5557 may be held by another run on this machine."""
    port = str(free_port())
    return ("--processes", str(processes), "--master-bind-port", port, "--master-port", port)


# ---- Locust's counts against the simulator's (keys mapped as in tests/scenarios/locust_runs.py) -----------------
# Failures the harness records without the simulator answering: nothing was sent (no session), or no answer came.
NOT_SENT = ("auth: no session",)
NO_ANSWER = ("connection refused", "connection error", "timeout")


SERVER_PUSHES = frozenset({"WS postgres_changes"})  # Realtime messages the simulator sends unasked
UNBOUNDED = 10**12


def count_bounds(run: LocustRun) -> dict[str, tuple[int, int]]:
    """Per simulator key, the (least, most) requests the simulator must have answered, from Locust's records.

    Most = every recorded request minus those the harness never sent; least = that minus the ones that got no
    answer (a timeout may or may not have been answered after the harness stopped waiting). Runs without
    connection-level faults have least == most: the counts must be equal.
    """
    bounds: dict[str, list[int]] = {}
    for key, entry in run.entries().items():
        target = simulator_key(key)
        if target is not None:
            pair = bounds.setdefault(target, [0, 0])
            pair[0] += entry["num_requests"]
            pair[1] += entry["num_requests"]
    for key in SERVER_PUSHES & set(bounds):
        # Not requests: the simulator counts a push when it sends it, the harness when it reads it, and a user that
        # stopped following its job (it failed, completed, or the run ended) reads no more. At most what was pushed.
        bounds[key][1] = UNBOUNDED
    for row in run.failures():
        target = simulator_key(row["key"])
        if target is None:
            continue
        if row["message"].startswith(NOT_SENT):
            bounds[target][0] -= row["occurrences"]
            bounds[target][1] -= row["occurrences"]
        elif row["message"].startswith(NO_ANSWER):
            bounds[target][0] -= row["occurrences"]
    return {key: (least, most) for key, (least, most) in bounds.items()}


def count_mismatches(run: LocustRun, stats: dict) -> list[str]:
    """Every endpoint where the simulator's count falls outside what Locust's records allow; [] when none."""
    served = served_per_key(stats)
    bounds = count_bounds(run)
    problems = []
    for key in sorted(set(served) | set(bounds)):
        least, most = bounds.get(key, (0, 0))
        count = served.get(key, 0)
        if not least <= count <= most:
            expected = f"{least}" if least == most else f"{least}..{most}"
            problems.append(f"{key}: simulator served {count}, Locust recorded {expected}")
    return problems
