"""Every panel of the book, in one style; colours and method labels in one place.

Plotting never trains: these functions only draw given numbers. :func:`draw_curves` and
:func:`draw_gap_summary` are the generalization chapter's figures (Figs. 5–8 and the role of Fig. 1b).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch

from mixup_lib.errors import require

#: One colour per method across the whole book.
COLORS = {"erm": "#4C72B0", "mixup": "#DD8452", "approx": "#55A868", "pgd": "#8172B3"}
#: One display name per training method across the whole book, in the order methods are drawn.
METHOD_LABELS = {"erm": "ERM", "mixup": "mixup"}


def method_label(method: str) -> str:
    """A method's display name (``erm`` → ``ERM``); an unknown name is shown as it is."""
    return METHOD_LABELS.get(method, method)


#: Set by tools/execute_notebooks.py for batch execution, where live widgets cannot be shown.
BATCH_RUN_ENV = "MIXUP_BATCH_RUN"


def interactive_session() -> bool:
    """True in JupyterLab; False when papermill executes a notebook for the book (widgets need a live kernel)."""
    return os.environ.get(BATCH_RUN_ENV) != "1"


def use_style() -> None:
    """The book's matplotlib defaults (readable at page width, PNG output)."""
    plt.rcParams.update({
        "figure.dpi": 110, "savefig.dpi": 110, "axes.grid": True, "grid.alpha": 0.3,
        "axes.spines.top": False, "axes.spines.right": False, "legend.frameon": False, "font.size": 10,
    })


def mean_band(ax, x: Sequence[float], runs: Sequence[Sequence[float]], *, label: str, color: str,
              linestyle: str = "-") -> None:
    """Mean over runs (seeds) as a line, min–max over runs as a shaded band."""
    values = np.asarray(runs, dtype=float)
    ax.plot(x, values.mean(axis=0), color=color, linestyle=linestyle, label=label)
    if len(values) > 1:
        ax.fill_between(x, values.min(axis=0), values.max(axis=0), color=color, alpha=0.2, linewidth=0)


def decision_boundary(ax, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, title: str = "",
                      resolution: int = 150) -> None:
    """Two-dimensional data with the model's predicted probability of class 1 and its 0.5 contour."""
    x_np = x.detach().cpu().numpy()
    lo, hi = x_np.min(axis=0) - 0.5, x_np.max(axis=0) + 0.5
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = torch.as_tensor(np.stack([gx.ravel(), gy.ravel()], axis=1), dtype=next(model.parameters()).dtype)
    with torch.no_grad():
        logits = model(grid)
        prob = torch.sigmoid(logits) if logits.ndim == 1 else torch.softmax(logits, dim=1)[:, 1]
    prob = prob.reshape(gx.shape).cpu().numpy()
    ax.contourf(gx, gy, prob, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.6)
    ax.contour(gx, gy, prob, levels=[0.5], colors="k", linewidths=1)
    ax.scatter(x_np[:, 0], x_np[:, 1], c=y.cpu().numpy(), cmap="RdBu_r", s=6, edgecolors="none")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])


# ----------------------------------------------------------------------------------------------------------
# The generalization chapter's figures


def draw_curves(axes, by_method: Mapping[str, Mapping[str, np.ndarray]], *, with_penalty: bool = False) -> None:
    """One data set's figure (Figs. 5–8): loss, error, loss gap, error gap (and the penalty) against epoch.

    ``axes``: 4 (or 5 with ``with_penalty``) matplotlib axes; ``by_method``: method → stacked curves
    (:func:`mixup_lib.generalization.stack_curves`). Lines are seed means, bands min–max over seeds; train
    solid, test dashed.
    """
    panels = [("loss", "loss (clean train / test), log scale"), ("error", "error (clean train / test)"),
              ("loss_gap", "loss gap: test − train"), ("error_gap", "error gap: test − train")]
    if with_penalty:
        panels.append(("penalty", "data-adaptive penalty P(θ)"))
    require(len(axes) >= len(panels), f"{len(axes)} axes for {len(panels)} panels")
    for ax, (key, title) in zip(axes, panels, strict=False):
        for method, name in METHOD_LABELS.items():
            curves = by_method.get(method)
            if curves is None:
                continue
            color, epochs = COLORS[method], curves["epoch"]
            if key in ("loss", "error"):
                mean_band(ax, epochs, curves[f"train_{key}"], label=f"{name} train", color=color)
                mean_band(ax, epochs, curves[f"test_{key}"], label=f"{name} test", color=color, linestyle="--")
            elif key in curves:
                mean_band(ax, epochs, curves[key], label=name, color=color)
        if key in ("penalty", "loss"):
            ax.set_yscale("log")
        elif key.endswith("gap"):
            ax.axhline(0, color="k", linewidth=0.5)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch")


def draw_gap_summary(axes, rows: Sequence[Mapping[str, Any]], names: Mapping[str, str] | None = None) -> list[str]:
    """The summary of final gaps (the role of Fig. 1b): one panel per quantity, ERM and mixup bars per data set.

    ``rows`` from :func:`mixup_lib.generalization.summarize_final_gaps` (one per data set, method and quantity);
    bars are seed means with min–max whiskers. A data set without runs keeps its place on the axis, with the
    text "not available" instead of bars. ``names`` maps a data set to its tick label (the key itself when
    absent). Returns the data sets drawn as missing.
    """
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    quantities = list(dict.fromkeys(r["quantity"] for r in rows))
    names = dict(names or {})
    require(len(axes) >= len(quantities), f"{len(axes)} axes for {len(quantities)} quantities")
    missing = sorted({r["dataset"] for r in rows if not r["available"]}, key=datasets.index)
    width = 0.38
    for ax, quantity in zip(axes, quantities, strict=False):
        top = max([r["max"] for r in rows if r["quantity"] == quantity and r["available"]] + [0.0])
        for offset, (method, name) in zip((-width / 2, width / 2), METHOD_LABELS.items(), strict=True):
            labelled = False
            for i, dataset in enumerate(datasets):
                row = next(r for r in rows if (r["dataset"], r["method"], r["quantity"]) == (dataset, method, quantity))
                if not row["available"]:
                    continue
                ax.bar(i + offset, row["mean"], width, color=COLORS[method], label=None if labelled else name)
                labelled = True
                ax.errorbar(i + offset, row["mean"], yerr=[[row["mean"] - row["min"]], [row["max"] - row["mean"]]],
                            color="k", linewidth=1, capsize=3)
        for dataset in missing:
            i = datasets.index(dataset)
            ax.text(i, 0.05 * top if top > 0 else 0.05, "not\navailable", ha="center", va="bottom", fontsize=8,
                    color="0.4")
        ax.set_xticks(range(len(datasets)), [names.get(d, d) for d in datasets], fontsize=8)
        ax.set_xlim(-0.6, len(datasets) - 0.4)
        ax.axhline(0, color="k", linewidth=0.5)
        ax.set_title(f"final {quantity} gap (test − train)", fontsize=9)
    return missing


__all__ = [
    "BATCH_RUN_ENV",
    "COLORS",
    "METHOD_LABELS",
    "decision_boundary",
    "draw_curves",
    "draw_gap_summary",
    "interactive_session",
    "mean_band",
    "method_label",
    "use_style",
]


# ----------------------------------------------------------------------------------------------------------
# The approximation chapter's figures (Fig. 2, the terms of Eq. (3), claim 2 at fixed λ, decision boundaries)

#: Labels of the approximation chapter's two training objectives (Fig. 2).
OBJECTIVE_LABELS = {"mixup": "mixup loss $L^{mix}$", "approx": r"approximate loss $\tilde L^{mix}$"}
#: One colour per term of Eq. (3) and per Taylor truncation order T_0, T_1, T_2.
TERM_COLORS = {"R1": "#C44E52", "R2": "#8172B3", "R3": "#937860"}
ORDER_COLORS = ("#4C72B0", "#DD8452", "#55A868")


def _runs_of(runs: Sequence[Mapping[str, Any]], model: str, alpha: float, objective: str) -> list[Mapping[str, Any]]:
    return [r for r in runs if (r["model"], r["alpha"], r["objective"]) == (model, alpha, objective)]


def draw_fig2(axes, runs: Sequence[Mapping[str, Any]], alphas: Sequence[float], kinds: Sequence[str], *,
              keys: Mapping[str, str] | None = None, ylabel: str = "loss under its own objective") -> None:
    """Fig. 2: per α (rows of ``axes``) and model kind (columns), both objectives' curves on train and test.

    ``runs``: records with ``model``, ``alpha``, ``objective``, ``seed`` and ``rows`` (one per recorded step, with
    ``step`` and the plotted keys). ``keys`` maps the split drawn (train solid, test dashed) to the row key
    (default: ``train`` and ``test``, each model's own objective). Lines are seed means, bands min–max.
    """
    keys = dict(keys or {"train": "train", "test": "test"})
    require(len(axes) >= len(alphas), f"{len(axes)} rows of axes for {len(alphas)} values of α")
    for row_axes, alpha in zip(axes, alphas, strict=False):
        for ax, kind in zip(row_axes, kinds, strict=False):
            for objective, label in OBJECTIVE_LABELS.items():
                here = _runs_of(runs, kind, alpha, objective)
                if not here:
                    continue
                steps = [row["step"] for row in here[0]["rows"]]
                for (split, key), style in zip(keys.items(), ("-", "--"), strict=False):
                    mean_band(ax, steps, [[row[key] for row in r["rows"]] for r in here],
                              label=f"trained on {label}, {split}", color=COLORS[objective], linestyle=style)
            ax.set_title(f"{kind}, α = {alpha}")
            ax.set_xlabel("full-batch SGD step")
            ax.set_ylabel(ylabel)


def draw_terms(axes, runs: Sequence[Mapping[str, Any]], alpha: float, kinds: Sequence[str]) -> None:
    """R1, R2, R3 of Eq. (3) along the training of the models trained on L̃_mix at ``alpha`` (one panel per kind)."""
    for ax, kind in zip(axes, kinds, strict=False):
        here = _runs_of(runs, kind, alpha, "approx")
        steps = [row["step"] for row in here[0]["rows"]]
        for term, color in TERM_COLORS.items():
            mean_band(ax, steps, [[row[term] for row in r["rows"]] for r in here], label=term, color=color)
        ax.axhline(0, color="k", linewidth=0.5)
        ax.set_title(kind)
        ax.set_xlabel("full-batch SGD step")


def draw_fixed_lambda(axes, records: Sequence[Mapping[str, Any]]) -> None:
    """Claim 2 at fixed λ: |g(a) − T_k(a)| against a = 1 − λ, one panel per model (dashed: the first checkpoint).

    ``records``: claim 2's evidence (``model``, ``step``, ``fixed_lambda`` with ``one_minus_lams`` and
    ``errors``, ``slopes``), at most two checkpoints per model.
    """
    names = list(dict.fromkeys(r["model"] for r in records))
    require(len(axes) >= len(names), f"{len(axes)} axes for {len(names)} models")
    for ax, name in zip(axes, names, strict=False):
        for record, style in zip([r for r in records if r["model"] == name], ("--", "-"), strict=False):
            fixed = record["fixed_lambda"]
            for order, color in enumerate(ORDER_COLORS):
                slope = record["slopes"][order]
                slope_text = "undetermined" if slope is None or not np.isfinite(slope) else f"{slope:.2f}"
                ax.loglog(fixed["one_minus_lams"], np.maximum(fixed["errors"][order], 1e-300), style, color=color,
                          label=f"T{order}, step {record['step']} (slope {slope_text})")
        ax.set_ylim(bottom=1e-18)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("a = 1 − λ")
        ax.legend(fontsize=6)
    axes[0].set_ylabel("|g(a) − T_k(a)|")


def draw_probability_grid(ax, grid: Mapping[str, Sequence], x: Sequence[Sequence[float]], y: Sequence[int], *,
                          title: str = "") -> None:
    """A decision-boundary panel from numbers: the probability of class 1 on a grid, its 0.5 contour, the data.

    ``grid``: ``x`` and ``y`` axes and ``prob`` rows (:func:`mixup_lib.fullbatch.probability_grid`); ``x``, ``y``:
    the 2-D points and their labels. Same look as :func:`decision_boundary`, which needs the model.
    """
    gx, gy = np.meshgrid(np.asarray(grid["x"]), np.asarray(grid["y"]))
    prob = np.asarray(grid["prob"], dtype=float)
    points = np.asarray(x, dtype=float)
    ax.contourf(gx, gy, prob, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.6)
    ax.contour(gx, gy, prob, levels=[0.5], colors="k", linewidths=1)
    ax.scatter(points[:, 0], points[:, 1], c=np.asarray(y), cmap="RdBu_r", s=6, edgecolors="none")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])


__all__ += [
    "OBJECTIVE_LABELS",
    "ORDER_COLORS",
    "TERM_COLORS",
    "draw_fig2",
    "draw_fixed_lambda",
    "draw_probability_grid",
    "draw_terms",
]
