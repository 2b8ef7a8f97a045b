"""Business discovery: the background function with its job state machine, and the synchronous optimized function.

Reference §3.1 and §3.3. The background job walks the reference's stage/progress table on `discovery_jobs`,
writes the campaign when the job starts and the leads at the end, and ends `completed` or `failed` (a failed job
leaves its campaign `processing`, as the real one does). Its duration follows its work (profiles.toml [job]):
Google result pages, Place Details per result, extra passes, one orchestrator call per lead, PostgREST writes.

Code-faithful cost note: the job's internal call to enrichment-orchestrator carries the service-role key, which
`getUser` cannot resolve, so in ProspectPro's code it is answered 401 and each lead keeps only its $0.02
validation cost (reference §3.1, "Inference"). The simulator reproduces that (the call still takes an orchestrator
worker and a GoTrue getUser); paid enrichment happens only when a client calls enrichment-orchestrator itself.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from typing import Any

import gevent

from simulator.costs import VALIDATION_COST, resolve_tier
from simulator.edge import CORS_HEADERS, AuthContext, function_error
from simulator.httpserver import Response
from simulator.jsonbody import iso_now, json_response, parse_json_object, pg_timestamp
from simulator.profiles import JobWork
from simulator.store import Store
from simulator.synthetic import base36, business_candidates, campaign_id, data_sources, score, without_details

OPTIMIZED_CACHE_LIMIT = 10_000
GOOGLE_MAX_CANDIDATES = 8 * 60  # at most 8 discovery passes of Google's 60 results each
# searchGooglePlaces throws this when the first text-search page is not OK (F/business-discovery-background).
GOOGLE_QUOTA_ERROR = "Google Places API failed: OVER_QUERY_LIMIT"
GOOGLE_FAILURE_ERROR = "Google Places API request failed: 503 Service Unavailable"


def _sha256(payload) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _number_or(value, default):
    """JavaScript's `value ?? default` for a numeric field (booleans and strings are not numbers here)."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def _positive_int(value, default: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 1:
        return default
    return int(value)


def _keywords(value) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        return []
    return [str(item).strip() for item in value if str(item).strip()]


class Discovery:
    def __init__(self, store: Store, rng: random.Random, platform, plan: JobWork, service_role_key: str, new_uuid,
                 failure_rate=lambda: 0.0):
        self._store = store
        self._rng = rng
        self._platform = platform
        self._plan = plan
        self._service_role_key = service_role_key
        self._new_uuid = new_uuid
        self._failure_rate = failure_rate
        self.jobs: set[gevent.Greenlet] = set()
        self._optimized_cache: dict[tuple, tuple[float, list[dict]]] = {}  # key -> (expiry, candidates)

    # --- POST /functions/v1/business-discovery-background ----------------------------------------------------------
    def submit(self, body_bytes: bytes, auth: AuthContext, defer=None) -> Response:
        """`defer(start)` runs `start` once the response is ready (after the function's own time: the RPC and
        the insert happen before EdgeRuntime.waitUntil starts the job); None starts it at once."""
        try:
            body = parse_json_object(body_bytes)
        except ValueError as error:
            return function_error(500, str(error))
        if not isinstance(body, dict):
            return function_error(500, "Cannot destructure the request body")
        session_user_id = body.get("sessionUserId")
        if session_user_id is not None and session_user_id != auth.user_id:
            return function_error(403, "Session mismatch detected. Please re-authenticate.")
        tier = resolve_tier(body.get("tierKey"), body.get("tierName"))
        max_results = _positive_int(body.get("maxResults"), 5)
        budget_limit = float(_number_or(body.get("budgetLimit"), round(max_results * tier.price_per_lead, 2)))
        min_confidence = _number_or(body.get("minConfidenceScore"), 50)
        business_type = str(body.get("businessType") or "")
        location = str(body.get("location") or "")
        options = {"tradeAssociation": False, "professionalLicense": False, "chamberVerification": False,
                   "apolloDiscovery": False}
        if isinstance(body.get("options"), dict):
            options.update({k: v for k, v in body["options"].items() if k in options})
        resolved_session = session_user_id or auth.session_id or (auth.user_id if auth.is_anonymous else None)
        tracking_user = None if auth.is_anonymous else auth.user_id

        job_id = "job_" + self._new_uuid().replace("-", "")
        now_ms = int(time.time() * 1000)
        campaign = campaign_id(self._rng, business_type, location, auth.user_id, now_ms)
        campaign_hash = _sha256({"businessType": business_type, "location": location,
                                 "minConfidenceScore": min_confidence})
        config = {
            "businessType": business_type, "location": location, "keywords": _keywords(body.get("keywords")),
            "searchRadius": body.get("searchRadius"), "expandGeography": bool(body.get("expandGeography")),
            "maxResults": max_results, "budgetLimit": budget_limit, "minConfidenceScore": min_confidence,
            "tier": tier.as_config(), "sessionUserId": resolved_session, "userId": tracking_user, "options": options,
        }
        now = pg_timestamp()
        self._store.insert("discovery_jobs", {
            "id": job_id, "campaign_id": campaign, "user_id": tracking_user, "session_user_id": resolved_session,
            "status": "pending", "progress": 0, "current_stage": "initializing", "config": config, "results": [],
            "metrics": {}, "created_at": now, "updated_at": now,
        })
        def start() -> None:
            job = gevent.spawn(self._run_job, job_id, campaign, campaign_hash, config, tier)
            self.jobs.add(job)
            job.link(self.jobs.discard)

        (defer or (lambda run: run()))(start)
        headers = [*CORS_HEADERS, ("Cache-Control", "private, max-age=30, must-revalidate"), ("ETag", f'W/"{job_id}"')]
        return json_response(200, {
            "success": True, "message": "Discovery job created and processing in background", "jobId": job_id,
            "campaignId": campaign, "status": "processing", "estimatedTime": "1-2 minutes",
            "realtimeChannel": f"discovery_jobs:id=eq.{job_id}",
            "deduplication": {"campaignHash": campaign_hash, "mode": "user" if tracking_user else "session",
                              "trackedId": tracking_user or resolved_session},
        }, headers=headers)

    # --- the background job -------------------------------------------------------------------------------------
    def _run_job(self, job_id: str, campaign: str, campaign_hash: str, config: dict, tier) -> None:
        try:
            self._walk_job(job_id, campaign, campaign_hash, config, tier)
        except Exception as error:  # as processDiscoveryJob's catch: the job ends failed with the error text
            self._store.update("discovery_jobs", job_id, {"status": "failed", "error": str(error),
                                                          "completed_at": pg_timestamp(), "updated_at": pg_timestamp()})

    def _walk_job(self, job_id: str, campaign: str, campaign_hash: str, config: dict, tier) -> None:
        """processDiscoveryJob's pipeline through the components, its duration following the work: Google result
        pages (a pause between pages), one Place Details call per result (spaced), up to 8 passes while too few
        leads qualify, one enrichment-orchestrator call per lead, and the PostgREST writes of each stage."""
        rng = random.Random(f"{job_id}")  # per job, so concurrent jobs do not reorder each other's draws
        platform, plan, store = self._platform, self._plan, self._store
        scale = platform.job_time_scale
        started = time.monotonic()

        def update(**changes) -> None:
            platform.db_write()
            changes["updated_at"] = pg_timestamp()
            store.update("discovery_jobs", job_id, changes)

        def fail(error: str, **changes) -> None:
            update(status="failed", error=error, completed_at=pg_timestamp(), **changes)

        def google_call(latency_class: str) -> bool:
            return platform.spend("google-places", 1, platform.latency.seconds(latency_class, platform.profile,
                                                                               scale=scale))

        max_results = config["maxResults"]
        platform.db_write()  # campaign upsert
        now = pg_timestamp()
        store.insert("campaigns", {
            "id": campaign, "business_type": config["businessType"], "location": config["location"],
            "target_count": max_results, "results_count": 0, "total_cost": 0, "status": "processing",
            "campaign_hash": campaign_hash, "user_id": config["userId"], "session_user_id": config["sessionUserId"],
            "budget_limit": config["budgetLimit"], "min_confidence_score": config["minConfidenceScore"],
            "created_at": now, "updated_at": now,
        })
        platform.db_write()  # campaign_request_snapshots insert
        platform.db_write()  # the user's lead_fingerprints
        update(status="processing", current_stage="discovering_businesses", progress=10, started_at=pg_timestamp())

        # Discovery passes. How many results Google has is a property of the query (seeded by it).
        query = random.Random(f"google|{config['businessType']}|{config['location']}")
        available = query.randint(*plan.google_results)
        buffer_cap = min(max(10 * max_results, max_results + 20), GOOGLE_MAX_CANDIDATES)
        # processDiscoveryJob runs every expansion step while it is short (steps x5..x10 set expandGeography
        # themselves), whatever the request's expandGeography says.
        multipliers = [1.0, *plan.pass_multipliers, *plan.expand_multipliers]
        # Google over its quota answers OVER_QUERY_LIMIT at once (profiles.toml [components.google-places]), and
        # searchGooglePlaces reacts as its code does: a first text-search page not OK throws (the job fails); a
        # later page not OK ends the pagination with the results so far; a Place Details answer without a result
        # keeps the business without phone or website (and it scores lower).
        found, passes, google_calls, over_quota = 0, 0, 0, 0
        candidates: list[dict] = []
        for multiplier in multipliers[:8]:
            passes += 1
            results = min(available, plan.results_per_page * plan.max_pages)
            pages = max(1, -(-results // plan.results_per_page))
            fetched = 0
            for page in range(pages):
                if page:
                    platform.pause(plan.page_interval_s, scale)
                if not google_call("google-text-search"):
                    over_quota += 1
                    if page == 0:
                        fail(GOOGLE_QUOTA_ERROR, metrics={"google_calls": google_calls,
                                                          "google_over_quota": over_quota})
                        return
                    break
                google_calls += 1
                fetched = min(results, (page + 1) * plan.results_per_page)
            # searchGooglePlaces asks Place Details for every result it fetched (up to 60, whatever maxResults),
            # in every pass: a repeated pass pays for the same places again and addUniqueBusinesses drops them; the
            # expanded passes find new ones (Foursquare's, as expandGeography queries it)
            answered = []
            for _ in range(fetched):
                answered.append(google_call("google-place-details"))
                platform.pause(plan.details_spacing_s, scale)
            google_calls += sum(answered)
            over_quota += fetched - sum(answered)
            new = fetched if (passes == 1 or multiplier in plan.expand_multipliers) else 0
            new = min(new, buffer_cap - found)
            if new:
                batch = business_candidates(rng, config["businessType"], config["location"], new)
                candidates += [c if ok else without_details(c) for c, ok in zip(batch, answered)]
                found += new
            # another pass only while fewer unique businesses than maxResults were found (qualified or not)
            if found >= max_results or found >= buffer_cap:
                break
        if rng.random() < self._failure_rate():
            fail(GOOGLE_FAILURE_ERROR)
            return
        found = max(found, 1) if candidates else 0
        sources = sorted({source for candidate in candidates for source in data_sources(candidate)})
        metrics: dict[str, Any] = {
            "businesses_found": found, "fresh_after_dedup": found, "raw_candidates": found,
            "previously_delivered_filtered": 0, "user_dedup_filtered": 0, "user_dedup_total": 0,
            "user_dedup_fresh": found, "sources_used": sources, "census_density_score": None, "cached_reuse_count": 0,
            "discovery_passes": passes, "google_calls": google_calls, "google_over_quota": over_quota,
        }
        update(current_stage="scoring_businesses", progress=30, metrics=metrics)

        scored = sorted(((score(c), c) for c in candidates), key=lambda pair: -pair[0])
        qualified = [(s, c) for s, c in scored if s >= config["minConfidenceScore"]]
        exhausted = len(qualified) < max_results
        chosen = qualified[:max_results]
        metrics.update(qualified_leads=len(qualified), exhausted=exhausted)
        update(current_stage="exhausted_results" if exhausted else "enriching_contacts",
               progress=80 if exhausted else 50, metrics=metrics)

        leads: list[dict] = []
        job_results: list[dict] = []  # the job row's results (the name `results` is the Google page count above)
        total_cost = 0.0
        service_bearer = f"Bearer {self._service_role_key}"
        for index, (lead_score, candidate) in enumerate(chosen, start=1):
            # One orchestrator call per lead with the service-role key, which getUser cannot resolve: 401, and the
            # lead keeps its validation cost only (reference §3.1, "Inference").
            error, _ = platform.call_function("enrichment-orchestrator", service_bearer, lambda auth: None)
            lead_sources = data_sources(candidate)
            processing = {
                "totalCost": VALIDATION_COST, "validationCost": VALIDATION_COST, "enrichmentCost": 0,
                "totalConfidenceBoost": 0, "processingStrategy": "basic", "servicesUsed": [], "servicesSkipped": [],
                "enrichmentTier": tier.name, "emailStatus": "not_found",
            }
            enrichment = {"verificationSources": lead_sources, "emails": [], "processingMetadata": processing,
                          "dataSources": lead_sources}
            total_cost += VALIDATION_COST
            leads.append({
                "campaign_id": campaign, "business_name": candidate["name"], "address": candidate["address"],
                "phone": candidate["phone"], "website": candidate["website"], "email": "",
                "confidence_score": lead_score, "validation_cost": VALIDATION_COST, "enrichment_data": enrichment,
                "cost_efficient": True, "user_id": config["userId"], "session_user_id": config["sessionUserId"],
            })
            job_results.append({
                "businessName": candidate["name"], "address": candidate["address"], "phone": candidate["phone"],
                "website": candidate["website"], "email": "", "optimizedScore": lead_score,
                "validationCost": VALIDATION_COST, "dataSources": lead_sources,
                "enhancementData": {"verificationSources": lead_sources, "emails": [],
                                    "processingMetadata": processing},
            })
            metrics.update(leads_enriched=index, total_cost=round(total_cost, 3),
                           validation_cost_total=round(total_cost, 3), enrichment_cost_total=0,
                           enrichment_calls=index, enrichment_errors=metrics.get("enrichment_errors", 0)
                           + (error is not None))
            update(progress=50 + (35 * index) // len(chosen), metrics=metrics)

        if not exhausted:
            update(current_stage="storing_results", progress=90)
        platform.db_write()  # campaigns update
        now = pg_timestamp()
        elapsed_ms = int((time.monotonic() - started) * 1000)
        store.update("campaigns", campaign, {"status": "completed", "results_count": len(leads),
                                             "total_cost": round(total_cost, 3), "processing_time_ms": elapsed_ms,
                                             "updated_at": now})
        for lead in leads:
            lead["created_at"] = lead["updated_at"] = now
        if leads:
            for _ in range(3):  # leads, lead_fingerprints, user_campaign_results inserts
                platform.db_write()
        store.insert_many("leads", leads)
        scores = [lead["confidence_score"] for lead in leads]
        metrics.update(
            total_found=found, total_cost=round(total_cost, 3), validation_cost_total=round(total_cost, 3),
            enrichment_cost_total=0, avg_confidence=round(sum(scores) / len(scores), 1) if scores else 0,
            tier_key=tier.key, tier_name=tier.name, tier_price=tier.price_per_lead,
            leads_enriched=len(leads), campaign_hash=campaign_hash, dedup_records_inserted=len(leads),
        )
        update(status="completed", current_stage="exhausted_results" if exhausted else "completed", progress=100,
               completed_at=now, results=job_results, metrics=metrics)

    # --- POST /functions/v1/business-discovery-optimized ----------------------------------------------------------
    def _optimized_google(self, business_type: str, location: str, max_results: int,
                          candidates: list[dict]) -> list[dict]:
        """OptimizedGooglePlacesAPI.searchBusinesses through Google's quota: one text search, then one Place
        Details call per result. A text search that is not OK (over quota) gives no results: the function answers
        200 with no leads (it returns [] "to allow other APIs to work"); a details call that is not OK keeps the
        business without phone or website. Its results cache: per request at HEAD (the cache is a field of an
        object the handler builds for every request), or, with the `optimized_google_cache_s` profile key, kept
        that long in the isolate as reference §3.3 and §7.4 read it (one cache per function, shared by its
        workers: the simplification of the siblings' caches). A cached query spends no Google call."""
        platform = self._platform
        ttl = platform.profile.optimized_google_cache_s
        key = (business_type, location, max_results)
        now = time.monotonic()
        if ttl:
            cached = self._optimized_cache.get(key)
            if cached is not None and cached[0] > now:
                return cached[1]
        if not platform.spend("google-places"):
            return []
        candidates = [c if platform.spend("google-places") else without_details(c) for c in candidates]
        if ttl:
            if len(self._optimized_cache) >= OPTIMIZED_CACHE_LIMIT:
                self._optimized_cache.clear()
            self._optimized_cache[key] = (now + ttl * (platform.config.time_scale or 1.0), candidates)
        return candidates

    def optimized(self, body_bytes: bytes, highlight: dict, highlight_headers: list, google_quota: bool = True) -> Response:
        headers = [*CORS_HEADERS, *highlight_headers]
        try:
            body = parse_json_object(body_bytes)
            if not isinstance(body, dict):
                raise ValueError("Cannot destructure the request body")
        except ValueError as error:
            return json_response(500, {"success": False, "error": str(error), "timestamp": iso_now(),
                                       "highlight": highlight}, headers=headers)
        started = time.monotonic()
        max_results = _positive_int(body.get("maxResults"), 5)
        budget_limit = _number_or(body.get("budgetLimit"), 50)
        min_confidence = _number_or(body.get("minConfidenceScore"), 50)
        found = min(60, max(1, max_results * 2 + self._rng.randint(0, 6)))
        business_type, location = str(body.get("businessType") or ""), str(body.get("location") or "")
        candidates = business_candidates(self._rng, business_type, location, found)
        if google_quota:
            candidates = self._optimized_google(business_type, location, max_results, candidates)
            found = len(candidates)
        apollo = body.get("apolloDiscovery") is True
        leads = []
        for candidate in candidates:
            sub_scores = (min(100, 3 * len(candidate["name"])), 100 if candidate["address"] else 0,
                          80 if candidate["phone"] else 0, 80 if candidate["website"] else 0, 0, 0)
            optimized_score = round(sum(sub_scores) / len(sub_scores))
            if optimized_score < min_confidence:
                continue
            enhancement_cost = 1.0 if apollo else 0.0
            leads.append({
                "businessName": candidate["name"], "address": candidate["address"], "phone": candidate["phone"],
                "website": candidate["website"], "email": "", "optimizedScore": optimized_score,
                "validationCost": VALIDATION_COST,
                "enhancementData": {
                    "verificationSources": data_sources(candidate), "apolloVerified": apollo,
                    "chamberVerified": False, "licenseVerified": False,
                    "processingMetadata": {"totalCost": VALIDATION_COST + enhancement_cost, "totalConfidenceBoost": 0,
                                           "apisSkipped": [] if apollo else ["apollo"],
                                           "processingStrategy": "apollo" if apollo else "basic"},
                },
            })
            if len(leads) == max_results:
                break
        enhancement = round(sum(lead["enhancementData"]["processingMetadata"]["totalCost"] - VALIDATION_COST
                                for lead in leads), 3)
        validation = round(VALIDATION_COST * len(leads), 3)
        total = round(validation + enhancement, 3)
        average = round(sum(lead["optimizedScore"] for lead in leads) / len(leads)) if leads else None
        processing_ms = int((time.monotonic() - started) * 1000)
        return json_response(200, {
            "success": True,
            "campaignId": f"campaign_{int(time.time() * 1000)}_{base36(self._rng.getrandbits(46)).lower()[:9]}",
            "discoveryEngine": "Optimized Discovery Engine v3.0",
            "requirements": {"targetLeads": max_results, "budgetLimit": budget_limit,
                             "minConfidenceScore": min_confidence},
            "results": {"totalFound": found, "qualified": len(leads),
                        "qualificationRate": f"{100 * len(leads) / found:.1f}%" if found else "NaN%",
                        "averageConfidence": average},
            "census_intelligence": None,
            "optimization": {
                "processingTime": f"{processing_ms}ms", "apiCallsSaved": 0, "parallelProcessing": True,
                "averageConfidenceBoost": 0, "geographic_intelligence_applied": False,
                "costOptimization": {"enhancementCost": enhancement, "totalCost": total,
                                     "savingsFromIntelligentRouting": 0, "census_optimization_savings": 0},
            },
            "costs": {"totalCost": total, "costPerLead": round(total / len(leads), 3) if leads else None,
                      "enhancementCost": enhancement, "validationCost": validation},
            "leads": leads,
            "metadata": {"timestamp": iso_now(), "version": "3.0",
                         "optimizationsApplied": ["google_places_cache", "parallel_details"]},
            "highlight": highlight,
        }, headers=headers)

