"""Load from a Thunder collection: the runbook's "Load Test: Discovery Endpoint" under Locust, its 5 s SLA gated."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from harness.thunder import load_collection
from harness.thunder_locust import baseline_text
from tests.support.locust_runs import clean_environment, secrets_found

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DISCOVERY = ROOT / "collections" / "ProspectPro-Discovery.json"
LOAD_TEST = "Load Test: Discovery Endpoint"
KEY = f"POST {LOAD_TEST}"


def perf(results_root: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "harness", "perf", "--thunder-collection", str(DISCOVERY), "--thunder-request",
               LOAD_TEST, "--time-scale", "0.05", "--no-report", "--no-preflight", "--results-root", str(results_root),
               *args]  # fmt: skip
    return subprocess.run(command, cwd=ROOT, env=clean_environment(), capture_output=True, text=True, timeout=120)


def test_the_runbooks_res_time_and_res_code_tests_become_the_baseline():
    collection = load_collection(DISCOVERY)
    request = next(r for r in collection.requests if r.name == LOAD_TEST)
    baseline = tomllib.loads(baseline_text(collection, [request]))
    assert baseline["endpoints"] == {KEY: {"max_ms": 5000.0, "fail_ratio": 0.01}}
    assert baseline["defaults"] == {"min_samples": 1}


def test_the_discovery_load_test_passes_its_5_s_sla_on_a_healthy_simulator(tmp_path):
    completed = perf(tmp_path, "-u", "3", "-r", "3", "-t", "5s")
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    run = (tmp_path / "latest").resolve()
    entries = {f"{row['method']} {row['name']}": row for row in json.loads((run / "locust.json").read_text())}
    assert list(entries) == [KEY] and entries[KEY]["num_requests"] > 10 and entries[KEY]["num_failures"] == 0
    verdict = json.loads((run / "verdict.json").read_text())
    assert verdict["exit_code"] == 0 and (run / "baseline.thunder.toml").is_file()
    assert secrets_found(list(run.rglob("*")), completed.stdout + completed.stderr) == []


def test_a_discovery_slower_than_5_s_breaches_the_gate(tmp_path):
    # A fixed 5.5 s service time for the background function: every response is over the runbook's 5 s.
    completed = perf(tmp_path, "-u", "2", "-r", "2", "-t", "7s", "--simulator-arg=--service-time=business-discovery-background=5500")
    assert completed.returncode == 3, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert f"{KEY}  max_ms" in completed.stdout and "BREACH" in completed.stdout
    failures = (tmp_path / "latest" / "locust_failures.csv").read_text()
    assert "res-time < 5000" in failures  # the response check names the Thunder test that failed
