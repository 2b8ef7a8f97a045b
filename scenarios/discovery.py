"""DiscoveryUser: business discovery, asynchronous (submit, poll, read results) and synchronous (optimized).

The background flow is the SPA's (reference §3.1-§3.2):
1. POST business-discovery-background with the body useBusinessDiscovery sends -> 200 {jobId, campaignId};
2. follow the job as useJobProgress does: its changes over Supabase Realtime (scenarios/realtime.py) and
   GET /rest/v1/discovery_jobs?select=*&id=eq.<jobId> as a single object (supabase-js ``.single()``:
   ``Accept: application/vnd.pgrst.object+json``) once on mount, REST polling every PP_POLL_INTERVAL_S (the SPA:
   4 s) only while the channel is not SUBSCRIBED, until completed or failed, or PP_JOB_TIMEOUT_S;
3. read the campaign and its leads as CampaignProgress does, up to 5 attempts 2 s apart until leads appear.
The time from sending the submit to seeing ``completed`` is recorded as its own Locust entry (request type JOB),
a failure when the job failed or timed out, so job completion time has percentiles like any request.

``discover_in_background`` is shared with the journey (scenarios/journey.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import gevent
from locust import tag, task
from pydantic import ValidationError

from scenarios import guards, names
from scenarios.base import ProspectProUser
from scenarios.contracts import CampaignRows, DiscoveryJob, DiscoveryOptimized, DiscoverySubmitted, LeadRow, LeadRows
from scenarios.metrics import BusinessMetrics, estimated_discovery_spend
from scenarios.realtime import JobChannel, reconnect_delay

SINGLE_OBJECT = {"Accept": "application/vnd.pgrst.object+json"}
SPA_POLL_INTERVAL_S = 4.0  # useJobProgress's interval, which supabase-js's reconnect back-off is measured against
# How a failed job's error names Google Places ("Google Places API error: OVER_QUERY_LIMIT", "Google Places API
# request failed: ..."), the text ProspectPro's discovery throws (reference §3.2).
GOOGLE_ERROR_PREFIX = "Google Places API"
CAMPAIGN_COLUMNS = "id,business_type,location,status,total_cost,results_count,created_at,updated_at"
LEAD_COLUMNS = ("id,campaign_id,business_name,address,phone,website,email,confidence_score,validation_cost,"
                "enrichment_data,created_at")  # fmt: skip


@dataclass
class Discovery:
    """What a finished background discovery left: its campaign and its leads (best first)."""

    campaign_id: str
    leads: list[LeadRow]


def discover_in_background(user: ProspectProUser) -> Discovery | None:
    """Submit, poll to the end, read the results. None when any step failed (the failure is already recorded)."""
    if not user.ensure_session() or not guards.permit_discovery_job(user.run_state, user.environment):
        return None
    metrics = user.run_state.metrics
    body = user.workload.discovery_request(user.rng, user.signed_in.user_id, user.settings)
    started = time.perf_counter()
    submitted = user.call(names.DISCOVERY_SUBMIT, "/functions/v1/business-discovery-background", json=body,
                          model=DiscoverySubmitted)  # fmt: skip
    # Counted once the answer is in: a request cut off by the end of the run is neither a success nor a failure.
    metrics.count("discovery_submitted")
    if submitted is None:
        return None
    metrics.count("discovery_accepted")
    job = follow_job(user, submitted.jobId, started)
    if job is None:
        return None
    _book_discovery_cost(user, job)
    leads = read_results(user, submitted.campaignId, exhausted=bool((job.metrics or {}).get("exhausted")))
    if leads is None:
        return None
    metrics.count("leads_discovered", len(leads))
    return Discovery(submitted.campaignId, leads)


def follow_job(user: ProspectProUser, job_id: str, started: float) -> DiscoveryJob | None:
    """useJobProgress: follow the job until it ends; record the JOB entry; the completed job, or None.

    The job's Realtime channel (scenarios/realtime.py) and one REST read on mount; REST polling every
    PP_POLL_INTERVAL_S only while the channel is not SUBSCRIBED (it failed to open, or closed), with supabase-js's
    reconnect back-off (1, 2, 5, 10 s, scaled like the polling interval) between attempts to open it again.
    PP_REALTIME=false polls only, as the harness did before Realtime.

    Order, a harness choice: the SPA starts the fetch and the subscription together, and a change committed after
    the fetch but before SUBSCRIBED is never seen; with minute-long jobs that window hardly matters, with the
    seconds-long jobs of a compressed run (and a slow join under load) it would leave a follower waiting for a job
    that already completed. So the channel is joined first and the mount read comes after it, and after a
    reconnect (changes were missed while it was down) the job is read once more.
    """
    settings = user.settings
    path = f"/rest/v1/discovery_jobs?select=*&id=eq.{job_id}"
    deadline = time.monotonic() + settings.job_timeout_s
    state = _JobState(user, started)
    channel = JobChannel(user, job_id) if settings.realtime else None
    backoff_scale = settings.poll_interval_s / SPA_POLL_INTERVAL_S
    reconnect_at = time.monotonic()

    def read() -> bool:
        return state.ended(user.call(names.JOB_POLL, path, model=DiscoveryJob, headers=SINGLE_OBJECT))

    try:
        if channel is not None and not channel.subscribe():
            reconnect_at = time.monotonic() + reconnect_delay(channel.attempts, backoff_scale)
        if read():  # on mount
            return state.result
        while True:
            if channel is not None and not channel.subscribed and time.monotonic() >= reconnect_at:
                if not channel.subscribe():
                    reconnect_at = time.monotonic() + reconnect_delay(channel.attempts, backoff_scale)
                elif read():  # what changed while the channel was down
                    return state.result
            if channel is not None and channel.subscribed:
                record = channel.next_change(deadline - time.monotonic())
                if record is not None:
                    if state.ended(_job_from_change(record)):
                        return state.result
                    continue
                if channel.subscribed:  # no change before the deadline
                    state.timed_out(settings.job_timeout_s)
                    return None
                # the channel closed (already recorded): poll from here, as the SPA does when not SUBSCRIBED
                reconnect_at = time.monotonic() + reconnect_delay(channel.attempts, backoff_scale)
            if time.monotonic() + settings.poll_interval_s > deadline:
                state.timed_out(settings.job_timeout_s)
                return None
            gevent.sleep(settings.poll_interval_s)
            if read():
                return state.result
    finally:
        if channel is not None:
            channel.leave()


class _JobState:
    """What the follower has seen of one job, and the JOB entry and counts once it ends."""

    def __init__(self, user: ProspectProUser, started: float):
        self.user = user
        self.started = started
        self.last: DiscoveryJob | None = None
        self.result: DiscoveryJob | None = None

    def ended(self, job: DiscoveryJob | None) -> bool:
        """Note a read of the job (None: a failed read, already recorded); True when it completed or failed."""
        if job is None:
            return False
        self.last = job
        if job.status == "completed":
            self.user.record_timing(names.JOB_COMPLETION, self.started)
            self.user.run_state.metrics.count("jobs_completed")
            _book_providers(self.user.run_state.metrics, job)
            self.result = job
            return True
        if job.status == "failed":
            self.user.record_timing(names.JOB_COMPLETION, self.started, f"job failed: {job.error or 'no error text'}")
            self.user.run_state.metrics.count("jobs_failed")
            _book_providers(self.user.run_state.metrics, job)
            return True
        return False

    def timed_out(self, timeout_s: float) -> None:
        last = self.last
        seen = f"last status {last.status}, progress {last.progress}" if last else "no successful read"
        self.user.record_timing(names.JOB_COMPLETION, self.started,
                                f"timeout: job not completed after {timeout_s:g} s ({seen})")
        self.user.run_state.metrics.count("jobs_timed_out")


def _job_from_change(record: dict) -> DiscoveryJob | None:
    """A postgres_changes record as the DiscoveryJob the REST read gives (a bad one is a recorded delivery failure
    already, so it is skipped here)."""
    try:
        return DiscoveryJob.model_validate(record)
    except ValidationError:
        return None


def _book_providers(metrics: BusinessMetrics, job: DiscoveryJob) -> None:
    """What a finished job exposes about Google Places and Foursquare (scenarios/metrics.py, PROVIDERS)."""
    if job.status == "completed":
        metrics.provider_outcome("google_places")
        if "foursquare" in ((job.metrics or {}).get("sources_used") or ()):
            metrics.provider_outcome("foursquare")
    elif GOOGLE_ERROR_PREFIX in (job.error or ""):
        metrics.provider_outcome("google_places", failed=True)


def read_results(user: ProspectProUser, campaign_id: str, exhausted: bool) -> list[LeadRow] | None:
    """CampaignProgress: campaign + leads, retried until leads appear (or the job said it found none)."""
    uid = user.signed_in.user_id
    campaign_path = f"/rest/v1/campaigns?select={CAMPAIGN_COLUMNS}&id=eq.{campaign_id}&user_id=eq.{uid}"
    leads_path = (f"/rest/v1/leads?select={LEAD_COLUMNS}&campaign_id=eq.{campaign_id}&user_id=eq.{uid}"
                  "&order=confidence_score.desc")  # fmt: skip
    attempts = user.workload.results_fetch_attempts
    for attempt in range(attempts):
        campaign = user.call(names.CAMPAIGN_READ, campaign_path, model=CampaignRows)
        leads = user.call(names.LEADS_READ, leads_path, model=LeadRows)
        if campaign is None or leads is None:
            return None
        if leads.root or exhausted or attempt == attempts - 1:
            return leads.root
        gevent.sleep(user.workload.results_fetch_interval_s * user.settings.think_time_scale)
    return None


def discover_optimized(user: ProspectProUser) -> DiscoveryOptimized | None:
    """The synchronous function: the whole discovery inside one request (reference §3.3)."""
    if not user.ensure_session() or not guards.permit_discovery_job(user.run_state, user.environment):
        return None
    request = user.workload.discovery_request(user.rng, user.signed_in.user_id, user.settings)
    body = {key: request[key] for key in ("businessType", "location", "maxResults", "budgetLimit", "minConfidenceScore")}
    metrics = user.run_state.metrics
    result = user.call(names.DISCOVERY_OPTIMIZED, "/functions/v1/business-discovery-optimized", json=body,
                       model=DiscoveryOptimized)  # fmt: skip
    metrics.count("discovery_submitted")
    if result is None:
        return None
    for counter in ("discovery_accepted", "jobs_completed"):
        metrics.count(counter)
    metrics.provider_outcome("google_places")
    metrics.count("leads_discovered", len(result.leads))
    metrics.add_cost("discovery_total", result.costs.totalCost)
    metrics.add_cost("third_party_spend", result.costs.totalCost + estimated_discovery_spend(result.results.totalFound))
    guards.check_spend(user.run_state, user.environment)
    return result


def _book_discovery_cost(user: ProspectProUser, job: DiscoveryJob) -> None:
    job_metrics = job.metrics or {}
    total = float(job_metrics.get("total_cost") or 0.0)
    enrichment = float(job_metrics.get("enrichment_cost_total") or 0.0)
    found = int(job_metrics.get("businesses_found") or job_metrics.get("raw_candidates") or 0)
    metrics = user.run_state.metrics
    metrics.add_cost("discovery_total", total)
    metrics.add_cost("third_party_spend", enrichment + estimated_discovery_spend(found))
    guards.check_spend(user.run_state, user.environment)


class DiscoveryUser(ProspectProUser):
    """Background discovery end to end, and the synchronous optimized function."""

    pacing_key = "DiscoveryUser"

    # Equal weights (an assumption): the journey already carries the SPA's background traffic, and the baseline
    # needs enough synchronous calls for a p95 in a two-minute run.
    @tag("discovery")
    @task(1)
    def background_discovery(self) -> None:
        discover_in_background(self)

    @tag("discovery")
    @task(1)
    def optimized_discovery(self) -> None:
        discover_optimized(self)
