"""JupyterLab (``make lab``) opens notebooks/*.py as notebooks, and what it saves is what ``make book`` runs.

The figure notebooks are jupytext percent scripts with no paired ``.ipynb``. Two pieces of configuration make
JupyterLab treat them as notebooks:

* the jupytext configuration (``[tool.jupytext] formats = "py:percent"`` in pyproject.toml): jupytext's
  contents manager serves a ``.py`` as a notebook and writes a saved notebook back as the percent script,
  never an ``.ipynb`` beside it;
* ``tools/jupyter/labconfig/default_setting_overrides.json`` (on ``JUPYTER_CONFIG_PATH`` in ``make lab``):
  the default viewer of Python files is "Jupytext Notebook", so a double click opens the notebook view.

A real JupyterLab server runs on a scratch copy of the notebooks (the repository's files are never written),
with the user's own Jupyter configuration and settings kept out. The tests read and save notebooks through
its contents API, as the JupyterLab page does, and, where Chromium is installed, open a notebook in the
real JupyterLab page, edit a cell and save it with Ctrl+S.

Skip policy (as in test_browser.py): without JupyterLab (or, for the browser test, Chromium and Playwright)
the tests are skipped with the reason outside CI, and fail under CI, where they are installed.
"""

from __future__ import annotations

import glob
import http.cookiejar
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
LAB_CONFIG = ROOT / "tools" / "jupyter"  # JUPYTER_CONFIG_PATH of `make lab`
LAB_OVERRIDES = LAB_CONFIG / "labconfig" / "default_setting_overrides.json"
ARTIFACTS = ROOT / "_build" / "screenshots" / "lab"
START_TIMEOUT_S = 90
# The version stamp jupytext writes into a script's header on every save; the only change a save may make.
VERSION_STAMP = ("#       format_version:", "#       jupytext_version:")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.slow


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(reason: str):
    if _in_ci():
        pytest.fail(f"{reason} (CI installs it; this test must not be skipped in CI)")
    pytest.skip(reason)


def _jupytext_config_file() -> Path | None:
    from jupytext.config import find_jupytext_configuration_file

    found = find_jupytext_configuration_file(ROOT / "notebooks")
    return Path(found) if found else None


def _without_version_stamp(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith(VERSION_STAMP))


class Lab:
    """A running JupyterLab server: its base URL, its root folder, and an HTTP client with its XSRF cookie."""

    def __init__(self, url: str, root: Path):
        self.url, self.root = url, root
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def get(self, path: str) -> dict:
        with self.opener.open(self.url + path, timeout=30) as response:
            return json.loads(response.read())

    def put(self, path: str, body: dict) -> dict:
        if not any(cookie.name == "_xsrf" for cookie in self.cookies):
            self.opener.open(self.url + "lab", timeout=30).read()  # the page sets the _xsrf cookie
        xsrf = next(cookie.value for cookie in self.cookies if cookie.name == "_xsrf")
        request = urllib.request.Request(
            self.url + path, data=json.dumps(body).encode(), method="PUT",
            headers={"Content-Type": "application/json", "X-XSRFToken": xsrf},
        )
        with self.opener.open(request, timeout=30) as response:
            return json.loads(response.read())

    def notebook(self, name: str) -> dict:
        return self.get(f"api/contents/notebooks/{name}.py?type=notebook&content=1")

    def save(self, name: str, notebook: dict) -> dict:
        body = {"type": "notebook", "format": "json", "content": notebook}
        return self.put(f"api/contents/notebooks/{name}.py", body)

    def restore(self, name: str) -> None:
        shutil.copy2(ROOT / "notebooks" / f"{name}.py", self.root / "notebooks" / f"{name}.py")


def test_jupytext_and_jupyterlab_are_configured_for_percent_scripts():
    if not NOTEBOOKS:
        pytest.fail("there are no notebooks/*.py")
    config_file = _jupytext_config_file()
    assert config_file is not None and config_file.is_relative_to(ROOT), (
        f"no jupytext configuration for notebooks/ in the repository (pyproject.toml [tool.jupytext]): {config_file}"
    )
    from jupytext.config import load_jupytext_configuration_file

    formats = load_jupytext_configuration_file(str(config_file)).formats
    assert formats in ("py:percent", ["py:percent"]), f"{config_file}: jupytext formats {formats!r}, not py:percent"
    assert LAB_OVERRIDES.is_file(), f"{LAB_OVERRIDES} is missing: JupyterLab would open .py files as text"
    overrides = json.loads(LAB_OVERRIDES.read_text())
    viewers = overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers.get("python") == "Jupytext Notebook"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if importlib.util.find_spec("jupyterlab") is None:
        _unavailable("JupyterLab is not installed (make setup installs the book extra)")
    config_file = _jupytext_config_file()
    if config_file is None or not config_file.is_relative_to(ROOT) or not LAB_OVERRIDES.is_file():
        pytest.fail("JupyterLab is not configured (see test_jupytext_and_jupyterlab_are_configured_...)", False)
    scratch = tmp_path_factory.mktemp("lab")
    root = scratch / "root"
    (root / "notebooks").mkdir(parents=True)
    for notebook in NOTEBOOKS:
        shutil.copy2(notebook, root / "notebooks" / notebook.name)
    shutil.copy2(config_file, root / config_file.relative_to(ROOT))
    runtime = scratch / "runtime"
    env = {
        **os.environ,
        "JUPYTER_CONFIG_PATH": str(LAB_CONFIG),  # as `make lab`
        # keep this user's own Jupyter and jupytext configuration out of the test
        "JUPYTER_CONFIG_DIR": str(scratch / "config"),
        "JUPYTER_RUNTIME_DIR": str(runtime),
        "JUPYTERLAB_SETTINGS_DIR": str(scratch / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(scratch / "workspaces"),
        "XDG_CONFIG_HOME": str(scratch / "xdg"),
        "JUPYTEXT_CEILING_DIRECTORIES": str(root),
    }
    command = [
        str(Path(sys.executable).parent / "jupyter-lab"), "--no-browser", "--ServerApp.ip=127.0.0.1",
        "--ServerApp.port=0", "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={root}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = (scratch / "lab.log").open("w")
    process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url, deadline = None, time.monotonic() + START_TIMEOUT_S
        while url is None and time.monotonic() < deadline and process.poll() is None:
            for info in glob.glob(str(runtime / "jpserver-*.json")):
                with open(info) as stream:
                    url = f"http://127.0.0.1:{json.load(stream)['port']}/"
            time.sleep(0.2)
        while url and time.monotonic() < deadline:
            try:
                urllib.request.urlopen(url + "api/status", timeout=5).read()
                break
            except OSError:
                time.sleep(0.2)
        else:
            log_text = (scratch / "lab.log").read_text()[-3000:]
            pytest.fail(f"JupyterLab did not start in {START_TIMEOUT_S} s:\n{log_text}")
        yield Lab(url, root)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_jupyterlab_opens_every_py_notebook_as_a_notebook(lab):
    docmanager = lab.get("lab/api/settings/@jupyterlab/docmanager-extension:plugin")
    viewers = docmanager["schema"]["properties"]["defaultViewers"]["default"]
    assert viewers.get("python") == "Jupytext Notebook", f"JupyterLab's default viewers: {viewers}"
    for path in NOTEBOOKS:
        model = lab.notebook(path.stem)
        assert model["type"] == "notebook", f"{path.name} is served as {model['type']}"
        notebook = model["content"]
        assert notebook["metadata"]["jupytext"]["text_representation"]["format_name"] == "percent"
        code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
        assert code and "parameters" in code[0]["metadata"].get("tags", []), f"{path.name}: no parameters cell"
        assert any(cell["cell_type"] == "markdown" for cell in notebook["cells"])


def test_saving_from_jupyterlab_changes_nothing_but_jupytexts_version_stamp(lab):
    for path in NOTEBOOKS:
        lab.restore(path.stem)
        saved = lab.save(path.stem, lab.notebook(path.stem)["content"])
        assert saved["type"] == "notebook"
        on_disk = (lab.root / "notebooks" / path.name).read_text()
        assert _without_version_stamp(on_disk) == _without_version_stamp(path.read_text()), (
            f"opening and saving {path.name} in JupyterLab rewrites it; write it once with "
            f"`jupytext --to py:percent -o notebooks/{path.name} notebooks/{path.name}`"
        )
        assert sorted(p.name for p in (lab.root / "notebooks").iterdir()) == sorted(p.name for p in NOTEBOOKS)


def test_an_edit_saved_from_jupyterlab_is_what_make_book_executes(lab, monkeypatch):
    import jupytext

    spec = importlib.util.spec_from_file_location("execute_notebooks", ROOT / "tools" / "execute_notebooks.py")
    executor = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(executor)
    monkeypatch.setattr(executor, "NOTEBOOKS", lab.root / "notebooks")

    name = NOTEBOOKS[0].stem
    lab.restore(name)
    before = executor.fingerprint(name, {"profile": "smoke"})
    notebook = lab.notebook(name)["content"]
    marker = "Edited in JupyterLab: this sentence must reach the book."
    notebook["cells"].insert(1, {"cell_type": "markdown", "id": "labedit1", "metadata": {}, "source": marker})
    notebook["cells"].append({
        "cell_type": "code", "id": "labedit2", "metadata": {}, "execution_count": None, "outputs": [],
        "source": "lab_edit = 1 + 1",
    })
    lab.save(name, notebook)

    path = lab.root / "notebooks" / f"{name}.py"
    text = path.read_text()
    assert f"# %% [markdown]\n# {marker}\n" in text and text.rstrip().endswith("# %%\nlab_edit = 1 + 1")
    assert "format_name: percent" in text
    assert not list((lab.root / "notebooks").glob("*.ipynb")), "JupyterLab wrote a paired .ipynb"
    # what tools/execute_notebooks.py reads: the same cells, and a new fingerprint, so `make book` re-executes it
    cells = [cell.source for cell in jupytext.read(path).cells]
    assert marker in cells and "lab_edit = 1 + 1" in cells
    assert executor.fingerprint(name, {"profile": "smoke"}) != before
    lab.restore(name)


def test_the_jupyterlab_page_opens_a_py_notebook_and_saves_an_edit(lab):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright's Python package is not installed (pip install playwright; make setup)")
    executable = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not executable or not os.access(executable, os.X_OK):
        _unavailable("Chromium is not installed (apt-get install chromium; make system-deps)")

    name = NOTEBOOKS[0].stem
    lab.restore(name)
    path = lab.root / "notebooks" / f"{name}.py"
    edit = "# edited in the JupyterLab page"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(60_000)
        page.goto(lab.url + f"lab/tree/notebooks/{name}.py")
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
        assert page.locator(".jp-FileEditor").count() == 0, f"{name}.py opened as a text file"
        parameters = page.locator(".jp-NotebookPanel .jp-CodeCell").first
        parameters.locator(".cm-content").click()
        page.keyboard.press("Control+End")
        page.keyboard.type("\n" + edit)
        page.keyboard.press("Escape")
        page.keyboard.press("Control+s")
        deadline = time.monotonic() + 30
        while edit not in path.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        page.screenshot(path=str(ARTIFACTS / f"jupyterlab_{name}.png"))
        browser.close()
    text = path.read_text()
    assert edit in text, "Ctrl+S in JupyterLab did not write the edit to the .py file"
    assert 'tags=["parameters", "hide-input"]' in text and "format_name: percent" in text
    assert not list((lab.root / "notebooks").glob("*.ipynb")), "JupyterLab wrote a paired .ipynb"
    lab.restore(name)
