"""Fixed-length runs against runs until decided, measured on real runs of the simulator (`make perf` as it is).

    .venv/bin/python benchmarks/bench_sequential.py [--aa N] [--slowed N] [--modes fixed,until] [--quick]
        [--reference-runs R | --reference MODE=FILE] [--budget-minutes M] [--log FILE] [--results-root DIR]
    .venv/bin/python benchmarks/bench_sequential.py --summarize FILE [--rejudge] # the figures of the runs a --log lists
    .venv/bin/python benchmarks/bench_sequential.py --replay REFERENCE RUN... # judge recorded runs again, look by look

For each mode (``fixed``: `make perf --fixed-duration`, 100 s; ``until``: `make perf`, until every required check is
decided, 30-300 s) it records a reference of R runs of the unchanged system (seeds 1000..; default 3, `record
--add`: the regression tests then know the run-to-run variation; until decided, each reference run lasts the whole
300 s maximum, so that every part of a later run has the same part of the reference to compare with), or takes
one given with --reference. Then it makes real headless runs against the embedded simulator, each with its own
simulator seed, compared with that reference by the in-run gate, the cases interleaved (A/A, export, A/A,
orchestrator, ...) so that a budget that cuts the series leaves each case its share:
- A/A: the unchanged system; a "false alarm" is any breach or regressed verdict in the run (counted apart too:
  a breach of an unchanged system measures the machine, e.g. PostgREST reads over 100 ms on a loaded one);
- slowed: one function 30 % slower (simulator ``--slow FUNCTION=1.3``: its whole time, own work and calls): the
  CSV export (campaign-export-user-aware: its CSV download is the endpoint watched), then the enrichment
  orchestrator; "detected" means that endpoint got a regressed verdict.
It prints, per mode: the share of A/A runs with any false alarm (target <= 5 %), the share of slowed runs in which
the slowed endpoint was called regressed (target >= 95 %), each with its exact 95 % interval (0 of 10 is not
"<= 5 %": its interval reaches 31 %), and the median and maximum run length, with the number of runs behind each
figure. Every run is a real `python -m harness perf` (80 users), one after the other: ~2 minutes per fixed run, up
to ~5.5 per until-decided run; on a shared 2-core machine size --aa/--slowed/--budget-minutes to the time you
have. Without arguments (and with --quick, as `make bench` runs it) it is a smoke: a one-run reference, one A/A
and one export-slowed run per mode, with shorter durations (fixed 40 s; until decided at most 120 s), figures
that only show that the pipeline works.

``--replay REFERENCE RUN...`` judges recorded until-decided runs again from their ``intervals.jsonl``, look by look
with the gate's own bookkeeping (analysis.sequential.LookCounts) and stop rule: what a change of the sequential
judge does to real runs, without new runs (a run can only be cut shorter than it was recorded).

``--synthetic RUN --trials N`` adds (or, alone, only runs) a cheap check of the sequential judge itself: it draws
runs from a real run's per-endpoint histograms and request rates (resampled, so every run is iid: no run-to-run
variation, unlike the real runs) and looks every 5 s as the gate does, stopping by the gate's rule (all required
checks decided, or the rest out of reach; 30 s minimum, 300 s maximum): A/A against a reference drawn the same
way, and with the CSV export's latency x1.3. It prints the same figures, from many more runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SLOWED = {
    "campaign-export-user-aware": "POST /functions/v1/campaign-export-user-aware?download=true [csv]",
    "enrichment-orchestrator": "POST /functions/v1/enrichment-orchestrator",
}
ALARMS = ("breach", "regressed", "missing")
# Endpoints a slowed function also serves (its other calls): regressed there too is expected, not a false alarm.
SIBLINGS = {"campaign-export-user-aware": ("POST /functions/v1/campaign-export-user-aware",
                                           "POST /functions/v1/campaign-export-user-aware?download=true [json]")}


@dataclass(frozen=True)
class RunOutcome:
    mode: str
    case: str  # "A/A" or the slowed function
    seed: int
    exit_code: int
    seconds: float
    stop_reason: str | None
    alarms: tuple[str, ...]  # "<endpoint> <metric>: <verdict>"
    regressed_endpoints: frozenset[str]
    folder: Path


def perf(results_root: Path, seed: int, mode: str, durations: dict[str, str], *extra: str) -> Path:
    """One real `python -m harness perf` run; returns its results folder."""
    command = [sys.executable, "-m", "harness", "perf", "--seed", str(seed), "--results-root", str(results_root),
               "--no-report", *extra]  # fmt: skip
    if mode == "fixed":
        command += ["--fixed-duration", "-t", durations["fixed"]]
    else:
        command += ["-t", durations["until"]]
    before = set(results_root.iterdir()) if results_root.exists() else set()
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    created = sorted(path for path in set(results_root.iterdir()) - before if path.is_dir() and not path.is_symlink())
    if not created or not (created[-1] / "manifest.json").exists():
        raise SystemExit(f"error: the run did not write its results (exit {completed.returncode}):\n{completed.stderr[-2000:]}")
    return created[-1]


def outcome(folder: Path, mode: str, case: str, seed: int, rejudge_against: str | None = None) -> RunOutcome:
    """What one run decided: its own verdict.json, or with ``rejudge_against`` (a reference file) the verdict the
    current code gives its files offline (`python -m analysis compare`; a run until decided keeps the sequential
    verdicts it recorded in sequential.json, a fixed run is judged again by the fixed-sample gate)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    if rejudge_against is None:
        verdict = json.loads((folder / "verdict.json").read_text())
    else:
        completed = subprocess.run([sys.executable, "-m", "analysis", "compare", str(folder), "--baseline",
                                    str(ROOT / "baselines" / "production.toml"), "--reference", rejudge_against,
                                    "--format", "json"], cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
        if not completed.stdout.strip():
            raise SystemExit(f"error: compare of {folder} wrote nothing (exit {completed.returncode}): {completed.stderr[-500:]}")
        verdict = json.loads(completed.stdout)
    started, ended = (datetime.fromisoformat(manifest[key]) for key in ("started_at", "ended_at"))
    alarms = tuple(f"{c['subject']} {c['metric']}: {c['verdict']}" for c in verdict["checks"] if c["verdict"] in ALARMS)
    regressed = frozenset(c["subject"] for c in verdict["checks"] if c["verdict"] == "regressed")
    return RunOutcome(mode, case, seed, verdict["exit_code"], (ended - started).total_seconds(), manifest["stop_reason"],
                      alarms, regressed, folder)  # fmt: skip


def synthetic(run_folder: str, trials: int, seed: int = 7) -> None:
    """Sequential judge only, on runs drawn from a real run's histograms (see the module docstring)."""
    import numpy as np

    from analysis.baseline import load_baseline
    from analysis.histogram import Histogram
    from analysis.results import load_run
    from analysis.sequential import EndpointCounts, SequentialJudge

    baseline = load_baseline(ROOT / "baselines" / "production.toml")
    run = load_run(run_folder)
    duration = run.duration_s or 120.0
    population = {key: (e.histogram.buckets.astype(float), e.histogram.counts / e.histogram.count, e.requests / duration)
                  for key, e in run.endpoints.items() if e.histogram is not None and e.histogram.count}  # fmt: skip
    rng = np.random.default_rng(seed)
    watched = SLOWED["campaign-export-user-aware"]

    def draw(seconds: float, slow: float = 1.0) -> dict[str, list]:
        drawn = {}
        for key, (buckets, weights, rate) in population.items():
            n = rng.poisson(rate * seconds)
            values = rng.choice(buckets, size=n, p=weights) * (slow if key == watched else 1.0)
            drawn[key] = list(values)
        return drawn

    def counts(samples: dict[str, list]) -> dict[str, EndpointCounts]:
        return {k: EndpointCounts(len(v), 0, Histogram.from_samples(v)) for k, v in samples.items() if v}

    outcomes = {"A/A": [], "slowed": []}
    started = time.monotonic()
    for _trial in range(trials):
        reference = counts(draw(duration))
        for case, slow in (("A/A", 1.0), ("slowed", 1.3)):
            judge = SequentialJudge(baseline, reference)
            samples: dict[str, list] = {k: [] for k in population}
            stopped_at, alarms = 300.0, set()
            for look in range(1, 61):
                for key, values in draw(5.0, slow).items():
                    samples[key] += values
                checks = judge.look(5.0 * look, counts(samples))
                alarms = {(c.subject, c.verdict.value) for c in checks if c.verdict is not None and c.verdict.value in ("breach", "regressed")}
                undecided = judge.undecided_required()  # the gate's stop rule: all decided, or the rest out of reach
                if look >= 6 and (not undecided or len(judge.out_of_reach(300.0)) == len(undecided)):
                    stopped_at = 5.0 * look
                    break
            outcomes[case].append((stopped_at, alarms))
    aa, slowed = outcomes["A/A"], outcomes["slowed"]
    lengths = [length for length, _ in aa + slowed]
    print(f"\nSynthetic (sequential judge only, {trials} A/A and {trials} slowed runs drawn from {run_folder}, "
          f"{time.monotonic() - started:.0f} s):")  # fmt: skip
    print(f"- A/A runs with any regressed verdict: {share(sum(any(v == 'regressed' for _, v in a) for _, a in aa), len(aa))}; "
          f"any breach: {share(sum(any(v == 'breach' for _, v in a) for _, a in aa), len(aa))}")  # fmt: skip
    print(f"- CSV export x1.3: called regressed in {share(sum((watched, 'regressed') in a for _, a in slowed), len(slowed))}")
    print(f"- run length: median {statistics.median(lengths):.0f} s, max {max(lengths):.0f} s "
          f"({sum(length >= 300 for length in lengths)} of {len(lengths)} runs reached the 300 s maximum)")  # fmt: skip


def replay(reference_path: str, folders: list[str], watched: str | None = None, max_s: float = 300.0, min_s: float = 30.0) -> list[dict]:
    """Judge recorded runs again, look by look from their intervals.jsonl, against a reference, as the in-run gate
    does (its parts, its stop rule): what a change of the sequential judge does to real runs, without new runs.
    Prints one line per run; returns {folder, stopped_s, stop, alarms, watched} per run."""
    import json as _json

    from analysis.baseline import load_baseline
    from analysis.reference import load_reference
    from analysis.sequential import LookCounts, SequentialJudge, reference_of

    baseline = load_baseline(ROOT / "baselines" / "production.toml")
    reference = reference_of(load_reference(reference_path), baseline.regression)
    rows = []
    for folder in folders:
        lines = [_json.loads(line) for line in (Path(folder) / "intervals.jsonl").read_text().splitlines() if line.strip()]
        header, intervals = lines[0], lines[1:]
        judge = SequentialJudge(baseline, reference)
        counts = LookCounts(reference)
        stop, elapsed = "max-duration", 0.0
        for number, row in enumerate(intervals):
            last = number == len(intervals) - 1
            elapsed = row["t"] + (row.get("duration_s", header["interval_s"]) if last and number else header["interval_s"]) - header["started_at"]
            counts.add(elapsed, {key: (e["requests"], e["failures"], e.get("corrected_hist", e["hist"])) for key, e in row["endpoints"].items()})
            counts.look(judge, elapsed)
            undecided = judge.undecided_required()
            if elapsed >= min_s and not undecided:
                stop = "decided"
                break
            if elapsed >= min_s and len(judge.out_of_reach(max_s)) == len(undecided):
                stop = "undecidable"
                break
            if elapsed >= max_s:
                break
        alarms = [f"{c.subject} {c.metric}: {c.verdict.value}" for c in judge.last if c.verdict is not None and c.verdict.value in ALARMS]
        seen = {c.metric: (c.verdict.value if c.verdict else "undecided") for c in judge.last if c.subject == watched and c.metric.endswith("change")}
        print(f"  replay {Path(folder).name}: {stop} after {elapsed:.0f} s; alarms: {'; '.join(alarms) or 'none'}"
              + (f"; watched {seen}" if watched else ""), flush=True)  # fmt: skip
        rows.append({"folder": folder, "stopped_s": elapsed, "stop": stop, "alarms": alarms, "watched": seen})
    return rows


def interleaved(cases: list) -> list:
    """The cases in an order that mixes them evenly (A/A, export, A/A, orchestrator, ...): a run cut short by the
    budget leaves every case with about its share of runs."""
    totals: dict[str, int] = {}
    for case, _extra in cases:
        totals[case] = totals.get(case, 0) + 1
    seen: dict[str, int] = {}
    keyed = []
    for order, (case, extra) in enumerate(cases):
        seen[case] = seen.get(case, 0) + 1
        keyed.append(((seen[case] - 0.5) / totals[case], order, (case, extra)))
    return [item for _, _, item in sorted(keyed)]


def share(hits: int, runs: int) -> str:
    """"3/10 = 30 % (95 % CI 7-65 %)": the exact (Clopper-Pearson) interval says what so few runs can show."""
    if not runs:
        return "no runs"
    from scipy.stats import beta

    low = beta.ppf(0.025, hits, runs - hits + 1) if hits else 0.0
    high = beta.ppf(0.975, hits + 1, runs - hits) if hits < runs else 1.0
    return f"{hits}/{runs} = {hits / runs:.0%} (95 % CI {low:.0%}-{high:.0%})"


def report(outcomes: list[RunOutcome], modes: list[str], functions: list[str]) -> None:
    """The figures, per mode: A/A false alarms, slowed endpoints called regressed, run lengths."""
    for mode in modes:
        mine = [o for o in outcomes if o.mode == mode]
        aa_runs = [o for o in mine if o.case == "A/A"]
        lengths = [o.seconds for o in mine]
        regressed = sum(bool(o.regressed_endpoints) for o in aa_runs)
        breached = sum(any(not a.endswith(": regressed") for a in o.alarms) for o in aa_runs)
        print(f"- {mode}: A/A runs with any false alarm {share(sum(bool(o.alarms) for o in aa_runs), len(aa_runs))} "
              f"(target <= 5 %): any regressed {share(regressed, len(aa_runs))}, any SLA breach {share(breached, len(aa_runs))}")  # fmt: skip
        for function in functions:
            slowed = [o for o in mine if o.case == function]
            hits = sum(SLOWED[function] in o.regressed_endpoints for o in slowed)
            others = sum(bool(o.regressed_endpoints - {SLOWED[function]} - set(SIBLINGS.get(function, ()))) for o in slowed)
            print(f"  {function} x1.3: {SLOWED[function]} called regressed in {share(hits, len(slowed))} (target >= 95 %); "
                  f"runs with another endpoint regressed: {others}")  # fmt: skip
        if lengths:
            print(f"  run length: median {statistics.median(lengths):.0f} s, max {max(lengths):.0f} s over {len(lengths)} runs "
                  f"(stop reasons: {', '.join(f'{r} {sum(o.stop_reason == r for o in mine)}' for r in sorted({o.stop_reason or '?' for o in mine}))})")  # fmt: skip


def per_mode_counts(text: str | None, default: int, parser: argparse.ArgumentParser) -> dict[str, int]:
    """"8" (each mode) or "until=16,fixed=4" -> {mode: runs}."""
    if text is None:
        return {"fixed": default, "until": default}
    try:
        if "=" not in text:
            return {"fixed": int(text), "until": int(text)}
        found = {mode.strip(): int(count) for mode, count in (item.split("=", 1) for item in text.split(",") if item)}
    except ValueError:
        parser.error(f"a count per mode is N or MODE=N,MODE=N, got {text!r}")
    if not set(found) <= {"fixed", "until"}:
        parser.error(f"modes are fixed and until, got {text!r}")
    return {"fixed": found.get("fixed", 0), "until": found.get("until", 0)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--aa", default=None, help="A/A runs per mode: N, or MODE=N,MODE=N (default 1 in the smoke)")
    parser.add_argument("--slowed", default=None, help="runs per slowed function per mode: N or MODE=N,... (default 1 in the smoke)")
    parser.add_argument("--modes", default="fixed,until", help="fixed, until or both (default fixed,until)")
    parser.add_argument("--functions", default=",".join(SLOWED), help="functions to slow, in order (default: export, orchestrator)")
    parser.add_argument("--quick", action="store_true", help="the smoke (also without --aa/--slowed)")
    parser.add_argument("--results-root", default=None, help="keep the run folders here (default: a temporary folder)")
    parser.add_argument("--log", default=None, help="append one JSON line per run to this file")
    parser.add_argument("--synthetic", metavar="RUN", default=None, help="a results folder whose histograms the synthetic runs are drawn from")
    parser.add_argument("--trials", type=int, default=50, help="synthetic runs per case (default 50)")
    parser.add_argument("--reference-runs", type=int, default=None,
                        help="reference runs recorded per mode into one reference (`record --add`; default 3, 1 in the "
                             "smoke: with several the regression tests know the run-to-run variation)"
                             "; until decided: each lasts the maximum")
    parser.add_argument("--reference", action="append", default=[], metavar="MODE=FILE",
                        help="use this recorded reference for MODE (fixed or until) instead of recording one")
    parser.add_argument("--first-seed", type=int, default=2000,
                        help="the first run's simulator seed in each mode (default 2000): a series added to a log "
                             "takes seeds the log does not have")  # fmt: skip
    parser.add_argument("--budget-minutes", type=float, default=None, help="start no run after this many minutes")
    parser.add_argument("--replay", nargs="+", metavar=("REFERENCE", "RUN"), default=None,
                        help="judge recorded until-decided runs again from their intervals against REFERENCE (no new runs)")
    parser.add_argument("--summarize", metavar="LOG", default=None, help="print the figures of the runs a --log file lists")
    parser.add_argument("--rejudge", action="store_true",
                        help="with --summarize: judge each run again with the current code against its logged reference")
    parser.add_argument("--watch", default=SLOWED["enrichment-orchestrator"], help="with --replay: the endpoint whose change to show")
    args = parser.parse_args(argv)
    if any("=" not in item or item.split("=", 1)[0] not in ("fixed", "until") for item in args.reference):
        parser.error("--reference: MODE=FILE with MODE fixed or until")
    if args.summarize:
        rows = [json.loads(line) for line in Path(args.summarize).read_text().splitlines() if line.strip()]
        if args.rejudge and any(not row.get("reference") for row in rows):
            parser.error("--rejudge: the log's rows need their reference (logs written before it was logged: add \"reference\")")
        outcomes = [outcome(Path(row["folder"]), row["mode"], row["case"], row["seed"], row["reference"] if args.rejudge else None)
                    for row in rows]  # fmt: skip
        print(f"Results of the {len(rows)} runs in {args.summarize}:")
        report(outcomes, [m for m in ("until", "fixed") if any(o.mode == m for o in outcomes)], list(SLOWED))
        return 0
    if args.replay:
        if len(args.replay) < 2:
            parser.error("--replay: a reference and at least one run folder")
        sys.path.insert(0, str(ROOT))
        replay(args.replay[0], args.replay[1:], args.watch)
        return 0
    if args.synthetic:
        sys.path.insert(0, str(ROOT))
        synthetic(args.synthetic, args.trials)
        if args.aa is None and args.slowed is None and not args.quick:
            return 0
    quick = args.quick or (args.aa is None and args.slowed is None)
    aa = per_mode_counts(args.aa, 1 if quick else 0, parser)
    slowed_runs = per_mode_counts(args.slowed, 1 if quick else 0, parser)
    functions = ["campaign-export-user-aware"] if quick else [f for f in args.functions.split(",") if f]
    unknown = [f for f in functions if f not in SLOWED]
    if unknown:
        parser.error(f"--functions: unknown {unknown}; choose from {', '.join(SLOWED)}")
    modes = [m for m in args.modes.split(",") if m]
    if not set(modes) <= {"fixed", "until"}:
        parser.error("--modes: fixed, until or fixed,until")
    durations = {"fixed": "40s", "until": "120s"} if quick else {"fixed": "100s", "until": "300s"}
    root = Path(args.results_root) if args.results_root else Path(tempfile.mkdtemp(prefix="bench-sequential-"))
    root.mkdir(parents=True, exist_ok=True)
    given = dict(item.split("=", 1) for item in args.reference)
    args.reference_runs = args.reference_runs or (1 if quick else 3)
    deadline = time.time() + args.budget_minutes * 60 if args.budget_minutes else None
    print(f"bench_sequential: {'smoke' if quick else 'full'}; modes {modes}; A/A runs {aa}, slowed runs {slowed_runs} "
          f"per function {functions} per mode; durations {durations}; {args.reference_runs} reference run(s) per mode "
          f"unless given ({given or 'none given'}); run folders in {root}", flush=True)  # fmt: skip
    outcomes: list[RunOutcome] = []
    started = time.monotonic()
    references: dict[str, Path] = {}
    for mode in modes:
        if mode in given:
            references[mode] = Path(given[mode])
        else:
            references[mode] = reference = root / f"reference-{mode}.json"
            # Until decided: reference runs last the whole maximum, so that every part of a later run (by time since
            # its start) has the same part of the reference to compare with (analysis/sequential.py).
            length = ("--min-run-time", durations["until"]) if mode == "until" else ()
            for number in range(args.reference_runs):
                folder = perf(root / mode, 1000 + number, mode, durations, *length)
                add = ("--add",) if number else ()
                subprocess.run([sys.executable, "-m", "analysis", "record", str(folder), "--output", str(reference), *add],
                               cwd=ROOT, check=True, capture_output=True)  # fmt: skip
                print(f"  {mode:5} reference run {number + 1} of {args.reference_runs}: {folder}", flush=True)
    # The modes' runs interleaved too (the machine's load drifts over an hour: both modes meet the same drift).
    def cases_of(mode: str) -> list:
        slowed_here = slowed_runs.get(mode, 0)
        return [("A/A", ())] * aa.get(mode, 0) + [(f, (f"--simulator-arg=--slow={f}=1.3",)) for f in functions for _ in range(slowed_here)]

    planned = interleaved([((mode, case), extra) for mode in modes for case, extra in interleaved(cases_of(mode))])
    made: dict[str, int] = {}
    for index, ((mode, case), extra) in enumerate(planned):
        if deadline is not None and time.time() > deadline:
            print(f"  budget reached, {len(planned) - index} run(s) not made", flush=True)
            break
        seed = args.first_seed + made.get(mode, 0)
        made[mode] = made.get(mode, 0) + 1
        reference = references[mode]
        folder = perf(root / mode, seed, mode, durations, *extra, "--reference", str(reference))
        result = outcome(folder, mode, case, seed)
        outcomes.append(result)
        load = os.getloadavg()[1]  # the machine's 5-minute load average: run-to-run variation on a shared host
        print(f"  {mode:5} {case:27} seed {seed}: exit {result.exit_code}, {result.seconds:5.0f} s "
              f"({result.stop_reason}), load {load:.1f}; alarms: {'; '.join(result.alarms) or 'none'}", flush=True)  # fmt: skip
        if args.log:
            with open(args.log, "a", encoding="utf-8") as log:
                log.write(json.dumps({"mode": mode, "case": case, "seed": seed, "exit": result.exit_code,
                                      "seconds": result.seconds, "stop_reason": result.stop_reason, "load5": load,
                                      "alarms": list(result.alarms), "folder": str(folder),
                                      "reference": str(reference)}) + "\n")  # fmt: skip
    print(f"\nResults ({time.monotonic() - started:.0f} s of runs):")
    report(outcomes, modes, functions)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
