"""The robustness chapter's protocol: Fig. 1a, a PGD control, Theorems 3.1/3.2 on two moons, and Fig. 3.

Zhang et al., *How Does Mixup Help With Robustness and Generalization?* (ICLR 2021), Section 3.

- **Fig. 1a** — robust test accuracy under FGSM (ℓ∞, pixel units) of a mixup-trained and an ERM-trained
  WRN-16-8 on SVHN, against ε. :func:`fig1a_configs` makes the trainer configs (one per method and seed),
  :func:`alpha_sweep_configs` the configs of the robust-accuracy-against-α view, :func:`eps_grid` the ε grid
  (given in units of 1/255) and :func:`attack_accuracy` the accuracies, cached on disk per model, attack,
  ε grid, test data and attack code (:func:`attack_cache_key`). :func:`choose_data` picks the data set with
  the project's visible fallback (SVHN is not available offline: Fashion-MNIST instead, with a notice).
- **The PGD control** (beyond the paper, whose claim is about single-step attacks): the same accuracies
  under PGD-ℓ∞; :func:`compare_methods`, :func:`fgsm_advantage_verdict` and :func:`pgd_shrinkage_verdict`
  turn seed-wise curves into the chapter's verdicts with the rules stated in their docstrings.
- **Theorems 3.1/3.2** — for logistic regression and a bias-free two-layer ReLU net (binary, one logit) on
  centred two moons, L̃_mix(θ) ≥ L̃_adv(θ, ε_mix·√d), ε_mix = R·c_x·E_D̃[1−λ], at θ with zero training error.
  :func:`centred_two_moons` makes the data, :func:`train_moons_model` trains by full-batch SGD
  (:func:`mixup_lib.fullbatch.train_full_batch`), :func:`theorem_check` loops models, α and seeds and
  returns :func:`mixup_lib.approx.robustness_bound`'s record per case plus :func:`largest_bounded_eps`.
- **Fig. 3** (its content is reconstructed): the distribution of |cos(∇f(x_i), x_i)| over training points
  (:func:`input_gradient_cosines`), with R = its minimum, compared with the same statistic for directions
  unrelated to x (:func:`null_cosine_quantile`).

Which scalar f for a K-class image model? The theory's f is the one logit of a binary model, and there the
input gradient of the loss is (σ(f) − y)·∇f: the same direction up to sign, so |cos| is the same. For K
classes we use the per-sample input gradient of the loss, ∇_x l = Σ_k (p_k − y_k)∇f_k, because (i) it
reduces to the theory's quantity for one logit, (ii) it is the vector whose norm is the first-order term of
the multi-class adversarial loss (ε‖∇_x l‖) and whose inner product with x_i is the multi-class R1 term
(Σ_k (p_k − y_k)∇f_kᵀx_i, with centred data), exactly where the proof uses |∇fᵀx_i| ≥ R‖∇f‖‖x_i‖, and
(iii) it is the direction FGSM steps along (sign-wise). ``target="logit"`` (the true-class logit f_y) is
available for comparison. The theory assumes centred data, so x_i is centred by the training mean
(per pixel): cos(∇_x l(x_i), x_i − x̄). For a model g on pixels, f(z) = g(z + x̄) is the same model on
centred inputs z, with ∇f(z_i) = ∇g(x_i), so this is the theory's cosine for that model.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mixup_lib import approx, attacks, fullbatch, models, profiles, runs
from mixup_lib.bound import (
    COSINE_TARGETS,
    adversarial_coefficients,
    input_gradient_cosines,
    largest_bounded_eps,
    null_cosine_quantile,
)
from mixup_lib.claims import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from mixup_lib.data import DATASET_NAMES
from mixup_lib.errors import ConfigError, check_choice, check_nonnegative, check_positive_int, require
from mixup_lib.report.tables import table as html_rows
from mixup_lib.train import SCHEDULES

#: One ε step of the book's grids: one grey level of an 8-bit image, inputs in [0, 1].
EPS_UNIT = 1 / 255
#: Bump when a change here changes cached attack numbers (part of the cache key, with attacks.py's source).
ATTACK_CACHE_VERSION = 1
ATTACK_CACHE_FOLDER = "attack-cache"
#: The two models of Theorems 3.1/3.2: (models.build name, keywords). Both bias-free with one logit.
MOONS_MODELS = {"logistic regression": "logreg", "bias-free ReLU net": "two-layer-relu"}

__all__ = [
    "ATTACK_CACHE_VERSION",
    "COSINE_TARGETS",
    "EPS_UNIT",
    "MOONS_MODELS",
    "adversarial_coefficients",
    "alpha_sweep_configs",
    "angular_class_changes",
    "attack_accuracy",
    "attack_cache_key",
    "bound_verdict",
    "centred_two_moons",
    "choose_data",
    "compare_methods",
    "cosine_summary",
    "cosine_verdict",
    "eps_grid",
    "fgsm_advantage_verdict",
    "fig1a_configs",
    "html_rows",
    "input_gradient_cosines",
    "largest_bounded_eps",
    "moons_model",
    "null_cosine_quantile",
    "pgd_shrinkage_verdict",
    "run_config",
    "theorem_check",
    "train_moons_model",
]


# ----------------------------------------------------------------------------------------------------------
# Fig. 1a: data, configs, ε grid


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


def choose_data(settings: Mapping[str, Any]) -> tuple[profiles.DataChoice, str]:
    """The data set of Fig. 1a with the project's visible fallback: (choice, HTML notice or "").

    Loads ``settings["dataset"]`` (SVHN) with the subset sizes and seed the trainer will use, so the test
    points attacked here are the trainer's test points; where it cannot be had, Fashion-MNIST is loaded
    instead and the notice (a warning admonition naming both and how to get the data) must be displayed.
    """
    choice = profiles.load_with_fallback(
        settings["dataset"], n_train=settings["n_train"], n_test=settings["n_test"], seed=settings["data_seed"]
    )
    return choice, profiles.fallback_notice(choice)


_TRAINER_KEYS = ("model", "epochs", "batch_size", "lr", "momentum", "weight_decay", "schedule", "n_train", "n_test",
                 "augment", "data_seed")


def run_config(settings: Mapping[str, Any], dataset: str, *, method: str, seed: int, alpha: float | None = None,
               device: str = "auto") -> dict[str, Any]:
    """The trainer config (:mod:`mixup_lib.train`) of one Fig. 1a model; ``alpha`` defaults to the profile's."""
    check_choice("method", method, ("erm", "mixup"))
    config = {key: settings[key] for key in _TRAINER_KEYS}
    config.update(name=f"robustness-{method}", dataset=dataset, method=method, seed=seed, device=device,
                  alpha=float(settings["alpha"] if alpha is None else alpha) if method == "mixup" else 0.0)
    return config


def fig1a_configs(settings: Mapping[str, Any], dataset: str, device: str = "auto") -> dict[tuple[str, int], dict]:
    """Fig. 1a: one ERM and one mixup (α = settings["alpha"]) config per seed, keyed (method, seed)."""
    return {(method, seed): run_config(settings, dataset, method=method, seed=seed, device=device)
            for method in ("erm", "mixup") for seed in settings["seeds"]}


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


# ----------------------------------------------------------------------------------------------------------
# The chapter's settings rules: profiles.resolve checks every setting with them before anything runs


def _eps_levels(name: str, levels: Any) -> list[float]:
    """An ε grid in units of 1/255 as :func:`eps_grid` accepts it (from 0, strictly increasing)."""
    try:
        eps_grid(levels)
    except ConfigError as error:
        raise ConfigError(f"{name}: {error}") from None
    return list(levels)


def _model_name(name: str, value: Any) -> str:
    """A network name that :func:`mixup_lib.models.build` accepts (e.g. wrn-16-8)."""
    models._parse_name(value)  # one-line ConfigError naming the allowed models
    return value


def _bound_seeds_within_seeds(settings: Mapping[str, Any]) -> None:
    count, seeds = settings["bound_seeds"], settings["seeds"]
    require(count <= len(seeds), f"bound_seeds={count!r} is not allowed: it must be at most len(seeds)={len(seeds)}")


profiles.RULES["robustness"] = profiles.SettingsRules(
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
# Attacks with a cache


def _digest(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def _tensor_bytes(t: torch.Tensor) -> bytes:
    return t.detach().cpu().contiguous().numpy().tobytes() + str((tuple(t.shape), str(t.dtype))).encode()


def attack_cache_key(model_key: str, x: torch.Tensor, y: torch.Tensor, eps_list: Sequence[float], attack: str,
                     steps: int, seed: int, batch_size: int) -> dict[str, Any]:
    """Everything an attack result depends on: the model (its run hash), the data, the attack and its code.

    The data enter as a digest of the tensors, the code as a digest of :mod:`mixup_lib.attacks`' source and
    :data:`ATTACK_CACHE_VERSION`. ``steps``/``seed``/``batch_size`` matter for PGD only (its random start
    depends on the batching) and are set to 0 for FGSM.
    """
    pgd = attack == "pgd"
    return {
        "version": ATTACK_CACHE_VERSION,
        "code": _digest(Path(attacks.__file__).read_bytes()),
        "model": model_key,
        "data": _digest(_tensor_bytes(x), _tensor_bytes(y)),
        "attack": attack,
        "eps": [float(e) for e in eps_list],
        "steps": steps if pgd else 0,
        "seed": seed if pgd else 0,
        "batch_size": batch_size if pgd else 0,
    }


def attack_accuracy(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps_list: Sequence[float],
    attack: str = "fgsm",
    *,
    steps: int = 10,
    seed: int = 0,
    batch_size: int = 256,
    model_key: str | None = None,
    cache_dir: str | Path | None = None,
) -> list[float]:
    """Robust accuracy at each ε (:func:`mixup_lib.attacks.robust_accuracy`): FGSM-ℓ∞ (Fig. 1a) or PGD-ℓ∞.

    PGD takes ``steps`` steps of 2.5ε/steps from a random start drawn from a generator seeded with ``seed``,
    so its numbers are reproducible. With ``model_key`` (e.g. the run's config hash) the result is cached as
    JSON under ``cache_dir`` (default ``<run store>/attack-cache``) and reused when every input of
    :func:`attack_cache_key` matches; the file is written atomically.
    """
    check_choice("attack", attack, ("fgsm", "pgd"))
    check_positive_int("steps", steps)
    check_positive_int("batch_size", batch_size)
    path = key = None
    if model_key is not None:
        key = attack_cache_key(model_key, x, y, eps_list, attack, steps, seed, batch_size)
        folder = Path(cache_dir) if cache_dir is not None else runs.default_runs_dir() / ATTACK_CACHE_FOLDER
        path = folder / f"{_digest(json.dumps(key, sort_keys=True).encode())[:24]}.json"
        if path.is_file():
            try:
                stored = json.loads(path.read_text())
                if stored.get("key") == key:
                    return [float(a) for a in stored["accuracy"]]
            except (OSError, ValueError):
                pass  # unreadable: recompute and overwrite
    kw: dict[str, Any] = {}
    if attack == "pgd":
        kw = {"steps": steps, "generator": torch.Generator().manual_seed(seed)}
    accuracy = attacks.robust_accuracy(model, (x, y), list(eps_list), attack=attack, batch_size=batch_size, **kw)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        runs.atomic_write_json(path, {"key": key, "accuracy": accuracy})
    return accuracy


# ----------------------------------------------------------------------------------------------------------
# Comparing methods across seeds, and the verdicts of claims 6 and 7


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
                           *, clean_tol: float = 0.02, z: float = 2.0, tie: float = 0.01) -> tuple[str, str]:
    """Claim 6 (Fig. 1a): mixup's FGSM robust accuracy ≥ ERM's at every ε > 0 in the range, at similar clean accuracy.

    ``erm``/``mixup``: accuracies (fractions), seeds × ε, ε[0] = 0. The rule:

    - fewer than two seeds per method (no spread to judge by), or clean accuracies (mean over seeds)
      further apart than ``clean_tol``: inconclusive (not "at similar clean accuracy");
    - some ε > 0 where mixup is *below* ERM by more than max(z·se, tie): not supported;
    - otherwise, supported when the advantage averaged over the ε > 0 of the grid (per seed, then compared
      across seeds) is above max(z·se, tie); else inconclusive (no advantage resolved at this scale).

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


def pgd_shrinkage_verdict(eps: Sequence[float], fgsm_erm, fgsm_mixup, pgd_erm, pgd_mixup, *, z: float = 2.0,
                          tie: float = 0.01) -> tuple[str, str]:
    """Claim 7 (control): under PGD, mixup's advantage over ERM shrinks or vanishes.

    All four arrays are seeds × ε on the *same* test points and ε grid (ε[0] = 0), seeds paired (ERM and
    mixup of one seed share batches and initialization streams). Per seed, A = mean over ε > 0 of
    (mixup − ERM) under FGSM and B the same under PGD; the shrinkage is A − B. The rule:

    - fewer than two seeds, or no FGSM advantage resolved (mean A ≤ max(z·se, tie)): inconclusive (there is
      no advantage to shrink);
    - mean shrinkage > max(z·se, tie): supported;
    - mean B > max(z·se, tie) and the shrinkage not resolved: not supported (the advantage survives PGD);
    - otherwise inconclusive.
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


# ----------------------------------------------------------------------------------------------------------
# Fig. 3: |cos(∇f(x_i), x_i)|


def cosine_summary(cosines: Sequence[float], q: float = 0.05) -> dict[str, float]:
    """R = min (the theorem's), the q-quantile (a robust low end), the median and the mean of |cos|."""
    c = np.asarray(cosines, dtype=float)
    require(c.ndim == 1 and len(c) > 0, "cosines must be a non-empty 1-d array")
    return {"R": float(c.min()), f"q{round(100 * q):02d}": float(np.quantile(c, q)), "median": float(np.median(c)),
            "mean": float(c.mean())}


def cosine_verdict(summaries: Mapping[str, Mapping[str, float]], d: int) -> tuple[str, str]:
    """Claim 9 (Fig. 3): trained networks' |cos(∇f(x_i), x_i)| stay away from 0.

    Judged against directions unrelated to x in the same dimension d (:func:`null_cosine_quantile`), whose
    median is m_d: supported if for every network the 5% quantile q05 of |cos| exceeds m_d (95% of the
    training points are more aligned with their gradient than a typical random direction); not supported if
    for some network the median |cos| is at most m_d; inconclusive otherwise. R (the minimum, which the
    theorem uses) is reported but not judged here: a minimum over many points goes to 0 for any continuous
    distribution that reaches 0.
    """
    m_d = null_cosine_quantile(d, 0.5)
    evidence = "; ".join(f"{name}: q05 {s['q05']:.3f}, median {s['median']:.3f}, R {s['R']:.1e}"
                         for name, s in summaries.items())
    evidence += f"; random directions in d = {d}: median {m_d:.3f}"
    if all(s["q05"] > m_d for s in summaries.values()):
        return SUPPORTED, evidence
    if any(s["median"] <= m_d for s in summaries.values()):
        return NOT_SUPPORTED, evidence
    return INCONCLUSIVE, evidence


# ----------------------------------------------------------------------------------------------------------
# Theorems 3.1/3.2 on two moons


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
    say whether each θ meets the assumptions. Each row holds :func:`mixup_lib.approx.robustness_bound`'s
    record and ``train_acc``, ``eps_star`` (:func:`largest_bounded_eps`, ℓ2) and ``eps_star_linf``
    (ε*/√d). Also returns the trained models keyed (kind, α, seed), α = 0 for ERM.
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
                    record = approx.robustness_bound(theta, x, y, alpha)
                    l_std, a, b = adversarial_coefficients(theta, x, y)
                    eps_star = largest_bounded_eps(record["L_mix_approx"], l_std, a, b)
                    rows.append({"model": kind, "trained_with": trained_with, "alpha": float(alpha), "seed": seed,
                                 "train_acc": fullbatch.accuracy(theta, x, y), **record, "eps_star": eps_star,
                                 "eps_star_linf": eps_star / math.sqrt(record["d"])})
    return rows, trained


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
