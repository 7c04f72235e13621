"""Tests of mixup_lib.approx: Lemma 3.1's exact rewrite, the terms R1-R3 of Eq. (3), and Theorems 3.1/3.2.

Everything runs in float64. Models: logistic regression and two-layer ReLU nets from mixup_lib.models, and a
two-layer tanh net (smooth, so ∇²f ≠ 0 and the Taylor expansion of Lemma 3.1 holds) built from torch.nn.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call

from mixup_lib import approx
from mixup_lib.errors import ConfigError
from mixup_lib.mixup import mixture_moment, soft_cross_entropy
from mixup_lib.models import build

DT = torch.float64


def _tanh_net(d: int, k: int, hidden: int = 8, binary: bool = False, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    layers = [nn.Flatten(), nn.Linear(d, hidden), nn.Tanh(), nn.Linear(hidden, 1 if binary else k)]
    if binary:
        layers.append(nn.Flatten(0))
    return nn.Sequential(*layers).to(DT)


def _model(name: str, d: int, k: int, binary: bool, bias: bool = True, seed: int = 0, scale: float = 1.0):
    if name == "tanh":
        model = _tanh_net(d, k, binary=binary, seed=seed)
    else:
        torch.manual_seed(seed)
        kw = {"hidden": 16} if name == "two-layer-relu" else {}
        model = build(name, 2 if binary else k, d, bias=bias, binary=binary, **kw).to(DT)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
            if p.ndim == 1:  # default-initialised biases are 0 in models.build; make them matter
                p.add_(0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(seed + 7), dtype=DT))
    return model


def _data(n: int, d: int, k: int, binary: bool, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=DT)
    y = torch.randint(0, 2 if binary else k, (n,), generator=g)
    return x, y


# --------------------------------------------------------------------------------------------------------
# Quadrature


def test_quadrature_rules_reproduce_beta_and_mixture_moments():
    for a, b in [(0.05, 0.05), (0.5, 0.5), (2.0, 2.0), (0.5, 2.0)]:
        lam, w = approx.beta_quadrature(a, b, 64)
        assert w.sum() == pytest.approx(1.0, abs=1e-14) and (lam > 0).all() and (lam < 1).all()
        assert (w * lam).sum() == pytest.approx(a / (a + b), abs=1e-12)
        lam, w = approx.mixture_quadrature(a, b, 64)
        for k in (1, 2, 3):
            assert (w * (1 - lam) ** k).sum() == pytest.approx(mixture_moment(a, b, k), abs=1e-12)


# --------------------------------------------------------------------------------------------------------
# Claim 1: Lemma 3.1's rewrite equals the pairwise mixup loss of Eq. (1)


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("name", ["logreg", "two-layer-relu"])
def test_rewrite_equals_pairwise_mixup_loss(name, binary):
    # Smooth in λ (logreg): Gauss–Jacobi converges exponentially. A ReLU net with biases has kinks along each
    # segment, where the quadrature error decays only like n_quad⁻²: 1024 nodes bring it to ≤ 5e-9 here.
    n, n_quad, tol = (40, 64, 1e-12) if name == "logreg" else (20, 1024, 1e-8)
    x, y = _data(n, 3, 3, binary)
    model = _model(name, 3, 3, binary, scale=2.0)
    with torch.no_grad():
        for alpha, beta in [(0.5, None), (1.0, None), (2.0, None), (0.5, 2.0)]:
            pair = approx.pairwise_mixup_loss(model, x, y, alpha, beta, n_quad=n_quad)
            rewrite = approx.rewritten_mixup_loss(model, x, y, alpha, beta, n_quad=n_quad)
            l_std = soft_cross_entropy(model(x), approx._soft_targets(model(x), y))
            assert abs(float(pair - rewrite)) < tol, (alpha, beta, float(pair - rewrite))
            assert abs(float(pair - l_std)) > 1e-3  # mixing changes the loss: the check is not vacuous


@pytest.mark.parametrize("binary", [True, False])
def test_pairwise_mixup_loss_matches_brute_force_monte_carlo(binary):
    x, y = _data(25, 3, 3, binary, seed=1)
    model = _model("two-layer-relu", 3, 3, binary, scale=2.0)
    with torch.no_grad():
        exact = float(approx.pairwise_mixup_loss(model, x, y, 0.5, 2.0, n_quad=256))
    estimate, se = approx.monte_carlo_mixup_loss(
        model, x, y, 0.5, 2.0, n_samples=200_000, generator=torch.Generator().manual_seed(3)
    )
    assert 0 < se < 5e-3
    assert abs(estimate - exact) < 4 * se


def test_alpha_zero_is_erm():
    x, y = _data(10, 3, 3, False)
    model = _model("tanh", 3, 3, False)
    l_std = soft_cross_entropy(model(x), nn.functional.one_hot(y, 3).to(DT)).detach()
    for fn in (approx.pairwise_mixup_loss, approx.rewritten_mixup_loss, approx.approx_mixup_loss):
        assert float(fn(model, x, y, 0.0).detach()) == pytest.approx(float(l_std), abs=1e-14)


# --------------------------------------------------------------------------------------------------------
# R1, R2, R3 against a brute force with explicit per-sample Jacobians, Hessians and d×d second moments


def _brute_force_terms(model, x, y, alpha, beta=None):
    n = x.shape[0]
    m1, m2 = mixture_moment(alpha, beta, 1), mixture_moment(alpha, beta, 2)
    logits = model(x).detach()
    if logits.ndim == 1:
        p = torch.sigmoid(logits)[:, None]
        res = p - y.to(DT)[:, None]
        curv = [torch.diag(p[i] * (1 - p[i])) for i in range(n)]
    else:
        p = torch.softmax(logits, dim=1)
        res = p - nn.functional.one_hot(y, logits.shape[1]).to(DT)
        curv = [torch.diag(p[i]) - torch.outer(p[i], p[i]) for i in range(n)]
    k = res.shape[1]

    def f(z):
        return model(z[None]).reshape(-1)

    mean = x.mean(dim=0)
    r1 = r2 = r3 = 0.0
    for i in range(n):
        jac = torch.autograd.functional.jacobian(f, x[i])  # (K, d)
        diffs = x - x[i]
        second = diffs.T @ diffs / n  # E_r[(r − x_i)(r − x_i)ᵀ], d×d
        r1 += float(res[i] @ jac @ (mean - x[i]))
        r2 += float(torch.trace(jac.T @ curv[i] @ jac @ second))
        for c in range(k):
            hess = torch.autograd.functional.hessian(lambda z, c=c: f(z)[c], x[i])
            r3 += float(res[i, c] * torch.trace(hess @ second))
    return {"R1": m1 / n * r1, "R2": m2 / (2 * n) * r2, "R3": m2 / (2 * n) * r3}


@pytest.mark.parametrize("binary", [True, False])
def test_terms_match_brute_force_with_explicit_covariance(binary):
    x, y = _data(12, 5, 3, binary, seed=2)
    model = _tanh_net(5, 3, binary=binary, seed=2)
    with torch.no_grad():
        terms = approx.approx_terms(model, x, y, 0.7, 1.3)
    brute = _brute_force_terms(model, x, y, 0.7, 1.3)
    for key in ("R1", "R2", "R3"):
        assert abs(brute[key]) > 1e-6, key
        assert float(terms[key]) == pytest.approx(brute[key], rel=1e-10, abs=1e-13), key


def test_hutchinson_r3_is_unbiased_and_skip_is_zero():
    x, y = _data(20, 4, 3, False, seed=4)
    model = _tanh_net(4, 3, seed=4)
    with torch.no_grad():
        exact = float(approx.approx_terms(model, x, y, 1.0)["R3"])
        g = torch.Generator().manual_seed(5)
        draws = torch.tensor(
            [
                float(approx.approx_terms(model, x, y, 1.0, r3="hutchinson", n_probes=8, generator=g)["R3"])
                for _ in range(40)
            ]
        )
        skipped = approx.approx_terms(model, x, y, 1.0, r3="skip")
        exact_terms = approx.approx_terms(model, x, y, 1.0)
    se = float(draws.std()) / math.sqrt(len(draws))
    assert abs(exact) > 1e-4 and se > 0
    assert abs(float(draws.mean()) - exact) < 4 * se
    assert float(skipped["R3"]) == 0.0
    for key in ("L_std", "R1", "R2"):  # the two code paths for ∇f agree
        assert float(skipped[key]) == pytest.approx(float(exact_terms[key]), rel=1e-12)


# --------------------------------------------------------------------------------------------------------
# Claim 4 and the logistic-regression identity of Section 3


@pytest.mark.parametrize("binary", [True, False])
def test_r3_vanishes_for_bias_free_relu_but_not_for_tanh(binary):
    x, y = _data(40, 6, 3, binary, seed=5)
    relu = _model("two-layer-relu", 6, 3, binary, bias=False, seed=5)
    tanh = _tanh_net(6, 3, binary=binary, seed=5)
    with torch.no_grad():
        r3_relu = float(approx.approx_terms(relu, x, y, 1.0)["R3"])
        r3_tanh = float(approx.approx_terms(tanh, x, y, 1.0)["R3"])
        f = relu(x)
    assert abs(r3_relu) < 1e-10
    assert abs(r3_tanh) > 1e-4
    # the companion identity of a positively homogeneous net: f(x) = ∇f(x)ᵀx
    xv = x.clone().requires_grad_(True)
    out = relu(xv).reshape(len(x), -1)
    grad = torch.autograd.grad(out[:, 0].sum(), xv)[0]
    assert torch.allclose((grad * x).sum(dim=1), f.reshape(len(x), -1)[:, 0], atol=1e-12)


@pytest.mark.parametrize("binary", [True, False])
def test_logreg_r1_is_minus_e1_theta_dot_grad_on_centred_data(binary):
    x, y = _data(50, 4, 3, binary, seed=6)
    x = x - x.mean(dim=0)
    model = _model("logreg", 4, 3, binary, seed=6)
    alpha = 0.8
    with torch.no_grad():
        terms = approx.approx_terms(model, x, y, alpha)
    l_std = approx.approx_terms(model, x, y, 0.0)["L_std"]  # α = 0: L_std with all R's 0
    weight = model.linear.weight
    (grad,) = torch.autograd.grad(l_std, weight)
    expected = -mixture_moment(alpha, None, 1) * float((weight.detach() * grad).sum())
    assert abs(expected) > 1e-4
    assert float(terms["R1"]) == pytest.approx(expected, abs=1e-12)
    assert float(terms["R3"]) == 0.0


# --------------------------------------------------------------------------------------------------------
# Image-sized inputs: no d×d matrix anywhere


def test_image_sized_inputs_never_form_a_d_by_d_matrix():
    # d = 3·32·32 = 3072, n = 64, 10 classes; R2 checked against the n×n Gram form (1/n)‖X_c J_iᵀ‖².
    g = torch.Generator().manual_seed(7)
    x = torch.rand(64, 3, 32, 32, generator=g, dtype=DT)
    y = torch.randint(0, 10, (64,), generator=g)
    model = _model("two-layer-relu", 3 * 32 * 32, 10, False, seed=7)
    with torch.no_grad():
        terms = approx.approx_terms(model, x, y, 1.0)
    flat = x.reshape(64, -1)
    xc = flat - flat.mean(dim=0)
    weights = model.fc1.weight.detach()
    pre = flat @ weights.T + model.fc1.bias.detach()
    jac = torch.einsum("kh,nh,hd->nkd", model.fc2.weight.detach(), (pre > 0).to(DT), weights)  # ReLU Jacobians
    p = torch.softmax(model(x), dim=1).detach()
    a = torch.einsum("md,nkd->nmk", xc, jac)  # rows of X_c J_iᵀ
    b = torch.einsum("nkd,nd->nk", jac, -xc)  # J_i (x̄ − x_i)
    quad = ((p[:, None] * a**2).sum(-1) - ((p[:, None] * a).sum(-1)) ** 2).sum(1) / 64
    quad = quad + (p * b**2).sum(-1) - (p * b).sum(-1) ** 2
    r2 = mixture_moment(1.0, None, 2) / (2 * 64) * float(quad.sum())
    assert float(terms["R2"]) == pytest.approx(r2, rel=1e-10)
    # d = 3·224·224: a d×d float64 matrix would need 181 GB, so this finishes only if none is formed.
    big = torch.rand(8, 3, 224, 224, generator=g, dtype=DT)
    net = build("two-layer-relu", 2, 3, input_size=(224, 224), hidden=8, binary=True).to(DT)
    with torch.no_grad():
        big_terms = approx.approx_terms(net, big, torch.tensor([0, 1] * 4), 1.0)
    assert all(math.isfinite(float(v)) for v in big_terms.values()) and float(big_terms["R2"]) > 0


# --------------------------------------------------------------------------------------------------------
# Theorems 3.1/3.2: the robustness bound


def _softplus(z):
    return np.logaddexp(0.0, z)


def _logreg_by_hand(x: np.ndarray, y: np.ndarray, theta: np.ndarray, alpha: float) -> dict:
    n, d = x.shape
    f = x @ theta
    s = 1 / (1 + np.exp(-f))
    e1, e2 = alpha / (2 * alpha + 1), alpha / (2 * (2 * alpha + 1))
    l_std = np.mean(_softplus(f) - y * f)
    xbar = x.mean(axis=0)
    cov = (x - xbar).T @ (x - xbar) / n
    r1 = e1 / n * np.sum((s - y) * ((xbar - x) @ theta))
    r2 = e2 / (2 * n) * np.sum(s * (1 - s) * (theta @ cov @ theta + ((xbar - x) @ theta) ** 2))
    cos = np.abs(f) / (np.linalg.norm(theta) * np.linalg.norm(x, axis=1))
    c_x = np.linalg.norm(x, axis=1).min() / np.sqrt(d)
    eps_mix = cos.min() * c_x * e1
    eps = eps_mix * np.sqrt(d)
    norm = np.linalg.norm(theta)
    l_adv = l_std + eps * np.mean(np.abs(s - y) * norm) + eps**2 / 2 * np.mean(s * (1 - s) * norm**2)
    return {"R": cos.min(), "c_x": c_x, "eps_mix": eps_mix, "L_mix_approx": l_std + r1 + r2, "L_adv_approx": l_adv}


def test_robustness_bound_logistic_regression_closed_form():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(80, 6))
    theta = rng.normal(size=6)
    # keep points away from the decision boundary so that R (hence ε_mix) is not tiny: a bound worth checking
    x = x[np.abs(x @ theta) > 0.3 * np.linalg.norm(x, axis=1) * np.linalg.norm(theta)]
    x -= x.mean(axis=0)
    y = (x @ theta > 0).astype(float)  # zero training error by construction
    model = build("logreg", 2, 6, bias=False, binary=True).to(DT)
    with torch.no_grad():
        model.linear.weight.copy_(torch.tensor(theta)[None])
    alpha = 1.0
    report = approx.robustness_bound(model, torch.tensor(x), torch.tensor(y), alpha)
    hand = _logreg_by_hand(x, y, theta, alpha)
    for key, value in hand.items():
        assert report[key] == pytest.approx(value, rel=1e-10), key
    assert report["d"] == 6 and report["R3"] == 0.0 and report["R"] > 0.2
    assert report["holds"] == (report["L_mix_approx"] >= report["L_adv_approx"])
    assert report["holds"] and report["gap"] > 0
    assert report["zero_training_error"] and report["centred"] and report["homogeneous"] and report["assumptions_met"]

    # a deliberately misclassified point: the assumption is reported broken, the numbers are still computed
    y_bad = y.copy()
    y_bad[0] = 1 - y_bad[0]
    bad = approx.robustness_bound(model, torch.tensor(x), torch.tensor(y_bad), alpha)
    hand_bad = _logreg_by_hand(x, y_bad, theta, alpha)
    assert not bad["zero_training_error"] and not bad["assumptions_met"] and bad["min_margin"] < 0
    assert bad["L_mix_approx"] == pytest.approx(hand_bad["L_mix_approx"], rel=1e-10)
    assert bad["holds"] == (bad["L_mix_approx"] >= bad["L_adv_approx"])

    # uncentred data are reported as such
    shifted = approx.robustness_bound(model, torch.tensor(x + 1.0), torch.tensor(y), alpha)
    assert not shifted["centred"] and not shifted["assumptions_met"]
    # and so is a bias (f(x) ≠ ∇f(x)ᵀx)
    with_bias = build("logreg", 2, 6, binary=True).to(DT)
    with torch.no_grad():
        with_bias.linear.weight.copy_(torch.tensor(theta)[None])
        with_bias.linear.bias.fill_(0.1)
    biased = approx.robustness_bound(with_bias, torch.tensor(x), torch.tensor(y), alpha)
    assert not biased["homogeneous"] and not biased["assumptions_met"]


def test_robustness_bound_holds_for_bias_free_relu_at_zero_training_error():
    x, _ = _data(60, 5, 2, True, seed=9)
    x = x - x.mean(dim=0)
    model = _model("two-layer-relu", 5, 2, True, bias=False, seed=9)
    with torch.no_grad():
        y = (model(x) > 0).long()  # the net's own labels: zero training error
    report = approx.robustness_bound(model, x, y, 1.0)
    assert report["zero_training_error"] and report["centred"] and report["homogeneous"] and report["curvature_free"]
    assert report["holds"] and report["L_mix_approx"] >= report["L_adv_approx"]
    assert 0 < report["R"] <= 1 and report["eps"] == pytest.approx(report["eps_mix"] * math.sqrt(5))


def test_second_order_adversarial_loss_rejects_multiclass_and_grows_with_eps():
    x, y = _data(10, 3, 3, True)
    model = _model("logreg", 3, 3, True)
    with torch.no_grad():
        values = [float(approx.second_order_adversarial_loss(model, x, y, eps)) for eps in (0.0, 0.1, 0.5)]
        l_std = float(soft_cross_entropy(model(x), y.to(DT)))
    assert values[0] == pytest.approx(l_std, abs=1e-14) and values[0] < values[1] < values[2]
    with pytest.raises(ConfigError, match="binary scalar"):
        approx.second_order_adversarial_loss(_model("logreg", 3, 3, False), x, y, 0.1)
    with pytest.raises(ConfigError, match="r3"):
        approx.approx_terms(model, x, y, 1.0, r3="bogus")


# --------------------------------------------------------------------------------------------------------
# Differentiability (training on L̃_mix, Fig. 2)


class _WithParams(nn.Module):
    """Call ``base`` with the parameter tensors given (so that gradcheck can perturb them)."""

    def __init__(self, base: nn.Module, params: dict) -> None:
        super().__init__()
        self.base = base
        self.values = params

    def forward(self, x):
        return functional_call(self.base, self.values, (x,))


@pytest.mark.parametrize("binary", [True, False])
def test_approx_mixup_loss_gradient_matches_finite_differences(binary):
    x, y = _data(6, 3, 3, binary, seed=10)
    base = _tanh_net(3, 3, hidden=4, binary=binary, seed=10)
    names = [name for name, _ in base.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for p in base.parameters())

    def loss(*values):
        model = _WithParams(base, dict(zip(names, values, strict=True)))
        return approx.approx_mixup_loss(model, x, y, 0.6, 1.5)

    assert torch.autograd.gradcheck(loss, params, eps=1e-6, atol=1e-8, rtol=1e-6)
    grads = torch.autograd.grad(loss(*params), params)
    assert all(torch.isfinite(g).all() for g in grads) and any(g.abs().sum() > 0 for g in grads)
    if binary:
        adv = lambda *values: approx.second_order_adversarial_loss(  # noqa: E731
            _WithParams(base, dict(zip(names, values, strict=True))), x, y, 0.3
        )
        assert torch.autograd.gradcheck(adv, params, eps=1e-6, atol=1e-8, rtol=1e-6)


def test_no_grad_mode_returns_plain_numbers():
    x, y = _data(8, 3, 3, False)
    model = _tanh_net(3, 3)
    with torch.no_grad():
        terms = approx.approx_terms(model, x, y, 1.0)
    assert all(not v.requires_grad for v in terms.values())
    assert approx.approx_mixup_loss(model, x, y, 1.0).requires_grad


def test_homogeneity_error_is_zero_for_bias_free_relu_only():
    x = torch.randn(50, 3, dtype=DT, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    bias_free = build("two-layer-relu", 2, 3, binary=True, hidden=8, bias=False).to(DT)
    with_bias = build("two-layer-relu", 2, 3, binary=True, hidden=8).to(DT)
    with torch.no_grad():
        with_bias.fc2.bias.fill_(0.5)
    assert approx.homogeneity_error(bias_free, x) < 1e-14
    assert approx.homogeneity_error(with_bias, x) > 0.1
    with pytest.raises(ConfigError, match="one logit per input"):
        approx.homogeneity_error(build("logreg", 3, 3).to(DT), x)
