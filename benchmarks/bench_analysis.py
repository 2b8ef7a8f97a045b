"""How long compare + every plot + the report take for a 1 h and an 8 h run, and how that cost grows.

    python benchmarks/bench_analysis.py [--hours 1 8] [--endpoints 15] [--quick]

Synthesises a results folder per run length (15 endpoints, one 5 s interval histogram each, ~720 intervals per
hour, plus locust.json, manifest, business metrics) and a reference run, then times, in one process pinned to one
core: loading, deciding (the same `decide` as `compare`, bootstrap included), building every figure, and writing
report.html/report.md/plots. Prints seconds per phase and the ratio of the longest run to the shortest: a ratio
close to the ratio of run lengths means cost grows linearly. Target: a few seconds for 1 h.
Also prints the interval recorder's cost per request (its listener runs in the load generator for every request)
beside Locust's own stats logging of the same requests.
``--quick`` (CI smoke mode) runs 0.1 h and 0.2 h so the script cannot rot.
"""

from __future__ import annotations

import os

# One core means one thread too: BLAS and friends must not spread over the other cores behind our back.
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

import argparse  # noqa: E402 - after the thread settings above, which must precede numpy's import
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from analysis.baseline import load_baseline  # noqa: E402
from analysis.decide import decide  # noqa: E402
from analysis.histogram import bucket_array  # noqa: E402
from analysis.intervals import load_intervals  # noqa: E402
from analysis.reference import load_reference  # noqa: E402
from analysis.report import build_report, render_html, render_markdown  # noqa: E402
from analysis.report_cli import PLOTS_DIR, REPORT_HTML, REPORT_MD, _figure_bytes  # noqa: E402
from analysis.results import load_run  # noqa: E402
from scenarios.names import ALL  # noqa: E402

INTERVAL_S = 5.0
REQUESTS_PER_INTERVAL = 60  # per endpoint: 12 requests/s each, 180 requests/s in all
START = 1_795_728_000.0
BASELINE = REPO_ROOT / "baselines" / "production.toml"


def _endpoint_keys(count: int) -> list[str]:
    """The harness's real request names (15 of them), then synthetic ones if more are asked for."""
    return ([name.key for name in ALL] + [f"GET /synthetic/{i}" for i in range(count)])[:count]


def synthesise_run(folder: Path, hours: float, endpoint_count: int, *, slowdown: float, seed: int) -> Path:
    """A results folder whose interval histograms are drawn per endpoint from a bucketed lognormal."""
    rng = np.random.default_rng(seed)
    intervals = int(hours * 3600 / INTERVAL_S)
    folder.mkdir(parents=True, exist_ok=True)
    per_endpoint = {}
    for index, key in enumerate(_endpoint_keys(endpoint_count)):
        # Every endpoint gets its own latency scale; interval counts are multinomial draws over that distribution's
        # buckets, one vectorised call per endpoint instead of one histogram per interval.
        buckets, weights = np.unique(bucket_array(rng.lognormal(3.5 + 0.25 * index, 0.5, 20_000) * slowdown), return_counts=True)
        counts = rng.multinomial(REQUESTS_PER_INTERVAL, weights / weights.sum(), size=intervals)
        per_endpoint[key] = (buckets, counts)
    with (folder / "intervals.jsonl").open("w", encoding="utf-8") as file:
        file.write(json.dumps({"schema_version": 1, "interval_s": INTERVAL_S, "started_at": START}) + "\n")
        for row in range(intervals):
            endpoints = {}
            for key, (buckets, counts) in per_endpoint.items():
                present = np.flatnonzero(counts[row])
                hist = {str(b): int(c) for b, c in zip(buckets[present], counts[row][present])}
                endpoints[key] = {"requests": REQUESTS_PER_INTERVAL, "failures": int(row % 97 == 0), "hist": hist}
            file.write(json.dumps({"t": START + row * INTERVAL_S, "user_count": 50, "endpoints": endpoints}) + "\n")
    entries = []
    for key, (buckets, counts) in per_endpoint.items():
        method, name = key.split(" ", 1)
        totals = counts.sum(axis=0)
        entries.append({"name": name, "method": method, "num_requests": int(totals.sum()),
                        "num_failures": len(range(0, intervals, 97)), "max_response_time": float(buckets[totals > 0].max()),
                        "response_times": {str(b): int(c) for b, c in zip(buckets, totals) if c},
                        "start_time": START, "last_request_timestamp": START + intervals * INTERVAL_S})  # fmt: skip
    (folder / "locust.json").write_text(json.dumps(entries), encoding="utf-8")
    manifest = {"schema_version": 1, "run_id": folder.name, "started_at": "2026-11-26T12:00:00Z", "partial": False,
                "stop_reason": "run-time", "scenario_hash": "0" * 64,
                "options": {"users": 50, "spawn_rate": 5, "run_time_s": hours * 3600},
                "versions": {"python": sys.version.split()[0]}, "generator": {"cpu_percent_max": 40.0},
                "load": {"intended_users": 50, "reached_users": 50}}  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def time_analysis(run_folder: Path, reference_folder: Path, output: Path) -> dict[str, float]:
    """Seconds per phase of `report` for one run (the same calls report_cli makes, timed one by one)."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    baseline = load_baseline(BASELINE)
    run = load_run(run_folder)
    reference = load_reference(reference_folder)
    series = load_intervals(run_folder)
    timings["load"] = time.perf_counter() - started

    started = time.perf_counter()
    decide(run, baseline, reference)
    timings["compare"] = time.perf_counter() - started

    started = time.perf_counter()
    report = build_report(run, baseline, reference=reference, series=series)  # decides again, as the verb does
    timings["plots (data + figures)"] = time.perf_counter() - started

    started = time.perf_counter()
    images = {name: _figure_bytes(figure, "png") for name, figure in report.figures().items()}
    (output / PLOTS_DIR).mkdir(parents=True, exist_ok=True)
    for name, png in images.items():
        (output / PLOTS_DIR / f"{name}.png").write_bytes(png)
    timings["plots (PNG)"] = time.perf_counter() - started

    started = time.perf_counter()
    (output / REPORT_HTML).write_text(render_html(report, images), encoding="utf-8")
    (output / REPORT_MD).write_text(render_markdown(report, {n: f"{PLOTS_DIR}/{n}.png" for n in images}), encoding="utf-8")
    timings["report (HTML + MD)"] = time.perf_counter() - started
    timings["total"] = sum(timings.values())
    return timings


def time_recorder_hot_path(requests: int = 200_000) -> tuple[float, float]:
    """ns per request of the interval recorder's request listener and of Locust's own stats logging, same input.

    The recorder runs inside the load generator for every request, so its cost is stated next to what Locust
    itself spends on the same request."""
    from locust.stats import RequestStats

    from harness.intervals import IntervalTable

    rng = np.random.default_rng(3)
    response_times = rng.lognormal(5, 1, requests).tolist()
    names = [f"/endpoint/{i % 15}" for i in range(requests)]
    table = IntervalTable(INTERVAL_S)
    started = time.perf_counter()
    for name, response_time in zip(names, response_times):
        table.record("GET", name, response_time, False)
    recorder_ns = (time.perf_counter() - started) / requests * 1e9
    stats = RequestStats()
    started = time.perf_counter()
    for name, response_time in zip(names, response_times):
        stats.log_request("GET", name, response_time, 100)
    locust_ns = (time.perf_counter() - started) / requests * 1e9
    return recorder_ns, locust_ns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, nargs="+", default=[1.0, 8.0])
    parser.add_argument("--endpoints", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="0.1 h and 0.2 h: a smoke run for CI")
    args = parser.parse_args()
    hours_list = [0.1, 0.2] if args.quick else sorted(args.hours)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as the target says
    results: dict[float, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-analysis-") as scratch:
        root = Path(scratch)
        for hours in hours_list:
            started = time.perf_counter()
            run_folder = synthesise_run(root / f"run-{hours:g}h", hours, args.endpoints, slowdown=1.15, seed=1)
            reference_folder = synthesise_run(root / f"reference-{hours:g}h", hours, args.endpoints, slowdown=1.0, seed=2)
            print(f"synthesised {hours:g} h ({int(hours * 3600 / INTERVAL_S)} intervals x {args.endpoints} endpoints,"
                  f" intervals.jsonl {(run_folder / 'intervals.jsonl').stat().st_size / 1e6:.1f} MB)"
                  f" in {time.perf_counter() - started:.1f} s")  # fmt: skip
            results[hours] = time_analysis(run_folder, reference_folder, root / f"out-{hours:g}h")
    phases = list(next(iter(results.values())))
    print(f"\n{'phase':<24}" + "".join(f"{f'{h:g} h (s)':>12}" for h in hours_list))
    for phase in phases:
        print(f"{phase:<24}" + "".join(f"{results[h][phase]:>12.2f}" for h in hours_list))
    shortest, longest = hours_list[0], hours_list[-1]
    ratio = results[longest]["total"] / results[shortest]["total"]
    print(f"\n{longest:g} h / {shortest:g} h total time: {ratio:.2f}x for {longest / shortest:g}x the run length")
    recorder_ns, locust_ns = time_recorder_hot_path(20_000 if args.quick else 200_000)
    print(f"interval recorder: {recorder_ns:.0f} ns per request (Locust's own stats.log_request: {locust_ns:.0f} ns,"
          f" ratio {recorder_ns / locust_ns:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
