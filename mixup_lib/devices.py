"""Device choice: ``auto`` means CUDA, then Apple's MPS, then the CPU."""

from __future__ import annotations

import torch

from mixup_lib.errors import require

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(device: str = "auto") -> torch.device:
    """Turn ``auto``/``cpu``/``cuda[:i]``/``mps`` into a ``torch.device`` that exists on this machine."""
    name = str(device)
    require(
        name.split(":")[0] in DEVICE_CHOICES,
        f"device={device!r} is not allowed: choose one of {', '.join(DEVICE_CHOICES)} (cuda:<i> too)",
    )
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        require(torch.cuda.is_available(), f"device={device!r} is not available here: no CUDA GPU (use auto or cpu)")
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
