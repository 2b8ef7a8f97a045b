"""``python -m analysis plot`` and ``python -m analysis report``: read a run, draw and write its report.

    python -m analysis plot RESULTS [--baseline FILE] [--reference RUN] [--trend DIR|FILE] [--output DIR]
        every figure as PNG and SVG in DIR (default RESULTS/plots)
    python -m analysis report RESULTS --baseline FILE [--reference RUN] [--trend DIR|FILE] [--output DIR]
        DIR/report.html (self-contained: images embedded, opens offline), DIR/report.md and DIR/plots/
        (default DIR: the results folder itself)

Both exit 0 once their files are written: the verdict's exit code belongs to ``compare`` and the in-run gate.
The launcher calls ``write_report`` directly.
"""

from __future__ import annotations

import argparse
import io
from dataclasses import replace
from pathlib import Path

from matplotlib.figure import Figure

from analysis.baseline import Baseline, baseline_from_dict, load_baseline
from analysis.errors import InputError
from analysis.exit_codes import ExitCode
from analysis.intervals import INTERVALS_FILE, IntervalSeries, load_intervals
from analysis.reference import load_reference
from analysis.report import RunReport, build_report, render_html, render_markdown
from analysis.results import RunResult, history_file_of, history_series, load_run, load_stats_history

REPORT_HTML = "report.html"
REPORT_MD = "report.md"
PLOTS_DIR = "plots"
# Results folders keep a "latest" link to the newest run; following it in a trend folder would count a run twice.
# `python -m harness health|monitor` keep their own outputs in results/health/ and results/monitor/.
_NOT_A_RUN = {"latest", "health", "monitor"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    is_report = parser.get_default("verb") == "report"
    parser.add_argument("results", help="a harness results folder (or a Locust --json-file output)")
    parser.add_argument("--baseline", required=is_report,
                        help="SLA file (TOML), e.g. baselines/production.toml" + ("" if is_report else "; draws the SLA lines"))  # fmt: skip
    parser.add_argument("--reference", help="a reference recorded with `record`, or another results folder")
    parser.add_argument("--trend", metavar="DIR|FILE",
                        help="recorded runs for the trend plot (one point per run): a folder of reference files or "
                             "results folders, or a history file listing them one per line, oldest first")  # fmt: skip
    parser.add_argument("--output", metavar="DIR",
                        help="where to write (default: " + ("the results folder" if is_report else "RESULTS/plots") + ")")  # fmt: skip


def run(args: argparse.Namespace) -> ExitCode:
    if args.verb == "report":
        html_path = write_report(args.results, args.baseline, reference=args.reference, output=args.output, trend=args.trend)
        print(f"report: {html_path}")
    else:
        missing: dict[str, str] = {}
        written = write_plots(args.results, args.baseline, reference=args.reference, output=args.output, trend=args.trend,
                              missing=missing)  # fmt: skip
        print(f"plots: {len(written)} files in {written[0].parent if written else args.output or 'no folder'}")
        for name, why in missing.items():
            print(f"plots: {name}: {why}")
    return ExitCode.OK


def write_plots(results: str | Path, baseline: str | Path | None = None, *, reference: str | Path | None = None,
                output: str | Path | None = None, trend: str | Path | None = None,
                missing: dict[str, str] | None = None) -> list[Path]:  # fmt: skip
    """Every figure as PNG and SVG; ``missing`` (when given) receives each figure not drawn and why."""
    report = _build(results, baseline, reference, trend)
    if missing is not None:
        missing.update(report.missing_figures)
    folder = Path(output) if output else _default_output(results) / PLOTS_DIR
    written = []
    for name, figure in report.figures().items():
        for fmt in ("png", "svg"):
            written.append(_write(folder / f"{name}.{fmt}", _figure_bytes(figure, fmt)))
    return written


def write_report(results: str | Path, baseline: str | Path, *, reference: str | Path | None = None,
                 output: str | Path | None = None, trend: str | Path | None = None) -> Path:  # fmt: skip
    """Write report.html, report.md and plots/*.png; return the HTML's path."""
    report = _build(results, baseline, reference, trend)
    folder = Path(output) if output else _default_output(results)
    images = {name: _figure_bytes(figure, "png") for name, figure in report.figures().items()}
    for name, png in images.items():
        _write(folder / PLOTS_DIR / f"{name}.png", png)
    _write(folder / REPORT_MD, render_markdown(report, {name: f"{PLOTS_DIR}/{name}.png" for name in images}).encode("utf-8"))
    return _write(folder / REPORT_HTML, render_html(report, images).encode("utf-8"))


def _build(results: str | Path, baseline: str | Path | None, reference: str | Path | None, trend: str | Path | None) -> RunReport:
    # The baseline first: a bad SLA file is reported before any run is read (as `compare` does).
    sla = load_baseline(baseline) if baseline else _no_baseline()
    run_result = load_run(results)
    return build_report(
        run_result,
        sla,
        reference=load_reference(reference) if reference else None,
        series=_intervals_of(results),
        history=load_history(trend, exclude=results) if trend else (),
    )


def _no_baseline() -> Baseline:
    """No limits at all (so no SLA lines), and the default regression rule for comparisons with a reference."""
    return baseline_from_dict({"schema_version": 1, "name": "none (no --baseline given)"}, source="(no baseline)")


def _intervals_of(results: str | Path) -> IntervalSeries | None:
    """The harness's intervals.jsonl; else, for plain Locust output, its --csv-full-history file (counts over time
    are exact there, but it has no histograms: throughput over time only)."""
    folder = Path(results)
    if folder.is_dir() and (folder / INTERVALS_FILE).is_file():
        return load_intervals(folder)
    history_file = history_file_of(results)
    if history_file is None:
        return None
    history = load_stats_history(history_file)
    if not history.full or len(history.timestamps) < 3:
        return None  # nothing per endpoint, or too short to plot: the report says there is nothing over time
    series = history_series(history)
    note = (f"over time: throughput and failures from Locust's {history_file.name} (exact counts about once a "
            "second); no latency over time (that file has no histograms; the harness's intervals.jsonl does)")
    return replace(series, warnings=(*series.warnings, note))


def _default_output(results: str | Path) -> Path:
    folder = Path(results)
    if not folder.is_dir():
        raise InputError("--output is needed when RESULTS is not a results folder", path=results)
    return folder


def load_history(source: str | Path, exclude: str | Path | None = None) -> list[tuple[str, RunResult]]:
    """The recorded runs of a trend, oldest first: a folder of runs, or a history file listing them.

    A folder holds reference .json files and/or results folders; they are ordered by their manifest's start time.
    A history file is plain text, one run per line (a reference file or a results folder, relative to the file),
    oldest first, ``#`` starting a comment: a CI job appends a line per recorded run.
    """
    source = Path(source)
    skip = Path(exclude).resolve() if exclude else None
    if source.is_file():
        return [(_label(path.name, run), run) for path, run in _runs_listed_in(source) if path.resolve() != skip]
    if not source.is_dir():
        raise InputError("not found", path=source, hint="--trend takes a folder of recorded runs or a history file listing them")
    runs = []
    for entry in sorted(source.iterdir()):
        if entry.name.startswith(".") or entry.name in _NOT_A_RUN or entry.resolve() == skip:
            continue
        if entry.is_dir() or entry.suffix == ".json":
            runs.append((entry.name, load_reference(entry)))
    if not runs:
        raise InputError("no recorded runs in the folder", path=source, hint="expected reference .json files or results folders")
    runs.sort(key=lambda item: (_started_at(item[1]) or "", item[0]))
    return [(_label(name, run), run) for name, run in runs]


def _runs_listed_in(history_file: Path) -> list[tuple[Path, RunResult]]:
    try:
        lines = history_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read the history file ({type(error).__name__})", path=history_file) from None
    runs = []
    for number, line in enumerate(lines, start=1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        path = (history_file.parent / entry) if not Path(entry).is_absolute() else Path(entry)
        if not path.exists():
            raise InputError(f"recorded run {entry[:80]!r} not found", path=history_file, key=f"line {number}",
                             hint="paths are relative to the history file")  # fmt: skip
        runs.append((path, load_reference(path)))
    if not runs:
        raise InputError("the history file lists no runs", path=history_file, hint="one reference file or results folder per line")
    return runs


def _started_at(run: RunResult) -> str | None:
    return run.manifest.started_at if run.manifest else None


def _label(name: str, run: RunResult) -> str:
    return (run.manifest.run_id if run.manifest and run.manifest.run_id else None) or Path(name).stem


def _figure_bytes(figure: Figure, fmt: str) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=90)
    return buffer.getvalue()


def _write(path: Path, content: bytes) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    except OSError as error:
        raise InputError(f"cannot write ({error.strerror or error})", path=path, hint="choose another --output folder") from None
    return path
