"""Device choice: ``auto`` means CUDA, then Apple's MPS, then the CPU."""

from __future__ import annotations

import re

import torch

from mixup_lib.errors import require

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
#: What a device name may be: one of :data:`DEVICE_CHOICES`, or ``cuda:<i>`` with i a GPU index 0, 1, ...
_DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
_ALLOWED_TEXT = "auto, cpu, cuda, cuda:<i> (i = 0, 1, ...) or mps"


def check_device_name(device: object) -> str:
    """Return ``device`` if it is a well-formed device name (:data:`DEVICE_CHOICES` or ``cuda:<i>``), else raise
    a one-line :class:`~mixup_lib.errors.ConfigError` listing the allowed forms. Says nothing about availability."""
    require(
        isinstance(device, str) and _DEVICE_PATTERN.fullmatch(device) is not None,
        f"device={device!r} is not allowed: choose {_ALLOWED_TEXT}",
    )
    return device


def resolve_device(device: str = "auto") -> torch.device:
    """Turn ``auto``/``cpu``/``cuda[:i]``/``mps`` into a ``torch.device`` that exists on this machine.

    A malformed name, or a device this machine lacks (no CUDA, a GPU index past the last, no MPS), raises a
    one-line :class:`~mixup_lib.errors.ConfigError`.
    """
    name = check_device_name(str(device))
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        require(torch.cuda.is_available(), f"device={device!r} is not available here: no CUDA GPU (use auto or cpu)")
        count = torch.cuda.device_count()
        index = int(name.partition(":")[2] or 0)
        require(
            index < count,
            f"device={device!r} is not available: {count} CUDA GPU(s) here (cuda:0 to cuda:{count - 1})",
        )
    if name == "mps":
        require(torch.backends.mps.is_available(), f"device={device!r} is not available here (use 'auto' or 'cpu')")
    return torch.device(name)


def device_description(device: torch.device) -> str:
    """A human name for provenance: the GPU's model, or the CPU with its thread count."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "mps (Apple GPU)"
    return f"cpu ({torch.get_num_threads()} threads)"
