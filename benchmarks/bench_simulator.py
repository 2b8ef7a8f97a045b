"""Is the simulator ever what limits the harness? Prints, for one run on this machine:

  - the simulator's CPU time per request and its requests per second on the `zero-latency` profile,
  - the CPU time per request of the one Locust FastHttpUser process sending those requests,
  - their ratio (simulator CPU / generator CPU per request; below 1.0 = one simulator keeps up with one generator),

for a token-validated edge function call (test-new-auth: one getUser through GoTrue), a PostgREST read (one
campaign by id as a single object, under row-level security), and an enrichment-orchestrator call with the SPA's
body, whose fan-out is included: the orchestrator's worker and getUser, then its siblings one after another (Hunter,
state license, NeverBounce when emails were found), each with its own worker, getUser and provider quota. The
fan-out line says how many component calls (slots taken) each external request made. CPU times come from /proc/<pid>/stat for both
processes over the same steady-state window (after Locust's start-up), request counts from the simulator's own
accounting. Bounded: each phase runs Locust headless for --seconds (default 10) against 127.0.0.1 only.

    .venv/bin/python benchmarks/bench_simulator.py [--seconds 10] [--users 20] [--warm-up 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from harness.simulator_process import start_simulator  # noqa: E402

WARM_UP_S = 3.0  # default: Locust imports and spawns users first; measure after that
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

LOCUSTFILE = textwrap.dedent('''
    import json
    import os
    from locust import FastHttpUser, constant, task

    HEADERS = {"apikey": "sb_publishable_simulator", "Authorization": "Bearer " + os.environ["BENCH_TOKEN"],
               "Content-Type": "application/json"}
    TARGET = os.environ["BENCH_TARGET"]
    CAMPAIGN = os.environ["BENCH_CAMPAIGN"]

    ENRICH = {"businessName": "Bench Co", "address": "1 Main St, Seattle, WA 98101", "state": "WA",
              "includeBusinessLicense": True, "discoverEmails": True, "verifyEmails": True,
              "maxCostPerBusiness": 0.5, "tier": "professional"}

    class BenchUser(FastHttpUser):
        wait_time = constant(0)
        sent = 0

        @task
        def one_request(self):
            BenchUser.sent += 1
            if TARGET == "enrichment":  # a new domain each time: no call is answered from a cache
                body = json.dumps({**ENRICH, "domain": "bench%d-%d.com" % (os.getpid(), BenchUser.sent)})
                self.client.post("/functions/v1/enrichment-orchestrator", data=body.encode(), headers=HEADERS)
            elif TARGET == "function":
                self.client.post("/functions/v1/test-new-auth", data=b"{}", headers=HEADERS)
            else:
                self.client.get("/rest/v1/campaigns?select=id,status,results_count&id=eq." + CAMPAIGN,
                                headers={**HEADERS, "Accept": "application/vnd.pgrst.object+json"})
''')


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def sign_in(url: str) -> tuple[str, str]:
    """An access token for loadtest-1 and the id of that user's seeded campaign."""
    request = urllib.request.Request(
        f"{url}/auth/v1/token?grant_type=password", method="POST",
        data=json.dumps({"email": "loadtest-1@prospectpro.test", "password": "prospectpro-loadtest"}).encode(),
        headers={"apikey": "sb_publishable_simulator", "Content-Type": "application/json"})
    with OPENER.open(request, timeout=10) as response:
        token = json.loads(response.read())["access_token"]
    request = urllib.request.Request(f"{url}/rest/v1/campaigns?select=id&limit=1",
                                     headers={"apikey": "sb_publishable_simulator", "Authorization": f"Bearer {token}"})
    with OPENER.open(request, timeout=10) as response:
        campaign = json.loads(response.read())[0]["id"]
    return token, campaign


def served(sim) -> tuple[int, int]:
    """External requests served, and slots taken in the simulator's pool components (external and internal)."""
    stats = sim.stats()
    return stats["total"], sum(c["calls"] for c in stats["components"].values() if c["kind"] == "pool")


def measure(sim, locustfile: Path, target: str, token: str, campaign: str, seconds: float, users: int,
            warm_up: float) -> dict:
    env = {**os.environ, "BENCH_TOKEN": token, "BENCH_TARGET": target, "BENCH_CAMPAIGN": campaign}
    run_time = int(warm_up + seconds + 2)
    locust = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "--host", sim.url,
         "-u", str(users), "-r", str(users), "-t", f"{run_time}s", "--only-summary", "--loglevel", "WARNING",
         "--stop-timeout", "1"],
        cwd=str(REPO_ROOT), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(warm_up)
        start = (time.monotonic(), cpu_seconds(sim.pid), cpu_seconds(locust.pid), *served(sim))
        time.sleep(seconds)
        end = (time.monotonic(), cpu_seconds(sim.pid), cpu_seconds(locust.pid), *served(sim))
    finally:
        try:
            locust.wait(run_time + 30)
        except subprocess.TimeoutExpired:
            locust.kill()
            locust.wait()
    wall, sim_cpu, locust_cpu, requests, component_calls = (e - s for s, e in zip(start, end))
    return {"requests": requests, "rps": requests / wall, "sim_us": 1e6 * sim_cpu / max(requests, 1),
            "fan_out": component_calls / max(requests, 1),
            "locust_us": 1e6 * locust_cpu / max(requests, 1), "sim_cpu_share": sim_cpu / wall,
            "locust_cpu_share": locust_cpu / wall}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per phase (default 10)")
    parser.add_argument("--users", type=int, default=20, help="Locust users (default 20)")
    parser.add_argument("--warm-up", type=float, default=WARM_UP_S, help="seconds before measuring (default 3)")
    args = parser.parse_args()
    if not 1 <= args.seconds <= 60 or not 1 <= args.users <= 200 or not 0.5 <= args.warm_up <= 30:
        print("error: --seconds must be 1..60, --users 1..200 and --warm-up 0.5..30", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as scratch, start_simulator("--profile", "zero-latency") as sim:
        locustfile = Path(scratch) / "bench_locustfile.py"
        locustfile.write_text(LOCUSTFILE)
        token, campaign = sign_in(sim.url)
        print(f"simulator pid {sim.pid} at {sim.url}, profile zero-latency; one Locust process, {args.users} users, "
              f"{args.seconds:g} s measured per phase after {args.warm_up:g} s warm-up")
        print(f"{'phase':<34}{'req/s':>9}{'sim CPU/req':>13}{'locust CPU/req':>16}{'ratio':>8}"
              f"{'sim CPU':>9}{'locust CPU':>12}")
        for target, label in (("function", "POST /functions/v1/test-new-auth"),
                              ("rest", "GET /rest/v1/campaigns?id=eq.[id]"),
                              ("enrichment", "POST /functions/v1/enrichment-orch.")):
            result = measure(sim, locustfile, target, token, campaign, args.seconds, args.users, args.warm_up)
            ratio = result["sim_us"] / result["locust_us"] if result["locust_us"] else float("inf")
            print(f"{label:<34}{result['rps']:>9.0f}{result['sim_us']:>10.0f} us{result['locust_us']:>13.0f} us"
                  f"{ratio:>8.2f}{100 * result['sim_cpu_share']:>8.0f}%{100 * result['locust_cpu_share']:>11.0f}%")
            print(f"ratio {target}: simulator/generator CPU per request = {ratio:.2f} "
                  f"({'keeps up' if ratio < 1 else 'SLOWER than the generator'})")
            print(f"fan-out {target}: {result['fan_out']:.1f} component calls per external request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
