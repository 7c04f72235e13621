"""Benchmark 4: the batched R1–R3 of :func:`mixup_lib.approx.approx_terms` against a per-sample Python loop.

The loop is the straightforward per-sample version of the same formulas (Lemma 3.1 of Zhang et al., ICLR 2021):
for each training point x_i one forward pass, K autograd gradients ∇f_k(x_i) (the Jacobian J_i), the K×K
curvature h''(f_i) built explicitly, and per-sample Hessian-vector products of q_i = Σ_k (h'(f_i) − y_i)_k ∇f_k(x_i)
along δ_i = x̄ − x_i and along the rows of a factor F of the data covariance (Σ̂ = FᵀF). It uses the same
algorithm as the library (the same factor rank, the same number of HVPs per sample), so the ratio measures
batching over samples and nothing else. The factor is built independently here (eigendecomposition of the
d×d covariance when n > d, the centred data when n ≤ d) so the check below also checks the library's SVD factor.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from benchmarks import harness
from mixup_lib import approx
from mixup_lib.mixup import mixture_moment

ALPHA = 1.0


def covariance_factor(flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(x̄, F) with Σ̂ = X_cᵀX_c/n = FᵀF: F = X_c/√n for n ≤ d; F = Λ^{1/2}Vᵀ of the d×d Σ̂ for n > d."""
    n, d = flat.shape
    mean = flat.mean(dim=0)
    centred = flat - mean
    if n <= d:
        return mean, centred / math.sqrt(n)
    evals, evecs = torch.linalg.eigh(centred.T @ centred / n)
    keep = evals > evals.max() * torch.finfo(flat.dtype).eps * n
    return mean, evals[keep].sqrt()[:, None] * evecs[:, keep].T


def per_sample_terms(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, alpha: float) -> dict[str, float]:
    """L_std, R1, R2, R3 (exact R3) by a Python loop over the samples; targets are integer labels."""
    m1, m2 = mixture_moment(alpha, None, 1), mixture_moment(alpha, None, 2)
    n = x.shape[0]
    flat = x.reshape(n, -1).detach()
    mean, factor = covariance_factor(flat)
    l_std = r1 = r2 = r3 = 0.0
    for i in range(n):
        xi = flat[i].clone().requires_grad_(True)
        out = model(xi.reshape(1, *x.shape[1:])).reshape(-1)  # K logits, or 1 for a binary model
        f = out.detach()
        if f.numel() == 1:  # binary GLM: h = softplus, h' = σ, h'' = σ(1 − σ)
            y = targets[i].to(f.dtype).reshape(1)
            p = torch.sigmoid(f)
            h2 = (p * (1 - p)).reshape(1, 1)
            l_std += float(nn.functional.softplus(f) - y * f)
        else:  # softmax: h = logsumexp, h' = p, h'' = diag(p) − ppᵀ
            y = nn.functional.one_hot(targets[i].long(), f.numel()).to(f.dtype)
            p = torch.softmax(f, dim=0)
            h2 = torch.diag(p) - torch.outer(p, p)
            l_std += float(torch.logsumexp(f, dim=0) - (y * f).sum())
        res = p - y
        jac = torch.stack(
            [torch.autograd.grad(out[k], xi, retain_graph=True, create_graph=True)[0] for k in range(out.numel())]
        )
        delta = mean - flat[i]
        j_delta = jac.detach() @ delta
        j_f = jac.detach() @ factor.T  # K × rank
        r1 += float(res @ j_delta)
        r2 += float((j_f * (h2 @ j_f)).sum() + j_delta @ h2 @ j_delta)
        q = res @ jac  # d, a function of x_i through the graph
        quad = 0.0
        if q.requires_grad:
            for v in (delta, *factor):
                (hv,) = torch.autograd.grad(q @ v, xi, retain_graph=True, allow_unused=True)
                if hv is not None:
                    quad += float(hv @ v)
        r3 += quad
    return {"L_std": l_std / n, "R1": m1 * r1 / n, "R2": m2 * r2 / (2 * n), "R3": m2 * r3 / (2 * n)}


# ----------------------------------------------------------------------------------------------------------
# The comparison


def _batched(model: nn.Module, x: torch.Tensor, y: torch.Tensor, alpha: float) -> dict[str, float]:
    with torch.no_grad():  # plain numbers, as the chapters call it
        return {k: float(v) for k, v in approx.approx_terms(model, x, y, alpha, r3="exact").items()}


def check_close(batched: dict[str, float], loop: dict[str, float], rtol: float, atol: float) -> float:
    """Raise unless every term agrees; return the largest difference relative to max(|term|, atol/rtol)."""
    worst = 0.0
    for key, value in batched.items():
        diff = abs(value - loop[key])
        if diff > atol + rtol * abs(loop[key]):
            raise AssertionError(f"{key}: batched {value!r} vs per-sample loop {loop[key]!r}")
        worst = max(worst, diff / max(abs(loop[key]), atol / rtol))
    return worst


def compare_rterms(
    label: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int, *, rtol: float, atol: float
) -> dict[str, Any]:
    """Check that both give the same L_std, R1, R2, R3 (that call is the warm-up), then time them interleaved."""
    model.eval()
    batched = _batched(model, x, y, ALPHA)
    loop = per_sample_terms(model, x, y, ALPHA)
    worst = check_close(batched, loop, rtol, atol)
    arms = {
        "batched": lambda: harness.timed(lambda: _batched(model, x, y, ALPHA)),
        "per_sample": lambda: harness.timed(lambda: per_sample_terms(model, x, y, ALPHA)),
    }
    summary = harness.summarize(harness.interleaved(arms, repeats, warmup=0), len(x))
    return {
        "case": label,
        "n": len(x),
        "d": int(x[0].numel()),
        "dtype": str(x.dtype).replace("torch.", ""),
        "terms": batched,
        "max_relative_difference": worst,
        "tolerance": {"rtol": rtol, "atol": atol},
        "arms": summary,
        "ratio": summary["per_sample"]["median_s"] / summary["batched"]["median_s"],
    }


class SmoothNet(nn.Module):
    """A binary tanh net: ∇²f ≠ 0, so R3 ≠ 0 and the check covers the Hessian-vector-product path too."""

    def __init__(self, d: int = 2, hidden: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).reshape(-1)


def check_smooth(x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    """The check alone (not timed) on a model with curvature, in float64."""
    torch.manual_seed(0)
    model = SmoothNet(x.shape[1]).double()
    batched = _batched(model, x, y, ALPHA)
    loop = per_sample_terms(model, x, y, ALPHA)
    return {"terms": batched, "max_relative_difference": check_close(batched, loop, 1e-9, 1e-12)}
