"""Mixup: λ samplers, batch mixing and the mixup loss.

Notation follows the paper (Zhang et al., ICLR 2021, Section 2): a mixed pair is
x̃ = λ x_i + (1−λ) x_j, ỹ = λ y_i + (1−λ) y_j with λ ~ Beta(α, β) (α = β in practice).
Lemma 3.1 rewrites the mixup loss with the mixture
D̃λ = α/(α+β)·Beta(α+1, β) + β/(α+β)·Beta(β+1, α); its sampler and moments live here too.

Every random draw takes an explicit ``torch.Generator`` so that a mix can be reproduced, and the
deterministic core (:func:`mix`) takes λ and the partner permutation as arguments.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mixup_lib.errors import check_choice, check_finite, check_float_pixels, check_labels, check_nonnegative, require

MIX_MODES = ("batch", "sample")


def resolve_beta(alpha: float, beta: float | None) -> tuple[float, float]:
    """Validate (α, β); β defaults to α. α = 0 (with β = 0) means no mixing, i.e. ERM."""
    alpha = check_nonnegative("alpha", alpha)
    beta = alpha if beta is None else check_nonnegative("beta", beta)
    require((alpha == 0) == (beta == 0), f"alpha={alpha!r}, beta={beta!r}: either both are 0 (no mixing) or both > 0")
    return alpha, beta


def _share(a: float, b: float) -> float:
    """a/(a+b) for a, b > 0 without overflow near float max (D̃λ's first weight, Beta moments, the limit law)."""
    return 1.0 / (1.0 + b / a)


def _log_standard_gamma(shape: float, size: tuple[int, ...], generator: torch.Generator | None) -> torch.Tensor:
    """log G for G ~ Gamma(shape, 1), float64, finite where G itself would underflow.

    Shapes >= 1 draw G exactly as torch does (the random stream is unchanged) and take its log. Shapes < 1
    use the boost G(a) = G(a+1)·U^{1/a} (Marsaglia & Tsang, 2000) in log space: log G(a+1) + log(U)/a.
    """
    if shape >= 1:
        return torch._standard_gamma(torch.full(size, shape, dtype=torch.float64), generator=generator).log()
    boosted = torch._standard_gamma(torch.full(size, shape + 1.0, dtype=torch.float64), generator=generator).log()
    log_u = torch.rand(size, generator=generator, dtype=torch.float64).neg_().log1p_()  # log(1 − u), 1 − u ∈ (0, 1]
    return boosted + log_u / shape


def _sample_beta(a: float, b: float, size: tuple[int, ...], generator: torch.Generator | None) -> torch.Tensor:
    """Beta(a, b) = G_a/(G_a + G_b) computed as sigmoid(log G_a − log G_b): no 0/0 at tiny shapes, no ∞/∞ at huge.

    Where both log-Gammas are −∞ (shapes below ~1e-308), the limit law b/(a+b)·δ₀ + a/(a+b)·δ₁ is drawn
    with one uniform per λ; that uniform is drawn in every case, so the stream for shapes >= 1 is as before.
    """
    log_ratio = _log_standard_gamma(a, size, generator) - _log_standard_gamma(b, size, generator)
    limit = (torch.rand(size, generator=generator, dtype=torch.float64) < _share(a, b)).double()
    return torch.where(log_ratio.isnan(), limit, torch.sigmoid(log_ratio))


def sample_lambda(alpha: float, beta: float | None = None, size: tuple[int, ...] = (),
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw λ ~ Beta(α, β) (the mixup distribution D_λ), float64, of shape ``size``.

    α = 0 gives λ = 1 (no mixing: ERM).
    """
    alpha, beta = resolve_beta(alpha, beta)
    if alpha == 0:
        return torch.ones(size, dtype=torch.float64)
    return _sample_beta(alpha, beta, size, generator)


def sample_mixture_lambda(alpha: float, beta: float | None = None, size: tuple[int, ...] = (),
                          generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw λ ~ D̃λ = α/(α+β)·Beta(α+1, β) + β/(α+β)·Beta(β+1, α) (Lemma 3.1), float64."""
    alpha, beta = resolve_beta(alpha, beta)
    if alpha == 0:
        return torch.ones(size, dtype=torch.float64)
    first = torch.rand(size, generator=generator, dtype=torch.float64) < _share(alpha, beta)
    return torch.where(
        first,
        _sample_beta(alpha + 1, beta, size, generator),
        _sample_beta(beta + 1, alpha, size, generator),
    )


def mixture_moment(alpha: float, beta: float | None = None, k: int = 1) -> float:
    """E_{λ~D̃λ}[(1−λ)^k] in closed form (Lemma 3.1's mixture).

    For λ ~ Beta(a, b), 1−λ ~ Beta(b, a) and E[(1−λ)^k] = Π_{r<k} (b+r)/(a+b+r).
    For α = β this gives E[1−λ] = α/(2α+1) and E[(1−λ)²] = α/(2(2α+1)).
    """
    alpha, beta = resolve_beta(alpha, beta)
    require(isinstance(k, int) and k >= 0, f"k={k!r} is not allowed: it must be an integer >= 0")
    if alpha == 0 or k == 0:
        return 1.0 if k == 0 else 0.0

    def beta_moment(a: float, b: float) -> float:
        value = 1.0
        for r in range(k):
            value *= _share(b + r, a)  # (b+r)/(a+b+r)
        return value

    weight = _share(alpha, beta)
    return weight * beta_moment(alpha + 1, beta) + (1 - weight) * beta_moment(beta + 1, alpha)


def mixture_moments(alpha: float, beta: float | None = None) -> tuple[float, float]:
    """(E_D̃[1−λ], E_D̃[(1−λ)²]): the weights of R1 and of R2, R3 in Lemma 3.1."""
    return mixture_moment(alpha, beta, 1), mixture_moment(alpha, beta, 2)


def one_hot(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Integer labels (N,) → float one-hot targets (N, num_classes)."""
    return F.one_hot(y.long(), num_classes).float()


def mix(x: torch.Tensor, targets: torch.Tensor, lam: torch.Tensor | float, perm: torch.Tensor):
    """The mixup map itself: (λ x + (1−λ) x[perm], λ y + (1−λ) y[perm]).

    ``lam`` is a scalar (one λ per batch, the original recipe) or a vector of length N (one per
    sample); ``targets`` are soft labels (N, K). Deterministic: no randomness here. ``x`` and ``targets``
    must be floating point (an integer dtype would truncate λ): pixels in [0, 1], soft labels from :func:`one_hot`.
    """
    check_float_pixels("x", x)
    require(
        targets.is_floating_point(),
        f"targets have dtype {targets.dtype}: mix needs floating-point soft labels (N, K), e.g. one_hot(y, K)",
    )
    lam = torch.as_tensor(lam, dtype=x.dtype, device=x.device)
    allowed = lam.ndim == 0 or lam.shape == (x.shape[0],)
    require(allowed, f"lam has shape {tuple(lam.shape)}: allowed are () or ({x.shape[0]},)")
    lam_x = lam.reshape(-1, *([1] * (x.ndim - 1))) if lam.ndim else lam
    lam_y = lam.reshape(-1, *([1] * (targets.ndim - 1))).to(targets.dtype) if lam.ndim else lam.to(targets.dtype)
    mixed_x = lam_x * x + (1 - lam_x) * x[perm]
    mixed_y = lam_y * targets + (1 - lam_y) * targets[perm]
    return mixed_x, mixed_y


@dataclass(frozen=True)
class MixedBatch:
    """A mixed mini-batch and everything needed to reproduce it."""

    inputs: torch.Tensor
    targets: torch.Tensor
    lam: torch.Tensor
    perm: torch.Tensor


def mixup_batch(
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    alpha: float,
    beta: float | None = None,
    mode: str = "batch",
    generator: torch.Generator | None = None,
) -> MixedBatch:
    """Mix a batch: λ ~ Beta(α, β) once per batch (``mode="batch"``) or per sample, partner by a random permutation.

    ``x`` holds floating-point pixels in [0, 1]; integer labels ``y`` in [0, ``num_classes``) are turned into
    one-hot targets before mixing. α = 0 returns the batch unmixed.
    """
    check_choice("mode", mode, MIX_MODES)
    check_float_pixels("x", x)
    check_finite("x", x)
    require(x.shape[0] >= 2, f"batch size {x.shape[0]} is not allowed for mixup: it needs a batch of at least 2")
    check_labels("y", y, x.shape[0], num_classes)
    size = () if mode == "batch" else (x.shape[0],)
    lam = sample_lambda(alpha, beta, size, generator)
    perm = torch.randperm(x.shape[0], generator=generator)
    inputs, targets = mix(x, one_hot(y, num_classes).to(x.dtype), lam.to(x.device), perm.to(x.device))
    return MixedBatch(inputs, targets, lam, perm)


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """The GLM loss l = h(f) − y·f of the paper against soft targets.

    Logits (N, K): h = logsumexp (softmax cross-entropy), targets (N, K).
    Logits (N,): a scalar binary model, h(z) = log(1 + e^z); targets are the probability of class 1,
    given as (N,) or as (N, 2) soft labels (column 1 is used).
    """
    check_choice("reduction", reduction, ("mean", "none"))
    if logits.ndim == 1:
        y = targets[:, 1] if targets.ndim == 2 else targets
        per_sample = F.softplus(logits) - y * logits
    else:
        per_sample = torch.logsumexp(logits, dim=1) - (targets * logits).sum(dim=1)
    return per_sample.mean() if reduction == "mean" else per_sample


def predict_labels(logits: torch.Tensor) -> torch.Tensor:
    """Predicted class: argmax for (N, K) logits, ``logit > 0`` for a scalar binary model."""
    return (logits > 0).long() if logits.ndim == 1 else logits.argmax(dim=1)


def cross_entropy(logits: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """The same GLM loss against integer labels: softmax cross-entropy, or logistic loss for (N,) logits."""
    check_choice("reduction", reduction, ("mean", "none"))
    if logits.ndim == 1:
        return F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype), reduction=reduction)
    return F.cross_entropy(logits, y.long(), reduction=reduction)
