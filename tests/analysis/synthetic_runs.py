"""Small synthetic result folders with known raw samples, so tests can compute every number directly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from analysis.histogram import Histogram

START = 1_795_728_000.0


def write_intervals(folder: Path, samples: dict[str, list[np.ndarray]], *, interval_s: float = 5.0,
                    users: list[int] | None = None, failures: dict[str, list[int]] | None = None,
                    durations: dict[int, float] | None = None) -> Path:  # fmt: skip
    """intervals.jsonl from raw samples: ``samples[key][i]`` are the response times of interval i (may be empty)."""
    count = max(len(per_interval) for per_interval in samples.values())
    lines = [json.dumps({"schema_version": 1, "interval_s": interval_s, "started_at": START})]
    for index in range(count):
        endpoints = {}
        for key, per_interval in samples.items():
            if index < len(per_interval) and len(per_interval[index]):
                histogram = Histogram.from_samples(per_interval[index])
                failed = (failures or {}).get(key, [0] * count)[index]
                endpoints[key] = {"requests": histogram.count, "failures": failed, "hist": histogram.to_dict()}
        line = {"t": START + index * interval_s, "user_count": (users or [10] * count)[index], "endpoints": endpoints}
        if durations and index in durations:
            line["duration_s"] = durations[index]
        lines.append(json.dumps(line))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "intervals.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_locust_json(folder: Path, samples: dict[str, np.ndarray], failures: dict[str, int] | None = None) -> Path:
    """locust.json entries (StatsEntry.serialize() shape) for whole-run samples per endpoint key."""
    entries = []
    for key, values in samples.items():
        method, name = key.split(" ", 1)
        histogram = Histogram.from_samples(values)
        entries.append({
            "name": name, "method": method, "num_requests": histogram.count,
            "num_failures": (failures or {}).get(key, 0), "num_none_requests": 0,
            "total_response_time": float(np.sum(values)), "max_response_time": float(np.max(values)),
            "min_response_time": float(np.min(values)), "total_content_length": 0,
            "response_times": histogram.to_dict(), "num_reqs_per_sec": {}, "num_fail_per_sec": {},
            "start_time": START, "last_request_timestamp": START + 60.0,
        })  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "locust.json"
    path.write_text(json.dumps(entries), encoding="utf-8")
    return path


def manifest(run_id: str = "20261126-120000-abc123", **overrides) -> dict:
    document = {
        "schema_version": 1, "run_id": run_id, "started_at": "2026-11-26T12:00:00Z", "ended_at": "2026-11-26T12:01:00Z",
        "partial": False, "stop_reason": "run-time",
        "target": {"url": "http://127.0.0.1:8765", "kind": "simulator", "simulator": {"profile": "healthy", "seed": 7, "time_scale": 1.0}},
        "options": {"users": 10, "spawn_rate": 5, "run_time_s": 60, "user_classes": ["ProspectorUser"], "tags": [],
                    "exclude_tags": [], "shape": None, "processes": 1, "workers": 0},
        "scenario_hash": "f" * 64,
        "versions": {"python": "3.11.7", "locust": "2.47.0", "harness_commit": "abc1234", "dirty": False},
        "generator": {"cpu_warning": False, "cpu_percent_max": 41.0},
        "load": {"intended_users": 10, "reached_users": 10, "workers_lost": 0},
    }  # fmt: skip
    document.update(overrides)
    return document


def business_metrics(**derived_overrides) -> dict:
    derived = {"discovery_success_rate": 0.98, "job_completion_rate": 1.0, "leads_per_job": 3.0,
               "cost_per_discovery_usd": 0.06, "cost_per_lead_usd": 0.02, "enrichment_cost_per_lead_usd": 0.04,
               "export_success_rate": None}  # fmt: skip
    derived.update(derived_overrides)
    return {
        "schema_version": 1,
        "counts": {"discovery_submitted": 50, "discovery_accepted": 49, "jobs_completed": 49, "jobs_failed": 0,
                   "jobs_timed_out": 0, "leads_discovered": 147, "enrichment_calls": 20, "enrichment_succeeded": 20,
                   "exports_attempted": 0, "exports_succeeded": 0},  # fmt: skip
        "costs_usd": {"discovery_total": 2.94, "enrichment_total": 0.8, "third_party_spend": 3.74},
        "derived": derived,
        "spend_guard": {"ceiling_usd": None, "tripped": False},
    }


def write_json(path: Path, document) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document), encoding="utf-8")
    return path
