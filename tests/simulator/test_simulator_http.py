"""The hand-written HTTP/1.1 server: keep-alive, pipelining, and strict answers to what it will not serve."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.integration


def connect(simulator) -> socket.socket:
    parts = urlsplit(simulator.url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def read_response(sock: socket.socket, buffer: bytearray) -> tuple[bytes, bytes]:
    """(head, body) of one response, reading by Content-Length; leftover bytes stay in buffer."""
    while b"\r\n\r\n" not in buffer:
        buffer += sock.recv(65536)
    end = buffer.index(b"\r\n\r\n")
    head = bytes(buffer[:end])
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(buffer) < end + 4 + length:
        buffer += sock.recv(65536)
    body = bytes(buffer[end + 4:end + 4 + length])
    del buffer[:end + 4 + length]
    return head, body


GET_CAMPAIGNS = b"GET /rest/v1/campaigns?select=id HTTP/1.1\r\nHost: x\r\napikey: sb_publishable_simulator\r\n\r\n"


def test_keep_alive_and_pipelining(simulator):
    with connect(simulator) as sock:
        buffer = bytearray()
        sock.sendall(GET_CAMPAIGNS)
        head, body = read_response(sock, buffer)
        assert head.startswith(b"HTTP/1.1 200 OK") and b"Connection: keep-alive" in head and body == b"[]"
        sock.sendall(GET_CAMPAIGNS * 3)  # pipelined: answered in order on the same connection
        for _ in range(3):
            head, _ = read_response(sock, buffer)
            assert head.startswith(b"HTTP/1.1 200 OK")
    assert simulator.stats()["served"] == {"GET /rest/v1/campaigns": {"200": 4}}


def test_http_1_0_and_connection_close_end_the_connection(simulator):
    for request in (GET_CAMPAIGNS.replace(b"HTTP/1.1", b"HTTP/1.0"),
                    GET_CAMPAIGNS.replace(b"Host: x\r\n", b"Host: x\r\nConnection: close\r\n")):
        with connect(simulator) as sock:
            sock.sendall(request)
            reply = read_all(sock)  # returns only because the server closed
            assert reply.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in reply


@pytest.mark.parametrize("request_bytes, status", [
    (b"NONSENSE\r\n\r\n", b"400 Bad Request"),
    (b"GET /rest/v1/campaigns HTTP/1.1\r\nbad header line\r\n\r\n", b"400 Bad Request"),
    (b"POST /functions/v1/test-new-auth HTTP/1.1\r\nContent-Length: abc\r\n\r\n", b"400 Bad Request"),
    (b"POST /functions/v1/test-new-auth HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     b"411 Length Required"),
    (b"POST /functions/v1/test-new-auth HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", b"413 Request Entity Too Large"),
    (b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n", b"431 Request Header Fields Too Large"),
])
def test_unservable_requests_get_a_strict_answer_and_a_close(simulator, request_bytes, status):
    with connect(simulator) as sock:
        sock.sendall(request_bytes)
        reply = read_all(sock)
    assert reply.startswith(b"HTTP/1.1 " + status) and b"Connection: close" in reply


def test_expect_100_continue(simulator):
    body = b'{"diagnostics": true}'
    with connect(simulator) as sock:
        sock.sendall(b"POST /functions/v1/test-new-auth HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                     b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
        assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(body)
        head, reply = read_response(sock, bytearray())
        assert head.startswith(b"HTTP/1.1 401") and b"Missing Authorization bearer token" in reply


def test_accounting_keys_drop_queries_except_the_grant_type(api, simulator):
    api.request("POST", "/auth/v1/token?grant_type=refresh_token", {"refresh_token": "nope"}, token=None)
    api.function("campaign-export-user-aware", {}, query="?download=true")
    api.request("GET", "/nowhere?x=1")
    served = simulator.stats()["served"]
    assert served["POST /auth/v1/token?grant_type=password"] == {"200": 1}  # the api fixture's sign-in
    assert served["POST /auth/v1/token?grant_type=refresh_token"] == {"400": 1}
    assert served["POST /functions/v1/campaign-export-user-aware"] == {"500": 1}
    assert served["GET /nowhere"] == {"404": 1}
    simulator.reset_stats()
    stats = simulator.stats()
    assert stats["served"] == {} and stats["total"] == 0
    assert all(component["calls"] == 0 for component in stats["components"].values())
