"""The shared storage layer: atomic writes with sha256 sidecars, moving aside, cleanup, lock files, one-line errors."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mixup_lib import runs, storage

REPO = Path(__file__).resolve().parents[1]


def test_runs_reexports_the_one_writer():
    assert runs.atomic_write_json is storage.atomic_write_json and runs.atomic_save is storage.atomic_save
    assert runs.atomic_write_text is storage.atomic_write_text and runs.RunError is storage.RunError
    assert issubclass(storage.StorageError, runs.RunError)  # the CLI and Jupyter show it as one line


def test_a_sidecar_is_written_with_the_file_and_reads_like_sha256sum(tmp_path):
    target = tmp_path / "blob.bin"
    storage.atomic_write_bytes(target, b"hello", checksum=True)
    digest = hashlib.sha256(b"hello").hexdigest()
    assert (tmp_path / "blob.bin.sha256").read_text() == f"{digest}  blob.bin\n"
    assert storage.read_verified(target) == (b"hello", None)
    if shutil.which("sha256sum"):
        check = subprocess.run(["sha256sum", "-c", "blob.bin.sha256"], cwd=tmp_path, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    storage.atomic_write_bytes(target, b"world", checksum=True)  # rewritten: one digest again
    assert storage.read_verified(target) == (b"world", None) and len((tmp_path / "blob.bin.sha256").read_text()) == 75
    assert sorted(os.listdir(tmp_path)) == ["blob.bin", "blob.bin.sha256"]


def test_a_changed_file_or_a_missing_sidecar_is_reported(tmp_path):
    target = tmp_path / "blob.bin"
    storage.atomic_write_bytes(target, b"hello", checksum=True)
    target.write_bytes(b"hellO")
    assert storage.checksum_problem(target) == "its sha256 does not match blob.bin.sha256"
    (tmp_path / "blob.bin.sha256").unlink()
    problem = storage.checksum_problem(target)
    assert problem == "it has no checksum file blob.bin.sha256" and storage.is_missing_sidecar(problem)
    storage.write_sidecar(target)
    assert storage.checksum_problem(target) is None


@pytest.mark.parametrize("crash_at", [1, 2, 3])
def test_a_crash_between_the_renames_never_leaves_a_mismatched_pair(tmp_path, monkeypatch, crash_at):
    """The file and its sidecar are two renames: a process dying between them must not look like damage."""
    target = tmp_path / "checkpoint.pt"
    storage.atomic_write_bytes(target, b"old" * 1000, checksum=True)
    real_replace, calls = os.replace, []

    def dying_replace(src, dst):
        calls.append(Path(dst).name)
        if len(calls) == crash_at:
            raise OSError(errno.EIO, "power cut")
        real_replace(src, dst)

    monkeypatch.setattr(storage.os, "replace", dying_replace)
    with pytest.raises(OSError, match="power cut"):
        storage.atomic_write_bytes(target, b"new" * 1000, checksum=True)
    monkeypatch.undo()
    data, problem = storage.read_verified(target)
    assert problem is None and data in (b"old" * 1000, b"new" * 1000)
    assert calls[crash_at - 1] == ("checkpoint.pt" if crash_at == 2 else "checkpoint.pt.sha256")
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.pt", "checkpoint.pt.sha256"]  # no temp file left
    storage.atomic_write_bytes(target, b"next", checksum=True)  # and the next write is clean again
    assert storage.read_verified(target) == (b"next", None)


def test_move_aside_logs_one_line_and_takes_the_sidecar_along(tmp_path, caplog):
    target = tmp_path / "cache.pt"
    storage.atomic_write_bytes(target, b"x", checksum=True)
    with caplog.at_level(logging.WARNING, logger="mixup_lib.storage"):
        moved = storage.move_aside(target, "its sha256 does not match cache.pt.sha256", then="decoding again")
    (record,) = caplog.records
    assert record.getMessage() == (
        f"{target} is corrupt (its sha256 does not match cache.pt.sha256); moved to {moved.name} and decoding again"
    )
    assert moved.name.startswith("cache.pt.corrupt-") and moved.read_bytes() == b"x"
    assert sorted(os.listdir(tmp_path)) == sorted([moved.name, moved.name + ".sha256"])


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_only_temp_files_of_dead_processes_of_this_host_are_removed(tmp_path):
    host = storage._HOST
    dead, alive = _dead_pid(), os.getpid()
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        names = {
            "dead_file": f".metrics.jsonl.{host}.{dead}.0a1b2c3d.tmp",
            "dead_dir": f".moons-0123456789abcdef.{host}.{dead}.deadbeef.tmp",
            "own": f".final.json.{host}.{alive}.0a1b2c3d.tmp",
            "other_process": f".final.json.{host}.{sleeper.pid}.0a1b2c3d.tmp",
            "other_host": f".final.json.otherhost.{dead}.0a1b2c3d.tmp",
            "not_a_temp": "final.json",
        }
        for key, name in names.items():
            (tmp_path / name).mkdir() if key == "dead_dir" else (tmp_path / name).write_text("x")
        (tmp_path / names["dead_dir"] / "config.json").write_text("{}")
        removed = storage.remove_stale_temps(tmp_path)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert sorted(p.name for p in removed) == sorted([names["dead_file"], names["dead_dir"]])
    assert sorted(os.listdir(tmp_path)) == sorted(v for k, v in names.items() if not k.startswith("dead"))


def test_the_lock_file_is_removed_and_a_waiter_locks_the_path_not_a_deleted_file(tmp_path):
    lock = tmp_path / ".run.lock"
    inside, release, order = threading.Event(), threading.Event(), []

    def second():
        with storage.exclusive(lock):
            order.append("second in")
            inside.set()
            release.wait(10)

    with storage.exclusive(lock):
        waiter = threading.Thread(target=second)
        waiter.start()
        time.sleep(0.3)  # the waiter has opened the file and blocks on it
        order.append("first out")
    assert inside.wait(10) and order == ["first out", "second in"]
    with open(lock, "a+") as third, pytest.raises(BlockingIOError):  # a newcomer finds the lock held by the waiter
        fcntl.flock(third, fcntl.LOCK_EX | fcntl.LOCK_NB)
    release.set()
    waiter.join(10)
    assert not lock.exists()


def test_stale_lock_files_are_removed_and_held_ones_kept(tmp_path):
    (tmp_path / ".stale.lock").write_text("")
    with storage.exclusive(tmp_path / ".held.lock"):
        storage.remove_stale_locks(tmp_path)
        assert sorted(os.listdir(tmp_path)) == [".held.lock"]
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (PermissionError(errno.EACCES, "Permission denied"), "permission denied"),
        (OSError(errno.EROFS, "Read-only file system"), "read-only file system"),
        (OSError(errno.ENOSPC, "No space left on device"), "no space left on device"),
        (FileExistsError(errno.EEXIST, "File exists"), "a file is in the way"),
        (NotADirectoryError(errno.ENOTDIR, "Not a directory"), "a file is in the way"),
        (OSError(errno.EIO, "Input/output error"), "input/output error"),
    ],
)
def test_writable_turns_an_os_error_into_one_line(tmp_path, error, cause):
    with pytest.raises(storage.StorageError) as err, storage.writable(tmp_path, "the run store", "set MIXUP_RUNS"):
        raise error
    assert str(err.value) == f"cannot write the run store {tmp_path}: {cause} (set MIXUP_RUNS)"
    assert err.value.__cause__ is None and err.value.__suppress_context__
    with pytest.raises(KeyError), storage.writable(tmp_path, "the run store", "hint"):
        raise KeyError("not a storage problem")
