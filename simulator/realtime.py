"""Supabase Realtime: `GET /realtime/v1/websocket`, the Phoenix channel protocol as supabase-js speaks it.

What the front end uses (reference §3.2, useJobProgress): a websocket, a channel `realtime:<name>` joined with
the session's access token and a `postgres_changes` config (`{event: "*", schema: "public", table:
"discovery_jobs", filter: "id=eq.<jobId>"}`), the rows' changes pushed as the job advances, heartbeats on topic
`phoenix`, token refresh on the channel (`access_token`), and `phx_leave`. Behaviour follows supabase/realtime
(lib/realtime_web/channels/user_socket.ex, realtime_channel.ex, extensions/postgres_cdc_rls):

* handshake: the apikey query parameter is required (401 `{"error": "API key is missing"}`); a project at its
  concurrent-connection limit answers 429 `{"error": "Too many connected users"}`. `vsn` 1.0.0 (JSON objects,
  what supabase-js sent until late 2025, and ProspectPro's pinned version) and 2.0.0 (JSON arrays
  `[join_ref, ref, topic, event, payload]`, today's default) are both served.
* join: the token is checked (HS256 signature, expiry) and the reply is `phx_reply` `{"status": "ok", "response":
  {"postgres_changes": [{id, event, schema, table, filter}]}}`, then a `system` message "Subscribed to
  PostgreSQL"; a bad token is `{"status": "error", "response": {"reason": "InvalidJWTToken: Token has expired N
  seconds ago"}}` (or MalformedJWT / JwtSignatureError), and so is a join past the connection limit
  ("ConnectionRateLimitReached: Too many connected users"). A table outside the `supabase_realtime` publication
  gets a `system` error (only discovery_jobs is published, reference §3.2 [RT]).
* changes: a row change on a published table is pushed to every channel whose binding matches (event, table,
  `column=eq.value` filter) and whose token's user may read the row (row-level security: `auth.uid() =
  user_id`; an anon token reads nothing). Payload as postgres_cdc_rls builds it: `{"ids": [...], "data":
  {schema, table, commit_timestamp, type, columns, record, old_record, errors}}` (REPLICA IDENTITY FULL).
* a channel whose token has expired is shut down at its next change or heartbeat: `system` error with the
  expiry text, then `phx_close` (Realtime checks on a timer; lazily here). `access_token` swaps the token.
* heartbeats (`phoenix`/`heartbeat`) are answered `phx_reply` ok; a socket silent for IDLE_TIMEOUT_S is closed.

Accounting (what Locust records, one entry each): the handshake under `WS /realtime/v1/websocket` (101 or the
refusal's status), join replies under `WS phx_join`, heartbeat replies under `WS heartbeat`, pushed changes under
`WS postgres_changes` (statuses "ok"/"error"). Leave replies, system messages and phx_close are protocol chatter
that no client times, so they are counted in `realtime` (messages in/out, open and peak connections) instead.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from datetime import datetime, timezone

import jwt
from gevent.lock import Semaphore
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.utilities import generate_accept_token

from simulator.gotrue import TOKEN_BAD_SIGNATURE, TOKEN_EXPIRED, GoTrue, TokenError
from simulator.httpserver import Request, Response, Upgrade
from simulator.jsonbody import json_response
from simulator.store import OWNER_COLUMN, TABLES

WEBSOCKET_PATH = "/realtime/v1/websocket"
PUBLISHED_TABLES = ("discovery_jobs",)  # the supabase_realtime publication (reference §3.2, [RT] migration)
VERSIONS = ("1.0.0", "2.0.0")
IDLE_TIMEOUT_S = 60.0  # Phoenix's websocket timeout; supabase-js heartbeats every 25 s
RECV_BYTES = 65536
# Postgres column types as postgres_cdc_rls reports them (supabase-js converts values by these).
PG_TYPES = {"text": "text", "int": "int4", "num": "numeric", "bool": "bool", "json": "jsonb"}
TIMESTAMP_COLUMNS = {"created_at", "updated_at", "started_at", "completed_at"}

# Accounting keys and statuses.
HANDSHAKE_KEY = f"WS {WEBSOCKET_PATH}"
JOIN_KEY = "WS phx_join"
HEARTBEAT_KEY = "WS heartbeat"
CHANGES_KEY = "WS postgres_changes"

CountKey = Callable[[str, int | str, int], None]  # (key, status, delta)


def commit_timestamp(epoch: float) -> str:
    """As postgres_cdc_rls writes it: UTC with milliseconds and a Z."""
    moment = datetime.fromtimestamp(epoch, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _columns(table: str) -> list[dict]:
    return [{"name": name, "type": "timestamptz" if name in TIMESTAMP_COLUMNS else PG_TYPES[kind]}
            for name, kind in TABLES[table].items()]


class Binding:
    """One postgres_changes entry of a join: what it listens to, and the id the server gave it."""

    __slots__ = ("id", "event", "schema", "table", "filter", "column", "value", "echo")

    def __init__(self, spec: dict, number: int):
        self.event = str(spec.get("event", "*"))
        self.schema = spec.get("schema")
        self.table = spec.get("table")
        self.filter = spec.get("filter")
        self.column = self.value = None
        if isinstance(self.filter, str) and "=eq." in self.filter:
            self.column, _, self.value = self.filter.partition("=eq.")
        # Realtime's id is erlang:phash2 of the params: a stable number per distinct binding.
        self.id = number
        self.echo = {key: spec[key] for key in ("event", "schema", "table", "filter") if key in spec}
        self.echo["id"] = self.id

    def matches(self, table: str, change_type: str, record: dict) -> bool:
        if self.table not in (table, "*", None) or self.schema not in ("public", "*", None):
            return False
        if self.event != "*" and self.event.upper() != change_type:
            return False
        return self.column is None or str(record.get(self.column)) == self.value


class Channel:
    __slots__ = ("topic", "join_ref", "bindings", "claims", "socket")

    def __init__(self, topic: str, join_ref, bindings: list[Binding], claims: dict | None, socket: "RealtimeSocket"):
        self.topic = topic
        self.join_ref = join_ref
        self.bindings = bindings
        self.claims = claims
        self.socket = socket

    @property
    def name(self) -> str:
        return self.topic.removeprefix("realtime:")

    def expired_for(self, now: float) -> float | None:
        """Seconds since this channel's token expired, or None while it is valid (anon tokens never expire)."""
        if self.claims is None:
            return None
        overdue = now - float(self.claims.get("exp", now + 1))
        return overdue if overdue >= 0 else None


class Realtime:
    """The Realtime service of one simulator: its sockets, channels and the change feed from the store."""

    def __init__(self, gotrue: GoTrue, publishable_key: str, service_role_key: str, max_connections: int,
                 count: CountKey, component=None):  # fmt: skip
        self._gotrue = gotrue
        self._keys = (publishable_key, service_role_key)
        self.max_connections = max_connections
        self._count = count
        # The `realtime` component (simulator/components.py): a connected user holds one of its slots, a refusal
        # counts as its rejection, so Realtime shows in /__admin/stats like every other component.
        self.component = component
        self.sockets: set[RealtimeSocket] = set()
        self.channels_by_table: dict[str, set[Channel]] = {table: set() for table in PUBLISHED_TABLES}
        self._binding_ids: dict[tuple, int] = {}
        self.peak_connections = 0
        self.messages_in = 0
        self.messages_out = 0

    # --- numbers ---------------------------------------------------------------------------------------------
    def connected_users(self) -> int:
        """Realtime's UsersCounter: sockets with at least one joined channel (what the limit counts)."""
        return sum(1 for sock in self.sockets if sock.channels)

    def snapshot(self) -> dict:
        return {"connections": len(self.sockets), "connected_users": self.connected_users(),
                "peak_connections": self.peak_connections, "max_connections": self.max_connections,
                "messages_in": self.messages_in, "messages_out": self.messages_out}  # fmt: skip

    def reset(self) -> None:
        self.peak_connections = len(self.sockets)
        self.messages_in = self.messages_out = 0

    # --- handshake -------------------------------------------------------------------------------------------
    def handshake(self, request: Request) -> Response:
        """The answer to `GET /realtime/v1/websocket`: 101 with the socket taken over, or a refusal."""
        if request.method != "GET":
            return json_response(405, {"error": "Method Not Allowed"})
        key = request.headers.get("sec-websocket-key")
        if request.headers.get("upgrade", "").lower() != "websocket" or not key:
            return json_response(400, {"error": "Expected a websocket upgrade"})
        if request.headers.get("sec-websocket-version") != "13":
            return json_response(426, {"error": "Unsupported websocket version"},
                                 headers=[("Sec-WebSocket-Version", "13")])
        apikey = request.param("apikey") or request.headers.get("x-api-key")
        if not apikey:
            return json_response(401, {"error": "API key is missing"})
        if apikey not in self._keys and not self._valid_jwt(apikey):
            return json_response(401, {"error": "The token provided is not a valid JWT"})
        vsn = request.param("vsn") or "1.0.0"
        if vsn not in VERSIONS:
            return json_response(400, {"error": f"Unsupported serializer version: {vsn}"})
        if self.connected_users() >= self.max_connections:
            self.refused()
            return json_response(429, {"error": "Too many connected users"})
        sock = RealtimeSocket(self, vsn)
        headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                   ("Sec-WebSocket-Accept", generate_accept_token(key.encode()).decode())]
        return Upgrade(headers, sock.serve)

    def refused(self) -> None:
        if self.component is not None:
            self.component.refuse()

    def hold(self) -> None:
        """A socket became a connected user (its first channel): it takes a slot of the component."""
        if self.component is not None:
            self.component.enter()

    def release(self) -> None:
        if self.component is not None:
            self.component.leave()

    def _valid_jwt(self, token: str) -> bool:
        try:
            self._gotrue.verify(token)
        except TokenError:
            return False
        return True

    def drop_all(self) -> None:
        """Realtime went away (the realtime-down fault switched on): every socket closed, going away."""
        for sock in list(self.sockets):
            sock.close(1001)

    # --- the change feed (store listener) ---------------------------------------------------------------------
    def on_change(self, table: str, change_type: str, record: dict, old_record: dict | None) -> None:
        channels = self.channels_by_table.get(table)
        if not channels:
            return
        now = time.time()
        data = None
        owner_column = OWNER_COLUMN[table]
        for channel in list(channels):
            ids = [b.id for b in channel.bindings if b.matches(table, change_type, record)]
            if not ids:
                continue
            overdue = channel.expired_for(now)
            if overdue is not None:
                channel.socket.shutdown(channel, f"Token has expired {int(overdue)} seconds ago")
                continue
            if channel.claims is None or channel.claims.get("sub") != record.get(owner_column):
                continue  # row-level security: the change is not visible to this token's user
            if data is None:
                data = {"schema": "public", "table": table, "commit_timestamp": commit_timestamp(now),
                        "type": change_type, "columns": _columns(table), "record": record,
                        "old_record": old_record or {}, "errors": None}  # fmt: skip
                if change_type == "INSERT":
                    del data["old_record"]
            channel.socket.push(channel.topic, "postgres_changes", {"ids": ids, "data": data}, None,
                                count=CHANGES_KEY)

    def binding_id(self, spec: dict) -> int:
        key = tuple(sorted((str(k), str(v)) for k, v in spec.items()))
        number = self._binding_ids.get(key)
        if number is None:
            number = self._binding_ids[key] = 30_000_000 + len(self._binding_ids)
        return number

    def claims_of(self, token: str | None) -> tuple[dict | None, str | None]:
        """(claims, None) for a valid user token, (None, None) for a project key (anon), (None, reason) if bad."""
        if token is None or token.startswith("sb_") or token in self._keys:
            return None, None
        try:
            claims, _ = self._gotrue.verify(token)
        except TokenError as error:
            if error.error is TOKEN_EXPIRED:
                claims = jwt.decode(token, options={"verify_signature": False})
                overdue = int(time.time() - float(claims.get("exp", 0)))
                return None, f"InvalidJWTToken: Token has expired {overdue} seconds ago"
            if error.error is TOKEN_BAD_SIGNATURE:
                return None, "JwtSignatureError: Failed to validate JWT signature"
            return None, "MalformedJWT: The token provided is not a valid JWT"
        return claims, None


class RealtimeSocket:
    """One websocket: wsproto framing on the raw socket, Phoenix messages in, replies and pushes out."""

    def __init__(self, realtime: Realtime, vsn: str):
        self.realtime = realtime
        self.vsn = vsn
        self.channels: dict[str, Channel] = {}
        self._ws = Connection(ConnectionType.SERVER)
        self._sock: socket.socket | None = None
        self._write_lock = Semaphore()
        self._closed = False

    # --- lifecycle ---------------------------------------------------------------------------------------------
    def serve(self, sock: socket.socket, leftover: bytes) -> None:
        """Run the socket until the client closes it, it goes silent, or Realtime drops it."""
        realtime = self.realtime
        self._sock = sock
        realtime.sockets.add(self)
        realtime.peak_connections = max(realtime.peak_connections, len(realtime.sockets))
        sock.settimeout(IDLE_TIMEOUT_S)
        text_parts: list[str] = []
        try:
            data = leftover
            while not self._closed:
                if data:
                    self._ws.receive_data(data)
                    for event in self._ws.events():
                        if isinstance(event, TextMessage):
                            text_parts.append(event.data)
                            if event.message_finished:
                                self._on_text("".join(text_parts))
                                text_parts = []
                        elif isinstance(event, Ping):
                            self._send_frame(event.response())
                        elif isinstance(event, CloseConnection):
                            if self._ws.state is not ConnectionState.CLOSED:
                                self._send_frame(event.response())
                            return
                        elif isinstance(event, BytesMessage):
                            self.close(1003)  # Realtime's clients send binary only for broadcast
                            return
                data = sock.recv(RECV_BYTES)
                if not data:
                    return
        except (OSError, socket.timeout):
            return
        except Exception as error:  # wsproto's protocol errors: close as a server would
            if "Protocol" in type(error).__name__:
                self.close(1002)
                return
            raise
        finally:
            self._forget()

    def _forget(self) -> None:
        self._closed = True
        if self.channels:
            self.realtime.release()
        for channel in self.channels.values():
            for table in self.realtime.channels_by_table.values():
                table.discard(channel)
        self.channels.clear()
        self.realtime.sockets.discard(self)

    def close(self, code: int = 1000) -> None:
        if self._closed or self._sock is None:
            return
        try:
            self._send_frame(CloseConnection(code=code))
        except Exception:  # noqa: BLE001 - closing a broken socket
            pass
        self._forget()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # --- writing ---------------------------------------------------------------------------------------------
    def _send_frame(self, event) -> None:
        data = self._ws.send(event)
        sock = self._sock
        if sock is None:  # (set when the connection is accepted, before any frame is sent)
            return
        with self._write_lock:
            sock.sendall(data)

    def push(self, topic: str, event: str, payload, ref, join_ref=None, count: str | None = None,
             status: int | str = "ok") -> None:  # fmt: skip
        """Send one Phoenix message; `count` is its accounting key (counted when written, as HTTP responses)."""
        if self._closed:
            return
        if self.vsn == "2.0.0":
            text = json.dumps([join_ref, ref, topic, event, payload], separators=(",", ":"))
        else:
            message = {"topic": topic, "event": event, "payload": payload, "ref": ref}
            if join_ref is not None:
                message["join_ref"] = join_ref
            text = json.dumps(message, separators=(",", ":"))
        realtime = self.realtime
        if count:
            realtime._count(count, status, 1)
        try:
            self._send_frame(TextMessage(data=text))
        except Exception:  # noqa: BLE001 - the client went away: the message was not served
            if count:
                realtime._count(count, status, -1)
            self._closed = True
            return
        realtime.messages_out += 1

    def reply(self, topic: str, ref, join_ref, status: str, response: dict, count: str | None = None) -> None:
        self.push(topic, "phx_reply", {"status": status, "response": response}, ref, join_ref, count=count,
                  status=status)

    def system(self, channel: Channel, status: str, extension: str, message: str) -> None:
        self.push(channel.topic, "system", {"extension": extension, "status": status, "message": message,
                                            "channel": channel.name}, None)  # fmt: skip

    def shutdown(self, channel: Channel, message: str) -> None:
        """Realtime's shutdown_response: a system error, then the channel closes (phx_close)."""
        self.system(channel, "error", "system", message)
        self._leave(channel)
        self.push(channel.topic, "phx_close", {}, channel.join_ref, channel.join_ref)

    # --- Phoenix messages --------------------------------------------------------------------------------------
    def _on_text(self, text: str) -> None:
        self.realtime.messages_in += 1
        try:
            decoded = json.loads(text)
            if isinstance(decoded, list) and len(decoded) == 5:
                join_ref, ref, topic, event, payload = decoded
            elif isinstance(decoded, dict):
                topic, event, payload = decoded["topic"], decoded["event"], decoded.get("payload") or {}
                ref, join_ref = decoded.get("ref"), decoded.get("join_ref")
            else:
                raise ValueError("not a Phoenix message")
        except (ValueError, KeyError, TypeError):
            self.close(1003)  # Phoenix cannot decode it: the socket goes
            return
        if topic == "phoenix" and event == "heartbeat":
            self._expire_overdue_channels()
            self.reply("phoenix", ref, None, "ok", {}, count=HEARTBEAT_KEY)
            return
        if event == "phx_join":
            self._join(topic, ref, join_ref or ref, payload if isinstance(payload, dict) else {})
            return
        channel = self.channels.get(topic)
        if channel is None:
            self.reply(topic, ref, join_ref, "error", {"reason": "unmatched topic"})
            return
        if event == "phx_leave":
            self._leave(channel)
            self.reply(topic, ref, join_ref, "ok", {})
            self.push(topic, "phx_close", {}, channel.join_ref, channel.join_ref)
        elif event == "access_token":
            token = payload.get("access_token") if isinstance(payload, dict) else None
            if token is None or token.startswith("sb_"):
                return
            claims, problem = self.realtime.claims_of(token)
            if problem:
                self.shutdown(channel, problem.split(": ", 1)[-1])
            elif claims is not None:
                channel.claims = claims
        # broadcast / presence are not part of ProspectPro's traffic: accepted and ignored.

    def _join(self, topic: str, ref, join_ref, payload: dict) -> None:
        realtime = self.realtime
        if not self.channels and realtime.connected_users() >= realtime.max_connections:
            realtime.refused()
            self.reply(topic, ref, join_ref, "error", {"reason": "ConnectionRateLimitReached: Too many connected users"},
                       count=JOIN_KEY)
            return
        token = payload.get("access_token") or None
        claims, problem = realtime.claims_of(token)
        if problem:
            self.reply(topic, ref, join_ref, "error", {"reason": problem}, count=JOIN_KEY)
            return
        config = payload["config"] if isinstance(payload.get("config"), dict) else {}
        specs = config.get("postgres_changes") or []
        if not isinstance(specs, list) or not all(isinstance(spec, dict) for spec in specs):
            self.reply(topic, ref, join_ref, "error", {"reason": "InvalidJoinPayload: postgres_changes"}, count=JOIN_KEY)
            return
        previous = self.channels.get(topic)
        if previous is not None:
            self._leave(previous)
        bindings = [Binding(spec, realtime.binding_id(spec)) for spec in specs]
        channel = Channel(topic, join_ref, bindings, claims, self)
        if not self.channels:
            realtime.hold()
        self.channels[topic] = channel
        unpublished = [b for b in bindings if b.table not in PUBLISHED_TABLES]
        for table in {b.table for b in bindings if b.table in PUBLISHED_TABLES}:
            realtime.channels_by_table[table].add(channel)
        self.reply(topic, ref, join_ref, "ok", {"postgres_changes": [b.echo for b in bindings]}, count=JOIN_KEY)
        if not bindings:
            return
        if unpublished:
            first = unpublished[0]
            self.system(channel, "error", "postgres_changes",
                        "Unable to subscribe to changes with given parameters. Please check Realtime is enabled for "
                        f"the given connect parameters: [event: {first.event}, schema: {first.schema}, "
                        f"table: {first.table}, filters: {[first.filter] if first.filter else []}]")
        else:
            self.system(channel, "ok", "postgres_changes", "Subscribed to PostgreSQL")

    def _leave(self, channel: Channel) -> None:
        if self.channels.pop(channel.topic, None) is not None and not self.channels:
            self.realtime.release()
        for table in self.realtime.channels_by_table.values():
            table.discard(channel)

    def _expire_overdue_channels(self) -> None:
        now = time.time()
        for channel in list(self.channels.values()):
            overdue = channel.expired_for(now)
            if overdue is not None:
                self.shutdown(channel, f"Token has expired {int(overdue)} seconds ago")

