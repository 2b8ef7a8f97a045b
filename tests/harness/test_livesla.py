"""The web UI's live SLA view, /metrics and a run per test, on a real master with a worker against the simulator.

One module-scoped session drives Locust's web UI as a person would (POST /swarm, POST /stop, then a second test)
and records what it saw; the tests below read that record:
- the SLA view equals ``python -m analysis compare`` on the test's folder (same checks, values, verdicts, exit code);
- /metrics histograms give the run's own percentiles, during the run (bracketed by Locust's answer just before and
  just after the scrape) and exactly once the test stopped;
- stopping writes the test's folder, verdict and report while Locust keeps running; the next test gets a new one.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from analysis.histogram import Histogram
from harness.prometheus import bucket_lower_edge_ms, bucket_upper_edge_ms
from harness.simulator_process import start_simulator
from tests.support.locust_runs import ROOT, clean_environment
from tests.support.ui_runs import BASELINE, locust_ui

pytestmark = pytest.mark.integration

LOCUST_STATS_CACHE_S = 2.1  # locust.web memoizes /stats/requests for DEFAULT_CACHE_TIME (2 s)
QUANTILES = (0.95, 0.99)  # the percentiles Locust's /stats/requests answers with


@dataclass
class Session:
    live_metrics: str = ""
    stats_before: dict = field(default_factory=dict)
    stats_after: dict = field(default_factory=dict)
    live_view: dict = field(default_factory=dict)
    final_view: dict = field(default_factory=dict)
    final_metrics: str = ""
    final_stats: dict = field(default_factory=dict)
    second_view: dict = field(default_factory=dict)
    still_running_after_stop: bool = False
    report_page: bytes = b""
    log: str = ""


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Session:
    root = tmp_path_factory.mktemp("webui")
    record = Session()
    simulator = start_simulator("--time-scale", "0.05", "--job-time-scale", "0.02", log_path=root / "simulator.log")
    try:
        with locust_ui(simulator.url, root / "results", env=clean_environment(), processes=1) as ui:
            ui.swarm(10, 10)
            ui.wait_for(lambda: _requests(ui.get_json("/stats/requests")) >= 300, "300 requests", timeout_s=60)
            record.live_view = ui.get_json("/sla/data")
            # Locust memoizes /stats/requests for 2 s: wait that out on each side, so the scrape is bracketed.
            time.sleep(LOCUST_STATS_CACHE_S)
            record.stats_before = ui.get_json("/stats/requests")
            record.live_metrics = ui.get("/metrics").decode()
            time.sleep(LOCUST_STATS_CACHE_S)
            record.stats_after = ui.get_json("/stats/requests")
            ui.post("/stop")
            record.final_view = ui.wait_finished()
            record.still_running_after_stop = ui.process.poll() is None
            record.final_metrics = ui.get("/metrics").decode()
            record.final_stats = ui.get_json("/stats/requests")
            record.report_page = ui.get("/sla/report")
            ui.wait_for_workers()
            ui.swarm(4, 4)
            ui.wait_for(lambda: _requests(ui.get_json("/stats/requests")) >= 20, "the second test's requests", 60)
            ui.post("/stop")
            record.second_view = ui.wait_finished(after_run_id=record.final_view["run_id"])
            record.log = ui.log()
    finally:
        simulator.stop()
    return record


def _requests(stats: dict) -> int:
    return sum(row["num_requests"] for row in stats["stats"] if row["name"] != "Aggregated")


# ---- the SLA view is what `python -m analysis compare` says ------------------------------------------------------
def test_sla_view_equals_analysis_compare_on_the_tests_folder(session):
    view = session.final_view
    compare = subprocess.run([sys.executable, "-m", "analysis", "compare", view["results_dir"], "--baseline",
                              str(BASELINE), "--format", "json"], cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    offline = json.loads(compare.stdout)
    assert compare.returncode == offline["exit_code"] == view["exit_code"]
    assert offline["outcome"] == view["outcome"]
    assert offline["validity_problems"] == view["validity_problems"]
    live = {(c["subject"], c["metric"]): c for c in view["checks"]}
    expected = {(c["subject"], c["metric"]): c for c in offline["checks"]}
    assert list(live) == list(expected)  # the same checks, in the same order
    for key, check in expected.items():
        for name in ("verdict", "actual", "limit", "margin"):
            assert live[key][name] == check[name], (key, name)
    # Not a vacuous equality: the run was judged on real numbers, with a worker, and passed some checks.
    assert view["workers"] == 1
    judged = [c for c in view["checks"] if c["verdict"] == "pass" and c["actual"] is not None]
    assert len(judged) >= 10


def test_a_running_test_already_has_a_verdict_with_values_and_a_window(session):
    view = session.live_view
    assert view["finished"] is False and view["exit_code"] is not None
    with_values = [c for c in view["checks"] if c["actual"] is not None and c["window_actual"] is not None]
    assert len(with_values) >= 10
    assert all(c["window_verdict"] for c in with_values)


def test_every_verdict_change_is_a_log_line(session):
    changes = re.findall(r"harness\.livesla: SLA (.+?): (\S+) -> (\S+) \(", session.log)
    assert changes, "no verdict change was logged"
    assert any(after == "pass" for _what, _before, after in changes)
    assert "SLA verdict if the test stopped now" in session.log or len({a for _w, _b, a in changes}) >= 1


# ---- /metrics ----------------------------------------------------------------------------------------------------
def _histograms(text: str) -> dict[str, list[tuple[float, float]]]:
    """``method name`` -> [(le seconds, cumulative count)] from the exposition text."""
    found: dict[str, list[tuple[float, float]]] = {}
    pattern = re.compile(r'^prospectpro_request_duration_seconds_bucket\{le="([^"]+)",method="([^"]+)",name="((?:[^"\\]|\\.)*)"\} (\S+)$')
    for line in text.splitlines():
        match = pattern.match(line)
        if match:
            le, method, name, count = match.groups()
            found.setdefault(f"{method} {name}", []).append((math.inf if le == "+Inf" else float(le), float(count)))
    return found


def _sample_bucket(buckets: list[tuple[float, float]], rank: int) -> tuple[float, float]:
    """(lower, upper) edge in ms of the bucket that holds the rank-th smallest sample (rank from 1)."""
    lower = 0.0
    for le, cumulative in buckets:
        if cumulative >= rank:
            return lower * 1000, le * 1000
        lower = le
    raise AssertionError("unreachable")


def _locust_rule(buckets: list[tuple[float, float]], q: float) -> int:
    """Locust's percentile read off the /metrics histogram: the bucket of sample floor(q n) + 1 (Locust walks down
    from the top and stops at the last bucket with at most q n samples below it), named by its centre."""
    total = int(buckets[-1][1])
    _lower, upper_ms = _sample_bucket(buckets, min(total, math.floor(q * total) + 1))
    return round(upper_ms - (0.5 if upper_ms <= 100.5 else 5 if upper_ms <= 1005 else 50 if upper_ms <= 10050 else 500))


def _prometheus_quantile(buckets: list[tuple[float, float]], q: float) -> float:
    """PromQL histogram_quantile: linear interpolation inside the bucket that holds rank q n (ms)."""
    rank = q * buckets[-1][1]
    previous_le, previous_count = 0.0, 0.0
    for le, cumulative in buckets:
        if cumulative >= rank:
            if math.isinf(le):
                return previous_le * 1000
            return 1000 * (previous_le + (le - previous_le) * (rank - previous_count) / (cumulative - previous_count))
        previous_le, previous_count = le, cumulative
    raise AssertionError("unreachable")


def _stats_rows(stats: dict) -> dict[str, dict]:
    return {f"{row['method']} {row['name']}": row for row in stats["stats"] if row["name"] != "Aggregated"}


def test_metrics_during_the_run_agree_with_locusts_percentiles(session):
    """During the run, Locust's own p95 just before and just after the scrape bracket the scrape's p95 (within a
    bucket: the run goes on for the 2 s on each side). Exact equality is checked once the test stopped (below)."""
    histograms = _histograms(session.live_metrics)
    before, after = _stats_rows(session.stats_before), _stats_rows(session.stats_after)
    checked = 0
    for key, buckets in histograms.items():
        if key not in before or key not in after or buckets[-1][1] < 40:
            continue
        field_name = "response_time_percentile_0.95"
        low = min(before[key][field_name], after[key][field_name])
        high = max(before[key][field_name], after[key][field_name])
        scraped = _locust_rule(buckets, 0.95)
        step = bucket_upper_edge_ms(scraped) - bucket_lower_edge_ms(scraped)
        assert low - step <= scraped <= high + step, (key, scraped, (low, high))
        checked += 1
    assert checked >= 2


def test_metrics_after_the_test_give_exactly_locusts_percentiles_and_counts(session):
    histograms = _histograms(session.final_metrics)
    rows = _stats_rows(session.final_stats)
    folder = Path(session.final_view["results_dir"])
    locust_json = {f"{e['method']} {e['name']}": e for e in json.loads((folder / "locust.json").read_text())}
    assert set(histograms) == set(locust_json)
    for key, buckets in histograms.items():
        entry = locust_json[key]
        histogram = Histogram.from_dict(entry["response_times"])
        # Locust's own buckets and counts: each bucket's upper rounding limit is an edge with its cumulative count.
        edges = {round(le * 1000, 3): n for le, n in buckets[:-1]}
        for bucket, cumulative in zip(histogram.buckets, np.cumsum(histogram.counts), strict=True):
            assert edges[bucket_upper_edge_ms(int(bucket))] == cumulative, (key, bucket)
        assert buckets[-1][1] == histogram.count == rows[key]["num_requests"] - _untimed(entry)
        for q in QUANTILES:
            locust_value = rows[key][f"response_time_percentile_{q}"]
            assert _locust_rule(buckets, q) == locust_value == histogram.percentile(q), (key, q)
            total = buckets[-1][1]
            if (q * total) % 1:  # PromQL's rank q n and Locust's floor(q n) + 1 name the same sample
                lower, upper = _sample_bucket(buckets, math.floor(q * total) + 1)
                # Both inside the same real bucket (its centre, but for 100, 1000 and 10000 whose range is lopsided).
                assert lower <= _prometheus_quantile(buckets, q) <= upper and lower <= locust_value <= upper
    assert re.search(r'^prospectpro_requests_total\{method="[^"]+",name=".+"\} \d', session.final_metrics, re.M)
    for family in ("prospectpro_request_failures_total", "prospectpro_sla_verdict", "prospectpro_sla_margin",
                   "prospectpro_run_exit_code", "prospectpro_run_users", "prospectpro_generator_cpu_percent_max",
                   "prospectpro_workers", "prospectpro_business_metric", "prospectpro_business_limit"):  # fmt: skip
        assert re.search(rf"^{family}(\{{|\s)", session.final_metrics, re.M), family
    exit_code = re.search(r"^prospectpro_run_exit_code (\S+)$", session.final_metrics, re.M)
    assert float(exit_code.group(1)) == session.final_view["exit_code"]


def _untimed(entry: dict) -> int:
    """Requests Locust counted without a response time (not in any histogram)."""
    return entry["num_requests"] - sum(entry["response_times"].values())


# ---- a run per test ----------------------------------------------------------------------------------------------
def test_stopping_writes_the_tests_folder_verdict_and_report_without_quitting_locust(session):
    folder = Path(session.final_view["results_dir"])
    assert session.still_running_after_stop
    for name in ("manifest.json", "locust.json", "locust_stats.csv", "intervals.jsonl", "business_metrics.json",
                 "verdict.json", "report.html", "locust_report.html"):  # fmt: skip
        assert (folder / name).is_file(), name
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["stop_reason"] == "stopped" and manifest["partial"] is False
    assert manifest["load"]["workers_lost"] == 0 and manifest["options"]["workers"] == 1
    assert b"<html" in session.report_page.lower()


def test_the_next_test_gets_a_new_run_folder_with_only_its_own_requests(session):
    first, second = Path(session.final_view["results_dir"]), Path(session.second_view["results_dir"])
    assert first != second and first.parent == second.parent
    assert (first.parent / "latest").resolve() == second.resolve()
    first_count = sum(e["num_requests"] for e in json.loads((first / "locust.json").read_text()))
    second_count = sum(e["num_requests"] for e in json.loads((second / "locust.json").read_text()))
    assert second_count < first_count
    intervals = [json.loads(line) for line in (second / "intervals.jsonl").read_text().splitlines()[1:]]
    in_intervals = sum(e["requests"] for line in intervals for e in line["endpoints"].values())
    assert in_intervals == second_count


def test_the_grafana_dashboard_queries_only_metrics_that_metrics_serves(session):
    dashboard = json.loads((ROOT / "dashboards" / "grafana-sla.json").read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    served = set(re.findall(r"^([a-z_]+)(?:\{| )", session.final_metrics, re.M))
    used = {name for expr in expressions for name in re.findall(r"\b(prospectpro_[a-z_]+)\b", expr)}
    assert used and used <= served, used - served
    # Every family of the SLA tab is on the dashboard: verdicts, values, limits, window, breach time, exit code.
    assert {"prospectpro_sla_verdict", "prospectpro_sla_value", "prospectpro_sla_limit", "prospectpro_sla_window_value",
            "prospectpro_sla_breaching_seconds", "prospectpro_run_exit_code", "prospectpro_business_metric",
            "prospectpro_business_limit"} <= used
