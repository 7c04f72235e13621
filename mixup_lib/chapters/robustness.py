"""The robustness chapter: Fig. 1a, a PGD control, an α sweep, Theorems 3.1/3.2 on two moons, and Fig. 3.

Zhang et al., *How Does Mixup Help With Robustness and Generalization?* (ICLR 2021), Section 3. The chapter's
pattern (DESIGN.md): :data:`PRESETS` and :data:`RULES` → :func:`configs` → :func:`compute` (a plain JSON results
object) → :func:`verdicts` (claims 5, 6, 7 and 9 of the specification, from the results object alone).

- **Fig. 1a** — robust test accuracy under FGSM-ℓ∞ (pixel units, :data:`EPS_UNIT`) of a mixup-trained and an
  ERM-trained network on SVHN (Fashion-MNIST where SVHN cannot be had, with a notice), against ε.
- **The PGD control** (beyond the paper, whose claim is about single-step attacks): the same under PGD-ℓ∞ on the
  first test points, with FGSM rerun on those points for a like-for-like comparison.
- **The α sweep** (beyond the paper): FGSM robust accuracy of the first seed's networks for each α (0: ERM).
- **Theorems 3.1/3.2** on centred two moons (:func:`mixup_lib.bound.theorem_check`): the faithful case, one logit.
- **Fig. 3** (its content is reconstructed): |cos(∇_x l(x_i), x_i − x̄)| over training points
  (:func:`mixup_lib.bound.input_gradient_cosines`), against directions unrelated to x.
- **What others measured** (:func:`published_comparison`): the published FGSM anchors of
  :mod:`mixup_lib.published` beside our numbers, and whether our direction agrees (mixup more robust).

What the theory covers: Theorems 3.1/3.2 are about one logit (binary logistic regression; bias-free ReLU nets with
max-pooling). The ten-class networks of Fig. 1a and Fig. 3 are outside them; the two-moons check is the faithful
case, and claim 9's statement says so.

Which scalar f for a K-class image model? The theory's f is the one logit of a binary model, and there the
input gradient of the loss is (σ(f) − y)·∇f: the same direction up to sign, so |cos| is the same. For K classes
we use the per-sample input gradient of the loss, ∇_x l = Σ_k (p_k − y_k)∇f_k: (i) it reduces to the theory's
quantity for one logit, (ii) its norm is the first-order term of the multi-class adversarial loss and its inner
product with x_i the multi-class R1 term, and (iii) FGSM steps along its sign. ``target="logit"`` (the
true-class logit) is drawn for comparison. x_i is centred by the training mean (per pixel).

Verdict rules (se: the standard error of a difference of means over seeds, √(s²_ERM/n + s²_mixup/n), from the
seeds' spread; the test set is fixed):

- **Claim 5** (:func:`bound_verdict`): judged only on the two-moons cases that meet every assumption (zero
  training error, centred data, f(x) = ∇f(x)ᵀx, R3 = 0): supported if the inequality holds in all, not supported
  if it fails in one, inconclusive if none meets them.
- **Claim 6** (:func:`matched_accuracy_verdict`), "at similar clean accuracy" controlled for rather than
  required: per network, the robust accuracy at each ε is divided by its own clean accuracy (the fraction of its
  correct predictions that survive the attack, :func:`ratio_comparison`), and mixup's ratios are compared with
  ERM's over seeds. Inconclusive with fewer than two seeds, or when a network's clean accuracy is below
  :data:`CLEAN_FLOOR` times chance (near chance the ratio is noise over noise); not supported if at some ε > 0
  mixup's mean ratio is below ERM's by more than max(:data:`Z`·se, :data:`RATIO_TIE`); supported if the ratio
  advantage averaged over the grid's ε > 0 (per seed) exceeds max(Z·se, RATIO_TIE); otherwise inconclusive. A
  clean-accuracy gap no longer makes the claim inconclusive by itself; it is reported. The raw-accuracy rule
  (:func:`fgsm_advantage_verdict`: inconclusive when the clean accuracies differ by more than :data:`CLEAN_TOL`,
  else the same z-test on raw accuracies) is kept as evidence beside it.
- **Claim 7** (:func:`pgd_shrinkage_verdict`): per seed, A and B are mixup's advantage averaged over the PGD
  grid's ε > 0 under FGSM and PGD on the same points. Inconclusive with fewer than two seeds or when A is not
  above max(Z·se, TIE) (nothing to shrink); supported if A − B exceeds max(Z·se, TIE); not supported if B stays
  above max(Z·se, TIE) without a resolved shrinkage; otherwise inconclusive.
- **Claim 9** (:func:`cosine_verdict`, image networks, gradient of the loss): supported if for every network
  the 5% quantile of |cos| exceeds the median |cos| of random directions in the same dimension
  (:func:`mixup_lib.bound.null_cosine_quantile`); not supported if some network's median |cos| is at most that;
  otherwise inconclusive. R (the minimum) is reported, not judged: a minimum over many points goes to 0.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mixup_lib import bound, dispatch, models, profiles, published, runs
from mixup_lib.attack_cache import attack_accuracy, cache_folder
from mixup_lib.claims import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim
from mixup_lib.data import DATASET_NAMES
from mixup_lib.errors import ConfigError, check_choice, check_nonnegative, require
from mixup_lib.train import SCHEDULES

#: One ε step of the book's grids: one grey level of an 8-bit image, inputs in [0, 1].
EPS_UNIT = 1 / 255
#: Claim 6: mean clean accuracies further apart than this are not "similar clean accuracy".
CLEAN_TOL = 0.02
#: Claims 6 and 7: a difference is resolved when it exceeds Z standard errors over seeds ...
Z = 2.0
#: ... and this many accuracy points (a fraction): smaller differences count as ties.
TIE = 0.01
#: Claim 6 at matched accuracy: ratio differences (robust / clean accuracy) under this count as ties.
RATIO_TIE = 0.01
#: Claim 6 at matched accuracy: every network's clean accuracy must be at least this many times chance.
CLEAN_FLOOR = 2.0
#: Fig. 3: an ECDF is stored as every sorted value up to this many points, else as this many quantiles.
ECDF_POINTS = 1000
METHODS = ("erm", "mixup")

# ----------------------------------------------------------------------------------------------------------
# Presets and settings rules

# The paper states WRN-16-8 on SVHN and SGD with batch 64, momentum 0.9, lr 0.1. It does not state the epochs,
# schedule, weight decay, α, the ε grid or seeds: these are our choices (eps_255 is the ε grid in units of 1/255).
_ROBUSTNESS_TRAINER = {"batch_size": 64, "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "schedule": "onecycle",
                       "augment": False, "data_seed": 0}
PRESETS = profiles.PRESETS["robustness"] = {
    "smoke": {
        "dataset": "svhn", "model": "wrn-10-1", "epochs": 2, "n_train": 128, "n_test": 64, **_ROBUSTNESS_TRAINER,
        "seeds": [0], "alpha": 1.0, "eps_255": [0, 4, 16, 64], "pgd_eps_255": [0, 16], "pgd_points": 32,
        "pgd_steps": 3, "alpha_sweep": [0.0, 1.0], "cos_points": 64, "attack_batch": 128,
        "moons_n": 100, "moons_noise": 0.1, "moons_gap": 1.0, "moons_hidden": 16, "moons_steps": 100,
        "moons_alphas": [0.5, 2.0], "bound_seeds": 1,
    },
    "quick": {
        "dataset": "svhn", "model": "wrn-16-1", "epochs": 3, "n_train": 5000, "n_test": 1000, **_ROBUSTNESS_TRAINER,
        "seeds": [0, 1, 2], "alpha": 1.0, "eps_255": [0, 1, 2, 4, 8, 16, 32, 64], "pgd_eps_255": [0, 2, 4, 8, 16],
        "pgd_points": 200, "pgd_steps": 10, "alpha_sweep": [0.0, 0.2, 1.0, 2.0], "cos_points": 1000,
        "attack_batch": 128,
        "moons_n": 300, "moons_noise": 0.1, "moons_gap": 1.0, "moons_hidden": 100, "moons_steps": 2000,
        "moons_alphas": [0.2, 0.5, 1.0, 2.0, 4.0], "bound_seeds": 1,
    },
    # full (2-core CPU, two workers, ~2 h estimated): WRN-16-1 (175k parameters, ~600 images/s per single-thread
    # worker on 28×28) on every training image for 10 epochs, every test image, three seeds.
    "full": {
        "dataset": "svhn", "model": "wrn-16-1", "epochs": 10, "n_train": None, "n_test": None, **_ROBUSTNESS_TRAINER,
        "seeds": [0, 1, 2], "alpha": 1.0, "eps_255": [0, 1, 2, 4, 8, 16, 32, 64], "pgd_eps_255": [0, 2, 4, 8, 16],
        "pgd_points": 1000, "pgd_steps": 10, "alpha_sweep": [0.0, 0.2, 1.0, 2.0], "cos_points": 1000,
        "attack_batch": 256,
        "moons_n": 1000, "moons_noise": 0.1, "moons_gap": 1.0, "moons_hidden": 100, "moons_steps": 5000,
        "moons_alphas": [0.1, 0.2, 0.5, 1.0, 2.0, 4.0], "bound_seeds": 3,
    },
    "paper": {
        "dataset": "svhn", "model": "wrn-16-8", "epochs": 30, "n_train": None, "n_test": None, **_ROBUSTNESS_TRAINER,
        "seeds": [0, 1, 2], "alpha": 1.0, "eps_255": [0, 1, 2, 4, 8, 16, 32, 64], "pgd_eps_255": [0, 1, 2, 4, 8, 16],
        "pgd_points": 2000, "pgd_steps": 10, "alpha_sweep": [0.0, 0.2, 0.5, 1.0, 2.0, 4.0], "cos_points": 5000,
        "attack_batch": 512,
        "moons_n": 1000, "moons_noise": 0.1, "moons_gap": 1.0, "moons_hidden": 100, "moons_steps": 5000,
        "moons_alphas": [0.1, 0.2, 0.5, 1.0, 2.0, 4.0], "bound_seeds": 3,
    },
}


def eps_grid(levels: Sequence[float]) -> list[float]:
    """ε values in pixel units (inputs in [0, 1]) from ``levels`` in units of 1/255, e.g. [0, 1, 2, 4, 8].

    The grid must start at 0 (the clean accuracy, Fig. 1a's first point) and increase strictly.
    """
    ok = isinstance(levels, (list, tuple)) and len(levels) > 0
    ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in levels)
    require(ok, f"eps grid {levels!r} is not allowed: give a non-empty list of numbers (units of 1/255)")
    require(levels[0] == 0, f"eps grid {list(levels)!r} is not allowed: it must start at 0 (the clean accuracy)")
    require(
        all(b > a for a, b in itertools.pairwise(levels)),
        f"eps grid {list(levels)!r} is not allowed: it must increase strictly",
    )
    return [v * EPS_UNIT for v in levels]


def _eps_levels(name: str, levels: Any) -> list[float]:
    """An ε grid in units of 1/255 as :func:`eps_grid` accepts it (from 0, strictly increasing)."""
    try:
        eps_grid(levels)
    except ConfigError as error:
        raise ConfigError(f"{name}: {error}") from None
    return list(levels)


def _model_name(name: str, value: Any) -> str:
    """A network name that :func:`mixup_lib.models.build` accepts (e.g. wrn-16-8)."""
    models.check_spec(value, {})  # one-line ConfigError naming the allowed models
    return value


def _bound_seeds_within_seeds(settings: Mapping[str, Any]) -> None:
    count, seeds = settings["bound_seeds"], settings["seeds"]
    require(count <= len(seeds), f"bound_seeds={count!r} is not allowed: it must be at most len(seeds)={len(seeds)}")


RULES = profiles.RULES["robustness"] = profiles.SettingsRules(
    checks={
        "dataset": profiles.choice(*(n for n in DATASET_NAMES if n != "two_moons")), "model": _model_name,
        "epochs": profiles.positive_int, "n_train": profiles.positive_int_or_all,
        "n_test": profiles.positive_int_or_all, "batch_size": profiles.positive_int, "lr": profiles.positive_number,
        "momentum": profiles.fraction_below_one, "weight_decay": profiles.nonnegative_number,
        "schedule": profiles.choice(*SCHEDULES), "augment": profiles.boolean, "data_seed": profiles.nonnegative_int,
        "seeds": profiles.seeds, "alpha": profiles.positive_number, "eps_255": _eps_levels,
        "pgd_eps_255": _eps_levels, "pgd_points": profiles.positive_int, "pgd_steps": profiles.positive_int,
        "alpha_sweep": profiles.number_list(minimum=0), "cos_points": profiles.positive_int,
        "attack_batch": profiles.positive_int, "moons_n": profiles.positive_int,
        "moons_noise": profiles.nonnegative_number, "moons_gap": profiles.nonnegative_number,
        "moons_hidden": profiles.positive_int, "moons_steps": profiles.positive_int,
        "moons_alphas": profiles.number_list(minimum=0, inclusive=False), "bound_seeds": profiles.positive_int,
    },
    relations=(profiles.at_most("pgd_points", "n_test", " (PGD attacks the first test points)"),
               profiles.at_most("cos_points", "n_train", " (Fig. 3 uses the first training points)"),
               _bound_seeds_within_seeds),
    datasets=lambda settings: (settings["dataset"], profiles.FALLBACK_DATASET),
)


# ----------------------------------------------------------------------------------------------------------
# Configs


def choose_data(settings: Mapping[str, Any]) -> profiles.DataChoice:
    """The data set of Fig. 1a with the project's visible fallback (Fashion-MNIST where SVHN cannot be had).

    Loads ``settings["dataset"]`` with the subset sizes and seed the trainer uses, so the test points attacked
    are the trainer's test points; the page must show the substitution notice when ``choice.is_fallback``.
    """
    return profiles.load_with_fallback(
        settings["dataset"], n_train=settings["n_train"], n_test=settings["n_test"], seed=settings["data_seed"]
    )


_TRAINER_KEYS = ("model", "epochs", "batch_size", "lr", "momentum", "weight_decay", "schedule", "n_train", "n_test",
                 "augment", "data_seed")


def run_config(settings: Mapping[str, Any], dataset: str, *, method: str, seed: int, alpha: float | None = None,
               device: str = "auto") -> dict[str, Any]:
    """The trainer config (:mod:`mixup_lib.train`) of one Fig. 1a model; ``alpha`` defaults to the profile's."""
    check_choice("method", method, METHODS)
    config = {key: settings[key] for key in _TRAINER_KEYS}
    config.update(name=f"robustness-{method}", dataset=dataset, method=method, seed=seed, device=device,
                  alpha=float(settings["alpha"] if alpha is None else alpha) if method == "mixup" else 0.0)
    return config


def fig1a_configs(settings: Mapping[str, Any], dataset: str, device: str = "auto") -> dict[tuple[str, int], dict]:
    """Fig. 1a: one ERM and one mixup (α = settings["alpha"]) config per seed, keyed (method, seed)."""
    return {(method, seed): run_config(settings, dataset, method=method, seed=seed, device=device)
            for method in METHODS for seed in settings["seeds"]}


def alpha_sweep_configs(settings: Mapping[str, Any], dataset: str, device: str = "auto") -> dict[float, dict]:
    """Robust accuracy against α (beyond the paper): the first seed, α = 0 meaning ERM.

    At α = 0 and α = settings["alpha"] these are the first seed's Fig. 1a configs (same hash: no retraining).
    """
    seed = settings["seeds"][0]
    sweep = {}
    for alpha in settings["alpha_sweep"]:
        check_nonnegative("alpha_sweep entry", alpha)
        method = "erm" if alpha == 0 else "mixup"
        sweep[float(alpha)] = run_config(settings, dataset, method=method, seed=seed, alpha=alpha, device=device)
    return sweep


def configs(settings: Mapping[str, Any], device: str = "auto") -> list[dict[str, Any]]:
    """Every trainer config of the chapter: Fig. 1a's models, then the α sweep's (on the data set used)."""
    used = choose_data(settings).used
    return [*fig1a_configs(settings, used, device).values(), *alpha_sweep_configs(settings, used, device).values()]


# ----------------------------------------------------------------------------------------------------------
# Compute: train what is missing, gather, attack, check the theorems, measure the cosines


def _levels(levels: Sequence[float]) -> str:
    return ", ".join(f"{v:g}/255" for v in levels)


def _ecdf_points(values: np.ndarray) -> list[float]:
    """Sorted values (all of them up to :data:`ECDF_POINTS`, else that many evenly spaced quantiles)."""
    v = np.sort(np.asarray(values, dtype=float))
    if len(v) > ECDF_POINTS:
        v = np.quantile(v, np.linspace(0, 1, ECDF_POINTS))
    return [float(a) for a in v]


class _Networks:
    """The chapter's trained networks, each gathered from the run store once, and its cached attacks."""

    def __init__(self, settings: Mapping[str, Any], runs_dir: Any, device: Any) -> None:
        self.settings, self.runs_dir, self.device = settings, runs_dir, device
        self.cache = cache_folder(runs_dir)
        self.by_hash: dict[str, tuple[runs.Run, Any]] = {}

    def get(self, config: Mapping[str, Any]) -> tuple[runs.Run, Any, str]:
        key = runs.config_hash(config)
        if key not in self.by_hash:
            run = runs.get_or_train(config, runs_dir=self.runs_dir, progress=False, need_weights=True)
            self.by_hash[key] = (run, run.load_model(self.device))
        return (*self.by_hash[key], key)

    def attack(self, config: Mapping[str, Any], name: str, x: Any, y: Any, grid: Sequence[float]) -> list[float]:
        _, net, key = self.get(config)
        return attack_accuracy(net, x, y, grid, name, steps=self.settings["pgd_steps"],
                               batch_size=self.settings["attack_batch"], model_key=key, cache_dir=self.cache)


def _network_record(run: runs.Run, key: str, config: Mapping[str, Any]) -> dict[str, Any]:
    return {"method": config["method"], "alpha": float(run.config["alpha"]), "seed": config["seed"], "hash": key,
            "source": run.source, "train_acc": float(run.final["train_acc"]), "test_acc": float(run.final["test_acc"]),
            "wall_time_s": float(run.final["wall_time_s"])}


def _image_attacks(settings: Mapping[str, Any], nets: _Networks, images: Any, fig1a: Mapping, sweep: Mapping
                   ) -> dict[str, Any]:
    """Fig. 1a, the PGD control, the α sweep and the table of every network."""
    seeds = settings["seeds"]
    eps, pgd_eps = eps_grid(settings["eps_255"]), eps_grid(settings["pgd_eps_255"])
    x_test, y_test = images.x_test, images.y_test
    x_pgd, y_pgd = x_test[: settings["pgd_points"]], y_test[: settings["pgd_points"]]
    fgsm = {key: nets.attack(config, "fgsm", x_test, y_test, eps) for key, config in fig1a.items()}
    fgsm_sub = {key: nets.attack(config, "fgsm", x_pgd, y_pgd, pgd_eps) for key, config in fig1a.items()}
    pgd = {key: nets.attack(config, "pgd", x_pgd, y_pgd, pgd_eps) for key, config in fig1a.items()}
    swept = {a: nets.attack(config, "fgsm", x_test, y_test, eps) for a, config in sweep.items()}
    curves = {m: [fgsm[m, s] for s in seeds] for m in METHODS}
    stats = compare_methods(curves["erm"], curves["mixup"])
    networks, table = [], []
    fig1a_hashes = {nets.get(c)[2]: k for k, c in fig1a.items()}
    for key, config in [*fig1a.items(), *((("sweep", a), c) for a, c in sweep.items())]:
        run, _, run_key = nets.get(config)
        if key[0] == "sweep" and run_key in fig1a_hashes:
            continue  # already listed as a Fig. 1a network
        role = "α sweep" if key[0] == "sweep" else "Fig. 1a"
        networks.append({**_network_record(run, run_key, config), "role": role})
        row = {"method": config["method"], "alpha": float(run.config["alpha"]), "seed": config["seed"],
               "train": float(run.final["train_acc"]), "clean": (fgsm.get(key) or swept[key[1]])[0]}
        for k, level in enumerate(settings["pgd_eps_255"]):
            if level > 0:
                row[f"fgsm {level:g}"] = fgsm_sub[key][k] if key in fgsm_sub else None
                row[f"pgd {level:g}"] = pgd[key][k] if key in pgd else None
        table.append(row)
    return {
        "fig1a": {"eps_255": list(settings["eps_255"]), "seeds": list(seeds), "alpha": settings["alpha"],
                  "curves": curves,
                  "table": [{"eps_255": v, "erm": e, "mixup": m, "diff_pt": 100 * d,
                             "se_pt": 100 * se if math.isfinite(se) else None}
                            for v, e, m, d, se in zip(settings["eps_255"], *(stats[k].tolist() for k in
                                                      ("erm", "mixup", "diff", "se")), strict=True)]},
        "ratio": _ratio_block(settings["eps_255"], curves),
        "pgd": {"eps_255": list(settings["pgd_eps_255"]), "points": len(y_pgd), "steps": settings["pgd_steps"],
                "fgsm": {m: [fgsm_sub[m, s] for s in seeds] for m in METHODS},
                "pgd": {m: [pgd[m, s] for s in seeds] for m in METHODS}},
        "alpha_sweep": {"seed": seeds[0], "alphas": list(swept), "accuracy": list(swept.values())},
        "networks": networks,
        "network_table": table,
        "trainer_gap": max(abs(nets.get(c)[0].final["test_acc"] - fgsm[k][0]) for k, c in fig1a.items()),
    }


def _ratio_block(eps_255: Sequence[float], curves: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`ratio_comparison` of Fig. 1a's curves, with its table's rows (one per ε > 0)."""
    r = ratio_comparison(curves["erm"], curves["mixup"])
    rows = [{"eps_255": v, "erm": e, "mixup": m, "diff": d, "se": se} for v, e, m, d, se in
            zip(eps_255, r["erm"], r["mixup"], r["diff"], r["se"], strict=True)][1:]
    return {"eps_255": list(eps_255), **r, "table": rows}


def published_comparison(fig1a: Mapping[str, Any], pgd: Mapping[str, Any], *, tie: float = TIE
                         ) -> list[dict[str, Any]]:
    """The chapter's published anchors (:func:`mixup_lib.published.anchors`) beside our numbers.

    Ours: FGSM accuracy averaged over the grid's ε > 0 and the seeds (%, the published ε are not stated), the
    ratio of top-1 errors ERM / mixup under FGSM (the mixup paper's "2.7 times more robust"), mixup − ERM under
    PGD on the PGD points (Manifold Mixup's remark) and ``agrees``: :func:`mixup_lib.published.direction_agrees`
    on FGSM accuracy (None when our difference is within ``tie``).
    """
    def mean_over_eps(curves: Sequence[Sequence[float]]) -> float:
        return float(np.asarray(curves, dtype=float)[:, 1:].mean())

    erm, mix = mean_over_eps(fig1a["curves"]["erm"]), mean_over_eps(fig1a["curves"]["mixup"])
    pgd_adv = mean_over_eps(pgd["pgd"]["mixup"]) - mean_over_eps(pgd["pgd"]["erm"])
    ours = {"ours_erm": 100 * erm, "ours_mixup": 100 * mix,
            "ours_error_ratio": (1 - erm) / (1 - mix) if mix < 1 else None, "ours_pgd_pt": 100 * pgd_adv,
            "agrees": published.direction_agrees("fgsm_accuracy", erm, mix, tie=tie)}
    return [{"source": a["source"], "where": a["where"], "setup": a["setup"], "erm": a["erm"], "mixup": a["mixup"],
             "unit": a["unit"], "note": a["note"], **ours} for a in published.anchors("robustness")]


def _theorems(settings: Mapping[str, Any]) -> tuple[dict[str, Any], dict]:
    """Theorems 3.1/3.2 on centred two moons and on two moons pulled apart (our construction): rows, summaries."""
    alphas = sorted({*settings["moons_alphas"], settings["alpha"]})
    seeds = settings["seeds"][: settings["bound_seeds"]]
    variants = {"two moons": 0.0, f"two moons, gap {settings['moons_gap']:g}": settings["moons_gap"]}
    rows, variant_rows, nets = [], [], {}
    for name, gap in variants.items():
        x, y, _, _ = bound.centred_two_moons(settings["moons_n"], settings["moons_n"], settings["moons_noise"],
                                             settings["data_seed"], gap=gap)
        here, trained = bound.theorem_check(x, y, alphas=alphas, seeds=seeds, hidden=settings["moons_hidden"],
                                            steps=settings["moons_steps"])
        rows += [{"data": name, **row} for row in here]
        nets.update({(name, *key): (net, x, y) for key, net in trained.items()})
        variant_rows.append({"data": name, "gap": gap, "class_changes": bound.angular_class_changes(x, y),
                             "best_train_acc": max(r["train_acc"] for r in here),
                             "zero_error": sum(r["zero_training_error"] for r in here), "cases": len(here)})
    summary = [{"data": name, "model": kind,
                **bound.theorem_summary([r for r in rows if r["data"] == name and r["model"] == kind])}
               for name in variants for kind in bound.MOONS_MODELS]
    return {"alphas": alphas, "seeds": list(seeds), "n": settings["moons_n"], "noise": settings["moons_noise"],
            "hidden": settings["moons_hidden"], "steps": settings["moons_steps"], "variants": variant_rows,
            "models": list(bound.MOONS_MODELS), "rows": rows, "summary": summary}, nets


def _cosines(settings: Mapping[str, Any], nets: _Networks, images: Any, fig1a: Mapping, theorems: Mapping,
             moons_nets: Mapping) -> dict[str, Any]:
    """Fig. 3: |cos| of the Fig. 1a networks (loss and true-class logit) and of the two-moons ReLU nets."""
    from mixup_lib.mixup import mixture_moment

    centre = images.x_train.mean(dim=0)
    x_cos, y_cos = images.x_train[: settings["cos_points"]], images.y_train[: settings["cos_points"]]
    d = x_cos[0].numel()
    e1 = mixture_moment(settings["alpha"], None, 1)
    c_x = float((x_cos - centre).reshape(len(x_cos), -1).norm(dim=1).min()) / math.sqrt(d)
    curves, rows = [], []
    for (method, seed), config in fig1a.items():
        net = nets.get(config)[1]
        for target in bound.COSINE_TARGETS:
            values = bound.input_gradient_cosines(net, x_cos, y_cos, target=target, centre=centre,
                                                  batch_size=settings["attack_batch"])
            summary = bound.cosine_summary(values)
            curves.append({"group": "images", "method": method, "seed": seed, "target": target,
                           "summary": summary, "ecdf": _ecdf_points(values)})
            if target == "loss":
                rows.append({"net": f"{settings['model']} {method}", "method": method, "seed": seed, **summary,
                             "eps255": summary["R"] * c_x * e1 * 255})
    first = theorems["seeds"][0]
    for name in (v["data"] for v in theorems["variants"]):
        for a in (0.0, float(settings["alpha"])):
            net, x, y = moons_nets[name, "bias-free ReLU net", a, first]
            values = bound.input_gradient_cosines(net, x, y, target="logit")
            summary = bound.cosine_summary(values)
            curves.append({"group": "moons", "data": name, "alpha": a, "summary": summary,
                           "ecdf": _ecdf_points(values)})
            rows.append({"net": f"ReLU net {'ERM' if a == 0 else f'mixup α={a:g}'}, {name}", "seed": first,
                         **summary})
    by_method = []
    for method in METHODS:
        mine = [r for r in rows if r.get("method") == method]
        by_method.append({"method": method, "R_min": min(r["R"] for r in mine), "R_max": max(r["R"] for r in mine),
                          "median": float(np.mean([r["median"] for r in mine])),
                          "R_over_median": float(np.mean([r["R"] / r["median"] for r in mine])),
                          "certified_255": max(r["eps255"] for r in mine)})
    return {"model": settings["model"], "points": len(y_cos), "d": d, "c_x": c_x, "E1": e1, "alpha": settings["alpha"],
            "null_median": {"images": bound.null_cosine_quantile(d, 0.5), "moons": bound.null_cosine_quantile(2, 0.5)},
            "smallest_eps_255": min(v for v in settings["eps_255"] if v > 0),
            "curves": curves, "table": rows, "by_method": by_method}


def compute(settings: Mapping[str, Any], *, runs_dir: Any = None, device: str = "auto", workers: int | None = None
            ) -> dict[str, Any]:
    """The chapter's results object: every number of the page's figures, tables and verdicts (plain JSON)."""
    from mixup_lib.devices import device_description, resolve_device

    run_device = resolve_device(device)
    choice = choose_data(settings)
    images = choice.data
    fig1a = fig1a_configs(settings, choice.used, device)
    sweep = alpha_sweep_configs(settings, choice.used, device)
    dispatch.train_pending([*fig1a.values(), *sweep.values()], workers=workers, need_weights=True, runs_dir=runs_dir)
    with dispatch.one_torch_thread():
        nets = _Networks(settings, runs_dir, run_device)
        results = _image_attacks(settings, nets, images, fig1a, sweep)
        theorems, moons_nets = _theorems(settings)
        results["theorems"] = theorems
        results["cosines"] = _cosines(settings, nets, images, fig1a, theorems, moons_nets)
        described = device_description(run_device)
    used = choice.used + (f" (instead of {choice.requested})" if choice.is_fallback else "")
    results["published"] = published_comparison(results["fig1a"], results["pgd"])
    results["dataset"] = {"requested": choice.requested, "used": choice.used, "is_fallback": choice.is_fallback,
                          "reason": choice.reason, "num_classes": images.num_classes, "chance": 1 / images.num_classes}
    results["setup"] = {
        "data set used": used, "data source": images.source,
        "training / test points": f"{images.n_train} / {images.n_test}",
        "network": f"{settings['model']} (normalization inside the network)", "device": str(run_device),
        "FGSM ε grid": _levels(settings["eps_255"]),
        "PGD": f"ℓ∞, {settings['pgd_steps']} steps of 2.5ε/{settings['pgd_steps']}, random start, first "
               f"{settings['pgd_points']} test points, ε {_levels(settings['pgd_eps_255'])}",
    }
    results["provenance"] = {"device": described, "dataset requested": choice.requested, "dataset used": choice.used,
                             "data source": images.source, "fallback reason": choice.reason,
                             "seeds": list(settings["seeds"])}
    return results


#: Settings that ``results["setup"]`` already states in words: the data set (asked for and used), the network,
#: the subset sizes, the FGSM grid and the PGD attack.
SETUP_STATES = ("dataset", "model", "n_train", "n_test", "eps_255", "pgd_eps_255", "pgd_points", "pgd_steps")


def what_was_run(setup: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The page's "What was run" table: ``results["setup"]`` in words, then every other setting; none twice."""
    return {**setup, **{key: value for key, value in settings.items() if key not in SETUP_STATES}}


# ----------------------------------------------------------------------------------------------------------
# Verdict rules (plain numbers in)


def compare_methods(erm: Sequence[Sequence[float]], mixup: Sequence[Sequence[float]]) -> dict[str, np.ndarray]:
    """Seed-wise curves (seeds × ε) of both methods → means, difference (mixup − ERM) and its standard error.

    se = √(s²_ERM/n_ERM + s²_mixup/n_mixup) with the sample standard deviations over seeds (ddof 1): the
    seed-to-seed spread, nothing else (the test set is fixed). With fewer than two seeds per method se is NaN.
    """
    e, m = np.asarray(erm, dtype=float), np.asarray(mixup, dtype=float)
    require(e.ndim == 2 and m.ndim == 2 and e.shape[1] == m.shape[1] and len(e) and len(m),
            f"curves of shapes {e.shape} and {m.shape}: give (seeds, eps) arrays with the same eps axis")
    if len(e) < 2 or len(m) < 2:
        se = np.full(e.shape[1], np.nan)
    else:
        se = np.sqrt(e.var(axis=0, ddof=1) / len(e) + m.var(axis=0, ddof=1) / len(m))
    return {"erm": e.mean(axis=0), "mixup": m.mean(axis=0), "diff": m.mean(axis=0) - e.mean(axis=0), "se": se}


def fgsm_advantage_verdict(eps: Sequence[float], erm: Sequence[Sequence[float]], mixup: Sequence[Sequence[float]],
                           *, clean_tol: float = CLEAN_TOL, z: float = Z, tie: float = TIE) -> tuple[str, str]:
    """Claim 6 (Fig. 1a): mixup's FGSM robust accuracy ≥ ERM's at every ε > 0, at similar clean accuracy.

    ``erm``/``mixup``: accuracies (fractions), seeds × ε, ε[0] = 0. The rule is in the module docstring.
    Returns (verdict, evidence).
    """
    eps = list(eps)
    e, m = np.asarray(erm, dtype=float), np.asarray(mixup, dtype=float)
    require(eps and eps[0] == 0 and e.shape[1] == len(eps) == m.shape[1],
            "claim 6 needs curves over an eps grid that starts at 0")
    stats = compare_methods(e, m)
    clean_gap = float(stats["diff"][0])
    pos = [k for k, v in enumerate(eps) if v > 0]
    average = compare_methods(e[:, pos].mean(axis=1, keepdims=True), m[:, pos].mean(axis=1, keepdims=True))
    adv, adv_se = float(average["diff"][0]), float(average["se"][0])
    worst = min(pos, key=lambda k: stats["diff"][k] + z * np.nan_to_num(stats["se"][k]))
    evidence = (f"clean accuracy mixup − ERM {100 * clean_gap:+.1f} pt; FGSM advantage averaged over ε > 0 "
                f"{100 * adv:+.1f} ± {100 * adv_se:.1f} pt (se over seeds); smallest difference "
                f"{100 * stats['diff'][worst]:+.1f} ± {100 * stats['se'][worst]:.1f} pt at ε = "
                f"{eps[worst] / EPS_UNIT:g}/255")
    if len(e) < 2 or len(m) < 2:
        return INCONCLUSIVE, evidence + "; fewer than 2 seeds: no spread to judge by"
    if abs(clean_gap) > clean_tol:
        return INCONCLUSIVE, evidence + f"; clean accuracies differ by more than {100 * clean_tol:g} pt"
    below = [k for k in pos if stats["diff"][k] < -max(z * stats["se"][k], tie)]
    if below:
        where = ", ".join(f"{eps[k] / EPS_UNIT:g}/255" for k in below)
        return NOT_SUPPORTED, evidence + f"; mixup resolvably below ERM at ε = {where}"
    return (SUPPORTED if adv > max(z * adv_se, tie) else INCONCLUSIVE), evidence


def ratio_comparison(erm: Sequence[Sequence[float]], mixup: Sequence[Sequence[float]]) -> dict[str, Any]:
    """Robust accuracy over clean accuracy per network (seeds × ε, ε[0] = 0), compared between methods.

    Returns the per-seed ratios of each method and, per ε, the mean ratios, their difference (mixup − ERM) and
    its standard error over seeds (:func:`compare_methods`; None where there is no spread), plus the same for
    the ratio averaged over ε > 0 per seed (``mean_diff``, ``mean_se``). A clean accuracy of 0 gives ratio 0.
    """
    e, m = np.asarray(erm, dtype=float), np.asarray(mixup, dtype=float)
    require(e.ndim == 2 and m.ndim == 2 and e.shape[1] == m.shape[1] >= 2,
            "ratios need (seeds, eps) curves over a grid that starts at 0 and has an eps > 0")
    ratios = {name: np.divide(a, a[:, :1], out=np.zeros_like(a), where=a[:, :1] > 0) for name, a in
              (("erm", e), ("mixup", m))}
    stats = compare_methods(ratios["erm"], ratios["mixup"])
    average = compare_methods(ratios["erm"][:, 1:].mean(axis=1, keepdims=True),
                              ratios["mixup"][:, 1:].mean(axis=1, keepdims=True))

    def plain(v: float) -> float | None:
        return float(v) if math.isfinite(v) else None

    return {"ratios": {k: v.tolist() for k, v in ratios.items()},
            "erm": stats["erm"].tolist(), "mixup": stats["mixup"].tolist(), "diff": stats["diff"].tolist(),
            "se": [plain(v) for v in stats["se"]], "mean_diff": float(average["diff"][0]),
            "mean_se": plain(average["se"][0])}


def matched_accuracy_verdict(eps_255: Sequence[float], erm: Sequence[Sequence[float]],
                             mixup: Sequence[Sequence[float]], *, chance: float, z: float = Z,
                             tie: float = RATIO_TIE, floor: float = CLEAN_FLOOR) -> tuple[str, str]:
    """Claim 6 at matched accuracy: mixup keeps a larger fraction of its clean accuracy under FGSM than ERM.

    ``erm``/``mixup``: accuracies, seeds × ε, ``eps_255`` the grid (× 1/255, from 0); ``chance`` = 1/classes.
    The rule is in the module docstring. Returns (verdict, evidence).
    """
    levels = list(eps_255)
    e, m = np.asarray(erm, dtype=float), np.asarray(mixup, dtype=float)
    require(levels and levels[0] == 0 and e.shape[1] == len(levels) == m.shape[1],
            "claim 6 needs curves over an eps grid that starts at 0")
    r = ratio_comparison(e, m)
    se = [math.nan if v is None else v for v in r["se"]]
    mean_se = math.nan if r["mean_se"] is None else r["mean_se"]
    pos = range(1, len(levels))
    worst = min(pos, key=lambda k: r["diff"][k] + z * np.nan_to_num(se[k]))
    clean = {"ERM": e[:, 0], "mixup": m[:, 0]}
    evidence = (f"clean accuracy ERM {clean['ERM'].mean():.3f}, mixup {clean['mixup'].mean():.3f}; robust/clean "
                f"ratio mixup − ERM averaged over ε > 0 {r['mean_diff']:+.3f} ± {mean_se:.3f} (se over seeds); "
                f"smallest {r['diff'][worst]:+.3f} ± {se[worst]:.3f} at ε = {levels[worst]:g}/255")
    if len(e) < 2 or len(m) < 2:
        return INCONCLUSIVE, evidence + "; fewer than 2 seeds: no spread to judge by"
    low = [name for name, acc in clean.items() if acc.min() < floor * chance]
    if low:
        return INCONCLUSIVE, evidence + (f"; clean accuracy of {' and '.join(low)} below {floor:g}× chance "
                                         f"({floor * chance:.2f}): the ratio is not informative")
    below = [k for k in pos if r["diff"][k] < -max(z * se[k], tie)]
    if below:
        where = ", ".join(f"{levels[k]:g}/255" for k in below)
        return NOT_SUPPORTED, evidence + f"; mixup's ratio resolvably below ERM's at ε = {where}"
    return (SUPPORTED if r["mean_diff"] > max(z * mean_se, tie) else INCONCLUSIVE), evidence


def pgd_shrinkage_verdict(eps: Sequence[float], fgsm_erm, fgsm_mixup, pgd_erm, pgd_mixup, *, z: float = Z,
                          tie: float = TIE) -> tuple[str, str]:
    """Claim 7 (control): under PGD, mixup's advantage over ERM shrinks or vanishes (rule: module docstring).

    All four arrays are seeds × ε on the *same* test points and ε grid (ε[0] = 0), seeds paired (ERM and
    mixup of one seed share batches and initialization streams). Per seed, A = mean over ε > 0 of
    (mixup − ERM) under FGSM and B the same under PGD; the shrinkage is A − B.
    """
    eps = list(eps)
    pos = [k for k, v in enumerate(eps) if v > 0]
    arrays = [np.asarray(a, dtype=float)[:, pos] for a in (fgsm_erm, fgsm_mixup, pgd_erm, pgd_mixup)]
    require(len({a.shape for a in arrays}) == 1 and pos, "claim 7 needs four seeds × eps arrays of one shape")
    a_seed = (arrays[1] - arrays[0]).mean(axis=1)
    b_seed = (arrays[3] - arrays[2]).mean(axis=1)
    n = len(a_seed)

    def mean_se(v: np.ndarray) -> tuple[float, float]:
        return float(v.mean()), float(v.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan

    (a, a_se), (b, b_se), (s, s_se) = mean_se(a_seed), mean_se(b_seed), mean_se(a_seed - b_seed)
    evidence = (f"mean advantage over ε > 0 (on the PGD points): FGSM {100 * a:+.1f} ± {100 * a_se:.1f} pt, "
                f"PGD {100 * b:+.1f} ± {100 * b_se:.1f} pt; shrinkage {100 * s:+.1f} ± {100 * s_se:.1f} pt")
    if n < 2:
        return INCONCLUSIVE, evidence + "; fewer than 2 seeds"
    if a <= max(z * a_se, tie):
        return INCONCLUSIVE, evidence + "; no FGSM advantage resolved, so none to shrink"
    if s > max(z * s_se, tie):
        return SUPPORTED, evidence
    if b > max(z * b_se, tie):
        return NOT_SUPPORTED, evidence + "; the advantage survives PGD"
    return INCONCLUSIVE, evidence


def cosine_verdict(summaries: Mapping[str, Mapping[str, float]], d: int) -> tuple[str, str]:
    """Claim 9 (Fig. 3): trained networks' |cos(∇f(x_i), x_i)| stay away from 0 (rule: module docstring).

    ``summaries``: network → :func:`mixup_lib.bound.cosine_summary` (``q05``, ``median``, ``R``); ``d``: the
    input dimension of the random-direction reference.
    """
    m_d = bound.null_cosine_quantile(d, 0.5)
    evidence = "; ".join(f"{name}: q05 {s['q05']:.3f}, median {s['median']:.3f}, R {s['R']:.1e}"
                         for name, s in summaries.items())
    evidence += f"; random directions in d = {d}: median {m_d:.3f}"
    if all(s["q05"] > m_d for s in summaries.values()):
        return SUPPORTED, evidence
    if any(s["median"] <= m_d for s in summaries.values()):
        return NOT_SUPPORTED, evidence
    return INCONCLUSIVE, evidence


def bound_verdict(rows: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """Claim 5: L̃_mix ≥ L̃_adv(ε_mix·√d) at trained parameters that meet the theorems' assumptions.

    Rule: judged only on the rows whose assumptions hold (``assumptions_met``: zero training error, centred
    data, f(x) = ∇f(x)ᵀx, R3 = 0). None: inconclusive; all hold: supported; any fails: not supported.
    """
    met = [r for r in rows if r["assumptions_met"]]
    others = [r for r in rows if not r["assumptions_met"]]
    evidence = (f"{sum(r['holds'] for r in met)}/{len(met)} cases that meet the assumptions hold; "
                f"{sum(r['holds'] for r in others)}/{len(others)} cases that do not meet them hold anyway")
    if met:
        tiny = min(r["eps_mix"] for r in met)
        evidence += f"; smallest ε_mix there {tiny:.1e}"
    if not met:
        return INCONCLUSIVE, evidence + "; no trained model met the assumptions"
    return (SUPPORTED if all(r["holds"] for r in met) else NOT_SUPPORTED), evidence


def verdicts(results: Mapping[str, Any]) -> list[Claim]:
    """Claims 5, 6, 7 and 9 from the results object alone (no torch, no data)."""
    fig1a, pgd, cos = results["fig1a"], results["pgd"], results["cosines"]
    claim5 = bound_verdict(results["theorems"]["rows"])
    claim6 = matched_accuracy_verdict(fig1a["eps_255"], fig1a["curves"]["erm"], fig1a["curves"]["mixup"],
                                      chance=results["dataset"]["chance"])
    raw = fgsm_advantage_verdict(eps_grid(fig1a["eps_255"]), fig1a["curves"]["erm"], fig1a["curves"]["mixup"])
    claim6 = (claim6[0], f"{claim6[1]}. Raw accuracies (rule without the matching: {raw[0]}): {raw[1]}")
    claim7 = pgd_shrinkage_verdict(eps_grid(pgd["eps_255"]), pgd["fgsm"]["erm"], pgd["fgsm"]["mixup"],
                                   pgd["pgd"]["erm"], pgd["pgd"]["mixup"])
    claim9 = cosine_verdict({f"{c['method']} seed {c['seed']}": c["summary"] for c in cos["curves"]
                             if c["group"] == "images" and c["target"] == "loss"}, cos["d"])
    return [
        Claim(5, "L̃_mix(θ) ≥ L̃_adv(θ, ε_mix·√d) at trained parameters with zero training error (Thm 3.1/3.2).",
              claim5[1], claim5[0]),
        Claim(6, f"Fig. 1a: mixup's FGSM robust accuracy ≥ ERM's at every ε > 0 in the plotted range, at similar "
                 f"clean accuracy ({cos['model']} on {results['dataset']['used']}).", claim6[1], claim6[0]),
        Claim(7, "(control) Under PGD the advantage shrinks or vanishes.", claim7[1], claim7[0]),
        Claim(9, "Fig. 3: trained networks' |cos(∇f(x_i), x_i)| stay away from 0 (judged on ten-class networks, "
                 "outside the one-logit theorems: the phenomenon, not the bound).", claim9[1], claim9[0]),
    ]
