"""Real, bounded headless Locust runs of the harness against the simulator, and how to read what they left.

The Locust command line is the launcher's own (``harness.__main__.locust_command``: the results-folder wiring
of ``python -m harness perf``), with the test-only observers.py loaded beside locustfile.py. Runs are
started as processes (``start_run``) and collected (``finish_run``), so a test can run several at once, signal one
in the middle, or switch the simulator's profile while it goes. Every process started here is stopped by its PID.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from harness.__main__ import Mode, locust_command
from tests.support.locust_runs import LocustRun, clean_environment, served_per_key, simulator_key
from tests.support.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
# The harness's own locustfile, and the test-only observers beside it.
LOCUSTFILES = "locustfile.py,tests/support/observers.py"
# A job takes 1.2-2.4 s at job time scale 0.02; with the scenarios tests' fast pacing (people's pauses at 5 %,
# polls every 0.3 s) every class reaches every endpoint it has within a few seconds.
SIMULATOR_FLAGS = ("--time-scale", "0.05", "--job-time-scale", "0.02")
WAIT_S = 90  # no run here is meant to last a third of that: a hang fails the test instead of the suite
TRACEBACK = "Traceback (most recent call last)"


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
