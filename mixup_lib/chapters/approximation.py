"""Claim 2 of the approximation chapter: Eq. (3) is accurate and a genuine second-order expansion (Lemma 3.1).

The evidence has power where a log–log fit over α has none (SPEC, claim 2's CAUTION): at a FIXED λ the pulled
loss g(a) = (1/n) Σ_i E_r l(θ, ((1−a)x_i + a r, y_i)), a = 1 − λ, is compared with its Taylor truncations at
a = 0 — T_0 = L_std, T_1 = T_0 + a·R1, T_2 = T_1 + a²·(R2 + R3) (:func:`mixup_lib.approx.taylor_coefficients`)
— and the errors must shrink like a, a², a³. A wrong or missing R2 or R3 leaves an a² error in T_2: slope 2,
not 3. Along training, each truncation of Eq. (3) is compared with the exact L_mix (quadrature).

Thresholds of the verdict (all in one place; measured values in the docstring of :func:`claim2_verdict`):

- :data:`ONE_MINUS_LAMS`: a = 1 − λ from 1e-4 to 0.02 (13 points, log-spaced). Above ~0.02 the fourth-order
  term bends the curves. Float64 resolves the a³ law down to 1e-4: the rounding noise of g(a) − T_2(a) is
  ≈ 0.3·eps·g(0) ≈ 4e-17 while the order-2 error at 1e-4 is ≈ 7e-15 for a logistic regression at init (larger
  once trained); points under the floor of :data:`mixup_lib.approx.NOISE_FACTOR` are left out of the fit. The
  decade below 1e-3 gives the power: a term off by 5% leaves an error ε·a² that overtakes the true a³
  remainder only below a ≈ ε·R/C₃, and between 1e-3 and 0.02 the two can cancel (a dip) and fake a slope ≈ 3.
- :data:`FIT_DECADES` = 1: each slope is fitted over the resolved points within one decade of the smallest
  resolved a (:func:`mixup_lib.approx.loglog_slope`), i.e. the order as a → 0. A fit over the whole range is
  bent by the next order when the third-order coefficient happens to be small (2.7 for a tanh net at init).
- :data:`SLOPE_TOLERANCE` = 0.3 around the slopes 1, 2, 3 of T_0, T_1, T_2. Smooth models (logistic regression,
  tanh net) give T_2 slopes 2.91–3.00 at every checkpoint (2.91: a tanh net at init with a small third-order
  coefficient); R2 or R3 dropped or scaled by 1.05 gives 1.86–2.01 (tanh net, where R3 ≠ 0), so 0.3 separates
  the two with room on both sides. T_0 and T_1 give 1.00–1.01 and 2.00.
- Eq. (3) must be at least as accurate as every lower truncation at every checkpoint, up to the stated
  ``uncertainty`` of the exact L_mix (quadrature + float noise). "At least as" because R3 = 0 for a linear
  model, where Eq. (3) and L_std + R1 + R2 coincide.
- :data:`MATTERS_CUT` = 10%: a term "matters" for a model when adding it cuts the error against L_mix by at
  least this fraction at the median checkpoint (reported, not part of the verdict).

Verdict: ``not supported`` if any checkpoint has a T_2 slope outside 3 ± 0.3 or an Eq. (3) error above a lower
truncation's; else ``inconclusive at this scale`` if an error sits at float noise (slope undetermined, or all
truncation errors below the uncertainty) or a T_0/T_1 slope is outside its band (the range does not separate
the orders); else ``supported``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from mixup_lib import approx
from mixup_lib.claims import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from mixup_lib.errors import require

ONE_MINUS_LAMS = tuple(np.logspace(-4, math.log10(0.02), 13).tolist())
FIT_DECADES = 1.0
SLOPE_TARGETS = (1.0, 2.0, 3.0)
SLOPE_TOLERANCE = 0.3
MATTERS_CUT = 0.10
TERMS = ("R1", "R2", "R3")  # the term added by each step of approx.TRUNCATIONS
MAX_LISTED = 3  # failures named in a reason before "(+k more)"


# ----------------------------------------------------------------------------------------------------------
# Evidence from models (plain numbers)


def checkpoint_evidence(
    model: nn.Module,
    x: torch.Tensor,
    targets: torch.Tensor,
    alpha: float,
    one_minus_lams: Sequence[float] = ONE_MINUS_LAMS,
    *,
    name: str,
    step: int | None = None,
    n_quad: int = 64,
) -> dict:
    """Claim 2's evidence for one model at one point of training, as a JSON-like dict.

    ``fixed_lambda`` (:func:`mixup_lib.approx.fixed_lambda_errors`), ``slopes`` of T_0, T_1, T_2
    (:func:`mixup_lib.approx.truncation_slopes`) and ``truncation_errors`` at ``alpha``
    (:func:`mixup_lib.approx.truncation_errors`), with ``model`` = ``name`` and ``step``.
    Meant to be called from a training loop's record callback.
    """
    fixed = approx.fixed_lambda_errors(model, x, targets, one_minus_lams)
    return {
        "model": name,
        "step": step,
        "fixed_lambda": fixed,
        "slopes": approx.truncation_slopes(fixed, FIT_DECADES),
        "truncation_errors": approx.truncation_errors(model, x, targets, alpha, n_quad=n_quad),
    }


def claim2_evidence(
    models_by_name: Mapping[str, nn.Module | Mapping[int, nn.Module]],
    x: torch.Tensor,
    targets: torch.Tensor,
    alpha: float,
    one_minus_lams: Sequence[float] = ONE_MINUS_LAMS,
    *,
    n_quad: int = 64,
) -> list[dict]:
    """:func:`checkpoint_evidence` for each model: ``{name: model}`` or ``{name: {step: model}}`` (checkpoints)."""
    records = []
    for name, checkpoints in models_by_name.items():
        if isinstance(checkpoints, nn.Module):
            checkpoints = {None: checkpoints}
        require(
            isinstance(checkpoints, Mapping),
            f"models_by_name[{name!r}] is a {type(checkpoints).__name__}: give a model or a {{step: model}} dict",
        )
        for step, model in checkpoints.items():
            records.append(
                checkpoint_evidence(model, x, targets, alpha, one_minus_lams, name=name, step=step, n_quad=n_quad)
            )
    return records


# ----------------------------------------------------------------------------------------------------------
# Verdict (plain numbers in, no models)


def _label(record: dict) -> str:
    return record["model"] if record.get("step") is None else f"{record['model']} step {record['step']}"


def _slope_findings(record: dict) -> tuple[list[str], list[str]]:
    """(refutations, unresolved) from the fixed-λ slopes of one checkpoint."""
    refuted, unresolved = [], []
    for order, (slope, target) in enumerate(zip(record["slopes"], SLOPE_TARGETS, strict=True)):
        where = f"{_label(record)}: order-{order} truncation"
        if slope is None or not math.isfinite(slope):
            unresolved.append(f"{where} error at float noise (slope undetermined)")
        elif abs(slope - target) > SLOPE_TOLERANCE:
            message = f"{where} error slope {slope:.2f} outside {target:g} ± {SLOPE_TOLERANCE:g}"
            (refuted if order == 2 else unresolved).append(message)
    return refuted, unresolved


def _accuracy_findings(record: dict) -> tuple[list[str], list[str]]:
    """(refutations, unresolved) from the truncation errors against the exact L_mix at one checkpoint."""
    errors = record["truncation_errors"]["errors"]
    noise = record["truncation_errors"]["uncertainty"]
    if max(errors.values()) <= noise:
        return [], [f"{_label(record)}: every truncation error is below the uncertainty {noise:.1e} of L_mix"]
    full = errors[approx.TRUNCATIONS[-1]]
    refuted = [
        f"{_label(record)}: Eq. (3) error {full:.2e} > {name} error {errors[name]:.2e}"
        for name in approx.TRUNCATIONS[:-1]
        if full > errors[name] + noise
    ]
    return refuted, []


def term_contributions(evidence: Sequence[dict]) -> dict[str, dict[str, float]]:
    """Per model, per term (R1, R2, R3): the median over checkpoints of the fractional error cut it brings.

    The cut of a term is (e_before − e_after)/e_before for the truncation errors against L_mix just before and
    just after adding it (negative when the term makes the approximation worse).
    """
    cuts: dict[str, dict[str, list[float]]] = {}
    for record in evidence:
        errors = [record["truncation_errors"]["errors"][name] for name in approx.TRUNCATIONS]
        per_model = cuts.setdefault(record["model"], {term: [] for term in TERMS})
        for term, before, after in zip(TERMS, errors[:-1], errors[1:], strict=True):
            per_model[term].append((before - after) / before if before > 0 else 0.0)
    return {model: {term: float(np.median(v)) for term, v in terms.items()} for model, terms in cuts.items()}


def _listed(findings: list[str]) -> str:
    more = len(findings) - MAX_LISTED
    return "; ".join(findings[:MAX_LISTED]) + (f" (+{more} more)" if more > 0 else "")


def _summary(evidence: Sequence[dict]) -> str:
    slopes = [record["slopes"][2] for record in evidence]
    relative = max(
        record["truncation_errors"]["errors"][approx.TRUNCATIONS[-1]] / abs(record["truncation_errors"]["L_mix"])
        for record in evidence
    )
    matter = "; ".join(
        f"{model}: {', '.join(t for t, cut in terms.items() if cut >= MATTERS_CUT) or 'none'}"
        for model, terms in term_contributions(evidence).items()
    )
    return (
        f"order-2 remainder slopes {min(slopes):.2f}–{max(slopes):.2f} (3 ± {SLOPE_TOLERANCE:g}) and Eq. (3) at least "
        f"as accurate as every lower truncation at all {len(evidence)} checkpoints (largest relative error of "
        f"Eq. (3): {relative:.1%}); terms that cut the error by ≥ {MATTERS_CUT:.0%} — {matter}"
    )


def claim2_verdict(evidence: Sequence[dict]) -> tuple[str, str]:
    """(verdict, reason) for claim 2 from :func:`claim2_evidence`-style records (plain numbers, no models).

    Each record needs ``model``, ``step``, ``slopes`` (T_0, T_1, T_2; NaN or None = undetermined) and
    ``truncation_errors`` with ``errors`` (keyed by :data:`mixup_lib.approx.TRUNCATIONS`), ``uncertainty`` and
    ``L_mix``. The rule and its thresholds are in the module docstring. Measured on 100 two-moons points with
    full-batch mixup training (α = 1, checkpoints 0–300 steps): logistic regression and a tanh net give T_0,
    T_1, T_2 slopes 1.00–1.01, 2.00, 2.91–3.00 and pass; two-layer ReLU nets (with or without biases) give T_2
    slopes from 1.6 to 6.9, because some segments cross a kink of the net (an extra error of order a², see
    tests/test_taylor.py), and fail. Eq. (3)'s error against L_mix at α = 1 is up to 13% of L_mix.
    """
    require(len(evidence) >= 1, "evidence is empty: give at least one checkpoint record")
    refuted, unresolved = [], []
    for record in evidence:
        for findings in (_slope_findings(record), _accuracy_findings(record)):
            refuted += findings[0]
            unresolved += findings[1]
    if refuted:
        return NOT_SUPPORTED, _listed(refuted)
    if unresolved:
        return INCONCLUSIVE, _listed(unresolved)
    return SUPPORTED, _summary(evidence)


# ----------------------------------------------------------------------------------------------------------
# The chapter's pattern (DESIGN.md): configs → compute → verdicts


def configs(settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """No trainer configs: the chapter's two-moons models train in-process in seconds."""
    return []
