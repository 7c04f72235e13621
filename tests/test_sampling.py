"""λ samplers against scipy for every allowed α: tiny shapes (λ piles up at 0 and 1), huge shapes (λ ≈ 1/2).

Kolmogorov–Smirnov with censoring: float64 cannot hold a Beta(α, α) draw at tiny α faithfully (1 − λ below
1e-16 rounds λ to 1, λ below ~1e-308 underflows to 0; scipy's own sampler does the same), so draws at or
below ``LOW`` and at or above ``HIGH`` are only counted, not placed. The censored probability integral
transform u = F(λ) on (LOW, HIGH), u ~ U(0, F(LOW)) below and u ~ U(F(HIGH), 1) above, is exactly
U(0, 1) under the null, so scipy's one-sample KS test applies unchanged. Fixed seeds make it deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from torch import nn

from mixup_lib import approx, mixup
from mixup_lib.data import load_dataset
from mixup_lib.models import build

LOW, HIGH = 1e-300, 1 - 1e-9
N_DRAWS = 20_000
P_MIN = 1e-3  # with fixed seeds the p-values are fixed numbers; the broken sampler gives p < 1e-100
ALPHAS = [1e-4, 1e-3, 0.05, 1.0, 1e3, 1e6]


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _censored_ks_pvalue(draws: torch.Tensor, cdf: Callable[[np.ndarray], np.ndarray], seed: int = 0) -> float:
    """p-value of the KS test of ``draws`` against ``cdf``, censored below LOW and above HIGH (module doc)."""
    x = draws.numpy()
    rng = np.random.default_rng(seed)
    u = cdf(np.clip(x, LOW, HIGH))
    low, high = x <= LOW, x >= HIGH
    u[low] = rng.uniform(0.0, cdf(np.array(LOW)), low.sum())
    u[high] = rng.uniform(cdf(np.array(HIGH)), 1.0, high.sum())
    return stats.kstest(u, "uniform").pvalue


def _mixture_cdf(alpha: float, beta: float) -> Callable[[np.ndarray], np.ndarray]:
    """CDF of Lemma 3.1's D̃λ = α/(α+β)·Beta(α+1, β) + β/(α+β)·Beta(β+1, α)."""
    w = alpha / (alpha + beta)
    first, second = stats.beta(alpha + 1, beta), stats.beta(beta + 1, alpha)
    return lambda t: w * first.cdf(t) + (1 - w) * second.cdf(t)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_lambda_follows_beta_for_every_alpha(alpha):
    draws = mixup.sample_lambda(alpha, size=(N_DRAWS,), generator=_generator(0))
    assert _censored_ks_pvalue(draws, stats.beta(alpha, alpha).cdf) > P_MIN


@pytest.mark.parametrize(("alpha", "beta"), [(1e-3, 1e-2), (0.3, 2.0), (2.0, 1e-4)])
def test_lambda_follows_asymmetric_beta(alpha, beta):
    draws = mixup.sample_lambda(alpha, beta, (N_DRAWS,), _generator(1))
    assert _censored_ks_pvalue(draws, stats.beta(alpha, beta).cdf) > P_MIN


@pytest.mark.parametrize(("alpha", "beta"), [(a, a) for a in ALPHAS] + [(1e-3, 1e-2), (0.3, 2.0)])
def test_mixture_lambda_follows_lemma_3_1_mixture(alpha, beta):
    draws = mixup.sample_mixture_lambda(alpha, beta, (N_DRAWS,), _generator(2))
    assert _censored_ks_pvalue(draws, _mixture_cdf(alpha, beta)) > P_MIN


@pytest.mark.parametrize(("alpha", "beta"), [(1e-4, 1e-4), (1e-3, 1e-2), (1e-2, 1e-3)])
def test_tiny_shapes_put_lambda_at_zero_or_one_with_the_right_weights(alpha, beta):
    """Beta(α, β) with α, β → 0 tends to β/(α+β)·δ₀ + α/(α+β)·δ₁; counts within 4 binomial s.e. of scipy's."""
    draws = mixup.sample_lambda(alpha, beta, (N_DRAWS,), _generator(3))
    law = stats.beta(alpha, beta)
    for count, p in [(int((draws < 1e-6).sum()), law.cdf(1e-6)), (int((draws > 1 - 1e-6).sum()), law.sf(1 - 1e-6))]:
        assert abs(count - N_DRAWS * p) < 4 * math.sqrt(N_DRAWS * p * (1 - p)) + 1
    assert law.cdf(1e-6) == pytest.approx(beta / (alpha + beta), abs=0.02)


def test_subnormal_shapes_draw_the_limit_law():
    """Shapes below ~1e-308 overflow even log G; λ then follows the limit law β/(α+β)·δ₀ + α/(α+β)·δ₁."""
    draws = mixup.sample_lambda(1e-310, 3e-310, (N_DRAWS,), _generator(7))
    assert bool(((draws == 0) | (draws == 1)).all())
    assert abs(float(draws.mean()) - 0.25) < 4 * math.sqrt(0.25 * 0.75 / N_DRAWS)


@pytest.mark.parametrize("alpha", [1e6, 1e100, 1e300, 1e308])
@pytest.mark.parametrize("sampler", [mixup.sample_lambda, mixup.sample_mixture_lambda])
def test_huge_shapes_give_lambda_near_one_half(alpha, sampler):
    """Beta(α, α) has mean 1/2 and s.d. 1/(2√(2α+1)); D̃λ the same up to O(1/α). No overflow up to float max."""
    draws = sampler(alpha, size=(2000,), generator=_generator(4))
    sd = 1 / (2 * math.sqrt(2 * alpha + 1))
    assert torch.isfinite(draws).all()
    assert float((draws - 0.5).abs().max()) <= 6 * sd + 1e-15
    assert mixup.mixture_moment(alpha, alpha, 1) == pytest.approx(0.5, rel=1e-5)


def test_monte_carlo_mixup_loss_matches_quadrature_at_tiny_alpha():
    """Eq. (1) at α = 1e-3: Monte Carlo within 3 s.e. of Gauss–Jacobi quadrature, which itself agrees with
    scipy's QAWS quadrature of the singular Beta weight λ^{α−1}(1−λ)^{α−1} (an independent rule)."""
    alpha = 1e-3
    x, y = _two_moons(16)
    model = _confident_linear_model(x, y)
    quadrature = float(approx.pairwise_mixup_loss(model, x, y, alpha, n_quad=64).detach())
    assert quadrature == pytest.approx(_qaws_mixup_loss(model, x, y, alpha), rel=1e-8)
    estimate, stderr = approx.monte_carlo_mixup_loss(model, x, y, alpha, n_samples=50_000, generator=_generator(6))
    assert abs(estimate - quadrature) < 3 * stderr


def _two_moons(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    data = load_dataset("two_moons", n_train=n, n_test=n, seed=0)
    return data.x_train.double(), data.y_train


def _confident_linear_model(x: torch.Tensor, y: torch.Tensor, scale: float = 5.0) -> nn.Module:
    """Logistic regression with the least-squares fit of ±1 labels, scaled up: confident at λ ∈ {0, 1}, so a
    sampler that puts mass at λ = 1/2 (mixed labels, confident logits) changes the mixup loss visibly."""
    model = build("logreg", 2, x.shape[1]).double()
    design = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)
    coef = scale * torch.linalg.lstsq(design, (2.0 * y - 1).double()[:, None]).solution[:, 0]
    with torch.no_grad():
        model.linear.weight.copy_(torch.stack([-coef[:-1], coef[:-1]]))
        model.linear.bias.copy_(torch.stack([-coef[-1], coef[-1]]))
    return model


def _qaws_mixup_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, alpha: float) -> float:
    """(1/n²) Σ_{i,j} E_{λ~Beta(α,α)} l(λx_i + (1−λ)x_j, λy_i + (1−λ)y_j) with scipy's algebraic-weight rule."""
    n = x.shape[0]
    soft = mixup.one_hot(y, 2).double()
    xi, xj = x[:, None].expand(n, n, -1).reshape(n * n, -1), x[None].expand(n, n, -1).reshape(n * n, -1)
    yi, yj = soft[:, None].expand(n, n, -1).reshape(n * n, -1), soft[None].expand(n, n, -1).reshape(n * n, -1)

    def pair_loss(lam: float) -> float:
        with torch.no_grad():
            logits = model(lam * xi + (1 - lam) * xj)
            return float(mixup.soft_cross_entropy(logits, lam * yi + (1 - lam) * yj))

    integral, _ = integrate.quad(pair_loss, 0, 1, weight="alg", wvar=(alpha - 1, alpha - 1), limit=200, epsabs=0)
    return integral / math.exp(2 * math.lgamma(alpha) - math.lgamma(2 * alpha))
