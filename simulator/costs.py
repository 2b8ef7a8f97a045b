"""ProspectPro's cost model (reference §7): customer tiers, the $0.02 validation cost per lead, Google Places unit
costs, and the enrichment orchestrator's waterfall with its per-business budget cap."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from simulator.synthetic import PERSON_FIRST, PERSON_LAST, person_email, random_upper_alnum

VALIDATION_COST = 0.02
GOOGLE_TEXT_SEARCH_COST = 0.032
GOOGLE_PLACE_DETAILS_COST = 0.017


@dataclass(frozen=True)
class Tier:
    key: str
    name: str
    price_per_lead: float
    max_cost_per_lead: float
    orchestrator_tier: str
    verify_emails: bool
    person_enrichment: bool
    apollo: bool

    def as_config(self) -> dict:
        return {"key": self.key, "name": self.name, "pricePerLead": self.price_per_lead}


TIERS = {
    "BASE": Tier("BASE", "Base", 0.15, 0.50, "starter", False, False, False),
    "PROFESSIONAL": Tier("PROFESSIONAL", "Professional", 0.45, 1.50, "professional", True, False, False),
    "ENTERPRISE": Tier("ENTERPRISE", "Enterprise", 2.50, 7.50, "enterprise", True, True, True),
}


def resolve_tier(tier_key, tier_name) -> Tier:
    """Unknown or missing tierKey -> match by tierName (case-insensitive) -> BASE. Never an error (reference §10)."""
    if isinstance(tier_key, str) and tier_key.upper() in TIERS:
        return TIERS[tier_key.upper()]
    if isinstance(tier_name, str):
        for tier in TIERS.values():
            if tier.name.lower() == tier_name.lower():
                return tier
    return TIERS["BASE"]


# Orchestrator tiers: defaults for the flags a request may override (reference §3.5).
ORCHESTRATOR_DEFAULTS = {
    "starter": dict(discoverEmails=True, verifyEmails=False, includeBusinessLicense=False,
                    includeCompanyEnrichment=False, includePersonEnrichment=False, apolloEnrichment=False,
                    complianceVerification=False),
    "professional": dict(discoverEmails=True, verifyEmails=True, includeBusinessLicense=True,
                         includeCompanyEnrichment=True, includePersonEnrichment=False, apolloEnrichment=False,
                         complianceVerification=False),
    "enterprise": dict(discoverEmails=True, verifyEmails=True, includeBusinessLicense=True,
                       includeCompanyEnrichment=True, includePersonEnrichment=True, apolloEnrichment=False,
                       complianceVerification=False),
    "compliance": dict(discoverEmails=True, verifyEmails=True, includeBusinessLicense=True,
                       includeCompanyEnrichment=True, includePersonEnrichment=True, apolloEnrichment=True,
                       complianceVerification=True),
}
DEFAULT_MAX_COST_PER_BUSINESS = 2.0

HUNTER_COST = 0.034
COBALT_COST = 0.90
STATE_LICENSE_COST = 0.05
PDL_COMPANY_COST = 0.05
PDL_PERSON_COST = 0.28
NEVERBOUNCE_COST = 0.008
APOLLO_COST = 1.00


def orchestrator_tier(body: dict) -> str:
    """`tier`, else `tierKey`, matched by substring; default professional."""
    for field in ("tier", "tierKey"):
        value = body.get(field)
        if isinstance(value, str):
            lowered = value.lower()
            for name in ("compliance", "enterprise", "professional", "starter"):
                if name in lowered:
                    return name
    return "professional"


class KeyedDraws:
    """Deterministic draws from a key (the same key, the same draws), as a few calls of random.Random's choice,
    choices, randint: a hash instead of seeding a Mersenne Twister, which costs ~30 us per key on the hot path."""

    __slots__ = ("_bytes", "_next")

    def __init__(self, key: str):
        self._bytes = hashlib.blake2b(key.encode(), digest_size=64).digest()
        self._next = 0

    def random(self) -> float:
        index = self._next
        self._next = (index + 2) % 64
        return int.from_bytes(self._bytes[index:index + 2], "big") / 65536.0

    def randint(self, low: int, high: int) -> int:
        return low + int(self.random() * (high - low + 1))

    def choice(self, items):
        return items[int(self.random() * len(items))]

    def choices(self, population, weights):
        point = self.random() * sum(weights)
        for item, weight in zip(population, weights):
            point -= weight
            if point < 0:
                return [item]
        return [population[-1]]


DEFAULT_EMAIL_WEIGHTS = (1, 2, 1, 1)  # 0, 1, 2, 3 emails (profiles.toml [enrichment] sets the model's)


def enrichment_waterfall(rng: random.Random, body: dict, state: str | None, domain: str, call=None,
                         email_weights=DEFAULT_EMAIL_WEIGHTS) -> dict:
    """Run the orchestrator's paid steps in order, each only if it still fits under maxCostPerBusiness.

    `call(service, keys)` makes the step's sibling-function call and returns (error, paid): error None when it
    answered (else the text; the step then adds no cost nor data but an entry in `errors`), `paid` how many of
    `keys` (the domain for Hunter, the emails for NeverBounce) went to the provider rather than the function's
    in-isolate cache (a cached lookup costs nothing). What Hunter finds for a domain and what NeverBounce says of an
    email are seeded by the domain and the email, so the same business always gives the same answers. Returns the
    200 body's enrichedData, costBreakdown, totalCost, confidenceScore, servicesUsed, servicesSkipped, errors.
    """
    tier = orchestrator_tier(body)
    flags = dict(ORCHESTRATOR_DEFAULTS[tier])
    for flag in flags:
        if isinstance(body.get(flag), bool):
            flags[flag] = body[flag]
    limit = body.get("maxCostPerBusiness")
    limit = float(limit) if isinstance(limit, (int, float)) and not isinstance(limit, bool) else DEFAULT_MAX_COST_PER_BUSINESS
    business_name = str(body.get("businessName"))

    used: list[str] = []
    skipped: list[str] = []
    breakdown = {"businessLicenseCost": 0.0, "companyEnrichmentCost": 0.0, "hunterCost": 0.0, "neverBounceCost": 0.0,
                 "personEnrichmentCost": 0.0, "apolloCost": 0.0, "complianceCost": 0.0}
    enriched: dict = {"emails": []}
    errors: list[dict] = []
    spent = 0.0
    confidence = 40

    paid = [0]

    def affordable(service: str, estimate: float, keys: list[str] | None = None) -> bool:
        if spent + estimate > limit + 1e-9:
            skipped.append(f"{service} (budget)")
            return False
        keys = keys if keys is not None else [business_name]
        error, paid[0] = call(service, keys) if call is not None else (None, len(keys))
        if error is not None:
            errors.append({"service": service, "error": error})
            return False
        return True

    if flags["discoverEmails"] and domain and affordable("hunter_io", HUNTER_COST, [domain]):
        cost = HUNTER_COST * paid[0]
        spent += cost
        breakdown["hunterCost"] += cost
        used.append("hunter_io")
        found = KeyedDraws(f"hunter|{domain}")
        for _ in range(found.choices(range(len(email_weights)), email_weights)[0]):
            email, first, last = person_email(found, domain)
            if any(known["email"] == email for known in enriched["emails"]):
                continue
            enriched["emails"].append({"email": email, "confidence": found.randint(60, 98), "verified": False,
                                       "type": "personal", "firstName": first, "lastName": last,
                                       "position": found.choice(("Owner", "Manager", "Director", "Partner"))})
        confidence += 10 if enriched["emails"] else 0
    if flags["complianceVerification"] or flags["includeBusinessLicense"]:
        if not state:
            skipped.append("cobalt_sos (missing state)")
        elif affordable("cobalt_sos", COBALT_COST):
            spent += COBALT_COST
            breakdown["complianceCost"] += COBALT_COST
            used.append("cobalt_sos")
            enriched["secretaryOfState"] = {
                "entityName": business_name.upper(), "registryNumber": random_upper_alnum(rng, 10),
                "status": "Active", "state": state, "goodStanding": True, "source": "cobalt_intelligence", "raw": {},
            }
            confidence += 15
    if flags["includeBusinessLicense"] and state and affordable("state_license", STATE_LICENSE_COST):
        spent += STATE_LICENSE_COST
        breakdown["businessLicenseCost"] += STATE_LICENSE_COST
        used.append("state_license")
        enriched["businessLicense"] = {
            "isValid": True, "licenseNumber": f"{state}-{rng.randint(100000, 999999)}", "status": "active",
            "expirationDate": f"{rng.randint(2026, 2028)}-12-31", "professionalType": "general business",
            "source": "state_license",
        }
        confidence += 10
    if flags["includeCompanyEnrichment"] and affordable("people_data_labs_company", PDL_COMPANY_COST):
        spent += PDL_COMPANY_COST
        breakdown["companyEnrichmentCost"] += PDL_COMPANY_COST
        used.append("people_data_labs_company")
        enriched["companyInfo"] = {"name": business_name, "domain": domain or None,
                                   "employeeCount": rng.randint(2, 250), "founded": rng.randint(1950, 2022)}
        confidence += 5
    if flags["includePersonEnrichment"] and affordable("people_data_labs_person", PDL_PERSON_COST):
        spent += PDL_PERSON_COST
        breakdown["personEnrichmentCost"] += PDL_PERSON_COST
        used.append("people_data_labs_person")
        first, last = rng.choice(PERSON_FIRST).title(), rng.choice(PERSON_LAST).title()
        enriched["personEnrichment"] = [{
            "name": f"{first} {last}", "title": "Owner",
            "email": f"{first.lower()}.{last.lower()}@{domain}" if domain else None,
            "phone": None, "linkedin": f"https://www.linkedin.com/in/{first.lower()}-{last.lower()}",
            "confidence": rng.randint(60, 95),
        }]
        confidence += 5
    emails = enriched["emails"]
    if flags["verifyEmails"] and emails and affordable("neverbounce", NEVERBOUNCE_COST * len(emails),
                                                       [email["email"] for email in emails]):
        cost = NEVERBOUNCE_COST * paid[0]
        spent += cost
        breakdown["neverBounceCost"] += cost
        used.append("neverbounce")
        for email in emails:
            result = KeyedDraws(f"neverbounce|{email['email']}").choices(("valid", "catchall", "invalid"),
                                                                         (7, 2, 1))[0]
            email["verified"] = result == "valid"
            email["verificationResult"] = result
        confidence += 10 if any(email["verified"] for email in emails) else 0
    if flags["apolloEnrichment"] and domain and affordable("apollo", APOLLO_COST):
        spent += APOLLO_COST
        breakdown["apolloCost"] += APOLLO_COST
        used.append("apollo")
        enriched["executiveContacts"] = [{"name": "Executive Contact", "title": "CEO", "email": None,
                                          "source": "apollo", "confidence": 70}]
    return {
        "enrichedData": enriched,
        "costBreakdown": {name: round(value, 4) for name, value in breakdown.items()},
        "totalCost": round(spent, 4),
        "confidenceScore": min(100, confidence),
        "servicesUsed": used,
        "servicesSkipped": skipped,
        "errors": errors,
    }
