"""Real headless Locust runs on 127.0.0.1 with the interval recorder: nothing lost in the master/worker merge,
and an interrupted run keeps the intervals it had closed."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from analysis.histogram import Histogram
from analysis.intervals import load_intervals
from tests.support.ports import free_port

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
LOCUSTFILE = HERE / "recorder_locustfile.py"


class _Handler(BaseHTTPRequestHandler):
    flaky_calls = 0

    def do_GET(self):  # noqa: N802 - http.server's naming
        status = 200
        if self.path.startswith("/flaky"):
            type(self).flaky_calls += 1
            status = 500 if type(self).flaky_calls % 5 == 0 else 200
        body = b"ok"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client killed mid-request (the interrupted-run test does that on purpose) is not news


@pytest.fixture
def test_server():
    server = _QuietServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _locust_command(host: str, results_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", host,
            "--interval-seconds", "1", "--results-dir", str(results_dir), "--only-summary", *extra]  # fmt: skip


def _environment() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


def test_master_and_two_workers_lose_nothing_in_the_merge(test_server, tmp_path):
    results_dir = tmp_path / "run"
    # Our own master port on loopback: on a shared machine, another run's workers on Locust's default port 5557
    # would otherwise join this master (seen happening), and the master must not listen beyond 127.0.0.1.
    port = str(free_port())
    command = _locust_command(test_server, results_dir, "--processes", "2", "-u", "4", "-r", "4", "-t", "4s",
                              "--master-bind-host", "127.0.0.1", "--master-bind-port", port,
                              "--master-host", "127.0.0.1", "--master-port", port,
                              "--json-file", str(results_dir / "locust"))  # fmt: skip
    completed = subprocess.run(command, cwd=tmp_path, env=_environment(), capture_output=True, text=True, timeout=60)
    assert completed.returncode in (0, 1), completed.stderr[-2000:]  # 1: Locust's code for recorded failures

    manifest = json.loads((results_dir / "manifest.json").read_text())
    assert manifest["options"]["workers"] == 2  # really a master/worker run
    locust_entries = {f"{e['method']} {e['name']}": e for e in json.loads((results_dir / "locust.json").read_text())}
    series = load_intervals(results_dir)
    assert set(series.endpoints) == set(locust_entries) == {"GET /fast", "GET /flaky?id=[id]"}
    for key, entry in locust_entries.items():
        endpoint = series.endpoints[key]
        assert entry["num_requests"] > 20
        assert endpoint.requests.sum() == entry["num_requests"]
        assert endpoint.failures.sum() == entry["num_failures"]
        assert endpoint.merged() == Histogram.from_dict(entry["response_times"])
    assert series.endpoints["GET /flaky?id=[id]"].failures.sum() > 0
    assert series.user_counts.max() == 4
    steps = series.times[1:] - series.times[:-1]
    assert (steps == 1.0).all()  # contiguous 1 s intervals


def test_an_interrupted_run_keeps_the_intervals_it_had_closed(test_server, tmp_path):
    results_dir = tmp_path / "run"
    command = _locust_command(test_server, results_dir, "-u", "2", "-r", "2", "-t", "30s")
    process = subprocess.Popen(command, cwd=tmp_path, env=_environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        intervals_file = results_dir / "intervals.jsonl"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if intervals_file.exists() and len(intervals_file.read_text().splitlines()) >= 3:
                break
            time.sleep(0.2)
        else:
            pytest.fail("no interval was written while the run was going")
    finally:
        process.send_signal(signal.SIGKILL)  # no chance to finish: only what was flushed survives
        process.wait(timeout=10)
    series = load_intervals(results_dir)
    assert len(series) >= 2
    assert series.endpoints["GET /fast"].requests.sum() > 0
