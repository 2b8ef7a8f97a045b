"""argparse types for numeric options: a bad value is argparse's one-line usage error (exit 2), never a traceback.

Shared by the analysis verbs and the load-shape options in scenarios/shapes.py (pure, so scenarios may import it).
"""

from __future__ import annotations

import argparse
import math


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def positive_float(text: str) -> float:
    return _finite_number(text, allow_zero=False)


def non_negative_float(text: str) -> float:
    return _finite_number(text, allow_zero=True)


def _finite_number(text: str, *, allow_zero: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise argparse.ArgumentTypeError(f"{text!r} must be {'zero or more' if allow_zero else 'more than zero'}")
    return value
