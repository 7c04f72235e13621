"""Moved to :mod:`mixup_lib.report.plots` (every panel, colours, method labels); kept for the notebooks."""

from mixup_lib.report.plots import *  # noqa: F403
from mixup_lib.report.plots import __all__  # noqa: F401
