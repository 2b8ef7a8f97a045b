"""Finite capacity: --capacity/--service-time make throughput knowable; queues add latency, then 503/504;
and 200 concurrent connections on healthy are all served."""

from __future__ import annotations

import http.client
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.integration


def parallel(count: int, call):
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: call(), range(count)))


def test_fixed_capacity_and_service_time_bound_throughput(simulator_factory, api_for):
    # peak = N / service time = 2 / 0.1 s = 20 requests per second
    sim = simulator_factory("--capacity", "test-new-auth=2", "--service-time", "test-new-auth=100",
                            "--time-scale", "0.05")
    api = api_for(sim)
    api.sign_in(1)

    def call():
        started = time.monotonic()
        reply = api.function("test-new-auth", {})
        return reply.status, time.monotonic() - started

    started = time.monotonic()
    results = parallel(10, call)
    elapsed = time.monotonic() - started
    assert {status for status, _ in results} == {200}
    # 10 requests through 2 slots of 100 ms cannot finish in less than 5 rounds: the queue adds latency
    assert elapsed >= 0.5
    latencies = sorted(latency for _, latency in results)
    assert latencies[0] >= 0.1  # the service time itself
    assert latencies[-1] >= 0.3  # queued behind others (alone it would take ~0.1 s)


def test_queue_full_is_503_and_queue_timeout_is_504(simulator_factory, api_for):
    # queue timeout = 10 s x time scale 0.05 = 0.5 s; one slot of 200 ms; at most 3 may wait
    sim = simulator_factory("--capacity", "test-new-auth=1", "--service-time", "test-new-auth=200",
                            "--queue-limit", "3", "--time-scale", "0.05")
    api = api_for(sim)
    api.sign_in(1)
    replies = parallel(8, lambda: api.function("test-new-auth", {}))
    statuses = sorted(reply.status for reply in replies)
    assert 200 in statuses
    assert statuses.count(503) >= 4  # 1 running + 3 waiting; the rest are turned away at once
    rejected = next(reply for reply in replies if reply.status == 503)
    assert rejected.json() == {"message": "Service Unavailable"}
    # of the 3 that waited, the last needs 3 x 200 ms > 0.5 s: the gateway gives up on it
    assert 504 in statuses
    timed_out = next(reply for reply in replies if reply.status == 504)
    assert timed_out.json() == {"message": "The upstream server is timing out"}
    served = sim.stats()["served"]["POST /functions/v1/test-new-auth"]
    assert sum(served.values()) == 8


def test_two_hundred_concurrent_keep_alive_connections_on_healthy(simulator):
    parts = urlsplit(simulator.url)

    def client():
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            statuses = []
            for path in ("/rest/v1/campaigns?select=id", "/rest/v1/leads?select=id&limit=5", "/auth/v1/user"):
                connection.request("GET", path, headers={"apikey": "sb_publishable_simulator"})
                response = connection.getresponse()
                response.read()
                statuses.append(response.status)
            return statuses
        finally:
            connection.close()

    results = parallel(200, client)
    assert [status for statuses in results for status in statuses].count(200) == 400
    assert all(statuses[2] == 401 for statuses in results)  # getUser without a bearer: GoTrue's 401
    stats = simulator.stats()
    assert stats["total"] == 600
    assert stats["served"]["GET /rest/v1/campaigns"] == {"200": 200}
