"""Issue 2's "Done when": the whole flow by plain HTTP against `--port 0 --seed 1 --time-scale 0.05`, and the
simulator's accounting of exactly what that flow sent."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.integration


def test_whole_flow_by_plain_http_and_accounting_matches(simulator, api_for):
    api = api_for(simulator)
    sent: dict[str, int] = {}

    def note(key: str) -> None:
        sent[key] = sent.get(key, 0) + 1

    # 1. sign in
    api.sign_in(9)
    note("POST /auth/v1/token?grant_type=password")
    # 2. submit a background discovery
    submitted = api.function("business-discovery-background",
                             {"businessType": "coffee shop", "location": "Seattle, WA", "maxResults": 3,
                              "tierKey": "BASE", "sessionUserId": api.request("GET", "/auth/v1/user").json()["id"]})
    note("GET /auth/v1/user")
    note("POST /functions/v1/business-discovery-background")
    assert submitted.status == 200, submitted.body
    job_id, campaign_id = submitted.json()["jobId"], submitted.json()["campaignId"]
    # 3. poll the job to completed, as the SPA does (select=*, single object)
    deadline = time.monotonic() + 15
    while True:
        job = api.single(f"discovery_jobs?select=*&id=eq.{job_id}")
        note("GET /rest/v1/discovery_jobs")
        assert job.status == 200
        if job.json()["status"] == "completed" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert job.json()["status"] == "completed"
    # 4. read the campaign and its leads as the progress page does
    campaign = api.single(f"campaigns?select=id,business_type,location,status,total_cost,results_count,created_at,"
                          f"updated_at&id=eq.{campaign_id}")
    note("GET /rest/v1/campaigns")
    assert campaign.json()["status"] == "completed" and campaign.json()["results_count"] == 3
    leads = api.rest(f"leads?select=id,campaign_id,business_name,address,phone,website,email,confidence_score,"
                     f"validation_cost,enrichment_data,created_at&campaign_id=eq.{campaign_id}"
                     "&order=confidence_score.desc")
    note("GET /rest/v1/leads")
    assert len(leads.json()) == 3
    # 5. enrich the top lead as the SPA's useLeadEnrichment does
    lead = leads.json()[0]
    enriched = api.function("enrichment-orchestrator",
                            {"businessName": lead["business_name"], "domain": lead["website"], "address": lead["address"],
                             "phone": lead["phone"], "website": lead["website"], "state": "WA",
                             "includeBusinessLicense": True, "discoverEmails": True, "verifyEmails": True,
                             "maxCostPerBusiness": 0.5, "tier": "professional"})
    note("POST /functions/v1/enrichment-orchestrator")
    assert enriched.status == 200 and enriched.json()["success"] is True
    # 6. export the seeded 100-lead campaign as a CSV download
    seeded = api.rest("campaigns?select=id&results_count=eq.100")
    note("GET /rest/v1/campaigns")
    export = api.function("campaign-export-user-aware", {"campaignId": seeded.json()[0]["id"], "format": "csv"},
                          query="?download=true")
    note("POST /functions/v1/campaign-export-user-aware")
    assert export.status == 200 and export.headers["content-type"] == "text/csv"
    assert len(export.body.decode().split("\n")) == 101

    stats = simulator.stats()
    assert stats["served"] == {key: {"200": count} for key, count in sent.items()}
    assert stats["total"] == sum(sent.values())
