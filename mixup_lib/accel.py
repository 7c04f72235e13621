"""The GPU fast path: backend flags, channels_last, bf16 autocast and optional ``torch.compile``.

The recipe of the fastest small-image trainers (airbench, hlb-CIFAR10; see DESIGN.md "Speed"): keep the data
on the GPU (the trainer already does), then

- :func:`configure_backends` — ``cudnn.benchmark`` (pick the fastest convolution algorithm for the fixed
  batch shape) and TF32 matrix multiplies/convolutions;
- :func:`prepare_model` / :func:`prepare_input` — ``channels_last`` (NHWC) memory format, which the tensor
  cores' convolution kernels want;
- :func:`autocast` — bfloat16 autocast for the forward pass (no loss scaling needed, unlike float16);
- :func:`maybe_compile` — ``torch.compile``, off by default (compilation costs tens of seconds per model).

Every helper is a no-op on the CPU unless asked explicitly, so CPU numbers do not change by importing this.
Measured on this project's 2-core AMD EPYC CPU, one thread (tools/PERF_NOTES.md): channels_last speeds a
training step up there too (oneDNN's NHWC kernels): ×1.20 for WRN-16-2 on 28×28, ×1.43 for WRN-16-1 and ×1.09
for WRN-16-2 on 32×32×3, ×1.17 for PreAct ResNet-18 (width 8) on 28×28. It changes the convolution algorithm and
so the rounding of every number, so :func:`prepare_model` turns it on for the CPU only when asked
(``channels_last=True``). bf16 autocast is not applied on the CPU: its 8-bit mantissa would change the CPU
results far more than rounding, although it is ×1.9 faster there for WRN-16-2 on a CPU with AVX-512 BF16.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

__all__ = ["autocast", "configure_backends", "has_conv", "maybe_compile", "prepare_input", "prepare_model"]


def _device(device: str | torch.device) -> torch.device:
    return device if isinstance(device, torch.device) else torch.device(device)


def configure_backends(device: str | torch.device) -> dict[str, Any]:
    """Set the process-wide CUDA backend flags for fast training; return what was set (for provenance).

    On CUDA: ``torch.backends.cudnn.benchmark = True`` and TF32 for float32 matmuls and convolutions
    (``torch.backends.cuda.matmul.allow_tf32``, ``torch.backends.cudnn.allow_tf32``). TF32 keeps float32's
    range with a 10-bit mantissa, like bf16 autocast's products. On other devices nothing changes and ``{}``
    is returned.
    """
    if _device(device).type != "cuda":
        return {}
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    return {"cudnn.benchmark": True, "cuda.matmul.allow_tf32": True, "cudnn.allow_tf32": True}


def has_conv(model: nn.Module) -> bool:
    """True when the model has a 2-D convolution (the only layers channels_last speeds up)."""
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


#: Narrowest convolution (output channels) for which channels_last is used on the CPU: oneDNN's channels_last
#: kernels corrupt memory on this project's CPU builds for 4-channel convolutions (PreAct ResNet-18 of width 4:
#: "double free or corruption", segfaults or hangs after a few steps; width 8 and up are fine).
CPU_CHANNELS_LAST_MIN_WIDTH = 8


def channels_last_safe_on_cpu(model: nn.Module) -> bool:
    """True when every 2-D convolution of ``model`` has at least :data:`CPU_CHANNELS_LAST_MIN_WIDTH` outputs."""
    widths = [m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d)]
    return bool(widths) and min(widths) >= CPU_CHANNELS_LAST_MIN_WIDTH


def _use_channels_last(model: nn.Module, device: torch.device, channels_last: bool | None) -> bool:
    if channels_last is None:
        channels_last = device.type == "cuda"
    return bool(channels_last) and has_conv(model)


def prepare_model(model: nn.Module, device: str | torch.device, *, channels_last: bool | None = None) -> nn.Module:
    """Move ``model`` to ``device`` and, for convolutional nets, to the channels_last memory format.

    ``channels_last=None`` (auto) means on for CUDA, off elsewhere; ``True``/``False`` force it. Models
    without a ``Conv2d`` are only moved. The parameters are converted in place (the same ``Parameter``
    objects), so an optimizer built before the call keeps working. Returns the model.
    """
    device = _device(device)
    model = model.to(device)
    if _use_channels_last(model, device, channels_last):
        model = model.to(memory_format=torch.channels_last)
    return model


def prepare_input(x: torch.Tensor, model: nn.Module, *, channels_last: bool | None = None) -> torch.Tensor:
    """A 4-D image batch in the memory format :func:`prepare_model` chose for ``model`` (same rule, same flag).

    Other tensors (vectors, labels) are returned unchanged. The values are the same; only the layout changes.
    """
    if x.ndim == 4 and _use_channels_last(model, x.device, channels_last):
        return x.contiguous(memory_format=torch.channels_last)
    return x


def autocast(device: str | torch.device, enabled: bool = True) -> contextlib.AbstractContextManager:
    """bfloat16 autocast on CUDA when ``enabled``; a no-op context on the CPU (and MPS) or when disabled.

    Use it around the forward pass (the trainer's losses call ``.float()`` on the logits, so the loss itself is
    computed in float32); backward runs outside the context, as PyTorch recommends. A plain function returning
    ``torch.autocast`` or ``contextlib.nullcontext()``: cheap enough to enter once per training step.
    """
    if enabled and _device(device).type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def maybe_compile(model: nn.Module, enabled: bool = False, **compile_kwargs: Any) -> nn.Module:
    """``torch.compile(model, **compile_kwargs)`` when ``enabled``, else ``model`` itself (the default).

    The compiled module shares its parameters with ``model`` (save ``model.state_dict()``, not the wrapper's,
    whose keys carry an ``_orig_mod.`` prefix). Compilation happens on the first call and needs a C++
    compiler on the CPU; it pays off only for long runs of one fixed shape.
    """
    if not enabled:
        return model
    return torch.compile(model, **compile_kwargs)
