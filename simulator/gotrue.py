"""GoTrue (Supabase Auth): users, HS256 session JWTs, refresh tokens, the per-IP rate limits, and its endpoints.

Validated access tokens are cached (token -> claims) so the hot path of every edge function call does not re-run
HS256 verification; expiry is still checked against the clock on every hit.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field

import jwt

from simulator.capacity import PerClientBuckets
from simulator.config import SimulatorConfig
from simulator.httpserver import Request, Response
from simulator.jsonbody import json_response, parse_json_object, pg_timestamp

SEEDED_PASSWORD = "prospectpro-loadtest"
SEEDED_EMAIL = "loadtest-{n}@prospectpro.test"
REFRESH_REUSE_INTERVAL_S = 10.0  # GoTrue's refresh_token_reuse_interval in the reference's config.toml
TOKEN_CACHE_LIMIT = 200_000

# GoTrue's own error texts (code, error_code, msg).
INVALID_CREDENTIALS = (400, "invalid_credentials", "Invalid login credentials")
RATE_LIMITED = (429, "over_request_rate_limit", "Request rate limit reached")
NO_AUTHORIZATION = (401, "no_authorization", "This endpoint requires a Bearer token")
TOKEN_EXPIRED = (403, "bad_jwt", "invalid JWT: unable to parse or verify signature, token has invalid claims: token is expired")
TOKEN_MALFORMED = (403, "bad_jwt", "invalid JWT: unable to parse or verify signature, token is malformed: token contains an invalid number of segments")
TOKEN_BAD_SIGNATURE = (403, "bad_jwt", "invalid JWT: unable to parse or verify signature, token signature is invalid: signature is invalid")
USER_NOT_FOUND = (403, "user_not_found", "User from sub claim in JWT does not exist")
REFRESH_NOT_FOUND = (400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found")
REFRESH_ALREADY_USED = (400, "refresh_token_already_used", "Invalid Refresh Token: Already Used")
UNSUPPORTED_GRANT = (400, "unsupported_grant_type", "unsupported_grant_type")
NOT_ADMIN = (403, "not_admin", "User not allowed")
EMAIL_EXISTS = (422, "email_exists", "A user with this email address has already been registered")
WEAK_PASSWORD = (422, "weak_password", "Password should be at least 6 characters.")

# Kong's answers when the apikey header is missing or wrong (auth and REST sit behind it).
NO_API_KEY = {"message": "No API key found in request", "hint": "No `apikey` request header or url param was found."}
BAD_API_KEY = {"message": "Invalid API key", "hint": "Double check your Supabase `anon` or `service_role` API key."}


def gotrue_error(error: tuple[int, str, str], headers: list[tuple[str, str]] | None = None) -> Response:
    status, code, msg = error
    return json_response(status, {"code": status, "error_code": code, "msg": msg}, headers=headers)


@dataclass
class User:
    id: str
    email: str
    password: str
    created_at: str
    user_metadata: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {
            "id": self.id, "aud": "authenticated", "role": "authenticated", "email": self.email,
            "email_confirmed_at": self.created_at, "phone": "", "confirmed_at": self.created_at,
            "last_sign_in_at": self.created_at,
            "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": self.user_metadata, "identities": [],
            "created_at": self.created_at, "updated_at": self.created_at, "is_anonymous": False,
        }


class TokenError(Exception):
    def __init__(self, error: tuple[int, str, str]):
        super().__init__(error[2])
        self.error = error


@dataclass
class _RefreshToken:
    user_id: str
    session_id: str
    used_at: float | None = None
    child: str | None = None


class GoTrue:
    """Users and tokens. `jwt_ttl_s` can change at run time (the token-expiry profile)."""

    def __init__(self, config: SimulatorConfig, rng: random.Random, issuer: str, seeded_at: str):
        self._config = config
        self._rng = rng
        self._secret = f"prospectpro-simulator-jwt-secret-{config.seed:020d}"
        self.issuer = issuer
        self.jwt_ttl_s = config.jwt_ttl_s
        self.users_by_id: dict[str, User] = {}
        self.users_by_email: dict[str, User] = {}
        self._refresh_tokens: dict[str, _RefreshToken] = {}
        self._verified: dict[str, dict] = {}
        self._signin_limit = PerClientBuckets(config.signin_rate_limit.requests, config.signin_rate_limit.seconds)
        self._refresh_limit = PerClientBuckets(config.refresh_rate_limit.requests, config.refresh_rate_limit.seconds)
        for n in range(1, config.users + 1):
            self.add_user(SEEDED_EMAIL.format(n=n), SEEDED_PASSWORD, seeded_at)

    # --- users and tokens -------------------------------------------------------------------------------------
    def new_uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def add_user(self, email: str, password: str, created_at: str, metadata: dict | None = None) -> User:
        user = User(self.new_uuid(), email, password, created_at, metadata or {})
        self.users_by_id[user.id] = user
        self.users_by_email[email.lower()] = user
        return user

    def issue_session(self, user: User, session_id: str | None = None) -> dict:
        now = int(time.time())
        session_id = session_id or self.new_uuid()
        claims = {
            "iss": self.issuer, "sub": user.id, "aud": "authenticated", "exp": now + self.jwt_ttl_s, "iat": now,
            "email": user.email, "phone": "", "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": user.user_metadata, "role": "authenticated", "aal": "aal1",
            "amr": [{"method": "password", "timestamp": now}], "session_id": session_id, "is_anonymous": False,
        }
        access_token = jwt.encode(claims, self._secret, algorithm="HS256")
        refresh_token = "".join(self._rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
        self._refresh_tokens[refresh_token] = _RefreshToken(user.id, session_id)
        return {
            "access_token": access_token, "token_type": "bearer", "expires_in": self.jwt_ttl_s,
            "expires_at": now + self.jwt_ttl_s, "refresh_token": refresh_token, "user": user.as_json(),
        }

    def verify(self, token: str) -> tuple[dict, User]:
        """Claims and user of a valid access token, else TokenError carrying GoTrue's answer."""
        claims = self._verified.get(token)
        if claims is None:
            try:
                claims = jwt.decode(token, self._secret, algorithms=["HS256"], audience="authenticated",
                                    options={"verify_exp": False, "require": ["exp", "sub"]})
            except jwt.InvalidSignatureError:
                raise TokenError(TOKEN_BAD_SIGNATURE) from None
            except jwt.PyJWTError:
                raise TokenError(TOKEN_MALFORMED) from None
            if len(self._verified) >= TOKEN_CACHE_LIMIT:
                self._verified.clear()
            self._verified[token] = claims
        if claims["exp"] <= time.time():
            raise TokenError(TOKEN_EXPIRED)
        user = self.users_by_id.get(claims["sub"])
        if user is None:
            raise TokenError(USER_NOT_FOUND)
        return claims, user

    @staticmethod
    def bearer(request: Request) -> str | None:
        value = request.headers.get("authorization")
        if value and value[:7].lower() == "bearer ":
            return value[7:].strip()
        return None

    # --- endpoints ----------------------------------------------------------------------------------------------
    def api_key_problem(self, request: Request) -> Response | None:
        """Kong's check in front of /auth/v1 and /rest/v1: an apikey header with a known key."""
        key = request.headers.get("apikey")
        if key is None:
            key = request.param("apikey")
        if not key:
            return json_response(401, NO_API_KEY)
        if key != self._config.publishable_key and key != self._config.service_role_key:
            return json_response(401, BAD_API_KEY)
        return None

    def token(self, request: Request) -> Response:
        problem = self.api_key_problem(request)
        if problem:
            return problem
        grant_type = request.param("grant_type")
        if grant_type == "password":
            return self._password_grant(request)
        if grant_type == "refresh_token":
            return self._refresh_grant(request)
        return gotrue_error(UNSUPPORTED_GRANT)

    def _body(self, request: Request) -> dict | Response:
        try:
            body = parse_json_object(request.body)
        except ValueError as error:
            return gotrue_error((400, "bad_json", f"Could not parse request body as JSON: {error}"))
        if not isinstance(body, dict):
            return gotrue_error((400, "bad_json", "Could not parse request body as JSON: expected an object"))
        return body

    def _password_grant(self, request: Request) -> Response:
        if not self._signin_limit.take(request.client_ip):
            return gotrue_error(RATE_LIMITED)
        body = self._body(request)
        if isinstance(body, Response):
            return body
        email, password = body.get("email"), body.get("password")
        if not isinstance(email, str) or not email:
            return gotrue_error((400, "validation_failed", "missing email or phone"))
        user = self.users_by_email.get(email.lower())
        if user is None or password != user.password:
            return gotrue_error(INVALID_CREDENTIALS)
        return json_response(200, self.issue_session(user))

    def _refresh_grant(self, request: Request) -> Response:
        if not self._refresh_limit.take(request.client_ip):
            return gotrue_error(RATE_LIMITED)
        body = self._body(request)
        if isinstance(body, Response):
            return body
        token = body.get("refresh_token")
        if not isinstance(token, str) or not token:
            return gotrue_error((400, "validation_failed", "refresh_token required"))
        record = self._refresh_tokens.get(token)
        if record is None:
            return gotrue_error(REFRESH_NOT_FOUND)
        now = time.monotonic()
        if record.used_at is not None and now - record.used_at > REFRESH_REUSE_INTERVAL_S:
            return gotrue_error(REFRESH_ALREADY_USED)
        user = self.users_by_id[record.user_id]
        session = self.issue_session(user, record.session_id)
        if record.used_at is None:
            record.used_at = now
        record.child = session["refresh_token"]
        return json_response(200, session)

    def get_user(self, request: Request) -> Response:
        problem = self.api_key_problem(request)
        if problem:
            return problem
        token = self.bearer(request)
        if not token:
            return gotrue_error(NO_AUTHORIZATION)
        try:
            _, user = self.verify(token)
        except TokenError as error:
            return gotrue_error(error.error)
        return json_response(200, user.as_json())

    def admin_create_user(self, request: Request) -> Response:
        problem = self.api_key_problem(request)
        if problem:
            return problem
        token = self.bearer(request)
        if not token:
            return gotrue_error(NO_AUTHORIZATION)
        if token != self._config.service_role_key:
            return gotrue_error(NOT_ADMIN)
        body = self._body(request)
        if isinstance(body, Response):
            return body
        email, password = body.get("email"), body.get("password")
        if not isinstance(email, str) or "@" not in email:
            return gotrue_error((400, "validation_failed", "Unable to validate email address: invalid format"))
        if email.lower() in self.users_by_email:
            return gotrue_error(EMAIL_EXISTS)
        if not isinstance(password, str) or len(password) < 6:
            return gotrue_error(WEAK_PASSWORD)
        metadata = body.get("user_metadata") if isinstance(body.get("user_metadata"), dict) else {}
        user = self.add_user(email, password, pg_timestamp(), metadata)
        return json_response(200, user.as_json())
