"""harness/results.py: the results folder, manifest.json, writers and finalizers, in real headless Locust runs.

The locustfile used here sends no HTTP: it fires Locust request events itself, so these runs need no target and
take about two seconds each.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness import results

ROOT = Path(__file__).resolve().parents[2]
LOCUST = [sys.executable, "-m", "locust"]

LOCUSTFILE = textwrap.dedent(
    '''
    import json, os
    from pathlib import Path
    from locust import User, constant, task, events
    import harness.results as results

    class EventUser(User):
        wait_time = constant(0.05)

        @task
        def pretend_request(self):
            self.environment.events.request.fire(request_type="GET", name="/pretend", response_time=1.0,
                                                  response_length=0, exception=None, context={})

    calls = []

    @results.register_artifact_writer
    def write_extra(environment, results_dir):
        calls.append("writer")
        (results_dir / "extra.json").write_text(json.dumps({"manifest_exists_yet": (results_dir / "manifest.json").exists()}))

    def broken_writer(environment, results_dir):
        if os.environ.get("BREAK_A_WRITER"):
            raise RuntimeError("this writer is broken on purpose")

    results.register_artifact_writer(broken_writer)

    @results.register_finalizer
    def finalize(environment, results_dir, manifest):
        calls.append("finalizer")
        (results_dir / "final.json").write_text(json.dumps({"calls": calls, "stop_reason": manifest["stop_reason"],
                                                            "file_has_manifest": json.loads((results_dir / "manifest.json").read_text())["run_id"]}))
        if os.environ.get("GUARD_TRIPS"):
            environment.process_exit_code = 0  # a finalizer that says "pass" cannot hide a guard stop

    @events.test_start.add_listener
    def trip_a_guard_soon(environment, **kwargs):
        import gevent

        def guard():
            results.record_stop_reason(environment, "safety", "pretend cap reached")
            results.record_stop_reason(environment, "error", "a consequence, not the cause")
            environment.runner.quit()

        if os.environ.get("GUARD_TRIPS"):
            gevent.spawn_later(0.5, guard)
    '''
)


def run_locust(tmp_path: Path, *extra: str, env_extra: dict | None = None, run_time: str = "2s") -> subprocess.CompletedProcess:
    locustfile = tmp_path / "locustfile_results.py"
    locustfile.write_text(LOCUSTFILE)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **(env_extra or {})}
    command = [*LOCUST, "-f", str(locustfile), "--headless", "-u", "2", "-r", "10", "-t", run_time,
               "--host", "http://127.0.0.1:9", "--only-summary", *extra]  # fmt: skip
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.integration
def test_a_run_writes_its_manifest_then_runs_writers_and_finalizers_in_order(tmp_path):
    completed = run_locust(tmp_path, "--results-dir", str(tmp_path / "results" / "run-a"),
                           "--simulator-profile", "healthy", "--simulator-seed", "7", "--simulator-time-scale", "0.5")
    assert completed.returncode == 0, completed.stderr[-2000:]
    run_dir = tmp_path / "results" / "run-a"
    manifest = json.loads((run_dir / "manifest.json").read_text())

    assert manifest["schema_version"] == 1
    assert manifest["run_id"] == "run-a"
    assert manifest["stop_reason"] == "run-time" and manifest["partial"] is False
    assert manifest["started_at"].endswith("Z") and manifest["ended_at"] >= manifest["started_at"]
    assert manifest["target"] == {"url": "http://127.0.0.1:9", "kind": "simulator",
                                  "simulator": {"profile": "healthy", "seed": 7, "time_scale": 0.5, "job_time_scale": None,
                                                "extra_args": ""}}  # fmt: skip
    assert manifest["options"]["users"] == 2 and manifest["options"]["run_time_s"] == 2
    assert manifest["options"]["user_classes"] == ["EventUser"]
    assert manifest["load"] == {"intended_users": 2, "reached_users": 2, "workers_lost": 0, "workers_lost_ids": []}
    assert len(manifest["scenario_hash"]) == 64
    assert manifest["versions"]["locust"] == "2.47.0"
    assert manifest["generator"]["cpu_warning"] in (False, True)

    # Writers ran before the manifest was written, finalizers after, and they saw the same manifest.
    assert json.loads((run_dir / "extra.json").read_text()) == {"manifest_exists_yet": True}  # the early partial one
    final = json.loads((run_dir / "final.json").read_text())
    assert final == {"calls": ["writer", "finalizer"], "stop_reason": "run-time", "file_has_manifest": "run-a"}

    latest = tmp_path / "results" / "latest"
    assert latest.is_symlink() and latest.resolve() == run_dir.resolve()


@pytest.mark.integration
def test_default_folder_is_a_fresh_run_id_and_latest_follows_the_newest_run(tmp_path):
    first = run_locust(tmp_path, run_time="1s")
    second = run_locust(tmp_path, run_time="1s")
    assert first.returncode == 0 and second.returncode == 0, second.stderr[-2000:]
    runs = sorted(p.name for p in (tmp_path / "results").iterdir() if p.name != "latest")
    assert len(runs) == 2 and all(len(name) == len("20261126-212500-abcdef") for name in runs)
    manifests = {name: json.loads((tmp_path / "results" / name / "manifest.json").read_text()) for name in runs}
    newest = max(runs, key=lambda name: manifests[name]["started_at"] + name)
    assert (tmp_path / "results" / "latest").resolve().name == newest


@pytest.mark.integration
def test_a_broken_writer_is_one_log_line_and_a_failing_exit_code_and_other_files_still_appear(tmp_path):
    completed = run_locust(tmp_path, "--results-dir", str(tmp_path / "r"), env_extra={"BREAK_A_WRITER": "1"}, run_time="1s")
    assert completed.returncode == 2
    assert "broken_writer failed: RuntimeError: this writer is broken on purpose" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert (tmp_path / "r" / "manifest.json").exists() and (tmp_path / "r" / "final.json").exists()
    assert json.loads((tmp_path / "r" / "manifest.json").read_text())["stop_reason"] == "run-time"


@pytest.mark.integration
def test_a_guard_stop_keeps_exit_code_6_whatever_a_finalizer_says(tmp_path):
    completed = run_locust(tmp_path, "--results-dir", str(tmp_path / "r"), env_extra={"GUARD_TRIPS": "1"}, run_time="5s")
    assert completed.returncode == 6, completed.stderr[-2000:]
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert (manifest["stop_reason"], manifest["stop_detail"], manifest["partial"]) == ("safety", "pretend cap reached", True)


def test_redact_url_drops_credentials_query_and_fragment():
    assert results.redact_url("https://user:secret@abc.supabase.co:8443/x?apikey=sb_secret#frag") == "https://abc.supabase.co:8443/x"
    assert results.redact_url(None) is None


def test_run_ids_sort_by_time_and_differ_within_a_second():
    from datetime import datetime, timezone

    moment = datetime(2026, 11, 26, 21, 25, 0, tzinfo=timezone.utc)
    first, second = results.new_run_id(moment), results.new_run_id(moment)
    assert first.startswith("20261126-212500-") and first != second


def test_scenario_hash_changes_when_a_scenario_file_changes(tmp_path):
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "a.py").write_text("x = 1\n")
    (tmp_path / "locustfile.py").write_text("")
    before = results.scenario_hash(tmp_path)
    assert results.scenario_hash(tmp_path) == before
    (tmp_path / "scenarios" / "workload.toml").write_text("weight = 2\n")
    assert results.scenario_hash(tmp_path) != before


def test_unknown_stop_reason_is_refused():
    with pytest.raises(ValueError, match="not one of"):
        results.record_stop_reason(object(), "because")


@pytest.mark.parametrize(("headless", "state", "expected"), [
    (False, "stopped", "stopped"),      # web UI: the person stopped the test, then quit Locust: a complete run
    (False, "running", "interrupted"),  # web UI: quit while the test still ran
    (True, "stopped", "interrupted"),   # headless: only its run time or shape ends a run as planned
])  # fmt: skip
def test_a_test_stopped_in_the_web_ui_then_quit_is_complete_not_interrupted(tmp_path, headless, state, expected):
    from argparse import Namespace

    from locust import FastHttpUser
    from locust.env import Environment

    class Idle(FastHttpUser):
        host = "http://127.0.0.1:9"

    environment = Environment(user_classes=[Idle], parsed_options=Namespace(headless=headless, run_time=None))
    environment.create_local_runner().state = state  # what Locust's runner says when `quitting` fires
    record = results._RunRecord(results_dir=tmp_path, run_id="run-a")
    assert results._stop_reason(environment, record) == expected
    assert (expected in results.COMPLETE_STOP_REASONS) == (expected == "stopped")


def _hash_of(tmp_path, source: str) -> str:
    (tmp_path / "scenarios").mkdir(exist_ok=True)
    (tmp_path / "scenarios" / "a.py").write_text(source)
    (tmp_path / "locustfile.py").write_text("import scenarios.a\n")
    return results.scenario_hash(tmp_path)


SCENARIO = '''
from __future__ import annotations
from dataclasses import dataclass


@dataclass
class Search:
    query: str
    limit: int = 10


def pause(seconds, scale=0.25):
    total = seconds * scale
    return total
'''


def test_scenario_hash_ignores_comments_docstrings_annotations_and_layout(tmp_path):
    """A reference stays comparable across a commit that changes no behaviour (issue 18's benchmark lost its
    reference to a typing-only commit)."""
    before = _hash_of(tmp_path, SCENARIO)
    annotated = SCENARIO.replace("def pause(seconds, scale=0.25):",
                                 'def pause(seconds: float, scale: float = 0.25) -> float:  # why 0.25: see README\n'
                                 '    """Think time, compressed."""')
    annotated = annotated.replace("    total = seconds * scale", "    total: float = (\n        seconds * scale\n    )")
    assert _hash_of(tmp_path, annotated) == before


@pytest.mark.parametrize(("old", "new"), [
    ("scale=0.25", "scale=0.5"),            # a default value
    ("limit: int = 10", "limit: str = 10"),  # a field's type: a dataclass or pydantic model acts on it
    ("seconds * scale", "seconds / scale"),  # an operation
    ("return total", "return None"),
])  # fmt: skip
def test_scenario_hash_changes_with_any_change_to_what_runs(tmp_path, old, new):
    before = _hash_of(tmp_path, SCENARIO)
    assert old in SCENARIO
    assert _hash_of(tmp_path, SCENARIO.replace(old, new)) != before


def test_scenario_hash_of_a_file_that_does_not_parse_still_differs(tmp_path):
    assert _hash_of(tmp_path, "def broken(:\n") != _hash_of(tmp_path, "def broken(): pass\n")
