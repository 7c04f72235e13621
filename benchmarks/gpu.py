"""The GPU section: WRN-16-8 training images/s on 32×32 input and the projected time of each chapter's paper profile.

Runs only where ``torch.cuda.is_available()`` (``run.py`` prints one line and skips it elsewhere). The functions
take a ``device`` so that the tests can exercise their logic on the CPU with tiny models.

Two ways of training are measured, interleaved:

- **trainer**: ``train.Trainer(...).train_epoch`` as the chapters run it (data resident on the device), with the
  evaluation passes timed separately (after a ``torch.cuda.synchronize``) and subtracted;
- **fast path**: the recipe of :mod:`mixup_lib.accel`: ``configure_backends`` (cudnn.benchmark, TF32),
  channels_last, bf16 autocast, data resident on the GPU, mixing on the GPU with a device generator, no host
  synchronisation inside the epoch; optionally ``torch.compile`` (``--compile``).

Projection of a chapter's ``paper`` profile (training plus the per-epoch evaluation passes; attacks and other
analyses are not included): Σ over the chapter's distinct runs of epochs × n_train / training images/s +
epochs × (n_train + n_test) / evaluation images/s, with both rates measured here with the trainer for that run's
model and input shape (synthetic pixels: throughput does not depend on content). The runs are enumerated with
the chapters' own config builders (:data:`WORKLOADS`: ``robustness.fig1a_configs``/``alpha_sweep_configs``,
``chapters.generalization.run_config`` as its notebook loops over them) and deduplicated by the run store's hash; a
chapter without a rule gets :func:`generic_jobs` (ERM + mixup per seed of its ``model`` on its ``dataset``) or,
like the full-batch two-moons chapter, is reported as not projected.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch

from benchmarks import harness, loops
from mixup_lib import accel, data, train
from mixup_lib.mixup import mix, one_hot

#: Full training-set sizes (used when a preset's n_train is None) and test-set sizes.
TRAIN_SIZES = {"svhn": 73_257, "cifar10": 50_000, "cifar100": 50_000, "fashion_mnist": 60_000, "kmnist": 60_000}
TEST_SIZES = {"svhn": 26_032, "cifar10": 10_000, "cifar100": 10_000, "fashion_mnist": 10_000, "kmnist": 10_000}


@dataclass(frozen=True)
class Job:
    """A set of identical training runs of one chapter's paper profile."""

    model: str
    model_kwargs: tuple[tuple[str, Any], ...]
    dataset: str
    runs: int
    epochs: int
    n_train: int
    n_test: int

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(classes, channels, height, width) of the data set."""
        if self.dataset == "two_moons":
            return (2, 2, 0, 0)
        info = data.dataset_info(self.dataset)
        return (info.num_classes, info.in_channels, *info.input_size)


def synthetic_images(n_train: int, n_test: int, classes: int, channels: int, size: int, device: str) -> data.TensorData:
    """Random pixels with random labels: throughput does not depend on what the images show."""
    g = torch.Generator().manual_seed(0)
    x_train = torch.randint(0, 256, (n_train, channels, size, size), generator=g).float() / 255
    x_test = torch.randint(0, 256, (n_test, channels, size, size), generator=g).float() / 255
    return data.TensorData(
        name="cifar10" if channels == 3 else "fashion_mnist",  # a data set of that shape, for the config
        x_train=x_train.to(device),
        y_train=torch.randint(0, classes, (n_train,), generator=g).to(device),
        x_test=x_test.to(device),
        y_test=torch.randint(0, classes, (n_test,), generator=g).to(device),
        num_classes=classes,
        in_channels=channels,
        input_size=(size, size),
        mean=(0.5,) * channels,
        std=(0.29,) * channels,
        augment=data.AugmentSpec(),
        source="synthetic uniform pixels (throughput only)",
    )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def gpu_trainer_arm(model: str, model_kwargs: dict, images: data.TensorData, epochs: int, device: str) -> Callable:
    """One timed call = one ``train_epoch`` on ``device``; training seconds (eval subtracted), eval seconds."""
    dev = torch.device(device)
    config = {
        "dataset": images.name,
        "model": model,
        "model_kwargs": model_kwargs,
        "method": "mixup",
        "alpha": loops.ALPHA,
        "epochs": epochs,
        "batch_size": loops.BATCH,
        **loops.OPTIM,
        "device": device,
    }
    trainer = train.Trainer(config, data=images)
    real = train.evaluate

    def run() -> harness.Sample:
        eval_s = [0.0]

        def evaluate(*args, **kwargs):
            _sync(dev)  # training kernels still queued belong to training, not to evaluation
            start = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                _sync(dev)
                eval_s[0] += time.perf_counter() - start

        train.evaluate = evaluate
        try:
            _sync(dev)
            start = time.perf_counter()
            trainer.train_epoch(progress=False)
            _sync(dev)
            total = time.perf_counter() - start
        finally:
            train.evaluate = real
        return {"s": total - eval_s[0], "eval": eval_s[0], "total": total}

    run.eval_images = len(images.x_train) + len(images.x_test)
    return run


def fast_path_arm(
    model_name: str, model_kwargs: dict, images: data.TensorData, device: str, *, compile_model: bool = False
) -> Callable:
    """The accel recipe: channels_last, bf16 autocast, cudnn.benchmark/TF32, fused SGD, the trainer's loss,
    GPU-side λ and partner draws and mixing, no host synchronisation inside the epoch."""
    dev = torch.device(device)
    accel.configure_backends(dev)
    model = loops.build_model({"model": model_name, "model_kwargs": model_kwargs}, images)  # reads shapes only
    model = accel.prepare_model(model, dev)
    optimizer = torch.optim.SGD(model.parameters(), **loops.OPTIM, fused=dev.type in ("cpu", "cuda"))
    loss_fn = loops.trainer_loss()
    step_model = accel.maybe_compile(model, compile_model)
    x_all = accel.prepare_input(images.x_train, model)
    targets_all = one_hot(images.y_train, images.num_classes)
    g = torch.Generator(device=dev).manual_seed(0)
    n = len(x_all)
    alpha = torch.full((), loops.ALPHA, device=dev, dtype=torch.float32)

    def run() -> harness.Sample:
        model.train()
        _sync(dev)
        start = time.perf_counter()
        order = torch.randperm(n, device=dev, generator=g)
        total = torch.zeros((), device=dev)
        for b in range(n // loops.BATCH):
            idx = order[b * loops.BATCH : (b + 1) * loops.BATCH]
            ga = torch._standard_gamma(alpha, generator=g)
            lam = ga / (ga + torch._standard_gamma(alpha, generator=g))
            perm = torch.randperm(loops.BATCH, device=dev, generator=g)
            xb, tb = mix(x_all[idx], targets_all[idx], lam, perm)
            xb = accel.prepare_input(xb, model)
            with accel.autocast(dev):
                logits = step_model(xb)
            loss = loss_fn(logits.float(), tb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach()
        _sync(dev)
        return {"s": time.perf_counter() - start}

    return run


# ----------------------------------------------------------------------------------------------------------
# Workloads of the chapters' paper profiles


def _listify(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def config_jobs(configs: list[dict[str, Any]]) -> list[Job]:
    """One job per distinct trainer config (deduplicated by the run store's hash, as the store trains each once)."""
    from mixup_lib import runs

    jobs: dict[str, Job] = {}
    for config in configs:
        cfg = train.validate_config(config)
        key = runs.config_hash(cfg)
        if key in jobs or cfg["dataset"] not in TRAIN_SIZES:
            continue
        jobs[key] = Job(
            cfg["model"],
            tuple(sorted(cfg["model_kwargs"].items())),
            cfg["dataset"],
            1,
            cfg["epochs"],
            cfg["n_train"] or TRAIN_SIZES[cfg["dataset"]],
            cfg["n_test"] or TEST_SIZES[cfg["dataset"]],
        )
    return list(jobs.values())


def robustness_jobs(settings: dict[str, Any]) -> tuple[list[Job], str]:
    """Fig. 1a (ERM + mixup per seed) and the α sweep, from :mod:`mixup_lib.chapters.robustness`'s config builders."""
    from mixup_lib.chapters import robustness

    configs = [*robustness.fig1a_configs(settings, settings["dataset"], "cuda").values(),
               *robustness.alpha_sweep_configs(settings, settings["dataset"], "cuda").values()]
    jobs = config_jobs(configs)
    return jobs, f"{len(jobs)} distinct runs (Fig. 1a + α sweep) of {settings['model']} on {settings['dataset']}"


def generalization_jobs(settings: dict[str, Any]) -> tuple[list[Job], str]:
    """Figs. 5–8 (4 data sets × ERM/mixup × seeds) and the n and α sweeps on Fashion-MNIST, as the notebook
    builds them with :func:`mixup_lib.chapters.generalization.run_config` (the real data sets, no fallback)."""
    from mixup_lib.chapters import generalization as gen

    kw = {k: settings[k] for k in ("width", "epochs", "n_train", "n_test", "alpha")}
    kw["track_penalty"] = settings.get("track_penalty", 0)
    sweep = "fashion_mnist"
    configs = [gen.run_config(d, m, s, **kw) for d in gen.DATASETS for m in gen.METHODS for s in settings["seeds"]]
    configs += [gen.run_config(sweep, m, s, **{**kw, "n_train": n})
                for n in settings["n_grid"] for m in gen.METHODS for s in settings["sweep_seeds"]]
    configs += [gen.run_config(sweep, "erm", s, **kw) for s in settings["sweep_seeds"]]
    configs += [gen.run_config(sweep, "mixup", s, **{**kw, "alpha": a})
                for a in settings["alpha_grid"] for s in settings["sweep_seeds"]]
    jobs = config_jobs(configs)
    return jobs, f"{len(jobs)} distinct runs (Figs. 5–8 + n and α sweeps) of PreAct ResNet-18 width {kw['width']}"


def generic_jobs(settings: dict[str, Any]) -> tuple[list[Job], str]:
    """For a chapter without a rule: one ERM and one mixup run per seed of ``model`` on ``dataset``, if named."""
    model, dataset, epochs = settings.get("model"), settings.get("dataset"), settings.get("epochs")
    if not isinstance(model, str) or not isinstance(epochs, int) or dataset not in TRAIN_SIZES:
        return [], "not projected: no trainer runs (or no rule for this chapter's runs in benchmarks/gpu.py)"
    configs = [{"dataset": dataset, "model": model, "model_kwargs": settings.get("model_kwargs") or {},
                "method": method, "epochs": epochs, "seed": seed, "n_train": settings.get("n_train"),
                "n_test": settings.get("n_test")}
               for method in ("erm", "mixup") for seed in _listify(settings.get("seeds")) or [0]]
    jobs = config_jobs(configs)
    return jobs, f"{len(jobs)} runs (generic rule: ERM + mixup per seed)"


#: Workload rules by chapter (notebook name): paper settings → (jobs, note). Other chapters use generic_jobs.
WORKLOADS: dict[str, Callable[[dict[str, Any]], tuple[list[Job], str]]] = {
    "robustness": robustness_jobs,
    "generalization": generalization_jobs,
}


def chapter_jobs() -> dict[str, tuple[list[Job], str]]:
    """Every registered chapter's paper-profile jobs (a chapter whose rule fails says why instead)."""
    from mixup_lib import profiles

    out = {}
    for chapter, presets in sorted(profiles.PRESETS.items()):
        settings = dict(presets.get("paper", {}))
        try:
            out[chapter] = WORKLOADS.get(chapter, generic_jobs)(settings)
        except Exception as err:  # a chapter changed its settings: report, do not stop the benchmark
            out[chapter] = ([], f"not projected: {type(err).__name__}: {err}")
    return out


def project(jobs: list[Job], rates: dict[tuple, dict[str, float]]) -> float:
    """Projected seconds: training images / training rate + evaluated images / evaluation rate, summed over jobs."""
    total = 0.0
    for job in jobs:
        rate = rates[(job.model, job.model_kwargs, job.shape)]
        total += job.runs * job.epochs * job.n_train / rate["train_per_s"]
        total += job.runs * job.epochs * (job.n_train + job.n_test) / rate["eval_per_s"]
    return total


def measure_rates(
    keys: list[tuple], device: str, steps: int, repeats: int, warmup: int = 1
) -> dict[tuple, dict[str, float]]:
    """Trainer training and evaluation images/s for each (model, model_kwargs, shape) on ``device``."""
    rates = {}
    for model, kwargs, (classes, channels, h, w) in keys:
        if h == 0:  # vectors: not a GPU workload
            continue
        images = synthetic_images(steps * loops.BATCH, 4 * loops.BATCH, classes, channels, h, device)
        arm = gpu_trainer_arm(model, dict(kwargs), images, warmup + repeats, device)
        samples = harness.interleaved({"trainer": arm}, repeats, warmup)["trainer"]
        rates[(model, kwargs, (classes, channels, h, w))] = {
            "train_per_s": steps * loops.BATCH / harness.median(samples),
            "eval_per_s": arm.eval_images / harness.median(samples, "eval"),
        }
    return rates


def run_gpu(
    device: str,
    steps: int,
    repeats: int,
    *,
    model: str = "wrn-16-8",
    size: int = 32,
    compile_model: bool = False,
    jobs: dict[str, tuple[list[Job], str]] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """``model`` (WRN-16-8) on size×size×3 input: trainer vs fast path; then every chapter's paper-profile projection.

    ``model``, ``size`` and ``jobs`` (default: :func:`chapter_jobs`) are there for the tests, which run this on
    the CPU with a tiny model.
    """
    dev = torch.device(device)
    flags = accel.configure_backends(dev)
    images = synthetic_images(steps * loops.BATCH, 4 * loops.BATCH, 10, 3, size, device)
    arms = {
        "trainer": gpu_trainer_arm(model, {}, images, 1 + repeats, device),
        "fast_path": fast_path_arm(model, {}, images, device),
    }
    if compile_model:
        arms["fast_path_compiled"] = fast_path_arm(model, {}, images, device, compile_model=True)
    summary = harness.summarize(harness.interleaved(arms, repeats, warmup=1), steps * loops.BATCH)
    for name, entry in summary.items():
        log(f"  {model} {size}x{size} {name:<20} {entry['per_s']:9.0f} images/s")
    result: dict[str, Any] = {
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else str(dev),
        "backend_flags": flags,
        "model": model,
        "input": f"{size}x{size}x3",
        "throughput": summary,
        "fast_path_vs_trainer": summary["fast_path"]["per_s"] / summary["trainer"]["per_s"],
    }
    jobs = chapter_jobs() if jobs is None else jobs
    keys = sorted({(j.model, j.model_kwargs, j.shape) for js, _ in jobs.values() for j in js}, key=str)
    rates = measure_rates(keys, device, steps, repeats)
    projections = {}
    for chapter, (js, note) in jobs.items():
        js = [j for j in js if (j.model, j.model_kwargs, j.shape) in rates]
        seconds = project(js, rates) if js else None
        projections[chapter] = {"seconds": seconds, "note": note, "jobs": [asdict(j) for j in js]}
        shown = "not projected" if seconds is None else f"{seconds / 3600:.2f} h"
        log(f"  paper profile of {chapter:<16} {shown} ({note})")
    result["rates"] = {str(k): v for k, v in rates.items()}
    result["projections"] = projections
    result["projection_rule"] = "training + per-epoch evaluation passes at the trainer's measured rates"
    return result
