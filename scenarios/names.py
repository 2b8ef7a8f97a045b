"""Request names: a public API.

Baselines, reference runs, plots and reports are keyed by ``"<request_type> <name>"``, exactly as Locust records
them. Names are templates (``[jobId]``), never raw ids, so that one endpoint is one row however many ids it sees.
Renaming an entry here breaks every baseline that uses it: change the README's table and baselines/ with it.
"""

from __future__ import annotations

from typing import NamedTuple


class RequestName(NamedTuple):
    method: str  # Locust's request_type ("GET", "POST", or "JOB" for derived timings)
    name: str  # Locust's name= template

    @property
    def key(self) -> str:
        """The baseline key: ``"<request_type> <name>"``."""
        return f"{self.method} {self.name}"


# Auth (GoTrue and the auth test function)
SIGN_IN = RequestName("POST", "/auth/v1/token?grant_type=password")
REFRESH = RequestName("POST", "/auth/v1/token?grant_type=refresh_token")
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
# Discovery: the synchronous function
DISCOVERY_OPTIMIZED = RequestName("POST", "/functions/v1/business-discovery-optimized")

# Enrichment
ENRICH = RequestName("POST", "/functions/v1/enrichment-orchestrator")

# Export
EXPORT_METADATA = RequestName("POST", "/functions/v1/campaign-export-user-aware")
EXPORT_CSV = RequestName("POST", "/functions/v1/campaign-export-user-aware?download=true [csv]")
EXPORT_JSON = RequestName("POST", "/functions/v1/campaign-export-user-aware?download=true [json]")

ALL: tuple[RequestName, ...] = (
    SIGN_IN, REFRESH, GET_USER, TEST_NEW_AUTH,
    DISCOVERY_SUBMIT, JOB_POLL, JOB_COMPLETION, CAMPAIGN_READ, LEADS_READ, CAMPAIGNS_LIST, DISCOVERY_OPTIMIZED,
    ENRICH,
    EXPORT_METADATA, EXPORT_CSV, EXPORT_JSON,
)  # fmt: skip
