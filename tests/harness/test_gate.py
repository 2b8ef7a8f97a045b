"""The in-run gate, in-process: a real Locust Environment and runner, the finalizer called as harness.results calls it."""

import json
from argparse import Namespace
from pathlib import Path

import pytest
from locust import FastHttpUser, task
from locust.argument_parser import get_parser
from locust.env import Environment

import harness.gate as gate
from analysis.exit_codes import ExitCode

REPO = Path(__file__).resolve().parents[2]
GOOD_MANIFEST = {
    "schema_version": 1, "partial": False, "stop_reason": "run-time", "scenario_hash": "h",
    "options": {"users": 2}, "generator": {"cpu_warning": False}, "load": {"intended_users": 2, "reached_users": 2},
}  # fmt: skip
BASELINE = """schema_version = 1
name = "gate-test"
[defaults]
p95_ms = 100
min_samples = 10
[endpoints."GET /fast"]
[business]
export_success_rate_min = 0.99
"""


class _User(FastHttpUser):
    host = "http://127.0.0.1:9"

    @task
    def nothing(self):
        pass


@pytest.fixture
def baseline_file(tmp_path):
    path = tmp_path / "baseline.toml"
    path.write_text(BASELINE)
    return path


def environment(baseline=None, reference=None) -> Environment:
    env = Environment(user_classes=[_User], parsed_options=Namespace(baseline=baseline and str(baseline), reference=reference))
    env.create_local_runner()
    return env


def record(env: Environment, name: str, times_ms: list[float], method: str = "GET") -> None:
    for ms in times_ms:
        env.runner.stats.log_request(method, name, ms, 10)


def test_finalizer_decides_writes_verdict_files_prints_table_and_sets_exit_code(tmp_path, baseline_file, capsys):
    env = environment(baseline_file)
    gate.prepare_gate(env)
    record(env, "/fast", [20.0] * 30)
    (tmp_path / "business_metrics.json").write_text(json.dumps({"schema_version": 1, "derived": {"export_success_rate": 0.5}}))
    gate.finalize_gate(env, tmp_path, GOOD_MANIFEST)
    assert env.process_exit_code == ExitCode.SLA_BREACHED  # the business rate, read from the results folder
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    assert [c["metric"] for c in verdict["failing"]] == ["export_success_rate"]
    for name in ("verdict.txt", "verdict.md", "verdict.junit.xml"):
        assert (tmp_path / name).stat().st_size > 0
    assert "Verdict: BREACH (exit 3)" in capsys.readouterr().out
    # The stats are read, never reset (stats.serialize_stats() would have emptied them).
    assert env.runner.stats.get("/fast", "GET").num_requests == 30


def test_pass_and_breach_from_live_stats(tmp_path, baseline_file):
    env = environment(baseline_file)
    gate.prepare_gate(env)
    record(env, "/fast", [20.0] * 40)  # 0 of 40 above: enough to pass a p95 (analysis/bounds.py)
    gate.finalize_gate(env, tmp_path, GOOD_MANIFEST)
    assert env.process_exit_code == ExitCode.OK
    record(env, "/fast", [500.0] * 40)  # now half the requests are slow: p95 500 > 100
    gate.finalize_gate(env, tmp_path, GOOD_MANIFEST)
    assert env.process_exit_code == ExitCode.SLA_BREACHED


def test_a_guard_exit_code_is_kept(tmp_path, baseline_file):
    env = environment(baseline_file)
    gate.prepare_gate(env)
    record(env, "/fast", [20.0] * 30)
    env.process_exit_code = int(ExitCode.STOPPED_BY_GUARD)
    gate.finalize_gate(env, tmp_path, GOOD_MANIFEST)
    assert env.process_exit_code == ExitCode.STOPPED_BY_GUARD


def test_guard_stop_reason_in_manifest_gives_6(tmp_path, baseline_file):
    env = environment(baseline_file)
    gate.prepare_gate(env)
    record(env, "/fast", [20.0] * 30)
    gate.finalize_gate(env, tmp_path, {**GOOD_MANIFEST, "partial": True, "stop_reason": "spend-guard"})
    assert env.process_exit_code == ExitCode.STOPPED_BY_GUARD


def test_a_run_without_baseline_is_left_alone(tmp_path):
    # (Workers are skipped too: shown by the real --processes run in test_gate_headless.py.)
    plain = environment(None)
    gate.prepare_gate(plain)
    record(plain, "/fast", [500.0] * 30)
    gate.finalize_gate(plain, tmp_path, GOOD_MANIFEST)
    assert plain.process_exit_code is None
    assert not (tmp_path / "verdict.json").exists()


def test_bad_baseline_stops_before_load_with_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('schema_version = 1\nname = "x"\n[defaults]\np95 = 1\n')
    with pytest.raises(SystemExit) as exited:
        gate.prepare_gate(environment(bad))
    assert exited.value.code == ExitCode.BAD_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {bad}: defaults.p95: unknown key (check the spelling; see analysis/baseline.py for the keys a baseline may hold)"]


def test_reference_without_baseline_is_bad_input(tmp_path):
    with pytest.raises(SystemExit) as exited:
        gate.prepare_gate(environment(None, reference=str(tmp_path / "r.json")))
    assert exited.value.code == ExitCode.BAD_INPUT


def test_corrupt_business_metrics_is_one_line_and_exit_1(tmp_path, baseline_file, capsys):
    env = environment(baseline_file)
    gate.prepare_gate(env)
    record(env, "/fast", [20.0] * 30)
    (tmp_path / "business_metrics.json").write_text("{")
    gate.finalize_gate(env, tmp_path, GOOD_MANIFEST)
    assert env.process_exit_code == ExitCode.BAD_INPUT
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'business_metrics.json'}: invalid JSON")


def test_options_come_from_locust_conf_and_the_environment(tmp_path, monkeypatch):
    conf = tmp_path / "locust.conf"
    conf.write_text("baseline = baselines/production.toml\n")
    assert get_parser(default_config_files=[str(conf)]).parse_args([]).baseline == "baselines/production.toml"
    monkeypatch.setenv("LOCUST_BASELINE", "from-env.toml")
    monkeypatch.setenv("LOCUST_REFERENCE", "ref.json")
    options = get_parser(default_config_files=[]).parse_args([])
    assert (options.baseline, options.reference) == ("from-env.toml", "ref.json")
