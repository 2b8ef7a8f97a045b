"""The twin's components against the running simulator: fan-out conservation (one getUser per function call, the
orchestrator's siblings one by one, one orchestrator call per lead of a job), latency that follows the work, and
the accounting in /__admin/stats (calls, busy time, queue wait, rejections)."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import Api
from harness.simulator_process import start_simulator

pytestmark = pytest.mark.integration

# The waterfall steps that are sibling-function calls (simulator/platform.py SIBLINGS), by component.
SIBLING_OF = {"hunter_io": "enrichment-hunter", "cobalt_sos": "enrichment-cobalt",
              "state_license": "enrichment-business-license", "people_data_labs_company": "enrichment-pdl",
              "people_data_labs_person": "enrichment-pdl", "neverbounce": "enrichment-neverbounce"}
SPA_BODY = {"businessName": "Pike Coffee", "domain": "pikecoffee.com", "address": "1 Pike St, Seattle, WA 98101",
            "state": "WA", "includeBusinessLicense": True, "discoverEmails": True, "verifyEmails": True,
            "includeCompanyEnrichment": False, "includePersonEnrichment": False, "apolloEnrichment": False,
            "maxCostPerBusiness": 0.5, "tier": "professional"}
TIME_SCALE = 0.1


@pytest.fixture(scope="module")
def twin():
    with start_simulator("--time-scale", str(TIME_SCALE), "--job-time-scale", "0.02") as sim:
        api = Api(sim.url)
        api.sign_in(3)
        yield sim, api


def components(sim) -> dict:
    return sim.stats()["components"]


def lead(domain: str) -> dict:
    return {**SPA_BODY, "domain": domain}


def test_every_function_call_makes_one_getuser_and_the_orchestrator_calls_its_siblings(twin):
    sim, api = twin
    sim.reset_stats()
    domains = [f"conservation{i}.com" for i in range(6)] * 2  # each business twice: the second time from cache
    replies = [api.function("enrichment-orchestrator", lead(domain)) for domain in domains]
    api.function("test-new-auth", {})
    api.function("test-new-auth", {}, token=None)  # no bearer: the function answers 401 without asking GoTrue
    assert [reply.status for reply in replies] == [200] * 12
    siblings: dict[str, int] = {}
    verified: set[str] = set()
    for reply in replies:
        body = reply.json()
        metadata = body["processingMetadata"]
        assert metadata["errors"] == []
        for service in metadata["servicesUsed"]:
            if service in SIBLING_OF:
                siblings[SIBLING_OF[service]] = siblings.get(SIBLING_OF[service], 0) + 1
        if "neverbounce" in metadata["servicesUsed"]:
            verified |= {email["email"] for email in body["enrichedData"]["emails"]}
    stats = components(sim)
    assert stats["enrichment-orchestrator"]["calls"] == 12
    assert stats["test-new-auth"]["calls"] == 2
    for slug in set(SIBLING_OF.values()):
        assert stats[slug]["calls"] == siblings.get(slug, 0), slug
    assert siblings["enrichment-hunter"] == 12  # a domain and budget for Hunter every time
    # one getUser per function call that carried a bearer: 12 orchestrator calls, their siblings, one test-new-auth
    assert stats["gotrue"]["calls"] == 12 + sum(siblings.values()) + 1
    # the providers see each domain and each email once: the repeats come from the functions' caches, for free
    assert stats["hunter-api"]["calls"] == 6
    assert stats["neverbounce-api"]["calls"] == len(verified)
    first, again = replies[0].json(), replies[6].json()
    assert first["enrichedData"]["emails"] == again["enrichedData"]["emails"]  # the same business, the same emails
    assert first["costBreakdown"]["hunterCost"] == 0.034 and again["costBreakdown"]["hunterCost"] == 0
    # conservation: everything that got in has left, and busy time is at most capacity x elapsed
    for name, component in stats.items():
        if component["kind"] == "pool":
            assert component["in_use"] == 0 and component["waiting"] == 0, name
            assert component["busy_s"] <= component["capacity"] * component["clock_s"] + 1e-6, name


def test_orchestrator_latency_follows_the_emails_it_verifies(twin):
    _, api = twin
    by_emails: dict[int, list[float]] = {}
    for index in range(40):
        started = time.monotonic()
        reply = api.function("enrichment-orchestrator", lead(f"latency{index}.com"))
        elapsed = time.monotonic() - started
        body = reply.json()
        verified = len(body["enrichedData"]["emails"]) if "neverbounce" in body["processingMetadata"]["servicesUsed"] else 0
        by_emails.setdefault(verified, []).append(elapsed)
        # NeverBounce pauses 1 s (simulated) between the emails of a batch
        assert body["processingMetadata"]["processingTime"] >= max(0, verified - 1) * 1000 * TIME_SCALE - 1
        assert body["costBreakdown"]["neverBounceCost"] == pytest.approx(0.008 * verified)
    assert 0 in by_emails and len(by_emails) >= 2, by_emails
    most = max(by_emails)
    # more emails verified, slower: at least the pauses between them, on top of the draws
    assert statistics.median(by_emails[most]) - statistics.median(by_emails[0]) >= (most - 1) * 1.0 * TIME_SCALE


def run_job(api, body: dict) -> dict:
    submitted = api.function("business-discovery-background", body).json()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        row = api.single(f"discovery_jobs?select=status,metrics&id=eq.{submitted['jobId']}").json()
        if row["status"] in ("completed", "failed"):
            campaign = api.single(f"campaigns?select=processing_time_ms,results_count&id=eq.{submitted['campaignId']}").json()
            return {**row, **campaign}
        time.sleep(0.05)
    raise AssertionError("job did not finish in 30 s")


def test_each_job_calls_the_orchestrator_once_per_lead_and_its_duration_follows_max_results(twin):
    sim, api = twin
    sim.reset_stats()
    small = run_job(api, {"businessType": "dentist", "location": "Austin, TX", "maxResults": 1})
    stats = components(sim)
    assert small["status"] == "completed" and small["results_count"] == 1
    assert stats["enrichment-orchestrator"]["calls"] == 1  # one call per lead (answered 401: service-role key)
    assert stats["gotrue"]["calls"] == 1 + 1  # the submit's getUser and the orchestrator's
    assert stats["google-places"]["calls"] == small["metrics"]["google_calls"]
    assert stats["postgrest"]["calls"] >= 8  # the job's service-role writes go through PostgREST's pool

    sim.reset_stats()
    large = run_job(api, {"businessType": "dentist", "location": "Austin, TX", "maxResults": 10})
    stats = components(sim)
    assert large["status"] == "completed"
    assert stats["enrichment-orchestrator"]["calls"] == large["results_count"]
    assert stats["gotrue"]["calls"] == 1 + large["results_count"]
    # same query, same Google results: the code asks Place Details for every result whatever maxResults, so the
    # Google calls are the same; the larger job enriches and writes more leads, one after another, and takes longer
    assert large["metrics"]["google_calls"] == small["metrics"]["google_calls"]
    assert large["processing_time_ms"] > small["processing_time_ms"]

    # more leads asked than Google has for the query: each extra pass pays Google again for the same places, until
    # an expanded pass (x5 on) brings enough unique businesses
    short = run_job(api, {"businessType": "dentist", "location": "Austin, TX", "maxResults": 60})
    per_pass = small["metrics"]["google_calls"]
    assert short["metrics"]["discovery_passes"] > 1
    assert short["metrics"]["google_calls"] == short["metrics"]["discovery_passes"] * per_pass


def test_busy_time_queue_wait_and_rejections_are_accounted(simulator_factory, api_for):
    sim = simulator_factory("--capacity", "test-new-auth=2", "--service-time", "test-new-auth=100",
                            "--queue-limit", "3", "--time-scale", "0.05")
    api = api_for(sim)
    api.sign_in(1)
    sim.reset_stats()
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda _: api.function("test-new-auth", {}), range(8)))
    statuses = [reply.status for reply in replies]
    stats = components(sim)["test-new-auth"]
    served = statuses.count(200)
    assert stats["calls"] == served
    assert stats["rejections"]["queue_full"] == statuses.count(503)
    assert stats["rejections"]["queue_timeout"] == statuses.count(504)
    assert stats["busy_s"] == pytest.approx(served * 0.1, rel=0.25)  # each served call held a slot 100 ms
    assert stats["queue_wait_s"] > 0 and stats["peak_in_use"] == 2 and stats["peak_waiting"] == 3
