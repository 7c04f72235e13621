"""Faults on the book path: a kernel that dies, and an executor killed with SIGKILL at several points of a
smoke-profile chapter. After each kill a rerun must finish, leave no scratch behind, and give the same numbers
as an uninterrupted run."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import make_book_copy

from mixup_lib import results

ROOT = Path(__file__).resolve().parents[1]

DYING_NOTEBOOK = '''# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
profile = "quick"

# %%
print("before the kernel dies")

# %%
import os
import signal

os.kill(os.getpid(), signal.SIGKILL)
'''


def test_a_dead_kernel_is_reported_in_one_line_and_its_partial_output_kept(tmp_path):
    (tmp_path / "tools").mkdir()
    shutil.copy(ROOT / "tools" / "execute_notebooks.py", tmp_path / "tools")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "dying.py").write_text(DYING_NOTEBOOK)
    done = subprocess.run([sys.executable, "tools/execute_notebooks.py", "--profile", "smoke"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: notebook dying: the kernel died in cell 4 (most likely out of memory: try a smaller profile or "
        "free memory; else a crash in native code) (partial output: book/generated/failed/dying.ipynb)"]
    generated = tmp_path / "book" / "generated"
    assert "before the kernel dies" in (generated / "failed" / "dying.ipynb").read_text()
    assert not (generated / "dying.ipynb").exists() and not list(generated.glob(".executing-*"))


# ---------------------------------------------------------------- kill -9 at several points of a chapter

CHAPTER = "robustness"  # the only chapter with training and attacks
# The smoke preset trains two epochs (a window of one epoch after the first checkpoint for the kill during
# training), and its α sweep reuses Fig. 1a's models; the reference is the chapter drawn from the committed
# smoke results.
EXECUTE = ["tools/execute_notebooks.py", "--profile", "smoke", "--only", CHAPTER, "--force"]
TIMEOUT_S = 300
# Output that may differ between equal runs: timings, whether a run was trained, resumed or loaded, and the
# provenance line at the top (when, where, commit: the reference is read from the committed file) and the provenance
# table (wall time, commit) that ends the page.
VOLATILE = re.compile(r"(?<=seed \d: )\w+\s+\(training took [\d.]+ s\)|\d+(\.\d+)? s\b"
                      r"|<p class=\"mixup-provenance\">.*?</p>", re.DOTALL)


def _start(copy: Path, env: dict, **extra_env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *EXECUTE], cwd=copy, env={**env, **extra_env}, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (the kernel runs in a session of its own, so killpg alone misses it)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kill_when(process: subprocess.Popen, condition, what: str) -> None:
    """Poll ``condition`` every 10 ms; when it holds, SIGKILL the executor's process group and its kernel."""
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        assert process.poll() is None, f"the executor finished before {what}: {process.communicate()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)
    victims = _descendants(process.pid)
    os.killpg(process.pid, signal.SIGKILL)
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait(timeout=30)


def _run_to_completion(copy: Path, env: dict, **extra_env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *EXECUTE], cwd=copy, env={**env, **extra_env}, capture_output=True,
                          text=True, timeout=TIMEOUT_S, start_new_session=True)


def _numbers(notebook_path: Path) -> list[tuple]:
    """Per code cell except the closing provenance cell: its printed text (streams joined: how the kernel splits
    them depends on timing) and its displayed outputs, timings masked; images compared as bytes."""
    cells = [cell for cell in json.loads(notebook_path.read_text())["cells"] if cell["cell_type"] == "code"]
    numbers = []
    for index, cell in enumerate(cells[:-1]):
        outputs = cell.get("outputs", [])
        printed = "".join("".join(out["text"]) for out in outputs if out["output_type"] == "stream")
        shown = [(data.get("text/html") or data.get("text/plain"), data.get("image/png"))
                 for data in (out.get("data", {}) for out in outputs if out["output_type"] != "stream")]
        shown = [(VOLATILE.sub("", "".join(text) if isinstance(text, list) else text or ""), image)
                 for text, image in shown]
        numbers.append((index, VOLATILE.sub("", printed), shown))
    return numbers


def _unfinished_runs(store: Path) -> list[Path]:
    return [run for run in store.glob(f"{CHAPTER}-*") if (run / "metrics.jsonl").is_file()
            and not (run / "final.json").is_file()]


def _attack_results(store: Path) -> list[Path]:
    return list((store / "attack-cache").glob("*.json"))


@pytest.mark.slow
def test_killed_executions_resume_to_the_numbers_of_an_uninterrupted_run(tmp_path):
    # the uninterrupted reference: the chapter drawn from the committed smoke results (results/robustness/)
    reference, reference_env = make_book_copy(tmp_path / "reference")
    assert _run_to_completion(reference, reference_env).returncode == 0
    faulty, env = make_book_copy(tmp_path / "faulty")
    env = {**env, "MIXUP_RESULTS": str(tmp_path / "nothing-committed")}  # so the chapter computes, and is killed
    store, generated = faulty / "runs", faulty / "book" / "generated"

    # (a) during training: a run has finished an epoch (metrics.jsonl, checkpoint) but not the last one
    _kill_when(_start(faulty, env), lambda: _unfinished_runs(store), "an epoch of training")
    assert _unfinished_runs(store), "the kill did not hit training"
    # (b) during the attacks: the rerun finishes training (resuming), then is killed after the first attack result
    _kill_when(_start(faulty, env), lambda: _attack_results(store), "the first attack result")
    attacked = len(_attack_results(store))
    # (c) while writing the executed notebook: the executor kills itself right before the final write
    killed = _run_to_completion(faulty, env, MIXUP_FAULT="before-write")
    assert killed.returncode == -signal.SIGKILL and not (generated / f"{CHAPTER}.ipynb").exists()
    assert list(generated.glob(".executing-*")), "the fault before the write left no scratch folder to clean"
    assert len(_attack_results(store)) > attacked, "the kill during the attacks left no attack to redo"

    done = _run_to_completion(faulty, env)
    assert done.returncode == 0, done.stderr
    assert "left by an executor that was killed" in done.stdout
    expected = _numbers(reference / "book" / "generated" / f"{CHAPTER}.ipynb")
    assert sum(len(shown) for *_, shown in expected) >= 10 and any(image for *_, shown in expected
                                                                   for _, image in shown)
    assert _numbers(generated / f"{CHAPTER}.ipynb") == expected
    assert not list(generated.glob(".executing-*")) and not list(generated.glob("*.tmp"))
    # the interrupted computation reproduces the committed smoke results (counts exactly, losses within 1e-5)
    [recomputed] = (store / "results" / CHAPTER).glob("smoke-*.json")
    committed = results.load(ROOT / "results" / CHAPTER / "smoke.json")
    assert results.differences(committed, results.load(recomputed)) == []
