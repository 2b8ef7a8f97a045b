"""Decisions: pure functions from (run, baseline, optional reference) to checks with verdicts, and an exit code.

Nothing here reads files or prints; the offline CLI and the in-run gate both call ``decide`` (one decision path,
two doors). Every check keeps its actual value, its limit and its margin, so every breach can be listed, not just
the first one.

Limits are inclusive: a p95 equal to its limit passes (Locust's buckets are ~2 significant digits, so "equal"
already spans a few milliseconds). ``margin`` is how far past the limit the actual value is, in the metric's own
unit: positive means breached, negative means the headroom left.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from analysis.baseline import PERCENTILE_LIMITS, Baseline, DecisionRule, EndpointLimits, RunLimits
from analysis.bounds import (
    BoundRule,
    Judgement,
    count_above,
    count_above_from_percentiles,
    describe_settling,
    judge_count,
    judge_latency,
    per_check_breach_confidence,
)
from analysis.exit_codes import ExitCode
from analysis.histogram import Histogram
from analysis.openmodel import MANIFEST_SECTION as ARRIVALS_SECTION
from analysis.openmodel import arrival_problems
from analysis.regression import PercentileSpreads, RunSpread, compare_histograms, has_enough_samples, reference_spreads
from analysis.results import BusinessMetrics, EndpointResult, RunResult
from analysis.verdicts import Verdict
from common import results_format

# manifest.stop_reason values that mean a safety or cost guard ended the run (docs/architecture.md).
GUARD_STOP_REASONS = frozenset(results_format.GUARD_STOP_REASONS)

# Manifest options that change what load is sent; a reference run with other values is not comparable.
# processes/workers are left out on purpose: they change how load is generated, not what load is sent.
COMPARABLE_OPTIONS = ("users", "spawn_rate", "run_time_s", "user_classes", "tags", "exclude_tags", "shape")

# Business limits: baseline key -> (business_metrics.json derived key, "min" or "max").
BUSINESS_LIMITS: dict[str, tuple[str, str]] = {
    "discovery_success_rate_min": ("discovery_success_rate", "min"),
    "job_completion_rate_min": ("job_completion_rate", "min"),
    "export_success_rate_min": ("export_success_rate", "min"),
    "cost_per_discovery_max_usd": ("cost_per_discovery_usd", "max"),
    "cost_per_lead_max_usd": ("cost_per_lead_usd", "max"),
}
BUSINESS_SUBJECT = "business"
TOO_FEW_SAMPLES = "too few samples"  # the reason that marks a check inconclusive for lack of samples
RUN_SUBJECT = "run"
JOB_METHOD = "JOB"  # derived timings (submit -> completed), not HTTP responses
# Request types outside the run-wide error rate: JOB timings are derived, and WS entries are Realtime's websocket
# messages (scenarios/realtime.py: handshake, join, pushed changes, heartbeats), judged by their own entries. Under a
# Realtime outage the front end falls back to polling; its own checks show the outage, the HTTP error rate does not.
NOT_RUN_WIDE_METHODS = (JOB_METHOD, "WS")


def counts_run_wide(method: str) -> bool:
    """Whether an entry of this request type is one of the run's HTTP requests (the run-wide error rate's)."""
    return method not in NOT_RUN_WIDE_METHODS


@dataclass(frozen=True)
class Check:
    subject: str  # an endpoint key, "business" or "run"
    metric: str  # "p95_ms", "fail_ratio", "presence", "p95 change", "discovery_success_rate", ...
    verdict: Verdict
    actual: float | None = None
    limit: float | None = None
    margin: float | None = None  # > 0: past the limit by this much; < 0: headroom
    reference: float | None = None  # the reference run's value, for comparisons
    change: float | None = None  # relative change against the reference (0.3 = 30 % higher)
    interval: tuple[float, float] | None = None  # confidence interval of ``change``
    reason: str = ""
    warning_limit: float | None = None  # the criterion's warning level, beside its (breach) limit
    # Bound-judged checks (analysis/bounds.py): k events of n trials (failures of requests, or samples above the
    # limit), the one-sided bounds of the rate (lower at the breach confidence, upper at the pass confidence), and
    # for an inconclusive check how many more samples would settle it and as what.
    events: int | None = None
    trials: int | None = None
    bounds: tuple[float, float] | None = None
    more_samples: int | None = None
    settles_as: Verdict | None = None


@dataclass(frozen=True)
class Decision:
    baseline_name: str
    source: str
    checks: tuple[Check, ...]
    # Problems that make every number of the run untrustworthy (overloaded generator, load not reached, ...).
    run_problems: tuple[str, ...] = ()
    # Required endpoints (and the run-wide criteria) with an inconclusive SLA check: no pass can be claimed for
    # them; other endpoints' numbers stand.
    undersampled_endpoints: tuple[str, ...] = ()
    guard_stop_reason: str | None = None  # set when a safety or cost guard stopped the run
    reference_source: str | None = None
    percentile_source: str = "histogram"
    notes: tuple[str, ...] = field(default=())

    @property
    def validity_problems(self) -> tuple[str, ...]:
        """Every reason the run is not valid, as lines for people."""
        undersampled: tuple[str, ...] = ()
        if self.undersampled_endpoints:
            undersampled = (f"{TOO_FEW_SAMPLES} for a verdict on required endpoint(s): " + ", ".join(self.undersampled_endpoints),)
        return self.run_problems + undersampled

    @property
    def valid(self) -> bool:
        return not self.validity_problems

    @property
    def counts(self) -> dict[str, int]:
        """How many checks ended in each verdict (every verdict listed, zeros included)."""
        tally = Counter(check.verdict for check in self.checks)
        return {verdict.value: tally.get(verdict, 0) for verdict in Verdict}

    @property
    def breaches(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.verdict in (Verdict.BREACH, Verdict.MISSING))

    @property
    def inconclusive(self) -> tuple[Check, ...]:
        """Checks the data could not decide (listed after the breaches, with what would settle them)."""
        return tuple(c for c in self.checks if c.verdict is Verdict.INCONCLUSIVE)

    @property
    def warnings(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.verdict is Verdict.WARNING)

    @property
    def regressions(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.verdict is Verdict.REGRESSED)

    @property
    def exit_code(self) -> ExitCode:
        """Precedence, most specific cause first (1, bad input, never reaches here: it is raised before deciding):

        6 guard stop   - a guard ended the run on purpose; the cause to act on is the guard, not the numbers.
        5 not valid    - the generator or the load was wrong (CPU, users, workers, partial run): no number can be
                         trusted, so neither a pass nor a breach is claimed.
        3 SLA breach   - an absolute promise is broken, measured on enough samples under valid load (a required
                         endpoint never sent counts: its SLA is unmet). A breach outranks the next line because
                         one endpoint's shortage of samples does not make another endpoint's slowness less real.
        5 not valid    - a required endpoint (or a run-wide criterion) is inconclusive: too few samples to decide, and
                         no pass can be claimed for what was not measured.
        4 regression   - worse than last time but within the SLA: a warning that matters less than a breach.
        0 pass         - warnings (a check past its warning level, within its limit) are listed but keep exit 0.
        """
        if self.guard_stop_reason:
            return ExitCode.STOPPED_BY_GUARD
        if self.run_problems:
            return ExitCode.RUN_NOT_VALID
        if self.breaches:
            return ExitCode.SLA_BREACHED
        if self.undersampled_endpoints:
            return ExitCode.RUN_NOT_VALID
        if self.regressions:
            return ExitCode.REGRESSED
        return ExitCode.OK

    @property
    def outcome(self) -> str:
        """One word for the whole run, matching the exit code."""
        return {
            ExitCode.STOPPED_BY_GUARD: "stopped by guard",
            ExitCode.RUN_NOT_VALID: "not valid",
            ExitCode.SLA_BREACHED: "breach",
            ExitCode.REGRESSED: "regressed",
            ExitCode.OK: "pass",
        }[self.exit_code]


def decide(run: RunResult, baseline: Baseline, reference: RunResult | None = None) -> Decision:
    sla = sla_checks(run, baseline) + run_checks(run, baseline)
    checks = sla + business_checks(run, baseline) + third_party_checks(run, baseline)
    if reference is not None:
        checks += regression_checks(run, reference, baseline)
    checks.sort(key=_check_order)
    stop_reason = run.manifest.stop_reason if run.manifest else None
    notes = []
    if run.percentile_source == "csv":
        notes.append(
            "percentiles read from Locust's CSV columns: no histograms, so no regression test; "
            "the last _stats.csv can lag the end of the run by a second or two (prefer locust.json)"
        )
    if run.manifest is None:
        notes.append("no manifest.json: run validity (CPU, users reached, workers) could not be checked")
    return Decision(
        baseline_name=baseline.name,
        source=run.source,
        checks=tuple(checks),
        run_problems=tuple(run_problems(run)),
        undersampled_endpoints=tuple(undersampled_endpoints(baseline, sla)),
        guard_stop_reason=stop_reason if stop_reason in GUARD_STOP_REASONS else None,
        reference_source=reference.source if reference is not None else None,
        percentile_source=run.percentile_source,
        notes=tuple(notes),
    )


def _check_order(check: Check) -> tuple[bool, str]:
    """Each endpoint's SLA and change checks together, endpoints first (sorted), then business, then run-wide. The
    sort is stable, so an endpoint's checks keep their order (SLA before change)."""
    return check.subject in (BUSINESS_SUBJECT, RUN_SUBJECT), check.subject


def with_regression_checks(decision: Decision, checks: Sequence[Check], reference_source: str) -> Decision:
    """A decision made without a reference, with regression checks made apart (``regression_checks``): the same
    Decision that ``decide`` with the reference gives, when both were made on the same run. The live SLA view
    (harness/livesla.py) re-decides the SLAs every 2 s and the regressions, which cost ~15 times more, far less
    often."""
    return replace(decision, checks=tuple(sorted((*decision.checks, *checks), key=_check_order)),
                   reference_source=reference_source)  # fmt: skip


# ---- SLA ---------------------------------------------------------------------------------------------------------
# Statistical limits: judged with exact bounds (analysis/bounds.py), counted for the breach-side Bonferroni split.
STATISTICAL_METRICS = (*PERCENTILE_LIMITS, "fail_ratio")


def sla_checks(run: RunResult, baseline: Baseline) -> list[Check]:
    """Every endpoint the run sent, against its effective limits; then every listed endpoint it did not send.

    Listed or not, every endpoint is judged with the same bounds; the breach confidence is shared (Bonferroni) by
    every statistical check of the run, run-wide ones included (statistical_check_count).
    """
    checks_in_run = statistical_check_count(run, baseline)
    checks: list[Check] = []
    for key in sorted(run.endpoints):
        checks += endpoint_checks(run.endpoints[key], baseline.limits_for(key), baseline.decision, checks_in_run)
    for key in sorted(set(baseline.endpoints) - set(run.endpoints)):
        if baseline.is_required(key):
            checks.append(Check(key, "presence", Verdict.MISSING, reason="required by the baseline but never sent by this run"))
        else:
            checks.append(Check(key, "presence", Verdict.INCONCLUSIVE, reason="not sent by this run (optional in the baseline)"))
    return checks


def _limit_levels(limits: EndpointLimits | RunLimits, metric: str) -> int:
    return sum(value is not None for value in (getattr(limits, metric, None), limits.warning_for(metric)))


def statistical_check_count(run: RunResult, baseline: Baseline) -> int:
    """How many bound-judged limits (breach and warning levels) the run is judged on: the Bonferroni divisor."""
    return limit_count(run.endpoints, baseline, run.business)


def limit_count(endpoints: Iterable[str], baseline: Baseline, business: BusinessMetrics | None = None) -> int:
    """statistical_check_count from the endpoint keys alone (and the business metrics when there are some yet)."""
    total = sum(
        _limit_levels(limits, metric)
        for limits in (baseline.limits_for(key) for key in endpoints)
        for metric in STATISTICAL_METRICS
    )
    return total + _limit_levels(run_limits(baseline), "fail_ratio") + len(_judged_providers(business, baseline))


def _bound_rule(decision: DecisionRule, checks_in_run: int, min_samples: int | None) -> BoundRule:
    return BoundRule(
        breach_confidence=per_check_breach_confidence(decision.breach_confidence, checks_in_run),
        pass_confidence=decision.pass_confidence,
        min_samples=min_samples or 0,
    )


def _above_counter(endpoint: EndpointResult) -> Callable[[float], tuple[int, int]] | None:
    if endpoint.histogram is not None:
        histogram = endpoint.histogram
        return lambda limit: count_above(histogram, limit)
    if endpoint.csv_percentiles:
        return lambda limit: count_above_from_percentiles(dict(endpoint.csv_percentiles), endpoint.samples, limit)
    return None


def endpoint_checks(
    endpoint: EndpointResult, limits: EndpointLimits, decision: DecisionRule | None = None, checks_in_run: int = 1
) -> list[Check]:
    """The endpoint's checks. ``checks_in_run``: the Bonferroni divisor of the breach confidence (1: judged alone)."""
    key = endpoint.key
    rule = _bound_rule(decision or DecisionRule(), checks_in_run, limits.min_samples)
    checks: list[Check] = []
    counter = _above_counter(endpoint)
    for metric, q in PERCENTILE_LIMITS.items():
        limit, warning = getattr(limits, metric), limits.warning_for(metric)
        if limit is None and warning is None:
            continue
        actual = endpoint.percentile(q)
        n = endpoint.samples
        if counter is None or not n:
            checks.append(Check(key, metric, Verdict.INCONCLUSIVE, actual=actual, limit=limit, warning_limit=warning,
                                reason="percentile not available in the input" if n else "no response times recorded"))  # fmt: skip
            continue

        def judge(level: float, q: float = q, n: int = n, counter: Callable[[float], tuple[int, int]] = counter) -> Judgement:
            return judge_latency(*counter(level), n, 1 - q, rule)

        checks.append(_bound_check(key, metric, actual, limit, warning, judge))
    if limits.max_ms is not None or limits.max_ms_warning is not None:
        # No sample minimum and no bound: "any single response" is about what was seen; one is enough.
        actual_max = endpoint.max_ms if endpoint.max_ms is not None else (endpoint.histogram.max if endpoint.histogram else None)
        if actual_max is None:
            checks.append(Check(key, "max_ms", Verdict.INCONCLUSIVE, limit=limits.max_ms, warning_limit=limits.max_ms_warning,
                                reason="no response times recorded"))  # fmt: skip
        else:
            checks.append(_observed_upper_check(key, "max_ms", actual_max, limits.max_ms, limits.max_ms_warning))
    if limits.fail_ratio is not None or limits.fail_ratio_warning is not None:
        checks.append(fail_ratio_check(key, endpoint.failures, endpoint.requests, limits.fail_ratio, limits.fail_ratio_warning, rule))
    if limits.min_rps is not None:
        if endpoint.rps is None:
            checks.append(Check(key, "min_rps", Verdict.INCONCLUSIVE, limit=limits.min_rps, reason="request rate not available"))
        else:
            checks.append(_lower_limit_check(key, "min_rps", endpoint.rps, limits.min_rps))
    return checks


def fail_ratio_check(
    subject: str, failures: int, requests: int, limit: float | None, warning: float | None, rule: BoundRule,
    metric: str = "fail_ratio",
) -> Check:  # fmt: skip
    """k failures of n requests (or calls) against a failure-ratio limit (and warning level), with exact bounds."""
    actual = failures / requests if requests else None

    def judge(level: float) -> Judgement:
        return judge_count(failures, requests, level, rule)

    return _bound_check(subject, metric, actual, limit, warning, judge)


def _bound_check(
    subject: str, metric: str, actual: float | None, limit: float | None, warning: float | None,
    judge: Callable[[float], Judgement],
) -> Check:  # fmt: skip
    """One check from bound judgements against the limit and the warning level (either may be None).

    breach (the limit proven broken) > inconclusive about the limit > warning (the warning level proven passed)
    > pass. With only a warning level, "proven past it" is a warning and nothing is a breach.
    """
    margin = actual - limit if actual is not None and limit is not None else None

    def check(verdict: Verdict, judged: Judgement, reason: str = "") -> Check:
        return Check(subject, metric, verdict, actual=actual, limit=limit, margin=margin, warning_limit=warning,
                     **_bound_fields(judged), reason=reason)  # fmt: skip

    main = judge(limit) if limit is not None else None
    if main is not None and limit is not None and main.verdict in (Verdict.BREACH, Verdict.INCONCLUSIVE):
        return check(main.verdict, main, _bound_reason(main, limit, metric))
    if warning is not None:
        extra = judge(warning)
        if extra.verdict is Verdict.BREACH:
            return check(Verdict.WARNING, extra, "past the warning level: " + _bound_reason(extra, warning, metric))
        if main is None:  # only a warning level: not proven past it is a pass only when proven below it
            if extra.verdict is Verdict.PASS:
                return check(Verdict.PASS, extra)
            return check(Verdict.INCONCLUSIVE, extra, _bound_reason(extra, warning, metric))
    assert main is not None, "a check needs a limit or a warning level"
    return check(Verdict.PASS, main)


def _bound_fields(judgement: Judgement) -> dict:
    return dict(
        events=judgement.k, trials=judgement.n, bounds=(judgement.low, judgement.high),
        more_samples=judgement.more_samples, settles_as=judgement.settles_as,
    )  # fmt: skip


def _bound_reason(judgement: Judgement, level: float, metric: str) -> str:
    """Why a bound-judged check ended as it did, e.g. '10 of 10 requests failed: failure rate at least 51.3 %'."""
    if metric not in PERCENTILE_LIMITS:  # a failure rate: of requests, or of a provider's calls
        unit = "requests" if metric == "fail_ratio" else "calls"
        seen, allowed, what = f"{judgement.k} of {judgement.n} {unit} failed", level, "failure rate"
    else:
        share = 1 - PERCENTILE_LIMITS[metric]
        seen, unit, allowed = f"{judgement.k} of {judgement.n} samples above {level:g} ms", "samples", share
        what = f"share above {level:g} ms"
    if judgement.verdict is Verdict.BREACH:
        return f"{seen}: {what} at least {judgement.low:.2%} (allowed {allowed:.2%})"
    if judgement.verdict is Verdict.PASS:
        return ""
    return (f"{TOO_FEW_SAMPLES} to decide: {seen}, {what} between {judgement.low:.2%} and {judgement.high:.2%} "
            f"(allowed {allowed:.2%}); " + describe_settling(judgement, unit))  # fmt: skip


def _observed_upper_check(subject: str, metric: str, actual: float, limit: float | None, warning: float | None) -> Check:
    margin = actual - limit if limit is not None else None
    if limit is not None and actual > limit:
        verdict = Verdict.BREACH
    elif warning is not None and actual > warning:
        verdict = Verdict.WARNING
    else:
        verdict = Verdict.PASS
    return Check(subject, metric, verdict, actual=actual, limit=limit, margin=margin, warning_limit=warning)


def _upper_limit_check(subject: str, metric: str, actual: float, limit: float) -> Check:
    verdict = Verdict.PASS if actual <= limit else Verdict.BREACH
    return Check(subject, metric, verdict, actual=actual, limit=limit, margin=actual - limit)


def _lower_limit_check(subject: str, metric: str, actual: float, limit: float) -> Check:
    verdict = Verdict.PASS if actual >= limit else Verdict.BREACH
    return Check(subject, metric, verdict, actual=actual, limit=limit, margin=limit - actual)


# ---- run-wide ----------------------------------------------------------------------------------------------------
def run_limits(baseline: Baseline) -> RunLimits:
    """[run] limits; without a [run] failure ratio, the [defaults] one applies to the whole run as well."""
    limits = baseline.run
    if limits.fail_ratio is None and limits.fail_ratio_warning is None:
        return RunLimits(fail_ratio=baseline.defaults.fail_ratio, fail_ratio_warning=baseline.defaults.fail_ratio_warning)
    return limits


def run_checks(run: RunResult, baseline: Baseline) -> list[Check]:
    """The run-wide error rate over every HTTP request of the run (not JOB timings nor WS messages)."""
    limits = run_limits(baseline)
    if limits.fail_ratio is None and limits.fail_ratio_warning is None:
        return []
    http = [e for e in run.endpoints.values() if counts_run_wide(e.method)]
    failures, requests = sum(e.failures for e in http), sum(e.requests for e in http)
    rule = _bound_rule(baseline.decision, statistical_check_count(run, baseline), baseline.defaults.min_samples)
    return [fail_ratio_check(RUN_SUBJECT, failures, requests, limits.fail_ratio, limits.fail_ratio_warning, rule)]


# ---- business ----------------------------------------------------------------------------------------------------
def business_checks(run: RunResult, baseline: Baseline) -> list[Check]:
    """Absolute business limits (the cost anomaly compares with a reference: see regression_checks)."""
    limits = baseline.business
    wanted = {name: getattr(limits, name) for name in BUSINESS_LIMITS if getattr(limits, name) is not None}
    if not wanted:
        return []
    if run.business is None:
        return [Check(BUSINESS_SUBJECT, "business_metrics", Verdict.INCONCLUSIVE, reason="no business_metrics.json in the input")]
    checks = []
    for limit_name, limit in wanted.items():
        metric, direction = BUSINESS_LIMITS[limit_name]
        actual = run.business.derived.get(metric)
        if actual is None:
            checks.append(Check(BUSINESS_SUBJECT, metric, Verdict.INCONCLUSIVE, limit=limit, reason="not measured (no denominator)"))
        elif direction == "min":
            checks.append(_lower_limit_check(BUSINESS_SUBJECT, metric, actual, limit))
        else:
            checks.append(_upper_limit_check(BUSINESS_SUBJECT, metric, actual, limit))
    return checks


def _judged_providers(business: BusinessMetrics | None, baseline: Baseline) -> list[str]:
    """Providers whose failure rate is judged: a limit is set and the run saw calls whose failures are exposed."""
    if baseline.business.third_party_failure_rate_max is None or business is None:
        return []
    return sorted(name for name, p in business.third_party.items() if p.calls and p.failures is not None)


def third_party_checks(run: RunResult, baseline: Baseline) -> list[Check]:
    """Each provider's failure rate (runbook: alert above 5 %), k failed of n calls, with exact bounds.

    A provider whose failures ProspectPro does not expose (Foursquare) is listed as inconclusive, never as a pass.
    """
    limit = baseline.business.third_party_failure_rate_max
    if limit is None or run.business is None:
        return []
    rule = _bound_rule(baseline.decision, statistical_check_count(run, baseline), None)
    checks = []
    for name, provider in sorted(run.business.third_party.items()):
        metric = f"{name}_failure_rate"
        if not provider.calls:
            continue
        if provider.failures is None:
            checks.append(Check(BUSINESS_SUBJECT, metric, Verdict.INCONCLUSIVE, limit=limit,
                                reason=f"{provider.provider or name} failures are not exposed by ProspectPro's responses"))  # fmt: skip
            continue
        checks.append(fail_ratio_check(BUSINESS_SUBJECT, provider.failures, provider.calls, limit, None, rule, metric=metric))
    return checks


def cost_anomaly_check(run: RunResult, reference: RunResult, factor: float) -> Check:
    """Cost per discovery against the reference run's: a relative comparison, so its verdict is regressed/unchanged."""
    metric = "cost_per_discovery_usd anomaly"
    actual = run.business.derived.get("cost_per_discovery_usd") if run.business else None
    previous = reference.business.derived.get("cost_per_discovery_usd") if reference.business else None
    if actual is None or not previous:
        return Check(BUSINESS_SUBJECT, metric, Verdict.INCONCLUSIVE, actual=actual, reference=previous,
                     reason="cost per discovery not measured in this run or the reference")  # fmt: skip
    limit = previous * factor
    change = actual / previous - 1
    verdict = Verdict.REGRESSED if actual > limit else Verdict.UNCHANGED
    return Check(BUSINESS_SUBJECT, metric, verdict, actual=actual, limit=limit, margin=actual - limit,
                 reference=previous, change=change, reason=f"alert above {factor:g} x the reference")  # fmt: skip


# ---- regression against a reference run --------------------------------------------------------------------------
def not_comparable_reason(run: RunResult, reference: RunResult) -> str | None:
    """Why the two runs cannot be compared, or None. Same scenario code and same load options are required."""
    if run.percentile_source == "csv" or reference.percentile_source == "csv":
        return "CSV input has no histograms; compare locust.json or results folders"
    if (run.manifest is None) != (reference.manifest is None):
        which = "this run" if run.manifest is None else "the reference"
        return f"{which} has no manifest, so its scenario code and options cannot be matched"
    if run.manifest is None or reference.manifest is None:
        return None  # neither has provenance: compare the numbers, as plain Locust outputs
    if run.manifest.scenario_hash != reference.manifest.scenario_hash:
        return "scenario code differs from the reference's (scenario_hash)"
    for option in COMPARABLE_OPTIONS:
        mine, theirs = run.manifest.options.get(option), reference.manifest.options.get(option)
        if mine != theirs:
            return f"option {option} differs: this run {mine!r}, reference {theirs!r}"
    return None


def regression_checks(run: RunResult, reference: RunResult, baseline: Baseline) -> list[Check]:
    """Per-endpoint latency changes and the cost anomaly; nothing is compared with a reference that differs."""
    reason = not_comparable_reason(run, reference)
    if reason:
        return [Check(RUN_SUBJECT, "regression", Verdict.NOT_COMPARABLE, reason=reason)]
    rule = baseline.regression
    # Histograms are present on both sides (not_comparable_reason refuses CSV-only runs).
    tested = len([
        key
        for key, endpoint in run.endpoints.items()
        if (previous := reference.endpoints.get(key)) is not None and previous.histogram is not None
        and endpoint.histogram is not None and has_enough_samples(previous.histogram, endpoint.histogram, rule)
    ])  # fmt: skip
    # A reference of several runs (analysis/reference.py, ReferenceRuns) carries them in .runs: their spread, per
    # percentile (moderated across endpoints, analysis/regression.py says why), is the run-to-run variation every
    # interval must include.
    run_to_run = reference_spreads(reference, rule)
    checks = []
    if baseline.business.cost_anomaly_factor is not None:
        checks.append(cost_anomaly_check(run, reference, baseline.business.cost_anomaly_factor))
    for key in sorted(run.endpoints):
        current = run.endpoints[key]
        previous = reference.endpoints.get(key)
        if previous is None:
            checks.append(Check(key, "change", Verdict.NOT_COMPARABLE, reason="not in the reference run"))
            continue
        assert current.histogram is not None and previous.histogram is not None  # guaranteed by not_comparable_reason
        for change in compare_histograms(previous.histogram, current.histogram, rule, endpoints_tested=tested,
                                         run_to_run=_spread_of(run_to_run, key, previous.histogram)):
            checks.append(Check(
                key, f"p{change.q * 100:g} change", change.verdict,
                actual=change.current_ms, reference=change.reference_ms,
                change=change.relative_change, interval=change.interval, reason=change.reason,
            ))  # fmt: skip
    return checks


def _spread_of(run_to_run: dict[float, PercentileSpreads] | None, key: str, reference: Histogram) -> dict[float, RunSpread] | None:
    if not run_to_run:
        return None
    return {q: spreads.for_endpoint(key, reference.percentile(0.5) or 1) for q, spreads in run_to_run.items()}


# ---- run validity ------------------------------------------------------------------------------------------------
def run_problems(run: RunResult) -> list[str]:
    """Why none of the run's numbers can be trusted to describe the intended load (empty list: none)."""
    problems = []
    if not run.endpoints:
        problems.append("the run recorded no requests")
    manifest = run.manifest
    if manifest is not None:
        if manifest.partial:
            problems.append(f"partial run (stop_reason: {manifest.stop_reason or 'unknown'})")
        if manifest.generator.cpu_warning:
            peak = manifest.generator.cpu_percent_max
            problems.append("load generator CPU overloaded" + (f" (peak {peak:g} %)" if peak is not None else ""))
        intended, reached = manifest.load.intended_users, manifest.load.reached_users
        if intended is not None and reached is not None and reached < intended:
            problems.append(f"intended users not reached ({reached} of {intended})")
        if manifest.load.workers_lost:
            named = f": {', '.join(manifest.load.workers_lost_ids)}" if manifest.load.workers_lost_ids else ""
            problems.append(f"{manifest.load.workers_lost} worker(s) lost during the run{named}")
        problems += arrival_problems((run.manifest_raw or {}).get(ARRIVALS_SECTION))  # open model: rate, drops
    return problems


def undersampled_endpoints(baseline: Baseline, sla: list[Check]) -> list[str]:
    """Required endpoints, and the run-wide criteria ("run"), whose SLA checks the samples could not decide."""
    return sorted({
        c.subject for c in sla
        if c.verdict is Verdict.INCONCLUSIVE and c.reason.startswith(TOO_FEW_SAMPLES)
        and (baseline.is_required(c.subject) or c.subject == RUN_SUBJECT)
    })  # fmt: skip
