"""PostgREST subset: select, filters, order, limit/offset, single-object Accept, exact count, RLS, errors."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


# Read-mostly contract tests: one simulator for the module instead of one per test (start-up dominates their cost).
@pytest.fixture
def simulator(shared_simulator):
    return shared_simulator


@pytest.fixture
def api(shared_api):
    return shared_api


def test_select_filter_order_limit_offset(api):
    campaign = api.seeded_campaign()
    reply = api.rest(f"leads?select=id,confidence_score&campaign_id=eq.{campaign['id']}"
                     "&order=confidence_score.desc,id.asc&limit=10&offset=5")
    assert reply.status == 200 and reply.headers["content-type"] == "application/json; charset=utf-8"
    rows = reply.json()
    assert len(rows) == 10 and set(rows[0]) == {"id", "confidence_score"}
    scores = [row["confidence_score"] for row in rows]
    assert scores == sorted(scores, reverse=True)
    assert reply.headers["content-range"] == "5-14/*"
    everything = api.rest(f"leads?select=id&campaign_id=eq.{campaign['id']}").json()
    assert len(everything) == 100


def test_select_star_has_every_column_and_json_types(api):
    lead = api.rest("leads?select=*&limit=1").json()[0]
    assert lead["enrichment_data"]["processingMetadata"]["totalCost"] == 0.02  # jsonb comes back as an object
    assert lead["cost_efficient"] is True and isinstance(lead["id"], int)
    assert {"campaign_id", "business_name", "confidence_score", "validation_cost", "user_id"} <= set(lead)


def test_exact_count_gives_206_for_a_page(api):
    reply = api.rest("leads?select=id&limit=50", headers={"Prefer": "count=exact"})
    assert reply.status == 206 and reply.headers["content-range"] == "0-49/100"
    whole = api.rest("campaigns?select=id", headers={"Prefer": "count=exact"})
    assert whole.status == 200 and whole.headers["content-range"] == "0-0/1"


def test_single_object_accept_header(api):
    campaign = api.seeded_campaign()
    reply = api.single(f"campaigns?select=id,status&id=eq.{campaign['id']}")
    assert reply.status == 200 and reply.json() == {"id": campaign["id"], "status": "completed"}
    assert reply.headers["content-type"].startswith("application/vnd.pgrst.object+json")
    none = api.single("campaigns?select=id&id=eq.nope")
    assert none.status == 406
    assert none.json() == {"code": "PGRST116", "details": "The result contains 0 rows", "hint": None,
                           "message": "Cannot coerce the result to a single JSON object"}


def test_row_level_security_by_the_jwt_user(api, simulator, api_for):
    mine = api.seeded_campaign()
    other = api_for(simulator)
    other.sign_in(2)
    assert other.rest(f"campaigns?select=id&id=eq.{mine['id']}").json() == []
    assert other.rest(f"leads?select=id&campaign_id=eq.{mine['id']}").json() == []
    assert len(other.rest("campaigns?select=id").json()) == 1  # only their own seeded campaign
    anonymous = api.rest("campaigns?select=id", token=None)
    assert anonymous.status == 200 and anonymous.json() == []
    service = api.rest("campaigns?select=id", token="sb_secret_simulator")
    assert len(service.json()) == 50  # the service role bypasses RLS


def test_campaign_analytics_view_and_user_profiles(api):
    row = api.rest("campaign_analytics?select=*&limit=1").json()[0]
    assert row["actual_leads"] == 100 and 0 < row["avg_confidence"] <= 100
    profile = api.rest("user_profiles?select=email").json()
    assert profile == [{"email": "loadtest-1@prospectpro.test"}]


def test_filter_operators(api):
    campaign = api.seeded_campaign()
    base = f"leads?select=id&campaign_id=eq.{campaign['id']}"
    assert len(api.rest(f"{base}&confidence_score=gte.0").json()) == 100
    assert api.rest(f"{base}&confidence_score=gt.100").json() == []
    ids = [row["id"] for row in api.rest(f"{base}&limit=3").json()]
    assert [row["id"] for row in api.rest(f"{base}&id=in.({','.join(map(str, ids))})").json()] == ids
    assert api.rest(f"{base}&processing_time_ms=is.null").status == 400  # not a leads column


def test_errors_speak_postgrest(api):
    unknown_table = api.rest("payments?select=id")
    assert unknown_table.status == 404 and unknown_table.json()["code"] == "PGRST205"
    unknown_column = api.rest("campaigns?select=nope")
    assert unknown_column.status == 400 and unknown_column.json()["message"] == "column campaigns.nope does not exist"
    bad_filter = api.rest("campaigns?select=id&status=approx.done")
    assert bad_filter.status == 400 and bad_filter.json()["code"] == "PGRST100"
    bad_int = api.rest("leads?select=id&id=eq.abc")
    assert bad_int.status == 400 and bad_int.json()["code"] == "22P02"
    missing_key = api.rest("campaigns?select=id", apikey=False)
    assert missing_key.status == 401 and missing_key.json()["message"] == "No API key found in request"
    bad_jwt = api.rest("campaigns?select=id", token="abc.def.ghi")
    assert bad_jwt.status == 401 and bad_jwt.json()["code"] == "PGRST301"
    write = api.request("POST", "/rest/v1/campaigns", {"id": "x"})
    assert write.status == 405 and write.json()["code"] == "PGRST117"


def test_rpc_functions_the_thunder_tests_call_do_not_exist(api):
    reply = api.request("POST", "/rest/v1/rpc/get_campaign_statistics", {"campaign_id": "x"})
    assert reply.status == 404 and reply.json()["code"] == "PGRST202"
    assert "public.get_campaign_statistics(campaign_id)" in reply.json()["message"]


def test_a_new_users_profile_insert_is_201_once_409_twice_and_an_upsert_always(api):
    user_id = api.request("GET", "/auth/v1/user").json()["id"]
    profile = {"id": user_id, "email": "loadtest-1@prospectpro.test", "full_name": "Load Test", "avatar_url": None}
    # The seeded user already has a row: a plain insert is the duplicate the SPA would get on a reused account.
    duplicate = api.request("POST", "/rest/v1/user_profiles", profile)
    assert duplicate.status == 409 and duplicate.json()["code"] == "23505"
    upsert = api.request("POST", "/rest/v1/user_profiles?on_conflict=id", {**profile, "full_name": "Renamed"},
                         headers={"Prefer": "resolution=merge-duplicates,return=representation"})
    assert upsert.status == 201 and upsert.json()[0]["full_name"] == "Renamed"
    assert api.single(f"user_profiles?select=full_name&id=eq.{user_id}").json() == {"full_name": "Renamed"}
    others = api.request("POST", "/rest/v1/user_profiles", {**profile, "id": "00000000-0000-4000-8000-000000000000"})
    assert others.status == 403 and others.json()["code"] == "42501"  # RLS: only one's own row
