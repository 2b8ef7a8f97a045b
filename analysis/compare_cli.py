"""``python -m analysis compare RESULTS --baseline FILE [--reference RUN] [--format F] [--output PATH]``.

Prints (or writes) the verdict and exits with the decision's exit code (analysis/exit_codes.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis import sequential
from analysis.baseline import load_baseline
from analysis.decide import decide
from analysis.errors import InputError
from analysis.exit_codes import ExitCode
from analysis.reference import load_reference
from analysis.render import FORMATS, RENDERERS
from analysis.results import load_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", help="a harness results folder, a Locust --json-file output, or a Locust --csv prefix")
    parser.add_argument("--baseline", required=True, help="SLA file (TOML), e.g. baselines/production.toml")
    parser.add_argument("--reference", help="a reference recorded with `record`, or another run to compare with")
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    parser.add_argument("--output", help="write the verdict to this file instead of standard output")
    parser.epilog = "exit codes: " + ", ".join(f"{int(code)} {code.name.lower().replace('_', ' ')}" for code in ExitCode)


def run(args: argparse.Namespace) -> ExitCode:
    baseline = load_baseline(args.baseline)  # first: a bad baseline is reported before any run is read
    results = load_run(args.results)
    reference = load_reference(args.reference) if args.reference else None
    decision = sequential.apply_recorded(decide(results, baseline, reference), args.results)  # until-decided runs
    rendered = RENDERERS[args.format](decision)
    if args.output:
        output = Path(args.output)
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(rendered, encoding="utf-8")
        except OSError as error:
            raise InputError(f"cannot write the verdict ({error.strerror or error})", path=output) from None
        print(f"{decision.outcome} (exit {int(decision.exit_code)}): verdict written to {output}", file=sys.stderr)
    else:
        sys.stdout.write(rendered)
    return decision.exit_code
