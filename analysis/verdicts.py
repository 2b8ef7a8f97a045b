"""The closed set of verdicts that every check ends in."""

from enum import StrEnum


class Verdict(StrEnum):
    PASS = "pass"  # within the SLA limit
    BREACH = "breach"  # over the SLA limit (exit 3)
    WARNING = "warning"  # past the criterion's warning level, within its limit (listed; exit code unchanged)
    MISSING = "missing"  # the baseline requires an endpoint the run never sent (exit 3: an unchecked SLA is not met)
    REGRESSED = "regressed"  # significantly and materially worse than the reference run (exit 4)
    IMPROVED = "improved"  # significantly and materially better than the reference run
    UNCHANGED = "unchanged"  # no significant change beyond the noise rule
    INCONCLUSIVE = "inconclusive"  # too few samples, or nothing measured to judge
    NOT_COMPARABLE = "not_comparable"  # the reference ran other scenario code or options, or has no histograms
