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
# The generalization chapter's whole figures (drawn from its results object: lists, not arrays)


def curves_figure(by_method: Mapping[str, Mapping[str, Any]], title: str) -> plt.Figure:
    """Figs. 5–8 for one data set: :func:`draw_curves` on four panels, with legends and ``title``."""
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.1))
    draw_curves(axes, by_method)
    axes[0].legend(fontsize=7)
    axes[2].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def gap_summary_figure(rows: Sequence[Mapping[str, Any]], names: Mapping[str, str]) -> plt.Figure:
    """The final gaps across data sets (the role of Fig. 1b): :func:`draw_gap_summary` on two panels."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    draw_gap_summary(axes, rows, names)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def n_sweep_figure(summary: Mapping[str, Mapping[str, Mapping[str, Any]]],
                   slopes: Mapping[str, Mapping[str, float | None]]) -> plt.Figure:
    """Final gaps against n on log–log axes (Section 4's √(rank/n)), per quantity, with a slope −1/2 guide.

    ``summary[method][quantity]``: ``x``, ``mean``, ``min``, ``max`` over seeds; ``slopes[method][quantity]``:
    the log–log slope shown in the legend (None or NaN when a gap is not positive).
    """
    quantities = list(next(iter(summary.values())))
    fig, axes = plt.subplots(1, len(quantities), figsize=(10, 3.4))
    for ax, q in zip(np.atleast_1d(axes), quantities, strict=True):
        for method, name in METHOD_LABELS.items():
            s = {k: np.asarray(summary[method][q][k], float) for k in ("x", "mean", "min", "max")}
            slope = slopes[method][q]
            ax.errorbar(s["x"], s["mean"], yerr=[s["mean"] - s["min"], s["max"] - s["mean"]], marker="o", capsize=3,
                        color=COLORS[method], label=f"{name} (slope {np.nan if slope is None else slope:.2f})")
        ref = {k: np.asarray(summary["erm"][q][k], float) for k in ("x", "mean")}
        if (ref["mean"] > 0).all():
            ax.plot(ref["x"], ref["mean"][0] * np.sqrt(ref["x"][0] / ref["x"]), ":", color="gray", label="slope −1/2")
            ax.set_yscale("log")
        ax.set_xscale("log")
        ax.set_xlabel("training-set size n")
        ax.set_title(f"final {q} gap (test − train)", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def alpha_sweep_figure(alphas: Sequence[float], summary: Mapping[str, Mapping[str, Any]],
                       penalty_names: Mapping[str, str]) -> plt.Figure:
    """Against α (0 = ERM): the final gaps, the final clean train and test losses, and the final penalties.

    ``summary[key]`` (``loss_gap``, ``error_gap``, ``train_loss``, ``test_loss`` and the keys of
    ``penalty_names`` where measured): ``mean``, ``min``, ``max`` over seeds, in the order of ``alphas``.
    """
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.3))
    positions = np.arange(len(alphas))
    ticks = ["0 (ERM)" if a == 0 else f"{a:g}" for a in alphas]
    band = {k: {s: np.asarray(v[s], float) for s in ("mean", "min", "max")} for k, v in summary.items()}
    for key, color, style in (("loss_gap", "#C44E52", "-"), ("error_gap", "#8172B3", "--")):
        s = band[key]
        axes[0].errorbar(positions, s["mean"], yerr=[s["mean"] - s["min"], s["max"] - s["mean"]], marker="o",
                         capsize=3, color=color, linestyle=style, label=key.replace("_", " "))
    for key, style in (("train_loss", "-"), ("test_loss", "--")):
        axes[1].plot(positions, band[key]["mean"], marker="o", color="k", linestyle=style, label=key.replace("_", " "))
    for (key, name), style in zip(penalty_names.items(), ("-", "--"), strict=False):
        if key in band:
            axes[2].plot(positions, band[key]["mean"], marker="o", color="#937860", linestyle=style, label=name)
            axes[2].set_yscale("log")
            axes[2].legend(fontsize=7)
    axes[0].set_title("final gaps (test − train)", fontsize=9)
    axes[1].set_title("final clean train and test loss", fontsize=9)
    axes[2].set_title("final penalties on the tracked points", fontsize=9)
    for ax in axes:
        ax.set_xticks(positions, ticks)
        ax.set_xlabel("α")
    axes[0].axhline(0, color="k", linewidth=0.5)
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def penalty_figure(by_method: Mapping[str, Mapping[str, Any]], names: Mapping[str, str], where: str) -> plt.Figure:
    """The data-adaptive penalties along training, one panel per key of ``names`` (log scale), ERM vs mixup."""
    fig, axes = plt.subplots(1, len(names), figsize=(10, 3.3))
    for ax, (key, name) in zip(np.atleast_1d(axes), names.items(), strict=True):
        for method, label in METHOD_LABELS.items():
            c = by_method[method]
            mean_band(ax, c["epoch"], c[key], label=label, color=COLORS[method])
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_title(f"{name}, {where}", fontsize=9)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


__all__ += ["alpha_sweep_figure", "curves_figure", "gap_summary_figure", "n_sweep_figure", "penalty_figure"]
