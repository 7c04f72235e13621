"""One trainer for ERM and mixup, evaluation, and per-epoch metrics.

The paper (Zhang et al., ICLR 2021) states its training setup as: SGD, mini-batch 64, momentum 0.9,
learning rate 0.1, PyTorch. Those are the defaults here. It does not state the number of epochs, the
learning-rate schedule, weight decay, augmentation or seeds; each of these is a named config field
with a default chosen below and recorded in every run's ``config.json``:

- ``schedule="onecycle"``: linear warm-up from 0 to ``lr`` over the first ``warmup_fraction`` (0.2)
  of all steps, then linear decay to 0. With the paper's lr 0.1 held constant, a WRN-16-2 on 10 000
  Fashion-MNIST images swung between 75% and 25% test accuracy from epoch to epoch; with a one-cycle
  schedule it reached 86.5% in 3 epochs (measured while sizing this library). Short runs need the
  decay. ``"cosine"`` (warm-up, then cosine decay) and ``"constant"`` (the paper's literal setup) are
  the alternatives.
- ``weight_decay=5e-4``: the value of the Wide ResNet paper (Zagoruyko & Komodakis 2016), the
  architecture of Fig. 1.
- ``augment=False``: the paper states no augmentation, so none by default. ``augment=True`` applies
  the data set's standard recipe (``data.AugmentSpec``: random crop with padding and/or horizontal
  flip). Augmentation slows fitting in short runs: WRN-16-2, 3 epochs, 10 000 Fashion-MNIST images,
  this schedule: 86.1% test accuracy without it, 82.8% with crop 2 + flip (our measurement, CPU). It
  also narrows the ERM generalization gap that Figs. 5–8 are about; turn it on for long runs.
- ``track_penalty`` (optional, default 0: off): the number of training points on which the data-adaptive
  penalty of Section 4 (:func:`mixup_lib.approx.penalty_terms`) is measured after each epoch and
  recorded as ``penalty`` and ``gradient_penalty``. The points are a fixed random subset drawn from
  ``data_seed`` (the same for ERM and mixup). Measuring changes no other number (eval mode, no
  randomness), but the field is part of the hash when set. Fields of :data:`OPTIONAL_DEFAULTS` are left
  out of a validated config while they hold their default, so adding them changed no existing run's hash.
- ``seed=0`` drives model initialisation, batch order, augmentation and mixing (independent streams,
  so an ERM run and a mixup run with the same seed see the same batches); ``data_seed=0`` drives the
  choice of the ``n_train``/``n_test`` subsets (and the two-moons sample).

Mixup (Eq. 1 of the paper) is estimated per mini-batch: one λ ~ Beta(α, α) per batch and the partner
by a random permutation (``mix_mode="batch"``, the original recipe), loss :func:`~mixup_lib.mixup.
soft_cross_entropy` against the mixed soft labels. ERM uses :func:`~mixup_lib.mixup.cross_entropy`.

Each epoch records the loss and accuracy on the *clean* training set (unaugmented, unmixed, model in
eval mode), on the test set, the mean training objective over the epoch (``mix_loss``: the mixup loss
for mixup, the ERM loss on augmented batches for ERM), the learning rate and wall times.

All randomness flows through explicit ``torch.Generator`` objects (and the global RNG, forked and
seeded, for weight initialisation and dropout), so on the CPU a fixed seed gives bitwise-identical
metrics on rerun, and a run resumed from a checkpoint continues exactly as if uninterrupted.
"""

from __future__ import annotations

import copy
import inspect
import json
import math
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mixup_lib import accel
from mixup_lib.approx import penalty_terms
from mixup_lib.attacks import eval_mode
from mixup_lib.data import load_dataset
from mixup_lib.devices import check_device_name, device_description, resolve_device
from mixup_lib.errors import ConfigError, check_choice, check_finite, check_nonnegative, check_positive_int, require
from mixup_lib.mixup import MIX_MODES, cross_entropy, mix, one_hot, predict_labels, sample_lambda, soft_cross_entropy

#: Bump when a change to the trainer changes the numbers a config produces: it is part of the run hash.
#: 2: mixing randomness drawn once per epoch, batches prepared in chunks, fused SGD, F.cross_entropy on the
#: mixed targets, channels_last for conv nets (same mathematics; other random streams and rounding).
#: 3: λ ~ Beta(α, α) sampled in log space (mixup.sample_lambda): for α < 1 the random stream differs from 2's,
#: so version-2 runs of those configs could not be reproduced bit for bit under their old hash.
TRAINER_VERSION = 3
#: Batches indexed, augmented and mixed together, a few tensor ops per chunk instead of per step: per-step
#: overhead is what limits small models (benchmarks/, tools/PERF_NOTES.md). Memory: CHUNK_STEPS batches of inputs.
CHUNK_STEPS = 64

METHODS = ("erm", "mixup")
SCHEDULES = ("onecycle", "cosine", "constant")
#: Default warm-up fraction per schedule (used when ``warmup_fraction`` is None).
DEFAULT_WARMUP = {"onecycle": 0.2, "cosine": 0.0, "constant": 0.0}
#: Longest run name, in UTF-8 bytes. File names are limited to 255 bytes; the longest name derived from a run's
#: label is runs.py's corrupt copy ``<name>-<16-hex hash>.corrupt-<YYYYmmdd-HHMMSS>-<pid>`` (name + 49 bytes for
#: a 7-digit pid), so 206 would fit; 128 leaves room to spare.
MAX_NAME_BYTES = 128
#: Two moons' noise when ``data_kwargs`` sets none: the loader's default (read here, not repeated).
_TWO_MOONS_DEFAULT_NOISE = inspect.signature(load_dataset).parameters["noise"].default
#: Keyword arguments of ``data.load_dataset`` that a config may set through ``data_kwargs``.
DATA_KWARGS = ("noise",)

_DEFAULTS: dict[str, Any] = {
    "name": "run",  # a label for the run directory; not part of the hash
    "dataset": None,  # required: one of data.DATASET_NAMES
    "model": None,  # required: a models.build name, e.g. "wrn-16-2"
    "model_kwargs": {},  # extra keywords for models.build (e.g. {"width": 32}, {"hidden": 100})
    "method": "erm",  # "erm" or "mixup"
    "alpha": 1.0,  # mixup's λ ~ Beta(α, α); normalized to 0 for ERM
    "mix_mode": "batch",  # one λ per batch (the original recipe) or one per sample
    "epochs": None,  # required: not stated in the paper
    "batch_size": 64,  # paper
    "lr": 0.1,  # paper (the peak lr of the schedule)
    "momentum": 0.9,  # paper
    "weight_decay": 5e-4,  # not stated: Wide ResNet paper's value
    "schedule": "onecycle",  # not stated: see the module docstring
    "warmup_fraction": None,  # None: DEFAULT_WARMUP[schedule]
    "seed": 0,  # not stated: init, batch order, augmentation, mixing
    "n_train": None,  # None: the whole training set
    "n_test": None,  # None: the whole test set
    "augment": False,  # not stated: off; True applies the data set's standard crop/flip
    "data_seed": 0,  # subset choice and the two-moons sample
    "data_kwargs": {},  # extra keywords for data.load_dataset (only "noise", for two moons)
    "eval_batch_size": None,  # None: 256 on the CPU (cache-friendly), 1024 on a GPU; not part of the hash
    "device": "auto",  # cuda, then mps, then cpu; not part of the hash
}

#: Optional fields: present in a validated config only when they differ from these defaults, so that the
#: configs (and hashes) of runs that do not use them are the same as before the field existed.
OPTIONAL_DEFAULTS: dict[str, Any] = {
    "track_penalty": 0,  # number of training points on which the Section 4 penalty is measured per epoch
}


def default_config() -> dict[str, Any]:
    """Every config field with its default (``None`` for the required ``dataset``, ``model``, ``epochs``).

    The optional fields of :data:`OPTIONAL_DEFAULTS` are not included (a config holds them only when set).
    """
    return copy.deepcopy(_DEFAULTS)


def _check_int(name: str, value: object, minimum: int) -> int:
    require(
        isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= minimum,
        f"{name}={value!r} is not allowed: it must be an integer >= {minimum}",
    )
    return int(value)


def _check_number(name: str, value: object) -> float:
    require(
        isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool),
        f"{name}={value!r} is not allowed: it must be a number",
    )
    return check_nonnegative(name, float(value))


def _check_json_dict(name: str, value: object) -> dict:
    require(isinstance(value, Mapping), f"{name}={value!r} is not allowed: it must be a dict")
    require(all(isinstance(k, str) for k in value), f"{name}={value!r} is not allowed: its keys must be strings")
    try:
        json.dumps(dict(value), allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{name}={value!r} is not allowed: values must be JSON numbers, strings or booleans") from err
    return dict(value)


def _dataset_is_images(dataset: str) -> bool:
    """True for the image data sets; two moons is 2 features per point."""
    return dataset != "two_moons"


def _check_model_fits_input(model: str, what: str, images: bool) -> None:
    """Refuse, in one line and before anything is built or trained, a convolutional net on vector data."""
    from mixup_lib import data, models

    image_sets = ", ".join(name for name in data.DATASET_NAMES if _dataset_is_images(name))
    require(
        images or not models.is_convolutional(model),
        f"model={model!r} does not fit {what}: use {' or '.join(models.VECTOR_MODELS)} there; "
        f"wrn-<depth>-<k> and preact-resnet18 need an image data set ({image_sets})",
    )


def _check_name(name: object) -> str:
    """A run label fit for a file name: letters, digits, '-', '_', '.' (not first), at most MAX_NAME_BYTES."""
    require(isinstance(name, str) and name != "", f"name={name!r} is not allowed: it must be a non-empty string")
    require(
        all(c.isalnum() or c in "-_." for c in name) and not name.startswith("."),
        f"name={_shorten(name)} is not allowed: use letters, digits, '-', '_' and '.' only (not '.' first)",
    )
    size = len(name.encode())
    require(
        size <= MAX_NAME_BYTES,
        f"name={_shorten(name)} is not allowed: it is {size} bytes long (UTF-8), at most {MAX_NAME_BYTES} are allowed "
        "(the run folder <name>-<hash> and its lock, temporary and corrupt-copy names must fit the file system's "
        "255-byte limit)",
    )
    return name


def _shorten(text: str, keep: int = 40) -> str:
    """``repr(text)``, cut in the middle when long, so that a one-line message stays readable."""
    return repr(text) if len(text) <= 2 * keep else f"{text[:keep]!r}...{text[-keep:]!r} ({len(text)} characters)"


def validate_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Fill in defaults and check every field; return the completed config or raise a one-line ConfigError.

    Unknown fields are rejected, and so is a model that does not fit the data set (a convolutional net on
    two moons). Fields that cannot change any number get one canonical value, so that such configs share one
    hash (:func:`_drop_fields_without_effect`: mixup with α = 0 becomes ERM, ERM drops α and ``mix_mode``,
    ``augment`` on a data set without a recipe, ...); ``warmup_fraction=None`` becomes the schedule's default.
    """
    from mixup_lib import data, models

    require(isinstance(config, Mapping), f"config of type {type(config).__name__} is not allowed: it must be a dict")
    allowed = {**_DEFAULTS, **OPTIONAL_DEFAULTS}
    unknown = sorted(set(config) - set(allowed))
    require(not unknown, f"config field {unknown[0] if unknown else ''!r} is unknown: allowed are {', '.join(allowed)}")
    cfg = default_config()
    cfg.update(copy.deepcopy(dict(config)))

    _check_name(cfg["name"])
    require(cfg["dataset"] is not None, f"dataset is required: choose one of {', '.join(data.DATASET_NAMES)}")
    check_choice("dataset", cfg["dataset"], data.DATASET_NAMES)
    require(
        isinstance(cfg["model"], str),
        "model is required: e.g. 'wrn-16-2', 'preact-resnet18', 'logreg', 'two-layer-relu'",
    )
    images = _dataset_is_images(cfg["dataset"])
    _check_model_fits_input(cfg["model"], f"dataset={cfg['dataset']!r} (2 features per point)", images)
    cfg["model_kwargs"] = _check_json_dict("model_kwargs", cfg["model_kwargs"])
    models.check_spec(cfg["model"], cfg["model_kwargs"])

    check_choice("method", cfg["method"], METHODS)
    cfg["alpha"] = _check_number("alpha", cfg["alpha"])
    check_choice("mix_mode", cfg["mix_mode"], MIX_MODES)
    require(cfg["epochs"] is not None, "epochs is required: an integer >= 1 (the paper does not state it)")
    cfg["epochs"] = _check_int("epochs", cfg["epochs"], 1)
    cfg["batch_size"] = _check_int("batch_size", cfg["batch_size"], 2)
    cfg["lr"] = _check_number("lr", cfg["lr"])
    require(cfg["lr"] > 0, f"lr={cfg['lr']!r} is not allowed: it must be > 0")
    cfg["momentum"] = _check_number("momentum", cfg["momentum"])
    require(cfg["momentum"] < 1, f"momentum={cfg['momentum']!r} is not allowed: it must be in [0, 1)")
    cfg["weight_decay"] = _check_number("weight_decay", cfg["weight_decay"])
    check_choice("schedule", cfg["schedule"], SCHEDULES)
    if cfg["warmup_fraction"] is None:
        cfg["warmup_fraction"] = DEFAULT_WARMUP[cfg["schedule"]]
    cfg["warmup_fraction"] = _check_number("warmup_fraction", cfg["warmup_fraction"])
    require(
        cfg["warmup_fraction"] < 1, f"warmup_fraction={cfg['warmup_fraction']!r} is not allowed: it must be in [0, 1)"
    )
    cfg["seed"] = _check_int("seed", cfg["seed"], 0)
    cfg["data_seed"] = _check_int("data_seed", cfg["data_seed"], 0)
    for key, minimum in (("n_train", 2), ("n_test", 1)):
        if cfg[key] is not None:
            cfg[key] = _check_int(key, cfg[key], minimum)
    require(isinstance(cfg["augment"], bool), f"augment={cfg['augment']!r} is not allowed: it must be True or False")
    cfg["data_kwargs"] = _check_json_dict("data_kwargs", cfg["data_kwargs"])
    bad = sorted(set(cfg["data_kwargs"]) - set(DATA_KWARGS))
    require(not bad, f"data_kwargs key {bad[0] if bad else ''!r} is not allowed: allowed are {', '.join(DATA_KWARGS)}")
    if "noise" in cfg["data_kwargs"]:
        require(
            cfg["dataset"] == "two_moons",
            f"data_kwargs={cfg['data_kwargs']!r} is not allowed for dataset={cfg['dataset']!r}: noise is for two_moons",
        )
        cfg["data_kwargs"]["noise"] = _check_number("data_kwargs['noise']", cfg["data_kwargs"]["noise"])
    if cfg["eval_batch_size"] is not None:
        cfg["eval_batch_size"] = _check_int("eval_batch_size", cfg["eval_batch_size"], 1)
    check_device_name(cfg["device"])

    if "track_penalty" in cfg:
        cfg["track_penalty"] = _check_int("track_penalty", cfg["track_penalty"], 0)
    for key, default in OPTIONAL_DEFAULTS.items():
        if key in cfg and cfg[key] == default:
            del cfg[key]

    return _drop_fields_without_effect(cfg)


def _drop_fields_without_effect(cfg: dict[str, Any]) -> dict[str, Any]:
    """Give fields that cannot change any number one canonical value, so that configs computing the same
    thing share one hash (and one run folder). Each rule below was checked to leave the numbers unchanged:

    - mixup with α = 0 is ERM: λ ~ Beta(0, 0) is taken as λ = 1 (:func:`~mixup_lib.mixup.sample_lambda`), so
      every mixed batch equals its clean batch and its one-hot labels (the mixing stream is separate from the
      order/augment/init streams, so the batches are the same). It becomes ``method="erm"``.
    - ERM ignores the mixup-only fields: ``alpha = 0``, ``mix_mode = "batch"``.
    - ``augment=True`` on a data set whose recipe changes nothing (two moons, SVHN) becomes False.
    - ``data_kwargs={"noise": <the loader's default>}`` is the same sample as no ``noise``.
    - Two moons' ``n_train``/``n_test`` equal to its default size are the same sample as None.
    - ``data_seed`` only chooses subsets (and the ``track_penalty`` points): with the whole image data set
      for training and test and no tracking it becomes 0.
    - ``batch_size`` above ``n_train`` is one full batch per epoch, as ``batch_size = n_train`` is.
    """
    from mixup_lib import data

    if cfg["method"] == "mixup" and cfg["alpha"] == 0:
        cfg["method"] = "erm"
    if cfg["method"] == "erm":
        cfg["alpha"] = 0.0
        cfg["mix_mode"] = "batch"
    moons = not _dataset_is_images(cfg["dataset"])
    if cfg["augment"] and (moons or data.dataset_info(cfg["dataset"]).augment.is_identity):
        cfg["augment"] = False
    if cfg["data_kwargs"].get("noise") == _TWO_MOONS_DEFAULT_NOISE:
        del cfg["data_kwargs"]["noise"]
    if moons:
        for key in ("n_train", "n_test"):
            if cfg[key] == data.TWO_MOONS_DEFAULT_N:
                cfg[key] = None
    elif cfg["n_train"] is None and cfg["n_test"] is None and "track_penalty" not in cfg:
        cfg["data_seed"] = 0
    n_train = data.TWO_MOONS_DEFAULT_N if moons and cfg["n_train"] is None else cfg["n_train"]
    if n_train is not None:
        cfg["batch_size"] = min(cfg["batch_size"], n_train)
    return cfg


# ----------------------------------------------------------------------------------------------------------
# Learning rate, evaluation


def learning_rate(step: int, total_steps: int, config: Mapping[str, Any]) -> float:
    """The learning rate of optimizer step ``step`` (0-based) out of ``total_steps``.

    A linear warm-up from 0 to ``lr`` over ``warmup_fraction`` of the steps, then ``onecycle``: linear
    decay to 0 at the end; ``cosine``: cosine decay to 0; ``constant``: ``lr`` throughout.
    """
    peak, schedule = config["lr"], config["schedule"]
    warm = round(config["warmup_fraction"] * total_steps)
    if step < warm:
        return peak * (step + 1) / warm
    if schedule == "constant":
        return peak
    progress = (step - warm) / max(1, total_steps - warm)
    if schedule == "onecycle":
        return peak * (1.0 - progress)
    return peak * 0.5 * (1.0 + math.cos(math.pi * progress))


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> tuple[float, float]:
    """Mean loss (:func:`~mixup_lib.mixup.cross_entropy`) and accuracy of ``model`` on (x, y), in eval mode.

    The model's previous train/eval mode is restored afterwards.
    """
    check_positive_int("batch_size", batch_size)
    require(len(x) == len(y) and len(x) > 0, f"x has {len(x)} rows and y {len(y)}: they must match and be non-empty")
    total_loss = torch.zeros((), dtype=torch.float64, device=x.device)
    correct = torch.zeros((), dtype=torch.int64, device=x.device)
    with eval_mode(model):
        for start in range(0, len(x), batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            logits = model(xb).float()
            total_loss += cross_entropy(logits, yb, reduction="none").double().sum()
            correct += (predict_labels(logits) == yb).sum()
    return float(total_loss) / len(x), int(correct) / len(x)


def mixup_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """:func:`~mixup_lib.mixup.soft_cross_entropy` for soft targets whose rows sum to 1 (mixed one-hot labels).

    For K-class logits h(f) − y·f = −Σ_k y_k log softmax(f)_k when Σ_k y_k = 1, which ``F.cross_entropy``
    computes in one fused op (forward and backward) instead of five. Binary (N,) logits use the softplus form.
    """
    if logits.ndim == 2:
        return F.cross_entropy(logits, targets)
    return soft_cross_entropy(logits, targets)


def divergence_message(config: Mapping[str, Any], epoch: int, loss: float) -> str:
    """One line for a non-finite training loss, naming the likely cause from the config.

    Weight decay alone is a quadratic of curvature ``weight_decay``; SGD with heavy-ball momentum μ and step
    η on it, w ← w − η·wd·w + μ(w − w_prev), is stable iff 0 < η·wd < 2(1 + μ) (the roots of
    z² − (1 + μ − η·wd) z + μ lie inside the unit circle). Past that bound the decay step by itself makes the
    weights grow without limit, and the culprit is whichever of ``weight_decay`` and ``lr`` lies further above
    its default (:func:`default_config`); below it, the decay is stable and the step is too large for the
    loss: ``lr``.
    """
    lr, wd, momentum = config["lr"], config["weight_decay"], config["momentum"]
    bound = 2 * (1 + momentum)
    head = f"training diverged in epoch {epoch}: the training loss is {loss}"
    product = f"lr·weight_decay = {lr * wd:.3g}"
    if lr * wd >= bound and wd / _DEFAULTS["weight_decay"] >= lr / _DEFAULTS["lr"]:
        return (
            f"{head}; likely cause: weight_decay={wd!r} is too large for lr={lr!r} ({product} >= 2·(1 + momentum) "
            f"= {bound:.3g}, where the decay step alone makes the weights grow without limit): use weight_decay "
            f"< {bound / lr:.3g} (default {_DEFAULTS['weight_decay']})"
        )
    stable = "exceeds" if lr * wd >= bound else "is below"
    return (
        f"{head}; likely cause: lr={lr!r} is too large for this model and data ({product} {stable} the "
        f"weight-decay bound 2·(1 + momentum) = {bound:.3g}): try a lower lr (default {_DEFAULTS['lr']})"
    )


# ----------------------------------------------------------------------------------------------------------
# The trainer


def _seeds(seed: int) -> dict[str, int]:
    """Independent 63-bit seeds for each random stream, derived from the config's seed."""
    names = ("init", "order", "augment", "mix", "global")
    states = np.random.SeedSequence([seed, TRAINER_VERSION]).generate_state(len(names), dtype=np.uint64)
    return {name: int(s) >> 1 for name, s in zip(names, states, strict=True)}


def _row_line(row: Mapping[str, Any], epochs: int) -> str:
    return (
        f"epoch {row['epoch']}/{epochs}: train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f} | "
        f"test loss {row['test_loss']:.4f} acc {row['test_acc']:.4f} | mix loss {row['mix_loss']:.4f} | "
        f"lr {row['lr']:.4g} | {row['epoch_time_s']:.1f} s"
    )


class Trainer:
    """Train one config, one epoch at a time, with a state that can be saved and restored exactly.

    ``data`` (a ``data.TensorData``) overrides loading the config's data set: for tests and experiments
    outside the run store (the store's hash describes the config, not an injected data set).
    """

    def __init__(self, config: Mapping[str, Any], *, device: str | torch.device | None = None, data=None) -> None:
        from mixup_lib import data as data_module
        from mixup_lib import models

        self.config = validate_config(config)
        cfg = self.config
        self.device = resolve_device(cfg["device"] if device is None else str(device))
        if data is None:
            data = data_module.load_dataset(
                cfg["dataset"],
                n_train=cfg["n_train"],
                n_test=cfg["n_test"],
                seed=cfg["data_seed"],
                **cfg["data_kwargs"],
            )
        vectors = f"the data {data.name!r} ({data.in_channels} features per point)"
        _check_model_fits_input(cfg["model"], vectors, data.input_size is not None)
        self.data = data.to(self.device)
        n = len(self.data.x_train)
        require(n >= 2, f"the training set has {n} examples: at least 2 are needed")
        check_finite("the training inputs", self.data.x_train)  # once here rather than once per batch
        #: The training labels as one-hot rows, made once (mixup mixes them).
        self.targets = one_hot(self.data.y_train, self.data.num_classes).to(self.data.x_train.dtype)
        seeds = _seeds(cfg["seed"])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seeds["init"])
            model = models.build(
                cfg["model"],
                self.data.num_classes,
                self.data.in_channels,
                input_size=self.data.input_size,
                mean=self.data.mean,
                std=self.data.std,
                **cfg["model_kwargs"],
            )
        # channels_last for conv nets on the CPU (1.1-1.4x per step, tools/PERF_NOTES.md) and CUDA; on CUDA also
        # TF32 and cudnn.benchmark. bf16 autocast applies on CUDA only (accel.autocast is a no-op elsewhere).
        accel.configure_backends(self.device)
        cl = accel.has_conv(model) and (self.device.type == "cuda" or
                                        (self.device.type == "cpu" and accel.channels_last_safe_on_cpu(model)))
        self.model = accel.prepare_model(model, self.device, channels_last=cl)
        self.optimizer = torch.optim.SGD(
            self.model.parameters(),
            lr=cfg["lr"],
            momentum=cfg["momentum"],
            weight_decay=cfg["weight_decay"],
            fused=self.device.type in ("cpu", "cuda"),  # one kernel per step instead of a few ops per tensor
        )
        self.generators = {name: torch.Generator().manual_seed(seeds[name]) for name in ("order", "augment", "mix")}
        self.global_rng = self._initial_global_rng(seeds["global"])
        bs = cfg["batch_size"]
        # A last batch of one example is dropped (mixup needs two; BatchNorm is ill-defined on one).
        self.steps_per_epoch = n // bs + (1 if n % bs >= 2 else 0)
        self.total_steps = self.steps_per_epoch * cfg["epochs"]
        self.penalty_points = self._penalty_points(cfg.get("track_penalty", 0), n, cfg["data_seed"])
        self.epoch = 0
        self.step = 0
        self.metrics: list[dict[str, Any]] = []
        self.wall_time_s = 0.0

    @staticmethod
    def _penalty_points(count: int, n: int, data_seed: int) -> torch.Tensor | None:
        """The fixed training points of ``track_penalty`` (sorted indices), or None when not tracking.

        Drawn from their own generator seeded by ``data_seed``: the same points for every method and seed,
        and no draw from the training streams. At most all ``n`` points.
        """
        if count == 0:
            return None
        state = np.random.SeedSequence([data_seed, 0x5EC4]).generate_state(1, dtype=np.uint64)[0]
        g = torch.Generator().manual_seed(int(state) >> 1)
        return torch.randperm(n, generator=g)[: min(count, n)].sort().values

    # -- state ------------------------------------------------------------------------------------------

    def _initial_global_rng(self, seed: int) -> dict[str, torch.Tensor]:
        """The global RNG state(s) used during training (dropout); training runs inside ``fork_rng``."""
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(seed)
            state = {"cpu": torch.get_rng_state()}
            if self.device.type == "cuda":
                state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    @property
    def finished(self) -> bool:
        """True once all ``epochs`` are done."""
        return self.epoch >= self.config["epochs"]

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: safe to save and to load with ``torch.load(weights_only=True)``."""
        return {
            "trainer_version": TRAINER_VERSION,
            "epoch": self.epoch,
            "step": self.step,
            "wall_time_s": self.wall_time_s,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generators": {name: g.get_state() for name, g in self.generators.items()},
            "global_rng": {k: v.clone() for k, v in self.global_rng.items()},
            "metrics": copy.deepcopy(self.metrics),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` (e.g. from a checkpoint)."""
        require(
            state.get("trainer_version") == TRAINER_VERSION,
            f"checkpoint trainer_version={state.get('trainer_version')!r} does not match {TRAINER_VERSION}",
        )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        for name, g in self.generators.items():
            g.set_state(state["generators"][name].cpu())
        self.global_rng = {k: v.cpu() for k, v in state["global_rng"].items()}
        self.epoch = int(state["epoch"])
        self.step = int(state["step"])
        self.wall_time_s = float(state["wall_time_s"])
        self.metrics = [dict(row) for row in state["metrics"]]
        require(
            len(self.metrics) == self.epoch, f"checkpoint has {len(self.metrics)} metric rows for epoch {self.epoch}"
        )

    # -- training ---------------------------------------------------------------------------------------

    def _order(self) -> tuple[torch.Tensor, list[int]]:
        """The epoch's row order (one random permutation, on the device) and its batch sizes.

        The same draw as ``data.batch_indices`` (one ``randperm`` from the ``order`` generator), so the batches
        are those of trainer version 1. A last batch of one example is dropped.
        """
        n, bs = len(self.data.x_train), self.config["batch_size"]
        perm = torch.randperm(n, generator=self.generators["order"])
        sizes = [bs] * (n // bs) + ([n % bs] if n % bs >= 2 else [])
        assert len(sizes) == self.steps_per_epoch, (len(sizes), self.steps_per_epoch)
        return perm[: sum(sizes)].to(self.device), sizes  # one host-to-device copy per epoch

    def _mix_plan(self, sizes: list[int]) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Mixup's randomness for the whole epoch, drawn at once: λ for every row of the epoch (one per batch,
        the original recipe, or one per sample) and every row's partner, a uniformly random permutation within
        its batch, as a row index into the epoch. Both on the device. ``None`` for ERM."""
        cfg, g = self.config, self.generators["mix"]
        if cfg["method"] != "mixup":
            return None
        steps, width = len(sizes), max(sizes)
        counts = torch.tensor(sizes)
        rows = torch.arange(width) < counts[:, None]  # (steps, width): slots holding a row (the last may be short)
        if cfg["mix_mode"] == "batch":
            lam = sample_lambda(cfg["alpha"], None, (steps,), g)[:, None].expand(steps, width)[rows]
        else:
            lam = sample_lambda(cfg["alpha"], None, (steps, width), g)[rows]
        keys = torch.rand(steps, width, generator=g).masked_fill(~rows, 2.0)  # empty slots sort last
        offsets = counts.cumsum(0) - counts
        partner = (keys.argsort(dim=1) + offsets[:, None])[rows]
        return lam.to(self.device, self.data.x_train.dtype), partner.to(self.device)

    def _chunks(self, order: torch.Tensor, sizes: list[int], plan):
        """The epoch's batches, CHUNK_STEPS at a time: (inputs, targets, sizes) indexed, augmented and mixed
        with whole-chunk tensor ops. Targets are mixed one-hot rows for mixup, labels for ERM."""
        from mixup_lib import data as data_module

        augment = self.config["augment"] and not self.data.augment.is_identity
        start = 0
        for first in range(0, len(sizes), CHUNK_STEPS):
            part = sizes[first : first + CHUNK_STEPS]
            stop = start + sum(part)
            idx = order[start:stop]
            x = self.data.x_train[idx]
            if augment:
                x = data_module.augment_batch(x, self.data.augment, self.generators["augment"])
            if plan is None:
                yield x, self.data.y_train[idx], part
            else:
                lam, partner = plan
                yield (*mix(x, self.targets[idx], lam[start:stop], partner[start:stop] - start), part)
            start = stop

    def train_epoch(self, *, progress: bool = True) -> dict[str, Any]:
        """Train one epoch, evaluate, append and return the epoch's metrics row."""
        from tqdm.std import tqdm

        require(not self.finished, f"the run is finished: all {self.config['epochs']} epochs are done")
        cfg, start = self.config, time.perf_counter()
        loss_fn = mixup_loss if cfg["method"] == "mixup" else cross_entropy
        bar_on = progress and sys.stderr.isatty()
        bar = tqdm(
            total=self.steps_per_epoch,
            desc=f"epoch {self.epoch + 1}/{cfg['epochs']}",
            leave=False,
            disable=not bar_on,
            file=sys.stderr,
            dynamic_ncols=True,
            mininterval=0.5,
        )
        losses = []
        cuda = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            torch.set_rng_state(self.global_rng["cpu"])
            if cuda:
                torch.cuda.set_rng_state(self.global_rng["cuda"], self.device)
            self.model.train()
            lr = cfg["lr"]
            order, sizes = self._order()
            plan = self._mix_plan(sizes)
            for inputs, targets, part in self._chunks(order, sizes, plan):
                for xb, tb in zip(inputs.split(part), targets.split(part), strict=True):
                    lr = learning_rate(self.step, self.total_steps, cfg)
                    for group in self.optimizer.param_groups:
                        group["lr"] = lr
                    with accel.autocast(self.device):
                        logits = self.model(xb)
                    loss = loss_fn(logits.float(), tb)
                    self.optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    self.optimizer.step()
                    self.step += 1
                    losses.append(loss.detach())
                    if bar_on:
                        bar.update(1)
                        bar.set_postfix(loss=f"{loss.item():.4f}", lr=f"{lr:.4f}", refresh=False)
            self.global_rng = {"cpu": torch.get_rng_state()}
            if cuda:
                self.global_rng["cuda"] = torch.cuda.get_rng_state(self.device)
        bar.close()
        weights = torch.tensor(sizes, dtype=torch.float64, device=self.device)
        mix_loss = float(torch.stack(losses).double() @ weights) / sum(sizes)  # the epoch's one host sync
        require(math.isfinite(mix_loss), divergence_message(cfg, self.epoch + 1, mix_loss))
        bs = cfg["eval_batch_size"] or (256 if self.device.type == "cpu" else 1024)
        with accel.autocast(self.device):
            train_loss, train_acc = evaluate(self.model, self.data.x_train, self.data.y_train, bs)
            test_loss, test_acc = evaluate(self.model, self.data.x_test, self.data.y_test, bs)
        penalties = self._penalties()
        self.epoch += 1
        elapsed = time.perf_counter() - start
        self.wall_time_s += elapsed
        row = {
            "epoch": self.epoch,
            "train_loss": train_loss,
            "train_acc": train_acc,
            "test_loss": test_loss,
            "test_acc": test_acc,
            "mix_loss": mix_loss,
            "lr": lr,
            "epoch_time_s": elapsed,
            "wall_time_s": self.wall_time_s,
        }
        row.update(penalties)
        self.metrics.append(row)
        if progress:
            tqdm.write(_row_line(row, cfg["epochs"]), file=sys.stderr)
        return row

    def _penalties(self) -> dict[str, float]:
        """Section 4's penalties on the ``track_penalty`` points (``penalty``, ``gradient_penalty``); {} when off."""
        if self.penalty_points is None:
            return {}
        idx = self.penalty_points.to(self.device)
        return penalty_terms(self.model, self.data.x_train[idx], self.data.y_train[idx])

    def fit(
        self, *, progress: bool = True, on_epoch_end: Callable[[Trainer, dict[str, Any]], None] | None = None
    ) -> list[dict[str, Any]]:
        """Train the remaining epochs; call ``on_epoch_end(trainer, row)`` after each; return all metrics rows."""
        if progress and self.epoch == 0:
            print(
                f"training {self.config['model']} on {self.config['dataset']} ({len(self.data.x_train)} examples, "
                f"{self.config['method']}, {self.config['epochs']} epochs) on {device_description(self.device)}",
                file=sys.stderr,
            )
        while not self.finished:
            row = self.train_epoch(progress=progress)
            if on_epoch_end is not None:
                on_epoch_end(self, row)
        return self.metrics


def train(
    config: Mapping[str, Any],
    *,
    progress: bool = True,
    device: str | torch.device | None = None,
    data=None,
    on_epoch_end: Callable[[Trainer, dict[str, Any]], None] | None = None,
) -> tuple[nn.Module, list[dict[str, Any]]]:
    """Train a config from scratch, without the run store; return the model and the per-epoch metrics.

    Use :func:`mixup_lib.runs.get_or_train` to cache, resume and reuse runs.
    """
    trainer = Trainer(config, device=device, data=data)
    metrics = trainer.fit(progress=progress, on_epoch_end=on_epoch_end)
    return trainer.model, metrics


__all__ = [
    "DEFAULT_WARMUP",
    "METHODS",
    "OPTIONAL_DEFAULTS",
    "SCHEDULES",
    "TRAINER_VERSION",
    "ConfigError",
    "Trainer",
    "default_config",
    "evaluate",
    "learning_rate",
    "train",
    "validate_config",
]
