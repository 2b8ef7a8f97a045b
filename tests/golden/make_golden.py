"""Regenerate the golden files: real headless Locust runs against tests/golden/tiny_server.py on 127.0.0.1.

    .venv/bin/python tests/golden/make_golden.py                  # new Locust runs + expected outputs (~1 min)
    .venv/bin/python tests/golden/make_golden.py --expected-only  # keep the committed runs, redo expected outputs

Layout:
    runs/<run>/        locust.json + locust_stats.csv from a real run (Locust's --json-file and --csv),
                       manifest.json + business_metrics.json written here with fixed values (the sidecars the
                       harness writes, in the documented format, so validity and guard cases are exact)
    references/        reference files recorded from runs with `python -m analysis record`
    cases/<case>/      case.json (arguments, expected exit code), expected.txt, expected.json or expected.stderr
Paths in expected outputs are normalised to <golden> and <repo>, so they hold nothing volatile.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent
REPO = GOLDEN.parents[1]
sys.path[:0] = [str(REPO), str(GOLDEN)]

from analysis.cli import main as analysis_main  # noqa: E402
from tiny_server import serving  # noqa: E402

RUNS, REFERENCES, CASES = GOLDEN / "runs", GOLDEN / "references", GOLDEN / "cases"
PRODUCTION = "{repo}/baselines/production.toml"
RUN_SECONDS, USERS = 20, 10  # ~200 samples of each of ~20 endpoints: enough to prove a 1 % failure ratio

# Run folder -> Locust profile (tests/golden/locustfile_golden.py) and the manifest/business overrides.
HEALTHY_BUSINESS = {"discovery_success_rate": 0.98, "job_completion_rate": 1.0, "cost_per_discovery_usd": 0.06,
                    "cost_per_lead_usd": 0.02, "export_success_rate": 1.0}  # fmt: skip
RUN_SPECS: dict[str, dict] = {
    "healthy": {"profile": "healthy"},
    "slow-leads": {"profile": "slow-leads", "business": {"export_success_rate": 0.9, "cost_per_discovery_usd": 0.21}},
    "no-csv-export": {"profile": "no-csv-export"},
    "slower-enrichment": {"profile": "slower-enrichment", "business": {"cost_per_discovery_usd": 0.10}},
    "overloaded": {"profile": "healthy", "manifest": {"generator": {"cpu_warning": True, "cpu_percent_max": 97.5},
                                                       "load": {"intended_users": 50, "reached_users": 31, "workers_lost": 0}}},
    "guard-stopped": {"profile": "healthy", "manifest": {"partial": True, "stop_reason": "spend-guard",
                                                          "stop_detail": "third-party spend reached the $1.00 ceiling"}},
}  # fmt: skip

# Case -> arguments of `python -m analysis` and the exit code it must give. Every exit code appears.
CASES_SPEC: dict[str, dict] = {
    "pass": {"args": ["compare", "{golden}/runs/healthy", "--baseline", PRODUCTION], "exit_code": 0},
    "pass-from-locust-json": {"args": ["compare", "{golden}/runs/healthy/locust.json", "--baseline", PRODUCTION], "exit_code": 0},
    "pass-from-csv": {"args": ["compare", "{golden}/runs/healthy/locust_stats.csv", "--baseline", PRODUCTION], "exit_code": 0},
    "breach": {"args": ["compare", "{golden}/runs/slow-leads", "--baseline", PRODUCTION], "exit_code": 3},
    "missing-endpoint": {"args": ["compare", "{golden}/runs/no-csv-export", "--baseline", PRODUCTION], "exit_code": 3},
    "regressed": {"args": ["compare", "{golden}/runs/slower-enrichment", "--baseline", PRODUCTION,
                           "--reference", "{golden}/references/healthy.json"], "exit_code": 4},
    # A reference written before multi-run references (schema_version 1) still loads and decides the same.
    "regressed-v1-reference": {"args": ["compare", "{golden}/runs/slower-enrichment", "--baseline", PRODUCTION,
                                        "--reference", "{golden}/references/healthy-v1.json"], "exit_code": 4},
    "improved": {"args": ["compare", "{golden}/runs/healthy", "--baseline", PRODUCTION,
                          "--reference", "{golden}/references/slower-enrichment.json"], "exit_code": 0},
    "not-comparable": {"args": ["compare", "{golden}/runs/slower-enrichment", "--baseline", PRODUCTION,
                                "--reference", "{golden}/references/other-scenario.json"], "exit_code": 0},
    "not-valid": {"args": ["compare", "{golden}/runs/overloaded", "--baseline", PRODUCTION], "exit_code": 5},
    "guard-stopped": {"args": ["compare", "{golden}/runs/guard-stopped", "--baseline", PRODUCTION], "exit_code": 6},
    "bad-baseline": {"args": ["compare", "{golden}/runs/healthy", "--baseline", "{golden}/cases/bad-baseline/baseline.toml"],
                     "exit_code": 1, "files": {"baseline.toml": 'schema_version = 1\nname = "x"\n[endpoints."GET /auth/v1/user"]\np95_ms = "500"\n'}},
    "truncated-results": {"args": ["compare", "{golden}/cases/truncated-results/locust.json", "--baseline", PRODUCTION],
                          "exit_code": 1, "files": {"locust.json": '[{"name": "/auth/v1/user", "method": "GET", "num_requests": 3,'}},
    "usage-error": {"args": ["compare", "{golden}/runs/healthy"], "exit_code": 2},
}  # fmt: skip


def _fill(text: str) -> str:
    return text.replace("{golden}", str(GOLDEN)).replace("{repo}", str(REPO))


def normalise(text: str) -> str:
    """Volatile paths out: the golden folder and the repository become placeholders."""
    return text.replace(str(GOLDEN), "<golden>").replace(str(REPO), "<repo>")


def run_cli(args: list[str]) -> tuple[int, str, str]:
    """``python -m analysis`` in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = analysis_main([_fill(a) for a in args])
        except SystemExit as exit_:  # argparse usage errors
            code = int(exit_.code or 0)
    return code, out.getvalue(), err.getvalue()


def _manifest(run: str, overrides: dict) -> dict:
    manifest = {
        "schema_version": 1, "run_id": f"golden-{run}", "started_at": "2026-01-01T00:00:00Z",
        "ended_at": f"2026-01-01T00:00:{RUN_SECONDS:02d}Z", "partial": False, "stop_reason": "run-time",
        "target": {"url": "http://127.0.0.1:8080", "kind": "remote", "simulator": None},
        "options": {"users": USERS, "spawn_rate": USERS, "run_time_s": RUN_SECONDS, "user_classes": ["GoldenUser"],
                    "tags": [], "exclude_tags": [], "shape": None, "processes": 1, "workers": 0},
        "scenario_hash": "golden-scenarios-v1",
        "versions": {"python": "3.11", "locust": "2.47.0", "harness_commit": "golden", "dirty": False},
        "generator": {"cpu_warning": False, "cpu_percent_max": 40.0},
        "load": {"intended_users": USERS, "reached_users": USERS, "workers_lost": 0},
    }  # fmt: skip
    for key, value in overrides.items():
        manifest[key] = {**manifest[key], **value} if isinstance(value, dict) else value
    return manifest


def _business(overrides: dict) -> dict:
    return {
        "schema_version": 1,
        "counts": {"discovery_submitted": 100, "discovery_accepted": 100, "jobs_completed": 98, "jobs_failed": 2},
        "costs_usd": {"discovery_total": 6.0, "enrichment_total": 4.0, "third_party_spend": 10.0},
        "derived": {**HEALTHY_BUSINESS, **overrides},
        "spend_guard": {"ceiling_usd": None, "tripped": False},
    }


def locust_run(run: str, profile: str, host: str) -> None:
    folder = RUNS / run
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        command = [
            sys.executable, "-m", "locust", "-f", str(GOLDEN / "locustfile_golden.py"), "--headless",
            "--host", host, "--users", str(USERS), "--spawn-rate", str(USERS), "--run-time", f"{RUN_SECONDS}s",
            "--csv", str(Path(scratch) / "locust"), "--json-file", str(Path(scratch) / "locust"),
            "--results-dir", str(Path(scratch) / "harness"), "--only-summary", "--loglevel", "WARNING",
        ]  # fmt: skip
        environment = {**os.environ, "PYTHONPATH": str(REPO), "GOLDEN_PROFILE": profile}
        finished = subprocess.run(command, env=environment, cwd=scratch, timeout=120, capture_output=True, text=True)
        if finished.returncode not in (0, 1):  # 1: Locust's own "some requests failed", expected in fault profiles
            raise SystemExit(f"locust run {run} failed (exit {finished.returncode}):\n{finished.stderr[-2000:]}")
        shutil.copy(Path(scratch) / "locust.json", folder / "locust.json")
        shutil.copy(Path(scratch) / "locust_stats.csv", folder / "locust_stats.csv")


def write_sidecars(run: str, spec: dict) -> None:
    folder = RUNS / run
    (folder / "manifest.json").write_text(json.dumps(_manifest(run, spec.get("manifest", {})), indent=2) + "\n")
    (folder / "business_metrics.json").write_text(json.dumps(_business(spec.get("business", {})), indent=2) + "\n")


def record_references() -> None:
    REFERENCES.mkdir(exist_ok=True)
    for run in ("healthy", "slower-enrichment"):
        code, _, err = run_cli(["record", f"{{golden}}/runs/{run}", "--output", f"{{golden}}/references/{run}.json"])
        assert code == 0, err
    # Same numbers as "healthy" but recorded from other scenario code: must be called not comparable.
    other = json.loads((REFERENCES / "healthy.json").read_text())
    other["runs"][0]["manifest"]["scenario_hash"] = "golden-scenarios-v0"
    (REFERENCES / "other-scenario.json").write_text(json.dumps(other, indent=1) + "\n")
    # healthy-v1.json: the same run in the layout the harness wrote before multi-run references (schema_version 1:
    # one run, its fields at the top level), to prove that older references still load.
    (run,) = json.loads((REFERENCES / "healthy.json").read_text())["runs"]
    (REFERENCES / "healthy-v1.json").write_text(json.dumps({"schema_version": 1, "kind": "prospectpro-reference-run",
                                                            **run}, indent=1) + "\n")  # fmt: skip
    for path in REFERENCES.glob("*.json"):  # recorded_at and paths are provenance, but volatile in a golden file
        document = json.loads(path.read_text())
        for recorded in document["runs"] if document["schema_version"] == 2 else [document]:
            provenance = recorded["provenance"]
            provenance.update({"recorded_at": "2026-01-01T00:00:00+00:00", "recorded_from": normalise(provenance["recorded_from"])})
        path.write_text(json.dumps(document, indent=1) + "\n")


def write_expected() -> None:
    for case, spec in CASES_SPEC.items():
        folder = CASES / case
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in spec.get("files", {}).items():
            (folder / name).write_text(content)
        (folder / "case.json").write_text(json.dumps({"args": spec["args"], "exit_code": spec["exit_code"]}, indent=2) + "\n")
        for stale in folder.glob("expected.*"):
            stale.unlink()
        code, text, err = run_cli(spec["args"])
        assert code == spec["exit_code"], f"{case}: exit {code}, expected {spec['exit_code']}: {err}"
        if code in (1, 2):
            (folder / "expected.stderr").write_text(normalise(err.strip().splitlines()[-1]) + "\n")
            continue
        (folder / "expected.txt").write_text(normalise(text))
        code, as_json, _ = run_cli(spec["args"] + ["--format", "json"])
        (folder / "expected.json").write_text(normalise(as_json))
        print(f"{case}: exit {code}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--expected-only", action="store_true", help="keep the committed runs; redo expected outputs")
    args = parser.parse_args()
    if not args.expected_only:
        with serving() as server:
            for run, spec in RUN_SPECS.items():
                print(f"locust run: {run} ({spec['profile']})")
                locust_run(run, spec["profile"], server.url)
    for run, spec in RUN_SPECS.items():
        write_sidecars(run, spec)
    record_references()
    write_expected()


if __name__ == "__main__":
    main()
