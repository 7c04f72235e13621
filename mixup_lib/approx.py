"""Lemma 3.1, the approximate mixup loss (Eq. 3) and Section 4's data-adaptive penalty and spectrum.

Zhang et al., *How Does Mixup Help With Robustness and Generalization?* (ICLR 2021), Section 3.
The loss is the GLM loss l(θ, (x, y)) = h(f_θ(x)) − y·f_θ(x) of :func:`mixup_lib.mixup.soft_cross_entropy`:
a scalar binary model (logits (N,), h = softplus, h' = σ, h'' = σ(1−σ)) or a K-class model (logits (N, K),
h = logsumexp, h' = softmax p, h'' = diag(p) − ppᵀ).

- :func:`pairwise_mixup_loss` — Eq. (1): L_mix = (1/n²) Σ_{i,j} E_{λ~Beta(α,β)} l(θ, (x̃_ij, ỹ_ij)), every
  ordered pair (i = j included), the λ-expectation by Gauss–Jacobi quadrature.
- :func:`rewritten_mixup_loss` — Lemma 3.1's exact rewrite: each point keeps its label and its input is pulled
  toward a random training input r, L_mix = (1/n) Σ_i E_{λ~D̃λ} E_r l(θ, (λx_i + (1−λ)r, y_i)).
- :func:`pulled_loss` — the same at one fixed λ, L(λ) = (1/n²) Σ_{i,j} l(θ, (λx_i + (1−λ)x_j, y_i)).
- :func:`monte_carlo_mixup_loss` — Eq. (1) by sampling pairs and λ, with its standard error.
- :func:`approx_terms` / :func:`approx_mixup_loss` — L_std, R1, R2, R3 of Lemma 3.1 and
  Eq. (3) L̃_mix = L_std + R1 + R2 + R3.
- :func:`penalty_terms` / :func:`data_adaptive_penalty` — Section 4's penalty (R2 without its α weight) and
  its curvature-free form; :func:`covariance_spectrum` / :func:`effective_rank` — rank(Σ_X) and softer versions.
- :class:`Derivatives` and :func:`covariance_factor` — the public machinery all of them use (and
  :mod:`mixup_lib.bound`, which holds Theorems 3.1/3.2 and builds on this module).

How the terms are computed (no Python loop over samples, never a d×d matrix):

- Input derivatives by autograd, batched: the models have no coupling between samples (use eval mode for
  BatchNorm), so ∇_x Σ_i f_k(x_i) holds every per-sample gradient ∇f_k(x_i); one backward per class.
- The expectations over r use only the data mean x̄ and the centred data X_c (n×d):
  E_r[r − x_i] = x̄ − x_i and E_r[(r − x_i)(r − x_i)ᵀ] = Σ̂ + (x̄ − x_i)(x̄ − x_i)ᵀ with Σ̂ = X_cᵀX_c/n.
  Σ̂ enters through a factor F with Σ̂ = FᵀF: F = X_c/√n when n ≤ d (images), else diag(S/√n)·Vᵀ from the
  thin SVD of the tall X_c (two moons: at most d rows). Memory is O(n·K·d + n·K·rank), rank ≤ min(n, d).
- R3 needs E_r[(r − x_i)ᵀ Q_i (r − x_i)] = tr(Q_i Σ̂) + δ_iᵀ Q_i δ_i with Q_i = Σ_k (h'(f) − y)_ik ∇²f_k(x_i)
  and δ_i = x̄ − x_i. It is computed with batched Hessian-vector products of the residual-weighted
  gradient: ∇_x Σ_i q_iᵀ v_i = (Q_i v_i)_i for q_i = Σ_k (h' − y)_ik ∇f_k(x_i) (the residual comes from a
  second forward pass, constant in x). ``r3="exact"`` uses the rows of F and δ_i as directions, exact to
  rounding at min(n, d) + 1 double-backward passes (3 for two moons, n + 1 for a batch of n images; for
  large n and d use the estimator). ``r3="hutchinson"`` keeps δ_i exact and estimates tr(Q_i Σ̂) with
  Rademacher probes w_i = X_cᵀ z_i/√n (E[w_i w_iᵀ] = Σ̂), independent per sample, unbiased, at
  ``n_probes`` + 1 passes (and an n×n sign matrix per probe). ``r3="skip"`` sets R3 = 0 (exact for linear
  models and, almost everywhere, for bias-free ReLU nets).

Differentiability: when called with autograd enabled, the returned losses are differentiable with respect
to the model parameters (``create_graph=True`` throughout), so a model can be trained on L̃_mix (Fig. 2).
Under ``torch.no_grad()`` they are plain numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from scipy.special import roots_jacobi
from torch import nn

from mixup_lib.attacks import eval_mode
from mixup_lib.errors import check_choice, check_finite, check_positive_int, require
from mixup_lib.mixup import mixture_moment, resolve_beta, sample_lambda, soft_cross_entropy

R3_METHODS = ("exact", "hutchinson", "skip")

__all__ = [
    "NOISE_FACTOR",
    "R3_METHODS",
    "TRUNCATIONS",
    "Derivatives",
    "approx_mixup_loss",
    "approx_terms",
    "beta_quadrature",
    "covariance_factor",
    "covariance_spectrum",
    "data_adaptive_penalty",
    "effective_rank",
    "expansion_terms",
    "fixed_lambda_errors",
    "homogeneity_error",
    "loglog_slope",
    "mixture_quadrature",
    "monte_carlo_mixup_loss",
    "pairwise_mixup_loss",
    "penalty_terms",
    "pulled_loss",
    "rewritten_mixup_loss",
    "taylor_coefficients",
    "taylor_truncations",
    "truncation_errors",
    "truncation_slopes",
]


# ----------------------------------------------------------------------------------------------------------
# Quadrature over λ


def beta_quadrature(a: float, b: float, n_quad: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Jacobi rule for λ ~ Beta(a, b): nodes λ_q ∈ (0, 1) and weights w_q ≥ 0 summing to 1, float64.

    E[g(λ)] ≈ Σ_q w_q g(λ_q), exact for polynomials g of degree < 2·n_quad. With λ = (1 + t)/2 the Beta
    density ∝ λ^{a−1}(1−λ)^{b−1} is the Jacobi weight (1−t)^{b−1}(1+t)^{a−1} (scipy.special.roots_jacobi).
    Smooth integrands (smooth models) converge exponentially; a ReLU net with biases has kinks along the
    segment, where the error decays only like n_quad⁻². scipy's nodes lose accuracy beyond a few hundred
    nodes when a or b is near 0 (moment error ≈1e-10 at 512 nodes, ≈2e-8 at 2048 for a = b = 0.05).
    """
    check_positive_int("n_quad", n_quad)
    require(a > 0 and b > 0, f"Beta({a!r}, {b!r}) is not allowed: both shapes must be > 0")
    t, w = roots_jacobi(n_quad, b - 1.0, a - 1.0)
    return (1.0 + t) / 2.0, w / w.sum()


def mixture_quadrature(alpha: float, beta: float | None = None, n_quad: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature rule for Lemma 3.1's D̃λ = α/(α+β)·Beta(α+1, β) + β/(α+β)·Beta(β+1, α).

    One Gauss–Jacobi rule per component (merged into one when α = β): nodes λ_q and weights summing to 1.
    """
    alpha, beta = resolve_beta(alpha, beta)
    require(alpha > 0, "alpha=0 means no mixing: D̃λ is the point mass at λ = 1")
    lam1, w1 = beta_quadrature(alpha + 1, beta, n_quad)
    if alpha == beta:
        return lam1, w1
    lam2, w2 = beta_quadrature(beta + 1, alpha, n_quad)
    pi = alpha / (alpha + beta)
    return np.concatenate([lam1, lam2]), np.concatenate([pi * w1, (1 - pi) * w2])


# ----------------------------------------------------------------------------------------------------------
# Targets


def _soft_targets(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Targets in the form the GLM loss uses: (N,) probability of class 1 for (N,) logits, (N, K) otherwise.

    Integer labels are accepted (one-hot for K classes, 0/1 for a binary model); (N, 2) soft labels for a
    binary model are reduced to their column 1.
    """
    n = logits.shape[0]
    require(targets.shape[0] == n, f"targets have {targets.shape[0]} rows but there are {n} inputs")
    if logits.ndim == 1:
        if targets.ndim == 2:
            require(
                targets.shape[1] == 2, f"targets of shape {tuple(targets.shape)} for a binary model: use (N,) or (N, 2)"
            )
            targets = targets[:, 1]
        y = targets.to(logits.dtype)
        require(bool(((y >= 0) & (y <= 1)).all()), "binary targets must be probabilities of class 1 in [0, 1]")
        return y
    k = logits.shape[1]
    if targets.ndim == 1:
        require(not targets.is_floating_point(), "K-class targets must be integer labels (N,) or soft labels (N, K)")
        return torch.nn.functional.one_hot(targets.long(), k).to(logits.dtype)
    require(
        targets.shape == logits.shape,
        f"targets of shape {tuple(targets.shape)} do not match logits {tuple(logits.shape)}",
    )
    return targets.to(logits.dtype)


def _prepare(model: nn.Module, x: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate x (N, ...) and return (logits on x, soft targets)."""
    require(x.ndim >= 2 and x.shape[0] >= 1, f"x of shape {tuple(x.shape)}: it must be (N, ...) with N >= 1")
    check_finite("x", x)
    logits = model(x)
    require(logits.ndim in (1, 2), f"model output of shape {tuple(logits.shape)}: expected (N,) or (N, K) logits")
    return logits, _soft_targets(logits, targets.to(x.device))


# ----------------------------------------------------------------------------------------------------------
# Exact mixup loss (Eq. 1) and its rewrite (Lemma 3.1)


def _pair_quadrature_loss(
    model: nn.Module,
    x: torch.Tensor,
    soft: torch.Tensor,
    lam: np.ndarray,
    weights: np.ndarray,
    mix_labels: bool,
    chunk_size: int,
) -> torch.Tensor:
    """(1/n²) Σ_{i,j} Σ_q w_q l(θ, (λ_q x_i + (1−λ_q) x_j, y)), y = λ_q y_i + (1−λ_q) y_j or y_i.

    Evaluated in chunks of whole rows i (about ``chunk_size`` mixed inputs per forward pass).
    """
    n = x.shape[0]
    q = len(lam)
    lam_t = torch.as_tensor(lam, dtype=x.dtype, device=x.device)
    w_t = torch.as_tensor(weights, dtype=x.dtype, device=x.device)
    flat = x.reshape(n, -1)
    lam_x = lam_t.reshape(1, 1, q, 1)
    lam_y = lam_t.reshape(1, 1, q, *([1] * (soft.ndim - 1)))
    rows = max(1, chunk_size // (n * q))
    total = x.new_zeros(())
    for start in range(0, n, rows):
        xi = flat[start : start + rows, None, None, :]
        c = xi.shape[0]
        mixed = (lam_x * xi + (1 - lam_x) * flat[None, :, None, :]).reshape(c * n * q, *x.shape[1:])
        yi = soft[start : start + c].reshape(c, 1, 1, *soft.shape[1:])
        if mix_labels:
            yj = soft.reshape(1, n, 1, *soft.shape[1:])
            y = lam_y * yi + (1 - lam_y) * yj
        else:
            y = yi.expand(c, n, q, *soft.shape[1:])
        losses = soft_cross_entropy(model(mixed), y.reshape(c * n * q, *soft.shape[1:]), reduction="none")
        total = total + (losses.reshape(c, n, q) * w_t).sum()
    return total / n**2


def _quadrature_mixup_loss(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, alpha: float, beta: float | None,
                           rule: Callable[[float, float, int], tuple[np.ndarray, np.ndarray]], mix_labels: bool,
                           n_quad: int, chunk_size: int) -> torch.Tensor:
    """Eq. (1) or Lemma 3.1 with λ by the quadrature ``rule(α, β, n_quad)`` over all n² pairs; α = 0 gives L_std.

    ``beta_quadrature`` with mixed labels is Eq. (1); ``mixture_quadrature`` (D̃λ) with y_i is Lemma 3.1's rewrite.
    """
    alpha, beta = resolve_beta(alpha, beta)
    logits, soft = _prepare(model, x, targets)
    if alpha == 0:
        return soft_cross_entropy(logits, soft)
    lam, w = rule(alpha, beta, n_quad)
    return _pair_quadrature_loss(model, x, soft, lam, w, mix_labels=mix_labels, chunk_size=chunk_size)


def pairwise_mixup_loss(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, alpha: float,
                        beta: float | None = None, *, n_quad: int = 64, chunk_size: int = 1 << 16) -> torch.Tensor:
    """Eq. (1): L_mix(θ) = (1/n²) Σ_{i,j} E_{λ~Beta(α,β)} l(θ, (λx_i + (1−λ)x_j, λy_i + (1−λ)y_j)).

    The exact double sum over all n² ordered pairs (i = j included); the λ-expectation by Gauss–Jacobi
    quadrature with ``n_quad`` nodes (:func:`beta_quadrature`). Costs n²·n_quad forward evaluations
    (chunked), so it is meant for small n (a few hundred). α = 0 returns L_std. Differentiable.
    """
    return _quadrature_mixup_loss(model, x, targets, alpha, beta, beta_quadrature, True, n_quad, chunk_size)


def rewritten_mixup_loss(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, alpha: float,
                         beta: float | None = None, *, n_quad: int = 64, chunk_size: int = 1 << 16) -> torch.Tensor:
    """Lemma 3.1's exact rewrite: L_mix(θ) = (1/n) Σ_i E_{λ~D̃λ} E_r l(θ, (λx_i + (1−λ)r, y_i)).

    r is uniform over the training inputs, D̃λ = α/(α+β)·Beta(α+1, β) + β/(α+β)·Beta(β+1, α); each
    component by its own Gauss–Jacobi rule (:func:`mixture_quadrature`). Equal to
    :func:`pairwise_mixup_loss` up to quadrature error. α = 0 returns L_std. Differentiable.
    """
    return _quadrature_mixup_loss(model, x, targets, alpha, beta, mixture_quadrature, False, n_quad, chunk_size)


def pulled_loss(
    model: nn.Module, x: torch.Tensor, targets: torch.Tensor, lam: float, *, chunk_size: int = 1 << 16
) -> torch.Tensor:
    """L(λ) = (1/n²) Σ_{i,j} l(θ, (λx_i + (1−λ)x_j, y_i)): the integrand of Lemma 3.1 at one fixed λ.

    L_mix = E_{λ~D̃λ} L(λ), and Lemma 3.1's expansion reads
    L(λ) = L_std + (1−λ)·R1/E[1−λ] + (1−λ)²·(R2 + R3)/E[(1−λ)²] + O((1−λ)³) for smooth models.
    """
    require(0 <= lam <= 1, f"lam={lam!r} is not allowed: it must be in [0, 1]")
    _, soft = _prepare(model, x, targets)
    return _pair_quadrature_loss(model, x, soft, np.array([lam]), np.array([1.0]), False, chunk_size)


def monte_carlo_mixup_loss(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, alpha: float,
                           beta: float | None = None, *, n_samples: int = 10_000,
                           generator: torch.Generator | None = None, chunk_size: int = 1 << 16) -> tuple[float, float]:
    """Eq. (1) by Monte Carlo: ``n_samples`` i.i.d. triples (i, j, λ), i and j uniform, λ ~ Beta(α, β).

    Returns (estimate, standard error), the standard error being the sample standard deviation / √n_samples.
    Not differentiable (plain floats); for large n where the exact double sum is too costly.
    """
    check_positive_int("n_samples", n_samples)
    require(n_samples >= 2, "n_samples must be >= 2 for a standard error")
    with torch.no_grad():
        _, soft = _prepare(model, x, targets)
        n = x.shape[0]
        losses = []
        for start in range(0, n_samples, chunk_size):
            m = min(chunk_size, n_samples - start)
            i = torch.randint(n, (m,), generator=generator).to(x.device)
            j = torch.randint(n, (m,), generator=generator).to(x.device)
            lam = sample_lambda(alpha, beta, (m,), generator).to(x.device, x.dtype)
            lx = lam.reshape(m, *([1] * (x.ndim - 1)))
            ly = lam.reshape(m, *([1] * (soft.ndim - 1)))
            mixed = lx * x[i] + (1 - lx) * x[j]
            y = ly * soft[i] + (1 - ly) * soft[j]
            losses.append(soft_cross_entropy(model(mixed), y, reduction="none"))
        values = torch.cat(losses).double()
    return float(values.mean()), float(values.std() / math.sqrt(n_samples))


# ----------------------------------------------------------------------------------------------------------
# Lemma 3.1's second-order terms and Eq. (3)


def _hvp(q: torch.Tensor, xv: torch.Tensor, v: torch.Tensor, create_graph: bool) -> torch.Tensor:
    """Batched Hessian-vector products (Q_i v_i)_i = ∇_x Σ_i q_iᵀ v_i, (n, d); zeros where q does not depend on x."""
    if not q.requires_grad:
        return torch.zeros_like(v)
    (hv,) = torch.autograd.grad((q * v).sum(), xv, retain_graph=True, create_graph=create_graph, allow_unused=True)
    return torch.zeros_like(v) if hv is None else hv.reshape(v.shape)


class Derivatives:
    """Everything the terms need, batched over samples.

    ``logits``, ``res`` = h'(f) − y and ``p`` (σ or softmax) come from a forward pass on the constant x, so
    they depend on θ only; ``jac`` (n, K, d) (K = 1 for a binary model) and the residual-weighted gradient
    ``q`` (n, d) = Σ_k res_k ∇f_k come from a second pass on a copy ``xv`` of x that requires grad. With
    ``hessian=True`` q comes from its own backward pass of Σ_i res_i·f(xv_i) (res constant in xv), with a
    graph, so that Hessian-vector products of q traverse one backward graph rather than K of them.
    """

    def __init__(self, model: nn.Module, x: torch.Tensor, targets: torch.Tensor, graph: bool, hessian: bool) -> None:
        n = x.shape[0]
        self.x = x.detach()
        self.logits, self.soft = _prepare(model, self.x, targets)
        self.binary = self.logits.ndim == 1
        self.xv = self.x.clone().requires_grad_(True)
        out = model(self.xv).reshape(n, -1)
        if self.binary:
            self.p = torch.sigmoid(self.logits)
            self.res = (self.p - self.soft).reshape(n, 1)
        else:
            self.p = torch.softmax(self.logits, dim=1)
            self.res = self.p - self.soft
        grads = []
        for k in range(out.shape[1]):
            (g,) = torch.autograd.grad(out[:, k].sum(), self.xv, create_graph=graph, retain_graph=True)
            grads.append(g.reshape(n, -1))
        self.jac = torch.stack(grads, dim=1)
        if hessian:
            (q,) = torch.autograd.grad((self.res * out).sum(), self.xv, create_graph=True, retain_graph=True)
            self.q = q.reshape(n, -1)
        else:
            self.q = torch.einsum("nk,nkd->nd", self.res, self.jac)

    def curvature_form(self, u: torch.Tensor) -> torch.Tensor:
        """uᵀ h''(f_i) u for u (n, K, ...) along dim 1: s·u² (binary) or Σ p u² − (p·u)² (softmax)."""
        p = self.p.reshape(self.p.shape[0], -1, *([1] * (u.ndim - 2)))
        if self.binary:
            return (p * (1 - p) * u**2).sum(dim=1)
        return (p * u**2).sum(dim=1) - (p * u).sum(dim=1) ** 2

    def projections(self, factor: torch.Tensor, delta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(J_i Fᵀ (n, K, rank), J_i δ_i (n, K)): the Jacobians along the rows of F (Σ̂ = FᵀF) and along δ_i."""
        return torch.einsum("nkd,rd->nkr", self.jac, factor), torch.einsum("nkd,nd->nk", self.jac, delta)

    def penalty_sum(self, along_pcs: torch.Tensor, along_delta: torch.Tensor) -> torch.Tensor:
        """Σ_i [tr(h''_i J_i Σ̂ J_iᵀ) + (J_i δ_i)ᵀ h''_i J_i δ_i]: the sum in R2 and in Section 4's penalty."""
        return self.curvature_form(along_pcs).sum() + self.curvature_form(along_delta).sum()


def covariance_factor(flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(x̄, F) with Σ̂ = X_cᵀX_c/n = FᵀF and F of shape (rank, d); never a d×d matrix.

    n ≤ d (images): F = X_c/√n itself (n rows). n > d (two moons): F = diag(S/√n)·Vᵀ from the thin SVD of
    the tall X_c, keeping singular values above rounding (at most d rows).
    """
    n, d = flat.shape
    mean = flat.mean(dim=0)
    centred = flat - mean
    if n <= d:
        return mean, centred / math.sqrt(n)
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    keep = s > s.max().clamp_min(torch.finfo(flat.dtype).tiny) * torch.finfo(flat.dtype).eps * n
    return mean, (s[keep, None] / math.sqrt(n)) * vh[keep]


def expansion_terms(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, weights: tuple[float, float], *,
                    r3: str = "exact", n_probes: int = 16, generator: torch.Generator | None = None
                    ) -> dict[str, torch.Tensor]:
    """Lemma 3.1's terms with the weights (E[1−λ], E[(1−λ)²]) given: ``{"L_std", "R1", "R2", "R3"}``.

    R1 is proportional to the first weight, R2 and R3 to the second (formulas in :func:`approx_terms`, which
    passes the moments of D̃λ; :func:`taylor_coefficients` passes (1, 1)). Same keywords as
    :func:`approx_terms`; differentiable with respect to the parameters when autograd is enabled.
    """
    check_choice("r3", r3, R3_METHODS)
    check_positive_int("n_probes", n_probes)
    require(
        isinstance(weights, (tuple, list))
        and len(weights) == 2
        and all(isinstance(w, (int, float)) and math.isfinite(w) for w in weights),
        f"weights={weights!r} are not allowed: they must be two finite numbers (E[1−λ], E[(1−λ)²])",
    )
    m1, m2 = weights
    graph = torch.is_grad_enabled()
    with torch.enable_grad():
        der = Derivatives(model, x, targets, graph=graph, hessian=r3 != "skip")
        n = der.x.shape[0]
        flat = der.x.reshape(n, -1)
        mean, factor = covariance_factor(flat)
        delta = mean - flat  # (n, d): x̄ − x_i
        l_std = soft_cross_entropy(der.logits, der.soft)
        r1 = m1 / n * (der.q * delta).sum()
        along_pcs, along_delta = der.projections(factor, delta)
        r2 = m2 / (2 * n) * der.penalty_sum(along_pcs, along_delta)
        if r3 == "skip":
            r3_value = l_std.new_zeros(())
        else:
            quad = (_hvp(der.q, der.xv, delta, graph) * delta).sum(dim=1)
            if r3 == "exact":
                for row in factor:
                    direction = row.expand(n, -1)
                    quad = quad + (_hvp(der.q, der.xv, direction, graph) * direction).sum(dim=1)
            else:
                centred = flat - mean
                for _ in range(n_probes):
                    signs = torch.randint(0, 2, (n, n), generator=generator).to(flat.dtype) * 2 - 1
                    probe = signs.to(flat.device) @ centred / math.sqrt(n)
                    quad = quad + (_hvp(der.q, der.xv, probe, graph) * probe).sum(dim=1) / n_probes
            r3_value = m2 / (2 * n) * quad.sum()
    terms = {"L_std": l_std, "R1": r1, "R2": r2, "R3": r3_value}
    if not graph:
        terms = {key: value.detach() for key, value in terms.items()}
    return terms


def approx_terms(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, alpha: float, beta: float | None = None,
                 *, r3: str = "exact", n_probes: int = 16, generator: torch.Generator | None = None
                 ) -> dict[str, torch.Tensor]:
    """The terms of Lemma 3.1 for the training set (x, targets): ``{"L_std", "R1", "R2", "R3"}`` (0-d tensors).

    R1 = E_D̃[1−λ]/n · Σ_i (h'(f_i) − y_i)ᵀ J_i (x̄ − x_i)
    R2 = E_D̃[(1−λ)²]/(2n) · Σ_i [ tr(J_iᵀ h''(f_i) J_i Σ̂) + (J_i(x̄ − x_i))ᵀ h''(f_i) J_i(x̄ − x_i) ]
    R3 = E_D̃[(1−λ)²]/(2n) · Σ_i E_r[(r − x_i)ᵀ (Σ_k (h'(f_i) − y_i)_k ∇²f_k(x_i)) (r − x_i)]

    J_i is the K×d input Jacobian at x_i (1×d for a binary model), r uniform over the rows of x. R2 uses a
    factor of Σ̂ (never a d×d matrix); R3 uses batched Hessian-vector products:
    ``r3="exact"`` (min(n, d) + 1 backward passes), ``"hutchinson"`` (unbiased, ``n_probes`` Rademacher
    probes per sample drawn with ``generator``, + 1 pass; its variance for sample i is
    2 Σ_{a≠b} (A_i)_ab² / n_probes with A_i = X_c Q_i X_cᵀ / n) or ``"skip"`` (R3 = 0). See the module
    docstring. Differentiable with respect to the parameters when autograd is enabled.
    """
    alpha, beta = resolve_beta(alpha, beta)
    weights = (mixture_moment(alpha, beta, 1), mixture_moment(alpha, beta, 2))
    return expansion_terms(model, x, targets, weights, r3=r3, n_probes=n_probes, generator=generator)


def approx_mixup_loss(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, alpha: float, beta: float | None = None,
                      **kw) -> torch.Tensor:
    """Eq. (3): L̃_mix = L_std + R1 + R2 + R3 (:func:`approx_terms`, same keywords). Differentiable."""
    terms = approx_terms(model, x, targets, alpha, beta, **kw)
    return terms["L_std"] + terms["R1"] + terms["R2"] + terms["R3"]


# ----------------------------------------------------------------------------------------------------------
# Claim 2: Eq. (3) as a Taylor expansion — fixed-λ truncations and truncation errors along training

TRUNCATIONS = ("L_std", "L_std + R1", "L_std + R1 + R2", "Eq. (3)")
"""The truncations of Eq. (3) compared with the exact L_mix by :func:`truncation_errors`, in order."""

NOISE_FACTOR = 100.0
"""Float noise floor of a pulled-loss difference, in units of float64 eps × the loss: measured rounding noise of
|g(a) − T_2(a)| on two moons is ≈ 0.3·eps·g(0) (a ≤ 1e-5), so 100 leaves a margin of ~300 while the order-2
error at a = 1e-3 (≈ 1e-11 for a logistic regression at init, larger once trained) stays ≥ 30× above it."""


def taylor_coefficients(
    model: nn.Module, x: torch.Tensor, targets: torch.Tensor, *, r3: str = "exact"
) -> dict[str, float]:
    """Taylor coefficients at a = 0 of the pulled loss g(a) = (1/n) Σ_i E_r l(θ, ((1−a)x_i + a r, y_i)).

    g(a) = L_std + a·R1 + a²·(R2 + R3) + O(a³) for a smooth model: Lemma 3.1's terms with the mixture moments
    E[1−λ], E[(1−λ)²] replaced by a and a², i.e. :func:`expansion_terms` with weights (1, 1). So ``"L_std"`` =
    g(0), ``"R1"`` = g'(0) and ``"R2"`` + ``"R3"`` = g''(0)/2, R2 from the curvature h'' of the loss and R3 from
    the input Hessian ∇²f of the model (0 for linear models). Plain floats.
    """
    with torch.no_grad():
        terms = expansion_terms(model, x, targets, (1.0, 1.0), r3=r3)
    return {key: float(value) for key, value in terms.items()}


def taylor_truncations(coefficients: dict[str, float], one_minus_lams: np.ndarray) -> np.ndarray:
    """T_0, T_1, T_2 of the pulled loss at each a = 1 − λ (rows k = 0, 1, 2; shape (3, len(a)))."""
    a = np.asarray(one_minus_lams, dtype=np.float64)
    t0 = np.full_like(a, coefficients["L_std"])
    t1 = t0 + a * coefficients["R1"]
    return np.stack([t0, t1, t1 + a**2 * (coefficients["R2"] + coefficients["R3"])])


def _check_float64(x: torch.Tensor) -> None:
    require(
        x.dtype == torch.float64,
        f"x has dtype {x.dtype}: use float64 (float32 rounding, ~1e-7, swamps the O((1−λ)³) remainder)",
    )


def fixed_lambda_errors(
    model: nn.Module, x: torch.Tensor, targets: torch.Tensor, one_minus_lams, *, r3: str = "exact"
) -> dict:
    """The pulled loss g(a) and the errors |g(a) − T_k(a)| of its Taylor truncations k = 0, 1, 2 at a = 0.

    g(a) = :func:`pulled_loss` at λ = 1 − a (all n² pairs, E_r over every training input), T_k from
    :func:`taylor_coefficients`. For a smooth model the errors shrink like a^{k+1} as a → 0 (slopes 1, 2, 3 in
    :func:`loglog_slope`); a wrong R1, R2 or R3 leaves a lower power. Float64 only. Returns plain numbers:
    ``one_minus_lams``, ``exact`` (g(a)), ``errors`` (3 lists, order k), ``noise_floor`` (:data:`NOISE_FACTOR`
    · eps · max|g|: smaller errors are rounding noise) and ``coefficients``.
    """
    _check_float64(x)
    a = np.asarray(one_minus_lams, dtype=np.float64).reshape(-1)
    require(
        a.size >= 1 and bool(np.all((a > 0) & (a <= 1))),
        f"one_minus_lams={one_minus_lams!r} is not allowed: give values 1 − λ in (0, 1]",
    )
    coefficients = taylor_coefficients(model, x, targets, r3=r3)
    with torch.no_grad():
        exact = np.array([float(pulled_loss(model, x, targets, 1.0 - value)) for value in a])
    errors = np.abs(exact[None, :] - taylor_truncations(coefficients, a))
    floor = NOISE_FACTOR * np.finfo(np.float64).eps * float(np.abs(exact).max())
    return {
        "one_minus_lams": a.tolist(),
        "exact": exact.tolist(),
        "errors": errors.tolist(),
        "noise_floor": floor,
        "coefficients": coefficients,
    }


def loglog_slope(
    one_minus_lams, errors, noise_floor: float = 0.0, *, decades: float | None = None, min_points: int = 3
) -> float:
    """Least-squares slope of log(error) against log(1 − λ), over the points whose error exceeds ``noise_floor``.

    Points at or below the floor (rounding noise, or an error that is exactly 0) are left out. With ``decades``
    only the resolved points within that many decades of the smallest resolved 1 − λ are fitted: the slope as
    1 − λ → 0, which the next order of the expansion cannot bend (a small third-order coefficient next to a
    fourth-order one bends a fit over [1e-4, 0.02] to 2.7 for a tanh net at init; the lowest decade gives 2.95).
    With fewer than ``min_points`` points left the slope is undetermined and NaN is returned. The slope estimates
    the order p of an error ≈ C·(1 − λ)^p: 1, 2, 3 for the truncations T_0, T_1, T_2 of a smooth model.
    """
    check_positive_int("min_points", min_points)
    require(decades is None or decades > 0, f"decades={decades!r} is not allowed: give a number > 0 or None")
    a = np.asarray(one_minus_lams, dtype=np.float64)
    err = np.asarray(errors, dtype=np.float64)
    require(a.shape == err.shape, f"{a.shape[0]} values of 1 − λ but errors of shape {err.shape}")
    keep = (err > noise_floor) & (a > 0)
    if keep.any() and decades is not None:
        keep &= a <= a[keep].min() * 10.0**decades * (1 + 1e-12)
    if keep.sum() < max(min_points, 2):
        return float("nan")
    return float(np.polyfit(np.log(a[keep]), np.log(err[keep]), 1)[0])


def truncation_slopes(result: dict, decades: float | None = None) -> list[float]:
    """The :func:`loglog_slope` of each truncation order in a :func:`fixed_lambda_errors` result."""
    a, floor = result["one_minus_lams"], result["noise_floor"]
    return [loglog_slope(a, errors, floor, decades=decades) for errors in result["errors"]]


def truncation_errors(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, alpha: float, beta: float | None = None,
                      *, n_quad: int = 64, r3: str = "exact") -> dict:
    """|L_mix − T| for each truncation T of Eq. (3) (:data:`TRUNCATIONS`), L_mix exact by quadrature.

    L_mix is :func:`rewritten_mixup_loss` with 2·``n_quad`` nodes; ``uncertainty`` is its difference from the
    ``n_quad``-node value plus the float noise floor (:data:`NOISE_FACTOR` · eps · L_mix): errors below it are
    not resolved. Returns plain numbers: ``alpha``, ``L_mix``, ``uncertainty``, ``terms`` (L_std, R1, R2, R3)
    and ``errors`` (one per truncation, in order). Float64 only.
    """
    _check_float64(x)
    check_positive_int("n_quad", n_quad)
    with torch.no_grad():
        coarse = float(rewritten_mixup_loss(model, x, targets, alpha, beta, n_quad=n_quad))
        exact = float(rewritten_mixup_loss(model, x, targets, alpha, beta, n_quad=2 * n_quad))
        terms = {key: float(value) for key, value in approx_terms(model, x, targets, alpha, beta, r3=r3).items()}
    partial = np.cumsum([terms["L_std"], terms["R1"], terms["R2"], terms["R3"]])
    return {
        "alpha": alpha,
        "L_mix": exact,
        "uncertainty": abs(exact - coarse) + NOISE_FACTOR * np.finfo(np.float64).eps * abs(exact),
        "terms": terms,
        "errors": {name: abs(exact - float(value)) for name, value in zip(TRUNCATIONS, partial, strict=True)},
    }


def homogeneity_error(model: nn.Module, x: torch.Tensor) -> float:
    """max_i |f(x_i) − ∇f(x_i)ᵀx_i| for a scalar-output model (Section 3: 0 for bias-free ReLU nets).

    A positively homogeneous f (linear without bias, bias-free ReLU net) has f(x) = ∇f(x)ᵀx, and then ∇²f = 0
    almost everywhere, so R3 of Eq. (3) vanishes. Input gradients by one backward pass of Σ_i f(x_i).
    """
    inputs = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        outputs = model(inputs)
        require(outputs.ndim == 1, f"model output of shape {tuple(outputs.shape)}: expected one logit per input (N,)")
        (grads,) = torch.autograd.grad(outputs.sum(), inputs)
    return float((outputs.detach() - (grads * inputs.detach()).reshape(len(x), -1).sum(dim=1)).abs().max())


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

    Both come from one pass of :class:`Derivatives` (batched input Jacobians) and :func:`covariance_factor`
    (never a d×d matrix), in eval mode; ``penalty`` equals ``approx_terms(...)["R2"]`` divided by its weight.
    """
    with torch.no_grad(), eval_mode(model):
        with torch.enable_grad():
            der = Derivatives(model, x, y, graph=False, hessian=False)
        n, k = der.jac.shape[:2]
        flat = der.x.reshape(n, -1)
        mean, factor = covariance_factor(flat)
        along_pcs, along_delta = der.projections(factor, mean - flat)
        weighted = der.penalty_sum(along_pcs, along_delta) / n
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
    """rank(Σ_X) of Section 4 (the Rademacher bound scales like √(rank(Σ_X)/n)) and three softer versions.

    - ``rank``: numerical rank (eigenvalues above max·max(n, d)·eps); at most n − 1 and d;
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
# Names that moved to mixup_lib.bound (Theorems 3.1/3.2)

_MOVED_TO_BOUND = ("robustness_bound", "second_order_adversarial_loss")


def __getattr__(name: str) -> Any:
    """``robustness_bound`` and ``second_order_adversarial_loss`` still resolve here, to :mod:`mixup_lib.bound`.

    Lazily (PEP 562): bound.py builds on this module, so importing it here at load time would be a cycle.
    """
    if name in _MOVED_TO_BOUND:
        from mixup_lib import bound

        return getattr(bound, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
