"""One HTML table helper for the book: result rows, claims, settings/provenance, and the substitution notice.

Every table is :func:`table`: rows (mappings) and columns (header, key, format). Every string is escaped.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: The format of a column whose values print verbatim (str, escaped) in ``<code>``: settings, versions, commits.
CODE = "code"
#: What a missing value (None, NaN, or a key the row lacks) prints as.
MISSING = "–"

Column = tuple[str, str, str]
"""(header, key, format): the header text, the row key, and a format spec (``".2e"``), ``""`` or :data:`CODE`."""


def cell(value: Any, spec: str) -> str:
    """One cell's HTML: booleans as yes/no, None/NaN as –, numbers by ``spec``, :data:`CODE` verbatim in <code>."""
    if spec == CODE:
        return f"<code>{html.escape(str(value))}</code>"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    return html.escape(format(value, spec) if spec else str(value))


def table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[Column],
    caption: str = "",
    *,
    classes: str = "table",
    head: bool = True,
) -> str:
    """An HTML table of ``rows``: one ``<tr>`` per row, one cell per column (:func:`cell`).

    ``columns`` are (header, key, format) e.g. ("R", "R", ".2e"); a key missing from a row prints as –.
    ``head=False`` leaves out the header row (a key/value listing); ``classes`` is the table's CSS class.
    """
    header = "".join(f"<th>{html.escape(name)}</th>" for name, _, _ in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell(row.get(key), spec)}</td>" for _, key, spec in columns) + "</tr>" for row in rows
    )
    title = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    thead = f"<thead><tr>{header}</tr></thead>" if head else ""
    return f'<table class="{html.escape(classes)}">{title}{thead}<tbody>{body}</tbody></table>'


def record_table(record: Mapping[str, Any], caption: str) -> str:
    """A two-column (key, value) table without header: a page's settings ("what was run") or its provenance."""
    rows = [{"key": key, "value": value} for key, value in record.items()]
    return table(rows, [("", "key", ""), ("", "value", CODE)], caption, head=False)


def notice(requested: str, used: str, reason: str) -> str:
    """The substitution notice: a warning admonition saying the page ran on ``used`` instead of ``requested``.

    DESIGN.md: a figure never runs on another data set without saying so on the rendered page. ``reason`` (why
    ``requested`` could not be had, and the remedy) is shown preformatted. Renders in the book and in JupyterLab.
    """
    return (
        '<div class="admonition warning"><p class="admonition-title">Data set substituted</p>'
        f"<p>This figure asks for <strong>{html.escape(requested)}</strong>, which could not be had on the "
        f"machine that ran it. <strong>Everything below uses {html.escape(used)} instead</strong>; its numbers "
        "are not the paper's. Reason and remedy:</p>"
        f"<pre>{html.escape(reason)}</pre></div>"
    )


__all__ = ["CODE", "MISSING", "Column", "cell", "notice", "record_table", "table"]
