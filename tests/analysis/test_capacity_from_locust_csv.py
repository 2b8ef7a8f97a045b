"""`python -m analysis capacity` on plain Locust output (--csv PREFIX --csv-full-history), no harness sidecars.

The step runs in tests/golden/versions/*-steps are real: a LoadTestShape of 2, 4 and 6 users, 8 s each, against
tiny_server (README there). Plateaus and throughput must be exact (Locust's running totals); percentiles are
Locust's own columns and must be labelled as its approximations.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from analysis.baseline import load_baseline
from analysis.capacity import analyse
from analysis.capacity_cli import judge_with_locust_percentiles, load_capacity_input
from analysis.cli import main

VERSIONS = Path(__file__).resolve().parents[1] / "golden" / "versions"
BASELINE = VERSIONS / "baseline.toml"
STEP_RUNS = sorted(p for p in VERSIONS.iterdir() if p.is_dir() and p.name.endswith("-steps"))
PLAIN_RUNS = sorted(p for p in VERSIONS.iterdir() if p.is_dir() and (p / "command.txt").is_file() and not p.name.endswith("-steps"))


def version_of(run: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in run.name.removesuffix("-steps").split("."))


def raw_blocks(history_csv: Path) -> list[dict]:
    """Locust's history file read independently of the loader: one dict per write (ends at the Aggregated row)."""
    blocks, current = [], {}
    with history_csv.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == "Aggregated":
                blocks.append({"users": int(row["User Count"]), "t": int(row["Timestamp"]),
                               "total": int(row["Total Request Count"]), "endpoints": current})  # fmt: skip
                current = {}
            else:
                current[f"{row['Type']} {row['Name']}"] = int(row["Total Request Count"])
    return blocks


def latency_only_baseline(tmp_path: Path) -> Path:
    path = tmp_path / "latency.toml"
    path.write_text('schema_version = 1\nname = "latency-only"\n[endpoints."GET /slow"]\np95_ms = 250\n')
    return path


@pytest.mark.parametrize("run", STEP_RUNS, ids=lambda p: p.name)
def test_plateaus_and_throughput_are_exact_from_the_history(run: Path):
    series, run_result, history = load_capacity_input(run / "locust")
    analysis = judge_with_locust_percentiles(analyse(series, load_baseline(BASELINE)), history, load_baseline(BASELINE))
    blocks = raw_blocks(run / "locust_stats_history.csv")
    spacing = (blocks[-1]["t"] - blocks[0]["t"]) / (len(blocks) - 1)
    levels = {p.users for p in analysis.detection.plateaus}
    # Locust 1.6-2.2x lose the unflushed end of the history at exit (README there): the 6-user step may be too short.
    assert {4} <= levels <= {2, 4, 6} and levels | {r.users for r in analysis.detection.rejected} >= {2, 4, 6}
    if version_of(run) >= (2, 24):
        assert 6 in levels
    for plateau in analysis.detection.plateaus:
        first, last = blocks[plateau.first_interval], blocks[plateau.stop_interval]
        assert all(b["users"] == plateau.users for b in blocks[plateau.first_interval + 1: plateau.stop_interval + 1])
        assert plateau.requests == last["total"] - first["total"]  # every request between the two writes, exactly
        assert plateau.throughput_rps == pytest.approx((last["total"] - first["total"]) / (spacing * (plateau.stop_interval - plateau.first_interval)))
        broken = plateau.endpoints["GET /broken"]
        assert broken.failures == broken.requests == last["endpoints"]["GET /broken"] - first["endpoints"].get("GET /broken", 0)
    # The endpoint that always fails breaks the SLA at the first plateau already.
    assert analysis.capacity.capacity_users is None and analysis.capacity.bottleneck == "GET /broken"


@pytest.mark.parametrize("run", STEP_RUNS, ids=lambda p: p.name)
def test_capacity_verb_on_a_locust_prefix_labels_locust_percentiles_as_approximations(run: Path, tmp_path, capsys):
    code = main(["capacity", str(run / "locust"), "--baseline", str(latency_only_baseline(tmp_path)), "--output", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 0, err
    series, _, history = load_capacity_input(run / "locust")
    highest = max(p.users for p in analyse(series, None).detection.plateaus)  # 4 or 6: see the test above
    assert f"SLA-bound capacity: at least {highest} users (no SLA broke at any load tested)" in out
    markdown = (tmp_path / "out" / "capacity.md").read_text()
    assert markdown.startswith(f"# Capacity report: {run.name}\n")
    assert "**Percentiles are Locust's own approximations**" in markdown and "p95 ms (Locust, approx.)" in markdown
    assert "--csv-full-history" in markdown
    assert {p.name for p in (tmp_path / "out" / "capacity_plots").iterdir()} >= {"throughput_vs_users.png", "p95_vs_users.png"}


def test_the_history_file_and_a_folder_of_plain_locust_files_work_as_well(tmp_path, capsys):
    run = VERSIONS / "2.47.0-steps"
    shutil.copytree(run, tmp_path / "folder", ignore=shutil.ignore_patterns("command.txt"))
    for given in (run / "locust_stats_history.csv", run / "locust_stats.csv", tmp_path / "folder"):
        code = main(["capacity", str(given), "--baseline", str(BASELINE), "--output", str(tmp_path / "out")])
        out, err = capsys.readouterr()
        assert code == 0 and "every SLA already breaks at the lowest load tested (2 users)" in out, (given, err)


@pytest.mark.parametrize("run", PLAIN_RUNS, ids=lambda p: p.name)
def test_a_constant_load_run_of_every_version_is_one_plateau_or_a_sentence_why_not(run: Path, tmp_path, capsys):
    code = main(["capacity", str(run / "locust"), "--baseline", str(BASELINE), "--output", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    if run.name == "2.12.2":  # its history holds one write: Locust lost the rest at exit (versions/README.md)
        assert code == 1 and len(err.strip().splitlines()) == 1 and "only 1 write(s) of the history" in err
        return
    markdown = (tmp_path / "out" / "capacity.md").read_text()
    if code == 0:
        assert "| 4 |" in markdown and "every SLA already breaks at the lowest load tested (4 users)" in out
    else:
        assert code == 5 and "no steady plateau" in out and "4 users (" in markdown  # the rejected level, with why


def test_without_full_history_the_error_says_what_to_add(tmp_path, capsys):
    source = (VERSIONS / "2.47.0" / "locust_stats_history.csv").read_text(encoding="utf-8").splitlines()
    only_total = [source[0]] + [line for line in source[1:] if ",Aggregated," in line]
    (tmp_path / "locust_stats_history.csv").write_text("\n".join(only_total) + "\n", encoding="utf-8")
    code = main(["capacity", str(tmp_path / "locust"), "--baseline", str(BASELINE), "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "only Locust's Aggregated row" in err and "re-run Locust with --csv-full-history" in err
