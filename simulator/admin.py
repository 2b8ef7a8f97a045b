"""The simulator's own control endpoints under /__admin/ (bearer admin token; never counted as served).

    GET  /__admin/stats          {"served": {"<METHOD> <path>": {"<status>": n}}, "total": n,
                                  "components": {name: {...}}}   (simulator/components.py)
    GET  /__admin/realtime       Realtime's sockets: open and peak connections, the limit, messages in and out
    POST /__admin/reset-stats    zero the counts (served and components)
    GET  /__admin/profile        {"profile": name, "description": ..., "profiles": [...]}
    PUT  /__admin/profile        body {"profile": "outage"}: switch the fault profile at run time
"""

from __future__ import annotations

from typing import Protocol

from simulator.httpserver import Request, Response
from simulator.jsonbody import json_response, parse_json_object


class Controls(Protocol):
    profile_names: list[str]

    def stats(self) -> dict: ...
    def realtime_stats(self) -> dict: ...
    def reset_stats(self) -> None: ...
    def current_profile(self) -> tuple[str, str]: ...
    def switch_profile(self, name: str) -> None: ...


def _error(status: int, message: str) -> Response:
    return json_response(status, {"error": message})


class Admin:
    def __init__(self, token: str, controls: Controls):
        self._authorization = f"Bearer {token}"
        self._controls = controls

    def handle(self, request: Request) -> Response:
        if request.headers.get("authorization") != self._authorization:
            return _error(401, "admin endpoints need 'Authorization: Bearer <admin token>'")
        route = (request.method, request.path)
        if route == ("GET", "/__admin/stats"):
            return json_response(200, self._controls.stats())
        if route == ("GET", "/__admin/realtime"):
            return json_response(200, self._controls.realtime_stats())
        if route == ("POST", "/__admin/reset-stats"):
            self._controls.reset_stats()
            return json_response(200, {"reset": True})
        if route == ("GET", "/__admin/profile"):
            return self._profile_answer()
        if route == ("PUT", "/__admin/profile"):
            try:
                body = parse_json_object(request.body)
            except ValueError as error:
                return _error(400, f"body must be JSON like {{\"profile\": \"outage\"}}: {error}")
            name = body.get("profile") if isinstance(body, dict) else None
            if name not in self._controls.profile_names:
                return _error(400, f"unknown profile {name!r}; choose one of {', '.join(self._controls.profile_names)}")
            self._controls.switch_profile(name)
            return self._profile_answer()
        known = {"/__admin/stats", "/__admin/realtime", "/__admin/reset-stats", "/__admin/profile"}
        if request.path in known:
            return _error(405, f"{request.method} is not allowed on {request.path}")
        return _error(404, f"no admin endpoint {request.path}")

    def _profile_answer(self) -> Response:
        name, description = self._controls.current_profile()
        return json_response(200, {"profile": name, "description": description,
                                   "profiles": self._controls.profile_names})
