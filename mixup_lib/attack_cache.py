"""Robust accuracy over an ε grid with an on-disk cache, so that an interrupted computation resumes its attacks.

:func:`attack_accuracy` runs :func:`mixup_lib.attacks.robust_accuracy` (FGSM-ℓ∞ of Fig. 1a, or the PGD-ℓ∞
control) and, given a ``model_key`` (the run's config hash), stores the accuracies as JSON under
``<run store>/attack-cache``; the entry is reused when every input of :func:`attack_cache_key` matches: the
model, a digest of the data tensors, the attack and its settings, and a digest of :mod:`mixup_lib.attacks`'
source with :data:`ATTACK_CACHE_VERSION`. Files are written atomically (a killed process leaves no partial entry).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mixup_lib import attacks
from mixup_lib.errors import check_choice, check_positive_int
from mixup_lib.storage import atomic_write_json

#: Bump when a change here changes cached attack numbers (part of the cache key, with attacks.py's source).
ATTACK_CACHE_VERSION = 1
#: The cache's folder inside the run store.
ATTACK_CACHE_FOLDER = "attack-cache"
#: The attacks :func:`attack_accuracy` runs.
CACHED_ATTACKS = ("fgsm", "pgd")

__all__ = ["ATTACK_CACHE_FOLDER", "ATTACK_CACHE_VERSION", "CACHED_ATTACKS", "attack_accuracy", "attack_cache_key",
           "cache_folder"]


def _digest(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def _tensor_bytes(t: torch.Tensor) -> bytes:
    return t.detach().cpu().contiguous().numpy().tobytes() + str((tuple(t.shape), str(t.dtype))).encode()


def cache_folder(runs_dir: str | Path | None = None) -> Path:
    """``<run store>/attack-cache``; the store is ``runs_dir``, else ``$MIXUP_RUNS`` or ``./runs``."""
    from mixup_lib.runs import default_runs_dir

    return (Path(runs_dir) if runs_dir else default_runs_dir()) / ATTACK_CACHE_FOLDER


def attack_cache_key(model_key: str, x: torch.Tensor, y: torch.Tensor, eps_list: Sequence[float], attack: str,
                     steps: int, seed: int, batch_size: int) -> dict[str, Any]:
    """Everything an attack result depends on: the model (its run hash), the data, the attack and its code.

    The data enter as a digest of the tensors, the code as a digest of :mod:`mixup_lib.attacks`' source and
    :data:`ATTACK_CACHE_VERSION`. ``steps``/``seed``/``batch_size`` matter for PGD only (its random start
    depends on the batching) and are set to 0 for FGSM.
    """
    pgd = attack == "pgd"
    return {
        "version": ATTACK_CACHE_VERSION,
        "code": _digest(Path(attacks.__file__).read_bytes()),
        "model": model_key,
        "data": _digest(_tensor_bytes(x), _tensor_bytes(y)),
        "attack": attack,
        "eps": [float(e) for e in eps_list],
        "steps": steps if pgd else 0,
        "seed": seed if pgd else 0,
        "batch_size": batch_size if pgd else 0,
    }


def attack_accuracy(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps_list: Sequence[float],
    attack: str = "fgsm",
    *,
    steps: int = 10,
    seed: int = 0,
    batch_size: int = 256,
    model_key: str | None = None,
    cache_dir: str | Path | None = None,
) -> list[float]:
    """Robust accuracy at each ε (:func:`mixup_lib.attacks.robust_accuracy`): FGSM-ℓ∞ (Fig. 1a) or PGD-ℓ∞.

    PGD takes ``steps`` steps of 2.5ε/steps from a random start drawn from a generator seeded with ``seed``,
    so its numbers are reproducible. With ``model_key`` (e.g. the run's config hash) the result is cached as
    JSON under ``cache_dir`` (default :func:`cache_folder`) and reused when every input of
    :func:`attack_cache_key` matches; the file is written atomically.
    """
    check_choice("attack", attack, CACHED_ATTACKS)
    check_positive_int("steps", steps)
    check_positive_int("batch_size", batch_size)
    path = key = None
    if model_key is not None:
        key = attack_cache_key(model_key, x, y, eps_list, attack, steps, seed, batch_size)
        folder = Path(cache_dir) if cache_dir is not None else cache_folder()
        path = folder / f"{_digest(json.dumps(key, sort_keys=True).encode())[:24]}.json"
        if path.is_file():
            try:
                stored = json.loads(path.read_text())
                if stored.get("key") == key:
                    return [float(a) for a in stored["accuracy"]]
            except (OSError, ValueError):
                pass  # unreadable: recompute and overwrite
    kw: dict[str, Any] = {}
    if attack == "pgd":
        kw = {"steps": steps, "generator": torch.Generator().manual_seed(seed)}
    accuracy = attacks.robust_accuracy(model, (x, y), list(eps_list), attack=attack, batch_size=batch_size, **kw)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, {"key": key, "accuracy": accuracy})
    return accuracy
