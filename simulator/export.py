"""POST /functions/v1/campaign-export-user-aware (reference §3.7 and §9.1): metadata JSON by default, the CSV or
JSON file with `download=true`, and the code's 500s for a missing campaign id, an invisible campaign or a bad
format (the dashboard_exports row is written before the format is checked, as in the real function)."""

from __future__ import annotations

import json
import time

from simulator.edge import CORS_HEADERS, AuthContext, function_error
from simulator.httpserver import Request, Response
from simulator.jsonbody import iso_now, parse_json_object, pg_timestamp, pretty_json_response
from simulator.store import TABLES, Store

CSV_BASE_HEADER = ["Business Name", "Address", "Phone", "Website", "Email", "Confidence Score"]
CSV_ENRICHMENT_HEADER = ["Verification Sources", "Apollo Verified", "Chamber Verified", "License Verified",
                         "Total Cost", "Processing Strategy"]
NOT_FOUND_DETAIL = "Cannot coerce the result to a single JSON object"  # what .single() reports for 0 rows
LEAD_COLUMNS = list(TABLES["leads"])


def _fail(message: str) -> Response:
    return function_error(500, message)


def _quoted(text) -> str:
    return '"' + str(text or "").replace('"', '""') + '"'


def _lead_facts(lead: dict) -> dict:
    """The per-lead values the export reads from `leads` (with the function's defaults)."""
    enrichment = lead.get("enrichment_data") or {}
    metadata = enrichment.get("processingMetadata") or {}
    used = metadata.get("servicesUsed") or []
    return {
        "businessName": lead["business_name"], "address": lead["address"] or "", "phone": lead["phone"] or "",
        "website": lead["website"] or "", "email": lead["email"] or "", "confidenceScore": lead["confidence_score"],
        "verificationSources": enrichment.get("verificationSources") or ["google_places"],
        "apolloVerified": "apollo" in used, "chamberVerified": False, "licenseVerified": "state_license" in used,
        "totalCost": metadata.get("totalCost") or 0, "processingStrategy": metadata.get("processingStrategy") or "basic",
    }


def csv_text(leads: list[dict], include_enrichment: bool) -> str:
    header = CSV_BASE_HEADER + (CSV_ENRICHMENT_HEADER if include_enrichment else [])
    lines = [",".join(header)]
    for lead in leads:
        facts = _lead_facts(lead)
        # Name and address are escaped; phone, website and email are quoted without escaping (as the code does).
        fields = [_quoted(facts["businessName"]), _quoted(facts["address"]), f'"{facts["phone"]}"',
                  f'"{facts["website"]}"', f'"{facts["email"]}"', str(facts["confidenceScore"])]
        if include_enrichment:
            fields += [f'"{", ".join(facts["verificationSources"])}"', str(facts["apolloVerified"]).lower(),
                       str(facts["chamberVerified"]).lower(), str(facts["licenseVerified"]).lower(),
                       str(facts["totalCost"]), f'"{facts["processingStrategy"]}"']
        lines.append(",".join(fields))
    return "\n".join(lines)


def json_text(campaign: dict, leads: list[dict], include_enrichment: bool) -> str:
    return json.dumps({
        "campaign": {"id": campaign["id"], "businessType": campaign["business_type"],
                     "location": campaign["location"], "targetCount": campaign["target_count"],
                     "resultsCount": campaign["results_count"], "totalCost": campaign["total_cost"],
                     "createdAt": campaign["created_at"]},
        "leads": [_lead_facts(lead) for lead in leads],
        "exportMetadata": {"exportedAt": iso_now(), "includeEnrichmentData": include_enrichment,
                           "totalLeads": len(leads), "userContext": {"isAuthenticated": True, "hasUserId": True}},
    }, indent=2)


def export(request: Request, auth: AuthContext, store: Store) -> tuple[Response, int]:
    """The response and the number of leads handled (export latency grows with it)."""
    try:
        body = parse_json_object(request.body)
    except ValueError as error:
        return _fail(str(error)), 0
    if not isinstance(body, dict):
        body = {}
    campaign_id = body.get("campaignId")
    if not campaign_id:
        return _fail("Campaign ID is required"), 0
    campaign = store.get("campaigns", str(campaign_id), owner=auth.user_id)
    if campaign is None:
        return _fail(f"Campaign not found or access denied: {NOT_FOUND_DETAIL}"), 0
    leads = store.query("leads", LEAD_COLUMNS,
                        f"SELECT {', '.join(LEAD_COLUMNS)} FROM leads WHERE campaign_id = ? AND user_id = ? ORDER BY id",
                        [campaign["id"], auth.user_id])
    file_format = body.get("format") or "csv"
    include_enrichment = body.get("includeEnrichmentData") is not False
    now = pg_timestamp()
    store.insert("dashboard_exports", {
        "campaign_id": campaign["id"], "export_type": "lead_export", "file_format": str(file_format),
        "row_count": len(leads), "export_status": "completed", "completed_at": now, "created_at": now,
        "user_id": auth.user_id, "session_user_id": auth.session_id,
    })
    if file_format == "csv":
        content, content_type = csv_text(leads, include_enrichment), "text/csv"
    elif file_format == "json":
        content, content_type = json_text(campaign, leads, include_enrichment), "application/json"
    else:
        return _fail(f"Unsupported export format: {file_format}"), len(leads)
    file_name = (f"prospectpro_{campaign['business_type'].replace(' ', '_')}_{campaign['id'][-8:]}.{file_format}")
    if "download=true" in request.query:
        headers = [*CORS_HEADERS, ("Content-Disposition", f'attachment; filename="{file_name}"')]
        return Response(200, content.encode(), content_type=content_type, headers=headers), len(leads)
    return pretty_json_response(200, {
        "success": True,
        "exportId": f"export_{int(time.time() * 1000)}",
        "campaign": {"id": campaign["id"], "businessType": campaign["business_type"],
                     "location": campaign["location"], "leadCount": len(leads)},
        "export": {"format": file_format, "fileName": file_name, "size": len(content),
                   "includeEnrichmentData": include_enrichment, "recordedInDatabase": True},
        "userContext": {"isAuthenticated": True, "hasAccess": True, "ownership": "user_owned"},
        "metadata": {"timestamp": iso_now(), "version": "4.2", "userAware": True},
    }, headers=CORS_HEADERS), len(leads)
