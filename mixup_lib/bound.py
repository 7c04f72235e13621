"""Theorems 3.1/3.2: the second-order adversarial loss L̃_adv, the bound L̃_mix ≥ L̃_adv(ε_mix·√d), |cos|, ε*.

Zhang et al., *How Does Mixup Help With Robustness and Generalization?* (ICLR 2021), Section 3.

- :func:`adversarial_loss_terms` — L_std and the coefficients a, b of L̃_adv(θ, ε) = L_std + aε + bε²/2, the
  one place they are computed; :func:`second_order_adversarial_loss` (differentiable) and
  :func:`adversarial_coefficients` (plain numbers) are that formula.
- :func:`input_gradient_cosines` — |cos(∇f(x_i), x_i)| per training point: the ONE implementation, used for
  the theorems' R = min_i |cos| (:func:`robustness_bound`) and for Fig. 3's distributions.
- :func:`null_cosine_quantile` — the same statistic for directions unrelated to x (the reference of Fig. 3).
- :func:`robustness_bound` — ε_mix, both sides of the inequality and the theorems' assumptions as flags.
- :func:`largest_bounded_eps` — ε*, the largest ε the inequality reaches at θ (beyond the paper).
- :func:`theorem_check` — the theorems checked on data: the models of :data:`MOONS_MODELS` (bias-free, one logit)
  trained by full-batch SGD (:func:`train_moons_model`) on :func:`centred_two_moons`, a
  :func:`robustness_bound` record per case; :func:`angular_class_changes` says why centred two moons cannot
  meet the zero-training-error assumption for positively homogeneous models.
- :func:`cosine_summary` — R (the minimum), a low quantile, the median and the mean of a set of |cos|.

The models are binary scalar models (one logit f, h = softplus) with ∇²f = 0: logistic regression and
bias-free ReLU nets. L̃_mix (Eq. 3) comes from :mod:`mixup_lib.approx`, which this module builds on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from scipy.stats import beta as beta_distribution
from torch import nn

from mixup_lib import fullbatch, models
from mixup_lib.approx import Derivatives, approx_terms
from mixup_lib.attacks import eval_mode
from mixup_lib.errors import check_choice, check_nonnegative, check_positive_int, require
from mixup_lib.mixup import cross_entropy, mixture_moment, soft_cross_entropy

#: What :func:`input_gradient_cosines` differentiates: the loss, or the logit (the theory's f).
COSINE_TARGETS = ("loss", "logit")
#: The two models of Theorems 3.1/3.2 checked on two moons: display name → models.build name. Both bias-free,
#: with one logit.
MOONS_MODELS = {"logistic regression": "logreg", "bias-free ReLU net": "two-layer-relu"}

__all__ = [
    "COSINE_TARGETS",
    "MOONS_MODELS",
    "adversarial_coefficients",
    "adversarial_loss_terms",
    "angular_class_changes",
    "centred_two_moons",
    "cosine_summary",
    "input_gradient_cosines",
    "largest_bounded_eps",
    "moons_model",
    "null_cosine_quantile",
    "robustness_bound",
    "second_order_adversarial_loss",
    "theorem_check",
    "theorem_summary",
    "train_moons_model",
]


# ----------------------------------------------------------------------------------------------------------
# L̃_adv: the second-order adversarial loss


def _binary_derivatives(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, graph: bool) -> Derivatives:
    der = Derivatives(model, x, targets, graph=graph, hessian=False)
    require(
        der.binary,
        f"model output of shape {tuple(der.logits.shape)}: the second-order adversarial loss and the bound of "
        "Theorems 3.1/3.2 are for binary scalar models with (N,) logits",
    )
    return der


def adversarial_loss_terms(model: nn.Module, x: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
    """``{"L_std", "a", "b"}`` (0-d tensors) with L̃_adv(θ, ε) = L_std + a·ε + b·ε²/2 (Theorems 3.1/3.2).

    a = (1/n) Σ_i |h'(f_i) − y_i|·‖∇f(x_i)‖ and b = (1/n) Σ_i h''(f_i)·‖∇f(x_i)‖², h' = σ, h'' = σ(1−σ): the
    maximum over ‖δ‖₂ ≤ ε of the second-order Taylor expansion of l(θ, (x_i + δ, y_i)) in δ, averaged over i,
    for a binary scalar model with ∇²f = 0 (with curvature ∇²f ≠ 0 the expansion has a further term this does
    not include). The maximiser is δ = ±ε ∇f/‖∇f‖ (sign of h' − y) since h'' ≥ 0. ``targets``: labels in
    {0, 1} or probabilities of class 1. Differentiable with respect to the parameters when autograd is enabled.
    """
    graph = torch.is_grad_enabled()
    with torch.enable_grad():
        der = _binary_derivatives(model, x, targets, graph)
        norm = der.jac[:, 0].norm(dim=1)
        terms = {
            "L_std": soft_cross_entropy(der.logits, der.soft),
            "a": (der.res[:, 0].abs() * norm).mean(),
            "b": (der.p * (1 - der.p) * norm**2).mean(),
        }
    return terms if graph else {key: value.detach() for key, value in terms.items()}


def second_order_adversarial_loss(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, eps: float) -> torch.Tensor:
    """L̃_adv(θ, ε) = L_std + (ε/n) Σ_i |h'(f_i) − y_i| ‖∇f(x_i)‖ + (ε²/2n) Σ_i h''(f_i) ‖∇f(x_i)‖².

    The terms of :func:`adversarial_loss_terms` at one ε ≥ 0 (an ℓ2 radius). Differentiable.
    """
    require(math.isfinite(eps) and eps >= 0, f"eps={eps!r} is not allowed: it must be a finite number >= 0")
    terms = adversarial_loss_terms(model, x, targets)
    return terms["L_std"] + eps * terms["a"] + eps**2 / 2 * terms["b"]


def adversarial_coefficients(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float, float]:
    """(L_std, a, b) of :func:`adversarial_loss_terms` as plain numbers: L̃_adv(θ, ε) = L_std + a·ε + b·ε²/2."""
    with torch.no_grad():
        terms = adversarial_loss_terms(model, x, y)
    return float(terms["L_std"]), float(terms["a"]), float(terms["b"])


def largest_bounded_eps(l_mix: float, l_std: float, a: float, b: float) -> float:
    """ε*: the largest ε with L̃_adv(θ, ε) = L_std + aε + bε²/2 ≤ L̃_mix (an ℓ2 radius; beyond the paper).

    The positive root of bε²/2 + aε − (L̃_mix − L_std) = 0. Theorems 3.1/3.2 guarantee ε_mix·√d under their
    assumptions; this is how far the inequality actually reaches at θ. 0 when L̃_mix ≤ L_std: then no ε > 0 is
    bounded.
    """
    slack = l_mix - l_std
    if slack <= 0:
        return 0.0
    if b <= 0:
        return math.inf if a <= 0 else slack / a
    return (-a + math.sqrt(a * a + 2 * b * slack)) / b


# ----------------------------------------------------------------------------------------------------------
# |cos(∇f(x_i), x_i)|: R of the theorems, and Fig. 3


def _input_gradient(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, target: str) -> torch.Tensor:
    """Per-sample input gradients (the samples do not interact in eval mode) of the loss or of the logit f_y."""
    logits = model(xb)
    if target == "loss":
        scalar = cross_entropy(logits, yb, reduction="none").sum()
    elif logits.ndim == 1:
        scalar = logits.sum()
    else:
        scalar = logits.gather(1, yb.long()[:, None]).sum()
    (grad,) = torch.autograd.grad(scalar, xb)
    return grad


def input_gradient_cosines(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, target: str = "loss",
                           centre: torch.Tensor | None = None, batch_size: int = 256) -> np.ndarray:
    """|cos(g_i, x_i − c)| per sample, g_i the input gradient of the model at x_i (Fig. 3; R of Theorem 3.1/3.2).

    ``target="loss"``: g_i = ∇_x l(θ, (x_i, y_i)) (softmax cross-entropy, or the logistic loss for a scalar
    binary model, where g_i = (σ(f) − y_i)∇f(x_i)); ``"logit"``: g_i = ∇_x f_{y_i}(x_i), or ∇f(x_i) for a
    scalar binary model (the theory's f). ``centre``: a vector c subtracted from each x_i (the training mean,
    since the theory assumes centred data), None for no centring. Gradients are per sample, in eval mode.
    A zero gradient or x_i = c gives cosine 0. Returns a float64 array of length N (computed in float64 from
    the model's gradients).
    """
    check_choice("target", target, COSINE_TARGETS)
    check_positive_int("batch_size", batch_size)
    out = []
    with eval_mode(model), torch.enable_grad():
        device = next(iter(model.parameters())).device
        for start in range(0, len(x), batch_size):
            xb = x[start : start + batch_size].to(device).detach().clone().requires_grad_(True)
            grad = _input_gradient(model, xb, y[start : start + batch_size].to(device), target)
            vec = xb.detach() - (centre.to(device).reshape(1, *xb.shape[1:]) if centre is not None else 0)
            g, v = grad.reshape(len(xb), -1).double(), vec.reshape(len(xb), -1).double()
            denom = g.norm(dim=1) * v.norm(dim=1)
            cos = torch.where(denom > 0, (g * v).sum(dim=1).abs() / denom.clamp_min(1e-300), torch.zeros_like(denom))
            out.append(cos.cpu())
    return torch.cat(out).numpy()


def null_cosine_quantile(d: int, q: float) -> float:
    """The q-quantile of |cos(u, v)| for u uniform on the unit sphere of R^d and any fixed v ≠ 0.

    cos² ~ Beta(1/2, (d − 1)/2), so the quantile is √(Beta⁻¹(q; 1/2, (d − 1)/2)). d = 2: sin(qπ/2);
    d = 3: q (|cos| is uniform). The reference for "stays away from 0": directions unrelated to x.
    """
    check_positive_int("d", d)
    require(0 <= q <= 1, f"q={q!r} is not allowed: it must be in [0, 1]")
    if d == 1:
        return 1.0
    return float(math.sqrt(beta_distribution.ppf(q, 0.5, (d - 1) / 2)))


# ----------------------------------------------------------------------------------------------------------
# The bound


def robustness_bound(model: nn.Module, x: torch.Tensor, y: torch.Tensor, alpha: float, beta: float | None = None,
                     *, r3: str = "exact", tol: float = 1e-6) -> dict[str, float | bool | int]:
    """Theorems 3.1/3.2: compare L̃_mix(θ) with L̃_adv(θ, ε_mix·√d) and report the assumptions.

    ε_mix = R · c_x · E_D̃[1−λ], R = min_i |cos(∇f(x_i), x_i)| (:func:`input_gradient_cosines` with
    ``target="logit"``; cos(θ, x_i) for logistic regression), c_x = min_i ‖x_i‖/√d. For a binary scalar model;
    ``y`` are labels in {0, 1} (or probabilities of class 1: the class is y > 1/2). Returns plain numbers:

    - ``R``, ``R_index`` (argmin), ``c_x``, ``eps_mix``, ``eps`` (= ε_mix·√d), ``d``, ``n``,
      ``E1`` = E_D̃[1−λ], ``E2`` = E_D̃[(1−λ)²];
    - ``L_std``, ``R1``, ``R2``, ``R3``, ``L_mix_approx`` (Eq. 3), ``L_adv_approx``, ``gap`` (their difference);
    - ``holds``: L_mix_approx ≥ L_adv_approx, as computed — no tolerance, whether or not the assumptions hold;
    - the assumptions, checked and never imposed: ``zero_training_error`` ((2y_i − 1) f(x_i) ≥ 0 for all i),
      ``min_margin`` (min_i (2y_i − 1) f(x_i)), ``centred`` (‖x̄‖ ≤ tol·max‖x_i‖), ``homogeneous``
      (f(x_i) = ∇f(x_i)ᵀx_i within tol: linear without bias, bias-free ReLU), ``curvature_free``
      (|R3| ≤ tol·(|L_std| + 1), a consequence of ∇²f = 0), and ``assumptions_met`` (all four).
    """
    with torch.no_grad():
        terms = approx_terms(model, x, y, alpha, beta, r3=r3)
    with torch.enable_grad():
        der = _binary_derivatives(model, x, y, graph=False)
    flat = der.x.reshape(der.x.shape[0], -1)
    n, d = flat.shape
    grad = der.jac[:, 0].detach()
    f = der.logits.detach()
    norms_x = flat.norm(dim=1)
    cosines = input_gradient_cosines(model, x, y, target="logit")
    r_value = float(cosines.min())
    c_x = float(norms_x.min()) / math.sqrt(d)
    e1, e2 = mixture_moment(alpha, beta, 1), mixture_moment(alpha, beta, 2)
    eps_mix = r_value * c_x * e1
    with torch.no_grad():
        l_adv = float(second_order_adversarial_loss(model, x, y, eps_mix * math.sqrt(d)))
    l_mix = float(terms["L_std"] + terms["R1"] + terms["R2"] + terms["R3"])
    margins = (2 * (der.soft > 0.5).to(f.dtype) - 1) * f
    zero_error = bool((margins >= 0).all())
    centred = float(flat.mean(dim=0).norm()) <= tol * float(norms_x.max())
    homogeneous = float((f - (grad * flat).sum(dim=1)).abs().max()) <= tol * (1 + float(f.abs().max()))
    curvature_free = abs(float(terms["R3"])) <= tol * (abs(float(terms["L_std"])) + 1)
    return {
        "R": r_value,
        "R_index": int(cosines.argmin()),
        "c_x": c_x,
        "eps_mix": eps_mix,
        "eps": eps_mix * math.sqrt(d),
        "d": d,
        "n": n,
        "E1": e1,
        "E2": e2,
        "L_std": float(terms["L_std"]),
        "R1": float(terms["R1"]),
        "R2": float(terms["R2"]),
        "R3": float(terms["R3"]),
        "L_mix_approx": l_mix,
        "L_adv_approx": l_adv,
        "gap": l_mix - l_adv,
        "holds": l_mix >= l_adv,
        "zero_training_error": zero_error,
        "min_margin": float(margins.min()),
        "centred": centred,
        "homogeneous": homogeneous,
        "curvature_free": curvature_free,
        "assumptions_met": zero_error and centred and homogeneous and curvature_free,
    }


def cosine_summary(cosines: Sequence[float], q: float = 0.05) -> dict[str, float]:
    """R = min (the theorems'), the q-quantile (a robust low end), the median and the mean of |cos| (Fig. 3)."""
    c = np.asarray(cosines, dtype=float)
    require(c.ndim == 1 and len(c) > 0, "cosines must be a non-empty 1-d array")
    return {"R": float(c.min()), f"q{round(100 * q):02d}": float(np.quantile(c, q)), "median": float(np.median(c)),
            "mean": float(c.mean())}


# ----------------------------------------------------------------------------------------------------------
# Theorems 3.1/3.2 checked on two moons (one logit: the case the theorems are about)


def centred_two_moons(n_train: int, n_test: int, noise: float, seed: int, gap: float = 0.0):
    """Two moons (:func:`mixup_lib.data.load_dataset`) in float64, centred exactly by the training mean.

    ``gap`` > 0 moves class 1 (the lower moon) down by ``gap`` before centring: our construction (not the
    paper's) to get data a bias-free model can fit with zero training error. Returns x_train, y_train,
    x_test, y_test (test points shifted by the same training mean).
    """
    from mixup_lib.data import load_dataset

    check_nonnegative("gap", gap)
    moons = load_dataset("two_moons", n_train=n_train, n_test=n_test, noise=noise, seed=seed)
    shift = torch.tensor([0.0, -gap], dtype=torch.float64)
    x_train, x_test = moons.x_train.double(), moons.x_test.double()
    x_train = x_train + shift * moons.y_train[:, None]
    x_test = x_test + shift * moons.y_test[:, None]
    mean = x_train.mean(dim=0)
    return x_train - mean, moons.y_train, x_test - mean, moons.y_test


def angular_class_changes(x: torch.Tensor, y: torch.Tensor) -> int:
    """How often the class changes going once around the origin through the points sorted by angle (2-d x).

    A positively homogeneous classifier (bias-free linear or ReLU: f(tx) = t·f(x), t > 0) has one sign per
    ray, so it needs at least this many sign changes around the circle to reach zero training error; a
    linear one through the origin has exactly 2.
    """
    require(x.ndim == 2 and x.shape[1] == 2, f"x of shape {tuple(x.shape)}: angular order needs 2-d points")
    order = torch.atan2(x[:, 1], x[:, 0]).argsort()
    labels = y[order]
    return int((labels != labels.roll(1)).sum())


def moons_model(kind: str, seed: int, hidden: int) -> nn.Module:
    """A bias-free binary model of Theorem 3.1 (logistic regression) or 3.2 (two-layer ReLU net), float64."""
    check_choice("kind", kind, MOONS_MODELS)
    name = MOONS_MODELS[kind]
    extra = {"hidden": hidden} if name == "two-layer-relu" else {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = models.build(name, 2, 2, bias=False, binary=True, **extra)
    return model.double()


def train_moons_model(kind: str, x: torch.Tensor, y: torch.Tensor, alpha: float, *, seed: int, hidden: int,
                      steps: int, lr: float = 0.1) -> nn.Module:
    """Train a :func:`moons_model` by full-batch SGD (momentum 0.9): ERM at α = 0, else mixup at α."""
    model = moons_model(kind, seed, hidden)
    fullbatch.train_full_batch(model, x, y, objective="erm" if alpha == 0 else "mixup", alpha=alpha, steps=steps,
                               seed=seed, lr=lr, record_every=steps)
    return model


def theorem_check(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    alphas: Sequence[float],
    seeds: Sequence[int],
    hidden: int,
    steps: int,
    kinds: Sequence[str] = tuple(MOONS_MODELS),
    lr: float = 0.1,
) -> tuple[list[dict[str, Any]], dict[tuple[str, float, int], nn.Module]]:
    """Theorems 3.1/3.2 across α: for each model kind, seed and α > 0, two parameter points θ.

    - ``trained_with="mixup"``: θ trained by full-batch mixup at that α;
    - ``trained_with="ERM"``: θ trained by ERM (one model per kind and seed), the bound evaluated at each α.

    The theorems are statements about any θ with zero training error, so both are fair tests; the flags
    say whether each θ meets the assumptions. Each row holds :func:`robustness_bound`'s record and
    ``train_acc``, ``eps_star`` (:func:`largest_bounded_eps`, ℓ2) and ``eps_star_linf`` (ε*/√d). Also returns
    the trained models keyed (kind, α, seed), α = 0 for ERM.
    """
    rows, trained = [], {}
    for kind in kinds:
        for seed in seeds:
            trained[kind, 0.0, seed] = train_moons_model(kind, x, y, 0.0, seed=seed, hidden=hidden, steps=steps, lr=lr)
            for alpha in alphas:
                require(alpha > 0, f"alpha={alpha!r} is not allowed in the bound check: it must be > 0")
                model = train_moons_model(kind, x, y, alpha, seed=seed, hidden=hidden, steps=steps, lr=lr)
                trained[kind, float(alpha), seed] = model
                for trained_with, theta in (("mixup", model), ("ERM", trained[kind, 0.0, seed])):
                    record = robustness_bound(theta, x, y, alpha)
                    l_std, a, b = adversarial_coefficients(theta, x, y)
                    eps_star = largest_bounded_eps(record["L_mix_approx"], l_std, a, b)
                    rows.append({"model": kind, "trained_with": trained_with, "alpha": float(alpha), "seed": seed,
                                 "train_acc": fullbatch.accuracy(theta, x, y), **record, "eps_star": eps_star,
                                 "eps_star_linf": eps_star / math.sqrt(record["d"])})
    return rows, trained


def theorem_summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """For rows of one data set and model: cases, assumptions met, inequality holds, R's range, ε_mix√d/ε*'s range."""
    require(len(rows) > 0, "no rows to summarise")
    ratios = [r["eps"] / r["eps_star"] if r["eps_star"] else math.inf for r in rows]
    return {"cases": len(rows), "assumptions_met": sum(bool(r["assumptions_met"]) for r in rows),
            "holds": sum(bool(r["holds"]) for r in rows), "R_min": min(r["R"] for r in rows),
            "R_max": max(r["R"] for r in rows), "radius_ratio_min": min(ratios), "radius_ratio_max": max(ratios)}
