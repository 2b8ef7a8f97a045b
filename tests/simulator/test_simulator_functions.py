"""Edge function contracts, code-faithful (reference §3 and §10): statuses, headers, bodies, exact error texts."""

from __future__ import annotations

import csv
import io
import json

import pytest

pytestmark = pytest.mark.integration


# Read-mostly contract tests: one simulator for the module instead of one per test (start-up dominates their cost).
@pytest.fixture
def simulator(shared_simulator):
    return shared_simulator


@pytest.fixture
def api(shared_api):
    return shared_api

FUNCTIONS = ("business-discovery-background", "business-discovery-optimized", "enrichment-orchestrator",
             "campaign-export-user-aware", "test-new-auth")


@pytest.mark.parametrize("slug", FUNCTIONS)
def test_missing_and_malformed_authorization_get_auth_failure_401(api, slug):
    missing = api.function(slug, {"campaignId": "x", "businessName": "x"}, token=None)
    assert missing.status == 401
    assert missing.json()["error"] == "Auth failure (extract_token): Missing Authorization bearer token"
    assert missing.headers["access-control-allow-origin"] == "*"
    invalid = api.function(slug, {}, token="invalid_jwt_token_12345")
    assert invalid.status == 401
    assert invalid.json()["error"].startswith("Auth failure (verify_user_service): invalid JWT")
    basic = api.function(slug, {}, token=None, headers={"Authorization": "Basic abc"})
    assert basic.json()["error"] == "Auth failure (extract_token): Invalid Authorization header format"


@pytest.mark.parametrize("slug", FUNCTIONS)
def test_cors_preflight(api, slug):
    reply = api.request("OPTIONS", f"/functions/v1/{slug}", token=None, apikey=False)
    assert reply.status == 200 and reply.body == b""
    assert reply.headers["access-control-allow-methods"] == "GET, POST, PUT, DELETE, OPTIONS"
    assert "x-prospect-session" in reply.headers["access-control-allow-headers"]


def test_unknown_function_is_the_gateways_404(api):
    reply = api.function("test-official-auth")
    assert reply.status == 404 and reply.json() == {"code": "NOT_FOUND", "message": "Requested function was not found"}


def test_background_401_carries_diagnostics(api):
    body = api.function("business-discovery-background", {}, token="invalid_jwt_token_12345").json()
    assert body["success"] is False
    assert body["diagnostics"]["stage"] == "verify_user_service"
    assert body["diagnostics"]["failureReason"] == "service_lookup_failed"


def test_background_submit_answers_processing_with_its_headers(api):
    reply = api.function("business-discovery-background",
                         {"businessType": "coffee shop", "location": "Seattle, WA", "maxResults": 2,
                          "tierKey": "PROFESSIONAL"})
    assert reply.status == 200
    body = reply.json()
    assert body["success"] is True and body["status"] == "processing" and body["estimatedTime"] == "1-2 minutes"
    assert body["message"] == "Discovery job created and processing in background"
    assert body["jobId"].startswith("job_") and len(body["jobId"]) == 36
    assert body["realtimeChannel"] == f"discovery_jobs:id=eq.{body['jobId']}"
    assert body["deduplication"]["mode"] == "user" and len(body["deduplication"]["campaignHash"]) == 64
    assert "tierKey" not in body  # the Thunder test expected it; the code never sends it
    assert reply.headers["cache-control"] == "private, max-age=30, must-revalidate"
    assert reply.headers["etag"] == f'W/"{body["jobId"]}"'


def test_background_session_mismatch_is_403(api):
    reply = api.function("business-discovery-background",
                         {"businessType": "coffee shop", "location": "Seattle, WA", "sessionUserId": "thunder_test_1"})
    assert reply.status == 403
    assert reply.json() == {"success": False, "error": "Session mismatch detected. Please re-authenticate."}


def test_background_accepts_invalid_tier_and_missing_params(api):
    # No validation in the code: an unknown tier falls back to BASE, missing params still start a job.
    assert api.function("business-discovery-background", {"businessType": "x", "tierKey": "INVALID_TIER_999"}).status == 200
    assert api.function("business-discovery-background", {"businessType": "coffee shop"}).status == 200


def test_background_bad_json_is_500_after_auth(api):
    reply = api.request("POST", "/functions/v1/business-discovery-background", b"{oops",
                        headers={"Content-Type": "application/json"})
    assert reply.status == 500 and reply.json()["success"] is False
    get = api.request("GET", "/functions/v1/business-discovery-background")  # no method check; no body -> 500
    assert get.status == 500


def test_optimized_returns_results_object_and_camel_case_leads(api):
    reply = api.function("business-discovery-optimized",
                         {"businessType": "accounting firm", "location": "San Francisco, CA", "maxResults": 4},
                         headers={"x-highlight-request": "abc/123"})
    assert reply.status == 200
    body = reply.json()
    assert isinstance(body["results"], dict) and body["results"]["qualified"] == len(body["leads"]) <= 4
    assert body["requirements"] == {"targetLeads": 4, "budgetLimit": 50, "minConfidenceScore": 50}
    assert body["campaignId"].startswith("campaign_")
    lead = body["leads"][0]
    assert {"businessName", "optimizedScore", "validationCost", "enhancementData"} <= set(lead)
    assert body["costs"]["validationCost"] == round(0.02 * len(body["leads"]), 3)
    assert body["highlight"] == {"request": "abc/123"} and reply.headers["x-highlight-request"] == "abc/123"
    assert body["metadata"]["version"] == "3.0"


def test_orchestrator_order_of_checks(api):
    assert api.request("GET", "/functions/v1/enrichment-orchestrator").json()["error"] == \
        "Method not allowed. Use POST with a JSON payload."
    assert api.request("GET", "/functions/v1/enrichment-orchestrator").status == 405
    no_auth = api.function("enrichment-orchestrator", {"businessName": "x"}, token=None)
    assert no_auth.status == 401 and "timestamp" in no_auth.json()
    text = api.request("POST", "/functions/v1/enrichment-orchestrator", b"{}", headers={"Content-Type": "text/plain"})
    assert (text.status, text.json()["error"]) == (400, "Invalid content type. Expected application/json payload.")
    bad = api.request("POST", "/functions/v1/enrichment-orchestrator", b"{x", headers={"Content-Type": "application/json"})
    assert (bad.status, bad.json()["error"]) == (400, "Invalid JSON payload.")
    missing = api.function("enrichment-orchestrator", {"domain": "x.com"})
    assert (missing.status, missing.json()["error"]) == (400, "Missing required field: businessName")


def test_orchestrator_waterfall_respects_the_budget_cap(api):
    body = {"businessName": "Example Coffee Co", "domain": "examplecoffee.com", "address": "1 Pike St, Seattle, WA",
            "tier": "professional", "maxCostPerBusiness": 0.5}
    reply = api.function("enrichment-orchestrator", body)
    assert reply.status == 200
    result = reply.json()
    metadata = result["processingMetadata"]
    assert metadata["servicesUsed"][:1] == ["hunter_io"]
    assert "cobalt_sos (budget)" in metadata["servicesSkipped"]  # 0.034 + 0.90 > 0.5
    assert "state_license" in metadata["servicesUsed"]
    assert result["totalCost"] <= 0.5
    assert result["totalCost"] == pytest.approx(sum(result["costBreakdown"].values()), abs=1e-6)
    assert "enrichmentResults" not in result and "enrichedData" in result  # code, not Thunder
    unlimited = api.function("enrichment-orchestrator", {**body, "maxCostPerBusiness": None}).json()
    assert "cobalt_sos" in unlimited["processingMetadata"]["servicesUsed"]  # default cap 2.0 fits 0.934


def test_export_metadata_by_default(api):
    campaign = api.seeded_campaign()
    reply = api.function("campaign-export-user-aware", {"campaignId": campaign["id"]})
    assert reply.status == 200
    assert reply.body.startswith(b'{\n  "success": true')  # JSON.stringify(body, null, 2)
    body = reply.json()
    assert body["campaign"] == {"id": campaign["id"], "businessType": campaign["business_type"],
                                "location": body["campaign"]["location"], "leadCount": 100}
    assert body["export"]["format"] == "csv" and body["export"]["recordedInDatabase"] is True
    assert body["export"]["fileName"] == f"prospectpro_{campaign['business_type'].replace(' ', '_')}_{campaign['id'][-8:]}.csv"
    assert body["metadata"] == {"timestamp": body["metadata"]["timestamp"], "version": "4.2", "userAware": True}


def test_export_csv_download_of_100_leads(api):
    campaign = api.seeded_campaign()
    reply = api.function("campaign-export-user-aware", {"campaignId": campaign["id"], "format": "csv"},
                         query="?download=true")
    assert reply.status == 200 and reply.headers["content-type"] == "text/csv"
    assert reply.headers["content-disposition"].startswith('attachment; filename="prospectpro_')
    assert int(reply.headers["content-length"]) == len(reply.body)
    text = reply.body.decode()
    assert not text.endswith("\n")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["Business Name", "Address", "Phone", "Website", "Email", "Confidence Score",
                       "Verification Sources", "Apollo Verified", "Chamber Verified", "License Verified",
                       "Total Cost", "Processing Strategy"]
    assert len(rows) == 101 and all(len(row) == 12 for row in rows)
    assert rows[1][10] == "0.02" and rows[1][11] == "basic"
    lean = api.function("campaign-export-user-aware",
                        {"campaignId": campaign["id"], "includeEnrichmentData": False}, query="?download=true")
    assert lean.body.decode().split("\n")[0] == "Business Name,Address,Phone,Website,Email,Confidence Score"


def test_export_json_download(api):
    campaign = api.seeded_campaign()
    reply = api.function("campaign-export-user-aware", {"campaignId": campaign["id"], "format": "json"},
                         query="?download=true")
    assert reply.status == 200 and reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert len(body["leads"]) == 100 and body["exportMetadata"]["totalLeads"] == 100
    assert set(body["campaign"]) == {"id", "businessType", "location", "targetCount", "resultsCount", "totalCost",
                                     "createdAt"}


def test_export_errors_are_500s_with_the_codes_text(api, simulator, api_for):
    assert api.function("campaign-export-user-aware", {}).json() == {"success": False,
                                                                     "error": "Campaign ID is required"}
    missing = api.function("campaign-export-user-aware", {"campaignId": "nonexistent_campaign_12345"})
    assert missing.status == 500
    assert missing.json()["error"].startswith("Campaign not found or access denied: ")
    campaign = api.seeded_campaign()
    other = api_for(simulator)
    other.sign_in(2)
    foreign = other.function("campaign-export-user-aware", {"campaignId": campaign["id"]})
    assert foreign.status == 500 and foreign.json()["error"].startswith("Campaign not found or access denied")
    before = len(api.rest("dashboard_exports?select=id").json())
    bad = api.function("campaign-export-user-aware", {"campaignId": campaign["id"], "format": "invalid_format_xyz"})
    assert (bad.status, bad.json()["error"]) == (500, "Unsupported export format: invalid_format_xyz")
    exports = api.rest("dashboard_exports?select=file_format,row_count&order=id.desc").json()
    assert len(exports) == before + 1 and exports[0] == {"file_format": "invalid_format_xyz", "row_count": 100}


def test_test_new_auth_shape_and_session_header_override(api, simulator, api_for):
    reply = api.function("test-new-auth", {"diagnostics": True})
    assert reply.status == 200
    body = reply.json()
    assert body["ok"] is True and "user" not in body
    me = api.request("GET", "/auth/v1/user").json()
    assert body["authentication"]["request"]["userId"] == me["id"]
    assert body["diagnostics"]["rlsProbes"] == [{"table": "campaigns", "status": "ok", "rows": 1}]
    assert body["tier"]["tier"] == "professional" and body["tier"]["source"] == "default"
    # x-prospect-session wins over Authorization in this function only
    other = api_for(simulator)
    other.sign_in(3)
    mixed = api.function("test-new-auth", {}, token="sb_publishable_simulator",
                         headers={"x-prospect-session": f"Bearer {other.token}"})
    assert mixed.status == 200
    assert mixed.json()["authentication"]["request"]["email"] == "loadtest-3@prospectpro.test"
    assert api.request("GET", "/functions/v1/test-new-auth").status == 405
    tiered = api.function("test-new-auth", {}, headers={"x-tier": "scale"}).json()["tier"]
    assert (tiered["tier"], tiered["source"]) == ("enterprise", "header.x-tier")


def test_legacy_header_pair_is_refused_by_other_functions(api):
    reply = api.function("business-discovery-background", {"businessType": "x"}, token="sb_publishable_simulator",
                         headers={"x-prospect-session": f"Bearer {api.token}"})
    assert reply.status == 401
    assert json.loads(reply.body)["error"].startswith("Auth failure (verify_user_service)")


def test_hunter_actions_costs_and_errors(api):
    missing = api.function("enrichment-hunter", {"domain": "stripe.com", "firstName": "Patrick"})
    assert (missing.status, missing.json()["error"]) == (500, "Unknown action: undefined")
    no_domain = api.function("enrichment-hunter", {"action": "domain-search"})
    assert (no_domain.status, no_domain.json()["error"]) == (500, "domain is required for domain-search")
    search = api.function("enrichment-hunter", {"action": "domain-search", "domain": "stripe.com"}).json()
    assert search["success"] is True and search["cost"] == 0.034
    assert all("value" in email for email in search["data"]["emails"])  # Hunter's key, not `email`
    assert api.function("enrichment-hunter", {"action": "email-count", "domain": "x.com"}).json()["cost"] == 0
    assert api.function("enrichment-hunter", {"action": "domain-search", "domain": "x.com"},
                        token=None).status == 401


def test_neverbounce_actions_costs_and_errors(api):
    missing = api.function("enrichment-neverbounce", {"email": "support@stripe.com"})
    assert (missing.status, missing.json()["error"]) == (400, "Missing required field: action")
    verify = api.function("enrichment-neverbounce", {"action": "verify", "email": "support@stripe.com"}).json()
    assert verify["cost"] == 0.008 and {"email", "result", "flags", "suggested_correction", "address_info",
                                        "execution_time"} <= set(verify["data"])
    invalid = api.function("enrichment-neverbounce", {"action": "verify", "email": "invalid-email-format"}).json()
    assert invalid["data"]["result"] == "invalid"
    over = api.function("enrichment-neverbounce", {"action": "verify-batch", "emails": ["a@b.co"] * 3,
                                                   "maxCostPerRequest": 0.01})
    assert over.status == 500


def test_neverbounce_batch_takes_a_second_per_email(api):
    import time

    started = time.monotonic()
    batch = api.function("enrichment-neverbounce", {"action": "verify-batch", "emails": ["a@b.co"] * 5})
    elapsed = time.monotonic() - started
    assert batch.status == 200 and batch.json()["cost"] == 0.04 and len(batch.json()["data"]["results"]) == 5
    assert elapsed >= 4 * 1.0 * 0.05  # 4 pauses of 1 s, at --time-scale 0.05
