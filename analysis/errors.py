"""The one error type for bad input. Each CLI catches it once and prints one line."""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """A file, key or value the harness cannot use.

    ``str(error)`` is the one line a person sees: ``<path>: <key>: <problem>; <hint>``.
    """

    def __init__(self, problem: str, *, path: str | Path | None = None, key: str | None = None, hint: str | None = None):
        self.problem = problem
        self.path = str(path) if path is not None else None
        self.key = key
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        parts = [p for p in (self.path, self.key) if p]
        text = ": ".join(parts + [self.problem])
        return f"{text}; {self.hint}" if self.hint else text
