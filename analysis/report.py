"""The run report: what changed first, then business metrics, per-endpoint detail and plots, then provenance.

``build_report`` gathers everything a report shows (the Decision from analysis.decide, never re-decided here, and
the figures from analysis.plots); ``render_html`` and ``render_markdown`` lay it out. Nothing here reads or writes
files: report_cli.py does, and it hands the renderers the images (PNG bytes for the self-contained HTML, relative
paths for the Markdown).

Order, by design: a reader deciding "is this deploy OK?" must see the answer and every breach and regression on
the first screen, and "this run is partial" before anything else.
Every string that came from input (endpoint names, manifest values, reasons) is HTML-escaped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from analysis import openmodel_report, plots, sequential
from analysis.baseline import Baseline
from analysis.decide import BUSINESS_SUBJECT, RUN_SUBJECT, Check, Decision, counts_run_wide, decide
from analysis.histogram import Histogram
from analysis.intervals import IntervalSeries
from analysis.pages import render
from analysis.render import describe_check, format_value
from analysis.render import render_markdown as render_verdict_markdown
from analysis.results import RunResult
from analysis.verdicts import Verdict

# Worst first: an endpoint's row shows its worst verdict, and endpoints with the worst verdicts come first.
VERDICT_SEVERITY: tuple[Verdict, ...] = (
    Verdict.BREACH, Verdict.MISSING, Verdict.REGRESSED, Verdict.INCONCLUSIVE, Verdict.WARNING, Verdict.NOT_COMPARABLE,
    Verdict.IMPROVED, Verdict.UNCHANGED, Verdict.PASS,
)  # fmt: skip
TABLE_PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))
OVERVIEW_TITLES = {
    "throughput": "Throughput and failures over time",
    "latency_cdf": "Latency distribution, all endpoints",
    "regression": "Change against the reference run",
    "trend": "Trend across recorded runs",
}
TOP_FAILURE_MESSAGES = 10  # the failures table lists the most frequent messages, then says how many more there are


@dataclass(frozen=True)
class EndpointSection:
    key: str
    slug: str  # file-name-safe, unique: plots/<slug>-latency.png
    worst: Verdict | None
    checks: tuple[Check, ...]
    figures: dict[str, Figure]  # "detail": latency over time beside the distribution (absent: nothing to draw)


@dataclass(frozen=True)
class RunReport:
    run: RunResult
    decision: Decision
    reference: RunResult | None
    series: IntervalSeries | None
    overview_figures: dict[str, Figure]
    endpoints: tuple[EndpointSection, ...]
    warnings: tuple[str, ...] = field(default=())
    # Overview figures that are not drawn, each with the sentence saying why (never an empty figure instead).
    missing_figures: dict[str, str] = field(default_factory=dict)

    def figures(self) -> dict[str, Figure]:
        """Every figure by its file stem, overview first."""
        named = dict(self.overview_figures)
        for section in self.endpoints:
            named.update({f"{section.slug}-{kind}": figure for kind, figure in section.figures.items()})
        return named


def build_report(run: RunResult, baseline: Baseline, reference: RunResult | None = None,
                 series: IntervalSeries | None = None, history: Sequence[tuple[str, RunResult]] = ()) -> RunReport:  # fmt: skip
    """Decide (through analysis.decide) and draw everything the report shows."""
    decision = sequential.apply_recorded(decide(run, baseline, reference), run.source)  # an until-decided run's verdicts
    warnings = list(run.warnings) + (list(series.warnings) if series is not None else [])
    if series is None:
        warnings.append("no intervals.jsonl: latency and throughput over time are not available for this run")
    overview: dict[str, Figure] = {}
    missing: dict[str, str] = {}
    if series is not None and len(series):
        overview["throughput"] = plots.draw_throughput_over_time(plots.throughput_over_time(series))
    else:
        missing["throughput"] = ("Not drawn: no intervals in the input (intervals.jsonl, from the harness's interval "
                                 "recorder), so latency and throughput over time are not available for this run.")
    cdf = plots.latency_cdf("All endpoints", _all_endpoints(run, reference))
    if cdf.curves:
        overview["latency_cdf"] = plots.draw_latency_cdf(cdf)
    else:
        missing["latency_cdf"] = _why_no_distribution(run)
    if reference is not None:
        overview["regression"] = plots.draw_regression_chart(plots.regression_bars(decision), baseline.regression.min_relative_change)
    if history:
        overview["trend"] = plots.draw_trend(plots.trend([*history, ("this run", run)]))
    sections = []
    slugs = _unique_slugs(_endpoint_order(run, decision))
    for key, slug in slugs.items():
        checks = tuple(check for check in decision.checks if check.subject == key)
        latency = None
        if series is not None and key in series.endpoints and series.endpoints[key].offsets[-1] > 0:  # any timed request
            latency = plots.latency_over_time(series, key, baseline.limits_for(key))
        histograms = {"this run": run.endpoints[key].histogram if key in run.endpoints else None}
        if reference is not None:
            histograms["reference"] = reference.endpoints[key].histogram if key in reference.endpoints else None
        cdf = plots.latency_cdf("distribution", histograms)
        figures: dict[str, Figure] = {}
        if latency is not None or cdf.curves:
            figures["detail"] = plots.draw_endpoint_detail(latency, cdf if cdf.curves else None)
        sections.append(EndpointSection(key, slug, _worst(checks), checks, figures))
    return RunReport(run, decision, reference, series, overview, tuple(sections), tuple(warnings), missing)


def _why_no_distribution(run: RunResult) -> str:
    if run.percentile_source == "csv":
        return ("Not drawn: Locust's CSV has percentile columns but no histograms, so there is no distribution to draw "
                "(the endpoint table shows those percentiles). Give Locust's --json-file output for the full distribution.")
    return "Not drawn: the run recorded no response times."


def _all_endpoints(run: RunResult, reference: RunResult | None) -> dict[str, Histogram]:
    merged = {"this run": Histogram.merge_all(e.histogram for e in run.endpoints.values() if e.histogram is not None)}
    if reference is not None:
        merged["reference"] = Histogram.merge_all(e.histogram for e in reference.endpoints.values() if e.histogram is not None)
    return merged


def _worst(checks: Sequence[Check]) -> Verdict | None:
    verdicts = {check.verdict for check in checks}
    return next((verdict for verdict in VERDICT_SEVERITY if verdict in verdicts), None)


def _endpoint_order(run: RunResult, decision: Decision) -> list[str]:
    """Endpoints the run sent or the baseline required, worst verdict first, then by name."""
    keys = set(run.endpoints) | {c.subject for c in decision.checks if c.verdict is Verdict.MISSING}
    rank = {verdict: index for index, verdict in enumerate(VERDICT_SEVERITY)}

    def severity(key: str) -> int:
        worst = _worst([c for c in decision.checks if c.subject == key])
        return rank[worst] if worst is not None else len(rank)

    return sorted(keys, key=lambda key: (severity(key), key))


def _unique_slugs(keys: Sequence[str]) -> dict[str, str]:
    slugs: dict[str, str] = {}
    taken: set[str] = set()
    for key in keys:
        base = re.sub(r"[^a-z0-9]+", "-", key.lower()).strip("-")[:80] or "endpoint"
        slug, number = base, 2
        while slug in taken:
            slug, number = f"{base}-{number}", number + 1
        taken.add(slug)
        slugs[key] = slug
    return slugs


# ---- shared facts, rendered by both formats ------------------------------------------------------------------------
def partial_notice(run: RunResult) -> str | None:
    manifest = run.manifest
    if manifest is None or not manifest.partial:
        return None
    detail = (manifest.model_extra or {}).get("stop_detail")
    reason = manifest.stop_reason or "unknown"
    return f"PARTIAL RUN: stopped early (stop_reason: {reason}{f', {detail}' if detail else ''}). The numbers describe only the part that ran."


def endpoint_rows(report: RunReport) -> list[dict[str, str]]:
    rows = []
    for section in report.endpoints:
        endpoint = report.run.endpoints.get(section.key)
        row = {"endpoint": section.key, "verdict": section.worst.value if section.worst else "-"}
        if endpoint is None:
            row.update(requests="0", failures="0", fail="-", p50="-", p95="-", p99="-", max="-", rps="-")
        else:
            row.update(
                requests=str(endpoint.requests),
                failures=str(endpoint.failures),
                fail=format_value("fail_ratio", endpoint.fail_ratio),
                max=format_value("max_ms", endpoint.max_ms),
                rps=format_value("min_rps", endpoint.rps),
                **{name: format_value(f"{name}_ms", endpoint.percentile(q)) for name, q in TABLE_PERCENTILES},
            )
        rows.append(row)
    return rows


def business_rows(run: RunResult) -> list[tuple[str, str]]:
    business = run.business
    if business is None:
        return []
    rows = [(name, "not measured" if value is None else format_value(name, value)) for name, value in business.derived.items()]
    rows += [(f"{name} (USD)", format_value(f"{name}_usd", value)) for name, value in business.costs_usd.items()]
    rows += [(name, str(value)) for name, value in business.counts.items()]
    guard = business.spend_guard
    if guard:
        ceiling = guard.get("ceiling_usd")
        rows.append(("spend guard", f"ceiling {format_value('usd', ceiling) if ceiling is not None else 'none'}, "
                                    f"{'TRIPPED' if guard.get('tripped') else 'not tripped'}"))  # fmt: skip
    return rows


def gauge_rows(series: IntervalSeries | None) -> list[tuple[str, str]]:
    """The generator's gauges in intervals.jsonl (e.g. realtime_connections: open websockets): peak and mean of the
    readings taken as each interval closed."""
    if series is None:
        return []
    rows = []
    for name, values in series.gauges.items():
        readings = values[~np.isnan(values)]
        if len(readings):
            rows.append((name, f"peak {readings.max():g}, mean {readings.mean():.1f} (at each interval's close)"))
    return rows


def manifest_rows(run: RunResult) -> list[tuple[str, str]]:
    """The provenance a reader needs to trust or reproduce the run, flattened to label/value pairs."""
    manifest = run.manifest
    if manifest is None:
        return [("manifest", "none: the input had no manifest.json")]
    target = manifest.target or {}
    simulator = target.get("simulator") or {}
    versions = manifest.versions
    rows = [
        ("run id", manifest.run_id),
        ("started / ended", f"{manifest.started_at} / {manifest.ended_at}"),
        ("stop reason", manifest.stop_reason),
        ("partial", manifest.partial),
        ("target", f"{target.get('url')} ({target.get('kind')})"),
        ("simulator", ", ".join(f"{k} {v}" for k, v in simulator.items()) if simulator else "-"),
        ("seed", simulator.get("seed", "-")),
        ("harness commit", f"{versions.get('harness_commit')}{' (uncommitted changes)' if versions.get('dirty') else ''}"),
        ("versions", ", ".join(f"{k} {v}" for k, v in versions.items() if k not in ("harness_commit", "dirty"))),
        ("scenario hash", manifest.scenario_hash),
        ("generator CPU", f"peak {manifest.generator.cpu_percent_max} %{', OVERLOADED' if manifest.generator.cpu_warning else ''}"),
        ("load", f"intended {manifest.load.intended_users} users, reached {manifest.load.reached_users}, workers lost {manifest.load.workers_lost}"),
    ]
    rows += [(f"option {name}", _plain(value)) for name, value in manifest.options.items()]
    return [(label, _plain(value)) for label, value in rows]


def _plain(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value) or "-"
    return str(value)


def _title(report: RunReport) -> str:
    return f"Load test report: {report.run.name} (baseline {report.decision.baseline_name})"


def overall_error_line(run: RunResult) -> str:
    """Over every request of the run, as the run-wide check counts them (not JOB timings nor WS messages)."""
    http = [e for e in run.endpoints.values() if counts_run_wide(e.method)]
    requests, failures = sum(e.requests for e in http), sum(e.failures for e in http)
    if not requests:
        return "Overall error rate: no requests in the input."
    return f"Overall error rate: {format_value('fail_ratio', failures / requests)} ({failures} failed of {requests} requests, all endpoints)."


def failure_rows(run: RunResult) -> tuple[list[tuple[str, str, str]], str | None]:
    """(occurrences, endpoint, message) of the most frequent failures, and a sentence about what is left out or
    not known. Messages come from Locust's _failures.csv; without it, the per-endpoint counts are all there is."""
    if run.failure_messages is None:
        failing = sorted((e for e in run.endpoints.values() if e.failures), key=lambda e: (-e.failures, e.key))
        rows = [(str(e.failures), e.key, "-") for e in failing[:TOP_FAILURE_MESSAGES]]
        note = ("Failure messages are not in the input (no Locust _failures.csv beside it): counts per endpoint only."
                if failing else None)
        return rows, note
    messages = run.failure_messages
    rows = [(str(m.occurrences), m.key, m.error) for m in messages[:TOP_FAILURE_MESSAGES]]
    note = None
    if len(messages) > TOP_FAILURE_MESSAGES:
        rest = messages[TOP_FAILURE_MESSAGES:]
        note = f"{len(rest)} more message(s) with {sum(m.occurrences for m in rest)} occurrence(s) in all are not listed."
    return rows, note


def _headline(decision: Decision) -> str:
    counts = ", ".join(f"{verdict} {count}" for verdict, count in decision.counts.items() if count)
    return f"{decision.outcome.upper()} (exit {int(decision.exit_code)}): baseline {decision.baseline_name!r}; {counts or 'no checks'}"


# ---- HTML and Markdown (analysis/pages.py: templates/report.html.j2, report.md.j2) --------------------------------
def _verdict_class(decision: Decision) -> str:
    code = int(decision.exit_code)
    return "v-pass" if code == 0 else ("v-fail" if code in (3, 4) else "v-other")


def _page_context(report: RunReport) -> dict[str, Any]:
    """What both pages of the run report show (templates/report.html.j2 and report.md.j2)."""
    decision = report.decision
    facts = [f"Run: {decision.source}"]
    if decision.reference_source:
        facts.append(f"Reference: {decision.reference_source}")
    if decision.guard_stop_reason:
        facts.append(f"Stopped by a guard: {decision.guard_stop_reason}")
    facts += [f"NOT VALID: {problem}" for problem in decision.validity_problems]
    facts += [f"Note: {note}" for note in decision.notes]
    facts += [f"Warning: {warning}" for warning in report.warnings]
    failures, failures_note = failure_rows(report.run)
    columns = ("endpoint", "verdict", "requests", "failures", "fail", "p50", "p95", "p99", "max", "rps")
    open_model = None
    if openmodel_report.is_open_model(report.run):
        open_model = {"title": openmodel_report.TITLE, "intro": openmodel_report.INTRO,
                      "arrival_rows": openmodel_report.arrival_rows(report.run),
                      "columns": openmodel_report.SIDE_BY_SIDE_COLUMNS,
                      "rows": openmodel_report.side_by_side_rows(report.run)}  # fmt: skip
    return dict(
        report=report, decision=decision, describe=describe_check, title=_title(report),
        notice=partial_notice(report.run), verdict_class=_verdict_class(decision), headline=_headline(decision),
        facts=facts,
        not_comparable=[c for c in decision.checks if c.subject == RUN_SUBJECT and c.verdict is Verdict.NOT_COMPARABLE],
        business=business_rows(report.run), gauges=gauge_rows(report.series),
        business_checks=[c for c in decision.checks if c.subject == BUSINESS_SUBJECT],
        error_line=overall_error_line(report.run), failures=failures, failures_note=failures_note,
        endpoint_columns=columns, endpoint_rows=[[row[c] for c in columns] for row in endpoint_rows(report)],
        open_model=open_model, overview_titles=OVERVIEW_TITLES, manifest=manifest_rows(report.run),
    )


def render_html(report: RunReport, images: Mapping[str, bytes]) -> str:
    """Self-contained HTML: ``images`` maps each figure's file stem to its PNG bytes, embedded as data URIs."""
    return render("report.html.j2", images=images, **_page_context(report)) + "\n"


def render_markdown(report: RunReport, image_paths: Mapping[str, str]) -> str:
    """``image_paths`` maps each figure's file stem to a path relative to the Markdown file."""
    # The verdict section is the analysis renderer's own Markdown (one rendering of a Decision, not two).
    verdict = render_verdict_markdown(report.decision).rstrip()
    page = render("report.md.j2", image_paths=image_paths, verdict_markdown=verdict, **_page_context(report))
    return page.rstrip("\n") + "\n"
