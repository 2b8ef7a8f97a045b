"""Which classes run: the default mix, named classes, and -T tags (real short runs against the simulator)."""

from __future__ import annotations

import json

import pytest

from tests.support.locust_runs import run_locust

pytestmark = pytest.mark.integration


def classes_run(run) -> list[str]:
    return json.loads((run.results_dir / "manifest.json").read_text())["options"]["user_classes"]


def test_no_class_named_runs_the_journey_only(simulator, tmp_path):
    run = run_locust(simulator.url, tmp_path / "run", users=2, seconds=3)
    assert run.returncode == 0, run.output[-2000:]
    assert classes_run(run) == ["ProspectorUser"]
    assert '"ProspectorUser": 2' in run.output


def test_a_tag_with_no_class_named_runs_every_class_that_has_such_a_task(simulator, tmp_path):
    run = run_locust(simulator.url, tmp_path / "run", "-T", "export", users=2, seconds=3)
    assert run.returncode == 0, run.output[-2000:]
    assert classes_run(run) == ["ExportUser"]
    sent = {key for key, row in run.entries().items() if row["num_requests"]}
    assert sent and all("campaign" in key or "token" in key for key in sent), sent


def test_named_classes_get_the_workload_weights(simulator, tmp_path):
    # [mix]: ProspectorUser 10, AuthUser 1: with 11 users Locust spawns 10 and 1.
    run = run_locust(simulator.url, tmp_path / "run", "ProspectorUser", "AuthUser", users=11, seconds=3)
    assert run.returncode == 0, run.output[-2000:]
    assert '"AuthUser": 1' in run.output and '"ProspectorUser": 10' in run.output


def test_weights_given_with_config_users_win_over_the_workload_mix(simulator, tmp_path):
    # Locust's own --config-users weights win over workload.toml [mix] (and --mix perf); AuthUser keeps its [mix] weight of 1.
    config = '[{"user_class_name": "ProspectorUser", "weight": 1}, {"user_class_name": "ExportUser", "weight": 3}]'
    run = run_locust(simulator.url, tmp_path / "run", f"--config-users={config}", "ProspectorUser", "ExportUser",
                     "AuthUser", users=5, seconds=3)  # fmt: skip
    assert run.returncode == 0, run.output[-2000:]
    assert '"ExportUser": 3' in run.output and '"ProspectorUser": 1' in run.output and '"AuthUser": 1' in run.output
