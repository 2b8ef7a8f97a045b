"""The process exit codes shared by the in-run gate and the analysis CLI (see docs/architecture.md)."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # every gate passed
    BAD_INPUT = 1  # bad input or configuration; a one-line message says what and where
    USAGE = 2  # command-line misuse (also Locust's own code for an unhandled error)
    SLA_BREACHED = 3
    REGRESSED = 4  # significantly worse than the reference run
    RUN_NOT_VALID = 5  # too few samples, generator overloaded, intended load not reached, worker lost
    STOPPED_BY_GUARD = 6  # a safety or spend guard stopped the run
