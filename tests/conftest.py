"""Fixtures shared by the test modules: the book built once per test session at the smoke profile."""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("book", "notebooks", "tools", "results", "_config.yml", "_toc.yml")


def _run(command, cwd, env):
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(map(str, command))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def make_book_copy(copy: Path) -> tuple[Path, dict[str, str]]:
    """Copy the book's sources into ``copy`` with its own run store (data shared with the repo); (copy, env)."""
    copy.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("generated", "__pycache__"))
        elif source.exists():
            shutil.copy(source, copy / name)
    data_root = os.environ.get("MIXUP_DATA", str(ROOT / "data"))
    env = {**os.environ, "MIXUP_RUNS": str(copy / "runs"), "MIXUP_DATA": data_root}
    return copy, env


@pytest.fixture(scope="session")
def book_copy(tmp_path_factory):
    """A copy of the book's sources in a scratch folder, with its own run store (data shared with the repo)."""
    return make_book_copy(tmp_path_factory.mktemp("book"))


def _shared_temp(config: pytest.Config) -> Path:
    """The session's temporary folder that every pytest-xdist worker sees (each worker's own is one below)."""
    base = config._tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def build_smoke_book(shared: Path) -> Path:
    """Execute every notebook at the smoke profile in a copy of the book under ``shared`` and build the site, once:
    under a lock, and skipped when ``shared/built-book/.built`` exists. Returns the copy's root."""
    from filelock import FileLock  # a dependency of torch

    copy = shared / "built-book"
    with FileLock(str(shared / "built-book.lock")):
        if not (copy / ".built").exists():
            shutil.rmtree(copy, ignore_errors=True)
            copy, env = make_book_copy(copy)
            nothing = copy / "no-data"
            nothing.mkdir()
            env = {**env, "MIXUP_DATA": str(nothing), "MIXUP_DEBIAN_FASHION_MNIST": str(nothing)}
            _run([sys.executable, "tools/execute_notebooks.py", "--profile", "smoke"], copy, env)
            jupyter_book = Path(sys.executable).parent / "jupyter-book"
            _run([str(jupyter_book), "build", ".", "--warningiserror", "--keep-going", "--quiet"], copy, env)
            (copy / ".built").touch()
    return copy


_BOOK_BUILDER: list[subprocess.Popen] = []


def pytest_collection_finish(session):
    """Start building the smoke book in the background as soon as the tests that need it are collected (and not
    deselected), so that no worker sits idle waiting for it (the first worker starts it; the fixture then waits
    on its lock)."""
    if os.environ.get("PYTEST_XDIST_WORKER", "gw0") != "gw0" or not any(
            "built_book" in getattr(item, "fixturenames", ()) for item in session.items):
        return
    shared = _shared_temp(session.config)
    build = f"import sys; sys.path.insert(0, {str(ROOT / 'tests')!r}); import conftest, pathlib; " \
            f"conftest.build_smoke_book(pathlib.Path({str(shared)!r}))"
    _BOOK_BUILDER.append(subprocess.Popen([sys.executable, "-c", build], cwd=ROOT, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, start_new_session=True))


def pytest_sessionfinish(session, exitstatus):
    """Another worker may still need the book: wait for the builder, unless the session was interrupted."""
    for builder in _BOOK_BUILDER:
        if exitstatus == pytest.ExitCode.INTERRUPTED and builder.poll() is None:
            os.killpg(builder.pid, signal.SIGTERM)
        builder.wait()


@pytest.fixture(scope="session")
def built_book(request):
    """The root of a copy of the book after executing every notebook at the smoke profile and building; site in
    _build/html. Built once per test session, in the background from the moment the tests are collected; a worker
    that needs it first waits on the builder's lock (and builds it itself, showing why, if the background build
    failed).

    The pages draw the committed smoke results (results/<chapter>/smoke.json), so the build is given empty data
    folders: the default build touches no data set (a fresh machine has none).
    """
    return build_smoke_book(_shared_temp(request.config))
