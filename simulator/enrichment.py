"""POST /functions/v1/enrichment-orchestrator (reference §3.5): its order of checks, exact errors, and body."""

from __future__ import annotations

import time

from simulator.costs import enrichment_waterfall
from simulator.edge import CORS_HEADERS, AuthFailure, function_error
from simulator.httpserver import Request, Response
from simulator.jsonbody import iso_now, json_response, parse_json_object
from simulator.synthetic import domain_of, parse_state


def _error(status: int, message: str) -> Response:
    return function_error(status, message, timestamp=True)


# The orchestrator's paid providers that the provider-errors fault profile fails (reference §3.5: a failed step is
# reported in processingMetadata.errors), and the error text a failing call leaves there.
FAILING_PROVIDERS = {"hunter_io": "Hunter.io", "cobalt_sos": "Cobalt SOS", "neverbounce": "NeverBounce"}
PROVIDER_ERROR = "{name} API request failed: 503 Service Unavailable"


def enrich(request: Request, work, platform, provider_failure_rate: float = 0.0) -> Response:
    """`work.authenticate()` makes the getUser hop and returns AuthContext or AuthFailure. Each paid step calls its
    sibling function in turn with the caller's bearer (platform.sibling: worker, getUser, provider quota), unless
    --service-time replaces the function's whole work."""
    if request.method != "POST":
        return _error(405, "Method not allowed. Use POST with a JSON payload.")
    auth = work.authenticate()
    if isinstance(auth, AuthFailure):
        return _error(401, auth.error)
    if "application/json" not in request.headers.get("content-type", ""):
        return _error(400, "Invalid content type. Expected application/json payload.")
    try:
        body = parse_json_object(request.body)
    except ValueError:
        return _error(400, "Invalid JSON payload.")
    if not isinstance(body, dict):
        return _error(400, "Invalid JSON payload.")
    if not body.get("businessName"):
        return _error(400, "Missing required field: businessName")
    started = time.monotonic()
    domain = domain_of(body.get("domain") or body.get("website"))
    state = body.get("state") if isinstance(body.get("state"), str) and len(body["state"]) == 2 else parse_state(
        body.get("address"))
    authorization = work.authorization
    call = None if work.fixed_service_time else (lambda service, keys: platform.sibling(service, authorization,
                                                                                         keys))
    outcome = enrichment_waterfall(platform.rng, body, state, domain, call, platform.email_weights)
    if provider_failure_rate:  # the fault profile's failed provider calls: in errors instead of servicesUsed
        for service in [s for s in outcome["servicesUsed"] if s in FAILING_PROVIDERS]:
            if platform.rng.random() < provider_failure_rate:
                outcome["servicesUsed"].remove(service)
                outcome["errors"].append({"service": service, "error": PROVIDER_ERROR.format(name=FAILING_PROVIDERS[service])})
    return json_response(200, {
        "success": True,
        "businessName": body["businessName"],
        "originalData": {"domain": body.get("domain"), "address": body.get("address"), "phone": body.get("phone"),
                         "website": body.get("website")},
        "enrichedData": outcome["enrichedData"],
        "confidenceScore": outcome["confidenceScore"],
        "totalCost": outcome["totalCost"],
        "costBreakdown": outcome["costBreakdown"],
        "processingMetadata": {"servicesUsed": outcome["servicesUsed"], "servicesSkipped": outcome["servicesSkipped"],
                               "processingTime": int((time.monotonic() - started) * 1000),
                               "errors": outcome["errors"]},
        "timestamp": iso_now(),
        "version": "1.0",
    }, headers=CORS_HEADERS)
