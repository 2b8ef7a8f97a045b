"""Coordinated omission, measured: the same offered load, closed and open, against a target that stalls on a known
schedule, each model's p99 against the true p99; and the harness's timing accuracy. Prints, for one run:

  1. generator capacity: the requests/s one Locust process achieves in the open model when offered far more
     (--arrival-rate 5000) against a minimal 127.0.0.1 server that answers at once (a gevent StreamServer started
     by this script: the simulator's own CPU would blur the harness's);
  2. timing accuracy: an open run (--arrival-rate) at half that rate against the same server answering after exactly
     100 ms; the reported p50 (Locust's bucketing) and the exact mean against 100 ms (target: p50 within 3 %);
  3. the stall: the simulator's `stall` profile at --time-scale 2 pauses the whole target for 4 s at the start of
     every 20 s of the wall clock (requests arriving meanwhile wait, answers ready meanwhile are held), service time
     fixed at 100 ms. RATE requests/s are offered
       closed: N users with constant_pacing 0.15 s (N / 0.15 = RATE while the target keeps up; 3 users for 20/s,
               enough to carry it at 100 ms each), as Locust runs by default;
       open:   --arrival-rate RATE, even spacing, a pool large enough for a whole stall's arrivals;
     and each model's p99 is set against the truth: the p99 of the latency that requests intended at RATE over the
     open run's arrival window would see, computed from the stall schedule alone (target: the open model's
     corrected p99 within 10 % of it). Every percentile here is taken in Locust's bucketing, the truth's too.

Writes the figures to docs/openmodel-stall.json and the plot to docs/openmodel-stall.png (--no-plot to skip).
Bounded: four headless Locust runs of --seconds each against 127.0.0.1 only (about 2.5 minutes in all).

    .venv/bin/python benchmarks/bench_openmodel.py [--seconds 40] [--rate 20] [--no-plot]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from analysis.histogram import Histogram  # noqa: E402
from analysis.openmodel import CORRECTED_JSON  # noqa: E402
from harness.simulator_process import start_simulator  # noqa: E402
from locust.stats import bucket_response_time  # noqa: E402

STALL_TIME_SCALE = 2.0  # the `stall` profile (2 s every 10 s) at --time-scale 2: 4 s every 20 s
PERIOD_S, STALL_S = 10.0 * STALL_TIME_SCALE, 2.0 * STALL_TIME_SCALE
SERVICE_MS = 100.0  # --service-time is real milliseconds, not scaled
CLOSED_PACING_S = 0.15
ACCURACY_FRACTIONS = (0.05, 0.25, 0.5)  # of the generator's capacity; the target is judged at 0.5  # benchmarks/openmodel_users.py PACING_S
ENDPOINT = "GET /auth/v1/user"
PING = "GET /ping"
DOCS = REPO_ROOT / "docs"


def run_locust(url: str, folder: Path, classes: list[str], *args: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "locust", "-f", f"{REPO_ROOT / 'locustfile.py'},{REPO_ROOT / 'benchmarks/openmodel_users.py'}",
               "--headless", "--only-summary", "--host", url, "--results-dir", str(folder),
               "--json-file", str(folder / "locust"), *args, *classes]  # fmt: skip
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PP_THINK_TIME_SCALE": "0"}
    completed = subprocess.run(command, cwd=folder, env=environment, capture_output=True, text=True, timeout=300)
    if not (folder / "locust.json").is_file():
        sys.exit(f"locust failed ({completed.returncode}):\n{completed.stderr[-2000:]}")
    return folder


def entry(folder: Path, name: str = "locust.json", endpoint: str = ENDPOINT) -> dict:
    for item in json.loads((folder / name).read_text()):
        if f"{item['method']} {item['name']}" == endpoint:
            return item
    raise SystemExit(f"{folder / name}: no {endpoint}")


def histogram(item: dict) -> Histogram:
    return Histogram.from_dict(item["response_times"], source="bench", key=ENDPOINT)


def rate_of(item: dict) -> float:
    return item["num_requests"] / max(1e-9, item["last_request_timestamp"] - item["start_time"])


def stall_wait(t: float) -> float:
    phase = t % PERIOD_S
    return STALL_S - phase if phase < STALL_S else 0.0


def true_latency_ms(intended: float) -> float:
    """What a request intended at `intended` (epoch s) sees: it waits out a pause, is served, and its answer waits
    out a pause it became ready in."""
    start = intended + stall_wait(intended)
    done = start + SERVICE_MS / 1000
    done += stall_wait(done)
    return (done - intended) * 1000


def true_histogram(start_epoch: float, duration_s: float, rate: float) -> Histogram:
    counts: dict[int, int] = {}
    for j in range(int(duration_s * rate) + 1):
        bucket = bucket_response_time(true_latency_ms(start_epoch + j / rate))
        counts[bucket] = counts.get(bucket, 0) + 1
    return Histogram.from_dict(counts, source="truth", key=ENDPOINT)


def error(value: float, truth: float) -> str:
    return f"{(value - truth) / truth * 100:+.1f} %"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=40.0,
                        help="length of each stall run, a whole number of 20 s periods (default 40)")
    parser.add_argument("--rate", type=float, default=20.0, help="offered requests/s in the stall runs (default 20)")
    parser.add_argument("--only", choices=("accuracy", "stall"), default=None, help="run one part (writes no files)")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-openmodel-"))
    figures: dict = {"period_s": PERIOD_S, "stall_s": STALL_S, "service_ms": SERVICE_MS, "rate": args.rate}
    ok = True
    if args.only != "stall":
        figures["accuracy"] = accuracy = measure_accuracy(work)
        ok &= abs(accuracy["p50_error"]) <= 0.03
    if args.only != "accuracy":
        figures["stall"], models = measure_stall(work, args)
        ok &= abs(figures["stall"]["p99_error"]["open (corrected)"]) <= 0.10
    if args.only is None:
        (DOCS / "openmodel-stall.json").write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
        if not args.no_plot:
            plot(models, figures, DOCS / "openmodel-stall.png")
    return 0 if ok else 1


FIXED_DELAY_SERVER = """
from gevent import monkey; monkey.patch_all()
import sys, gevent
from gevent.server import StreamServer
delay = float(sys.argv[1]) / 1000
ANSWER = b"HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: 2\\r\\n\\r\\nok"
def handle(sock, _address):
    reader = sock.makefile("rb")
    try:
        while reader.readline():  # the request line; then headers up to the blank line (GETs: no body)
            while reader.readline() not in (b"\\r\\n", b"\\n", b""):
                pass
            if delay:
                gevent.sleep(delay)
            sock.sendall(ANSWER)
    except OSError:
        pass  # the client went away (Locust stopping)
server = StreamServer(("127.0.0.1", 0), handle)
server.start()
print(server.server_port, flush=True)
server.serve_forever()
"""


class FixedDelayServer:
    """A minimal 127.0.0.1 HTTP/1.1 keep-alive server (a gevent StreamServer, GETs only) answering every request
    after exactly ``delay_ms``, so that what is measured is the harness's timing, not a target's own overhead."""

    def __init__(self, delay_ms: float):
        self.process = subprocess.Popen([sys.executable, "-c", FIXED_DELAY_SERVER, str(delay_ms)], stdout=subprocess.PIPE, text=True)
        self.url = f"http://127.0.0.1:{int(self.process.stdout.readline())}"

    def __enter__(self) -> "FixedDelayServer":
        return self

    def __exit__(self, *_exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def measure_accuracy(work: Path) -> dict:
    """Generator capacity (flat out against a zero-delay server), then an open run at half of it against a fixed
    100 ms delay: Locust's reported p50 against 100 ms."""
    with FixedDelayServer(0) as server:
        # The open-model generator's own ceiling: offered far more than it can start, with nothing to wait for.
        flat = entry(run_locust(server.url, work / "capacity", ["PingArrivalUser"], "--arrival-rate", "5000",
                                "--arrival-spacing", "even", "-u", "50", "-t", "10s"), endpoint=PING)  # fmt: skip
    capacity = rate_of(flat)
    print(f"generator capacity (one Locust process, --arrival-rate far above what it can start, GETs to a zero-delay "
          f"127.0.0.1 server): {capacity:.0f} req/s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    result: dict = {"generator_capacity_rps": round(capacity, 1), "load_average": round(os.getloadavg()[0], 1), "at": {}}
    for fraction in ACCURACY_FRACTIONS:
        rate = capacity * fraction
        pool = min(190, int(rate * SERVICE_MS / 1000 * 2) + 10)  # twice what is in service at once; PP_MAX_USERS is 200
        with FixedDelayServer(SERVICE_MS) as server:
            folder = run_locust(server.url, work / f"accuracy-{fraction:g}", ["PingArrivalUser"], "--arrival-rate",
                                f"{rate:.1f}", "--arrival-spacing", "even", "-u", str(pool), "-t", "15s")  # fmt: skip
        measured = entry(folder, endpoint=PING)
        p50 = histogram(measured).percentile(0.5)
        mean = measured["total_response_time"] / max(1, measured["num_requests"] - measured.get("num_none_requests", 0))
        result["at"][f"{fraction:g}"] = {"offered_rps": round(rate, 1), "achieved_rps": round(rate_of(measured), 1),
                                         "p50_ms": p50, "mean_ms": round(mean, 1),
                                         "p50_error": (p50 - SERVICE_MS) / SERVICE_MS}  # fmt: skip
        print(f"timing accuracy at {rate:.0f} req/s offered ({fraction:.0%} of capacity), {SERVICE_MS:g} ms fixed "
              f"delay: p50 {p50} ms ({(p50 - SERVICE_MS) / SERVICE_MS * 100:+.1f} %), exact mean {mean:.1f} ms; "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    result["p50_error"] = result["at"]["0.5"]["p50_error"]
    print(f"p50 within 3 % of {SERVICE_MS:g} ms at half the generator's capacity: "
          f"{'yes' if abs(result['p50_error']) <= 0.03 else 'NO'}")
    return result


def measure_stall(work: Path, args: argparse.Namespace) -> tuple[dict, dict[str, Histogram]]:
    """The same offered load closed and open against the stalling target, each against the truth."""
    users = max(1, round(args.rate * CLOSED_PACING_S))
    open_pool = int(args.rate * (STALL_S + SERVICE_MS / 1000) * 1.5) + 10
    sim = start_simulator("--profile", "stall", "--time-scale", f"{STALL_TIME_SCALE:g}", "--service-time",
                          f"auth-user={SERVICE_MS:g}", log_path=work / "stall-sim.log")  # fmt: skip
    try:
        closed_dir = run_locust(sim.url, work / "closed", ["PacedSessionCheckUser"], "-u", str(users), "-r", str(users),
                                "-t", f"{args.seconds:g}s")  # fmt: skip
        open_dir = run_locust(sim.url, work / "open", ["SessionCheckArrivalUser"], "--arrival-rate", f"{args.rate:g}",
                              "--arrival-spacing", "even", "-u", str(open_pool), "-r", str(open_pool),
                              "-t", f"{args.seconds + 2:g}s")  # fmt: skip
    finally:
        sim.stop()
    arrivals = json.loads((open_dir / "manifest.json").read_text())["arrivals"]
    # The truth: every arrival the open run intended (its due ones, at their intended times), through the schedule.
    truth = true_histogram(arrivals["started_epoch"], (arrivals["due"] - 1) / args.rate, args.rate)
    closed, open_service, open_corrected = entry(closed_dir), entry(open_dir), entry(open_dir, CORRECTED_JSON)
    models = {"truth": truth, "closed": histogram(closed), "open (service time)": histogram(open_service),
              "open (corrected)": histogram(open_corrected)}  # fmt: skip
    true_p99 = truth.percentile(0.99)
    result = {
        "closed_users": users, "open_pool": open_pool,
        "arrivals": {k: arrivals[k] for k in ("due", "started", "dropped", "missed", "late", "max_lag_ms")},
        "requests": {"truth": truth.count, "closed": closed["num_requests"], "open": open_corrected["num_requests"]},
        "achieved_rps": {"truth": args.rate, "closed": round(rate_of(closed), 2), "open": round(arrivals["achieved_rate"], 2)},
        **{f"p{q * 100:g}_ms": {name: h.percentile(q) for name, h in models.items()} for q in (0.5, 0.95, 0.99)},
        "p99_error": {name: (h.percentile(0.99) - true_p99) / true_p99 for name, h in models.items() if name != "truth"},
    }  # fmt: skip
    print(f"\nstall: target paused {STALL_S:g} s every {PERIOD_S:g} s; {args.rate:g} req/s offered; "
          f"closed = {users} users paced at {CLOSED_PACING_S:g} s, open = --arrival-rate {args.rate:g} (pool {open_pool})")
    print(f"{'model':<22}{'requests':>10}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'p99 vs truth':>14}")
    rates = {"truth": args.rate, "closed": rate_of(closed), "open (service time)": arrivals["achieved_rate"],
             "open (corrected)": arrivals["achieved_rate"]}  # fmt: skip
    for name, hist in models.items():
        p99 = hist.percentile(0.99)
        print(f"{name:<22}{hist.count:>10}{rates[name]:>8.1f}{hist.percentile(0.5):>9}{hist.percentile(0.95):>9}{p99:>9}"
              f"{'' if name == 'truth' else error(p99, true_p99):>14}")  # fmt: skip
    verdict = "yes" if abs(result["p99_error"]["open (corrected)"]) <= 0.10 else "NO"
    print(f"open model's corrected p99 within 10 % of the truth: {verdict}", flush=True)
    return result, models


def plot(models: dict[str, Histogram], figures: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    quantiles = [0.5, 0.75, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999]
    styles = {"truth": ("black", "-"), "closed": ("tab:red", "--"), "open (service time)": ("tab:blue", ":"),
              "open (corrected)": ("tab:green", "-")}  # fmt: skip
    figure, axis = plt.subplots(figsize=(7.5, 3.6), dpi=80)
    positions = range(len(quantiles))
    for name, hist in models.items():
        color, line = styles[name]
        axis.plot(positions, [hist.percentile(q) for q in quantiles], line, color=color, marker="o", markersize=3,
                  label=f"{name}: p99 {hist.percentile(0.99)} ms")  # fmt: skip
    axis.set_xticks(list(positions), [f"p{q * 100:g}" for q in quantiles])
    axis.set_ylabel("latency (ms)")
    axis.set_title(f"Target stalls {figures['stall_s']:g} s every {figures['period_s']:g} s, "
                   f"{figures['rate']:g} req/s offered, {figures['service_ms']:g} ms service", fontsize=10)  # fmt: skip
    axis.legend(fontsize=8, loc="upper left")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


if __name__ == "__main__":
    sys.exit(main())
