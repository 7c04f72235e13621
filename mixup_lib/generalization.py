"""Generalization (Section 4; Figs. 5–8 and the role of Fig. 1b): the gap of mixup vs ERM, and its theory.

Zhang et al., *How Does Mixup Help With Robustness and Generalization?* (ICLR 2021). Figs. 5–8 show, on
CIFAR-10, CIFAR-100, Fashion-MNIST and Kuzushiji-MNIST, the training and test loss and error of a
pre-activation ResNet-18 trained with ERM and with mixup, and the generalization gap (test − train);
Fig. 1b summarises the gaps. The paper's claim (claim 8 in ``SPEC.md``): mixup's gap is smaller than ERM's
on each data set, throughout training. Section 4 explains it: mixup adds the data-adaptive quadratic
penalty (E[(1−λ)²]/2)·(1/n) Σ_i h''(f(x_i))·∇f(x_i)ᵀ Σ̂_X ∇f(x_i) (+ a per-sample term), whose constraint set
has a Rademacher complexity scaling like √(rank(Σ_X)/n).

This module holds the chapter's protocol; the notebook only chooses parameters, calls it and draws.

- :func:`run_config` — the trainer config of one run (data set, method, seed, and the sweeps' n and α).
- :func:`gap_curves` / :func:`stack_curves` — per-epoch train/test loss and error and the gaps
  (test − train) from a run's metrics; training loss/error are those of the *clean* training set
  (the trainer evaluates the unmixed training set in eval mode).
- :func:`summarize_final_gaps` — the final gaps per data set and method (the role of Fig. 1b); a data set
  without runs is kept, marked missing (NaN), so the figure shows it as missing rather than dropping it.
- :func:`compare_gaps` / :func:`throughout_verdict` — claim 8's "smaller throughout training", computed.
- :func:`sweep_summary`, :func:`loglog_slope`, :func:`trend` — the gap against n and against α.
- :func:`penalty_terms` — the Section 4 penalty (and its curvature-free form) and :func:`covariance_spectrum` /
  :func:`effective_rank` — rank(Σ_X) and softer versions: defined in :mod:`mixup_lib.approx`, named here too.
- :func:`draw_curves` / :func:`draw_gap_summary` — the two kinds of figure, drawn by :mod:`mixup_lib.report.plots`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mixup_lib import claims, profiles
from mixup_lib.approx import covariance_spectrum, data_adaptive_penalty, effective_rank, penalty_terms
from mixup_lib.errors import check_choice, require

#: The data sets of Figs. 5–8, in the order the paper names them.
DATASETS = ("cifar10", "cifar100", "fashion_mnist", "kmnist")
LABELS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "fashion_mnist": "Fashion-MNIST", "kmnist": "KMNIST"}
METHODS = ("erm", "mixup")
QUANTITIES = ("loss", "error")
#: Keys of :func:`gap_curves` (``penalty`` only when every row has it).
CURVE_KEYS = ("epoch", "train_loss", "test_loss", "train_error", "test_error", "loss_gap", "error_gap")
#: Keys of :func:`penalty_terms`, recorded per epoch by runs with ``track_penalty``.
PENALTY_KEYS = ("penalty", "gradient_penalty")
#: The run store label of this chapter's runs (not part of the hash).
RUN_NAME = "generalization"
#: The sweeps (n and α, beyond the paper) run on the real data set available everywhere.
SWEEP_DATASET = "fashion_mnist"
SWEEP_TRAIN_SIZE = 60_000  # Fashion-MNIST's training set: the largest n of the n sweep


def label(dataset: str) -> str:
    """A data set's display name (``fashion_mnist`` → ``Fashion-MNIST``)."""
    return LABELS.get(dataset, dataset)


# ----------------------------------------------------------------------------------------------------------
# Configs


def run_config(
    dataset: str,
    method: str,
    seed: int,
    *,
    width: int,
    epochs: int,
    n_train: int | None,
    n_test: int | None,
    alpha: float = 1.0,
    track_penalty: int = 0,
    data_seed: int = 0,
    device: str = "auto",
) -> dict[str, Any]:
    """The trainer config of one run of Figs. 5–8: pre-activation ResNet-18 of base width ``width``.

    ``dataset`` must be the data set actually *used* (after any fallback): two requested data sets that
    fall back to the same one then get identical configs, and the run store computes them once. The
    optimizer fields are the trainer's defaults, i.e. the paper's SGD, batch 64, momentum 0.9, lr 0.1
    (with the trainer's one-cycle schedule, weight decay 5e-4, no augmentation: see :mod:`mixup_lib.train`).
    For ERM, α is normalized away by the trainer. The subset (``data_seed``) is the same for every seed and
    method, so seeds vary only initialization, batch order and mixing.
    """
    check_choice("method", method, METHODS)
    config = {
        "name": RUN_NAME,
        "dataset": dataset,
        "model": "preact-resnet18",
        "model_kwargs": {"width": width},
        "method": method,
        "alpha": alpha if method == "mixup" else 0.0,
        "epochs": epochs,
        "seed": seed,
        "n_train": n_train,
        "n_test": n_test,
        "data_seed": data_seed,
        "device": device,
    }
    if track_penalty:
        config["track_penalty"] = track_penalty
    return config


# ----------------------------------------------------------------------------------------------------------
# The chapter's settings rules: profiles.resolve checks every setting with them before anything runs


def _penalty_points_within_subsets(settings: Mapping[str, Any]) -> None:
    """Section 4's penalty is measured on ``track_penalty`` training points of every run, sweeps included."""
    sizes = [n for n in (settings["n_train"], *settings["n_grid"]) if n is not None]
    require(not sizes or settings["track_penalty"] <= min(sizes),
            f"track_penalty={settings['track_penalty']!r} is not allowed: it must be at most the smallest training "
            f"subset ({min(sizes) if sizes else 'all'}, from n_train and n_grid)")


def _sweep_sizes_available(settings: Mapping[str, Any]) -> None:
    largest = max(settings["n_grid"])
    require(largest <= SWEEP_TRAIN_SIZE, f"n_grid={settings['n_grid']!r} is not allowed: {label(SWEEP_DATASET)} "
            f"has {SWEEP_TRAIN_SIZE} training images")


profiles.RULES["generalization"] = profiles.SettingsRules(
    checks={
        "seeds": profiles.seeds, "width": profiles.positive_int, "n_train": profiles.positive_int_or_all,
        "n_test": profiles.positive_int_or_all, "epochs": profiles.positive_int, "alpha": profiles.positive_number,
        "track_penalty": profiles.nonnegative_int, "n_grid": profiles.int_list(min_length=2, increasing=True),
        "alpha_grid": profiles.number_list(minimum=0, inclusive=False), "sweep_seeds": profiles.seeds,
        "fallback": profiles.boolean,
    },
    relations=(_penalty_points_within_subsets, _sweep_sizes_available),
    datasets=lambda settings: DATASETS,
)


# ----------------------------------------------------------------------------------------------------------
# Gaps from metrics records


def gap_curves(metrics: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Per-epoch curves of one run from its metrics rows (``Run.metrics``).

    Returns arrays ``epoch``, ``train_loss``, ``test_loss``, ``train_error`` (1 − train_acc, clean training
    set), ``test_error``, ``loss_gap`` = test_loss − train_loss, ``error_gap`` = test_error − train_error,
    and ``penalty``/``gradient_penalty`` when every row has them (runs with ``track_penalty``). Rows are taken
    in epoch order.
    """
    require(len(metrics) > 0, "metrics is empty: a run records one row per epoch")
    needed = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc")
    for row in metrics:
        missing = [k for k in needed if k not in row]
        require(not missing, f"a metrics row lacks {missing[0] if missing else ''!r}: rows need {', '.join(needed)}")
    rows = sorted(metrics, key=lambda r: r["epoch"])
    column = {k: np.array([float(r[k]) for r in rows]) for k in needed}
    curves = {
        "epoch": column["epoch"],
        "train_loss": column["train_loss"],
        "test_loss": column["test_loss"],
        "train_error": 1.0 - column["train_acc"],
        "test_error": 1.0 - column["test_acc"],
    }
    curves["loss_gap"] = curves["test_loss"] - curves["train_loss"]
    curves["error_gap"] = curves["test_error"] - curves["train_error"]
    for key in PENALTY_KEYS:
        if all(key in r for r in rows):
            curves[key] = np.array([float(r[key]) for r in rows])
    return curves


def stack_curves(runs_metrics: Sequence[Sequence[Mapping[str, Any]]]) -> dict[str, np.ndarray]:
    """:func:`gap_curves` of several runs (seeds) stacked: each key (``epoch`` excepted) is (seeds, epochs).

    All runs must have the same epochs; ``penalty`` is kept only when every run has it.
    """
    require(len(runs_metrics) > 0, "no runs to stack")
    each = [gap_curves(m) for m in runs_metrics]
    epochs = each[0]["epoch"]
    require(
        all(np.array_equal(c["epoch"], epochs) for c in each),
        "the runs to stack have different epochs: give runs of the same length",
    )
    keys = [k for k in each[0] if k != "epoch" and all(k in c for c in each)]
    return {"epoch": epochs, **{k: np.stack([c[k] for c in each]) for k in keys}}


# ----------------------------------------------------------------------------------------------------------
# The summary of final gaps (the role of Fig. 1b)


def summarize_final_gaps(
    curves_by_dataset: Mapping[str, Mapping[str, Mapping[str, np.ndarray]] | None],
    datasets: Sequence[str] = DATASETS,
) -> list[dict[str, Any]]:
    """Final-epoch gaps per data set, method and quantity: one row each, in ``datasets`` order.

    ``curves_by_dataset[d]`` maps a method to its :func:`stack_curves`; a data set that is absent, ``None``
    or lacks a method has no runs and gives rows with ``available=False``, ``n_seeds=0`` and NaN numbers,
    so a summary figure shows it as missing. Row keys: ``dataset``, ``method``, ``quantity`` (loss | error),
    ``available``, ``n_seeds``, ``mean``, ``min``, ``max``, ``values`` (per seed).
    """
    rows = []
    for dataset in datasets:
        by_method = curves_by_dataset.get(dataset) or {}
        for method in METHODS:
            stacked = by_method.get(method)
            for quantity in QUANTITIES:
                if stacked is None:
                    rows.append({"dataset": dataset, "method": method, "quantity": quantity, "available": False,
                                 "n_seeds": 0, "mean": math.nan, "min": math.nan, "max": math.nan, "values": []})
                    continue
                final = np.asarray(stacked[f"{quantity}_gap"])[:, -1]
                rows.append({"dataset": dataset, "method": method, "quantity": quantity, "available": True,
                             "n_seeds": len(final), "mean": float(final.mean()), "min": float(final.min()),
                             "max": float(final.max()), "values": [float(v) for v in final]})
    return rows


# ----------------------------------------------------------------------------------------------------------
# Claim 8: "smaller throughout training"


def compare_gaps(erm: np.ndarray, mixup: np.ndarray) -> dict[str, Any]:
    """Compare two (seeds, epochs) gap arrays epoch by epoch.

    Returns ``fraction_below`` (share of epochs where mixup's seed-mean gap is below ERM's),
    ``fraction_separated`` (share of epochs where mixup's largest seed is below ERM's smallest),
    ``final_erm``/``final_mixup`` (seed means at the last epoch), ``final_separated`` (at the last epoch
    every mixup seed is below every ERM seed), ``final_reversed`` (every mixup seed above every ERM seed)
    and ``n_seeds`` (the smaller of the two seed counts).
    """
    erm, mixup = np.atleast_2d(np.asarray(erm, float)), np.atleast_2d(np.asarray(mixup, float))
    require(erm.shape[1] == mixup.shape[1], f"gap arrays of {erm.shape[1]} and {mixup.shape[1]} epochs: must match")
    below = mixup.mean(axis=0) < erm.mean(axis=0)
    separated = mixup.max(axis=0) < erm.min(axis=0)
    return {
        "fraction_below": float(below.mean()),
        "fraction_separated": float(separated.mean()),
        "final_erm": float(erm[:, -1].mean()),
        "final_mixup": float(mixup[:, -1].mean()),
        "final_separated": bool(separated[-1]),
        "final_reversed": bool(mixup[:, -1].min() > erm[:, -1].max()),
        "n_seeds": int(min(len(erm), len(mixup))),
    }


def throughout_verdict(comparison: Mapping[str, Any], *, supported_fraction: float = 0.8,
                       not_supported_fraction: float = 0.5) -> str:
    """Claim 8's verdict from :func:`compare_gaps`.

    - not supported: mixup's mean gap is below ERM's in fewer than ``not_supported_fraction`` of the
      epochs, or at the last epoch every mixup seed is above every ERM seed;
    - supported: below in at least ``supported_fraction`` of the epochs and, at the last epoch, separated
      across seeds (every mixup seed below every ERM seed), with at least 2 seeds;
    - otherwise (including a single seed, whose spread is unknown): inconclusive at this scale.
    """
    if comparison["fraction_below"] < not_supported_fraction or comparison["final_reversed"]:
        return claims.NOT_SUPPORTED
    if (comparison["fraction_below"] >= supported_fraction and comparison["final_separated"]
            and comparison["n_seeds"] >= 2):
        return claims.SUPPORTED
    return claims.INCONCLUSIVE


# ----------------------------------------------------------------------------------------------------------
# Sweeps against n and α


def sweep_summary(curves_by_value: Mapping[float, Mapping[str, np.ndarray]], key: str) -> dict[str, np.ndarray]:
    """Final-epoch ``key`` (e.g. ``loss_gap``) against a swept value: ``x`` (sorted) and seed ``mean``/``min``/``max``.

    ``curves_by_value`` maps each value (n, α) to a :func:`stack_curves` result.
    """
    require(len(curves_by_value) > 0, "nothing to summarise: the sweep is empty")
    xs = sorted(curves_by_value)
    finals = [np.asarray(curves_by_value[x][key])[:, -1] for x in xs]
    return {
        "x": np.array(xs, float),
        "mean": np.array([f.mean() for f in finals]),
        "min": np.array([f.min() for f in finals]),
        "max": np.array([f.max() for f in finals]),
        "n_seeds": np.array([len(f) for f in finals]),
    }


def loglog_slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of log y against log x (NaN unless all values are > 0 and there are 2+ points).

    Section 4's bound scales like n^(-1/2); a gap shrinking like the bound has slope −1/2 against n.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2 or (x <= 0).any() or (y <= 0).any():
        return math.nan
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def trend(x: Sequence[float], y: Sequence[float]) -> dict[str, Any]:
    """Direction of y against x: Spearman's rank correlation ``rho`` and whether y strictly decreases."""
    from scipy.stats import spearmanr

    x, y = np.asarray(x, float), np.asarray(y, float)
    order = np.argsort(x)
    y = y[order]
    rho = float(spearmanr(x[order], y).statistic) if len(x) >= 2 else math.nan
    return {"rho": rho, "decreasing": bool(len(y) >= 2 and (np.diff(y) < 0).all())}


# ----------------------------------------------------------------------------------------------------------
# Drawing (only draws given numbers)


def draw_curves(axes, by_method: Mapping[str, Mapping[str, np.ndarray]], *, with_penalty: bool = False) -> None:
    """:func:`mixup_lib.report.plots.draw_curves` (Figs. 5–8); matplotlib is imported only when drawing."""
    from mixup_lib.report import plots

    plots.draw_curves(axes, by_method, with_penalty=with_penalty)


def draw_gap_summary(axes, rows: Sequence[Mapping[str, Any]], names: Mapping[str, str] | None = None) -> list[str]:
    """:func:`mixup_lib.report.plots.draw_gap_summary` with this chapter's data set names as default tick labels."""
    from mixup_lib.report import plots

    labels = {r["dataset"]: label(r["dataset"]) for r in rows}
    return plots.draw_gap_summary(axes, rows, {**labels, **(names or {})})


__all__ = [
    "CURVE_KEYS",
    "DATASETS",
    "LABELS",
    "METHODS",
    "PENALTY_KEYS",
    "QUANTITIES",
    "RUN_NAME",
    "compare_gaps",
    "covariance_spectrum",
    "data_adaptive_penalty",
    "draw_curves",
    "draw_gap_summary",
    "effective_rank",
    "gap_curves",
    "label",
    "loglog_slope",
    "penalty_terms",
    "run_config",
    "stack_curves",
    "summarize_final_gaps",
    "sweep_summary",
    "throughout_verdict",
    "trend",
]
