"""workload.toml: the shipped file loads; bad content is an InputError naming the key; the SPA body is built."""

from __future__ import annotations

import random
import tomllib

import pytest

from analysis.errors import InputError
from scenarios.settings import load_settings
from scenarios.workload import WORKLOAD_FILE, load_workload


def test_shipped_workload_loads_and_builds_the_spa_discovery_body(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    workload = load_workload()
    body = workload.discovery_request(random.Random(3), "user-1", load_settings())
    assert body["sessionUserId"] == body["userId"] == "user-1"  # must equal the JWT sub, or the function 403s
    assert 1 <= body["maxResults"] <= 10 and body["minConfidenceScore"] == 70
    assert body["budgetLimit"] == round(body["maxResults"] * workload.tier_prices_usd[body["tierKey"]], 2)
    assert body["options"]["apolloDiscovery"] == (body["tierKey"] == "ENTERPRISE")


def test_settings_override_the_sampled_values(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PP_TIER", "ENTERPRISE")
    monkeypatch.setenv("PP_MAX_RESULTS", "10")
    body = load_workload().discovery_request(random.Random(1), "u", load_settings())
    assert (body["tierKey"], body["maxResults"], body["budgetLimit"]) == ("ENTERPRISE", 10, 25.0)


def broken_copy(tmp_path, old: str, new: str):
    text = WORKLOAD_FILE.read_text()
    assert old in text
    path = tmp_path / "workload.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(("old", "new", "message"), [
    ('{ value = "BASE", weight = 6 }', '{ value = "GOLD", weight = 6 }', "discovery.tiers: unknown tier 'GOLD'"),
    ("{ value = 3, weight = 6 }", "{ value = 30, weight = 6 }", "discovery.max_results[0].value: Input should be less than or equal to 10"),
    ("after_sign_in = [2.0, 5.0]", "after_sign_in = [5.0, 2.0]", "think_time_s.after_sign_in: [5.0, 2.0] is not 0 <= min <= max"),
    ("ExportUser = 1\n", "", "mix.ExportUser: Field required"),
    ("schema_version = 1", "schema_version = 2", "schema_version: unsupported schema_version"),
    # pydantic (WorkloadFile): unknown keys, wrong types and bad weights are errors too, in the same one line
    ("enrich_top_n = 3 ", "enrich_top_n = 3\nenrich_top = 4 ", "journey.enrich_top: unknown key"),
    ("{ value = 3, weight = 6 }", '{ value = "3", weight = 6 }', "discovery.max_results[0].value: Input should be a valid integer"),
    ('{ value = "BASE", weight = 6 }', '{ value = "BASE", weight = 0 }', "discovery.tiers[0].weight: Input should be greater than 0"),
    ("tiers = [", "tiers = [] \nold_tiers = [", "discovery.tiers: List should have at least 1 item"),
    ("enrich_top_n = 3 ", "enrich_top_n = -3 ", "journey.enrich_top_n: Input should be greater than or equal to 0"),
])  # fmt: skip
def test_bad_content_names_the_key(tmp_path, old, new, message):
    with pytest.raises(InputError, match="^" + str(tmp_path).replace(".", r"\.") + "/workload.toml: " + message.replace("[", r"\[").replace("]", r"\]")):
        load_workload(broken_copy(tmp_path, old, new))


def test_every_value_has_its_source_next_to_it():
    # The file is data with stated sources: every table has a comment saying where its numbers come from.
    text = WORKLOAD_FILE.read_text()
    for table in tomllib.loads(text):
        if table != "schema_version":
            section = text.split(f"[{table}]", 1)[1].split("\n[", 1)[0]
            assert "#" in section, f"[{table}] has no source or assumption comment"
