"""The run store: a config's stable hash, ``get_or_train``, resume, atomic writes, committed ``results/``.

A run lives in ``<store>/<name>-<hash>/``:

- ``config.json``: the validated config (:meth:`mixup_lib.config.TrainConfig.as_dict`);
- ``metrics.jsonl``: one JSON line per finished epoch;
- ``checkpoint.pt``: the trainer's state after the last finished epoch (weights, optimizer, RNG states,
  metrics), loaded with ``torch.load(weights_only=True)``, and ``checkpoint.pt.sha256``, its SHA-256
  sidecar, checked on every load (:mod:`mixup_lib.storage`);
- ``final.json``: written last, so its presence marks a finished run: final metrics and provenance
  (device actually used, versions, git commit, wall time).

The hash is the first 16 hex digits of the SHA-256 of the canonical JSON of the validated config
without :data:`HASH_EXCLUDED` (``name``, ``device``, ``eval_batch_size``: they label or place a run but
do not change what it computes), plus the trainer version. So a result computed on a GPU matches a CPU
user's config.

:func:`get_or_train` looks in the read-only ``results/`` folder first (committed metrics of paper-scale
runs; an entry may ship without ``checkpoint.pt``), then in the writable store (``runs/``), and trains,
or resumes an interrupted run from its last checkpoint, only when neither has the finished run. A
``kill -9`` mid-epoch loses at most that epoch: every file is written to a temporary file in the same
folder, flushed to disk and renamed over the target (:func:`atomic_write_json`, from
:mod:`mixup_lib.storage`), so a crash never leaves a half-written file; the next start deletes the
temporary files of killed processes, and lock files are deleted when a run ends. A new run's folder
appears with its first checkpoint, so a start that fails before leaves none.

The store heals instead of sticking. A finished run whose ``metrics.jsonl`` is damaged gets it rebuilt
from the checkpoint (which holds every row). Any other corrupt run directory (unreadable JSON, a config
whose hash does not match its folder, a checkpoint that is unreadable or does not match its sidecar) is
moved aside to ``<dir>.corrupt-<timestamp>-<pid>`` with a one-line warning and trained again from
scratch. A checkpoint without a sidecar (written by an earlier version) is accepted when it loads, and
gets its sidecar. A store that cannot be written raises a one-line :class:`StorageError`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import platform
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mixup_lib import storage
from mixup_lib import train as train_module
from mixup_lib.config import TrainConfig, validate
from mixup_lib.devices import device_description, resolve_device
from mixup_lib.errors import ConfigError
from mixup_lib.storage import RunError, StorageError, atomic_save, atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

RUNS_ENV = "MIXUP_RUNS"
RESULTS_ENV = "MIXUP_RESULTS"
REPO_ROOT = Path(__file__).resolve().parents[1]
#: Config fields that do not change what a run computes, so they are left out of its hash.
HASH_EXCLUDED = ("name", "device", "eval_batch_size")
CONFIG_FILE, METRICS_FILE, FINAL_FILE, CHECKPOINT_FILE = "config.json", "metrics.jsonl", "final.json", "checkpoint.pt"
HASH_LENGTH = 16


STORE_HINT = "set MIXUP_RUNS or --runs-dir to a writable folder with free space"


def _store_writes(store: Path) -> contextlib.AbstractContextManager[None]:
    """Writes into the store: an OSError becomes a one-line :class:`StorageError` naming the store."""
    return storage.writable(store, "the run store", STORE_HINT)


def _write_jsonl(path: Path, rows: list[Mapping[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows))


# ----------------------------------------------------------------------------------------------------------
# Hash and names


def hashed_config(config: Mapping[str, Any] | TrainConfig) -> dict[str, Any]:
    """The part of the validated config that defines the computation (the hash's input)."""
    return {k: v for k, v in validate(config).as_dict().items() if k not in HASH_EXCLUDED}


def config_hash(config: Mapping[str, Any] | TrainConfig) -> str:
    """A stable hash of a config: SHA-256 of its canonical JSON (sorted keys), without :data:`HASH_EXCLUDED`."""
    payload = {"trainer_version": train_module.TRAINER_VERSION, "config": hashed_config(config)}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_LENGTH]


def run_name(config: Mapping[str, Any] | TrainConfig) -> str:
    """The run's directory name: ``<name>-<hash>``."""
    cfg = validate(config)
    return f"{cfg.name}-{config_hash(cfg)}"


def default_runs_dir() -> Path:
    """``$MIXUP_RUNS``, else ``./runs``."""
    return Path(os.environ.get(RUNS_ENV) or "runs")


def default_results_dir() -> Path:
    """``$MIXUP_RESULTS``, else the repository's committed ``results/`` folder."""
    return Path(os.environ.get(RESULTS_ENV) or REPO_ROOT / "results")


# ----------------------------------------------------------------------------------------------------------
# Runs


@dataclass
class Run:
    """A finished run: where it lives, its config, per-epoch metrics, final record, and where it came from.

    ``source`` is ``"results"`` (committed results/ folder), ``"store"`` (found finished in runs/),
    ``"trained"`` (trained by this call) or ``"resumed"`` (finished by this call from a checkpoint).
    """

    path: Path
    config: dict[str, Any]
    metrics: list[dict[str, Any]]
    final: dict[str, Any]
    source: str = "store"

    @property
    def has_weights(self) -> bool:
        """Whether the run directory holds a checkpoint (entries of results/ may ship without one)."""
        return (self.path / CHECKPOINT_FILE).is_file()

    def load_model(self, device: str | torch.device | None = None) -> nn.Module:
        """The trained model (eval mode) on ``device`` (default: the config's device, ``auto``).

        Raises a one-line :class:`RunError` when the run ships without weights; call
        ``get_or_train(config, need_weights=True)`` to train them.
        """
        from mixup_lib import models

        if not self.has_weights:
            raise RunError(
                f"run {self.path} has no weights ({CHECKPOINT_FILE}): call get_or_train(config, need_weights=True) "
                "to train them"
            )
        dev = resolve_device(self.config.get("device", "auto") if device is None else str(device))
        try:
            state = _load_checkpoint(self.path / CHECKPOINT_FILE, dev)
        except RunError as err:
            raise RunError(f"{err}: call get_or_train(config, need_weights=True) to train it again") from None
        num_classes, in_channels, input_size, mean, std = (state["model_info"][k] for k in _MODEL_INFO)
        with torch.random.fork_rng(devices=[]):
            model = models.build(
                self.config["model"],
                num_classes,
                in_channels,
                input_size=tuple(input_size) if input_size is not None else None,
                mean=mean,
                std=std,
                **self.config["model_kwargs"],
            )
        model.load_state_dict(state["model"])
        return model.to(dev).eval()


_MODEL_INFO = ("num_classes", "in_channels", "input_size", "mean", "std")


def _verified_bytes(path: Path) -> tuple[bytes, bool]:
    """A checkpoint's bytes and whether its sidecar vouches for them; RunError if unreadable or mismatched.

    A checkpoint without a sidecar (written before sidecars existed) is accepted unverified.
    """
    try:
        data, problem = storage.read_verified(path)
    except OSError as err:
        raise RunError(f"checkpoint {path} is unreadable: {storage.describe_os_error(err)}") from None
    if problem is not None and not storage.is_missing_sidecar(problem):
        raise RunError(f"checkpoint {path} is damaged: {problem}")
    return data, problem is None


def _load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    data, _ = _verified_bytes(path)
    try:
        state = torch.load(io.BytesIO(data), map_location=device, weights_only=True)
    except Exception as err:  # any failure to unpickle means the file is unusable
        raise RunError(f"checkpoint {path} is unreadable: {type(err).__name__}: {_first_line(err)}") from None
    if not isinstance(state, dict) or "model" not in state or "model_info" not in state:
        raise RunError(f"checkpoint {path} is unreadable: it is not a trainer checkpoint")
    return state


def _checkpoint_problem(path: Path) -> str | None:
    """None when a checkpoint is usable (its sidecar matches, or without one it loads), else why not."""
    try:
        _, verified = _verified_bytes(path)
        if not verified:
            _load_checkpoint(path)
    except RunError as err:
        return str(err)
    return None


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [""])[0]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RunError(f"{path} is unreadable: {type(err).__name__}: {_first_line(err)}") from err


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RunError(f"{path} is unreadable: {type(err).__name__}: {_first_line(err)}") from err
    if not all(isinstance(r, dict) for r in rows):
        raise RunError(f"{path} is unreadable: every line must be a JSON object")
    return rows


def _read_config(path: Path) -> dict[str, Any]:
    """Read and check ``config.json``: valid, and hashing to the hash in the folder's name."""
    try:
        cfg = validate(_read_json(path / CONFIG_FILE))
    except ConfigError as err:
        raise RunError(f"{path / CONFIG_FILE} holds an invalid config: {err}") from err
    digest = config_hash(cfg)
    if not path.name.endswith(f"-{digest}"):
        raise RunError(f"{path / CONFIG_FILE} does not match its folder: the config hashes to {digest}")
    return cfg.as_dict()


def load_run(path: str | os.PathLike, source: str = "store") -> Run:
    """Load a finished run from its directory; a corrupt or unfinished one raises a one-line :class:`RunError`."""
    path = Path(path)
    config = _read_config(path)
    if not (path / FINAL_FILE).is_file():
        raise RunError(f"run {path} is not finished (no {FINAL_FILE})")
    final = _read_json(path / FINAL_FILE)
    metrics = _read_jsonl(path / METRICS_FILE)
    if not isinstance(final, dict) or len(metrics) != config["epochs"]:
        raise RunError(f"run {path} is inconsistent: {len(metrics)} metric rows for {config['epochs']} epochs")
    return Run(path=path, config=config, metrics=metrics, final=final, source=source)


def _candidates(folder: Path, name: str, digest: str) -> list[Path]:
    """``<name>-<hash>`` first, then any other ``*-<hash>`` (the same computation under another label)."""
    if not folder.is_dir():
        return []
    exact = folder / f"{name}-{digest}"
    others = sorted(p for p in folder.glob(f"*-{digest}") if p.is_dir() and p != exact)
    return ([exact] if exact.is_dir() else []) + others


def find_run(
    config: Mapping[str, Any] | TrainConfig,
    *,
    runs_dir: str | os.PathLike | None = None,
    results_dir: str | os.PathLike | None = None,
    need_weights: bool = False,
) -> Run | None:
    """The finished run for ``config`` in results/ then runs/, or None; never trains, moves or writes."""
    cfg = validate(config)
    digest = config_hash(cfg)
    for folder, source in ((_results(results_dir), "results"), (_runs(runs_dir), "store")):
        run = _find_in(folder, source, cfg, digest, need_weights)
        if run is not None:
            return run
    return None


def _find_in(folder: Path, source: str, cfg: TrainConfig, digest: str, need_weights: bool) -> Run | None:
    """The first usable finished run of ``cfg`` in one folder (``source``: ``"results"`` or ``"store"``)."""
    for path in _candidates(folder, cfg.name, digest):
        try:
            run = load_run(path, source)
        except RunError as err:
            if source == "results":  # read-only: say why it is skipped (runs/ entries are handled by training)
                log.warning("results entry %s is unusable and ignored: %s", path, err)
            continue
        if need_weights and not _weights_usable(run):
            continue  # trained into the store by get_or_train (a damaged store copy is moved aside first)
        return run
    return None


def _weights_usable(run: Run) -> bool:
    """Whether a run's checkpoint is there and sound; a damaged one in results/ is reported (it is never moved)."""
    if not run.has_weights:
        return False
    problem = _checkpoint_problem(run.path / CHECKPOINT_FILE)
    if problem is not None and run.source == "results":
        log.warning("results entry %s has an unusable checkpoint and is ignored: %s", run.path, problem)
    return problem is None


def _results(results_dir: str | os.PathLike | None) -> Path:
    """The results folder: the argument, else the default (also for ``""``, like an empty ``$MIXUP_RESULTS``)."""
    return Path(results_dir) if results_dir not in (None, "") else default_results_dir()


def _runs(runs_dir: str | os.PathLike | None) -> Path:
    """The run store: the argument, else the default (also for ``""``, like an empty ``$MIXUP_RUNS``)."""
    return Path(runs_dir) if runs_dir not in (None, "") else default_runs_dir()


def _final_record(trainer: train_module.Trainer, digest: str, segments: int) -> dict[str, Any]:
    from mixup_lib import models
    from mixup_lib.provenance import git_commit, package_versions

    last = trainer.metrics[-1]
    record = {key: last[key] for key in ("train_loss", "train_acc", "test_loss", "test_acc", "mix_loss")}
    record.update(
        hash=digest,
        epochs=trainer.epoch,
        wall_time_s=trainer.wall_time_s,
        segments=segments,
        device=str(trainer.device),
        device_name=device_description(trainer.device),
        n_train=len(trainer.data.x_train),
        n_test=len(trainer.data.x_test),
        data_source=getattr(trainer.data, "source", None),
        num_parameters=models.count_parameters(trainer.model),
        torch_threads=torch.get_num_threads(),
        git_commit=git_commit(),
        machine=f"{platform.machine()}, {platform.system()} {platform.release()}",
        finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        versions=package_versions(),
    )
    return record


def _checkpoint_state(trainer: train_module.Trainer, segments: int) -> dict[str, Any]:
    data = trainer.data
    state = trainer.state_dict()
    state["segments"] = segments
    state["model_info"] = {
        "num_classes": int(data.num_classes),
        "in_channels": int(data.in_channels),
        "input_size": list(data.input_size) if data.input_size is not None else None,
        "mean": [float(m) for m in data.mean] if data.mean is not None else None,
        "std": [float(s) for s in data.std] if data.std is not None else None,
    }
    return state


def get_or_train(
    config: Mapping[str, Any] | TrainConfig,
    *,
    runs_dir: str | os.PathLike | None = None,
    results_dir: str | os.PathLike | None = None,
    progress: bool = True,
    need_weights: bool = False,
    on_epoch_end: Callable[[train_module.Trainer, dict[str, Any]], None] | None = None,
) -> Run:
    """Return the finished run of ``config``: from results/, from the store, or by training (resuming if possible).

    ``runs_dir`` defaults to ``$MIXUP_RUNS`` or ``./runs`` (also when given as ``""``); ``results_dir`` to
    ``$MIXUP_RESULTS`` or the repository's ``results/`` (read only: nothing is ever written there).
    ``need_weights=True`` skips entries without a usable checkpoint (results/ may ship metrics only; a
    damaged one in the store is moved aside) and trains the weights in runs/. ``on_epoch_end(trainer, row)``
    is called after each epoch's checkpoint and metrics are on disk. A store that cannot be created or
    written (permission, read-only, a file in the way, a full disk) raises a one-line :class:`StorageError`.
    """
    cfg = validate(config)  # once: the TrainConfig is passed on, never validated again
    digest = config_hash(cfg)
    found = find_run(cfg, runs_dir=runs_dir, results_dir=results_dir, need_weights=need_weights)
    if found is not None:
        return _with_sidecar(found)

    store = _runs(runs_dir)
    path = store / f"{cfg.name}-{digest}"
    trainer = train_module.Trainer(cfg)  # loads data and builds the model: bad input fails before any write
    created_store = not store.is_dir()
    try:
        with contextlib.ExitStack() as held:
            with _store_writes(store):
                store.mkdir(parents=True, exist_ok=True)
                waiting = f"waiting: another process is training {path.name}" if progress else None
                held.enter_context(storage.exclusive(store / f".{path.name}.lock", waiting))
            _remove_leftovers(store, path)
            # Another process may have finished this run while we waited for the lock (results/ is read only).
            found = _find_in(store, "store", cfg, digest, need_weights)
            if found is not None:
                return found
            return _train_into(path, trainer, digest, progress, on_epoch_end)
    except BaseException:
        if created_store:
            with contextlib.suppress(OSError):
                store.rmdir()  # only if empty: a failed start leaves no empty store behind
        raise


def _with_sidecar(run: Run) -> Run:
    """Give a stored checkpoint written before sidecars existed its sidecar, once it has loaded (best effort)."""
    checkpoint = run.path / CHECKPOINT_FILE
    legacy = run.source == "store" and run.has_weights and not storage.sidecar_path(checkpoint).is_file()
    if legacy and _checkpoint_problem(checkpoint) is None:
        with contextlib.suppress(OSError):
            storage.write_sidecar(checkpoint)
    return run


def _remove_leftovers(store: Path, path: Path) -> None:
    """Temporary files and folders of killed processes, and lock files nobody holds (best effort)."""
    storage.remove_stale_temps(store)
    storage.remove_stale_locks(store)
    if path.is_dir():
        storage.remove_stale_temps(path)


def _train_into(
    path: Path,
    trainer: train_module.Trainer,
    digest: str,
    progress: bool,
    on_epoch_end: Callable[[train_module.Trainer, dict[str, Any]], None] | None,
) -> Run:
    """Train (or resume) ``trainer``'s config in ``path``, writing checkpoint and metrics after each epoch.

    A new run is prepared in a temporary folder that takes the name ``path`` with its first checkpoint, so
    a start that fails (or is killed) before one epoch is done leaves no run folder behind.
    """
    store = path.parent
    done = _continue_from(path, trainer, progress) if path.exists() else 0
    if done is None:
        return load_run(path, "store")
    source, segments = ("resumed" if done else "trained"), done + 1
    staging: Path | None = None

    def save(tr: train_module.Trainer) -> None:
        nonlocal staging
        folder = path if staging is None else staging
        with _store_writes(store):
            atomic_save(_checkpoint_state(tr, segments), folder / CHECKPOINT_FILE, checksum=True)
            _write_jsonl(folder / METRICS_FILE, tr.metrics)
            if staging is not None:
                os.replace(staging, path)
                staging = None

    def checkpoint(tr: train_module.Trainer, row: dict[str, Any]) -> None:
        save(tr)
        if on_epoch_end is not None:
            on_epoch_end(tr, row)

    try:
        if not path.exists():
            with _store_writes(store):
                staging = storage.make_temp_dir(store, path.name)
                atomic_write_json(staging / CONFIG_FILE, trainer.config.as_dict())
        trainer.fit(progress=progress, on_epoch_end=checkpoint)
    finally:
        if staging is not None:
            storage.remove_quietly(staging)
    if not (path / CHECKPOINT_FILE).is_file():  # finished in an earlier segment that died before final.json
        save(trainer)
    with _store_writes(store):
        atomic_write_json(path / FINAL_FILE, _final_record(trainer, digest, segments))
    return load_run(path, source)


def _continue_from(path: Path, trainer: train_module.Trainer, progress: bool) -> int | None:
    """Load an existing run folder's checkpoint into ``trainer``; return its segment count (0: start afresh).

    None: the run is finished (after healing its metrics). A corrupt folder is moved aside (0).
    """
    try:
        state, finished = _recover(path)
    except RunError as err:
        with _store_writes(path.parent):
            storage.move_aside(path, str(err), then="training again")
        return 0
    if finished:
        return None
    if state is None:
        return 0
    trainer.load_state_dict(state)
    if progress:
        print(f"resuming {path} after epoch {trainer.epoch}/{trainer.config['epochs']}", file=sys.stderr, flush=True)
    return int(state.get("segments", 1))


def _recover(path: Path) -> tuple[dict[str, Any] | None, bool]:
    """What an existing run folder offers: (the checkpoint's state or None, whether the run is finished).

    A finished run whose ``metrics.jsonl`` is damaged gets it rebuilt from the checkpoint, which holds
    every row. Anything else unusable raises :class:`RunError` (the caller moves the folder aside).
    """
    if not path.is_dir():
        raise RunError(f"{path} is not a directory")
    if not (path / CONFIG_FILE).is_file():
        raise RunError(f"{path} has no {CONFIG_FILE}")
    config = _read_config(path)
    state = None
    if (path / CHECKPOINT_FILE).is_file():
        state = _load_checkpoint(path / CHECKPOINT_FILE)
        if state.get("trainer_version") != train_module.TRAINER_VERSION:
            raise RunError(
                f"checkpoint {path / CHECKPOINT_FILE} is from trainer version {state.get('trainer_version')!r}"
            )
    if not (path / FINAL_FILE).is_file():
        return state, False
    if state is None:
        raise RunError(f"run {path} is finished but has no {CHECKPOINT_FILE}")
    if not isinstance(_read_json(path / FINAL_FILE), dict):
        raise RunError(f"{path / FINAL_FILE} is unreadable: it is not a JSON object")
    problem = _metrics_problem(path, config)
    if problem is not None:
        if len(state["metrics"]) != config["epochs"]:
            raise RunError(problem)
        with _store_writes(path.parent):
            _write_jsonl(path / METRICS_FILE, state["metrics"])
        log.warning("%s is damaged (%s); rebuilt from %s", path / METRICS_FILE, problem, CHECKPOINT_FILE)
    return state, True


def _metrics_problem(path: Path, config: Mapping[str, Any]) -> str | None:
    """None when ``metrics.jsonl`` has one readable row per epoch, else why not."""
    try:
        rows = _read_jsonl(path / METRICS_FILE)
    except RunError as err:
        return str(err).removeprefix(f"{path / METRICS_FILE} is ")
    if len(rows) != config["epochs"]:
        return f"{len(rows)} metric rows for {config['epochs']} epochs"
    return None


__all__ = [
    "HASH_EXCLUDED",
    "RESULTS_ENV",
    "RUNS_ENV",
    "Run",
    "RunError",
    "StorageError",
    "atomic_save",
    "atomic_write_json",
    "atomic_write_text",
    "config_hash",
    "default_results_dir",
    "default_runs_dir",
    "find_run",
    "get_or_train",
    "hashed_config",
    "load_run",
    "run_name",
]
