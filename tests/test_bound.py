"""bound.py: Theorems 3.1/3.2's L̃_adv, its coefficients, the one |cos(∇f(x), x)|, ε*, against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mixup_lib import approx, bound
from mixup_lib.chapters import robustness
from mixup_lib.errors import ConfigError
from mixup_lib.models import build

DT = torch.float64


def _logreg(theta: list[float]) -> torch.nn.Module:
    model = build("logreg", 2, len(theta), bias=False, binary=True).to(DT)
    with torch.no_grad():
        model.linear.weight.copy_(torch.tensor(theta, dtype=DT)[None])
    return model


def _points(n: int, d: int, seed: int) -> torch.Tensor:
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=DT)
    return x - x.mean(dim=0)


@pytest.mark.parametrize("q", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_null_cosine_quantile_closed_forms(q):
    assert bound.null_cosine_quantile(2, q) == pytest.approx(math.sin(q * math.pi / 2), abs=1e-12)
    assert bound.null_cosine_quantile(3, q) == pytest.approx(q, abs=1e-12)  # |cos| is uniform on [0, 1] in 3-d
    assert bound.null_cosine_quantile(1, q) == 1.0


def test_null_cosine_quantile_matches_random_directions_and_refuses_bad_input():
    u = torch.randn(200_000, 10, generator=torch.Generator().manual_seed(0), dtype=DT)
    cosines = (u[:, 0].abs() / u.norm(dim=1)).numpy()  # v = e_1
    assert bound.null_cosine_quantile(10, 0.5) == pytest.approx(float(np.median(cosines)), abs=3e-3)
    with pytest.raises(ConfigError, match=r"q=1\.5"):
        bound.null_cosine_quantile(3, 1.5)
    with pytest.raises(ConfigError, match=r"\bd\b"):
        bound.null_cosine_quantile(0, 0.5)


@pytest.mark.parametrize(("slack", "a", "b"), [(0.7, 0.3, 2.0), (1e-3, 5.0, 0.01), (2.0, 1e-6, 3.0)])
def test_largest_bounded_eps_is_the_root_of_its_quadratic(slack, a, b):
    l_std = 0.4
    eps = bound.largest_bounded_eps(l_std + slack, l_std, a, b)
    assert l_std + a * eps + b * eps**2 / 2 == pytest.approx(l_std + slack, rel=1e-12)
    assert eps > 0 and l_std + a * 1.001 * eps + b * (1.001 * eps) ** 2 / 2 > l_std + slack  # the largest one


def test_largest_bounded_eps_edge_cases():
    assert bound.largest_bounded_eps(1.0, 1.0, 0.5, 0.1) == 0.0  # no slack
    assert bound.largest_bounded_eps(1.5, 1.0, 0.25, 0.0) == pytest.approx(2.0)  # linear: Δ/a
    assert bound.largest_bounded_eps(1.5, 1.0, 0.0, 0.0) == math.inf  # nothing grows


def _brute_force_adversarial(model, x, y, eps, n_angles=20_001) -> float:
    """(1/n) Σ_i max_{‖δ‖=ε} [l_i + g_iᵀδ + δᵀH_iδ/2], g_i and H_i the input gradient and Hessian of the loss
    (torch.autograd.functional), the max over a grid of directions in 2-d."""
    angles = torch.linspace(0, 2 * math.pi, n_angles, dtype=DT)
    deltas = eps * torch.stack([angles.cos(), angles.sin()], dim=1)
    total = 0.0
    for xi, yi in zip(x, y, strict=True):
        def loss(z, yi=yi):
            return torch.nn.functional.binary_cross_entropy_with_logits(model(z[None])[0], yi.to(DT))

        value = loss(xi)
        grad = torch.autograd.functional.jacobian(loss, xi)
        hess = torch.autograd.functional.hessian(loss, xi)
        taylor = value + deltas @ grad + 0.5 * ((deltas @ hess) * deltas).sum(dim=1)
        total += float(taylor.detach().max())
    return total / len(x)


@pytest.mark.parametrize("kind", ["logreg", "relu"])
def test_adversarial_coefficients_match_brute_force_maximisation(kind):
    x = _points(7, 2, seed=1)
    y = torch.tensor([0, 1, 1, 0, 1, 0, 1])
    if kind == "logreg":
        model = _logreg([1.3, -0.7])
    else:
        torch.manual_seed(3)
        model = build("two-layer-relu", 2, 2, hidden=8, bias=False, binary=True).to(DT)
    l_std, a, b = bound.adversarial_coefficients(model, x, y)
    for eps in (0.05, 0.5, 2.0):
        expected = _brute_force_adversarial(model, x, y, eps)
        assert l_std + a * eps + b * eps**2 / 2 == pytest.approx(expected, rel=1e-7)
        with torch.no_grad():
            value = float(bound.second_order_adversarial_loss(model, x, y, eps))
        assert value == pytest.approx(expected, rel=1e-7)


def test_second_order_adversarial_loss_is_its_terms_and_differentiable():
    x, y = _points(9, 3, seed=2), torch.tensor([0, 1, 0, 1, 1, 0, 0, 1, 1])
    model = _logreg([0.5, -1.0, 2.0])
    terms = bound.adversarial_loss_terms(model, x, y)
    value = bound.second_order_adversarial_loss(model, x, y, 0.3)
    expected = terms["L_std"] + 0.3 * terms["a"] + 0.045 * terms["b"]
    assert float(value.detach()) == pytest.approx(float(expected.detach()), rel=1e-14)
    (grad,) = torch.autograd.grad(value, model.linear.weight)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    with torch.no_grad():
        assert not bound.second_order_adversarial_loss(model, x, y, 0.3).requires_grad
    with pytest.raises(ConfigError, match="eps=-1"):
        bound.second_order_adversarial_loss(model, x, y, -1.0)


def test_bound_r_is_the_fig3_cosine(monkeypatch):
    x = _points(30, 4, seed=4)
    torch.manual_seed(5)
    net = build("two-layer-relu", 2, 4, hidden=16, bias=False, binary=True).to(DT)
    with torch.no_grad():
        y = (net(x) > 0).long()
    cosines = bound.input_gradient_cosines(net, x, y, target="logit")
    record = bound.robustness_bound(net, x, y, 1.0)
    assert record["R"] == cosines.min() and record["R_index"] == int(cosines.argmin())
    # One implementation: replacing it changes R (power of the check above).
    monkeypatch.setattr(bound, "input_gradient_cosines", lambda *args, **kw: np.full(len(x), 0.25))
    assert bound.robustness_bound(net, x, y, 1.0)["R"] == 0.25


def test_logreg_cosine_is_cos_theta_x():
    theta = [2.0, -1.0, 0.5]
    x = _points(11, 3, seed=6)
    y = torch.zeros(11, dtype=torch.long)
    expected = (x @ torch.tensor(theta, dtype=DT)).abs() / (x.norm(dim=1) * math.sqrt(sum(t * t for t in theta)))
    got = bound.input_gradient_cosines(_logreg(theta), x, y, target="logit", batch_size=4)
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-13)


def test_old_names_resolve_to_bound():
    assert approx.robustness_bound is bound.robustness_bound
    assert approx.second_order_adversarial_loss is bound.second_order_adversarial_loss
    for name in ("input_gradient_cosines", "null_cosine_quantile", "adversarial_coefficients", "largest_bounded_eps",
                 "COSINE_TARGETS", "theorem_check", "cosine_summary"):
        assert not hasattr(robustness, name)  # the chapter uses bound's, the one implementation
    with pytest.raises(AttributeError, match="no_such_name"):
        approx.no_such_name  # noqa: B018
