"""Unit tests (no processes): the model file, SLA calibration of `healthy`, latency draws, gates, token buckets,
the cost waterfall, scoring and the CSV format."""

from __future__ import annotations

import random

import gevent
import pytest

from simulator.capacity import Gate, TokenBucket
from simulator.costs import TIERS, enrichment_waterfall, resolve_tier
from simulator.export import csv_text
from simulator.latency import LatencyModel
from simulator.profiles import EDGE_FUNCTIONS, ModelFileError, load_model
from simulator.synthetic import score

MODEL = load_model()
HEALTHY = MODEL.profiles["healthy"]
# DESIGN.md's SLA per endpoint class, in ms (functions also must stay under the 3 s edge-function SLA).
SLA_MS = {"auth-token": 500, "auth-user": 500, "test-new-auth": 500, "rest": 100,
          "business-discovery-background": 3000, "business-discovery-optimized": 3000,
          "enrichment-orchestrator": 3000, "campaign-export-user-aware": 2000}
EXPORT_LEADS = 100


def worst_case_ms(endpoint_class: str) -> float:
    dist = MODEL.latency[endpoint_class]
    worst = dist.max_ms + dist.per_item_ms * (EXPORT_LEADS if endpoint_class == "campaign-export-user-aware" else 0)
    if endpoint_class in EDGE_FUNCTIONS:
        worst += MODEL.latency["auth-user"].max_ms  # the getUser hop every function makes
    return worst


@pytest.mark.parametrize("endpoint_class", sorted(SLA_MS))
def test_healthy_worst_case_meets_the_sla_with_margin(endpoint_class):
    assert worst_case_ms(endpoint_class) <= 0.95 * SLA_MS[endpoint_class]


def test_profiles_named_in_the_brief_exist_and_every_function_has_capacity():
    assert {"healthy", "zero-latency", "degraded-discovery", "error-burst", "rate-limited", "outage", "malformed",
            "token-expiry", "slow-export"} <= set(MODEL.profiles)
    assert set(EDGE_FUNCTIONS) <= set(MODEL.components)
    assert all(spec.source for spec in MODEL.components.values())  # every default capacity says where it is from


def test_breaching_profiles_really_breach():
    slow = MODEL.profiles["slow-export"].multiplier("campaign-export-user-aware")
    dist = MODEL.latency["campaign-export-user-aware"]
    assert (dist.median_ms + dist.per_item_ms * EXPORT_LEADS) * slow > 2000
    degraded = MODEL.profiles["degraded-discovery"].multiplier("business-discovery-optimized")
    assert MODEL.latency["business-discovery-optimized"].p95_ms * degraded > 5000


def test_latency_draws_are_seeded_clipped_and_scaled():
    def draws(seed, scale=1.0):
        model = LatencyModel(MODEL, random.Random(seed), scale, {})
        return [model.seconds("rest", HEALTHY) for _ in range(2000)]

    first, again, other = draws(1), draws(1), draws(2)
    assert first == again and first != other
    dist = MODEL.latency["rest"]
    assert min(first) >= dist.min_ms / 1000 and max(first) <= dist.max_ms / 1000
    ordered = sorted(first)
    assert ordered[1000] == pytest.approx(dist.median_ms / 1000, rel=0.1)
    assert ordered[1900] == pytest.approx(dist.p95_ms / 1000, rel=0.15)
    assert max(draws(1, scale=0.05)) <= dist.max_ms * 0.05 / 1000
    fixed = LatencyModel(MODEL, random.Random(1), 0.05, {"rest": 250.0})
    assert fixed.seconds("rest", MODEL.profiles["slow-export"]) == 0.25  # unscaled, profile-proof
    assert LatencyModel(MODEL, random.Random(1), 1.0, {}).seconds("rest", MODEL.profiles["zero-latency"]) == 0


def test_gate_is_fifo_and_bounded():
    gate = Gate(concurrency=1, queue_limit=2, queue_timeout_s=5)
    order = []

    def worker(name):
        status = gate.enter()
        if status is not None:
            order.append((name, status))
            return
        order.append((name, "in"))
        gevent.sleep(0.01)
        gate.leave()

    greenlets = [gevent.spawn(worker, name) for name in "abcde"]
    gevent.joinall(greenlets, timeout=5)
    assert ("d", 503) in order and ("e", 503) in order
    assert [name for name, what in order if what == "in"] == ["a", "b", "c"]


def test_gate_times_out_with_504():
    gate = Gate(concurrency=1, queue_limit=5, queue_timeout_s=0.01)
    assert gate.enter() is None
    assert gate.enter() == 504
    gate.leave()
    assert gate.enter() is None


def test_token_bucket_refills_at_its_rate():
    now = [0.0]
    bucket = TokenBucket(rate=10, burst=2, clock=lambda: now[0])
    assert bucket.take() and bucket.take() and not bucket.take()
    assert bucket.seconds_until() == pytest.approx(0.1)
    now[0] += 0.1
    assert bucket.take()
    assert bucket.reserve(5, max_wait_s=0.1) is None  # would wait 0.5 s
    assert bucket.reserve(1, max_wait_s=0.2) == pytest.approx(0.1)


def test_tier_resolution_never_fails():
    assert resolve_tier("PROFESSIONAL", None) is TIERS["PROFESSIONAL"]
    assert resolve_tier("INVALID_TIER_999", "enterprise") is TIERS["ENTERPRISE"]
    assert resolve_tier(None, None) is TIERS["BASE"]


def test_waterfall_unit_costs_and_budget_skips():
    body = {"businessName": "Acme", "tier": "enterprise", "apolloEnrichment": True, "maxCostPerBusiness": 10}
    everything = enrichment_waterfall(random.Random(3), body, "WA", "acme.com")
    assert everything["servicesUsed"][:5] == ["hunter_io", "cobalt_sos", "state_license", "people_data_labs_company",
                                              "people_data_labs_person"]
    assert everything["servicesUsed"][-1] == "apollo"
    expected = 0.034 + 0.90 + 0.05 + 0.05 + 0.28 + 1.00 + 0.008 * len(everything["enrichedData"]["emails"]) * (
        "neverbounce" in everything["servicesUsed"])
    assert everything["totalCost"] == pytest.approx(expected, abs=1e-6)
    starter = enrichment_waterfall(random.Random(3), {"businessName": "Acme", "tier": "starter",
                                                      "maxCostPerBusiness": 0.03}, "WA", "acme.com")
    assert starter["totalCost"] == 0 and starter["servicesSkipped"] == ["hunter_io (budget)"]
    no_state = enrichment_waterfall(random.Random(3), {"businessName": "Acme"}, None, "")
    assert "cobalt_sos (missing state)" in no_state["servicesSkipped"]


def test_background_scoring_rules():
    full = {"name": "A", "address": "1 Main St", "phone": "1", "website": "w", "rating": 5.0, "user_ratings_total": 30,
            "details_enriched": True, "source": "google_place_details"}
    bare = {**full, "address": "", "phone": "", "website": "", "rating": 0.0, "user_ratings_total": 0,
            "details_enriched": False, "source": "google_places"}
    assert score(full) == 100  # capped
    assert score(bare) == 5  # name 20, no address -10, neither phone nor website -5
    assert score({**bare, "address": "x"}) == 50


def test_csv_quoting_follows_the_export_function():
    lead = {"business_name": 'Joe "The Best" Cafe', "address": "1 Main St, Seattle, WA", "phone": "555",
            "website": "https://x.com", "email": "", "confidence_score": 88,
            "enrichment_data": {"verificationSources": ["google_places", "hunter_io"],
                                "processingMetadata": {"totalCost": 0.054, "servicesUsed": ["hunter_io"]}}}
    lines = csv_text([lead], include_enrichment=True).split("\n")
    assert lines[1] == ('"Joe ""The Best"" Cafe","1 Main St, Seattle, WA","555","https://x.com","",88,'
                        '"google_places, hunter_io",false,false,false,0.054,"basic"')


def test_model_file_errors_are_one_line(tmp_path):
    broken = tmp_path / "profiles.toml"
    broken.write_text("[latency.rest]\nmedian_ms = 'fast'\n")
    with pytest.raises(ModelFileError, match=r"profiles.toml: latency.rest.median_ms: "):
        load_model(broken)
    broken.write_text("not toml = = 1")
    with pytest.raises(ModelFileError, match="not valid TOML"):
        load_model(broken)


def test_accounting_takes_back_a_response_that_could_not_be_written():
    from simulator.accounting import Accounting
    from simulator.httpserver import Request, Response

    accounting = Accounting()
    sign_in = Request("POST", "/auth/v1/token?grant_type=password", {}, b"", "127.0.0.1")
    export = Request("POST", "/functions/v1/campaign-export-user-aware?download=true", {}, b"", "127.0.0.1")
    admin = Request("GET", "/__admin/stats", {}, b"", "127.0.0.1")
    accounting.count(sign_in, Response(200))
    accounting.count(export, Response(200))
    accounting.count(export, Response(500))
    accounting.count(export, Response(500), -1)  # the write failed
    accounting.count(admin, Response(200))
    assert accounting.snapshot() == {"served": {"POST /auth/v1/token?grant_type=password": {"200": 1},
                                                "POST /functions/v1/campaign-export-user-aware": {"200": 1}},
                                     "total": 2}
