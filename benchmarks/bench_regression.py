"""Measure the regression test instead of assuming it: false alarms, power, and what it costs.

    .venv/bin/python benchmarks/bench_regression.py [--trials 200] [--samples 300]
    .venv/bin/python benchmarks/bench_regression.py --real 14 [--real-dir DIR] [--synthetic-off]

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
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.baseline import Baseline, load_baseline  # noqa: E402
from analysis.decide import decide  # noqa: E402
from analysis.histogram import Histogram  # noqa: E402
from analysis.reference import load_reference, write_reference  # noqa: E402
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
    args = parser.parse_args()
    baseline = load_baseline(PRODUCTION)
    rule = baseline.regression
    print(f"regression rule: percentiles {rule.percentiles}, noise band {rule.min_relative_change:.0%} (the interval "
          f"must clear it), confidence {rule.confidence}, {rule.bootstrap_resamples} resamples, min {rule.min_samples} samples")  # fmt: skip
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
