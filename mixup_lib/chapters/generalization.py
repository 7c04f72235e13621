"""Generalization (Section 4; Figs. 5–8 and the role of Fig. 1b): the gap of mixup vs ERM, and its theory.

Zhang et al., *How Does Mixup Help With Robustness and Generalization?* (ICLR 2021). Figs. 5–8 show, on
CIFAR-10, CIFAR-100, Fashion-MNIST and Kuzushiji-MNIST, the training and test loss and error of a
pre-activation ResNet-18 trained with ERM and with mixup, and the generalization gap (test − train);
Fig. 1b summarises the gaps. The paper's claim (claim 8 in ``SPEC.md``): mixup's gap is smaller than ERM's
on each data set, throughout training. Section 4 explains it: mixup adds the data-adaptive quadratic
penalty (E[(1−λ)²]/2)·(1/n) Σ_i h''(f(x_i))·∇f(x_i)ᵀ Σ̂_X ∇f(x_i) (+ a per-sample term), whose constraint set
has a Rademacher complexity scaling like √(rank(Σ_X)/n). The penalty and the effective rank are
:func:`mixup_lib.approx.penalty_terms` and :func:`mixup_lib.approx.effective_rank`.

The chapter's pattern (DESIGN.md): :data:`PRESETS` and the settings rules are registered below;
:func:`configs` lists every trainer config; :func:`compute` trains what is missing and returns the results
object (plain JSON: every number the page draws); :func:`verdicts` turns it into the claims table.

Verdict rules and their thresholds (named constants, all here):

- Claim 8, per data set and gap (loss, error), from :func:`compare_gaps` of the (seeds, epochs) gaps:
  **not supported** when mixup's seed-mean gap is below ERM's in fewer than :data:`NOT_SUPPORTED_FRACTION`
  (50%) of the epochs, or at the last epoch every mixup seed is above every ERM seed; **supported** when it is
  below in at least :data:`SUPPORTED_FRACTION` (80%) of the epochs and, at the last epoch, every mixup seed is
  below every ERM seed, with at least :data:`MIN_SEEDS` (2) seeds; otherwise inconclusive. The first epochs
  count too ("throughout" is taken literally). A substituted data set is inconclusive: its numbers are those
  of the data set that ran, and say nothing about the one asked for.
- G1 (the gap shrinks as n grows), per gap: not supported when Spearman's ρ of the final mean gap with n is
  at least :data:`RHO_NOT_SUPPORTED` (0) for either method; supported when the gap strictly decreases along
  the n grid for both; otherwise inconclusive.
- G2 (mixup's loss gap below ERM's at every n): supported when below at every n; not supported when below at
  no more than :data:`G2_NOT_SUPPORTED_SHARE` (half) of them; otherwise inconclusive.
- G3 (mixup's loss gap shrinks as α grows; α = 0 is ERM): Spearman ρ ≤ :data:`G3_SUPPORTED_RHO` (−0.8)
  supported, ≥ :data:`RHO_NOT_SUPPORTED` not supported, otherwise inconclusive.
- G4 (mixup keeps the penalty below ERM's along training): claim 8's rule applied to P(θ) and to G(θ).
- G5, the U-shape of mixup's test loss reported by Liu et al. (ICLR 2023, "Over-training with mixup may hurt
  generalization"; worse with small data sets), per data set that ran (:func:`u_shape`): let t* be the epoch
  of the minimum of the seed-mean test loss and d_k = L_k(last) − L_k(t*) the rise of seed k after it. The
  loss **turns upward** when t* is before the last epoch and the mean rise exceeds :data:`U_Z` (2) standard
  errors of the d_k (paired over seeds; with at least 2 seeds). It shows **no upturn** when the minimum is at
  the last epoch, or the rise is within U_Z standard errors. With one seed and a minimum before the last
  epoch the rise cannot be told from seed noise: **undetermined**. Verdict: supported / not supported /
  inconclusive respectively, for *our* runs (whose length the evidence names: Liu et al. see the U after
  hundreds of epochs). Claim 8's evidence also names the epochs in which mixup's mean gap is below ERM's.

What others measured (:func:`published_rows`): the test errors of ERM and input mixup published for a
PreAct ResNet-18 on CIFAR-10/100 (:data:`mixup_lib.published.ANCHORS`: Verma et al. 2019, Table 1; Zhang et al.
2018, Section 3.2) beside our final test errors on the same data set (or the one that ran instead, said so), and
whether ours point the same way (:func:`mixup_lib.published.direction_agrees`, no tie band). Shown, not a verdict:
our runs are far smaller.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mixup_lib import approx, claims, profiles, published
from mixup_lib.data import DatasetUnavailable, dataset_info, load_dataset
from mixup_lib.errors import ConfigError, check_choice, require
from mixup_lib.report.plots import method_label

#: The data sets of Figs. 5–8, in the order the paper names them.
DATASETS = ("cifar10", "cifar100", "fashion_mnist", "kmnist")
METHODS = ("erm", "mixup")
QUANTITIES = ("loss", "error")
#: Keys of :func:`gap_curves` (``penalty`` only when every row has it).
CURVE_KEYS = ("epoch", "train_loss", "test_loss", "train_error", "test_error", "loss_gap", "error_gap")
#: Keys of :func:`mixup_lib.approx.penalty_terms`, recorded per epoch by runs with ``track_penalty``, and their names.
PENALTY_KEYS = ("penalty", "gradient_penalty")
PENALTY_NAMES = {"penalty": "P(θ), with h''", "gradient_penalty": "G(θ), without h''"}
#: The run store label of this chapter's runs (not part of the hash).
RUN_NAME = "generalization"
#: The sweeps (n and α, beyond the paper) run on the real data set available everywhere.
SWEEP_DATASET = "fashion_mnist"
SWEEP_TRAIN_SIZE = 60_000  # Fashion-MNIST's training set: the largest n of the n sweep
#: Final-epoch curves the α sweep summarises (its figure's three panels).
ALPHA_SWEEP_KEYS = ("loss_gap", "error_gap", "train_loss", "test_loss", *PENALTY_KEYS)
#: Trainer fields the page lists under "what was run".
TRAINER_FIELDS = ("batch_size", "lr", "momentum", "weight_decay", "schedule", "warmup_fraction", "augment",
                  "mix_mode")

# Thresholds of the verdicts (module docstring).
SUPPORTED_FRACTION = 0.8
NOT_SUPPORTED_FRACTION = 0.5
MIN_SEEDS = 2
RHO_NOT_SUPPORTED = 0.0
G2_NOT_SUPPORTED_SHARE = 0.5
G3_SUPPORTED_RHO = -0.8
U_Z = 2.0
#: The findings of :func:`u_shape_finding`.
TURNS_UP, NO_UPTURN, UNDETERMINED = "turns upward", "no upturn", "undetermined"


def title(dataset: str) -> str:
    """A data set's display name from :mod:`mixup_lib.data`'s registry (``fashion_mnist`` → ``Fashion-MNIST``)."""
    try:
        return dataset_info(dataset).title
    except ConfigError:  # not in the registry (e.g. two_moons): shown as it is
        return dataset


# ----------------------------------------------------------------------------------------------------------
# Presets and settings rules (profiles.resolve checks every setting with them before anything runs)

# The paper states PreAct ResNet-18, SGD, batch 64, momentum 0.9, lr 0.1; epochs, α, subsets, seeds and the
# sweeps are our choices (stated on the page). track_penalty: training points for Section 4's penalty.
profiles.PRESETS["generalization"] = {
    "smoke": {
        "seeds": [0], "width": 4, "n_train": 128, "n_test": 128, "epochs": 2, "alpha": 1.0, "track_penalty": 8,
        "n_grid": [64, 128], "alpha_grid": [0.5, 1.0], "sweep_seeds": [0], "fallback": True,
    },
    "quick": {
        "seeds": [0, 1, 2], "width": 8, "n_train": 1000, "n_test": 1000, "epochs": 15, "alpha": 1.0,
        "track_penalty": 64, "n_grid": [250, 500, 1000], "alpha_grid": [0.2, 1.0, 4.0],
        "sweep_seeds": [0], "fallback": True,
    },
    # full (2-core CPU, two workers, ~1.3 h estimated): PreAct ResNet-18 of width 16 (700k parameters, ~430
    # images/s per single-thread worker on 28×28) on 2,000 images for 60 epochs, long enough for mixup's test
    # loss to turn (Liu et al., 2023); the n sweep spans 16× in n.
    "full": {
        "seeds": [0, 1, 2], "width": 16, "n_train": 2000, "n_test": 5000, "epochs": 60, "alpha": 1.0,
        "track_penalty": 128, "n_grid": [500, 2000, 8000], "alpha_grid": [0.2, 1.0, 4.0],
        "sweep_seeds": [0], "fallback": True,
    },
    "paper": {
        "seeds": [0, 1, 2], "width": 64, "n_train": None, "n_test": None, "epochs": 100, "alpha": 1.0,
        "track_penalty": 256, "n_grid": [1000, 3000, 10000, 30000], "alpha_grid": [0.2, 0.5, 1.0, 2.0, 4.0],
        "sweep_seeds": [0, 1, 2], "fallback": True,
    },
}


def _penalty_points_within_subsets(settings: Mapping[str, Any]) -> None:
    """Section 4's penalty is measured on ``track_penalty`` training points of every run, sweeps included."""
    sizes = [n for n in (settings["n_train"], *settings["n_grid"]) if n is not None]
    require(not sizes or settings["track_penalty"] <= min(sizes),
            f"track_penalty={settings['track_penalty']!r} is not allowed: it must be at most the smallest training "
            f"subset ({min(sizes) if sizes else 'all'}, from n_train and n_grid)")


def _sweep_sizes_available(settings: Mapping[str, Any]) -> None:
    largest = max(settings["n_grid"])
    require(largest <= SWEEP_TRAIN_SIZE, f"n_grid={settings['n_grid']!r} is not allowed: {title(SWEEP_DATASET)} "
            f"has {SWEEP_TRAIN_SIZE} training images")


profiles.RULES["generalization"] = profiles.SettingsRules(
    checks={
        "seeds": profiles.seeds, "width": profiles.positive_int, "n_train": profiles.positive_int_or_all,
        "n_test": profiles.positive_int_or_all, "epochs": profiles.positive_int, "alpha": profiles.positive_number,
        "track_penalty": profiles.nonnegative_int, "n_grid": profiles.int_list(min_length=2, increasing=True),
        "alpha_grid": profiles.number_list(minimum=0, inclusive=False), "sweep_seeds": profiles.seeds,
        "fallback": profiles.boolean,
    },
    relations=(_penalty_points_within_subsets, _sweep_sizes_available),
    datasets=lambda settings: DATASETS,
)


# ----------------------------------------------------------------------------------------------------------
# Configs


def run_config(
    dataset: str,
    method: str,
    seed: int,
    *,
    width: int,
    epochs: int,
    n_train: int | None,
    n_test: int | None,
    alpha: float = 1.0,
    track_penalty: int = 0,
    data_seed: int = 0,
    device: str = "auto",
) -> dict[str, Any]:
    """The trainer config of one run of Figs. 5–8: pre-activation ResNet-18 of base width ``width``.

    ``dataset`` must be the data set actually *used* (after any fallback): two requested data sets that
    fall back to the same one then get identical configs, and the run store computes them once. The
    optimizer fields are the trainer's defaults, i.e. the paper's SGD, batch 64, momentum 0.9, lr 0.1
    (with the trainer's one-cycle schedule, weight decay 5e-4, no augmentation: see :mod:`mixup_lib.train`).
    For ERM, α is normalized away by the trainer. The subset (``data_seed``) is the same for every seed and
    method, so seeds vary only initialization, batch order and mixing.
    """
    check_choice("method", method, METHODS)
    config = {
        "name": RUN_NAME,
        "dataset": dataset,
        "model": "preact-resnet18",
        "model_kwargs": {"width": width},
        "method": method,
        "alpha": alpha if method == "mixup" else 0.0,
        "epochs": epochs,
        "seed": seed,
        "n_train": n_train,
        "n_test": n_test,
        "data_seed": data_seed,
        "device": device,
    }
    if track_penalty:
        config["track_penalty"] = track_penalty
    return config


def choose_data(settings: Mapping[str, Any]) -> tuple[dict[str, profiles.DataChoice], dict[str, str]]:
    """Per requested data set, the one used (with the visible fallback if on); and those shown as missing (why)."""
    choices, unavailable = {}, {}
    for name in DATASETS:
        kw = {"n_train": settings["n_train"], "n_test": settings["n_test"], "seed": 0}
        if settings["fallback"]:
            choices[name] = profiles.load_with_fallback(name, **kw)
        else:
            try:
                choices[name] = profiles.DataChoice(name, name, load_dataset(name, **kw))
            except DatasetUnavailable as err:
                unavailable[name] = str(err)
    return choices, unavailable


def _configs(settings: Mapping[str, Any], used: Sequence[str], device: str = "auto") -> list[dict[str, Any]]:
    """Figs. 5–8's configs on the ``used`` data sets, then the n and α sweeps on :data:`SWEEP_DATASET`."""
    common = {k: settings[k] for k in ("width", "epochs", "n_train", "n_test", "alpha", "track_penalty")}

    def config(dataset: str, method: str, seed: int, **changes: Any) -> dict[str, Any]:
        return run_config(dataset, method, seed, device=device, **{**common, **changes})

    sweep = SWEEP_DATASET
    return [
        *(config(d, m, s) for d in dict.fromkeys(used) for m in METHODS for s in settings["seeds"]),
        *(config(sweep, m, s, n_train=n) for n in settings["n_grid"] for m in METHODS for s in settings["sweep_seeds"]),
        *(config(sweep, "erm", s) for s in settings["sweep_seeds"]),
        *(config(sweep, "mixup", s, alpha=a) for a in settings["alpha_grid"] for s in settings["sweep_seeds"]),
    ]


def configs(settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every trainer config: per used data set, method and seed (Figs. 5–8); then the n and α sweeps."""
    choices, _ = choose_data(settings)  # a data set shown as missing has nothing to train
    return _configs(settings, [c.used for c in choices.values()])


# ----------------------------------------------------------------------------------------------------------
# Gaps from metrics records


def gap_curves(metrics: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Per-epoch curves of one run from its metrics rows (``Run.metrics``).

    Returns arrays ``epoch``, ``train_loss``, ``test_loss``, ``train_error`` (1 − train_acc, clean training
    set), ``test_error``, ``loss_gap`` = test_loss − train_loss, ``error_gap`` = test_error − train_error,
    and ``penalty``/``gradient_penalty`` when every row has them (runs with ``track_penalty``). Rows are taken
    in epoch order.
    """
    require(len(metrics) > 0, "metrics is empty: a run records one row per epoch")
    needed = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc")
    for row in metrics:
        missing = [k for k in needed if k not in row]
        require(not missing, f"a metrics row lacks {missing[0] if missing else ''!r}: rows need {', '.join(needed)}")
    rows = sorted(metrics, key=lambda r: r["epoch"])
    column = {k: np.array([float(r[k]) for r in rows]) for k in needed}
    curves = {
        "epoch": column["epoch"],
        "train_loss": column["train_loss"],
        "test_loss": column["test_loss"],
        "train_error": 1.0 - column["train_acc"],
        "test_error": 1.0 - column["test_acc"],
    }
    curves["loss_gap"] = curves["test_loss"] - curves["train_loss"]
    curves["error_gap"] = curves["test_error"] - curves["train_error"]
    for key in PENALTY_KEYS:
        if all(key in r for r in rows):
            curves[key] = np.array([float(r[key]) for r in rows])
    return curves


def stack_curves(runs_metrics: Sequence[Sequence[Mapping[str, Any]]]) -> dict[str, np.ndarray]:
    """:func:`gap_curves` of several runs (seeds) stacked: each key (``epoch`` excepted) is (seeds, epochs).

    All runs must have the same epochs; ``penalty`` is kept only when every run has it.
    """
    require(len(runs_metrics) > 0, "no runs to stack")
    each = [gap_curves(m) for m in runs_metrics]
    epochs = each[0]["epoch"]
    require(
        all(np.array_equal(c["epoch"], epochs) for c in each),
        "the runs to stack have different epochs: give runs of the same length",
    )
    keys = [k for k in each[0] if k != "epoch" and all(k in c for c in each)]
    return {"epoch": epochs, **{k: np.stack([c[k] for c in each]) for k in keys}}


def _plain(value: Any) -> Any:
    """numpy arrays and scalars as JSON types (lists, float, int, bool), recursively."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _num(value: Any) -> float:
    """A number of a results object as float: None (a NaN written as JSON null by the store) is NaN."""
    return math.nan if value is None else float(value)


# ----------------------------------------------------------------------------------------------------------
# The summary of final gaps (the role of Fig. 1b)


def summarize_final_gaps(
    curves_by_dataset: Mapping[str, Mapping[str, Mapping[str, Any]] | None],
    datasets: Sequence[str] = DATASETS,
) -> list[dict[str, Any]]:
    """Final-epoch gaps per data set, method and quantity: one row each, in ``datasets`` order.

    ``curves_by_dataset[d]`` maps a method to its :func:`stack_curves`; a data set that is absent, ``None``
    or lacks a method has no runs and gives rows with ``available=False``, ``n_seeds=0`` and NaN numbers,
    so a summary figure shows it as missing. Row keys: ``dataset``, ``method``, ``quantity`` (loss | error),
    ``available``, ``n_seeds``, ``mean``, ``min``, ``max``, ``values`` (per seed).
    """
    rows = []
    for dataset in datasets:
        by_method = curves_by_dataset.get(dataset) or {}
        for method in METHODS:
            stacked = by_method.get(method)
            for quantity in QUANTITIES:
                if stacked is None:
                    rows.append({"dataset": dataset, "method": method, "quantity": quantity, "available": False,
                                 "n_seeds": 0, "mean": math.nan, "min": math.nan, "max": math.nan, "values": []})
                    continue
                final = np.asarray(stacked[f"{quantity}_gap"], float)[:, -1]
                rows.append({"dataset": dataset, "method": method, "quantity": quantity, "available": True,
                             "n_seeds": len(final), "mean": float(final.mean()), "min": float(final.min()),
                             "max": float(final.max()), "values": [float(v) for v in final]})
    return rows


# ----------------------------------------------------------------------------------------------------------
# Claim 8: "smaller throughout training"


def compare_gaps(erm: Any, mixup: Any, epochs: Sequence[float] | None = None) -> dict[str, Any]:
    """Compare two (seeds, epochs) gap arrays epoch by epoch (``epochs``: their numbers, default 1, 2, …).

    Returns ``fraction_below`` (share of epochs where mixup's seed-mean gap is below ERM's),
    ``fraction_separated`` (share of epochs where mixup's largest seed is below ERM's smallest),
    ``final_erm``/``final_mixup`` (seed means at the last epoch), ``final_separated`` (at the last epoch
    every mixup seed is below every ERM seed), ``final_reversed`` (every mixup seed above every ERM seed)
    ``n_seeds`` (the smaller of the two seed counts), ``epochs_below`` (the epochs where the mean is below) and
    ``n_epochs``.
    """
    erm, mixup = np.atleast_2d(np.asarray(erm, float)), np.atleast_2d(np.asarray(mixup, float))
    require(erm.shape[1] == mixup.shape[1], f"gap arrays of {erm.shape[1]} and {mixup.shape[1]} epochs: must match")
    epochs = np.arange(1, erm.shape[1] + 1) if epochs is None else np.asarray(epochs)
    require(len(epochs) == erm.shape[1], f"{len(epochs)} epoch numbers for {erm.shape[1]} epochs")
    below = mixup.mean(axis=0) < erm.mean(axis=0)
    separated = mixup.max(axis=0) < erm.min(axis=0)
    return {
        "epochs_below": [int(e) for e in epochs[below]],
        "n_epochs": int(erm.shape[1]),
        "fraction_below": float(below.mean()),
        "fraction_separated": float(separated.mean()),
        "final_erm": float(erm[:, -1].mean()),
        "final_mixup": float(mixup[:, -1].mean()),
        "final_separated": bool(separated[-1]),
        "final_reversed": bool(mixup[:, -1].min() > erm[:, -1].max()),
        "n_seeds": int(min(len(erm), len(mixup))),
    }


def throughout_verdict(comparison: Mapping[str, Any], *, supported_fraction: float = SUPPORTED_FRACTION,
                       not_supported_fraction: float = NOT_SUPPORTED_FRACTION) -> str:
    """Claim 8's verdict from :func:`compare_gaps` (the rule of the module docstring).

    - not supported: mixup's mean gap is below ERM's in fewer than ``not_supported_fraction`` of the
      epochs, or at the last epoch every mixup seed is above every ERM seed;
    - supported: below in at least ``supported_fraction`` of the epochs and, at the last epoch, separated
      across seeds (every mixup seed below every ERM seed), with at least :data:`MIN_SEEDS` seeds;
    - otherwise (including a single seed, whose spread is unknown): inconclusive at this scale.
    """
    if comparison["fraction_below"] < not_supported_fraction or comparison["final_reversed"]:
        return claims.NOT_SUPPORTED
    if (comparison["fraction_below"] >= supported_fraction and comparison["final_separated"]
            and comparison["n_seeds"] >= MIN_SEEDS):
        return claims.SUPPORTED
    return claims.INCONCLUSIVE


def epoch_ranges(epochs: Sequence[int]) -> str:
    """Epoch numbers as ranges: ``[1, 2, 3, 5]`` → ``1–3, 5``; none → ``none``."""
    parts: list[str] = []
    run: list[int] = []
    for e in sorted(epochs):
        if run and e != run[-1] + 1:
            parts.append(f"{run[0]}–{run[-1]}" if len(run) > 1 else str(run[0]))
            run = []
        run.append(e)
    if run:
        parts.append(f"{run[0]}–{run[-1]}" if len(run) > 1 else str(run[0]))
    return ", ".join(parts) or "none"


def u_shape(test_loss: Any, epochs: Sequence[float] | None = None) -> dict[str, Any]:
    """The late upturn of a (seeds, epochs) test-loss curve (Liu et al., ICLR 2023; rule in the module docstring).

    Returns ``min_epoch`` (t*, the epoch of the minimum of the seed mean), ``last_epoch``, ``min_loss`` and
    ``final_loss`` (seed means), ``rise`` (mean over seeds of L_k(last) − L_k(t*)), ``se`` (the standard error
    of those per-seed rises; None with one seed), ``n_seeds``, and ``finding`` (:func:`u_shape_finding`).
    """
    loss = np.atleast_2d(np.asarray(test_loss, float))
    epochs = np.arange(1, loss.shape[1] + 1) if epochs is None else np.asarray(epochs)
    require(len(epochs) == loss.shape[1], f"{len(epochs)} epoch numbers for {loss.shape[1]} epochs")
    mean = loss.mean(axis=0)
    t = int(np.argmin(mean))
    rises = loss[:, -1] - loss[:, t]
    seeds = len(loss)
    record = {"min_epoch": int(epochs[t]), "last_epoch": int(epochs[-1]), "min_loss": float(mean[t]),
              "final_loss": float(mean[-1]), "rise": float(rises.mean()),
              "se": float(rises.std(ddof=1) / math.sqrt(seeds)) if seeds >= 2 else None, "n_seeds": seeds}
    return {**record, "finding": u_shape_finding(record)}


def u_shape_finding(record: Mapping[str, Any], z: float = U_Z) -> str:
    """:data:`TURNS_UP`, :data:`NO_UPTURN` or :data:`UNDETERMINED` from a :func:`u_shape` record."""
    if record["min_epoch"] >= record["last_epoch"] or record["rise"] <= 0:
        return NO_UPTURN
    if record["se"] is None or not math.isfinite(record["se"]):
        return UNDETERMINED
    return TURNS_UP if record["rise"] > z * record["se"] else NO_UPTURN


def u_shape_verdict(record: Mapping[str, Any]) -> str:
    """G5's verdict: the loss turns upward (supported), shows no upturn (not supported), or cannot tell."""
    return {TURNS_UP: claims.SUPPORTED, NO_UPTURN: claims.NOT_SUPPORTED}.get(u_shape_finding(record),
                                                                            claims.INCONCLUSIVE)


# ----------------------------------------------------------------------------------------------------------
# Sweeps against n and α


def sweep_summary(curves_by_value: Mapping[float, Mapping[str, Any]], key: str) -> dict[str, np.ndarray]:
    """Final-epoch ``key`` (e.g. ``loss_gap``) against a swept value: ``x`` (sorted) and seed ``mean``/``min``/``max``.

    ``curves_by_value`` maps each value (n, α) to a :func:`stack_curves` result.
    """
    require(len(curves_by_value) > 0, "nothing to summarise: the sweep is empty")
    xs = sorted(curves_by_value)
    finals = [np.asarray(curves_by_value[x][key], float)[:, -1] for x in xs]
    return {
        "x": np.array(xs, float),
        "mean": np.array([f.mean() for f in finals]),
        "min": np.array([f.min() for f in finals]),
        "max": np.array([f.max() for f in finals]),
        "n_seeds": np.array([len(f) for f in finals]),
    }


def gap_slope(n: Sequence[float], gap: Sequence[float]) -> float:
    """Log–log slope of the final gap against n (Section 4's bound ~ n^(-1/2) has slope −1/2).

    :func:`mixup_lib.approx.loglog_slope` over every point; NaN when any gap is ≤ 0 (no logarithm: a slope
    over the remaining sizes would describe another sweep) or there are fewer than 2 points.
    """
    n, gap = np.asarray(n, float), np.asarray(gap, float)
    if len(gap) < 2 or not (gap > 0).all():
        return math.nan
    return approx.loglog_slope(n, gap, min_points=2)


def trend(x: Sequence[float], y: Sequence[float]) -> dict[str, Any]:
    """Direction of y against x: Spearman's rank correlation ``rho`` and whether y strictly decreases."""
    from scipy.stats import spearmanr

    x, y = np.asarray(x, float), np.asarray(y, float)
    order = np.argsort(x)
    y = y[order]
    rho = float(spearmanr(x[order], y).statistic) if len(x) >= 2 else math.nan
    return {"rho": rho, "decreasing": bool(len(y) >= 2 and (np.diff(y) < 0).all())}


# ----------------------------------------------------------------------------------------------------------
# What others measured


def final_test_errors(curves_by_requested: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> dict[str, dict]:
    """Per requested data set: each method's seed-mean test error at the last epoch, and the seed count."""
    return {name: {**{m: float(np.mean(np.asarray(c[m]["test_error"], float)[:, -1])) for m in METHODS},
                   "n_seeds": int(min(len(c[m]["test_error"]) for m in METHODS))}
            for name, c in curves_by_requested.items()}


def published_rows(datasets: Sequence[Mapping[str, Any]], errors: Mapping[str, Mapping[str, Any]]) -> list[dict]:
    """The published test errors of this chapter beside ours (in %), with whether the direction agrees.

    An anchor is matched to our data set by the title its setup starts with (``CIFAR-10, …``). Where that data
    set was substituted or missing, ``ours_on`` says what ran, or the numbers are None.
    """
    by_title = {d["title"]: d for d in datasets}
    rows = []
    for anchor in published.anchors("generalization"):
        d = by_title.get(anchor["setup"].split(",")[0])
        ours = errors.get(d["requested"]) if d is not None else None
        row = {**anchor, "dataset": d["requested"] if d else None, "ours_on": None, "ours_erm": None,
               "ours_mixup": None, "agrees": None}
        if ours is not None:
            row.update(ours_on=d["used_title"] + (" (substituted)" if d["substituted"] else ""),
                       ours_erm=100 * ours["erm"], ours_mixup=100 * ours["mixup"],
                       agrees=published.direction_agrees(anchor["quantity"], ours["erm"], ours["mixup"]))
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------------------------------------
# Compute: the results object


def _gather(configs_: Sequence[Mapping[str, Any]], runs_dir: Any) -> dict[str, Any]:
    """Stacked curves of the finished runs of ``configs_`` (one per seed)."""
    from mixup_lib import runs

    found = [runs.get_or_train(c, runs_dir=runs_dir, progress=False) for c in configs_]
    return _plain(stack_curves([r.metrics for r in found]))


def _datasets_record(choices: Mapping[str, profiles.DataChoice], unavailable: Mapping[str, str]) -> list[dict]:
    """One record per requested data set: what ran instead (if anything), where it came from and why."""
    records = []
    for name in DATASETS:
        choice = choices.get(name)
        records.append({
            "requested": name, "title": title(name), "used": choice.used if choice else None,
            "used_title": title(choice.used) if choice else None,
            "substituted": bool(choice and choice.is_fallback),
            "reason": choice.reason if choice else unavailable.get(name),
            "source": choice.data.source if choice else None,
        })
    return records


def _setup(settings: Mapping[str, Any], datasets: Sequence[Mapping[str, Any]], device: str) -> dict[str, Any]:
    """What was run: data (and substitutions), the model, subsets, settings and the trainer's fields."""
    from mixup_lib import train

    fields = train.validate_config(_configs(settings, [SWEEP_DATASET])[0])
    what = {}
    for d in datasets:
        if d["used"] is None:
            what[f"data: {d['title']}"] = "not available (fallback off): shown as missing"
        else:
            what[f"data: {d['title']}"] = (f"SUBSTITUTED by {d['used_title']}: {d['source']}" if d["substituted"]
                                           else f"{d['used_title']}: {d['source']}")
    what.update({
        "model": f"preact-resnet18, base width {settings['width']}",
        "training subset / test subset": f"{settings['n_train'] or 'all'} / {settings['n_test'] or 'all'} "
                                         "(stratified, data_seed 0)",
        "device": device,
        **{k: settings[k] for k in ("profile", "seeds", "epochs", "alpha", "track_penalty", "n_grid", "alpha_grid",
                                    "sweep_seeds", "fallback")},
        "sweeps run on": title(SWEEP_DATASET),
        **{f"trainer: {k}": fields[k] for k in TRAINER_FIELDS},
    })
    return _plain(what)


def _n_sweep(settings: Mapping[str, Any], curves_at: Any) -> dict[str, Any]:
    """The n sweep: final gaps against n, their log–log slopes, and the effective ranks of Σ̂_X."""
    from mixup_lib import dispatch

    by_n = {n: {m: curves_at(m, n_train=n) for m in METHODS} for n in settings["n_grid"]}
    summary = {m: {q: _plain(sweep_summary({n: by_n[n][m] for n in by_n}, f"{q}_gap")) for q in QUANTITIES}
               for m in METHODS}
    slopes = {m: {q: gap_slope(summary[m][q]["x"], summary[m][q]["mean"]) for q in QUANTITIES} for m in METHODS}
    ranks = []
    with dispatch.one_torch_thread():
        for i, n in enumerate(settings["n_grid"]):
            x = load_dataset(SWEEP_DATASET, n_train=n, n_test=settings["n_test"], seed=0).x_train
            r = _plain(approx.effective_rank(x))
            ranks.append({**r, "sqrt_pr_over_n": math.sqrt(r["participation_ratio"] / n),
                          **{f"train_error_{m}": float(np.mean(np.asarray(by_n[n][m]["train_error"])[:, -1]))
                             for m in METHODS},
                          **{f"loss_gap_{m}": summary[m]["loss"]["mean"][i] for m in METHODS}})
    return {"dataset": SWEEP_DATASET, "n": list(settings["n_grid"]), "seeds": list(settings["sweep_seeds"]),
            "summary": summary, "slopes": slopes, "ranks": ranks}


def _alpha_sweep(settings: Mapping[str, Any], curves_at: Any) -> dict[str, Any]:
    """The α sweep: final gaps, losses and penalties against α (α = 0 is ERM), and the trend of the gaps."""
    by_alpha = {0.0: curves_at("erm")}
    by_alpha.update({a: curves_at("mixup", alpha=a) for a in settings["alpha_grid"]})
    keys = [k for k in ALPHA_SWEEP_KEYS if all(k in c for c in by_alpha.values())]
    summary = {k: _plain(sweep_summary(by_alpha, k)) for k in keys}
    alphas = sorted(by_alpha)
    return {"dataset": SWEEP_DATASET, "alphas": alphas, "seeds": list(settings["sweep_seeds"]), "summary": summary,
            "trend": {q: trend(alphas, summary[f"{q}_gap"]["mean"]) for q in QUANTITIES}}


def compute(settings: Mapping[str, Any], *, runs_dir: Any = None, device: str = "auto",
            workers: int | None = None) -> dict[str, Any]:
    """The chapter's results object: every curve, summary, sweep, rank and comparison the page shows.

    Trains what is missing first (:func:`mixup_lib.dispatch.train_pending`), then gathers the runs' metrics.
    """
    from mixup_lib import dispatch, runs
    from mixup_lib.devices import device_description, resolve_device

    run_device = resolve_device(device)
    choices, unavailable = choose_data(settings)
    used = list(dict.fromkeys(c.used for c in choices.values()))
    todo = _configs(settings, used, device)
    trained = dispatch.train_pending(todo, workers=workers, need_weights=False, runs_dir=runs_dir)
    common = {k: settings[k] for k in ("width", "epochs", "n_train", "n_test", "alpha", "track_penalty")}

    def stacked(dataset: str, method: str, seeds: Sequence[int], **changes: Any) -> dict[str, Any]:
        cfgs = [run_config(dataset, method, s, device=device, **{**common, **changes}) for s in seeds]
        return _gather(cfgs, runs_dir)

    curves = {u: {m: stacked(u, m, settings["seeds"]) for m in METHODS} for u in used}
    datasets = _datasets_record(choices, unavailable)
    by_requested = {d["requested"]: curves[d["used"]] for d in datasets if d["used"] is not None}
    hashes = {n: {runs.config_hash(run_config(c.used, m, s, **common)) for m in METHODS for s in settings["seeds"]}
              for n, c in choices.items()}
    def sweep_curves(method: str, **changes: Any) -> dict[str, Any]:
        return stacked(SWEEP_DATASET, method, settings["sweep_seeds"], **changes)

    penalized = [u for u in used if all(k in curves[u][m] for m in METHODS for k in PENALTY_KEYS)]
    return {
        "datasets": datasets,
        "curves": curves,
        "runs": {"configs": len(todo), "distinct": len({runs.config_hash(c) for c in todo}),
                 "trained": len(trained),
                 "coinciding": [n for n in choices if n != "fashion_mnist" and "fashion_mnist" in hashes
                                and hashes[n] == hashes["fashion_mnist"]]},
        "summary": summarize_final_gaps(by_requested),
        "published": published_rows(datasets, final_test_errors(by_requested)),
        "claim8": [{"dataset": n, "quantity": q,
                    **compare_gaps(c["erm"][f"{q}_gap"], c["mixup"][f"{q}_gap"], c["erm"]["epoch"])}
                   for n, c in by_requested.items() for q in QUANTITIES],
        "u_shape": [{"dataset": u, "method": m, **u_shape(curves[u][m]["test_loss"], curves[u][m]["epoch"])}
                    for u in used for m in METHODS],
        "n_sweep": _n_sweep(settings, sweep_curves),
        "alpha_sweep": _alpha_sweep(settings, sweep_curves),
        "penalty": [{"dataset": u, "key": k, **compare_gaps(curves[u]["erm"][k], curves[u]["mixup"][k],
                                                             curves[u]["erm"]["epoch"])}
                    for u in penalized for k in PENALTY_KEYS],
        "setup": _setup(settings, datasets, str(run_device)),
        "provenance": {
            "device": device_description(run_device),
            "dataset requested": ", ".join(DATASETS),
            "dataset used": ", ".join(f"{d['requested']} → {d['used'] or 'missing'}" for d in datasets),
            "data source": "; ".join(dict.fromkeys(d["source"] for d in datasets if d["source"])) or None,
            "fallback reason": "; ".join(f"{d['requested']}: {d['reason']}" for d in datasets if d["reason"]) or None,
            "seeds": list(settings["seeds"]),
        },
    }


# ----------------------------------------------------------------------------------------------------------
# Reading the results object (tables of the page)


def dataset(results: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The record of requested data set ``name`` in ``results["datasets"]``."""
    return next(d for d in results["datasets"] if d["requested"] == name)


def curves_of(results: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    """method → stacked curves of requested data set ``name`` (those of the data set that ran), or None."""
    used = dataset(results, name)["used"]
    return None if used is None else results["curves"][used]


def final_gap_rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The table of final gaps: per data set and gap, each method's seed mean, min and max."""
    by = {(r["dataset"], r["method"], r["quantity"]): r for r in results["summary"]}
    rows = []
    for name in DATASETS:
        for q in QUANTITIES:
            row = {"dataset": title(name), "quantity": q}
            for m in METHODS:
                r = by[name, m, q]
                row.update({f"{m}_{k}": _num(r[k]) if r["available"] else None for k in ("mean", "min", "max")})
            rows.append(row)
    return rows


def claim8_rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Claim 8's measurement per data set and gap, with the rule's verdict on the numbers of the data set that ran."""
    substituted = {d["requested"]: d["substituted"] for d in results["datasets"]}
    return [{**c, "title": title(c["dataset"]) + (" (substituted)" if substituted[c["dataset"]] else ""),
             "epochs": epoch_ranges(c.get("epochs_below", [])), "verdict": throughout_verdict(c)}
            for c in results["claim8"]]


def u_shape_rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The U-shape test per data set that ran and method (:func:`u_shape`), for the page's table."""
    return [{**r, "title": title(r["dataset"]), "method_label": method_label(r["method"]),
             "finding": u_shape_finding(r)} for r in results.get("u_shape", [])]


# ----------------------------------------------------------------------------------------------------------
# Verdicts (plain numbers in, no models, no data)


def _epochs_note(comparison: Mapping[str, Any]) -> str:
    """"epochs 1–5, 8 of 10" (where mixup's mean gap is below ERM's); older results without them: "epochs: –"."""
    if "epochs_below" not in comparison:
        return "epochs not recorded"
    return f"epochs {epoch_ranges(comparison['epochs_below'])} of {comparison['n_epochs']}"


def _u_text(r: Mapping[str, Any]) -> str:
    """One method's U-shape numbers: the minimum's epoch, the rise after it and its standard error."""
    se = "one seed, no SE" if r["se"] is None else f"SE {r['se']:.3f}"
    return (f"{method_label(r['method'])} test loss lowest at epoch {r['min_epoch']} of {r['last_epoch']} "
            f"({r['min_loss']:.3f}), final {r['final_loss']:.3f}, rise {r['rise']:+.3f} ({se}): "
            f"{u_shape_finding(r)}")


def _u_claims(results: Mapping[str, Any]) -> list[claims.Claim]:
    """G5 per data set that ran: mixup's late upturn, with ERM's for contrast (Liu et al., ICLR 2023)."""
    statement = ("Mixup's test loss turns upward late in training here ({}): the U-shape of over-training with "
                 "mixup (Liu et al., 2023).")
    if "u_shape" not in results:
        return [claims.Claim("G5", statement.format("every data set that ran"),
                             "not measured in these results (computed by an older version: recompute them)",
                             claims.INCONCLUSIVE)]
    rows = []
    for used in dict.fromkeys(r["dataset"] for r in results["u_shape"]):
        by = {r["method"]: r for r in results["u_shape"] if r["dataset"] == used}
        rows.append(claims.Claim(
            "G5", statement.format(title(used)),
            "; ".join(_u_text(by[m]) for m in ("mixup", "erm") if m in by)
            + f" (upturn: rise > {U_Z:g} SE of the per-seed rises; {by['mixup']['n_seeds']} seeds)",
            u_shape_verdict(by["mixup"])))
    return rows


def _claim8(results: Mapping[str, Any]) -> list[claims.Claim]:
    measured = {(c["dataset"], c["quantity"]): c for c in results["claim8"]}
    rows = []
    for d in results["datasets"]:
        name = d["title"]
        if d["used"] is None:
            rows.append(claims.Claim(8, f"Mixup's gap is smaller than ERM's throughout training on {name}.",
                                     "data set not available and not substituted", claims.INCONCLUSIVE))
            continue
        comparisons = {q: measured[d["requested"], q] for q in QUANTITIES}
        parts = {q: f"{q} gap: below in {c['fraction_below']:.0%} of epochs ({_epochs_note(c)}), final ERM "
                    f"{c['final_erm']:.3f} vs mixup {c['final_mixup']:.3f}" for q, c in comparisons.items()}
        if d["substituted"]:
            rows.append(claims.Claim(8, f"Mixup's gap (loss and error) is smaller than ERM's throughout training on "
                                        f"{name}.",
                                     f"{name} could not be had; ran on {d['used_title']} (its numbers: "
                                     + "; ".join(parts.values()) + ")", claims.INCONCLUSIVE))
            continue
        for q, c in comparisons.items():
            rows.append(claims.Claim(8, f"Mixup's {q} gap is smaller than ERM's throughout training on {name}.",
                                     f"{parts[q]}; separated across {c['n_seeds']} seeds in "
                                     f"{c['fraction_separated']:.0%} of epochs", throughout_verdict(c)))
    return rows


def g1_verdict(trends: Mapping[str, Mapping[str, Any]]) -> str:
    """G1 from each method's :func:`trend` of the final gap against n (module docstring)."""
    rhos = [_num(t["rho"]) for t in trends.values()]
    if any(rho >= RHO_NOT_SUPPORTED for rho in rhos):
        return claims.NOT_SUPPORTED
    return claims.verdict(True, conclusive=all(t["decreasing"] for t in trends.values()))


def g2_verdict(below: Sequence[bool]) -> str:
    """G2 from whether mixup's loss gap is below ERM's at each n (module docstring)."""
    below = np.asarray(below, bool)
    if below.mean() <= G2_NOT_SUPPORTED_SHARE:
        return claims.NOT_SUPPORTED
    return claims.verdict(True, conclusive=bool(below.all()))


def g3_verdict(rho: float | None) -> str:
    """G3 from Spearman's ρ of the final loss gap with α (module docstring); NaN (no variation) is inconclusive."""
    rho = _num(rho)
    if rho >= RHO_NOT_SUPPORTED:
        return claims.NOT_SUPPORTED
    return claims.verdict(True, conclusive=rho <= G3_SUPPORTED_RHO)


def _sweep_claims(results: Mapping[str, Any]) -> list[claims.Claim]:
    n_sweep, alpha_sweep = results["n_sweep"], results["alpha_sweep"]
    note = f"{len(n_sweep['seeds'])} seed(s)"
    rows = []
    for q in QUANTITIES:
        series = {m: n_sweep["summary"][m][q] for m in METHODS}
        trends = {m: trend(s["x"], [_num(v) for v in s["mean"]]) for m, s in series.items()}
        rows.append(claims.Claim(
            "G1", f"The {q} gap shrinks as the training set grows (Section 4: √(rank Σ_X / n)).",
            f"n = {n_sweep['n']}, {note}; final mean gap "
            + "; ".join(f"{method_label(m)} " + " → ".join(f"{_num(v):.3f}" for v in series[m]["mean"])
                        + f" (log–log slope {_num(n_sweep['slopes'][m][q]):.2f})" for m in METHODS),
            g1_verdict(trends)))
    erm, mix = (np.array([_num(v) for v in n_sweep["summary"][m]["loss"]["mean"]]) for m in METHODS)
    below = mix < erm
    rows.append(claims.Claim("G2", "Mixup's loss gap is below ERM's at every training-set size.",
                             f"below at {int(below.sum())} of {len(below)} sizes ({note})", g2_verdict(below)))
    loss, error = (alpha_sweep["trend"][q]["rho"] for q in QUANTITIES)
    rows.append(claims.Claim("G3", "Mixup's loss gap shrinks as α grows (the penalty's weight α/(4(2α+1)) grows).",
                             f"α = {alpha_sweep['alphas']} ({note}); Spearman ρ of the final loss gap with α "
                             f"{_num(loss):.2f} (error gap {_num(error):.2f})", g3_verdict(loss)))
    for c in results["penalty"]:
        rows.append(claims.Claim("G4", f"Mixup keeps the penalty {PENALTY_NAMES[c['key']]} below ERM's along training "
                                       f"({title(c['dataset'])}).",
                                 f"below in {c['fraction_below']:.0%} of epochs; final ERM {c['final_erm']:.4g} vs "
                                 f"mixup {c['final_mixup']:.4g} ({c['n_seeds']} seeds)", throughout_verdict(c)))
    return rows


def verdicts(results: Mapping[str, Any]) -> list[claims.Claim]:
    """Every claim of the page, from the results object alone: claim 8 per data set, then G1–G4."""
    return [*_claim8(results), *_sweep_claims(results), *_u_claims(results)]


def claim8_rule() -> str:
    """Claim 8's rule in words, with the thresholds of this module (shown on the page above its table)."""
    return (f"**supported** when mixup is below in at least {SUPPORTED_FRACTION:.0%} of the epochs and, at the last "
            f"epoch, separated across at least {MIN_SEEDS} seeds; **not supported** when it is below in fewer than "
            f"{NOT_SUPPORTED_FRACTION:.0%} of the epochs or, at the last epoch, every mixup seed is above every ERM "
            "seed; otherwise inconclusive.")


def sweep_rules() -> str:
    """The rules of G1–G4 in words, with the thresholds of this module (shown above the claims table)."""
    return (
        "G1, *the gap shrinks as n grows*: supported when the mean final gap strictly decreases along the n grid for "
        f"both methods, not supported when it grows with n for either (Spearman ρ ≥ {RHO_NOT_SUPPORTED:g}), "
        "otherwise inconclusive; G2, *mixup's gap is below ERM's at every n*: supported when it is at every n, not "
        f"supported when it is below at {G2_NOT_SUPPORTED_SHARE:.0%} of them or fewer, otherwise inconclusive; "
        f"G3, *mixup's gap shrinks as α grows*: Spearman ρ over α (α = 0 is ERM) ≤ {G3_SUPPORTED_RHO:g} supported, "
        f"≥ {RHO_NOT_SUPPORTED:g} not supported; G4, *mixup keeps the data-adaptive penalty below ERM's along "
        "training*: the rule of claim 8 applied to P(θ) and to G(θ).")


def u_shape_rule() -> str:
    """G5's test in words, with this module's threshold (shown above the U-shape table)."""
    return (f"Let t* be the epoch where the seed-mean test loss is lowest and d_k = L_k(last) − L_k(t*) the rise of "
            f"seed k after it. The loss **{TURNS_UP}** when t* is before the last epoch and the mean of the d_k "
            f"exceeds {U_Z:g} standard errors of the d_k (at least 2 seeds); **{NO_UPTURN}** when the minimum is at "
            f"the last epoch or the rise is within {U_Z:g} standard errors; with one seed and a minimum before the "
            f"last epoch, **{UNDETERMINED}**.")
