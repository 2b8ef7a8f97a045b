"""The report's open-model section: the arrival rates and both latencies of every endpoint side by side.

An open-model run (analysis/openmodel.py) is judged on its latency from the intended start; Locust's service time
is shown beside it, so the reader sees how much of the latency was waiting that a closed test would have hidden.
"""

from __future__ import annotations

from analysis.openmodel import MANIFEST_SECTION, ArrivalSummary, RatePlan
from analysis.results import RunResult
from analysis.render import format_value

TITLE = "Open model: arrival rate, service time and latency from the intended start"
INTRO = ("Arrivals were started on schedule whatever the target did (an open workload model). Each request has two "
         "latencies: its service time (what Locust records) and its latency from its intended start (service time "
         "plus how late its arrival began, wrk2's correction for coordinated omission). The verdict judges the "
         "second.")  # fmt: skip
SIDE_BY_SIDE_COLUMNS = ("endpoint", "requests", "service p50", "service p95", "service p99", "corrected p50",
                        "corrected p95", "corrected p99")  # fmt: skip
_PERCENTILES = (0.5, 0.95, 0.99)


def is_open_model(run: RunResult) -> bool:
    return run.service_endpoints is not None


def arrival_rows(run: RunResult) -> list[tuple[str, str]]:
    """Target and achieved rates and what became of the arrivals, from the manifest's ``arrivals`` section."""
    section = (run.manifest_raw or {}).get(MANIFEST_SECTION)
    if not section:
        return [("arrivals", "no arrivals section in manifest.json")]
    summary = ArrivalSummary.model_validate(section)
    plan = RatePlan(**summary.plan).describe() if summary.plan else "-"
    rows = [
        ("rate plan", f"{plan}, {summary.spacing} spacing, seed {summary.seed}"),
        ("target rate", f"{summary.target_rate:.3g} arrivals/s over {summary.duration_s:g} s"),
        ("achieved rate", f"{summary.achieved_rate:.3g} arrivals/s"),
        ("arrivals", f"{summary.due} due, {summary.started} started, {summary.dropped} dropped (pool busy), "
                     f"{summary.missed} missed, {summary.late} late (> {summary.late_ms:g} ms; worst "
                     f"{summary.max_lag_ms:g} ms)"),
        ("pool", f"{summary.pool_users} users; not valid beyond {summary.tolerance:.0%} dropped or missed"),
    ]  # fmt: skip
    for slot, counts in summary.workers.items():
        rows.append((f"worker {slot}", f"{counts.get('due')} due, {counts.get('started')} started, "
                                       f"{counts.get('dropped')} dropped"))  # fmt: skip
    return rows


def side_by_side_rows(run: RunResult) -> list[list[str]]:
    """Per endpoint: requests, then service-time and corrected p50/p95/p99."""
    rows = []
    service = run.service_endpoints or {}
    for key in sorted(set(run.endpoints) | set(service)):
        corrected, served = run.endpoints.get(key), service.get(key)
        either = corrected or served
        assert either is not None  # the key comes from one of the two
        requests = either.requests
        rows.append([key, str(requests),
                     *[format_value("p_ms", served.percentile(q) if served else None) for q in _PERCENTILES],
                     *[format_value("p_ms", corrected.percentile(q) if corrected else None) for q in _PERCENTILES]])  # fmt: skip
    return rows
