"""Profiles, the visible data fallback, provenance, and the notebook executor's bookkeeping."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mixup_lib import profiles, provenance
from mixup_lib.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import execute_notebooks  # noqa: E402


@pytest.fixture
def toy_presets(monkeypatch):
    presets = {
        "smoke": {"alpha": 1.0, "epochs": 1, "seeds": [0], "dataset": "two_moons"},
        "quick": {"alpha": 1.0, "epochs": 5, "seeds": [0, 1, 2], "dataset": "two_moons"},
        "paper": {"alpha": 1.0, "epochs": 200, "seeds": [0, 1, 2], "dataset": "svhn"},
    }
    monkeypatch.setitem(profiles.PRESETS, "toy", presets)
    return presets


def test_resolve_applies_overrides_and_keeps_the_rest(toy_presets):
    settings = profiles.resolve("toy", "quick", alpha=0.5, epochs=None)
    assert settings == {**toy_presets["quick"], "alpha": 0.5, "profile": "quick"}
    assert profiles.resolve("toy", "paper")["epochs"] == 200


def test_resolve_coerces_int_to_float_and_list_types(toy_presets):
    settings = profiles.resolve("toy", "smoke", alpha=2, seeds=(3, 4))
    assert settings["alpha"] == 2.0 and isinstance(settings["alpha"], float)
    assert settings["seeds"] == [3, 4]


@pytest.mark.parametrize(
    ("profile", "overrides", "pattern"),
    [
        ("fast", {}, r"profile='fast' is not allowed: choose one of smoke, quick, full, paper"),
        ("quick", {"alpah": 1.0}, r"parameter 'alpah' is not a setting of toy: allowed are alpha, epochs"),
        ("quick", {"epochs": "ten"}, r"parameter epochs='ten' is not allowed: it must be a int"),
    ],
)
def test_resolve_rejects_bad_parameters_in_one_line(toy_presets, profile, overrides, pattern):
    with pytest.raises(ConfigError, match=pattern) as info:
        profiles.resolve("toy", profile, **overrides)
    assert "\n" not in str(info.value)


def test_config_error_renders_as_one_line_in_jupyter():
    assert ConfigError("alpha=-1 is not allowed")._render_traceback_() == ["ConfigError: alpha=-1 is not allowed"]


@pytest.mark.parametrize("seeds", [[], [0, 0], [-1], "0", [1.5]])
def test_check_seeds_rejects_bad_lists(seeds):
    with pytest.raises(ConfigError, match="seeds="):
        profiles.check_seeds(seeds)


def test_fallback_is_used_and_announced_when_the_data_set_is_unavailable(monkeypatch):
    from mixup_lib import data

    def fake_load(name, **kwargs):
        if name == "svhn":
            message = "svhn is not available: no files under /tmp/x/SVHN; run: python -m mixup_lib download svhn"
            raise data.DatasetUnavailable(message)
        return f"tensors of {name}"

    monkeypatch.setattr(data, "load_dataset", fake_load)
    choice = profiles.load_with_fallback("svhn", n_train=10)
    assert (choice.requested, choice.used, choice.is_fallback) == ("svhn", "fashion_mnist", True)
    assert choice.data == "tensors of fashion_mnist"
    notice = profiles.fallback_notice(choice)
    assert 'class="admonition warning"' in notice
    assert "svhn" in notice and "fashion_mnist" in notice and "python -m mixup_lib download svhn" in notice

    available = profiles.load_with_fallback("fashion_mnist")
    assert not available.is_fallback and profiles.fallback_notice(available) == ""


def test_provenance_records_versions_device_commit_and_wall_time():
    record = provenance.provenance("smoke", "cpu", started=0.0, seeds=[0, 1])
    assert record["profile"] == "smoke" and record["seeds"] == [0, 1]
    assert record["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert record["device"].startswith("cpu (")
    assert re.fullmatch(r"[0-9a-f]{12}(\+dirty)?|unknown", record["git commit"])
    assert float(record["wall time"].split()[0]) > 1e9  # seconds since the epoch we passed
    html = provenance.html_table(record, "Provenance")
    assert "<caption>Provenance</caption>" in html and html.count("<tr>") == len(record)


def test_executor_parses_papermill_style_values():
    parse = execute_notebooks.parse_value
    assert parse("0.5") == 0.5 and parse("3") == 3 and parse("[0, 1]") == [0, 1]
    assert parse("true") is True and parse("None") is None and parse("fashion_mnist") == "fashion_mnist"


def test_fingerprint_changes_with_parameters_and_source(tmp_path, monkeypatch):
    monkeypatch.setattr(execute_notebooks, "NOTEBOOKS", tmp_path)
    (tmp_path / "toy.py").write_text("# %%\nx = 1\n")
    first = execute_notebooks.fingerprint("toy", {"profile": "smoke"})
    assert first == execute_notebooks.fingerprint("toy", {"profile": "smoke"})
    assert first != execute_notebooks.fingerprint("toy", {"profile": "quick"})
    (tmp_path / "toy.py").write_text("# %%\nx = 2\n")
    assert first != execute_notebooks.fingerprint("toy", {"profile": "smoke"})


def test_up_to_date_reads_the_stored_fingerprint(tmp_path, monkeypatch):
    monkeypatch.setattr(execute_notebooks, "NOTEBOOKS", tmp_path)
    monkeypatch.setattr(execute_notebooks, "GENERATED", tmp_path / "generated")
    (tmp_path / "toy.py").write_text("# %%\nx = 1\n")
    params = {"profile": "smoke"}
    assert not execute_notebooks.is_up_to_date("toy", params)
    (tmp_path / "generated").mkdir()
    stored = {"metadata": {"mixup_companion": {"fingerprint": execute_notebooks.fingerprint("toy", params)}}}
    (tmp_path / "generated" / "toy.ipynb").write_text(json.dumps(stored))
    assert execute_notebooks.is_up_to_date("toy", params)
    assert not execute_notebooks.is_up_to_date("toy", {"profile": "quick"})


def test_executor_rejects_an_unknown_notebook_with_exit_code_2():
    done = subprocess.run([sys.executable, "tools/execute_notebooks.py", "--only", "nope"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: notebook 'nope' does not exist")
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    """An empty data root and an empty Debian folder: every image data set starts unavailable."""
    monkeypatch.setenv("MIXUP_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("MIXUP_DEBIAN_FASHION_MNIST", str(tmp_path / "debian"))
    return tmp_path


def test_data_state_follows_the_loaders_order_without_decoding(data_root):
    state = execute_notebooks.dataset_state
    assert state("two_moons") == "generated" and state("svhn") == "unavailable"
    mnist = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    (data_root / "debian").mkdir()
    for name in mnist:
        (data_root / "debian" / f"{name}.gz").write_bytes(b"")
    assert state("fashion_mnist").startswith("Debian package files in ")
    raw = data_root / "data" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in mnist:
        (raw / name).write_bytes(b"")
    assert state("fashion_mnist") == f"files under {raw.resolve()}"
    for split in ("train", "test"):
        (data_root / "data" / f"fashion_mnist-{split}.pt").write_bytes(b"")
    assert state("fashion_mnist").startswith("decoded cache in ")


def test_a_page_built_on_substituted_data_is_stale_once_the_data_set_appears(data_root, monkeypatch):
    monkeypatch.setattr(execute_notebooks, "GENERATED", data_root / "generated")
    params = {"profile": "smoke"}
    unavailable = {"svhn": "unavailable", "fashion_mnist": "unavailable"}
    assert execute_notebooks.data_states("robustness", params) == unavailable
    (data_root / "generated").mkdir()
    stored = {"metadata": {"mixup_companion": {"fingerprint": execute_notebooks.fingerprint("robustness", params)}}}
    (data_root / "generated" / "robustness.ipynb").write_text(json.dumps(stored))
    assert execute_notebooks.is_up_to_date("robustness", params)
    svhn = data_root / "data" / "SVHN"  # the real data set is installed after the page was built
    svhn.mkdir(parents=True)
    for name in ("train_32x32.mat", "test_32x32.mat"):
        (svhn / name).write_bytes(b"")
    assert execute_notebooks.data_states("robustness", params)["svhn"] == f"files under {svhn.resolve()}"
    assert not execute_notebooks.is_up_to_date("robustness", params)


def test_stale_scratch_folders_of_killed_executors_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(execute_notebooks, "GENERATED", tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = [tmp_path / f".executing-{dead.stdout.strip()}-abc", tmp_path / ".executing-old_format"]
    alive = tmp_path / f".executing-{os.getpid()}-xyz"
    for folder in (*stale, alive):
        folder.mkdir()
        (folder / "robustness.out.ipynb").write_text("{}")
    assert sorted(execute_notebooks.clean_stale_scratch()) == sorted(stale)
    assert alive.is_dir() and not any(folder.exists() for folder in stale)
