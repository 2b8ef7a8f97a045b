"""Business metrics gathered during the run: counts, costs and the running third-party spend.

The traffic models call ``business_metrics().count(...)`` / ``.add_cost(...)`` as things happen; at the end this
module writes ``business_metrics.json`` (format in docs/architecture.md) through harness.results and prints a
short summary. Costs come from the cost fields the functions return; where a function returns none (Google
Places spend during discovery is logged server-side only, reference §7.2), the per-call estimates of reference
§7.3 are used, and the JSON says so.

Master/worker: each worker ships what it counted since its last report inside Locust's own stats report
(``report_to_master``); the master adds them up (``worker_report``) and writes the merged file. The spend guard
(scenarios/guards.py) reads ``third_party_spend_usd`` while the run goes.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from locust import events
from locust.env import Environment
from locust.runners import WorkerRunner

from harness.results import register_artifact_writer

logger = logging.getLogger(__name__)

METRICS_FILE = "business_metrics.json"
SCHEMA_VERSION = 1
REPORT_KEY = "prospectpro_business_metrics"

COUNTS = ("discovery_submitted", "discovery_accepted", "jobs_completed", "jobs_failed", "jobs_timed_out",
          "leads_discovered", "enrichment_calls", "enrichment_succeeded", "exports_attempted", "exports_succeeded")  # fmt: skip
COSTS = ("discovery_total", "enrichment_total", "third_party_spend")

# Reference §7.3: what ProspectPro's own code books per Google Places call. One Text Search per discovery pass and
# one Place Details per business found; a job reports how many businesses it found in metrics.businesses_found.
GOOGLE_TEXT_SEARCH_USD = 0.032
GOOGLE_PLACE_DETAILS_USD = 0.017


def estimated_discovery_spend(businesses_found: int, search_passes: int = 1) -> float:
    """Google Places spend of one discovery, which ProspectPro logs but never returns (reference §7.2, §7.3)."""
    return search_passes * GOOGLE_TEXT_SEARCH_USD + businesses_found * GOOGLE_PLACE_DETAILS_USD


class BusinessMetrics:
    """Counts and USD totals of one process; ``unreported`` holds what a worker has not shipped yet."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys(COUNTS, 0)
        self.costs = dict.fromkeys(COSTS, 0.0)
        self._unreported_counts = dict.fromkeys(COUNTS, 0)
        self._unreported_costs = dict.fromkeys(COSTS, 0.0)
        self.spend_ceiling_usd: float | None = None
        self.spend_guard_tripped = False

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] += n
        self._unreported_counts[name] += n

    def add_cost(self, name: str, usd: float) -> None:
        self.costs[name] += usd
        self._unreported_costs[name] += usd

    @property
    def third_party_spend_usd(self) -> float:
        return self.costs["third_party_spend"]

    def take_unreported(self) -> dict:
        """What happened since the last call (a worker's delta for the master), and forget it."""
        delta = {"counts": self._unreported_counts, "costs": self._unreported_costs}
        self._unreported_counts = dict.fromkeys(COUNTS, 0)
        self._unreported_costs = dict.fromkeys(COSTS, 0.0)
        return delta

    def merge(self, delta: dict) -> None:
        """Add a worker's delta (unknown names are ignored: a newer worker must not crash an older master)."""
        for name, value in delta.get("counts", {}).items():
            if name in self.counts:
                self.counts[name] += int(value)
        for name, value in delta.get("costs", {}).items():
            if name in self.costs:
                self.costs[name] += float(value)

    def to_json(self) -> dict:
        counts, costs = self.counts, self.costs
        return {
            "schema_version": SCHEMA_VERSION,
            "counts": dict(counts),
            "costs_usd": {name: round(value, 6) for name, value in costs.items()},
            "derived": {
                "discovery_success_rate": _ratio(counts["discovery_accepted"], counts["discovery_submitted"]),
                # Over jobs whose end was seen: a job still running when the run stopped is not a failure.
                "job_completion_rate": _ratio(counts["jobs_completed"], counts["jobs_completed"] + counts["jobs_failed"]
                                              + counts["jobs_timed_out"]),
                "leads_per_job": _ratio(counts["leads_discovered"], counts["jobs_completed"]),
                "cost_per_discovery_usd": _ratio(costs["discovery_total"], counts["jobs_completed"]),
                "cost_per_lead_usd": _ratio(costs["discovery_total"], counts["leads_discovered"]),
                "enrichment_cost_per_lead_usd": _ratio(costs["enrichment_total"], counts["enrichment_succeeded"]),
                "export_success_rate": _ratio(counts["exports_succeeded"], counts["exports_attempted"]),
            },
            "spend_guard": {"ceiling_usd": self.spend_ceiling_usd, "tripped": self.spend_guard_tripped},
            "notes": {"third_party_spend": "returned cost fields plus Google Places estimates "
                                           f"(${GOOGLE_TEXT_SEARCH_USD}/text search, ${GOOGLE_PLACE_DETAILS_USD}/place details)"},
        }  # fmt: skip


def _ratio(numerator: float, denominator: float) -> float | None:
    """None when nothing was measured: a rate over zero attempts is unknown, not 0 and not 1."""
    return round(numerator / denominator, 6) if denominator else None


_metrics = BusinessMetrics()


def business_metrics() -> BusinessMetrics:
    """The process's metrics (one per process: Locust runs one environment per process)."""
    return _metrics


def reset_for_new_run() -> BusinessMetrics:
    """Start counting from zero (a new test in the same process: tests, or a restart from the web UI).

    The spend ceiling is configuration, set once by the guards at init: it carries over.
    """
    global _metrics
    ceiling = _metrics.spend_ceiling_usd
    _metrics = BusinessMetrics()
    _metrics.spend_ceiling_usd = ceiling
    return _metrics


@events.test_start.add_listener
def _on_test_start(**_kwargs) -> None:
    reset_for_new_run()


@events.report_to_master.add_listener
def _ship_to_master(data: dict, **_kwargs) -> None:
    data[REPORT_KEY] = _metrics.take_unreported()


@events.worker_report.add_listener
def _merge_from_worker(data: dict, **_kwargs) -> None:
    if REPORT_KEY in data:
        _metrics.merge(data[REPORT_KEY])


@register_artifact_writer
def write_business_metrics(environment: Environment, results_dir: Path) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return
    content = _metrics.to_json()
    (results_dir / METRICS_FILE).write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    logger.info("business metrics: %s", summary_line(content))


def summary_line(content: dict) -> str:
    counts, derived, costs = content["counts"], content["derived"], content["costs_usd"]

    def percent(value):
        return "n/a" if value is None else f"{value:.1%}"

    def usd(value):
        return "n/a" if value is None else f"${value:.3f}"

    return (f"discoveries {counts['discovery_submitted']} (success {percent(derived['discovery_success_rate'])}), "
            f"jobs completed {counts['jobs_completed']} (rate {percent(derived['job_completion_rate'])}), "
            f"leads/job {derived['leads_per_job'] if derived['leads_per_job'] is not None else 'n/a'}, "
            f"cost/discovery {usd(derived['cost_per_discovery_usd'])}, cost/lead {usd(derived['cost_per_lead_usd'])}, "
            f"enrichments {counts['enrichment_calls']} (cost/lead {usd(derived['enrichment_cost_per_lead_usd'])}), "
            f"exports {counts['exports_attempted']} (success {percent(derived['export_success_rate'])}), "
            f"third-party spend {usd(costs['third_party_spend'])}")  # fmt: skip
