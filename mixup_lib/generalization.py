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
- :func:`penalty_terms` — the Section 4 penalty (and its curvature-free form), with :mod:`mixup_lib.approx`.
- :func:`covariance_spectrum` / :func:`effective_rank` — rank(Σ_X) of the theory, and softer versions of it.
- :func:`draw_curves` / :func:`draw_gap_summary` — the two kinds of figure (plotting only, never training).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from mixup_lib import claims, profiles
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
# Section 4: the data-adaptive penalty and the rank of the data covariance


def penalty_terms(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Section 4's data-adaptive penalty of ``model`` on the training points (x, y), in two forms.

    ``penalty`` — the form mixup's loss adds (Lemma 3.1's R2 divided by its weight E_D̃[(1−λ)²]/2, so it does
    not depend on α and is one yardstick for ERM and mixup models):

        P(θ) = (1/n) Σ_i E_r[(r − x_i)ᵀ J_iᵀ h''_i J_i (r − x_i)]
             = (1/n) Σ_i [tr(h''_i J_i Σ̂ J_iᵀ) + (J_i δ_i)ᵀ h''_i (J_i δ_i)],   δ_i = x̄ − x_i,

    with J_i the K×d input Jacobian of the logits (inputs in [0, 1] pixel space: normalization is inside the
    model), h''_i = diag(p_i) − p_i p_iᵀ the softmax Hessian (σ(1−σ) for one logit), r uniform over the rows
    of x and Σ̂ their (biased) covariance. The first term is the theory's quadratic form ∇fᵀ Σ̂_X ∇f with the
    GLM curvature, the second the per-sample term. It falls when predictions saturate (h'' → 0).

    ``gradient_penalty`` — the curvature-free quadratic form, the mean over classes of ∇f_kᵀ Σ̂ ∇f_k
    = ‖X_c ∇f_k‖²/n averaged over points and classes: how fast the logits change along the data's spread.

    Both come from one pass of :mod:`mixup_lib.approx`'s machinery (its batched input Jacobians and its
    factor of Σ̂, never a d×d matrix), in eval mode; ``penalty`` equals ``approx_terms(...)["R2"]`` divided by
    its weight (tested).
    """
    from mixup_lib import approx
    from mixup_lib.attacks import eval_mode

    with torch.no_grad(), eval_mode(model):
        with torch.enable_grad():
            der = approx._Derivatives(model, x, y, graph=False, hessian=False)
        jac = der.jac.detach()
        n, k = jac.shape[:2]
        flat = der.x.reshape(n, -1)
        mean, factor = approx._covariance_factor(flat)
        along_pcs = torch.einsum("nkd,rd->nkr", jac, factor)  # J_i Fᵀ with Σ̂ = FᵀF
        along_delta = torch.einsum("nkd,nd->nk", jac, mean - flat)  # J_i δ_i
        weighted = (der.curvature_form(along_pcs).sum() + der.curvature_form(along_delta).sum()) / n
        plain = (along_pcs**2).sum() / (n * k)
    return {"penalty": float(weighted), "gradient_penalty": float(plain)}


def data_adaptive_penalty(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """The ``penalty`` of :func:`penalty_terms`: Lemma 3.1's R2 without its α weight (Section 4's penalty)."""
    return penalty_terms(model, x, y)["penalty"]


def covariance_spectrum(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Eigenvalues (descending, float64) of the biased covariance Σ̂ = X_cᵀX_c/n of the rows of x (flattened).

    From the singular values of the centred n×d data, so no d×d matrix is formed; min(n, d) values.
    """
    flat = torch.as_tensor(x).reshape(len(x), -1).double()
    require(flat.shape[0] >= 2, f"x has {flat.shape[0]} rows: a covariance needs at least 2")
    centred = flat - flat.mean(dim=0)
    s = torch.linalg.svdvals(centred)
    return (s**2 / flat.shape[0]).numpy()


def effective_rank(x: torch.Tensor | np.ndarray, thresholds: Sequence[float] = (0.9, 0.99)) -> dict[str, Any]:
    """rank(Σ_X) of Section 4 and three softer versions, for the rows of x.

    - ``rank``: numerical rank (eigenvalues above max·d·eps); at most n − 1 and d;
    - ``participation_ratio``: (Σ λ)² / Σ λ², between 1 and rank; equals k for k equal eigenvalues;
    - ``entropy_rank``: exp of the entropy of λ/Σλ (Roy & Vetterli 2007), also k for k equal eigenvalues;
    - ``k_<p>``: the number of leading components holding a fraction p of the variance (p in ``thresholds``).
    Also ``n`` and ``d``.
    """
    lam = covariance_spectrum(x)
    n, d = torch.as_tensor(x).reshape(len(x), -1).shape
    top = lam.max() if len(lam) else 0.0
    positive = lam[lam > top * max(n, d) * np.finfo(float).eps] if top > 0 else lam[:0]
    result: dict[str, Any] = {"n": n, "d": d, "rank": len(positive)}
    if len(positive) == 0:
        result.update(participation_ratio=0.0, entropy_rank=0.0, **{f"k_{p:g}": 0 for p in thresholds})
        return result
    share = positive / positive.sum()
    result["participation_ratio"] = float(positive.sum() ** 2 / (positive**2).sum())
    result["entropy_rank"] = float(np.exp(-(share * np.log(share)).sum()))
    cumulative = np.cumsum(share)
    for p in thresholds:
        result[f"k_{p:g}"] = int(np.searchsorted(cumulative, p - 1e-12) + 1)
    return result


# ----------------------------------------------------------------------------------------------------------
# Drawing (only draws given numbers)


def draw_curves(axes, by_method: Mapping[str, Mapping[str, np.ndarray]], *, with_penalty: bool = False) -> None:
    """One data set's figure (Figs. 5–8): loss, error, loss gap, error gap (and the penalty) against epoch.

    ``axes``: 4 (or 5 with ``with_penalty``) matplotlib axes; ``by_method``: method → :func:`stack_curves`.
    Lines are seed means, bands min–max over seeds; train solid, test dashed.
    """
    from mixup_lib import plots

    panels = [("loss", "loss (clean train / test), log scale"), ("error", "error (clean train / test)"),
              ("loss_gap", "loss gap: test − train"), ("error_gap", "error gap: test − train")]
    if with_penalty:
        panels.append(("penalty", "data-adaptive penalty P(θ)"))
    require(len(axes) >= len(panels), f"{len(axes)} axes for {len(panels)} panels")
    for ax, (key, title) in zip(axes, panels, strict=False):
        for method in METHODS:
            curves = by_method.get(method)
            if curves is None:
                continue
            color, name = plots.COLORS[method], "ERM" if method == "erm" else "mixup"
            epochs = curves["epoch"]
            if key in ("loss", "error"):
                plots.mean_band(ax, epochs, curves[f"train_{key}"], label=f"{name} train", color=color)
                plots.mean_band(ax, epochs, curves[f"test_{key}"], label=f"{name} test", color=color, linestyle="--")
            elif key in curves:
                plots.mean_band(ax, epochs, curves[key], label=name, color=color)
        if key in ("penalty", "loss"):
            ax.set_yscale("log")
        elif key.endswith("gap"):
            ax.axhline(0, color="k", linewidth=0.5)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch")


def draw_gap_summary(axes, rows: Sequence[Mapping[str, Any]], names: Mapping[str, str] | None = None) -> list[str]:
    """The summary of final gaps (the role of Fig. 1b): one panel per quantity, ERM and mixup bars per data set.

    ``rows`` from :func:`summarize_final_gaps`; bars are seed means with min–max whiskers. A data set
    without runs keeps its place on the axis, with the text "not available" instead of bars.
    ``names`` maps a data set to its tick label (e.g. to say it ran on a substitute). Returns the data
    sets drawn as missing.
    """
    from mixup_lib import plots

    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    names = dict(names or {})
    missing = sorted({r["dataset"] for r in rows if not r["available"]}, key=datasets.index)
    width = 0.38
    for ax, quantity in zip(axes, QUANTITIES, strict=True):
        top = max([r["max"] for r in rows if r["quantity"] == quantity and r["available"]] + [0.0])
        for offset, method in zip((-width / 2, width / 2), METHODS, strict=True):
            labelled = False
            for i, dataset in enumerate(datasets):
                row = next(r for r in rows if (r["dataset"], r["method"], r["quantity"]) == (dataset, method, quantity))
                if not row["available"]:
                    continue
                ax.bar(i + offset, row["mean"], width, color=plots.COLORS[method],
                       label=None if labelled else ("ERM" if method == "erm" else "mixup"))
                labelled = True
                ax.errorbar(i + offset, row["mean"], yerr=[[row["mean"] - row["min"]], [row["max"] - row["mean"]]],
                            color="k", linewidth=1, capsize=3)
        for dataset in missing:
            i = datasets.index(dataset)
            ax.text(i, 0.05 * top if top > 0 else 0.05, "not\navailable", ha="center", va="bottom", fontsize=8,
                    color="0.4")
        ax.set_xticks(range(len(datasets)), [names.get(d, label(d)) for d in datasets], fontsize=8)
        ax.set_xlim(-0.6, len(datasets) - 0.4)
        ax.axhline(0, color="k", linewidth=0.5)
        ax.set_title(f"final {quantity} gap (test − train)", fontsize=9)
    return missing


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
