"""Measure the regression test instead of assuming it: false alarms, power, and what it costs.

    .venv/bin/python benchmarks/bench_regression.py [--trials 200] [--samples 300]
    .venv/bin/python benchmarks/bench_regression.py --real 14 [--real-dir DIR] [--synthetic-off]
    .venv/bin/python benchmarks/bench_regression.py --varying 200 [--synthetic-off]
    .venv/bin/python benchmarks/bench_regression.py --judge RUNS.jsonl --reference REF.json [--mode fixed] [--rotate]

``--varying N``: N synthetic trials of a system whose runs vary from one to the next as measured on this machine
(``MEASURED``: 20 endpoints of the simulator's 100 s fixed runs, each with its own run-to-run variation of the p50
and of the p95), each with a three-run reference recorded with timelines (5 s intervals) and a current run: the
share of unchanged runs with any "regressed" (target <= 5 %), and the share of runs in which a 30 % slowdown of
the CSV download or of the orchestrator is called regressed (analysis.decide, the production baseline).
``--judge``: the fixed-sample verdicts of recorded real runs (a runs.jsonl of benchmarks/bench_sequential.py:
case, seed, folder) against a reference: each run's watched endpoints' p50/p95 change, interval and verdict, and
every "regressed"; with ``--rotate``, every R of the unchanged runs (the reference's own and the A/A ones) as the
reference in turn, the others judged against it (written to --real-dir; the recorded runs are only read).

``--real N`` also makes N real headless runs of an unchanged system (``python -m harness perf`` against the
embedded simulator, simulator seeds 1..N, everything else equal, ~45 s each, bounded by --real-seconds) and
compares each run with a reference recorded from the REFERENCE_RUNS runs made just before it (analysis/reference.py,
several runs: the interval includes the run-to-run variation measured between them), and with the one run before
it alone, for contrast. It prints the share of whole runs with any false alarm ("regressed" anywhere) next to the synthetic
figures. Runs already in --real-dir are reused, so the analysis can be repeated without new load.

Prints, with the production baseline's [regression] rule and the full decision path (analysis.decide):
- A/A false-alarm rate: reference and current drawn from the same 15-endpoint system; share of endpoint
  comparisons (and of whole runs) called "regressed". Target: <= 5 % of comparisons.
- Power: one endpoint's p95 made 30 % slower, the other 14 unchanged; share of trials where that endpoint is
  "regressed", and share of the other endpoints called "unchanged". Target: >= 95 %. Two kinds of slowdown: the
  whole distribution x1.3 (p50 and p95 both move: easy), and only the tail above the median stretched (the p50
  stays: only the p95 test can see it, and a p95 from a few hundred samples rests on a dozen requests, so
  power grows with the sample size; printed for 300, 500 and 1000 samples).
- Speed: time per 15-endpoint comparison, and the bootstrap shortcut against literal resampling (a ratio
  measured in this run), and Histogram.merge_all against merging Locust-style dicts in Python.
Latencies are lognormal with medians and spreads like the SLA table's endpoints, bucketed exactly as Locust does.
tests/analysis/test_regression_rates.py runs the same measurement, smaller, with fixed seeds.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.baseline import Baseline, load_baseline  # noqa: E402
from analysis.decide import decide  # noqa: E402
from analysis.histogram import Histogram  # noqa: E402
from analysis.reference import ReferenceRuns, load_reference, read_reference_document, write_reference  # noqa: E402
from analysis.regression import bootstrap_percentiles, run_to_run_variance  # noqa: E402
from analysis.results import EndpointResult, RunResult, load_run  # noqa: E402
from analysis.verdicts import Verdict  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION = ROOT / "baselines" / "production.toml"
REFERENCE_RUNS = 5  # runs recorded into each multi-run reference in --real mode
# (median ms, lognormal sigma) for 15 synthetic endpoints: PostgREST reads, auth, edge functions, exports, jobs.
SYSTEM = [(12, 0.4), (15, 0.5), (20, 0.5), (25, 0.6), (40, 0.4), (90, 0.5), (150, 0.6), (300, 0.5),
          (600, 0.4), (900, 0.5), (1200, 0.6), (1800, 0.4), (2500, 0.5), (4000, 0.5), (30000, 0.3)]  # fmt: skip
SLOWED = 7  # the endpoint made slower in power trials
SLOWDOWN = 1.30


@dataclass(frozen=True)
class FalseAlarms:
    per_endpoint: float  # share of endpoint comparisons called regressed
    per_run: float  # share of runs with at least one endpoint called regressed
    comparisons: int


@dataclass(frozen=True)
class Power:
    detected: float  # share of trials where the slowed endpoint was called regressed
    others_unchanged: float  # share of the other endpoints called unchanged (every tested percentile)


def _key(index: int) -> str:
    return f"GET /endpoint-{index:02d}"


def _tail_stretch(samples: np.ndarray, p95_factor: float) -> np.ndarray:
    """Slow down only the requests above the median, so that the p95 rises by p95_factor and the p50 does not."""
    median, p95 = np.quantile(samples, [0.5, 0.95])
    stretch = (p95 * p95_factor - median) / (p95 - median)
    return np.where(samples > median, median + (samples - median) * stretch, samples)


def _run(rng: np.random.Generator, samples: int, slow: str | None) -> RunResult:
    endpoints = {}
    for index, (median, sigma) in enumerate(SYSTEM):
        values = rng.lognormal(np.log(median), sigma, samples)
        if index == SLOWED and slow == "scale":
            values = values * SLOWDOWN
        elif index == SLOWED and slow == "tail":
            values = _tail_stretch(values, SLOWDOWN)
        histogram = Histogram.from_samples(values)
        endpoints[_key(index)] = EndpointResult("GET", f"/endpoint-{index:02d}", histogram.count, 0, histogram)
    return RunResult(source="<synthetic>", endpoints=endpoints)


def _regressed_endpoints(decision) -> set[str]:
    return {c.subject for c in decision.checks if c.verdict is Verdict.REGRESSED}


def _unchanged_endpoints(decision) -> set[str]:
    by_endpoint: dict[str, set[Verdict]] = {}
    for check in decision.checks:
        if check.metric.endswith(" change"):
            by_endpoint.setdefault(check.subject, set()).add(check.verdict)
    return {key for key, verdicts in by_endpoint.items() if verdicts == {Verdict.UNCHANGED}}


def measure_false_alarms(baseline: Baseline, trials: int, samples: int, seed: int) -> FalseAlarms:
    """A/A: reference and current drawn from the same system, through the real decision path."""
    rng = np.random.default_rng(seed)
    alarms_per_trial = [
        len(_regressed_endpoints(decide(_run(rng, samples, None), baseline, _run(rng, samples, None))))
        for _ in range(trials)
    ]
    comparisons = trials * len(SYSTEM)
    return FalseAlarms(sum(alarms_per_trial) / comparisons, sum(map(bool, alarms_per_trial)) / trials, comparisons)


def measure_power(baseline: Baseline, trials: int, samples: int, slow: str, seed: int) -> Power:
    """One endpoint's p95 30 % slower (``slow``: "scale" or "tail"), the rest unchanged."""
    rng = np.random.default_rng(seed)
    detected = others_unchanged = 0
    for _ in range(trials):
        decision = decide(_run(rng, samples, slow), baseline, _run(rng, samples, None))
        detected += _key(SLOWED) in _regressed_endpoints(decision)
        others_unchanged += len(_unchanged_endpoints(decision) - {_key(SLOWED)})
    return Power(detected / trials, others_unchanged / (trials * (len(SYSTEM) - 1)))


def _literal_bootstrap(histogram: Histogram, qs: list[float], resamples: int, rng: np.random.Generator) -> np.ndarray:
    """The textbook way, for the speed ratio: resample every request, sort, read Locust's percentile index."""
    values = np.repeat(histogram.buckets, histogram.counts)
    draws = np.sort(rng.choice(values, size=(resamples, values.size), replace=True), axis=1)
    indexes = [min(int(values.size * q), values.size - 1) for q in qs]
    return draws[:, indexes]


def _seconds(function, repeat: int) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        function()
    return (time.perf_counter() - started) / repeat


def speed_figures(baseline: Baseline, samples: int) -> None:
    rng = np.random.default_rng(1)
    reference, current = _run(rng, samples, None), _run(rng, samples, None)
    per_comparison = _seconds(lambda: decide(current, baseline, reference), 20)
    print(f"decide() with a reference, {len(SYSTEM)} endpoints x {samples} samples: {per_comparison * 1000:.1f} ms")
    histogram = reference.endpoints[_key(SLOWED)].histogram
    resamples, qs = baseline.regression.bootstrap_resamples, list(baseline.regression.percentiles)
    shortcut = _seconds(lambda: bootstrap_percentiles(histogram, qs, resamples, rng), 50)
    literal = _seconds(lambda: _literal_bootstrap(histogram, qs, resamples, rng), 5)
    print(f"bootstrap of {qs} with {resamples} resamples: order-statistic shortcut {shortcut * 1000:.2f} ms, "
          f"literal resampling {literal * 1000:.1f} ms -> {literal / shortcut:.0f}x")  # fmt: skip
    intervals = [Histogram.from_samples(rng.lognormal(np.log(200), 0.6, 40)) for _ in range(720)]
    as_dicts = [{int(b): int(c) for b, c in zip(h.buckets, h.counts)} for h in intervals]

    def merge_dicts():
        merged: dict[int, int] = {}
        for mapping in as_dicts:
            for bucket, count in mapping.items():
                merged[bucket] = merged.get(bucket, 0) + count
        return merged

    vectorised = _seconds(lambda: Histogram.merge_all(intervals), 50)
    python = _seconds(merge_dicts, 50)
    print(f"merge 720 interval histograms: Histogram.merge_all {vectorised * 1000:.2f} ms, "
          f"Python dict loop {python * 1000:.2f} ms -> {python / vectorised:.1f}x")  # fmt: skip


# ---- real runs ---------------------------------------------------------------------------------------------------
def make_real_runs(count: int, folder: Path, seconds: int, users: int) -> list[Path]:
    """``count`` bounded headless runs against the embedded simulator (seeds 1..count), reusing finished ones."""
    folder.mkdir(parents=True, exist_ok=True)
    runs = []
    for seed in range(1, count + 1):
        root = folder / f"seed-{seed:02d}"
        if not (root / "latest" / "locust.json").is_file():
            command = [sys.executable, "-m", "harness", "perf", "--seed", str(seed), "--time-scale", "0.25",
                       "--no-report", "--no-preflight", "--results-root", str(root),
                       "-t", f"{seconds}s", "-u", str(users), "-r", str(max(users // 2, 1))]  # fmt: skip
            environment = {**os.environ, "PP_THINK_TIME_SCALE": "0.05"}
            started = time.perf_counter()
            subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, timeout=seconds + 120)
            print(f"  real run seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
        runs.append((root / "latest").resolve())
    return runs


def real_false_alarms(baseline: Baseline, runs: list[Path], folder: Path) -> None:
    """Each run against a reference of the REFERENCE_RUNS runs made just before it (as CI compares with the runs it
    recorded earlier), and against the one run just before it alone, for contrast."""
    loaded = [load_run(path) for path in runs]
    rule = baseline.regression
    multi = single = tested = 0
    for index in range(REFERENCE_RUNS, len(loaded)):
        current, before = loaded[index], list(range(index - REFERENCE_RUNS, index))
        reference_file = folder / f"reference-for-{index + 1:02d}.json"
        for position, other in enumerate(before):
            write_reference(loaded[other], reference_file, add=position > 0)
        regressed_multi = _regressed_endpoints(decide(current, baseline, load_reference(reference_file)))
        regressed_single = _regressed_endpoints(decide(current, baseline, loaded[index - 1]))
        tested += 1
        multi += bool(regressed_multi)
        single += bool(regressed_single)
        if regressed_multi or regressed_single:
            print(f"  run {index + 1}: {REFERENCE_RUNS}-run reference {sorted(regressed_multi) or 'none'}; "
                  f"one-run reference {len(regressed_single)} endpoint(s)")  # fmt: skip
    histograms = [{k: e.histogram for k, e in run.endpoints.items() if e.histogram is not None} for run in loaded]
    spread = run_to_run_variance(histograms, rule)
    judged = sum(1 for key in loaded[0].endpoints if all(key in r.endpoints and r.endpoints[key].samples >= rule.min_samples for r in loaded))
    sds = sorted(np.sqrt(v.log_variance) for v in spread.by_endpoint.values())
    print(f"run-to-run variation between the {len(loaded)} real runs (sd of a log percentile, sampling noise removed), "
          f"per endpoint: {sds[0]:.0%} to {sds[-1]:.0%}, median {np.median(sds):.0%}; "
          f"{judged} endpoints with >= {rule.min_samples} samples in every run")  # fmt: skip
    print(f"REAL A/A false alarms, {tested} runs of an unchanged system: {multi / tested:.1%} of runs with any "
          f"'regressed' against a reference of the {REFERENCE_RUNS} runs before (target <= 5 %); "
          f"{single / tested:.1%} against the one run before")  # fmt: skip


# ---- runs that vary from run to run as measured -------------------------------------------------------------------
CSV = "POST /functions/v1/campaign-export-user-aware?download=true [csv]"
ORCHESTRATOR = "POST /functions/v1/enrichment-orchestrator"
# (key, p50 ms, lognormal sigma, requests per 100 s run, run-to-run sd of the log p50, of the log p95): the
# simulator's 100 s fixed runs (make perf --fixed-duration, 2026-11-30: three reference runs and five A/A runs;
# sd between the 8 runs, sampling noise removed, floored at 2 %: an estimate of 0 from 8 runs is not 0).
MEASURED = [
    ("GET /auth/v1/user", 25, 0.56, 1014, 0.083, 0.315),
    ("GET /rest/v1/campaigns?id=eq.[campaignId]", 16, 0.53, 831, 0.090, 0.078),
    ("GET /rest/v1/campaigns?user_id=eq.[userId]", 17, 0.62, 199, 0.137, 0.02),
    ("GET /rest/v1/discovery_jobs?id=eq.[jobId]", 16, 0.53, 649, 0.110, 0.160),
    ("GET /rest/v1/leads?campaign_id=eq.[campaignId]", 16, 0.54, 649, 0.121, 0.144),
    ("GET /rest/v1/leads?campaign_id=eq.[campaignId]&limit=50 [count=exact]", 16, 0.56, 188, 0.107, 0.128),
    ("GET /rest/v1/leads?user_id=eq.[userId]", 21, 0.56, 181, 0.117, 0.248),
    ("GET /rest/v1/user_profiles?id=eq.[userId]", 18, 0.64, 196, 0.140, 0.093),
    ("JOB business-discovery-background submit->completed", 1000, 0.32, 644, 0.035, 0.040),
    ("POST /auth/v1/token?grant_type=refresh_token", 88, 0.53, 137, 0.050, 0.02),
    ("POST /functions/v1/business-discovery-background", 220, 0.47, 651, 0.02, 0.065),
    ("POST /functions/v1/business-discovery-optimized", 1500, 0.26, 451, 0.023, 0.02),
    ("POST /functions/v1/campaign-export-user-aware", 400, 0.30, 204, 0.02, 0.050),
    (CSV, 360, 0.32, 579, 0.02, 0.030),
    ("POST /functions/v1/campaign-export-user-aware?download=true [json]", 400, 0.30, 196, 0.02, 0.033),
    (ORCHESTRATOR, 600, 0.89, 888, 0.027, 0.02),
    ("POST /functions/v1/test-new-auth", 73, 0.51, 273, 0.043, 0.02),
    ("WS /realtime/v1/websocket", 3, 1.05, 649, 0.417, 0.367),
    ("WS phx_join realtime:discovery_jobs_[jobId]", 1, 1.34, 649, 0.433, 0.432),
    ("WS postgres_changes discovery_jobs id=eq.[jobId]", 1, 2.91, 5682, 0.245, 0.459),
]  # fmt: skip


def varying_run(rng: np.random.Generator, slow: str | None = None, seconds: float = 100.0, interval_s: float = 5.0,
                spread: float = 1.0) -> tuple[RunResult, tuple]:  # fmt: skip
    """One run of MEASURED with its timeline: each endpoint's run effect shifts its log median by N(0, sd_p50) and
    stretches its log spread so that its log p95 moves by sd_p95 in all (``spread`` scales both), constant over the
    run (the least favourable case for an estimate on parts: no swing within a run to inflate it). ``slow``: that
    endpoint x1.3."""
    effects = {}
    for key, _, sigma, _, sd50, sd95 in MEASURED:
        stretch_sd = np.sqrt(max(sd95**2 - sd50**2, 0.0)) / (1.645 * sigma)
        effects[key] = (rng.normal(0, sd50 * spread), max(0.1, 1 + rng.normal(0, stretch_sd * spread)))
    timeline = []
    steps = int(round(seconds / interval_s))
    for step in range(steps):
        histograms = {}
        for key, median, sigma, count, _, _ in MEASURED:
            shift, stretch = effects[key]
            values = np.exp(np.log(median) + shift + sigma * stretch * rng.standard_normal(rng.poisson(count / steps)))
            histograms[key] = Histogram.from_samples(values * (SLOWDOWN if key == slow else 1.0))
        timeline.append((interval_s * (step + 1), histograms))
    endpoints = {}
    for key, *_ in MEASURED:
        histogram = Histogram.merge_all(histograms[key] for _, histograms in timeline)
        method, name = key.split(" ", 1)
        endpoints[key] = EndpointResult(method, name, histogram.count, 0, histogram)
    return RunResult(source="<synthetic varying>", endpoints=endpoints), tuple(timeline)


def varying_reference(rng: np.random.Generator, runs: int = 3, spread: float = 1.0) -> ReferenceRuns:
    made = [varying_run(rng, spread=spread) for _ in range(runs)]
    keys = sorted(made[0][0].endpoints)
    merged = {}
    for key in keys:
        histogram = Histogram.merge_all(run.endpoints[key].histogram for run, _ in made)
        merged[key] = EndpointResult(*key.split(" ", 1), histogram.count, 0, histogram)
    return ReferenceRuns(source=f"<{runs} synthetic runs>", endpoints=merged, runs=tuple(run for run, _ in made),
                         timelines=tuple(timeline for _, timeline in made))  # fmt: skip


def varying_figures(baseline: Baseline, trials: int, seed: int, spread: float = 1.0) -> None:
    """A/A false alarms and power on runs that vary from run to run as measured, through analysis.decide."""
    rng = np.random.default_rng(seed)
    counts = dict.fromkeys(("A/A", CSV, ORCHESTRATOR), 0)
    false_alarms: Counter[str] = Counter()  # which endpoints the A/A alarms were on
    started = time.perf_counter()
    for _ in range(trials):
        reference = varying_reference(rng, spread=spread)
        for case, slow in (("A/A", None), (CSV, CSV), (ORCHESTRATOR, ORCHESTRATOR)):
            current, _ = varying_run(rng, slow, spread=spread)
            regressed = _regressed_endpoints(decide(current, baseline, reference))
            counts[case] += bool(regressed) if case == "A/A" else case in regressed
            if case == "A/A":
                false_alarms.update(regressed)
    print(f"runs varying as measured (x{spread:g}), {trials} trials of a 3-run reference and a current run "
          f"({time.perf_counter() - started:.0f} s):")  # fmt: skip
    for case, label in (("A/A", "A/A runs with any regressed (target <= 5 %)"),
                        (CSV, "CSV download x1.3 called regressed"), (ORCHESTRATOR, "orchestrator x1.3 called regressed")):  # fmt: skip
        print(f"  {label}: {counts[case] / trials:.1%} ({counts[case]}/{trials})")
    if false_alarms:
        print("  A/A alarms on: " + ", ".join(f"{key} {count}" for key, count in false_alarms.most_common()))


# ---- recorded real runs ------------------------------------------------------------------------------------------
WATCHED = {"CSV download": CSV, "orchestrator": ORCHESTRATOR, "background discovery": "POST /functions/v1/business-discovery-background"}


def judge_recorded(baseline: Baseline, runs_jsonl: Path, reference_path: Path, mode: str) -> None:
    """The fixed-sample verdicts of recorded runs (read-only) against ``reference_path``."""
    reference = load_reference(reference_path)
    rows = [json.loads(line) for line in runs_jsonl.read_text().splitlines() if line.strip()]
    rows = [row for row in rows if row.get("mode") == mode]
    print(f"{len(rows)} recorded {mode} runs against {reference.source}")
    print("| run | case | " + " | ".join(f"{short} p50 / p95" for short in WATCHED) + " | regressed |")
    print("|---|---|" + "---|" * (len(WATCHED) + 1))
    alarms = 0
    for row in rows:
        decision = decide(load_run(row["folder"]), baseline, reference)
        by = {(c.subject, c.metric): c for c in decision.checks}
        cells = []
        for key in WATCHED.values():
            parts = []
            for metric in ("p50 change", "p95 change"):
                check = by.get((key, metric))
                if check is None or check.interval is None:
                    parts.append("-")
                    continue
                low, high = check.interval
                parts.append(f"{check.change:+.0%} [{low:+.0%}, {high:+.0%}] {check.verdict.value}")
            cells.append(" / ".join(parts))
        regressed = [f"{c.subject} {c.metric} {c.change:+.0%}" for c in decision.checks if c.verdict is Verdict.REGRESSED]
        alarms += row["case"] == "A/A" and bool(regressed)
        print(f"| {Path(row['folder']).name} | {row['case']} | " + " | ".join(cells) + f" | {'; '.join(regressed) or 'none'} |")
    print(f"A/A runs with any regressed: {alarms} of {sum(row['case'] == 'A/A' for row in rows)}")


def rotate_recorded(baseline: Baseline, runs_jsonl: Path, reference_path: Path, mode: str, folder: Path) -> None:
    """Every R of the unchanged runs (the reference's own runs, from its provenance, and the A/A runs) as the
    reference in turn, R as many as ``reference_path`` holds: each other unchanged run judged against it (A/A) and
    each slowed run (is its slowed function's endpoint called regressed?). The comparisons share runs, so they are
    not independent trials; they are many more real comparisons than one reference gives."""
    document = read_reference_document(reference_path)
    size = len(document["runs"])
    rows = [json.loads(line) for line in runs_jsonl.read_text().splitlines() if line.strip()]
    rows = [row for row in rows if row.get("mode") == mode]
    unchanged = [run["provenance"]["recorded_from"] for run in document["runs"]] + [row["folder"] for row in rows if row["case"] == "A/A"]
    slowed = [row for row in rows if row["case"] != "A/A"]
    loaded = {path: load_run(path) for path in {*unchanged, *(row["folder"] for row in slowed)}}
    folder.mkdir(parents=True, exist_ok=True)
    reference_file = folder / "rotating-reference.json"
    alarms: Counter[str] = Counter()
    aa = aa_alarmed = 0
    detected: dict[str, list[int]] = {}
    started = time.perf_counter()
    for chosen in itertools.combinations(unchanged, size):
        for position, path in enumerate(chosen):
            write_reference(loaded[path], reference_file, add=position > 0)
        reference = load_reference(reference_file)
        for path in unchanged:
            if path not in chosen:
                regressed = [f"{c.subject} {c.metric}" for c in decide(loaded[path], baseline, reference).checks if c.verdict is Verdict.REGRESSED]
                aa, aa_alarmed = aa + 1, aa_alarmed + bool(regressed)
                alarms.update(regressed)
        for row in slowed:
            wanted = ORCHESTRATOR if "orchestrator" in row["case"] else CSV if "export" in row["case"] else None
            found = _regressed_endpoints(decide(loaded[row["folder"]], baseline, reference))
            tally = detected.setdefault(row["case"], [0, 0])
            tally[0] += 1
            tally[1] += wanted in found
    print(f"every {size} of the {len(unchanged)} unchanged {mode} runs as the reference ({time.perf_counter() - started:.0f} s):")
    print(f"  A/A comparisons with any regressed: {aa_alarmed} of {aa} ({aa_alarmed / aa:.1%})")
    for case, (total, hits) in detected.items():
        print(f"  {case} x1.3: its endpoint called regressed in {hits} of {total} ({hits / total:.0%})")
    if alarms:
        print("  A/A alarms on: " + ", ".join(f"{name} {count}" for name, count in alarms.most_common(8)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=150)
    parser.add_argument("--samples", type=int, default=300, help="samples per endpoint per run")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--real", type=int, default=0, metavar="N", help="also make N real runs (10-20; ~45 s each)")
    parser.add_argument("--real-dir", default="/tmp/bench-regression-runs", help="where real runs go (reused)")
    parser.add_argument("--real-seconds", type=int, default=40, help="length of each real run")
    parser.add_argument("--real-users", type=int, default=60, help="users of each real run")
    parser.add_argument("--synthetic-off", action="store_true", help="only the real-run figures")
    parser.add_argument("--varying", type=int, default=0, metavar="N", help="N trials of runs that vary as measured")
    parser.add_argument("--spread", type=float, default=1.0, help="--varying: scale the measured run-to-run variation")
    parser.add_argument("--judge", type=Path, metavar="RUNS_JSONL", help="judge recorded runs (with --reference)")
    parser.add_argument("--reference", type=Path, help="--judge: the reference file")
    parser.add_argument("--mode", default="fixed", help="--judge: the runs.jsonl mode to judge")
    parser.add_argument("--rotate", action="store_true", help="--judge: every R of the unchanged runs as the reference in turn")
    args = parser.parse_args()
    baseline = load_baseline(PRODUCTION)
    rule = baseline.regression
    print(f"regression rule: percentiles {rule.percentiles}, noise band {rule.min_relative_change:.0%} (the interval "
          f"must clear it), confidence {rule.confidence}, {rule.bootstrap_resamples} resamples, min {rule.min_samples} samples")  # fmt: skip
    if args.judge:
        if args.reference is None:
            parser.error("--judge needs --reference")
        if args.rotate:
            rotate_recorded(baseline, args.judge, args.reference, args.mode, Path(args.real_dir))
        else:
            judge_recorded(baseline, args.judge, args.reference, args.mode)
        return
    if args.varying:
        print()
        varying_figures(baseline, args.varying, args.seed, args.spread)
    if args.real:
        folder = Path(args.real_dir)
        print(f"\n{args.real} real headless runs against the simulator ({args.real_seconds} s, {args.real_users} users each) in {folder}")
        runs = make_real_runs(args.real, folder, args.real_seconds, args.real_users)
        real_false_alarms(baseline, runs, folder)
    if args.synthetic_off:
        return
    print(f"\nsynthetic: {len(SYSTEM)} endpoints per run, {args.trials} trials per figure\n")
    for samples in sorted({rule.min_samples, args.samples}):  # the smallest sample the rule judges, and the typical
        alarms = measure_false_alarms(baseline, args.trials, samples, args.seed)
        print(f"A/A false alarms, {samples} samples per endpoint: {alarms.per_endpoint:.2%} of {alarms.comparisons} "
              f"endpoint comparisons called regressed (target <= 5 %); runs with any: {alarms.per_run:.1%}")  # fmt: skip
    cases = [("scale", args.samples, "whole distribution x1.3")] + [
        ("tail", n, "only the tail above the median, p95 x1.3") for n in sorted({args.samples, 500, 1000})
    ]
    for slow, samples, label in cases:
        power = measure_power(baseline, args.trials, samples, slow, args.seed)
        print(f"power, one endpoint's p95 +30 % ({label}), {samples} samples: {power.detected:.1%} called regressed "
              f"(target >= 95 %); other endpoints unchanged: {power.others_unchanged:.1%}")  # fmt: skip
    print()
    speed_figures(baseline, args.samples)


if __name__ == "__main__":
    main()
