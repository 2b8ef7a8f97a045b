"""The simulator's Realtime endpoint, spoken to as supabase-js speaks the Phoenix protocol (vsn 1.0.0 and 2.0.0)."""

from __future__ import annotations

import json
import time

import jwt
import pytest
import websocket

from tests.simulator.conftest import PUBLISHABLE_KEY, Api

pytestmark = pytest.mark.integration


class Phoenix:
    """A bare Phoenix client: one websocket, messages as dicts whatever the wire version."""

    def __init__(self, url: str, vsn: str = "1.0.0", apikey: str | None = PUBLISHABLE_KEY):
        query = f"vsn={vsn}" + (f"&apikey={apikey}" if apikey else "")
        self.vsn = vsn
        self.ws = websocket.create_connection(url.replace("http", "ws", 1) + f"/realtime/v1/websocket?{query}",
                                              timeout=10)
        self.ref = 0

    def send(self, topic: str, event: str, payload: dict, join_ref: str | None = None) -> str:
        self.ref += 1
        ref = str(self.ref)
        if self.vsn == "2.0.0":
            self.ws.send(json.dumps([join_ref, ref, topic, event, payload]))
        else:
            self.ws.send(json.dumps({"topic": topic, "event": event, "payload": payload, "ref": ref,
                                     "join_ref": join_ref}))
        return ref

    def receive(self, timeout: float = 10.0) -> dict:
        self.ws.settimeout(timeout)
        decoded = json.loads(self.ws.recv())
        if isinstance(decoded, list):
            join_ref, ref, topic, event, payload = decoded
            return {"join_ref": join_ref, "ref": ref, "topic": topic, "event": event, "payload": payload}
        return decoded

    def join(self, topic: str, token: str | None, changes: list[dict]) -> tuple[str, dict]:
        payload = {"config": {"broadcast": {"ack": False, "self": False}, "presence": {"key": "", "enabled": False},
                              "postgres_changes": changes, "private": False}}
        if token:
            payload["access_token"] = token
        ref = self.send(topic, "phx_join", payload, join_ref=str(self.ref + 1))
        reply = self.receive()
        assert reply["event"] == "phx_reply" and reply["ref"] == ref, reply
        return ref, reply["payload"]

    def close(self) -> None:
        self.ws.close()


def job_changes(job_id: str) -> list[dict]:
    return [{"event": "*", "schema": "public", "table": "discovery_jobs", "filter": f"id=eq.{job_id}"}]


def submit_job(api: Api) -> str:
    user_id = api.request("GET", "/auth/v1/user").json()["id"]
    reply = api.function("business-discovery-background", {"businessType": "coffee shop", "location": "Seattle, WA",
                                                            "maxResults": 3, "tierKey": "BASE", "sessionUserId": user_id})
    assert reply.status == 200, reply.body
    return reply.json()["jobId"]


@pytest.mark.parametrize("vsn", ["1.0.0", "2.0.0"])
def test_a_job_is_followed_to_completed_over_postgres_changes_and_each_message_is_counted(simulator, vsn):
    api = Api(simulator.url)
    api.sign_in(3)
    job_id = submit_job(api)
    simulator.reset_stats()
    client = Phoenix(simulator.url, vsn)
    topic = f"realtime:discovery_jobs_{job_id}"
    _, reply = client.join(topic, api.token, job_changes(job_id))
    assert reply["status"] == "ok"
    [binding] = reply["response"]["postgres_changes"]
    assert {key: binding[key] for key in ("event", "schema", "table", "filter")} == job_changes(job_id)[0]
    system = client.receive()
    assert system["event"] == "system" and system["payload"]["status"] == "ok"
    assert system["payload"]["message"] == "Subscribed to PostgreSQL"

    heartbeat_ref = client.send("phoenix", "heartbeat", {})
    statuses, progress, deliveries = [], [], 0
    heartbeat_answered = False
    while not statuses or statuses[-1] not in ("completed", "failed"):
        message = client.receive()
        if message["topic"] == "phoenix":
            assert message["ref"] == heartbeat_ref and message["payload"] == {"status": "ok", "response": {}}
            heartbeat_answered = True
            continue
        assert message["event"] == "postgres_changes" and message["topic"] == topic, message
        payload = message["payload"]
        assert payload["ids"] == [binding["id"]]
        data = payload["data"]
        assert data["type"] == "UPDATE" and data["table"] == "discovery_jobs" and data["schema"] == "public"
        assert data["record"]["id"] == job_id and data["old_record"]["id"] == job_id  # REPLICA IDENTITY FULL
        assert {"name": "metrics", "type": "jsonb"} in data["columns"]
        committed = time.mktime(time.strptime(data["commit_timestamp"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
        assert abs(committed - time.time()) < 5 and data["commit_timestamp"].endswith("Z")
        statuses.append(data["record"]["status"])
        progress.append(data["record"]["progress"])
        deliveries += 1
    assert statuses[-1] == "completed" and progress[-1] == 100 and progress == sorted(progress)
    assert heartbeat_answered

    leave_ref = client.send(topic, "phx_leave", {})
    assert client.receive()["ref"] == leave_ref
    assert client.receive()["event"] == "phx_close"
    client.close()
    served = simulator.stats()["served"]
    assert served["WS /realtime/v1/websocket"] == {"101": 1}
    assert served["WS phx_join"] == {"ok": 1}
    assert served["WS heartbeat"] == {"ok": 1}
    assert served["WS postgres_changes"] == {"ok": deliveries}


def test_row_level_security_hides_another_users_job_and_bad_tokens_are_refused_as_realtime_words_them(simulator):
    owner, other = Api(simulator.url), Api(simulator.url)
    owner.sign_in(4)
    other.sign_in(5)
    job_id = submit_job(owner)
    client = Phoenix(simulator.url)
    _, reply = client.join(f"realtime:discovery_jobs_{job_id}", other.token, job_changes(job_id))
    assert reply["status"] == "ok"  # joining is allowed; the rows are not visible
    assert client.receive()["payload"]["message"] == "Subscribed to PostgreSQL"
    with pytest.raises(websocket.WebSocketTimeoutException):
        client.receive(timeout=2.0)  # the job advances every few hundred ms at this time scale

    claims = jwt.decode(owner.token, options={"verify_signature": False})
    secret = f"prospectpro-simulator-jwt-secret-{1:020d}"
    expired = jwt.encode({**claims, "exp": int(time.time()) - 30}, secret, algorithm="HS256")
    _, reply = client.join("realtime:expired", expired, job_changes(job_id))
    assert reply["status"] == "error"
    assert reply["response"]["reason"].startswith("InvalidJWTToken: Token has expired ")
    forged = jwt.encode(claims, "a-secret-that-is-not-the-simulators-one", algorithm="HS256")
    _, reply = client.join("realtime:forged", forged, job_changes(job_id))
    assert reply == {"status": "error", "response": {"reason": "JwtSignatureError: Failed to validate JWT signature"}}
    _, reply = client.join("realtime:campaigns", owner.token,
                           [{"event": "*", "schema": "public", "table": "campaigns"}])
    assert reply["status"] == "ok"
    assert client.receive()["payload"]["status"] == "error"  # campaigns is not in the supabase_realtime publication
    client.close()

    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        Phoenix(simulator.url, apikey=None)
    assert refused.value.status_code == 401 and b"API key is missing" in refused.value.resp_body


def test_the_connection_limit_and_the_realtime_down_profile_refuse_handshakes(simulator_factory):
    simulator = simulator_factory("--time-scale", "0.05", "--realtime-max-connections", "1")
    api = Api(simulator.url)
    api.sign_in(6)
    first = Phoenix(simulator.url)
    _, reply = first.join("realtime:a", api.token, [])
    assert reply["status"] == "ok"
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        Phoenix(simulator.url)
    assert refused.value.status_code == 429 and b"Too many connected users" in refused.value.resp_body

    simulator.set_profile("realtime-down")
    first.ws.settimeout(5)
    try:
        closing = first.ws.recv()  # websocket-client answers a close frame with ""
    except websocket.WebSocketConnectionClosedException:
        closing = ""
    assert closing == ""  # the open socket was dropped
    with pytest.raises(websocket.WebSocketBadStatusException) as down:
        Phoenix(simulator.url)
    assert down.value.status_code == 503
    assert api.request("GET", "/auth/v1/user").status == 200  # the rest of the project is healthy
    served = simulator.stats()["served"]
    assert served["WS /realtime/v1/websocket"] == {"101": 1, "429": 1, "503": 1}
