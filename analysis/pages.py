"""The one report engine: Jinja2 templates (analysis/templates/) for the pages analysis writes.

Templated: the run report (report.html.j2, report.md.j2), the capacity report (capacity.html.j2, capacity.md.j2)
and the verdict Markdown (verdict.md.j2: verdict.md, GitHub's job summary, and the top of report.md).

Locust's own report is a Jinja2 template; ours are too. One environment, one stylesheet (report.css, inlined into
every HTML page so that each stays a single self-contained file) and one escaping rule per output:
* HTML (``*.html.j2``): autoescaped; every string that came from input is escaped unless a filter says otherwise.
  ``inline`` keeps the two Markdown marks the documents use (`code`, **bold**) and escapes everything else.
* Markdown (``*.md.j2``): not autoescaped (it is not HTML); strings that came from a run go through ``md``
  (analysis.markdown.escape_text: ``<``, ``>``, ``&``, ``|``, backtick and ``*`` cannot change the page's
  structure), and a table cell written by the harness itself through ``cell`` (only ``|`` escaped).
"""

from __future__ import annotations

import base64
import html
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from analysis.markdown import code_span, escape_text

TEMPLATES = Path(__file__).with_name("templates")
STYLESHEET = "report.css"


def inline_html(text: str) -> Markup:
    """The two Markdown inline marks the documents use (`code`, **bold**), everything else escaped."""
    escaped = html.escape(str(text))
    out, code, bold = [], False, False
    index = 0
    while index < len(escaped):
        if escaped.startswith("**", index):
            out.append("</strong>" if bold else "<strong>")
            bold, index = not bold, index + 2
        elif escaped[index] == "`":
            out.append("</code>" if code else "<code>")
            code, index = not code, index + 1
        else:
            out.append(escaped[index])
            index += 1
    return Markup("".join(out))


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html.j2"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)  # fmt: skip
    env.filters.update(inline=inline_html, md=escape_text, code=code_span, data_uri=png_data_uri,
                       cell=lambda text: str(text).replace("|", "\\|"))  # fmt: skip
    env.globals["stylesheet"] = Markup(stylesheet())
    return env


@lru_cache(maxsize=1)
def stylesheet() -> str:
    """The one stylesheet of every HTML page (templates/report.css)."""
    return (TEMPLATES / STYLESHEET).read_text(encoding="utf-8")


def render(template: str, **context) -> str:
    """``template`` (a file of analysis/templates/) filled with ``context``."""
    return environment().get_template(template).render(**context)
