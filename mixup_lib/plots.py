"""Moved to :mod:`mixup_lib.report.plots` (every panel, colours, method labels); kept for the notebooks."""

from mixup_lib.report.plots import (
    BATCH_RUN_ENV,
    COLORS,
    METHOD_LABELS,
    decision_boundary,
    draw_curves,
    draw_gap_summary,
    interactive_session,
    mean_band,
    method_label,
    use_style,
)

__all__ = [
    "BATCH_RUN_ENV",
    "COLORS",
    "METHOD_LABELS",
    "decision_boundary",
    "draw_curves",
    "draw_gap_summary",
    "interactive_session",
    "mean_band",
    "method_label",
    "use_style",
]
