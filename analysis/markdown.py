"""Markdown escaping for strings that came from a run (endpoint names, error texts, manifest values).

Such strings may hold anything, and the Markdown ends up in GitHub's job summary and in report.md: a name like
``<img src=x>`` or ``a|b`` must show as written, not render or split a table cell.
"""

from __future__ import annotations

import html
import re

# Only what can change structure is escaped, so that report.md stays readable as plain text: `<`, `>` and `&` as
# HTML entities (no HTML can be injected), and `|` (table cells), backticks (code spans) and `*` (emphasis) with a
# backslash. Underscores and brackets are left alone: GitHub does not emphasise inside words, and `[csv]` with no
# `(url)` after it is not a link.
_STRUCTURAL = re.compile(r"([|`*])")


def escape_text(text: object) -> str:
    """Plain text safe anywhere in Markdown, table cells included."""
    return _STRUCTURAL.sub(r"\\\1", html.escape(str(text), quote=False))


def code_span(text: object) -> str:
    """A code span for an untrusted string. HTML is never interpreted inside one, but a backtick would end it and
    a ``|`` would split a table cell (GitHub honours ``\\|`` even inside code spans)."""
    text = str(text).replace("|", "\\|")
    return f"`` {text} ``" if "`" in text else f"`{text}`"
