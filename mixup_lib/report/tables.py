"""One HTML table helper for the book: result rows, claims, settings/provenance, and the substitution notice.

Every table is :func:`table`: rows (mappings) and columns (header, key, format). Every string is escaped.
:func:`provenance_line` is the line at the top of every chapter page saying where its numbers come from.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
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


def transposed_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], caption: str = "", *,
                     classes: str = "table") -> str:
    """:func:`table` on its side: one line per column (its header first, as ``<th>``), one column per row.

    For a few rows of many fields (published results beside ours), which as rows would not fit the text column.
    """
    body = "".join(
        f"<tr><th>{html.escape(name)}</th>" + "".join(f"<td>{cell(row.get(key), spec)}</td>" for row in rows) + "</tr>"
        for name, key, spec in columns
    )
    title = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f'<table class="{html.escape(classes)}">{title}<tbody>{body}</tbody></table>'


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


def notices(substitutions: Sequence[tuple[str, str, str]]) -> str:
    """One substitution notice for a whole page: every (requested, used, reason), "" when there is none.

    A single substitution is :func:`notice` itself; several are one admonition with one item per data set, so a
    page that substitutes four data sets says so once, at the top, and names all four.
    """
    if len(substitutions) <= 1:
        return "".join(notice(*entry) for entry in substitutions)
    items = "".join(
        f"<li><strong>{html.escape(requested)}</strong> → {html.escape(used)}<pre>{html.escape(reason)}</pre></li>"
        for requested, used, reason in substitutions
    )
    return (
        '<div class="admonition warning"><p class="admonition-title">Data sets substituted</p>'
        f"<p>This page asks for {len(substitutions)} data sets that could not be had on the machine that ran it. "
        "<strong>Wherever they appear below, another data set was used instead</strong>; those numbers are not "
        "the paper's. Each data set, what ran instead, and the reason and remedy:</p>"
        f"<ul>{items}</ul></div>"
    )


def results_file(where: str | os.PathLike, committed_dir: str | os.PathLike) -> str:
    """How a page names the results file it read, never as an absolute path of the machine that built it.

    A committed file is shown relative to the repository (``results/robustness/full.json``; under
    ``$MIXUP_RESULTS/…`` when that points elsewhere), a cached one relative to the run store
    (``$MIXUP_RUNS/results/<chapter>/<file>``).
    """
    where, committed = Path(where), Path(committed_dir)
    try:
        inside = where.resolve().relative_to(committed.resolve())
    except ValueError:
        return f"$MIXUP_RUNS/results/{where.parent.name}/{where.name}"
    prefix = "$MIXUP_RESULTS" if os.environ.get("MIXUP_RESULTS") else "results"  # mixup_lib.results.committed_dir
    return f"{prefix}/{inside.as_posix()}"


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return "wall time not recorded"
    if seconds < 120:
        return f"wall time {seconds:.0f} s"
    if seconds < 7200:
        return f"wall time {seconds / 60:.0f} min"
    return f"wall time {seconds / 3600:.1f} h"


def provenance_line(results: Mapping[str, Any], where: str | os.PathLike, *, committed_dir: str | os.PathLike,
                    since: float | None = None) -> str:
    """The line at the top of a chapter page: when, where and from which commit its numbers were computed.

    "computed on <date> on <machine> (<cores>, <device>), commit <x>, <wall time>; read from <file>; recompute
    with …". Everything comes from ``results["provenance"]`` (the store's :func:`mixup_lib.results.base_provenance`
    and the chapter's device) and from ``where``, the file :func:`mixup_lib.results.obtain` returned: a committed
    file (shown repository-relative, :func:`results_file`), the run store's cache, or computed now (the file was
    written after ``since``, the time just before ``obtain`` was called).
    """
    record, chapter = results.get("provenance", {}), results.get("chapter", "<chapter>")
    profile = results.get("settings", {}).get("profile") or record.get("profile") or "<profile>"
    shown = results_file(where, committed_dir)
    fresh = since is not None and Path(where).stat().st_mtime >= since
    if fresh:
        source = f"computed while this page was built, saved to <code>{html.escape(shown)}</code>"
    elif shown.startswith(("results/", "$MIXUP_RESULTS/")):
        source = f"read from the committed file <code>{html.escape(shown)}</code>"
    else:
        source = f"read from the run store's cache <code>{html.escape(shown)}</code>"
    cores = record.get("cores")
    cores_text = "? cores" if cores is None else f"{cores} core{'s' if cores != 1 else ''}"
    again = "" if fresh else " --recompute"
    into = f" --out {shown}" if shown.startswith("results/") else ""  # the page reads the committed file first
    command = f"python -m mixup_lib compute {chapter} --profile {profile}{again}{into}"
    figure = f'make figure NB={chapter} PARAMS="-p profile {profile}"'
    text = (f"Numbers on this page: computed on {html.escape(str(record.get('date', '?')))} on "
            f"{html.escape(str(record.get('machine', '?')))} ({html.escape(cores_text)}, "
            f"{html.escape(str(record.get('device', '?')))}), commit "
            f"<code>{html.escape(str(record.get('git commit', '?')))}</code>, "
            f"{_duration(record.get('wall time s'))}; {source}. Recompute with <code>{html.escape(command)}</code>, "
            f"then redraw with <code>{html.escape(figure)}</code>.")
    return f'<p class="mixup-provenance">{text}</p>'


__all__ = ["CODE", "MISSING", "Column", "cell", "notice", "notices", "provenance_line", "record_table",
           "results_file", "table", "transposed_table"]
