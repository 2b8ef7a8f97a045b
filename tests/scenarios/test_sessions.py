"""Session pool, sign-in budget and refresh-once logic, without HTTP (the callbacks stand in for GoTrue)."""

from __future__ import annotations

import time

import gevent
import jwt
import pytest

from scenarios.sessions import (SIGN_IN_BUDGET, NoSessionAvailable, RateBudget, Session, SessionPool, Tokens,
                                tokens_from_jwt)  # fmt: skip


class FakeGoTrue:
    """Counts sign-ins and refreshes; refresh tokens rotate like GoTrue's."""

    def __init__(self, fail_for: set[str] = frozenset()):
        self.sign_ins: list[str] = []
        self.refreshes: list[str] = []
        self.fail_for = fail_for

    def sign_in(self, email: str) -> Tokens | None:
        self.sign_ins.append(email)
        gevent.sleep(0.01)  # a real sign-in yields: concurrent users must still cause only one
        if email in self.fail_for:
            return None
        return Tokens(f"access-{email}-0", f"refresh-{email}-0", time.time() + 3600, f"uid-{email}")

    def refresh(self, refresh_token: str) -> Tokens | None:
        self.refreshes.append(refresh_token)
        gevent.sleep(0.01)
        email, generation = refresh_token.removeprefix("refresh-").rsplit("-", 1)
        n = int(generation) + 1
        return Tokens(f"access-{email}-{n}", f"refresh-{email}-{n}", time.time() + 3600, f"uid-{email}")


EMAILS = tuple(f"loadtest-{n}@prospectpro.test" for n in range(1, 51))


def test_fifty_test_users_and_a_hundred_virtual_users_sign_in_at_most_the_budget():
    gotrue = FakeGoTrue()
    pool = SessionPool(EMAILS, RateBudget(28, 300))
    greenlets = [gevent.spawn(pool.acquire, index, gotrue.sign_in) for index in range(100)]
    gevent.joinall(greenlets, raise_error=True)
    assert len(gotrue.sign_ins) == SIGN_IN_BUDGET == pool.size
    assert len(set(gotrue.sign_ins)) == len(gotrue.sign_ins)  # one sign-in per test user, never twice
    sessions = [g.value for g in greenlets]
    assert sessions[0] is sessions[SIGN_IN_BUDGET] and sessions[0] is not sessions[1]  # shared round-robin


def test_a_spent_budget_shares_existing_sessions_instead_of_signing_in():
    gotrue = FakeGoTrue()
    pool = SessionPool(EMAILS, RateBudget(3, 300))
    sessions = [pool.acquire(index, gotrue.sign_in) for index in range(10)]
    assert len(gotrue.sign_ins) == 3
    assert {s.email for s in sessions} == set(EMAILS[:3])


def test_holders_are_counted_and_a_discarded_session_is_signed_in_again_on_next_use():
    gotrue = FakeGoTrue()
    pool = SessionPool(EMAILS[:2], RateBudget(28, 300))
    first, second, third = (pool.acquire(index, gotrue.sign_in) for index in (0, 2, 1))
    assert first is second and first.holders == 2 and third.holders == 1
    assert pool.release(first) == 1 and pool.release(second) == 0  # the last holder may sign it out
    pool.discard(first)
    again = pool.acquire(0, gotrue.sign_in)
    assert again is not first and gotrue.sign_ins == [EMAILS[0], EMAILS[1], EMAILS[0]] and again.holders == 1


def test_no_session_at_all_is_an_error_not_a_hang():
    pool = SessionPool(EMAILS[:1], RateBudget(5, 300))
    with pytest.raises(NoSessionAvailable, match="^auth: no session"):
        pool.acquire(0, FakeGoTrue(fail_for={EMAILS[0]}).sign_in)


def test_rate_budget_is_a_sliding_window():
    now = [0.0]
    budget = RateBudget(2, 300, clock=lambda: now[0])
    assert budget.try_acquire() and budget.try_acquire() and not budget.try_acquire()
    now[0] = 299.9
    assert not budget.try_acquire()
    now[0] = 300.0
    assert budget.try_acquire() and budget.remaining() == 1  # the two at t=0 have left the window


def test_many_users_noticing_expiry_or_a_401_cause_one_refresh():
    gotrue = FakeGoTrue()
    session = Session("a@x", Tokens("access-a@x-0", "refresh-a@x-0", time.time() + 10, "uid"))
    seen = session.generation
    greenlets = [gevent.spawn(session.refresh, gotrue.refresh, seen) for _ in range(20)]
    gevent.joinall(greenlets, raise_error=True)
    assert all(g.value for g in greenlets)
    assert gotrue.refreshes == ["refresh-a@x-0"]
    assert session.generation == 1 and session.access_token == "access-a@x-1"
    assert not session.expires_within(30)


def test_a_preminted_jwt_cannot_be_refreshed_and_repr_never_shows_a_token():
    token = jwt.encode({"sub": "user-1", "exp": int(time.time()) + 60}, "k" * 32, algorithm="HS256")
    tokens = tokens_from_jwt(token)
    assert tokens.user_id == "user-1" and tokens.refresh_token is None
    session = Session(None, tokens)
    assert session.refresh(FakeGoTrue().refresh) is False
    assert token not in repr(session) and token[:8] in repr(session)
    pool = SessionPool(EMAILS, RateBudget(28, 300), preminted=(tokens,))
    assert pool.uses_preminted_tokens and pool.acquire(7, FakeGoTrue().sign_in) is pool.minted()[0]


def test_a_preminted_value_that_is_not_a_jwt_is_named_by_preview_only():
    with pytest.raises(ValueError, match=r"^not-a-jw…\(16 chars\) is not a JWT$"):
        tokens_from_jwt("not-a-jwt-secret")


def test_refresh_margin_is_the_spas_30_s_or_a_quarter_of_a_short_life():
    from scenarios.sessions import refresh_margin

    assert refresh_margin(3600) == 30.0 and refresh_margin(4) == 1.0
    session = Session("a@x", Tokens("t", "r", time.time() + 3, "uid", lifetime_s=20))
    assert session.needs_refresh()  # 3 s left of a 20 s token: inside its 5 s margin
    preminted = Session(None, Tokens("t", None, time.time() + 1, "uid"))
    assert not preminted.needs_refresh()  # cannot be refreshed: do not try on every request
