"""The report and the plot/report verbs on small synthetic result folders with known numbers."""

import re
from pathlib import Path

import numpy as np
import pytest

from analysis.cli import main
from analysis.decide import decide
from analysis.errors import InputError
from analysis.baseline import load_baseline
from analysis.report import build_report
from analysis.report_cli import load_history, write_report
from analysis.results import load_run
from tests.analysis.synthetic_runs import business_metrics, manifest, write_intervals, write_json, write_locust_json

FAST = "GET /auth/v1/user"
SLOW = "GET /rest/v1/discovery_jobs?id=eq.[jobId]"  # the baseline's limit: p95 100 ms
BASELINE = str(Path(__file__).resolve().parents[2] / "baselines" / "production.toml")


def make_run(folder, *, slow_scale=5.5, partial=False, with_intervals=True, run_id="20261126-120000-abc123", extra=None):
    rng = np.random.default_rng(len(str(folder)))
    per_interval = {FAST: [rng.lognormal(4, 0.3, 60) for _ in range(12)],
                    SLOW: [rng.lognormal(slow_scale, 0.3, 60) for _ in range(12)]}  # fmt: skip
    per_interval.update(extra or {})
    if with_intervals:
        write_intervals(folder, per_interval)
    write_locust_json(folder, {key: np.concatenate(values) for key, values in per_interval.items()})
    stop = {"partial": True, "stop_reason": "interrupted"} if partial else {}
    started_at = f"{run_id[:4]}-{run_id[4:6]}-{run_id[6:8]}T{run_id[9:11]}:{run_id[11:13]}:{run_id[13:15]}Z"
    write_json(folder / "manifest.json", manifest(run_id=run_id, started_at=started_at, **stop))
    write_json(folder / "business_metrics.json", business_metrics(discovery_success_rate=0.91))
    return folder


def first_screen(html: str) -> str:
    """Everything before the business metrics: what a reader sees before scrolling."""
    return html[: html.index("<h2>Business metrics")]


def test_breaches_and_regressions_lead_the_report_and_match_the_decision(tmp_path):
    reference = make_run(tmp_path / "reference", slow_scale=4.0, run_id="20261125-120000-aaaaaa")
    run = make_run(tmp_path / "run", slow_scale=5.5)
    html_path = write_report(run, BASELINE, reference=reference)
    html = html_path.read_text()
    decision = decide(load_run(run), load_baseline(BASELINE), load_run(reference))
    assert decision.breaches and decision.regressions
    top = first_screen(html)
    for check in decision.breaches + decision.regressions:
        assert check.subject.replace("&", "&amp;") in top
    assert "NOT VALID" not in top and decision.outcome.upper() in top
    assert f"<h2>Breaches ({len(decision.breaches)})</h2>" in top
    assert f"<h2>Regressions ({len(decision.regressions)})</h2>" in top
    # Order of sections: diff, business, endpoints, plots, detail, manifest.
    # Inconclusive checks (and SLA warnings) come right after the breaches when there are any.
    headings = [h.strip() for h in re.findall(r"<h2>([^<(]+)", html)]
    listed = ["Inconclusive"] * bool(decision.inconclusive) + ["SLA warnings"] * bool(decision.warnings)
    assert headings == ["Breaches", *listed, "Regressions", "Business metrics", "Failures", "Endpoints", "Over the run",
                        "Endpoint detail", "Run manifest"]  # fmt: skip
    assert "discovery_success_rate" in html and "91.00 %" in html  # the business metric and its breach
    assert "abc1234" in html and "peak 41.0 %" in html and "seed" in html  # provenance


def test_a_partial_run_says_so_before_anything_else(tmp_path):
    run = make_run(tmp_path / "run", partial=True)
    html = write_report(run, BASELINE).read_text()
    body = html[html.index("<body>") :]
    assert body.index("PARTIAL RUN") < body.index("<h1>")
    markdown = (run / "report.md").read_text()
    assert markdown.startswith("> **PARTIAL RUN: stopped early (stop_reason: interrupted)")


def test_html_is_self_contained_and_every_figure_is_embedded(tmp_path):
    reference = make_run(tmp_path / "reference", slow_scale=4.0)
    run = make_run(tmp_path / "run")
    html = write_report(run, BASELINE, reference=reference, output=tmp_path / "out").read_text()
    pngs = sorted(p.stem for p in (tmp_path / "out" / "plots").glob("*.png"))
    assert html.count('src="data:image/png;base64,') == len(pngs)
    # throughput, CDF, regression, and one detail figure (latency over time + distribution) per endpoint
    assert len(pngs) == 3 + 2
    assert not re.search(r'(src|href)="(?!data:)', html)  # nothing fetched from disk or network
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert all(f"(plots/{stem}.png)" in markdown for stem in pngs)


def test_input_text_is_escaped_in_html_and_markdown(tmp_path):
    hostile = "GET /x<script>alert(1)</script>|"
    run = make_run(tmp_path / "run", extra={hostile: [np.array([5.0, 6.0])] * 12})
    html = write_report(run, BASELINE).read_text()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    markdown = (run / "report.md").read_text()
    outside_code_spans = re.sub(r"`[^`\n]*`", "", markdown)  # inside a code span, Markdown shows HTML as text
    assert "<script>" not in outside_code_spans
    assert "&lt;script&gt;" in outside_code_spans


def test_without_intervals_the_report_says_so_and_draws_what_it_can(tmp_path):
    run = make_run(tmp_path / "run", with_intervals=False)
    html = write_report(run, BASELINE).read_text()
    assert "no intervals.jsonl" in first_screen(html)
    assert "throughput" not in {p.stem for p in (run / "plots").glob("*.png")}
    report = build_report(load_run(run), load_baseline(BASELINE))
    assert "throughput" not in report.overview_figures and "latency_cdf" in report.overview_figures
    for section in report.endpoints:
        if section.key in (FAST, SLOW):
            assert len(section.figures["detail"].axes) == 1  # the distribution only: no time series to draw
        else:
            assert section.figures == {}  # required by the baseline, never sent: nothing to draw


def test_plot_verb_writes_png_and_svg_of_every_figure_without_a_baseline(tmp_path, capsys):
    run = make_run(tmp_path / "run")
    code = main(["plot", str(run), "--output", str(tmp_path / "plots")])
    assert code == 0
    files = sorted(p.name for p in (tmp_path / "plots").iterdir())
    stems = {name.rsplit(".", 1)[0] for name in files}
    assert files == sorted(f"{stem}.{ext}" for stem in stems for ext in ("png", "svg"))
    assert {"throughput", "latency_cdf", "get-auth-v1-user-detail"} <= stems
    assert "regression" not in stems  # no reference given


def test_trend_reads_a_folder_of_runs_oldest_first_and_skips_the_current_one(tmp_path):
    history = tmp_path / "results"
    make_run(history / "b", run_id="20261125-000000-bbbbbb")
    make_run(history / "a", run_id="20261126-000000-aaaaaa")  # newer, though its name sorts first
    current = make_run(history / "current", run_id="20261127-000000-cccccc")
    (history / "latest").symlink_to("current")
    labels = [label for label, _ in load_history(history, exclude=current)]
    assert labels == ["20261125-000000-bbbbbb", "20261126-000000-aaaaaa"]
    write_report(current, BASELINE, trend=history)
    assert (current / "plots" / "trend.png").is_file()


def test_trend_from_a_history_file_keeps_its_order_and_resolves_paths_beside_it(tmp_path):
    make_run(tmp_path / "runs" / "x", run_id="20261126-000000-xxxxxx")
    make_run(tmp_path / "runs" / "y", run_id="20261120-000000-yyyyyy")
    history = tmp_path / "history.txt"
    history.write_text("# recorded by CI, oldest first\nruns/x\n\nruns/y   # after a rollback\n")
    assert [label for label, _ in load_history(history)] == ["20261126-000000-xxxxxx", "20261120-000000-yyyyyy"]
    history.write_text("runs/x\nruns/gone\n")
    with pytest.raises(InputError, match="line 2: recorded run 'runs/gone' not found"):
        load_history(history)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report", "{tmp}/nowhere", "--baseline", BASELINE], "no run results found"),
        (["report", "{run}", "--baseline", "{tmp}/missing.toml"], "baseline file not found"),
        (["plot", "{run}", "--trend", "{tmp}/no-such-folder"], "no-such-folder: not found"),
        (["plot", "{run}", "--trend", "{run}/manifest.json"], "manifest.json: line 1: recorded run"),
        (["plot", "{run}", "--reference", "{tmp}/no-such-ref"], "reference not found"),
        (["report", "{run}", "--baseline", BASELINE, "--output", "{run}/manifest.json"], "cannot write"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(tmp_path, capsys, argv, message):
    run = make_run(tmp_path / "run")
    code = main([part.format(tmp=tmp_path, run=run) for part in argv])
    error = capsys.readouterr().err.strip()
    assert code == 1
    assert error.startswith("error: ") and message in error and "\n" not in error


def test_a_broken_intervals_file_is_one_line_and_exit_1(tmp_path, capsys):
    run = make_run(tmp_path / "run")
    (run / "intervals.jsonl").write_text('{"schema_version": 1, "interval_s": 5}\n{oops\n{"t": 1}\n')
    assert main(["report", str(run), "--baseline", BASELINE]) == 1
    assert "intervals.jsonl: line 2: invalid JSON" in capsys.readouterr().err


def test_report_verb_requires_a_baseline(tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        main(["report", str(make_run(tmp_path / "run"))])
    assert raised.value.code == 2
