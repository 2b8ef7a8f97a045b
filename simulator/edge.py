"""What every ProspectPro edge function shares: CORS, and `authenticateRequest` with its exact error texts.

Functions run with verify_jwt = false, so the gateway checks nothing; each function calls GoTrue's getUser with the
bearer token (the extra hop whose latency the app adds before the function's own work).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from simulator.gotrue import GoTrue, TokenError, USER_NOT_FOUND
from simulator.httpserver import Response
from simulator.jsonbody import iso_now, json_response

CORS_HEADERS = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Headers", "authorization, x-client-info, apikey, content-type, x-prospect-session, "
     "x-highlight-request, x-highlight-trace, x-highlight-session, x-highlight-project, x-highlight-user, "
     "x-highlight-origin"),
    ("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS"),
    ("Access-Control-Expose-Headers", "x-highlight-request, x-highlight-trace, x-highlight-session, "
     "x-highlight-project, x-highlight-user, x-highlight-origin"),
]


def function_error(status: int, message: str, *, timestamp: bool = False, **extra) -> Response:
    """The functions' error envelope `{success: false, error, ...}` with CORS headers; some functions add a
    `timestamp` (and diagnostics or highlight fields) to it."""
    body = {"success": False, "error": message}
    if timestamp:
        body["timestamp"] = iso_now()
    body.update(extra)
    return json_response(status, body, headers=CORS_HEADERS)


def preflight() -> Response:
    return Response(200, b"", content_type=None, headers=CORS_HEADERS)


@dataclass
class AuthContext:
    user_id: str
    email: str
    is_anonymous: bool
    session_id: str | None
    claims: dict
    token: str


@dataclass
class AuthFailure:
    stage: str
    reason: str
    message: str
    token: str | None

    @property
    def error(self) -> str:
        return f"Auth failure ({self.stage}): {self.message}"

    def diagnostics(self) -> dict:
        claims = unverified_claims(self.token) if self.token else {}
        return {
            "stage": self.stage, "failureReason": self.reason, "tokenPreview": token_preview(self.token),
            "hasSubClaim": "sub" in claims, "hasSessionIdClaim": "session_id" in claims,
            "claimKeys": sorted(claims), "usedServiceFallback": self.stage == "verify_user_service",
        }


def token_preview(token: str | None) -> str | None:
    """Enough of a token to recognise it in a log, never the token itself."""
    if not token:
        return None
    return f"{token[:12]}...{token[-6:]}" if len(token) > 24 else f"{token[:4]}..."


def unverified_claims(token: str) -> dict:
    """The payload of a JWT-shaped token without checking it ({} if it is not one)."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, json.JSONDecodeError):
        return {}
    return payload if isinstance(payload, dict) else {}


def extract_bearer(header: str | None) -> str | AuthFailure:
    if not header:
        return AuthFailure("extract_token", "missing_header", "Missing Authorization bearer token", None)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return AuthFailure("extract_token", "invalid_bearer_format", "Invalid Authorization header format", None)
    return token.strip()


def authenticate(gotrue: GoTrue, authorization: str | None) -> AuthContext | AuthFailure:
    """`authenticateRequest` of F/_shared/edge-auth.ts: the bearer token, checked by GoTrue's getUser."""
    token = extract_bearer(authorization)
    if isinstance(token, AuthFailure):
        return token
    try:
        claims, user = gotrue.verify(token)
    except TokenError as error:
        reason = "user_not_found" if error.error is USER_NOT_FOUND else "service_lookup_failed"
        return AuthFailure("verify_user_service", reason, str(error), token)
    return AuthContext(user.id, user.email, bool(claims.get("is_anonymous")), claims.get("session_id"), claims, token)
