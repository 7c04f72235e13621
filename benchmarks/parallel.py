"""Benchmark 5: the speed-up of training a chapter's runs on the local worker pool (issue #14, item 1).

``dispatch.train_pending(configs, workers=1)`` (in this process, one torch thread, one run after another) against
``workers=2`` (two worker processes of one torch thread each, forkserver start included), each into a fresh temporary
run store, so both train every run. The configs are the robustness chapter's quick profile
(``robustness.configs(profiles.resolve("robustness", "quick"))``): eight runs of WRN-16-1 of equal cost (Fig. 1a's
ERM and mixup for three seeds, and two more α of the sweep), so two workers can split them evenly and the ratio
measures the pool, not the luck of the split. On a machine without SVHN the configs are those of its Fashion-MNIST
fallback, the runs ``compute`` trains there. Target: at least :data:`TARGET` × on 2 cores.

The two arms run once each (a run trains for tens of seconds: a repeat would double the section's minutes), in the
order 1 then 2 workers; the machine's load average before and after is recorded beside them.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from typing import Any

from benchmarks import harness

#: Target speed-up of two workers over one on 2 cores.
TARGET = 1.6
CHAPTER = "robustness"


def quick_configs(profile: str = "quick") -> list[dict[str, Any]]:
    """The chapter's own configs at ``profile`` (the data set this machine has, as ``compute`` would train)."""
    from mixup_lib import profiles, results

    return results.chapter_module(CHAPTER).configs(profiles.resolve(CHAPTER, profile))


def time_training(configs: list[dict[str, Any]], workers: int) -> tuple[float, int]:
    """Seconds for ``dispatch.train_pending(configs, workers=workers)`` into a fresh temporary run store, and the
    number of runs it trained."""
    from mixup_lib import dispatch

    with tempfile.TemporaryDirectory(prefix=f"bench-workers{workers}-") as folder:
        start = time.perf_counter()
        outcomes = dispatch.train_pending(configs, workers=workers, need_weights=True, runs_dir=folder)
        seconds = time.perf_counter() - start
    return seconds, len(outcomes)


def run_speedup(profile: str = "quick", workers: tuple[int, int] = (1, 2),
                log: Callable[[str], None] = print) -> dict[str, Any]:
    """Time the chapter's ``profile`` configs with ``workers[0]`` and ``workers[1]`` workers; their ratio."""
    from mixup_lib import runs, train

    configs = quick_configs(profile)
    distinct = len({runs.config_hash(train.validate_config(c)) for c in configs})
    load_start = harness.load_average()
    seconds = {}
    for w in workers:
        seconds[str(w)], trained = time_training(configs, w)
        if trained != distinct:
            raise RuntimeError(f"workers={w} trained {trained} of {distinct} runs: the timing would not compare")
        log(f"[5] {CHAPTER} {profile} profile, {distinct} runs: train_pending(workers={w}) {seconds[str(w)]:.1f} s")
    ratio = seconds[str(workers[0])] / seconds[str(workers[1])]
    log(f"[5] speed-up {workers[1]} workers / {workers[0]}: {ratio:.2f}x (target >= {TARGET:g}x on 2 cores)")
    sample = train.validate_config(configs[0])
    return {
        "chapter": CHAPTER, "profile": profile, "runs": distinct, "workers": list(workers), "seconds": seconds,
        "ratio": ratio, "target": TARGET, "usable_cores": harness.usable_cores(),
        "what": (f"{distinct} runs of {sample['model']} on {sample['dataset']}, {sample['epochs']} epochs of "
                 f"{sample['n_train'] or 'all'} images each"),
        "load_average_start": load_start, "load_average_end": harness.load_average(),
    }
