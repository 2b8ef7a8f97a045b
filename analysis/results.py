"""The typed results model and the ONE loader that turns any run output into it.

Inputs (docs/architecture.md, "The results folder"):
- a harness results folder: ``locust.json`` (full histograms) is preferred over ``locust_stats.csv``; the sidecars
  ``manifest.json`` and ``business_metrics.json`` are read when present; ``intervals.jsonl`` is only noted; an
  open-model run's ``locust_corrected.json`` (latency from the intended start) becomes the endpoints, and
  locust.json's service times ``service_endpoints``;
- a Locust ``--json-file`` output (``locust.json``);
- a Locust ``--csv`` prefix (``.../locust`` -> ``locust_stats.csv``), or the ``_stats.csv`` file itself. Locust's
  ``--json-file`` takes the same kind of prefix; when ``PREFIX.json`` exists too it wins (it has histograms).
CSV input has no histograms: its percentiles are Locust's own columns (exact for those percentiles, but nothing
can be resampled), so regression tests call such a run "not comparable".

What real runs contain, and how it is read (tests/golden/versions/ holds real output of Locust 1.0-2.47):
- histogram keys such as ``"120.0"`` (Locust 2.16-2.41 round with floats): whole-millisecond floats are buckets;
- the CSV total row, ``"None","Aggregated"`` (Locust 1.0) or ``,Aggregated`` (1.1 on): never an endpoint;
- request names that are not UTF-8 (a run on Windows): decoded with replacement characters, one warning per file
  naming the first such row (``RunResult.warnings``);
- ``PREFIX_failures.csv`` beside the stats (Method, Name, Error, Occurrences): ``RunResult.failure_messages``;
- Locust 0.x layouts (``# requests`` columns, ``_requests.csv``/``_distribution.csv``): one line saying so.

The in-run gate builds the same model from live ``StatsEntry.serialize()`` dicts via ``run_from_entries``.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from analysis.errors import InputError
from analysis.histogram import Histogram
from analysis.intervals import EndpointSeries, IntervalSeries
from analysis.jsonfiles import parse_model, read_json, read_json_object
from analysis.openmodel import CORRECTED_JSON
from common.results_format import (BUSINESS_METRICS_FILE, BUSINESS_METRICS_SCHEMA_VERSION, INTERVALS_FILE,
                                   LOCUST_JSON_FILE, MANIFEST_FILE, MANIFEST_SCHEMA_VERSION)

LOCUST_JSON = LOCUST_JSON_FILE
LOCUST_STATS_CSV_SUFFIX = "_stats.csv"
LOCUST_FAILURES_CSV_SUFFIX = "_failures.csv"
LOCUST_HISTORY_CSV_SUFFIX = "_stats_history.csv"
# Locust 0.x wrote PREFIX_requests.csv and PREFIX_distribution.csv (before 0.13), then "# requests" columns.
LOCUST_0X_CSV_SUFFIXES = ("_requests.csv", "_distribution.csv")
# The harness's own files: names and versions from common/results_format.py, shared with their writers.
MANIFEST_JSON = MANIFEST_FILE
BUSINESS_METRICS_JSON = BUSINESS_METRICS_FILE
INTERVALS_JSONL = INTERVALS_FILE
SUPPORTED_SIDECAR_SCHEMA = MANIFEST_SCHEMA_VERSION  # the default of the models' schema_version

PercentileSource = Literal["histogram", "csv"]
logger = logging.getLogger(__name__)


# ---- sidecar models: lenient about extra fields (other modules add them), strict about types -------------------
class _Sidecar(BaseModel):
    model_config = ConfigDict(extra="allow")


class GeneratorInfo(_Sidecar):
    cpu_warning: bool = False
    cpu_percent_max: float | None = None


class LoadInfo(_Sidecar):
    intended_users: int | None = None
    reached_users: int | None = None
    workers_lost: int = 0
    workers_lost_ids: list[str] = []  # Locust worker ids ("<host>_<uuid>"); older manifests have only the count


class Manifest(_Sidecar):
    schema_version: int = SUPPORTED_SIDECAR_SCHEMA
    run_id: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    partial: bool = False
    stop_reason: str | None = None
    target: dict[str, Any] | None = None
    options: dict[str, Any] = {}
    scenario_hash: str | None = None
    versions: dict[str, Any] = {}
    generator: GeneratorInfo = GeneratorInfo()
    load: LoadInfo = LoadInfo()


class ProviderCounts(_Sidecar):
    """One third-party provider's outcomes as ProspectPro's responses exposed them (scenarios/metrics.py)."""

    provider: str = ""
    calls: int = 0
    failures: int | None = None  # None: ProspectPro does not expose this provider's failures


class BusinessMetrics(_Sidecar):
    schema_version: int = SUPPORTED_SIDECAR_SCHEMA
    counts: dict[str, int] = {}
    costs_usd: dict[str, float] = {}
    # A derived rate whose denominator is zero is null: "not measured", never 0 or 1.
    derived: dict[str, float | None] = {}
    third_party: dict[str, ProviderCounts] = {}  # by provider key: google_places, foursquare, hunter_io, ...
    spend_guard: dict[str, Any] = {}


# ---- the results model ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EndpointResult:
    method: str
    name: str
    requests: int
    failures: int
    histogram: Histogram | None  # None for CSV input
    csv_percentiles: Mapping[float, int] = field(default_factory=dict)  # Locust's CSV columns, CSV input only
    max_ms: float | None = None  # exact maximum (not bucketed) when the source has it
    rps: float | None = None

    @property
    def key(self) -> str:
        return f"{self.method} {self.name}"

    @property
    def percentile_source(self) -> PercentileSource:
        return "histogram" if self.histogram is not None else "csv"

    @property
    def fail_ratio(self) -> float | None:
        return self.failures / self.requests if self.requests else None

    @property
    def samples(self) -> int:
        """Requests with a response time (what percentiles are computed over)."""
        return self.histogram.count if self.histogram is not None else self.requests

    def percentile(self, q: float) -> int | None:
        """From the histogram; from CSV only for the percentiles Locust wrote there (else None: not available)."""
        if self.histogram is not None:
            return self.histogram.percentile(q)
        return self.csv_percentiles.get(round(q, 6))


@dataclass(frozen=True)
class RunResult:
    source: str  # what was loaded, for messages
    endpoints: dict[str, EndpointResult]  # by key "<method> <name>"
    manifest: Manifest | None = None
    manifest_raw: dict[str, Any] | None = None  # exactly as read, so that `record` stores it unchanged
    business: BusinessMetrics | None = None
    business_raw: dict[str, Any] | None = None
    has_intervals: bool = False
    duration_s: float | None = None
    # Locust's _failures.csv rows (most occurrences first); None: the input had no failures file.
    failure_messages: tuple[FailureMessage, ...] | None = None
    warnings: tuple[str, ...] = ()  # what was read with a loss (e.g. a name that was not UTF-8), one line each
    # Open-model runs (analysis/openmodel.py): ``endpoints`` hold the latency from the intended start (what is
    # judged) and these hold Locust's own service times, for the report to show beside them. None: a closed run.
    service_endpoints: dict[str, EndpointResult] | None = None

    @property
    def percentile_source(self) -> PercentileSource:
        sources = {e.percentile_source for e in self.endpoints.values()}
        return "csv" if "csv" in sources else "histogram"

    @property
    def name(self) -> str:
        """The run's own name: its manifest's run id, else the name of what was loaded (a folder, or a Locust output
        file without its suffix; Locust's usual prefix "locust" says nothing, so its folder's name is used then)."""
        if self.manifest is not None and self.manifest.run_id:
            return self.manifest.run_id
        path = Path(self.source)
        name = path.name.removesuffix(LOCUST_STATS_CSV_SUFFIX).removesuffix(LOCUST_HISTORY_CSV_SUFFIX).removesuffix(".json")
        if name in ("locust", "") and path.parent.name:
            return path.parent.name
        return name or self.source



@dataclass(frozen=True)
class FailureMessage:
    """One row of Locust's ``_failures.csv``: how often one endpoint failed with one message."""

    method: str
    name: str
    error: str
    occurrences: int

    @property
    def key(self) -> str:
        return f"{self.method} {self.name}"


# ---- building from Locust's serialized entries -----------------------------------------------------------------
_ENTRY_FIELDS = ("name", "method", "num_requests", "num_failures", "response_times")


def run_from_entries(
    entries: Sequence[Mapping[str, Any]],
    manifest: dict | None = None,
    business: dict | None = None,
    *,
    source: str = "<in-run stats>",
    has_intervals: bool = False,
    corrected_entries: Sequence[Mapping[str, Any]] | None = None,
) -> RunResult:
    """Build a RunResult from ``StatsEntry.serialize()`` dicts (the items of locust.json). With
    ``corrected_entries`` (an open-model run's latency from the intended start, same form) those are what the
    endpoints hold, and ``entries`` become ``service_endpoints``."""
    if corrected_entries is not None:
        service = run_from_entries(entries, manifest, business, source=source, has_intervals=has_intervals)
        corrected = run_from_entries(corrected_entries, manifest, business, source=source, has_intervals=has_intervals)
        return _with_service(corrected, service.endpoints)
    if not isinstance(entries, list):
        raise InputError(f"expected a list of Locust stats entries, got {type(entries).__name__}", path=source)
    endpoints: dict[str, EndpointResult] = {}
    first_start: float | None = None
    last_request: float | None = None
    for index, entry in enumerate(entries):
        where = f"[{index}]"
        if not isinstance(entry, Mapping):
            raise InputError(f"expected a stats entry object, got {type(entry).__name__}", path=source, key=where)
        for required in _ENTRY_FIELDS:
            if required not in entry:
                raise InputError(f"missing key {required!r}; not a Locust stats entry", path=source, key=where)
        requests = _whole_number(entry["num_requests"], source, f"{where}.num_requests")
        failures = _whole_number(entry["num_failures"], source, f"{where}.num_failures")
        if requests == 0 and failures == 0:
            continue  # Locust leaves such entries out of its own JSON too
        histogram = Histogram.from_dict(_whole_ms_keys(entry["response_times"]), source=source, key=f"{where}.response_times")
        method, name = str(entry["method"] or ""), str(entry["name"])
        start, last = _optional_number(entry.get("start_time")), _optional_number(entry.get("last_request_timestamp"))
        if start is not None:
            first_start = start if first_start is None else min(first_start, start)
        if last is not None:
            last_request = last if last_request is None else max(last_request, last)
        result = EndpointResult(
            method=method,
            name=name,
            requests=requests,
            failures=failures,
            histogram=histogram,
            max_ms=_optional_number(entry.get("max_response_time")),
        )
        if result.key in endpoints:
            raise InputError(f"endpoint {result.key!r} appears twice", path=source, key=where)
        endpoints[result.key] = result
    # Locust's Requests/s divides by the run's span (first start to last request); the same here, per endpoint.
    duration = (last_request - first_start) if first_start is not None and last_request is not None else None
    if duration and duration > 0:
        endpoints = {k: _with_rps(e, e.requests / duration) for k, e in endpoints.items()}
    return RunResult(
        source=source,
        endpoints=endpoints,
        manifest=_parse_manifest(manifest, source) if manifest is not None else None,
        manifest_raw=manifest,
        business=_parse_business(business, source) if business is not None else None,
        business_raw=business,
        has_intervals=has_intervals,
        duration_s=duration if duration and duration > 0 else None,
    )


def _whole_ms_keys(buckets: Any) -> Any:
    """Locust 2.16-2.41 write buckets above 100 ms as floats ("120.0"): whole-millisecond floats become the bucket
    they name. Anything else is passed on unchanged, for Histogram.from_dict to name what is wrong with it."""
    if not isinstance(buckets, Mapping):
        return buckets
    out: dict[Any, Any] = {}
    for raw, count in buckets.items():
        key: Any = raw
        if isinstance(raw, str) and "." in raw:
            try:
                value = float(raw)
            except ValueError:
                value = math.nan
            if math.isfinite(value) and value.is_integer():
                key = int(value)
        if key in out and isinstance(out[key], int) and isinstance(count, int):
            count = out[key] + count  # "120" and "120.0" in one entry: the same bucket
        out[key] = count
    return out


def _with_service(run: RunResult, service_endpoints: dict[str, EndpointResult]) -> RunResult:
    return RunResult(**{**run.__dict__, "service_endpoints": service_endpoints})


def _with_rps(endpoint: EndpointResult, rps: float) -> EndpointResult:
    return EndpointResult(**{**endpoint.__dict__, "rps": rps})


# ---- the loader ------------------------------------------------------------------------------------------------
def load_run(path: str | Path) -> RunResult:
    """Load a harness results folder, a Locust ``--json-file`` output, or a Locust ``--csv`` prefix."""
    path = Path(path)
    if path.is_dir():
        return _load_results_folder(path)
    if path.suffix == ".json" and path.is_file():
        run = run_from_entries(read_json(path, what="a Locust --json-file output"), source=str(path))
        return _with_failures(run, path.with_name(path.stem + LOCUST_FAILURES_CSV_SUFFIX))
    if path.suffix == ".csv" and path.is_file():
        for sibling in (LOCUST_HISTORY_CSV_SUFFIX, LOCUST_FAILURES_CSV_SUFFIX):  # another file of the same --csv run
            prefix = path.with_name(path.name.removesuffix(sibling))
            if path.name.endswith(sibling) and prefix.with_name(prefix.name + LOCUST_STATS_CSV_SUFFIX).is_file():
                return load_run(prefix)
        if path.name.endswith(LOCUST_0X_CSV_SUFFIXES):
            raise _locust_0x_error(path, f"a {path.name[path.name.rindex('_'):]} file")
        if path.name.endswith(LOCUST_STATS_CSV_SUFFIX):
            prefix = path.with_name(path.name.removesuffix(LOCUST_STATS_CSV_SUFFIX))
            return _with_failures(load_locust_csv(path), prefix.with_name(prefix.name + LOCUST_FAILURES_CSV_SUFFIX))
        return load_locust_csv(path)  # any other CSV: its header says what it is not
    for candidate in (path.with_name(path.name + ".json"), path.with_name(path.name + LOCUST_STATS_CSV_SUFFIX)):
        if candidate.is_file():
            return load_run(candidate)
    for suffix in LOCUST_0X_CSV_SUFFIXES:
        if path.with_name(path.name + suffix).is_file():
            raise _locust_0x_error(path.with_name(path.name + suffix), f"a {suffix} file")
    raise InputError(
        "no run results found",
        path=path,
        hint=f"give a results folder, a Locust --json-file output, or a --csv prefix (PREFIX{LOCUST_STATS_CSV_SUFFIX})",
    )


def _locust_0x_error(path: Path, evidence: str) -> InputError:
    return InputError(f"Locust 0.x format ({evidence}), not supported", path=path, hint="re-run with Locust 1.0 or newer")


def _load_results_folder(folder: Path) -> RunResult:
    manifest_raw = read_json_object(folder / MANIFEST_JSON, what="the harness's manifest.json")
    business_raw = read_json_object(folder / BUSINESS_METRICS_JSON, what="the harness's business_metrics.json")
    locust_json = folder / LOCUST_JSON
    csv_file = folder / ("locust" + LOCUST_STATS_CSV_SUFFIX)
    if locust_json.is_file():
        entries = read_json(locust_json, what="a Locust --json-file output")
        run = run_from_entries(entries, source=str(locust_json))
    elif csv_file.is_file():
        run = load_locust_csv(csv_file)
    else:
        for suffix in LOCUST_0X_CSV_SUFFIXES:
            if (folder / f"locust{suffix}").is_file():
                raise _locust_0x_error(folder / f"locust{suffix}", f"a {suffix} file")
        raise InputError(
            f"no {LOCUST_JSON} or {csv_file.name} in the folder", path=folder, hint="is this a harness results folder?"
        )
    run = _with_failures(run, folder / ("locust" + LOCUST_FAILURES_CSV_SUFFIX))
    service_endpoints, endpoints = None, run.endpoints
    corrected_json = folder / CORRECTED_JSON
    if corrected_json.is_file():
        service_endpoints = run.endpoints
        corrected = run_from_entries(read_json(corrected_json, what="the harness's corrected latencies"), source=str(corrected_json))
        endpoints = corrected.endpoints
    return RunResult(
        source=str(folder),
        endpoints=endpoints,
        service_endpoints=service_endpoints,
        manifest=_parse_manifest(manifest_raw, folder / MANIFEST_JSON) if manifest_raw is not None else None,
        manifest_raw=manifest_raw,
        business=_parse_business(business_raw, folder / BUSINESS_METRICS_JSON) if business_raw is not None else None,
        business_raw=business_raw,
        has_intervals=(folder / INTERVALS_JSONL).is_file(),
        duration_s=run.duration_s,
        failure_messages=run.failure_messages,
        warnings=run.warnings,
    )


def _with_failures(run: RunResult, failures_csv: Path) -> RunResult:
    """``run`` with the messages of Locust's ``_failures.csv`` beside it (unchanged when there is none)."""
    if not failures_csv.is_file():
        return run
    messages, warnings = load_failures_csv(failures_csv)
    return replace(run, failure_messages=messages, warnings=run.warnings + warnings)


def _parse_manifest(raw: dict, source: str | Path) -> Manifest:
    manifest = parse_model(Manifest, raw, path=source)
    _check_schema(manifest.schema_version, MANIFEST_SCHEMA_VERSION, source)
    return manifest


def _parse_business(raw: dict, source: str | Path) -> BusinessMetrics:
    business = parse_model(BusinessMetrics, raw, path=source)
    _check_schema(business.schema_version, BUSINESS_METRICS_SCHEMA_VERSION, source)
    return business


def _check_schema(version: int, supported: int, source: str | Path) -> None:
    if version != supported:
        raise InputError(
            f"schema_version {version} is not supported (this harness reads {supported})",
            path=source,
            key="schema_version",
        )


# ---- Locust's CSV files ----------------------------------------------------------------------------------------
_CSV_REQUIRED = ("Type", "Name", "Request Count", "Failure Count", "Max Response Time", "Requests/s")
_AGGREGATED_ROW_NAME = "Aggregated"
_AGGREGATED_ROW_TYPES = ("", "None")  # Locust 1.0 wrote the total row's missing method as "None"
_FAILURES_REQUIRED = ("Method", "Name", "Error", "Occurrences")


def read_locust_csv(path: Path, *, what: str) -> tuple[list[list[str]], tuple[str, ...]]:
    """The rows of one of Locust's CSV files, and the warning (if any) about text that was not UTF-8.

    A run on Windows writes request names in its code page: such a line is decoded with replacement characters
    rather than making the whole file unreadable, and one warning names the file and the first such row.
    """
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise InputError(f"cannot read CSV ({error.strerror or error})", path=path, hint=f"expected {what}") from None
    lines = raw.splitlines(keepends=True)
    bad_rows = []
    decoded = []
    for number, line in enumerate(lines, start=1):
        try:
            decoded.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            bad_rows.append(number)
            decoded.append(line.decode("utf-8", errors="replace"))
    warnings: tuple[str, ...] = ()
    if bad_rows:
        more = f" (and {len(bad_rows) - 1} more row(s))" if len(bad_rows) > 1 else ""
        warnings = (f"{path}: line {bad_rows[0]}{more}: text that is not UTF-8, decoded with replacement "
                    "characters (\ufffd); names there may differ from the run's",)
        logger.warning(warnings[0])
    try:
        rows = list(csv.reader(io.StringIO("".join(decoded), newline="")))
    except csv.Error as error:
        raise InputError(f"cannot read CSV ({error})", path=path, hint=f"expected {what}") from None
    if not rows:
        raise InputError("file is empty", path=path, hint=f"expected {what}")
    return rows, warnings


@dataclass(frozen=True)
class _CsvTable:
    """One of Locust's CSV files, checked: its header has the required columns, every row has the header's length."""

    path: Path
    header: list[str]
    column: dict[str, int]
    rows: list[tuple[str, list[str]]]  # ("line N", fields)
    warnings: tuple[str, ...]

    def integer(self, row: list[str], where: str, name: str) -> int:
        return _csv_int(row[self.column[name]], self.path, f"{where}: {name}")

    def percentiles(self, row: list[str], where: str) -> dict[float, int]:
        """Locust's percentile columns ("95%" -> 0.95) that hold a value (not "N/A")."""
        fractions = ((_percent_to_fraction(name), index) for index, name in enumerate(self.header))
        return {q: _csv_int(row[i], self.path, f"{where}: {self.header[i]}") for q, i in fractions if q is not None and row[i] != "N/A"}

    def is_total(self, row: list[str]) -> bool:
        """Locust's Aggregated row: merged over every endpoint, never an endpoint itself."""
        return row[self.column["Name"]] == _AGGREGATED_ROW_NAME and row[self.column["Type"]] in _AGGREGATED_ROW_TYPES


def _read_csv_table(path: Path, *, what: str, required: tuple[str, ...]) -> _CsvTable:
    rows, warnings = read_locust_csv(path, what=what)
    header = rows[0]
    if "# requests" in header:
        raise _locust_0x_error(path, "'# requests' columns")
    missing = [column for column in required if column not in header]
    if missing:
        raise InputError(f"missing column {missing[0]!r}", path=path, key="header",
                         hint=f"not {what} (expected columns: " + ", ".join(required) + ")")  # fmt: skip
    body = []
    for line_number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise InputError(f"has {len(row)} fields, the header has {len(header)}", path=path, key=f"line {line_number}",
                             hint="the file may be truncated")  # fmt: skip
        body.append((f"line {line_number}", row))
    return _CsvTable(path, header, {name: index for index, name in enumerate(header)}, body, warnings)


def load_locust_csv(path: Path) -> RunResult:
    """Locust's ``<prefix>_stats.csv``: counts, max, Requests/s and the percentile columns (no histograms)."""
    table = _read_csv_table(path, what="a Locust --csv stats file", required=_CSV_REQUIRED)
    endpoints: dict[str, EndpointResult] = {}
    for where, row in table.rows:
        if table.is_total(row):
            continue  # Locust's total row: percentiles of the merged histogram, not an endpoint
        requests, failures = table.integer(row, where, "Request Count"), table.integer(row, where, "Failure Count")
        if requests == 0 and failures == 0:
            continue
        endpoint = EndpointResult(
            method=row[table.column["Type"]],
            name=row[table.column["Name"]],
            requests=requests,
            failures=failures,
            histogram=None,
            csv_percentiles=table.percentiles(row, where),
            max_ms=_csv_float(row[table.column["Max Response Time"]], path, f"{where}: Max Response Time"),
            rps=_csv_float(row[table.column["Requests/s"]], path, f"{where}: Requests/s"),
        )
        if endpoint.key in endpoints:
            raise InputError(f"endpoint {endpoint.key!r} appears twice", path=path, key=where)
        endpoints[endpoint.key] = endpoint
    return RunResult(source=str(path), endpoints=endpoints, warnings=table.warnings)


def load_failures_csv(path: Path) -> tuple[tuple[FailureMessage, ...], tuple[str, ...]]:
    """Locust's ``<prefix>_failures.csv`` (Method, Name, Error, Occurrences), most occurrences first."""
    table = _read_csv_table(path, what="a Locust --csv failures file", required=_FAILURES_REQUIRED)
    messages = [
        FailureMessage(method=row[table.column["Method"]], name=row[table.column["Name"]], error=row[table.column["Error"]],
                       occurrences=table.integer(row, where, "Occurrences"))  # fmt: skip
        for where, row in table.rows
    ]
    messages.sort(key=lambda m: (-m.occurrences, m.key, m.error))
    return tuple(messages), table.warnings


def _percent_to_fraction(column_name: str) -> float | None:
    """Locust's readable percentile headers ("95%", "99.9%", "100%") back to fractions (0.95, 0.999, 1.0)."""
    if not column_name.endswith("%"):
        return None
    try:
        return round(float(column_name[:-1]) / 100, 6)
    except ValueError:
        return None


def _csv_int(text: str, path: Path, key: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InputError(f"expected a whole number, got {text!r}", path=path, key=key) from None


def _csv_float(text: str, path: Path, key: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"expected a number, got {text!r}", path=path, key=key) from None
    if not math.isfinite(value):
        raise InputError(f"expected a finite number, got {text!r}", path=path, key=key)
    return value


def _whole_number(value: Any, source: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"expected a non-negative whole number, got {value!r}", path=source, key=key)
    return value


def _optional_number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# ---- Locust's --csv-full-history file ---------------------------------------------------------------------------
_HISTORY_REQUIRED = ("Timestamp", "User Count", "Type", "Name", "Total Request Count", "Total Failure Count")


@dataclass(frozen=True)
class StatsHistory:
    """Locust's ``<prefix>_stats_history.csv``: one block of rows per write (about every second), each block ending
    with the Aggregated row. Counts are Locust's running totals, so the requests between two writes are exact;
    the percentile columns are Locust's own approximations (cumulative since the start in some versions, over about
    the last 10 s in others), never a distribution of one interval.
    """

    source: str
    timestamps: tuple[int, ...]  # epoch seconds (Locust truncates them), one per block
    user_counts: tuple[int, ...]  # users running when the block was written
    totals: dict[str, tuple[tuple[int, int], ...]]  # key -> (running requests, running failures) per block
    percentiles: dict[str, tuple[dict[float, int], ...]]  # key -> Locust's percentile columns per block
    max_ms: dict[str, tuple[float | None, ...]]  # key -> Locust's running maximum response time per block
    full: bool  # per-endpoint rows present (--csv-full-history), not only the Aggregated one
    warnings: tuple[str, ...] = ()

    AGGREGATED = "Aggregated"


def history_file_of(results: str | Path) -> Path | None:
    """The ``_stats_history.csv`` of a results folder, a --csv prefix, its stats CSV or JSON; None if there is none."""
    results = Path(results)
    if results.is_dir():
        candidate = results / ("locust" + LOCUST_HISTORY_CSV_SUFFIX)
    elif results.name.endswith(LOCUST_HISTORY_CSV_SUFFIX):
        candidate = results
    else:
        prefix = results.with_name(results.name.removesuffix(LOCUST_STATS_CSV_SUFFIX).removesuffix(".json"))
        candidate = prefix.with_name(prefix.name + LOCUST_HISTORY_CSV_SUFFIX)
    return candidate if candidate.is_file() else None


def load_stats_history(path: str | Path) -> StatsHistory:
    """Read ``<prefix>_stats_history.csv`` (the file itself, a --csv prefix, or a folder holding locust_...)."""
    path = Path(path)
    if path.is_dir():
        path = path / ("locust" + LOCUST_HISTORY_CSV_SUFFIX)
    elif not path.name.endswith(LOCUST_HISTORY_CSV_SUFFIX):
        path = path.with_name(path.name.removesuffix(LOCUST_STATS_CSV_SUFFIX) + LOCUST_HISTORY_CSV_SUFFIX)
    if not path.is_file():
        raise InputError("file not found", path=path, hint="run Locust with --csv PREFIX --csv-full-history")
    table = _read_csv_table(path, what="a Locust --csv stats history file", required=_HISTORY_REQUIRED)
    timestamps: list[int] = []
    users: list[int] = []
    block: dict[str, tuple[int, int, dict[float, int], float | None]] = {}
    blocks: list[dict[str, tuple[int, int, dict[float, int], float | None]]] = []
    has_max = "Total Max Response Time" in table.column
    full = False
    for where, row in table.rows:
        aggregated = table.is_total(row)
        key = StatsHistory.AGGREGATED if aggregated else f"{row[table.column['Type']]} {row[table.column['Name']]}"
        full = full or not aggregated
        running_max = _csv_float(row[table.column["Total Max Response Time"]], table.path, f"{where}: Total Max Response Time") if has_max else None
        block[key] = (table.integer(row, where, "Total Request Count"), table.integer(row, where, "Total Failure Count"),
                      table.percentiles(row, where), running_max)  # fmt: skip
        if aggregated:  # Locust writes the Aggregated row last in every block
            timestamps.append(table.integer(row, where, "Timestamp"))
            users.append(table.integer(row, where, "User Count"))
            blocks.append(block)
            block = {}
    if not blocks:
        raise InputError("no complete block of rows (each ends with the Aggregated row)", path=path,
                         hint="the run may have been too short: Locust writes this file about once a second")  # fmt: skip
    keys = sorted({key for b in blocks for key in b})
    totals = {key: tuple((b[key][0], b[key][1]) if key in b else (0, 0) for b in blocks) for key in keys}
    percentiles_by_key = {key: tuple(b[key][2] if key in b else {} for b in blocks) for key in keys}
    max_by_key = {key: tuple(b[key][3] if key in b else None for b in blocks) for key in keys}
    return StatsHistory(str(path), tuple(timestamps), tuple(users), totals, percentiles_by_key, max_by_key, full, table.warnings)


def history_series(history: StatsHistory) -> IntervalSeries:
    """One interval between each two consecutive writes of Locust's history file; no histograms.

    Requests and failures per interval are exact: differences of Locust's running totals (a drop means Locust reset
    its stats, and the new total is what came after). Locust truncates timestamps to whole seconds, so every interval
    gets the file's mean spacing rather than a jittering 0, 1 or 2 s; the users are those running when an interval
    closed, as in intervals.jsonl. Without histograms, anything about latency over time has nothing to work on:
    plateau detection runs on throughput alone, and the report draws throughput over time only.
    """
    stamps = np.array(history.timestamps, dtype=np.float64)
    if len(stamps) < 3 or stamps[-1] <= stamps[0]:
        raise InputError(f"only {len(stamps)} write(s) of the history over {stamps[-1] - stamps[0]:g} s: nothing to measure",
                         path=history.source, hint="a capacity run needs steps of several seconds each; Locust 1.6-2.2x "
                         "write this file every 10 s and lose what was not written at exit, so run longer")  # fmt: skip
    count = len(stamps) - 1
    spacing = (stamps[-1] - stamps[0]) / count
    no_buckets = np.zeros(0, dtype=np.int64)
    endpoints = {}
    for key, totals in history.totals.items():
        if key == StatsHistory.AGGREGATED:
            continue
        running = np.array(totals, dtype=np.int64).reshape(-1, 2)
        steps = np.diff(running, axis=0)
        steps = np.where(steps < 0, running[1:], steps)
        endpoints[key] = EndpointSeries(key, steps[:, 0].copy(), steps[:, 1].copy(), np.zeros(count + 1, dtype=np.int64),
                                        no_buckets, no_buckets)  # fmt: skip
    return IntervalSeries(
        path=Path(history.source), interval_s=spacing, started_at=float(stamps[0]), times=stamps[:-1],
        durations=np.full(count, spacing), user_counts=np.array(history.user_counts[1:], dtype=np.int64),
        endpoints=endpoints, warnings=history.warnings,
    )  # fmt: skip
