"""Full-batch training of small models on two moons, under ERM, mixup or the approximate mixup loss.

Fig. 2 of the paper trains one model with the mixup loss and one with the approximate loss of Eq. (3)
from the same initialization and compares their loss curves. Two moons is small, so every step here
uses the whole training set: SGD with the paper's lr 0.1 and momentum 0.9 on

- ``"erm"``: L_std;
- ``"mixup"``: the usual stochastic estimate of L_mix (Eq. 1): one λ ~ Beta(α, α) per sample and a
  random partner permutation, drawn afresh each step from an explicit generator;
- ``"approx"``: L̃_mix = L_std + R1 + R2 + R3 (Eq. 3), computed exactly by :mod:`mixup_lib.approx`.

The image-scale trainer with data augmentation and a run store is :mod:`mixup_lib.train`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from mixup_lib import approx
from mixup_lib.errors import check_choice, check_nonnegative, check_positive_int, require
from mixup_lib.mixup import cross_entropy, mixup_batch, one_hot, predict_labels, soft_cross_entropy

OBJECTIVES = ("erm", "mixup", "approx")


def objective_loss(
    objective: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, alpha: float, generator: torch.Generator
) -> torch.Tensor:
    """The training objective of one full-batch step (differentiable in the parameters)."""
    check_choice("objective", objective, OBJECTIVES)
    if objective == "erm" or alpha == 0:
        return cross_entropy(model(x), y)
    if objective == "mixup":
        batch = mixup_batch(x, y, 2, alpha, mode="sample", generator=generator)
        return soft_cross_entropy(model(batch.inputs), batch.targets)
    return approx.approx_mixup_loss(model, x, one_hot(y, 2).to(x.dtype), alpha)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of points classified correctly."""
    with torch.no_grad():
        return float((predict_labels(model(x)) == y).double().mean())


def train_full_batch(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    objective: str,
    alpha: float,
    steps: int,
    seed: int,
    lr: float = 0.1,
    momentum: float = 0.9,
    record_every: int = 10,
    record: Callable[[nn.Module], dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Train ``model`` in place for ``steps`` full-batch SGD steps; return one row every ``record_every`` steps.

    Each row has ``step`` and ``objective`` (the training objective at that step) and whatever
    ``record(model)`` returns (evaluated without gradients unless the callable asks for them). Step 0 is
    recorded before any update; the last step is always recorded.
    """
    check_choice("objective", objective, OBJECTIVES)
    check_nonnegative("alpha", alpha)
    check_positive_int("steps", steps)
    check_positive_int("record_every", record_every)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    rows = []
    for step in range(steps + 1):
        loss = objective_loss(objective, model, x, y, alpha, generator)
        if step % record_every == 0 or step == steps:
            rows.append({"step": step, "objective": float(loss.detach()), **(record(model) if record else {})})
        if step == steps:
            break
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return rows


def probability_grid(model: nn.Module, x: torch.Tensor, resolution: int = 100) -> dict[str, list]:
    """The model's probability of class 1 on a ``resolution``² grid around 2-D data ``x`` (0.5 margin), as lists.

    ``x`` and ``y`` are the grid's axes, ``prob`` its rows (one per y value): what a decision-boundary panel
    draws (:func:`mixup_lib.report.plots.draw_probability_grid`) without the model.
    """
    check_positive_int("resolution", resolution)
    require(x.ndim == 2 and x.shape[1] == 2, f"x of shape {tuple(x.shape)}: a probability grid needs 2-D inputs")
    points = x.detach().cpu().double()
    lo, hi = points.min(dim=0).values - 0.5, points.max(dim=0).values + 0.5
    gx, gy = (torch.linspace(float(lo[k]), float(hi[k]), resolution, dtype=torch.float64) for k in range(2))
    mesh_y, mesh_x = torch.meshgrid(gy, gx, indexing="ij")
    grid = torch.stack([mesh_x.reshape(-1), mesh_y.reshape(-1)], dim=1)
    parameter = next(model.parameters())
    with torch.no_grad():
        logits = model(grid.to(parameter.device, parameter.dtype))
        prob = torch.sigmoid(logits) if logits.ndim == 1 else torch.softmax(logits, dim=1)[:, 1]
    return {"x": gx.tolist(), "y": gy.tolist(), "prob": prob.reshape(resolution, resolution).cpu().double().tolist()}
