"""Faults on the book path: a kernel that dies, and an executor killed with SIGKILL at several points of a
smoke-profile chapter. After each kill a rerun must finish, leave no scratch behind, and give the same numbers
as an uninterrupted run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

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
        "free memory) (partial output: book/generated/failed/dying.ipynb)"]
    generated = tmp_path / "book" / "generated"
    assert "before the kernel dies" in (generated / "failed" / "dying.ipynb").read_text()
    assert not (generated / "dying.ipynb").exists() and not list(generated.glob(".executing-*"))
