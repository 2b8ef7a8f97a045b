"""A small HTTP/1.1 keep-alive server on gevent's StreamServer.

Why hand-written: the simulator must keep up with a Locust generator process (~11,000 requests/s per core), and
a general WSGI stack spends most of its time on features ProspectPro's clients never use. This parser handles what
supabase-js, curl, urllib and geventhttpclient send: a request line, headers, and a Content-Length body. Anything
else is answered the way a strict real server answers it (400, 411, 413, 431) and the connection is closed.

A handler may answer with ``Upgrade`` (101 Switching Protocols): once that is written, its ``takeover`` owns the
socket (Realtime's websocket, simulator/realtime.py) and the HTTP loop ends with it.

Every accepted socket gets TCP_NODELAY: without it, delayed acknowledgements hold small responses back ~40 ms.
Each response is written with one sendall.
"""

from __future__ import annotations

import socket
import struct
from http import HTTPStatus
from typing import Callable
from urllib.parse import parse_qsl

from gevent.server import StreamServer

MAX_HEADER_BYTES = 32 * 1024
MAX_BODY_BYTES = 1024 * 1024
RECV_BYTES = 65536
DRAIN_TIMEOUT_S = 1.0
MAX_DRAIN_BYTES = 16 * 1024 * 1024

REASONS = {status.value: status.phrase for status in HTTPStatus}


class Request:
    """One parsed request. ``headers`` has lower-case names; ``query`` is the raw query string ('' if none)."""

    __slots__ = ("method", "target", "path", "query", "headers", "body", "client_ip", "_params")

    def __init__(self, method: str, target: str, headers: dict[str, str], body: bytes, client_ip: str):
        self.method = method
        self.target = target
        self.path, _, self.query = target.partition("?")
        self.headers = headers
        self.body = body
        self.client_ip = client_ip
        self._params: list[tuple[str, str]] | None = None

    @property
    def params(self) -> list[tuple[str, str]]:
        """Query parameters in order, percent-decoded (PostgREST filters can repeat a key)."""
        if self._params is None:
            self._params = parse_qsl(self.query, keep_blank_values=True)
        return self._params

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key == name:
                return value
        return None


class Response:
    """Status, extra headers and a body (Content-Length and Connection are added when it is written)."""

    __slots__ = ("status", "headers", "body", "content_type")

    def __init__(self, status: int, body: bytes = b"", content_type: str | None = "application/json",
                 headers: list[tuple[str, str]] | None = None):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers or []


class Upgrade(Response):
    """101 Switching Protocols: once it is written, ``takeover(sock, leftover_bytes)`` owns the connection."""

    __slots__ = ("takeover",)

    def __init__(self, headers: list[tuple[str, str]], takeover: Callable[[socket.socket, bytes], None]):
        super().__init__(101, b"", content_type=None, headers=headers)
        self.takeover = takeover


class ConnectionReset(Exception):
    """Raised by a handler to drop the connection with a TCP reset and no response (a connection-level fault)."""


Handler = Callable[[Request], Response]
# Called with +1 just before a response is written and -1 if writing it failed, so a response counts as served
# exactly when it was written, and the count is already there when the client has read the response.
WrittenHook = Callable[[Request, Response, int], None]


def _serialize(response: Response, keep_alive: bool) -> bytes:
    lines = [f"HTTP/1.1 {response.status} {REASONS.get(response.status, 'Unknown')}"]
    if response.status == 101:  # no body, no Content-Length; its own Connection: Upgrade header
        lines += [f"{name}: {value}" for name, value in response.headers]
        lines.append("\r\n")
        return "\r\n".join(lines).encode("latin-1")
    if response.content_type:
        lines.append(f"Content-Type: {response.content_type}")
    lines.append(f"Content-Length: {len(response.body)}")
    for name, value in response.headers:
        lines.append(f"{name}: {value}")
    lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("latin-1") + response.body


def _protocol_error(status: int, message: str) -> bytes:
    body = ('{"message":"%s"}' % message).encode()
    return _serialize(Response(status, body), keep_alive=False)


class _BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    text = head.decode("latin-1")  # every byte is valid latin-1; HTTP/1.1 header values are octets
    request_line, *header_lines = text.split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[0].isalpha() or not parts[1] or not parts[2].startswith("HTTP/1."):
        raise _BadRequest(400, "Bad Request")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in header_lines:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise _BadRequest(400, "Bad Request")
        headers[name.lower()] = value.strip()
    return method, target, version, headers


def serve_connection(sock: socket.socket, address: tuple, handler: Handler,
                     on_written: WrittenHook | None = None) -> None:
    """Serve one client connection until it closes, asks to close, or sends something unservable."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client_ip = address[0] if address else "127.0.0.1"
    recv = sock.recv
    buffer = b""
    try:
        while True:
            end = buffer.find(b"\r\n\r\n")
            while end < 0:
                if len(buffer) > MAX_HEADER_BYTES:
                    sock.sendall(_protocol_error(431, "Request Header Fields Too Large"))
                    _drain_and_close(sock)
                    return
                chunk = recv(RECV_BYTES)
                if not chunk:
                    return
                buffer += chunk
                end = buffer.find(b"\r\n\r\n")
            if end > MAX_HEADER_BYTES:
                sock.sendall(_protocol_error(431, "Request Header Fields Too Large"))
                _drain_and_close(sock)
                return
            try:
                method, target, version, headers = _parse_head(buffer[:end])
                if "transfer-encoding" in headers:
                    # We read bodies by Content-Length only, as a strict gateway does.
                    raise _BadRequest(411, "Length Required")
                length_text = headers.get("content-length", "0")
                if not length_text.isdigit():
                    raise _BadRequest(400, "Bad Request")
                length = int(length_text)
                if length > MAX_BODY_BYTES:
                    raise _BadRequest(413, "Request Entity Too Large")
            except _BadRequest as error:
                sock.sendall(_protocol_error(error.status, error.message))
                _drain_and_close(sock)
                return
            body_start = end + 4
            if length and headers.get("expect", "").lower() == "100-continue" and len(buffer) - body_start < length:
                sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")  # curl waits for this before sending a body
            while len(buffer) - body_start < length:
                chunk = recv(RECV_BYTES)
                if not chunk:
                    return
                buffer += chunk
            body = buffer[body_start:body_start + length]
            buffer = buffer[body_start + length:]

            connection = headers.get("connection", "").lower()
            keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
            request = Request(method, target, headers, body, client_ip)
            try:
                response = handler(request)
            except ConnectionReset:
                _reset(sock)
                return
            data = _serialize(response, keep_alive)
            if on_written is not None:
                on_written(request, response, 1)
            try:
                sock.sendall(data)
            except OSError:
                if on_written is not None:
                    on_written(request, response, -1)
                raise
            if isinstance(response, Upgrade):
                response.takeover(sock, buffer)  # the websocket runs until it closes; then so does the connection
                return
            if not keep_alive:
                return
    except OSError:
        return  # the client went away; nothing to answer
    finally:
        sock.close()


def _drain_and_close(sock: socket.socket) -> None:
    """After an error answer, stop writing but read what the client is still sending for a moment: closing with
    unread data makes the kernel send RST, which can destroy the answer before the client has read it."""
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(DRAIN_TIMEOUT_S)
        drained = 0
        while drained < MAX_DRAIN_BYTES:
            chunk = sock.recv(RECV_BYTES)
            if not chunk:
                break
            drained += len(chunk)
    except OSError:
        pass


def _reset(sock: socket.socket) -> None:
    """Close with RST instead of FIN, so the client sees 'connection reset by peer'."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def make_server(host: str, port: int, handler: Handler, on_written: WrittenHook | None = None) -> StreamServer:
    """A bound (not yet serving) StreamServer; ``server.server_port`` is the real port when port was 0.
    ``on_written`` is told about every response written (what the simulator counts as served)."""
    server = StreamServer((host, port), lambda sock, address: serve_connection(sock, address, handler, on_written),
                          backlog=1024)
    server.init_socket()
    return server
