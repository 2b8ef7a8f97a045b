"""How much CPU does the harness itself spend per request? Prints, for one run on this machine, the generator
CPU time per request (user + system of the Locust process) and the requests per second of:

  1. the default mix (ProspectorUser: the journey with sessions, pydantic checks, metrics, guards and every
     listener of locustfile.py) against the simulator's `zero-latency` profile;
  2. the same journey's HTTP requests sent by a bare FastHttpUser: no checks, no sessions, no listeners
     (mix / this = the harness's own overhead on the same requests);
  3. a bare FastHttpUser sending one authenticated GET (/auth/v1/user), paced to the mix's request rate
     (mix / this = the issue's figure, target <= 1.5);
  4. the same bare GET flat out (for scale: per-request CPU falls as an event loop gets busier, because each
     wake-up handles more work; that is why 3 is paced to the mix's rate);
  5. Realtime's cost: the mix with jobs that last seconds (--job-time-scale 0.05, as `make perf`), so each journey
     holds its job's websocket open while it waits, against the same mix with PP_REALTIME=false (REST polling
     every 0.2 s instead: 15-30 polls per job, production's proportion; the harness before Realtime). Per request and per followed job, with the mean number
     of websockets open in the window (the simulator's /__admin/realtime, sampled every 0.5 s).

Think times and waits are off (PP_THINK_TIME_SCALE=0). CPU comes from /proc/<pid>/stat over a steady-state window
after Locust's start-up; requests in the same window from the simulator's own count (GET /__admin/stats).
Bounded: each phase runs --seconds (default 10) plus start-up, four phases.

    .venv/bin/python benchmarks/bench_harness.py [--seconds 10] [--users 10]
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

WARM_UP_S = 4.0  # imports, spawning and the first sign-ins happen before the measured window
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
TARGET_RATIO = 1.5
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))

BARE_LOCUSTFILE = textwrap.dedent('''
    import os
    from locust import FastHttpUser, constant, constant_throughput, task

    HEADERS = {"apikey": "sb_publishable_simulator", "Authorization": "Bearer " + os.environ["BENCH_TOKEN"]}
    PER_USER_RATE = float(os.environ.get("BENCH_RATE_PER_USER", "0"))

    class BareUser(FastHttpUser):
        wait_time = constant_throughput(PER_USER_RATE) if PER_USER_RATE else constant(0)

        @task
        def one_get(self):
            self.client.get("/auth/v1/user", headers=HEADERS)
''')


# Phase 2: the journey's requests in the journey's order, nothing else (kept in step with scenarios/journey.py):
# the profile read, the mount read of the job and its changes over a bare websocket (Phoenix vsn 1.0.0), the
# results, the results page, the dashboard, enrichment and export.
BARE_JOURNEY_LOCUSTFILE = textwrap.dedent('''
    import json
    import os
    import websocket
    from locust import FastHttpUser, constant, task

    TOKEN = os.environ["BENCH_TOKEN"]
    HEADERS = {"apikey": "sb_publishable_simulator", "Authorization": "Bearer " + TOKEN}
    SINGLE = {**HEADERS, "Accept": "application/vnd.pgrst.object+json"}
    USER_ID = os.environ["BENCH_USER_ID"]

    class BareJourneyUser(FastHttpUser):
        wait_time = constant(0)

        def follow(self, job_id):
            ws = websocket.create_connection(self.host.replace("http", "ws", 1)
                                             + "/realtime/v1/websocket?apikey=sb_publishable_simulator&vsn=1.0.0",
                                             skip_utf8_validation=True)
            change = {"event": "*", "schema": "public", "table": "discovery_jobs", "filter": f"id=eq.{job_id}"}
            ws.send(json.dumps({"topic": f"realtime:discovery_jobs_{job_id}", "event": "phx_join", "ref": "1",
                                "join_ref": "1", "payload": {"config": {"postgres_changes": [change]},
                                                             "access_token": TOKEN}}))
            while True:
                message = json.loads(ws.recv())
                if (message["event"] == "postgres_changes"
                        and message["payload"]["data"]["record"]["status"] in ("completed", "failed")):
                    break
            ws.close()

        @task
        def journey(self):
            self.client.get(f"/rest/v1/user_profiles?select=id&id=eq.{USER_ID}", headers=SINGLE, name="profile")
            self.client.get("/auth/v1/user", headers=HEADERS)
            job = self.client.post("/functions/v1/business-discovery-background", headers=HEADERS,
                                   json={"businessType": "coffee shop", "location": "Seattle, WA", "maxResults": 3,
                                         "sessionUserId": USER_ID, "userId": USER_ID}).json()
            state = self.client.get(f"/rest/v1/discovery_jobs?select=*&id=eq.{job['jobId']}", headers=SINGLE,
                                    name="job").json()
            if state["status"] not in ("completed", "failed"):
                self.follow(job["jobId"])
            campaign = job["campaignId"]
            self.client.get(f"/rest/v1/campaigns?select=id,status&id=eq.{campaign}&user_id=eq.{USER_ID}",
                            headers=HEADERS, name="campaign")
            leads = self.client.get(f"/rest/v1/leads?select=*&campaign_id=eq.{campaign}&user_id=eq.{USER_ID}"
                                    "&order=confidence_score.desc", headers=HEADERS, name="leads").json()
            self.client.get(f"/rest/v1/campaigns?select=id,status&id=eq.{campaign}&user_id=eq.{USER_ID}",
                            headers=HEADERS, name="campaign")
            self.client.get(f"/rest/v1/leads?select=*&campaign_id=eq.{campaign}&user_id=eq.{USER_ID}"
                            "&order=confidence_score.desc&offset=0&limit=50", headers={**HEADERS, "Prefer": "count=exact"},
                            name="page")
            self.client.get(f"/rest/v1/campaigns?select=*&user_id=eq.{USER_ID}&order=created_at.desc",
                            headers=HEADERS, name="dashboard")
            self.client.get(f"/rest/v1/leads?select=*&user_id=eq.{USER_ID}&order=created_at.desc",
                            headers=HEADERS, name="all leads")
            for lead in leads[:3]:
                self.client.post("/functions/v1/enrichment-orchestrator", headers=HEADERS,
                                 json={"businessName": lead["business_name"], "website": lead["website"],
                                       "discoverEmails": True, "verifyEmails": True, "maxCostPerBusiness": 0.5})
            if leads:
                self.client.post("/functions/v1/campaign-export-user-aware?download=true", headers=HEADERS,
                                 json={"campaignId": campaign, "format": "csv"}, name="csv")
''')


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (fields 14 and 15 of /proc/<pid>/stat, after the command name)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def served_total(simulator) -> int:
    return int(simulator.stats()["total"])


def sign_in(url: str) -> dict:
    request = urllib.request.Request(f"{url}/auth/v1/token?grant_type=password", method="POST",
                                     data=json.dumps({"email": "loadtest-50@prospectpro.test",
                                                      "password": "prospectpro-loadtest"}).encode(),
                                     headers={"apikey": "sb_publishable_simulator", "Content-Type": "application/json"})  # fmt: skip
    with NO_PROXY.open(request, timeout=10) as response:
        return json.loads(response.read())


def jobs_submitted(simulator) -> int:
    return sum(simulator.stats()["served"].get("POST /functions/v1/business-discovery-background", {}).values())


def measure(simulator, command: list[str], environment: dict, seconds: float, workdir: Path,
            details: dict | None = None) -> tuple[float, float]:  # fmt: skip
    """(requests per second, CPU ms per request) of one Locust process over the steady-state window. With
    ``details`` (a dict to fill): CPU ms per submitted job and the mean number of open websockets too."""
    log = open(workdir / "locust.log", "w")
    process = subprocess.Popen(command, cwd=workdir, env=environment, stdout=log, stderr=subprocess.STDOUT)
    try:
        time.sleep(WARM_UP_S)
        cpu_start, requests_start, clock_start = cpu_seconds(process.pid), served_total(simulator), time.monotonic()
        jobs_start = jobs_submitted(simulator) if details is not None else 0
        sockets = []
        while time.monotonic() - clock_start < seconds:
            time.sleep(0.5)
            if details is not None:
                sockets.append(simulator.realtime_stats()["connections"])
        cpu_end, requests_end, clock_end = cpu_seconds(process.pid), served_total(simulator), time.monotonic()
        if details is not None:
            jobs = jobs_submitted(simulator) - jobs_start
            details.update(jobs=jobs, cpu_ms_per_job=(cpu_end - cpu_start) * 1000 / max(jobs, 1),
                           open_sockets=sum(sockets) / max(len(sockets), 1))
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
    requests = requests_end - requests_start
    if requests <= 0:
        tail = (workdir / "locust.log").read_text()[-1500:]
        raise SystemExit(f"error: no requests in the measured window of {' '.join(command[3:6])}:\n{tail}")
    return requests / (clock_end - clock_start), (cpu_end - cpu_start) * 1000 / requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per phase (default 10)")
    parser.add_argument("--users", type=int, default=10, help="Locust users per phase (default 10)")
    args = parser.parse_args()
    run_time = f"{int(WARM_UP_S + args.seconds + 5)}s"  # a bound: the measurement stops the process earlier
    base_environment = {key: value for key, value in os.environ.items() if not key.startswith("PP_")}
    # Keep the journey's proportions: a job lasts ~2-3 polls as in production (a 1-2 min job polled every 4 s is
    # more, but the SPA's first poll and the 5 s results retries make 2-3 typical at the perf job scale), and
    # jobs stay under the simulator's Google Places quota so that journeys go on to enrich and export.
    base_environment.update(PYTHONPATH=str(REPO_ROOT), PP_THINK_TIME_SCALE="0", PP_POLL_INTERVAL_S="0.1",
                            PP_MAX_DISCOVERY_JOBS="1000000")  # fmt: skip
    with tempfile.TemporaryDirectory() as temporary, start_simulator(
            "--profile", "zero-latency", "--time-scale", "0", "--job-time-scale", "0.002") as simulator:
        workdir = Path(temporary)
        (workdir / "bare_locustfile.py").write_text(BARE_LOCUSTFILE)
        (workdir / "bare_journey_locustfile.py").write_text(BARE_JOURNEY_LOCUSTFILE)
        common = ["--headless", "--only-summary", "-u", str(args.users), "-r", str(args.users), "-t", run_time,
                  "--host", simulator.url]  # fmt: skip
        mix_command = [sys.executable, "-m", "locust", "-f", str(REPO_ROOT / "locustfile.py"), *common,
                       "--results-dir", str(workdir / "results")]  # fmt: skip
        bare_command = [sys.executable, "-m", "locust", "-f", str(workdir / "bare_locustfile.py"), *common]
        journey_command = [sys.executable, "-m", "locust", "-f", str(workdir / "bare_journey_locustfile.py"), *common]
        mix_rps, mix_cpu = measure(simulator, mix_command, base_environment, args.seconds, workdir)
        session = sign_in(simulator.url)
        bare_environment = {**base_environment, "BENCH_TOKEN": session["access_token"], "BENCH_USER_ID": session["user"]["id"]}
        journey_rps, journey_cpu = measure(simulator, journey_command, bare_environment, args.seconds, workdir)
        paced_environment = {**bare_environment, "BENCH_RATE_PER_USER": f"{mix_rps / args.users:.3f}"}
        paced_rps, paced_cpu = measure(simulator, bare_command, paced_environment, args.seconds, workdir)
        bare_rps, bare_cpu = measure(simulator, bare_command, bare_environment, args.seconds, workdir)
    with tempfile.TemporaryDirectory() as temporary, start_simulator(
            "--profile", "zero-latency", "--time-scale", "0", "--job-time-scale", "0.05") as simulator:
        workdir = Path(temporary)
        held_command = [*mix_command[:-1], str(workdir / "results")]
        held_command[held_command.index("--host") + 1] = simulator.url
        realtime, polling = {}, {}
        # 0.2 s polls of 3-6 s jobs: 15-30 polls per job, production's proportion (4 s polls of 1-2 min jobs).
        held_environment = {**base_environment, "PP_POLL_INTERVAL_S": "0.2"}
        held_rps, held_cpu = measure(simulator, held_command, held_environment, args.seconds, workdir, realtime)
        polled_rps, polled_cpu = measure(simulator, held_command, {**held_environment, "PP_REALTIME": "false"},
                                         args.seconds, workdir, polling)  # fmt: skip
    ratio = mix_cpu / paced_cpu
    print(f"generator CPU per request (user + system), {args.users} users, {args.seconds:g} s window, "
          "simulator zero-latency:")
    print(f"  1 default mix (ProspectorUser), the harness   {mix_cpu:7.3f} ms/request {mix_rps:8.1f} req/s")
    print(f"  2 same requests, bare FastHttpUser            {journey_cpu:7.3f} ms/request {journey_rps:8.1f} req/s")
    print(f"  3 bare FastHttpUser, one GET, mix's req/s     {paced_cpu:7.3f} ms/request {paced_rps:8.1f} req/s")
    print(f"  4 bare FastHttpUser, one GET, flat out        {bare_cpu:7.3f} ms/request {bare_rps:8.1f} req/s")
    print(f"  harness overhead on the same requests (1/2)   {mix_cpu / journey_cpu:7.2f}")
    print(f"  mix / one bare GET at the same req/s (1/3)    {ratio:7.2f}   (target <= {TARGET_RATIO}: "
          f"{'met' if ratio <= TARGET_RATIO else 'NOT met'})")  # fmt: skip
    print(f"  mix / one bare GET flat out (1/4)             {mix_cpu / bare_cpu:7.2f}")
    print("Realtime, jobs of 3-6 s (each journey holds its job's websocket while it waits):")
    for label, (rps, cpu, found) in (("5 mix, jobs followed over Realtime", (held_rps, held_cpu, realtime)),
                                     ("6 mix, PP_REALTIME=false (0.2 s polls)", (polled_rps, polled_cpu, polling))):
        print(f"  {label:<44}{cpu:7.3f} ms/request {rps:8.1f} req/s {found['cpu_ms_per_job']:8.1f} ms/job "
              f"({found['jobs']} jobs, {found['open_sockets']:.1f} websockets open on average)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
