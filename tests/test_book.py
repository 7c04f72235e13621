"""The book pipeline end to end: every notebook executes at the smoke profile under papermill, the
book builds with Sphinx warnings as errors, and each figure page shows its figures as images."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(path.stem for path in (ROOT / "notebooks").glob("*.py"))


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections", []))

    for part in toc.get("parts", []):
        walk(part["chapters"])
    return files


def test_every_notebook_is_in_the_table_of_contents():
    files = _toc_files()
    for name in NOTEBOOKS:
        assert f"book/generated/{name}" in files, f"notebooks/{name}.py is not in _toc.yml"
    for entry in files:
        if entry.startswith("book/generated/"):
            assert entry.removeprefix("book/generated/") in NOTEBOOKS, f"_toc.yml names a missing notebook: {entry}"


def test_every_notebook_has_a_tagged_parameters_cell_first():
    for name in NOTEBOOKS:
        text = (ROOT / "notebooks" / f"{name}.py").read_text()
        cells = re.findall(r"^# %%(.*)$", text, flags=re.MULTILINE)
        code_cells = [c for c in cells if "[markdown]" not in c]
        first = code_cells[0] if code_cells else ""
        assert 'tags=["parameters"]' in first, f"{name}: first code cell must be tagged parameters"
        for knob in ("profile", "device", "seeds"):
            assert re.search(rf"^{knob} = ", text, flags=re.MULTILINE), f"{name}: parameters cell lacks {knob}"


@pytest.mark.slow
def test_smoke_notebooks_execute_without_errors_and_end_with_provenance(built_book):
    for name in NOTEBOOKS:
        notebook = json.loads((built_book / "book" / "generated" / f"{name}.ipynb").read_text())
        outputs = [out for cell in notebook["cells"] if cell["cell_type"] == "code" for out in cell.get("outputs", [])]
        assert not [out for out in outputs if out["output_type"] == "error"], f"{name} has error outputs"
        last_code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"][-1]
        rendered = json.dumps(last_code.get("outputs", []))
        assert "Provenance" in rendered and "git commit" in rendered, f"{name} does not end with provenance"
        assert notebook["metadata"]["mixup_companion"]["parameters"]["profile"] == "smoke"


@pytest.mark.slow
def test_built_book_has_every_page_math_and_figures(built_book):
    html_root = built_book / "_build" / "html"
    assert (html_root / "index.html").exists()
    for entry in _toc_files():
        assert (html_root / f"{entry}.html").exists(), f"page {entry} was not built"
    intro = (html_root / "book" / "intro.html").read_text()
    assert "mathjax" in intro.lower() and r"\tilde L" in intro, "math is not set up for MathJax"
    for name in NOTEBOOKS:
        page = html_root / "book" / "generated" / f"{name}.html"
        images = re.findall(r'<img[^>]+src="([^"]+\.png)"', page.read_text())
        assert images, f"{name}: no figure image on the page"
        for src in images:
            image = (page.parent / src).resolve()
            assert image.exists() and image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{name}: broken image {src}"


@pytest.mark.slow
def test_a_bad_parameter_stops_the_notebook_with_a_one_line_message(book_copy):
    if not NOTEBOOKS:
        pytest.fail("there are no notebooks to test")
    copy, env = book_copy
    name = NOTEBOOKS[0]
    done = subprocess.run(
        [sys.executable, "tools/execute_notebooks.py", "--profile", "smoke", "--only", name, "--force",
         "-p", "seeds", "[]"],
        cwd=copy, env=env, capture_output=True, text=True,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: notebook {name} failed")
    assert "ConfigError: seeds=[] is not allowed" in lines[0]
