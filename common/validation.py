"""A pydantic validation error as one line: the TOML key a person would look for, and what is wrong with it.

Used by every TOML file the project validates with pydantic: baselines (analysis/baseline.py), the simulator's
profiles (simulator/profiles.py) and the workload (scenarios/workload.py). Each caller wraps the two parts in its
own one-line error (file: key: problem).
"""

from __future__ import annotations

import re

from pydantic import ValidationError

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def toml_key(location: tuple) -> str:
    """pydantic's location as a TOML key: ``endpoints."GET /x".p95_ms``, ``discovery.tiers[0].value``."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            part = str(part)
            text += ("." if text else "") + (part if _BARE_KEY.fullmatch(part) else f'"{part}"')
    return text or "(top level)"


def first_error(error: ValidationError, *, unknown_key: str = "unknown key") -> tuple[str, str]:
    """(key, problem) of the first error; ``unknown_key`` is the problem of a key the model does not know."""
    first = error.errors()[0]
    if first["type"] == "extra_forbidden":
        problem = unknown_key
    else:
        problem = first["msg"].rstrip(".").replace("Value error, ", "")
    return toml_key(first["loc"]), problem
