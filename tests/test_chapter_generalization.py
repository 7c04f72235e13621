"""The generalization chapter (mixup_lib.chapters.generalization): settings rules, gaps from metrics, the summary
with a missing data set, claim 8's verdict and G1–G4 on hand-made results objects (every branch), the sweeps, a
smoke compute whose JSON round trip gives the same verdicts, the data-adaptive penalty against brute force, and
the effective rank."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest
import torch

from mixup_lib import approx, claims, models, profiles, runs, train
from mixup_lib.chapters import generalization
from mixup_lib.errors import ConfigError

matplotlib.use("Agg")

# A hand-made metrics record of three epochs (rows deliberately out of order).
RECORD = [
    {"epoch": 2, "train_loss": 0.5, "train_acc": 0.9, "test_loss": 0.8, "test_acc": 0.75, "penalty": 2.0},
    {"epoch": 1, "train_loss": 1.0, "train_acc": 0.6, "test_loss": 1.1, "test_acc": 0.55, "penalty": 1.0},
    {"epoch": 3, "train_loss": 0.25, "train_acc": 1.0, "test_loss": 0.75, "test_acc": 0.8, "penalty": 4.0},
]


def _curves(loss_gaps, error_gaps):
    """A stack_curves-like record with given (seeds, epochs) gaps."""
    loss_gaps, error_gaps = np.asarray(loss_gaps, float), np.asarray(error_gaps, float)
    return {"epoch": np.arange(1, loss_gaps.shape[1] + 1), "loss_gap": loss_gaps, "error_gap": error_gaps}


# -- settings rules (checked at resolve time) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        ({"alpha_grid": [1.0, -0.5]}, r"^alpha_grid=\[1.0, -0.5\] is not allowed: .*numbers > 0$"),
        ({"n_grid": [500]}, r"^n_grid=\[500\] is not allowed: give a list of at least 2 integers >= 1"),
        ({"n_grid": [500, 250]}, r"^n_grid=\[500, 250\] is not allowed: .*strictly increasing$"),
        ({"n_grid": [1000, 70000]}, r"^n_grid=\[1000, 70000\] is not allowed: Fashion-MNIST has 60000"),
        ({"track_penalty": 300}, r"^track_penalty=300 is not allowed: it must be at most the smallest training subset"),
        ({"track_penalty": -1}, r"^track_penalty=-1 is not allowed: it must be an integer >= 0$"),
        ({"fallback": 1}, r"^parameter fallback=1|^fallback=1 is not allowed: it must be True or False$"),
        ({"sweep_seeds": []}, r"^sweep_seeds=\[\] is not allowed"),
        ({"width": 0}, r"^width=0 is not allowed"),
    ],
)
def test_resolve_checks_every_setting_before_anything_runs(overrides, pattern):
    with pytest.raises(ConfigError, match=pattern) as info:
        profiles.resolve("generalization", "quick", **overrides)
    assert "\n" not in str(info.value)


def test_every_setting_of_the_chapter_has_a_check_and_the_presets_pass():
    rules = profiles.rules("generalization")
    for profile in profiles.PROFILES:
        settings = profiles.resolve("generalization", profile)
        assert set(rules.checks) == set(profiles.PRESETS["generalization"][profile])
        assert profiles.requested_datasets("generalization", settings) == list(generalization.DATASETS)


# -- gaps -----------------------------------------------------------------------------------------------------


def test_gap_curves_of_a_hand_made_record():
    c = generalization.gap_curves(RECORD)
    np.testing.assert_array_equal(c["epoch"], [1, 2, 3])
    np.testing.assert_allclose(c["train_error"], [0.4, 0.1, 0.0], atol=1e-15)
    np.testing.assert_allclose(c["test_error"], [0.45, 0.25, 0.2], atol=1e-15)
    np.testing.assert_allclose(c["loss_gap"], [0.1, 0.3, 0.5], atol=1e-15)  # test − train
    np.testing.assert_allclose(c["error_gap"], [0.05, 0.15, 0.2], atol=1e-15)
    np.testing.assert_array_equal(c["penalty"], [1.0, 2.0, 4.0])
    assert "gradient_penalty" not in c  # only keys every row has
    assert "penalty" not in generalization.gap_curves([{k: v for k, v in r.items() if k != "penalty"} for r in RECORD])
    with pytest.raises(ConfigError, match="test_acc"):
        generalization.gap_curves([{"epoch": 1, "train_loss": 1, "train_acc": 0.5, "test_loss": 1}])
    with pytest.raises(ConfigError, match="empty"):
        generalization.gap_curves([])


def test_stack_curves_stacks_seeds_and_refuses_different_lengths():
    other = [{**r, "test_loss": r["test_loss"] + 1} for r in RECORD]
    s = generalization.stack_curves([RECORD, other])
    assert s["loss_gap"].shape == (2, 3)
    np.testing.assert_allclose(s["loss_gap"][1] - s["loss_gap"][0], [1, 1, 1])
    with pytest.raises(ConfigError, match="different epochs"):
        generalization.stack_curves([RECORD, RECORD[:2]])
    no_penalty = [{k: v for k, v in r.items() if k != "penalty"} for r in RECORD]
    assert "penalty" not in generalization.stack_curves([RECORD, no_penalty])


# -- the summary (Fig. 1b's role) --------------------------------------------------------------------------


def test_summary_keeps_a_missing_data_set_as_missing():
    fmnist = {"erm": _curves([[0.1, 0.9], [0.2, 1.1]], [[0, 0.2], [0, 0.3]]),
              "mixup": _curves([[0.1, 0.4], [0.1, 0.6]], [[0, 0.1], [0, 0.15]])}
    rows = generalization.summarize_final_gaps({"fashion_mnist": fmnist, "cifar100": None})
    assert len(rows) == 4 * 2 * 2  # every data set, method and quantity has a row
    assert [r["dataset"] for r in rows[::4]] == list(generalization.DATASETS)
    by = {(r["dataset"], r["method"], r["quantity"]): r for r in rows}
    erm_loss = by["fashion_mnist", "erm", "loss"]
    assert erm_loss["available"] and erm_loss["n_seeds"] == 2
    assert (erm_loss["mean"], erm_loss["min"], erm_loss["max"]) == pytest.approx((1.0, 0.9, 1.1))
    assert by["fashion_mnist", "mixup", "error"]["mean"] == pytest.approx(0.125)
    for dataset in ("cifar10", "cifar100", "kmnist"):  # absent key, None, absent key
        row = by[dataset, "mixup", "loss"]
        assert not row["available"] and row["n_seeds"] == 0 and math.isnan(row["mean"]) and row["values"] == []

    import matplotlib.pyplot as plt

    from mixup_lib.report import plots

    fig, axes = plt.subplots(1, 2)
    titles = {d: generalization.title(d) for d in generalization.DATASETS}
    missing = plots.draw_gap_summary(axes, rows, {**titles, "cifar10": "CIFAR-10\n(on Fashion-MNIST)"})
    assert missing == ["cifar10", "cifar100", "kmnist"]
    assert sum(t.get_text() == "not\navailable" for t in axes[0].texts) == 3
    assert len(axes[0].patches) == 2  # one ERM and one mixup bar: only Fashion-MNIST has runs
    assert [t.get_text() for t in axes[0].get_xticklabels()][:3] == ["CIFAR-10\n(on Fashion-MNIST)", "CIFAR-100",
                                                                     "Fashion-MNIST"]
    plt.close(fig)
    # Nothing available at all still draws (all missing).
    fig, axes = plt.subplots(1, 2)
    assert len(plots.draw_gap_summary(axes, generalization.summarize_final_gaps({}), titles)) == 4
    plt.close(fig)


# -- claim 8 -------------------------------------------------------------------------------------------------


def test_compare_gaps_and_the_throughout_verdict():
    erm = [[0.0, 0.5, 0.9, 1.0], [0.1, 0.6, 1.0, 1.2]]
    mix = [[0.1, 0.3, 0.4, 0.5], [0.0, 0.4, 0.5, 0.6]]
    c = generalization.compare_gaps(erm, mix)
    assert c["fraction_below"] == 0.75  # epoch 1: means tie at 0.05, not below
    assert c["fraction_separated"] == 0.75 and c["final_separated"] and not c["final_reversed"]
    assert (c["final_erm"], c["final_mixup"], c["n_seeds"]) == (pytest.approx(1.1), pytest.approx(0.55), 2)
    assert generalization.throughout_verdict(c) == claims.INCONCLUSIVE  # 75% < 80%
    assert generalization.throughout_verdict(c, supported_fraction=0.75) == claims.SUPPORTED
    one_seed = generalization.compare_gaps(erm[:1], mix[:1])
    assert generalization.throughout_verdict(one_seed, supported_fraction=0.5) == claims.INCONCLUSIVE
    reversed_ = generalization.compare_gaps(mix, erm)
    assert reversed_["final_reversed"] and generalization.throughout_verdict(reversed_) == claims.NOT_SUPPORTED
    with pytest.raises(ConfigError, match="epochs"):
        generalization.compare_gaps(erm, [[0.0, 0.1]])


# -- sweeps ----------------------------------------------------------------------------------------------------


def test_sweep_summary_slope_and_trend():
    by_n = {n: _curves([[0.0, 2.0 / math.sqrt(n)], [0.0, 4.0 / math.sqrt(n)]], [[0, 0], [0, 0]])
            for n in (400, 100, 1600)}
    s = generalization.sweep_summary(by_n, "loss_gap")
    np.testing.assert_array_equal(s["x"], [100, 400, 1600])
    np.testing.assert_allclose(s["mean"], [0.3, 0.15, 0.075])
    np.testing.assert_allclose(s["min"], [0.2, 0.1, 0.05])
    np.testing.assert_array_equal(s["n_seeds"], [2, 2, 2])
    assert generalization.gap_slope(s["x"], s["mean"]) == pytest.approx(-0.5)
    assert math.isnan(generalization.gap_slope([1, 2], [0.1, -0.1]))  # a negative gap has no log
    t = generalization.trend([4, 1, 2], [0.1, 0.3, 0.2])
    assert t["decreasing"] and t["rho"] == pytest.approx(-1.0)
    t = generalization.trend([0, 1, 2, 3], [0.3, 0.1, 0.2, 0.05])
    assert not t["decreasing"] and t["rho"] == pytest.approx(-0.8)


# -- configs ------------------------------------------------------------------------------------------------


def test_substituted_data_sets_get_identical_configs():
    """Three requested data sets falling back to Fashion-MNIST are one set of runs in the store."""
    kw = {"width": 8, "epochs": 2, "n_train": 100, "n_test": 50, "track_penalty": 16}
    digests = {runs.config_hash(generalization.run_config("fashion_mnist", "mixup", 0, **kw)) for _ in range(3)}
    assert len(digests) == 1
    erm = generalization.run_config("fashion_mnist", "erm", 0, **kw)
    assert train.validate_config(erm)["alpha"] == 0 and erm["model_kwargs"] == {"width": 8}
    assert runs.config_hash(erm) != runs.config_hash(generalization.run_config("fashion_mnist", "erm", 1, **kw))
    assert "track_penalty" not in generalization.run_config("fashion_mnist", "erm", 0, **{**kw, "track_penalty": 0})
    cfg = train.validate_config(erm)
    assert (cfg["batch_size"], cfg["lr"], cfg["momentum"], cfg["augment"]) == (64, 0.1, 0.9, False)


# -- Section 4: the penalty and the rank -------------------------------------------------------------------


def _brute_force_penalty(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> float:
    """(1/n²) Σ_i Σ_j (W(x_j − x_i))ᵀ (diag p_i − p_i p_iᵀ) (W(x_j − x_i)) by two loops (softmax over Wx + b)."""
    n, total = len(x), 0.0
    for i in range(n):
        p = torch.softmax(w @ x[i] + b, dim=0)
        hessian = torch.diag(p) - torch.outer(p, p)
        for j in range(n):
            u = w @ (x[j] - x[i])
            total += float(u @ hessian @ u)
    return total / n**2


def _brute_force_gradient_penalty(w: torch.Tensor, x: torch.Tensor) -> float:
    """mean over classes k of w_kᵀ Σ̂ w_k, with Σ̂ = (1/n) Σ_j (x_j − x̄)(x_j − x̄)ᵀ formed explicitly."""
    centred = x - x.mean(dim=0)
    sigma = centred.T @ centred / len(x)
    return float(sum(w[k] @ sigma @ w[k] for k in range(len(w))) / len(w))


def test_penalty_of_a_linear_model_matches_brute_force():
    torch.manual_seed(0)
    model = models.build("logreg", 3, 5).double()
    x = torch.randn(12, 5, dtype=torch.float64) + 0.5
    y = torch.randint(0, 3, (12,))
    w, b = model.linear.weight.detach(), model.linear.bias.detach()
    expected = _brute_force_penalty(w, b, x)
    assert approx.data_adaptive_penalty(model, x, y) == pytest.approx(expected, rel=1e-10)
    # More points than dimensions (the SVD path of the covariance factor) and images (n ≤ d) agree too.
    x_tall = torch.randn(40, 5, dtype=torch.float64)
    assert approx.data_adaptive_penalty(model, x_tall, y.repeat(4)[:40]) == pytest.approx(
        _brute_force_penalty(w, b, x_tall), rel=1e-10)
    image_model = models.build("logreg", 3, 1, input_size=(2, 3)).double()
    x_img = torch.rand(4, 1, 2, 3, dtype=torch.float64)
    wi, bi = image_model.linear.weight.detach(), image_model.linear.bias.detach()
    assert approx.data_adaptive_penalty(image_model, x_img, y[:4]) == pytest.approx(
        _brute_force_penalty(wi, bi, x_img.reshape(4, -1)), rel=1e-10)
    # The curvature-free form, and the agreement of the weighted form with approx_terms' R2 (divided by its weight).
    terms = approx.penalty_terms(model, x, y)
    assert terms["gradient_penalty"] == pytest.approx(_brute_force_gradient_penalty(w, x), rel=1e-10)
    from mixup_lib.mixup import mixture_moment

    for a in (0.5, 2.0):
        with torch.no_grad():
            r2 = float(approx.approx_terms(model, x, y, a, r3="skip")["R2"])
        assert terms["penalty"] == pytest.approx(r2 / (mixture_moment(a, None, 2) / 2), rel=1e-12)
    # It does not depend on the labels (h'' does not) and leaves a model in train mode as it was.
    model.train()
    assert approx.data_adaptive_penalty(model, x, (y + 1) % 3) == pytest.approx(expected, rel=1e-12)
    assert model.training


def test_effective_rank_of_data_on_a_subspace():
    g = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(20, 3, generator=g, dtype=torch.float64))[0]  # 3 orthonormal columns
    coords = torch.tensor([[1.0, 1, 1], [-1, 1, -1], [1, -1, -1], [-1, -1, 1]], dtype=torch.float64) * 2
    x = coords @ basis.T + 0.3  # 4 points, centred coordinates with covariance 4·I₃ on a 3-dim subspace
    np.testing.assert_allclose(approx.covariance_spectrum(x)[:3], [4, 4, 4], rtol=1e-12)
    r = approx.effective_rank(x)
    assert (r["n"], r["d"], r["rank"], r["k_0.9"], r["k_0.99"]) == (4, 20, 3, 3, 3)
    assert r["participation_ratio"] == pytest.approx(3) and r["entropy_rank"] == pytest.approx(3)
    scaled = x.clone()
    scaled[:, :] = (coords * torch.tensor([1.0, 0.1, 0.1], dtype=torch.float64)) @ basis.T
    s = approx.effective_rank(scaled)  # variances 4, 0.04, 0.04
    assert s["rank"] == 3 and s["k_0.9"] == 1 and s["k_0.99"] == 2
    assert s["participation_ratio"] == pytest.approx(4.08**2 / (16 + 2 * 0.0016))


# -- verdicts on hand-made results objects ---------------------------------------------------------------------

FM = "fashion_mnist"


def _datasets(substituted=("cifar10", "cifar100", "kmnist"), missing=()):
    """results["datasets"]: Fashion-MNIST ran; the others substituted by it, or missing."""
    records = []
    for name in generalization.DATASETS:
        used = None if name in missing else FM
        records.append({"requested": name, "title": generalization.title(name), "used": used,
                        "used_title": None if used is None else "Fashion-MNIST",
                        "substituted": name in substituted and name not in missing,
                        "reason": "not here" if name != FM else None, "source": None if used is None else "deb"})
    return records


def _sweep_summary(gaps_by_method):
    """n_sweep["summary"] from {method: {quantity: [final mean gap per n]}} (one seed: min = max = mean)."""
    return {m: {q: {"x": [100.0, 400.0, 1600.0][:len(v)], "mean": list(v), "min": list(v), "max": list(v),
                    "n_seeds": [1] * len(v)} for q, v in by_q.items()} for m, by_q in gaps_by_method.items()}


def _results(erm_gap, mixup_gap, *, n_gaps=None, alpha_rho=-1.0, datasets=None, penalty=True, test_loss=None):
    """A results object with the given (seeds, epochs) gaps on Fashion-MNIST (the same for loss and error), and
    ``test_loss`` (method → (seeds, epochs)) for the U-shape test."""
    datasets = datasets or _datasets()
    ran = [d["requested"] for d in datasets if d["used"] is not None]
    comparison = generalization.compare_gaps(erm_gap, mixup_gap)
    n_gaps = n_gaps or {"erm": [0.3, 0.2, 0.1], "mixup": [0.2, 0.1, 0.05]}
    summary = _sweep_summary({m: {q: v for q in generalization.QUANTITIES} for m, v in n_gaps.items()})
    return {
        "datasets": datasets,
        "claim8": [{"dataset": n, "quantity": q, **comparison} for n in ran for q in generalization.QUANTITIES],
        "n_sweep": {"n": [100, 400, 1600][:len(n_gaps["erm"])], "seeds": [0], "summary": summary,
                    "slopes": {m: {q: generalization.gap_slope(s[q]["x"], s[q]["mean"]) for q in s}
                               for m, s in summary.items()}},
        "alpha_sweep": {"alphas": [0.0, 0.5, 1.0], "trend": {"loss": {"rho": alpha_rho, "decreasing": False},
                                                            "error": {"rho": alpha_rho, "decreasing": False}}},
        "penalty": [{"dataset": FM, "key": k, **comparison} for k in generalization.PENALTY_KEYS] if penalty else [],
        "u_shape": [{"dataset": FM, "method": m, **generalization.u_shape(v)} for m, v in (test_loss or {}).items()],
    }


def _by(claims_, number):
    return [c for c in claims_ if c.number == number]


ERM = [[0.1, 0.5, 0.9, 1.0, 1.1], [0.2, 0.6, 1.0, 1.2, 1.3]]
BELOW_4_OF_5 = [[0.2, 0.3, 0.4, 0.5, 0.6], [0.1, 0.4, 0.5, 0.6, 0.7]]  # epoch 1 above, then separated


def test_claim8_supported_when_below_in_80_percent_of_epochs_and_separated_at_the_end():
    out = generalization.verdicts(_results(ERM, BELOW_4_OF_5))
    fm = [c for c in _by(out, 8) if "Fashion-MNIST." in c.statement]
    assert [c.verdict for c in fm] == [claims.SUPPORTED, claims.SUPPORTED]  # exactly 80%: the boundary counts
    assert "below in 80% of epochs" in fm[0].evidence and "separated across 2 seeds in 80% of epochs" in fm[0].evidence
    substituted = [c for c in _by(out, 8) if "could not be had" in c.evidence]
    assert len(substituted) == 3 and {c.verdict for c in substituted} == {claims.INCONCLUSIVE}
    assert "Kuzushiji-MNIST could not be had; ran on Fashion-MNIST" in substituted[-1].evidence


def test_claim8_inconclusive_with_one_seed_or_fewer_epochs_below():
    one_seed = generalization.verdicts(_results(ERM[:1], BELOW_4_OF_5[:1]))
    assert {c.verdict for c in _by(one_seed, 8)} == {claims.INCONCLUSIVE}
    half = [[0.2, 0.7, 0.4, 1.2, 0.6], [0.3, 0.8, 0.5, 1.3, 0.7]]  # below at epochs 3 and 5 of 5: 40%
    assert generalization.compare_gaps(ERM, half)["fraction_below"] == 0.4
    assert {c.verdict for c in _by(generalization.verdicts(_results(ERM, half)), 8)
            if "Fashion-MNIST." in c.statement} == {claims.NOT_SUPPORTED}
    three_of_five = [[0.2, 0.7, 0.4, 0.5, 0.6], [0.3, 0.8, 0.5, 0.6, 0.7]]  # 60%: between the two thresholds
    assert {c.verdict for c in _by(generalization.verdicts(_results(ERM, three_of_five)), 8)
            if "Fashion-MNIST." in c.statement} == {claims.INCONCLUSIVE}


def test_claim8_boundaries_of_the_rule():
    at_half = {"fraction_below": 0.5, "final_reversed": False, "final_separated": True, "n_seeds": 3}
    assert generalization.throughout_verdict(at_half) == claims.INCONCLUSIVE  # 50% is not "fewer than 50%"
    assert generalization.throughout_verdict({**at_half, "fraction_below": 0.49}) == claims.NOT_SUPPORTED
    assert generalization.throughout_verdict({**at_half, "fraction_below": 0.8}) == claims.SUPPORTED
    assert generalization.throughout_verdict({**at_half, "fraction_below": 0.79}) == claims.INCONCLUSIVE
    assert generalization.throughout_verdict({**at_half, "fraction_below": 1.0, "final_separated": False}
                                             ) == claims.INCONCLUSIVE
    assert generalization.throughout_verdict({**at_half, "fraction_below": 1.0, "final_reversed": True}
                                             ) == claims.NOT_SUPPORTED


def test_claim8_missing_data_set_is_inconclusive():
    datasets = _datasets(substituted=(), missing=("cifar100",))
    out = generalization.verdicts(_results(ERM, BELOW_4_OF_5, datasets=datasets))
    missing = [c for c in _by(out, 8) if "CIFAR-100" in c.statement]
    assert [(c.evidence, c.verdict) for c in missing] == [("data set not available and not substituted",
                                                           claims.INCONCLUSIVE)]
    assert sum("CIFAR-10." in c.statement for c in _by(out, 8)) == 2  # ran on itself: one claim per gap


def test_g1_g2_g3_every_branch():
    def verdicts_of(number, **kw):
        return [c.verdict for c in _by(generalization.verdicts(_results(ERM, BELOW_4_OF_5, **kw)), number)]

    assert verdicts_of("G1") == [claims.SUPPORTED] * 2
    assert verdicts_of("G1", n_gaps={"erm": [0.3, 0.1, 0.2], "mixup": [0.2, 0.1, 0.05]}) == [claims.INCONCLUSIVE] * 2
    assert verdicts_of("G1", n_gaps={"erm": [0.1, 0.2, 0.3], "mixup": [0.2, 0.1, 0.05]}) == [claims.NOT_SUPPORTED] * 2
    assert verdicts_of("G2") == [claims.SUPPORTED]
    assert verdicts_of("G2", n_gaps={"erm": [0.3, 0.2, 0.1], "mixup": [0.2, 0.1, 0.15]}) == [claims.INCONCLUSIVE]
    assert verdicts_of("G2", n_gaps={"erm": [0.3, 0.2, 0.1], "mixup": [0.2, 0.3, 0.15]}) == [claims.NOT_SUPPORTED]
    assert verdicts_of("G2", n_gaps={"erm": [0.3, 0.2], "mixup": [0.2, 0.3]}) == [claims.NOT_SUPPORTED]  # half
    assert verdicts_of("G3", alpha_rho=-0.8) == [claims.SUPPORTED]
    assert verdicts_of("G3", alpha_rho=-0.5) == [claims.INCONCLUSIVE]
    assert verdicts_of("G3", alpha_rho=None) == [claims.INCONCLUSIVE]  # NaN, written as null by the store
    assert verdicts_of("G3", alpha_rho=0.0) == [claims.NOT_SUPPORTED]
    assert verdicts_of("G4") == [claims.SUPPORTED] * 2
    assert verdicts_of("G4", penalty=False) == []


def test_slopes_written_as_null_read_as_nan():
    r = _results(ERM, BELOW_4_OF_5, n_gaps={"erm": [0.0, 0.2, 0.1], "mixup": [0.2, 0.1, 0.05]})
    assert r["n_sweep"]["slopes"]["erm"]["loss"] != r["n_sweep"]["slopes"]["erm"]["loss"]  # NaN
    r["n_sweep"]["slopes"]["erm"]["loss"] = None
    assert "ERM 0.000 → 0.200 → 0.100 (log–log slope nan)" in _by(generalization.verdicts(r), "G1")[0].evidence


def _plain_json(value) -> bool:
    """Whether ``value`` holds only JSON types: dicts with str keys, lists, str, int, float, bool, None."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain_json(v) for v in value)
    return value is None or type(value) in (str, int, float, bool)


# -- compute at smoke scale --------------------------------------------------------------------------------


@pytest.mark.slow
def test_smoke_compute_round_trips_through_json_with_the_same_verdicts(tmp_path):
    import json

    from mixup_lib import results as store

    settings = profiles.resolve("generalization", "smoke", n_train=48, n_test=32, epochs=1, n_grid=[24, 48],
                                alpha_grid=[1.0], track_penalty=4)
    r = generalization.compute(settings, runs_dir=tmp_path / "runs", device="cpu", workers=1)
    assert _plain_json(r) and json.dumps(json.loads(json.dumps(r))) == json.dumps(r)
    assert r["runs"] == {"configs": 2 + 4 + 1 + 1, "distinct": 4, "trained": 4,
                         "coinciding": ["cifar10", "cifar100", "kmnist"]}
    assert [d["used"] for d in r["datasets"]] == [FM] * 4 and [d["substituted"] for d in r["datasets"]] == [
        True, True, False, True]
    assert r["provenance"]["fallback reason"].startswith("cifar10: ")
    assert np.asarray(r["curves"][FM]["mixup"]["loss_gap"]).shape == (1, 1)
    assert [row["n"] for row in r["n_sweep"]["ranks"]] == [24, 48] and r["alpha_sweep"]["alphas"] == [0.0, 1.0]
    assert [row["ours_on"] for row in r["published"]] == ["Fashion-MNIST (substituted)"] * 4
    assert all(isinstance(row["agrees"], bool) or row["agrees"] is None for row in r["published"])
    before = generalization.verdicts(r)
    strict = json.loads(json.dumps(store._strict(r)))  # as the store writes it: NaN → null
    assert generalization.verdicts(strict) == before
    assert [c.number for c in before] == [8] * 5 + ["G1", "G1", "G2", "G3", "G4", "G4", "G5"]
    assert [(u["method"], u["min_epoch"], u["last_epoch"]) for u in r["u_shape"]] == [("erm", 1, 1), ("mixup", 1, 1)]
    assert generalization.configs(settings) == generalization._configs(settings, [FM] * 4)


# -- claim 8 along training: the epochs, and the U-shape of the test loss (Liu et al., ICLR 2023) ---------------


def test_claim8_evidence_names_the_epochs_where_mixup_is_below():
    assert generalization.epoch_ranges([1, 2, 3, 5, 7, 8]) == "1–3, 5, 7–8"
    assert generalization.epoch_ranges([]) == "none" and generalization.epoch_ranges([4]) == "4"
    c = generalization.compare_gaps(ERM, BELOW_4_OF_5, epochs=[2, 4, 6, 8, 10])
    assert c["epochs_below"] == [4, 6, 8, 10] and c["n_epochs"] == 5
    out = generalization.verdicts(_results(ERM, BELOW_4_OF_5))
    fm = next(c for c in _by(out, 8) if c.statement.endswith("loss gap is smaller than ERM's throughout training on "
                                                                "Fashion-MNIST."))
    assert "below in 80% of epochs (epochs 2–5 of 5)" in fm.evidence
    rows = generalization.claim8_rows(_results(ERM, BELOW_4_OF_5))
    assert rows[0]["epochs"] == "2–5" and rows[0]["title"] == "CIFAR-10 (substituted)"


FALL = [1.0, 0.8, 0.6, 0.5, 0.45]
U = [1.0, 0.7, 0.5, 0.6, 0.7]  # lowest at epoch 3 of 5, then up by 0.2


def test_u_shape_turns_upward_beyond_two_standard_errors():
    r = generalization.u_shape([U, [v + 0.01 for v in U], [v - 0.02 for v in U[:4]] + [0.66]])
    assert (r["min_epoch"], r["last_epoch"], r["n_seeds"]) == (3, 5, 3)
    assert r["rise"] == pytest.approx((0.2 + 0.2 + 0.18) / 3) and r["se"] == pytest.approx(np.std([0.2, 0.2, 0.18],
                                                                                              ddof=1) / math.sqrt(3))
    assert r["finding"] == generalization.TURNS_UP and generalization.u_shape_verdict(r) == claims.SUPPORTED


def test_u_shape_within_noise_min_at_the_end_and_one_seed():
    noisy = generalization.u_shape([U, [1.0, 0.7, 0.5, 0.45, 0.4], [1.0, 0.7, 0.5, 0.55, 0.52]])  # rises 0.2, -0.1, .02
    assert noisy["min_epoch"] == 3 and noisy["rise"] > 0 and noisy["rise"] < 2 * noisy["se"]
    assert noisy["finding"] == generalization.NO_UPTURN
    assert generalization.u_shape_verdict(noisy) == claims.NOT_SUPPORTED
    falling = generalization.u_shape([FALL, [v + 0.05 for v in FALL]])
    assert falling["min_epoch"] == falling["last_epoch"] == 5 and falling["finding"] == generalization.NO_UPTURN
    one = generalization.u_shape([U])
    assert one["se"] is None and one["finding"] == generalization.UNDETERMINED
    assert generalization.u_shape_verdict(one) == claims.INCONCLUSIVE
    assert generalization.u_shape([FALL])["finding"] == generalization.NO_UPTURN  # one seed, lowest at the end
    # Exactly at the threshold is not an upturn: rise = 2 SE.
    at = {"min_epoch": 3, "last_epoch": 5, "rise": 0.2, "se": 0.1}
    assert generalization.u_shape_finding(at) == generalization.NO_UPTURN
    assert generalization.u_shape_finding({**at, "se": 0.099}) == generalization.TURNS_UP
    with pytest.raises(ConfigError, match="epoch numbers"):
        generalization.u_shape([U], epochs=[1, 2])


def test_g5_rows_name_both_methods_and_cite_liu():
    up = [U, [v + 0.01 for v in U], [v - 0.02 for v in U[:4]] + [0.66]]
    out = _by(generalization.verdicts(_results(ERM, BELOW_4_OF_5, test_loss={"erm": [FALL] * 3, "mixup": up})), "G5")
    assert len(out) == 1 and out[0].verdict == claims.SUPPORTED and "Liu et al., 2023" in out[0].statement
    assert out[0].evidence.startswith("mixup test loss lowest at epoch 3 of 5 (0.497), final 0.690, rise +0.193 "
                                      "(SE 0.007): turns upward")
    assert "ERM test loss lowest at epoch 5 of 5" in out[0].evidence and "no upturn" in out[0].evidence
    flat = _by(generalization.verdicts(_results(ERM, BELOW_4_OF_5, test_loss={"erm": [FALL], "mixup": [FALL]})), "G5")
    assert flat[0].verdict == claims.NOT_SUPPORTED and "one seed, no SE" in flat[0].evidence
    older = _results(ERM, BELOW_4_OF_5)
    del older["u_shape"]  # results computed before the U-shape test: said so, not silently left out
    assert [(c.evidence[:29], c.verdict) for c in _by(generalization.verdicts(older), "G5")] == [
        ("not measured in these results", claims.INCONCLUSIVE)]


# -- what others measured ------------------------------------------------------------------------------------


def test_published_anchors_beside_ours():
    errors = {"cifar10": {"erm": 0.30, "mixup": 0.25, "n_seeds": 3}, "cifar100": {"erm": 0.60, "mixup": 0.62,
                                                                                 "n_seeds": 3}}
    datasets = _datasets(substituted=("cifar10",), missing=("kmnist",))
    rows = generalization.published_rows(datasets, errors)
    verma = [r for r in rows if r["source"] == "verma2019manifold"]
    assert [(r["dataset"], r["erm"], r["mixup"], r["where"]) for r in verma] == [
        ("cifar10", 4.83, 3.82, "Table 1"), ("cifar100", 24.01, 22.11, "Table 1")]
    assert [(r["ours_on"], r["ours_erm"], r["ours_mixup"], r["agrees"]) for r in verma] == [
        ("Fashion-MNIST (substituted)", 30.0, 25.0, True), ("Fashion-MNIST", 60.0, 62.0, False)]
    assert {r["source"] for r in rows} == {"verma2019manifold", "zhang2018mixup"}
    no_runs = generalization.published_rows(datasets, {})
    assert all(r["ours_erm"] is None and r["agrees"] is None for r in no_runs)
    curves = {"cifar10": {m: {"test_error": [[0.5, v], [0.5, v + 0.02]]} for m, v in (("erm", 0.3), ("mixup", 0.2))}}
    assert generalization.final_test_errors(curves) == {
        "cifar10": {"erm": pytest.approx(0.31), "mixup": pytest.approx(0.21), "n_seeds": 2}}
