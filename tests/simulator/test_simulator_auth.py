"""GoTrue contract: password and refresh grants, getUser, admin user creation, the apikey gate, the rate limit."""

from __future__ import annotations

import base64
import json

import pytest

pytestmark = pytest.mark.integration


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_password_grant_returns_a_gotrue_session(simulator, api_for):
    api = api_for(simulator)
    session = api.sign_in(7)
    assert session["token_type"] == "bearer" and session["expires_in"] == 3600
    assert session["expires_at"] - session["expires_in"] == pytest.approx(claims_of(session["access_token"])["iat"], abs=1)
    assert session["user"]["email"] == "loadtest-7@prospectpro.test"
    claims = claims_of(session["access_token"])
    assert claims["sub"] == session["user"]["id"] and claims["email"] == "loadtest-7@prospectpro.test"
    assert claims["role"] == "authenticated" and claims["is_anonymous"] is False and claims["session_id"]
    assert claims["exp"] - claims["iat"] == 3600


def test_wrong_password_and_unknown_user_are_invalid_credentials(api):
    for email, password in (("loadtest-1@prospectpro.test", "wrong"), ("nobody@prospectpro.test", "prospectpro-loadtest")):
        reply = api.request("POST", "/auth/v1/token?grant_type=password", {"email": email, "password": password}, token=None)
        assert reply.status == 400
        assert reply.json() == {"code": 400, "error_code": "invalid_credentials", "msg": "Invalid login credentials"}


def test_apikey_is_required_and_checked(api):
    body = {"email": "loadtest-1@prospectpro.test", "password": "prospectpro-loadtest"}
    missing = api.request("POST", "/auth/v1/token?grant_type=password", body, token=None, apikey=False)
    assert missing.status == 401 and missing.json()["message"] == "No API key found in request"
    wrong = api.request("POST", "/auth/v1/token?grant_type=password", body, token=None, apikey=False,
                        headers={"apikey": "sb_publishable_wrong"})
    assert wrong.status == 401 and wrong.json()["message"] == "Invalid API key"


def test_unsupported_grant_and_bad_json(api):
    reply = api.request("POST", "/auth/v1/token?grant_type=magic", {}, token=None)
    assert reply.status == 400 and reply.json()["error_code"] == "unsupported_grant_type"
    reply = api.request("POST", "/auth/v1/token?grant_type=password", b"{not json", token=None,
                        headers={"Content-Type": "application/json"})
    assert reply.status == 400 and reply.json()["error_code"] == "bad_json"


def test_refresh_rotates_and_keeps_the_session(api):
    first = api.sign_in(2)
    reply = api.request("POST", "/auth/v1/token?grant_type=refresh_token", {"refresh_token": first["refresh_token"]},
                        token=None)
    assert reply.status == 200
    second = reply.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert claims_of(second["access_token"])["session_id"] == claims_of(first["access_token"])["session_id"]
    unknown = api.request("POST", "/auth/v1/token?grant_type=refresh_token", {"refresh_token": "nope"}, token=None)
    assert unknown.status == 400
    assert unknown.json()["msg"] == "Invalid Refresh Token: Refresh Token Not Found"


def test_get_user_validates_the_token(api):
    reply = api.request("GET", "/auth/v1/user")
    assert reply.status == 200 and reply.json()["email"] == "loadtest-1@prospectpro.test"
    missing = api.request("GET", "/auth/v1/user", token=None)
    assert missing.status == 401 and missing.json()["error_code"] == "no_authorization"
    garbage = api.request("GET", "/auth/v1/user", token="invalid_jwt_token_12345")
    assert garbage.status == 403 and garbage.json()["error_code"] == "bad_jwt"
    tampered = api.token[:-4] + ("AAAA" if not api.token.endswith("AAAA") else "BBBB")
    reply = api.request("GET", "/auth/v1/user", token=tampered)
    assert reply.status == 403 and "signature is invalid" in reply.json()["msg"]


def test_expired_tokens_are_refused_everywhere(simulator_factory, api_for):
    import time

    api = api_for(simulator_factory("--jwt-ttl", "1", "--time-scale", "0.05"))
    api.sign_in(1)
    assert api.request("GET", "/auth/v1/user").status == 200  # cached as valid...
    time.sleep(2.1)
    reply = api.request("GET", "/auth/v1/user")  # ...but expiry is still enforced on every hit
    assert reply.status == 403 and reply.json()["msg"].endswith("token is expired")
    function = api.function("test-new-auth", {"diagnostics": True})
    assert function.status == 401
    assert function.json()["error"] == ("Auth failure (verify_user_service): invalid JWT: unable to parse or verify "
                                        "signature, token has invalid claims: token is expired")
    rest = api.rest("campaigns?select=id")
    assert rest.status == 401 and rest.json()["message"] == "JWT expired"


def test_admin_create_user_then_sign_in(api):
    body = {"email": "new-user@prospectpro.test", "password": "secret-pass", "email_confirm": True,
            "user_metadata": {"source": "test"}}
    not_admin = api.request("POST", "/auth/v1/admin/users", body)
    assert not_admin.status == 403 and not_admin.json()["error_code"] == "not_admin"
    created = api.request("POST", "/auth/v1/admin/users", body, token="sb_secret_simulator")
    assert created.status == 200 and created.json()["email"] == "new-user@prospectpro.test"
    again = api.request("POST", "/auth/v1/admin/users", body, token="sb_secret_simulator")
    assert again.status == 422 and again.json()["error_code"] == "email_exists"
    reply = api.request("POST", "/auth/v1/token?grant_type=password",
                        {"email": "new-user@prospectpro.test", "password": "secret-pass"}, token=None)
    assert reply.status == 200 and reply.json()["user"]["user_metadata"] == {"source": "test"}


def test_signin_rate_limit_answers_as_gotrue(simulator_factory, api_for):
    api = api_for(simulator_factory("--signin-rate-limit", "3/300", "--time-scale", "0.05"))
    statuses = [api.request("POST", "/auth/v1/token?grant_type=password",
                            {"email": "loadtest-1@prospectpro.test", "password": "prospectpro-loadtest"},
                            token=None) for _ in range(5)]
    assert [reply.status for reply in statuses] == [200, 200, 200, 429, 429]
    assert statuses[-1].json() == {"code": 429, "error_code": "over_request_rate_limit",
                                   "msg": "Request rate limit reached"}
