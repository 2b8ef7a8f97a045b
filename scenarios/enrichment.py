"""EnrichmentUser: enrichment-orchestrator per lead, with the body the SPA's useLeadEnrichment sends (reference §3.5).

Enrichment needs leads, so the user first reads its campaigns (the seeded 100-lead campaign on the simulator) and
that campaign's leads, then enriches them one per task, in order. ``enrich_lead`` is shared with the journey.
"""

from __future__ import annotations

import re

from locust import tag, task

from scenarios import guards, names
from scenarios.base import ProspectProUser
from scenarios.contracts import CampaignRow, CampaignRows, Enrichment, LeadRow, LeadRows
from scenarios.discovery import CAMPAIGN_COLUMNS, LEAD_COLUMNS
from scenarios.metrics import ORCHESTRATOR_SERVICES, BusinessMetrics

# useLeadEnrichment's fixed choices (reference §3.5).
SPA_ENRICHMENT_OPTIONS = {
    "includeBusinessLicense": True, "discoverEmails": True, "verifyEmails": True, "includeCompanyEnrichment": False,
    "includePersonEnrichment": False, "apolloEnrichment": False, "maxCostPerBusiness": 0.5, "minConfidenceScore": 50,
    "tier": "professional",
}  # fmt: skip
_STATE = re.compile(r",\s*([A-Z]{2})(?:\s+\d{5}(?:-\d{4})?)?\s*(?:,|$)")


def enrichment_request(lead: LeadRow, user_id: str, industry: str | None) -> dict:
    website = lead.website or ""
    domain = re.sub(r"^https?://", "", website).split("/")[0] if website else ""
    state = _STATE.search(lead.address or "")
    return {
        "businessName": lead.business_name, "domain": domain, "address": lead.address or "",
        "phone": lead.phone or "", "website": website, "industry": industry or "",
        "state": state.group(1) if state else "", **SPA_ENRICHMENT_OPTIONS,
        "sessionUserId": user_id, "userId": user_id,
        "billingContext": {"tier": "PROFESSIONAL", "currency": "USD"},
    }  # fmt: skip


def enrich_lead(user: ProspectProUser, lead: LeadRow, industry: str | None = None) -> Enrichment | None:
    """One orchestrator call; a 200 with ``success: false`` (a step threw, reference §3.5) is a failure."""
    if not user.ensure_session():
        return None
    metrics = user.run_state.metrics
    answered: list[Enrichment] = []

    def succeeded(response: Enrichment) -> str | None:
        answered.append(response)  # its provider outcomes count even when the call as a whole failed
        if response.success:
            return None
        return "app error: enrichment-orchestrator answered success:false"

    result = user.call(names.ENRICH, "/functions/v1/enrichment-orchestrator",
                       json=enrichment_request(lead, user.signed_in.user_id, industry), model=Enrichment, check=succeeded)  # fmt: skip
    metrics.count("enrichment_calls")  # after the answer: a call cut off by the end of the run is not counted
    for response in answered:
        book_providers(metrics, response)
    if result is not None:
        metrics.count("enrichment_succeeded")
        metrics.add_cost("enrichment_total", result.totalCost)
        metrics.add_cost("third_party_spend", result.totalCost)
        guards.check_spend(user.run_state, user.environment)
    return result


def book_providers(metrics: BusinessMetrics, response: Enrichment) -> None:
    """The orchestrator's providers: servicesUsed are calls that worked, errors[{service}] calls that failed."""
    meta = response.processingMetadata
    failed = {ORCHESTRATOR_SERVICES[e.service] for e in meta.errors if e.service in ORCHESTRATOR_SERVICES}
    for provider in failed:
        metrics.provider_outcome(provider, failed=True)
    for provider in {ORCHESTRATOR_SERVICES[s] for s in meta.servicesUsed if s in ORCHESTRATOR_SERVICES} - failed:
        metrics.provider_outcome(provider)


def list_campaigns(user: ProspectProUser) -> list[CampaignRow] | None:
    """The dashboard's campaign list (reference §4), newest first."""
    if not user.ensure_session():
        return None
    path = f"/rest/v1/campaigns?select={CAMPAIGN_COLUMNS}&user_id=eq.{user.signed_in.user_id}&order=created_at.desc"
    rows = user.call(names.CAMPAIGNS_LIST, path, model=CampaignRows)
    return rows.root if rows is not None else None


def largest_campaign(campaigns: list[CampaignRow]) -> CampaignRow | None:
    """The campaign with the most leads (the seeded 100-lead campaign on the simulator)."""
    with_leads = [c for c in campaigns if (c.results_count or 0) > 0]
    return max(with_leads, key=lambda c: c.results_count or 0) if with_leads else None


def read_leads(user: ProspectProUser, campaign_id: str) -> list[LeadRow] | None:
    path = (f"/rest/v1/leads?select={LEAD_COLUMNS}&campaign_id=eq.{campaign_id}&user_id=eq.{user.signed_in.user_id}"
            "&order=confidence_score.desc")  # fmt: skip
    rows = user.call(names.LEADS_READ, path, model=LeadRows)
    return rows.root if rows is not None else None


class EnrichmentUser(ProspectProUser):
    """Enriches the leads of its largest campaign, one lead per task, cycling through them."""

    pacing_key = "EnrichmentUser"

    def on_start(self) -> None:
        super().on_start()
        self.campaign: CampaignRow | None = None
        self.leads: list[LeadRow] = []
        self.next_lead = 0

    def _load_leads(self) -> bool:
        campaigns = list_campaigns(self)
        self.campaign = largest_campaign(campaigns) if campaigns else None
        if self.campaign is not None:
            self.leads = read_leads(self, self.campaign.id) or []
        return bool(self.leads)

    @tag("enrichment")
    @task
    def enrich_next_lead(self) -> None:
        if not self.leads and not self._load_leads():
            return  # the reads that failed are recorded; try again next task
        lead = self.leads[self.next_lead % len(self.leads)]
        self.next_lead += 1
        enrich_lead(self, lead, self.campaign.business_type if self.campaign else None)
