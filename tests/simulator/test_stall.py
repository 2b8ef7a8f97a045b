"""The `stall` fault profile: the whole target pauses on a wall-clock schedule a client can compute."""

import time

import pytest
import requests

from simulator.faults import stall_remaining_s
from simulator.profiles import load_model


def test_stall_schedule_is_aligned_to_the_wall_clock():
    assert stall_remaining_s(100.0, 10.0, 2.0) == pytest.approx(2.0)
    assert stall_remaining_s(101.5, 10.0, 2.0) == pytest.approx(0.5)
    assert stall_remaining_s(102.0, 10.0, 2.0) == 0.0
    assert stall_remaining_s(109.99, 10.0, 2.0) == 0.0
    stall = load_model().profiles["stall"].stall
    assert (stall.period_s, stall.stall_s) == (10.0, 2.0)


def test_a_request_arriving_during_a_stall_waits_for_its_end(simulator_factory):
    # time scale 0.1: a 0.2 s pause every 1 s; a fixed 10 ms service time
    sim = simulator_factory("--profile", "stall", "--time-scale", "0.1", "--service-time", "auth-user=10")
    period, pause = 1.0, 0.2
    latencies = []
    for _ in range(40):
        sent = time.time()
        requests.get(f"{sim.url}/auth/v1/user", headers={"apikey": "sb_publishable_simulator"}, timeout=5)
        latencies.append((sent, time.time() - sent))
        time.sleep(0.037)
    for sent, latency in latencies:
        expected = 0.010 + stall_remaining_s(sent, period, pause)
        assert latency >= expected - 0.003
        assert latency <= expected + pause + 0.05  # an answer ready inside the next pause waits for its end
    assert max(latency for _, latency in latencies) > 0.1  # some did wait
