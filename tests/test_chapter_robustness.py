"""Tests of the robustness chapter (mixup_lib.chapters.robustness) and the science it uses: ε grid and attack
wiring (mixup_lib.attack_cache), the data fallback, the bound of Theorems 3.1/3.2 on a case with a closed form and
on two moons (mixup_lib.bound), the cosines of Fig. 3, the verdict rules on hand-made results objects, and a
smoke compute whose JSON round trip gives the same verdicts."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from mixup_lib import attack_cache, bound, profiles, runs, train
from mixup_lib.chapters import robustness as chapter
from mixup_lib.claims import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from mixup_lib.errors import ConfigError
from mixup_lib.report import tables

# ---------------------------------------------------------------- settings rules (checked at resolve time)


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        ({"pgd_points": 0}, r"^pgd_points=0 is not allowed: it must be an integer >= 1$"),
        ({"alpha_sweep": [0.0, -1.0]}, r"^alpha_sweep=\[0.0, -1.0\] is not allowed: .*numbers >= 0$"),
        ({"alpha": 0.0}, r"^alpha=0.0 is not allowed: it must be a finite number > 0$"),
        ({"eps_255": [1, 2]}, r"^eps_255: eps grid \[1, 2\] is not allowed: it must start at 0"),
        ({"eps_255": [0, 8, 4]}, r"^eps_255: .* must increase strictly$"),
        ({"model": "wrn-15-1"}, r"^model='wrn-15-1' is not allowed: WRN depth 15"),
        ({"epochs": 0}, r"^epochs=0 is not allowed"),
        ({"n_test": 100}, r"^pgd_points=200 is not allowed: it must be at most n_test=100"),
        ({"n_train": 500}, r"^cos_points=1000 is not allowed: it must be at most n_train=500"),
        ({"seeds": [0, 0]}, r"^seeds=\[0, 0\] is not allowed"),
    ],
)
def test_resolve_checks_every_setting_before_anything_runs(overrides, pattern):
    with pytest.raises(ConfigError, match=pattern) as info:
        profiles.resolve("robustness", "quick", **overrides)
    assert "\n" not in str(info.value)


def test_every_setting_of_the_chapter_has_a_check():
    rules = profiles.rules("robustness")
    for profile in profiles.PROFILES:
        assert set(rules.checks) == set(profiles.PRESETS["robustness"][profile])
        assert profiles.requested_datasets("robustness", profiles.resolve("robustness", profile)) == [
            "svhn", "fashion_mnist"]


# ---------------------------------------------------------------- ε grid


def test_eps_grid_is_in_pixel_units():
    assert chapter.eps_grid([0, 1, 2, 8]) == [0.0, 1 / 255, 2 / 255, 8 / 255]


@pytest.mark.parametrize("levels", [[], [1, 2], [0, 2, 2], [0, 4, 2], "0,1", [0, float("nan")]])
def test_eps_grid_rejects_bad_grids_in_one_line(levels):
    with pytest.raises(ConfigError, match="eps grid") as info:
        chapter.eps_grid(levels)
    assert "\n" not in str(info.value)


def test_every_profile_has_a_valid_grid_and_pgd_grid():
    for profile in profiles.PROFILES:
        settings = profiles.resolve("robustness", profile)
        assert chapter.eps_grid(settings["eps_255"])[0] == 0
        assert chapter.eps_grid(settings["pgd_eps_255"])[-1] <= chapter.eps_grid(settings["eps_255"])[-1]


# ---------------------------------------------------------------- attacks on a linear model (closed form)


def _linear_two_class(seed: int = 0) -> tuple[nn.Linear, torch.Tensor, torch.Tensor]:
    """A 2-class linear model and points in [0.3, 0.7]^4, so steps up to 0.25 are never clamped."""
    gen = torch.Generator().manual_seed(seed)
    model = nn.Linear(4, 2).double()
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, -2.0, 0.5, 3.0], [-1.0, 1.0, 1.5, -1.0]], dtype=torch.float64))
        model.bias.copy_(torch.tensor([0.1, -0.1], dtype=torch.float64))
    x = 0.3 + 0.4 * torch.rand(200, 4, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 2, (200,), generator=gen)
    return model, x, y


def _fgsm_closed_form(model: nn.Linear, x: torch.Tensor, y: torch.Tensor, eps: float) -> float:
    """For two classes, FGSM lowers the margin m = (w_y − w_o)ᵀx + b_y − b_o by exactly ε‖w_y − w_o‖₁."""
    w, b = model.weight.detach(), model.bias.detach()
    other = 1 - y
    dw = w[y] - w[other]
    margin = (dw * x).sum(dim=1) + b[y] - b[other]
    return float((margin - eps * dw.abs().sum(dim=1) > 0).double().mean())


def test_fgsm_accuracy_matches_the_closed_form_at_every_eps():
    model, x, y = _linear_two_class()
    eps = chapter.eps_grid([0, 2, 8, 16, 32, 64])
    got = attack_cache.attack_accuracy(model, x, y, eps, "fgsm", batch_size=64)
    assert got == pytest.approx([_fgsm_closed_form(model, x, y, e) for e in eps], abs=1e-12)
    with torch.no_grad():
        clean = float((model(x).argmax(dim=1) == y).double().mean())
    assert got[0] == clean
    assert all(b <= a for a, b in itertools.pairwise(got))
    assert got[-1] < got[0]  # the grid reaches attacks that matter


def test_pgd_on_a_linear_model_reaches_the_fgsm_corner():
    """On a linear model the worst point of the ℓ∞ ball is FGSM's corner; PGD-10 (2.5ε travel) gets there."""
    model, x, y = _linear_two_class(1)
    eps = chapter.eps_grid([0, 4, 16, 48])
    fgsm = attack_cache.attack_accuracy(model, x, y, eps, "fgsm")
    pgd = attack_cache.attack_accuracy(model, x, y, eps, "pgd", steps=10, seed=3)
    assert pgd == pytest.approx(fgsm, abs=1e-12)
    assert pgd == attack_cache.attack_accuracy(model, x, y, eps, "pgd", steps=10, seed=3)  # seeded


def test_attack_results_are_cached_per_model_data_and_grid(tmp_path):
    model, x, y = _linear_two_class()
    eps = chapter.eps_grid([0, 8, 32])
    first = attack_cache.attack_accuracy(model, x, y, eps, model_key="abc", cache_dir=tmp_path)
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["accuracy"] == first
    with torch.no_grad():
        model.weight.mul_(-1)  # a different model under the same key: the cache answers
    assert attack_cache.attack_accuracy(model, x, y, eps, model_key="abc", cache_dir=tmp_path) == first
    fresh = attack_cache.attack_accuracy(model, x, y, eps, model_key="other", cache_dir=tmp_path)
    assert fresh == pytest.approx([_fgsm_closed_form(model, x, y, e) for e in eps], abs=1e-12)
    attack_cache.attack_accuracy(model, x[:50], y[:50], eps, model_key="abc", cache_dir=tmp_path)
    attack_cache.attack_accuracy(model, x, y, eps[:2], model_key="abc", cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.json"))) == 4  # other key, other data, other grid: new entries


def test_cache_key_ignores_pgd_only_fields_for_fgsm():
    x, y = torch.zeros(2, 3), torch.zeros(2, dtype=torch.long)
    k1 = attack_cache.attack_cache_key("m", x, y, [0, 0.1], "fgsm", steps=10, seed=0, batch_size=64)
    k2 = attack_cache.attack_cache_key("m", x, y, [0, 0.1], "fgsm", steps=3, seed=5, batch_size=128)
    k3 = attack_cache.attack_cache_key("m", x, y, [0, 0.1], "pgd", steps=3, seed=5, batch_size=128)
    assert k1 == k2 and k3 != k2 and k3["steps"] == 3


# ---------------------------------------------------------------- data fallback and configs of the chapter


def _fake_loader(available: set[str], calls: list):
    from mixup_lib import data

    def load(name, **kwargs):
        calls.append((name, kwargs))
        if name not in available:
            raise data.DatasetUnavailable(
                f"{name} is not available: no internet; on a machine with internet run: python -m mixup_lib "
                f"download {name}")
        return f"tensors of {name}"

    return load


def test_the_chapter_falls_back_to_fashion_mnist_with_a_visible_notice(monkeypatch):
    from mixup_lib import data

    calls = []
    monkeypatch.setattr(data, "load_dataset", _fake_loader({"fashion_mnist"}, calls))
    settings = profiles.resolve("robustness", "quick")
    choice = chapter.choose_data(settings)
    notice = profiles.fallback_notice(choice)
    assert (choice.requested, choice.used, choice.data) == ("svhn", "fashion_mnist", "tensors of fashion_mnist")
    assert 'class="admonition warning"' in notice
    assert "<strong>svhn</strong>" in notice and "uses fashion_mnist instead" in notice
    assert "python -m mixup_lib download svhn" in notice
    expected = {"n_train": settings["n_train"], "n_test": settings["n_test"], "seed": settings["data_seed"]}
    assert calls == [("svhn", expected), ("fashion_mnist", expected)]  # the trainer's subsets


def test_no_notice_when_svhn_is_available(monkeypatch):
    from mixup_lib import data

    monkeypatch.setattr(data, "load_dataset", _fake_loader({"svhn", "fashion_mnist"}, []))
    choice = chapter.choose_data(profiles.resolve("robustness", "paper"))
    notice = profiles.fallback_notice(choice)
    assert choice.used == "svhn" and not choice.is_fallback and notice == ""


def test_fig1a_configs_follow_the_paper_and_the_sweep_reuses_them():
    settings = profiles.resolve("robustness", "paper")
    configs = chapter.fig1a_configs(settings, "svhn")
    assert sorted(configs) == [(m, s) for m in ("erm", "mixup") for s in settings["seeds"]]
    for (method, seed), config in configs.items():
        cfg = train.validate_config(config)
        assert (cfg["dataset"], cfg["model"], cfg["method"], cfg["seed"]) == ("svhn", "wrn-16-8", method, seed)
        assert (cfg["batch_size"], cfg["lr"], cfg["momentum"]) == (64, 0.1, 0.9)  # the paper's SGD
        assert cfg["alpha"] == (1.0 if method == "mixup" else 0.0)
    sweep = chapter.alpha_sweep_configs(settings, "svhn")
    first = settings["seeds"][0]
    same = runs.config_hash(train.validate_config(sweep[1.0])) == runs.config_hash(
        train.validate_config(configs["mixup", first]))
    assert same and sweep[0.0] == configs["erm", first]
    assert sweep[0.2]["alpha"] == 0.2 and sweep[0.2]["method"] == "mixup"


# ---------------------------------------------------------------- Theorem 3.1 on a case with a closed form


def _logreg(t: float) -> nn.Module:
    model = bound.moons_model("logistic regression", 0, hidden=1)
    with torch.no_grad():
        model.linear.weight.copy_(torch.tensor([[t, 0.0]], dtype=torch.float64))
    return model


# Four centred points, all at margin 2t for θ = (t, 0): R = cos(θ, x_i) = 2/√5, ‖x_i‖ = √5, d = 2.
X4 = torch.tensor([[2.0, 1.0], [2.0, -1.0], [-2.0, 1.0], [-2.0, -1.0]], dtype=torch.float64)
Y4 = torch.tensor([1, 1, 0, 0])


@pytest.mark.parametrize("t", [0.3, 1.0])
def test_bound_matches_the_hand_computation_for_logistic_regression(t):
    model = _logreg(t)
    s, q = 1 / (1 + math.exp(2 * t)), 1 / (1 + math.exp(2 * t)) / (1 + math.exp(-2 * t))  # σ(−2t), σ(2t)σ(−2t)
    l_std = math.log1p(math.exp(-2 * t))
    e1, e2 = 1 / 3, 1 / 6  # α = 1
    r, c_x = 2 / math.sqrt(5), math.sqrt(5) / math.sqrt(2)
    eps_mix = r * c_x * e1  # = √2/3
    eps = eps_mix * math.sqrt(2)  # = 2/3
    # R1 = E1·(1/n)Σ|h'−y|·|θᵀx_i| = E1·2t·s; R2 = E2/2·h''·(θᵀΣ̂θ + (θᵀx_i)²) = E2/2·q·(4t² + 4t²)
    l_mix = l_std + e1 * 2 * t * s + e2 / 2 * q * 8 * t**2
    l_adv = l_std + eps * t * s + eps**2 / 2 * q * t**2
    record = bound.robustness_bound(model, X4, Y4, 1.0)
    assert record["R"] == pytest.approx(r, rel=1e-12)
    assert record["c_x"] == pytest.approx(c_x, rel=1e-12)
    assert record["eps_mix"] == pytest.approx(math.sqrt(2) / 3, rel=1e-12)
    assert record["eps"] == pytest.approx(2 / 3, rel=1e-12)
    assert record["L_mix_approx"] == pytest.approx(l_mix, rel=1e-12)
    assert record["L_adv_approx"] == pytest.approx(l_adv, rel=1e-12)
    assert record["gap"] == pytest.approx(4 / 9 * t**2 * q, rel=1e-9)  # (E2·4 − ε²/2)·t²q with R1 = first order
    assert record["holds"] and record["assumptions_met"]
    l0, a, b = bound.adversarial_coefficients(model, X4, Y4)
    assert (l0, a, b) == pytest.approx((l_std, t * s, t**2 * q), rel=1e-12)
    eps_star = bound.largest_bounded_eps(l_mix, l0, a, b)
    assert l0 + a * eps_star + b * eps_star**2 / 2 == pytest.approx(l_mix, rel=1e-12)
    assert eps_star > eps


def test_largest_bounded_eps_edge_cases():
    assert bound.largest_bounded_eps(1.0, 1.2, 0.5, 0.1) == 0.0  # L̃_mix below L_std
    assert bound.largest_bounded_eps(1.5, 1.0, 0.25, 0.0) == pytest.approx(2.0)  # linear: Δ/a
    assert bound.largest_bounded_eps(1.5, 1.0, 0.0, 1.0) == pytest.approx(1.0)  # quadratic: √(2Δ/b)


def test_theorem_check_rows_are_consistent_with_their_radius():
    x, y, _, _ = bound.centred_two_moons(40, 10, 0.1, 0, gap=1.0)
    assert float(x.mean(dim=0).abs().max()) < 1e-12 and x.dtype == torch.float64
    rows, nets = bound.theorem_check(x, y, alphas=[0.5, 2.0], seeds=[0], hidden=8, steps=30)
    assert len(rows) == 2 * 2 * 2 and len(nets) == 2 * 3
    for row in rows:
        assert row["homogeneous"] and row["centred"] and row["curvature_free"]
        assert row["eps_mix"] == pytest.approx(row["R"] * row["c_x"] * row["alpha"] / (2 * row["alpha"] + 1))
        assert row["holds"] == (row["eps"] <= row["eps_star"] * (1 + 1e-9))  # L̃_adv increases with ε
        assert row["eps_star_linf"] == pytest.approx(row["eps_star"] / math.sqrt(2))


def test_angular_class_changes_counts_sign_changes_around_the_origin():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    assert bound.angular_class_changes(x, torch.tensor([0, 1, 0, 1])) == 4
    assert bound.angular_class_changes(x, torch.tensor([0, 0, 1, 1])) == 2
    assert bound.angular_class_changes(x, torch.tensor([1, 1, 1, 1])) == 0
    moons, labels, _, _ = bound.centred_two_moons(200, 10, 0.0, 0)
    assert bound.angular_class_changes(moons, labels) > 2  # centred moons overlap in angle
    apart, labels, _, _ = bound.centred_two_moons(200, 10, 0.0, 0, gap=1.0)
    assert bound.angular_class_changes(apart, labels) == 2


# ---------------------------------------------------------------- Fig. 3: cosines


def test_cosines_of_a_binary_linear_model_are_cos_theta_x():
    gen = torch.Generator().manual_seed(0)
    theta = torch.tensor([0.6, -0.8, 2.0], dtype=torch.float64)
    model = nn.Linear(3, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(theta[None])
    binary = nn.Sequential(model, nn.Flatten(0))  # logits of shape (N,)
    x = torch.rand(20, 3, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 2, (20,), generator=gen)
    centre = x.mean(dim=0)
    xc = x - centre
    by_hand = ((xc @ theta).abs() / (theta.norm() * xc.norm(dim=1))).numpy()
    for target in ("logit", "loss"):  # for one logit the loss gradient is (σ(f) − y)θ: the same |cos|
        got = bound.input_gradient_cosines(binary, x, y, target=target, centre=centre, batch_size=7)
        np.testing.assert_allclose(got, by_hand, rtol=1e-12)
    raw = bound.input_gradient_cosines(binary, x, y, target="logit")
    np.testing.assert_allclose(raw, ((x @ theta).abs() / (theta.norm() * x.norm(dim=1))).numpy(), rtol=1e-12)


def test_cosines_of_a_multiclass_linear_model_by_hand():
    gen = torch.Generator().manual_seed(1)
    model = nn.Linear(5, 3).double()
    x = torch.rand(12, 5, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (12,), generator=gen)
    w, b = model.weight.detach(), model.bias.detach()
    p = torch.softmax(x @ w.T + b, dim=1)
    grad_loss = (p - torch.nn.functional.one_hot(y, 3)) @ w  # Σ_k (p_k − y_k) w_k
    grad_logit = w[y]

    def cos(g):
        return ((g * x).sum(dim=1).abs() / (g.norm(dim=1) * x.norm(dim=1))).numpy()

    np.testing.assert_allclose(bound.input_gradient_cosines(model, x, y), cos(grad_loss), rtol=1e-10)
    np.testing.assert_allclose(bound.input_gradient_cosines(model, x, y, target="logit"), cos(grad_logit),
                               rtol=1e-12)


def test_null_cosine_quantiles_have_closed_forms():
    for q in (0.05, 0.5, 0.9):
        assert bound.null_cosine_quantile(2, q) == pytest.approx(math.sin(q * math.pi / 2), rel=1e-10)
        assert bound.null_cosine_quantile(3, q) == pytest.approx(q, rel=1e-10)  # |cos| uniform in 3-d
    assert bound.null_cosine_quantile(784, 0.5) == pytest.approx(0.6745 / math.sqrt(784), rel=0.01)


def test_cosine_summary():
    s = bound.cosine_summary(np.linspace(0.0, 1.0, 101))
    assert s == pytest.approx({"R": 0.0, "q05": 0.05, "median": 0.5, "mean": 0.5})


# ---------------------------------------------------------------- verdict rules on hand-made records

ERM = [[0.90, 0.50, 0.20], [0.91, 0.52, 0.22], [0.89, 0.48, 0.18]]
EPS3 = [0.0, 4 / 255, 16 / 255]


def test_compare_methods_standard_error_by_hand():
    stats = chapter.compare_methods([[1.0, 0.2], [0.0, 0.4]], [[1.0, 0.5], [1.0, 0.5], [1.0, 0.8]])
    np.testing.assert_allclose(stats["diff"], [0.5, 0.3])
    np.testing.assert_allclose(stats["se"], [math.sqrt(0.5 / 2), math.sqrt(0.02 / 2 + 0.03 / 3)])
    assert np.isnan(chapter.compare_methods([[0.5]], [[0.6]])["se"]).all()


def test_fgsm_advantage_verdicts():
    better = [[c, r + 0.10, s + 0.05] for c, r, s in ERM]
    assert chapter.fgsm_advantage_verdict(EPS3, ERM, better)[0] == SUPPORTED
    worse_once = [[c, r + 0.10, s - 0.08] for c, r, s in ERM]
    verdict, evidence = chapter.fgsm_advantage_verdict(EPS3, ERM, worse_once)
    assert verdict == NOT_SUPPORTED and "16/255" in evidence
    less_clean = [[c - 0.05, r + 0.10, s + 0.05] for c, r, s in ERM]
    assert chapter.fgsm_advantage_verdict(EPS3, ERM, less_clean)[0] == INCONCLUSIVE
    tie = [[c, r + 0.005, s - 0.005] for c, r, s in ERM]
    assert chapter.fgsm_advantage_verdict(EPS3, ERM, tie)[0] == INCONCLUSIVE
    assert chapter.fgsm_advantage_verdict(EPS3, ERM[:1], better[:1])[0] == INCONCLUSIVE


def test_pgd_shrinkage_verdicts():
    adv = [[c, r + 0.10, s + 0.10] for c, r, s in ERM]
    pgd_erm = [[c, r - 0.3, s - 0.15] for c, r, s in ERM]
    vanished = [[c, r - 0.3, s - 0.15] for c, r, s in ERM]
    assert chapter.pgd_shrinkage_verdict(EPS3, ERM, adv, pgd_erm, vanished)[0] == SUPPORTED
    kept = [[c, r - 0.2, s - 0.05] for c, r, s in ERM]
    assert chapter.pgd_shrinkage_verdict(EPS3, ERM, adv, pgd_erm, kept)[0] == NOT_SUPPORTED
    verdict, evidence = chapter.pgd_shrinkage_verdict(EPS3, ERM, ERM, pgd_erm, vanished)
    assert verdict == INCONCLUSIVE and "none to shrink" in evidence


def test_cosine_and_bound_verdicts():
    high = {"a": {"q05": 0.05, "median": 0.2, "R": 1e-4}, "b": {"q05": 0.03, "median": 0.1, "R": 1e-5}}
    assert chapter.cosine_verdict(high, 784)[0] == SUPPORTED  # median for random directions: 0.024
    middle = {**high, "c": {"q05": 0.01, "median": 0.1, "R": 1e-5}}
    assert chapter.cosine_verdict(middle, 784)[0] == INCONCLUSIVE
    low = {**high, "c": {"q05": 0.001, "median": 0.02, "R": 1e-6}}
    assert chapter.cosine_verdict(low, 784)[0] == NOT_SUPPORTED
    unmet = {"assumptions_met": False, "holds": True, "eps_mix": 1e-4}
    met = {"assumptions_met": True, "holds": True, "eps_mix": 0.02}
    assert chapter.bound_verdict([unmet])[0] == INCONCLUSIVE
    assert chapter.bound_verdict([unmet, met])[0] == SUPPORTED
    assert chapter.bound_verdict([met, {**met, "holds": False}])[0] == NOT_SUPPORTED


def test_tables_format_and_escape_the_chapters_rows():
    table = tables.table([{"a": True, "b": float("nan"), "c": "<x>", "d": 0.12345}],
                                 [("A", "a", ""), ("B", "b", ".2f"), ("C", "c", ""), ("D", "d", ".2f"), ("E", "e", "")])
    assert "<td>yes</td><td>–</td><td>&lt;x&gt;</td><td>0.12</td><td>–</td>" in table


def test_ratio_comparison_by_hand():
    r = chapter.ratio_comparison([[0.5, 0.25], [1.0, 0.25]], [[0.8, 0.4], [0.4, 0.3]])
    assert r["ratios"]["erm"] == [[1.0, 0.5], [1.0, 0.25]]
    np.testing.assert_allclose(r["ratios"]["mixup"], [[1.0, 0.5], [1.0, 0.75]])
    assert r["diff"] == pytest.approx([0.0, 0.25]) and r["mean_diff"] == pytest.approx(0.25)
    assert r["se"][1] == pytest.approx(math.sqrt(0.25**2 / 2 / 2 + 0.25**2 / 2 / 2))
    assert r["se"][0] == 0.0 and chapter.ratio_comparison([[0.5, 0.2]], [[0.5, 0.3]])["se"] == [None, None]
    assert chapter.ratio_comparison([[0.0, 0.0]], [[0.5, 0.3]])["ratios"]["erm"] == [[0.0, 0.0]]


def test_matched_accuracy_verdicts_reach_every_branch():
    levels = [0, 4, 16]
    # mixup 3 points less accurate when clean but keeps a larger fraction under FGSM: the raw rule gives up
    # (clean accuracies differ by more than 2 points), the matched rule supports the claim.
    less_clean = [[c - 0.03, r + 0.05, s + 0.05] for c, r, s in ERM]
    assert chapter.fgsm_advantage_verdict(chapter.eps_grid(levels), ERM, less_clean)[0] == INCONCLUSIVE
    verdict, evidence = chapter.matched_accuracy_verdict(levels, ERM, less_clean, chance=0.1)
    assert verdict == SUPPORTED and "clean accuracy ERM 0.900, mixup 0.870" in evidence
    worse = [[c, r - 0.10, s - 0.05] for c, r, s in ERM]
    verdict, evidence = chapter.matched_accuracy_verdict(levels, ERM, worse, chance=0.1)
    assert verdict == NOT_SUPPORTED and "4/255" in evidence
    tie = [[c, r + 0.004, s - 0.004] for c, r, s in ERM]
    assert chapter.matched_accuracy_verdict(levels, ERM, tie, chance=0.1)[0] == INCONCLUSIVE
    assert chapter.matched_accuracy_verdict(levels, ERM[:1], less_clean[:1], chance=0.1)[0] == INCONCLUSIVE
    verdict, evidence = chapter.matched_accuracy_verdict(levels, ERM, less_clean, chance=0.45)
    assert verdict == INCONCLUSIVE and "below 2× chance" in evidence
    # swapping the methods flips the verdict (power)
    assert chapter.matched_accuracy_verdict(levels, less_clean, ERM, chance=0.1)[0] == NOT_SUPPORTED


def test_published_anchors_sit_beside_our_numbers_with_the_direction():
    mixup = [[c, r + 0.10, s + 0.10] for c, r, s in ERM]
    fig1a = {"curves": {"erm": ERM, "mixup": mixup}}
    pgd = {"pgd": {"erm": ERM, "mixup": ERM}}
    rows = chapter.published_comparison(fig1a, pgd)
    assert [r["source"] for r in rows] == ["verma2019manifold", "verma2019manifold", "zhang2018mixup"]
    assert (rows[0]["erm"], rows[0]["mixup"], rows[1]["erm"], rows[1]["mixup"]) == (36.32, 71.51, 21.49, 56.98)
    assert "PGD" in rows[0]["note"] and "2.7 times" in rows[2]["note"]
    assert rows[0]["ours_erm"] == pytest.approx(35.0) and rows[0]["ours_mixup"] == pytest.approx(45.0)
    assert rows[0]["ours_error_ratio"] == pytest.approx(0.65 / 0.55) and rows[0]["ours_pgd_pt"] == 0
    assert all(r["agrees"] is True for r in rows)
    swapped = chapter.published_comparison({"curves": {"erm": mixup, "mixup": ERM}}, pgd)
    assert all(r["agrees"] is False for r in swapped)
    assert chapter.published_comparison({"curves": {"erm": ERM, "mixup": ERM}}, pgd)[0]["agrees"] is None


# ---------------------------------------------------------------- verdicts(results) on hand-made results objects


def _results(erm=ERM, mixup=None, pgd_mixup=None, rows=None, cos_q05=(0.05, 0.04)) -> dict:
    """A minimal results object: what verdicts() reads (Fig. 1a, PGD, theorem rows, cosine summaries)."""
    mixup = mixup if mixup is not None else [[c, r + 0.10, s + 0.10] for c, r, s in erm]
    pgd_erm = [[c, r - 0.3, s - 0.15] for c, r, s in erm]
    pgd_mixup = pgd_mixup if pgd_mixup is not None else [[c, r - 0.3, s - 0.15] for c, r, s in erm]
    met = {"assumptions_met": True, "holds": True, "eps_mix": 0.02}
    summaries = [{"R": 1e-4, "q05": q, "median": 0.2, "mean": 0.2} for q in cos_q05]
    return {
        "dataset": {"used": "fashion_mnist", "chance": 0.1},
        "fig1a": {"eps_255": [0, 4, 16], "curves": {"erm": erm, "mixup": mixup}},
        "pgd": {"eps_255": [0, 4, 16], "fgsm": {"erm": erm, "mixup": mixup},
                "pgd": {"erm": pgd_erm, "mixup": pgd_mixup}},
        "theorems": {"rows": rows if rows is not None else [met]},
        "cosines": {"model": "wrn-16-1", "d": 784, "curves": [
            {"group": "images", "method": m, "seed": 0, "target": "loss", "summary": s}
            for m, s in zip(("erm", "mixup"), summaries, strict=True)]},
    }


def _verdict_of(results: dict, number: int) -> str:
    return next(c.verdict for c in chapter.verdicts(results) if c.number == number)


def test_verdicts_read_every_claim_from_the_results_object():
    claims = chapter.verdicts(_results())
    assert [c.number for c in claims] == [5, 6, 7, 9]
    assert [c.verdict for c in claims] == [SUPPORTED, SUPPORTED, SUPPORTED, SUPPORTED]
    assert "wrn-16-1 on fashion_mnist" in claims[1].statement


def test_each_verdict_reaches_its_other_branches_through_the_results_object():
    unmet = {"assumptions_met": False, "holds": True, "eps_mix": 1e-4}
    assert _verdict_of(_results(rows=[unmet]), 5) == INCONCLUSIVE
    assert _verdict_of(_results(rows=[{**unmet, "assumptions_met": True, "holds": False}]), 5) == NOT_SUPPORTED
    worse = [[c, r - 0.10, s - 0.10] for c, r, s in ERM]
    assert _verdict_of(_results(mixup=worse), 6) == NOT_SUPPORTED
    assert _verdict_of(_results(erm=ERM[:1], mixup=worse[:1]), 6) == INCONCLUSIVE
    kept = [[c, r - 0.2, s - 0.05] for c, r, s in ERM]
    assert _verdict_of(_results(pgd_mixup=kept), 7) == NOT_SUPPORTED
    assert _verdict_of(_results(mixup=ERM), 7) == INCONCLUSIVE
    assert _verdict_of(_results(cos_q05=(0.05, 0.01)), 9) == INCONCLUSIVE
    low = _results()
    low["cosines"]["curves"][0]["summary"].update(q05=0.005, median=0.01)
    assert _verdict_of(low, 9) == NOT_SUPPORTED


def test_swapping_the_methods_flips_claim_6():
    """Power: the same numbers with the methods' labels swapped must not support the claim."""
    results = _results()
    curves = results["fig1a"]["curves"]
    swapped = {**results, "fig1a": {**results["fig1a"], "curves": {"erm": curves["mixup"], "mixup": curves["erm"]}}}
    assert _verdict_of(results, 6) == SUPPORTED and _verdict_of(swapped, 6) == NOT_SUPPORTED


def test_configs_are_fig1a_then_the_sweep_on_the_data_set_used(monkeypatch):
    from mixup_lib import data

    monkeypatch.setattr(data, "load_dataset", _fake_loader({"fashion_mnist"}, []))
    settings = profiles.resolve("robustness", "quick")
    got = chapter.configs(settings)
    expected = 2 * len(settings["seeds"]) + len(settings["alpha_sweep"])
    assert [c["dataset"] for c in got] == ["fashion_mnist"] * expected
    assert got[: 2 * len(settings["seeds"])] == list(chapter.fig1a_configs(settings, "fashion_mnist").values())


# ---------------------------------------------------------------- a smoke compute, and its JSON round trip

TINY = {"n_train": 64, "n_test": 32, "epochs": 1, "pgd_points": 16, "cos_points": 16, "moons_n": 40,
        "moons_steps": 20, "moons_alphas": [1.0]}


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    settings = profiles.resolve("robustness", "smoke", **TINY)
    store = tmp_path_factory.mktemp("runs")
    return settings, chapter.compute(settings, runs_dir=store, device="cpu", workers=1), store


def test_smoke_compute_gives_plain_json_whose_round_trip_gives_the_same_verdicts(computed, tmp_path):
    from mixup_lib import results as store

    settings, results, runs_dir = computed
    assert json.loads(json.dumps(results)) == results  # plain JSON: no numpy, no tensors
    again = chapter.verdicts(json.loads(json.dumps(results)))
    assert again == chapter.verdicts(results)
    path = store.save(results, tmp_path / "r.json")  # the store writes NaN as null: the verdicts must not care
    assert chapter.verdicts(json.loads(path.read_text())) == again
    assert set(results) & set(store.STORE_FIELDS) <= {"provenance"}
    prov = results["provenance"]
    assert {"device", "dataset requested", "dataset used", "data source", "fallback reason"} <= set(prov)
    fig1a = results["fig1a"]
    assert [len(c) for c in fig1a["curves"]["erm"]] == [len(settings["eps_255"])]
    assert results["ratio"]["ratios"]["erm"][0][0] in (0.0, 1.0)  # robust / clean: 1 at ε = 0
    assert len(results["published"]) == 3 and "agrees" in results["published"][0]
    assert results["trainer_gap"] < 1e-9  # the ε = 0 point is the trainer's test accuracy
    assert list((runs_dir / attack_cache.ATTACK_CACHE_FOLDER).glob("*.json"))  # attacks are cached in the store


def test_what_was_run_states_each_setting_once(computed):
    settings, results, _ = computed
    shown = chapter.what_was_run(results["setup"], settings)
    assert not set(shown) & set(chapter.SETUP_STATES)  # said in words by the setup rows instead
    assert set(settings) - set(chapter.SETUP_STATES) <= set(shown)
    assert shown["data set used"].startswith("fashion_mnist") and "FGSM ε grid" in shown and "PGD" in shown
    assert len(results["theorems"]["rows"]) == 2 * 2 * 2 * len({1.0, settings["alpha"]})  # data, model, θ, α
