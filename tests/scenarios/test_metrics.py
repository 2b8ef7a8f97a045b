"""Business metrics: derived rates (null when unmeasured), worker deltas merged on the master, counts that agree
with Locust's own in a real master/worker run."""

from __future__ import annotations

import json

import pytest

from scenarios.metrics import BusinessMetrics, estimated_discovery_spend
from tests.support.locust_runs import run_locust
from tests.support.ports import free_port


def test_rates_with_no_denominator_are_null_not_zero_or_one():
    derived = BusinessMetrics().to_json()["derived"]
    assert set(derived.values()) == {None}


def test_derived_values():
    metrics = BusinessMetrics()
    for name, n in (("discovery_submitted", 4), ("discovery_accepted", 3), ("jobs_completed", 2), ("jobs_failed", 1),
                    ("leads_discovered", 6), ("exports_attempted", 2), ("exports_succeeded", 2),
                    ("enrichment_succeeded", 4)):  # fmt: skip
        metrics.count(name, n)
    metrics.add_cost("discovery_total", 0.12)
    metrics.add_cost("enrichment_total", 0.4)
    derived = metrics.to_json()["derived"]
    assert derived["discovery_success_rate"] == 0.75
    assert derived["job_completion_rate"] == pytest.approx(2 / 3, abs=1e-6)  # over jobs whose end was seen
    assert derived["leads_per_job"] == 3.0 and derived["cost_per_discovery_usd"] == 0.06
    assert derived["cost_per_lead_usd"] == 0.02 and derived["enrichment_cost_per_lead_usd"] == 0.1
    assert derived["export_success_rate"] == 1.0


def test_worker_deltas_add_up_on_the_master_and_are_shipped_once():
    worker, master = BusinessMetrics(), BusinessMetrics()
    worker.count("jobs_completed", 2)
    worker.add_cost("third_party_spend", 0.5)
    master.merge(worker.take_unreported())
    worker.count("jobs_completed")
    master.merge(worker.take_unreported())
    master.merge(worker.take_unreported())  # nothing new: adds nothing
    master.merge({"counts": {"from_a_newer_worker": 3}})  # unknown names are ignored
    assert master.counts["jobs_completed"] == 3 and master.third_party_spend_usd == 0.5


def test_google_places_estimate_follows_the_reference_unit_costs():
    assert estimated_discovery_spend(businesses_found=10) == pytest.approx(0.032 + 10 * 0.017)


@pytest.mark.integration
def test_master_and_workers_write_one_merged_file_that_agrees_with_locust(simulator, tmp_path):
    port = str(free_port())  # this run's own master port, so no other master is reached
    run = run_locust(simulator.url, tmp_path / "run", "ProspectorUser", "--processes", "2", "--master-bind-host",
                     "127.0.0.1", "--master-bind-port", port, "--master-host", "127.0.0.1", "--master-port", port,
                     users=4, seconds=8)  # fmt: skip
    assert run.returncode == 0, run.output[-3000:]
    entries = run.entries()
    counts = json.loads((run.results_dir / "business_metrics.json").read_text())["counts"]
    assert counts["discovery_submitted"] == entries["POST /functions/v1/business-discovery-background"]["num_requests"] > 0
    assert counts["enrichment_calls"] == entries["POST /functions/v1/enrichment-orchestrator"]["num_requests"]
    assert counts["jobs_completed"] == entries["JOB business-discovery-background submit->completed"]["num_requests"]
    manifest = json.loads((run.results_dir / "manifest.json").read_text())
    assert manifest["options"]["workers"] == 2 and manifest["load"]["workers_lost"] == 0
