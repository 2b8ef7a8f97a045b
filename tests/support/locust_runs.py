"""Helpers for tests that run real headless Locust against a real simulator on 127.0.0.1."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Harness-side pacing compressed like the simulator's --time-scale 0.05, so a run of a few seconds does real work.
FAST_PACING = {"PP_THINK_TIME_SCALE": "0.05", "PP_POLL_INTERVAL_S": "0.3", "PP_JOB_TIMEOUT_S": "30"}
SECRETS = ("sb_publishable_simulator", "prospectpro-loadtest", "sim-admin-token", "sb_secret_simulator")
JWT_PATTERN = re.compile(rb"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


@dataclass
class LocustRun:
    """What one finished Locust run left behind: its exit code, its console, its results folder."""

    results_dir: Path
    returncode: int
    stdout: str
    stderr: str = ""

    @property
    def output(self) -> str:
        """stdout + stderr, as a person saw them."""
        return self.stdout + self.stderr

    console = output

    def json(self, name: str):
        return json.loads((self.results_dir / name).read_text())

    def entries(self) -> dict[str, dict]:
        """Locust's own final stats (--json-file), keyed "<request_type> <name>"."""
        return {f"{row['method']} {row['name']}": row for row in self.json("locust.json")}

    def failure_rows(self) -> list[dict]:
        """locust_failures.csv as Locust wrote it (columns Method, Name, Error, Occurrences)."""
        with open(self.results_dir / "locust_failures.csv", newline="") as handle:
            return list(csv.DictReader(handle))

    def exceptions(self) -> list[dict]:
        with open(self.results_dir / "locust_exceptions.csv", newline="") as handle:
            return list(csv.DictReader(handle))

    def failures_csv(self) -> list[dict]:
        """locust_failures.csv as a person reads it: {key, message, occurrences} (may lag the end by <= 1 s)."""
        return [{"key": f"{row['Method']} {row['Name']}", "message": failure_message(row["Error"]),
                 "occurrences": int(row["Occurrences"])} for row in self.failure_rows()]  # fmt: skip

    def failures(self) -> list[dict]:
        """Every failure with its exact final count: {key, message, occurrences}. Written by the test-only
        observers (tests/support/observers.py), so only for runs that load them (failure_runs.start_run does)."""
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


def clean_environment(**extra: str) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PP_")}
    environment.update(FAST_PACING)
    environment.update(extra)
    environment["PYTHONPATH"] = str(ROOT)
    return environment


def run_locust(url: str, results_dir: Path, *args: str, users: int = 2, seconds: int = 8, env: dict | None = None,
               timeout: int = 90) -> LocustRun:
    """A bounded headless run of locustfile.py; users finish their current task on stop, so nothing is in flight."""
    results_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py"), "--headless", "--only-summary",
               "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--stop-timeout", "20", "--host", url,
               "--csv", str(results_dir / "locust"), "--json-file", str(results_dir / "locust"),
               "--results-dir", str(results_dir), *args]  # fmt: skip
    completed = subprocess.run(command, cwd=results_dir, env=env or clean_environment(), capture_output=True,
                               text=True, timeout=timeout)  # fmt: skip
    return LocustRun(results_dir, completed.returncode, completed.stdout, completed.stderr)


def simulator_key(locust_key: str) -> str | None:
    """Locust "<type> <name>" -> the simulator's served key "<METHOD> <path>" (GoTrue keeps ?grant_type=)."""
    method, name = locust_key.split(" ", 1)
    if method == "JOB":
        return None  # a derived timing, not a request
    if method == "WS":
        return f"WS {name.split(' ', 1)[0]}"  # "WS phx_join realtime:..." -> the simulator's "WS phx_join"
    path = name.split(" [", 1)[0]  # "[csv]" / "[json]" tell two downloads of one URL apart
    if not path.startswith("/auth/v1/token"):
        path = path.split("?", 1)[0]
    return f"{method} {path}"


def recorded_per_simulator_key(run: LocustRun) -> dict[str, int]:
    totals: dict[str, int] = {}
    for key, row in run.entries().items():
        target = simulator_key(key)
        if target:
            totals[target] = totals.get(target, 0) + row["num_requests"]
    return totals


def served_per_key(stats: dict) -> dict[str, int]:
    return {key: sum(by_status.values()) for key, by_status in stats["served"].items()}


def secrets_found(paths: list[Path], text: str) -> list[str]:
    """Every secret (or JWT-looking string) in the files and the console text: the list must be empty."""
    found = []
    blobs = [(f"file {path}", path.read_bytes()) for path in paths if path.is_file()] + [("console output", text.encode())]
    for where, blob in blobs:
        found += [f"{where}: {secret}" for secret in SECRETS if secret.encode() in blob]
        found += [f"{where}: a JWT" for _ in JWT_PATTERN.finditer(blob)]
    return found
