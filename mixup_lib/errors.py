"""One-line errors for bad input (the project's rule: name the value and what is allowed)."""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

Func = TypeVar("Func", bound=Callable[..., Any])


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
    """Return ``value`` as a float if it is a finite number >= 0 (not a bool), else raise a one-line error."""
    require(
        isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0,
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


def check_float_pixels(name: str, tensor) -> None:
    """Raise a one-line error unless ``tensor`` is floating point: the library's pixels are floats in [0, 1]."""
    require(
        tensor.is_floating_point(),
        f"{name} has dtype {tensor.dtype}: it must be a floating-point tensor of pixels in [0, 1] "
        f"(for 0..255 images use {name}.float() / 255)",
    )


def check_num_classes(num_classes: int) -> int:
    """Return ``num_classes`` if it is an integer >= 2 (not a bool), else raise a one-line error."""
    require(
        isinstance(num_classes, int) and not isinstance(num_classes, bool) and num_classes >= 2,
        f"num_classes={num_classes!r} is not allowed: it must be an integer >= 2",
    )
    return num_classes


def check_labels(name: str, labels, batch: int, num_classes: int | None = None) -> None:
    """Raise a one-line error unless ``labels`` are class indices: an integer tensor (N,) with N = ``batch``,
    values in [0, ``num_classes``) (only >= 0 checked when ``num_classes`` is None)."""
    import torch

    require(
        isinstance(labels, torch.Tensor),
        f"{name} of type {type(labels).__name__} is not allowed: it must be a torch.Tensor of integer class labels",
    )
    shape = tuple(labels.shape)
    require(shape == (batch,), f"{name} has shape {shape}: it must hold one label per input, ({batch},)")
    integer = not labels.is_floating_point() and not labels.is_complex() and labels.dtype != torch.bool
    require(integer, f"{name} has dtype {labels.dtype}: labels must be an integer tensor of class indices (.long())")
    upper = math.inf if num_classes is None else check_num_classes(num_classes)
    if labels.numel():
        lo, hi = int(labels.min()), int(labels.max())
        allowed = "they must be >= 0" if num_classes is None else f"they must be in [0, {upper}) for {upper} classes"
        require(lo >= 0 and hi < upper, f"{name} has labels in [{lo}, {hi}]: {allowed}")


def reject_unknown_keywords(func: Func) -> Func:
    """Decorator: a keyword argument ``func`` does not take raises a one-line :class:`ConfigError` naming it and
    the allowed keywords (instead of Python's TypeError). For functions without ``**kwargs``."""
    allowed = allowed_keywords(func)

    @functools.wraps(func)
    def checked(*args: Any, **kwargs: Any) -> Any:
        check_keywords(func.__name__, kwargs, allowed)
        return func(*args, **kwargs)

    return checked  # type: ignore[return-value]


def allowed_keywords(func: Callable[..., Any], skip: int = 0) -> tuple[str, ...] | None:
    """Names ``func`` accepts as keywords after its first ``skip`` parameters; None if it takes ``**kwargs``."""
    params = list(inspect.signature(func).parameters.values())
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    keyword_kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return tuple(p.name for p in params[skip:] if p.kind in keyword_kinds)


def check_keywords(where: str, given: dict[str, Any], allowed: Iterable[str] | None) -> None:
    """Raise a one-line error naming the first keyword of ``given`` not in ``allowed`` (None allows any)."""
    if allowed is None:
        return
    allowed = tuple(allowed)
    unknown = [key for key in given if key not in allowed]
    if unknown:
        key = unknown[0]
        listed = ", ".join(allowed) if allowed else "none"
        raise ConfigError(f"{key}={given[key]!r} is not a keyword of {where}: allowed keywords are {listed}")
