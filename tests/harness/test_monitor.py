"""`python -m harness monitor`: the runbook's every-5-minutes check, alerting after 3 consecutive failures, here
with a real simulator switched into an outage between rounds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.locust_runs import clean_environment, secrets_found

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_three_consecutive_failures_after_a_mid_monitor_outage_raise_the_alert(simulator_factory, tmp_path):
    simulator = simulator_factory("--profile", "healthy", "--time-scale", "0.05")
    log = tmp_path / "monitor.jsonl"
    command = [sys.executable, "-m", "harness", "monitor", str(ROOT / "collections" / "ProspectPro-Auth.json"),
               "--interval", "0.5", "--count", "10", "--alert-after", "3", "--log", str(log)]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=clean_environment(PP_TARGET_URL=simulator.url),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        seen = []
        for line in process.stderr:
            seen.append(line)
            if line.startswith("monitor round 2:"):
                simulator.set_profile("outage")  # during the pause before round 3
                break
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = "".join(seen) + stderr
    assert process.returncode == 3, stderr[-3000:]
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    by_round = {}
    for row in rows:
        by_round.setdefault(row["round"], set()).add(row["verdict"])
    # Healthy twice, then the outage: three failing rounds, the alert, and no round after it.
    assert sorted(by_round) == [1, 2, 3, 4, 5]
    assert by_round[1] == by_round[2] == {"pass"} and all("fail" in by_round[n] for n in (3, 4, 5))
    assert all(row["at"].endswith("Z") for row in rows)
    assert "monitor round 1: healthy" in stderr and "monitor round 3: UNHEALTHY" in stderr
    alerts = [line for line in stdout.splitlines() if line.startswith("ALERT: ")]
    assert len(alerts) == 1 and "failed 3 consecutive times" in alerts[0] and "got 503" in alerts[0], stdout
    # Every round but the first reused the session: one sign-in, no more (GoTrue's limit is 30 per 5 minutes).
    assert sum(1 for row in rows if row["setup"] and row["check"] == "res-code equal 200" and row["request"] == "Sign in: test user") == 1
    assert secrets_found([log], stdout + stderr) == []


def test_a_hook_runs_instead_of_exiting_and_the_count_bounds_the_monitor(simulator_factory, tmp_path):
    simulator = simulator_factory("--profile", "outage", "--time-scale", "0.05")
    marker = tmp_path / "alerted"
    command = [sys.executable, "-m", "harness", "monitor", str(ROOT / "collections" / "ProspectPro-Database.json"),
               "--no-sign-in", "--interval", "0", "--count", "4", "--alert-after", "3", "--log", str(tmp_path / "m.jsonl"),
               "--on-alert", f"sh -c 'echo \"$MONITOR_CHECK\" >> {marker}'"]  # fmt: skip
    completed = subprocess.run(command, cwd=ROOT, env=clean_environment(PP_TARGET_URL=simulator.url),
                               capture_output=True, text=True, timeout=60)  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-2000:]  # the hook was the alert; the monitor ran its 4 rounds
    rounds = {json.loads(line)["round"] for line in (tmp_path / "m.jsonl").read_text().splitlines()}
    assert rounds == {1, 2, 3, 4}
    assert marker.read_text().startswith("ProspectPro - Database / Campaigns table: res-code equal 200")
    assert simulator.stats()["total"] == 4 * 6  # six requests a round, one at a time, nothing else


def test_the_monitor_stops_before_a_round_once_its_responses_costs_reach_the_spend_ceiling(simulator_factory, tmp_path):
    simulator = simulator_factory("--profile", "healthy", "--time-scale", "0.05")
    log = tmp_path / "m.jsonl"
    command = [sys.executable, "-m", "harness", "monitor", str(ROOT / "collections" / "ProspectPro-Discovery.json"),
               "--interval", "0", "--count", "5", "--log", str(log)]  # fmt: skip
    completed = subprocess.run(command, cwd=ROOT, env=clean_environment(PP_TARGET_URL=simulator.url,
                                                                        PP_SPEND_CEILING_USD="0.01"),
                               capture_output=True, text=True, timeout=60)  # fmt: skip
    assert completed.returncode == 6, completed.stderr[-2000:]
    assert "stopped by the spend guard" in completed.stderr and "ceiling $0.01" in completed.stderr
    # The synchronous discovery of round 1 reported its cost: no second round was sent.
    assert {json.loads(line)["round"] for line in log.read_text().splitlines()} == {1}
