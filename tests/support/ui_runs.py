"""A real Locust web UI (optionally a master with a worker) against a real simulator on 127.0.0.1, for tests.

Locust runs as ``python -m locust -f locustfile.py`` without --headless, as ``python -m harness ui`` starts it,
with every result file in a per-test run folder under ``results_root``. The process is always stopped (SIGTERM,
then SIGKILL) by the context manager, whatever the test did.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.locust_runs import ROOT, clean_environment
from tests.support.ports import free_port

BASELINE = ROOT / "baselines" / "production.toml"
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 only, never through a proxy


@dataclass
class LocustUI:
    process: subprocess.Popen
    url: str
    results_root: Path
    log_path: Path

    def get(self, path: str) -> bytes:
        with _opener.open(self.url + path, timeout=30) as response:
            return response.read()

    def get_json(self, path: str):
        return json.loads(self.get(path))

    def post(self, path: str, form: dict | None = None) -> dict:
        data = urllib.parse.urlencode(form or {}).encode()
        with _opener.open(urllib.request.Request(self.url + path, data=data, method="POST"), timeout=30) as response:
            return json.loads(response.read())

    def swarm(self, users: int, rate: float, **extra: str) -> None:
        answer = self.post("/swarm", {"user_count": users, "spawn_rate": rate, **extra})
        assert answer["success"], answer

    def wait_for(self, predicate, what: str, timeout_s: float = 60, every_s: float = 0.5):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(every_s)
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what}; log tail:\n{self.log_tail()}")

    def wait_finished(self, after_run_id: str | None = None, timeout_s: float = 90) -> dict:
        """The SLA view once the test's folder (and its report) are written; ``after_run_id``: of a later test."""
        def finished():
            data = self.get_json("/sla/data")
            ok = data["finished"] and data["report"] and data["run_id"] != after_run_id
            return data if ok else None
        return self.wait_for(finished, "the test's results folder and report", timeout_s)

    processes: int = 0

    def wait_for_workers(self) -> None:
        """All workers ready (after a stop, a worker rejoins --stop-timeout seconds later)."""
        if self.processes:
            self.wait_for(lambda: self.get_json("/stats/requests").get("worker_count", 0) >= self.processes, "the workers", 60)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def locust_ui(target_url: str, results_root: Path, *args: str, env: dict | None = None, processes: int = 0):
    """Locust's web UI on a free port; ``processes`` > 0 runs a master with that many forked workers."""
    results_root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    first_run = results_root / "first-run"
    command = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py"), "--host", target_url,
               "--web-host", "127.0.0.1", "--web-port", str(port), "--baseline", str(BASELINE),
               "--csv", str(first_run / "locust"), "--json-file", str(first_run / "locust"),
               "--html", str(first_run / "locust_report.html"), "--results-dir", str(first_run),
               "--stop-timeout", "1", *args]  # fmt: skip
    if processes:
        # Its own master port on 127.0.0.1: other tests on this machine may hold Locust's default 5557.
        # (--master-port too: the forked workers connect to that one, and must not join another test's master).
        master_port = str(free_port())
        command += ["--processes", str(processes), "--master-bind-host", "127.0.0.1", "--master-bind-port", master_port,
                    "--master-host", "127.0.0.1", "--master-port", master_port]  # fmt: skip
    log_path = results_root / "locust-ui.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=results_root, env=env or clean_environment(), stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    ui = LocustUI(process, f"http://127.0.0.1:{port}", results_root, log_path)
    try:
        def up():
            if process.poll() is not None:
                raise AssertionError(f"Locust exited {process.returncode}:\n{ui.log_tail()}")
            try:
                return ui.get("/") is not None
            except OSError:
                return False
        ui.wait_for(up, "the web UI to answer", timeout_s=60)
        ui.processes = processes
        ui.wait_for_workers()
        yield ui
    finally:
        # The whole process group: --processes forks workers that must not outlive the test.
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
