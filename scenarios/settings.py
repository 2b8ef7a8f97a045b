"""HarnessSettings: the one settings model, read from the environment and ``.env`` (prefix ``PP_``).

Built once, on first use (``get_settings()``), never at import time: a missing or bad value must not stop Locust
from even listing its users. Every problem becomes an ``InputError`` naming the key (``PP_POLL_INTERVAL_S``) or
the ``.env`` line, which the caller prints as one line before exiting 1. Unknown ``PP_`` keys are errors too: a
typo (``PP_MAX_USER=5``) would otherwise silently leave a safety cap at its default.

Secrets (publishable key, password, session JWTs) are ``SecretStr``: printing the settings shows ``**********``.
``preview()`` is the only way a secret reaches a log: its first characters and its length.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import jwt
from dotenv.parser import parse_stream
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from analysis.errors import InputError

ENV_PREFIX = "PP_"
ENV_FILE = ".env"
# `loadtest-{1..50}@prospectpro.test` expands to 50 addresses, like a shell brace range.
_BRACE_RANGE = re.compile(r"\{(\d+)\.\.(\d+)\}")

Tier = Literal["BASE", "PROFESSIONAL", "ENTERPRISE"]


class HarnessSettings(BaseSettings):
    """Everything the harness reads from outside. Defaults match the embedded simulator's documented defaults."""

    # env_ignore_empty: `PP_SPEND_CEILING_USD=` (as in .env.example) means "not set", not "an empty number".
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=ENV_FILE, extra="ignore", frozen=True,
                                      env_ignore_empty=True)

    # -- target --------------------------------------------------------------------------------------------------
    target_url: str | None = Field(None, description="ProspectPro's Supabase URL; unset = the embedded simulator")
    publishable_key: SecretStr = Field(SecretStr("sb_publishable_simulator"), description="sent as the apikey header")

    # -- who signs in ----------------------------------------------------------------------------------------------
    test_users: Annotated[tuple[str, ...], NoDecode] = Field(
        ("loadtest-{1..50}@prospectpro.test",), description="emails, comma-separated; {1..N} expands"
    )
    test_password: SecretStr = Field(SecretStr("prospectpro-loadtest"), description="one password for all test users")
    session_jwts: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        (), description="pre-minted session JWTs, comma-separated; when set, nobody signs in"
    )

    # -- what the users ask for (unset = the mix in scenarios/workload.toml) ----------------------------------------
    tier: Tier | None = None
    business_type: str | None = None
    location: str | None = None
    max_results: int | None = Field(None, ge=1, le=10, description="the SPA's slider is 1-10")

    # -- timing ----------------------------------------------------------------------------------------------------
    poll_interval_s: float = Field(4.0, gt=0, description="job polling interval; the SPA polls every 4 s")
    job_timeout_s: float = Field(180.0, gt=0, description="give up on a discovery job after this long")
    request_timeout_s: float = Field(30.0, gt=0, description="network and connection timeout per request")
    think_time_scale: float = Field(1.0, ge=0, description="multiplies the workload's think times (0 = none)")
    realtime: bool = Field(True, description="follow jobs over Supabase Realtime as the SPA does; false = REST polling only")
    new_user_share: float = Field(0.05, ge=0, le=1, description="share of journeys that take the sign-up path")

    # -- safety ----------------------------------------------------------------------------------------------------
    allow_remote_target: bool = False
    confirm_production: str | None = Field(None, description="must equal the production project ref to run there")
    production_project_refs: Annotated[tuple[str, ...], NoDecode] = ("sriycekxdqnesdsgwiuc",)
    max_users: int = Field(200, ge=1, description="refuse to run more users than this")
    max_discovery_jobs: int = Field(1000, ge=0, description="stop the run after this many discovery submits")
    spend_ceiling_usd: float | None = Field(None, ge=0, description="third-party spend at which to stop the run")

    @field_validator("test_users", "production_project_refs", mode="before")
    @classmethod
    def _split_list(cls, value):
        if isinstance(value, str):
            items = [item.strip() for item in value.split(",") if item.strip()]
            return tuple(expanded for item in items for expanded in expand_brace_range(item))
        return value

    @field_validator("session_jwts", mode="before")
    @classmethod
    def _split_tokens(cls, value):
        if isinstance(value, str):
            return tuple(token.strip() for token in value.split(",") if token.strip())
        return value

    @field_validator("session_jwts", mode="after")
    @classmethod
    def _readable_jwts(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for token in value:  # here, so that a bad token is reported like every other bad value: naming .env
            unverified_session_claims(token.get_secret_value())
        return value

    @field_validator("test_users", mode="after")
    @classmethod
    def _expand_defaults(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        emails = tuple(expanded for item in value for expanded in expand_brace_range(item))
        for email in emails:
            if "@" not in email:
                raise ValueError(f"{email!r} is not an email address")
        if not emails:
            raise ValueError("at least one test user is needed (or set PP_SESSION_JWTS)")
        return emails

    @field_validator("target_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value


def expand_brace_range(text: str) -> list[str]:
    """``user-{1..3}@x`` -> ``[user-1@x, user-2@x, user-3@x]``; text without a range is returned as is."""
    match = _BRACE_RANGE.search(text)
    if not match:
        return [text]
    first, last = int(match.group(1)), int(match.group(2))
    if last < first:
        raise ValueError(f"{text!r}: the range {{{first}..{last}}} counts down")
    return [f"{text[:match.start()]}{n}{text[match.end():]}" for n in range(first, last + 1)]


def unverified_session_claims(token: str) -> dict:
    """A pre-minted session JWT's claims, read without verifying (we hold no secret); it must carry sub and exp."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False, "verify_exp": False})
    except jwt.PyJWTError:
        raise ValueError(f"{preview(token)} is not a JWT") from None
    if "sub" not in claims or "exp" not in claims:
        raise ValueError(f"{preview(token)} has no sub or exp claim")
    return claims


def preview(secret: SecretStr | str | None) -> str:
    """What a log may show of a secret: ``eyJhbGci…(412 chars)``."""
    if secret is None:
        return "(none)"
    text = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    return f"{text[:8]}…({len(text)} chars)" if len(text) > 12 else f"…({len(text)} chars)"


def load_settings(env_file: str | Path = ENV_FILE) -> HarnessSettings:
    """Build the settings from os.environ and ``env_file``; every problem is one InputError naming the key."""
    environ = os.environ
    env_path = Path(env_file)
    file_keys = _env_file_keys(env_path)
    known = {ENV_PREFIX + name.upper() for name in HarnessSettings.model_fields}
    for key, where in [*((k, "environment") for k in environ), *((k, str(env_path)) for k in file_keys)]:
        if key.upper().startswith(ENV_PREFIX) and key.upper() not in known:
            raise InputError(f"unknown setting {key}", path=where, hint=f"known settings: {', '.join(sorted(known))}")
    try:
        return HarnessSettings(_env_file=env_path if env_path.is_file() else None)
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        where = str(env_path) if (ENV_PREFIX + field.upper()) in file_keys else "environment"
        # pydantic's words without the value itself (it may be a secret): "should be a valid number, ..."
        message = first["msg"].removeprefix("Value error, ")
        message = message[0].lower() + message[1:] if message else message
        message = message.removeprefix("input ")
        raise InputError(message, path=where, key=ENV_PREFIX + field.upper(), hint="see .env.example") from None


def _env_file_keys(env_path: Path) -> set[str]:
    """The keys a .env file sets; a line python-dotenv cannot parse is an error (it would only warn)."""
    if not env_path.is_file():
        return set()
    keys: set[str] = set()
    with env_path.open(encoding="utf-8") as stream:
        for binding in parse_stream(stream):
            if binding.error:
                line = binding.original.line
                # The line's text is not quoted back: it may hold a password.
                raise InputError(f"line {line} is not KEY=VALUE", path=env_path, hint="fix or remove that line")
            if binding.key:
                keys.add(binding.key)
    return keys


@lru_cache(maxsize=1)
def get_settings() -> HarnessSettings:
    """The process's settings, built on first call from the environment and ./.env."""
    return load_settings()
