"""The command line: `python -m mixup_lib train|download`, one-line errors with exit code 2."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mixup_lib import data
from mixup_lib.__main__ import main
from mixup_lib.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
FASHION = data.debian_fashion_mnist_dir()
TINY = ["train", "--dataset", "two_moons", "--model", "two-layer-relu", "--model-kwarg", "hidden=16", "--epochs", "2",
        "--n-train", "128", "--n-test", "64", "--device", "cpu"]  # fmt: skip


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: tiny models gain nothing from more, and on a shared 2-core machine several
    processes spinning two OpenMP threads each slow down a hundredfold. Restored after each test."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def folders(tmp_path, monkeypatch):
    """Point the store, results and data folders at empty temporary folders."""
    monkeypatch.setenv("MIXUP_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("MIXUP_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("MIXUP_DATA", str(tmp_path / "data"))
    return tmp_path


def _one_line_error(capsys, argv, *fragments):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0], err
    assert "Traceback" not in err


def _replace(argv, flag, value):
    argv = list(argv)
    argv[argv.index(flag) + 1] = value
    return argv


@pytest.mark.parametrize(
    ("flag", "value", "fragments"),
    [
        ("--dataset", "mnist9", ["dataset='mnist9'", "fashion_mnist"]),
        ("--model", "resnet-9000", ["model='resnet-9000'", "wrn-<depth>-<k>"]),
        ("--model", "wrn-15-2", ["model='wrn-15-2'", "(depth - 4) % 6 == 0"]),
        ("--epochs", "0", ["epochs=0", ">= 1"]),
        ("--epochs", "-3", ["epochs=-3"]),
        ("--epochs", "three", ["--epochs", "'three'"]),
        ("--n-train", "0", ["n_train=0"]),
    ],
)
def test_bad_values_exit_2_with_one_line(folders, capsys, flag, value, fragments):
    _one_line_error(capsys, _replace(TINY, flag, value), *fragments)


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [
        (["--method", "mixup", "--alpha", "-1"], ["alpha=-1.0", ">= 0"]),
        (["--batch-size", "0"], ["batch_size=0"]),
        (["--batch-size", "-64"], ["batch_size=-64"]),
        (["--method", "sgd"], ["method='sgd'", "erm, mixup"]),
        (["--schedule", "step"], ["schedule='step'"]),
        (["--model-kwarg", "depth=3"], ["'depth'"]),
        (["--model-kwarg", "nonsense"], ["'nonsense' is not KEY=VALUE"]),
        (["--device", "tpu"], ["device='tpu'"]),
        (["--colour", "red"], ["unrecognized arguments: --colour red"]),
    ],
)
def test_bad_flags_exit_2_with_one_line(folders, capsys, extra, fragments):
    _one_line_error(capsys, TINY + extra, *fragments)


def test_missing_required_flag_and_missing_command_exit_2(folders, capsys):
    _one_line_error(capsys, ["train", "--dataset", "two_moons", "--model", "logreg"], "--epochs")
    _one_line_error(capsys, [], "COMMAND")


@pytest.mark.skipif(not (FASHION / "train-images-idx3-ubyte.gz").is_file(), reason="needs dataset-fashion-mnist")
def test_n_train_larger_than_the_data_set_exits_2(folders, capsys):
    argv = ["train", "--dataset", "fashion_mnist", "--model", "wrn-10-1", "--epochs", "1", "--n-train", "60001"]
    _one_line_error(capsys, argv, "n_train=60001", "60000")
    assert not (folders / "runs").exists()  # refused before anything was written


def test_n_train_larger_than_the_data_set_exits_2_without_the_files(folders, capsys, monkeypatch):
    """The same path for any data set, with the loader's own error stubbed in (no data files needed)."""

    def too_big(name, **kwargs):
        raise ConfigError(f"n_train={kwargs['n_train']} is not allowed: {name} has 73257 training images")

    monkeypatch.setattr(data, "load_dataset", too_big)
    argv = ["train", "--dataset", "svhn", "--model", "wrn-16-8", "--epochs", "1", "--n-train", "100000"]
    _one_line_error(capsys, argv, "n_train=100000", "73257")


def test_an_unavailable_data_set_exits_2(folders, capsys, monkeypatch):
    def unavailable(name, **kwargs):
        raise data.DatasetUnavailable(f"{name} is not available: no files; run: python -m mixup_lib download {name}")

    monkeypatch.setattr(data, "load_dataset", unavailable)
    _one_line_error(capsys, ["train", "--dataset", "cifar10", "--model", "wrn-10-1", "--epochs", "1"], "cifar10")
    monkeypatch.setattr(data, "download_dataset", lambda name, root=None: unavailable(name))
    _one_line_error(capsys, ["download", "svhn"], "svhn is not available")


def test_train_then_store_hit(folders, capsys):
    assert main(TINY) == 0
    out = capsys.readouterr()
    assert re.fullmatch(r"run: .*\ntest accuracy 0\.\d{4}, wall time \d+\.\d s \(trained\)\n", out.out)
    assert "epoch 2/2: train loss" in out.err
    assert main([*TINY, "--no-progress"]) == 0
    out = capsys.readouterr()
    assert out.out.endswith("(from store)\n") and out.err == ""


def test_download_two_moons_needs_nothing(folders, capsys):
    assert main(["download", "two_moons"]) == 0
    assert "two_moons" in capsys.readouterr().out


def test_help(capsys):
    assert main(["--help"]) == 0
    assert "train" in capsys.readouterr().out
    assert main(["train", "--help"]) == 0
    text = capsys.readouterr().out
    for flag in ("--dataset", "--model", "--method", "--alpha", "--epochs", "--batch-size", "--n-train", "--device"):
        assert flag in text
    assert "paper: 64" in text and "onecycle" in text


def test_python_dash_m_entry_point():
    """The real `python -m mixup_lib`, in a subprocess: help works, a bad value is one line and exit 2."""
    ok = subprocess.run([sys.executable, "-m", "mixup_lib", "--help"], cwd=REPO, capture_output=True, text=True)
    assert ok.returncode == 0 and "download" in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "mixup_lib", "train", "--dataset", "nope", "--model", "logreg", "--epochs", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and bad.stderr.startswith("error: dataset='nope'")


# -- reliability: one line for each mistake, no clutter --------------------------------------------------------


def _without_model_kwargs(argv):
    argv = list(argv)
    i = argv.index("--model-kwarg")
    return argv[:i] + argv[i + 2 :]


@pytest.mark.parametrize("model", ["wrn-10-1", "preact-resnet18"])
def test_a_conv_net_on_two_moons_exits_2_with_one_line_naming_what_fits(folders, capsys, model):
    argv = _replace(_without_model_kwargs(TINY), "--model", model)
    _one_line_error(capsys, argv, f"model={model!r}", "two_moons", "logreg or two-layer-relu", "image data set")
    assert not (folders / "runs").exists()


@pytest.mark.parametrize("device", ["cuda:x", "cpu:-1", "gpu", "cuda:", "cuda:-1"])
def test_a_malformed_device_exits_2_with_one_line_listing_the_allowed_forms(folders, capsys, device):
    _one_line_error(capsys, _replace(TINY, "--device", device), f"device={device!r}", "cuda:<i>", "mps")


def test_cuda_on_a_machine_without_cuda_exits_2_with_one_line(folders, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    _one_line_error(capsys, _replace(TINY, "--device", "cuda:0"), "device='cuda:0' is not available", "no CUDA GPU")


@pytest.mark.parametrize("name", ["n" * 300, "é" * 200, "a/b", "a\tb"])
def test_an_over_long_or_odd_name_exits_2_with_one_line(folders, capsys, name):
    _one_line_error(capsys, [*TINY, "--name", name], "name=", "is not allowed")
    assert not (folders / "runs").exists()  # refused before anything was written


def test_an_empty_runs_dir_means_the_default_store_not_the_current_folder(folders, capsys, monkeypatch):
    cwd = folders / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    assert main([*TINY, "--no-progress", "--runs-dir", "", "--results-dir", ""]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"run: {folders / 'runs'}{'/'}run-") and list(cwd.iterdir()) == []


def test_a_divergence_from_weight_decay_exits_2_with_one_line_blaming_weight_decay(folders, capsys):
    argv = [*_replace(_replace(TINY, "--epochs", "3"), "--n-train", "256"), "--weight-decay", "1e4", "--no-progress"]
    _one_line_error(capsys, argv, "training diverged", "weight_decay=10000.0 is too large for lr=0.1")


def test_configs_with_the_same_numbers_reuse_one_run(folders, capsys):
    """mixup with α = 0 is ERM and two moons has no augmentation: the store returns the ERM run."""
    assert main([*TINY, "--no-progress"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    for extra in (["--method", "mixup", "--alpha", "0"], ["--augment"], ["--noise", "0.1"]):
        assert main([*TINY, "--no-progress", *extra]) == 0
        out = capsys.readouterr().out
        assert out.splitlines()[0] == first and out.endswith("(from store)\n"), extra
    assert len(list((folders / "runs").glob("run-*"))) == 1
