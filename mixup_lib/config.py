"""The trainer's config schema: every field, its default and its check, validated once into a frozen
:class:`TrainConfig` by :func:`validate` (bad input: a one-line :class:`ConfigError`).

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

The validated config's dict (:meth:`TrainConfig.as_dict`) is what a run's ``config.json`` holds and what its
hash reads (:func:`mixup_lib.runs.config_hash`); fields of :data:`OPTIONAL_DEFAULTS` appear in it only when
set. :func:`validate` of a :class:`TrainConfig` returns it as it is, so a config validated once is never
validated again on its way through the run store and the trainer.
"""

from __future__ import annotations

import copy
import inspect
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any

import numpy as np

from mixup_lib.data import load_dataset
from mixup_lib.devices import check_device_name
from mixup_lib.errors import ConfigError, check_choice, check_nonnegative, require
from mixup_lib.mixup import MIX_MODES

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

DEFAULTS: dict[str, Any] = {
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
    return copy.deepcopy(DEFAULTS)


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


def check_model_fits_input(model: str, what: str, images: bool) -> None:
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


@dataclass(frozen=True, eq=False)
class TrainConfig(Mapping[str, Any]):
    """A validated trainer config: read-only, made by :func:`validate` (the fields are those of :data:`DEFAULTS`
    and :data:`OPTIONAL_DEFAULTS`; the module docstring says what each means).

    :meth:`as_dict` is the plain dict a run's ``config.json`` holds and its hash reads. It also reads as that
    dict, read-only (``cfg["lr"]``, ``dict(cfg)``, ``cfg == a_dict``), so code written for the dict keeps working.
    """

    name: str
    dataset: str
    model: str
    model_kwargs: Mapping[str, Any]
    method: str
    alpha: float
    mix_mode: str
    epochs: int
    batch_size: int
    lr: float
    momentum: float
    weight_decay: float
    schedule: str
    warmup_fraction: float
    seed: int
    n_train: int | None
    n_test: int | None
    augment: bool
    data_seed: int
    data_kwargs: Mapping[str, Any]
    eval_batch_size: int | None
    device: str
    track_penalty: int = 0

    def __post_init__(self) -> None:
        for key in ("model_kwargs", "data_kwargs"):  # read-only views of private copies
            object.__setattr__(self, key, MappingProxyType(dict(getattr(self, key))))

    def as_dict(self) -> dict[str, Any]:
        """The config as a new plain dict; a field of :data:`OPTIONAL_DEFAULTS` only when it is set."""
        return {key: dict(value) if isinstance(value, Mapping) else value for key, value in self._items()}

    def _items(self) -> Iterator[tuple[str, Any]]:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name not in OPTIONAL_DEFAULTS or value != OPTIONAL_DEFAULTS[field.name]:
                yield field.name, value

    def __getitem__(self, key: str) -> Any:
        for name, value in self._items():
            if name == key:
                return value
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items())

    def __len__(self) -> int:
        return sum(1 for _ in self._items())

    def __reduce__(self) -> tuple:
        return validate, (self.as_dict(),)  # pickle and deepcopy through the plain dict


def validate(config: Mapping[str, Any]) -> TrainConfig:
    """Fill in defaults and check every field; return the frozen :class:`TrainConfig` or raise a one-line
    ConfigError. A :class:`TrainConfig` is returned as it is: it was validated when it was made.

    Unknown fields are rejected, and so is a model that does not fit the data set (a convolutional net on
    two moons). Fields that cannot change any number get one canonical value, so that such configs share one
    hash (:func:`_drop_fields_without_effect`: mixup with α = 0 becomes ERM, ERM drops α and ``mix_mode``,
    ``augment`` on a data set without a recipe, ...); ``warmup_fraction=None`` becomes the schedule's default.
    """
    if isinstance(config, TrainConfig):
        return config
    return TrainConfig(**_checked(config))


def validate_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The validated config as a plain dict (what ``config.json`` holds): ``validate(config).as_dict()``."""
    return validate(config).as_dict()


def _checked(config: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`validate`'s checks, on a dict: the completed, canonical config dict."""
    from mixup_lib import data, models

    require(isinstance(config, Mapping), f"config of type {type(config).__name__} is not allowed: it must be a dict")
    allowed = {**DEFAULTS, **OPTIONAL_DEFAULTS}
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
    check_model_fits_input(cfg["model"], f"dataset={cfg['dataset']!r} (2 features per point)", images)
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




__all__ = [
    "DATA_KWARGS",
    "DEFAULTS",
    "DEFAULT_WARMUP",
    "MAX_NAME_BYTES",
    "METHODS",
    "OPTIONAL_DEFAULTS",
    "SCHEDULES",
    "TrainConfig",
    "check_model_fits_input",
    "default_config",
    "validate",
    "validate_config",
]
