"""ProspectorUser: one person's prospecting session, the default mix, with the requests ProspectProUser's SPA makes.

sign-in (a pooled session, scenarios/sessions.py) -> the profile read the SPA makes on sign-in (and, for a share of
sessions, PP_NEW_USER_SHARE, a new user's profile insert: see insert_profile) -> validate the session as the SPA does on load -> fill in
the discovery form -> background discovery: submit, follow the job as useJobProgress does (one REST read on mount,
then Realtime; REST polling every 4 s only while the channel is not SUBSCRIBED), read campaign and leads as
CampaignProgress does -> the results page (the campaign, the first page of 50 leads with an exact count) -> the
dashboard (the campaign list and all of the user's leads, no limit) -> enrich the top N leads (workload.toml
journey.enrich_top_n), one after the other as the SPA's batch enrichment does -> export the campaign as CSV; and
when the virtual user stops, sign-out (scope local, by the last virtual user holding the session: see sign_out).
Think times between steps come from workload.toml; a step that fails ends the session early (a person would not
export a campaign that never appeared). Requests: reference §3.2, §4.
"""

from __future__ import annotations

from locust import tag, task
from pydantic import ValidationError

from scenarios import names
from scenarios.auth import sign_out, validate_session
from scenarios.base import ProspectProUser
from scenarios.contracts import CampaignRows, LeadRows, ProfileRow, contract_violation
from scenarios.discovery import CAMPAIGN_COLUMNS, LEAD_COLUMNS, SINGLE_OBJECT, discover_in_background
from scenarios.enrichment import enrich_lead
from scenarios.export import export_campaign

RESULTS_PAGE_SIZE = 50  # useCampaignResults: .range(page*50, page*50+49) with count: "exact" (reference §4)


def read_profile(user: ProspectProUser) -> bool:
    """AuthComponent on sign-in: the user's profile row by id (``.single()``); False when the read failed."""
    path = f"/rest/v1/user_profiles?select=id&id=eq.{user.signed_in.user_id}"
    return user.call(names.PROFILE_READ, path, model=ProfileRow, headers=SINGLE_OBJECT) is not None


def insert_profile(user: ProspectProUser) -> bool:
    """A new user's first sign-in: AuthComponent inserts the profile row {id, email, full_name, avatar_url}.

    Test accounts are reused run after run, so their row already exists and the SPA's plain insert would get 409.
    The harness sends it as supabase-js's upsert (``Prefer: resolution=merge-duplicates``): the same INSERT ... ON
    CONFLICT for PostgREST, 201 every time.
    """
    session = user.signed_in
    body = {"id": session.user_id, "email": session.email, "full_name": None, "avatar_url": None}
    headers = {"Prefer": "resolution=merge-duplicates,return=minimal"}
    return user.call(names.PROFILE_INSERT, "/rest/v1/user_profiles?on_conflict=id", json=body, headers=headers,
                     expect=201) is not None  # fmt: skip


def results_page(user: ProspectProUser, campaign_id: str) -> bool:
    """The results page: the campaign, then its first page of 50 leads, best first, with an exact count."""
    uid = user.signed_in.user_id
    campaign = user.call(names.CAMPAIGN_READ,
                         f"/rest/v1/campaigns?select={CAMPAIGN_COLUMNS}&id=eq.{campaign_id}&user_id=eq.{uid}",
                         model=CampaignRows)  # fmt: skip
    if campaign is None:
        return False
    path = (f"/rest/v1/leads?select={LEAD_COLUMNS}&campaign_id=eq.{campaign_id}&user_id=eq.{uid}"
            f"&order=confidence_score.desc&offset=0&limit={RESULTS_PAGE_SIZE}")  # fmt: skip
    return user.call(names.RESULTS_PAGE, path, headers={"Prefer": "count=exact"}, check=_counted_page) is not None


def _counted_page(response) -> str | None:
    """An exact count comes back in Content-Range (``0-2/3``); the body must be the page's rows."""
    content_range = (response.headers or {}).get("Content-Range") or ""
    total = content_range.rpartition("/")[2]
    if not total.isdigit():
        return f"contract: Content-Range {content_range!r} carries no exact count"
    try:
        rows = LeadRows.model_validate_json(response.content or b"")
    except ValidationError as error:
        return contract_violation(error)
    if len(rows.root) > RESULTS_PAGE_SIZE or len(rows.root) > int(total):
        return f"contract: {len(rows.root)} rows for a page of {RESULTS_PAGE_SIZE} out of {total}"
    return None


def dashboard(user: ProspectProUser) -> bool:
    """Dashboard.tsx on load: the user's campaigns, newest first, and all of the user's leads (no limit)."""
    uid = user.signed_in.user_id
    campaigns = user.call(names.CAMPAIGNS_LIST,
                          f"/rest/v1/campaigns?select={CAMPAIGN_COLUMNS}&user_id=eq.{uid}&order=created_at.desc",
                          model=CampaignRows)  # fmt: skip
    if campaigns is None:
        return False
    leads = user.call(names.DASHBOARD_LEADS,
                      f"/rest/v1/leads?select={LEAD_COLUMNS}&user_id=eq.{uid}&order=created_at.desc", model=LeadRows)
    return leads is not None


class ProspectorUser(ProspectProUser):
    """The journey sign-in -> profile -> discover -> follow the job -> results -> dashboard -> enrich -> export."""

    pacing_key = "ProspectorUser"

    def on_stop(self) -> None:
        sign_out(self)  # the last virtual user on a session signs it out (scope local); the others let go of it

    @tag("journey")
    @task
    def prospecting_session(self) -> None:
        if not self.ensure_session() or not read_profile(self):
            return
        if self.rng.random() < self.settings.new_user_share and not insert_profile(self):
            return
        if validate_session(self) is None:
            return
        self.think("after_sign_in")
        self.think("fill_discovery_form")
        discovery = discover_in_background(self)
        if discovery is None or not discovery.leads:
            return
        if not results_page(self, discovery.campaign_id):
            return
        self.think("review_results")
        if not dashboard(self):
            return
        business_type = None  # the orchestrator's `industry`; the SPA passes the lead's, which discovery rows lack
        for index, lead in enumerate(discovery.leads[: self.workload.enrich_top_n]):
            if index:
                self.think("between_enrichments")
            enrich_lead(self, lead, business_type)
        self.think("before_export")
        export_campaign(self, discovery.campaign_id, len(discovery.leads), "csv")
