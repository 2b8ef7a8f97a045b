"""A worker started from another version of the project is refused when it connects, before it can send load."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from harness.workers import identity, mismatch_line
from tests.support.locust_runs import ROOT, clean_environment, served_per_key
from tests.support.ports import free_port
from tests.support.processes import stop_all

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def project_parts() -> list[str]:
    """What a worker host needs of the project: every tracked top-level file and folder but tests, docs and such."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    not_run = {"tests", "benchmarks", "docs", "deploy", "dashboards"}
    return sorted({line.split("/", 1)[0] for line in tracked.splitlines()
                   if not line.startswith(".") and line.split("/", 1)[0] not in not_run})  # fmt: skip


def copy_project(destination: Path) -> Path:
    """The parts of the project a worker runs, in a folder of its own (as on another host)."""
    destination.mkdir(parents=True)
    for part in project_parts():
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, destination / part, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.is_file():
            shutil.copy2(source, destination / part)
    return destination


def test_the_mismatch_line_names_both_sides():
    master = identity()
    worker = {**master, "scenario_hash": "0" * 64}
    line = mismatch_line("host_abc", worker, master)
    assert line.startswith(f"worker host_abc refused: it runs harness {master['harness']} (scenario hash 000000000000)")
    assert f"the master runs harness {master['harness']} (scenario hash {master['scenario_hash'][:12]})" in line


@pytest.mark.integration
def test_a_worker_of_another_scenario_is_refused_before_any_load(simulator, tmp_path):
    same = copy_project(tmp_path / "same")
    other = copy_project(tmp_path / "other")
    with open(other / "scenarios" / "workload.toml", "a") as workload:
        workload.write("\n# this worker's mix was edited on its host\n")
    web, master_port = free_port(), free_port()
    master_log, same_log, other_log = (tmp_path / f"{name}.log" for name in ("master", "same", "other"))
    processes: list[subprocess.Popen] = []

    def start(project: Path, log: Path, *args: str) -> subprocess.Popen:
        environment = clean_environment()
        environment["PYTHONPATH"] = str(project)
        with open(log, "w") as console:
            process = subprocess.Popen([sys.executable, "-m", "locust", "-f", str(project / "locustfile.py"), *args],
                                       cwd=project, env=environment, stdout=console, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)  # fmt: skip
        processes.append(process)
        return process

    def workers() -> int:
        with _opener.open(f"http://127.0.0.1:{web}/stats/requests", timeout=5) as answer:
            return len(json.loads(answer.read())["workers"])

    try:
        start(ROOT, master_log, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(master_port),
              "--web-host", "127.0.0.1", "--web-port", str(web), "--host", simulator.url,
              "--results-dir", str(tmp_path / "results"))  # fmt: skip
        worker = ("--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port))
        refused = start(other, other_log, *worker)
        assert refused.wait(timeout=60) == 1, other_log.read_text()[-3000:]
        start(same, same_log, *worker)
        deadline = time.monotonic() + 60
        while True:
            try:
                if workers() == 1:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, same_log.read_text()[-3000:]
            time.sleep(0.2)
        time.sleep(1.0)  # the accepted worker stays connected
        assert processes[2].poll() is None and workers() == 1
    finally:
        stop_all(processes)
    errors = [line for line in other_log.read_text().splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "refused: it runs harness" in errors[0], other_log.read_text()[-3000:]
    assert "(scenario hash" in errors[0] and "start every worker from the master's version" in errors[0]
    assert errors[0].removeprefix("error: ") in master_log.read_text()  # the master says the same line
    assert "Traceback" not in other_log.read_text() + master_log.read_text()
    assert served_per_key(simulator.stats()) == {}  # it never got as far as a sign-in
