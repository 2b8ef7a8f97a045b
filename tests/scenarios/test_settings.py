"""HarnessSettings: defaults, .env, environment, and one-line errors that name the key."""

from __future__ import annotations

import time

import jwt
import pytest

from analysis.errors import InputError
from scenarios.settings import expand_brace_range, load_settings, preview


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    for key in list(__import__("os").environ):
        if key.upper().startswith("PP_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_defaults_target_the_simulator():
    settings = load_settings()
    assert settings.target_url is None
    assert settings.publishable_key.get_secret_value() == "sb_publishable_simulator"
    assert settings.test_users[0] == "loadtest-1@prospectpro.test" and len(settings.test_users) == 50
    assert settings.test_password.get_secret_value() == "prospectpro-loadtest"
    assert settings.poll_interval_s == 4.0 and settings.production_project_refs == ("sriycekxdqnesdsgwiuc",)


def test_env_file_and_environment_are_read_and_the_environment_wins(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("PP_POLL_INTERVAL_S=2\nPP_TEST_USERS=a@x.test, b-{1..2}@x.test\nPP_MAX_USERS=5\n")
    monkeypatch.setenv("PP_MAX_USERS", "7")
    settings = load_settings()
    assert settings.poll_interval_s == 2.0
    assert settings.test_users == ("a@x.test", "b-1@x.test", "b-2@x.test")
    assert settings.max_users == 7


def _session_jwt(sub: str) -> str:
    return jwt.encode({"sub": sub, "exp": int(time.time()) + 3600}, "a-test-signing-key-of-32-bytes-at-least", algorithm="HS256")


def test_session_jwts_are_a_comma_list_of_secrets(monkeypatch):
    first, second = _session_jwt("user-1"), _session_jwt("user-2")
    monkeypatch.setenv("PP_SESSION_JWTS", f"{first}, {second}")
    settings = load_settings()
    assert [t.get_secret_value() for t in settings.session_jwts] == [first, second]
    assert first not in repr(settings) and first not in str(settings)


def test_a_session_jwt_that_is_not_a_jwt_names_the_key_and_the_file_but_not_the_value(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("PP_SESSION_JWTS=not-a-jwt-secret\n")
    with pytest.raises(InputError) as caught:
        load_settings()
    assert str(caught.value).startswith(".env: PP_SESSION_JWTS: not-a-jw…(16 chars) is not a JWT")
    assert "not-a-jwt-secret" not in str(caught.value)
    (tmp_path / ".env").write_text(f"PP_SESSION_JWTS={jwt.encode({'sub': 'u'}, 'a-test-signing-key-of-32-bytes-at-least', algorithm='HS256')}\n")
    with pytest.raises(InputError, match="has no sub or exp claim"):
        load_settings()


def test_a_bad_value_names_the_key_and_where_it_came_from(tmp_path, monkeypatch):
    monkeypatch.setenv("PP_POLL_INTERVAL_S", "soon")
    with pytest.raises(InputError) as caught:
        load_settings()
    assert str(caught.value).startswith("environment: PP_POLL_INTERVAL_S: ")
    monkeypatch.delenv("PP_POLL_INTERVAL_S")
    (tmp_path / ".env").write_text("PP_MAX_RESULTS=50\n")
    with pytest.raises(InputError, match=r"^\.env: PP_MAX_RESULTS: .*less than or equal to 10"):
        load_settings()


def test_unknown_pp_keys_are_errors_in_environment_and_env_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PP_MAX_USER", "5")
    with pytest.raises(InputError, match=r"^environment: unknown setting PP_MAX_USER; known settings: .*PP_MAX_USERS"):
        load_settings()
    monkeypatch.delenv("PP_MAX_USER")
    (tmp_path / ".env").write_text("PP_TARGETURL=http://127.0.0.1:1\nOTHER_TOOL_KEY=fine\n")
    with pytest.raises(InputError, match=r"^\.env: unknown setting PP_TARGETURL"):
        load_settings()


def test_a_malformed_env_line_is_an_error_that_does_not_echo_the_line(tmp_path):
    (tmp_path / ".env").write_text("PP_MAX_USERS=5\nPP_TEST_PASSWORD hunter2-secret\n")
    with pytest.raises(InputError) as caught:
        load_settings()
    assert str(caught.value) == ".env: line 2 is not KEY=VALUE; fix or remove that line"


def test_target_url_must_be_http(monkeypatch):
    monkeypatch.setenv("PP_TARGET_URL", "ftp://example.invalid")
    with pytest.raises(InputError, match="PP_TARGET_URL: 'ftp://example.invalid' is not an http"):
        load_settings()
    monkeypatch.setenv("PP_TARGET_URL", "https://abc.supabase.co/")
    assert load_settings().target_url == "https://abc.supabase.co"


def test_brace_ranges_and_previews():
    assert expand_brace_range("u-{2..4}@x") == ["u-2@x", "u-3@x", "u-4@x"]
    assert expand_brace_range("plain@x") == ["plain@x"]
    with pytest.raises(ValueError, match="counts down"):
        expand_brace_range("u-{4..2}@x")
    token = "eyJhbGciOiJIUzI1NiJ9." + "x" * 200
    assert preview(token) == f"eyJhbGci…({len(token)} chars)" and "x" * 20 not in preview(token)
    assert preview("short") == "…(5 chars)"
