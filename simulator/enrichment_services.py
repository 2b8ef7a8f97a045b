"""The orchestrator's paid sub-services that clients (and the Thunder collection) also call directly:
`enrichment-hunter` and `enrichment-neverbounce` (reference §3.6).

Specified by the reference and reproduced exactly: the actions and their unit costs, Hunter's 500 "Unknown action:
undefined" / "<param> is required for <action>", NeverBounce's 400 "Missing required field: action", domain-search
emails under `value`, NeverBounce's 1 s pause between the emails of a batch. Where the reference is silent (the
inner shape of `data`), the bodies follow the providers' public API shapes.
"""

from __future__ import annotations

import random

from simulator.edge import CORS_HEADERS, AuthFailure, function_error
from simulator.httpserver import Request, Response
from simulator.jsonbody import iso_now, json_response, parse_json_object
from simulator.synthetic import person_email

HUNTER_COSTS = {"email-count": 0.0, "domain-search": 0.034, "email-finder": 0.034, "email-verifier": 0.01,
                "person-enrichment": 0.034, "company-enrichment": 0.034}
HUNTER_REQUIRED = {"domain-search": ("domain",), "email-finder": ("domain", "firstName", "lastName"),
                   "email-verifier": ("email",), "person-enrichment": ("email",), "company-enrichment": ("domain",),
                   "email-count": ("domain",)}
NEVERBOUNCE_COST = 0.008
NEVERBOUNCE_ACTIONS = ("verify", "verify-batch", "account-info", "syntax-check")
HUNTER_MONTHLY_REQUESTS = 25_000


def _error(status: int, message: str) -> Response:
    return function_error(status, message, timestamp=True)


def _body(request: Request) -> dict | None:
    try:
        body = parse_json_object(request.body)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


HUNTER_QUOTA_ERROR = "Hunter API error: 429 Too Many Requests"
NEVERBOUNCE_QUOTA_ERROR = "NeverBounce API error: 429 Too Many Requests"


class EnrichmentServices:
    def __init__(self, rng: random.Random, platform):
        self._rng = rng
        self._platform = platform
        self._hunter_requests = 0

    def _provider(self, work, quota: str, latency_class: str, calls: int = 1, pause_s: float = 0.0) -> bool:
        """The provider call(s) through its quota; their time is the function's own (work.timed)."""
        if work.fixed_service_time:
            return True
        work.timed = True
        return self._platform.provider_call(quota, latency_class, calls, pause_s)

    # --- enrichment-hunter -----------------------------------------------------------------------------------------
    def hunter(self, request: Request, authenticate, work) -> Response:
        auth = authenticate()
        if isinstance(auth, AuthFailure):
            return _error(401, auth.error)
        body = _body(request)
        if body is None:
            return _error(500, "Unexpected end of JSON input")
        action = body.get("action")
        if action not in HUNTER_COSTS:
            return _error(500, f"Unknown action: {'undefined' if action is None else action}")
        for param in HUNTER_REQUIRED[action]:
            if not body.get(param):
                return _error(500, f"{param} is required for {action}")
        if action != "email-count" and not self._provider(work, "hunter-api", "enrichment-hunter"):
            return _error(500, HUNTER_QUOTA_ERROR)
        self._hunter_requests += 1
        data, confidence = self._hunter_data(action, body)
        answer = {"success": True, "action": action, "data": data, "cost": HUNTER_COSTS[action]}
        if confidence is not None:
            answer["confidence"] = confidence
        answer["metadata"] = {"requests_remaining": max(0, HUNTER_MONTHLY_REQUESTS - self._hunter_requests),
                              "requests_used": self._hunter_requests, "tier": body.get("tier")}
        answer.update(timestamp=iso_now(), version="1.0")
        return json_response(200, answer, headers=CORS_HEADERS)

    def _hunter_data(self, action: str, body: dict) -> tuple[dict, int | None]:
        rng = self._rng
        domain = str(body.get("domain") or "")
        if action == "email-count":
            personal = rng.randint(0, 12)
            return {"total": personal + 1, "personal_emails": personal, "generic_emails": 1}, None
        if action == "domain-search":
            emails = []
            for _ in range(min(int(body.get("limit") or 10), rng.choice((0, 1, 2, 3)))):
                email, first, last = person_email(rng, domain)
                emails.append({"value": email, "type": "personal", "confidence": rng.randint(60, 98),
                               "first_name": first, "last_name": last, "position": "Owner"})
            return {"domain": domain, "organization": body.get("companyName"), "emails": emails}, None
        if action == "email-finder":
            first, last = str(body["firstName"]).lower(), str(body["lastName"]).lower()
            score = rng.randint(55, 97)
            return {"email": f"{first}.{last}@{domain}", "score": score, "domain": domain,
                    "first_name": body["firstName"], "last_name": body["lastName"]}, score
        if action == "email-verifier":
            score = rng.randint(40, 99)
            return {"email": body["email"], "status": "valid" if score >= 70 else "accept_all",
                    "result": "deliverable" if score >= 70 else "risky", "score": score}, score
        if action == "person-enrichment":
            return {"email": body["email"], "name": None, "employment": None}, None
        return {"domain": domain, "name": body.get("companyName"), "metrics": {"employees": rng.randint(2, 250)}}, None

    # --- enrichment-neverbounce --------------------------------------------------------------------------------------
    def neverbounce(self, request: Request, authenticate, work) -> Response:
        auth = authenticate()
        if isinstance(auth, AuthFailure):
            return _error(401, auth.error)
        body = _body(request)
        if body is None:
            return _error(400, "Invalid JSON payload")
        action = body.get("action")
        if not action:
            return _error(400, "Missing required field: action")
        if action not in NEVERBOUNCE_ACTIONS:
            return _error(400, f"Unknown action: {action}")
        if action == "account-info":
            return self._neverbounce_answer(action, {"credits_info": {"free_credits_remaining": 1000,
                                                                      "paid_credits_remaining": 0}}, 0.0)
        if action == "verify-batch":
            emails = body.get("emails")
            if not isinstance(emails, list) or not emails:
                return _error(400, "Missing required field: emails")
            cost = round(NEVERBOUNCE_COST * len(emails), 3)
            budget = body.get("maxCostPerRequest", 2.0)
            if isinstance(budget, (int, float)) and cost > budget:
                return _error(500, f"Batch verification cost ${cost} exceeds maxCostPerRequest ${budget}")
            # one verification per email, with the function's pause between them
            if not self._provider(work, "neverbounce-api", "enrichment-neverbounce", len(emails),
                                  self._platform.neverbounce_pause_s):
                return _error(500, NEVERBOUNCE_QUOTA_ERROR)
            results = [self._verification(str(email)) for email in emails]
            return self._neverbounce_answer(action, {"results": results, "total": len(results)}, cost)
        email = body.get("email")
        if not email:
            return _error(400, "Missing required field: email")
        if action == "syntax-check":
            return self._neverbounce_answer(action, {"email": email, "valid": _plausible(str(email))}, 0.0)
        if not self._provider(work, "neverbounce-api", "enrichment-neverbounce"):
            return _error(500, NEVERBOUNCE_QUOTA_ERROR)
        return self._neverbounce_answer(action, self._verification(str(email)), NEVERBOUNCE_COST)

    def _verification(self, email: str) -> dict:
        if not _plausible(email):
            result, flags = "invalid", ["bad_syntax"]
        else:
            result = self._rng.choices(("valid", "catchall", "unknown", "invalid"), (70, 15, 10, 5))[0]
            flags = ["has_dns", "has_dns_mx"] if result != "invalid" else ["has_dns"]
        local, _, host = email.partition("@")
        return {"email": email, "result": result, "flags": flags, "suggested_correction": "",
                "address_info": {"original_email": email, "normalized_email": email.lower(), "addr": local,
                                 "host": host, "domain": host.rsplit(".", 1)[0] if "." in host else host,
                                 "tld": host.rsplit(".", 1)[1] if "." in host else ""},
                "execution_time": self._rng.randint(150, 900)}

    @staticmethod
    def _neverbounce_answer(action: str, data: dict, cost: float) -> Response:
        return json_response(200, {"success": True, "action": action, "data": data, "cost": cost,
                                   "timestamp": iso_now()}, headers=CORS_HEADERS)


def _plausible(email: str) -> bool:
    local, at, host = email.partition("@")
    return bool(local) and bool(at) and "." in host and " " not in email
