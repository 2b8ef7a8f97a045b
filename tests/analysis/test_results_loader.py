"""The one loader: every input kind becomes the same RunResult."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from locust.env import Environment
from locust.stats import PERCENTILES_TO_REPORT, RequestStats, StatsCSV

from analysis.errors import InputError
from analysis.histogram import Histogram
from analysis.results import load_run, run_from_entries

GOLDEN_RUN = Path(__file__).resolve().parents[2] / "tests" / "golden" / "runs" / "healthy"


def locust_entries() -> list[dict]:
    stats = RequestStats()
    for ms in (10.0, 12.0, 150.0, 1234.0):
        stats.log_request("GET", "/a", ms, 1)
    stats.log_request("POST", "/b", 20.0, 1)
    stats.log_error("POST", "/b", "boom")
    stats.get("/unused", "GET")  # an entry with no requests: Locust leaves it out of its JSON, so do we
    return [entry.serialize() for entry in stats.entries.values()]


def test_run_from_live_entries_and_from_their_json_are_the_same():
    live = run_from_entries(locust_entries())
    from_json = run_from_entries(json.loads(json.dumps(locust_entries())))  # str bucket keys, as in locust.json
    assert set(live.endpoints) == {"GET /a", "POST /b"}
    assert live.endpoints["GET /a"].histogram == from_json.endpoints["GET /a"].histogram == Histogram.from_samples([10, 12, 150, 1234])
    b = live.endpoints["POST /b"]
    assert (b.requests, b.failures, b.fail_ratio, b.percentile_source) == (1, 1, 1.0, "histogram")


def test_duplicate_endpoint_is_an_input_error():
    entries = locust_entries()
    with pytest.raises(InputError, match="appears twice"):
        run_from_entries(entries + entries[:1], source="x.json")


def test_results_folder_prefers_json_reads_sidecars_and_notes_intervals(tmp_path):
    shutil.copytree(GOLDEN_RUN, tmp_path / "run")
    (tmp_path / "run" / "intervals.jsonl").write_text('{"schema_version": 1, "interval_s": 5.0, "started_at": 0}\n')
    run = load_run(tmp_path / "run")
    assert run.percentile_source == "histogram" and run.has_intervals
    assert run.manifest.load.intended_users == 10 and run.business.derived["discovery_success_rate"] == 0.98
    assert run.manifest_raw["run_id"] == "golden-healthy"


def test_results_folder_with_only_the_csv(tmp_path):
    shutil.copytree(GOLDEN_RUN, tmp_path / "run")
    (tmp_path / "run" / "locust.json").unlink()
    run = load_run(tmp_path / "run")
    assert run.percentile_source == "csv" and run.manifest is not None and not run.has_intervals
    endpoint = run.endpoints["GET /auth/v1/user"]
    assert endpoint.histogram is None and endpoint.percentile(0.95) is not None and endpoint.percentile(0.97) is None
    assert endpoint.rps > 0


def test_csv_prefix_resolves_to_the_stats_file(tmp_path):
    shutil.copy(GOLDEN_RUN / "locust_stats.csv", tmp_path / "locust_stats.csv")
    assert load_run(tmp_path / "locust").percentile_source == "csv"


def test_csv_percentiles_equal_the_histogram_percentiles_of_the_same_stats(tmp_path):
    """Locust's own CSV writer and its JSON entries, from one set of stats: the two inputs must agree exactly.

    (A real run's final _stats.csv lags its locust.json by a second, so the golden pair cannot show this.)
    """
    environment = Environment()
    rng = np.random.default_rng(4)
    for name, median in (("/fast", 20), ("/slow", 900)):
        for ms in rng.lognormal(np.log(median), 0.7, 500):
            environment.stats.log_request("GET", name, float(ms), 1)
    with (tmp_path / "locust_stats.csv").open("w", newline="") as handle:
        StatsCSV(environment, PERCENTILES_TO_REPORT).requests_csv(csv.writer(handle))
    from_csv = load_run(tmp_path / "locust_stats.csv")
    from_json = run_from_entries([e.serialize() for e in environment.stats.entries.values()])
    assert set(from_csv.endpoints) == set(from_json.endpoints) == {"GET /fast", "GET /slow"}
    for key, endpoint in from_csv.endpoints.items():
        assert endpoint.requests == from_json.endpoints[key].requests == 500
        for q in PERCENTILES_TO_REPORT:
            assert endpoint.percentile(q) == from_json.endpoints[key].percentile(q), (key, q)


def test_rps_spans_the_whole_run_like_locusts_requests_per_second():
    run = load_run(GOLDEN_RUN / "locust.json")
    assert run.duration_s == pytest.approx(20, abs=1)  # the golden runs' --run-time (make_golden.py RUN_SECONDS)
    endpoint = run.endpoints["GET /auth/v1/user"]
    assert endpoint.rps == pytest.approx(endpoint.requests / run.duration_s)
