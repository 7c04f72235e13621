"""The approximation chapter (notebooks/approximation.py): Lemma 3.1, Eq. (3) and Fig. 2 on two moons.

Importing this module registers the chapter's presets and settings rules (:data:`mixup_lib.profiles.PRESETS`,
:data:`mixup_lib.profiles.RULES`). :func:`configs` is empty (the two-moons models train in-process in seconds),
:func:`compute` returns every number the page draws (plain JSON), :func:`verdicts` judges claims 1–4 from that
object alone. Everything is float64 (the identities are checked to 1e-10); models are initialized under
:func:`_seeded_float64`, which restores the global RNG and default dtype, so no global torch state changes.

Claim 1 — Lemma 3.1's rewrite is exact. On the first ``n_check`` training points, for a freshly initialized
model of each kind and each (α, β) of :data:`REWRITE_SHAPES`, the pairwise L_mix of Eq. (1) and the rewrite with
D̃λ (both by Gauss–Jacobi quadrature with each of ``quadrature_nodes``) are compared.

- :data:`REWRITE_TOLERANCE` = 1e-6: the largest relative difference at the finest rule must be below it
  (``supported``), else ``not supported``. Logistic regression agrees to rounding (1e-15); the ReLU net's
  λ-integrand has kinks, so its difference shrinks only like nodes⁻² (2.7e-7 at 64 nodes on the smoke profile).

Claim 2 — Eq. (3) is accurate and a genuine second-order expansion (Lemma 3.1). The evidence has power where a
log–log fit over α has none (SPEC, claim 2's CAUTION): at a FIXED λ the pulled loss
g(a) = (1/n) Σ_i E_r l(θ, ((1−a)x_i + a r, y_i)), a = 1 − λ, is compared with its Taylor truncations at a = 0 —
T_0 = L_std, T_1 = T_0 + a·R1, T_2 = T_1 + a²·(R2 + R3) (:func:`mixup_lib.approx.taylor_coefficients`) — and the
errors must shrink like a, a², a³. A wrong or missing R2 or R3 leaves an a² error in T_2: slope 2, not 3. Along
training, each truncation of Eq. (3) is compared with the exact L_mix (quadrature). Models: logistic regression,
the two-layer ReLU net and a tanh net (smooth, R3 ≠ 0), first seed, at initialization and after mixup training.
The smooth models and the ReLU net (outside Lemma 3.1's assumptions) get one verdict each.

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

Verdict of claim 2: ``not supported`` if any checkpoint has a T_2 slope outside 3 ± 0.3 or an Eq. (3) error above
a lower truncation's; else ``inconclusive at this scale`` if an error sits at float noise (slope undetermined, or
all truncation errors below the uncertainty) or a T_0/T_1 slope is outside its band (the range does not separate
the orders); else ``supported``.

Claim 3 — training on L̃_mix gives nearly the same loss curves as training on L_mix (Fig. 2). For each α of
``fig2_alphas`` and the profile's α, each model kind and seed, one model is trained on the stochastic L_mix and
one on L̃_mix from the same initialization. A model trained on L̃_mix can exploit the approximation and look
better under its own objective (SPEC, claim 3), so at each recorded step BOTH trajectories are measured under the
same yardsticks (:data:`COMMON_MEASURES`): the exact L_mix by quadrature (:func:`mixup_lib.approx.rewritten_mixup_loss`
with ``n_quad`` nodes over all ordered pairs of the first ``n_check`` points of each split — the subset on which
claims 1 and 2 compute it; n²·n_quad forward passes per evaluation rule out the whole split at every step on a
CPU, and the comparison is paired: both models on the same points), L̃_mix (Eq. 3) and L_std on the whole train
and test sets, and the test accuracy. Each model's own objective (L_mix by Monte Carlo with
``mc_samples`` draws, L̃_mix exactly) is recorded too: Fig. 2 shows both readings.

The verdict uses the common yardstick only. Per α, over both model kinds, with seed-mean curves:

- loss gap: the largest relative difference |v_approx − v_mix| / v_mix over the recorded steps, for each loss
  of :data:`CLAIM3_LOSSES` (the exact L_mix on train and L_std on test);
- accuracy gap: |acc_approx − acc_mix| of the test accuracy at the last step.

``supported`` when every loss gap is below :data:`CLAIM3_LOSS_SUPPORTED_BELOW` = 10% and the accuracy gap below
:data:`CLAIM3_ACCURACY_SUPPORTED_BELOW` = 0.02; ``not supported`` when a loss gap reaches
:data:`CLAIM3_LOSS_REFUTED_FROM` = 25% or the accuracy gap :data:`CLAIM3_ACCURACY_REFUTED_FROM` = 0.05; else
``inconclusive at this scale``. (10% and 25% are the thresholds the page used before on the own-objective final
losses; 0.02 is one test point in 50, 0.05 a visible change of the classifier.) The own-objective reading is
reported beside it (relative difference of the final training losses, ``fig2_final``) but decides nothing.

Claim 4 — R3 = 0 and f(x) = ∇f(x)ᵀx for bias-free ReLU nets: a freshly initialized bias-free two-layer ReLU net
on the training set. ``supported`` when both |R3| and max_i |f(x_i) − ∇f(x_i)ᵀx_i| are below
:data:`BIAS_FREE_TOLERANCE` = 1e-8 (float64 rounding is ~1e-16), else ``not supported``.

Evaluation randomness comes from an explicit generator, :data:`OWN_LOSS_SEED` (Monte Carlo L_mix along
training); every common measure is deterministic.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from mixup_lib import approx, claims, dispatch, fullbatch, models, profiles
from mixup_lib.claims import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from mixup_lib.data import load_dataset
from mixup_lib.devices import device_description, resolve_device
from mixup_lib.errors import require
from mixup_lib.mixup import cross_entropy, one_hot

# Claim 1
REWRITE_SHAPES = ((0.5, 0.5), (1.0, 1.0), (2.0, 0.5))
REWRITE_TOLERANCE = 1e-6
# Claim 2
ONE_MINUS_LAMS = tuple(np.logspace(-4, math.log10(0.02), 13).tolist())
FIT_DECADES = 1.0
SLOPE_TARGETS = (1.0, 2.0, 3.0)
SLOPE_TOLERANCE = 0.3
MATTERS_CUT = 0.10
TERMS = ("R1", "R2", "R3")  # the term added by each step of approx.TRUNCATIONS
MAX_LISTED = 3  # failures named in a reason before "(+k more)"
RELU = "two-layer ReLU"  # the model outside Lemma 3.1's assumptions: claim 2 judges it apart
# Claim 3 (common yardstick)
COMMON_MEASURES = ("exact_L_mix_train", "exact_L_mix_test", "approx_L_mix_train", "approx_L_mix_test",
                   "L_std_train", "L_std_test", "test_accuracy")
CLAIM3_LOSSES = ("exact_L_mix_train", "L_std_test")
CLAIM3_ACCURACY = "test_accuracy"
CLAIM3_LOSS_SUPPORTED_BELOW = 0.10
CLAIM3_LOSS_REFUTED_FROM = 0.25
CLAIM3_ACCURACY_SUPPORTED_BELOW = 0.02
CLAIM3_ACCURACY_REFUTED_FROM = 0.05
# Claim 4
BIAS_FREE_TOLERANCE = 1e-8
# Evaluation
OWN_LOSS_SEED = 12345
BOUNDARY_RESOLUTION = 100  # grid points per axis of a decision-boundary panel
BOUNDARY_DIGITS = 4  # probabilities on that grid are stored rounded (drawing only)
OBJECTIVES = ("mixup", "approx")  # Fig. 2's two training objectives (mixup_lib.fullbatch)
#: The model kinds of Fig. 2: display name → (mixup_lib.models name, whether it takes ``hidden``).
MODEL_KINDS = {"logistic regression": ("logreg", False), RELU: ("two-layer-relu", True)}
TANH = "tanh net"


# ----------------------------------------------------------------------------------------------------------
# Presets and settings rules. The paper does not state n, noise, α or the number of steps for Fig. 2: these
# are our choices.

profiles.PRESETS["approximation"] = {
    "smoke": {
        "seeds": [0], "alpha": 1.0, "n_train": 60, "n_test": 60, "noise": 0.1, "hidden": 16, "steps": 20,
        "record_every": 10, "mc_samples": 2_000, "n_check": 16, "n_quad": 16, "quadrature_nodes": [16, 64],
        "fig2_alphas": [0.2],
        "alpha_grid": [0.1, 0.5, 1.0], "boundary_alphas": [0.0, 1.0],
    },
    "quick": {
        "seeds": [0, 1, 2], "alpha": 1.0, "n_train": 300, "n_test": 300, "noise": 0.1, "hidden": 100,
        "steps": 300, "record_every": 15, "mc_samples": 20_000, "n_check": 40, "n_quad": 32,
        "quadrature_nodes": [32, 256, 1024], "fig2_alphas": [0.2],
        "alpha_grid": [0.05, 0.1, 0.2, 0.5, 1.0, 2.0], "boundary_alphas": [0.0, 0.2, 0.5, 1.0, 2.0, 4.0],
    },
    # full: the paper's two-moons protocol below runs in minutes on a CPU, so full is the same.
    "full": {
        "seeds": [0, 1, 2, 3, 4], "alpha": 1.0, "n_train": 1000, "n_test": 1000, "noise": 0.1, "hidden": 100,
        "steps": 2000, "record_every": 50, "mc_samples": 100_000, "n_check": 60, "n_quad": 48,
        "quadrature_nodes": [32, 256, 1024], "fig2_alphas": [0.2, 0.5],
        "alpha_grid": [0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0], "boundary_alphas": [0.0, 0.2, 0.5, 1.0, 2.0, 4.0],
    },
    "paper": {
        "seeds": [0, 1, 2, 3, 4], "alpha": 1.0, "n_train": 1000, "n_test": 1000, "noise": 0.1, "hidden": 100,
        "steps": 2000, "record_every": 50, "mc_samples": 100_000, "n_check": 60, "n_quad": 48,
        "quadrature_nodes": [32, 256, 1024], "fig2_alphas": [0.2, 0.5],
        "alpha_grid": [0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0], "boundary_alphas": [0.0, 0.2, 0.5, 1.0, 2.0, 4.0],
    },
}

profiles.RULES["approximation"] = profiles.SettingsRules(
    checks={
        "seeds": profiles.seeds, "alpha": profiles.positive_number, "n_train": profiles.positive_int,
        "n_test": profiles.positive_int, "noise": profiles.nonnegative_number, "hidden": profiles.positive_int,
        "steps": profiles.positive_int, "record_every": profiles.positive_int, "mc_samples": profiles.positive_int,
        "n_check": profiles.positive_int, "n_quad": profiles.positive_int,
        "quadrature_nodes": profiles.int_list(increasing=True),
        "fig2_alphas": profiles.number_list(minimum=0, inclusive=False),
        "alpha_grid": profiles.number_list(minimum=0, inclusive=False, min_length=2),
        "boundary_alphas": profiles.number_list(minimum=0),
    },
    relations=(profiles.at_most("n_check", "n_train"), profiles.at_most("record_every", "steps")),
    datasets=lambda settings: ("two_moons",),
)


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
# Models and data (float64, explicit seeds; global torch state restored)


@contextlib.contextmanager
def _seeded_float64(seed: int) -> Iterator[None]:
    """Build modules from ``seed`` in float64, then restore the global RNG and the default dtype.

    Parameter initialization draws from torch's global generator in the default dtype, so both are set here
    (a float32 draw cast to float64 would be another initialization) and put back on exit.
    """
    before = torch.get_default_dtype()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_default_dtype(torch.float64)
        try:
            yield
        finally:
            torch.set_default_dtype(before)


def build_model(kind: str, settings: Mapping[str, Any], seed: int, device: torch.device, **extra: Any) -> nn.Module:
    """A fresh float64 model of ``kind`` (:data:`MODEL_KINDS` or :data:`TANH`): the same one for the same seed.

    Both objectives of Fig. 2 start from it. The tanh net (Linear–tanh–Linear, one logit) is smooth with
    ∇²f ≠ 0: claim 2's model with R3 ≠ 0 inside Lemma 3.1's assumptions.
    """
    hidden = settings["hidden"]
    with _seeded_float64(seed):
        if kind == TANH:
            return nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, 1), nn.Flatten(0)).to(device)
        name, takes_hidden = MODEL_KINDS[kind]
        kwargs = {"hidden": hidden} if takes_hidden else {}
        return models.build(name, 2, 2, binary=True, **kwargs, **extra).to(device)


def _load(settings: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    """Two moons in float64 on ``device``: inputs, labels and one-hot targets of train and test."""
    moons = load_dataset("two_moons", n_train=settings["n_train"], n_test=settings["n_test"],
                         noise=settings["noise"], seed=settings["seeds"][0])
    data = {"source": moons.source}
    for split in ("train", "test"):
        x, y = getattr(moons, f"x_{split}").double().to(device), getattr(moons, f"y_{split}").to(device)
        data[split] = (x, y, one_hot(y, 2).double())
    return data


# ----------------------------------------------------------------------------------------------------------
# The numbers of each section


def rewrite_rows(settings: Mapping[str, Any], data: Mapping[str, Any], device: torch.device) -> list[dict]:
    """Claim 1: relative difference of Eq. (1) and Lemma 3.1's rewrite per model, (α, β) and quadrature rule."""
    x, _, t = data["train"]
    x, t = x[: settings["n_check"]], t[: settings["n_check"]]
    rows = []
    for kind in MODEL_KINDS:
        model = build_model(kind, settings, settings["seeds"][0], device)
        for a, b in REWRITE_SHAPES:
            row: dict[str, Any] = {"model": kind, "alpha": a, "beta": b}
            for nodes in settings["quadrature_nodes"]:
                with torch.no_grad():
                    pairwise = float(approx.pairwise_mixup_loss(model, x, t, a, b, n_quad=nodes))
                    rewritten = float(approx.rewritten_mixup_loss(model, x, t, a, b, n_quad=nodes))
                row[f"{nodes} nodes"] = abs(pairwise - rewritten) / abs(pairwise)
            row["L_mix"] = pairwise
            rows.append(row)
    return rows


def _own_loss(objective: str, alpha: float, settings: Mapping[str, Any], data: Mapping[str, Any]):
    """Fig. 2's record: each model's own objective on train and test (L_mix by Monte Carlo, or L̃_mix of Eq. 3)."""
    generator = torch.Generator().manual_seed(OWN_LOSS_SEED)
    (x_train, _, t_train), (x_test, _, t_test) = data["train"], data["test"]

    def record(model: nn.Module) -> dict[str, float]:
        if objective == "mixup":
            return {split: approx.monte_carlo_mixup_loss(model, x, t, alpha, n_samples=settings["mc_samples"],
                                                         generator=generator)[0]
                    for split, x, t in (("train", x_train, t_train), ("test", x_test, t_test))}
        with torch.no_grad():
            terms = approx.approx_terms(model, x_train, t_train, alpha)
            test = approx.approx_mixup_loss(model, x_test, t_test, alpha)
        return {"train": float(sum(terms.values())), "test": float(test),
                **{name: float(value) for name, value in terms.items()}}

    return record


def common_measures(model: nn.Module, alpha: float, settings: Mapping[str, Any], data: Mapping[str, Any]
                    ) -> dict[str, float]:
    """Claim 3's common yardstick for one model (:data:`COMMON_MEASURES`): the same numbers whatever it trained on.

    The exact L_mix (Eq. 1 through Lemma 3.1's rewrite, quadrature with ``n_quad`` nodes, all pairs of the first
    ``n_check`` points), L̃_mix (Eq. 3) and L_std, on train and on test, and the test accuracy.
    """
    out: dict[str, float] = {}
    with torch.no_grad():
        for split in ("train", "test"):
            x, y, t = data[split]
            head_x, head_t = x[: settings["n_check"]], t[: settings["n_check"]]
            out[f"exact_L_mix_{split}"] = float(approx.rewritten_mixup_loss(model, head_x, head_t, alpha,
                                                                            n_quad=settings["n_quad"]))
            out[f"approx_L_mix_{split}"] = float(approx.approx_mixup_loss(model, x, t, alpha))
            out[f"L_std_{split}"] = float(cross_entropy(model(x), y))
    out["test_accuracy"] = fullbatch.accuracy(model, data["test"][0], data["test"][1])
    return out


def _record(objective: str, alpha: float, settings: Mapping[str, Any], data: Mapping[str, Any]):
    """The record of a Fig. 2 run: its own objective (:func:`_own_loss`) and the common yardstick."""
    own = _own_loss(objective, alpha, settings, data)
    return lambda model: {**own(model), **common_measures(model, alpha, settings, data)}


def fig2_alphas(settings: Mapping[str, Any]) -> list[float]:
    """The α of Fig. 2's rows: the profile's ``fig2_alphas`` and its ``alpha``, ascending."""
    return sorted({*settings["fig2_alphas"], settings["alpha"]})


def train_fig2(settings: Mapping[str, Any], data: Mapping[str, Any], device: torch.device
               ) -> tuple[list[dict], dict[tuple, nn.Module]]:
    """Fig. 2: per model kind, α and seed, one model trained on L_mix and one on L̃_mix from the same init.

    Returns the runs (``model``, ``alpha``, ``objective``, ``seed``, ``rows`` of
    :func:`mixup_lib.fullbatch.train_full_batch`) and the trained models by (kind, α, objective, seed).
    """
    x, y, _ = data["train"]
    runs, trained = [], {}
    for kind in MODEL_KINDS:
        for alpha in fig2_alphas(settings):
            for seed in settings["seeds"]:
                for objective in OBJECTIVES:
                    model = build_model(kind, settings, seed, device)
                    rows = fullbatch.train_full_batch(
                        model, x, y, objective=objective, alpha=alpha, steps=settings["steps"], seed=seed,
                        record_every=settings["record_every"], record=_record(objective, alpha, settings, data))
                    runs.append({"model": kind, "alpha": alpha, "objective": objective, "seed": seed, "rows": rows})
                    trained[kind, alpha, objective, seed] = model
    return runs, trained


def final_losses(runs: Sequence[dict], settings: Mapping[str, Any]) -> list[dict]:
    """Claim 3: per kind and α, the seed-mean final training loss of each model under its own objective."""
    out = []
    for kind in MODEL_KINDS:
        for alpha in fig2_alphas(settings):
            means = {o: float(np.mean([r["rows"][-1]["train"] for r in runs
                                       if (r["model"], r["alpha"], r["objective"]) == (kind, alpha, o)]))
                     for o in OBJECTIVES}
            out.append({"model": kind, "alpha": alpha, "L_mix": means["mixup"], "approx L_mix": means["approx"],
                        "relative_difference": abs(means["mixup"] - means["approx"]) / means["mixup"]})
    return out


def common_curves(runs: Sequence[dict], settings: Mapping[str, Any]) -> list[dict]:
    """Claim 3: per kind and α, the seed-mean curve of each common measure for each trajectory.

    Rows: ``model``, ``alpha``, ``steps`` and, per objective (``mixup``, ``approx``: what the model trained on),
    ``{measure: [mean over seeds at each step]}`` for every measure of :data:`COMMON_MEASURES`.
    """
    out = []
    for kind in MODEL_KINDS:
        for alpha in fig2_alphas(settings):
            row: dict[str, Any] = {"model": kind, "alpha": alpha}
            for objective in OBJECTIVES:
                here = [r["rows"] for r in runs if (r["model"], r["alpha"], r["objective"]) == (kind, alpha, objective)]
                row["steps"] = [step["step"] for step in here[0]]
                row[objective] = {m: np.mean([[step[m] for step in rows] for rows in here], axis=0).tolist()
                                  for m in COMMON_MEASURES}
            out.append(row)
    return out


def claim2_records(settings: Mapping[str, Any], data: Mapping[str, Any], trained: Mapping[tuple, nn.Module],
                   device: torch.device) -> list[dict]:
    """Claim 2's evidence (:func:`claim2_evidence`): each model kind and the tanh net, at init and after training."""
    x, y, t = data["train"]
    seed, alpha, steps = settings["seeds"][0], settings["alpha"], settings["steps"]
    tanh = build_model(TANH, settings, seed, device)
    tanh_init = build_model(TANH, settings, seed, device)
    fullbatch.train_full_batch(tanh, x, y, objective="mixup", alpha=alpha, steps=steps, seed=seed, record_every=steps)
    checkpoints: dict[str, dict[int, nn.Module]] = {
        kind: {0: build_model(kind, settings, seed, device), steps: trained[kind, alpha, "mixup", seed]}
        for kind in MODEL_KINDS}
    checkpoints[TANH] = {0: tanh_init, steps: tanh}
    n = settings["n_check"]
    return claim2_evidence(checkpoints, x[:n], t[:n], alpha, n_quad=settings["n_quad"])


def bias_free_check(settings: Mapping[str, Any], data: Mapping[str, Any], device: torch.device) -> dict[str, float]:
    """Claim 4: |R3| and max |f(x) − ∇f(x)ᵀx| of a fresh bias-free two-layer ReLU net on the training set."""
    x, _, t = data["train"]
    model = build_model(RELU, settings, settings["seeds"][0], device, bias=False)
    with torch.no_grad():
        r3 = abs(float(approx.approx_terms(model, x, t, settings["alpha"])["R3"]))
    return {"R3": r3, "homogeneity_error": approx.homogeneity_error(model, x)}


def boundaries(settings: Mapping[str, Any], data: Mapping[str, Any], device: torch.device) -> list[dict]:
    """Two-layer ReLU nets trained at each ``boundary_alphas`` (0: ERM), first seed: test accuracy and the grid."""
    (x, y, _), (x_test, y_test, _) = data["train"], data["test"]
    seed, steps, out = settings["seeds"][0], settings["steps"], []
    for alpha in settings["boundary_alphas"]:
        model = build_model(RELU, settings, seed, device)
        fullbatch.train_full_batch(model, x, y, objective="mixup" if alpha > 0 else "erm", alpha=alpha, steps=steps,
                                   seed=seed, record_every=steps)
        grid = fullbatch.probability_grid(model, x, BOUNDARY_RESOLUTION)
        grid["prob"] = [[round(p, BOUNDARY_DIGITS) for p in row] for row in grid["prob"]]
        out.append({"alpha": alpha, "test_accuracy": fullbatch.accuracy(model, x_test, y_test), "grid": grid})
    return out


# ----------------------------------------------------------------------------------------------------------
# The chapter's pattern (DESIGN.md): configs → compute → verdicts


def configs(settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """No trainer configs: the chapter's two-moons models train in-process in seconds."""
    return []


def compute(settings: Mapping[str, Any], *, runs_dir: Any = None, device: str = "auto", workers: int | None = None
            ) -> dict[str, Any]:
    """Every number of the page (plain JSON): claims 1–4, Fig. 2, the R-terms along training, the boundaries.

    Keys: ``rewrite`` (claim 1 rows), ``fig2`` (runs: per kind, α, objective and seed, the recorded rows: own
    objective and common yardstick), ``fig2_final`` (final losses under each model's own objective), ``common``
    (claim 3: seed-mean curves of the common yardstick, :func:`common_curves`), ``claim2`` (records of
    :func:`claim2_evidence`), ``bias_free`` (claim 4), ``boundaries`` (per α: test accuracy and probability grid),
    ``data`` (the training points the boundary panels show) and ``provenance``.
    """
    dispatch.train_pending(configs(settings), workers=workers, need_weights=False, runs_dir=runs_dir)
    run_device = resolve_device(device)
    with dispatch.one_torch_thread():
        data = _load(settings, run_device)
        runs, trained = train_fig2(settings, data, run_device)
        x, y, _ = data["train"]
        results = {
            "rewrite": rewrite_rows(settings, data, run_device),
            "fig2": runs,
            "fig2_final": final_losses(runs, settings),
            "common": common_curves(runs, settings),
            "claim2": claim2_records(settings, data, trained, run_device),
            "bias_free": bias_free_check(settings, data, run_device),
            "boundaries": boundaries(settings, data, run_device),
            "data": {"x_train": x.cpu().tolist(), "y_train": y.cpu().tolist()},
        }
        description = device_description(run_device)
    results["provenance"] = {
        "device": description, "dataset requested": "two_moons", "dataset used": "two_moons",
        "data source": data["source"], "fallback reason": None,
        "models": f"logistic regression; two-layer ReLU (hidden {settings['hidden']}, biases); tanh net (claim 2)",
        "seeds": list(settings["seeds"]),
    }
    return results


def _claim1(results: Mapping[str, Any]) -> claims.Claim:
    rows = results["rewrite"]
    finest = [key for key in rows[0] if key.endswith(" nodes")][-1]
    largest = max(row[finest] for row in rows)
    models_here = len({row["model"] for row in rows})
    shapes = len({(row["alpha"], row["beta"]) for row in rows})
    return claims.Claim(1, "The pairwise mixup loss equals Lemma 3.1's rewrite with D̃λ.",
                        f"largest relative difference {largest:.1e} over {models_here} models × {shapes} (α, β) at "
                        f"{finest} (threshold {REWRITE_TOLERANCE:.0e})",
                        claims.verdict(largest < REWRITE_TOLERANCE))


def _claim2(results: Mapping[str, Any]) -> list[claims.Claim]:
    smooth = [r for r in results["claim2"] if r["model"] != RELU]
    relu = [r for r in results["claim2"] if r["model"] == RELU]
    out = []
    if smooth:
        verdict, reason = claim2_verdict(smooth)
        out.append(claims.Claim(2, "Eq. (3) is a genuine second-order expansion (fixed-λ slopes 1, 2, 3; more accurate "
                                   "than every lower truncation): smooth models (logistic regression, tanh net).",
                                reason, verdict))
    if relu:
        verdict, reason = claim2_verdict(relu)
        out.append(claims.Claim(2, "The same for the paper's two-layer ReLU net (not twice differentiable: outside "
                                   "Lemma 3.1's assumptions).", reason, verdict))
    return out


def claim3_gaps(row: Mapping[str, Any]) -> dict[str, float]:
    """For one :func:`common_curves` row: the largest relative gap over steps of each loss of :data:`CLAIM3_LOSSES`
    (|approx − mixup| / mixup, seed means) and the absolute gap of the final test accuracy."""
    gaps = {measure: max(abs(a - m) / abs(m) for m, a in zip(row["mixup"][measure], row["approx"][measure],
                                                                 strict=True))
            for measure in CLAIM3_LOSSES}
    gaps[CLAIM3_ACCURACY] = abs(row["approx"][CLAIM3_ACCURACY][-1] - row["mixup"][CLAIM3_ACCURACY][-1])
    return gaps


def claim3_verdict(rows: Sequence[Mapping[str, Any]]) -> str:
    """Claim 3's verdict at one α from its :func:`common_curves` rows (one per model kind): the module docstring."""
    gaps = [claim3_gaps(row) for row in rows]
    loss = max(gap[m] for gap in gaps for m in CLAIM3_LOSSES)
    accuracy = max(gap[CLAIM3_ACCURACY] for gap in gaps)
    if loss >= CLAIM3_LOSS_REFUTED_FROM or accuracy >= CLAIM3_ACCURACY_REFUTED_FROM:
        return NOT_SUPPORTED
    if loss < CLAIM3_LOSS_SUPPORTED_BELOW and accuracy < CLAIM3_ACCURACY_SUPPORTED_BELOW:
        return SUPPORTED
    return INCONCLUSIVE


_MEASURE_NAMES = {"exact_L_mix_train": "exact L_mix (train)", "L_std_test": "L_std (test)"}


def _claim3(results: Mapping[str, Any]) -> list[claims.Claim]:
    out = []
    for alpha in dict.fromkeys(row["alpha"] for row in results["common"]):
        rows = [row for row in results["common"] if row["alpha"] == alpha]
        own = {row["model"]: row["relative_difference"] for row in results.get("fig2_final", [])
               if row["alpha"] == alpha}
        parts = []
        for row in rows:
            gaps = claim3_gaps(row)
            parts.append(f"{row['model']}: " + ", ".join(f"{_MEASURE_NAMES.get(m, m)} {gaps[m]:.1%}"
                                                         for m in CLAIM3_LOSSES)
                         + f", final test accuracy {gaps[CLAIM3_ACCURACY]:.3f}")
        evidence = (
            "both trajectories under the same yardsticks; largest relative gap over the recorded steps — "
            + "; ".join(parts)
            + f" (supported: losses below {CLAIM3_LOSS_SUPPORTED_BELOW:.0%} and accuracy below "
              f"{CLAIM3_ACCURACY_SUPPORTED_BELOW:g}; not supported: a loss from {CLAIM3_LOSS_REFUTED_FROM:.0%} or "
              f"accuracy from {CLAIM3_ACCURACY_REFUTED_FROM:g})"
        )
        if own:
            evidence += ". Each under its own objective (not used for the verdict), final training losses differ by " \
                + ", ".join(f"{model} {value:.1%}" for model, value in own.items())
        out.append(claims.Claim(
            3, f"Training on L̃_mix gives nearly the same loss curves as training on L_mix (Fig. 2), α = {alpha}; "
               "judged under the common yardstick (exact L_mix, test L_std and test accuracy of both models).",
            evidence, claim3_verdict(rows)))
    return out


def _claim4(results: Mapping[str, Any]) -> claims.Claim:
    r3, error = results["bias_free"]["R3"], results["bias_free"]["homogeneity_error"]
    return claims.Claim(4, "R3 = 0 and f(x) = ∇f(x)ᵀx for bias-free ReLU networks.",
                        f"|R3| = {r3:.1e}, max |f − ∇fᵀx| = {error:.1e} (threshold {BIAS_FREE_TOLERANCE:.0e})",
                        claims.verdict(r3 < BIAS_FREE_TOLERANCE and error < BIAS_FREE_TOLERANCE))


def verdicts(results: Mapping[str, Any]) -> list[claims.Claim]:
    """Claims 1–4 from the results object alone (rules and thresholds: the module docstring)."""
    require(all(key in results for key in ("rewrite", "claim2", "common", "bias_free")),
            "results lack rewrite, claim2, common or bias_free: not the approximation chapter's results")
    return [_claim1(results), *_claim2(results), *_claim3(results), _claim4(results)]
