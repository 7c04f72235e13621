"""One-line errors for bad input (the project's rule: name the value and what is allowed)."""

from __future__ import annotations

import math
from collections.abc import Iterable


class ConfigError(ValueError):
    """A parameter has a value the library does not accept; the message is one line."""

    def _render_traceback_(self) -> list[str]:
        """IPython/Jupyter shows this instead of a traceback: a bad notebook parameter reads as one line."""
        return [f"ConfigError: {self}"]


def require(condition: bool, message: str) -> None:
    """Raise :class:`ConfigError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(message)


def check_nonnegative(name: str, value: float) -> float:
    """Return ``value`` if it is a finite number >= 0, else raise a one-line error."""
    require(
        isinstance(value, (int, float)) and math.isfinite(value) and value >= 0,
        f"{name}={value!r} is not allowed: it must be a finite number >= 0",
    )
    return float(value)


def check_positive_int(name: str, value: int) -> int:
    """Return ``value`` if it is an integer >= 1, else raise a one-line error."""
    require(
        isinstance(value, int) and not isinstance(value, bool) and value >= 1,
        f"{name}={value!r} is not allowed: it must be an integer >= 1",
    )
    return value


def check_choice(name: str, value: object, allowed: Iterable[object]) -> object:
    """Return ``value`` if it is one of ``allowed``, else raise a one-line error listing them."""
    allowed = list(allowed)
    require(value in allowed, f"{name}={value!r} is not allowed: choose one of {', '.join(map(str, allowed))}")
    return value


def check_finite(name: str, tensor) -> None:
    """Raise a one-line error if a tensor holds NaN or ±inf values."""
    import torch

    bad = int((~torch.isfinite(tensor)).sum()) if tensor.is_floating_point() else 0
    require(bad == 0, f"{name} contains {bad} NaN/inf values: inputs must be finite (pixels in [0, 1])")
