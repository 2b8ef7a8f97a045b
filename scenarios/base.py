"""ProspectProUser: the abstract base of every traffic model.

It owns what every ProspectPro request shares, so the domain modules only say what to send and in which order:
* headers: ``apikey: <publishable key>`` + ``Authorization: Bearer <session JWT>`` (supabase-js, reference §2.3);
* the session: taken from the process's SessionPool, refreshed when it expires within 30 s, and on a 401
  refreshed once and the request retried once, as the SPA's ``invokeWithSession`` does;
* request names from scenarios/names.py (templates, never ids);
* response checks: every request runs in ``catch_response=True`` and ends as exactly one recorded success or
  failure. A failure message starts with a category a person understands, so failures group by cause:
  ``connection refused``, ``connection error``, ``timeout``, ``5xx``, ``429``, ``auth``, ``4xx``, ``contract``, and
  ``harness error`` when a check itself raised. No exception other than ResponseError may leave a catch_response
  block (Locust would drop the request);
* 429 with Retry-After: the failure is recorded, then this virtual user waits that long before its next request.

The hot path stays cheap (see benchmarks/bench_harness.py): bodies are validated by pydantic-core straight from
bytes (``model_validate_json``), headers are rebuilt only when the token changes, nothing is logged per request.
"""

from __future__ import annotations

import itertools
import logging
import random
import socket
import time
from collections.abc import Callable
from typing import Any, TypeVar, overload

import gevent
from gevent.timeout import Timeout as GeventTimeout
from locust import FastHttpUser
from locust.contrib.fasthttp import ResponseContextManager
from locust.env import Environment
from pydantic import BaseModel, ValidationError

from scenarios import names
from scenarios.contracts import ErrorEnvelope, TokenResponse, contract_violation
from scenarios.guards import assert_run_allowed, run_refused
from scenarios.names import RequestName
from scenarios.auth_pacing import REFRESH, SIGN_IN
from scenarios.run_state import state_of
from scenarios.sessions import NoSessionAvailable, Session, Tokens
from scenarios.settings import get_settings
from scenarios.workload import get_workload

Model = TypeVar("Model", bound=BaseModel)
# A check returns None when the response is right, else the failure message. It is given the parsed model, or
# the raw response when the call names no model.
ModelCheck = Callable[[Model], str | None]
ResponseCheck = Callable[[ResponseContextManager], str | None]

logger = logging.getLogger(__name__)

SIGN_IN_BUDGET_EXCEEDED = "sign-in budget exceeded"  # a failure category of the harness's own making
SIGN_IN_HINT = ("the harness paces sign-ins within GoTrue's per-IP limit, so another client signs in from this "
                "address, or the workers leave from more addresses than --egress-ips says")  # fmt: skip
RETRY_AFTER_CAP_S = 60.0  # a wrong Retry-After must not park a user past a short run
ERROR_TEXT_LIMIT = 160

_user_numbers = itertools.count()


class ProspectProUser(FastHttpUser):
    """Abstract: subclasses add tasks. ``self.session`` is this user's signed-in session after on_start."""

    abstract = True
    pacing_key = "ProspectorUser"  # the workload.toml [wait_time_s] entry this class uses; subclasses set their own

    def __init__(self, environment: Environment) -> None:
        settings = get_settings()
        # FastHttpUser reads these when it builds its client in __init__, so they go first.
        self.network_timeout = settings.request_timeout_s
        self.connection_timeout = settings.request_timeout_s
        super().__init__(environment)
        self.settings = settings
        self.run_state = state_of(environment)  # the run's metrics, guards, sign-in budget and sessions
        self.workload = get_workload()
        self.number = next(_user_numbers)
        self.rng = random.Random()
        self.session: Session | None = None
        self._publishable_key = settings.publishable_key.get_secret_value()
        self._anonymous_headers = {"apikey": self._publishable_key}
        self._headers: dict[str, str] = {}
        self._headers_for: tuple[int, int] = (0, -1)  # (id of the session, its generation) the headers carry
        self._pause_until = 0.0

    def wait_time(self) -> float:
        """Locust's pause between two tasks: workload.toml [wait_time_s], scaled by PP_THINK_TIME_SCALE."""
        low, high = self.workload.wait_time_s[self.pacing_key]
        return self.rng.uniform(low, high) * self.settings.think_time_scale

    # ---- sessions -------------------------------------------------------------------------------------------------
    def on_start(self) -> None:
        if run_refused(self.run_state):
            return  # no sign-in; the first request of the first task stops this user (quietly, unlike on_start)
        self.ensure_session()

    def on_stop(self) -> None:
        self.release_session()

    def release_session(self) -> int | None:
        """Let go of this user's session (the user stops); how many virtual users still hold it, None if none held."""
        session, self.session = self.session, None
        if session is None:
            return None
        return self.run_state.session_pool(self.settings).release(session)

    @property
    def signed_in(self) -> Session:
        """This user's session, for the steps that run after ensure_session() succeeded."""
        if self.session is None:
            raise RuntimeError("no session: a step that needs the signed-in user ran before ensure_session()")
        return self.session

    def ensure_session(self) -> bool:
        """Take this user's session from the pool (signing in on first use); False when none can be had.

        Every step that needs the signed-in user asks this first. Without a session it sends and records nothing:
        the failed sign-ins are already recorded under their own name, and inventing requests would break
        "Locust's counts equal the target's".
        """
        if self.session is None:
            try:
                self.session = self.run_state.session_pool(self.settings).acquire(self.number, self.sign_in)
            except NoSessionAvailable:
                return False
        return True

    def sign_in(self, email: str) -> Tokens | None:
        """POST /auth/v1/token?grant_type=password, recorded as SIGN_IN. The caller holds a sign-in permit."""
        body = {"email": email, "password": self.settings.test_password.get_secret_value()}
        token = self.call(names.SIGN_IN, "/auth/v1/token?grant_type=password", json=body, model=TokenResponse,
                          authenticated=False)  # fmt: skip
        return _tokens(token) if token else None

    def sign_in_measured(self, email: str) -> Tokens | None:
        """A sign-in as a task (AuthUser): only when the run's sign-in budget allows, else None, nothing sent."""
        if not self.run_state.permits.try_acquire(SIGN_IN):
            return None
        return self.sign_in(email)

    def refresh_tokens(self, refresh_token: str) -> Tokens | None:
        """POST /auth/v1/token?grant_type=refresh_token, recorded as REFRESH."""
        token = self.call(names.REFRESH, "/auth/v1/token?grant_type=refresh_token", json={"refresh_token": refresh_token},
                          model=TokenResponse, authenticated=False)  # fmt: skip
        return _tokens(token) if token else None

    def refresh_measured(self) -> bool:
        """A refresh as a task (AuthUser), within the run's refresh budget; False when skipped or failed."""
        session = self.session
        if session is None or not session.refresh_token or not self.run_state.permits.try_acquire(REFRESH):
            return False
        return session.refresh(self.refresh_tokens)

    def refresh_needed(self, refresh_token: str) -> Tokens | None:
        """A refresh the session cannot do without (expiry, a 401): it always goes, and counts in the budget."""
        self.run_state.permits.try_acquire(REFRESH, forced=True)
        return self.refresh_tokens(refresh_token)

    def auth_headers(self) -> dict[str, str]:
        """apikey + Bearer, refreshing the session first when it is about to expire (as the SPA does)."""
        session = self.signed_in
        if session.needs_refresh():
            session.refresh(self.refresh_needed, session.generation)  # one refresh however many users notice
        if self._headers_for != (id(session), session.generation):
            self._headers = {"apikey": self._publishable_key, "Authorization": f"Bearer {session.access_token}"}
            self._headers_for = (id(session), session.generation)
        return self._headers

    # ---- requests -------------------------------------------------------------------------------------------------
    @overload
    def call(self, request: RequestName, path: str, *, json: object = None, model: type[Model],
             check: ModelCheck[Model] | None = None, expect: int = 200, headers: dict[str, str] | None = None,
             authenticated: bool = True, retry_on_401: bool = True) -> Model | None: ...  # fmt: skip

    @overload
    def call(self, request: RequestName, path: str, *, json: object = None, model: None = None,
             check: ResponseCheck | None = None, expect: int = 200, headers: dict[str, str] | None = None,
             authenticated: bool = True, retry_on_401: bool = True) -> ResponseContextManager | None: ...  # fmt: skip

    def call(self, request: RequestName, path: str, *, json: object = None, model: type[BaseModel] | None = None,
             check: Callable[[Any], str | None] | None = None, expect: int = 200, headers: dict[str, str] | None = None,
             authenticated: bool = True, retry_on_401: bool = True) -> object | None:  # fmt: skip
        """Send one request and record exactly one success or failure under ``request``'s name.

        Returns the parsed ``model`` (or the raw response when no model is given) on success, None on failure.
        ``check(parsed_or_response)`` may add a check of its own; its message becomes the failure.
        """
        assert_run_allowed(self.run_state)  # a refused test sends nothing, not even the sign-in (StopUser ends this user)
        self._respect_retry_after()
        session = None
        if authenticated:
            if self.session is None and not self.ensure_session():
                return None  # nothing sent, nothing recorded: the failed sign-ins are recorded under their own name
            request_headers = self.auth_headers()
            session = self.signed_in
            generation = session.generation
        else:
            request_headers = self._anonymous_headers
        if headers:
            request_headers = {**request_headers, **headers}

        result = None
        unauthorized = False
        with self.client.request(request.method, path, name=request.name, headers=request_headers, json=json,
                                 catch_response=True) as response:  # fmt: skip
            status = response.status_code
            if status == expect:
                result, problem = self._judge(response, model, check)
                if problem:
                    response.failure(problem)
                else:
                    response.success()
            else:
                response.failure(self._describe_failure(response, expect, request))
                unauthorized = status == 401
                if status == 429:
                    self._pause_for_retry_after(response)

        if unauthorized and session is not None and retry_on_401 and session.refresh(self.refresh_needed, generation):
            return self.call(request, path, json=json, model=model, check=check, expect=expect, headers=headers,
                             retry_on_401=False)  # fmt: skip
        return result

    @staticmethod
    def _judge(response, model, check) -> tuple[object, str | None]:
        parsed: object = response
        if model is not None:
            try:
                parsed = model.model_validate_json(response.content or b"")
            except ValidationError as error:
                return None, contract_violation(error)
        if check is not None:
            try:
                problem = check(parsed)
            except Exception as error:  # noqa: BLE001 - a bug in a check must not lose the request (see module doc)
                logger.exception("a response check raised; the request is recorded as a failure")
                return None, f"harness error: response check raised {type(error).__name__}: {str(error)[:ERROR_TEXT_LIMIT]}"
            if problem:
                return None, problem
        return parsed, None

    def _describe_failure(self, response, expect: int, request: RequestName | None = None) -> str:
        status = response.status_code
        if status == 0:
            return _describe_network_error(getattr(response, "error", None), self.settings.request_timeout_s)
        text = _error_text(response.content)
        if 500 <= status:
            category = "5xx"
        elif status == 429 and request in (names.SIGN_IN, names.REFRESH):
            # The run paces its sign-ins within GoTrue's per-IP limit, so this 429 is the harness's, not ProspectPro's.
            return f"{SIGN_IN_BUDGET_EXCEEDED}: status 429 from GoTrue: {_error_text(response.content)}; {SIGN_IN_HINT}"
        elif status == 429:
            retry_after = response.headers.get("Retry-After") if response.headers else None
            category = f"429 (Retry-After {retry_after} s)" if retry_after else "429"
        elif status in (401, 403):
            category = "auth"
        else:
            category = "4xx" if 400 <= status < 500 else "unexpected status"
        return f"{category}: status {status}, expected {expect}: {text}"

    def record_timing(self, request: RequestName, started: float, failure: str | None = None) -> None:
        """Record a derived timing (a job's submit->completed) as its own Locust entry; ``started`` from perf_counter."""
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.environment.events.request.fire(request_type=request.method, name=request.name, response_time=elapsed_ms,
                                             response_length=0, exception=RequestFailed(failure) if failure else None,
                                             context=self.context())  # fmt: skip

    # ---- pacing ---------------------------------------------------------------------------------------------------
    def _pause_for_retry_after(self, response) -> None:
        header = response.headers.get("Retry-After") if response.headers else None
        if header is None:
            return  # no Retry-After: carry on at the normal pace
        try:
            seconds = min(max(float(header), 0.0), RETRY_AFTER_CAP_S)
        except ValueError:
            return  # an HTTP-date Retry-After: carry on at the normal pace
        self._pause_until = max(self._pause_until, time.monotonic() + seconds)

    def _respect_retry_after(self) -> None:
        remaining = self._pause_until - time.monotonic()
        if remaining > 0:
            gevent.sleep(remaining)

    def think(self, step: str) -> None:
        """Pause like a person between two steps (workload.toml think_time_s, scaled by PP_THINK_TIME_SCALE)."""
        seconds = self.workload.think_time(step, self.rng, self.settings.think_time_scale)
        if seconds > 0:
            gevent.sleep(seconds)


class RequestFailed(Exception):
    """The exception Locust records for a failure the harness decided on (its str() is the message)."""


def _tokens(token: TokenResponse) -> Tokens:
    expires_at = token.expires_at or (time.time() + token.expires_in)
    return Tokens(access_token=token.access_token, refresh_token=token.refresh_token, expires_at=float(expires_at),
                  user_id=token.user.id, lifetime_s=float(token.expires_in))  # fmt: skip


def _error_text(body: bytes | None) -> str:
    """The server's own error words (edge function, GoTrue, PostgREST or Kong envelope), shortened."""
    if not body:
        return "(empty body)"
    try:
        text = ErrorEnvelope.model_validate_json(body).text()
    except ValidationError:
        text = None
    if not text:
        return f"(no error text, {len(body)} bytes)"
    return text if len(text) <= ERROR_TEXT_LIMIT else text[: ERROR_TEXT_LIMIT - 1] + "…"


def _describe_network_error(error: BaseException | None, timeout_s: float) -> str:
    if isinstance(error, ConnectionRefusedError) or "refused" in str(error).lower():
        return "connection refused"
    if isinstance(error, (GeventTimeout, TimeoutError, socket.timeout)) or "timed out" in str(error).lower():
        return f"timeout after {timeout_s:g} s"
    if isinstance(error, ConnectionResetError) or "reset" in str(error).lower():
        return "connection error: connection reset by the server"
    return f"connection error: {type(error).__name__}: {error}" if error else "connection error: no response"
