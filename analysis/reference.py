"""Reference runs: a recorded run (histograms per endpoint, business metrics, manifest) that later runs compare with.

The file is versioned JSON that records its own provenance::

    {"schema_version": 1, "kind": "prospectpro-reference-run",
     "provenance": {"recorded_at": "...", "recorded_from": "...", "python": "...", "locust": "...", "numpy": "..."},
     "manifest": {...} | null, "business_metrics": {...} | null,
     "endpoints": {"GET /auth/v1/user": {"method": "GET", "name": "/auth/v1/user", "requests": 1200,
                   "failures": 0, "max_ms": 480.2, "rps": 20.0, "histogram": {"12": 30, ...}}}}

A file from another schema_version (older or unknown) is refused: silently reading it could compare wrong numbers.
"""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from analysis.errors import InputError
from analysis.histogram import Histogram
from analysis.jsonfiles import parse_model, read_json
from analysis.results import EndpointResult, RunResult, load_run, run_from_entries

REFERENCE_SCHEMA_VERSION = 1
REFERENCE_KIND = "prospectpro-reference-run"


class _ReferenceEndpoint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: str
    name: str
    requests: int
    failures: int
    max_ms: float | None = None
    rps: float | None = None
    histogram: dict[str, int]


class _ReferenceFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_version: int
    kind: str
    provenance: dict[str, Any]
    manifest: dict[str, Any] | None = None
    business_metrics: dict[str, Any] | None = None
    endpoints: dict[str, _ReferenceEndpoint]


def reference_document(run: RunResult) -> dict[str, Any]:
    """The JSON document that ``record`` writes for ``run``."""
    if run.percentile_source == "csv":
        raise InputError(
            "CSV input has no histograms, so it cannot serve as a reference",
            path=run.source,
            hint="record a results folder or a Locust --json-file output",
        )
    return {
        "schema_version": REFERENCE_SCHEMA_VERSION,
        "kind": REFERENCE_KIND,
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
    }


def write_reference(run: RunResult, output: str | Path) -> Path:
    output = Path(output)
    document = reference_document(run)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(document, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot write the reference ({error.strerror or error})", path=output) from None
    return output


def load_reference(path: str | Path) -> RunResult:
    """A recorded reference file, or any run ``load_run`` reads (a results folder or locust.json) used as one."""
    path = Path(path)
    if path.is_file() and path.suffix == ".json":
        data = read_json(path, what="a reference run recorded with `python -m analysis record`")
        if isinstance(data, list):
            return run_from_entries(data, source=str(path))  # a plain Locust --json-file output
        return _reference_from_document(data, path)
    if not path.exists():
        raise InputError("reference not found", path=path, hint="record one with `python -m analysis record RESULTS --output FILE`")
    return load_run(path)


def _reference_from_document(data: Any, path: Path) -> RunResult:
    if not isinstance(data, dict) or data.get("kind") != REFERENCE_KIND:
        raise InputError("not a reference run file", path=path, key="kind", hint="record one with `python -m analysis record`")
    version = data.get("schema_version")
    if version != REFERENCE_SCHEMA_VERSION:
        raise InputError(
            f"unsupported schema_version {version!r} (this harness reads {REFERENCE_SCHEMA_VERSION})",
            path=path,
            key="schema_version",
            hint="record the reference again with this version of the harness",
        )
    document: _ReferenceFile = parse_model(_ReferenceFile, data, path=path)
    endpoints = {}
    for key, entry in document.endpoints.items():
        endpoints[key] = EndpointResult(
            method=entry.method,
            name=entry.name,
            requests=entry.requests,
            failures=entry.failures,
            histogram=Histogram.from_dict(entry.histogram, source=str(path), key=f"endpoints.{key}.histogram"),
            max_ms=entry.max_ms,
            rps=entry.rps,
        )
    # Manifest and business metrics are validated the same way as a results folder's sidecars.
    sidecars = run_from_entries([], document.manifest, document.business_metrics, source=str(path))
    return RunResult(
        source=str(path),
        endpoints=endpoints,
        manifest=sidecars.manifest,
        manifest_raw=document.manifest,
        business=sidecars.business,
        business_raw=document.business_metrics,
    )


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
