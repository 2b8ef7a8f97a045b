"""`python -m analysis capacity`: the report files, the plots' data, exit codes and one-line errors."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from itertools import takewhile
from pathlib import Path

import numpy as np
import pytest

from analysis.baseline import load_baseline
from analysis.capacity import analyse
from analysis.capacity_plots import errors_vs_users, latency_vs_users, throughput_vs_users
from analysis.cli import main
from analysis.exit_codes import ExitCode
from analysis.intervals import load_intervals
from tests.analysis.synthetic_steps import ENDPOINT, step_run, usl, write_intervals

REPO_ROOT = Path(__file__).resolve().parents[2]
BASELINE = Path(__file__).with_name("capacity_baseline.toml")
LEVELS = [2, 4, 6, 8, 10, 12, 14, 16]


def _results_folder(tmp_path: Path, rows, business: dict | None = None) -> Path:
    folder = tmp_path / "run"
    write_intervals(folder, rows)
    (folder / "locust.json").write_text("[]", encoding="utf-8")
    if business is not None:
        (folder / "business_metrics.json").write_text(json.dumps(business), encoding="utf-8")
    return folder


BUSINESS = {"schema_version": 1, "counts": {"discovery_accepted": 120}, "costs_usd": {},
            "derived": {"cost_per_discovery_usd": 0.05}}


def test_report_files_say_the_capacity_and_embed_the_plots(tmp_path, capsys):
    # Latency N / X(N) with X from the USL: its p95 first passes the 180 ms limit at 16 users; 10 % errors from
    # 12 users on break the 1 % error SLA earlier, so the capacity is 10 users.
    rows = step_run(LEVELS, usl(20.0, 0.05, 0.005), failure_rate=lambda users: 0.1 if users >= 12 else 0.0)
    folder = _results_folder(tmp_path, rows, BUSINESS)
    output = tmp_path / "report"
    code = main(["capacity", str(folder), "--baseline", str(BASELINE), "--output", str(output),
                 "--expected-users", "5", "--monthly-budget", "100"])
    assert code == ExitCode.OK
    markdown = (output / "capacity.md").read_text(encoding="utf-8")
    assert "SLA-bound capacity: 10 users; first breach at 12 users, bottleneck " + ENDPOINT in markdown
    assert re.search(r"Peak throughput \(USL\): 1\d\d req/s", markdown)
    assert "+100% headroom" in markdown  # 10 users of capacity against 5 expected
    assert "$0.0500" in markdown and "of the $100 budget" in markdown
    assert "the budget pays for 2,000 discoveries a month" in markdown  # $100 / $0.05
    assert "2.27 discoveries per user per active hour for 5 users x 176 h/month" in markdown  # 2000 / (5 x 176)
    for name in ("throughput_vs_users", "p95_vs_users", "errors_vs_users"):
        assert (output / "capacity_plots" / f"{name}.png").read_bytes().startswith(b"\x89PNG")
        assert f"capacity_plots/{name}.png" in markdown
    page = (output / "capacity.html").read_text(encoding="utf-8")
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 3 and all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "<code>" + ENDPOINT + "</code>" in page and "src=\"capacity_plots" not in page
    assert "SLA-bound capacity: 10 users" in capsys.readouterr().out
    assert "| HTTP errors |" in markdown and "failed jobs" not in markdown  # no jobs followed: no jobs column


def test_a_run_without_plateaus_writes_an_honest_report_and_exits_5(tmp_path):
    rows = step_run(list(range(1, 16)), usl(20.0, 0.05, 0.005), intervals_per_step=1, transient=False)
    folder = _results_folder(tmp_path, rows)
    assert main(["capacity", str(folder), "--baseline", str(BASELINE)]) == ExitCode.RUN_NOT_VALID
    markdown = (folder / "capacity.md").read_text(encoding="utf-8")
    assert "Not enough data" in markdown and "what to change:" in markdown
    assert "no business_metrics.json" in markdown
    assert "![" not in markdown  # no curve the data cannot carry


def test_too_few_plateaus_give_not_enough_data_but_still_a_capacity(tmp_path):
    folder = _results_folder(tmp_path, step_run([2, 4, 6], usl(20.0, 0.05, 0.005)))
    assert main(["capacity", str(folder), "--baseline", str(BASELINE)]) == ExitCode.OK
    markdown = (folder / "capacity.md").read_text(encoding="utf-8")
    assert "at least 6 users" in markdown
    assert "Not enough data" in markdown and "at least 4" in markdown and "--steps" in markdown


def test_plot_data_matches_the_analysis(tmp_path):
    series = load_intervals(write_intervals(tmp_path, step_run(LEVELS, usl(20.0, 0.05, 0.005))))
    baseline = load_baseline(BASELINE)
    analysis = analyse(series, baseline)
    data = throughput_vs_users(analysis)
    assert list(data.users) == LEVELS
    assert np.all(data.band_low <= data.curve_rps + 1e-9) and np.all(data.curve_rps <= data.band_high + 1e-9)
    assert data.peak_rps == analysis.fit.peak_throughput_rps.value
    assert (data.capacity_users, data.capacity_is_lower_bound) == (analysis.capacity.capacity_users, False)
    latency = latency_vs_users(analysis.detection.plateaus, baseline)
    assert latency.p95_limit_ms == {ENDPOINT: 180}
    assert list(latency.p95_ms[ENDPOINT]) == [p.endpoints[ENDPOINT].percentiles_ms[0.95] for p in analysis.detection.plateaus]
    errors = errors_vs_users(analysis.detection.plateaus, baseline)
    assert list(errors.error_rate) == [0.0] * len(LEVELS) and errors.by_endpoint == {}


@pytest.mark.parametrize(
    ("make_input", "message"),
    [
        (lambda tmp: tmp / "missing", "missing: not found"),
        (lambda tmp: tmp, "no intervals.jsonl (the harness's interval recorder) and no Locust stats history"),
        (lambda tmp: (tmp / "intervals.jsonl").write_text("{not json\n") and tmp, "line 1: invalid JSON"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(tmp_path, make_input, message):
    folder = make_input(tmp_path)
    completed = subprocess.run([sys.executable, "-m", "analysis", "capacity", str(folder), "--baseline", str(BASELINE)],
                               cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 1
    assert completed.stderr.startswith("error: ") and message in completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1 and "Traceback" not in completed.stderr


def test_bad_flag_values_are_usage_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["capacity", str(tmp_path), "--baseline", str(BASELINE), "--expected-users", "0"])
    assert exit_info.value.code == ExitCode.USAGE
    assert "--expected-users" in capsys.readouterr().err


def test_a_given_monthly_volume_is_projected_against_the_default_budget(tmp_path):
    folder = _results_folder(tmp_path, step_run(LEVELS, usl(20.0, 0.05, 0.005)), BUSINESS)
    assert main(["capacity", str(folder), "--baseline", str(BASELINE), "--monthly-discoveries", "3000"]) == ExitCode.OK
    markdown = (folder / "capacity.md").read_text(encoding="utf-8")
    # 3000 x $0.05 = $150 against the default $200 external-API budget
    assert "Monthly third-party cost: $150.00 for 3,000 discoveries at $0.0500 each: 75% of the $200 budget (within)" in markdown


def test_a_zero_budget_says_any_spend_is_over_it(tmp_path):
    # --monthly-budget 0 is a valid value: there is no share of it to give (it crashed with a TypeError once)
    folder = _results_folder(tmp_path, step_run(LEVELS, usl(20.0, 0.05, 0.005)), BUSINESS)
    code = main(["capacity", str(folder), "--baseline", str(BASELINE), "--monthly-discoveries", "3000", "--monthly-budget", "0"])
    assert code == ExitCode.OK
    markdown = (folder / "capacity.md").read_text(encoding="utf-8")
    assert "Monthly third-party cost: $150.00 for 3,000 discoveries at $0.0500 each: against a $0 budget (OVER)" in markdown


def test_cost_not_measured_is_said_not_guessed(tmp_path):
    unmeasured = {**BUSINESS, "derived": {"cost_per_discovery_usd": None}}
    folder = _results_folder(tmp_path, step_run(LEVELS, usl(20.0, 0.05, 0.005)), unmeasured)
    assert main(["capacity", str(folder), "--baseline", str(BASELINE), "--expected-users", "3"]) == ExitCode.OK
    assert "cost per discovery was not measured in this run" in (folder / "capacity.md").read_text(encoding="utf-8")


def test_derived_timings_are_left_out_of_the_latency_plot(tmp_path):
    job = "JOB business-discovery-background submit->completed"
    rows = step_run([2, 4], usl(20.0, 0.05, 0.005), transient=False)
    for row in rows:
        row["endpoints"][job] = {"requests": 1, "failures": 0, "hist": {"60000": 1}}
    plateaus = analyse(load_intervals(write_intervals(tmp_path, rows)), None).detection.plateaus
    assert all(job in p.endpoints for p in plateaus)  # judged like any entry...
    assert set(latency_vs_users(plateaus, None).p95_ms) == {ENDPOINT}  # ...but not drawn among the responses


JOB = "JOB business-discovery-background submit->completed"


def test_failed_jobs_stand_beside_the_http_errors_that_do_not_count_them(tmp_path):
    """A plateau whose requests all succeed but whose jobs fail: "HTTP errors" 0 %, "failed jobs" 30 %, and the JOB
    entry breaking on its 5 % limit says "failed jobs", in the Markdown and in the HTML report alike."""
    rows = step_run([2, 4, 6, 8], usl(20.0, 0.05, 0.005))
    for row in rows:  # 10 jobs ended per interval; 3 of them failed from 6 users on
        row["endpoints"][JOB] = {"requests": 10, "failures": 3 if row["user_count"] >= 6 else 0,
                                 "hist": {"1500": 10}}  # fmt: skip
    folder = _results_folder(tmp_path, rows)
    baseline = tmp_path / "jobs.toml"
    baseline.write_text(f'schema_version = 1\nname = "jobs"\n[endpoints."{ENDPOINT}"]\nfail_ratio = 0.01\n'
                        f'[endpoints."{JOB}"]\nfail_ratio = 0.05\n')  # fmt: skip
    assert main(["capacity", str(folder), "--baseline", str(baseline)]) == ExitCode.OK
    markdown = (folder / "capacity.md").read_text(encoding="utf-8")
    header = next(line for line in markdown.splitlines() if line.startswith("| users | steady s"))
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    assert "errors" not in columns and {"HTTP errors", "failed jobs"} <= set(columns)
    table = takewhile(lambda line: line.startswith("| "), markdown.split(header + "\n", 1)[1].splitlines()[1:])
    plateaus = {int(cells[0]): dict(zip(columns, cells))
                for cells in ([c.strip() for c in line.strip("|").split("|")] for line in table)}  # fmt: skip
    for users, row in plateaus.items():
        http = re.fullmatch(r"0\.00% \(0/(\d+)\)", row["HTTP errors"])
        jobs = re.fullmatch(r"(\d+\.\d\d)% \((\d+)/(\d+)\)", row["failed jobs"])
        assert http and int(http.group(1)) > 0 and jobs, row
        failed, ended = int(jobs.group(2)), int(jobs.group(3))
        assert ended % 10 == 0 and failed == (3 * ended // 10 if users >= 6 else 0), row  # whole intervals of the plateau
        assert (row["SLAs"], "failed jobs 30.0% > 5.0%" in row["breaches"]) == (("BREACHED", True) if users >= 6 else ("holds", False))
    assert sorted(plateaus) == [2, 4, 6, 8]
    assert "SLA-bound capacity: 4 users; first breach at 6 users, bottleneck " + JOB in markdown
    assert "breaks first, at 6 users: failed jobs 30.0% > 5.0%" in markdown
    page = (folder / "capacity.html").read_text(encoding="utf-8")
    assert "<th>HTTP errors</th><th>failed jobs</th>" in page and "<td>30.00% (" in page
    # The plot draws the JOB line against its own 5 % limit, not only the default 1 %.
    errors = errors_vs_users(analyse(load_intervals(folder / "intervals.jsonl"), load_baseline(baseline)).detection.plateaus,
                             load_baseline(baseline))  # fmt: skip
    assert errors.limit_by_endpoint == {JOB: 0.05} and errors.fail_ratio_limit is None
