"""Verdicts on the paper's claims, computed from results with thresholds stated on the page (never typed by hand)."""

from __future__ import annotations

from dataclasses import dataclass

from mixup_lib.report import tables

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive at this scale"
#: The mark shown next to each verdict (the chapters' HTML tables, the README's and the intro's Markdown table).
MARKS = {SUPPORTED: "✅", NOT_SUPPORTED: "❌", INCONCLUSIVE: "❔"}


@dataclass(frozen=True)
class Claim:
    """One row of a chapter's claims table."""

    number: int
    statement: str
    evidence: str
    verdict: str


def verdict(holds: bool, *, conclusive: bool = True) -> str:
    """``supported`` / ``not supported``, or ``inconclusive at this scale`` when the evidence is too weak to tell."""
    if not conclusive:
        return INCONCLUSIVE
    return SUPPORTED if holds else NOT_SUPPORTED


def graded(value: float, *, supported_below: float, inconclusive_below: float) -> str:
    """A verdict for an error-like number: small is support, middling is inconclusive, large is not."""
    if value < supported_below:
        return SUPPORTED
    return INCONCLUSIVE if value < inconclusive_below else NOT_SUPPORTED


def claims_table(claims: list[Claim]) -> str:
    """The chapter's closing table as HTML: claim, evidence on the page, computed verdict (with its mark)."""
    rows = [{"number": c.number, "statement": c.statement, "evidence": c.evidence,
             "verdict": f"{MARKS[c.verdict]} {c.verdict}"} for c in claims]
    columns = [("#", "number", ""), ("claim", "statement", ""), ("evidence here", "evidence", ""),
               ("verdict", "verdict", "")]
    return tables.table(rows, columns, classes="table claims")
