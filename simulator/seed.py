"""The data that exists at start: per seeded user a profile and one completed campaign of exactly 100 leads (the
export SLA is stated for 100 leads). Everything derives from --seed and a fixed creation time, so the same seed
gives the same ids and rows in every run."""

from __future__ import annotations

import random

from simulator.costs import VALIDATION_COST
from simulator.gotrue import GoTrue
from simulator.jsonbody import pg_timestamp
from simulator.store import Store
from simulator.synthetic import SEEDED_CAMPAIGN_TYPES, business_candidates, campaign_id, data_sources, score

SEEDED_AT_EPOCH = 1760702400  # 2025-10-17T12:00:00Z, the reference's snapshot week
SEEDED_CAMPAIGN_LEADS = 100


def seeded_at() -> str:
    return pg_timestamp(SEEDED_AT_EPOCH)


def seed(store: Store, gotrue: GoTrue, rng: random.Random) -> dict[str, str]:
    """Insert profiles, campaigns and leads; returns user email -> seeded campaign id."""
    created = seeded_at()
    campaigns: dict[str, str] = {}
    leads: list[dict] = []
    for index, user in enumerate(gotrue.users_by_id.values()):
        store.insert("user_profiles", {
            "id": user.id, "email": user.email, "full_name": f"Load Test {index + 1}", "avatar_url": None,
            "subscription_tier": "free", "total_spent": 0, "monthly_budget": 100.0,
            "created_at": created, "updated_at": created,
        })
        business_type, location = SEEDED_CAMPAIGN_TYPES[index % len(SEEDED_CAMPAIGN_TYPES)]
        cid = campaign_id(rng, business_type, location, user.id, (SEEDED_AT_EPOCH + index * 60) * 1000)
        campaigns[user.email] = cid
        candidates = business_candidates(rng, business_type, location, SEEDED_CAMPAIGN_LEADS)
        scores = []
        for candidate in candidates:
            lead_score = score(candidate)
            scores.append(lead_score)
            sources = data_sources(candidate)
            leads.append({
                "campaign_id": cid, "business_name": candidate["name"], "address": candidate["address"],
                "phone": candidate["phone"], "website": candidate["website"], "email": "",
                "confidence_score": lead_score, "score_breakdown": None, "validation_cost": VALIDATION_COST,
                "enrichment_data": {
                    "verificationSources": sources, "emails": [], "dataSources": sources,
                    "processingMetadata": {"totalCost": VALIDATION_COST, "validationCost": VALIDATION_COST,
                                           "enrichmentCost": 0, "totalConfidenceBoost": 0,
                                           "processingStrategy": "basic", "servicesUsed": [], "servicesSkipped": [],
                                           "enrichmentTier": "Base", "emailStatus": "not_found"},
                },
                "cost_efficient": True, "scoring_recommendation": None, "created_at": created,
                "updated_at": created, "user_id": user.id, "session_user_id": None,
            })
        store.insert("campaigns", {
            "id": cid, "business_type": business_type, "location": location,
            "target_count": SEEDED_CAMPAIGN_LEADS, "budget_limit": round(SEEDED_CAMPAIGN_LEADS * 0.15, 2),
            "min_confidence_score": 50, "status": "completed", "results_count": SEEDED_CAMPAIGN_LEADS,
            "total_cost": round(SEEDED_CAMPAIGN_LEADS * VALIDATION_COST, 3), "processing_time_ms": 95000,
            "created_at": created, "updated_at": created, "user_id": user.id, "session_user_id": None,
            "campaign_hash": None,
        })
    store.insert_many("leads", leads)
    return campaigns
