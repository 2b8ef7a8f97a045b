"""POST /functions/v1/enrichment-orchestrator (reference §3.5): its order of checks, exact errors, and body."""

from __future__ import annotations

import random
import time

from simulator.costs import enrichment_waterfall
from simulator.edge import CORS_HEADERS, AuthFailure, function_error
from simulator.httpserver import Request, Response
from simulator.jsonbody import iso_now, json_response, parse_json_object
from simulator.synthetic import domain_of, parse_state


def _error(status: int, message: str) -> Response:
    return function_error(status, message, timestamp=True)


def enrich(request: Request, authenticate, rng: random.Random) -> Response:
    """`authenticate()` makes the getUser hop and returns AuthContext or AuthFailure."""
    if request.method != "POST":
        return _error(405, "Method not allowed. Use POST with a JSON payload.")
    auth = authenticate()
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
    outcome = enrichment_waterfall(rng, body, state, domain)
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
                               "processingTime": int((time.monotonic() - started) * 1000), "errors": []},
        "timestamp": iso_now(),
        "version": "1.0",
    }, headers=CORS_HEADERS)
