"""One plotting style for every figure. Plotting never trains: these functions only draw given numbers."""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

#: One colour per method across the whole book.
COLORS = {"erm": "#4C72B0", "mixup": "#DD8452", "approx": "#55A868", "pgd": "#8172B3"}


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
