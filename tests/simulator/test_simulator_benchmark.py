"""benchmarks/bench_simulator.py in a short smoke mode, so the script cannot rot (its figures are not judged here)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.simulator_process import REPO_ROOT

pytestmark = pytest.mark.integration


def test_benchmark_runs_and_prints_every_ratio_and_the_fan_out():
    completed = subprocess.run([sys.executable, "benchmarks/bench_simulator.py", "--seconds", "1", "--users", "2",
                                "--warm-up", "1.5"],
                               cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]
    lines = completed.stdout.splitlines()
    for target in ("function", "rest", "enrichment"):
        ratio_line = next(line for line in lines if line.startswith(f"ratio {target}: "))
        assert float(ratio_line.split("= ")[1].split()[0]) > 0  # requests were really sent and measured
    fan_out = {line.split(":")[0].split()[1]: float(line.split(": ")[1].split()[0])
               for line in lines if line.startswith("fan-out ")}
    assert fan_out["rest"] == pytest.approx(1.0, abs=0.05)  # a REST read takes PostgREST's pool only
    assert fan_out["enrichment"] >= 4  # orchestrator + GoTrue + its siblings (each with their own getUser)


def test_benchmark_rejects_unbounded_settings():
    completed = subprocess.run([sys.executable, "benchmarks/bench_simulator.py", "--seconds", "600"],
                               cwd=REPO_ROOT, capture_output=True, text=True, timeout=30)
    assert completed.returncode == 1
    assert completed.stderr.strip() == "error: --seconds must be 1..60, --users 1..200 and --warm-up 0.5..30"
