"""Google Places over its quota, and the optimized function's results cache, against the running simulator.

Google refuses a call over the quota at once (OVER_QUERY_LIMIT; nothing queues), and ProspectPro's functions react
as their code does: a background job fails on a refused first text-search page, stops paginating on a refused later
page, and keeps a business without phone or website when its Place Details call is refused; the optimized function
answers 200 with no leads when its text search is refused. Its Google cache is per request (the code at HEAD);
the `optimized-cache` profile keeps results in the isolate as the reference reads it.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import Api
from harness.simulator_process import start_simulator

pytestmark = pytest.mark.integration

QUOTA_ERROR = "Google Places API failed: OVER_QUERY_LIMIT"


@pytest.fixture(scope="module")
def starved():
    """Google's quota at 1 query per simulated second (5 per real second at --time-scale 0.2), burst 2: a handful
    of jobs submitted together is far over it."""
    with start_simulator("--time-scale", "0.2", "--job-time-scale", "0.02", "--capacity", "google-places=1") as sim:
        api = Api(sim.url)
        api.sign_in(1)
        yield sim, api


def finished_jobs(api: Api, count: int) -> list[dict]:
    deadline = time.monotonic() + 30
    rows: list[dict] = []
    while time.monotonic() < deadline:
        rows = api.rest("discovery_jobs?select=id,status,error,metrics,results").json()
        if len(rows) == count and all(row["status"] in ("completed", "failed") for row in rows):
            return rows
        time.sleep(0.05)
    raise AssertionError(f"jobs did not finish in 30 s: {[row['status'] for row in rows]}")


def test_jobs_over_googles_quota_fail_or_lose_details_as_the_code_does_and_every_refusal_is_counted(starved):
    sim, api = starved
    sim.reset_stats()
    body = {"businessType": "dentist", "location": "Austin, TX", "maxResults": 3, "minConfidenceScore": 50}
    with ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(lambda _: api.function("business-discovery-background", body), range(6)))
    assert [reply.status for reply in replies] == [200] * 6  # the submit answers before the job meets Google
    jobs = finished_jobs(api, 6)
    google = sim.stats()["components"]["google-places"]
    failed = [job for job in jobs if job["status"] == "failed"]
    completed = [job for job in jobs if job["status"] == "completed"]
    # a refused first page throws in searchGooglePlaces: the job fails with the code's own words
    assert failed and {job["error"] for job in failed} == {QUOTA_ERROR}
    # at most the burst plus what the quota refilled while the jobs ran got through; the rest was refused at once
    assert completed, "the job that got the burst's query completes"
    assert google["rejections"]["over_quota"] == sum(job["metrics"]["google_over_quota"] for job in jobs)
    assert google["calls"] == sum(job["metrics"]["google_calls"] for job in jobs)
    assert google["queue_wait_s"] == 0  # nothing waits for Google's quota
    for job in completed:
        # pages after the first refused: the pass keeps one page; details refused: businesses without contacts
        assert job["metrics"]["google_over_quota"] > 0
        undetailed = [lead for lead in job["results"] if "google_place_details" not in lead["dataSources"]]
        assert all(not lead["phone"] and not lead["website"] for lead in undetailed
                   if "foursquare" not in lead["dataSources"])

    # the optimized function over quota: its text search returns [], so a 200 with no leads (never a 5xx)
    with ThreadPoolExecutor(4) as pool:  # together: at most the burst's 2 queries are there for them
        replies = list(pool.map(lambda _: api.function("business-discovery-optimized", body), range(4)))
    assert [reply.status for reply in replies] == [200] * 4
    empty = [reply.json() for reply in replies if reply.json()["results"]["totalFound"] == 0]
    assert empty and empty[0]["leads"] == [] and empty[0]["costs"]["totalCost"] == 0


@pytest.fixture(scope="module")
def quick():
    """At --time-scale 0.0002 an hour of simulated time is 0.72 s: long enough to hit the cache, short enough to
    see it expire."""
    with start_simulator("--time-scale", "0.0002") as sim:
        api = Api(sim.url)
        api.sign_in(1)
        yield sim, api


def optimized(sim, api: Api, body: dict) -> tuple[dict, int]:
    """One optimized discovery: its body and the Google calls it spent."""
    before = sim.stats()["components"]["google-places"]["calls"]
    reply = api.function("business-discovery-optimized", body)
    assert reply.status == 200
    return reply.json(), sim.stats()["components"]["google-places"]["calls"] - before


def test_the_optimized_functions_google_cache_is_per_request_unless_the_isolate_keeps_it(quick):
    sim, api = quick
    query = {"businessType": "bakery", "location": "Portland, OR", "maxResults": 5}
    sim.set_profile("healthy")
    # code-faithful: the cache is built inside each request, so the same query pays Google every time
    first, spent_first = optimized(sim, api, query)
    again, spent_again = optimized(sim, api, query)
    assert spent_first == 1 + first["results"]["totalFound"] and spent_again == 1 + again["results"]["totalFound"]

    sim.set_profile("optimized-cache")  # the reference's reading: the isolate keeps a query's results 1 h
    try:
        cold, spent_cold = optimized(sim, api, query)
        hit, spent_hit = optimized(sim, api, query)
        other, spent_other = optimized(sim, api, {**query, "maxResults": 3})  # another key: no hit
        assert spent_cold == 1 + cold["results"]["totalFound"] and spent_hit == 0
        assert [lead["businessName"] for lead in hit["leads"]] == [lead["businessName"] for lead in cold["leads"]]
        assert spent_other == 1 + other["results"]["totalFound"]
        time.sleep(3600 * 0.0002 + 0.2)  # past the hour (simulated)
        _, spent_expired = optimized(sim, api, query)
        assert spent_expired > 0
    finally:
        sim.set_profile("healthy")
