"""The typed results model and the ONE loader that turns any run output into it.

Inputs (docs/architecture.md, "The results folder"):
- a harness results folder: ``locust.json`` (full histograms) is preferred over ``locust_stats.csv``; the sidecars
  ``manifest.json`` and ``business_metrics.json`` are read when present; ``intervals.jsonl`` is only noted;
- a Locust ``--json-file`` output (``locust.json``);
- a Locust ``--csv`` prefix (``.../locust`` -> ``locust_stats.csv``), or the ``_stats.csv`` file itself. Locust's
  ``--json-file`` takes the same kind of prefix; when ``PREFIX.json`` exists too it wins (it has histograms).
CSV input has no histograms: its percentiles are Locust's own columns (exact for those percentiles, but nothing
can be resampled), so regression tests call such a run "not comparable".

The in-run gate builds the same model from live ``StatsEntry.serialize()`` dicts via ``run_from_entries``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from analysis.errors import InputError
from analysis.histogram import Histogram
from analysis.jsonfiles import parse_model, read_json, read_json_object

LOCUST_JSON = "locust.json"
LOCUST_STATS_CSV_SUFFIX = "_stats.csv"
MANIFEST_JSON = "manifest.json"
BUSINESS_METRICS_JSON = "business_metrics.json"
INTERVALS_JSONL = "intervals.jsonl"
SUPPORTED_SIDECAR_SCHEMA = 1

PercentileSource = Literal["histogram", "csv"]


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


class BusinessMetrics(_Sidecar):
    schema_version: int = SUPPORTED_SIDECAR_SCHEMA
    counts: dict[str, int] = {}
    costs_usd: dict[str, float] = {}
    # A derived rate whose denominator is zero is null: "not measured", never 0 or 1.
    derived: dict[str, float | None] = {}
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

    @property
    def percentile_source(self) -> PercentileSource:
        sources = {e.percentile_source for e in self.endpoints.values()}
        return "csv" if "csv" in sources else "histogram"


# ---- building from Locust's serialized entries -----------------------------------------------------------------
_ENTRY_FIELDS = ("name", "method", "num_requests", "num_failures", "response_times")


def run_from_entries(
    entries: list[dict],
    manifest: dict | None = None,
    business: dict | None = None,
    *,
    source: str = "<in-run stats>",
    has_intervals: bool = False,
) -> RunResult:
    """Build a RunResult from ``StatsEntry.serialize()`` dicts (the items of locust.json)."""
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
        histogram = Histogram.from_dict(entry["response_times"], source=source, key=f"{where}.response_times")
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


def _with_rps(endpoint: EndpointResult, rps: float) -> EndpointResult:
    return EndpointResult(**{**endpoint.__dict__, "rps": rps})


# ---- the loader ------------------------------------------------------------------------------------------------
def load_run(path: str | Path) -> RunResult:
    """Load a harness results folder, a Locust ``--json-file`` output, or a Locust ``--csv`` prefix."""
    path = Path(path)
    if path.is_dir():
        return _load_results_folder(path)
    if path.suffix == ".json" and path.is_file():
        return run_from_entries(read_json(path, what="a Locust --json-file output"), source=str(path))
    if path.name.endswith(LOCUST_STATS_CSV_SUFFIX) and path.is_file():
        return load_locust_csv(path)
    for candidate in (path.with_name(path.name + ".json"), path.with_name(path.name + LOCUST_STATS_CSV_SUFFIX)):
        if candidate.is_file():
            return load_run(candidate)
    raise InputError(
        "no run results found",
        path=path,
        hint=f"give a results folder, a Locust --json-file output, or a --csv prefix (PREFIX{LOCUST_STATS_CSV_SUFFIX})",
    )


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
        raise InputError(
            f"no {LOCUST_JSON} or {csv_file.name} in the folder", path=folder, hint="is this a harness results folder?"
        )
    return RunResult(
        source=str(folder),
        endpoints=run.endpoints,
        manifest=_parse_manifest(manifest_raw, folder / MANIFEST_JSON) if manifest_raw is not None else None,
        manifest_raw=manifest_raw,
        business=_parse_business(business_raw, folder / BUSINESS_METRICS_JSON) if business_raw is not None else None,
        business_raw=business_raw,
        has_intervals=(folder / INTERVALS_JSONL).is_file(),
        duration_s=run.duration_s,
    )


def _parse_manifest(raw: dict, source: str | Path) -> Manifest:
    manifest = parse_model(Manifest, raw, path=source)
    _check_schema(manifest.schema_version, source)
    return manifest


def _parse_business(raw: dict, source: str | Path) -> BusinessMetrics:
    business = parse_model(BusinessMetrics, raw, path=source)
    _check_schema(business.schema_version, source)
    return business


def _check_schema(version: int, source: str | Path) -> None:
    if version != SUPPORTED_SIDECAR_SCHEMA:
        raise InputError(
            f"schema_version {version} is not supported (this harness reads {SUPPORTED_SIDECAR_SCHEMA})",
            path=source,
            key="schema_version",
        )


# ---- Locust's stats CSV ----------------------------------------------------------------------------------------
_CSV_REQUIRED = ("Type", "Name", "Request Count", "Failure Count", "Max Response Time", "Requests/s")
_AGGREGATED_ROW_NAME = "Aggregated"


def load_locust_csv(path: Path) -> RunResult:
    """Locust's ``<prefix>_stats.csv``: counts, max, Requests/s and the percentile columns (no histograms)."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise InputError(f"cannot read CSV ({error})", path=path) from None
    if not rows:
        raise InputError("file is empty", path=path, hint="expected Locust's --csv stats file")
    header = rows[0]
    missing = [column for column in _CSV_REQUIRED if column not in header]
    if missing:
        raise InputError(
            f"missing column {missing[0]!r}",
            path=path,
            key="header",
            hint="not a Locust --csv stats file (expected columns: " + ", ".join(_CSV_REQUIRED) + ")",
        )
    column = {name: index for index, name in enumerate(header)}
    percentile_columns = {_percent_to_fraction(name): column[name] for name in header if _percent_to_fraction(name) is not None}
    endpoints: dict[str, EndpointResult] = {}
    for line_number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        where = f"line {line_number}"
        if len(row) != len(header):
            raise InputError(f"has {len(row)} fields, the header has {len(header)}", path=path, key=where, hint="the file may be truncated")
        method, name = row[column["Type"]], row[column["Name"]]
        if name == _AGGREGATED_ROW_NAME and not method:
            continue  # Locust's total row: percentiles of the merged histogram, not an endpoint
        requests = _csv_int(row[column["Request Count"]], path, f"{where}: Request Count")
        failures = _csv_int(row[column["Failure Count"]], path, f"{where}: Failure Count")
        if requests == 0 and failures == 0:
            continue
        percentiles = {
            q: _csv_int(row[index], path, f"{where}: {header[index]}")
            for q, index in percentile_columns.items()
            if row[index] != "N/A"
        }
        endpoint = EndpointResult(
            method=method,
            name=name,
            requests=requests,
            failures=failures,
            histogram=None,
            csv_percentiles=percentiles,
            max_ms=_csv_float(row[column["Max Response Time"]], path, f"{where}: Max Response Time"),
            rps=_csv_float(row[column["Requests/s"]], path, f"{where}: Requests/s"),
        )
        endpoints[endpoint.key] = endpoint
    return RunResult(source=str(path), endpoints=endpoints)


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
