"""The run store: stable hash, store and results/ hits, exact resume (also after kill -9), atomic writes,
corrupt directories."""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mixup_lib import runs, storage, train

MOONS = {
    "name": "moons",
    "dataset": "two_moons",
    "model": "two-layer-relu",
    "model_kwargs": {"hidden": 32},
    "method": "mixup",
    "epochs": 4,
    "n_train": 256,
    "n_test": 128,
    "device": "cpu",
}
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: tiny models gain nothing from more, and on a shared 2-core machine several
    processes spinning two OpenMP threads each slow down a hundredfold. Restored after each test."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _no_time(rows):
    return [{k: v for k, v in row.items() if not k.endswith("time_s")} for row in rows]


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


@pytest.fixture
def store(tmp_path):
    """Keyword arguments pointing get_or_train at an empty store and an empty results folder."""
    (tmp_path / "results").mkdir()
    return {"runs_dir": tmp_path / "runs", "results_dir": tmp_path / "results", "progress": False}


# -- hash ---------------------------------------------------------------------------------------------------


def test_config_hash_is_stable_and_ignores_labels_device_and_erm_alpha():
    digest = runs.config_hash(MOONS)
    assert len(digest) == 16 and digest == runs.config_hash(dict(reversed(list(MOONS.items()))))
    assert runs.config_hash({**MOONS, "device": "cuda", "name": "other", "eval_batch_size": 7}) == digest
    assert runs.config_hash({**MOONS, "seed": 1}) != digest
    assert runs.config_hash({**MOONS, "alpha": 1}) == digest  # defaults are filled in: 1 == 1.0 == default
    erm = {**MOONS, "method": "erm"}
    assert runs.config_hash({**erm, "alpha": 0.2}) == runs.config_hash({**erm, "alpha": 2.0})
    # A golden value: if this changes, every stored and committed run is orphaned. Bump TRAINER_VERSION on purpose.
    assert digest == "275c5cb3a06837c7"  # TRAINER_VERSION 3
    assert runs.run_name(MOONS) == f"moons-{digest}"


# -- atomic writes ------------------------------------------------------------------------------------------


def test_atomic_write_json_round_trips(tmp_path):
    runs.atomic_write_json(tmp_path / "a.json", {"x": [1, 2.5, None], "y": "é"})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": [1, 2.5, None], "y": "é"}
    assert os.listdir(tmp_path) == ["a.json"]


@pytest.mark.parametrize("crash_in", ["fsync", "replace"])
def test_a_crash_mid_write_leaves_the_old_file_intact_and_no_partial_file(tmp_path, monkeypatch, crash_in):
    target = tmp_path / "final.json"
    runs.atomic_write_json(target, {"version": "old"})
    old = target.read_text()
    seen = []

    def crash(*args):
        # The temporary file already holds (part of) the new content when the "power goes out".
        seen.extend(p.name for p in tmp_path.iterdir() if p.name != "final.json")
        raise OSError("simulated crash")

    monkeypatch.setattr(runs.os, crash_in, crash)
    with pytest.raises(OSError, match="simulated crash"):
        runs.atomic_write_json(target, {"version": "new", "payload": list(range(10_000))})
    monkeypatch.undo()
    assert seen and all(name.startswith(".final.json.") for name in seen)  # the new bytes went to a temp file
    assert target.read_text() == old  # the target is the old, complete file
    assert sorted(os.listdir(tmp_path)) == ["final.json"]  # and the temporary file is gone


def test_a_kill_mid_write_never_leaves_a_half_written_target(tmp_path):
    """A process killed with SIGKILL while rewriting a large JSON file leaves the old or the new file, whole."""
    target = tmp_path / "big.json"
    runs.atomic_write_json(target, {"n": 0})
    code = (
        "import sys; from mixup_lib import runs\n"
        "for i in range(1, 10**6): runs.atomic_write_json(sys.argv[1], {'n': i, 'pad': 'x' * 2_000_000})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)], cwd=REPO)
    deadline = time.time() + 30
    while json.loads(target.read_text())["n"] < 2 and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    doc = json.loads(target.read_text())  # parses: never half-written
    assert doc["n"] >= 2 and len(doc["pad"]) == 2_000_000



@pytest.mark.parametrize(
    ("chapter", "profile", "first"),
    [
        ("robustness", "smoke", "robustness-erm-9af975002d3a21c3"),
        ("robustness", "quick", "robustness-erm-323d88d0b9b2980c"),
        ("robustness", "full", "robustness-erm-ae8052fad6a72c04"),
        ("robustness", "paper", "robustness-erm-14b93c2bbeae39a6"),
        ("generalization", "smoke", "generalization-d8fe28092c9ebd9d"),
        ("generalization", "quick", "generalization-64d48fb402cecf2d"),
        ("generalization", "full", "generalization-1915b06c4880230c"),
        ("generalization", "paper", "generalization-43db6f22ffe07e65"),
    ],
)
def test_the_chapters_run_names_are_those_of_before_the_frozen_config(chapter, profile, first):
    """Golden names (TRAINER_VERSION 3), measured before the schema moved to mixup_lib.config: the frozen
    TrainConfig hashes what the validated dict hashed, so no stored or committed run is orphaned."""
    import importlib

    from mixup_lib import profiles

    module = importlib.import_module(f"mixup_lib.chapters.{chapter}")
    assert runs.run_name(module.configs(profiles.resolve(chapter, profile))[0]) == first


def test_a_store_hit_validates_the_config_once_and_the_stored_config_once(store, monkeypatch):
    from mixup_lib import config

    runs.get_or_train(MOONS, **store)
    seen = []
    checked = config._checked
    monkeypatch.setattr(config, "_checked", lambda cfg: seen.append(dict(cfg)) or checked(cfg))
    assert runs.get_or_train(MOONS, **store).source == "store"
    assert [c["name"] for c in seen] == ["moons", "moons"]  # the caller's config, then config.json as read
    assert seen[1] == config.validate_config(MOONS)

# -- store hits ---------------------------------------------------------------------------------------------


def test_a_finished_run_is_returned_from_the_store_without_training(store, monkeypatch):
    first = runs.get_or_train(MOONS, **store)
    assert first.source == "trained" and first.path.name == runs.run_name(MOONS)
    assert {p.name for p in first.path.iterdir()} == {
        "config.json", "metrics.jsonl", "final.json", "checkpoint.pt", "checkpoint.pt.sha256"
    }  # fmt: skip
    assert len(first.metrics) == 4 and first.final["test_acc"] == first.metrics[-1]["test_acc"]
    assert first.final["device"] == "cpu" and "torch" in first.final["versions"] and first.final["wall_time_s"] > 0

    def boom(*args, **kwargs):
        raise AssertionError("a store hit must not train")

    monkeypatch.setattr(train.Trainer, "__init__", boom)
    again = runs.get_or_train(MOONS, **store)
    assert again.source == "store" and again.metrics == first.metrics and again.final == first.final
    # The device is not part of the hash: a run made on one device serves a config asking for another.
    assert runs.get_or_train({**MOONS, "device": "auto"}, **store).source == "store"


def test_the_stored_model_reproduces_its_final_metrics(store):
    run = runs.get_or_train(MOONS, **store)
    model = run.load_model("cpu")
    trainer = train.Trainer(MOONS)  # the same data
    loss, acc = train.evaluate(model, trainer.data.x_test, trainer.data.y_test)
    assert (loss, acc) == (run.final["test_loss"], run.final["test_acc"])
    assert torch.load(run.path / "checkpoint.pt", weights_only=True)["epoch"] == 4


def test_committed_results_are_used_first_and_never_written(store, tmp_path, monkeypatch):
    results = store["results_dir"]
    made = runs.get_or_train(MOONS, **{**store, "runs_dir": results})  # stand-in for a GPU run committed to git
    (made.path / "checkpoint.pt").unlink()  # results/ may ship metrics only
    before = _snapshot(results)
    monkeypatch.setattr(train.Trainer, "fit", lambda *a, **k: pytest.fail("a results/ hit must not train"))

    hit = runs.get_or_train({**MOONS, "device": "auto"}, **store)
    assert hit.source == "results" and hit.metrics == made.metrics and hit.path == made.path
    assert not store["runs_dir"].exists()  # nothing written to the store either
    assert _snapshot(results) == before
    with pytest.raises(runs.RunError, match="has no weights"):
        hit.load_model()

    monkeypatch.undo()
    trained = runs.get_or_train(MOONS, **store, need_weights=True)  # weights wanted: trained into runs/
    assert trained.source == "trained" and trained.path.parent == store["runs_dir"] and trained.has_weights
    assert _no_time(trained.metrics) == _no_time(made.metrics)
    assert _snapshot(results) == before


def test_a_corrupt_results_entry_is_ignored_with_a_warning_and_left_alone(store, caplog):
    made = runs.get_or_train(MOONS, **{**store, "runs_dir": store["results_dir"]})
    _corrupt_final(made.path)
    before = _snapshot(store["results_dir"])
    with caplog.at_level(logging.WARNING, logger="mixup_lib.runs"):
        run = runs.get_or_train(MOONS, **store)
    assert run.source == "trained" and run.path.parent == store["runs_dir"]
    assert any(str(made.path) in r.getMessage() and "ignored" in r.getMessage() for r in caplog.records)
    assert _snapshot(store["results_dir"]) == before


def test_a_run_under_another_name_with_the_same_hash_is_reused(store):
    runs.get_or_train(MOONS, **store)
    other = runs.get_or_train({**MOONS, "name": "relabelled"}, **store)
    assert other.source == "store" and other.path.name.startswith("moons-")


def test_a_second_process_waits_for_the_first_and_then_reads_the_store(store, tmp_path, capsys):
    """Two callers of the same config (notebooks run in parallel) train it once: the second waits on a lock."""
    import fcntl
    import threading

    store["runs_dir"].mkdir()
    name = runs.run_name(MOONS)
    result = {}
    with open(store["runs_dir"] / f".{name}.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # "the first process" is training
        waiter = threading.Thread(
            target=lambda: result.update(run=runs.get_or_train(MOONS, **{**store, "progress": True}))
        )
        waiter.start()
        time.sleep(1.0)
        assert waiter.is_alive() and "run" not in result  # blocked on the lock
        made = runs.get_or_train(MOONS, **{**store, "runs_dir": tmp_path / "elsewhere"})
        os.replace(made.path, store["runs_dir"] / name)  # the first process finishes
        fcntl.flock(held, fcntl.LOCK_UN)
        waiter.join(timeout=30)
    assert result["run"].source == "store"
    assert f"waiting: another process is training {name}" in capsys.readouterr().err


# -- resume -------------------------------------------------------------------------------------------------


class StopTrainingError(Exception):
    pass


def _interrupt_after(epochs: int):
    def hook(trainer, row):
        if row["epoch"] == epochs:
            raise StopTrainingError

    return hook


def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path):
    straight = runs.get_or_train(MOONS, runs_dir=tmp_path / "a", results_dir=tmp_path / "none", progress=False)

    kwargs = {"runs_dir": tmp_path / "b", "results_dir": tmp_path / "none", "progress": False}
    with pytest.raises(StopTrainingError):
        runs.get_or_train(MOONS, **kwargs, on_epoch_end=_interrupt_after(2))
    path = tmp_path / "b" / runs.run_name(MOONS)
    assert not (path / "final.json").exists() and len((path / "metrics.jsonl").read_text().splitlines()) == 2
    with pytest.raises(StopTrainingError):  # interrupted a second time
        runs.get_or_train(MOONS, **kwargs, on_epoch_end=_interrupt_after(3))

    resumed = runs.get_or_train(MOONS, **kwargs)
    assert resumed.source == "resumed" and resumed.final["segments"] == 3
    assert _no_time(resumed.metrics) == _no_time(straight.metrics)  # exactly, float for float
    assert _same_weights(resumed.load_model("cpu"), straight.load_model("cpu"))
    assert runs.get_or_train(MOONS, **kwargs).source == "store"


def test_resume_after_the_last_epoch_but_before_final_json(tmp_path):
    kwargs = {"runs_dir": tmp_path, "results_dir": tmp_path / "none", "progress": False}
    with pytest.raises(StopTrainingError):
        runs.get_or_train(MOONS, **kwargs, on_epoch_end=_interrupt_after(4))
    run = runs.get_or_train(MOONS, **kwargs)
    assert run.source == "resumed" and len(run.metrics) == 4


def test_kill_9_mid_run_then_rerun_resumes_with_the_same_metrics(tmp_path):
    """The real thing: `python -m mixup_lib train` killed with SIGKILL mid-epoch, then run again."""
    config = {**MOONS, "name": "killed", "model_kwargs": {"hidden": 256}, "n_train": 8192, "epochs": 12}
    cli = [
        sys.executable, "-m", "mixup_lib", "train", "--name", "killed", "--dataset", "two_moons",
        "--model", "two-layer-relu", "--model-kwarg", "hidden=256", "--method", "mixup", "--epochs", "12",
        "--n-train", "8192", "--n-test", "128", "--device", "cpu", "--runs-dir", str(tmp_path / "runs"),
        "--results-dir", str(tmp_path / "none"), "--no-progress",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}  # the same thread count as this process
    path = tmp_path / "runs" / runs.run_name(config)
    proc = subprocess.Popen(cli, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while not (path / "checkpoint.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.05)  # into the next epoch
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed: make it longer"
    done = torch.load(path / "checkpoint.pt", weights_only=True)["epoch"]
    assert 1 <= done < 12 and not (path / "final.json").exists()

    again = subprocess.run(cli, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().endswith("(resumed)")
    resumed = runs.load_run(path)
    straight = runs.get_or_train(config, runs_dir=tmp_path / "straight", results_dir=tmp_path / "none", progress=False)
    assert _no_time(resumed.metrics) == _no_time(straight.metrics)
    assert _same_weights(resumed.load_model("cpu"), straight.load_model("cpu"))


# -- corrupt run directories --------------------------------------------------------------------------------


def _corrupt_final(path: Path) -> None:
    (path / "final.json").write_text('{"test_acc": 0.9')  # truncated JSON


def _corrupt_config(path: Path) -> None:
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, "seed": 99}))  # no longer matches the folder's hash


def _corrupt_checkpoint_of_unfinished(path: Path) -> None:
    (path / "final.json").unlink()
    (path / "checkpoint.pt").write_bytes(b"\x80\x02garbage")


@pytest.mark.parametrize("corrupt", [_corrupt_final, _corrupt_config, _corrupt_checkpoint_of_unfinished])
def test_a_corrupt_run_directory_is_moved_aside_with_a_warning_and_retrained(store, caplog, corrupt):
    first = runs.get_or_train(MOONS, **store)
    corrupt(first.path)
    with caplog.at_level(logging.WARNING, logger="mixup_lib.runs"):
        again = runs.get_or_train(MOONS, **store)
    assert again.source == "trained" and _no_time(again.metrics) == _no_time(first.metrics)
    (message,) = [r.getMessage() for r in caplog.records]
    assert str(first.path) in message and "corrupt" in message and "\n" not in message
    aside = [p.name for p in store["runs_dir"].iterdir() if ".corrupt-" in p.name]
    assert len(aside) == 1 and aside[0].startswith(first.path.name)


def test_a_run_killed_before_its_first_checkpoint_starts_over(store):
    path = store["runs_dir"] / runs.run_name(MOONS)
    path.mkdir(parents=True)
    runs.atomic_write_json(path / "config.json", train.validate_config(MOONS))
    run = runs.get_or_train(MOONS, **store)
    assert run.source == "trained" and len(run.metrics) == 4


def test_load_run_refuses_an_unfinished_run_in_one_line(tmp_path):
    with pytest.raises(StopTrainingError):
        runs.get_or_train(MOONS, runs_dir=tmp_path, results_dir=tmp_path / "none", progress=False,
                          on_epoch_end=_interrupt_after(1))  # fmt: skip
    with pytest.raises(runs.RunError, match="is not finished") as err:
        runs.load_run(tmp_path / runs.run_name(MOONS))
    assert "\n" not in str(err.value)


def test_default_folders_follow_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MIXUP_RUNS", "")  # empty means unset
    assert runs.default_runs_dir() == Path("runs")
    monkeypatch.setenv("MIXUP_RUNS", str(tmp_path / "r"))
    monkeypatch.setenv("MIXUP_RESULTS", str(tmp_path / "c"))
    assert runs.default_runs_dir() == tmp_path / "r" and runs.default_results_dir() == tmp_path / "c"
    monkeypatch.delenv("MIXUP_RUNS")
    monkeypatch.delenv("MIXUP_RESULTS")
    assert runs.default_runs_dir() == Path("runs") and runs.default_results_dir() == REPO / "results"


# -- the store heals ----------------------------------------------------------------------------------------


def _one_warning(caplog) -> str:
    (message,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert "\n" not in message
    return message


@pytest.mark.parametrize("damage", ["not json\n", '{"epoch": 1}\n'])
def test_a_damaged_metrics_file_of_a_finished_run_is_rebuilt_from_its_checkpoint(store, caplog, monkeypatch, damage):
    first = runs.get_or_train(MOONS, **store)
    (first.path / "metrics.jsonl").write_text(damage)  # unreadable, or one row for four epochs
    monkeypatch.setattr(train.Trainer, "fit", lambda *a, **k: pytest.fail("the checkpoint holds every row"))
    with caplog.at_level(logging.WARNING):
        again = runs.get_or_train(MOONS, **store)
    assert again.source == "store" and again.metrics == first.metrics and again.final == first.final
    assert "metrics.jsonl is damaged" in _one_warning(caplog) and "rebuilt from checkpoint.pt" in caplog.text
    assert not [p for p in store["runs_dir"].iterdir() if ".corrupt-" in p.name]


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _flip_64_bytes(path: Path) -> None:
    blob = bytearray(path.read_bytes())
    middle = len(blob) // 2
    blob[middle : middle + 64] = bytes(b ^ 0xFF for b in blob[middle : middle + 64])
    path.write_bytes(bytes(blob))


@pytest.mark.parametrize("damage", [_empty, _flip_64_bytes])
def test_a_damaged_checkpoint_of_a_finished_run_is_moved_aside_and_trained_again(store, caplog, damage):
    first = runs.get_or_train(MOONS, **store)
    weights = first.load_model("cpu")
    damage(first.path / "checkpoint.pt")
    with pytest.raises(runs.RunError, match="need_weights=True") as err:
        first.load_model("cpu")  # never silently used
    assert "\n" not in str(err.value)
    assert runs.get_or_train(MOONS, **store).source == "store"  # metrics alone are still fine
    with caplog.at_level(logging.WARNING):
        healed = runs.get_or_train(MOONS, **store, need_weights=True)
    assert healed.source == "trained" and _no_time(healed.metrics) == _no_time(first.metrics)
    assert _same_weights(healed.load_model("cpu"), weights)
    message = _one_warning(caplog)
    assert str(first.path) in message and "corrupt" in message and "training again" in message
    assert len([p for p in store["runs_dir"].iterdir() if ".corrupt-" in p.name]) == 1
    assert runs.get_or_train(MOONS, **store, need_weights=True).source == "store"  # healed for good


def test_a_damaged_checkpoint_in_results_is_reported_and_left_alone(store, caplog):
    made = runs.get_or_train(MOONS, **{**store, "runs_dir": store["results_dir"]})
    _flip_64_bytes(made.path / "checkpoint.pt")
    before = _snapshot(store["results_dir"])
    with caplog.at_level(logging.WARNING):
        run = runs.get_or_train(MOONS, **store, need_weights=True)
    assert run.source == "trained" and run.path.parent == store["runs_dir"]
    message = _one_warning(caplog)
    assert str(made.path) in message and "sha256 does not match" in message and "ignored" in message
    assert _snapshot(store["results_dir"]) == before


def test_a_checkpoint_without_sidecar_from_an_earlier_version_is_accepted_and_gets_one(store):
    first = runs.get_or_train(MOONS, **store)
    sidecar = first.path / "checkpoint.pt.sha256"
    expected = sidecar.read_text()
    sidecar.unlink()
    again = runs.get_or_train(MOONS, **store, need_weights=True)
    assert again.source == "store" and _same_weights(again.load_model("cpu"), first.load_model("cpu"))
    assert sidecar.read_text() == expected


# -- storage errors are one line ----------------------------------------------------------------------------


def test_a_full_disk_during_a_checkpoint_write_keeps_the_previous_checkpoint(store, monkeypatch):
    real_save = torch.save

    def disk_fills_up(trainer, row):
        if row["epoch"] == 2:

            def half_written(obj, f):
                f.write(b"x" * 100)
                raise OSError(errno.ENOSPC, "No space left on device")

            monkeypatch.setattr(torch, "save", half_written)

    with pytest.raises(runs.StorageError) as err:
        runs.get_or_train(MOONS, **store, on_epoch_end=disk_fills_up)
    monkeypatch.setattr(torch, "save", real_save)
    path = store["runs_dir"] / runs.run_name(MOONS)
    assert str(err.value) == (
        f"cannot write the run store {store['runs_dir']}: no space left on device "
        "(set MIXUP_RUNS or --runs-dir to a writable folder with free space)"
    )
    assert isinstance(err.value, runs.RunError) and err.value._render_traceback_() == [f"StorageError: {err.value}"]
    assert storage.checksum_problem(path / "checkpoint.pt") is None
    assert torch.load(path / "checkpoint.pt", weights_only=True)["epoch"] == 2
    assert sorted(p.name for p in path.iterdir()) == [
        "checkpoint.pt", "checkpoint.pt.sha256", "config.json", "metrics.jsonl"
    ]  # fmt: skip
    assert [p.name for p in store["runs_dir"].iterdir()] == [path.name]  # no temp file, no lock file
    resumed = runs.get_or_train(MOONS, **store)
    straight = runs.get_or_train(MOONS, **{**store, "runs_dir": store["runs_dir"].parent / "straight"})
    assert resumed.source == "resumed" and _no_time(resumed.metrics) == _no_time(straight.metrics)


@pytest.mark.parametrize(
    ("code", "cause"),
    [(errno.EACCES, "permission denied"), (errno.EROFS, "read-only file system"), (errno.ENOSPC, "no space left")],
)
def test_an_unwritable_store_is_one_line(store, monkeypatch, code, cause):
    def refuse(path):
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(storage, "_open_temp", refuse)
    with pytest.raises(runs.StorageError, match=f"^cannot write the run store {store['runs_dir']}: {cause}"):
        runs.get_or_train(MOONS, **store)
    assert not store["runs_dir"].exists()  # a failed start leaves nothing behind


@pytest.mark.parametrize("where", ["store", "parent"])
def test_a_file_in_the_way_of_the_store_is_one_line(tmp_path, where):
    blocker = tmp_path / "runs"
    blocker.write_text("not a folder")
    runs_dir = blocker if where == "store" else blocker / "inner"
    with pytest.raises(runs.StorageError) as err:
        runs.get_or_train(MOONS, runs_dir=runs_dir, results_dir=tmp_path / "none", progress=False)
    assert str(err.value).startswith(f"cannot write the run store {runs_dir}: a file is in the way (set MIXUP_RUNS")


@pytest.mark.parametrize("empty", ["argument", "environment"])
def test_an_empty_runs_dir_means_the_default(tmp_path, monkeypatch, empty):
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    if empty == "argument":
        monkeypatch.setenv("MIXUP_RUNS", str(tmp_path / "default"))
        run = runs.get_or_train(MOONS, runs_dir="", results_dir="", progress=False)
        assert run.path.parent == tmp_path / "default"
        assert not list(work.iterdir())  # nothing written into the current folder
    else:
        monkeypatch.setenv("MIXUP_RUNS", "")
        monkeypatch.setenv("MIXUP_RESULTS", str(tmp_path / "none"))
        run = runs.get_or_train(MOONS, progress=False)
        assert run.path.parent == Path("runs") and [p.name for p in work.iterdir()] == ["runs"]


# -- no clutter ---------------------------------------------------------------------------------------------


def test_a_finished_run_leaves_no_lock_file(store):
    run = runs.get_or_train(MOONS, **store)
    assert [p.name for p in store["runs_dir"].iterdir()] == [run.path.name]


def test_a_failed_start_leaves_no_run_folder_and_no_lock(store, monkeypatch):
    def crash(self, **kwargs):
        raise RuntimeError("out of memory in epoch 1")

    monkeypatch.setattr(train.Trainer, "train_epoch", crash)
    with pytest.raises(RuntimeError, match="out of memory"):
        runs.get_or_train(MOONS, **store)
    assert not store["runs_dir"].exists()
    store["runs_dir"].mkdir()
    with pytest.raises(RuntimeError, match="out of memory"):
        runs.get_or_train(MOONS, **store)
    assert list(store["runs_dir"].iterdir()) == []  # the store existed before: it stays, empty


def test_leftovers_of_a_killed_process_are_removed_on_the_next_start(store):
    """Temp files, a half-made run folder and a lock file of a process killed mid-write are cleaned up."""
    path = store["runs_dir"] / runs.run_name(MOONS)
    path.mkdir(parents=True)
    runs.atomic_write_json(path / "config.json", train.validate_config(MOONS))
    code = (
        "import os, sys; from pathlib import Path; from mixup_lib import storage\n"
        "store, run = Path(sys.argv[1]), Path(sys.argv[2])\n"
        "storage._open_temp(run / 'checkpoint.pt')\n"
        "storage.make_temp_dir(store, 'other-0123456789abcdef')\n"
        "open(store / '.other-0123456789abcdef.lock', 'w').close()\n"
        "os._exit(0)  # no cleanup, as after kill -9\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-c", code, str(store["runs_dir"]), str(path)], check=True, env=env)
    assert len(list(store["runs_dir"].iterdir())) == 3 and len(list(path.iterdir())) == 2
    live = storage._open_temp(path / "metrics.jsonl")[1]  # this process's own temp file is left alone
    run = runs.get_or_train(MOONS, **store)
    live.close()
    assert [p.name for p in store["runs_dir"].iterdir()] == [path.name]
    leftovers = {p.name for p in path.iterdir()} - {
        "config.json", "metrics.jsonl", "final.json", "checkpoint.pt", "checkpoint.pt.sha256"
    }  # fmt: skip
    assert len(leftovers) == 1 and leftovers.pop().startswith(".metrics.jsonl.")
    assert run.source == "trained"
