"""The generalization chapter, being moved here from ``mixup_lib.generalization``.

Importing it registers the chapter's presets and settings rules.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from mixup_lib import generalization as gen
from mixup_lib import profiles
from mixup_lib.data import DatasetUnavailable, load_dataset


def configs(settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every trainer config: per used data set, method and seed (Figs. 5–8); then the n and α sweeps."""
    common = {k: settings[k] for k in ("width", "epochs", "n_train", "n_test", "alpha", "track_penalty")}

    def config(dataset: str, method: str, seed: int, **changes: Any) -> dict[str, Any]:
        return gen.run_config(dataset, method, seed, **{**common, **changes})

    used: list[str] = []
    for name in gen.DATASETS:
        kw = {"n_train": settings["n_train"], "n_test": settings["n_test"], "seed": 0}
        if settings["fallback"]:
            used.append(profiles.load_with_fallback(name, **kw).used)
        else:
            with contextlib.suppress(DatasetUnavailable):  # the notebook shows it as missing: nothing to train
                load_dataset(name, **kw)
                used.append(name)
    sweep = gen.SWEEP_DATASET
    return [
        *(config(d, m, s) for d in dict.fromkeys(used) for m in gen.METHODS for s in settings["seeds"]),
        *(config(sweep, m, s, n_train=n) for n in settings["n_grid"] for m in gen.METHODS
          for s in settings["sweep_seeds"]),
        *(config(sweep, "erm", s) for s in settings["sweep_seeds"]),
        *(config(sweep, "mixup", s, alpha=a) for a in settings["alpha_grid"] for s in settings["sweep_seeds"]),
    ]
