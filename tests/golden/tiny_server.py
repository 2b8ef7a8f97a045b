"""A tiny HTTP server on 127.0.0.1 for golden-file generation and gate tests: it does what each request asks.

The client says how slow and how successful each response should be (headers ``X-Delay-Ms`` and ``X-Status``),
so the server holds no profile of its own: the Locust file under test decides the latency shape. It is NOT the
ProspectPro simulator (simulator/): it knows nothing of the API, which keeps these tests about the gate only.
"""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from collections.abc import Iterator

MAX_DELAY_MS = 2000  # bounded: a bad header cannot hang a test


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes; with Nagle on, the client's delayed ACK adds ~40 ms to each response.
    disable_nagle_algorithm = True

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        delay_ms = min(float(self.headers.get("X-Delay-Ms") or 0), MAX_DELAY_MS)
        status = int(self.headers.get("X-Status") or 200)
        time.sleep(delay_ms / 1000)
        self.server.count_request()
        body = b'{"ok": true}' if status < 400 else b'{"error": "asked to fail"}'
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except ConnectionError:
            pass  # Locust stopped mid-request at the end of its run: nobody is listening any more

    do_GET = _answer
    do_POST = _answer

    def log_message(self, *args) -> None:  # quiet: thousands of requests per run
        pass


class TinyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()
        self.requests_served = 0  # so tests can check that no request was lost or sent when none should be

    def count_request(self) -> None:
        with self._lock:
            self.requests_served += 1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request, client_address) -> None:
        # Locust closes its connections mid-request when its run ends; that is not worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def serving() -> Iterator[TinyServer]:
    """Serve on a free port of 127.0.0.1 for the duration of the block (``server.url``). Always stops."""
    server = TinyServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
