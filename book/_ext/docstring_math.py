"""Docstrings write absolute values and norms as in the paper (``|cos(∇f(x), x)|``, ``‖x‖``); reStructuredText
reads ``|…|`` as a substitution reference. This extension escapes every ``|`` outside inline literals in the
docstrings autodoc renders, so the API page shows them as written (and ``--warningiserror`` stays on)."""

from __future__ import annotations

import re

LITERAL = re.compile(r"(``.*?``)")


def escape_pipes(line: str) -> str:
    """``line`` with each ``|`` outside double-backtick literals escaped (``\\|``)."""
    parts = LITERAL.split(line)
    return "".join(part if part.startswith("``") else re.sub(r"(?<!\\)\|", r"\\|", part) for part in parts)


def _process(app, what, name, obj, options, lines: list[str]) -> None:
    lines[:] = [escape_pipes(line) for line in lines]


def setup(app):
    app.connect("autodoc-process-docstring", _process)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
