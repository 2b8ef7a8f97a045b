"""What the simulator served, per endpoint and status, so tests can prove the harness lost nothing.

The key is `"<METHOD> <path>"` with the query string dropped, except GoTrue's token endpoint, which keeps
`?grant_type=<x>` because sign-in and refresh are different requests there. A request counts when its response
(of any status, even a deliberately malformed body) is written to the socket: counted just before the write, so the
count is there by the time the client has the response, and taken back if the write fails. A connection reset
counts nothing. Admin endpoints are never counted. A websocket handshake is `WS <path>`; the Realtime messages a
client times (join replies, heartbeat replies, pushed changes) are counted by simulator/realtime.py under
`WS <event>` with status "ok" or "error".
"""

from __future__ import annotations

from simulator.httpserver import Request, Response

TOKEN_PATH = "/auth/v1/token"
ADMIN_PREFIX = "/__admin/"


def accounting_key(request: Request) -> str:
    if request.headers.get("upgrade", "").lower() == "websocket":
        return f"WS {request.path}"  # a websocket handshake: its own kind of request, as Locust records it
    if request.path == TOKEN_PATH:
        return f"{request.method} {TOKEN_PATH}?grant_type={request.param('grant_type') or ''}"
    return f"{request.method} {request.path}"


class Accounting:
    def __init__(self) -> None:
        self._served: dict[str, dict[int | str, int]] = {}  # key -> HTTP status (or a websocket reply's) -> count
        self.total = 0

    def count(self, request: Request, response: Response, delta: int = 1) -> None:
        """+1 as a response is written, -1 if writing it failed."""
        if request.path.startswith(ADMIN_PREFIX):
            return
        self.count_key(accounting_key(request), response.status, delta)

    def count_key(self, key: str, status: int | str, delta: int = 1) -> None:
        """Count under an explicit key: websocket messages ("WS phx_join", status "ok"/"error")."""
        by_status = self._served.get(key)
        if by_status is None:
            by_status = self._served[key] = {}
        remaining = by_status.get(status, 0) + delta
        if remaining:
            by_status[status] = remaining
        else:
            del by_status[status]
            if not by_status:
                del self._served[key]
        self.total += delta

    def snapshot(self) -> dict:
        served = {key: {str(status): count for status, count in sorted(by_status.items())}
                  for key, by_status in sorted(self._served.items())}
        return {"served": served, "total": self.total}

    def reset(self) -> None:
        self._served = {}
        self.total = 0
