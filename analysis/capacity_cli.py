"""``python -m analysis capacity RESULTS --baseline FILE --output DIR``: the capacity-planning report.

Reads the run's intervals.jsonl (the per-interval histograms), its business_metrics.json and manifest.json, runs the
pure analysis of analysis/capacity.py and writes ``capacity.md`` (plots beside it in ``capacity_plots/``) and a
self-contained ``capacity.html`` (the same content, plots embedded as base64 PNG) into DIR.

Plain Locust output works too: a run made with ``--csv PREFIX --csv-full-history`` (RESULTS: the prefix, its
``_stats_history.csv``, or a folder holding ``locust_stats_history.csv`` and no intervals.jsonl). Locust's running
totals make the plateaus, throughput and error rates exact; its percentile columns are its own approximations
(cumulative since the start, or over about the last 10 s, by version) and are labelled so in the report.

The report is built once as a small document (sections of paragraphs, bullet lists and tables) and rendered twice,
so the Markdown and the HTML can never say different things.

An open-model step run (``--arrival-rate R --arrival-shape step``: the manifest has an ``arrivals`` section) is read
by offered load instead (analysis/capacity_open.py): throughput and latency from the intended start per step of the
plan, and the highest offered rate at which every SLA held.

Exit codes: 0 the report was written; 5 (run not valid) the report was written but the run had no steady plateau,
so it answers nothing; 1 bad input (one line, from InputError).
"""

from __future__ import annotations

import argparse
import io
import math
from dataclasses import dataclass, field, replace
from pathlib import Path


from matplotlib.figure import Figure

from analysis import capacity_open, openmodel
from analysis.argtypes import non_negative_float, positive_int
from analysis.baseline import Baseline, load_baseline
from analysis.capacity import (
    CapacityAnalysis,
    CostProjection,
    Estimate,
    Headroom,
    NotEnoughData,
    PlateauDetection,
    UslFit,
    analyse,
    discoveries_per_user_hour,
    format_share,
    headroom,
    judge_endpoint,
    project_cost,
    sla_capacity,
    user_seconds,
)
from analysis.capacity_plots import (
    draw_errors_vs_users,
    draw_latency_vs_users,
    draw_throughput_vs_users,
    errors_vs_users,
    latency_vs_users,
    throughput_vs_users,
)
from analysis.capacity_components import ComponentLoad, load_in_window, load_samples, saturated_component
from analysis.errors import InputError
from analysis.exit_codes import ExitCode
from analysis.histogram import Histogram
from analysis.intervals import INTERVALS_FILE, IntervalSeries, load_intervals
from analysis.jsonfiles import parse_model
from analysis.pages import render
from analysis.results import (
    LOCUST_HISTORY_CSV_SUFFIX,
    LOCUST_STATS_CSV_SUFFIX,
    RunResult,
    StatsHistory,
    history_file_of,
    history_series,
    load_run,
    load_stats_history,
)

MARKDOWN_FILE = "capacity.md"
HTML_FILE = "capacity.html"
PLOTS_FOLDER = "capacity_plots"

# Default monthly budget: the external-API line of ProspectPro's own cost thresholds (API reference section 7.4:
# monthly budget $270 = Supabase 50 + Vercel 20 + external APIs 200). Cost per discovery is third-party API spend
# (Google Places, Hunter, NeverBounce, ...), which is exactly what the external-API line pays; Supabase and Vercel
# are platform costs that do not scale per discovery.
DEFAULT_MONTHLY_BUDGET_USD = 200.0
# Default active hours a prospector works per month (22 working days x 8 h): an assumption, stated in the report.
DEFAULT_ACTIVE_HOURS_PER_MONTH = 176.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", type=Path, help="a results folder of a step-load run (with intervals.jsonl), or "
                                                   "plain Locust output made with --csv PREFIX --csv-full-history")
    parser.add_argument("--baseline", type=Path, required=True, help="SLA baseline (TOML), e.g. baselines/production.toml")
    parser.add_argument("--output", type=Path, default=None, help="folder for capacity.md/.html (default: RESULTS)")
    parser.add_argument("--expected-users", type=positive_int, default=None,
                        help="expected concurrent users in production: headroom and cost projection")
    parser.add_argument("--monthly-budget", type=non_negative_float, default=DEFAULT_MONTHLY_BUDGET_USD,
                        help=f"monthly third-party API budget in USD (default {DEFAULT_MONTHLY_BUDGET_USD:g}: the "
                             "external-API line of ProspectPro's cost thresholds)")
    parser.add_argument("--monthly-discoveries", type=non_negative_float, default=None,
                        help="projected discoveries per month (default: the run's discoveries per user-hour x "
                             "--expected-users x --active-hours-per-month)")
    parser.add_argument("--active-hours-per-month", type=non_negative_float, default=DEFAULT_ACTIVE_HOURS_PER_MONTH,
                        help=f"hours per month a user is active (default {DEFAULT_ACTIVE_HOURS_PER_MONTH:g} = 22 days x 8 h)")


def run(args: argparse.Namespace) -> ExitCode:
    results = Path(args.results)
    series, run_result, history = load_capacity_input(results)
    baseline = load_baseline(args.baseline)
    if arrivals := (run_result.manifest_raw or {}).get(openmodel.MANIFEST_SECTION):
        return run_offered_load(args, results, run_result, arrivals, baseline)
    analysis = analyse(series, baseline)
    if history is not None:
        analysis = judge_with_locust_percentiles(analysis, history, baseline)
    components = _component_loads(analysis, series, load_samples(results) if results.is_dir() else None)
    expected = headroom(args.expected_users, analysis.capacity, analysis.fit) if args.expected_users else None
    cost = _cost_projection(run_result, series_user_seconds=user_seconds(series), args=args)
    figures = _figures(analysis, baseline)
    document = build_document(analysis, baseline, run_result, expected, cost, list(figures), args, history=history,
                              components=components)

    _write_document(args, results, document, figures)
    return ExitCode.RUN_NOT_VALID if not analysis.detection.plateaus else ExitCode.OK


def _write_document(args: argparse.Namespace, results: Path, document: Document, figures: dict[str, Figure]) -> None:
    output = Path(args.output) if args.output else (results if results.is_dir() else None)
    if output is None:
        raise InputError("--output is needed when RESULTS is not a folder", path=results)
    try:
        output.mkdir(parents=True, exist_ok=True)
        plots = output / PLOTS_FOLDER
        plots.mkdir(exist_ok=True)
        images = {}
        for name, figure in figures.items():
            png = _png(figure)
            (plots / f"{name}.png").write_bytes(png)
            images[name] = png
        (output / MARKDOWN_FILE).write_text(render_markdown(document), encoding="utf-8")
        (output / HTML_FILE).write_text(render_html(document, images), encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot write the report ({error.strerror or error})", path=output, hint="choose a writable --output folder") from None
    print(f"capacity report: {output / MARKDOWN_FILE}, {output / HTML_FILE}")
    print(document.headline)


def run_offered_load(args: argparse.Namespace, results: Path, run_result: RunResult, arrivals: dict,
                     baseline: Baseline) -> ExitCode:  # fmt: skip
    """An open-model run (--arrival-rate ... --arrival-shape step): throughput and latency against the offered rate."""
    summary = parse_model(openmodel.ArrivalSummary, arrivals, path=results, prefix=f"{openmodel.MANIFEST_SECTION}.")
    if summary.plan.get("shape") != "step":
        raise InputError(f"an open-model run's capacity needs a step plan (--arrival-shape step), this one is "
                         f"{summary.plan.get('shape')!r}", path=results, key=openmodel.MANIFEST_SECTION)  # fmt: skip
    series = load_intervals(results, latency="corrected")
    result = capacity_open.offered_load_capacity(capacity_open.offered_levels(series, summary, baseline))
    headline = capacity_open.describe(result)
    problems = openmodel.arrival_problems(arrivals, str(results))
    document = Document(title=f"Capacity by offered load: {results.name}", headline=headline, sections=[
        Section("Summary", [headline, [f"plan: {openmodel.RatePlan(**summary.plan).describe()}, {summary.spacing} "
                                       f"spacing, pool {summary.pool_users} users",
                                       f"arrivals: {summary.due} due, {summary.started} started, {summary.dropped} "
                                       f"dropped, {summary.missed} missed; achieved {summary.achieved_rate:.3g}/s of "
                                       f"target {summary.target_rate:.3g}/s",
                                       *[f"**not valid**: {problem}" for problem in problems]]]),
        Section("Throughput and latency against the offered rate", [
            "Per step of the plan, its whole intervals but the first (the system settling at the new rate). Latency "
            "is measured from each request's intended start (open model), all HTTP requests merged; each entry "
            "is judged against the baseline as the gate judges a run."
            + (" The JOB entry counts discovery jobs, not requests: the jobs that ended in the step (started by its "
               "arrivals, or by the step below for a job longer than the settling interval), judged on their own "
               "and kept out of the throughput and the merged latency." if capacity_open.has_jobs(result) else ""),
            Table(capacity_open.level_header(result), capacity_open.level_rows(result)),
            _failures_note("step", jobs=capacity_open.has_jobs(result)),
            Image("offered_load", "throughput and latency against the offered arrival rate")]),
    ])  # fmt: skip
    figures = {"offered_load": capacity_open.draw(result)} if result.levels else {}
    _write_document(args, results, document, figures)
    return ExitCode.RUN_NOT_VALID if problems or not result.levels else ExitCode.OK


def load_capacity_input(results: Path) -> tuple[IntervalSeries, RunResult, StatsHistory | None]:
    """The interval series to analyse, the run (sidecars, counts) and, for plain Locust input, its history."""
    if results.is_dir() and (results / INTERVALS_FILE).is_file():
        return load_intervals(results), load_run(results), None
    history_file = history_file_of(results)
    if history_file is None:
        raise InputError(
            ("no intervals.jsonl (the harness's interval recorder) and no Locust stats history (PREFIX"
             f"{LOCUST_HISTORY_CSV_SUFFIX})") if results.exists() else "not found", path=results,
            hint="give the results folder of a step-load run (results/latest), or plain Locust output made with "
                 "--csv PREFIX --csv-full-history (its PREFIX)")  # fmt: skip
    history = load_stats_history(history_file)
    series = history_series(history)  # first: a history too short says so, whatever its rows
    if not history.full:
        raise InputError("only Locust's Aggregated row, no row per endpoint", path=history_file,
                         hint="re-run Locust with --csv-full-history as well as --csv")  # fmt: skip
    prefix = history_file.with_name(history_file.name.removesuffix(LOCUST_HISTORY_CSV_SUFFIX))
    has_stats = any(prefix.with_name(prefix.name + suffix).is_file() for suffix in (".json", LOCUST_STATS_CSV_SUFFIX))
    run_result = load_run(results if results.is_dir() else prefix) if has_stats else RunResult(str(history_file), {})
    return series, run_result, history


def judge_with_locust_percentiles(analysis: CapacityAnalysis, history: StatsHistory, baseline: Baseline) -> CapacityAnalysis:
    """Judge each plateau's endpoints on Locust's own percentile columns, as written when its last interval closed
    (history block ``stop_interval``), since plain Locust output has no histograms to merge. The maximum is Locust's
    running maximum since the start: an upper bound of the plateau's (a pass is certain, a breach may be earlier)."""
    plateaus = []
    for plateau in analysis.detection.plateaus:
        endpoints = {
            key: judge_endpoint(key, endpoint.requests, endpoint.failures, Histogram.empty(), baseline.limits_for(key),
                                csv_percentiles=history.percentiles[key][plateau.stop_interval],
                                csv_max_ms=history.max_ms[key][plateau.stop_interval])  # fmt: skip
            for key, endpoint in plateau.endpoints.items()
        }
        plateaus.append(replace(plateau, endpoints=endpoints))
    detection = PlateauDetection(plateaus, analysis.detection.rejected)
    return CapacityAnalysis(detection, sla_capacity(plateaus), analysis.fit, analysis.interval_s)


def _cost_projection(run_result: RunResult, *, series_user_seconds: float, args: argparse.Namespace) -> CostProjection | str:
    """The projection, or the sentence saying why there is none."""
    business = run_result.business
    if business is None:
        return "no business_metrics.json in the results folder: cost per discovery was not measured."
    cost_per_discovery = business.derived.get("cost_per_discovery_usd")
    if cost_per_discovery is None:
        return "cost per discovery was not measured in this run (no accepted discovery): no projection."
    if args.monthly_discoveries is not None:
        return project_cost(cost_per_discovery, args.monthly_budget, args.monthly_discoveries, "given (--monthly-discoveries)")
    rate = discoveries_per_user_hour(business.counts.get("discovery_accepted", 0), series_user_seconds)
    if args.expected_users is None or rate is None:
        return project_cost(cost_per_discovery, args.monthly_budget, None,
                            "not projected: give --expected-users (or --monthly-discoveries)")
    monthly = rate * args.expected_users * args.active_hours_per_month
    source = (f"the run's {rate:.1f} discoveries per user-hour x {args.expected_users} users x "
              f"{args.active_hours_per_month:g} active h/month. The run's pace is the harness's think times (often "
              "compressed for a short test), not production behaviour: give --monthly-discoveries for a real plan")
    return project_cost(cost_per_discovery, args.monthly_budget, monthly, source)


def _figures(analysis: CapacityAnalysis, baseline: Baseline) -> dict[str, Figure]:
    plateaus = analysis.detection.plateaus
    if not plateaus:
        return {}
    return {
        "throughput_vs_users": draw_throughput_vs_users(throughput_vs_users(analysis)),
        "p95_vs_users": draw_latency_vs_users(latency_vs_users(plateaus, baseline)),
        "errors_vs_users": draw_errors_vs_users(errors_vs_users(plateaus, baseline)),
    }


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


# ---- the document -------------------------------------------------------------------------------------------------
@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass
class Image:
    name: str  # a key of the figures; file capacity_plots/<name>.png
    caption: str


Block = str | list[str] | Table | Image  # a paragraph, a bullet list, a table, a plot


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Document:
    title: str
    headline: str
    sections: list[Section]


# Plain Locust input: what its numbers are, said where they are shown.
LOCUST_PERCENTILES_NOTE = (
    "**Percentiles are Locust's own approximations**: the percentile columns of its history file as written when "
    "each plateau ended, cumulative since the run started (Locust 1.1-1.6) or over about its last 10 s (1.0, 2.x), "
    "so they mix in earlier load; the maximum is Locust's running maximum since the start. Locust's CSV has no "
    "histograms to merge per plateau. Plateaus, throughput and error rates are exact (differences of Locust's "
    "running totals).")


def _component_loads(analysis: CapacityAnalysis, series, samples) -> dict[int, list[ComponentLoad]] | None:
    """Users of each plateau -> its components' load (busiest first); None when the run has no samples."""
    if not samples:
        return None
    loads = {}
    for plateau in analysis.detection.plateaus:
        last = plateau.stop_interval - 1
        start = float(series.times[plateau.first_interval])
        end = float(series.times[last] + max(series.durations[last], 0.0))
        loads[plateau.users] = load_in_window(samples, start, end)
    return loads


def _saturated(analysis: CapacityAnalysis, components: dict[int, list[ComponentLoad]] | None) -> ComponentLoad | None:
    """The saturated component at the first breaking load; with no breach, the busiest one at the highest load."""
    capacity = analysis.capacity
    if not components or capacity is None:
        return None
    users = capacity.first_breach_users if capacity.first_breach_users is not None else max(components)
    loads = components.get(users, [])
    return saturated_component(loads) or (loads[0] if loads else None)


def build_document(analysis: CapacityAnalysis, baseline: Baseline, run_result: RunResult, expected: Headroom | None,
                   cost: CostProjection | str, figure_names: list[str], args: argparse.Namespace,
                   history: StatsHistory | None = None,
                   components: dict[int, list[ComponentLoad]] | None = None) -> Document:  # fmt: skip
    """``history``: the Locust stats history the analysis came from (plain Locust input), else None.
    ``components``: each plateau's component load (busiest first), when the run recorded components.jsonl."""
    saturated = _saturated(analysis, components)
    breached = analysis.capacity is not None and analysis.capacity.first_breach_users is not None
    sections = [
        _summary_section(analysis, expected, cost, saturated),
        _run_section(analysis, baseline, run_result, history),
        _plateau_section(analysis),
        _scalability_section(analysis, figure_names),
        _endpoint_section(analysis, figure_names, approximate=history is not None),
        _component_section(components, saturated, breached),
        _headroom_section(expected, analysis),
        _cost_section(cost, args.expected_users, args.active_hours_per_month),
        _method_section(analysis, from_history=history is not None),
    ]
    return Document(f"Capacity report: {run_result.name}", _headline(analysis, saturated), sections)


def _component_section(components: dict[int, list[ComponentLoad]] | None, saturated: ComponentLoad | None,
                       breached: bool = True) -> Section:
    if components is None:
        return Section("Components of the target", [
            "No component accounting in this run (it is recorded only when the launcher drives the embedded "
            "simulator: components.jsonl)."])
    blocks: list[Block] = []
    if saturated is not None:
        where = "at the first breaking load" if breached else "at the highest load (no SLA broke)"
        label = f"{'Saturated' if saturated.saturated else 'Busiest'} component {where}"
        blocks.append(f"**{label}:** {saturated.describe()}.")
    rows = []
    for users, loads in sorted(components.items()):
        for load in loads[:4]:
            rows.append([str(users), f"`{load.name}`", load.kind, f"{load.capacity:g}", str(load.calls),
                         f"{load.utilisation:.0%}", f"{load.queue_wait_ms_per_call:.0f}", str(load.rejections)])
    if rows:
        blocks.append(Table(["users", "component", "kind", "capacity", "calls", "utilisation",
                             "queue wait ms/call", "rejected"], rows))
    blocks.append("Utilisation: busy slot-seconds / (slots x seconds) for a pool, calls / (quota x seconds) for a "
                  "third-party quota; the four busiest components of each plateau.")
    return Section("Components of the target", blocks)


def _headline(analysis: CapacityAnalysis, saturated: ComponentLoad | None = None) -> str:
    capacity = analysis.capacity
    if capacity is None:
        return "no steady plateau: this run cannot answer capacity questions (see 'What to change')"
    if capacity.capacity_users is None:
        text = f"every SLA already breaks at the lowest load tested ({capacity.first_breach_users} users)"
    elif capacity.lower_bound:
        text = f"SLA-bound capacity: at least {capacity.capacity_users} users (no SLA broke at any load tested)"
        if saturated is not None:
            text += f"; busiest component {saturated.name}, {saturated.utilisation:.0%} busy"
    else:
        text = (f"SLA-bound capacity: {capacity.capacity_users} users; first breach at {capacity.first_breach_users} "
                f"users, bottleneck {capacity.bottleneck}")
        if saturated is not None:
            label = "saturated component" if saturated.saturated else "busiest component"
            text += f" ({label}: {saturated.name}, {saturated.utilisation:.0%} busy)"
    if isinstance(analysis.fit, UslFit):
        text += f"; USL peak {analysis.fit.peak_throughput_rps.value:.1f} req/s"
    return text


def _estimate(estimate: Estimate | None, unit: str = "", digits: int = 3) -> str:
    if estimate is None:
        return "none (throughput levels off without a peak)"
    high = "unbounded" if math.isinf(estimate.high) else f"{estimate.high:.{digits}g}"
    return f"{estimate.value:.{digits}g}{unit} ({estimate.low:.{digits}g} to {high})"


def _summary_section(analysis: CapacityAnalysis, expected: Headroom | None, cost: CostProjection | str,
                     saturated: ComponentLoad | None = None) -> Section:
    bullets = [_headline(analysis, saturated)]
    if isinstance(analysis.fit, UslFit):
        fit = analysis.fit
        bullets.append(f"Peak throughput (USL): {_estimate(fit.peak_throughput_rps, ' req/s')} at "
                       f"{_estimate(fit.peak_users, ' users')} concurrent users; knee at {fit.knee_users:.1f} users "
                       f"({fit.confidence:.0%} intervals)")
    else:
        bullets.append(f"Scalability fit: not enough data ({analysis.fit.reason})")
    if expected is not None:
        bullets.append(_headroom_sentence(expected))
    if isinstance(cost, CostProjection) and cost.monthly_cost_usd is not None and cost.monthly_discoveries is not None:
        bullets.append(_cost_sentence(cost, cost.monthly_cost_usd, cost.monthly_discoveries))
    return Section("Summary", [bullets])


def _run_section(analysis: CapacityAnalysis, baseline: Baseline, run_result: RunResult, history: StatsHistory | None) -> Section:
    manifest = run_result.manifest
    facts = [f"results: `{run_result.source}`", f"baseline: {baseline.name}", f"interval length: {analysis.interval_s:g} s"]
    if history is not None:
        facts.append(f"input: Locust's `--csv-full-history` file `{history.source}` ({len(history.timestamps)} writes; "
                     "no intervals.jsonl): the interval is the mean time between its writes")
    facts += [f"WARNING: {warning}" for warning in run_result.warnings]
    if manifest is not None and manifest.target:
        target = manifest.target
        simulator = target.get("simulator") or {}
        described = f"target: {target.get('kind', '?')} {target.get('url', '')}".rstrip()
        if simulator:
            described += (f" (simulator profile {simulator.get('profile', '?')}, time scale {simulator.get('time_scale', '?')}:"
                          " latencies are the simulator's, scaled)")
        facts.append(described)
    if manifest is not None and manifest.load.workers_lost:
        facts.append(f"WARNING: {manifest.load.workers_lost} worker(s) lost during the run: plateaus after that are low")
    if manifest is not None and manifest.generator.cpu_warning:
        facts.append("WARNING: the load generator ran out of CPU: latencies include the generator's own delay")
    return Section("The run", [facts])


def _plateau_section(analysis: CapacityAnalysis) -> Section:
    detection = analysis.detection
    blocks: list[Block] = []
    if detection.plateaus:
        rows = []
        # The generator's gauges (e.g. realtime_connections: open websockets), mean over each plateau.
        gauges = sorted({name for plateau in detection.plateaus for name in plateau.gauges})
        # HTTP errors count requests only; a discovery job that fails is answered 200 all along, so where jobs were
        # followed their failed share stands beside them (the JOB entry's SLA is what breaks on it).
        jobs = any(plateau.jobs for plateau in detection.plateaus)
        for plateau in sorted(detection.plateaus, key=lambda p: p.users):
            rows.append([
                str(plateau.users), f"{plateau.duration_s:.0f}", str(plateau.stop_interval - plateau.first_interval),
                str(plateau.transient_intervals), f"{plateau.throughput_rps:.1f}", f"{plateau.goodput_rps:.1f}",
                *(f"{plateau.gauges[name]:.1f}" if name in plateau.gauges else "-" for name in gauges),
                format_share(plateau.failures, plateau.requests),
                *([format_share(plateau.failed_jobs, plateau.jobs)] if jobs else []),
                "holds" if plateau.sla_holds else "BREACHED",
                "; ".join(f"{e.key}: {', '.join(e.breaches)}" for e in plateau.breached) or "-",
            ])
        blocks.append(Table(["users", "steady s", "intervals", "transients left out", "throughput req/s",
                             "goodput req/s", *(f"{name} (mean)" for name in gauges), "HTTP errors",
                             *(["failed jobs"] if jobs else []), "SLAs", "breaches"], rows))  # fmt: skip
        blocks.append(_failures_note("plateau", jobs=jobs))
    else:
        blocks.append("No steady plateau was found.")
    if detection.rejected:
        blocks.append("Load levels without a usable plateau:")
        blocks.append([f"{r.users} users ({r.intervals} interval(s)): {r.reason}" for r in detection.rejected])
    return Section("Plateaus", blocks)


def _failures_note(window: str, *, jobs: bool) -> str:
    """What the "HTTP errors" and "failed jobs" columns count, for a plateau (closed model) or a step (open model)."""
    return (f"HTTP errors: failed HTTP requests of the {window} (a discovery job that fails is not one: its submit "
            "and reads are answered normally)." + (" Failed jobs: discovery jobs that failed or timed out, of those "
                                                   f"that ended in the {window} (the JOB entry, judged by the "
                                                   "discovery success-rate SLA)." if jobs else ""))  # fmt: skip


def _scalability_section(analysis: CapacityAnalysis, figure_names: list[str]) -> Section:
    fit = analysis.fit
    blocks: list[Block] = []
    if isinstance(fit, NotEnoughData):
        blocks += ["**Not enough data for a scalability curve.** No curve is drawn rather than one the data cannot carry.",
                   [f"why: {fit.reason}", f"what to change: {fit.advice}"]]
    else:
        blocks.append(f"Universal Scalability Law X(N) = λN / (1 + σ(N−1) + κN(N−1)), fitted to the goodput of "
                      f"{fit.points} plateaus (up to {fit.max_tested_users} users), R² = {fit.r_squared:.3f}. "
                      f"Intervals: {fit.confidence:.0%}.")
        blocks.append(Table(["parameter", "value", "interval", "meaning"], [
            ["λ", f"{fit.lam.value:.4g}", _interval(fit.lam), "req/s one user drives alone"],
            ["σ", f"{fit.sigma.value:.4g}", _interval(fit.sigma), "contention (serialised share)"],
            ["κ", f"{fit.kappa.value:.4g}", _interval(fit.kappa), "coherency (crosstalk) cost"],
            ["N*", f"{fit.peak_users.value:.3g}" if fit.peak_users else "none", _interval(fit.peak_users),
             "concurrency at peak throughput"],
            ["X*", f"{fit.peak_throughput_rps.value:.4g}", _interval(fit.peak_throughput_rps), "peak throughput, req/s"],
            ["knee", f"{fit.knee_users:.3g}", "-", "X*/λ: where linear scaling would reach the peak"],
        ]))
        if fit.notes:
            blocks.append([f"note: {note}" for note in fit.notes])
    if "throughput_vs_users" in figure_names:
        blocks.append(Image("throughput_vs_users", "Throughput against users: plateaus, USL fit and its band"))
    return Section("Scalability", blocks)


def _interval(estimate: Estimate | None) -> str:
    if estimate is None:
        return "-"
    high = "unbounded" if math.isinf(estimate.high) else f"{estimate.high:.4g}"
    return f"{estimate.low:.4g} to {high}"


def _endpoint_section(analysis: CapacityAnalysis, figure_names: list[str], *, approximate: bool = False) -> Section:
    rows = []
    jobs = any(plateau.jobs for plateau in analysis.detection.plateaus)
    for plateau in sorted(analysis.detection.plateaus, key=lambda p: p.users):
        for key, endpoint in sorted(plateau.endpoints.items()):
            rows.append([str(plateau.users), f"`{key}`", str(endpoint.requests),
                         *(_ms(endpoint.percentiles_ms.get(q)) for q in (0.50, 0.95, 0.99)),
                         _percent(endpoint.error_rate), endpoint.verdict.value if endpoint.verdict else "no limits",
                         ", ".join(endpoint.breaches) or "-"])
    blocks: list[Block] = []
    capacity = analysis.capacity
    if capacity is not None and capacity.bottleneck:
        also = f" (also breaking there: {', '.join(capacity.also_breached)})" if capacity.also_breached else ""
        blocks.append(f"**Bottleneck:** `{capacity.bottleneck}` breaks first, at {capacity.first_breach_users} users: "
                      f"{', '.join(capacity.bottleneck_breaches)}{also}.")
    if approximate:
        blocks.append(LOCUST_PERCENTILES_NOTE)
    if rows:
        ms = " ms (Locust, approx.)" if approximate else " ms"
        blocks.append(Table(["users", "endpoint", "requests", f"p50{ms}", f"p95{ms}", f"p99{ms}", "failed", "verdict",
                             "breaches"], rows))  # fmt: skip
        if jobs:
            blocks.append("A JOB entry counts jobs (submit->completed), not HTTP requests: its requests are the jobs "
                          "followed to their end, its failed share the jobs that failed or timed out.")
    p95_caption = "p95 (Locust's approximation) against users, SLA lines dashed" if approximate else "p95 against users, SLA lines dashed"
    for name, caption in (("p95_vs_users", p95_caption), ("errors_vs_users", "Failed HTTP requests" + (" and failed jobs" if jobs else "") + " against users")):
        if name in figure_names:
            blocks.append(Image(name, caption))
    return Section("Endpoints at each plateau", blocks)


def _headroom_sentence(expected: Headroom) -> str:
    fraction = expected.headroom_fraction
    if expected.capacity_users is None or fraction is None:
        return f"Headroom for {expected.expected_users} expected users: none known (no load tested met every SLA)"
    at_least = "at least " if expected.lower_bound else ""
    verdict = f"{at_least}{fraction:+.0%} headroom" if fraction >= 0 else f"short by {-fraction:.0%} of the expected load"
    return (f"Headroom: SLA-bound capacity {at_least}{expected.capacity_users} users against {expected.expected_users} "
            f"expected: {verdict}")


def _headroom_section(expected: Headroom | None, analysis: CapacityAnalysis) -> Section:
    if expected is None:
        return Section("Headroom", ["No expected production load given: pass --expected-users N to compare."])
    blocks: list[Block] = [_headroom_sentence(expected) + "."]
    if expected.predicted_throughput_rps is not None:
        blocks.append(f"The USL curve puts the throughput at {expected.expected_users} users at "
                      f"{expected.predicted_throughput_rps:.1f} req/s.")
    return Section("Headroom", blocks)


def _cost_sentence(cost: CostProjection, monthly_cost: float, monthly_discoveries: float) -> str:
    spent = (f"Monthly third-party cost: ${monthly_cost:,.2f} for {monthly_discoveries:,.0f} discoveries "
             f"at ${cost.cost_per_discovery_usd:.4f} each")
    share = cost.budget_share
    if share is None:  # a $0 budget (--monthly-budget 0): no share to give, and any spend is over it
        return f"{spent}: against a $0 budget ({'OVER' if monthly_cost > 0 else 'within'})"
    state = "within" if share <= 1 else "OVER"
    return f"{spent}: {share:.0%} of the ${cost.monthly_budget_usd:,.0f} budget ({state})"


def _cost_section(cost: CostProjection | str, expected_users: int | None, active_hours_per_month: float) -> Section:
    if isinstance(cost, str):
        return Section("Cost projection", [cost])
    facts = [f"cost per discovery (measured): ${cost.cost_per_discovery_usd:.4f}",
             f"monthly budget: ${cost.monthly_budget_usd:,.2f} (default: ProspectPro's external-API budget line, API "
             "reference section 7.4)",
             f"the budget pays for {cost.discoveries_budget_allows:,.0f} discoveries a month at this cost"]
    if expected_users and active_hours_per_month > 0:
        # The planning number that needs no traffic assumption: what each expected user may run within budget.
        per_user_hour = cost.discoveries_budget_allows / (expected_users * active_hours_per_month)
        facts.append(f"that is {per_user_hour:,.2f} discoveries per user per active hour for {expected_users} users "
                     f"x {active_hours_per_month:g} h/month")
    facts.append(f"monthly discoveries: {cost.source_of_volume}")
    if cost.monthly_cost_usd is not None and cost.monthly_discoveries is not None:
        facts.append(_cost_sentence(cost, cost.monthly_cost_usd, cost.monthly_discoveries))
    return Section("Cost projection", [facts])


def _method_section(analysis: CapacityAnalysis, *, from_history: bool = False) -> Section:
    percentiles = ("Per-endpoint percentiles are Locust's own history columns at each plateau's end (approximations; "
                   "without histograms, steadiness is judged on throughput alone)." if from_history else
                   "Per-endpoint percentiles come from the plateau's interval histograms merged by adding counts.")  # fmt: skip
    return Section("How these numbers were made", [[
        "A plateau is a run of intervals at one user count; intervals at its edges that differ from its settled later "
        "half (throughput or median latency) are ramp transients and left out; the rest must all be steady.",
        percentiles,
        "SLA verdicts use the gate's own checks (analysis/decide.py) against the baseline; min_rps is not applied to "
        "plateaus. The SLA-bound capacity is the highest load below the first load that breaks any SLA.",
        "The USL is fitted to goodput (successful requests/s, HTTP only) with bounded least squares; intervals of the "
        "parameters come from the covariance (Student t), those of the peak and the band from parameter draws.",
        f"Intervals are {analysis.interval_s:g} s long; steps should span several of them.",
    ]])


def _ms(value: int | None) -> str:
    return "-" if value is None else str(value)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


# ---- rendering (analysis/pages.py: templates/capacity.md.j2, capacity.html.j2) --------------------------------------
def _kind(block: Block) -> str:
    return "list" if isinstance(block, list) else ("table" if isinstance(block, Table) else "image")


def render_markdown(document: Document) -> str:
    text = render("capacity.md.j2", document=document, plots_folder=PLOTS_FOLDER, kind=_kind)
    return text.rstrip("\n") + "\n"


def render_html(document: Document, images: dict[str, bytes]) -> str:
    """Self-contained: the plots embedded as base64 PNG, the one stylesheet inlined."""
    return render("capacity.html.j2", document=document, images=images, kind=_kind)
