"""`python -m harness`: the main job end to end on a fresh simulator, its results folder, and stopping cleanly."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from harness.__main__ import MODES, PRODUCT_FILE, _product, locust_command
from scenarios.selection import PERF_WEIGHTS
from tests.support.locust_runs import clean_environment, secrets_found

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RESULT_FILES = ("locust_stats.csv", "locust_stats_history.csv", "locust_failures.csv", "locust_exceptions.csv",
                "locust.json", "locust_report.html", "manifest.json", "business_metrics.json", "intervals.jsonl",
                "verdict.json", "verdict.txt", "verdict.md", "verdict.junit.xml", "simulator.log")  # fmt: skip
TARGET_LINE = re.compile(r"^target: embedded ProspectPro simulator at (http://127\.0\.0\.1:\d+) \(not a real ProspectPro", re.M)


def launcher(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness", *args]


def port_is_closed(url: str) -> bool:
    parts = urlsplit(url)
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((parts.hostname, parts.port)) != 0


def test_perf_runs_against_a_simulator_it_starts_and_stops_and_writes_every_file(tmp_path):
    results_root = tmp_path / "results"
    completed = subprocess.run(launcher("perf", "-t", "6s", "-u", "3", "--time-scale", "0.05", "--no-report",
                                        "--simulator-arg=--queue-limit=99", "--results-root", str(results_root)),
                               cwd=ROOT, env=clean_environment(), capture_output=True, text=True, timeout=120)  # fmt: skip
    output = completed.stdout + completed.stderr
    target = TARGET_LINE.search(output)
    assert target, output[-3000:]
    run_dir = (results_root / "latest").resolve()
    assert run_dir.parent == results_root.resolve() and run_dir.name != "latest"
    missing = [name for name in RESULT_FILES if not (run_dir / name).is_file()]
    assert not missing, missing

    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert completed.returncode == verdict["exit_code"]  # Locust's exit code, set by the in-run gate
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["target"]["kind"] == "simulator" and manifest["target"]["url"] == target.group(1)
    # perf's simulator is sized for its load by the product (product.py: Google's quota), the caller's arguments after
    assert manifest["target"]["simulator"] == {"profile": "healthy", "seed": 1, "time_scale": 0.05, "job_time_scale": 0.05,
                                               "extra_args": "--capacity=google-places=1000 --queue-limit=99"}  # fmt: skip
    assert manifest["options"]["user_classes"] == sorted(PERF_WEIGHTS)  # --mix perf: every class
    entries = {f"{row['method']} {row['name']}": row["num_requests"] for row in json.loads((run_dir / "locust.json").read_text())}
    assert entries.get("GET /auth/v1/user", 0) > 0 and entries.get("POST /functions/v1/business-discovery-background", 0) > 0
    assert port_is_closed(target.group(1)), "the simulator is still running"

    # No file of the run and nothing printed holds a token, key or password.
    assert secrets_found(list(run_dir.rglob("*")), output) == []


def test_sigterm_is_forwarded_so_locust_still_writes_its_results_and_the_simulator_stops(tmp_path):
    results_root = tmp_path / "results"
    process = subprocess.Popen(launcher("perf", "-t", "60s", "-u", "2", "--time-scale", "0.05", "--no-report",
                                        "--results-root", str(results_root)),
                               cwd=ROOT, env=clean_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        lines, url = [], None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and url is None:
            line = process.stdout.readline()
            lines.append(line)
            match = TARGET_LINE.search(line)
            url = match.group(1) if match else None
        assert url, "".join(lines)
        # The health check runs before Locust, and Locust takes a while to start on a busy machine: wait for its users.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and lines[-1] and "All users spawned" not in lines[-1]:
            lines.append(process.stdout.readline())
        assert "All users spawned" in lines[-1], "".join(lines)
        time.sleep(2)  # Locust is running
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    run_dir = (results_root / "latest").resolve()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["stop_reason"] == "interrupted" and manifest["partial"] is True
    assert (run_dir / "locust.json").is_file()
    assert port_is_closed(url)


def test_a_configured_remote_target_starts_no_simulator_and_is_refused(tmp_path):
    completed = subprocess.run(launcher("perf", "-t", "5s", "--no-report", "--results-root", str(tmp_path)),
                               cwd=ROOT, env=clean_environment(PP_TARGET_URL="https://example.invalid"),
                               capture_output=True, text=True, timeout=60)  # fmt: skip
    output = completed.stdout + completed.stderr
    assert completed.returncode == 1
    assert "target: https://example.invalid (configured; no simulator started)" in output
    assert "error: refusing to send load to example.invalid: not a loopback address" in output
    assert "embedded ProspectPro simulator" not in output


def test_bad_settings_stop_the_launcher_in_one_line(tmp_path):
    completed = subprocess.run(launcher("perf", "--results-root", str(tmp_path)), cwd=ROOT,
                               env=clean_environment(PP_TARGETURL="http://127.0.0.1:1"), capture_output=True, text=True,
                               timeout=60)  # fmt: skip
    assert completed.returncode == 1
    assert completed.stderr.startswith("error: environment: unknown setting PP_TARGETURL; known settings: ")
    assert len(completed.stderr.strip().splitlines()) == 1


def test_a_simulator_that_cannot_start_is_one_line_and_leaves_no_run_folder(tmp_path):
    # --simulator-arg reaches the simulator: a bad value there is the simulator's own one-line refusal.
    completed = subprocess.run(launcher("perf", "--simulator-arg=--queue-limit=-3", "--results-root", str(tmp_path)),
                               cwd=ROOT, env=clean_environment(), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert completed.returncode == 1, completed.stderr[-2000:]
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the simulator did not start: ") and "queue-limit" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_every_load_a_mode_names_is_one_the_product_sizes_the_simulator_for():
    """The launcher names a load ("perf"), product.py says what it means for the simulator; capacity keeps the default
    sizing, so that its report finds where the default quotas end."""
    sizing = _product().simulator_sizing
    named = {mode.simulator_load for mode in MODES.values()} - {None}
    assert named and named <= set(sizing), f"{PRODUCT_FILE} sizes {sorted(sizing)}, the modes name {sorted(named)}"
    assert MODES["perf"].simulator_load == "perf" and MODES["capacity"].simulator_load is None
    assert "--capacity=google-places=1000" in sizing["perf"]


def test_user_arguments_override_the_defaults_and_name_classes():
    perf = MODES["perf"]
    command = locust_command(perf, "http://127.0.0.1:9", Path("/r"), ["-u", "7", "ExportUser"], [])
    assert command.count("-u") == 1 and command[command.index("-u") + 1] == "7"
    assert "--users" not in command and "ProspectorUser" not in command and command[-1] == "ExportUser"
    assert "--baseline" in command
    # Until decided by default: --run-time is the maximum; --fixed-duration makes it the exact length again.
    assert command[command.index("--run-time") + 1] == "300s" and "--until-decided" in command
    assert "--min-run-time" not in command  # the gate's default: 30 s, or --run-time if that is shorter
    fixed = locust_command(perf, "http://127.0.0.1:9", Path("/r"), [], [], fixed_duration=True)
    assert fixed[fixed.index("--run-time") + 1] == "100s" and "--until-decided" not in fixed
    assert "--mix=perf" in fixed  # the locustfile's option (scenarios/selection.py): the launcher names no class
    given = locust_command(perf, "http://127.0.0.1:9", Path("/r"), ["--mix", "journey"], [])
    assert "--mix=perf" not in given and given[-2:] == ["--mix", "journey"]


def test_locust_arguments_pass_through_untouched():
    """Whatever Locust flags come first (--otel takes no value), the caller's arguments end the command as given."""
    for arguments in (["--otel", "ExportUser"], ["-T", "export"], ["--config-users=[]", "AuthUser", "-L", "DEBUG"]):
        command = locust_command(MODES["perf"], "http://127.0.0.1:9", Path("/r"), arguments, [])
        assert command[-len(arguments):] == arguments
        assert not {"ProspectorUser", "DiscoveryUser", "EnrichmentUser", "AuthUser"} & set(command[:-len(arguments)])


def test_processes_get_a_private_master_port_unless_one_is_given():
    perf = MODES["perf"]
    command = locust_command(perf, "http://127.0.0.1:9", Path("/r"), ["--processes", "2"], [])
    port = command[command.index("--master-bind-port") + 1]
    assert port != "5557" and command[command.index("--master-port") + 1] == port
    assert command[command.index("--master-bind-host") + 1] == "127.0.0.1"
    given = locust_command(perf, "http://127.0.0.1:9", Path("/r"), ["--processes", "2", "--master-port=6000"], [])
    assert "--master-bind-port" not in given and "--master-bind-host" not in given
    assert "--master-bind-port" not in locust_command(perf, "http://127.0.0.1:9", Path("/r"), [], [])


def test_capacity_plays_the_step_shape_to_its_end_without_an_in_run_verdict(tmp_path):
    results_root = tmp_path / "results"
    completed = subprocess.run(launcher("capacity", "--step-users", "2", "--step-seconds", "3", "--steps", "2",
                                        "--time-scale", "0.05", "--no-report", "--results-root", str(results_root)),
                               cwd=ROOT, env=clean_environment(), capture_output=True, text=True, timeout=120)  # fmt: skip
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-3000:]
    run_dir = (results_root / "latest").resolve()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert (manifest["stop_reason"], manifest["partial"]) == ("shape", False)
    assert manifest["options"]["shape"] == "SelectedLoadShape" and manifest["load"]["intended_users"] == 4
    assert not (run_dir / "verdict.json").exists()  # a step run mixes load levels: the capacity report judges it
    # the simulator's component accounting over the run, for the capacity report's saturated component
    samples = [json.loads(line) for line in (run_dir / "components.jsonl").read_text().splitlines()]
    assert len(samples) >= 2 and samples[-1]["components"]["gotrue"]["calls"] > 0


def test_a_capacity_run_whose_requests_fail_exits_with_the_capacity_reports_code_not_locusts_1(tmp_path):
    """Past capacity requests fail by design: Locust's own exit 1 ("some requests failed", which the harness's exit
    codes read as bad input) gives way to the capacity report's verdict on the same folder."""
    results_root = tmp_path / "results"
    completed = subprocess.run(launcher("capacity", "--step-users", "2", "--step-seconds", "3", "--steps", "2",
                                        "--time-scale", "0.05", "--profile", "outage",
                                        "--results-root", str(results_root)),
                               cwd=ROOT, env=clean_environment(), capture_output=True, text=True, timeout=180)  # fmt: skip
    run_dir = (results_root / "latest").resolve()
    failures = sum(row["num_failures"] for row in json.loads((run_dir / "locust.json").read_text()))
    assert failures > 0, (completed.stdout + completed.stderr)[-3000:]  # every request was answered 503
    report = subprocess.run([sys.executable, "-m", "analysis", "capacity", str(run_dir), "--baseline",
                             str(ROOT / "baselines" / "production.toml")],
                            cwd=ROOT, env=clean_environment(), capture_output=True, text=True, timeout=120)  # fmt: skip
    assert completed.returncode == report.returncode != 1, (completed.stdout + completed.stderr)[-3000:]


def test_perf_with_a_flag_the_launcher_does_not_know_runs_only_the_class_named(tmp_path):
    """``--otel`` takes no value: the class after it is still a class, and the only one (issue 17)."""
    results_root = tmp_path / "results"
    completed = subprocess.run(launcher("perf", "--otel", "ExportUser", "-t", "5s", "-u", "2", "--fixed-duration",
                                        "--no-report", "--no-preflight", "--time-scale", "0.05",
                                        "--results-root", str(results_root)),
                               cwd=ROOT, env=clean_environment(), capture_output=True, text=True, timeout=120)  # fmt: skip
    run_dir = (results_root / "latest").resolve()
    assert (run_dir / "manifest.json").is_file(), (completed.stdout + completed.stderr)[-3000:]
    assert json.loads((run_dir / "manifest.json").read_text())["options"]["user_classes"] == ["ExportUser"]
    sent = {row["name"] for row in json.loads((run_dir / "locust.json").read_text()) if row["num_requests"]}
    assert "/functions/v1/campaign-export-user-aware" in sent and "/functions/v1/enrichment-orchestrator" not in sent
