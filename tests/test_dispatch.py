"""Dispatch: SLURM job arrays (needs a local SLURM: tools/slurm_up.sh), the local worker pool, debug, --dry-run.

The SLURM tests skip where ``sbatch`` is not on PATH, and fail under ``CI=true`` (CI starts SLURM first).
Every wait is bounded. The SLURM work is submitted once, up front, and checked at the end of the module, so
the jobs run while the local, debug and dry-run tests do. Tiny two-moons configs (logreg, 1-2 epochs).
"""

import errno
import fcntl
import io
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from mixup_lib import dispatch, runs
from mixup_lib.errors import ConfigError

TINY = {"name": "tiny", "dataset": "two_moons", "model": "logreg", "epochs": 1, "n_train": 64, "n_test": 32,
        "device": "cpu"}
#: Passes validate_config (which builds the model for 2 classes) but fails in the job: 10 classes, one logit.
BAD = {**TINY, "name": "bad", "dataset": "fashion_mnist", "model_kwargs": {"binary": True}, "n_train": 16, "n_test": 8}
#: Long enough (30 epochs of 20k points, 0.3-0.5 s each) to be preempted after its first epoch.
LONG = {**TINY, "name": "long", "model": "two-layer-relu", "epochs": 30, "n_train": 20_000}
WAIT_S = 150


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A run store and an empty results/ folder, both visible to the SLURM jobs (same machine, root)."""
    root = tmp_path_factory.mktemp("dispatch")
    (root / "results").mkdir()
    return root / "runs", root / "results"


def _need_slurm() -> None:
    """Skip without a running SLURM (sbatch missing, or no controller answering); under CI=true, fail instead."""
    if shutil.which("sbatch") is None:
        why = "sbatch is not on PATH"
    elif subprocess.run(["sinfo", "-h"], capture_output=True, timeout=30).returncode != 0:
        why = "SLURM is installed but its controller does not answer (sinfo failed)"
    else:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why} under CI=true: start SLURM first (tools/slurm_up.sh)")
    pytest.skip(f"no SLURM here ({why}): run tools/slurm_up.sh")


@pytest.fixture(scope="module")
def submitted(store):
    """One job array, submitted before the other tests: two seeds of TINY (one of them twice), BAD and LONG.

    LONG is preempted after its first epoch, here, so that it is still running; the jobs then go on while
    the other tests run, and the last SLURM test checks how they ended.
    """
    _need_slurm()
    runs_dir, results_dir = store
    configs = [LONG, {**TINY, "seed": 0}, {**TINY, "seed": 1}, {**TINY, "seed": 0}, BAD]
    pending = dispatch.plan(configs, runs_dir=runs_dir, results_dir=results_dir)
    started = time.monotonic()
    submission = dispatch.submit_slurm(pending, dispatch.sweeps_folder(runs_dir) / "array",
                                       dispatch.SlurmOptions(timeout_min=5),
                                       name="test-dispatch", runs_dir=runs_dir, results_dir=results_dir)
    seconds = time.monotonic() - started
    _preempt_after_first_epoch(submission.jobs[0], runs_dir / pending[0].label)
    return submission, seconds


def _preempt_after_first_epoch(job, run: Path) -> None:
    """Send what SLURM sends on preemption (SIGTERM, then submitit's USR2: checkpoint and requeue) mid-training."""
    deadline = time.monotonic() + WAIT_S
    metrics = run / runs.METRICS_FILE
    while not (metrics.is_file() and metrics.read_text().strip()):
        assert time.monotonic() < deadline, "LONG never finished an epoch"
        time.sleep(0.1)
    job._interrupt()
    _release_when_requeued(job, deadline)


def _labels(configs) -> list[str]:
    return [runs.run_name(c) for c in configs]


def test_submission_dedupes_by_hash_and_returns_at_once(submitted):
    submission, seconds = submitted
    assert [p.label for p in submission.pending] == _labels([LONG, {**TINY, "seed": 0}, {**TINY, "seed": 1}, BAD])
    assert seconds < 10, f"submitting took {seconds:.1f} s: it must not wait for the jobs"
    array = submission.array_id
    assert [j.job_id for j in submission.jobs] == [f"{array}_{i}" for i in range(4)]
    summary = submission.summary()
    assert f"squeue -j {array}" in summary and str(submission.jobs[0].paths.stderr) in summary
    manifest = json.loads((submission.folder / "sweep.json").read_text())
    assert [row["hash"] for row in manifest] == [p.digest for p in submission.pending]


def test_check_locking_says_in_one_line_when_flock_is_unsupported(tmp_path, monkeypatch):
    def no_flock(*_args):
        raise OSError(errno.ENOSYS, "Function not implemented")

    assert dispatch.check_locking(tmp_path) == tmp_path.resolve()
    monkeypatch.setattr(fcntl, "flock", no_flock)
    with pytest.raises(ConfigError, match=r"does not support file locks \(flock: ENOSYS") as info:
        dispatch.check_locking(tmp_path)
    assert "\n" not in str(info.value)


def test_train_job_checkpoint_resubmits_itself(tmp_path):
    job = dispatch.TrainJob(TINY, need_weights=True, runs_dir=str(tmp_path), results_dir=None)
    delayed = job.checkpoint()
    assert delayed.function is job and delayed.args == () and delayed.kwargs == {}


def test_local_pool_trains_a_config_given_twice_once(store, monkeypatch):
    """Two workers given the same config at once: the run lock lets one train it; the other finds it.

    Each worker sets one torch thread itself (OMP_NUM_THREADS=2 here would give them two otherwise).
    """
    runs_dir, results_dir = store
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    config = {**TINY, "name": "local", "epochs": 2}
    twice = [dispatch.PendingRun(runs.train_module.validate_config(config), runs.config_hash(config))] * 2
    other = dispatch.plan([{**config, "seed": 5}], runs_dir=runs_dir)
    logs = runs_dir / "local-logs"
    lines = dispatch.run_local(twice + other, logs, workers=2, runs_dir=runs_dir, results_dir=results_dir)
    assert [line.split(":")[0] for line in lines] == [f"done {p.label}" for p in twice + other]
    trained = [p for p in logs.glob("*.log") if "training logreg" in p.read_text()]
    assert len(trained) == 2, "the shared config is trained once, the other config once"
    run = runs.find_run(config, runs_dir=runs_dir, results_dir=results_dir)
    assert run is not None and run.final["torch_threads"] == 1 and run.final["segments"] == 1


def test_debug_runs_in_process_and_reports_a_failure_in_one_line(store, capsys):
    runs_dir, results_dir = store
    pending = dispatch.plan([{**TINY, "name": "debug", "seed": 11}, BAD], runs_dir=runs_dir, results_dir=results_dir)
    lines = dispatch.run_debug(pending, runs_dir=runs_dir, results_dir=results_dir)
    assert lines[0] == f"done {pending[0].label}: {runs_dir / pending[0].label}"
    assert re.fullmatch(rf"failed {pending[1].label}: ConfigError: num_classes=10 is not allowed .* \(in-process\)",
                        lines[1])
    assert dispatch.plan([{**TINY, "name": "debug", "seed": 11}], runs_dir=runs_dir, results_dir=results_dir) == []


def test_dry_run_estimates_from_finished_runs(store):
    """Cost = seconds per example-epoch of finished runs of the same data set and model × the run's examples·epochs."""
    runs_dir, results_dir = store
    trained = {**TINY, "name": "debug", "seed": 11}  # trained by the test above, unless this one runs alone
    dispatch.run_debug(dispatch.plan([trained], runs_dir=runs_dir), runs_dir=runs_dir, results_dir=results_dir)
    finished = runs.find_run(trained, runs_dir=runs_dir)
    assert finished is not None
    rates = dispatch.measured_rates(runs_dir)
    bigger = dispatch.plan([{**TINY, "n_train": 640, "epochs": 2, "seed": 3}], runs_dir=runs_dir)
    table = dispatch.pending_table(bigger, rates).splitlines()
    rate = rates[dispatch._cost_key(finished.config)]
    assert rate > 0 and f"{rate * 1280:.0f} s" in table[1] and "1280" in table[1]
    assert table[-1].startswith("1 pending")


def test_sweep_dry_run_lists_the_chapter_without_submitting(store, capsys):
    runs_dir, results_dir = store
    argv = ["robustness", "--profile", "smoke", "--executor", "slurm", "--dry-run",
            "--runs-dir", str(runs_dir), "--results-dir", str(results_dir)]
    sweeps_before = sorted(dispatch.sweeps_folder(runs_dir).glob("*"))
    assert dispatch.main_sweep(argv) == 0
    out = capsys.readouterr().out
    from mixup_lib import profiles

    configs = dispatch.chapter_configs("robustness", profiles.resolve("robustness", "smoke"))
    expected = {p.label for p in dispatch.plan(configs, runs_dir=runs_dir, results_dir=results_dir)}
    assert len(expected) == 2  # Fig. 1a's two configs; the smoke α sweep (α = 0 and 1) reuses them
    assert {line.split()[0] for line in out.splitlines() if line.startswith("robustness-")} == expected
    assert "2 pending" in out and sorted(dispatch.sweeps_folder(runs_dir).glob("*")) == sweeps_before
    assert dispatch.main_sweep([*argv[:4], "local", "-p", "seedz", "[1]"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_slurm_jobs_end_with_one_line_each_and_a_preempted_job_resumes(submitted, store):
    submission, _ = submitted
    runs_dir, results_dir = store
    lines = dispatch.wait_for(submission, WAIT_S, poll_s=0.5)
    long_label, tiny0, tiny1, bad = (p.label for p in submission.pending)
    assert lines[:3] == [f"done {label}: {runs_dir / label}" for label in (long_label, tiny0, tiny1)]
    log = submission.jobs[3].paths.stderr
    assert lines[3] == (f"failed {bad}: job {submission.jobs[3].job_id}: mixup_lib.errors.ConfigError: num_classes=10 "
                        f"is not allowed with binary=True: a single-logit model needs num_classes=2 (log: {log})")
    long_final = runs.find_run(LONG, runs_dir=runs_dir, results_dir=results_dir).final
    assert long_final["segments"] == 2 and long_final["epochs"] == LONG["epochs"]
    for seed in (0, 1):
        run = runs.find_run({**TINY, "seed": seed}, runs_dir=runs_dir, results_dir=results_dir)
        assert run is not None and run.final["segments"] == 1
    stderr = [job.paths.stderr.read_text() for job in submission.jobs[1:3]]
    assert [text.count("training logreg") for text in stderr] == [1, 1]
    configs = [LONG, {**TINY, "seed": 0}, {**TINY, "seed": 1}]
    assert dispatch.plan(configs, runs_dir=runs_dir, results_dir=results_dir) == [], "run again: nothing pending"
    again = dispatch.plan([BAD], runs_dir=runs_dir, results_dir=results_dir)
    assert dispatch.report_earlier(again, runs_dir) == (again, [f"earlier attempt {lines[3]}"]), "the rerun says why"


def _release_when_requeued(job, deadline: float) -> None:
    """SLURM holds a requeued job ~2 minutes (BeginTime); start it now instead (the test's only shortcut)."""
    while "Reason=BeginTime" not in (text := _scontrol(job)):
        ended = re.search(r"JobState=(COMPLETED|FAILED|CANCELLED|TIMEOUT)", text)
        assert time.monotonic() < deadline and not ended, f"job {job.job_id} was not requeued: {text[:300]}"
        time.sleep(0.2)
    subprocess.run(["scontrol", "update", f"JobId={job.job_id}", "StartTime=now"], check=True, timeout=10)


def _scontrol(job) -> str:
    return subprocess.run(["scontrol", "show", "job", job.job_id], capture_output=True, text=True, timeout=10).stdout


def test_scancel_is_reported_as_cancelled_not_a_hang(store):
    _need_slurm()
    runs_dir, results_dir = store
    pending = dispatch.plan([{**TINY, "seed": 7}], runs_dir=runs_dir, results_dir=results_dir)
    submission = dispatch.submit_slurm(pending, dispatch.sweeps_folder(runs_dir) / "cancel",
                                       dispatch.SlurmOptions(timeout_min=5),
                                       name="test-cancel", runs_dir=runs_dir, results_dir=results_dir)
    job = submission.jobs[0]
    deadline = time.monotonic() + 60
    while "Loading pickle" not in (job.paths.stdout.read_text() if job.paths.stdout.is_file() else ""):
        assert time.monotonic() < deadline, "the job never started"  # submitit logs its start on stdout
        time.sleep(0.2)
    assert dispatch.report_earlier(pending, runs_dir)[0] == [], "a rerun does not submit a running job again"
    subprocess.run(["scancel", job.job_id], check=True, timeout=10)
    [line] = dispatch.wait_for(submission, 30, poll_s=0.5)
    assert re.fullmatch(rf"cancelled {pending[0].label}: job {job.job_id} CANCELLED by \d+ \(log: .*\.err\)", line)
    assert dispatch.report_earlier(pending, runs_dir) == (pending, [f"earlier attempt {line}"])


# ---------------------------------------------------------------- progress while the runs train


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _pending(name: str, epochs: int, n_train: int | None) -> dispatch.PendingRun:
    config = {**TINY, "name": name, "epochs": epochs, "n_train": n_train}
    return dispatch.PendingRun(config, runs.config_hash(runs.train_module.validate_config(config)))


def _epochs(store: Path, run: dispatch.PendingRun, count: int) -> None:
    (store / run.label).mkdir(parents=True, exist_ok=True)
    (store / run.label / runs.METRICS_FILE).write_text("".join(f'{{"epoch": {i + 1}}}\n' for i in range(count)))


def test_progress_mode_follows_the_environment_and_the_stream(monkeypatch, tmp_path):
    monkeypatch.delenv(dispatch.PROGRESS_ENV, raising=False)
    monkeypatch.delenv(dispatch.PROGRESS_FILE_ENV, raising=False)
    assert dispatch.progress_mode(_Terminal()) == "bar" and dispatch.progress_mode(io.StringIO()) == "lines"
    monkeypatch.setenv(dispatch.PROGRESS_FILE_ENV, str(tmp_path / "log"))
    assert dispatch.progress_mode(_Terminal()) == "file"
    for off in ("0", "off", "False"):
        monkeypatch.setenv(dispatch.PROGRESS_ENV, off)
        assert dispatch.progress_mode(_Terminal()) == "off"


def test_time_left_comes_from_the_epochs_done_weighted_by_examples(tmp_path):
    """A resumed run's earlier epochs and the time before the first new epoch are not in the rate."""
    small, large = _pending("demo-a", 4, 100), _pending("demo-b", 2, None)  # 400 and 2 × 60,000 example-epochs
    _epochs(tmp_path, small, 1)  # resumed: one epoch from before
    progress = dispatch.TrainingProgress("demo", [small, large], tmp_path, mode="off")
    assert progress.total == 400 + 2 * dispatch.WHOLE_SET_EXAMPLES and progress.done == 100
    progress.update(now=50.0)
    assert progress.seconds_left(now=50.0) is None  # nothing new yet
    _epochs(tmp_path, small, 2)
    progress.update(now=60.0)  # the first new epoch: the clock starts here
    assert progress.seconds_left(now=60.0) is None
    _epochs(tmp_path, large, 1)
    progress.update(now=70.0)  # 60,000 example-epochs in 10 s; 60,200 left
    assert progress.seconds_left(now=70.0) == pytest.approx(60_200 / 6_000)
    progress.run_ended(f"done {small.label}: somewhere")
    assert progress.done == 400 + 60_000 and progress.status().startswith("1/2 runs done (50% of the training), ~")


def test_progress_lines_one_per_run_then_the_total_time(tmp_path, monkeypatch):
    monkeypatch.delenv(dispatch.PROGRESS_ENV, raising=False)
    monkeypatch.delenv(dispatch.PROGRESS_FILE_ENV, raising=False)
    first, second = _pending("demo-a", 2, 100), _pending("demo-b", 2, 100)
    stream = io.StringIO()
    with dispatch.TrainingProgress("demo", [first, second], tmp_path, stream=stream, line_every_s=1e9) as progress:
        progress.run_ended(f"done {first.label}: somewhere")
        progress.run_ended(f"failed {second.label}: ValueError: x (log: y)")
    lines = stream.getvalue().splitlines()
    assert lines[0] == "demo: training 2 runs (0k example-epochs)"
    assert lines[1] == "demo: 1/2 runs done (50% of the training), time left: known after two epochs"
    assert re.fullmatch(r"demo: 2/2 runs done in \d+ s", lines[2]) and len(lines) == 3


def test_progress_bar_in_a_terminal_and_nothing_when_off(tmp_path, monkeypatch):
    monkeypatch.delenv(dispatch.PROGRESS_FILE_ENV, raising=False)
    run = _pending("demo-a", 2, 100)
    terminal = _Terminal()
    with dispatch.TrainingProgress("demo", [run], tmp_path, stream=terminal) as progress:
        progress.run_ended(f"done {run.label}: somewhere")
    assert "demo: 100%|" in terminal.getvalue() and "1/1 runs done in" in terminal.getvalue()
    monkeypatch.setenv(dispatch.PROGRESS_ENV, "0")
    quiet = _Terminal()
    with dispatch.TrainingProgress("demo", [run], tmp_path, stream=quiet) as progress:
        progress.run_ended(f"done {run.label}: somewhere")
    assert quiet.getvalue() == ""


def test_train_pending_reports_progress_and_trains_the_same_numbers(tmp_path, monkeypatch):
    """With progress to a file (as in the book's executor) or off, the same runs give the same metrics."""
    configs = [{**TINY, "name": "progress", "epochs": 2, "seed": seed} for seed in (0, 1)]
    log = tmp_path / "progress.log"
    monkeypatch.setenv(dispatch.PROGRESS_FILE_ENV, str(log))
    shown = dispatch.train_pending(configs, workers=1, runs_dir=tmp_path / "shown")
    lines = log.read_text().splitlines()
    assert lines[0] == "progress: training 2 runs (0k example-epochs)" and len(lines) == 3
    assert lines[1].startswith("progress: 1/2 runs done (50% of the training)")
    assert re.fullmatch(r"progress: 2/2 runs done in \d+ s", lines[2])
    monkeypatch.setenv(dispatch.PROGRESS_ENV, "0")
    quiet = dispatch.train_pending(configs, workers=1, runs_dir=tmp_path / "quiet")
    assert log.read_text().splitlines() == lines  # nothing more written
    for config, a, b in zip(configs, shown, quiet, strict=True):
        assert a.split(":")[0] == b.split(":")[0]
        first = runs.find_run(config, runs_dir=tmp_path / "shown")
        second = runs.find_run(config, runs_dir=tmp_path / "quiet")
        assert [row["test_loss"] for row in first.metrics] == [row["test_loss"] for row in second.metrics]
