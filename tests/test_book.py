"""The book pipeline end to end: every notebook executes at the smoke profile under papermill, the
book builds with Sphinx warnings as errors, and each figure page shows its figures as images."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import execute_notebooks  # noqa: E402

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
        assert re.search(r'tags=\[[^]]*"parameters"', first), f"{name}: first code cell must be tagged parameters"
        assert '"hide-input"' in first, f"{name}: the parameters cell must show its code only on a click"
        for knob in ("profile", "device", "seeds"):
            assert re.search(rf"^{knob}(: [^=]+)? = ", text, flags=re.MULTILINE), f"{name}: no parameter {knob}"


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
        [injected] = [cell for cell in notebook["cells"] if "injected-parameters" in cell["metadata"].get("tags", [])]
        assert "hide-input" in injected["metadata"]["tags"], f"{name}: papermill's injected cell shows its code"


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


#: What the buttons of the first three folded cells of a chapter page say, top to bottom.
TOP_PROMPTS = ("Show the parameters and their defaults", execute_notebooks.INJECTED_PROMPT,
               "Show the code that loads this page's results")


@pytest.mark.slow
def test_the_folded_cells_at_the_top_of_a_page_say_what_they_unfold(built_book):
    for name in NOTEBOOKS:
        page = (built_book / "_build" / "html" / "book" / "generated" / f"{name}.html").read_text()
        prompts = re.findall(r'class="collapsed admonition-title">([^<]*)<', page.replace("&#x27;", "'"))
        assert tuple(prompts[:3]) == TOP_PROMPTS, f"{name}: the page opens with the buttons {prompts[:3]}"


def _refused(capsys, *args) -> list[str]:
    """Run the executor in this process on arguments it must refuse before any kernel starts; its stderr lines."""
    code = execute_notebooks.main(["--profile", "smoke", "--force", *args])
    captured = capsys.readouterr()
    assert code == 2 and "executing" not in captured.out, captured
    return captured.err.strip().splitlines()


@pytest.fixture
def no_execution(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("a notebook was executed")

    monkeypatch.setattr(execute_notebooks, "execute", fail)


def test_a_bad_parameter_value_stops_before_the_kernel_with_a_one_line_message(book_copy):
    copy, env = book_copy
    name = NOTEBOOKS[0]
    done = subprocess.run([sys.executable, "tools/execute_notebooks.py", "--profile", "smoke", "--only", name,
                           "--force", "-p", "seeds", "[]"], cwd=copy, env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "executing" not in done.stdout
    assert done.stderr.strip().splitlines() == [
        f"error: notebook {name}: seeds=[] is not allowed: give a non-empty list of distinct integers >= 0"]


def test_an_unknown_parameter_name_stops_with_the_closest_name_and_exit_2(capsys, no_execution):
    lines = _refused(capsys, "--only", "robustness", "-p", "alpah", "0.5")
    assert len(lines) == 1
    assert lines[0].startswith("error: notebook robustness has no parameter 'alpah' (did you mean 'alpha'?): "
                               "allowed are profile, device, seeds, alpha,")
    assert _refused(capsys, "-p", "pgd_points", "10") == [  # not in every notebook: refused for the first lacking it
        "error: notebook approximation has no parameter 'pgd_points': allowed are profile, device, seeds, alpha, "
        "n_train, n_test, noise, steps"]


@pytest.mark.parametrize(("name", "parameter", "value", "message"), [
    ("robustness", "pgd_points", "0", "pgd_points=0 is not allowed: it must be an integer >= 1"),
    ("robustness", "alpha_sweep", "[0, -1]",
     "alpha_sweep=[0, -1] is not allowed: give a non-empty list of numbers >= 0"),
    ("generalization", "alpha_grid", "[-1]", "alpha_grid=[-1] is not allowed: give a non-empty list of numbers > 0"),
    ("approximation", "steps", "0", "steps=0 is not allowed: it must be an integer >= 1"),
])
def test_every_chapter_checks_its_settings_before_the_kernel(capsys, no_execution, name, parameter, value, message):
    assert _refused(capsys, "--only", name, "-p", parameter, value) == [f"error: notebook {name}: {message}"]


def test_the_parameters_cell_is_read_as_jupytext_reads_it():
    import jupytext

    for name in NOTEBOOKS:
        cells = [c for c in jupytext.read(ROOT / "notebooks" / f"{name}.py").cells
                 if "parameters" in c.metadata.get("tags", [])]
        assert cells[0].source.strip() == execute_notebooks.parameters_cell_source(name).strip()
        assert {"profile", "device", "seeds"} <= set(execute_notebooks.parameters_cell_names(name))


def _make_data(tmp_path, apt_get: str) -> subprocess.CompletedProcess:
    """``make data`` with no Fashion-MNIST anywhere (empty data root and Debian folder) and a stand-in apt-get."""
    venv = Path(sys.executable).parent.parent
    env = {**os.environ, "MIXUP_DATA": str(tmp_path / "data"), "MIXUP_DEBIAN_FASHION_MNIST": str(tmp_path / "none")}
    return subprocess.run(["make", "-s", "-o", str(venv / ".installed-stamp"), f"VENV={venv}", f"APT_GET={apt_get}",
                           "data"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_make_data_installs_fashion_mnist_where_it_can_and_else_says_what_to_run(tmp_path):
    log = tmp_path / "apt.log"
    fake = tmp_path / "apt-get"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    fake.chmod(0o755)
    done = _make_data(tmp_path, str(fake))
    assert done.returncode == 0, done.stderr
    if os.getuid() == 0:  # as make system-deps does: update, then install the package
        assert log.read_text().splitlines() == ["update -qq", "install -y -qq dataset-fashion-mnist"]
    else:
        assert not log.exists() and "sudo make system-deps" in done.stdout
    done = _make_data(tmp_path, str(tmp_path / "no-apt-get"))
    assert done.returncode == 0
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("data: Fashion-MNIST is missing") and "system-deps" in lines[0]
