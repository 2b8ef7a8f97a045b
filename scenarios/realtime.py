"""Supabase Realtime for Locust users: a job's row followed over a websocket, as supabase-js does for useJobProgress.

One ``JobChannel`` is what the SPA's ``supabase.channel('discovery_jobs_<jobId>').on('postgres_changes', {event:
'*', schema: 'public', table: 'discovery_jobs', filter: 'id=eq.<jobId>'}).subscribe()`` opens (reference §3.2): a
websocket to ``/realtime/v1/websocket?apikey=<publishable key>&vsn=1.0.0`` (the wire version of ProspectPro's pinned
supabase-js: JSON objects), a ``phx_join`` carrying the session's access token and the postgres_changes config,
heartbeats on topic ``phoenix`` every 25 s, the refreshed token pushed on the channel (``access_token``) when the
session is refreshed, and ``phx_leave`` when the page unmounts. supabase-js removes the socket with its last channel,
so a channel is a connection here too.

Recorded as Locust entries of their own request type ``WS`` (names in scenarios/names.py):
* connect: the websocket handshake (TCP + HTTP upgrade); a failure on a refused handshake (Realtime's own words,
  e.g. ``429: Too many connected users``), a timeout or a connection error;
* join: time from sending ``phx_join`` to the ``phx_reply`` that makes supabase-js report SUBSCRIBED; a failure on an
  error reply (``auth: InvalidJWTToken: Token has expired ...``), a binding mismatch or no reply in 10 s;
* delivery: per pushed change, from the change's ``commit_timestamp`` to its receipt (the clocks of generator and
  target must agree: on one host they are the same clock); failures are a channel the server closed
  (``closed channel: <Realtime's system message>``) or a socket that dropped while the job was being followed;
* heartbeat: the round trip of each heartbeat; a failure when none came back before the next was due.

Everything runs in greenlets (websocket-client on gevent-patched sockets): a reader per socket and a heartbeat
timer, so a user waiting for a change costs no CPU. ``open_connections()`` is this process's count of open sockets,
a gauge for intervals.jsonl.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from urllib.parse import urlsplit

import gevent
import websocket
from gevent.event import AsyncResult
from gevent.queue import Empty, Queue

from scenarios import names
from scenarios.base import ProspectProUser, RequestFailed, _describe_network_error, _error_text
from scenarios.guards import assert_run_allowed

VSN = "1.0.0"  # supabase-js until late 2025 (ProspectPro's pin); 2.0.0 (arrays) is today's default
HEARTBEAT_INTERVAL_S = 25.0  # supabase-js CONNECTION_TIMEOUTS.HEARTBEAT_INTERVAL
JOIN_TIMEOUT_S = 10.0  # supabase-js DEFAULT_TIMEOUT (a push without a reply in 10 s is TIMED_OUT)
LEAVE_TIMEOUT_S = 2.0
# supabase-js RECONNECT_INTERVALS after a socket closes or a handshake fails, then 10 s each.
RECONNECT_INTERVALS_S = (1.0, 2.0, 5.0, 10.0)

_open_sockets = 0


def open_connections() -> int:
    """Websockets this process holds open right now."""
    return _open_sockets


def websocket_url(target: str, apikey: str) -> str:
    """``http(s)://host`` -> ``ws(s)://host/realtime/v1/websocket?apikey=...&vsn=1.0.0`` (supabase-js's URL)."""
    parts = urlsplit(target)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}/realtime/v1/websocket?apikey={apikey}&vsn={VSN}"


def reconnect_delay(attempt: int, scale: float = 1.0) -> float:
    """supabase-js's back-off before reconnect ``attempt`` (1-based), times ``scale``."""
    return RECONNECT_INTERVALS_S[min(attempt, len(RECONNECT_INTERVALS_S)) - 1] * scale


def commit_epoch(text: str) -> float:
    """``2026-11-29T19:37:29.123Z`` (postgres_cdc_rls) -> epoch seconds."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class JobChannel:
    """One discovery job's postgres_changes subscription on its own websocket."""

    def __init__(self, user: ProspectProUser, job_id: str):
        self.user = user
        self.job_id = job_id
        self.topic = f"realtime:discovery_jobs_{job_id}"
        self.binding = {"event": "*", "schema": "public", "table": "discovery_jobs", "filter": f"id=eq.{job_id}"}
        self.subscribed = False
        self.attempts = 0  # subscribe() calls so far (the first connect and each reconnect)
        self._ws: websocket.WebSocket | None = None
        self._ref = 0
        self._join_ref: str | None = None
        self._replies: dict[str, AsyncResult] = {}
        self._changes: Queue = Queue()
        self._greenlets: list[gevent.Greenlet] = []
        self._token_generation = -1
        self._leaving = False
        self._closed_reported = False
        self._system_error: str | None = None
        self._heartbeat: tuple[str, float] | None = None  # (ref, sent at) of the heartbeat awaiting its reply

    # ---- public -----------------------------------------------------------------------------------------------
    def subscribe(self) -> bool:
        """Connect (or reconnect) and join; True when SUBSCRIBED. Each step is recorded; nothing raises."""
        self.attempts += 1
        self._reset_connection()
        if not self._connect():
            return False
        self._greenlets = [gevent.spawn(self._read), gevent.spawn(self._beat)]
        self.subscribed = self._join()
        if not self.subscribed:
            self._drop_socket()
        return self.subscribed

    def next_change(self, timeout: float) -> dict | None:
        """The next change's new record (recorded as a delivery), or None after ``timeout`` s or when the channel
        closed (then ``subscribed`` is False and the closing is already recorded)."""
        deadline = time.monotonic() + max(timeout, 0.0)
        while self.subscribed:
            wait = min(deadline - time.monotonic(), HEARTBEAT_INTERVAL_S, self._keep_token_fresh())
            try:
                item = self._changes.get(timeout=max(0.0, wait))
            except Empty:
                if time.monotonic() >= deadline:
                    return None
                continue
            if item is None:  # the reader saw the channel or socket close
                return None
            record = self._record_delivery(*item)
            if record is not None:
                return record
        return None

    def leave(self) -> None:
        """phx_leave and close the socket, as supabase-js's removeChannel does (the leave reply is not timed)."""
        self._leaving = True
        if self._ws is not None and self.subscribed:
            waiter = self._send(self.topic, "phx_leave", {})
            if waiter is not None:
                waiter.wait(LEAVE_TIMEOUT_S)
        self.subscribed = False
        self._drop_socket()

    # ---- connect and join ---------------------------------------------------------------------------------------
    def _connect(self) -> bool:
        global _open_sockets
        assert_run_allowed(self.user.run_state)  # a websocket to a refused target is a request like any other: none is opened
        user = self.user
        url = websocket_url(user.host or "", user._publishable_key)  # (Locust refuses to start without a host)
        timeout = user.settings.request_timeout_s
        started = time.perf_counter()
        # skip_utf8_validation: websocket-client checks UTF-8 in pure Python, ~3 ms for a 4 KB change (measured,
        # benchmarks/bench_harness.py); decoding the text frame still rejects bad UTF-8, and json.loads the rest.
        ws = websocket.WebSocket(enable_multithread=True, skip_utf8_validation=True)
        failure = None
        try:
            ws.connect(url, timeout=timeout, suppress_origin=True)
        except websocket.WebSocketBadStatusException as error:
            failure = _describe_refusal(error.status_code, error.resp_body)
        except (websocket.WebSocketTimeoutException, TimeoutError) as error:
            failure = _describe_network_error(error, timeout)
        except (OSError, websocket.WebSocketException) as error:
            failure = _describe_network_error(error, timeout)
        self._fire(names.REALTIME_CONNECT, started, 0, failure)
        if failure:
            ws.close()
            return False
        ws.settimeout(None)  # the reader blocks (cooperatively) until a frame or the close
        self._ws = ws
        _open_sockets += 1
        return True

    def _join(self) -> bool:
        session = self.user.signed_in
        payload = {"config": {"broadcast": {"ack": False, "self": False}, "presence": {"key": "", "enabled": False},
                              "postgres_changes": [self.binding], "private": False},
                   "access_token": session.access_token}  # fmt: skip
        self._token_generation = session.generation
        started = time.perf_counter()
        waiter = self._send(self.topic, "phx_join", payload, join=True)
        reply = waiter.wait(JOIN_TIMEOUT_S) if waiter is not None else None
        failure: str | None
        if reply is None:
            if waiter is None or waiter.ready():
                failure = "connection error: websocket closed before the join reply"
            else:
                failure = f"timeout: no phx_reply to the join within {JOIN_TIMEOUT_S:g} s"
            self._fire(names.REALTIME_JOIN, started, 0, failure)
            return False
        message, length = reply
        failure = _judge_join(message.get("payload"), self.binding)
        self._fire(names.REALTIME_JOIN, started, length, failure)
        return failure is None

    # ---- the socket's greenlets ---------------------------------------------------------------------------------
    def _read(self) -> None:
        ws = self._ws
        if ws is None:  # (started once the socket is open)
            return
        while True:
            try:
                text = ws.recv()
            except Exception as error:  # noqa: BLE001 - any end of the socket ends the reader
                self._on_closed(f"connection error: websocket closed ({type(error).__name__})")
                return
            received = time.time()
            if not text:  # a close frame
                self._on_closed("connection error: websocket closed by the server")
                return
            try:
                message = json.loads(text)
                topic, event, payload, ref = message["topic"], message["event"], message.get("payload"), message.get("ref")
            except (ValueError, KeyError, TypeError):
                self._on_closed("contract: a Realtime frame that is not a Phoenix message")
                return
            if event == "phx_reply":
                if topic == "phoenix":
                    self._heartbeat_answered(ref, payload, len(text))
                waiting = self._replies.pop(ref, None)
                if waiting is not None:
                    waiting.set((message, len(text)))
            elif event == "postgres_changes" and topic == self.topic:
                self._changes.put((received, payload, len(text)))
            elif event == "system" and isinstance(payload, dict) and payload.get("status") == "error":
                self._system_error = str(payload.get("message") or "system error")
            elif event in ("phx_close", "phx_error") and topic == self.topic:
                self._on_closed(f"closed channel: {self._system_error or event}")
                return

    def _beat(self) -> None:
        while self._ws is not None:
            gevent.sleep(HEARTBEAT_INTERVAL_S)
            if self._ws is None:
                return
            if self._heartbeat is not None:  # the last one never came back: the socket is dead (Phoenix's rule)
                ref, sent = self._heartbeat
                self._fire(names.REALTIME_HEARTBEAT, sent, 0,
                           f"timeout: no heartbeat reply within {HEARTBEAT_INTERVAL_S:g} s")
                self._heartbeat = None
                self._on_closed("connection error: heartbeat timeout")
                self._drop_socket()
                return
            self._push_refreshed_token()
            self._heartbeat = (str(self._ref + 1), time.perf_counter())  # before sending: the reply may be quick
            if self._send("phoenix", "heartbeat", {}) is None:
                self._heartbeat = None

    def _heartbeat_answered(self, ref, payload, length: int) -> None:
        if self._heartbeat is None or self._heartbeat[0] != ref:
            return
        _, sent = self._heartbeat
        self._heartbeat = None
        ok = isinstance(payload, dict) and payload.get("status") == "ok"
        self._fire(names.REALTIME_HEARTBEAT, sent, length, None if ok else f"realtime error: heartbeat answered {payload}")

    def _on_closed(self, failure: str) -> None:
        """The channel or socket ended. While following a job that is a failure (recorded once, under delivery);
        while leaving it is the expected end."""
        was_subscribed = self.subscribed
        self.subscribed = False
        if was_subscribed and not self._leaving and not self._closed_reported:
            self._closed_reported = True
            self._fire(names.REALTIME_DELIVERY, time.perf_counter(), 0, failure)
        for waiting in list(self._replies.values()):
            waiting.set(None)  # a join or leave waiting for its reply gets none
        self._replies.clear()
        self._changes.put(None)

    # ---- messages -----------------------------------------------------------------------------------------------
    def _send(self, topic: str, event: str, payload: dict, join: bool = False,
              reply: bool = True) -> AsyncResult | None:  # fmt: skip
        """Send one message; the AsyncResult gets (message, length) of its phx_reply, or None if the socket closed."""
        ws = self._ws
        if ws is None:
            return None
        self._ref += 1
        ref = str(self._ref)
        if join:
            self._join_ref = ref
        message: dict[str, object] = {"topic": topic, "event": event, "payload": payload, "ref": ref}
        if topic != "phoenix":
            message["join_ref"] = self._join_ref
        waiter = AsyncResult()
        if reply:  # Realtime answers every push but access_token
            self._replies[ref] = waiter
        try:
            ws.send(json.dumps(message, separators=(",", ":")))
        except Exception:  # noqa: BLE001 - a dead socket: the reader reports the close
            self._replies.pop(ref, None)
            return None
        return waiter

    def _keep_token_fresh(self) -> float:
        """supabase-js's auto-refresh while the page only listens: refresh the session ahead of its expiry (as every
        request does, scenarios/base.py) and push the new token to the channel. Seconds until the next refresh."""
        user = self.user
        session = user.session
        if session is None or session.refresh_token is None:
            return HEARTBEAT_INTERVAL_S  # a pre-minted JWT cannot be refreshed
        if session.needs_refresh():
            user.auth_headers()  # refreshes once, however many users share the session
        self._push_refreshed_token()
        return max(0.05, session.expires_at - session.refresh_margin_s - time.time())

    def _push_refreshed_token(self) -> None:
        """supabase-js's setAuth on TOKEN_REFRESHED: the channel gets the new access token."""
        session = self.user.session
        if self.subscribed and session is not None and session.generation != self._token_generation:
            self._token_generation = session.generation
            self._send(self.topic, "access_token", {"access_token": session.access_token}, reply=False)

    def _record_delivery(self, received: float, payload, length: int) -> dict | None:
        try:
            data = payload["data"]
            record = data["record"]
            lag_s = received - commit_epoch(data["commit_timestamp"])
            if not isinstance(record, dict) or record.get("id") != self.job_id:
                raise ValueError("a change for another row")
        except (KeyError, TypeError, ValueError) as error:
            self._fire_ms(names.REALTIME_DELIVERY, 0.0, length, f"contract: postgres_changes payload: {error}")
            return None
        self._fire_ms(names.REALTIME_DELIVERY, max(lag_s, 0.0) * 1000, length, None)
        return record

    # ---- bookkeeping ---------------------------------------------------------------------------------------------
    def _reset_connection(self) -> None:
        self._drop_socket()
        self._changes = Queue()
        self._replies = {}
        self._leaving = False
        self._closed_reported = False
        self._system_error = None
        self._heartbeat = None

    def _drop_socket(self) -> None:
        global _open_sockets
        ws, self._ws = self._ws, None
        current = gevent.getcurrent()
        for greenlet in self._greenlets:
            if greenlet is not current:
                greenlet.kill(block=False)
        self._greenlets = []
        if ws is not None:
            _open_sockets -= 1
            try:
                ws.close(timeout=0.5)
            except Exception:  # noqa: BLE001 - closing a socket that is already gone
                pass

    def _fire(self, request: names.RequestName, started: float, length: int, failure: str | None) -> None:
        self._fire_ms(request, (time.perf_counter() - started) * 1000, length, failure)

    def _fire_ms(self, request: names.RequestName, elapsed_ms: float, length: int, failure: str | None) -> None:
        self.user.environment.events.request.fire(
            request_type=request.method, name=request.name, response_time=elapsed_ms, response_length=length,
            exception=RequestFailed(failure) if failure else None, context={})  # fmt: skip


def _describe_refusal(status: int, body: bytes | None) -> str:
    """A refused handshake, categorised like an HTTP failure, quoting Realtime's (or the gateway's) words."""
    text = _error_text(body)
    if status >= 500:
        category = "5xx"
    elif status == 429:
        category = "429"
    elif status in (401, 403):
        category = "auth"
    else:
        category = "4xx"
    return f"{category}: status {status}, expected 101: {text}"


def _judge_join(payload, binding: dict) -> str | None:
    """supabase-js's checks on the join reply: status ok, and the server's bindings equal the client's."""
    if not isinstance(payload, dict):
        return "contract: phx_reply without a payload"
    if payload.get("status") != "ok":
        reason = str((payload.get("response") or {}).get("reason") or payload)
        category = "auth" if ("JWT" in reason or "Token" in reason) else "429" if "RateLimit" in reason else "realtime error"
        return f"{category}: {reason}"
    server = (payload.get("response") or {}).get("postgres_changes")
    if not isinstance(server, list) or len(server) != 1 or not isinstance(server[0], dict) or "id" not in server[0]:
        return "contract: mismatch between server and client bindings for postgres changes"
    if any(server[0].get(key) != value for key, value in binding.items()):
        return "contract: mismatch between server and client bindings for postgres changes"
    return None
