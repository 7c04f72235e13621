"""Claim 2 with power: Eq. (3) as a genuine second-order expansion of the pulled loss (Lemma 3.1).

At a fixed λ = 1 − a the pulled loss g(a) = (1/n) Σ_i E_r l(θ, ((1−a)x_i + a r, y_i)) is compared with its Taylor
truncations T_0, T_1, T_2 at a = 0 (mixup_lib.approx.fixed_lambda_errors); along training each truncation of
Eq. (3) is compared with the exact L_mix (mixup_lib.approx.truncation_errors), and
mixup_lib.chapters.approximation.claim2_verdict judges both. Two moons (100 points), float64, models trained
with the full-batch mixup trainer (α = 1) and at initialization.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from sklearn.datasets import make_moons
from torch import nn

from mixup_lib import approx, fullbatch
from mixup_lib.chapters import approximation as chapter
from mixup_lib.claims import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from mixup_lib.errors import ConfigError
from mixup_lib.models import build

DT = torch.float64
A = np.array(chapter.ONE_MINUS_LAMS)


@pytest.fixture(scope="module")
def moons():
    features, labels = make_moons(100, noise=0.1, random_state=0)
    x, y = torch.tensor(features, dtype=DT), torch.tensor(labels)
    return x, y, nn.functional.one_hot(y, 2).to(DT)


def _fresh(name: str) -> nn.Module:
    torch.manual_seed(0)
    if name == "tanh":  # smooth, ∇²f ≠ 0: R3 ≠ 0
        return nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1), nn.Flatten(0)).to(DT)
    if name == "relu":  # bias-free: R3 = 0, but kinks (hyperplanes through 0)
        return build("two-layer-relu", 2, 2, binary=True, hidden=16, bias=False).to(DT)
    return build("logreg", 2, 2, binary=True).to(DT)


@pytest.fixture(scope="module")
def checkpoints(moons):
    """{name: {0: model at init, 100: model after 100 full-batch mixup steps at α = 1}}."""
    x, y, _ = moons
    out = {}
    for name in ("logreg", "tanh", "relu"):
        model = _fresh(name)
        saved = {0: copy.deepcopy(model)}
        fullbatch.train_full_batch(model, x, y, objective="mixup", alpha=1.0, steps=100, seed=0, record_every=100)
        saved[100] = model
        out[name] = saved
    return out


# --------------------------------------------------------------------------------------------------------
# (a) fixed λ: errors of T_0, T_1, T_2 shrink like a, a², a³ for smooth models


@pytest.mark.parametrize("step", [0, 100])
@pytest.mark.parametrize("name", ["logreg", "tanh"])
def test_truncation_errors_shrink_like_a_a2_a3_for_smooth_models(moons, checkpoints, name, step):
    x, _, t = moons
    result = approx.fixed_lambda_errors(checkpoints[name][step], x, t, A)
    slopes = approx.truncation_slopes(result, chapter.FIT_DECADES)
    assert slopes == pytest.approx([1.0, 2.0, 3.0], abs=0.1), slopes
    errors = np.array(result["errors"])
    assert (errors[2] < errors[1]).all() and (errors[1] < errors[0]).all()
    resolved = errors[2] > result["noise_floor"]
    assert resolved[A >= 1e-3].all() and resolved.sum() >= 9, errors[2]  # the fit rests on ≥ 9 of 13 points
    if name == "tanh":
        assert abs(result["coefficients"]["R3"]) > 1e-3  # R3 ≠ 0 matters for this model's expansion


def test_taylor_coefficients_match_finite_differences_of_the_pulled_loss(moons, checkpoints):
    x, _, t = moons
    model = checkpoints["tanh"][100]
    coef = approx.taylor_coefficients(model, x, t)
    h = 1e-3
    with torch.no_grad():
        g = [float(approx.pulled_loss(model, x, t, 1 - a)) for a in (0.0, h, 2 * h)]  # λ ≤ 1: one-sided
    first = (-3 * g[0] + 4 * g[1] - g[2]) / (2 * h)  # O(h²)
    second = (g[0] - 2 * g[1] + g[2]) / h**2  # O(h)
    assert coef["L_std"] == pytest.approx(g[0], abs=1e-14)
    assert coef["R1"] == pytest.approx(first, abs=1e-5)
    assert coef["R2"] + coef["R3"] == pytest.approx(second / 2, rel=1e-2)
    assert approx.taylor_truncations(coef, np.array([0.0]))[:, 0] == pytest.approx([g[0]] * 3)


def test_relu_net_fails_the_a3_law_only_through_segments_that_cross_a_kink(moons, checkpoints):
    # A ReLU net is linear between kinks: for the pairs (i, j) whose segment x_i + a(x_j − x_i), a ≤ 0.02,
    # stays in one linear region the remainder of T_2 is exactly third order; the pairs that cross a kink add an
    # error of order a² (a fraction ∝ a of pairs, each off by ∝ a), which spoils the slope of the total.
    x, y, t = moons
    model = checkpoints["relu"][100]
    w1, w2 = model.fc1.weight.detach(), model.fc2.weight.detach()
    n = len(x)
    with torch.no_grad():
        f = model(x)
        pattern = x @ w1.T > 0
        grad = (w2 * pattern) @ w1  # ∇f(x_i), (n, d)
        diff = x[None, :, :] - x[:, None, :]  # x_j − x_i
        slope = torch.einsum("id,ijd->ij", grad, diff)
        p, yf = torch.sigmoid(f), y.to(DT)
        l0 = nn.functional.softplus(f) - yf * f
        c1, c2 = ((p - yf)[:, None] * slope), (p * (1 - p))[:, None] * slope**2 / 2
        far = x[:, None, :] + A.max() * diff
        stays = ((far @ w1.T > 0) == pattern[:, None, :]).all(dim=-1)  # no kink crossed for any a ≤ 0.02
        remainders = []
        for a in A:
            z = model((x[:, None, :] + a * diff).reshape(n * n, 2)).reshape(n, n)
            loss = nn.functional.softplus(z) - yf[:, None] * z
            remainders.append(loss - (l0[:, None] + a * c1 + a**2 * c2))
        remainders = torch.stack(remainders)  # (len(A), n, n)
    coef = approx.taylor_coefficients(model, x, t)
    assert coef["R1"] == pytest.approx(float(c1.mean()), rel=1e-10)  # the library's terms are the pair means
    assert coef["R2"] == pytest.approx(float(c2.mean()), rel=1e-10) and coef["R3"] == 0.0
    result = approx.fixed_lambda_errors(model, x, t, A)
    total = remainders.mean(dim=(1, 2)).abs().numpy()
    assert total == pytest.approx(np.array(result["errors"][2]), rel=1e-6, abs=1e-15)
    smooth = (remainders * stays).mean(dim=(1, 2)).abs().numpy()
    crossing = (remainders * ~stays).mean(dim=(1, 2)).abs().numpy()
    assert 0 < float((~stays).double().mean()) < 0.2  # some segments cross a kink, most do not
    assert approx.loglog_slope(A, smooth, result["noise_floor"]) == pytest.approx(3.0, abs=0.05)
    total_slope = approx.truncation_slopes(result, chapter.FIT_DECADES)[2]
    assert abs(total_slope - 3) > chapter.SLOPE_TOLERANCE, total_slope
    assert crossing[-1] > smooth[-1]  # at a = 0.02 the kinks dominate the remainder


# --------------------------------------------------------------------------------------------------------
# (b) the verdict on correct terms, (c) its power against wrong R2 and R3


@pytest.fixture(scope="module")
def smooth_checkpoints(checkpoints):
    return {name: checkpoints[name] for name in ("logreg", "tanh")}


def test_verdict_is_supported_for_smooth_models_and_not_for_the_relu_net(moons, checkpoints, smooth_checkpoints):
    x, _, t = moons
    evidence = chapter.claim2_evidence(smooth_checkpoints, x, t, 1.0, n_quad=16)
    verdict, reason = chapter.claim2_verdict(evidence)
    assert verdict == SUPPORTED, reason
    assert "tanh: R1, R2, R3" in reason and "logreg: R1, R2" in reason
    for record in evidence:
        errors = list(record["truncation_errors"]["errors"].values())
        assert errors[3] <= errors[2] < errors[1] < errors[0]  # every added term helps (R3 = 0: tie for logreg)
        assert record["truncation_errors"]["uncertainty"] < 1e-10
    relu = chapter.claim2_evidence({"relu": checkpoints["relu"]}, x, t, 1.0, n_quad=16)
    verdict, reason = chapter.claim2_verdict(relu)
    assert verdict == NOT_SUPPORTED and "order-2 truncation error slope" in reason


def _mutated(key: str, factor: float):
    original = approx.expansion_terms

    def expansion_terms(*args, **kwargs):
        terms = original(*args, **kwargs)
        return {**terms, key: terms[key] * factor}

    return expansion_terms


@pytest.mark.parametrize(("key", "factor"), [("R2", 0.0), ("R3", 0.0), ("R2", 1.05), ("R3", 1.05)])
def test_verdict_has_power_against_a_dropped_or_5_percent_wrong_term(
    moons, smooth_checkpoints, monkeypatch, key, factor
):
    x, _, t = moons
    monkeypatch.setattr(approx, "expansion_terms", _mutated(key, factor))
    models = {"tanh": smooth_checkpoints["tanh"]}  # R3 ≠ 0 here, so every mutation changes T_2 and Eq. (3)
    evidence = chapter.claim2_evidence(models, x, t, 1.0, n_quad=16)
    verdict, reason = chapter.claim2_verdict(evidence)
    assert verdict != SUPPORTED, reason
    # measured T_2 slopes with the mutation: 1.92–2.19 at every checkpoint (3.00 with correct terms)
    assert all(abs(record["slopes"][2] - 2) < 0.3 for record in evidence), [r["slopes"] for r in evidence]


# --------------------------------------------------------------------------------------------------------
# (d) every branch of claim2_verdict on hand-made evidence


def _record(slopes=(1.0, 2.0, 3.0), errors=(0.1, 0.05, 0.01, 0.005), uncertainty=1e-12, model="m", step=0):
    return {
        "model": model,
        "step": step,
        "slopes": list(slopes),
        "truncation_errors": {
            "L_mix": 0.5,
            "uncertainty": uncertainty,
            "errors": dict(zip(approx.TRUNCATIONS, errors, strict=True)),
        },
    }


def test_verdict_branches_on_hand_made_evidence():
    ok, tie = _record(), _record(errors=(0.1, 0.05, 0.01, 0.01), model="linear")
    verdict, reason = chapter.claim2_verdict([ok, tie, _record(slopes=(1.25, 1.8, 3.29), step=5)])
    assert verdict == SUPPORTED and "3.00–3.29" in reason and "2.0%" in reason
    assert "m: R1, R2, R3" in reason and "linear: R1, R2" in reason  # R3 cuts 50% for m, 0% for linear
    assert chapter.claim2_verdict([_record(slopes=(1.0, 2.0, 3.31))])[0] == NOT_SUPPORTED
    assert chapter.claim2_verdict([_record(slopes=(1.0, 2.0, 2.0))])[0] == NOT_SUPPORTED
    verdict, reason = chapter.claim2_verdict([ok, _record(errors=(0.1, 0.05, 0.01, 0.011), step=7)])
    assert verdict == NOT_SUPPORTED and reason == "m step 7: Eq. (3) error 1.10e-02 > L_std + R1 + R2 error 1.00e-02"
    # within the uncertainty of L_mix Eq. (3) is not worse
    assert chapter.claim2_verdict([_record(errors=(0.1, 0.05, 0.01, 0.011), uncertainty=2e-3)])[0] == SUPPORTED
    # undetermined slopes, errors at noise, unseparated orders: inconclusive, unless something refutes
    for bad in (
        _record(slopes=(1.0, 2.0, float("nan"))),
        _record(slopes=(1.0, 2.0, None)),
        _record(errors=(1e-15, 1e-15, 1e-16, 1e-16)),
        _record(slopes=(1.6, 2.0, 3.0)),
        _record(slopes=(1.0, 2.4, 3.0)),
    ):
        assert chapter.claim2_verdict([ok, bad])[0] == INCONCLUSIVE, bad
        assert chapter.claim2_verdict([bad, _record(slopes=(1.0, 2.0, 2.5))])[0] == NOT_SUPPORTED
    verdict, reason = chapter.claim2_verdict([_record(slopes=(1, 2, 1), step=s) for s in range(5)])
    assert verdict == NOT_SUPPORTED and reason.endswith("(+2 more)") and reason.count(";") == 2
    assert chapter.claim2_verdict([_record(step=None, slopes=(1, 2, 1))])[1].startswith("m: order-2")
    with pytest.raises(ConfigError, match="evidence is empty"):
        chapter.claim2_verdict([])


# --------------------------------------------------------------------------------------------------------
# Slope helper and input checks


def test_loglog_slope_recovers_powers_and_leaves_out_noise():
    a = np.logspace(-4, -1, 10)
    assert approx.loglog_slope(a, 3.0 * a**3) == pytest.approx(3.0, abs=1e-12)
    noisy = np.where(a < 1e-3, 1e-16, 2.0 * a**2)  # a flat rounding floor at the small end
    assert approx.loglog_slope(a, noisy) > 4  # the floor, fitted, fakes a steep slope
    assert approx.loglog_slope(a, noisy, noise_floor=1e-14) == pytest.approx(2.0, abs=1e-12)
    bent = 2.0 * a**2 * (1 + 30 * a)  # a higher-order term bends the top of the range
    assert approx.loglog_slope(a, bent) > 2.1
    assert approx.loglog_slope(a, bent, decades=1.0) == pytest.approx(2.0, abs=0.03)
    assert approx.loglog_slope(a, noisy, noise_floor=1e-14, decades=1.0) == pytest.approx(2.0, abs=1e-12)
    assert math.isnan(approx.loglog_slope(a, np.full(10, 1e-17), noise_floor=1e-14))
    assert math.isnan(approx.loglog_slope(a[:2], a[:2]))
    with pytest.raises(ConfigError, match="errors of shape"):
        approx.loglog_slope(a, a[:3])
    with pytest.raises(ConfigError, match="decades"):
        approx.loglog_slope(a, a, decades=0)


def test_bad_inputs_raise_one_line_errors(moons, checkpoints):
    x, _, t = moons
    model = checkpoints["logreg"][0]
    with pytest.raises(ConfigError, match="use float64"):
        approx.fixed_lambda_errors(model.float(), x.float(), t.float(), A)
    model.double()
    for bad in ([], [0.0, 0.01], [0.5, 1.5]):
        with pytest.raises(ConfigError, match="one_minus_lams"):
            approx.fixed_lambda_errors(model, x, t, bad)
    with pytest.raises(ConfigError, match="use float64"):
        approx.truncation_errors(model, x.float(), t, 1.0)
    with pytest.raises(ConfigError, match="weights"):
        approx.expansion_terms(model, x, t, (1.0, float("nan")))
    with pytest.raises(ConfigError, match=r"models_by_name\['m'\]"):
        chapter.claim2_evidence({"m": [model]}, x, t, 1.0)
