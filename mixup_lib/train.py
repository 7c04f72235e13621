"""One trainer for ERM and mixup, evaluation, and per-epoch metrics.

Its config fields, their defaults and their checks are in :mod:`mixup_lib.config`.

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
from mixup_lib.config import (  # the config schema; the names marked F401 are re-exported for old callers
    DEFAULTS,
    MAX_NAME_BYTES,  # noqa: F401  (__main__)
    SCHEDULES,  # noqa: F401  (chapters.robustness)
    ConfigError,
    TrainConfig,
    check_model_fits_input,
    default_config,  # noqa: F401  (__main__)
    validate,
    validate_config,  # noqa: F401  (dispatch, chapters.generalization, benchmarks, tests of the chapters)
)
from mixup_lib.devices import device_description, resolve_device
from mixup_lib.errors import check_finite, check_positive_int, require
from mixup_lib.mixup import cross_entropy, mix, one_hot, predict_labels, sample_lambda, soft_cross_entropy

#: Bump when a change to the trainer changes the numbers a config produces: it is part of the run hash.
#: 2: mixing randomness drawn once per epoch, batches prepared in chunks, fused SGD, F.cross_entropy on the
#: mixed targets, channels_last for conv nets (same mathematics; other random streams and rounding).
#: 3: λ ~ Beta(α, α) sampled in log space (mixup.sample_lambda): for α < 1 the random stream differs from 2's,
#: so version-2 runs of those configs could not be reproduced bit for bit under their old hash.
TRAINER_VERSION = 3
#: Batches indexed, augmented and mixed together, a few tensor ops per chunk instead of per step: per-step
#: overhead is what limits small models (benchmarks/, tools/PERF_NOTES.md). Memory: CHUNK_STEPS batches of inputs.
CHUNK_STEPS = 64

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
    if lr * wd >= bound and wd / DEFAULTS["weight_decay"] >= lr / DEFAULTS["lr"]:
        return (
            f"{head}; likely cause: weight_decay={wd!r} is too large for lr={lr!r} ({product} >= 2·(1 + momentum) "
            f"= {bound:.3g}, where the decay step alone makes the weights grow without limit): use weight_decay "
            f"< {bound / lr:.3g} (default {DEFAULTS['weight_decay']})"
        )
    stable = "exceeds" if lr * wd >= bound else "is below"
    return (
        f"{head}; likely cause: lr={lr!r} is too large for this model and data ({product} {stable} the "
        f"weight-decay bound 2·(1 + momentum) = {bound:.3g}): try a lower lr (default {DEFAULTS['lr']})"
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

        self.config: TrainConfig = validate(config)
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
        check_model_fits_input(cfg["model"], vectors, data.input_size is not None)
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
        self.penalty_points = self._penalty_points(cfg.track_penalty, n, cfg["data_seed"])
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
    "TRAINER_VERSION",
    "ConfigError",
    "Trainer",
    "evaluate",
    "learning_rate",
    "train",
]
