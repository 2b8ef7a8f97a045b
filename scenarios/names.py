"""Request names: a public API.

Baselines, reference runs, plots and reports are keyed by ``"<request_type> <name>"``, exactly as Locust records
them. Names are templates (``[jobId]``), never raw ids, so that one endpoint is one row however many ids it sees.
Renaming an entry here breaks every baseline that uses it: change the README's table and baselines/ with it.
"""

from __future__ import annotations

from typing import NamedTuple


class RequestName(NamedTuple):
    method: str  # Locust's request_type ("GET", "POST", "WS" for Realtime's websocket, "JOB" for derived timings)
    name: str  # Locust's name= template

    @property
    def key(self) -> str:
        """The baseline key: ``"<request_type> <name>"``."""
        return f"{self.method} {self.name}"


# Auth (GoTrue and the auth test function)
SIGN_IN = RequestName("POST", "/auth/v1/token?grant_type=password")
REFRESH = RequestName("POST", "/auth/v1/token?grant_type=refresh_token")
# Sign-out of the last virtual user holding a session, this session only (scenarios/auth.py: sign_out).
SIGN_OUT = RequestName("POST", "/auth/v1/logout?scope=local")
GET_USER = RequestName("GET", "/auth/v1/user")
TEST_NEW_AUTH = RequestName("POST", "/functions/v1/test-new-auth")

# Discovery: asynchronous background job, polled through PostgREST, then its results read back
DISCOVERY_SUBMIT = RequestName("POST", "/functions/v1/business-discovery-background")
JOB_POLL = RequestName("GET", "/rest/v1/discovery_jobs?id=eq.[jobId]")
# Not an HTTP request: the time from a successful submit to the job reading `completed`, recorded as its own
# Locust entry so that job completion time has percentiles like any request.
JOB_COMPLETION = RequestName("JOB", "business-discovery-background submit->completed")
CAMPAIGN_READ = RequestName("GET", "/rest/v1/campaigns?id=eq.[campaignId]")
LEADS_READ = RequestName("GET", "/rest/v1/leads?campaign_id=eq.[campaignId]")
CAMPAIGNS_LIST = RequestName("GET", "/rest/v1/campaigns?user_id=eq.[userId]")
# Discovery: the job followed over Supabase Realtime (scenarios/realtime.py), request type WS. The name's first word
# is what the simulator counts it under ("WS phx_join", ...), the rest says which channel.
REALTIME_CONNECT = RequestName("WS", "/realtime/v1/websocket")  # the handshake
REALTIME_JOIN = RequestName("WS", "phx_join realtime:discovery_jobs_[jobId]")  # phx_join -> SUBSCRIBED
REALTIME_DELIVERY = RequestName("WS", "postgres_changes discovery_jobs id=eq.[jobId]")  # commit -> receipt
REALTIME_HEARTBEAT = RequestName("WS", "heartbeat phoenix")  # heartbeat round trip (every 25 s per socket)
# The pages around a discovery: the results page (a page of 50 leads with an exact count), the dashboard (the
# campaign list and all of the user's leads), and the profile read (and a new user's insert) on sign-in.
RESULTS_PAGE = RequestName("GET", "/rest/v1/leads?campaign_id=eq.[campaignId]&limit=50 [count=exact]")
DASHBOARD_LEADS = RequestName("GET", "/rest/v1/leads?user_id=eq.[userId]")
PROFILE_READ = RequestName("GET", "/rest/v1/user_profiles?id=eq.[userId]")
PROFILE_INSERT = RequestName("POST", "/rest/v1/user_profiles")
# Discovery: the synchronous function
DISCOVERY_OPTIMIZED = RequestName("POST", "/functions/v1/business-discovery-optimized")

# Enrichment
ENRICH = RequestName("POST", "/functions/v1/enrichment-orchestrator")

# Export
EXPORT_METADATA = RequestName("POST", "/functions/v1/campaign-export-user-aware")
EXPORT_CSV = RequestName("POST", "/functions/v1/campaign-export-user-aware?download=true [csv]")
EXPORT_JSON = RequestName("POST", "/functions/v1/campaign-export-user-aware?download=true [json]")

ALL: tuple[RequestName, ...] = (
    SIGN_IN, REFRESH, SIGN_OUT, GET_USER, TEST_NEW_AUTH,
    DISCOVERY_SUBMIT, JOB_POLL, JOB_COMPLETION, CAMPAIGN_READ, LEADS_READ, CAMPAIGNS_LIST, DISCOVERY_OPTIMIZED,
    REALTIME_CONNECT, REALTIME_JOIN, REALTIME_DELIVERY, REALTIME_HEARTBEAT,
    RESULTS_PAGE, DASHBOARD_LEADS, PROFILE_READ, PROFILE_INSERT,
    ENRICH,
    EXPORT_METADATA, EXPORT_CSV, EXPORT_JSON,
)  # fmt: skip
