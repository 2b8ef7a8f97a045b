"""Renderers (JUnit, Markdown, verdict files) and recording a reference that later runs compare with."""

import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from analysis.baseline import load_baseline
from analysis.cli import main
from analysis.decide import decide
from analysis.reference import load_reference
from analysis.render import render_junit, render_markdown, write_verdict_files
from analysis.results import load_run

REPO = Path(__file__).resolve().parents[2]
RUNS = REPO / "tests" / "golden" / "runs"
PRODUCTION = REPO / "baselines" / "production.toml"


def breach_decision():
    return decide(load_run(RUNS / "slow-leads"), load_baseline(PRODUCTION))


def test_junit_has_one_case_per_check_and_fails_exactly_the_failing_ones():
    decision = breach_decision()
    suite = ElementTree.fromstring(render_junit(decision))
    cases = suite.findall("testcase")
    assert len(cases) == len(decision.checks) + 1  # + run validity
    failed = {(c.get("classname"), c.get("name")) for c in cases if c.find("failure") is not None}
    assert failed == {(c.subject, c.metric) for c in decision.breaches} | ({("run", "validity")} if not decision.valid else set())
    skipped = {(c.get("classname"), c.get("name")): c.find("skipped").get("message") for c in cases if c.find("skipped") is not None}
    assert set(skipped) == {(c.subject, c.metric) for c in decision.inconclusive}
    assert all("more requests would settle it" in message for (_, metric), message in skipped.items() if metric == "fail_ratio")
    assert suite.get("failures") == str(len(failed)) and suite.get("tests") == str(len(cases))
    assert {c.get("classname") for c in cases} >= set(load_run(RUNS / "slow-leads").endpoints)


def test_markdown_leads_with_the_verdict_and_lists_every_breach():
    decision = breach_decision()
    markdown = render_markdown(decision)
    assert markdown.startswith("## Performance verdict: ❌ BREACH (exit 3)")
    failing_section = markdown.split("### Failing checks", 1)[1].split("###", 1)[0]
    assert failing_section.count("\n- ") == len(decision.breaches) == 4
    # Right after the breaches: what the samples could not decide, each with what would settle it.
    inconclusive_section = markdown.split("### Failing checks", 1)[1].split("### Inconclusive checks", 1)[1].split("<details>", 1)[0]
    assert inconclusive_section.count("\n- ") == len(decision.inconclusive) > 0
    assert inconclusive_section.count("would settle it") == sum(c.trials is not None for c in decision.inconclusive)


def test_write_verdict_files(tmp_path):
    written = write_verdict_files(breach_decision(), tmp_path / "out")
    assert sorted(p.name for p in written.values()) == ["verdict.json", "verdict.junit.xml", "verdict.md", "verdict.txt"]
    assert json.loads((tmp_path / "out" / "verdict.json").read_text())["exit_code"] == 3


def test_record_then_compare_round_trip(tmp_path, capsys):
    reference_file = tmp_path / "refs" / "healthy.json"
    assert main(["record", str(RUNS / "healthy"), "--output", str(reference_file)]) == 0
    document = json.loads(reference_file.read_text())
    assert document["schema_version"] == 2 and len(document["runs"]) == 1
    assert document["runs"][0]["provenance"]["locust"] == "2.47.0"
    assert document["runs"][0]["manifest"]["run_id"] == "golden-healthy"
    recorded, original = load_reference(reference_file), load_run(RUNS / "healthy")
    assert {k: e.histogram for k, e in recorded.endpoints.items()} == {k: e.histogram for k, e in original.endpoints.items()}
    # A run compared with its own recording: comparable, nothing changed, exit 0.
    capsys.readouterr()
    code = main(["compare", str(RUNS / "healthy"), "--baseline", str(PRODUCTION), "--reference", str(reference_file), "--format", "json"])
    verdict = json.loads(capsys.readouterr().out)
    assert code == 0 and verdict["counts"]["regressed"] == verdict["counts"]["improved"] == 0
    assert verdict["counts"]["unchanged"] == 2 * len(original.endpoints) + 1  # p50 and p95 per endpoint, + cost anomaly


def test_compare_output_file(tmp_path, capsys):
    output = tmp_path / "v" / "verdict.md"
    code = main(["compare", str(RUNS / "slow-leads"), "--baseline", str(PRODUCTION), "--format", "markdown", "--output", str(output)])
    assert code == 3 and output.read_text().startswith("## Performance verdict")
    assert capsys.readouterr().out == ""
