"""``/metrics`` for Prometheus on the master: latency histograms, counters, SLA verdicts, run validity, business.

Everything comes from the live SLA view (harness/livesla.py), so /metrics, the SLA tab and ``python -m analysis``
agree: the same merged interval histograms, the same decision. Served by the web UI's own Flask app at
``/metrics``; headless, by a small server on 127.0.0.1 when ``--metrics-port N`` is given (off by default).
Exposed through the official client (prometheus_client) with a collector that builds the families on each scrape.

Latency buckets are the real ones: Locust rounds a response time to a bucket (exact ms below 100, then 2
significant digits), so the bucket ``b`` holds the times that round to ``b``, and its upper edge is ``b`` plus half
a rounding step (0.5 ms below 100 ms, 5 ms below 1 s, 50 ms below 10 s, 500 ms above). Those edges, in seconds,
are the ``le`` bounds: for every bucket that holds requests its upper edge, and its lower edge too where the bucket
below it is empty (so no interval of the exposition mixes a bucket with a gap). Prometheus's ``histogram_quantile``
therefore interpolates inside the bucket that Locust's own percentile names, and lands within half a rounding step
of it (Locust reports the bucket's centre; its rank is floor(q n) + 1, PromQL's q n: the same sample unless q n is
a whole number).
``_sum`` is the sum of the bucket centres (the histogram does not keep exact times).

OpenTelemetry (``--otel``): Locust 2.47 creates its ``locust.client.duration`` histogram (seconds) without bucket
advice and builds the MeterProvider itself, without Views, so neither a View nor explicit buckets can be given to
it from a locustfile; its default explicit buckets (0, 5, 10, 25 ... 10000) in seconds put nearly every request in
the first two. The OTLP metric exporter does honour ``OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION``;
this module sets it to ``base2_exponential_bucket_histogram`` unless it is set already (it has no effect without
--otel), whose buckets adapt to the recorded range: 160 buckets over 1 ms .. 10 s is ~9 % per bucket, so
sub-millisecond steps at a few ms.
"""

from __future__ import annotations

import hmac
import logging
import os
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import request
from gevent.pywsgi import WSGIServer
from locust import events
from locust.env import Environment
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from analysis.decide import BUSINESS_LIMITS
from analysis.verdicts import Verdict
from harness import gate, livesla

logger = logging.getLogger(__name__)

PREFIX = "prospectpro"
OTEL_HISTOGRAM_AGGREGATION = ("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", "base2_exponential_bucket_histogram")


def bucket_upper_edge_ms(bucket: int) -> float:
    """The largest response time (exclusive) that Locust rounds to ``bucket`` (see the module docstring)."""
    if bucket < 100:
        return bucket + 0.5
    if bucket < 1000:
        return bucket + 5
    if bucket < 10000:
        return bucket + 50
    return bucket + 500


def bucket_lower_edge_ms(bucket: int) -> float:
    """The smallest response time that Locust rounds to ``bucket`` (100 also takes 99.5-99.9, 1000 takes 995-999...)."""
    if bucket <= 100:
        return bucket - 0.5
    if bucket <= 1000:
        return bucket - 5
    if bucket <= 10000:
        return bucket - 50
    return bucket - 500


def _le(seconds: float) -> str:
    return format(seconds, ".6g")


class LiveCollector:
    """A prometheus_client collector over one environment's live SLA view."""

    def __init__(self, view: livesla.LiveSla):
        self.view = view

    def collect(self) -> Iterator[Metric]:
        snapshot = self.view.snapshot(max_age_s=0)  # a scrape is a moment: never an older view
        yield from _latency_and_counts(snapshot)
        yield from _sla(snapshot)
        yield from _run(snapshot)
        yield from _business(snapshot, self.view.environment)


def _latency_and_counts(snapshot: livesla.LiveSnapshot) -> Iterator[Metric]:
    labels = ["method", "name"]
    latency = HistogramMetricFamily(f"{PREFIX}_request_duration_seconds",
                                    "Response time per endpoint, in Locust's buckets, merged over master and workers",
                                    labels=labels)  # fmt: skip
    requests = CounterMetricFamily(f"{PREFIX}_requests", "Requests per endpoint (this test)", labels=labels)
    failures = CounterMetricFamily(f"{PREFIX}_request_failures", "Failed requests per endpoint (this test)", labels=labels)
    for key in sorted(snapshot.endpoints):
        count, failed, histogram, *_corrected = snapshot.endpoints[key]  # service time; SLA rows are judged
        method, _, name = key.partition(" ")
        cumulative, buckets, last_edge = 0, [], -1.0
        for bucket in sorted(histogram):
            lower = bucket_lower_edge_ms(bucket)
            if lower > last_edge:  # a gap before this bucket: its lower edge too, so a quantile stays inside it
                buckets.append((_le(max(lower, 0.0) / 1000), cumulative))
            cumulative += histogram[bucket]
            last_edge = bucket_upper_edge_ms(bucket)
            buckets.append((_le(last_edge / 1000), cumulative))
        buckets.append(("+Inf", cumulative))
        total_s = sum(bucket * n for bucket, n in histogram.items()) / 1000
        latency.add_metric([method, name], buckets=buckets, sum_value=total_s)
        requests.add_metric([method, name], count)
        failures.add_metric([method, name], failed)
    yield from (latency, requests, failures)


def _sla(snapshot: livesla.LiveSnapshot) -> Iterator[Metric]:
    labels = ["subject", "criterion"]
    verdict = GaugeMetricFamily(f"{PREFIX}_sla_verdict", "1 for the check's current verdict (whole test so far), 0 for the others",
                                labels=[*labels, "verdict"])  # fmt: skip
    value = GaugeMetricFamily(f"{PREFIX}_sla_value", "The check's value over the whole test so far (its metric's unit)", labels=labels)
    limit = GaugeMetricFamily(f"{PREFIX}_sla_limit", "The check's limit (its metric's unit)", labels=labels)
    margin = GaugeMetricFamily(f"{PREFIX}_sla_margin", "How far past its limit the value is: > 0 breached, < 0 headroom", labels=labels)
    window = GaugeMetricFamily(f"{PREFIX}_sla_window_value", "The check's value over the recent window (--sla-window-seconds)", labels=labels)
    breaching = GaugeMetricFamily(f"{PREFIX}_sla_breaching_seconds", "How long the check has been a breach (0: it is not)", labels=labels)
    for row in snapshot.rows:
        key = [row.subject, row.criterion]
        for state in Verdict:
            verdict.add_metric([*key, state.value], 1.0 if row.verdict is state else 0.0)
        for family, number in ((value, row.value), (limit, row.limit), (margin, row.margin), (window, row.window_value)):
            if number is not None:
                family.add_metric(key, float(number))
        breaching.add_metric(key, row.breaching_for_s or 0.0)
    yield from (verdict, value, limit, margin, window, breaching)


def _run(snapshot: livesla.LiveSnapshot) -> Iterator[Metric]:
    decision = snapshot.decision
    exit_code = GaugeMetricFamily(f"{PREFIX}_run_exit_code", "The exit code the run would get if it stopped now (final once the test is written)")
    valid = GaugeMetricFamily(f"{PREFIX}_run_valid", "1 when nothing makes the run's numbers untrustworthy")
    finished = GaugeMetricFamily(f"{PREFIX}_run_finished", "1 once the test stopped and its results folder is written")
    if decision is not None:
        exit_code.add_metric([], int(decision.exit_code))
        valid.add_metric([], 1.0 if decision.valid else 0.0)
    finished.add_metric([], 1.0 if snapshot.finished else 0.0)
    users = GaugeMetricFamily(f"{PREFIX}_run_users", "Users intended and reached (peak) in this test", labels=["kind"])
    cpu = GaugeMetricFamily(f"{PREFIX}_generator_cpu_percent_max", "Peak CPU of the load generator (master and workers)")
    cpu_warning = GaugeMetricFamily(f"{PREFIX}_generator_cpu_warning", "1 when a load generator process went over Locust's CPU threshold")
    workers = GaugeMetricFamily(f"{PREFIX}_workers", "Workers connected now, and lost during this test", labels=["state"])
    workers.add_metric(["connected"], snapshot.workers)
    manifest = snapshot.manifest
    if manifest is not None:
        load, generator = manifest.get("load", {}), manifest.get("generator", {})
        users.add_metric(["intended"], load.get("intended_users") or 0)
        users.add_metric(["reached"], load.get("reached_users") or 0)
        cpu.add_metric([], generator.get("cpu_percent_max") or 0.0)
        cpu_warning.add_metric([], 1.0 if generator.get("cpu_warning") else 0.0)
        workers.add_metric(["lost"], load.get("workers_lost") or 0)
    yield from (exit_code, valid, finished, users, cpu, cpu_warning, workers)


def _business(snapshot: livesla.LiveSnapshot, environment: Environment) -> Iterator[Metric]:
    business = snapshot.business or {}
    metric = GaugeMetricFamily(f"{PREFIX}_business_metric", "Derived business metrics (rates, costs); absent when not measured",
                               labels=["metric"])  # fmt: skip
    for name, value in sorted((business.get("derived") or {}).items()):
        if value is not None:
            metric.add_metric([name], float(value))
    counts = GaugeMetricFamily(f"{PREFIX}_business_count", "Business event counts (this test)", labels=["count"])
    for name, value in sorted((business.get("counts") or {}).items()):
        counts.add_metric([name], float(value))
    costs = GaugeMetricFamily(f"{PREFIX}_business_cost_usd", "Costs so far, USD (this test)", labels=["cost"])
    for name, value in sorted((business.get("costs_usd") or {}).items()):
        costs.add_metric([name], float(value))
    limits = GaugeMetricFamily(f"{PREFIX}_business_limit", "Business limits of the baseline", labels=["metric", "direction"])
    loaded = gate.gate_of(environment)
    if loaded is not None:
        for limit_name, (metric_name, direction) in BUSINESS_LIMITS.items():
            limit = getattr(loaded.baseline.business, limit_name, None)
            if limit is not None:
                limits.add_metric([metric_name, direction], float(limit))
    yield from (metric, counts, costs, limits)


# ---- serving -----------------------------------------------------------------------------------------------------
_registries: weakref.WeakKeyDictionary[Environment, CollectorRegistry] = weakref.WeakKeyDictionary()


def registry_for(environment: Environment) -> CollectorRegistry | None:
    """The registry /metrics serves for ``environment`` (None on a worker)."""
    if environment in _registries:
        return _registries[environment]
    view = livesla.attach(environment)
    if view is None:
        return None
    registry = _registries[environment] = CollectorRegistry(auto_describe=False)
    registry.register(LiveCollector(view))
    return registry


@events.init_command_line_parser.add_listener
def _add_options(parser, **_kwargs) -> None:
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        env_var="LOCUST_METRICS_PORT",
        include_in_web_ui=False,
        help="headless runs: serve Prometheus /metrics on 127.0.0.1:PORT (the web UI serves /metrics itself)",
    )
    parser.add_argument(
        "--metrics-token",
        default=None,
        env_var="LOCUST_METRICS_TOKEN",
        include_in_web_ui=False,
        help="/metrics answers only requests with 'Authorization: Bearer TOKEN' (Prometheus: authorization.credentials); "
        "without it, /metrics is behind --web-login when that is on, and open otherwise",
    )
    # Before Locust sets OpenTelemetry up (it does so after parsing the options): see the module docstring.
    name, value = OTEL_HISTOGRAM_AGGREGATION
    os.environ.setdefault(name, value)


def bearer_ok(header: str | None, token: str) -> bool:
    """Whether an Authorization header carries ``Bearer <token>`` (compared in constant time)."""
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


UNAUTHORIZED = (b"/metrics needs 'Authorization: Bearer <the --metrics-token>'\n", 401,
                {"Content-Type": "text/plain", "WWW-Authenticate": 'Bearer realm="metrics"'})  # fmt: skip


def _token_guard(app: Callable[..., Iterable[bytes]], token: str) -> Callable[..., Iterable[bytes]]:
    """WSGI middleware for the headless server: the bearer token or 401."""
    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if bearer_ok(environ.get("HTTP_AUTHORIZATION"), token):
            return app(environ, start_response)
        body, status, headers = UNAUTHORIZED
        start_response(f"{status} Unauthorized", list(headers.items()))
        return [body]
    return guarded


@events.init.add_listener
def _on_init(environment: Environment, web_ui=None, **_kwargs) -> None:
    registry = registry_for(environment)
    if registry is None:
        return
    token = getattr(environment.parsed_options, "metrics_token", None)
    if web_ui is not None:
        def _exposition():
            return generate_latest(registry), 200, {"Content-Type": CONTENT_TYPE_LATEST}

        if token:
            @web_ui.app.route("/metrics")
            def _metrics():
                return _exposition() if bearer_ok(request.headers.get("Authorization"), token) else UNAUTHORIZED
        else:
            # The same login as the stock pages: /metrics names the target's endpoints and its verdicts.
            web_ui.app.route("/metrics")(web_ui.auth_required_if_enabled(_exposition))
            if web_ui.web_login:
                logger.warning("metrics: /metrics is behind --web-login; give --metrics-token TOKEN for Prometheus")
        return
    port = getattr(environment.parsed_options, "metrics_port", None)
    if port:
        app = make_wsgi_app(registry)
        server = WSGIServer(("127.0.0.1", port), _token_guard(app, token) if token else app, log=None)
        server.start()
        logger.info("metrics: http://127.0.0.1:%d/metrics", server.server_port)
