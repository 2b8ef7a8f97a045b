"""ProspectorUser: one person's prospecting session, the default mix.

sign-in (a pooled session, scenarios/sessions.py) -> validate the session as the SPA does on load -> fill in the
discovery form -> background discovery (submit, poll, read campaign and leads) -> review the results -> enrich the
top N leads (workload.toml journey.enrich_top_n), one after the other as the SPA's batch enrichment does ->
export the campaign as CSV. Think times between steps come from workload.toml; a step that fails ends the session
early (a person would not export a campaign that never appeared).
"""

from __future__ import annotations

from locust import tag, task

from scenarios.auth import validate_session
from scenarios.base import ProspectProUser
from scenarios.discovery import discover_in_background
from scenarios.enrichment import enrich_lead
from scenarios.export import export_campaign


class ProspectorUser(ProspectProUser):
    """The journey sign-in -> discover -> poll -> read leads -> enrich top leads -> export."""

    pacing_key = "ProspectorUser"

    @tag("journey")
    @task
    def prospecting_session(self) -> None:
        if validate_session(self) is None:
            return
        self.think("after_sign_in")
        self.think("fill_discovery_form")
        discovery = discover_in_background(self)
        if discovery is None or not discovery.leads:
            return
        self.think("review_results")
        business_type = None  # the orchestrator's `industry`; the SPA passes the lead's, which discovery rows lack
        for index, lead in enumerate(discovery.leads[: self.workload.enrich_top_n]):
            if index:
                self.think("between_enrichments")
            enrich_lead(self, lead, business_type)
        self.think("before_export")
        export_campaign(self, discovery.campaign_id, len(discovery.leads), "csv")
