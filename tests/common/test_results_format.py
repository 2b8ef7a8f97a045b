"""common/results_format.py owns the results folder's names, versions and stop reasons: writers and readers agree."""

from __future__ import annotations

import analysis.capacity_components
import analysis.decide
import analysis.intervals
import analysis.results
import harness.component_samples
import harness.intervals
import harness.results
import scenarios.metrics
from common import results_format as fmt


def test_writers_and_readers_name_each_file_the_same():
    assert harness.results.MANIFEST_FILE == analysis.results.MANIFEST_JSON == fmt.MANIFEST_FILE
    assert harness.intervals.INTERVALS_FILE == analysis.intervals.INTERVALS_FILE == analysis.results.INTERVALS_JSONL
    assert scenarios.metrics.METRICS_FILE == analysis.results.BUSINESS_METRICS_JSON == fmt.BUSINESS_METRICS_FILE
    assert harness.component_samples.COMPONENTS_FILE == analysis.capacity_components.COMPONENTS_FILE
    assert harness.intervals.SCHEMA_VERSION == analysis.intervals.SCHEMA_VERSION == fmt.INTERVALS_SCHEMA_VERSION
    assert scenarios.metrics.SCHEMA_VERSION == fmt.BUSINESS_METRICS_SCHEMA_VERSION
    assert harness.results.SCHEMA_VERSION == fmt.MANIFEST_SCHEMA_VERSION


def test_stop_reasons_are_one_closed_set():
    assert set(fmt.COMPLETE_STOP_REASONS) <= set(fmt.STOP_REASONS)
    assert set(fmt.GUARD_STOP_REASONS) <= set(fmt.STOP_REASONS) - set(fmt.COMPLETE_STOP_REASONS)
    assert analysis.decide.GUARD_STOP_REASONS == frozenset(harness.results.GUARD_STOP_REASONS)


def test_no_module_spells_a_results_file_name_itself():
    """Outside common/results_format.py, the harness's own file names appear only as imported constants."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    names = (fmt.MANIFEST_FILE, fmt.INTERVALS_FILE, fmt.BUSINESS_METRICS_FILE, fmt.COMPONENTS_FILE)
    spelled = []
    for package in ("analysis", "harness", "scenarios"):
        for path in (root / package).rglob("*.py"):
            text = path.read_text()
            spelled += [f"{path.relative_to(root)}: {name}" for name in names if f'"{name}"' in text]
    assert not spelled, spelled
