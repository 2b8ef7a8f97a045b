"""The open workload model (--arrival-rate): rate plans and the split of one arrival stream, then real headless runs
against the embedded simulator: a local run, a master with two workers, and a pool too small for its rate."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.histogram import Histogram
from analysis.intervals import load_intervals
from analysis.baseline import load_baseline
from analysis.capacity_open import offered_levels
from analysis.openmodel import ArrivalSummary, RatePlan, arrival_offsets, arrival_problems
from analysis.results import load_run
from tests.support.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


# ---- rate plans and streams (pure) ---------------------------------------------------------------------------------
def test_rate_plans_integrate_and_invert():
    step = RatePlan("step", rate=10, step_seconds=4, steps=3)
    assert step.duration_s == 12 and step.peak_rate == 30
    assert step.cumulative(12) == pytest.approx(40 + 80 + 120)
    ramp = RatePlan("ramp", rate=10, ramp_seconds=10, hold_seconds=5)
    assert ramp.cumulative(10) == pytest.approx(50) and ramp.cumulative(15) == pytest.approx(100)
    for plan in (step, ramp, RatePlan("constant", rate=3)):
        for t in (0.5, 3.3, 7.0, 11.9):
            assert plan.time_of(plan.cumulative(t)) == pytest.approx(t)
    assert step.time_of(241) is None and RatePlan("constant", rate=3).duration_s is None


def test_even_spacing_sends_exactly_the_plan():
    plan = RatePlan("step", rate=5, step_seconds=2, steps=2)  # 10 + 20 arrivals, the first at 0
    offsets = [offset for _, offset in arrival_offsets(plan, "even", seed=1)]
    assert len(offsets) == 30 and offsets[:3] == pytest.approx([0.0, 0.2, 0.4])
    assert offsets == sorted(offsets) and offsets[-1] < 4


@pytest.mark.parametrize("spacing", ["even", "poisson"])
@pytest.mark.parametrize("of", [2, 3, 5])
def test_shares_interleave_into_the_whole_stream(spacing, of):
    plan = RatePlan("ramp", rate=40, ramp_seconds=5, hold_seconds=5)
    whole = list(arrival_offsets(plan, spacing, seed=7))
    shares = [list(arrival_offsets(plan, spacing, seed=7, slot=slot, of=of)) for slot in range(of)]
    assert sorted(arrival for share in shares for arrival in share) == whole
    assert max(len(share) for share in shares) <= math.ceil(len(whole) / of)
    assert max(map(len, shares)) - min(map(len, shares)) <= 1


def test_poisson_stream_has_the_plan_s_mean_and_variance():
    plan = RatePlan("constant", rate=50)
    gaps = []
    previous = 0.0
    for number, offset in arrival_offsets(plan, "poisson", seed=3):
        if number >= 20_000:
            break
        gaps.append(offset - previous)
        previous = offset
    mean = sum(gaps) / len(gaps)
    variance = sum((gap - mean) ** 2 for gap in gaps) / len(gaps)
    assert mean == pytest.approx(1 / 50, rel=0.03)
    assert math.sqrt(variance) == pytest.approx(1 / 50, rel=0.05)  # exponential gaps: sd = mean


def _summary(**changes):
    summary = {"plan": {}, "spacing": "even", "seed": 1, "pool_users": 5, "duration_s": 10.0, "target_rate": 10.0,
               "due": 100, "started": 100, "dropped": 0, "missed": 0, "late": 0, "late_ms": 50.0, "max_lag_ms": 1.0,
               "achieved_rate": 10.0, "tolerance": 0.01}  # fmt: skip
    return {**summary, **changes}


def test_validity_rules():
    assert arrival_problems(None) == [] and arrival_problems(_summary()) == []
    assert arrival_problems(_summary(started=99, dropped=1)) == []  # within 1 %
    (problem,) = arrival_problems(_summary(started=97, dropped=3))
    assert "3 of 100 arrivals dropped" in problem and "target 10/s" in problem
    (problem,) = arrival_problems(_summary(started=90, missed=10, achieved_rate=9.0))
    assert "arrival rate not reached" in problem and "achieved 9/s of target 10/s" in problem


# ---- real runs -----------------------------------------------------------------------------------------------------
BASELINE = """schema_version = 1
name = "open-model-test"
[defaults]
p95_ms = 3000
max_ms = 10000
fail_ratio = 0.2
min_samples = 20
[endpoints."GET /auth/v1/user"]
p95_ms = 500
"""


def _launch(root: Path, name: str, *args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "harness", "perf", "--results-root", str(root / name), "--no-report",
               "--time-scale", "0.05", "--baseline", str(root / "baseline.toml"), "SessionCheckArrivalUser", *args]  # fmt: skip
    return subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three runs at once (each light): local even-spaced, master + 2 workers Poisson, and an undersized pool."""
    root = tmp_path_factory.mktemp("open")
    port = free_port()
    (root / "baseline.toml").write_text(BASELINE, encoding="utf-8")
    processes = {
        "local": _launch(root, "local", "--arrival-rate", "20", "--arrival-spacing", "even", "-u", "8", "-t", "6s"),
        # its own master port: a worker of some other run on this machine must not join this master
        "split": _launch(root, "split", "--arrival-rate", "30", "--arrival-seed", "11", "-u", "12", "-t", "9s",
                         "--processes", "2", "--master-bind-port", str(port), "--master-port", str(port)),
        # an open-model step run, for the capacity verb: 10 then 20 arrivals/s, 1 s intervals
        "step": _launch(root, "step", "--arrival-rate", "10", "--arrival-shape", "step", "--arrival-steps", "2",
                        "--arrival-step-seconds", "6", "--arrival-spacing", "even", "-u", "8", "--interval-seconds", "1"),
        # 100 ms per request at 40/s needs 4 users; 1 drops most arrivals
        "undersized": _launch(root, "undersized", "--arrival-rate", "40", "-u", "1", "-t", "4s",
                              "--simulator-arg=--service-time=auth-user=100"),
    }  # fmt: skip
    done = {}
    try:
        for name, process in processes.items():
            output, _ = process.communicate(timeout=120)
            folder = root / name / "latest"
            done[name] = (process.returncode, output, folder)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
    return done


def _arrivals(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())["arrivals"]


def test_local_open_run_sends_its_rate_and_records_both_latencies(runs):
    code, output, folder = runs["local"]
    assert code == 0, output[-3000:]
    assert "SLA view:" not in output  # the live view (and /metrics) decide open runs too, every 2 s
    arrivals = _arrivals(folder)
    assert arrivals["dropped"] == 0 and arrivals["missed"] <= 1  # one may fall due in the instant the run stops
    # even spacing: exactly one arrival per 1/20 s of the time arrivals ran (the first at 0)
    assert abs(arrivals["due"] - (arrivals["duration_s"] * 20 + 1)) < 1 + 0.001 * 20  # duration_s is rounded to ms
    assert arrivals["started"] == arrivals["due"] - arrivals["missed"]
    service = {e["name"]: e for e in json.loads((folder / "locust.json").read_text())}
    corrected = {e["name"]: e for e in json.loads((folder / "locust_corrected.json").read_text())}
    assert {n: e["num_requests"] for n, e in corrected.items()} == {n: e["num_requests"] for n, e in service.items()}
    # one request per arrival, but for those the stop cut short (at most the pool's 8)
    assert arrivals["started"] - 8 <= corrected["/auth/v1/user"]["num_requests"] <= arrivals["started"]
    # latency from the intended start is never below the service time
    assert corrected["/auth/v1/user"]["total_response_time"] >= service["/auth/v1/user"]["total_response_time"]
    run = load_run(folder)
    assert run.service_endpoints is not None and set(run.service_endpoints) == set(run.endpoints)


def test_master_and_workers_split_the_rate_exactly(runs):
    code, output, folder = runs["split"]
    assert code == 0, output[-3000:]
    assert "SLA view:" not in output
    arrivals = _arrivals(folder)
    workers = arrivals["workers"]
    assert sorted(workers) == ["0", "1"]
    total = sum(worker["due"] for worker in workers.values())
    assert total == arrivals["due"]
    for counts in [arrivals, *workers.values()]:  # every due arrival is started, dropped or missed, once
        assert counts["started"] + counts["dropped"] + counts["missed"] == counts["due"]
    # 12 users for 30/s of ~20 ms requests: none should find its pool busy, but a stalled process on a busy machine
    # may drop one; the run stays valid (exit 0 above) while drops are within the 1 % validity tolerance.
    assert arrivals["dropped"] <= 0.01 * arrivals["due"]
    expected = 30 * arrivals["duration_s"]
    assert abs(total - expected) <= 3 * math.sqrt(expected) + 1  # Poisson spacing
    # every other arrival of one stream, begun and ended at the same moments: no worker above its share
    assert max(worker["due"] for worker in workers.values()) <= math.ceil(total / 2)
    assert workers["0"]["started_epoch"] == workers["1"]["started_epoch"]


def test_an_undersized_pool_drops_arrivals_and_the_run_is_not_valid(runs):
    code, output, folder = runs["undersized"]
    assert code == 5, output[-3000:]
    arrivals = _arrivals(folder)
    assert arrivals["dropped"] > 0.5 * arrivals["due"]
    verdict = json.loads((folder / "verdict.json").read_text())
    assert any("arrivals dropped" in problem for problem in verdict["validity_problems"])


def test_the_report_shows_rates_and_both_latencies_side_by_side(runs, tmp_path):
    _code, _output, folder = runs["local"]
    completed = subprocess.run([sys.executable, "-m", "analysis", "report", str(folder), "--baseline",
                                str(folder.parent.parent / "baseline.toml"), "--output", str(tmp_path)],
                               cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    markdown = (tmp_path / "report.md").read_text()
    arrivals = _arrivals(folder)
    assert "## Open model" in markdown
    assert f"| achieved rate | {arrivals['achieved_rate']:.3g} arrivals/s |" in markdown
    assert "| endpoint | requests | service p50 | service p95 | service p99 | corrected p50 |" in markdown
    side_by_side = markdown[markdown.index("| endpoint | requests | service p50"):].split("\n\n")[0]
    (row,) = [line for line in side_by_side.splitlines() if line.startswith("| GET /auth/v1/user |")]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    service_p99, corrected_p99 = (float(cells[i].removesuffix(" ms")) for i in (4, 7))
    assert corrected_p99 >= service_p99
    assert "open model" in (tmp_path / "report.html").read_text().lower()


@pytest.mark.parametrize("name", ["local", "split"])
def test_intervals_hold_both_latencies_and_add_up_to_the_json_files(runs, name):
    """intervals.jsonl's hist and corrected_hist, merged over the run, are locust.json's and locust_corrected.json's
    histograms (on a master, after the workers shipped theirs)."""
    _code, _output, folder = runs[name]
    service, corrected = load_intervals(folder), load_intervals(folder, latency="corrected")
    assert service.has_corrected
    for series, file in ((service, "locust.json"), (corrected, "locust_corrected.json")):
        for item in json.loads((folder / file).read_text()):
            key = f"{item['method']} {item['name']}"
            expected = Histogram.from_dict(item["response_times"], source=file, key=key)
            merged = series.merged_histogram(key)
            assert (merged.buckets.tolist(), merged.counts.tolist()) == (expected.buckets.tolist(), expected.counts.tolist())


def test_capacity_by_offered_load_reads_an_open_step_run(runs, tmp_path):
    code, output, folder = runs["step"]
    assert code == 0, output[-3000:]
    assert json.loads((folder / "manifest.json").read_text())["stop_reason"] == "shape"  # the plan ended the run
    series = load_intervals(folder, latency="corrected")
    summary = ArrivalSummary.model_validate(_arrivals(folder))
    levels = offered_levels(series, summary, load_baseline(folder.parent.parent / "baseline.toml"))
    assert [level.offered_rps for level in levels] == [10, 20]
    for level in levels:  # one request per arrival, all served: throughput follows the offered rate
        assert level.throughput_rps == pytest.approx(level.offered_rps, rel=0.2)
        assert level.stop_interval - level.first_interval >= 3  # whole 1 s intervals inside a 6 s step, less the first
    completed = subprocess.run([sys.executable, "-m", "analysis", "capacity", str(folder), "--baseline",
                                str(folder.parent.parent / "baseline.toml"), "--output", str(tmp_path)],
                               cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    markdown = (tmp_path / "capacity.md").read_text()
    assert "# Capacity by offered load" in markdown and "| offered arrivals/s | throughput req/s |" in markdown
    assert "| 10 |" in markdown and "| 20 |" in markdown
    assert (tmp_path / "capacity_plots" / "offered_load.png").is_file()


@pytest.mark.parametrize("args, message", [
    (["--arrival-rate", "2", "ProspectorUser"], "--arrival-rate needs a user class built on harness.arrivals.ArrivalUser"),
    (["ProspectorArrivalUser"], "ProspectorArrivalUser run(s) arrivals: give --arrival-rate"),
    (["--arrival-rate", "2", "--arrival-shape", "step", "--until-decided", "--baseline", "baselines/production.toml",
      "SessionCheckArrivalUser"], "--until-decided does not go with a step arrival plan"),
])  # fmt: skip
def test_open_model_misuse_is_one_line_and_exit_1(args, message, tmp_path):
    """Refused before any load: the host is a closed port nobody listens on."""
    completed = subprocess.run([sys.executable, "-m", "locust", "-f", str(REPO_ROOT / "locustfile.py"), "--headless",
                                "--host", f"http://127.0.0.1:{free_port()}", "-u", "1", "-t", "2s",
                                "--results-dir", str(tmp_path / "run"), *args],
                               cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert completed.returncode == 1, completed.stderr[-2000:]
    assert f"error: {message}" in completed.stderr and "Traceback" not in completed.stderr
