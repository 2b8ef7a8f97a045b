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
LOGOUT_SCOPES = ("global", "local", "others")
TOKEN_CACHE_LIMIT = 200_000

# GoTrue's own error texts (code, error_code, msg).
INVALID_CREDENTIALS = (400, "invalid_credentials", "Invalid login credentials")
RATE_LIMITED = (429, "over_request_rate_limit", "Request rate limit reached")
NO_AUTHORIZATION = (401, "no_authorization", "This endpoint requires a Bearer token")
TOKEN_EXPIRED = (403, "bad_jwt", "invalid JWT: unable to parse or verify signature, token has invalid claims: token is expired")
TOKEN_MALFORMED = (403, "bad_jwt", "invalid JWT: unable to parse or verify signature, token is malformed: token contains an invalid number of segments")
TOKEN_BAD_SIGNATURE = (403, "bad_jwt", "invalid JWT: unable to parse or verify signature, token signature is invalid: signature is invalid")
USER_NOT_FOUND = (403, "user_not_found", "User from sub claim in JWT does not exist")
SESSION_NOT_FOUND = (403, "session_not_found", "Session from session_id claim in JWT does not exist")
BAD_LOGOUT_SCOPE = (400, "validation_failed", "Unsupported logout scope")
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
    revoked_at: float | None = None  # monotonic time it was rotated (or its family revoked)


@dataclass
class _Session:
    user_id: str
    active: str  # the refresh token that may be rotated now
    tokens: list[str] = field(default_factory=list)  # the family: every refresh token of this session
    family_revoked: bool = False


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
        self.sessions: dict[str, _Session] = {}
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
        """A new session (or, with session_id, a rotation in it): an access token and a new refresh token."""
        session_id = session_id or self.new_uuid()
        refresh_token = "".join(self._rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
        self._refresh_tokens[refresh_token] = _RefreshToken(user.id, session_id)
        session = self.sessions.get(session_id)
        if session is None:
            session = self.sessions[session_id] = _Session(user.id, refresh_token)
        session.active = refresh_token
        session.tokens.append(refresh_token)
        return self._session_answer(user, session_id, refresh_token)

    def _session_answer(self, user: User, session_id: str, refresh_token: str) -> dict:
        now = int(time.time())
        claims = {
            "iss": self.issuer, "sub": user.id, "aud": "authenticated", "exp": now + self.jwt_ttl_s, "iat": now,
            "email": user.email, "phone": "", "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": user.user_metadata, "role": "authenticated", "aal": "aal1",
            "amr": [{"method": "password", "timestamp": now}], "session_id": session_id, "is_anonymous": False,
        }
        access_token = jwt.encode(claims, self._secret, algorithm="HS256")
        return {
            "access_token": access_token, "token_type": "bearer", "expires_in": self.jwt_ttl_s,
            "expires_at": now + self.jwt_ttl_s, "refresh_token": refresh_token, "user": user.as_json(),
        }

    def verify(self, token: str, check_session: bool = True) -> tuple[dict, User]:
        """Claims and user of a valid access token, else TokenError carrying GoTrue's answer. GoTrue also wants
        the token's session to exist (signed out: session_not_found); PostgREST checks the JWT only
        (check_session=False), so an access token keeps working there until it expires, as in Supabase."""
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
        if check_session and not self._session_alive(claims):
            raise TokenError(SESSION_NOT_FOUND)
        return claims, user

    def _session_alive(self, claims: dict) -> bool:
        session_id = claims.get("session_id")
        return session_id is None or session_id in self.sessions

    def still_valid(self, token: str, claims: dict) -> bool:
        """A token verified before is still accepted: not expired (the signature cannot have changed)."""
        return claims["exp"] > time.time() and self._session_alive(claims)

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
        session = self.sessions.get(record.session_id) if record is not None else None
        if record is None or session is None:  # never issued, or its session signed out
            return gotrue_error(REFRESH_NOT_FOUND)
        user = self.users_by_id[record.user_id]
        now = time.monotonic()
        if record.revoked_at is not None:
            # Rotation with a reuse interval (GoTrue's token_refresh): a revoked token used again within the
            # interval gets the session's current refresh token (nothing new is minted); beyond it, reuse is taken
            # for theft and the whole token family is revoked.
            if not session.family_revoked and now - record.revoked_at <= self._config.refresh_reuse_interval_s:
                return json_response(200, self._session_answer(user, record.session_id, session.active))
            self._revoke_family(session, now)
            return gotrue_error(REFRESH_ALREADY_USED)
        record.revoked_at = now
        return json_response(200, self.issue_session(user, record.session_id))

    def _revoke_family(self, session: _Session, now: float) -> None:
        session.family_revoked = True
        for token in session.tokens:
            record = self._refresh_tokens[token]
            if record.revoked_at is None:
                record.revoked_at = now

    def _end_sessions(self, session_ids) -> None:
        for session_id in list(session_ids):
            session = self.sessions.pop(session_id, None)
            if session is not None:
                for token in session.tokens:
                    self._refresh_tokens.pop(token, None)

    def logout(self, request: Request) -> Response:
        """POST /auth/v1/logout?scope=global|local|others: end the user's sessions (all of them, this one, or all
        but this one). Their refresh tokens are gone (refresh_token_not_found) and GoTrue no longer accepts their
        access tokens (session_not_found); 204 No Content."""
        problem = self.api_key_problem(request)
        if problem:
            return problem
        scope = request.param("scope") or "global"
        if scope not in LOGOUT_SCOPES:
            return gotrue_error(BAD_LOGOUT_SCOPE)
        token = self.bearer(request)
        if not token:
            return gotrue_error(NO_AUTHORIZATION)
        try:
            claims, user = self.verify(token)
        except TokenError as error:
            return gotrue_error(error.error)
        current = claims.get("session_id")
        mine = [sid for sid, session in self.sessions.items() if session.user_id == user.id]
        if scope == "local":
            ended = [current] if current else []
        elif scope == "others":
            ended = [sid for sid in mine if sid != current]
        else:
            ended = mine
        self._end_sessions(ended)
        return Response(204, b"", content_type=None)

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
