"""Business metrics gathered during the run: counts, costs and the running third-party spend.

The traffic models call ``user.run_state.metrics.count(...)`` / ``.add_cost(...)`` as things happen (one BusinessMetrics
per run and test: scenarios/run_state.py); at the end the run state writes ``business_metrics.json`` (format in
docs/architecture.md) through harness.results and logs ``summary_line``. Costs come from the cost fields the functions return; where a function returns none (Google
Places spend during discovery is logged server-side only, reference §7.2), the per-call estimates of reference
§7.3 are used, and the JSON says so.

Master/worker: each worker ships what it counted since its last report inside Locust's own stats report
(``report_to_master``); the master adds them up (``worker_report``) and writes the merged file. The spend guard
(scenarios/guards.py) reads ``third_party_spend_usd`` while the run goes.
"""

from __future__ import annotations

import json
from pathlib import Path

from common.results_format import BUSINESS_METRICS_FILE as METRICS_FILE
from common.results_format import BUSINESS_METRICS_SCHEMA_VERSION as SCHEMA_VERSION

REPORT_KEY = "prospectpro_business_metrics"

COUNTS = ("discovery_submitted", "discovery_accepted", "jobs_completed", "jobs_failed", "jobs_timed_out",
          "leads_discovered", "enrichment_calls", "enrichment_succeeded", "exports_attempted", "exports_succeeded")  # fmt: skip
COSTS = ("discovery_total", "enrichment_total", "third_party_spend")

# Third-party providers whose failure rate the runbook alerts on (> 5 %), and what ProspectPro's responses expose
# about each (reference §3.2, §3.5, §7.3). One "call" is one outcome a response shows, not one HTTP call to the
# provider (a discovery makes dozens of Google calls; its job shows one outcome):
# - google_places: a background job that completed (ok) or failed with a "Google Places API ..." error (failed);
#   a synchronous optimized discovery that answered 200 (ok). Its 5xx bodies are not read here.
# - foursquare: "foursquare" in a completed job's metrics.sources_used (ok). ProspectPro swallows Foursquare errors
#   and carries on with Google's results, so its failures are not exposed: its failure count stays null.
# - hunter_io, neverbounce, cobalt_sos: the orchestrator's processingMetadata: servicesUsed (ok) and
#   errors[{service, error}] (failed), also on a 200 with success:false.
PROVIDERS = {"google_places": "Google Places", "foursquare": "Foursquare", "hunter_io": "Hunter.io",
             "neverbounce": "NeverBounce", "cobalt_sos": "Cobalt SOS"}  # fmt: skip
FAILURES_NOT_EXPOSED = frozenset({"foursquare"})
# Service names as the orchestrator may spell them in servicesUsed / errors -> provider key.
ORCHESTRATOR_SERVICES = {"hunter_io": "hunter_io", "hunter": "hunter_io", "neverbounce": "neverbounce",
                         "cobalt_sos": "cobalt_sos", "cobalt": "cobalt_sos"}  # fmt: skip

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
        self.providers = {name: {"calls": 0, "failures": 0} for name in PROVIDERS}
        self._unreported_providers = {name: {"calls": 0, "failures": 0} for name in PROVIDERS}
        self.spend_ceiling_usd: float | None = None
        self.spend_guard_tripped = False

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] += n
        self._unreported_counts[name] += n

    def add_cost(self, name: str, usd: float) -> None:
        self.costs[name] += usd
        self._unreported_costs[name] += usd

    def provider_outcome(self, provider: str, failed: bool = False) -> None:
        """One outcome of a third-party provider, as a response exposed it (see PROVIDERS)."""
        for tally in (self.providers[provider], self._unreported_providers[provider]):
            tally["calls"] += 1
            tally["failures"] += int(failed)

    @property
    def third_party_spend_usd(self) -> float:
        return self.costs["third_party_spend"]

    def take_unreported(self) -> dict:
        """What happened since the last call (a worker's delta for the master), and forget it."""
        delta = {"counts": self._unreported_counts, "costs": self._unreported_costs, "providers": self._unreported_providers}
        self._unreported_counts = dict.fromkeys(COUNTS, 0)
        self._unreported_costs = dict.fromkeys(COSTS, 0.0)
        self._unreported_providers = {name: {"calls": 0, "failures": 0} for name in PROVIDERS}
        return delta

    def merge(self, delta: dict) -> None:
        """Add a worker's delta (unknown names are ignored: a newer worker must not crash an older master)."""
        for name, value in delta.get("counts", {}).items():
            if name in self.counts:
                self.counts[name] += int(value)
        for name, value in delta.get("costs", {}).items():
            if name in self.costs:
                self.costs[name] += float(value)
        for name, tally in delta.get("providers", {}).items():
            if name in self.providers:
                for field in ("calls", "failures"):
                    self.providers[name][field] += int(tally.get(field, 0))

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
            "third_party": {
                name: {"provider": label, "calls": self.providers[name]["calls"],
                       "failures": None if name in FAILURES_NOT_EXPOSED else self.providers[name]["failures"],
                       "failure_rate": None if name in FAILURES_NOT_EXPOSED
                       else _ratio(self.providers[name]["failures"], self.providers[name]["calls"])}
                for name, label in PROVIDERS.items()
            },
            "spend_guard": {"ceiling_usd": self.spend_ceiling_usd, "tripped": self.spend_guard_tripped},
            "notes": {"third_party_spend": "returned cost fields plus Google Places estimates "
                                           f"(${GOOGLE_TEXT_SEARCH_USD}/text search, ${GOOGLE_PLACE_DETAILS_USD}/place details)"},
        }  # fmt: skip


    def write(self, results_dir: Path) -> dict:
        """Write business_metrics.json into the results folder; returns what it holds."""
        content = self.to_json()
        (results_dir / METRICS_FILE).write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
        return content


def _ratio(numerator: float, denominator: float) -> float | None:
    """None when nothing was measured: a rate over zero attempts is unknown, not 0 and not 1."""
    return round(numerator / denominator, 6) if denominator else None


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
            f"third-party spend {usd(costs['third_party_spend'])}"
            + "".join(f", {p['provider']} failures {percent(p['failure_rate'])} of {p['calls']}"
                      for p in content.get("third_party", {}).values() if p["calls"] and p["failures"] is not None))  # fmt: skip
