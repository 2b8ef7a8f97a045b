"""Run Thunder Client collections against a target: ``python -m harness health`` and the pre-flight of ``perf``.

One request at a time, in the collection's own order; each request's tests are judged (harness/thunder.py) and its
``set-env-var`` tests feed the variables of the requests after it (Thunder's chaining). Setup collections run first
(the sign-in that fills the JWT variables); a setup request whose variables nobody filled is skipped, not sent.

Results (format in docs/architecture.md, "health.json"):
    health.json         every request and check, with its verdict: pass, fail, drift (a failure the known-drift file
                        documents), unsupported (a test type or operator this harness cannot evaluate: a failure),
                        slow (a res-time check over its limit in the perf pre-flight, which judges function, not
                        speed: measuring speed is the load run's job) or skipped (a setup request nobody filled)
    health.junit.xml    one testsuite per collection, one testcase per check
    a table on stdout

Exit codes (analysis/exit_codes.py): 0 every check passed; 3 a check failed (documented drift included: the
target does not do what the collection expects); 1 a collection, environment or drift file that cannot be read
(one line). Nothing here knows ProspectPro: the launcher (harness/__main__.py) gives the target, the variables
that come from the settings, and the default collections.
"""

from __future__ import annotations

import json
import time
import tomllib
import urllib.error
import urllib.request
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from analysis.errors import InputError
from harness.thunder import Collection, Outcome, PreparedRequest, Response, Test, Variables, evaluate, prepare

HEALTH_JSON = "health.json"
HEALTH_JUNIT = "health.junit.xml"
SCHEMA_VERSION = 1
DEFAULT_TIMEOUT_S = 15.0
VERDICTS = ("pass", "fail", "drift", "unsupported", "slow", "skipped")

# Talk to the target directly even when the environment names an HTTP proxy (the target is usually 127.0.0.1).
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
Sender = Callable[[PreparedRequest, float], Response]


# --- sending ---------------------------------------------------------------------------------------------------------
def send(request: PreparedRequest, timeout: float = DEFAULT_TIMEOUT_S) -> Response:
    """Send one request with urllib; any status is an answer (4xx/5xx included), no answer is status 0."""
    http_request = urllib.request.Request(request.url, data=request.body, method=request.method,
                                          headers=dict(request.headers))  # fmt: skip
    started = time.perf_counter()
    try:
        with _opener.open(http_request, timeout=timeout) as answer:
            body = answer.read()
            status, headers = answer.status, answer.headers
    except urllib.error.HTTPError as error:
        body, status, headers = error.read(), error.code, error.headers
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return Response(0, {}, b"", (time.perf_counter() - started) * 1000, error=f"{type(error).__name__}: {reason}")
    elapsed = (time.perf_counter() - started) * 1000
    return Response(status, {name.lower(): value for name, value in headers.items()}, body, elapsed)


# --- known drift -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Drift:
    note: str
    reference: str = ""


def load_known_drift(path: str | Path | None) -> dict[tuple[str, str, str], Drift]:
    """``[[drift]]`` entries: collection key, request key, check label -> why the target does not meet it."""
    if path is None:
        return {}
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("file not found", path=path, hint="expected a known-drift TOML file") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise InputError(f"cannot read it ({error})", path=path, hint="expected a known-drift TOML file") from None
    drift = {}
    for index, entry in enumerate(data.get("drift", [])):
        where = f"drift[{index}]"
        missing = [k for k in ("collection", "request", "check", "note") if not isinstance(entry.get(k), str)]
        if missing:
            raise InputError(f"needs text values for {', '.join(missing)}", path=path, key=where)
        drift[(entry["collection"], entry["request"], entry["check"])] = Drift(entry["note"], entry.get("reference", ""))
    return drift


# --- results ---------------------------------------------------------------------------------------------------------
@dataclass
class CheckResult:
    label: str
    kind: str
    verdict: str  # one of VERDICTS
    detail: str
    drift: str | None = None  # the known-drift note, for verdict "drift"


@dataclass
class RequestResult:
    collection: str
    collection_key: str
    request: str
    request_key: str
    method: str
    url: str  # as written, with {{variables}}: never a filled-in secret
    status: int
    elapsed_ms: float
    at: str  # ISO-8601 UTC, when it was sent
    error: str | None = None
    unresolved: list[str] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    setup: bool = False

    @property
    def failed_checks(self) -> list[CheckResult]:
        return [check for check in self.checks if check.verdict in ("fail", "drift", "unsupported")]


@dataclass
class HealthRun:
    target: str
    started_at: str
    results: list[RequestResult] = field(default_factory=list)
    duration_s: float = 0.0

    def checks(self, *, setup: bool | None = None) -> Iterable[tuple[RequestResult, CheckResult]]:
        for result in self.results:
            if setup is None or result.setup == setup:
                yield from ((result, check) for check in result.checks)

    def count(self, verdict: str) -> int:
        return sum(1 for _, check in self.checks() if check.verdict == verdict)

    @property
    def healthy(self) -> bool:
        return not any(check.verdict in ("fail", "drift", "unsupported") for _, check in self.checks())

    def first_failure(self) -> str | None:
        """'<collection> / <request>: <check> (<detail>)' of the first failing check, for one-line messages."""
        for result, check in self.checks():
            if check.verdict in ("fail", "drift", "unsupported"):
                return f"{result.collection} / {result.request}: {check.label} ({check.detail})"
        return None

    def as_json(self) -> dict:
        return {"schema_version": SCHEMA_VERSION, "target": self.target, "started_at": self.started_at,
                "duration_s": round(self.duration_s, 3), "healthy": self.healthy,
                "counts": {verdict: self.count(verdict) for verdict in VERDICTS},
                "requests": [asdict(result) for result in self.results]}  # fmt: skip


# --- running ---------------------------------------------------------------------------------------------------------
def run_collection(collection: Collection, variables: Variables, *, sender: Sender = send,
                   timeout: float = DEFAULT_TIMEOUT_S, drift: dict | None = None, setup: bool = False,
                   on_result: Callable[[RequestResult], None] | None = None, judge_time: bool = True,
                   stop_on_failure: bool = False) -> list[RequestResult]:
    """Send every request of ``collection`` in order, judge its tests, carry set-env-var values forward (and send
    nothing more after a failing request when ``stop_on_failure``)."""
    results = []
    for request in collection.requests:
        prepared = prepare(request, variables, collection)
        result = RequestResult(collection.name, collection.key, request.name, request.key, request.method, request.url,
                               0, 0.0, _now(), unresolved=list(prepared.unresolved), setup=setup)  # fmt: skip
        if setup and prepared.unresolved:
            result.checks = [CheckResult(t.label, t.kind, "skipped", f"not sent: no value for "
                                         f"{', '.join('{{' + n + '}}' for n in prepared.unresolved)}")
                             for t in request.tests]  # fmt: skip
        else:
            response = sender(prepared, timeout)
            result.status, result.elapsed_ms = response.status, round(response.elapsed_ms, 1)
            # Thunder fills {{variables}} in a test's expected value too (a chained id compared with what came back).
            outcomes = [evaluate(test if test.kind == "set-env-var" else replace(test, expected=variables.fill(test.expected)[0]),
                                 response) for test in request.tests]  # fmt: skip
            for outcome in outcomes:  # chaining first, so that a value it captured is redacted everywhere below
                if outcome.sets is not None:
                    variables.set(*outcome.sets)
            result.checks = [_verdict(test, outcome, variables, drift.get((collection.key, request.key, test.label)) if drift else None,
                                      judge_time) for test, outcome in zip(request.tests, outcomes)]  # fmt: skip
            result.error = variables.redact(response.error) if response.error else None
        results.append(result)
        if on_result is not None:
            on_result(result)
        if stop_on_failure and result.failed_checks:
            break
    return results


def _verdict(test: Test, outcome: Outcome, variables: Variables, known: Drift | None, judge_time: bool) -> CheckResult:
    detail = variables.redact(outcome.detail)
    if outcome.passed:
        return CheckResult(test.label, test.kind, "pass", detail)
    if not judge_time and test.kind == "res-time" and outcome.supported:
        return CheckResult(test.label, test.kind, "slow", detail)
    if not outcome.supported:
        return CheckResult(test.label, test.kind, "unsupported", detail)
    if known is not None:
        return CheckResult(test.label, test.kind, "drift", detail, drift=known.note)
    return CheckResult(test.label, test.kind, "fail", detail)


def run_health(target: str, collections: list[Collection], variables: Variables, *, setup: Sequence[Collection] = (),
               sender: Sender = send, timeout: float = DEFAULT_TIMEOUT_S, drift: dict | None = None,
               on_result: Callable[[RequestResult], None] | None = None, judge_time: bool = True,
               stop_after_failed_setup: bool = False) -> HealthRun:
    """Setup collections, then every collection, against one set of variables (none after a failed setup when
    ``stop_after_failed_setup``: a target that cannot sign anyone in gets no more requests)."""
    run = HealthRun(target, _now())
    started = time.monotonic()
    for collection in setup:
        run.results += run_collection(collection, variables, sender=sender, timeout=timeout, setup=True,
                                      on_result=on_result, stop_on_failure=stop_after_failed_setup)  # fmt: skip
    if stop_after_failed_setup and not run.healthy:
        collections = []
    for collection in collections:
        run.results += run_collection(collection, variables, sender=sender, timeout=timeout, drift=drift,
                                      on_result=on_result, judge_time=judge_time)  # fmt: skip
    run.duration_s = time.monotonic() - started
    return run


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- rendering -------------------------------------------------------------------------------------------------------
MARKS = {"pass": "ok", "fail": "FAIL", "drift": "DRIFT", "unsupported": "UNSUPPORTED", "slow": "slow", "skipped": "skipped"}


def render_table(run: HealthRun) -> str:
    """A block per collection, a line per check: verdict, request, check, status and time, what was found."""
    lines = [f"health: {run.target}"]
    collection = None
    for result, check in run.checks():
        title = result.collection + (" (setup)" if result.setup else "")
        if title != collection:
            collection = title
            lines.append(f"{title}")
        timing = f"{result.status} {result.elapsed_ms:.0f}ms" if result.status else ("-" if check.verdict == "skipped" else "no answer")
        lines.append(f"  {MARKS[check.verdict]:<11} {_fit(result.request, 42)} {_fit(check.label, 46)} {timing:>11}  "
                     f"{_fit(check.detail, 90).rstrip()}")  # fmt: skip
        if check.drift:
            lines.append(f"  {'':<11} known drift: {check.drift}")
    counts = ", ".join(f"{run.count(v)} {v}" for v in VERDICTS if run.count(v))
    unexpected = run.count("fail") + run.count("unsupported")
    summary = f"{'healthy' if run.healthy else 'UNHEALTHY'}: {counts} in {run.duration_s:.1f} s"
    if not run.healthy:
        summary += (f"; all {run.count('drift')} failures are documented drift" if not unexpected
                    else f"; {unexpected} not explained by known drift")  # fmt: skip
    lines.append(summary)
    return "\n".join(lines) + "\n"


def _fit(text: str, width: int) -> str:
    return text.ljust(width) if len(text) <= width else text[: width - 1] + "…"


def write_junit(run: HealthRun, path: Path) -> None:
    suites = ElementTree.Element("testsuites", name="thunder health", tests=str(sum(1 for _ in run.checks())),
                                failures=str(run.count("fail") + run.count("drift")), errors=str(run.count("unsupported")),
                                skipped=str(run.count("skipped")), time=f"{run.duration_s:.3f}")  # fmt: skip
    by_collection: dict[str, list[tuple[RequestResult, CheckResult]]] = {}
    for result, check in run.checks():
        by_collection.setdefault(result.collection + (" (setup)" if result.setup else ""), []).append((result, check))
    for name, pairs in by_collection.items():
        suite = ElementTree.SubElement(suites, "testsuite", name=name, tests=str(len(pairs)),
                                       failures=str(sum(c.verdict in ("fail", "drift") for _, c in pairs)),
                                       errors=str(sum(c.verdict == "unsupported" for _, c in pairs)),
                                       skipped=str(sum(c.verdict == "skipped" for _, c in pairs)))  # fmt: skip
        for result, check in pairs:
            case = ElementTree.SubElement(suite, "testcase", classname=f"{name}.{result.request}", name=check.label,
                                          time=f"{result.elapsed_ms / 1000:.3f}")  # fmt: skip
            if check.verdict in ("fail", "drift"):
                message = check.detail if check.verdict == "fail" else f"known drift: {check.drift} ({check.detail})"
                ElementTree.SubElement(case, "failure", message=message, type=check.verdict).text = message
            elif check.verdict == "unsupported":
                ElementTree.SubElement(case, "error", message=check.detail, type="unsupported").text = check.detail
            elif check.verdict == "skipped":
                ElementTree.SubElement(case, "skipped", message=check.detail)
    ElementTree.indent(suites)
    ElementTree.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)


def sent_requests(folder: Path) -> list[tuple[str, str, float]]:
    """(method, url, epoch seconds) of every request a health check in ``folder`` sent, oldest first; [] when there
    is no readable health.json. Used to count what a pre-flight spent of a target's rate limits before the load."""
    try:
        data = json.loads((folder / HEALTH_JSON).read_text(encoding="utf-8"))
        sent = []
        for request in data.get("requests", []):
            if request.get("status") is None or not request.get("at"):
                continue  # never sent (skipped) or no answer recorded
            at = datetime.fromisoformat(str(request["at"]).replace("Z", "+00:00")).timestamp()
            sent.append((str(request.get("method", "")), str(request.get("url", "")), at))
        return sorted(sent, key=lambda item: item[2])
    except (OSError, ValueError, TypeError, AttributeError):
        return []


def write_results(run: HealthRun, folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    json_path, junit_path = folder / HEALTH_JSON, folder / HEALTH_JUNIT
    json_path.write_text(json.dumps(run.as_json(), indent=2) + "\n", encoding="utf-8")
    write_junit(run, junit_path)
    return json_path, junit_path

