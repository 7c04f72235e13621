"""The robustness chapter, being moved here from ``mixup_lib.robustness``.

Importing it registers the chapter's presets and settings rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mixup_lib import robustness


def configs(settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every trainer config of the chapter: Fig. 1a's models, then the α sweep's (on the data set used)."""
    choice, _ = robustness.choose_data(settings)
    return [*robustness.fig1a_configs(settings, choice.used).values(),
            *robustness.alpha_sweep_configs(settings, choice.used).values()]
