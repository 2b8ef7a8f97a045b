"""Target safety: refused before anything is sent (one line, exit 1); caps enforced during the run (exit 6)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from scenarios.guards import TargetRefused, check_target, check_user_count
from tests.support.locust_runs import ROOT, clean_environment, run_locust, served_per_key


def test_loopback_targets_need_no_opt_in(settings):
    for url in ("http://127.0.0.1:8000", "http://localhost:1", "http://[::1]:80", "http://127.3.4.5"):
        check_target(url, settings())


def test_remote_needs_opt_in_and_production_needs_its_ref(settings):
    with pytest.raises(TargetRefused, match="^refusing to send load to example.invalid: not a loopback address; "
                                            "set PP_ALLOW_REMOTE_TARGET=true"):  # fmt: skip
        check_target("https://example.invalid", settings())
    check_target("https://staging-ref.supabase.invalid", settings(PP_ALLOW_REMOTE_TARGET="true"))
    production = "https://sriycekxdqnesdsgwiuc.supabase.co"
    with pytest.raises(TargetRefused, match="production project sriycekxdqnesdsgwiuc; set PP_CONFIRM_PRODUCTION=sriycekxdqnesdsgwiuc"):
        check_target(production, settings(PP_ALLOW_REMOTE_TARGET="true"))
    with pytest.raises(TargetRefused, match="production project"):
        check_target(production, settings(PP_ALLOW_REMOTE_TARGET="true", PP_CONFIRM_PRODUCTION="some-other-ref"))
    check_target(production, settings(PP_ALLOW_REMOTE_TARGET="true", PP_CONFIRM_PRODUCTION="sriycekxdqnesdsgwiuc"))


def test_user_cap(settings):
    check_user_count(200, settings())
    with pytest.raises(TargetRefused, match="refusing to run 6 users: more than PP_MAX_USERS=5"):
        check_user_count(6, settings(PP_MAX_USERS="5"))


@pytest.mark.integration
def test_a_remote_host_without_opt_in_refuses_in_one_line_before_the_run_starts(tmp_path):
    run = run_locust("https://example.invalid", tmp_path / "run", "AuthUser", users=1, seconds=5)
    assert run.returncode == 1
    refusal = [line for line in run.output.splitlines() if line.startswith("error:")]
    assert refusal == ["error: refusing to send load to example.invalid: not a loopback address; "
                       "set PP_ALLOW_REMOTE_TARGET=true to test a real ProspectPro"]  # fmt: skip
    assert "Traceback" not in run.output and "Ramping" not in run.output
    assert not (tmp_path / "run" / "locust.json").exists()  # Locust never got as far as a run


@pytest.mark.integration
def test_a_fake_production_project_needs_confirmation(tmp_path):
    environment = clean_environment(PP_ALLOW_REMOTE_TARGET="true", PP_PRODUCTION_PROJECT_REFS="fakeprodref")
    run = run_locust("https://fakeprodref.supabase.invalid", tmp_path / "run", "AuthUser", users=1, seconds=5, env=environment)
    assert run.returncode == 1
    assert "error: refusing to send load to fakeprodref.supabase.invalid: it is the production project fakeprodref; " \
           "set PP_CONFIRM_PRODUCTION=fakeprodref to confirm" in run.output
    assert "Ramping" not in run.output


@pytest.mark.integration
def test_a_refusal_sends_nothing_to_a_target_that_is_listening(simulator, tmp_path):
    run = run_locust(simulator.url, tmp_path / "run", "AuthUser", users=3, seconds=5, env=clean_environment(PP_MAX_USERS="2"))
    assert run.returncode == 1
    assert "error: refusing to run 3 users: more than PP_MAX_USERS=2" in run.output
    assert served_per_key(simulator.stats()) == {}


@pytest.mark.integration
def test_bad_settings_are_one_line_and_exit_1(tmp_path, simulator):
    run = run_locust(simulator.url, tmp_path / "run", "AuthUser", users=1, seconds=5,
                     env=clean_environment(PP_POLL_INTERVAL_S="soon"))  # fmt: skip
    assert run.returncode == 1
    assert [line for line in run.output.splitlines() if line.startswith("error:")] == [
        "error: environment: PP_POLL_INTERVAL_S: should be a valid number, unable to parse string as a number; "
        "see .env.example"]  # fmt: skip
    assert served_per_key(simulator.stats()) == {}


@pytest.mark.integration
def test_the_discovery_job_cap_stops_the_run_with_exit_6_and_says_why(simulator, tmp_path):
    run = run_locust(simulator.url, tmp_path / "run", "DiscoveryUser", users=2, seconds=30,
                     env=clean_environment(PP_MAX_DISCOVERY_JOBS="3"))  # fmt: skip
    assert run.returncode == 6, run.output[-3000:]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["stop_reason"] == "safety" and manifest["partial"] is True
    assert manifest["stop_detail"] == "discovery job cap reached: PP_MAX_DISCOVERY_JOBS=3"
    served = served_per_key(simulator.stats())
    discoveries = served.get("POST /functions/v1/business-discovery-background", 0) + served.get(
        "POST /functions/v1/business-discovery-optimized", 0)
    assert discoveries == 3


@pytest.mark.integration
def test_pp_target_url_is_the_host_when_no_host_is_given_and_is_checked_like_one(simulator, tmp_path):
    command = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py"), "--headless", "--only-summary",
               "-u", "1", "-r", "1", "-t", "3s", "--results-dir", str(tmp_path / "run"), "AuthUser"]  # fmt: skip
    local = subprocess.run(command, cwd=tmp_path, env=clean_environment(PP_TARGET_URL=simulator.url),
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert local.returncode == 0, local.stderr[-2000:]
    assert served_per_key(simulator.stats()).get("GET /auth/v1/user", 0) > 0
    remote = subprocess.run(command, cwd=tmp_path, env=clean_environment(PP_TARGET_URL="https://example.invalid"),
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert remote.returncode == 1 and "error: refusing to send load to example.invalid" in remote.stderr
