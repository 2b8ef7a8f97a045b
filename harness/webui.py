"""The SLA tab in Locust's stock web UI, the report of every test, and the routes behind them.

Only Locust's supported extension points for a locustfile are used (see Locust's examples/extend_web_ui.py):
``web_ui.template_args`` for an extra tab, its table's columns and extra download links, an ``after_request`` hook
that adds the tab's rows (``extended_stats``) to the ``/stats/requests`` answer the UI polls every 2 s, and Flask
routes on ``web_ui.app``. No template or asset of Locust's is replaced.

Routes (on the master's web UI; behind the login page when Locust runs with ``--web-login``):
    GET /sla/data                     the live SLA view (harness/livesla.py) as JSON: rows, outcome, exit code
    GET /sla/report                   the report of the last finished test (a redirect), 404 until there is one
    GET /sla/runs/<run-id>/<file>     a file of a run folder beside the current one (report.html, plots/...)

With a run per test (harness/results.py), each finished test also gets its report here: a finalizer runs
``python -m analysis report`` on the test's folder (in a subprocess, so the UI stays live) with the baseline and
reference of that test. Headless runs get their report from the launcher instead, as before.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from flask import Response, abort, jsonify, redirect, request, send_from_directory
from locust import events
from locust.env import Environment

from analysis.decide import BUSINESS_SUBJECT
from analysis.render import format_value
from harness import gate, livesla, results

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TAB_KEY = "sla"
REPORT_TIMEOUT_S = 180
_RUN_FOLDER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # a run id, or a --results-dir's last part

# The tab's table: (row key, column title). Locust's UI renders each cell as text.
COLUMNS = (
    ("subject", "Endpoint / subject"),
    ("criterion", "Criterion"),
    ("limit", "Limit"),
    ("value", "Whole test"),
    ("verdict", "Verdict"),
    ("window_value", "Last N s"),
    ("window_verdict", "Last N s verdict"),
    ("breaching_for", "Breaching for"),
    ("note", "Note"),
)


def tab_rows(snapshot: livesla.LiveSnapshot) -> list[dict[str, str]]:
    """The SLA tab's rows: the run's verdict first, then every check of the baseline, then unlimited business metrics."""
    window = f"last {snapshot.window_s:g} s"
    rows = [_summary_row(snapshot)]
    if snapshot.decision is not None:
        rows += [_row("run validity", "problem", note=problem) for problem in snapshot.decision.validity_problems]
    for row in snapshot.rows:
        rows.append(_row(
            row.subject, row.criterion,
            limit=format_value(row.criterion, row.limit) if row.limit is not None else "",
            value=format_value(row.criterion, row.value), verdict=row.verdict.value,
            window_value=format_value(row.criterion, row.window_value) if row.window_verdict is not None else "",
            window_verdict=f"{row.window_verdict.value} ({window})" if row.window_verdict is not None else "",
            breaching_for=f"{row.breaching_for_s:.0f} s" if row.breaching_for_s is not None else "",
            note=row.reason,
        ))  # fmt: skip
    judged = {row.criterion for row in snapshot.rows if row.subject == BUSINESS_SUBJECT}
    derived = (snapshot.business or {}).get("derived") or {}
    for metric, value in sorted(derived.items()):
        if metric not in judged:
            rows.append(_row(BUSINESS_SUBJECT, metric, value=format_value(metric, value), note="no limit in the baseline"))
    return rows


def _summary_row(snapshot: livesla.LiveSnapshot) -> dict[str, str]:
    state = "final" if snapshot.finished else "if the test stopped now"
    where = f"run {snapshot.run_id}" if snapshot.run_id else "no test started yet"
    if snapshot.report:
        where += f"; report: ./sla/report ({snapshot.report})"
    if snapshot.decision is None:
        return _row("run", f"verdict ({state})", value="none", note=f"{snapshot.problem}; {where}")
    decision = snapshot.decision
    return _row("run", f"verdict ({state})", value=f"{decision.outcome} (exit {int(decision.exit_code)})",
                verdict=decision.outcome, note=where)  # fmt: skip


def _row(subject: str, criterion: str, **cells: str) -> dict[str, str]:
    row = {key: "" for key, _title in COLUMNS}
    row.update(subject=subject, criterion=criterion, **cells)
    return row


def snapshot_json(snapshot: livesla.LiveSnapshot) -> dict[str, Any]:
    """The view for machines (tests, scripts): raw values in the metric's own unit, verdicts as their names."""
    decision = snapshot.decision
    return {
        "at": snapshot.at,
        "run_id": snapshot.run_id,
        "results_dir": snapshot.results_dir,
        "finished": snapshot.finished,
        "report": snapshot.report,
        "window_s": snapshot.window_s,
        "problem": snapshot.problem,
        "outcome": decision.outcome if decision else None,
        "exit_code": int(decision.exit_code) if decision else None,
        "validity_problems": list(decision.validity_problems) if decision else [],
        "workers": snapshot.workers,
        "checks": [
            {"subject": row.subject, "metric": row.criterion, "verdict": row.verdict.value, "actual": row.value,
             "limit": row.limit, "margin": row.margin, "window_actual": row.window_value,
             "window_verdict": row.window_verdict.value if row.window_verdict else None,
             "breaching_for_s": row.breaching_for_s, "reason": row.reason}
            for row in snapshot.rows
        ],  # fmt: skip
        "business": (snapshot.business or {}).get("derived"),
    }


# ---- the tab and the routes --------------------------------------------------------------------------------------
@events.init.add_listener
def _on_init(environment: Environment, web_ui=None, **_kwargs) -> None:
    if web_ui is None:
        return
    view = livesla.attach(environment)
    if view is None:
        return
    web_ui.template_args["extended_tabs"] = [{"title": "SLA", "key": TAB_KEY}]
    web_ui.template_args["extended_tables"] = [
        {"key": TAB_KEY, "structure": [{"key": key, "title": title} for key, title in COLUMNS]}
    ]
    web_ui.template_args["extended_csv_files"] = [
        {"href": "./sla/report", "title": "Report of the last finished test (report.html)"},
        {"href": "./sla/data", "title": "SLA verdicts, live (JSON)"},
    ]
    app = web_ui.app

    @app.after_request
    def _add_sla_rows(response: Response) -> Response:
        if request.path != "/stats/requests" or response.status_code != 200 or not response.is_json:
            return response
        try:
            rows = tab_rows(view.snapshot())
        except Exception as error:  # noqa: BLE001 - the stock UI must keep working whatever the SLA view does
            logger.error("SLA tab: %s: %s", type(error).__name__, error)
            rows = [_row("run", "SLA view", note=f"error: {error}")]
        body = response.get_json()
        body["extended_stats"] = [{"key": TAB_KEY, "data": rows}]
        response.set_data(app.json.dumps(body))
        return response

    # Behind Locust's --web-login like the stock pages: the views, reports and run files say what the target is.
    login = web_ui.auth_required_if_enabled

    @app.route("/sla/data")
    @login
    def _sla_data():
        return jsonify(snapshot_json(view.snapshot(max_age_s=0)))

    @app.route("/sla/report")
    @login
    def _sla_report():
        snapshot = view.snapshot()
        if not snapshot.report or not snapshot.run_id:
            return Response("no report yet: a test's report is written when the test stops\n", status=404, mimetype="text/plain")
        return redirect(f"./runs/{snapshot.run_id}/{Path(snapshot.report).name}")

    @app.route("/sla/runs/<run_id>/<path:name>")
    @login
    def _sla_run_file(run_id: str, name: str):
        record = results.run_record(environment)
        if record is None or not _RUN_FOLDER.match(run_id):
            abort(404)
        folder = record.results_dir.parent / run_id
        if not folder.is_dir():
            abort(404)
        return send_from_directory(folder.resolve(), name)  # refuses paths outside the folder


# ---- the report of each web-UI test ------------------------------------------------------------------------------
@results.register_finalizer
def write_test_report(environment: Environment, results_dir: Path, manifest: dict) -> None:
    """Web UI only (a run per test): ``python -m analysis report`` on the finished test's folder."""
    loaded = gate.gate_of(environment)
    if not results.runs_per_test(environment) or loaded is None:
        return
    baseline_path, reference_path = loaded.paths
    command = [sys.executable, "-m", "analysis", "report", str(results_dir), "--baseline", str(baseline_path),
               "--output", str(results_dir)]  # fmt: skip
    if reference_path:
        command += ["--reference", str(reference_path)]
    environment_vars = dict(os.environ)
    environment_vars["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), environment_vars.get("PYTHONPATH")]))
    # Locust's process is gevent-patched: this subprocess waits cooperatively and the UI keeps answering meanwhile.
    completed = subprocess.run(command, env=environment_vars, capture_output=True, text=True, timeout=REPORT_TIMEOUT_S)
    report = results_dir / livesla.REPORT_FILE
    if report.is_file():
        logger.info("report: %s (in the web UI: Download Data, or ./sla/report)", report)
    else:
        last_line = (completed.stderr or completed.stdout).strip().splitlines()[-1:] or ["no output"]
        logger.error("report: not written (python -m analysis report exited %d: %s)", completed.returncode, last_line[0])
