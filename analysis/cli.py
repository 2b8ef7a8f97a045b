"""``python -m analysis <verb>``: the verb registry and the one place where bad input becomes a one-line error.

Each verb lives in its own module that defines ``add_arguments(parser)`` and ``run(args) -> ExitCode``. Modules are
imported lazily, only for the verb being run, so a heavy or unfinished verb (plots import matplotlib) never slows
down or breaks the others.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

from analysis.errors import InputError
from analysis.exit_codes import ExitCode

# verb -> (module, one-line help). Add a verb here and nowhere else.
VERBS: dict[str, tuple[str, str]] = {
    "compare": ("analysis.compare_cli", "decide SLA and regression verdicts for a run"),
    "record": ("analysis.record_cli", "store a run as a reference for later comparisons"),
    "plot": ("analysis.report_cli", "draw a run's plots"),
    "report": ("analysis.report_cli", "write a run's report"),
    "capacity": ("analysis.capacity_cli", "capacity-planning report from a step-load run"),
}


class _UsageErrorParser(argparse.ArgumentParser):
    """argparse already exits 2 on usage errors; kept explicit so the code is visible next to ExitCode.USAGE."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(ExitCode.USAGE)


def _load_verb_module(verb: str):
    module_name = VERBS[verb][0]
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as missing:
        # Only "the verb's own module is absent" means not available; a missing import inside it is a real bug.
        if missing.name != module_name:
            raise
        return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _UsageErrorParser(prog="python -m analysis", description="Read run results, decide, draw, report.")
    top.add_argument("--debug", action="store_true", help="show the traceback of an input error")
    top.add_argument("verb", choices=sorted(VERBS), help="; ".join(f"{v}: {h}" for v, (_, h) in VERBS.items()))
    # The top parser reads only what precedes the verb; the verb's own parser reads everything after it.
    verb_at = _verb_position(argv)
    head, tail = (argv[: verb_at + 1], argv[verb_at + 1 :]) if verb_at >= 0 else (argv, [])
    known = top.parse_args(head)
    debug = known.debug or "--debug" in tail

    module = _load_verb_module(known.verb)
    if module is None:
        print(f"python -m analysis {known.verb}: not available in this build ({VERBS[known.verb][0]} is missing)", file=sys.stderr)
        return ExitCode.USAGE
    verb_parser = _UsageErrorParser(prog=f"python -m analysis {known.verb}", description=VERBS[known.verb][1])
    verb_parser.add_argument("--debug", action="store_true", help="show the traceback of an input error")
    verb_parser.set_defaults(verb=known.verb)
    module.add_arguments(verb_parser)
    args = verb_parser.parse_args(tail)
    try:
        return int(module.run(args))
    except InputError as error:
        if debug:
            traceback.print_exc()
        print(f"error: {error.one_line()}", file=sys.stderr)
        return ExitCode.BAD_INPUT


def _verb_position(argv: list[str]) -> int:
    """Index of the first argument that is a known verb (options such as --debug may come before it)."""
    for index, word in enumerate(argv):
        if word in VERBS:
            return index
    return -1
