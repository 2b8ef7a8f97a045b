"""Session tokens: minted within GoTrue's sign-in rate limit, shared across virtual users, refreshed before expiry.

GoTrue allows 30 password sign-ins per 5 minutes per IP (reference §2.2). A load test that signed in once per
virtual user would be throttled after 30 users and would measure GoTrue's limiter, not ProspectPro. So:

* one ``SessionPool`` per process holds at most ``pool_size`` sessions, one per test user, minted lazily the first
  time a virtual user needs one (its share of the budget sets the size: ``SIGN_IN_BUDGET`` of the 28 permits for a
  process alone, leaving room for AuthUser's own measured sign-ins and for retries; less for each of N workers);
* virtual user ``i`` uses session ``i % pool_size``: 100 virtual users on 20 sessions behave like 20 people with
  several browser tabs, which is what ProspectPro's RLS sees anyway;
* every sign-in, in the pool or elsewhere, first takes a permit from the run's sign-in budget, which one process
  keeps for every worker behind the same address (scenarios/auth_pacing.py; GoTrue's limit is per IP);
* a session is refreshed (grant_type=refresh_token) when it expires within ``REFRESH_MARGIN_S`` (30 s), as the SPA's
  ``invokeWithSession`` does (a quarter of the token's life if that is shorter), and on a 401 the caller
  refreshes once and retries once;
* or the sessions are pre-minted JWTs from PP_SESSION_JWTS, and nobody signs in at all.

The HTTP calls themselves are made by the caller (the base user) so that Locust records them; this module only
decides who signs in, when, and with which token. Tokens are never logged whole: see ``settings.preview``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from gevent.lock import Semaphore

from scenarios.settings import HarnessSettings, preview, unverified_session_claims

SIGN_IN_LIMIT = 30  # GoTrue: sign-ins per window per IP (reference §2.2, app/backend/config.toml)
SIGN_IN_WINDOW_S = 300.0
SIGN_IN_PERMITS = SIGN_IN_LIMIT - 2  # two spare: our window and GoTrue's do not start at the same instant
SIGN_IN_BUDGET = 20  # most sessions one process mints; the other 10 sign-ins are headroom (AuthUser, retries)
REFRESH_LIMIT = 150  # GoTrue: token refreshes per window per IP (reference §2.2, app/backend/config.toml)
REFRESH_PERMITS = REFRESH_LIMIT - 10  # ten spare, as for sign-ins
# AuthUser's measured refreshes stay under this; the refreshes a session needs (expiry, 401) always go.
REFRESH_BUDGET = 100
REFRESH_MARGIN_S = 30.0  # the SPA refreshes a session that expires within 30 s


@dataclass
class Tokens:
    """What a sign-in or refresh returned (the fields of contracts.TokenResponse the harness keeps)."""

    access_token: str
    refresh_token: str | None
    expires_at: float
    user_id: str
    lifetime_s: float = 3600.0  # expires_in: how long a token of this session lives


def refresh_margin(lifetime_s: float) -> float:
    """Refresh this long before expiry: the SPA's 30 s, but at most a quarter of the token's life.

    With GoTrue's default hour the margin is 30 s; a short-lived token (a test's --jwt-ttl 4) is refreshed at 3 s
    instead of on every request.
    """
    return min(REFRESH_MARGIN_S, lifetime_s / 4)


class Session:
    """One signed-in test user, shared by the virtual users assigned to it."""

    def __init__(self, email: str | None, tokens: Tokens):
        self.email = email
        self.access_token = tokens.access_token
        self.refresh_token = tokens.refresh_token
        self.expires_at = tokens.expires_at
        self.user_id = tokens.user_id
        self.refresh_margin_s = refresh_margin(tokens.lifetime_s)
        self.generation = 0  # bumped by every refresh, so a caller can tell "someone already refreshed"
        self.holders = 0  # virtual users holding it now (acquire adds one, release takes it back)
        self._refresh_lock = Semaphore()

    def __repr__(self) -> str:  # never the token itself
        return f"Session({self.email or 'pre-minted'}, token={preview(self.access_token)}, generation={self.generation})"

    def expires_within(self, seconds: float, now: float | None = None) -> bool:
        return self.expires_at - (now if now is not None else time.time()) < seconds

    def needs_refresh(self, now: float | None = None) -> bool:
        """True when the token expires within its refresh margin (and can be refreshed at all)."""
        return self.refresh_token is not None and self.expires_within(self.refresh_margin_s, now)

    def refresh(self, refresh_tokens: Callable[[str], Tokens | None], seen_generation: int | None = None) -> bool:
        """Refresh once, even if many greenlets ask at the same moment; True when the session has a newer token.

        ``seen_generation`` is the generation the caller's failed request used: if another greenlet refreshed since,
        the caller just retries with the newer token. Refresh tokens rotate, so a second refresh with the old one
        would be rejected by GoTrue.
        """
        with self._refresh_lock:
            if seen_generation is not None and self.generation != seen_generation:
                return True
            if not self.refresh_token:
                return False  # a pre-minted JWT cannot be refreshed
            tokens = refresh_tokens(self.refresh_token)
            if tokens is None:
                return False
            self.access_token = tokens.access_token
            self.refresh_token = tokens.refresh_token or self.refresh_token
            self.expires_at = tokens.expires_at
            self.refresh_margin_s = refresh_margin(tokens.lifetime_s)
            self.generation += 1
            return True


class RateBudget:
    """A sliding window: at most ``limit`` permits in any ``window_s`` seconds, for this process."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._granted: deque[float] = deque()

    def try_acquire(self) -> bool:
        now = self._clock()
        while self._granted and now - self._granted[0] >= self.window_s:
            self._granted.popleft()
        if len(self._granted) >= self.limit:
            return False
        self._granted.append(now)
        return True

    def record(self, ago_s: float = 0.0) -> None:
        """Count a permit that was used whatever the window said (a refresh a session could not do without), or
        one used ``ago_s`` seconds ago by someone else from the same address (the perf pre-flight's sign-in)."""
        self._granted.append(self._clock() - ago_s)
        if ago_s:
            self._granted = deque(sorted(self._granted))

    def remaining(self) -> int:
        now = self._clock()
        return self.limit - sum(1 for granted in self._granted if now - granted < self.window_s)


class NoSessionAvailable(Exception):
    """No session could be minted (sign-in failed or the rate budget is spent) and none exists to share."""


class SessionPool:
    """The process's sessions. ``acquire(index, sign_in)`` returns the session virtual user ``index`` uses."""

    def __init__(self, emails: tuple[str, ...], limiter: RateBudget | SignInPermits, pool_size: int | None = None,
                 preminted: tuple[Tokens, ...] = ()):  # fmt: skip
        self.limiter = limiter
        self._preminted = preminted
        self._emails = emails
        self.size = len(preminted) if preminted else min(len(emails), pool_size or SIGN_IN_BUDGET)
        self._sessions: list[Session | None] = [Session(None, t) for t in preminted] or [None] * self.size
        self._mint_locks = [Semaphore() for _ in range(self.size)]

    @property
    def uses_preminted_tokens(self) -> bool:
        return bool(self._preminted)

    def minted(self) -> list[Session]:
        return [session for session in self._sessions if session is not None]

    def acquire(self, index: int, sign_in: Callable[[str], Tokens | None]) -> Session:
        """The session for virtual user ``index``, signing its test user in on first use.

        When the slot's sign-in fails or the rate budget is spent, an already minted session is shared instead;
        NoSessionAvailable only when there is none at all.
        """
        session = self._acquire(index, sign_in)
        session.holders += 1
        return session

    def release(self, session: Session) -> int:
        """A virtual user lets go of ``session``; how many still hold it."""
        session.holders = max(0, session.holders - 1)
        return session.holders

    def discard(self, session: Session) -> None:
        """Forget a session that was signed out: its slot signs in again on next use (within the budget)."""
        self._sessions = [None if held is session else held for held in self._sessions]

    def _acquire(self, index: int, sign_in: Callable[[str], Tokens | None]) -> Session:
        slot = index % self.size
        session = self._sessions[slot]
        if session is not None:
            return session
        with self._mint_locks[slot]:  # one sign-in per slot, however many users arrive at once
            session = self._sessions[slot]
            if session is None and self.limiter.try_acquire():
                tokens = sign_in(self._emails[slot])
                if tokens is not None:
                    session = self._sessions[slot] = Session(self._emails[slot], tokens)
        if session is not None:
            return session
        others = self.minted()
        if not others:
            raise NoSessionAvailable("auth: no session: sign-in failed and no other session exists to share")
        return others[slot % len(others)]


def tokens_from_jwt(token: str) -> Tokens:
    """A pre-minted session JWT as Tokens (HarnessSettings has already checked that it carries sub and exp)."""
    claims = unverified_session_claims(token)
    lifetime = float(claims["exp"]) - float(claims.get("iat", float(claims["exp"]) - 3600))
    return Tokens(access_token=token, refresh_token=None, expires_at=float(claims["exp"]), user_id=str(claims["sub"]),
                  lifetime_s=lifetime)  # fmt: skip


class SignInPermits(Protocol):
    """Where the pool gets its sign-in permits and its size (scenarios/auth_pacing.py: the run's shared budget)."""

    def try_acquire(self) -> bool: ...

    def pool_size(self) -> int: ...


def preminted_tokens(settings: HarnessSettings) -> tuple[Tokens, ...]:
    """PP_SESSION_JWTS as Tokens (a bad token raises ValueError, so guards check it at init)."""
    return tuple(tokens_from_jwt(token.get_secret_value()) for token in settings.session_jwts)


def build_session_pool(settings: HarnessSettings, permits: SignInPermits) -> SessionPool:
    """A run's pool (scenarios/run_state.py builds it on first use) from the settings and this process's share of
    the sign-in budget."""
    preminted = preminted_tokens(settings)
    size = None if preminted else permits.pool_size()
    return SessionPool(settings.test_users, permits, pool_size=size, preminted=preminted)
