"""Dispatch a chapter's training runs: to SLURM (a submitit job array), a local worker pool, or in-process.

    python -m mixup_lib sweep robustness --profile quick --executor slurm --partition gpu --gpus-per-node 1
    python -m mixup_lib sweep all --profile smoke --executor local --dry-run

Every run goes through :func:`mixup_lib.runs.get_or_train`: the run store is keyed by the config's hash, a
lock per run makes two processes asking for one config train it once, and an interrupted run resumes from
its last finished epoch. So this module only has to decide *which* configs still need training and *where*
they train:

- :func:`plan` drops duplicates (same hash) and configs already finished (committed ``results/`` or the store);
- :func:`submit_slurm` submits the rest as one job array and returns at once; each job is a
  :class:`TrainJob`, a ``submitit.helpers.Checkpointable``: on a time limit or preemption submitit calls
  :meth:`TrainJob.checkpoint` and requeues the job, which resumes from the last epoch;
- :func:`run_local` is a queue of worker processes (one torch thread each) that blocks until done;
  :func:`run_debug` trains in this process, one config after another;
- :func:`outcome_line` turns a finished job into one line: done, failed (error and log path) or cancelled;
- :class:`TrainingProgress` shows how far the local or in-process training is, with the time left: a tqdm bar
  when stderr is a terminal, else one plain line per event (``robustness: 3/8 runs done, ~12 min left``), written
  to ``$MIXUP_PROGRESS_FILE`` when set (the book's executor echoes it); ``MIXUP_PROGRESS=0`` turns it off.

:func:`chapter_configs` is the one place that knows each chapter's list of configs (see its docstring).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from submitit.helpers import Checkpointable, DelayedSubmission

from mixup_lib import runs, storage
from mixup_lib.config import validate
from mixup_lib.errors import ConfigError, check_choice, check_positive_int, require

EXECUTORS = ("slurm", "local", "debug")
CHAPTERS = ("robustness", "generalization", "approximation")
#: Chapters whose notebook needs the trained weights (not only metrics): a results/ entry without them is pending.
NEEDS_WEIGHTS = {"robustness": True, "generalization": False, "approximation": False}
#: The data set of the generalization chapter's n and α sweeps (mirrors SWEEP_DATASET in notebooks/generalization.py).
#: SLURM job states that end a job without a result.
CANCELLED_STATES = ("CANCELLED", "REVOKED", "DEADLINE", "BOOT_FAIL", "NODE_FAIL", "OUT_OF_MEMORY", "TIMEOUT")
#: ``MIXUP_PROGRESS=0`` (or false, no, off): no training progress from sweep, compute or a notebook.
PROGRESS_ENV = "MIXUP_PROGRESS"
#: ``MIXUP_PROGRESS_FILE=<path>``: plain progress lines are appended there instead of stderr (the book's executor
#: sets it, so that they reach its log and not the executed notebook's outputs).
PROGRESS_FILE_ENV = "MIXUP_PROGRESS_FILE"


# ----------------------------------------------------------------------------------------------------------
# The chapters' configs (the one adapter to replace)


def chapter_configs(chapter: str, settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every trainer config the chapter needs at ``settings`` (from :func:`profiles.resolve`): its ``configs``."""
    from mixup_lib import results

    check_choice("chapter", chapter, CHAPTERS)
    return results.chapter_module(chapter).configs(settings)


# ----------------------------------------------------------------------------------------------------------
# Planning: what is left to train


@dataclass(frozen=True)
class PendingRun:
    """One config to train: the validated config, its hash and its run-store label ``<name>-<hash>``."""

    config: dict[str, Any]
    digest: str

    @property
    def label(self) -> str:
        return f"{self.config['name']}-{self.digest}"


def plan(
    configs: Sequence[Mapping[str, Any]],
    *,
    need_weights: bool = False,
    runs_dir: str | os.PathLike | None = None,
    results_dir: str | os.PathLike | None = None,
) -> list[PendingRun]:
    """The configs still to train: one per hash (first label wins), none already finished in results/ or the store.

    A bad config raises its one-line ConfigError here, before anything is submitted.
    """
    pending: dict[str, PendingRun] = {}
    for config in configs:
        cfg = validate(config)  # once: the hash and the store take the frozen TrainConfig as it is
        digest = runs.config_hash(cfg)
        if digest in pending:
            continue
        if runs.find_run(cfg, runs_dir=runs_dir, results_dir=results_dir, need_weights=need_weights) is None:
            pending[digest] = PendingRun(cfg.as_dict(), digest)
    return list(pending.values())


def check_locking(runs_dir: str | os.PathLike | None = None) -> Path:
    """The run store's folder, after checking that it supports ``flock`` (one-line ConfigError if not).

    The run lock (:func:`mixup_lib.runs.get_or_train`) is what makes two jobs with one config train it once;
    Lustre mounted without ``-o flock`` raises ENOSYS.
    """
    store = Path(runs_dir) if runs_dir is not None else runs.default_runs_dir()
    store.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: runs.py takes no lock there either
        return store.resolve()
    probe = store / ".flock-probe"
    with open(probe, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(handle, fcntl.LOCK_UN)
        except BlockingIOError:
            pass  # another dispatcher holds the probe: locks work
        except OSError as err:
            if err.errno not in storage.LOCK_ERRNOS:
                raise
            raise ConfigError(storage.no_lock_message(store, err.errno)) from err
    return store.resolve()


def _sample_epochs(cfg: Mapping[str, Any]) -> int | None:
    return cfg["n_train"] * cfg["epochs"] if cfg["n_train"] is not None else None


def _cost_key(cfg: Mapping[str, Any]) -> str:
    return json.dumps([cfg["dataset"], cfg["model"], cfg["model_kwargs"], cfg.get("track_penalty", 0)], sort_keys=True)


def measured_rates(*folders: str | os.PathLike | None) -> dict[str, float]:
    """Seconds per training example and epoch, from the finished runs in ``folders``, per data set and model."""
    totals: dict[str, list[float]] = {}
    for folder in folders:
        if folder is None or not Path(folder).is_dir():
            continue
        for final in Path(folder).glob("*/" + runs.FINAL_FILE):
            try:
                run = runs.load_run(final.parent)
            except runs.RunError:
                continue
            work = _sample_epochs(run.config)
            if work and run.final.get("wall_time_s"):
                seconds, samples = totals.setdefault(_cost_key(run.config), [0.0, 0.0])
                totals[_cost_key(run.config)] = [seconds + float(run.final["wall_time_s"]), samples + work]
    return {key: seconds / samples for key, (seconds, samples) in totals.items()}


def estimated_seconds(cfg: Mapping[str, Any], rates: Mapping[str, float]) -> float | None:
    """The run's time at the rate measured on finished runs of the same data set and model (None if none)."""
    work = _sample_epochs(cfg)
    rate = rates.get(_cost_key(cfg))
    return None if work is None or rate is None else rate * work


def pending_table(pending: Sequence[PendingRun], rates: Mapping[str, float]) -> str:
    """The dry run's table: one line per pending run with its size and estimated cost."""
    head = f"{'run':40} {'dataset':14} {'model':16} {'method':6} {'alpha':>5} {'seed':>4} {'epochs':>6} " \
           f"{'n_train':>7} {'ex*epochs':>10} {'est. time':>10}"
    lines = [head]
    total = 0.0
    for p in pending:
        c = p.config
        est = estimated_seconds(c, rates)
        total += est or 0.0
        work = _sample_epochs(c)
        lines.append(
            f"{p.label:40} {c['dataset']:14} {c['model']:16} {c['method']:6} {c['alpha']:>5g} {c['seed']:>4} "
            f"{c['epochs']:>6} {c['n_train'] if c['n_train'] is not None else 'all':>7} "
            f"{work if work is not None else '?':>10} {f'{est:.0f} s' if est is not None else '?':>10}"
        )
    unknown = sum(estimated_seconds(p.config, rates) is None for p in pending)
    lines.append(
        f"{len(pending)} pending; estimated {total:.0f} s of training"
        + (f" plus {unknown} runs without a measured rate (?)" if unknown else "")
        + " (rates: finished runs of the same data set and model, in the store and results/)"
    )
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------
# One job


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"


def _torch_threads_from_slurm() -> None:
    """Inside a SLURM job, use as many torch threads as the job has CPUs (not the whole node's cores)."""
    cpus = os.environ.get("SLURM_CPUS_PER_TASK")
    if cpus and cpus.isdigit():
        import torch

        torch.set_num_threads(int(cpus))


class TrainJob(Checkpointable):
    """A SLURM job that trains one config through :func:`runs.get_or_train` and returns the run's folder.

    On a time limit or preemption submitit calls :meth:`checkpoint` and requeues the job; the requeued job
    calls ``get_or_train`` again, which resumes from the last finished epoch (every epoch is on disk).
    """

    def __init__(self, config: Mapping[str, Any], *, need_weights: bool, runs_dir: str, results_dir: str | None):
        self.config = dict(config)
        self.need_weights = need_weights
        self.runs_dir = runs_dir
        self.results_dir = results_dir

    def __call__(self) -> str:
        _torch_threads_from_slurm()
        run = runs.get_or_train(self.config, runs_dir=self.runs_dir, results_dir=self.results_dir,
                                need_weights=self.need_weights)
        return str(run.path)

    def checkpoint(self) -> DelayedSubmission:
        """Requeue the same job: the run store already holds the last finished epoch to resume from."""
        return DelayedSubmission(self)


# ----------------------------------------------------------------------------------------------------------
# SLURM


class SubmissionError(RuntimeError):
    """sbatch refused the job array (no controller, a bad partition or option); the message is one line."""

    def _render_traceback_(self) -> list[str]:
        return [f"SubmissionError: {self}"]


@dataclass
class SlurmOptions:
    """The job array's resources; ``extra`` are passed to sbatch as ``--key=value``."""

    partition: str | None = None
    gpus_per_node: int = 0
    cpus_per_task: int = 1
    mem_gb: float | None = None
    timeout_min: int = 60
    array_parallelism: int = 64
    extra: dict[str, str] | None = None

    def executor_parameters(self, name: str) -> dict[str, Any]:
        params: dict[str, Any] = {
            "name": name, "timeout_min": self.timeout_min, "cpus_per_task": self.cpus_per_task,
            "slurm_array_parallelism": self.array_parallelism,
        }
        if self.gpus_per_node:
            params["gpus_per_node"] = self.gpus_per_node
        if self.partition:
            params["slurm_partition"] = self.partition
        if self.mem_gb is not None:
            params["mem_gb"] = self.mem_gb
        if self.extra:
            params["slurm_additional_parameters"] = dict(self.extra)
        return params


@dataclass
class Submission:
    """A submitted job array: its jobs (same order as the pending runs) and the folder of its logs."""

    pending: list[PendingRun]
    jobs: list[Any]  # submitit.slurm.slurm.SlurmJob
    folder: Path

    @property
    def array_id(self) -> str:
        return str(self.jobs[0].job_id).split("_")[0] if self.jobs else ""

    def summary(self) -> str:
        """Job ids, where the logs go, how to watch them (printed by the CLI after submitting)."""
        if not self.jobs:
            return "nothing submitted"
        first, last = self.jobs[0], self.jobs[-1]
        return "\n".join([
            f"submitted {len(self.jobs)} runs as SLURM job array {self.array_id} ({first.job_id} … {last.job_id})",
            *(f"  {job.job_id:>12}  {p.label}" for job, p in zip(self.jobs, self.pending, strict=True)),
            f"logs: {self.folder}/<job id>_0_log.out and .err (e.g. {first.paths.stderr})",
            f"watch: squeue -j {self.array_id}   |   sacct -X -j {self.array_id}   |   tail -f {first.paths.stderr}",
            "when they end, run the same command again: finished runs drop out, failures are reported in one line",
        ])


def _write_manifest(submission: Submission) -> None:
    runs.atomic_write_json(submission.folder / "sweep.json", [
        {"job_id": job.job_id, "hash": p.digest, "label": p.label, "log": str(job.paths.stderr)}
        for job, p in zip(submission.jobs, submission.pending, strict=True)
    ])


def submit_slurm(
    pending: Sequence[PendingRun],
    folder: str | os.PathLike,
    options: SlurmOptions,
    *,
    name: str = "mixup",
    need_weights: bool = False,
    runs_dir: str | os.PathLike | None = None,
    results_dir: str | os.PathLike | None = None,
) -> Submission:
    """Submit ``pending`` as one SLURM job array (one :class:`TrainJob` each); returns without waiting."""
    import submitit

    store = str(check_locking(runs_dir))
    results = str(Path(results_dir).resolve()) if results_dir is not None else None
    folder = Path(folder).resolve()
    # cluster="slurm": never let AutoExecutor guess (it would pick SLURM wherever sbatch is on PATH anyway).
    executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
    executor.update_parameters(**options.executor_parameters(name))
    jobs: list[Any] = []
    if pending:
        try:
            with executor.batch():
                for p in pending:
                    jobs.append(executor.submit(TrainJob(p.config, need_weights=need_weights, runs_dir=store,
                                                         results_dir=results)))
        except (submitit.core.utils.FailedJobError, OSError) as err:  # sbatch refused, or is not there
            raise SubmissionError(f"submitting {len(pending)} runs to SLURM failed: {_one_line(err)}") from err
    submission = Submission(list(pending), jobs, folder)
    if jobs:
        _write_manifest(submission)
    return submission


def outcome_line(job: Any, label: str) -> str:
    """One line for an ended job: ``done``, ``failed`` (last error line and log path) or ``cancelled``.

    Reads the job's result file, else its SLURM state as last seen by submitit's watcher (call
    ``job.watcher.update()`` first for a fresh one).
    """
    log = job.paths.stderr
    if not job.paths.result_pickle.exists():  # no result: the job never returned (cancelled, killed, …)
        state = str(job.state)
        word = "cancelled" if state.split()[0] in CANCELLED_STATES else "failed"
        return f"{word} {label}: job {job.job_id} {state} (log: {log})"
    error = job.exception()
    if error is None:
        return f"done {label}: {job.result()}"
    return f"failed {label}: job {job.job_id}: {_error_summary(error)} (log: {log})"


def _error_summary(error: BaseException) -> str:
    """The last line of the job's traceback (``module.Type: message``), else the error's first line.

    submitit's FailedJobError holds the trace between two lines of dashes, then where the logs are.
    """
    parts = str(error).split("-" * 22)
    trace = parts[1] if len(parts) >= 3 else ""
    lines = [line.strip() for line in trace.splitlines() if line.strip()]
    return lines[-1] if lines else _one_line(error)


def sweeps_folder(runs_dir: str | os.PathLike | None = None) -> Path:
    """Where the SLURM sweeps keep their logs and ``sweep.json`` manifests: ``<run store>/.sweeps``."""
    return (Path(runs_dir) if runs_dir is not None else runs.default_runs_dir()) / ".sweeps"


def earlier_attempts(pending: Sequence[PendingRun], runs_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """hash → the latest SLURM job submitted for it by an earlier sweep (a submitit job), for pending runs only."""
    import submitit

    wanted = {p.digest for p in pending}
    latest: dict[str, Any] = {}
    manifests = sorted(sweeps_folder(runs_dir).glob("*/sweep.json"), key=lambda path: path.stat().st_mtime)
    for manifest in manifests:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            for row in json.loads(manifest.read_text()):
                if row["hash"] in wanted:
                    latest[row["hash"]] = submitit.SlurmJob(folder=manifest.parent, job_id=str(row["job_id"]))
    return latest


def report_earlier(pending: Sequence[PendingRun], runs_dir: str | os.PathLike | None = None
                   ) -> tuple[list[PendingRun], list[str]]:
    """Pending runs not already queued or running in SLURM, and one line per earlier attempt.

    A run whose earlier job is still queued or running is not submitted again; one whose job failed or was
    cancelled is, after its one-line outcome (error and log path).
    """
    attempts = earlier_attempts(pending, runs_dir)
    if not attempts:
        return list(pending), []
    next(iter(attempts.values())).watcher.update()  # one sacct call for all of them
    todo, lines = [], []
    for p in pending:
        job = attempts.get(p.digest)
        if job is not None and not job.done():
            lines.append(f"still queued or running {p.label}: job {job.job_id} {job.state} (log: {job.paths.stderr})")
            continue
        if job is not None:
            lines.append(f"earlier attempt {outcome_line(job, p.label)}")
        todo.append(p)
    return todo, lines


def wait_for(submission: Submission, timeout_s: float, poll_s: float = 1.0) -> list[str]:
    """Block until every job of ``submission`` ends (at most ``timeout_s``); one outcome line per job.

    Raises TimeoutError (one line naming the jobs still queued or running) when time runs out.
    """
    deadline = time.monotonic() + timeout_s
    jobs = submission.jobs
    while True:
        if jobs:
            jobs[0].watcher.update()  # one sacct call for every job of the array
        if all(job.done() for job in jobs):
            return [outcome_line(job, p.label) for job, p in zip(jobs, submission.pending, strict=True)]
        if time.monotonic() > deadline:
            left = [job.job_id for job in jobs if not job.done()]
            raise TimeoutError(f"jobs {', '.join(left)} still queued or running after {timeout_s:g} s")
        time.sleep(poll_s)


# ----------------------------------------------------------------------------------------------------------
# Local pool and in-process


def usable_cores() -> int:
    """The cores this process may run on (``os.sched_getaffinity``), else ``os.cpu_count()``."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def _worker_init() -> None:
    """Each worker process uses one torch thread: N workers share N cores without oversubscription."""
    import torch

    torch.set_num_threads(1)


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Train with one torch thread, as every pool worker does (:func:`_worker_init`), then restore the count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _train_logged(config: dict[str, Any], need_weights: bool, runs_dir: str | None, results_dir: str | None,
                  log_path: str | None) -> str:
    """Train one config; its progress goes to ``log_path``. Returns the outcome line (never raises)."""
    label = f"{config['name']}-{runs.config_hash(config)}"
    with contextlib.ExitStack() as stack:
        if log_path is not None:
            log = stack.enter_context(open(log_path, "w"))
            stack.enter_context(contextlib.redirect_stderr(log))
            stack.enter_context(contextlib.redirect_stdout(log))
        try:
            run = runs.get_or_train(config, runs_dir=runs_dir, results_dir=results_dir, need_weights=need_weights)
        except Exception as err:  # reported in one line, with the log that holds the rest
            if log_path is not None:
                import traceback

                traceback.print_exc()
            where = f"log: {log_path}" if log_path is not None else "in-process"
            return f"failed {label}: {_one_line(err)} ({where})"
    return f"done {label}: {run.path}"


# ----------------------------------------------------------------------------------------------------------
# Progress of the local and in-process training

#: Examples per epoch assumed for a run on a whole training set (``n_train`` None): Fashion-MNIST's 60,000.
WHOLE_SET_EXAMPLES = 60_000


def progress_mode(stream: Any = None) -> str:
    """``off`` (``MIXUP_PROGRESS=0``), ``file`` (``$MIXUP_PROGRESS_FILE``), ``bar`` (a terminal) or ``lines``."""
    if os.environ.get(PROGRESS_ENV, "").strip().lower() in ("0", "false", "no", "off"):
        return "off"
    if os.environ.get(PROGRESS_FILE_ENV):
        return "file"
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return "bar" if isatty is not None and isatty() else "lines"


def duration_text(seconds: float) -> str:
    """``40 s``, ``12 min``, ``1.5 h``: a time left or an expected time, as a reader wants it."""
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def progress_title(pending: Sequence[PendingRun]) -> str:
    """The chapter the runs belong to, from their names (``robustness-erm``, ``robustness-mixup`` → robustness)."""
    firsts = {p.config["name"].split("-")[0] for p in pending}
    return firsts.pop() if len(firsts) == 1 else "training"


class TrainingProgress:
    """Runs done out of the pending ones, and the time left, while they train (locally or in this process).

    The time left is estimated from the epochs finished so far, each weighted by its training examples
    (``n_train``, or :data:`WHOLE_SET_EXAMPLES`): every run writes ``metrics.jsonl`` after each epoch, and a
    thread counts its lines every ``poll_s`` seconds. The clock starts when the first epoch is seen, so the
    workers' start-up (importing torch, loading data) does not inflate it; epochs a resumed run had before
    are not counted in the rate. In ``bar`` mode a tqdm bar; in ``lines`` and ``file`` modes one line when a run
    ends and at most every ``line_every_s`` seconds between. Nothing here changes what is trained.
    """

    def __init__(self, title: str, pending: Sequence[PendingRun], runs_dir: str | os.PathLike | None = None, *,
                 mode: str | None = None, stream: Any = None, poll_s: float = 1.0, line_every_s: float = 30.0):
        self.title = title
        self.stream = sys.stderr if stream is None else stream
        self.mode = progress_mode(self.stream) if mode is None else mode
        self.store = Path(runs_dir) if runs_dir is not None else runs.default_runs_dir()
        self.runs = {p.label: (p.config["epochs"], p.config["n_train"] or WHOLE_SET_EXAMPLES) for p in pending}
        self.total = sum(epochs * examples for epochs, examples in self.runs.values())
        self.ended: set[str] = set()
        self.poll_s, self.line_every_s = poll_s, line_every_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bar: Any = None
        self.done = self._work()
        self.started = self._last_line = time.monotonic()
        self._base: tuple[float, float] | None = None  # (time, work) when the first new epoch was seen

    def _epochs_done(self, label: str) -> int:
        epochs = self.runs[label][0]
        if label in self.ended:
            return epochs
        try:
            with open(self.store / label / runs.METRICS_FILE, "rb") as handle:
                return min(epochs, sum(1 for line in handle if line.strip()))
        except OSError:  # not started, or still in its first epoch (a new run's folder appears after it)
            return 0

    def _work(self) -> float:
        return float(sum(self._epochs_done(label) * examples for label, (_, examples) in self.runs.items()))

    def update(self, now: float | None = None) -> None:
        """Read how many epochs each run has finished (a run counted as ended has all of them)."""
        now = time.monotonic() if now is None else now
        before, self.done = self.done, self._work()
        if self._base is None and self.done > before:
            self._base = (now, self.done)

    def seconds_left(self, now: float | None = None) -> float | None:
        """Work left / work per second since the first epoch was seen; None until a second one is seen."""
        if self._base is None or self.done <= self._base[1]:
            return None
        elapsed = (time.monotonic() if now is None else now) - self._base[0]
        return (self.total - self.done) / ((self.done - self._base[1]) / elapsed) if elapsed > 0 else None

    def status(self, *, share: bool = True) -> str:
        """``3/8 runs done (41% of the training), ~12 min left`` (without the share: for the bar, which shows it)."""
        share = f" ({100 * self.done / self.total:.0f}% of the training)" if share and self.total else ""
        if len(self.ended) == len(self.runs):
            return f"{len(self.ended)}/{len(self.runs)} runs done in {duration_text(time.monotonic() - self.started)}"
        left = self.seconds_left()
        eta = f", ~{duration_text(left)} left" if left is not None else ", time left: known after two epochs"
        return f"{len(self.ended)}/{len(self.runs)} runs done{share}{eta}"

    def _emit(self, text: str) -> None:
        if self.mode == "file":
            with open(os.environ[PROGRESS_FILE_ENV], "a") as handle:
                handle.write(text + "\n")
        else:
            print(text, file=self.stream, flush=True)
        self._last_line = time.monotonic()

    def _refresh(self, *, run_ended: bool = False) -> None:
        with self._lock:
            before = self.done
            self.update()
            if self._bar is not None:
                self._bar.n = self.done
                self._bar.set_postfix_str(self.status(share=False), refresh=False)
                self._bar.refresh()
            elif self.mode != "off":
                due = self.done > before and time.monotonic() - self._last_line >= self.line_every_s
                if run_ended or due:
                    self._emit(f"{self.title}: {self.status()}")

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_s):
            with contextlib.suppress(Exception):  # progress must never stop the training
                self._refresh()

    def run_ended(self, outcome: str) -> None:
        """Count the run an outcome line (``done <label>: …`` or ``failed <label>: …``) names as ended."""
        words = outcome.split(" ", 2)
        label = words[1].rstrip(":") if len(words) > 1 else ""
        if label in self.runs:
            self.ended.add(label)
            self._refresh(run_ended=True)

    def __enter__(self) -> TrainingProgress:
        if self.mode == "off" or not self.runs:
            self.mode = "off"
            return self
        if self.mode == "bar":
            from tqdm.std import tqdm

            self._bar = tqdm(total=self.total, initial=self.done, desc=self.title, file=self.stream,
                             dynamic_ncols=True, mininterval=0.5, leave=True,
                             bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}{postfix}]",
                             postfix=self.status(share=False))
        else:
            self._emit(f"{self.title}: training {len(self.runs)} runs ({self.total / 1e3:.0f}k example-epochs)")
        self._thread = threading.Thread(target=self._poll, name="training-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
        if self._bar is not None:
            self._bar.close()


def run_local(
    pending: Sequence[PendingRun],
    folder: str | os.PathLike,
    *,
    workers: int | None = None,
    need_weights: bool = False,
    runs_dir: str | os.PathLike | None = None,
    results_dir: str | os.PathLike | None = None,
    on_outcome: Callable[[str], None] | None = None,
) -> list[str]:
    """Train ``pending`` on a queue of ``workers`` processes (default: usable cores), one torch thread each.

    Blocks until every run ends; returns one outcome line per run (same order), logs in ``folder``.
    """
    workers = check_positive_int("workers", usable_cores() if workers is None else workers)
    store = str(check_locking(runs_dir))
    results = str(Path(results_dir).resolve()) if results_dir is not None else None
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    # forkserver: a clean single-threaded server imports torch once, then forks each worker (spawn would import
    # torch in every worker; fork would copy a parent that may hold torch's thread pools or CUDA).
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["mixup_lib.runs", "torch._dynamo"])  # the optimizer imports torch._dynamo
    with concurrent.futures.ProcessPoolExecutor(min(workers, max(len(pending), 1)), mp_context=context,
                                                initializer=_worker_init) as pool:
        futures = [pool.submit(_train_logged, p.config, need_weights, store, results, str(folder / f"{p.label}.log"))
                   for p in pending]
        for future in concurrent.futures.as_completed(futures):
            if on_outcome is not None:
                on_outcome(future.result())
        return [future.result() for future in futures]


def run_debug(
    pending: Sequence[PendingRun],
    *,
    need_weights: bool = False,
    runs_dir: str | os.PathLike | None = None,
    results_dir: str | os.PathLike | None = None,
    on_outcome: Callable[[str], None] | None = None,
) -> list[str]:
    """Train ``pending`` in this process, one after another (progress on stderr); one outcome line each."""
    lines = []
    for p in pending:
        lines.append(_train_logged(p.config, need_weights, None if runs_dir is None else str(runs_dir),
                                   None if results_dir is None else str(results_dir), None))
        if on_outcome is not None:
            on_outcome(lines[-1])
    return lines


def train_pending(
    configs: Sequence[Mapping[str, Any]],
    *,
    workers: int | None = None,
    need_weights: bool = False,
    runs_dir: str | os.PathLike | None = None,
    results_dir: str | os.PathLike | None = None,
) -> list[str]:
    """Train every config of ``configs`` not yet finished, before a chapter's ``compute`` gathers them.

    ``workers`` > 1 (default: the usable cores) trains on the local pool, one torch thread per worker
    ([evidence]: two single-thread processes beat one two-thread process on 2 cores); 1 trains in this process,
    also with one torch thread, so the numbers are the same whatever the number of workers.
    A failed run raises one :class:`RunError` line naming the failure(s) and their logs. While they train,
    :class:`TrainingProgress` shows the runs done and the time left (``MIXUP_PROGRESS=0``: nothing).
    """
    pending = plan(configs, need_weights=need_weights, runs_dir=runs_dir, results_dir=results_dir)
    workers = check_positive_int("workers", usable_cores() if workers is None else workers)
    if not pending:
        return []
    with TrainingProgress(progress_title(pending), pending, runs_dir) as progress:
        if workers == 1 or len(pending) == 1:
            with one_torch_thread():  # as in a worker: the numbers do not depend on the worker count
                outcomes = run_debug(pending, need_weights=need_weights, runs_dir=runs_dir, results_dir=results_dir,
                                     on_outcome=progress.run_ended)
        else:
            outcomes = run_local(pending, sweeps_folder(runs_dir) / "local-logs", workers=workers,
                                 need_weights=need_weights, runs_dir=runs_dir, results_dir=results_dir,
                                 on_outcome=progress.run_ended)
    failed = [line for line in outcomes if line.startswith("failed")]
    if failed:
        raise runs.RunError(f"{len(failed)} of {len(outcomes)} runs failed: " + "; ".join(failed))
    return outcomes


# ----------------------------------------------------------------------------------------------------------
# Command line: python -m mixup_lib sweep …


def _param_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return {"True": True, "False": False, "None": None}.get(text, text)


def _slurm_arg(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE (an sbatch option without its leading --)")
    return key, value


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    """``--profile`` and repeatable ``-p NAME VALUE``: a chapter's settings (``sweep`` and ``compute``)."""
    from mixup_lib.profiles import PROFILES

    parser.add_argument("--profile", required=True, help=", ".join(PROFILES))
    parser.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="override one setting of the profile (JSON value), repeatable")


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``sweep`` subcommand's arguments (for ``mixup_lib.__main__``'s parser)."""
    parser.add_argument("chapter", help=f"{', '.join(CHAPTERS)} or all")
    add_settings_arguments(parser)
    parser.add_argument("--executor", required=True, help="slurm (job array, returns at once), local (worker "
                        "processes, blocks) or debug (in this process, one run after another)")
    parser.add_argument("--dry-run", action="store_true", help="print the pending runs and their estimated cost")
    parser.add_argument("--runs-dir", default=None, help="run store (default: $MIXUP_RUNS or ./runs)")
    parser.add_argument("--results-dir", default=None, help="committed results (default: $MIXUP_RESULTS or results/)")
    parser.add_argument("--log-dir", default=None, help="logs (default: <runs>/.sweeps/<chapter>-<time>)")
    parser.add_argument("--workers", type=int, default=None, help="local executor: worker processes (default: "
                        "usable cores)")
    s = parser.add_argument_group("SLURM (--executor slurm)")
    s.add_argument("--partition", default=None, help="partition (default: the cluster's default)")
    s.add_argument("--gpus-per-node", type=int, default=0, help="GPUs per job")
    s.add_argument("--cpus-per-task", type=int, default=1, help="CPUs per job (torch threads)")
    s.add_argument("--mem-gb", type=float, default=None, help="memory per job in GB (default: the cluster's)")
    s.add_argument("--timeout-min", type=int, default=60, help="time limit per job; at the limit it is requeued")
    s.add_argument("--array-parallelism", type=int, default=64, help="jobs of the array running at once")
    s.add_argument("--slurm-arg", type=_slurm_arg, action="append", default=[], metavar="KEY=VALUE",
                   help="extra sbatch option, repeatable (e.g. account=myproj, qos=high)")
    s.add_argument("--wait", type=float, default=None, metavar="SECONDS",
                   help="block until the jobs end (at most SECONDS) and print one line per job")


def sweep_configs(chapter: str, profile: str, params: Sequence[tuple[str, Any]]) -> dict[str, list[dict]]:
    """chapter (or ``all``) → its configs at ``profile`` with ``params`` overriding the profile's settings."""
    from mixup_lib import profiles

    chapters = CHAPTERS if chapter == "all" else (check_choice("chapter", chapter, (*CHAPTERS, "all")),)
    overrides = dict(params)
    require(not overrides or chapter != "all", "-p overrides apply to one chapter: name it instead of 'all'")
    return {c: chapter_configs(c, profiles.resolve(c, profile, **overrides)) for c in chapters}


def _pending_by_chapter(args: argparse.Namespace) -> dict[str, list[PendingRun]]:
    """The pending runs per chapter; a config two chapters share is pending once (in the first)."""
    seen: set[str] = set()
    out: dict[str, list[PendingRun]] = {}
    params = [(k, _param_value(v)) for k, v in args.param]
    for chapter, configs in sweep_configs(args.chapter, args.profile, params).items():
        todo = plan(configs, need_weights=NEEDS_WEIGHTS[chapter], runs_dir=args.runs_dir, results_dir=args.results_dir)
        out[chapter] = [p for p in todo if p.digest not in seen]
        seen.update(p.digest for p in todo)
    return out


def main_sweep(argv: Sequence[str] | None = None, parser: argparse.ArgumentParser | None = None) -> int:
    """``python -m mixup_lib sweep …``: exit code 0, 1 when a run failed, 2 for bad input (one line on stderr)."""
    from mixup_lib.data import DatasetUnavailable

    if parser is None:
        parser = argparse.ArgumentParser(prog="python -m mixup_lib sweep")
        add_sweep_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a usage error (2)
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        return run_sweep(args)
    except (ConfigError, DatasetUnavailable, runs.RunError, SubmissionError, TimeoutError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2 if isinstance(err, (ConfigError, DatasetUnavailable)) else 1


def run_sweep(args: argparse.Namespace) -> int:
    """The ``sweep`` subcommand on parsed arguments (bad input raises a one-line ConfigError)."""
    check_choice("executor", args.executor, EXECUTORS)
    by_chapter = _pending_by_chapter(args)
    store = Path(args.runs_dir) if args.runs_dir is not None else runs.default_runs_dir()
    if args.dry_run:
        rates = measured_rates(store, args.results_dir or runs.default_results_dir())
        for chapter, pending in by_chapter.items():
            print(f"{chapter} ({args.profile}):")
            print(pending_table(pending, rates))
        return 0
    stamp = time.strftime("%Y%m%d-%H%M%S")
    status = 0
    for chapter, pending in by_chapter.items():
        folder = Path(args.log_dir) if args.log_dir else sweeps_folder(store) / f"{chapter}-{args.profile}-{stamp}"
        if not pending:
            print(f"{chapter}: nothing pending: every run is finished")
            continue
        kw = {"need_weights": NEEDS_WEIGHTS[chapter], "runs_dir": args.runs_dir, "results_dir": args.results_dir}
        if args.executor == "slurm":
            pending, earlier = report_earlier(pending, args.runs_dir)
            for line in earlier:
                print(f"{chapter}: {line}")
            if not pending:
                print(f"{chapter}: nothing to submit: every pending run is queued or running")
                continue
            options = SlurmOptions(args.partition, args.gpus_per_node, args.cpus_per_task, args.mem_gb,
                                   args.timeout_min, args.array_parallelism, dict(args.slurm_arg))
            submission = submit_slurm(pending, folder, options, name=f"mixup-{chapter}", **kw)
            print(f"{chapter}: {submission.summary()}")
            lines = wait_for(submission, args.wait) if args.wait is not None else []
        elif args.executor == "local":
            print(f"{chapter}: training {len(pending)} runs on {args.workers or usable_cores()} worker processes "
                  f"(logs: {folder})", flush=True)
            with TrainingProgress(chapter, pending, args.runs_dir) as progress:
                lines = run_local(pending, folder, workers=args.workers, on_outcome=progress.run_ended, **kw)
        else:
            with TrainingProgress(chapter, pending, args.runs_dir) as progress:
                lines = run_debug(pending, on_outcome=progress.run_ended, **kw)
        for line in lines:
            print(line)
        status = max(status, int(any(not line.startswith("done") for line in lines)))
    return status


__all__ = [
    "CHAPTERS",
    "EXECUTORS",
    "PendingRun",
    "SlurmOptions",
    "Submission",
    "SubmissionError",
    "TrainJob",
    "TrainingProgress",
    "add_sweep_arguments",
    "chapter_configs",
    "check_locking",
    "main_sweep",
    "outcome_line",
    "pending_table",
    "plan",
    "report_earlier",
    "run_debug",
    "run_local",
    "run_sweep",
    "submit_slurm",
    "wait_for",
]
