"""The run store: a config's stable hash, ``get_or_train``, resume, atomic writes, committed ``results/``.

A run lives in ``<store>/<name>-<hash>/``:

- ``config.json``: the validated config (:func:`mixup_lib.train.validate_config`);
- ``metrics.jsonl``: one JSON line per finished epoch;
- ``checkpoint.pt``: the trainer's state after the last finished epoch (weights, optimizer, RNG states,
  metrics), loaded with ``torch.load(weights_only=True)``;
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
folder, flushed to disk and renamed over the target (:func:`atomic_write_json`), so a crash never leaves
a half-written file. A corrupt run directory (unreadable JSON, a config whose hash does not match its
folder, an unreadable checkpoint) is moved aside to ``<dir>.corrupt-<timestamp>`` with a one-line warning
and the run is trained again from scratch.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mixup_lib import train as train_module
from mixup_lib.devices import device_description, resolve_device

log = logging.getLogger(__name__)

RUNS_ENV = "MIXUP_RUNS"
RESULTS_ENV = "MIXUP_RESULTS"
REPO_ROOT = Path(__file__).resolve().parents[1]
#: Config fields that do not change what a run computes, so they are left out of its hash.
HASH_EXCLUDED = ("name", "device", "eval_batch_size")
CONFIG_FILE, METRICS_FILE, FINAL_FILE, CHECKPOINT_FILE = "config.json", "metrics.jsonl", "final.json", "checkpoint.pt"
HASH_LENGTH = 16


class RunError(RuntimeError):
    """A run directory cannot be used (corrupt, unfinished, or without weights); the message is one line."""

    def _render_traceback_(self) -> list[str]:
        return [f"RunError: {self}"]


# ----------------------------------------------------------------------------------------------------------
# Atomic writes


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once, at import: os.umask can only be read by setting it


def _umask() -> int:
    return _UMASK


@contextlib.contextmanager
def _atomic_file(path: Path, mode: str):
    """Yield a temporary file next to ``path``; on success flush, fsync and rename it over ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; results/ are shared and committed
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    # Make the rename itself durable (best effort: not every file system allows fsync on a directory).
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically: the file holds either its old content or ``text``, never a mix."""
    with _atomic_file(Path(path), "w") as f:
        f.write(text)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically (temp file in the same folder, fsync, rename)."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=True) + "\n")


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` atomically (same recipe as :func:`atomic_write_json`)."""
    with _atomic_file(Path(path), "wb") as f:
        torch.save(obj, f)


def _write_jsonl(path: Path, rows: list[Mapping[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows))


# ----------------------------------------------------------------------------------------------------------
# Hash and names


def hashed_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The part of the validated config that defines the computation (the hash's input)."""
    cfg = train_module.validate_config(config)
    return {k: v for k, v in cfg.items() if k not in HASH_EXCLUDED}


def config_hash(config: Mapping[str, Any]) -> str:
    """A stable hash of a config: SHA-256 of its canonical JSON (sorted keys), without :data:`HASH_EXCLUDED`."""
    payload = {"trainer_version": train_module.TRAINER_VERSION, "config": hashed_config(config)}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_LENGTH]


def run_name(config: Mapping[str, Any]) -> str:
    """The run's directory name: ``<name>-<hash>``."""
    return f"{train_module.validate_config(config)['name']}-{config_hash(config)}"


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
        state = _load_checkpoint(self.path / CHECKPOINT_FILE, dev)
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


def _load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # any failure to unpickle means the file is unusable
        raise RunError(f"checkpoint {path} is unreadable: {type(err).__name__}: {_first_line(err)}") from err
    if not isinstance(state, dict) or "model" not in state or "model_info" not in state:
        raise RunError(f"checkpoint {path} is unreadable: it is not a trainer checkpoint")
    return state


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
    config = _read_json(path / CONFIG_FILE)
    try:
        digest = config_hash(config)
    except train_module.ConfigError as err:
        raise RunError(f"{path / CONFIG_FILE} holds an invalid config: {err}") from err
    if not path.name.endswith(f"-{digest}"):
        raise RunError(f"{path / CONFIG_FILE} does not match its folder: the config hashes to {digest}")
    return train_module.validate_config(config)


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
    config: Mapping[str, Any],
    *,
    runs_dir: str | os.PathLike | None = None,
    results_dir: str | os.PathLike | None = None,
    need_weights: bool = False,
) -> Run | None:
    """The finished run for ``config`` in results/ then runs/, or None; never trains, moves or writes."""
    cfg = train_module.validate_config(config)
    digest = config_hash(cfg)
    for folder, source in ((_results(results_dir), "results"), (_runs(runs_dir), "store")):
        for path in _candidates(folder, cfg["name"], digest):
            try:
                run = load_run(path, source)
            except RunError as err:
                if source == "results":  # read-only: say why it is skipped (runs/ entries are handled by training)
                    log.warning("results entry %s is unusable and ignored: %s", path, err)
                continue
            if need_weights and not run.has_weights:
                continue
            return run
    return None


def _results(results_dir) -> Path:
    return Path(results_dir) if results_dir is not None else default_results_dir()


def _runs(runs_dir) -> Path:
    return Path(runs_dir) if runs_dir is not None else default_runs_dir()


def _move_aside(path: Path, reason: str) -> None:
    target = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    log.warning("run directory %s is corrupt (%s); moved to %s and training again", path, reason, target.name)
    os.replace(path, target)


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
    config: Mapping[str, Any],
    *,
    runs_dir: str | os.PathLike | None = None,
    results_dir: str | os.PathLike | None = None,
    progress: bool = True,
    need_weights: bool = False,
    on_epoch_end: Callable[[train_module.Trainer, dict[str, Any]], None] | None = None,
) -> Run:
    """Return the finished run of ``config``: from results/, from the store, or by training (resuming if possible).

    ``runs_dir`` defaults to ``$MIXUP_RUNS`` or ``./runs``; ``results_dir`` to ``$MIXUP_RESULTS`` or the
    repository's ``results/`` (read only: nothing is ever written there). ``need_weights=True`` skips
    entries without a checkpoint (results/ may ship metrics only) and trains the weights in runs/.
    ``on_epoch_end(trainer, row)`` is called after each epoch's checkpoint and metrics are on disk.
    """
    cfg = train_module.validate_config(config)
    digest = config_hash(cfg)
    found = find_run(cfg, runs_dir=runs_dir, results_dir=results_dir, need_weights=need_weights)
    if found is not None:
        return found

    store = _runs(runs_dir)
    path = store / f"{cfg['name']}-{digest}"
    trainer = train_module.Trainer(cfg)  # loads data and builds the model: bad input fails before any write
    store.mkdir(parents=True, exist_ok=True)
    with _exclusive(store / f".{path.name}.lock", progress):
        # Another process may have finished this run while we waited for the lock.
        found = find_run(cfg, runs_dir=runs_dir, results_dir=results_dir, need_weights=need_weights)
        if found is not None:
            return found
        return _train_into(path, trainer, digest, progress, on_epoch_end)


@contextlib.contextmanager
def _exclusive(lock_path: Path, progress: bool):
    """Hold an exclusive lock on ``lock_path`` (POSIX ``flock``; released by the kernel even after kill -9).

    Two processes asking for the same run (e.g. notebooks executed in parallel) then train it once: the
    second waits, then finds the finished run. Without ``fcntl`` (Windows) there is no lock.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if progress:
                print(f"waiting: another process is training {lock_path.name[1:-5]}", file=sys.stderr, flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _train_into(
    path: Path,
    trainer: train_module.Trainer,
    digest: str,
    progress: bool,
    on_epoch_end: Callable[[train_module.Trainer, dict[str, Any]], None] | None,
) -> Run:
    """Train (or resume) ``trainer``'s config in ``path``, writing checkpoint and metrics after each epoch."""
    cfg, store = trainer.config, path.parent
    source = "trained"
    segments = 1
    if path.exists():
        try:
            state = _open_interrupted(path)
        except RunError as err:
            _move_aside(path, str(err))
            state = None
        if state is not None:
            trainer.load_state_dict(state)
            segments = int(state.get("segments", 1)) + 1
            source = "resumed"
            if progress:
                print(f"resuming {path} after epoch {trainer.epoch}/{cfg['epochs']}", file=sys.stderr, flush=True)
    if not path.exists():
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=store))
        os.chmod(tmp, 0o777 & ~_umask())
        atomic_write_json(tmp / CONFIG_FILE, cfg)
        os.replace(tmp, path)
    _write_jsonl(path / METRICS_FILE, trainer.metrics)

    def checkpoint(tr: train_module.Trainer, row: dict[str, Any]) -> None:
        atomic_save(_checkpoint_state(tr, segments), path / CHECKPOINT_FILE)
        _write_jsonl(path / METRICS_FILE, tr.metrics)
        if on_epoch_end is not None:
            on_epoch_end(tr, row)

    trainer.fit(progress=progress, on_epoch_end=checkpoint)
    if not (path / CHECKPOINT_FILE).is_file():  # finished in an earlier segment that died before final.json
        atomic_save(_checkpoint_state(trainer, segments), path / CHECKPOINT_FILE)
    atomic_write_json(path / FINAL_FILE, _final_record(trainer, digest, segments))
    return load_run(path, source)


def _open_interrupted(path: Path) -> dict[str, Any] | None:
    """The checkpoint of an interrupted run (None: nothing to resume), or RunError if the folder is corrupt."""
    if not path.is_dir():
        raise RunError(f"{path} is not a directory")
    if not (path / CONFIG_FILE).is_file():
        raise RunError(f"{path} has no {CONFIG_FILE}")
    _read_config(path)
    if (path / FINAL_FILE).is_file():
        load_run(path)  # a finished run that did not load in find_run is corrupt: this raises
        if not (path / CHECKPOINT_FILE).is_file():
            raise RunError(f"run {path} is finished but has no {CHECKPOINT_FILE}")
    if not (path / CHECKPOINT_FILE).is_file():
        return None
    state = _load_checkpoint(path / CHECKPOINT_FILE)
    if state.get("trainer_version") != train_module.TRAINER_VERSION:
        raise RunError(f"checkpoint {path / CHECKPOINT_FILE} is from trainer version {state.get('trainer_version')!r}")
    return state


__all__ = [
    "HASH_EXCLUDED",
    "RESULTS_ENV",
    "RUNS_ENV",
    "Run",
    "RunError",
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
