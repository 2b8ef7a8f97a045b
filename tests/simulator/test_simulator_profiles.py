"""Each fault profile does what profiles.toml says, and profiles switch at run time (and back)."""

from __future__ import annotations

import http.client
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.integration


def timed(call):
    started = time.monotonic()
    reply = call()
    return reply, time.monotonic() - started


def test_healthy_serves_without_errors(api):
    replies = [api.function("test-new-auth", {}) for _ in range(20)]
    replies += [api.rest("campaigns?select=id") for _ in range(20)]
    assert {reply.status for reply in replies} == {200}


def test_zero_latency_answers_at_once_even_at_time_scale_1(simulator_factory, api_for):
    api = api_for(simulator_factory("--profile", "zero-latency", "--time-scale", "1.0"))
    api.sign_in(1)
    # healthy at time scale 1.0 never answers this function in under 700 ms (its min) plus the getUser hop
    _, elapsed = timed(lambda: api.function("business-discovery-optimized", {"businessType": "gym"}))
    assert elapsed < 0.5


def test_outage_answers_503_everywhere_and_switches_back(simulator, api_for):
    api = api_for(simulator)
    api.sign_in(1)
    assert simulator.set_profile("outage")["profile"] == "outage"
    for reply in (api.function("test-new-auth", {}), api.rest("campaigns?select=id"),
                  api.request("POST", "/auth/v1/token?grant_type=password", {}, token=None)):
        assert reply.status == 503 and reply.json() == {"message": "Service Unavailable"}
    simulator.set_profile("healthy")
    assert api.function("test-new-auth", {}).status == 200
    assert simulator.stats()["served"]["POST /functions/v1/test-new-auth"] == {"200": 1, "503": 1}


def test_unreachable_resets_connections_uncounted_and_comes_back(simulator, api_for):
    api = api_for(simulator)
    api.sign_in(1)
    simulator.reset_stats()
    simulator.set_profile("unreachable")
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
        api.function("test-new-auth", {})
    assert {k: v for k, v in simulator.stats().items() if k != "components"} == {"served": {}, "total": 0}  # a reset is not a served response
    simulator.set_profile("healthy")
    assert api.function("test-new-auth", {}).status == 200
    assert simulator.stats()["total"] == 1


def test_rate_limited_answers_429_with_retry_after(simulator_factory, api_for):
    sim = simulator_factory("--profile", "rate-limited", "--time-scale", "0.05")
    api = api_for(sim)
    api.sign_in(1)
    started = time.monotonic()
    replies = [api.function("test-new-auth", {}) for _ in range(25)]
    elapsed = time.monotonic() - started
    limited = [reply for reply in replies if reply.status == 429]
    allowed = len(replies) - len(limited)
    # a burst of 10, then 10 per second: never fewer than the burst, never more than burst + refill (+1 in flight)
    assert 10 <= allowed <= 10 + 10 * elapsed + 1
    assert limited, "25 quick requests must exceed 10 + 10/s"
    assert limited[0].headers["retry-after"] == "1"
    assert limited[0].json() == {"message": "API rate limit exceeded"}
    assert api.rest("campaigns?select=id").status == 200  # REST is not behind this limit


def test_error_burst_mixes_5xx_into_function_answers(simulator_factory, api_for):
    sim = simulator_factory("--profile", "error-burst", "--time-scale", "0.05")  # 0.25 s burst every 1 s
    api = api_for(sim)
    api.sign_in(1)
    statuses = []
    deadline = time.monotonic() + 1.2
    while time.monotonic() < deadline:
        statuses.append(api.function("test-new-auth", {}).status)
    assert 200 in statuses and set(statuses) - {200} and set(statuses) <= {200, 500, 502, 503}
    assert {api.rest("campaigns?select=id").status for _ in range(10)} == {200}  # only functions burst


def test_malformed_sends_broken_json_with_200(simulator_factory, api_for):
    api = api_for(simulator_factory("--profile", "malformed", "--time-scale", "0.05"))
    api.sign_in(1)
    replies = [api.rest("campaigns?select=id") for _ in range(30)]
    assert {reply.status for reply in replies} == {200}
    broken = 0
    for reply in replies:
        try:
            json.loads(reply.body)
        except ValueError:
            broken += 1
    assert 5 <= broken <= 25


def test_token_expiry_issues_20_second_tokens(simulator_factory, api_for):
    sim = simulator_factory("--profile", "token-expiry", "--time-scale", "0.05")
    api = api_for(sim)
    assert api.sign_in(1)["expires_in"] == 20
    sim.set_profile("healthy")
    assert api.sign_in(1)["expires_in"] == 3600


def test_slow_export_breaches_what_healthy_never_does(simulator_factory, api_for):
    healthy_max_s = (800 + 100 * 2 + 120) * 0.05 / 1000  # export max + per-lead + hop max, at time scale 0.05
    api = api_for(simulator_factory("--profile", "slow-export", "--time-scale", "0.05"))
    api.sign_in(1)
    campaign = api.seeded_campaign()
    _, elapsed = timed(lambda: api.function("campaign-export-user-aware", {"campaignId": campaign["id"]},
                                            query="?download=true"))
    assert elapsed > healthy_max_s


def test_degraded_discovery_slows_discovery_fails_jobs_and_exhausts_google(simulator_factory, api_for):
    sim = simulator_factory("--profile", "degraded-discovery", "--time-scale", "0.05", "--job-time-scale", "0.01")
    api = api_for(sim)
    api.sign_in(1)
    jobs = [api.function("business-discovery-background", {"businessType": "plumber", "location": "Denver, CO",
                                                           "maxResults": 2}).json()["jobId"] for _ in range(12)]
    deadline = time.monotonic() + 10
    rows = []
    while time.monotonic() < deadline:
        rows = api.rest("discovery_jobs?select=id,status,error,completed_at").json()
        if all(row["status"] in ("completed", "failed") for row in rows):
            break
        time.sleep(0.1)
    failed = [row for row in rows if row["status"] == "failed"]
    assert len(rows) == len(jobs) and failed and len(failed) < len(jobs)
    assert {row["error"] for row in failed} <= {"Google Places API request failed: 503 Service Unavailable",
                                                 "Google Places API failed: OVER_QUERY_LIMIT"}
    assert all(row["completed_at"] for row in failed)

    # Google quota: 5 queries/s once the burst is spent; each optimized discovery needs ~10-20 queries. A fresh
    # simulator: the jobs above (a text search per page and a details call per result) spent this one's burst.
    api = api_for(simulator_factory("--profile", "degraded-discovery", "--time-scale", "0.05"))
    api.sign_in(1)
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda _: api.function("business-discovery-optimized", {"businessType": "gym"}),
                                range(48)))
    # Over quota the function's text search returns [] (ProspectPro's code: "return empty results instead of
    # throwing"): a 200 with no leads, never a 5xx.
    assert [reply.status for reply in replies] == [200] * 48
    bodies = [reply.json() for reply in replies]
    refused = [body for body in bodies if body["results"]["totalFound"] == 0]
    assert refused and refused[0]["leads"] == [] and refused[0]["results"]["qualificationRate"] == "NaN%"
    assert any(body["leads"] for body in bodies)


def test_failed_job_leaves_its_campaign_processing(simulator_factory, api_for):
    sim = simulator_factory("--profile", "degraded-discovery", "--time-scale", "0.05", "--job-time-scale", "0.01")
    api = api_for(sim)
    api.sign_in(2)
    submitted = [api.function("business-discovery-background", {"businessType": "gym"}).json() for _ in range(12)]
    time.sleep(1.5)
    jobs = {row["id"]: row for row in api.rest("discovery_jobs?select=id,status,campaign_id").json()}
    failed = [job for job in jobs.values() if job["status"] == "failed"]
    assert failed, "degraded-discovery fails a quarter of jobs"
    campaign = api.single(f"campaigns?select=status&id=eq.{failed[0]['campaign_id']}").json()
    assert campaign == {"status": "processing"}
    assert len(submitted) == len(jobs)


def test_admin_endpoints_need_the_token_and_validate_input(simulator, api_for):
    api = api_for(simulator)
    assert api.request("GET", "/__admin/stats", token=None).status == 401
    assert api.request("GET", "/__admin/stats", token="wrong").status == 401
    unknown = api.request("PUT", "/__admin/profile", {"profile": "nope"}, token=simulator.admin_token)
    assert unknown.status == 400 and "unknown profile 'nope'" in unknown.json()["error"]
    assert api.request("PUT", "/__admin/profile", b"{", token=simulator.admin_token).status == 400
    assert simulator.get_profile()["profile"] == "healthy"
    assert simulator.stats()["total"] == 0  # admin calls are never counted
