"""How many generator processes, and how many users per worker? Prints, for one run on this machine:

  1. the default perf mix flat out (no think time) with 1, 2 and 3 generator processes (`--processes N`; 1 is a
     plain local run) against the simulator's `zero-latency` profile: requests per second, generator CPU seconds
     per request (all Locust processes together) and the busiest process's CPU share;
  2. the same mix at its real pacing (PP_THINK_TIME_SCALE=1): requests per second per virtual user;

and from them the sizing rule the README gives: one worker per core, and at most as many users per worker as keep
it under 80 % of a core (80 % / (CPU per request x requests per user per second)).

Caveat printed with the figures: the simulator shares this machine's two cores with the generators, so throughput
stops growing at two processes here; on a dedicated generator host it grows with the cores. Bounded: each phase
runs --seconds (default 12) plus start-up.

    .venv/bin/python benchmarks/bench_scaling.py [--seconds 12] [--users-per-process 50]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from harness.simulator_process import start_simulator  # noqa: E402

WARM_UP_S = 4.0
START_BOUND_S = 60.0  # the run's -t: start-up, warm-up and the window all fit, and it still ends by itself
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CORE_BUDGET = 0.8  # keep a worker under 80 % of a core: Locust warns at 90 %, and latency measurement suffers first
MIX = ["ProspectorUser", "DiscoveryUser", "EnrichmentUser", "ExportUser", "AuthUser"]
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _cpu_seconds(pids: list[int]) -> dict[int, float]:
    seconds = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime
    return seconds


def _family(pid: int) -> list[int]:
    """The Locust process and the workers it forked (--processes)."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    children.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return [pid, *children]


def _served(url: str) -> int:
    request = urllib.request.Request(f"{url}/__admin/stats", headers={"Authorization": "Bearer sim-admin-token"})
    with NO_PROXY.open(request, timeout=10) as answer:
        return int(json.loads(answer.read())["total"])


def _free_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return str(probe.getsockname()[1])


def _wait_until_sending(url: str, locust: subprocess.Popen) -> None:
    """Start-up (imports, forking workers) takes seconds, more on a busy machine: wait for the first requests."""
    before, deadline = _served(url), time.monotonic() + START_BOUND_S - WARM_UP_S
    while _served(url) == before:
        if locust.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("error: Locust sent nothing: is the machine overloaded?")
        time.sleep(0.2)


def phase(url: str, processes: int, users: int, seconds: float, think_scale: str) -> dict:
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PP_THINK_TIME_SCALE": think_scale,
                   "PP_POLL_INTERVAL_S": "0.3"}  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "locust", "-f", str(REPO_ROOT / "locustfile.py"), "--headless",
                   "--only-summary", "-u", str(users), "-r", str(users), "-t", f"{START_BOUND_S + seconds:g}s",
                   "--host", url, "--results-dir", folder, *MIX]  # fmt: skip
        if processes > 1:
            port = _free_port()
            command += ["--processes", str(processes), "--master-bind-host", "127.0.0.1", "--master-bind-port", port,
                        "--master-port", port]  # fmt: skip
        locust = subprocess.Popen(command, cwd=folder, env=environment, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            _wait_until_sending(url, locust)
            time.sleep(WARM_UP_S)  # spawning and the first sign-ins are over
            pids = _family(locust.pid)
            cpu_before, served_before, started = _cpu_seconds(pids), _served(url), time.monotonic()
            time.sleep(seconds)
            cpu_after, served_after, elapsed = _cpu_seconds(pids), _served(url), time.monotonic() - started
        finally:
            locust.terminate()  # measured: no need to sit out the rest of -t (which only bounds a stuck start)
            locust.wait(timeout=60)
    requests = served_after - served_before
    per_process = [cpu_after[pid] - cpu_before[pid] for pid in cpu_after if pid in cpu_before]
    return {"processes": processes, "users": users, "rps": requests / elapsed,
            "cpu_per_request_ms": 1000 * sum(per_process) / max(requests, 1),
            "busiest_process_share": max(per_process) / elapsed if per_process else 0.0}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--users-per-process", type=int, default=50)
    args = parser.parse_args()
    simulator = start_simulator("--profile", "zero-latency", "--job-time-scale", "0.05")
    try:
        print(f"generator processes vs throughput, default perf mix flat out, {args.users_per_process} users per "
              f"process, {args.seconds:g} s windows, on {os.cpu_count()} cores (the simulator shares them):")  # fmt: skip
        flat = []
        for processes in (1, 2, 3):
            result = phase(simulator.url, processes, args.users_per_process * processes, args.seconds, "0")
            flat.append(result)
            print(f"  {processes} process(es): {result['rps']:7.0f} req/s, {result['cpu_per_request_ms']:.2f} ms "
                  f"generator CPU per request, busiest process {result['busiest_process_share']:.0%} of a core")  # fmt: skip
        paced = phase(simulator.url, 1, 20, args.seconds, "1")
        rate_per_user = paced["rps"] / paced["users"]
        cpu_per_request_s = flat[0]["cpu_per_request_ms"] / 1000
        users_per_worker = CORE_BUDGET / (cpu_per_request_s * rate_per_user)
        print(f"  real pacing (think times as in workload.toml): {rate_per_user:.2f} req/s per virtual user")
        print(f"rule: one worker per core; at most {users_per_worker:.0f} users per worker at real pacing "
              f"({CORE_BUDGET:.0%} of a core / ({flat[0]['cpu_per_request_ms']:.2f} ms x {rate_per_user:.2f} req/s)); "
              f"scale-out gain here from 1 to 2 processes: {flat[1]['rps'] / flat[0]['rps']:.2f}x, 2 to 3: "
              f"{flat[2]['rps'] / flat[1]['rps']:.2f}x")  # fmt: skip
    finally:
        simulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
