"""AuthUser: GoTrue and the auth test function, the way the SPA and ProspectPro's own scripts use them.

Tasks (tag ``auth``): validate the session (GET /auth/v1/user, what supabase-js does on page load), refresh it,
call ``test-new-auth`` with ``{"diagnostics": true}`` (reference §3.8, the scripts' smoke test), and sign in with
a password. Sign-ins and refreshes are paced by the process's budgets (scenarios/sessions.py): when a budget is
spent the task sends nothing rather than measure GoTrue's rate limiter.
"""

from __future__ import annotations

from locust import tag, task

from scenarios import names
from scenarios.base import ProspectProUser
from scenarios.contracts import GoTrueUser, TestNewAuthResponse
from scenarios.guards import run_refused


def sign_out(user: ProspectProUser) -> None:
    """The SPA's sign-out, as far as a shared session allows. Call when the virtual user stops.

    supabase-js's ``signOut()`` defaults to scope ``global``: GoTrue ends every session of the user, so every other
    virtual user on this test account (on any worker) would get ``session_not_found`` / ``refresh_token_not_found``
    at its next check or refresh. So the harness sends ``POST /auth/v1/logout?scope=local`` (this session only), and
    only from the last virtual user that holds the session; the others just let go of it, as tabs that stay signed
    in. Signing out at the end of each journey instead would cost a fresh sign-in per journey against GoTrue's 30
    sign-ins per 5 minutes per IP (scenarios/auth_pacing.py). A pre-minted JWT is never signed out (it cannot be
    replaced), and nothing is sent when the run was refused.
    """
    session = user.session
    still_held = user.release_session()
    if session is None or still_held != 0 or session.email is None or run_refused(user.run_state):
        return
    headers = {"apikey": user._publishable_key, "Authorization": f"Bearer {session.access_token}"}
    user.call(names.SIGN_OUT, "/auth/v1/logout?scope=local", headers=headers, expect=204, authenticated=False)
    user.run_state.session_pool(user.settings).discard(session)


def validate_session(user: ProspectProUser) -> GoTrueUser | None:
    """GET /auth/v1/user with the session's bearer: the SLA's "auth validation"."""
    return user.call(names.GET_USER, "/auth/v1/user", model=GoTrueUser)


class AuthUser(ProspectProUser):
    """Session validation, refresh, the auth test function and password sign-in (weights: validation dominates)."""

    pacing_key = "AuthUser"

    @tag("auth")
    @task(6)
    def validate(self) -> None:
        validate_session(self)

    @tag("auth")
    @task(2)
    def test_new_auth(self) -> None:
        def same_user(response: TestNewAuthResponse) -> str | None:
            found = response.authentication.request.userId
            return None if found == self.signed_in.user_id else "contract: test-new-auth answered for another user"

        self.call(names.TEST_NEW_AUTH, "/functions/v1/test-new-auth", json={"diagnostics": True},
                  model=TestNewAuthResponse, check=same_user)  # fmt: skip

    @tag("auth")
    @task(1)
    def refresh(self) -> None:
        self.refresh_measured()

    @tag("auth")
    @task(1)
    def sign_in_with_password(self) -> None:
        if self.session is not None and self.session.email:
            self.sign_in_measured(self.session.email)
