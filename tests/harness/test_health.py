"""`python -m harness health` against the embedded simulator: the project's collections pass, the team's fail only by
the documented Thunder-vs-code drift, and every check of both is evaluated."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from harness.health import load_known_drift
from tests.support.locust_runs import clean_environment, secrets_found

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TEAM = sorted((ROOT.parent / "shared" / "reference" / "thunder-collection").glob("ProspectPro-*.json"))  # ../shared, as the issue names it


def health(output: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", "health", *args, "--time-scale", "0.05", "--output", str(output)],
                          cwd=ROOT, env=clean_environment(), capture_output=True, text=True, timeout=120)  # fmt: skip


def checks(output: Path) -> list[tuple[dict, dict]]:
    run = json.loads((output / "health.json").read_text())
    return [(request, check) for request in run["requests"] for check in request["checks"]]


def test_the_projects_own_collections_pass_against_the_simulator(tmp_path):
    completed = health(tmp_path)
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-2000:]
    found = checks(tmp_path)
    collections = {request["collection"] for request, _ in found if not request["setup"]}
    assert collections == {f"ProspectPro - {area}" for area in ("Auth", "Discovery", "Enrichment", "Export", "Database")}
    assert {check["verdict"] for _, check in found} == {"pass"} and len(found) > 80
    suites = ElementTree.parse(tmp_path / "health.junit.xml").getroot()
    assert suites.get("failures") == "0" and int(suites.get("tests")) == len(found)
    assert secrets_found(list(tmp_path.rglob("*")), completed.stdout + completed.stderr) == []


@pytest.mark.skipif(not TEAM, reason="the team's Thunder collections are not on this machine")
def test_the_teams_collections_fail_exactly_by_the_documented_drift_each_named(tmp_path):
    completed = health(tmp_path, *map(str, TEAM))
    assert completed.returncode == 3, completed.stdout[-4000:] + completed.stderr[-2000:]
    found = [(request, check) for request, check in checks(tmp_path) if not request["setup"]]
    verdicts = {check["verdict"] for _, check in found}
    assert verdicts == {"pass", "drift"}, [c for _, c in found if c["verdict"] not in ("pass", "drift")]  # no unsupported
    drift = load_known_drift(ROOT / "collections" / "known-drift.toml")
    failed = {(r["collection_key"], r["request_key"], c["label"]) for r, c in found if c["verdict"] == "drift"}
    assert failed == set(drift)  # every documented drift shows up, and nothing else fails
    assert all(c["drift"] for _, c in found if c["verdict"] == "drift")
    # The expired-token check is evaluated with a token that really expired (minted by a --jwt-ttl 1 twin).
    expired = [c for r, c in found if r["request_key"] == "auth-expired-token"]
    assert [c["verdict"] for c in expired] == ["pass", "pass"], expired
    assert f"all {len(drift)} failures are documented drift" in completed.stdout
    assert "known drift: test-new-auth answers 200 with the user under authentication.request.userId" in completed.stdout
    assert secrets_found(list(tmp_path.rglob("*")), completed.stdout + completed.stderr) == []


def test_perf_against_a_target_in_outage_stops_at_preflight_with_exit_5_and_sends_no_load(simulator_factory, tmp_path):
    simulator = simulator_factory("--profile", "outage", "--time-scale", "0.05")
    completed = subprocess.run([sys.executable, "-m", "harness", "perf", "-t", "10s", "-u", "3", "--no-report",
                                "--results-root", str(tmp_path)], cwd=ROOT,
                               env=clean_environment(PP_TARGET_URL=simulator.url), capture_output=True, text=True,
                               timeout=120)  # fmt: skip
    assert completed.returncode == 5, completed.stderr[-3000:]
    assert ("target unhealthy: ProspectPro - Session (sign-in before the checks) / Sign in: test user: res-code equal 200 "
            "(got 503)") in completed.stderr  # fmt: skip
    served = simulator.stats()
    (run_dir,) = [path for path in tmp_path.iterdir() if path.is_dir()]
    preflight = json.loads((run_dir / "health.json").read_text())["requests"]
    # Everything the simulator served was the pre-flight's one sign-in attempt: no load, no Locust.
    assert [(r["method"], r["status"]) for r in preflight] == [("POST", 503)]
    assert served["total"] == 1 and served["served"] == {"POST /auth/v1/token?grant_type=password": {"503": 1}}
    assert not (run_dir / "locust.json").exists() and not (run_dir / "manifest.json").exists()


def test_a_target_the_guards_refuse_gets_nothing_and_is_one_line(tmp_path):
    completed = subprocess.run([sys.executable, "-m", "harness", "health", "--output", str(tmp_path)], cwd=ROOT,
                               env=clean_environment(PP_TARGET_URL="https://sriycekxdqnesdsgwiuc.supabase.co"),
                               capture_output=True, text=True, timeout=60)  # fmt: skip
    assert completed.returncode == 1
    assert completed.stderr.splitlines()[-1].startswith("error: refusing to send load to sriycekxdqnesdsgwiuc.supabase.co")
    assert not (tmp_path / "health.json").exists()


@pytest.mark.skipif(not TEAM, reason="the team's Thunder environment is not on this machine")
def test_the_teams_environment_file_cannot_redirect_the_checks_to_production(tmp_path):
    environment = TEAM[0].parent / "thunder-environment.json"
    completed = health(tmp_path, str(ROOT / "collections" / "ProspectPro-Database.json"), "--env", str(environment))
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]
    assert "note: --env SUPABASE_URL=https://sriycekxdqnesdsgwiuc.supabase.co ignored: the target is http://127.0.0.1:" in completed.stderr
    # Its empty SUPABASE_ANON_KEY did not blank the configured key either: every request was answered by the simulator.
    assert all(request["status"] for request, _ in checks(tmp_path))
