"""Renderers: a Decision as text, Markdown, JSON and JUnit XML. Rendering only; deciding is analysis.decide.

All four are deterministic for a given Decision (no clock, no environment), so golden files can hold them.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from pathlib import Path
from typing import Any

from analysis.decide import Check, Decision
from analysis.errors import InputError
from analysis.markdown import code_span
from analysis.pages import render
from analysis.verdicts import Verdict

VERDICT_JSON_SCHEMA_VERSION = 1
FORMATS = ("text", "markdown", "json", "junit")
VERDICT_FILES = {"json": "verdict.json", "text": "verdict.txt", "markdown": "verdict.md", "junit": "verdict.junit.xml"}

_FAILING = (Verdict.BREACH, Verdict.MISSING, Verdict.REGRESSED)
_NOT_JUDGED = (Verdict.INCONCLUSIVE, Verdict.NOT_COMPARABLE)


# ---- values in their units ---------------------------------------------------------------------------------------
def format_value(metric: str, value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "-"
    sign = "+" if signed and value > 0 else ""
    if metric.endswith("_ms") or metric.endswith(" change"):
        return f"{sign}{value:.0f} ms" if float(value).is_integer() else f"{sign}{value:.1f} ms"
    if metric == "fail_ratio" or metric.endswith("_rate"):
        return f"{sign}{value * 100:.2f} %"
    if metric == "min_rps":
        return f"{sign}{value:.2f}/s"
    if "usd" in metric:
        return f"{sign}${value:.4f}" if value >= 0 else f"-${-value:.4f}"
    return f"{sign}{value:g}"


def _change_text(check: Check) -> str:
    if check.change is None:
        return ""
    text = f"{check.change * 100:+.1f} %"
    if check.interval is not None:
        low, high = check.interval
        text += f" [{low * 100:+.1f} %, {high * 100:+.1f} %]"
    return text


def describe_check(check: Check) -> str:
    """One line for a check, e.g. 'GET /x p95_ms: 620 ms, limit 500 ms, margin +120 ms'."""
    head = f"{check.subject} {check.metric}"
    if check.reference is not None and check.change is not None:
        body = f"{format_value(check.metric, check.reference)} -> {format_value(check.metric, check.actual)}, {_change_text(check)}"
    elif check.limit is not None and check.actual is not None:
        body = f"{format_value(check.metric, check.actual)}, limit {format_value(check.metric, check.limit)}, margin {format_value(check.metric, check.margin, signed=True)}"
        if check.verdict is Verdict.WARNING and check.warning_limit is not None:
            body += f", warning level {format_value(check.metric, check.warning_limit)}"
    elif check.warning_limit is not None and check.actual is not None:
        body = f"{format_value(check.metric, check.actual)}, warning level {format_value(check.metric, check.warning_limit)}"
    else:
        body = ""
    tail = f" ({check.reason})" if check.reason else ""
    return f"{head}: {check.verdict.value}" + (f": {body}" if body else "") + tail


def listed_checks(decision: Decision) -> list[tuple[str, tuple[Check, ...]]]:
    """The lists every rendering shows under the table, in this order, empty ones left out: what failed, then what
    the data could not decide (with how many more samples would settle it), then warnings (exit code unchanged)."""
    lists = [
        ("Failing checks", decision.breaches + decision.regressions),
        ("Inconclusive checks", decision.inconclusive),
        ("Warnings", decision.warnings),
    ]
    return [(title, checks) for title, checks in lists if checks]


def _headline(decision: Decision) -> str:
    return f"{decision.outcome.upper()} (exit {int(decision.exit_code)}): baseline {decision.baseline_name!r}, {len(decision.checks)} checks"


def _counts_line(decision: Decision) -> str:
    return ", ".join(f"{verdict} {count}" for verdict, count in decision.counts.items() if count)


# ---- text --------------------------------------------------------------------------------------------------------
def render_text(decision: Decision) -> str:
    lines = [f"Verdict: {_headline(decision)}", f"Run: {decision.source}"]
    if decision.reference_source:
        lines.append(f"Reference: {decision.reference_source}")
    if decision.guard_stop_reason:
        lines.append(f"Stopped by a guard: {decision.guard_stop_reason}")
    for problem in decision.run_problems:
        lines.append(f"NOT VALID: {problem}")
    if decision.undersampled_endpoints:
        lines.append("Too few samples for a verdict on required endpoint(s): " + ", ".join(decision.undersampled_endpoints))
    for note in decision.notes:
        lines.append(f"Note: {note}")
    rows = [("ENDPOINT", "METRIC", "ACTUAL", "LIMIT/REF", "MARGIN/CHANGE", "VERDICT")]
    previous_subject = None
    for check in decision.checks:
        compared = check.reference is not None and check.change is not None
        rows.append((
            check.subject if check.subject != previous_subject else "",
            check.metric,
            format_value(check.metric, check.actual),
            format_value(check.metric, check.reference if compared else check.limit),
            _change_text(check) if compared else format_value(check.metric, check.margin, signed=True),
            check.verdict.value.upper() if check.verdict in _FAILING else check.verdict.value,
        ))  # fmt: skip
        previous_subject = check.subject
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines.append("")
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.append("")
    lines.append(f"Counts: {_counts_line(decision)}")
    for title, checks in listed_checks(decision):
        lines.append(f"{title} ({len(checks)}):")
        lines += [f"  - {describe_check(check)}" for check in checks]
    return "\n".join(lines) + "\n"


# ---- markdown ----------------------------------------------------------------------------------------------------
def render_markdown(decision: Decision) -> str:
    """The verdict in Markdown (templates/verdict.md.j2): GitHub's job summary, verdict.md and report.md."""
    rows = []
    for check in decision.checks:
        compared = check.reference is not None and check.change is not None
        rows.append((
            code_span(check.subject),
            check.metric,
            format_value(check.metric, check.actual),
            format_value(check.metric, check.reference if compared else check.limit),
            _change_text(check) if compared else format_value(check.metric, check.margin, signed=True),
            f"**{check.verdict.value}**" if check.verdict in _FAILING else check.verdict.value,
        ))  # fmt: skip
    icon = {0: "✅", 3: "❌", 4: "⚠️", 5: "❔", 6: "🛑"}.get(int(decision.exit_code), "")
    page = render("verdict.md.j2", decision=decision, icon=icon, headline=_headline(decision), describe=describe_check,
                  counts=_counts_line(decision), listed=listed_checks(decision), rows=rows)  # fmt: skip
    return page.rstrip("\n") + "\n"


# ---- json --------------------------------------------------------------------------------------------------------
def _check_dict(check: Check) -> dict[str, Any]:
    return {
        "subject": check.subject,
        "metric": check.metric,
        "verdict": check.verdict.value,
        "actual": check.actual,
        "limit": check.limit,
        "margin": check.margin,
        "reference": check.reference,
        "change": check.change,
        "interval": list(check.interval) if check.interval is not None else None,
        "reason": check.reason,
        "warning_limit": check.warning_limit,
        "events": check.events,
        "trials": check.trials,
        "bounds": list(check.bounds) if check.bounds is not None else None,
        "more_samples": check.more_samples,
        "settles_as": check.settles_as.value if check.settles_as is not None else None,
    }


def decision_to_dict(decision: Decision) -> dict[str, Any]:
    return {
        "schema_version": VERDICT_JSON_SCHEMA_VERSION,
        "outcome": decision.outcome,
        "exit_code": int(decision.exit_code),
        "baseline": decision.baseline_name,
        "source": decision.source,
        "reference": decision.reference_source,
        "valid": decision.valid,
        "validity_problems": list(decision.validity_problems),
        "undersampled_endpoints": list(decision.undersampled_endpoints),
        "guard_stop_reason": decision.guard_stop_reason,
        "percentile_source": decision.percentile_source,
        "notes": list(decision.notes),
        "counts": decision.counts,
        "failing": [_check_dict(c) for c in decision.breaches + decision.regressions],
        "inconclusive": [_check_dict(c) for c in decision.inconclusive],
        "warnings": [_check_dict(c) for c in decision.warnings],
        "checks": [_check_dict(c) for c in decision.checks],
    }


def render_json(decision: Decision) -> str:
    return json.dumps(decision_to_dict(decision), indent=2) + "\n"


# ---- junit -------------------------------------------------------------------------------------------------------
def render_junit(decision: Decision) -> str:
    """One test case per check (classname = endpoint), plus one for run validity; CI shows failures by endpoint."""
    suite = ElementTree.Element("testsuite", name=f"performance ({decision.baseline_name})")
    validity = ElementTree.SubElement(suite, "testcase", classname="run", name="validity")
    if not decision.valid:
        ElementTree.SubElement(validity, "failure", message="run not valid").text = "\n".join(decision.validity_problems)
    if decision.guard_stop_reason:
        guard = ElementTree.SubElement(suite, "testcase", classname="run", name="guard")
        ElementTree.SubElement(guard, "failure", message=f"stopped by guard: {decision.guard_stop_reason}")
    for check in decision.checks:
        case = ElementTree.SubElement(suite, "testcase", classname=check.subject, name=check.metric)
        if check.verdict in _FAILING:
            ElementTree.SubElement(case, "failure", message=check.verdict.value).text = describe_check(check)
        elif check.verdict in _NOT_JUDGED:
            ElementTree.SubElement(case, "skipped", message=f"{check.verdict.value}: {check.reason}")
        elif check.verdict is Verdict.WARNING:
            # JUnit has no warning outcome: the case passes (exit code unchanged) and says WARNING where CI shows it.
            ElementTree.SubElement(case, "system-out").text = "WARNING: " + describe_check(check)
        else:
            ElementTree.SubElement(case, "system-out").text = describe_check(check)
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
    suite.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
    suite.set("errors", "0")
    if decision.warnings:
        properties = ElementTree.Element("properties")
        for check in decision.warnings:
            ElementTree.SubElement(properties, "property", name="warning", value=describe_check(check))
        suite.insert(0, properties)
    ElementTree.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ElementTree.tostring(suite, encoding="unicode") + "\n"


RENDERERS: dict[str, Callable[[Decision], str]] = {
    "text": render_text,
    "markdown": render_markdown,
    "json": render_json,
    "junit": render_junit,
}


def write_verdict_files(decision: Decision, folder: str | Path) -> dict[str, Path]:
    """verdict.json / .txt / .md / .junit.xml in ``folder``; returns format -> path."""
    folder = Path(folder)
    written = {}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for fmt, filename in VERDICT_FILES.items():
            path = folder / filename
            path.write_text(RENDERERS[fmt](decision), encoding="utf-8")
            written[fmt] = path
    except OSError as error:
        raise InputError(f"cannot write verdict files ({error.strerror or error})", path=folder) from None
    return written
