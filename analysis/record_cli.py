"""``python -m analysis record RESULTS --output FILE [--add]``: store a run as (part of) the reference for later runs.

Without ``--add`` the file holds this run alone. With ``--add`` the run joins the runs already in FILE: a reference
of several runs of an unchanged system lets the regression test measure how much runs differ from one another
(analysis/regression.py). A run whose scenario code or load options differ from the reference's is refused.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from analysis.decide import not_comparable_reason
from analysis.errors import InputError
from analysis.exit_codes import ExitCode
from analysis.reference import load_reference, write_reference
from analysis.results import load_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", help="a harness results folder or a Locust --json-file output (needs histograms)")
    parser.add_argument("--output", required=True, help="reference file to write, e.g. baselines/reference-healthy.json")
    parser.add_argument("--add", action="store_true",
                        help="append the run to the reference already in --output (same scenario code and options)")  # fmt: skip


def run(args: argparse.Namespace) -> ExitCode:
    run_result = load_run(args.results)
    if args.add:
        if not Path(args.output).is_file():
            raise InputError("no reference to add to", path=args.output, hint="record the first run without --add")
        reason = not_comparable_reason(run_result, load_reference(args.output))
        if reason:
            raise InputError(f"this run cannot join the reference: {reason}", path=args.results,
                             hint="record runs of the same scenario code and load options into one reference")  # fmt: skip
    path = write_reference(run_result, args.output, add=args.add)
    runs = len(getattr(load_reference(path), "runs", ())) or 1
    print(f"recorded {len(run_result.endpoints)} endpoints from {run_result.source} into reference {path} ({runs} run{'s' * (runs > 1)})")
    return ExitCode.OK
