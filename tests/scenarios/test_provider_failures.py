"""Third-party API failure rate per provider (issue 10 part 5): counted from what ProspectPro's responses expose,
written to business_metrics.json, and gated by the baseline (runbook: alert above 5 %)."""

from __future__ import annotations

import json

import pytest

from analysis.decide import decide
from analysis.exit_codes import ExitCode
from analysis.results import load_run
from analysis.verdicts import Verdict
from scenarios.contracts import DiscoveryJob, Enrichment
from scenarios.discovery import _book_providers
from scenarios.enrichment import book_providers
from scenarios.metrics import PROVIDERS, BusinessMetrics
from tests.support.decisions import GOOD_MANIFEST, baseline, endpoint, run
from tests.support.locust_runs import run_locust

GATE = {"third_party_failure_rate_max": 0.05}


def enrichment_body(used, errors=(), success=True) -> Enrichment:
    return Enrichment.model_validate({
        "success": success, "businessName": "Acme", "enrichedData": {}, "confidenceScore": 50, "totalCost": 0.1,
        "costBreakdown": {}, "processingMetadata": {"servicesUsed": list(used), "servicesSkipped": [],
                                                    "errors": [{"service": s, "error": "503"} for s in errors]},
    })  # fmt: skip


def test_orchestrator_services_used_and_errors_are_counted_per_provider():
    metrics = BusinessMetrics()
    book_providers(metrics, enrichment_body(["hunter_io", "cobalt_sos", "state_license"], errors=["neverbounce"]))
    book_providers(metrics, enrichment_body(["neverbounce"], errors=["hunter"], success=False))  # also on success:false
    third_party = metrics.to_json()["third_party"]
    assert {k: (v["calls"], v["failures"]) for k, v in third_party.items() if v["calls"]} == {
        "hunter_io": (2, 1), "cobalt_sos": (1, 0), "neverbounce": (2, 1)}
    assert third_party["hunter_io"]["failure_rate"] == 0.5 and set(third_party) == set(PROVIDERS)


def test_discovery_jobs_count_google_places_and_foursquare_whose_failures_are_not_exposed():
    metrics = BusinessMetrics()
    job = {"id": "j", "status": "completed", "progress": 100, "metrics": {"sources_used": ["foursquare", "google_places"]}}
    _book_providers(metrics, DiscoveryJob.model_validate(job))
    _book_providers(metrics, DiscoveryJob.model_validate({**job, "status": "failed", "error": "Google Places API error: OVER_QUERY_LIMIT"}))
    _book_providers(metrics, DiscoveryJob.model_validate({**job, "status": "failed", "error": "database timeout"}))  # not Google's
    third_party = metrics.to_json()["third_party"]
    assert (third_party["google_places"]["calls"], third_party["google_places"]["failures"]) == (2, 1)
    assert (third_party["foursquare"]["calls"], third_party["foursquare"]["failures"]) == (1, None)


def test_provider_counts_travel_from_workers_to_the_master():
    worker, master = BusinessMetrics(), BusinessMetrics()
    worker.provider_outcome("hunter_io", failed=True)
    worker.provider_outcome("hunter_io")
    master.merge(worker.take_unreported())
    master.merge(worker.take_unreported())
    assert master.providers["hunter_io"] == {"calls": 2, "failures": 1}


def business_with(**providers) -> dict:
    return {"schema_version": 1, "third_party": {name: {"provider": PROVIDERS[name], "calls": calls, "failures": failures}
                                                 for name, (calls, failures) in providers.items()}}  # fmt: skip


def test_the_baseline_gates_each_providers_failure_rate_with_exact_bounds():
    sent = endpoint("GET /x", [10.0] * 300)
    business = business_with(hunter_io=(200, 30), neverbounce=(300, 0), cobalt_sos=(5, 0), foursquare=(40, None))
    decision = decide(run(sent, manifest=GOOD_MANIFEST, business=business), baseline(business=GATE))
    verdicts = {c.metric: c.verdict for c in decision.checks if c.subject == "business"}
    assert verdicts == {"hunter_io_failure_rate": Verdict.BREACH, "neverbounce_failure_rate": Verdict.PASS,
                        "cobalt_sos_failure_rate": Verdict.INCONCLUSIVE, "foursquare_failure_rate": Verdict.INCONCLUSIVE}  # fmt: skip
    assert decision.exit_code == ExitCode.SLA_BREACHED
    (hunter,) = [c for c in decision.breaches if c.metric == "hunter_io_failure_rate"]
    assert "30 of 200 calls failed" in hunter.reason


@pytest.mark.integration
def test_simulated_provider_failures_reach_business_metrics_and_the_verdict(simulator_factory, tmp_path):
    sim = simulator_factory("--profile", "provider-errors", "--time-scale", "0.05")
    result = run_locust(sim.url, tmp_path / "run", "EnrichmentUser", users=3, seconds=6)
    written = json.loads((tmp_path / "run" / "business_metrics.json").read_text())["third_party"]
    orchestrator = {name: written[name] for name in ("hunter_io", "cobalt_sos", "neverbounce")}
    assert sum(p["calls"] for p in orchestrator.values()) > 50, result.output[-2000:]
    assert sum(p["failures"] for p in orchestrator.values()) > 0  # profile: one in ten fails
    for provider in orchestrator.values():
        if provider["calls"]:
            assert 0 <= provider["failure_rate"] < 0.5
    decision = decide(load_run(tmp_path / "run"), baseline(business=GATE))
    judged = {c.metric for c in decision.checks if c.metric.endswith("_failure_rate")}
    assert "hunter_io_failure_rate" in judged
