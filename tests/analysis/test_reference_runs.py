"""Regression verdicts that hold from one run to the next (issue 10 part 2): references of several runs, the
run-to-run variation measured between them, and an interval that must clear the noise band."""

import json
from pathlib import Path

import numpy as np
import pytest

from analysis.baseline import RegressionRule
from analysis.cli import main
from analysis.decide import decide
from analysis.histogram import Histogram
from analysis.reference import ReferenceRuns, load_reference, write_reference
from analysis.regression import compare_histograms, run_to_run_variance
from analysis.verdicts import Verdict
from tests.support.decisions import GOOD_MANIFEST, baseline, endpoint, run

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden"
RULE = RegressionRule()
KEY = "GET /x"


def lognormal_histogram(seed: int, n: int, median: float, sigma: float = 0.5) -> Histogram:
    return Histogram.from_samples(np.random.default_rng(seed).lognormal(np.log(median), sigma, n))


def run_of(seed: int, scale: float, n: int = 1000, keys=(KEY,)):
    rng = np.random.default_rng(seed)
    endpoints = [endpoint(key, rng.lognormal(np.log(200 + 40 * i), 0.5, n) * scale) for i, key in enumerate(keys)]
    return run(*endpoints, manifest=GOOD_MANIFEST)


def test_a_change_whose_interval_reaches_into_the_noise_band_is_not_a_regression():
    # Issue 10: "regressed: +10.3 % [+1.6 %, +20.8 %]" was called on the point estimate alone. Now the whole
    # interval must clear the band: a +10 % point whose interval reaches down to +1 % is "unchanged".
    reference = lognormal_histogram(1, 150, 200)
    current = lognormal_histogram(2, 150, 220)
    (change, _) = compare_histograms(reference, current, RULE, endpoints_tested=15)  # one endpoint of 15 in a run
    low, high = change.interval
    assert change.relative_change > RULE.min_relative_change and low < RULE.min_relative_change
    assert change.verdict is Verdict.UNCHANGED and ("noise band" in change.reason or "not significant" in change.reason)


def test_a_clear_slowdown_is_still_regressed():
    (p50, _) = compare_histograms(lognormal_histogram(1, 1000, 200), lognormal_histogram(2, 1000, 300), RULE)
    assert p50.verdict is Verdict.REGRESSED and p50.interval[0] > RULE.min_relative_change


def test_run_to_run_variation_is_measured_between_reference_runs_and_widens_the_interval():
    # Three reference runs of an unchanged system that differ by +-10 % from run to run (machine load, warm-up),
    # and a current run 15 % slower than the middle one: well inside that variation.
    keys = [f"GET /e{i}" for i in range(6)]
    references = [run_of(seed, scale, keys=keys) for seed, scale in ((1, 0.9), (2, 1.0), (3, 1.1))]
    current = run_of(4, 1.15, keys=keys)
    spread = run_to_run_variance([{k: e.histogram for k, e in r.endpoints.items()} for r in references], RULE)
    assert set(spread.by_endpoint) == set(keys)
    for measured in spread.by_endpoint.values():  # ~10 % run to run, on 2 percentiles x 2 degrees of freedom
        assert measured.runs == 3 and measured.degrees_of_freedom == 4 and 0.04 < np.sqrt(measured.log_variance) < 0.25
    b = baseline(regression={})
    against_one = decide(current, b, references[1])
    assert {c.subject for c in against_one.regressions} == set(keys)  # one run: the variation looks like a regression
    multi = ReferenceRuns(source="<3 runs>", endpoints=references[1].endpoints, manifest=references[1].manifest,
                          runs=tuple(references))  # fmt: skip
    against_three = decide(current, b, multi)
    assert against_three.regressions == ()
    widened = [c for c in against_three.checks if c.metric == "p50 change"]
    assert all("run-to-run variation of 3 reference runs" in c.reason for c in widened)
    # ...while a real slowdown far past that variation still clears the widened interval.
    slow = decide(run_of(5, 3.0, keys=keys), b, multi)
    assert {c.subject for c in slow.regressions} == set(keys)


def test_each_endpoint_gets_its_own_run_to_run_variation():
    # A steady endpoint and one that moves +-30 % from run to run: each interval is widened by its own.
    steady = [lognormal_histogram(seed, 1000, 200) for seed in (1, 2, 3)]
    noisy = [lognormal_histogram(seed, 1000, 20 * scale) for seed, scale in ((4, 0.7), (5, 1.0), (6, 1.3))]
    spread = run_to_run_variance([{"GET /steady": s, "GET /noisy": n} for s, n in zip(steady, noisy)], RULE)
    assert spread.for_endpoint("GET /steady").log_variance < 0.01 < spread.for_endpoint("GET /noisy").log_variance
    assert spread.for_endpoint("GET /other") == spread.pooled


def test_one_reference_run_has_no_run_to_run_variation():
    assert run_to_run_variance([{KEY: lognormal_histogram(1, 500, 100)}], RULE) is None


# ---- the reference file: record, --add, and older files -----------------------------------------------------------
def test_record_add_builds_a_reference_of_several_runs_and_compare_accepts_it(tmp_path, capsys):
    reference = tmp_path / "ref.json"
    assert main(["record", str(GOLDEN / "runs" / "healthy"), "--output", str(reference)]) == 0
    assert main(["record", str(GOLDEN / "runs" / "slower-enrichment"), "--output", str(reference), "--add"]) == 0
    assert "(2 runs)" in capsys.readouterr().out
    document = json.loads(reference.read_text())
    assert document["schema_version"] == 2 and len(document["runs"]) == 2
    loaded = load_reference(reference)
    assert isinstance(loaded, ReferenceRuns) and len(loaded.runs) == 2
    enrich = "POST /functions/v1/enrichment-orchestrator"
    assert loaded.endpoints[enrich].requests == sum(r.endpoints[enrich].requests for r in loaded.runs)
    regression_only = tmp_path / "baseline.toml"
    regression_only.write_text('schema_version = 1\nname = "regression only"\n[regression]\n')
    assert main(["compare", str(GOLDEN / "runs" / "healthy"), "--baseline", str(regression_only),
                 "--reference", str(reference), "--format", "json"]) in (0, 4)  # fmt: skip
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["reference"].endswith("ref.json (2 runs)")
    assert any("run-to-run variation of 2 reference runs" in c["reason"] for c in verdict["checks"])


def test_add_refuses_a_run_of_other_scenario_code_in_one_line(tmp_path, capsys):
    reference = tmp_path / "ref.json"
    write_reference(load_reference(GOLDEN / "references" / "other-scenario.json"), reference)
    code = main(["record", str(GOLDEN / "runs" / "healthy"), "--output", str(reference), "--add"])
    err = capsys.readouterr().err
    assert code == 1 and "cannot join the reference: scenario code differs" in err and "Traceback" not in err
    assert len(json.loads(reference.read_text())["runs"]) == 1  # nothing written


def test_add_without_a_reference_is_one_line(tmp_path, capsys):
    code = main(["record", str(GOLDEN / "runs" / "healthy"), "--output", str(tmp_path / "none.json"), "--add"])
    assert code == 1 and "no reference to add to" in capsys.readouterr().err


def test_an_older_single_run_reference_still_loads_and_decides_the_same():
    old, new = load_reference(GOLDEN / "references" / "healthy-v1.json"), load_reference(GOLDEN / "references" / "healthy.json")
    assert json.loads((GOLDEN / "references" / "healthy-v1.json").read_text())["schema_version"] == 1
    assert {k: e.histogram for k, e in old.endpoints.items()} == {k: e.histogram for k, e in new.endpoints.items()}
    assert old.manifest == new.manifest and len(old.runs) == 1


@pytest.mark.parametrize("version", [0, 3, "2"])
def test_unknown_reference_versions_are_refused(tmp_path, capsys, version):
    path = tmp_path / "ref.json"
    path.write_text(json.dumps({"schema_version": version, "kind": "prospectpro-reference-run", "runs": []}))
    code = main(["compare", str(GOLDEN / "runs" / "healthy"), "--baseline", str(REPO / "baselines" / "production.toml"),
                 "--reference", str(path)])  # fmt: skip
    assert code == 1 and "unsupported schema_version" in capsys.readouterr().err
