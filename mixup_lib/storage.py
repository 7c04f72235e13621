"""Files that survive a crash and say when they are damaged: the one writer used by the run store and the data cache.

- Atomic writes (:func:`atomic_write_bytes`, :func:`atomic_write_text`, :func:`atomic_write_json`,
  :func:`atomic_save`): the new content goes to a temporary file in the same folder, is flushed to disk
  and renamed over the target, so a reader sees the old file or the new one, never a mix.
- SHA-256 sidecars (``checksum=True``): ``<file>.sha256`` in ``sha256sum`` format, written with the file
  so that a reader never takes a mismatched pair for a good one. The sidecar is renamed into place
  listing the new digest *and* the previous ones, then the file, then the sidecar again with the new
  digest alone: a process killed at any point leaves a file whose digest its sidecar lists.
  :func:`read_verified` reads a file and says whether it matches (:func:`checksum_problem` says why not).
- :func:`move_aside` renames a damaged file or folder to ``<name>.corrupt-<time>-<pid>`` (its sidecar
  with it) and logs one warning line.
- Temporary names are ``.<name>.<host>.<pid>.<token>.tmp``; :func:`remove_stale_temps` deletes those of
  processes of this host that no longer exist (left by a ``kill -9``).
- :func:`writable` turns an :class:`OSError` (permission denied, read-only file system, a file in the
  way, a full disk) into a one-line :class:`StorageError` naming the folder, the cause and the remedy.
- :func:`exclusive` holds a POSIX lock file and removes it when done.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".sha256"
TEMP_SUFFIX = ".tmp"
_CHUNK = 1 << 20
_HOST = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"
_TEMP_NAME = re.compile(rf"^\..+\.{re.escape(_HOST)}\.(?P<pid>\d+)\.[0-9a-f]+{re.escape(TEMP_SUFFIX)}$")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")

#: Causes worth a plain phrase; any other errno is described by ``os.strerror``.
_CAUSES = {
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EEXIST: "a file is in the way",
    errno.ENOTDIR: "a file is in the way",
}


class RunError(RuntimeError):
    """A run directory cannot be used (corrupt, unfinished, or without weights); the message is one line."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


class StorageError(RunError):
    """A folder of the run store or of the data root cannot be created or written; the message is one line."""


# ----------------------------------------------------------------------------------------------------------
# Errors


def describe_os_error(err: OSError) -> str:
    """A short lower-case phrase for an OS error: ``"no space left on device"``, ``"a file is in the way"``…"""
    if err.errno in _CAUSES:
        return _CAUSES[err.errno]
    return (os.strerror(err.errno) if err.errno else str(err) or type(err).__name__).lower()


@contextlib.contextmanager
def writable(folder: str | os.PathLike, what: str, hint: str) -> Iterator[None]:
    """Turn an :class:`OSError` raised inside into a one-line :class:`StorageError`.

    The message reads ``cannot write <what> <folder>: <cause> (<hint>)``, e.g. ``cannot write the run store
    /x/runs: permission denied (set MIXUP_RUNS or --runs-dir to a writable folder)``.
    """
    try:
        yield
    except OSError as err:
        raise StorageError(f"cannot write {what} {folder}: {describe_os_error(err)} ({hint})") from None


# ----------------------------------------------------------------------------------------------------------
# Temporary names and their cleanup


def _temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{_HOST}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}")


def _open_temp(path: Path) -> tuple[Path, IO[bytes]]:
    """A new temporary file next to ``path``, open for writing (mode 0666 less the umask, like ``open``)."""
    tmp = _temp_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    return tmp, os.fdopen(fd, "wb")


def make_temp_dir(parent: Path, name: str) -> Path:
    """A new empty folder ``parent/.<name>.<host>.<pid>.<token>.tmp`` (0777 less the umask)."""
    tmp = _temp_path(Path(parent) / name)
    os.mkdir(tmp, 0o777)
    return tmp


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files and folders in ``folder`` left by dead processes of this host; return them."""
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            match = _TEMP_NAME.match(entry.name)
            if match is None or _pid_alive(int(match["pid"])):
                continue
            with contextlib.suppress(OSError):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


# ----------------------------------------------------------------------------------------------------------
# Atomic writes


class _HashingWriter:
    """A write-only file proxy that feeds every byte written to a SHA-256."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw, self.sha = raw, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (best effort: not every file system allows fsync on a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_temp(path: Path, write: Callable[[Any], None]) -> tuple[Path, str]:
    """Write a temporary file next to ``path`` with ``write(file)``, flushed to disk; return it and its SHA-256."""
    tmp, handle = _open_temp(path)
    try:
        with handle:
            writer = _HashingWriter(handle)
            write(writer)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp, writer.sha.hexdigest()


def _replace(tmp: Path, path: Path) -> None:
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_with(path: str | os.PathLike, write: Callable[[Any], None], *, checksum: bool = False) -> None:
    """Write ``path`` atomically with ``write(file)`` (a binary file object); with ``checksum``, its sidecar too."""
    path = Path(path)
    tmp, digest = _write_temp(path, write)
    if not checksum:
        _replace(tmp, path)
        return
    sidecar = sidecar_path(path)
    try:
        _write_sidecar(sidecar, path.name, [digest, *_listed_digests(sidecar)])  # lists the new and the old
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _replace(tmp, path)
    _write_sidecar(sidecar, path.name, [digest])


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, checksum: bool = False) -> None:
    """Write ``data`` to ``path`` atomically: the file holds its old content or ``data``, never a mix."""
    atomic_write_with(path, lambda f: f.write(data), checksum=checksum)


def atomic_write_text(path: str | os.PathLike, text: str, *, checksum: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode(), checksum=checksum)


def atomic_write_json(path: str | os.PathLike, obj: Any, *, checksum: bool = False) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically (temp file in the same folder, fsync, rename)."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=True) + "\n", checksum=checksum)


def atomic_save(obj: Any, path: str | os.PathLike, *, checksum: bool = False) -> None:
    """``torch.save`` atomically (same recipe as :func:`atomic_write_json`)."""
    import torch

    atomic_write_with(path, lambda f: torch.save(obj, f), checksum=checksum)


# ----------------------------------------------------------------------------------------------------------
# Sidecars


def sidecar_path(path: str | os.PathLike) -> Path:
    """``<file>.sha256``."""
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def _write_sidecar(sidecar: Path, name: str, digests: list[str]) -> None:
    unique = list(dict.fromkeys(digests))
    text = "".join(f"{digest}  {name}\n" for digest in unique)
    tmp, _ = _write_temp(sidecar, lambda f: f.write(text.encode()))
    _replace(tmp, sidecar)


def _listed_digests(sidecar: Path) -> list[str]:
    """The digests a sidecar lists (empty when it is missing or unreadable)."""
    try:
        lines = sidecar.read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    words = (line.split()[0] for line in lines if line.split())
    return [word for word in words if _DIGEST.match(word)]


def write_sidecar(path: str | os.PathLike) -> None:
    """Write the sidecar of an existing file (e.g. one written before sidecars existed)."""
    path = Path(path)
    _write_sidecar(sidecar_path(path), path.name, [hashlib.sha256(path.read_bytes()).hexdigest()])


def read_verified(path: str | os.PathLike) -> tuple[bytes, str | None]:
    """The bytes of ``path`` and ``None`` when their SHA-256 is listed in its sidecar, else why not.

    The reason is a phrase: ``"it has no checksum file x.sha256"`` (e.g. written by an earlier version)
    or ``"its sha256 does not match x.sha256"``. Raises :class:`OSError` when ``path`` cannot be read.
    """
    path = Path(path)
    data = path.read_bytes()
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        return data, f"it has no checksum file {sidecar.name}"
    if hashlib.sha256(data).hexdigest() not in _listed_digests(sidecar):
        return data, f"its sha256 does not match {sidecar.name}"
    return data, None


def checksum_problem(path: str | os.PathLike) -> str | None:
    """``None`` when ``path`` matches its sidecar, else why not (see :func:`read_verified`)."""
    return read_verified(path)[1]


def is_missing_sidecar(problem: str | None) -> bool:
    """Whether a :func:`read_verified` problem is only that the sidecar is absent (an older writer)."""
    return problem is not None and problem.startswith("it has no checksum file")


# ----------------------------------------------------------------------------------------------------------
# Moving aside, removing


def move_aside(path: str | os.PathLike, reason: str, then: str = "") -> Path:
    """Rename a damaged file or folder (and its sidecar) to ``<name>.corrupt-<time>-<pid>``; log one line.

    The line reads ``<path> is corrupt (<reason>); moved to <new name>[ and <then>]``.
    """
    path = Path(path)
    target = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    os.replace(path, target)
    if sidecar_path(path).is_file():
        os.replace(sidecar_path(path), sidecar_path(target))
    log.warning("%s is corrupt (%s); moved to %s%s", path, reason, target.name, f" and {then}" if then else "")
    return target


def remove_quietly(path: str | os.PathLike) -> None:
    """Delete a file or folder tree if it exists; ignore errors (cleanup must not hide the real error)."""
    path = Path(path)
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


# ----------------------------------------------------------------------------------------------------------
# Lock files


def _same_file(handle: IO[str], path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
    except OSError:
        return False


#: flock's answers on a file system without locks (Lustre mounted without ``-o flock``: ENOSYS).
LOCK_ERRNOS = (errno.ENOSYS, errno.ENOLCK, errno.EOPNOTSUPP)


def no_lock_message(folder: Path, code: int) -> str:
    """One line: ``folder`` cannot hold the run lock, and what to do."""
    return (f"run store {Path(folder).resolve()} does not support file locks (flock: {errno.errorcode[code]}; "
            "Lustre needs -o flock): set MIXUP_RUNS to a folder on a file system with flock")


@contextlib.contextmanager
def exclusive(lock_path: str | os.PathLike, waiting_message: str | None = None) -> Iterator[None]:
    """Hold an exclusive POSIX ``flock`` on ``lock_path`` and delete the file when done.

    The kernel releases the lock of a killed process. A waiter that gets the lock of a file its holder
    has just deleted opens the path again, so two processes never hold "the" lock at once. Without
    ``fcntl`` (Windows) there is no lock. ``waiting_message`` is printed to stderr when we have to wait.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    lock_path = Path(lock_path)
    while True:
        handle = open(lock_path, "a+")  # noqa: SIM115 (closed below, after the unlink)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting_message:
                print(waiting_message, file=sys.stderr, flush=True)
                waiting_message = None
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError as err:
            handle.close()
            if err.errno not in LOCK_ERRNOS:
                raise
            raise StorageError(no_lock_message(lock_path.parent, err.errno)) from None
        if _same_file(handle, lock_path):
            break
        handle.close()  # the holder deleted it while we waited: lock the new one
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        handle.close()


def remove_stale_locks(folder: str | os.PathLike) -> None:
    """Delete the ``.*.lock`` files in ``folder`` that no process holds (left by a killed process)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return

    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if not (entry.name.startswith(".") and entry.name.endswith(".lock")):
                continue
            with contextlib.suppress(OSError), open(entry.path, "a+") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                if _same_file(handle, Path(entry.path)):
                    os.unlink(entry.path)


__all__ = [
    "SIDECAR_SUFFIX",
    "RunError",
    "StorageError",
    "atomic_save",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "atomic_write_with",
    "checksum_problem",
    "describe_os_error",
    "exclusive",
    "is_missing_sidecar",
    "make_temp_dir",
    "move_aside",
    "read_verified",
    "remove_quietly",
    "remove_stale_locks",
    "remove_stale_temps",
    "sidecar_path",
    "writable",
    "write_sidecar",
]
