"""Tests of mixup_lib.attacks: FGSM (ℓ∞, ℓ2), PGD-ℓ∞, robust_accuracy, eval_mode."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mixup_lib.attacks import eval_mode, fgsm, fgsm_direction, pgd, robust_accuracy
from mixup_lib.errors import ConfigError

D = 10


def _linear(d: int, k: int, seed: int = 0, dtype=torch.float64) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(d, k).to(dtype)


class ScalarLinear(nn.Module):
    """Binary logistic model with a scalar logit f(x) = wᵀx + b, logits of shape (N,)."""

    def __init__(self, d: int, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(torch.randn(d, generator=gen, dtype=torch.float64))
        self.b = nn.Parameter(torch.tensor(0.1, dtype=torch.float64))

    def forward(self, x):
        return x @ self.w + self.b


def _batch(n: int = 64, d: int = D, k: int = 3, seed: int = 1, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, d, generator=gen, dtype=dtype)
    y = torch.randint(0, k, (n,), generator=gen)
    return x, y


# ---------------------------------------------------------------- basic guarantees


@pytest.mark.parametrize("norm", ["inf", 2])
@pytest.mark.parametrize("eps", [0.03, 0.3])
def test_fgsm_stays_in_ball_and_box(norm, eps):
    model = _linear(D, 3)
    x, y = _batch()
    x_adv = fgsm(model, x, y, eps, norm=norm)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
    delta = x_adv - x
    assert float(delta.abs().max()) <= eps + 1e-7
    if norm == 2:
        assert float(delta.norm(dim=1).max()) <= eps + 1e-7
    assert float(delta.abs().max()) > 0  # something moved


@pytest.mark.parametrize(
    "attack", [lambda m, x, y, e: fgsm(m, x, y, e), lambda m, x, y, e: fgsm(m, x, y, e, norm=2), pgd]
)
def test_eps_zero_returns_input_unchanged_without_calling_model(attack):
    model = _linear(D, 3)
    calls = []
    model.register_forward_hook(lambda *args: calls.append(1))
    x, y = _batch()
    x_adv = attack(model, x, y, 0.0)
    assert torch.equal(x_adv, x)
    assert x_adv is not x
    assert calls == []


def test_l2_step_has_norm_exactly_eps_when_not_clamped():
    model = _linear(D, 3)
    x = torch.full((8, D), 0.5, dtype=torch.float64)
    y = torch.arange(8) % 3
    eps = 0.1  # each coordinate moves at most 0.1 < 0.5: no clamping
    delta = fgsm(model, x, y, eps, norm="2") - x
    torch.testing.assert_close(delta.norm(dim=1), torch.full((8,), eps, dtype=torch.float64), rtol=0, atol=1e-12)


def test_linf_step_has_l2_norm_eps_sqrt_d_when_not_clamped():
    """The link used in the paper: an ℓ∞ step of size ε has ℓ2 norm ε√d."""
    model = _linear(D, 3)
    x = torch.full((8, D), 0.5, dtype=torch.float64)
    y = torch.arange(8) % 3
    delta = fgsm(model, x, y, 0.1) - x
    torch.testing.assert_close(delta.norm(dim=1), torch.full((8,), 0.1 * math.sqrt(D), dtype=torch.float64))


def test_l2_zero_gradient_gives_zero_step():
    model = nn.Linear(D, 3).double()
    with torch.no_grad():
        model.weight.zero_()
    x, y = _batch(n=4)
    assert torch.equal(fgsm(model, x, y, 0.2, norm=2), x)
    assert torch.equal(fgsm(model, x, y, 0.2), x)


def test_works_inside_no_grad_and_on_image_shaped_inputs():
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, 4)).double()
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(5, 2, 3, 3, generator=gen, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 0])
    with torch.no_grad():
        x_inf = fgsm(model, x, y, 0.05)
        x_l2 = fgsm(model, x, y, 0.05, norm=2)
        x_pgd = pgd(model, x, y, 0.05, steps=3, generator=gen)
    assert x_inf.shape == x_l2.shape == x_pgd.shape == x.shape
    assert float((x_l2 - x).flatten(1).norm(dim=1).max()) <= 0.05 + 1e-12
    assert float((x_pgd - x).abs().max()) <= 0.05 + 1e-7


# ---------------------------------------------------------------- closed forms for linear models


def test_fgsm_linf_matches_closed_form_multiclass_linear():
    model = _linear(D, 4)
    x, y = _batch(k=4)
    eps = 0.07
    W, b = model.weight.detach(), model.bias.detach()
    z = x @ W.T + b
    grad = (torch.softmax(z, dim=1) - F.one_hot(y, 4).double()) @ W  # ∇_x CE per sample
    expected = (x + eps * grad.sign()).clamp(0, 1)
    torch.testing.assert_close(fgsm(model, x, y, eps), expected, rtol=0, atol=1e-6)
    # the ℓ2 step in the same closed form
    expected_l2 = (x + eps * grad / grad.norm(dim=1, keepdim=True)).clamp(0, 1)
    torch.testing.assert_close(fgsm(model, x, y, eps, norm=2), expected_l2, rtol=0, atol=1e-6)


def test_fgsm_linf_matches_closed_form_binary_scalar_linear():
    model = ScalarLinear(D)
    x, y = _batch(k=2)
    eps = 0.07
    w, b = model.w.detach(), model.b.detach()
    grad = (torch.sigmoid(x @ w + b) - y.double())[:, None] * w  # ∇_x of the logistic loss
    expected = (x + eps * grad.sign()).clamp(0, 1)
    torch.testing.assert_close(fgsm(model, x, y, eps), expected, rtol=0, atol=1e-6)


def test_fgsm_l2_binary_logistic_moves_against_true_class():
    """For f = wᵀx + b the ℓ2 step is ε·(2y−1)·(−w)/‖w‖: towards the other class."""
    model = ScalarLinear(D)
    x = torch.full((6, D), 0.5, dtype=torch.float64)  # no clamping at ε = 0.1
    y = torch.tensor([0, 1, 0, 1, 1, 0])
    eps = 0.1
    w = model.w.detach()
    delta = fgsm(model, x, y, eps, norm=2) - x
    expected = eps * (2 * y.double() - 1)[:, None] * (-w) / w.norm()
    torch.testing.assert_close(delta, expected, rtol=0, atol=1e-12)
    # the logit moves against the true class: down for y = 1, up for y = 0
    with torch.no_grad():
        change = model(x + delta) - model(x)
    assert torch.all(change * (2 * y.double() - 1) < 0)


def test_binary_model_takes_integer_labels_in_0_1_and_refuses_float_or_out_of_range_labels():
    """A single-logit model has two classes: labels in {0, 1}. Float labels were silently truncated by
    robust_accuracy's y.long() (0.5 → 0); they are refused, like a label 2."""
    model = ScalarLinear(D)
    x, y = _batch(k=2)
    assert fgsm(model, x, y.int(), 0.05).shape == x.shape
    with pytest.raises(ConfigError, match=r"y has dtype torch.float64: labels must be an integer tensor"):
        fgsm(model, x, y.double(), 0.05)
    with pytest.raises(ConfigError, match=r"y has labels in \[0, 2\]: they must be in \[0, 2\) for 2 classes"):
        robust_accuracy(model, (x, torch.where(y == 1, 2, y)), [0.0])


# ---------------------------------------------------------------- modes and gradients


class Stochastic(nn.Module):
    def __init__(self, k: int = 3):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(D, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, k))

    def forward(self, x):
        return self.net(x)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize(
    "attack",
    [
        lambda m, x, y: fgsm(m, x, y, 0.05),
        lambda m, x, y: fgsm(m, x, y, 0.05, norm=2),
        lambda m, x, y: pgd(m, x, y, 0.05, steps=3, generator=torch.Generator().manual_seed(0)),
        lambda m, x, y: robust_accuracy(m, (x, y), [0.0, 0.05], batch_size=16),
    ],
)
def test_mode_is_restored_and_no_parameter_grad(training, attack):
    torch.manual_seed(0)
    model = Stochastic().train(training)
    flags = [p.requires_grad for p in model.parameters()]
    x, y = _batch(n=32, dtype=torch.float32)
    attack(model, x, y)
    assert model.training is training
    assert all(m.training is training for m in model.modules())
    assert all(p.grad is None for p in model.parameters())
    assert [p.requires_grad for p in model.parameters()] == flags


def test_attacks_use_eval_mode_deterministic_with_dropout_and_batchnorm():
    torch.manual_seed(0)
    model = Stochastic().train()
    stats = model.net[1].running_mean.clone()
    x, y = _batch(n=32, dtype=torch.float32)
    a, b = fgsm(model, x, y, 0.05), fgsm(model, x, y, 0.05)
    assert torch.equal(a, b)
    a2, b2 = fgsm(model, x, y, 0.05, norm=2), fgsm(model, x, y, 0.05, norm=2)
    assert torch.equal(a2, b2)
    p1 = pgd(model, x, y, 0.05, steps=3, generator=torch.Generator().manual_seed(3))
    p2 = pgd(model, x, y, 0.05, steps=3, generator=torch.Generator().manual_seed(3))
    assert torch.equal(p1, p2)
    assert torch.equal(model.net[1].running_mean, stats)  # BatchNorm statistics untouched (eval mode)
    # and the result equals the attack computed on a model that was put in eval mode by hand
    model.eval()
    assert torch.equal(fgsm(model, x, y, 0.05), a)


def test_eval_mode_restores_mixed_modes_and_on_exception():
    model = Stochastic().train()
    model.net[1].eval()  # a frozen BatchNorm inside a training model
    with pytest.raises(RuntimeError, match="boom"), eval_mode(model):
        assert not any(m.training for m in model.modules())
        raise RuntimeError("boom")
    assert model.training and model.net[0].training and model.net[3].training
    assert not model.net[1].training


def test_mode_restored_when_model_raises():
    class Broken(nn.Linear):
        def forward(self, x):
            raise RuntimeError("broken forward")

    model = Broken(D, 3).train()
    x, y = _batch(dtype=torch.float32)
    with pytest.raises(RuntimeError, match="broken forward"):
        fgsm(model, x, y, 0.1)
    assert model.training


# ---------------------------------------------------------------- a trained toy model


@pytest.fixture(scope="module")
def toy():
    """A 3-class Gaussian-blobs problem in 10-D with inputs in [0, 1], and an MLP trained on it."""
    gen = torch.Generator().manual_seed(0)
    n_per, k = 200, 3
    centers = 0.5 + 0.12 * torch.randn(k, D, generator=gen)
    x = torch.cat([c + 0.06 * torch.randn(n_per, D, generator=gen) for c in centers]).clamp(0, 1)
    y = torch.arange(k).repeat_interleave(n_per)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(D, 32), nn.ReLU(), nn.Linear(32, k))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(300):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    opt.zero_grad(set_to_none=True)
    return model.eval(), x, y


def test_toy_fgsm_lowers_accuracy_and_is_monotone(toy):
    model, x, y = toy
    grid = [0.0, 0.01, 0.02, 0.05, 0.1, 0.2]
    acc = robust_accuracy(model, (x, y), grid, attack="fgsm")
    assert acc[0] >= 0.95  # the toy model fits its data
    assert acc[grid.index(0.1)] <= acc[0] - 0.3  # a moderate ε hurts a lot
    assert all(a2 <= a1 + 1e-12 for a1, a2 in itertools.pairwise(acc))
    # ε = 0 is the plain clean accuracy
    with torch.no_grad():
        clean = (model(x).argmax(1) == y).double().mean().item()
    assert acc[0] == pytest.approx(clean)
    # The ℓ2 ball of radius ε√d contains the ℓ∞ ball of radius ε, and to first order the normalized
    # gradient step gains ε√d‖g‖₂ ≥ ε‖g‖₁: on this nearly linear model the ℓ2 step is at least as damaging.
    acc_l2 = robust_accuracy(model, (x, y), [0.0, 0.1 * math.sqrt(D)], attack="fgsm-l2")
    assert acc_l2[0] == acc[0]
    assert acc_l2[1] <= acc[grid.index(0.1)] + 0.02


def test_toy_pgd_is_at_least_as_strong_as_fgsm(toy):
    model, x, y = toy
    grid = [0.03, 0.06, 0.1]
    acc_fgsm = robust_accuracy(model, (x, y), grid, attack="fgsm")
    acc_pgd = robust_accuracy(model, (x, y), grid, attack="pgd", steps=10, generator=torch.Generator().manual_seed(0))
    assert all(p <= f + 0.01 for p, f in zip(acc_pgd, acc_fgsm, strict=True))
    assert acc_pgd[-1] < acc_fgsm[-1] - 0.01  # at ε = 0.1 the iterative attack is clearly stronger


def test_robust_accuracy_batching_does_not_change_numbers(toy):
    model, x, y = toy
    grid = [0.0, 0.02, 0.05]
    for attack, kw in [("fgsm", {}), ("fgsm-l2", {}), ("pgd", {"steps": 3, "random_start": False})]:
        big = robust_accuracy(model, (x, y), grid, attack=attack, batch_size=10_000, **kw)
        small = robust_accuracy(model, (x, y), grid, attack=attack, batch_size=37, **kw)
        assert big == small


def test_robust_accuracy_accepts_callable_and_passes_kwargs(toy):
    model, x, y = toy
    seen = []

    def my_attack(model, x, y, eps, norm="inf"):
        seen.append(norm)
        return fgsm(model, x, y, eps, norm=norm)

    got = robust_accuracy(model, (x, y), [0.0, 0.05], attack=my_attack, norm=2, batch_size=1000)
    assert got == robust_accuracy(model, (x, y), [0.0, 0.05], attack="fgsm-l2")
    assert seen == [2]  # one batch, one ε > 0: ε = 0 never attacks


def test_pgd_random_start_reproducible_with_generator(toy):
    model, x, y = toy
    a = pgd(model, x[:50], y[:50], 0.05, steps=2, generator=torch.Generator().manual_seed(7))
    b = pgd(model, x[:50], y[:50], 0.05, steps=2, generator=torch.Generator().manual_seed(7))
    c = pgd(model, x[:50], y[:50], 0.05, steps=2, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert float((a - x[:50]).abs().max()) <= 0.05 + 1e-7
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0


# ---------------------------------------------------------------- bad input


def _assert_one_line(excinfo):
    assert "\n" not in str(excinfo.value)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda m, x, y: fgsm(m, x, y, -0.1), r"eps=-0\.1 is not allowed"),
        (lambda m, x, y: fgsm(m, x, y, float("nan")), r"eps=nan is not allowed"),
        (lambda m, x, y: fgsm(m, x, y, float("inf")), r"eps=inf is not allowed"),
        (lambda m, x, y: fgsm(m, x, y, 0.1, norm=1), r"norm=1 is not allowed: choose one of inf, 2"),
        (lambda m, x, y: fgsm(m, x, y, 0.1, norm="l1"), r"norm='l1' is not allowed"),
        (lambda m, x, y: pgd(m, x, y, -1.0), r"eps=-1\.0 is not allowed"),
        (lambda m, x, y: pgd(m, x, y, 0.1, steps=0), r"steps=0 is not allowed"),
        (lambda m, x, y: pgd(m, x, y, 0.1, step_size=0.0), r"step_size=0\.0 is not allowed"),
        (lambda m, x, y: robust_accuracy(m, (x, y), [0.1], attack="cw"), r"attack='cw' is not allowed: choose one"),
        (lambda m, x, y: robust_accuracy(m, (x, y), []), r"eps_list=\[\] is not allowed"),
        (lambda m, x, y: robust_accuracy(m, (x, y), 0.1), r"eps_list=0\.1 is not allowed"),
        (lambda m, x, y: robust_accuracy(m, (x, y), [0.1, -0.2]), r"eps_list entry=-0\.2 is not allowed"),
        (lambda m, x, y: robust_accuracy(m, (x, y), [0.1], norm=3), r"norm=3 is not allowed"),
        (lambda m, x, y: robust_accuracy(m, (x, y), [0.1], attack="fgsm-l2", norm="inf"), r"norm='inf' is not"),
        (lambda m, x, y: robust_accuracy(m, (x, y), [0.1], batch_size=0), r"batch_size=0 is not allowed"),
        (lambda m, x, y: robust_accuracy(m, x, [0.1]), r"data of type Tensor is not allowed"),
        (lambda m, x, y: fgsm(m, x * 2, y, 0.1), r"inputs must be pixels in \[0, 1\]"),
        (lambda m, x, y: fgsm(m, x, y[:-1], 0.1), r"one label per input"),
        (lambda m, x, y: fgsm(m, (x * 255).long(), y, 0.1), r"floating-point"),
        (lambda m, x, y: fgsm(lambda t: t, x, y, 0.1), r"must be a torch\.nn\.Module"),
        (lambda m, x, y: fgsm(lambda t: t, x, y, 0.0), r"must be a torch\.nn\.Module"),
        (lambda m, x, y: robust_accuracy(lambda t: t, (x, y), [0.0]), r"must be a torch\.nn\.Module"),
    ],
)
def test_bad_input_raises_one_line_config_error(call, match):
    model = _linear(D, 3)
    x, y = _batch()
    with pytest.raises(ConfigError, match=match) as excinfo:
        call(model, x, y)
    _assert_one_line(excinfo)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize(
    "call",
    [
        lambda m, x, y: fgsm(m, x, y, 0.1),
        lambda m, x, y: fgsm(m, x, y, 0.0),
        lambda m, x, y: pgd(m, x, y, 0.1),
        lambda m, x, y: robust_accuracy(m, (x, y), [0.0]),
    ],
)
def test_non_finite_inputs_raise(bad, call):
    model = _linear(D, 3)
    x, y = _batch()
    x[3, 2] = bad
    with pytest.raises(ConfigError, match=r"x contains 1 NaN/inf values") as excinfo:
        call(model, x, y)
    _assert_one_line(excinfo)


def test_accepted_norm_spellings():
    model = _linear(D, 3)
    x, y = _batch()
    ref_inf, ref_l2 = fgsm(model, x, y, 0.1, norm="inf"), fgsm(model, x, y, 0.1, norm=2)
    for norm in ("Linf", math.inf):
        assert torch.equal(fgsm(model, x, y, 0.1, norm=norm), ref_inf)
    for norm in ("2", "l2", 2.0):
        assert torch.equal(fgsm(model, x, y, 0.1, norm=norm), ref_l2)


def test_robust_accuracy_reuses_one_fgsm_gradient_per_batch_with_the_same_numbers(toy):
    """Named FGSM attacks compute sign(∇) (or ∇/‖∇‖) once per batch; a per-ε callable gives the same numbers."""
    model, x, y = toy
    grid = [0.0, 0.01, 0.03, 0.1, 0.3]
    calls = {"n": 0}
    forward = model.forward

    def counting_forward(inputs):
        calls["n"] += 1
        return forward(inputs)

    model.forward = counting_forward
    try:
        for name, norm in (("fgsm", "inf"), ("fgsm-l2", 2)):
            per_eps = robust_accuracy(model, (x, y), grid, attack=lambda m, a, b, e, n=norm: fgsm(m, a, b, e, norm=n))
            calls["n"] = 0
            reused = robust_accuracy(model, (x, y), grid, attack=name, batch_size=len(x))
            assert reused == per_eps
            assert calls["n"] == 1 + 1 + (len(grid) - 1)  # clean, one gradient, one evaluation per ε > 0
    finally:
        del model.forward
    direction = fgsm_direction(model, x, y)
    assert torch.equal(fgsm(model, x, y, 0.05), (x + 0.05 * direction).clamp(0, 1))
    assert set(direction.unique().tolist()) <= {-1.0, 0.0, 1.0}


# ---------------------------------------------------------------- unknown keywords and bad labels


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda m, x, y: robust_accuracy(m, (x, y), [0.1], attack="fgsm", nrom=2),
            r"^nrom=2 is not a keyword of robust_accuracy\(attack='fgsm'\): allowed keywords are "
            r"model, data, eps_list, attack, batch_size, norm$",
        ),
        (lambda m, x, y: robust_accuracy(m, (x, y), [0.0], nrom=2), r"nrom=2 is not a keyword"),  # no attack run
        (lambda m, x, y: robust_accuracy(m, (x, y), [0.1], batchsize=8), r"batchsize=8 .*batch_size, norm$"),
        (
            lambda m, x, y: robust_accuracy(m, (x, y), [0.0], attack="pgd", norm=2),
            r"norm=2 is not a keyword of robust_accuracy\(attack='pgd'\): .*steps, step_size, random_start, generator$",
        ),
        (
            lambda m, x, y: robust_accuracy(m, (x, y), [0.1], attack="fgsm-l2", steps=3),
            r"steps=3 is not a keyword of robust_accuracy\(attack='fgsm-l2'\): .*attack, batch_size$",
        ),
        (
            lambda m, x, y: robust_accuracy(m, (x, y), [0.1], attack=lambda m, a, b, e, norm="inf": a, nrom=2),
            r"nrom=2 is not a keyword of robust_accuracy\(attack=<lambda>\): .*batch_size, norm$",
        ),
        (lambda m, x, y: fgsm(m, x, y, 0.1, nrom=2), r"^nrom=2 is not a keyword of fgsm: .*model, x, y, eps, norm$"),
        (lambda m, x, y: fgsm(m, x, y, 0.0, nrom=2), r"nrom=2 is not a keyword of fgsm"),
        (lambda m, x, y: fgsm_direction(m, x, y, nrom=2), r"nrom=2 is not a keyword of fgsm_direction: .*norm$"),
        (lambda m, x, y: pgd(m, x, y, 0.1, stpes=2), r"stpes=2 is not a keyword of pgd: .*step_size, random_start"),
        (lambda m, x, y: eval_mode(modle=m), r"is not a keyword of eval_mode: allowed keywords are model$"),
    ],
)
def test_unknown_keywords_are_refused_naming_the_allowed_ones(call, match):
    """Before: robust_accuracy(attack="fgsm", nrom=2) returned ℓ∞ numbers; the others raised Python's TypeError
    (or, for PGD at ε = 0 only, nothing at all)."""
    model = _linear(D, 3)
    x, y = _batch()
    with pytest.raises(ConfigError, match=match) as excinfo:
        call(model, x, y)
    _assert_one_line(excinfo)


def test_callable_attack_with_var_keywords_receives_every_keyword(toy):
    model, x, y = toy
    seen = []

    def permissive(model, x, y, eps, **kw):
        seen.append(kw)
        return fgsm(model, x, y, eps)

    robust_accuracy(model, (x[:20], y[:20]), [0.1], attack=permissive, anything=1)
    assert seen == [{"anything": 1}]


LINEAR_ATTACKS = [
    lambda m, x, y: fgsm(m, x, y, 0.1),
    lambda m, x, y: fgsm_direction(m, x, y),
    lambda m, x, y: pgd(m, x, y, 0.1, steps=2, generator=torch.Generator().manual_seed(0)),
    lambda m, x, y: robust_accuracy(m, (x, y), [0.0]),
    lambda m, x, y: robust_accuracy(m, (x, y), [0.1]),
    lambda m, x, y: robust_accuracy(m, (x, y), [0.1], attack="pgd", steps=2),
]


@pytest.mark.parametrize("call", LINEAR_ATTACKS)
@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (lambda y: torch.where(y == 2, 3, y), r"y has labels in \[0, 3\]: they must be in \[0, 3\) for 3 classes"),
        (lambda y: torch.where(y == 2, -1, y), r"y has labels in \[-1, 1\]: they must be >= 0"),
        (lambda y: y[:-1], r"y has shape \(63,\): it must hold one label per input, \(64,\)"),
        (lambda y: torch.cat([y, y[:1]]), r"y has shape \(65,\): it must hold one label per input"),
        (lambda y: y[:, None], r"y has shape \(64, 1\): it must hold one label per input"),
        (lambda y: y.double() + 0.5, r"y has dtype torch.float64: labels must be an integer tensor"),
        (lambda y: y > 0, r"y has dtype torch.bool: labels must be an integer tensor"),
        (lambda y: y.tolist(), r"y of type list is not allowed: it must be a torch.Tensor"),
    ],
)
def test_bad_labels_raise_one_line_config_error(call, labels, match):
    """Before: IndexError ("Target 3 is out of bounds"), RuntimeError, or silent truncation of float and bool
    labels; robust_accuracy at ε = 0 counted label 3 as wrong without a word."""
    model = _linear(D, 3)
    x, y = _batch()
    with pytest.raises(ConfigError, match=match) as excinfo:
        call(model, x, labels(y))
    _assert_one_line(excinfo)


def test_a_model_with_one_logit_column_is_refused():
    model = _linear(D, 1)
    x, y = _batch(k=1)
    with pytest.raises(ConfigError, match=r"model output has shape \(64, 1\): expected \(N,\) logits"):
        fgsm(model, x, y, 0.1)
