"""Start and stop the embedded simulator as a separate process (`python -m simulator`), and talk to its admin API.

Standard library only (subprocess + urllib), so the launcher and the tests share it without importing the
simulator package (harness never imports simulator; see docs/architecture.md).

    with start_simulator("--time-scale", "0.05") as sim:
        sim.url, sim.stats(), sim.set_profile("outage"), sim.reset_stats()
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ADMIN_TOKEN = "sim-admin-token"
READY_PATTERN = re.compile(
    r"^prospectpro-simulator ready url=(?P<url>\S+) profile=(?P<profile>\S+) seed=(?P<seed>\d+) "
    r"time_scale=(?P<time_scale>\S+)$", re.MULTILINE)
POLL_INTERVAL_S = 0.02
STOP_TIMEOUT_S = 5.0
ADMIN_TIMEOUT_S = 10.0

# Talk to 127.0.0.1 directly even when the environment names an HTTP proxy.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class SimulatorStartError(RuntimeError):
    """The simulator did not become ready; the message carries its own error line when it printed one."""


class SimulatorAdminError(RuntimeError):
    """An admin call was refused or could not be made; the message says which and why."""


class SimulatorProcess:
    """A running simulator. Stop it with .stop() or by leaving the `with` block; stopping twice is harmless."""

    def __init__(self, process: subprocess.Popen, ready_line: str, admin_token: str, log_path: Path,
                 owns_log: bool):
        match = READY_PATTERN.search(ready_line)
        assert match is not None
        self._process = process
        self._log_path = log_path
        self._owns_log = owns_log
        self.ready_line = ready_line
        self.url: str = match["url"]
        self.profile: str = match["profile"]
        self.seed: int = int(match["seed"])
        self.time_scale: float = float(match["time_scale"])
        self.admin_token = admin_token

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def log_path(self) -> Path | None:
        """The simulator's console output (None when it went to a temporary file that stop() removed)."""
        return self._log_path if self._log_path.exists() else None

    def is_running(self) -> bool:
        return self._process.poll() is None

    # --- admin API ---------------------------------------------------------------------------------------------------
    def _admin(self, method: str, path: str, payload: dict | None = None) -> dict:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method,
                                         headers={"Authorization": f"Bearer {self.admin_token}",
                                                  "Content-Type": "application/json"})
        try:
            with _opener.open(request, timeout=ADMIN_TIMEOUT_S) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace").strip()
            raise SimulatorAdminError(f"{method} {path}: HTTP {error.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as error:
            raise SimulatorAdminError(f"{method} {path}: cannot reach the simulator at {self.url}: {error}") from None

    def stats(self) -> dict:
        """{"served": {"<METHOD> <path>": {"<status>": count}}, "total": n} (admin calls are not counted)."""
        return self._admin("GET", "/__admin/stats")

    def realtime_stats(self) -> dict:
        """Realtime's sockets: {"connections", "connected_users", "peak_connections", "max_connections", ...}."""
        return self._admin("GET", "/__admin/realtime")

    def reset_stats(self) -> None:
        self._admin("POST", "/__admin/reset-stats")

    def set_profile(self, name: str) -> dict:
        """Switch the fault profile at run time; returns {"profile", "description", "profiles"}."""
        answer = self._admin("PUT", "/__admin/profile", {"profile": name})
        self.profile = answer["profile"]
        return answer

    def get_profile(self) -> dict:
        return self._admin("GET", "/__admin/profile")

    # --- lifetime -------------------------------------------------------------------------------------------------------
    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """Terminate by our own PID, wait, kill if it will not go. Returns the exit code."""
        process = self._process
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._owns_log:
            try:
                self._log_path.unlink()
            except FileNotFoundError:
                pass
        return process.returncode

    def __enter__(self) -> "SimulatorProcess":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"SimulatorProcess(pid={self.pid}, url={self.url!r}, profile={self.profile!r})"


def _admin_token_from(args: tuple[str, ...]) -> str:
    for index, arg in enumerate(args):
        if arg == "--admin-token" and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith("--admin-token="):
            return arg.split("=", 1)[1]
    return DEFAULT_ADMIN_TOKEN


def _error_line(output: str) -> str:
    """The simulator's own one-line complaint, else the last thing it printed."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("error:") or "error:" in line:
            return line
    return lines[-1] if lines else "(no output)"


def start_simulator(*extra_args: str, python: str = sys.executable, cwd: str | Path = REPO_ROOT,
                    log_path: str | Path | None = None, ready_timeout: float = 20.0,
                    wrapper: Sequence[str] = ()) -> SimulatorProcess:
    """Start `python -m simulator --port 0 --exit-with-parent <extra_args>` and wait for its ready line.

    ``wrapper`` goes before the command (tests run it inside a network namespace: ``ip netns exec NS``); it must
    exec the command, so that the simulator's parent stays this process.

    Console output (the ready line, and anything on stderr) goes to `log_path` if given, else to a temporary
    file removed on stop. Raises SimulatorStartError with the simulator's error line if it exits or stays silent.
    """
    args = tuple(str(arg) for arg in extra_args)
    if not any(arg == "--port" or arg.startswith("--port=") for arg in args):
        args = ("--port", "0", *args)
    if "--exit-with-parent" not in args:
        # A killed caller must not leave a server behind, even one killed while the simulator was starting up.
        args = ("--exit-with-parent", "--parent-pid", str(os.getpid()), *args)
    owns_log = log_path is None
    if log_path is None:
        handle, name = tempfile.mkstemp(prefix="prospectpro-simulator-", suffix=".log")
        os.close(handle)
        log = Path(name)
    else:
        log = Path(log_path)
        log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as log_file:
        process = subprocess.Popen([*wrapper, python, "-m", "simulator", *args], cwd=str(cwd), stdin=subprocess.DEVNULL,
                                   stdout=log_file, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + ready_timeout
    output = ""
    while True:
        output = log.read_text(errors="replace")
        match = READY_PATTERN.search(output)
        if match:
            return SimulatorProcess(process, match.group(0), _admin_token_from(args), log, owns_log)
        if process.poll() is not None:
            output = log.read_text(errors="replace")
            if owns_log:
                log.unlink(missing_ok=True)
            raise SimulatorStartError(
                f"simulator exited with code {process.returncode} before it was ready: {_error_line(output)}")
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            if owns_log:
                log.unlink(missing_ok=True)
            raise SimulatorStartError(
                f"simulator printed no ready line within {ready_timeout:g} s: {_error_line(output)}")
        time.sleep(POLL_INTERVAL_S)
