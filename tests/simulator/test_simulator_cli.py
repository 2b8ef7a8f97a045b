"""`python -m simulator`: flags, the ready line, one-line errors with exit 1, clean stop, seeded determinism."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from harness.simulator_process import REPO_ROOT, READY_PATTERN

pytestmark = pytest.mark.integration


def run_simulator(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "simulator", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=20)


@pytest.mark.parametrize("args, message", [
    (("--profile", "nope"), "error: --profile: unknown profile 'nope'; choose one of "),
    (("--time-scale", "fast"), "error: --time-scale: 'fast' is not a valid float"),
    (("--time-scale", "-1"), "error: --time-scale: '-1' must be at least 0"),
    (("--time-scale", "nan"), "error: --time-scale: 'nan' must be a finite number"),
    (("--job-time-scale", "x"), "error: --job-time-scale: 'x' is not a valid float"),
    (("--port", "70000"), "error: --port: '70000' must be at most 65535"),
    (("--seed", "1.5"), "error: --seed: '1.5' is not a valid int"),
    (("--capacity", "rest"), "error: --capacity: 'rest' must look like FUNCTION=VALUE"),
    (("--capacity", "nosuch=3"), "error: --capacity: unknown function 'nosuch'; use one of "),
    (("--capacity", "rest=0"), "error: --capacity rest: '0' must be at least 1"),
    (("--service-time", "auth=0"), "error: --service-time auth: '0' must be greater than 0"),
    (("--signin-rate-limit", "30"), "error: --signin-rate-limit: '30' must look like N/SECONDS, e.g. 30/300"),
    (("--signin-rate-limit", "30/0"), "error: --signin-rate-limit: '0' must be greater than 0"),
    (("--jwt-ttl", "0"), "error: --jwt-ttl: '0' must be at least 1"),
    (("--users", "0"), "error: --users: '0' must be at least 1"),
    (("--admin-token", ""), "error: --admin-token: must be a non-empty value without spaces"),
])
def test_bad_flag_values_are_one_line_and_exit_1(args, message):
    result = run_simulator(*args)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr


def test_unknown_flag_is_argparse_usage_exit_2():
    result = run_simulator("--no-such-flag")
    assert result.returncode == 2 and "unrecognized arguments: --no-such-flag" in result.stderr


def test_port_in_use_is_one_line_and_exit_1(simulator):
    port = simulator.url.rsplit(":", 1)[1]
    result = run_simulator("--port", port)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: --host/--port: cannot listen on 127.0.0.1:{port}:")
    assert len(result.stderr.splitlines()) == 1


def test_ready_line_is_exactly_one_stdout_line_and_sigterm_stops_cleanly():
    process = subprocess.Popen([sys.executable, "-m", "simulator", "--port", "0", "--seed", "7", "--time-scale", "0.5",
                                "--profile", "malformed"], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline().rstrip("\n")
        match = READY_PATTERN.fullmatch(line)
        assert match, line
        assert (match["profile"], match["seed"], match["time_scale"]) == ("malformed", "7", "0.5")
        assert match["url"].startswith("http://127.0.0.1:")
        time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
        assert process.returncode == 0 and out == "" and err == ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def seeded_facts(sim, api_for) -> dict:
    api = api_for(sim)
    session = api.sign_in(3)
    campaign = api.seeded_campaign()
    leads = api.rest(f"leads?select=business_name,address,phone,website,confidence_score"
                     f"&campaign_id=eq.{campaign['id']}&order=id").json()
    job = api.function("business-discovery-background", {"businessType": "gym"}).json()["jobId"]
    return {"user": session["user"]["id"], "campaign": campaign["id"], "leads": leads, "job": job}


def test_same_seed_same_data_other_seed_other_data(simulator_factory, api_for):
    first = seeded_facts(simulator_factory("--seed", "11", "--time-scale", "0.05"), api_for)
    again = seeded_facts(simulator_factory("--seed", "11", "--time-scale", "0.05"), api_for)
    other = seeded_facts(simulator_factory("--seed", "12", "--time-scale", "0.05"), api_for)
    assert first == again
    assert len(first["leads"]) == 100
    for key in first:
        assert first[key] != other[key], key


def test_verbose_logs_one_line_per_request_without_query_strings(simulator_factory, api_for, tmp_path):
    log = tmp_path / "simulator.log"
    sim = simulator_factory("--verbose", "--time-scale", "0.05", log_path=log)
    api = api_for(sim)
    api.rest("campaigns?select=id&apikey=sb_publishable_simulator", apikey=False)
    deadline = time.monotonic() + 5
    while "GET /rest/v1/campaigns 200" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = log.read_text().splitlines()
    assert lines[0].startswith("prospectpro-simulator ready ") and lines[1:] == ["GET /rest/v1/campaigns 200"]
    assert "sb_publishable" not in log.read_text()


def test_quiet_by_default(simulator_factory, api_for, tmp_path):
    log = tmp_path / "simulator.log"
    api = api_for(simulator_factory("--time-scale", "0.05", log_path=log))
    api.sign_in(1)
    api.rest("campaigns?select=id")
    assert len(log.read_text().splitlines()) == 1  # the ready line only
