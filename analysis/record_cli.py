"""``python -m analysis record RESULTS --output FILE``: store a run as the reference for later comparisons."""

from __future__ import annotations

import argparse

from analysis.exit_codes import ExitCode
from analysis.reference import write_reference
from analysis.results import load_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", help="a harness results folder or a Locust --json-file output (needs histograms)")
    parser.add_argument("--output", required=True, help="reference file to write, e.g. baselines/reference-healthy.json")


def run(args: argparse.Namespace) -> ExitCode:
    run_result = load_run(args.results)
    path = write_reference(run_result, args.output)
    print(f"recorded {len(run_result.endpoints)} endpoints from {run_result.source} as reference {path}")
    return ExitCode.OK
