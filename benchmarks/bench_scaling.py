"""How many generator processes, and how many users per worker? Prints, for one run on this machine:

  1. the default perf mix flat out (no think time) with 1, 2 and 3 generator processes (`--processes N`; 1 is a
     plain local run) against the simulator's `zero-latency` profile: what Locust recorded per second, generator
     CPU per recorded request (Locust and its workers together, start-up included: the rusage of the reaped
     processes) and the CPU share per process;
  2. the same mix at its real pacing (PP_THINK_TIME_SCALE=1): requests per second per virtual user;

and from them the sizing rule the README gives: one worker per core, and at most as many users per worker as keep
it under 80 % of a core (80 % / (CPU per request x requests per user per second)).

Caveat printed with the figures: the simulator shares this machine's two cores with the generators, so throughput
stops growing at two processes here; on a dedicated generator host it grows with the cores. Bounded: each phase
runs --seconds (default 20) plus start-up.

    .venv/bin/python benchmarks/bench_scaling.py [--seconds 20] [--users-per-process 50]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import resource
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from harness.simulator_process import start_simulator  # noqa: E402

CORE_BUDGET = 0.8  # keep a worker under 80 % of a core: Locust warns at 90 %, and latency measurement suffers first
MIX = ["ProspectorUser", "DiscoveryUser", "EnrichmentUser", "ExportUser", "AuthUser"]


def _recorded(results: Path) -> int:
    """What Locust recorded (requests and websocket messages; JOB entries are derived timings, not sent)."""
    entries = json.loads((results / "locust.json").read_text())
    return sum(entry["num_requests"] for entry in entries if entry["method"] != "JOB")


def _free_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return str(probe.getsockname()[1])


def phase(url: str, processes: int, users: int, seconds: float, think_scale: str) -> dict:
    """One bounded run; generator CPU from the rusage of Locust and the workers it forked and reaped."""
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PP_THINK_TIME_SCALE": think_scale,
                   "PP_POLL_INTERVAL_S": "0.3"}  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        results = Path(folder)
        command = [sys.executable, "-m", "locust", "-f", str(REPO_ROOT / "locustfile.py"), "--headless",
                   "--only-summary", "-u", str(users), "-r", str(users), "-t", f"{seconds:g}s", "--host", url,
                   "--results-dir", folder, "--json-file", str(results / "locust"), *MIX]  # fmt: skip
        if processes > 1:
            port = _free_port()
            command += ["--processes", str(processes), "--master-bind-host", "127.0.0.1", "--master-bind-port", port,
                        "--master-port", port]  # fmt: skip
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(command, cwd=folder, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=seconds + 120, check=False)  # fmt: skip
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        recorded = _recorded(results)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"processes": processes, "users": users, "rps": recorded / seconds,
            "cpu_per_request_ms": 1000 * cpu / max(recorded, 1), "cpu_share": cpu / seconds / processes}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--users-per-process", type=int, default=50)
    args = parser.parse_args()
    # No think time, and the twin's third-party quota lifted: the generator, not Google Places, should be the limit.
    simulator = start_simulator("--profile", "zero-latency", "--job-time-scale", "0.05", "--capacity",
                                "google-places=100000")  # fmt: skip
    try:
        print(f"generator processes vs throughput, default perf mix flat out, {args.users_per_process} users per "
              f"process, {args.seconds:g} s windows, on {os.cpu_count()} cores (the simulator shares them):")  # fmt: skip
        flat = []
        for processes in (1, 2, 3):
            result = phase(simulator.url, processes, args.users_per_process * processes, args.seconds, "0")
            flat.append(result)
            print(f"  {processes} process(es): {result['rps']:7.0f} req/s, {result['cpu_per_request_ms']:.2f} ms "
                  f"generator CPU per request, {result['cpu_share']:.0%} of a core per process")  # fmt: skip
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
