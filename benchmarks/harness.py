"""Timing machinery shared by every benchmark: interleaved repeats, medians, the matmul peak, machine facts.

Rules (so that ratios measured on a busy machine still mean something):

- every arm of a comparison runs in the same process, warm-up first (untimed), then the arms interleaved
  A, B, C, C, B, A, A, B, C, ... so slow drifts of the machine's load hit every arm alike;
- each arm times itself (``time.perf_counter``) and returns seconds; a comparison reports the median over
  repeats of each arm and the ratio of the medians;
- the garbage collector runs before each timed call, not during it.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch

#: What an arm returns: seconds of timed work, plus optional extra timings (e.g. evaluation) in seconds.
Sample = dict[str, float]


def interleaved(arms: Mapping[str, Callable[[], Sample]], repeats: int, warmup: int = 1) -> dict[str, list[Sample]]:
    """Run every arm ``warmup`` times untimed, then ``repeats`` times interleaved (order reversed every repeat)."""
    names = list(arms)
    for _ in range(warmup):
        for name in names:
            arms[name]()
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            gc.collect()
            gc.disable()
            try:
                samples[name].append(arms[name]())
            finally:
                gc.enable()
    return samples


def median(samples: list[Sample], key: str = "s") -> float:
    return statistics.median(s[key] for s in samples)


def timed(fn: Callable[[], Any]) -> Sample:
    """Call ``fn`` once and return its wall time as a :data:`Sample`."""
    start = time.perf_counter()
    fn()
    return {"s": time.perf_counter() - start}


def summarize(samples: dict[str, list[Sample]], items: int) -> dict[str, dict[str, Any]]:
    """Per arm: median seconds, items/s at the median, every repeat's seconds (and extra timings' medians)."""
    out: dict[str, dict[str, Any]] = {}
    for name, rows in samples.items():
        med = median(rows)
        entry: dict[str, Any] = {"median_s": med, "per_s": items / med, "repeats_s": [r["s"] for r in rows]}
        for key in rows[0]:
            if key != "s":
                entry[f"median_{key}"] = median(rows, key)
        out[name] = entry
    return out


def _rate(fn: Callable[[], Any], flops: float, repeats: int) -> dict[str, float]:
    fn()
    times = [timed(fn)["s"] for _ in range(repeats)]
    return {"median_gflops": flops / statistics.median(times) / 1e9, "best_gflops": flops / min(times) / 1e9}


def matmul_peak(n: int = 2048, repeats: int = 5) -> dict[str, float]:
    """Dense float32 matmul rate at the current thread count: GFLOP/s of an n×n×n ``torch.mm`` (2n³ FLOPs)."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g)
    b = torch.randn(n, n, generator=g)
    return {"n": n, **_rate(lambda: torch.mm(a, b), 2 * n**3, repeats)}


def conv_peak(batch: int = 64, channels: int = 128, size: int = 28, repeats: int = 5) -> dict[str, float]:
    """Dense float32 3×3 convolution rate (channels_last, the layout oneDNN/cuDNN prefer): GFLOP/s.

    On CPUs where the BLAS behind ``torch.mm`` does not use the widest vector units (MKL on AMD processors
    takes its AVX2 path), oneDNN's convolution is the faster dense kernel; the limit a convolutional
    network can approach is the larger of the two rates.
    """
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, channels, size, size, generator=g).contiguous(memory_format=torch.channels_last)
    w = torch.randn(channels, channels, 3, 3, generator=g).contiguous(memory_format=torch.channels_last)
    flops = 2 * batch * size * size * channels * channels * 9
    shape = f"{batch}x{channels}x{size}x{size}, 3x3, {channels} filters"
    return {"shape": shape, **_rate(lambda: torch.nn.functional.conv2d(x, w, padding=1), flops, repeats)}


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else ``platform.processor()``."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def machine(threads: int) -> dict[str, Any]:
    """Where the benchmark ran: CPU model, cores, torch threads, load average, GPU if any."""
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "torch_threads": threads,
        "platform": f"{platform.machine()}, {platform.system()} {platform.release()}",
        "load_average_start": load_average(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return info
