"""POST /functions/v1/test-new-auth (reference §3.8): the auth diagnostic function.

Unlike the other functions it still lets `x-prospect-session: Bearer <JWT>` override Authorization, and its
envelope uses `ok` instead of `success`. There is no top-level `user` key (the Thunder test expected one).
"""

from __future__ import annotations

from simulator.edge import CORS_HEADERS, AuthFailure, token_preview
from simulator.httpserver import Request, Response
from simulator.jsonbody import iso_now, json_response, parse_json_object
from simulator.store import Store

TIER_ALIASES = {"basic": "starter", "launch": "starter", "pro": "professional", "premium": "professional",
                "growth": "professional", "business": "professional", "scale": "enterprise",
                "regulated": "compliance"}
TIERS = ("starter", "professional", "enterprise", "compliance")
TIER_HEADERS = ("x-prospectpro-tier", "x-prospectpro-tier-key", "x-prospect-tier", "x-prospect-tier-key", "x-tier",
                "x-tier-key", "x-plan-tier")
PROBE_TABLES = ("campaigns", "leads", "dashboard_exports")


def _resolve_tier(body: dict, request: Request, claims: dict) -> dict:
    candidates = []
    for field in ("tier", "tierKey", "defaultTier"):
        candidates.append((f"body.{field}", body.get(field)))
    for container in ("plan", "subscription", "campaign"):
        if isinstance(body.get(container), dict):
            candidates.append((f"body.{container}.tier", body[container].get("tier")))
            candidates.append((f"body.{container}.tierKey", body[container].get("tierKey")))
    candidates += [(f"header.{name}", request.headers.get(name)) for name in TIER_HEADERS]
    candidates.append(("jwt.tier", claims.get("tier")))
    listed = [{"source": source, "value": value} for source, value in candidates if isinstance(value, str) and value]
    for candidate in listed:
        lowered = candidate["value"].lower()
        tier = TIER_ALIASES.get(lowered, lowered)
        if tier in TIERS:
            return {"tier": tier, "tierKey": tier.upper(), "source": candidate["source"],
                    "originalValue": candidate["value"], "fallback": {"used": False}, "candidates": listed}
    return {"tier": "professional", "tierKey": "PROFESSIONAL", "source": "default", "originalValue": None,
            "fallback": {"used": True, "reason": "no recognised tier supplied"}, "candidates": listed}


def serve_test_new_auth(request: Request, authenticate, store: Store) -> Response:
    """`authenticate(header)` makes the getUser hop for that Authorization value."""
    if request.method != "POST":
        return json_response(405, {"ok": False, "error": "Method not allowed"}, headers=CORS_HEADERS)
    session_header = request.headers.get("x-prospect-session")
    authorization = request.headers.get("authorization")
    try:
        body = parse_json_object(request.body) if request.body.strip() else {}
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    request_info = {
        "method": request.method, "hasAuthorizationHeader": authorization is not None,
        "hasApiKeyHeader": "apikey" in request.headers, "hasSessionHeader": session_header is not None,
        "contentType": request.headers.get("content-type"), "payloadKeys": sorted(body),
        "authorizationPreview": token_preview(authorization), "sessionPreview": token_preview(session_header),
    }
    auth = authenticate(session_header or authorization)
    claims = {} if isinstance(auth, AuthFailure) else auth.claims
    tier = _resolve_tier(body, request, claims)
    request_info["tier"] = {"tier": tier["tier"], "tierKey": tier["tierKey"], "source": tier["source"]}
    if isinstance(auth, AuthFailure):
        return json_response(401, {
            "ok": False, "timestamp": iso_now(), "error": auth.error,
            "authentication": {"success": False, "diagnostics": auth.diagnostics()},
            "request": request_info, "tier": tier,
        }, headers=CORS_HEADERS)
    diagnostics = {"diagnosticsRequested": body.get("diagnostics") is True, "tierCandidates": tier["candidates"],
                   "sessionHeaderPreview": token_preview(session_header)}
    if body.get("diagnostics") is True:
        requested = body.get("probeTables")
        tables = [t for t in requested if t in PROBE_TABLES][:3] if isinstance(requested, list) else ["campaigns"]
        diagnostics["rlsProbes"] = [
            {"table": table, "status": "ok",
             "rows": store.scalar(f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} WHERE user_id = ? LIMIT 1)",
                                  [auth.user_id])}
            for table in tables or ["campaigns"]
        ]
    return json_response(200, {
        "ok": True, "timestamp": iso_now(), "request": request_info, "tier": tier,
        "authentication": {
            "success": True,
            "request": {"userId": auth.user_id, "email": auth.email, "sessionId": auth.session_id,
                        "isAnonymous": auth.is_anonymous, "tokenPreview": token_preview(auth.token),
                        "tier": tier["tier"], "tierKey": tier["tierKey"], "tierSource": tier["source"]},
            "environment": {"supabaseUrl": None, "publishableTokenPreview": None, "serviceRolePreview": None},
            "tokenClaims": auth.claims,
        },
        "diagnostics": diagnostics,
    }, headers=CORS_HEADERS)
