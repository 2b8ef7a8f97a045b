"""The live SLA view: the verdict the run would get if it stopped now, while it runs, on the master.

Inputs, all on the master (or the local runner), so the view is the same with workers as without:
- the merged per-endpoint interval histograms of harness/intervals.py: the intervals already written (kept here as
  they are written, through the recorder's ``interval_listeners``) plus the ones still open (``IntervalTable.peek``);
- Locust's own merged stats entries, for what an interval histogram cannot hold: the exact maximum response time
  and the first-request/last-request span that a request rate is computed over (as ``python -m analysis`` reads
  them from locust.json);
- the run's manifest (``harness.results.build_manifest`` as if the test stopped now; the final one once written);
- the business metrics, from the source the locustfile registers (``register_business_source``);
- the baseline and reference that harness/gate.py loaded (``--baseline``/``--reference``, or the web UI's form).

It decides with ``analysis.decide.decide``, the function ``python -m analysis compare`` calls: over the whole test
so far, and over the last ``--sla-window-seconds`` (whole intervals that started within the window, plus the open
one). A row per check of the whole-test decision carries the window's value and verdict beside it and how long the
whole-test verdict has been a breach; every change of a row's verdict, and of the run's outcome, is one line in
Locust's log. Once the test's files are written the view is frozen on exactly what they hold, so it equals what
``python -m analysis compare`` says on that folder.

Nothing here knows ProspectPro; nothing here writes files.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import STATE_RUNNING, STATE_SPAWNING, WorkerRunner

from analysis.argtypes import positive_float
from analysis.decide import Check, Decision, decide, regression_checks, with_regression_checks
from analysis.errors import InputError
from analysis.results import RunResult, run_from_entries
from analysis.verdicts import Verdict
from harness import gate, results
from harness.arrivals import corrected_entries
from harness.intervals import Counts, merge_counts, recorder_for

logger = logging.getLogger(__name__)

DEFAULT_WINDOW_S = 60.0
REFRESH_S = 2.0  # how often a running test is re-decided (for the log lines); readers get at most this old a view
# The regression checks, at most this often. The view decides on the master, in the loop that runs the users (or
# the local runner's): every ms it spends there is a ms no response is timed. Against a reference, a decision costs
# ~15 times one without (a bootstrap of every endpoint, ~60-90 ms); made every 2 s, that held the loop ~5 % of the
# time and put the p95 of 1-3 ms Realtime messages at 20-60 ms: an A/A run was "regressed" against a reference
# recorded without one. Every 30 s (and at the end) it costs ~0.2 %; the regression rows are at most that old.
REGRESSION_REFRESH_S = 30.0
BREACH_VERDICTS = (Verdict.BREACH, Verdict.MISSING)

BusinessSource = Callable[[Environment], dict]
_business_source: BusinessSource | None = None


def register_business_source(source: BusinessSource) -> None:
    """``source(environment)`` returns the run's business metrics as business_metrics.json holds them (the locustfile
    registers it)."""
    global _business_source
    _business_source = source


@events.init_command_line_parser.add_listener
def _add_options(parser, **_kwargs) -> None:
    parser.add_argument(
        "--sla-window-seconds",
        type=positive_float,
        default=DEFAULT_WINDOW_S,
        env_var="LOCUST_SLA_WINDOW_SECONDS",
        include_in_web_ui=True,
        help="the live SLA view's recent window: each criterion is also decided over the last N seconds (default 60)",
    )


# ---- the view ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SlaRow:
    """One check of the baseline: the whole test so far, the recent window beside it."""

    subject: str  # an endpoint key, "business" or "run"
    criterion: str  # the check's metric: "p95_ms", "fail_ratio", "export_success_rate", ...
    verdict: Verdict
    value: float | None
    limit: float | None
    margin: float | None
    window_value: float | None
    window_verdict: Verdict | None
    breaching_for_s: float | None  # how long the whole-test verdict has been a breach (None: it is not one)
    reason: str = ""


@dataclass(frozen=True)
class LiveSnapshot:
    at: float  # epoch seconds the view describes
    run_id: str | None
    results_dir: str | None
    finished: bool  # the test's files are written: the view is final
    window_s: float
    decision: Decision | None  # None without a baseline
    window_decision: Decision | None
    rows: tuple[SlaRow, ...]
    endpoints: dict[str, Counts]  # the whole test's merged counts and histograms, by endpoint key
    manifest: dict[str, Any] | None
    business: dict[str, Any] | None
    workers: int  # connected workers (0: a local runner)
    problem: str | None = None  # why there is no verdict (no baseline, a bad file in the form)
    report: str | None = None  # the report's path once it is written


@dataclass
class _RowHistory:
    verdict: Verdict
    since: float
    breaching_since: float | None


@dataclass
class LiveSla:
    environment: Environment
    clock: Callable[[], float] = time.time
    _written: dict[int, dict[str, Counts]] = field(default_factory=dict)  # written intervals of the current test
    _history: dict[tuple[str, str], _RowHistory] = field(default_factory=dict)
    _outcome: tuple[str, int] | None = None
    _cached: LiveSnapshot | None = None
    _listening_to: Any = None  # the recorder whose intervals arrive here
    _greenlet: gevent.Greenlet | None = None
    _regression: tuple[float, Any, list[Check]] | None = None  # (made at, for which loaded gate, the checks)

    # ---- inputs ----------------------------------------------------------------------------------------------
    def on_test_start(self, **_kwargs) -> None:
        """A new test: forget the last one (the recorder starts a new file, Locust resets its stats)."""
        self._written = {}
        self._history = {}
        self._outcome = None
        self._cached = None
        self._regression = None
        self._listen()
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._refresh_while_running)

    def _listen(self) -> None:
        recorder = recorder_for(self.environment)
        if recorder is not None and recorder is not self._listening_to:
            recorder.interval_listeners.append(self._on_interval_written)
            self._listening_to = recorder

    def _on_interval_written(self, start_s: float, _covered_to_s: float, endpoints: dict[str, Counts]) -> None:
        recorder = recorder_for(self.environment)
        index = recorder.table.index_at(start_s) if recorder is not None else int(start_s)
        self._written[index] = endpoints

    def _refresh_while_running(self) -> None:
        while True:
            gevent.sleep(REFRESH_S)
            runner = self.environment.runner
            if runner is not None and runner.state in (STATE_SPAWNING, STATE_RUNNING):
                try:
                    self.snapshot(max_age_s=0)
                except Exception as error:  # noqa: BLE001 - a view must never take the run down; say it once a tick
                    logger.error("SLA view: %s: %s", type(error).__name__, error)

    # ---- the view --------------------------------------------------------------------------------------------
    def snapshot(self, max_age_s: float = 1.0) -> LiveSnapshot:
        """The current view; a cached one if it is younger than ``max_age_s``, or final (the test is written)."""
        cached = self._cached
        if cached is not None and (cached.finished or self.clock() - cached.at < max_age_s):
            if cached.finished and cached.report is None:
                cached = self._cached = replace(cached, report=_report_path(results.run_record(self.environment)))
            return cached
        self._listen()
        snapshot = self._compute()
        record = results.run_record(self.environment)
        if record is not None and record.started_at is not None:
            self._note_changes(snapshot)  # before the first test there is nothing to report
        self._cached = snapshot
        return snapshot

    def _compute(self) -> LiveSnapshot:
        environment = self.environment
        record = results.run_record(environment)
        recorder = recorder_for(environment)
        finished = bool(record and record.finished and (recorder is None or recorder.finished))
        now = self.clock()
        window_s = float(getattr(environment.parsed_options, "sla_window_seconds", None) or DEFAULT_WINDOW_S)
        intervals = dict(self._written)
        if recorder is not None and not recorder.finished:
            for index, endpoints in recorder.table.peek():
                intervals[index] = _merge([intervals.get(index, {}), endpoints])
        whole = _merge(intervals.values())
        if recorder is not None:
            first_index = recorder.table.index_at(now - window_s)
            recent = _merge(endpoints for index, endpoints in intervals.items() if index >= first_index)
        else:
            recent = {}
        manifest = _manifest(environment, record)
        business = _business_source(environment) if _business_source is not None else None
        workers = len(getattr(environment.runner, "clients", {}) or {})
        results_dir = str(record.results_dir) if record else None
        base = LiveSnapshot(at=now, run_id=record.run_id if record else None, finished=finished, window_s=window_s,
                            results_dir=results_dir, decision=None, window_decision=None, rows=(), endpoints=whole,
                            manifest=manifest, business=business, workers=workers, report=_report_path(record))  # fmt: skip
        loaded = gate.gate_of(environment)
        if loaded is None:
            problem = gate.gate_error(environment) or "no baseline: give --baseline (or the start form's baseline field)"
            return replace(base, problem=problem)
        # An open-model run (--arrival-rate) is judged on its latency from the intended start, as the gate judges it.
        corrected_locust = corrected_entries(environment)
        open_model = corrected_locust is not None
        try:
            run = run_from_entries(
                _entries(whole, self._locust_entries()), manifest, business, source=results_dir or "<live>",
                has_intervals=True,
                corrected_entries=_entries(whole, _by_key(corrected_locust), corrected=True) if open_model else None,
            )  # fmt: skip
            decision = decide(run, loaded.baseline)
            if loaded.reference is not None:
                decision = with_regression_checks(decision, self._regression_checks(run, loaded, now, finished),
                                                  loaded.reference.source)  # fmt: skip
            window_run = run_from_entries(_entries(recent, {}), source="<window>",
                                          corrected_entries=_entries(recent, {}, corrected=True) if open_model else None)  # fmt: skip
            window_decision = decide(window_run, loaded.baseline)
        except InputError as error:
            return replace(base, problem=error.one_line())
        rows = tuple(self._row(check, window_decision, now) for check in decision.checks)
        return replace(base, decision=decision, window_decision=window_decision, rows=rows)

    def _regression_checks(self, run: RunResult, loaded: Any, now: float, finished: bool) -> list[Check]:
        """The regression checks against the reference, made again at most every REGRESSION_REFRESH_S while the
        test runs (always once it is finished): see REGRESSION_REFRESH_S for why."""
        due = (finished or self._regression is None or now - self._regression[0] >= REGRESSION_REFRESH_S
               or self._regression[1] is not loaded)  # fmt: skip
        if due:
            self._regression = (now, loaded, regression_checks(run, loaded.reference, loaded.baseline))
        assert self._regression is not None
        return self._regression[2]

    def _locust_entries(self) -> dict[str, Mapping[str, Any]]:
        runner = self.environment.runner
        if runner is None:
            return {}
        return _by_key(entry.serialize() for entry in runner.stats.entries.values())

    def _row(self, check: Check, window_decision: Decision, now: float) -> SlaRow:
        recent = next((c for c in window_decision.checks if (c.subject, c.metric) == (check.subject, check.metric)), None)
        history = self._history.get((check.subject, check.metric))
        breaching_since = None
        if check.verdict in BREACH_VERDICTS:
            breaching_since = history.breaching_since if history and history.breaching_since is not None else now
        return SlaRow(
            subject=check.subject, criterion=check.metric, verdict=check.verdict, value=check.actual,
            limit=check.limit, margin=check.margin, reason=check.reason,
            window_value=recent.actual if recent else None, window_verdict=recent.verdict if recent else None,
            breaching_for_s=(now - breaching_since) if breaching_since is not None else None,
        )  # fmt: skip

    def _note_changes(self, snapshot: LiveSnapshot) -> None:
        """One log line per changed verdict (and per change of the run's outcome); remember when breaches began."""
        for row in snapshot.rows:
            key = (row.subject, row.criterion)
            before = self._history.get(key)
            breaching_since = (snapshot.at - row.breaching_for_s) if row.breaching_for_s is not None else None
            if before is None or before.verdict != row.verdict:
                if before is not None or row.verdict in BREACH_VERDICTS:
                    logger.info("SLA %s %s: %s -> %s (%s)", row.subject, row.criterion,
                                before.verdict.value if before else "-", row.verdict.value, _value_text(row))  # fmt: skip
                self._history[key] = _RowHistory(row.verdict, snapshot.at, breaching_since)
            else:
                before.breaching_since = breaching_since
        if snapshot.decision is not None:
            outcome = (snapshot.decision.outcome, int(snapshot.decision.exit_code))
            if outcome != self._outcome:
                if self._outcome is not None:
                    logger.info("SLA verdict if the test stopped now: %s (exit %d) -> %s (exit %d)", *self._outcome, *outcome)
                self._outcome = outcome


def _value_text(row: SlaRow) -> str:
    from analysis.render import format_value  # rendering only for the log line

    if row.value is None:
        return row.reason or "no value"
    return f"{format_value(row.criterion, row.value)}, limit {format_value(row.criterion, row.limit)}"


def _merge(parts: Iterable[dict[str, Counts]]) -> dict[str, Counts]:
    """Add interval counts by endpoint (new lists: the inputs are never changed), an open run's corrected
    histograms with them."""
    merged: dict[str, Counts] = {}
    for endpoints in parts:
        for key, (requests, failures, histogram, *corrected) in endpoints.items():
            merge_counts(merged.setdefault(key, [0, 0, {}, None]), requests, failures, histogram,
                         corrected[0] if corrected else None)  # fmt: skip
    return merged


def _by_key(entries: Iterable[Mapping[str, Any]] | None) -> dict[str, Mapping[str, Any]]:
    return {f"{entry['method']} {entry['name']}": entry for entry in entries or ()}


def _entries(endpoints: dict[str, Counts], locust_entries: Mapping[str, Mapping[str, Any]],
             corrected: bool = False) -> list[dict]:  # fmt: skip
    """``StatsEntry.serialize()``-shaped dicts for ``run_from_entries``: counts and histogram from the intervals
    (``corrected``: the latency from the intended start, which an endpoint outside arrivals has at its service
    time); the exact maximum and the time span from Locust's entry of the same key when there is one."""
    entries = []
    for key in sorted(endpoints):
        requests, failures, histogram, *rest = endpoints[key]
        if corrected and rest and rest[0] is not None:
            histogram = rest[0]
        method, _, name = key.partition(" ")
        locust_entry = locust_entries.get(key, {})
        entries.append({
            "name": name, "method": method, "num_requests": requests, "num_failures": failures,
            "response_times": {str(bucket): count for bucket, count in histogram.items()},
            "max_response_time": locust_entry.get("max_response_time"),
            "start_time": locust_entry.get("start_time"),
            "last_request_timestamp": locust_entry.get("last_request_timestamp"),
        })  # fmt: skip
    return entries


def _manifest(environment: Environment, record) -> dict[str, Any] | None:
    if record is None:
        return None
    if record.manifest is not None:
        return record.manifest  # the test is written: exactly what manifest.json holds
    if record.started_at is None:
        return None
    return results.build_manifest(environment, record, stop_reason="stopped")  # as if its user stopped it now


REPORT_FILE = "report.html"


def _report_path(record) -> str | None:
    if record is None or not record.finished:
        return None
    path = record.results_dir / REPORT_FILE
    return str(path) if path.is_file() else None


# ---- one view per environment ------------------------------------------------------------------------------------
_views: weakref.WeakKeyDictionary[Environment, LiveSla] = weakref.WeakKeyDictionary()


def view_of(environment: Environment) -> LiveSla | None:
    return _views.get(environment)


def attach(environment: Environment, clock: Callable[[], float] = time.time) -> LiveSla | None:
    """The live view of ``environment`` (None on a worker: workers ship their counts to the master)."""
    if isinstance(environment.runner, WorkerRunner):
        return None
    if environment not in _views:
        view = _views[environment] = LiveSla(environment, clock)
        environment.events.test_start.add_listener(view.on_test_start)
    return _views[environment]


_registered = False


def register() -> None:
    """Called once by the locustfile: a live view on the master or local runner of every environment."""
    global _registered
    if _registered:
        return
    _registered = True
    events.init.add_listener(lambda environment, **_kwargs: attach(environment))
