"""Benchmarks 1–3: our trainer against a textbook PyTorch loop and against a bare compute loop; FLOP rates.

Every arm trains the same architecture (same initialisation), on the same training images, with batch 64,
SGD (lr 0.1, momentum 0.9, weight decay 5e-4) and mixup with α = 1, for the same number of steps per timed
call (one epoch of ``steps`` batches).

- **trainer**: ``train.Trainer(config, data=...).train_epoch(progress=False)``, the library as the chapters use
  it. ``train_epoch`` ends with two evaluation passes (clean training set and test set, model in eval mode);
  they are timed separately (``train.evaluate`` is wrapped by a stopwatch during the call) and subtracted,
  so the images/s compare training with training. The evaluation time is reported too.
- **trainer, channels_last (proposed)** (conv nets, only while the trainer does not use it): the same trainer after
  ``accel.prepare_model(trainer.model, "cpu", channels_last=True)``: what the trainer would do with the
  layout change proposed in tools/PERF_NOTES.md.
- **bare**: forward, loss, backward, optimizer step over batches mixed and stacked before the clock starts:
  the compute every loop must do, and nothing else. The trainer's loss function and an optimizer built exactly
  like the trainer's (same class and settings).
- **textbook (workers 0 | 2)**: what a tutorial writes. Images: a torchvision ``VisionDataset`` holding
  uint8 images, one PIL image per ``__getitem__``, ``transforms.Compose([ToTensor(), Normalize(mean, std)])``
  per sample (exactly torchvision's ``FashionMNIST``), so the model is built without its Normalize layer.
  Vectors (two moons): ``TensorDataset``. ``DataLoader(batch_size=64, shuffle=True, num_workers=w)`` with
  ``persistent_workers`` for w > 0 (so worker start-up is not charged to every short epoch). Mixup as in
  facebookresearch/mixup-cifar10 ``train.py``: ``lam = np.random.beta(alpha, alpha)``,
  ``index = torch.randperm(batch_size)``, ``mixed_x = lam * x + (1 - lam) * x[index, :]``,
  ``loss = lam * criterion(pred, y_a) + (1 - lam) * criterion(pred, y_b)``, with that loop's bookkeeping
  (``loss.item()``, accuracy against both label sets). Both worker counts are measured; the comparison uses
  the faster one, so the baseline is the best a tutorial would get here.
- **textbook data only**: the textbook's DataLoader and mixup with no model: its input pipeline's cost,
  which bounds what any trainer can gain over it on a compute-bound model.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.flop_counter import FlopCounterMode

from benchmarks import harness
from mixup_lib import accel, models, train
from mixup_lib.data import TensorData
from mixup_lib.mixup import mixup_batch, soft_cross_entropy

BATCH = 64
ALPHA = 1.0
OPTIM = {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4}


# ----------------------------------------------------------------------------------------------------------
# The textbook loop


def _vision_dataset_class():
    from PIL import Image
    from torchvision.datasets import VisionDataset

    class UInt8ImageDataset(VisionDataset):
        """torchvision's MNIST-family ``__getitem__``: uint8 array → PIL image → per-sample transform."""

        def __init__(self, images: torch.Tensor, targets: torch.Tensor, transform) -> None:
            super().__init__(root=None, transform=transform)
            self.data = images  # (N, H, W) uint8
            self.targets = targets

        def __len__(self) -> int:
            return len(self.data)

        def __getitem__(self, index: int):
            img, target = self.data[index], int(self.targets[index])
            img = Image.fromarray(img.numpy(), mode="L")
            if self.transform is not None:
                img = self.transform(img)
            return img, target

    return UInt8ImageDataset


def textbook_dataset(data: TensorData):
    """The tutorial's Dataset for ``data``: PIL + ToTensor + Normalize per sample (images), TensorDataset (vectors)."""
    if data.input_size is None:
        return TensorDataset(data.x_train, data.y_train)
    from torchvision import transforms

    if data.in_channels != 1:
        raise ValueError("the textbook image path is written for grayscale (mode 'L') images")
    images = (data.x_train[:, 0] * 255).round().to(torch.uint8)  # exact: the pixels are uint8 / 255
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(data.mean, data.std)])
    return _vision_dataset_class()(images, data.y_train, transform)


def mixup_data(x: torch.Tensor, y: torch.Tensor, alpha: float = 1.0):
    """facebookresearch/mixup-cifar10 ``mixup_data`` (CPU): mixed inputs, pairs of targets, and lambda."""
    lam = np.random.beta(alpha, alpha) if alpha > 0 else 1
    batch_size = x.size()[0]
    index = torch.randperm(batch_size)
    mixed_x = lam * x + (1 - lam) * x[index, :]
    y_a, y_b = y, y[index]
    return mixed_x, y_a, y_b, lam


def mixup_criterion(criterion, pred, y_a, y_b, lam):
    """facebookresearch/mixup-cifar10 ``mixup_criterion``."""
    return lam * criterion(pred, y_a) + (1 - lam) * criterion(pred, y_b)


def textbook_epoch(net: nn.Module, loader: DataLoader, optimizer, criterion, alpha: float) -> dict[str, float]:
    """One epoch of mixup-cifar10's ``train()`` loop (bookkeeping included), on the CPU."""
    net.train()
    train_loss, correct, total = 0.0, 0.0, 0
    for inputs, targets in loader:
        inputs, targets_a, targets_b, lam = mixup_data(inputs, targets, alpha)
        outputs = net(inputs)
        loss = mixup_criterion(criterion, outputs, targets_a, targets_b, lam)
        train_loss += loss.item()
        _, predicted = torch.max(outputs.data, 1)
        total += targets.size(0)
        correct += (
            lam * predicted.eq(targets_a.data).cpu().sum().float()
            + (1 - lam) * predicted.eq(targets_b.data).cpu().sum().float()
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return {"loss": train_loss, "acc": float(correct) / max(total, 1)}


def loader_for(data: TensorData, workers: int) -> DataLoader:
    return DataLoader(
        textbook_dataset(data), batch_size=BATCH, shuffle=True, num_workers=workers, persistent_workers=workers > 0
    )


# ----------------------------------------------------------------------------------------------------------
# Arms


def build_model(spec: dict[str, Any], data: TensorData, *, normalize: bool = True) -> nn.Module:
    """The benchmark's model, seeded: the same initial weights for every arm."""
    torch.manual_seed(0)
    return models.build(
        spec["model"],
        data.num_classes,
        data.in_channels,
        input_size=data.input_size,
        mean=data.mean if normalize else None,
        std=data.std if normalize else None,
        **spec.get("model_kwargs", {}),
    )


@contextlib.contextmanager
def _stopwatch_on_evaluate(total: list[float]) -> Iterator[None]:
    """Wrap ``train.evaluate`` (looked up as a module global by ``Trainer.train_epoch``) with a stopwatch."""
    real = train.evaluate

    def evaluate(*args, **kwargs):
        start = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            total[0] += time.perf_counter() - start

    train.evaluate = evaluate
    try:
        yield
    finally:
        train.evaluate = real


def trainer_arm(spec: dict[str, Any], data: TensorData, epochs: int, *, channels_last: bool = False) -> Callable:
    """One timed call = one ``train_epoch``; returns training seconds (evaluation subtracted) and ``eval``."""
    config = {
        "dataset": data.name,
        "model": spec["model"],
        "model_kwargs": spec.get("model_kwargs", {}),
        "method": "mixup",
        "alpha": ALPHA,
        "epochs": epochs,
        "batch_size": BATCH,
        **OPTIM,
        "device": "cpu",
    }
    trainer = train.Trainer(config, data=data)
    if channels_last:
        accel.prepare_model(trainer.model, "cpu", channels_last=True)

    def run() -> harness.Sample:
        eval_s = [0.0]
        with _stopwatch_on_evaluate(eval_s):
            start = time.perf_counter()
            trainer.train_epoch(progress=False)
            total = time.perf_counter() - start
        return {"s": total - eval_s[0], "eval": eval_s[0], "total": total}

    run.trainer = trainer  # for the FLOP count and the steps check
    return run


def uses_channels_last(model: nn.Module) -> bool:
    """True when the model's convolution weights are stored channels_last (as ``accel.prepare_model`` leaves them)."""
    return any(
        isinstance(m, nn.Conv2d)
        and m.in_channels > 1
        and m.weight.is_contiguous(memory_format=torch.channels_last)
        and not m.weight.is_contiguous()
        for m in model.modules()
    )


def trainer_loss() -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss the trainer applies to mixed batches: ``train.mixup_loss`` where it exists, else soft cross-entropy."""
    return getattr(train, "mixup_loss", soft_cross_entropy)


def bare_arm(
    spec: dict[str, Any],
    data: TensorData,
    steps: int,
    like: torch.optim.Optimizer,
    loss_fn: Callable | None = None,
    channels_last: bool = False,
) -> Callable:
    """Forward, loss, backward, step over pre-mixed, pre-stacked batches: nothing else.

    The optimizer is built exactly like the trainer's (``like``: same class and settings, e.g. ``fused``), the
    loss is the trainer's (:func:`trainer_loss`) and the memory format is the trainer's (``channels_last``), so
    the two arms do the same compute.
    """
    loss_fn = trainer_loss() if loss_fn is None else loss_fn
    model = build_model(spec, data)
    if channels_last:
        accel.prepare_model(model, "cpu", channels_last=True)
    optimizer = type(like)(model.parameters(), **like.defaults)
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(len(data.x_train), generator=g)
    batches = []
    for b in range(steps):
        idx = order[b * BATCH : (b + 1) * BATCH]
        mixed = mixup_batch(data.x_train[idx], data.y_train[idx], data.num_classes, ALPHA, generator=g)
        batches.append((mixed.inputs.contiguous(), mixed.targets.contiguous()))

    def run() -> harness.Sample:
        model.train()
        start = time.perf_counter()
        for x, t in batches:
            loss = loss_fn(model(x).float(), t)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return {"s": time.perf_counter() - start}

    return run


def textbook_arm(spec: dict[str, Any], data: TensorData, workers: int) -> Callable:
    model = build_model(spec, data, normalize=False)  # the transform normalizes
    optimizer = torch.optim.SGD(model.parameters(), **OPTIM)
    criterion = nn.CrossEntropyLoss()
    loader = loader_for(data, workers)

    def run() -> harness.Sample:
        start = time.perf_counter()
        textbook_epoch(model, loader, optimizer, criterion, ALPHA)
        return {"s": time.perf_counter() - start}

    return run


def textbook_data_arm(data: TensorData) -> Callable:
    loader = loader_for(data, 0)

    def run() -> harness.Sample:
        start = time.perf_counter()
        for inputs, targets in loader:
            mixup_data(inputs, targets, ALPHA)
        return {"s": time.perf_counter() - start}

    return run


# ----------------------------------------------------------------------------------------------------------
# FLOPs


def step_flops(spec: dict[str, Any], data: TensorData) -> dict[str, int]:
    """FLOPs of one training step on a batch of 64, counted by ``torch.utils.flop_counter.FlopCounterMode``.

    ``forward`` and ``forward_backward`` are counted separately (the latter ≈ 3× the former: the backward
    pass computes gradients for inputs and weights). The counter covers matmuls and convolutions only
    (elementwise ops, BatchNorm and the optimizer are not counted), which is where the arithmetic is.
    """
    model = build_model(spec, data)
    x = data.x_train[:BATCH]
    y = data.y_train[:BATCH]
    with FlopCounterMode(display=False) as fwd:
        model(x)
    with FlopCounterMode(display=False) as both:
        nn.functional.cross_entropy(model(x), y).backward()
    return {"forward": int(fwd.get_total_flops()), "forward_backward": int(both.get_total_flops())}


# ----------------------------------------------------------------------------------------------------------
# One model's comparison


def compare(spec: dict[str, Any], data: TensorData, steps: int, repeats: int, warmup: int = 1) -> dict[str, Any]:
    """Benchmarks 1 and 2 for one model: every arm interleaved; images/s medians and the ratios."""
    if len(data.x_train) != steps * BATCH:
        raise ValueError(f"{len(data.x_train)} training images for {steps} steps of {BATCH}")
    conv = spec.get("conv", False)
    trainer = trainer_arm(spec, data, epochs=warmup + repeats)
    if trainer.trainer.steps_per_epoch != steps:
        raise ValueError(f"the trainer makes {trainer.trainer.steps_per_epoch} steps per epoch, not {steps}")
    arms: dict[str, Callable] = {"trainer": trainer}
    trainer_cl = uses_channels_last(trainer.trainer.model)
    if conv and not trainer_cl:  # the trainer does not (yet) use channels_last: time it with it too
        arms["trainer_channels_last"] = trainer_arm(spec, data, epochs=warmup + repeats, channels_last=True)
    arms["bare"] = bare_arm(spec, data, steps, like=trainer.trainer.optimizer, channels_last=trainer_cl)
    for workers in spec.get("workers", (0, 2)):
        arms[f"textbook_w{workers}"] = textbook_arm(spec, data, workers)
    arms["textbook_data_only"] = textbook_data_arm(data)
    samples = harness.interleaved(arms, repeats, warmup)
    arms_summary = harness.summarize(samples, steps * BATCH)
    textbook = [k for k in arms_summary if k.startswith("textbook_w")]
    best = max(textbook, key=lambda k: arms_summary[k]["per_s"])
    ours = arms_summary["trainer"]["per_s"]
    textbook_s = arms_summary[best]["median_s"]
    data_s = arms_summary["textbook_data_only"]["median_s"]
    result: dict[str, Any] = {
        "model": spec["label"],
        "model_name": spec["model"],
        "data": spec["data_label"],
        "steps": steps,
        "batch": BATCH,
        "n_test": len(data.x_test),
        "repeats": repeats,
        "arms": arms_summary,
        "textbook_baseline": best,
        "trainer_channels_last": trainer_cl,
        "optimizer": {k: v for k, v in trainer.trainer.optimizer.defaults.items() if k in ("foreach", "fused")},
        "ratio_vs_textbook": ours / arms_summary[best]["per_s"],
        "ratio_vs_bare": ours / arms_summary["bare"]["per_s"],
        "eval_fraction_of_epoch": arms_summary["trainer"]["median_eval"] / arms_summary["trainer"]["median_total"],
        "textbook_data_fraction": data_s / textbook_s,
        # What a trainer with no overhead at all (the bare loop) would reach against the textbook.
        "ceiling_vs_textbook": arms_summary["bare"]["per_s"] / arms_summary[best]["per_s"],
        "us_per_step": {name: arm["median_s"] / steps * 1e6 for name, arm in arms_summary.items()},
    }
    if "trainer_channels_last" in arms_summary:
        result["ratio_channels_last_vs_textbook"] = arms_summary["trainer_channels_last"]["per_s"] / (
            arms_summary[best]["per_s"]
        )
    return result
