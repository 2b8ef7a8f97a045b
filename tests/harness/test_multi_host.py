"""Beyond one machine: the simulator, the master and two workers each on a host of its own (a network namespace with its
own address), each Locust process run from its own copy of the project in its own folder, nothing shared on disk.

What it proves, on real runs:
* Locust's merged counts equal what the simulator served; the merged intervals equal locust.json exactly;
* business metrics (merged on the master from the workers' reports) add up to what the simulator served;
* the verdict is decided once, on the master: no worker folder holds a verdict or any result file;
* a worker killed mid-run makes the run not valid (exit 5), and the verdict names that worker.

The hosts are 10.231.<n>.x addresses on a bridge this test creates and removes (tests/support/netns.py); the
target is therefore not loopback, so the runs set PP_ALLOW_REMOTE_TARGET=true, as a real multi-host run against a
staging project would.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from analysis.histogram import Histogram
from analysis.intervals import load_intervals
from harness.simulator_process import SimulatorProcess, start_simulator
from tests.harness.test_workers import copy_project
from tests.support.locust_runs import clean_environment, recorded_per_simulator_key, served_per_key, LocustRun
from tests.support.netns import NamespaceUnavailable, TestHost, namespace_network
from tests.support.processes import stop_all

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
BASELINE = HERE / "multi_host_baseline.toml"
MASTER_PORT = "5557"  # every host has its own address, so Locust's default port collides with nobody
RUN_SECONDS = 14
USERS = 12


@dataclass
class Hosts:
    network: dict[str, TestHost]
    simulator: SimulatorProcess


@pytest.fixture(scope="module")
def hosts() -> Iterator[Hosts]:
    try:
        with namespace_network("sim", "master", "worker1", "worker2") as network:
            simulator = start_simulator("--host", network["sim"].address, "--time-scale", "0.05",
                                        wrapper=network["sim"].command())  # fmt: skip
            try:
                yield Hosts(network, simulator)
            finally:
                simulator.stop()
    except NamespaceUnavailable as why:
        pytest.skip(f"no test hosts for a multi-host run: {why}")


def _environment(project: Path) -> dict[str, str]:
    environment = clean_environment(PP_ALLOW_REMOTE_TARGET="true", PP_SPEND_CEILING_USD="100000")
    environment["PYTHONPATH"] = str(project)
    return environment


def _run(hosts: Hosts, tmp_path: Path, kill_worker_after_s: float | None = None) -> tuple[LocustRun, list[Path]]:
    """One master/two-worker run; each process in its namespace, in its own copy of the project."""
    network = hosts.network
    processes: dict[str, subprocess.Popen] = {}
    folders = {name: copy_project(tmp_path / name) for name in ("master", "worker1", "worker2")}
    results = folders["master"] / "results" / "run"

    def start(name: str, *args: str) -> None:
        project = folders[name]
        command = [sys.executable, "-m", "locust", "-f", str(project / "locustfile.py"), *args]
        with open(tmp_path / f"{name}.log", "w") as console:
            processes[name] = subprocess.Popen(network[name].command(*command), cwd=project, env=_environment(project),
                                               stdout=console, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)  # fmt: skip

    try:
        start("master", "--master", "--headless", "--only-summary", "--expect-workers", "2",
              "--master-bind-host", network["master"].address, "--master-bind-port", MASTER_PORT,
              "-u", str(USERS), "-r", str(USERS), "-t", f"{RUN_SECONDS}s", "--stop-timeout", "20",
              "--host", hosts.simulator.url, "--baseline", str(BASELINE), "--results-dir", str(results),
              "--csv", str(results / "locust"), "--json-file", str(results / "locust"), "--interval-seconds", "2",
              "ProspectorUser", "EnrichmentUser", "ExportUser")  # fmt: skip
        for worker in ("worker1", "worker2"):
            start(worker, "--worker", "--master-host", network["master"].address, "--master-port", MASTER_PORT)
        if kill_worker_after_s is not None:
            _wait_for_text(tmp_path / "master.log", "All users spawned", processes["master"])
            time.sleep(kill_worker_after_s)
            processes["worker2"].send_signal(signal.SIGKILL)  # gone without a word, as a lost host is
        returncode = processes["master"].wait(timeout=RUN_SECONDS + 120)
    finally:
        stop_all(processes.values())
    output = (tmp_path / "master.log").read_text()
    return LocustRun(results, returncode, output), [folders["worker1"], folders["worker2"]]


def _wait_for_text(log: Path, text: str, process: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert process.poll() is None and time.monotonic() < deadline, f"no {text!r} in {log.name}"
        time.sleep(0.2)


def test_a_run_across_hosts_loses_nothing_and_decides_once_on_the_master(hosts, tmp_path):
    hosts.simulator.reset_stats()
    run, worker_folders = _run(hosts, tmp_path)
    assert run.returncode == 0, run.output[-4000:]
    manifest = json.loads((run.results_dir / "manifest.json").read_text())
    assert manifest["options"]["workers"] == 2 and manifest["load"]["workers_lost"] == 0

    # Locust's merged counts equal what the simulator served, endpoint by endpoint.
    served = served_per_key(hosts.simulator.stats())
    assert recorded_per_simulator_key(run) == served

    # The merged intervals equal locust.json exactly: counts, failures and every histogram bucket.
    entries = run.entries()
    series = load_intervals(run.results_dir)
    assert set(series.endpoints) == set(entries)
    for key, entry in entries.items():
        endpoint = series.endpoints[key]
        assert endpoint.requests.sum() == entry["num_requests"], key
        assert endpoint.failures.sum() == entry["num_failures"], key
        assert endpoint.merged() == Histogram.from_dict(entry["response_times"]), key

    # Business metrics, merged on the master from both workers' reports, add up to what the target served.
    business = json.loads((run.results_dir / "business_metrics.json").read_text())["counts"]
    assert business["enrichment_calls"] == served.get("POST /functions/v1/enrichment-orchestrator", 0) > 0
    assert business["exports_attempted"] == served.get("POST /functions/v1/campaign-export-user-aware", 0) > 0
    discovery = sum(served.get(f"POST /functions/v1/business-discovery-{kind}", 0) for kind in ("background", "optimized"))
    assert business["discovery_submitted"] == discovery > 0

    # Decided once, on the master: the verdict is there, and no worker wrote any result file of its own.
    assert json.loads((run.results_dir / "verdict.json").read_text())["exit_code"] == 0
    assert run.output.count("Counts: ") == 1
    for folder in worker_folders:
        assert not (folder / "results").exists(), sorted((folder / "results").rglob("*"))
        assert "Counts: " not in (tmp_path / f"{folder.name}.log").read_text()


def test_a_worker_lost_mid_run_makes_the_run_not_valid_and_is_named(hosts, tmp_path):
    run, _ = _run(hosts, tmp_path, kill_worker_after_s=3.0)
    assert run.returncode == 5, run.output[-4000:]
    manifest = json.loads((run.results_dir / "manifest.json").read_text())
    lost = manifest["load"]["workers_lost_ids"]
    assert manifest["load"]["workers_lost"] == 1 and len(lost) == 1
    verdict = json.loads((run.results_dir / "verdict.json").read_text())
    assert any(f"1 worker(s) lost during the run: {lost[0]}" in problem for problem in verdict["validity_problems"]), verdict
    assert f"1 worker(s) lost during the run: {lost[0]}" in run.output
