"""Reference runs: recorded runs (histograms per endpoint, business metrics, manifest) that later runs compare with.

A reference holds one or more recorded runs of the same system, scenario code and options. With two or more,
the regression test also knows how much an unchanged system varies from one run to the next (machine load,
warm-up, the rest of the mix) and widens its intervals by that (analysis/regression.py). The file is versioned
JSON that records each run's provenance (schema_version 2)::

    {"schema_version": 2, "kind": "prospectpro-reference-run",
     "runs": [{"provenance": {"recorded_at": "...", "recorded_from": "...", "python": "...", "locust": "...",
                              "numpy": "..."},
               "manifest": {...} | null, "business_metrics": {...} | null,
               "endpoints": {"GET /auth/v1/user": {"method": "GET", "name": "/auth/v1/user", "requests": 1200,
                             "failures": 0, "max_ms": 480.2, "rps": 20.0, "histogram": {"12": 30, ...}}},
               "timeline": [{"end_s": 5.0, "endpoints": {"GET /auth/v1/user": {"12": 3, ...}}}, ...] | null},
              ...]}

``timeline`` (optional; recorded from a results folder's ``intervals.jsonl``) holds each interval's histograms, by
the interval's end in seconds since the run started: the sequential gate compares each part of a run with the same
part of the reference runs (analysis/sequential.py), because a system's latency can change over a run (the
enrichment functions' in-isolate caches fill for minutes). A file without it compares whole runs.

``python -m analysis record RESULTS --output FILE`` writes a one-run reference; ``--add`` appends a run to an
existing one (refused when the run's scenario code or load options differ from the reference's). A schema_version 1
file (one run, its fields at the top level) still loads as a one-run reference. Any other version is refused:
silently reading it could compare wrong numbers.

Loaded, a reference is a ``ReferenceRuns``: a RunResult whose endpoints are the runs' histograms merged by adding
counts (what a single-run comparison reads), with each run kept in ``runs`` for the run-to-run variation.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from analysis.errors import InputError
from analysis.histogram import Histogram
from analysis.intervals import load_intervals
from analysis.jsonfiles import parse_model, read_json
from analysis.results import BusinessMetrics, EndpointResult, RunResult, load_run, run_from_entries

REFERENCE_SCHEMA_VERSION = 2
READABLE_SCHEMA_VERSIONS = (1, 2)
REFERENCE_KIND = "prospectpro-reference-run"


@dataclass(frozen=True)
class ReferenceRuns(RunResult):
    """A reference of one or more runs: the merged run (the RunResult fields) plus every recorded run."""

    runs: tuple[RunResult, ...] = ()
    # Per run (same order): its interval histograms by the interval's end in seconds since the start, or None
    # when it was recorded without intervals.
    timelines: tuple[Timeline | None, ...] = ()


Timeline = tuple[tuple[float, dict[str, Histogram]], ...]


class _ReferenceEndpoint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: str
    name: str
    requests: int
    failures: int
    max_ms: float | None = None
    rps: float | None = None
    histogram: dict[str, int]


class _TimelineInterval(BaseModel):
    model_config = ConfigDict(extra="forbid")
    end_s: float
    endpoints: dict[str, dict[str, int]]


class _RecordedRun(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provenance: dict[str, Any]
    manifest: dict[str, Any] | None = None
    business_metrics: dict[str, Any] | None = None
    endpoints: dict[str, _ReferenceEndpoint]
    timeline: list[_TimelineInterval] | None = None


class _ReferenceFileV1(_RecordedRun):
    schema_version: int
    kind: str


class _ReferenceFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_version: int
    kind: str
    runs: list[_RecordedRun]


def recorded_run(run: RunResult) -> dict[str, Any]:
    """One run as a reference holds it (with its provenance)."""
    if run.percentile_source == "csv":
        raise InputError(
            "CSV input has no histograms, so it cannot serve as a reference",
            path=run.source,
            hint="record a results folder or a Locust --json-file output",
        )
    return {
        "provenance": {
            "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "recorded_from": run.source,
            "python": platform.python_version(),
            **{package: _version(package) for package in ("locust", "numpy")},
        },
        "manifest": run.manifest_raw,
        "business_metrics": run.business_raw,
        "endpoints": {
            key: {
                "method": e.method,
                "name": e.name,
                "requests": e.requests,
                "failures": e.failures,
                "max_ms": e.max_ms,
                "rps": e.rps,
                "histogram": e.histogram.to_dict() if e.histogram is not None else {},
            }
            for key, e in sorted(run.endpoints.items())
        },
        "timeline": _timeline_of(run),
    }


def _timeline_of(run: RunResult) -> list[dict[str, Any]] | None:
    """The run's interval histograms (its intervals.jsonl, the latency its gate judged), or None without one."""
    folder = Path(run.source)
    if not run.has_intervals or not folder.is_dir():
        return None
    series = load_intervals(folder, latency="corrected")
    if series.started_at is None or not len(series):
        return None
    timeline = []
    last = len(series) - 1
    for index, (start, duration) in enumerate(zip(series.times, series.durations)):
        # As the gate's looks see it (harness/intervals.py): an interval ends a full step after its start, the last
        # one when the run ended.
        covered_to = start + (duration if index == last and index > 0 else series.interval_s)
        end_s = round(float(covered_to - series.started_at), 3)
        endpoints = {key: endpoint.histogram(index).to_dict() for key, endpoint in series.endpoints.items()
                     if endpoint.offsets[index + 1] > endpoint.offsets[index]}  # fmt: skip
        if endpoints:
            timeline.append({"end_s": end_s, "endpoints": endpoints})
    return timeline


def reference_document(run: RunResult, existing: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON document that ``record`` writes: ``run`` alone, or appended to the ``existing`` document's runs."""
    runs = list(existing["runs"]) if existing is not None else []
    return {"schema_version": REFERENCE_SCHEMA_VERSION, "kind": REFERENCE_KIND, "runs": [*runs, recorded_run(run)]}


def read_reference_document(path: str | Path) -> dict[str, Any]:
    """A reference file as a schema_version 2 document (a version 1 file becomes one run), validated."""
    path = Path(path)
    data = read_json(path, what="a reference run recorded with `python -m analysis record`")
    if not isinstance(data, dict) or data.get("kind") != REFERENCE_KIND:
        raise InputError("not a reference run file", path=path, key="kind", hint="record one with `python -m analysis record`")
    version = data.get("schema_version")
    if version not in READABLE_SCHEMA_VERSIONS or isinstance(version, bool):
        raise InputError(
            f"unsupported schema_version {version!r} (this harness reads {', '.join(map(str, READABLE_SCHEMA_VERSIONS))})",
            path=path,
            key="schema_version",
            hint="record the reference again with this version of the harness",
        )
    if version == 1:
        single = parse_model(_ReferenceFileV1, data, path=path)
        runs = [single.model_dump(exclude={"schema_version", "kind"})]
    else:
        runs = [run.model_dump() for run in parse_model(_ReferenceFile, data, path=path).runs]
    if not runs:
        raise InputError("a reference holds no runs", path=path, key="runs", hint="record one with `python -m analysis record`")
    return {"schema_version": REFERENCE_SCHEMA_VERSION, "kind": REFERENCE_KIND, "runs": runs}


def write_reference(run: RunResult, output: str | Path, *, add: bool = False) -> Path:
    """Write ``run`` as a one-run reference, or with ``add`` append it to the reference already at ``output``.

    The caller checks that an added run is comparable with the reference (record_cli does, with decide's rule).
    """
    output = Path(output)
    existing = read_reference_document(output) if add else None
    document = reference_document(run, existing)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(document, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot write the reference ({error.strerror or error})", path=output) from None
    return output


def load_reference(path: str | Path) -> RunResult:
    """A recorded reference file (a ReferenceRuns), or any run ``load_run`` reads (a results folder or locust.json)."""
    path = Path(path)
    if path.is_file() and path.suffix == ".json":
        data = read_json(path, what="a reference run recorded with `python -m analysis record`")
        if isinstance(data, list):
            return run_from_entries(data, source=str(path))  # a plain Locust --json-file output
        return _reference_from_document(read_reference_document(path), path)
    if not path.exists():
        raise InputError("reference not found", path=path, hint="record one with `python -m analysis record RESULTS --output FILE`")
    return load_run(path)


def _reference_from_document(document: dict[str, Any], path: Path) -> ReferenceRuns:
    runs = tuple(_run_from_recorded(recorded, path, index) for index, recorded in enumerate(document["runs"]))
    first = runs[0]
    keys = sorted({key for run in runs for key in run.endpoints})
    merged = {key: _merge_endpoint([run.endpoints[key] for run in runs if key in run.endpoints]) for key in keys}
    return ReferenceRuns(
        source=str(path) if len(runs) == 1 else f"{path} ({len(runs)} runs)",
        endpoints=merged,
        manifest=first.manifest,
        manifest_raw=first.manifest_raw,
        business=first.business if len(runs) == 1 else _mean_business(runs),
        business_raw=first.business_raw,
        runs=runs,
        timelines=tuple(_timeline_from_recorded(recorded, path, index) for index, recorded in enumerate(document["runs"])),
    )


def _timeline_from_recorded(recorded: dict[str, Any], path: Path, index: int) -> Timeline | None:
    if not recorded.get("timeline"):
        return None
    return tuple(
        (float(interval["end_s"]),
         {key: Histogram.from_dict(histogram, source=str(path), key=f"runs[{index}].timeline[{number}].endpoints.{key}")
          for key, histogram in interval["endpoints"].items()})
        for number, interval in enumerate(recorded["timeline"])
    )  # fmt: skip


def _run_from_recorded(recorded: dict[str, Any], path: Path, index: int) -> RunResult:
    where = f"runs[{index}]"
    endpoints = {}
    for key, entry in recorded["endpoints"].items():
        endpoints[key] = EndpointResult(
            method=entry["method"],
            name=entry["name"],
            requests=entry["requests"],
            failures=entry["failures"],
            histogram=Histogram.from_dict(entry["histogram"], source=str(path), key=f"{where}.endpoints.{key}.histogram"),
            max_ms=entry["max_ms"],
            rps=entry["rps"],
        )
    # Manifest and business metrics are validated the same way as a results folder's sidecars.
    sidecars = run_from_entries([], recorded["manifest"], recorded["business_metrics"], source=str(path))
    return RunResult(
        source=f"{path} {where}",
        endpoints=endpoints,
        manifest=sidecars.manifest,
        manifest_raw=recorded["manifest"],
        business=sidecars.business,
        business_raw=recorded["business_metrics"],
    )


def _merge_endpoint(parts: list[EndpointResult]) -> EndpointResult:
    """One endpoint over several runs: counts and histograms add up; max is the largest; rate is the mean."""
    first = parts[0]
    if len(parts) == 1:
        return first
    rates = [p.rps for p in parts if p.rps is not None]
    maxima = [p.max_ms for p in parts if p.max_ms is not None]
    return EndpointResult(
        method=first.method,
        name=first.name,
        requests=sum(p.requests for p in parts),
        failures=sum(p.failures for p in parts),
        histogram=Histogram.merge_all(p.histogram for p in parts if p.histogram is not None),
        max_ms=max(maxima) if maxima else None,
        rps=sum(rates) / len(rates) if rates else None,
    )


def _mean_business(runs: tuple[RunResult, ...]) -> BusinessMetrics | None:
    """Derived business rates averaged over the runs that measured them (what the cost anomaly compares with)."""
    measured = [run.business for run in runs if run.business is not None]
    if not measured:
        return None
    keys = sorted({key for business in measured for key in business.derived})
    derived = {}
    for key in keys:
        values = [value for b in measured if (value := b.derived.get(key)) is not None]
        derived[key] = sum(values) / len(values) if values else None
    return BusinessMetrics(derived=derived)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
