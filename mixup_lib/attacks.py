"""Adversarial attacks and robust accuracy: FGSM (ℓ∞ and ℓ2), PGD-ℓ∞, accuracy over an ε grid.

Fig. 1a of the paper (Zhang et al., ICLR 2021) plots the robust test accuracy of a mixup-trained and an
ERM-trained WRN-16-8 on SVHN under FGSM, the one-step attack of Goodfellow et al. (2015). The theory
(Thm 3.1/3.2) bounds a *second-order ℓ2* adversarial loss: the approximate mixup loss is at least
L̃_adv(θ, ε_mix √d). FGSM-ℓ∞ with step ε moves every pixel by ±ε, so its ℓ2 norm is ε√d; the ℓ2
variant here (``norm=2``, a normalized-gradient step) is the attack the bound speaks about directly.
PGD-ℓ∞ (Madry et al., 2018) is a control the paper does not use: its claims concern single-step attacks.

Conventions (the project's rules):

- Inputs live in [0, 1] pixel space and normalization is a layer inside the model, so ε is always in
  pixel units; adversarial outputs are clamped to [0, 1].
- The model is in eval mode during an attack (:func:`eval_mode`) and its previous modes are restored
  afterwards, also when an exception is raised.
- Gradients are taken with respect to the input only (``torch.autograd.grad``): no ``.grad`` is left
  on parameters and their ``requires_grad`` flags are never touched.
- ε = 0 returns (a copy of) the input unchanged, without calling the model.
- Labels are integer class indices, one per input, in [0, K) for (N, K) logits and {0, 1} for a single-logit
  binary model; an unknown keyword is a one-line ConfigError, never silently ignored.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from mixup_lib.errors import (
    ConfigError,
    allowed_keywords,
    check_finite,
    check_float_pixels,
    check_keywords,
    check_labels,
    check_positive_int,
    reject_unknown_keywords,
    require,
)
from mixup_lib.mixup import cross_entropy, predict_labels

#: Attack names accepted by :func:`robust_accuracy`.
ATTACKS = ("fgsm", "fgsm-l2", "pgd")
#: Norms accepted by :func:`fgsm`, as they are written in error messages.
NORMS = ("inf", 2)

Attack = Callable[..., torch.Tensor]


@reject_unknown_keywords
@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode for the ``with`` block, then restore every submodule's previous mode.

    The restore runs in a ``finally`` clause, so an exception inside the block leaves the model as it
    was found. Modes are restored per submodule, so a model with, say, a frozen (eval) BatchNorm inside
    a training network comes back exactly as it was.
    """
    _check_model(model)
    saved = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        model.train(saved[0][1])
        for module, training in saved:
            if module.training != training:
                module.training = training


def _check_model(model: object) -> None:
    require(
        isinstance(model, nn.Module),
        f"model of type {type(model).__name__} is not allowed: it must be a torch.nn.Module",
    )


def _check_eps(eps: float, name: str = "eps") -> float:
    ok = isinstance(eps, numbers.Real) and not isinstance(eps, bool) and math.isfinite(eps) and eps >= 0
    require(ok, f"{name}={eps!r} is not allowed: it must be a finite number >= 0 (pixel units, inputs in [0, 1])")
    return float(eps)


def _check_norm(norm: str | int | float) -> str | int:
    """Map the accepted spellings of the norm to ``"inf"`` or ``2``."""
    key = norm.strip().lower() if isinstance(norm, str) else norm
    if key in ("inf", "linf", math.inf):
        return "inf"
    if key in ("2", "l2") or (isinstance(key, numbers.Real) and not isinstance(key, bool) and key == 2):
        return 2
    raise ConfigError(f"norm={norm!r} is not allowed: choose one of inf, 2")


def _check_inputs(x: torch.Tensor, y: torch.Tensor) -> None:
    """x: finite float pixels in [0, 1], (N, ...); y: N integer labels >= 0 (upper bound: :func:`_check_labels_fit`)."""
    require(isinstance(x, torch.Tensor), f"x of type {type(x).__name__} is not allowed: it must be a torch.Tensor")
    check_float_pixels("x", x)
    require(x.ndim >= 1, "x is a scalar: it must have a batch dimension (N, ...)")
    check_labels("y", y, x.shape[0])
    check_finite("x", x)
    if x.numel():
        lo, hi = float(x.min()), float(x.max())
        require(
            lo >= 0 and hi <= 1,
            f"x has values in [{lo:.4g}, {hi:.4g}]: inputs must be pixels in [0, 1] (normalize inside the model)",
        )


def _check_labels_fit(logits: torch.Tensor, y: torch.Tensor) -> None:
    """The labels index the model's classes: [0, K) for (N, K) logits, {0, 1} for a single-logit (N,) model."""
    shape = tuple(logits.shape)
    binary = len(shape) == 1
    require(
        binary or (len(shape) == 2 and shape[1] >= 2),
        f"model output has shape {shape}: expected (N,) logits of a binary model or (N, K) logits with K >= 2",
    )
    check_labels("y", y, shape[0], 2 if binary else shape[1])


def _input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """∇_x of the summed loss (so per-sample gradients are not scaled by 1/N); parameters get no ``.grad``."""
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        _check_labels_fit(logits, y)
        loss = cross_entropy(logits, y, reduction="none").sum()
        (grad,) = torch.autograd.grad(loss, [x], allow_unused=True)
    return torch.zeros_like(x) if grad is None else grad.detach()


def _l2_direction(grad: torch.Tensor) -> torch.Tensor:
    """g_i / ‖g_i‖₂ per sample; a zero gradient gives a zero direction."""
    flat = grad.reshape(grad.shape[0], -1)
    norms = flat.norm(dim=1, keepdim=True)
    unit = torch.where(norms > 0, flat / norms.clamp_min(torch.finfo(flat.dtype).tiny), torch.zeros_like(flat))
    return unit.reshape(grad.shape)


@reject_unknown_keywords
def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str | int = "inf") -> torch.Tensor:
    """The fast gradient (sign) method: one step of size ε that increases the loss to first order.

    ``norm="inf"`` is FGSM of Goodfellow et al. (2015), the attack of Fig. 1a:
    x_adv = clamp(x + ε·sign(∇_x l), 0, 1). Its perturbation has ℓ∞ norm ε and ℓ2 norm ε√d (before
    clamping), which is how the paper links FGSM to the ℓ2 bound of Thm 3.1/3.2.

    ``norm=2`` (also ``"2"``) is the normalized-gradient step x_adv = clamp(x + ε·g_i/‖g_i‖₂, 0, 1),
    per sample, the maximiser of the *first-order* ℓ2 adversarial loss the theory bounds (a zero
    gradient gives no step). Clamping only shrinks a perturbation, so ‖x_adv − x‖ ≤ ε in the chosen norm.

    The loss is :func:`mixup_lib.mixup.cross_entropy` (softmax cross-entropy for (N, K) logits, logistic
    loss for scalar binary (N,) logits). ``x`` holds pixels in [0, 1]; the model runs in eval mode and
    its previous mode is restored. ε = 0 returns a copy of ``x`` without calling the model.
    """
    _check_model(model)
    eps = _check_eps(eps)
    norm = _check_norm(norm)
    _check_inputs(x, y)
    if eps == 0:
        return x.detach().clone()
    return _fgsm_from_direction(x, eps, _fgsm_direction(model, x, y, norm))


@reject_unknown_keywords
def fgsm_direction(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str | int = "inf") -> torch.Tensor:
    """FGSM's unit step before scaling by ε: sign(∇_x l) for ``norm="inf"``, ∇_x l / ‖∇_x l‖₂ for ``norm=2``.

    It does not depend on ε, so one gradient serves a whole ε grid (:func:`robust_accuracy` uses this):
    ``fgsm(model, x, y, eps, norm)`` equals ``clamp(x + eps * fgsm_direction(model, x, y, norm), 0, 1)``.
    """
    _check_model(model)
    norm = _check_norm(norm)
    _check_inputs(x, y)
    return _fgsm_direction(model, x, y, norm)


def _fgsm_direction(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str | int) -> torch.Tensor:
    with eval_mode(model):
        grad = _input_gradient(model, x, y)
    return grad.sign() if norm == "inf" else _l2_direction(grad)


def _fgsm_from_direction(x: torch.Tensor, eps: float, direction: torch.Tensor) -> torch.Tensor:
    return (x.detach() + eps * direction).clamp_(0.0, 1.0)


@reject_unknown_keywords
def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    steps: int = 10,
    step_size: float | None = None,
    random_start: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Projected gradient descent in the ℓ∞ ball (Madry et al., 2018): a control the paper does not use.

    Starting from x (or, with ``random_start``, from a point drawn uniformly in the ε-ball with
    ``generator``), take ``steps`` signed-gradient steps of size ``step_size`` (default 2.5·ε/steps, Madry
    et al.'s rule of thumb), projecting onto {‖x' − x‖∞ ≤ ε} ∩ [0, 1]^d after each step; the last
    iterate is returned. The paper's robustness claim (Thm 3.1/3.2, Fig. 1a) is about single-step
    attacks; the book uses PGD to check whether mixup's advantage survives a stronger attack.

    The random start is drawn on the generator's device (CPU when ``generator`` is None and ``x`` is on
    the CPU) and moved to ``x``'s device, so a CPU generator reproduces the same start on any device.
    """
    _check_model(model)
    eps = _check_eps(eps)
    steps = check_positive_int("steps", steps)
    if step_size is None:
        step_size = 2.5 * eps / steps
    else:
        ok = isinstance(step_size, numbers.Real) and not isinstance(step_size, bool) and math.isfinite(step_size)
        require(ok and step_size > 0, f"step_size={step_size!r} is not allowed: it must be a finite number > 0")
        step_size = float(step_size)
    _check_inputs(x, y)
    if eps == 0:
        return x.detach().clone()
    x = x.detach()
    lower, upper = (x - eps).clamp(min=0.0), (x + eps).clamp(max=1.0)
    if random_start:
        device = generator.device if generator is not None else x.device
        noise = torch.rand(x.shape, generator=generator, device=device, dtype=x.dtype).to(x.device)
        x_adv = torch.min(torch.max(x + eps * (2 * noise - 1), lower), upper)
    else:
        x_adv = x.clone()
    with eval_mode(model):
        for _ in range(steps):
            grad = _input_gradient(model, x_adv, y)
            x_adv = torch.min(torch.max(x_adv + step_size * grad.sign(), lower), upper)
    return x_adv


def _resolve_attack(attack: str | Attack, attack_kw: dict) -> Attack:
    """The callable ``attack(model, x, y, eps)`` that :func:`robust_accuracy` runs; unknown keywords are refused."""
    if callable(attack):
        name = getattr(attack, "__name__", type(attack).__name__)
        _check_attack_keywords(name, _callable_keywords(attack), attack_kw)
        return lambda model, x, y, eps: attack(model, x, y, eps, **attack_kw)
    require(
        isinstance(attack, str) and attack in ATTACKS,
        f"attack={attack!r} is not allowed: choose one of {', '.join(ATTACKS)} or pass a callable like fgsm",
    )
    if attack == "fgsm-l2":
        require(
            "norm" not in attack_kw,
            (
                f"norm={attack_kw.get('norm')!r} is not allowed with attack='fgsm-l2', which sets norm=2: "
                "use attack='fgsm' with norm=..."
            ),
        )
    named = {"fgsm": fgsm, "fgsm-l2": None, "pgd": pgd}[attack]
    _check_attack_keywords(repr(attack), () if named is None else _callable_keywords(named), attack_kw)
    if attack == "pgd":
        return lambda model, x, y, eps: pgd(model, x, y, eps, **attack_kw)
    if attack == "fgsm-l2":
        return lambda model, x, y, eps: fgsm(model, x, y, eps, norm=2, **attack_kw)
    return lambda model, x, y, eps: fgsm(model, x, y, eps, **attack_kw)


def _callable_keywords(attack: Attack) -> tuple[str, ...] | None:
    """The keywords ``attack`` takes after (model, x, y, eps); None (any) with ``**kwargs`` or no readable signature."""
    try:
        return allowed_keywords(attack, skip=4)
    except (TypeError, ValueError):
        return None


def _check_attack_keywords(name: str, accepted: tuple[str, ...] | None, attack_kw: dict) -> None:
    """Refuse a keyword of :func:`robust_accuracy` that neither it nor the attack takes (``accepted`` None: any)."""
    if accepted is not None:
        own = tuple(inspect.signature(robust_accuracy).parameters)[:-1]  # without **attack_kw
        check_keywords(f"robust_accuracy(attack={name})", attack_kw, own + accepted)


def _fgsm_norm(attack: str | Attack, attack_kw: dict) -> str | int | None:
    """The norm of a named FGSM attack (``"fgsm"``, ``"fgsm-l2"``), or None for PGD and callables."""
    if attack == "fgsm":
        return _check_norm(attack_kw.get("norm", "inf"))
    return 2 if attack == "fgsm-l2" else None


def _model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def robust_accuracy(
    model: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor],
    eps_list: Sequence[float],
    attack: str | Attack = "fgsm",
    batch_size: int = 512,
    **attack_kw,
) -> list[float]:
    """Accuracy (a fraction in [0, 1]) on adversarial inputs at each ε of ``eps_list``, in that order.

    This is the y-axis of Fig. 1a (robust test accuracy under FGSM). ``data`` is a pair (x, y) with x in
    [0, 1]; batches of ``batch_size`` are moved to the model's device. ``attack`` is ``"fgsm"`` (ℓ∞, the
    paper's), ``"fgsm-l2"`` (the normalized-gradient step of the theory), ``"pgd"`` (ℓ∞ control) or a
    callable with :func:`fgsm`'s signature; ``attack_kw`` are passed on to it (e.g. ``steps=`` for PGD), and a
    keyword the attack does not take is refused (a one-line ConfigError listing the allowed ones), never ignored.
    ε = 0 gives the clean accuracy, computed without attacking. The model is in eval mode throughout
    and its previous mode is restored. The ε grid is the caller's choice (the paper does not state it).

    With ``attack="pgd"`` and a random start, the random draws depend on the batching; deterministic
    attacks give the same numbers for any ``batch_size``.
    """
    require(
        isinstance(data, (tuple, list)) and len(data) == 2,
        f"data of type {type(data).__name__} is not allowed: it must be a pair (x, y) of tensors",
    )
    _check_model(model)
    x, y = data
    _check_inputs(x, y)
    require(x.shape[0] > 0, "data is empty: robust accuracy needs at least one example")
    require(
        isinstance(eps_list, Sequence) and not isinstance(eps_list, str) and len(eps_list) > 0,
        f"eps_list={eps_list!r} is not allowed: it must be a non-empty sequence of eps values >= 0",
    )
    eps_values = [_check_eps(eps, "eps_list entry") for eps in eps_list]
    batch_size = check_positive_int("batch_size", batch_size)
    run_attack = _resolve_attack(attack, attack_kw)
    # FGSM's direction does not depend on ε: one gradient per batch serves the whole grid (same numbers).
    fgsm_norm = _fgsm_norm(attack, attack_kw)
    device = _model_device(model)
    correct = [0] * len(eps_values)
    with eval_mode(model):
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size].to(device)
            yb = y[start : start + batch_size].to(device)
            clean = direction = None
            for k, eps in enumerate(eps_values):
                if eps == 0:
                    if clean is None:
                        with torch.no_grad():
                            clean = _count_correct(model(xb), yb)
                    correct[k] += clean
                    continue
                if fgsm_norm is None:
                    x_adv = run_attack(model, xb, yb, eps)
                else:
                    if direction is None:
                        direction = _fgsm_direction(model, xb, yb, fgsm_norm)
                    x_adv = _fgsm_from_direction(xb, eps, direction)
                with torch.no_grad():
                    correct[k] += _count_correct(model(x_adv), yb)
    return [c / x.shape[0] for c in correct]


def _count_correct(logits: torch.Tensor, y: torch.Tensor) -> int:
    _check_labels_fit(logits, y)
    return int((predict_labels(logits) == y.long()).sum())


__all__ = ["ATTACKS", "NORMS", "eval_mode", "fgsm", "fgsm_direction", "pgd", "robust_accuracy"]
