"""The results folder's formats: file names, schema versions and stop reasons, for their writers and readers alike.

A run folder (results/<run-id>/, docs/architecture.md "The results folder") is written by harness/results.py
(manifest.json), harness/intervals.py (intervals.jsonl), scenarios/metrics.py (business_metrics.json) and
harness/component_samples.py (components.jsonl), and read by analysis/results.py, analysis/intervals.py,
analysis/decide.py and analysis/capacity_components.py. Each name and version is spelled here once, so that a
renamed file, a new schema version or a new stop reason cannot reach one side only.
"""

from __future__ import annotations

# ---- file names --------------------------------------------------------------------------------------------------
MANIFEST_FILE = "manifest.json"
INTERVALS_FILE = "intervals.jsonl"
BUSINESS_METRICS_FILE = "business_metrics.json"
COMPONENTS_FILE = "components.jsonl"  # the simulator's component samples, copied in by the launcher
LOCUST_JSON_FILE = "locust.json"  # Locust's own --json-file output (the launcher gives --json-file <dir>/locust)

# ---- schema versions (each file's "schema_version") -------------------------------------------------------------
MANIFEST_SCHEMA_VERSION = 1
BUSINESS_METRICS_SCHEMA_VERSION = 1
INTERVALS_SCHEMA_VERSION = 1

# ---- manifest.stop_reason -----------------------------------------------------------------------------------------
# The closed set of stop reasons the manifest may carry.
STOP_REASONS = ("run-time", "shape", "stopped", "decided", "undecidable", "max-duration", "interrupted", "spend-guard",
                "safety", "error")  # fmt: skip
# Reasons for which the run ended as planned: the numbers describe the whole of it. "stopped" is a test stopped
# from the web UI (or its API) before Locust was quit. "decided", "undecidable" and "max-duration" are the in-run
# gate's until-decided mode: every required check decided; every one decided but those the maximum would not
# settle either (futility); or the maximum duration (--run-time) reached first.
COMPLETE_STOP_REASONS = ("run-time", "shape", "stopped", "decided", "undecidable", "max-duration")
# Reasons that mean a safety or cost guard ended the run.
GUARD_STOP_REASONS = ("spend-guard", "safety")
