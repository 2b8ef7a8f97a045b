"""Auth as Supabase Auth behaves where shared sessions matter: logout with scopes and revocation, refresh-token
rotation with a reuse interval and family revocation, user_profiles insert/upsert, CORS preflight everywhere."""

from __future__ import annotations

import time

import pytest

from conftest import Api
from harness.simulator_process import start_simulator

pytestmark = pytest.mark.integration

REUSE_INTERVAL_S = 1.0  # --refresh-reuse-interval (GoTrue's default is 10 s; shorter so the test is quick)


@pytest.fixture(scope="module")
def auth_sim():
    with start_simulator("--time-scale", "0.05", "--refresh-reuse-interval", str(REUSE_INTERVAL_S)) as sim:
        yield sim


def client(sim, user: int) -> tuple[Api, dict]:
    api = Api(sim.url)
    return api, api.sign_in(user)


def refresh(api: Api, token: str):
    return api.request("POST", "/auth/v1/token?grant_type=refresh_token", {"refresh_token": token}, token=None)


def gotrue_error(reply) -> tuple[int, str]:
    return reply.status, reply.json()["error_code"]


def test_global_logout_ends_every_session_of_the_user(auth_sim):
    phone, first = client(auth_sim, 7)
    laptop, second = client(auth_sim, 7)
    assert phone.request("GET", "/auth/v1/user").status == 200
    out = phone.request("POST", "/auth/v1/logout")  # scope defaults to global, as supabase-js signOut()
    assert out.status == 204 and out.body == b""
    for api in (phone, laptop):
        assert gotrue_error(api.request("GET", "/auth/v1/user")) == (403, "session_not_found")
        rejected = api.function("test-new-auth", {})  # every function's getUser fails too
        assert rejected.status == 401 and "Session from session_id claim in JWT does not exist" in rejected.json()["error"]
    for session in (first, second):
        assert gotrue_error(refresh(phone, session["refresh_token"])) == (400, "refresh_token_not_found")
    # PostgREST checks only the JWT: the old access token reads until it expires, as with Supabase
    assert phone.rest("campaigns?select=id&limit=1").status == 200
    assert gotrue_error(phone.request("POST", "/auth/v1/logout")) == (403, "session_not_found")
    fresh, _ = client(auth_sim, 7)  # signing in again starts a new session
    assert fresh.request("GET", "/auth/v1/user").status == 200


def test_local_and_others_scopes(auth_sim):
    one, _ = client(auth_sim, 8)
    two, two_session = client(auth_sim, 8)
    three, _ = client(auth_sim, 8)
    assert one.request("POST", "/auth/v1/logout?scope=local").status == 204
    assert gotrue_error(one.request("GET", "/auth/v1/user")) == (403, "session_not_found")
    assert two.request("GET", "/auth/v1/user").status == 200 and three.request("GET", "/auth/v1/user").status == 200
    assert two.request("POST", "/auth/v1/logout?scope=others").status == 204
    assert two.request("GET", "/auth/v1/user").status == 200
    assert gotrue_error(three.request("GET", "/auth/v1/user")) == (403, "session_not_found")
    assert refresh(two, two_session["refresh_token"]).status == 200
    assert two.request("POST", "/auth/v1/logout?scope=everything").status == 400
    assert two.request("POST", "/auth/v1/logout", token=None).status == 401


def test_refresh_reuse_within_the_interval_returns_the_current_token(auth_sim):
    api, session = client(auth_sim, 9)
    rotated = refresh(api, session["refresh_token"]).json()
    assert rotated["refresh_token"] != session["refresh_token"]
    # two tabs refreshing with the same token at once: the late one gets the session's current refresh token
    again = refresh(api, session["refresh_token"])
    assert again.status == 200 and again.json()["refresh_token"] == rotated["refresh_token"]
    assert again.json()["user"]["id"] == rotated["user"]["id"]
    newest = refresh(api, rotated["refresh_token"]).json()
    assert newest["refresh_token"] not in (session["refresh_token"], rotated["refresh_token"])


def test_refresh_reuse_beyond_the_interval_revokes_the_token_family(auth_sim):
    api, session = client(auth_sim, 10)
    rotated = refresh(api, session["refresh_token"]).json()
    time.sleep(REUSE_INTERVAL_S + 0.3)
    assert gotrue_error(refresh(api, session["refresh_token"])) == (400, "refresh_token_already_used")
    # taken for a stolen token: the whole family is revoked, the current token included
    assert gotrue_error(refresh(api, rotated["refresh_token"])) == (400, "refresh_token_already_used")
    other, other_session = client(auth_sim, 10)  # another session of the same user is not touched
    assert refresh(other, other_session["refresh_token"]).status == 200


def test_user_profiles_insert_then_duplicate_then_upsert(auth_sim):
    admin = Api(auth_sim.url)
    created = admin.request("POST", "/auth/v1/admin/users",
                            {"email": "first-sign-in@prospectpro.test", "password": "secret-123"},
                            token="sb_secret_simulator")
    assert created.status == 200
    api = Api(auth_sim.url)
    session = api.request("POST", "/auth/v1/token?grant_type=password",
                          {"email": "first-sign-in@prospectpro.test", "password": "secret-123"}, token=None).json()
    api.token = session["access_token"]
    user_id = session["user"]["id"]
    assert api.single(f"user_profiles?select=id&id=eq.{user_id}").status == 406  # no profile yet
    row = {"id": user_id, "email": "first-sign-in@prospectpro.test", "full_name": "First", "avatar_url": None}
    inserted = api.request("POST", "/rest/v1/user_profiles", row)
    assert inserted.status == 201 and inserted.body == b""  # supabase-js insert: return=minimal
    profile = api.single(f"user_profiles?select=*&id=eq.{user_id}").json()
    assert profile["full_name"] == "First" and profile["subscription_tier"] == "free" and profile["monthly_budget"] == 100
    duplicate = api.request("POST", "/rest/v1/user_profiles", row)
    assert duplicate.status == 409 and duplicate.json()["code"] == "23505"
    upserted = api.request("POST", "/rest/v1/user_profiles?on_conflict=id", {**row, "full_name": "Renamed"},
                           headers={"Prefer": "resolution=merge-duplicates,return=representation"})
    assert upserted.status == 201 and upserted.json()[0]["full_name"] == "Renamed"
    someone_else = api.request("POST", "/rest/v1/user_profiles", {**row, "id": "00000000-0000-4000-8000-000000000000"})
    assert someone_else.status == 403 and someone_else.json()["code"] == "42501"  # row-level security
    bad_column = api.request("POST", "/rest/v1/user_profiles", {**row, "nickname": "x"})
    assert bad_column.status == 400 and bad_column.json()["code"] == "PGRST204"


@pytest.mark.parametrize("path", ["/rest/v1/campaigns", "/rest/v1/user_profiles", "/rest/v1/rpc/anything",
                                  "/auth/v1/token", "/auth/v1/user", "/auth/v1/logout",
                                  "/functions/v1/enrichment-orchestrator"])
def test_cors_preflight_on_every_api_path(auth_sim, path):
    api = Api(auth_sim.url)
    reply = api.request("OPTIONS", f"{path}?grant_type=password", apikey=False, token=None,
                        headers={"Origin": "https://prospectpro.appsmithery.co",
                                 "Access-Control-Request-Method": "POST",
                                 "Access-Control-Request-Headers": "authorization, apikey, content-type"})
    assert reply.status == 200 and reply.body == b""
    assert reply.headers["access-control-allow-origin"] in ("*", "https://prospectpro.appsmithery.co")
    assert "POST" in reply.headers["access-control-allow-methods"]
    assert "apikey" in reply.headers["access-control-allow-headers"]


def test_actual_rest_and_auth_answers_carry_the_allowed_origin(auth_sim):
    api, _ = client(auth_sim, 11)
    origin = {"Origin": "https://prospectpro.appsmithery.co"}
    assert api.rest("campaigns?select=id&limit=1", headers=origin).headers["access-control-allow-origin"] == origin["Origin"]
    assert api.request("GET", "/auth/v1/user", headers=origin).headers["access-control-allow-origin"] == origin["Origin"]
