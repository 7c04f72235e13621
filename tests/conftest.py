"""Fixtures shared by the test modules: the book built once per test session at the smoke profile."""

import os
import shutil
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


@pytest.fixture(scope="session")
def built_book(tmp_path_factory):
    """The root of a copy of the book after executing every notebook at the smoke profile and building; site in
    _build/html. Built once per test session: under pytest-xdist the first worker builds it, the others wait for
    it (a lock in the session's shared temporary folder).

    The pages draw the committed smoke results (results/<chapter>/smoke.json), so the build is given empty data
    folders: the default build touches no data set (a fresh machine has none).
    """
    from filelock import FileLock  # a dependency of torch

    shared = tmp_path_factory.getbasetemp()
    shared = shared.parent if os.environ.get("PYTEST_XDIST_WORKER") else shared
    with FileLock(str(shared / "built-book.lock")):
        copy = shared / "built-book"
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
