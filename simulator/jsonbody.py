"""JSON response helpers shared by every endpoint module."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from simulator.httpserver import Response

_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def json_response(status: int, payload, headers: list[tuple[str, str]] | None = None,
                  content_type: str = "application/json") -> Response:
    return Response(status, _compact(payload).encode(), content_type=content_type, headers=headers)


def pretty_json_response(status: int, payload, headers: list[tuple[str, str]] | None = None) -> Response:
    """The export function answers with JSON.stringify(body, null, 2)."""
    return Response(status, json.dumps(payload, indent=2, ensure_ascii=False).encode(), headers=headers)


def compact_json(payload) -> str:
    return _compact(payload)


def parse_json_object(body: bytes):
    """The parsed JSON body, or raise ValueError with JavaScript's wording for what went wrong."""
    if not body.strip():
        raise ValueError("Unexpected end of JSON input")
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"Unexpected token in JSON at position {getattr(error, 'pos', 0)}") from None


def iso_now() -> str:
    """A timestamp as JavaScript's Date.toISOString() writes it (edge function bodies)."""
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def pg_timestamp(epoch: float | None = None) -> str:
    """A timestamptz as PostgREST returns it."""
    moment = datetime.fromtimestamp(epoch, timezone.utc) if epoch is not None else datetime.now(timezone.utc)
    return moment.isoformat()
