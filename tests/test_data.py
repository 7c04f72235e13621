"""Data loading through torchvision's own classes, on tiny files written in each data set's real format.

Every image test writes files exactly as the real archives hold them (CIFAR python pickle batches, SVHN
MATLAB .mat, MNIST-style idx, plain or gzipped) into a temporary root and loads them with
:func:`mixup_lib.data.load_dataset`, the code path used for the real data. One test reads the real
Fashion-MNIST from Debian's package when it is installed.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import logging
import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
import torchvision.datasets as tvd

from mixup_lib import data, storage
from mixup_lib.errors import ConfigError

REAL_DEBIAN = data.DEBIAN_FASHION_MNIST_DIR
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _offline(tmp_path_factory, monkeypatch):
    """No test touches the network or the real Debian folder unless it says so."""
    monkeypatch.setattr(data, "_internet_reachable", lambda host, port, timeout=3.0: False)
    monkeypatch.setenv(data.DEBIAN_FASHION_MNIST_ENV, str(tmp_path_factory.mktemp("no-debian")))
    monkeypatch.delenv(data.DATA_ENV, raising=False)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def _images(rng: np.random.Generator, n: int, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)


def _balanced_labels(n: int, k: int) -> np.ndarray:
    return np.arange(n) % k


# --- CIFAR (python pickle batches) ------------------------------------------------------------------------------


def _pickle(path: Path, obj: dict) -> None:
    path.write_bytes(pickle.dumps(obj, protocol=2))


def _write_cifar10(root: Path, rng: np.random.Generator, per_batch: int = 4, n_test: int = 6):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    xs, ys = [], []
    for i in range(1, 6):
        x = _images(rng, per_batch, (3072,))  # row = 1024 R, 1024 G, 1024 B, each row-major 32x32
        y = rng.integers(0, 10, per_batch).tolist()
        _pickle(folder / f"data_batch_{i}", {"batch_label": f"training batch {i} of 5", "labels": y, "data": x})
        xs.append(x)
        ys += y
    x_test = _images(rng, n_test, (3072,))
    y_test = rng.integers(0, 10, n_test).tolist()
    _pickle(folder / "test_batch", {"batch_label": "testing batch 1 of 1", "labels": y_test, "data": x_test})
    _pickle(folder / "batches.meta", {"label_names": [f"class{i}" for i in range(10)], "num_vis": 3072})
    return np.concatenate(xs), np.array(ys), x_test, np.array(y_test)


def _write_cifar100(root: Path, rng: np.random.Generator, n_train: int = 12, n_test: int = 5):
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    out = []
    for split, n in (("train", n_train), ("test", n_test)):
        x = _images(rng, n, (3072,))
        fine = rng.integers(0, 100, n).tolist()
        coarse = (np.array(fine) // 5).tolist()
        _pickle(folder / split, {"batch_label": split, "fine_labels": fine, "coarse_labels": coarse, "data": x})
        out += [x, np.array(fine)]
    _pickle(folder / "meta", {"fine_label_names": [f"f{i}" for i in range(100)], "coarse_label_names": list("abc")})
    return out


def _trust_tiny_cifar(monkeypatch, cls, root: Path) -> None:
    """Point torchvision's md5 table at our tiny files, within this test only.

    torchvision checks every CIFAR file against the md5 of the real archive (``_check_integrity``,
    ``_load_meta``); tiny files cannot match. We replace the class's expected checksums by the md5 of the
    files we wrote, so the integrity check still runs and still compares real digests.
    """
    folder = root / cls.base_folder
    monkeypatch.setattr(cls, "train_list", [[name, _md5(folder / name)] for name, _ in cls.train_list])
    monkeypatch.setattr(cls, "test_list", [[name, _md5(folder / name)] for name, _ in cls.test_list])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": _md5(folder / cls.meta["filename"])})


def _chw(rows: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rows.reshape(-1, 3, 32, 32)).float() / 255


def _no_pil(monkeypatch):
    """Loading must never build per-sample PIL images."""
    import PIL.Image

    def boom(*args, **kwargs):
        raise AssertionError("PIL used while loading")

    monkeypatch.setattr(PIL.Image, "fromarray", boom)


def test_cifar10_pickle_batches_round_trip(tmp_path, monkeypatch):
    x_train, y_train, x_test, y_test = _write_cifar10(tmp_path, np.random.default_rng(0))
    _trust_tiny_cifar(monkeypatch, tvd.CIFAR10, tmp_path)
    _no_pil(monkeypatch)
    d = data.load_dataset("cifar10", root=tmp_path, download=False)
    assert d.x_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    assert d.x_train.shape == (20, 3, 32, 32) and d.x_test.shape == (6, 3, 32, 32)
    assert torch.equal(d.x_train, _chw(x_train))  # pixel (c, h, w) = row[c*1024 + h*32 + w] / 255
    assert torch.equal(d.y_train, torch.from_numpy(y_train))
    assert torch.equal(d.x_test, _chw(x_test)) and torch.equal(d.y_test, torch.from_numpy(y_test))
    assert (d.num_classes, d.in_channels, d.input_size) == (10, 3, (32, 32))
    planes = x_train.reshape(-1, 3, 1024).transpose(1, 0, 2).reshape(3, -1) / 255
    np.testing.assert_allclose(d.mean, planes.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(d.std, planes.std(axis=1), rtol=1e-12)
    assert d.augment == data.AugmentSpec(crop_padding=4, flip=True)
    assert d.source == f"files under {tmp_path.resolve() / 'cifar-10-batches-py'}"


def test_cifar100_uses_fine_labels(tmp_path, monkeypatch):
    x_train, y_train, x_test, y_test = _write_cifar100(tmp_path, np.random.default_rng(1))
    _trust_tiny_cifar(monkeypatch, tvd.CIFAR100, tmp_path)
    d = data.load_dataset("cifar100", root=tmp_path, download=False)
    assert torch.equal(d.x_train, _chw(x_train)) and torch.equal(d.y_train, torch.from_numpy(y_train))
    assert torch.equal(d.x_test, _chw(x_test)) and torch.equal(d.y_test, torch.from_numpy(y_test))
    assert d.num_classes == 100 and d.augment.flip


def test_cifar_md5_mismatch_is_a_one_line_unavailable(tmp_path):
    """Without the test's md5 override torchvision rejects the tiny files: its integrity check is live."""
    _write_cifar10(tmp_path, np.random.default_rng(0))
    with pytest.raises(data.DatasetUnavailable) as info:
        data.load_dataset("cifar10", root=tmp_path, download=False)
    message = str(info.value)
    assert "\n" not in message and "could not be read by torchvision" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


# --- SVHN (MATLAB .mat) -----------------------------------------------------------------------------------------


def test_svhn_mat_round_trip_maps_label_10_to_0(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    folder = tmp_path / "SVHN"
    folder.mkdir()
    written = {}
    for split, n in (("train", 11), ("test", 7)):
        X = rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)  # (H, W, C, N) as in train_32x32.mat
        y = (np.arange(n) % 10 + 1).astype(np.uint8).reshape(n, 1)  # labels 1..10, 10 meaning digit 0
        scipy.io.savemat(folder / f"{split}_32x32.mat", {"X": X, "y": y})
        written[split] = (X, y)
    table = {
        split: [url, name, _md5(folder / name) if split in written else md5]
        for split, (url, name, md5) in tvd.SVHN.split_list.items()
    }
    monkeypatch.setattr(tvd.SVHN, "split_list", table)  # our tiny files' md5s; the check still runs
    d = data.load_dataset("svhn", root=tmp_path, download=False)
    for x, y, (X, y_raw) in ((d.x_train, d.y_train, written["train"]), (d.x_test, d.y_test, written["test"])):
        assert torch.equal(x, torch.from_numpy(X.transpose(3, 2, 0, 1).copy()).float() / 255)  # (N, C, H, W)
        expected = torch.from_numpy(y_raw[:, 0].astype(np.int64))
        expected[expected == 10] = 0
        assert torch.equal(y, expected)
    assert 10 not in d.y_train.tolist() and 0 in d.y_train.tolist()
    assert (d.num_classes, d.in_channels, d.input_size) == (10, 3, (32, 32))
    assert d.augment == data.AugmentSpec()  # WRN's SVHN protocol: no augmentation, never a flip


# --- MNIST-style idx (Fashion-MNIST, Kuzushiji-MNIST) -----------------------------------------------------------


def _idx_bytes(array: np.ndarray) -> bytes:
    """IDX format: magic 0x0000 08 <ndim> (unsigned byte), big-endian int32 sizes, then the bytes."""
    header = struct.pack(">I", 0x0800 + array.ndim) + b"".join(struct.pack(">I", s) for s in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_idx_set(folder: Path, x_train, y_train, x_test, y_test, gz: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in (
        ("train-images-idx3-ubyte", x_train),
        ("train-labels-idx1-ubyte", y_train),
        ("t10k-images-idx3-ubyte", x_test),
        ("t10k-labels-idx1-ubyte", y_test),
    ):
        raw = _idx_bytes(array)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)


def _tiny_mnist(rng: np.random.Generator, per_class=None, n_test: int = 20):
    """28x28 images; train class c has ``per_class[c]`` samples (default 5 + c: deliberately imbalanced)."""
    per_class = per_class or [5 + c for c in range(10)]
    y_train = rng.permutation(np.repeat(np.arange(10), per_class)).astype(np.uint8)
    y_test = _balanced_labels(n_test, 10).astype(np.uint8)
    return _images(rng, len(y_train), (28, 28)), y_train, _images(rng, n_test, (28, 28)), y_test


@pytest.mark.parametrize(("name", "folder"), [("fashion_mnist", "FashionMNIST"), ("kmnist", "KMNIST")])
@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_mnist_style_idx_round_trip(tmp_path, name, folder, gz):
    x_train, y_train, x_test, y_test = _tiny_mnist(np.random.default_rng(3))
    _write_idx_set(tmp_path / folder / "raw", x_train, y_train, x_test, y_test, gz=gz)
    d = data.load_dataset(name, root=tmp_path, download=False)
    assert torch.equal(d.x_train, torch.from_numpy(x_train).unsqueeze(1).float() / 255)
    assert torch.equal(d.y_train, torch.from_numpy(y_train.astype(np.int64)))
    assert torch.equal(d.x_test, torch.from_numpy(x_test).unsqueeze(1).float() / 255)
    assert torch.equal(d.y_test, torch.from_numpy(y_test.astype(np.int64)))
    assert (d.num_classes, d.in_channels, d.input_size) == (10, 1, (28, 28))
    assert d.mean == pytest.approx((x_train.mean() / 255,), rel=1e-12)
    assert d.std == pytest.approx((x_train.std() / 255,), rel=1e-12)
    assert d.source == f"files under {tmp_path.resolve() / folder / 'raw'}"
    assert d.augment == data.AugmentSpec(crop_padding=2, flip=(name == "fashion_mnist"))


def test_fashion_mnist_from_a_debian_package_folder(tmp_path, monkeypatch):
    debian = tmp_path / "debian"
    x_train, y_train, x_test, y_test = _tiny_mnist(np.random.default_rng(4))
    _write_idx_set(debian, x_train, y_train, x_test, y_test, gz=True)  # the package ships the .gz files
    monkeypatch.setenv(data.DEBIAN_FASHION_MNIST_ENV, str(debian))
    root = tmp_path / "root"
    d = data.load_dataset("fashion_mnist", root=root, download=False)
    assert torch.equal(d.x_train, torch.from_numpy(x_train).unsqueeze(1).float() / 255)
    assert torch.equal(d.y_test, torch.from_numpy(y_test.astype(np.int64)))
    assert d.source == f"Debian package dataset-fashion-mnist ({debian})"
    raw = root / "FashionMNIST" / "raw"
    assert (raw / "train-images-idx3-ubyte").read_bytes() == _idx_bytes(x_train)  # decompressed for torchvision
    assert not list(raw.glob(".*.tmp"))


def test_second_load_reads_the_cache(tmp_path):
    x_train, y_train, x_test, y_test = _tiny_mnist(np.random.default_rng(5))
    raw = tmp_path / "KMNIST" / "raw"
    _write_idx_set(raw, x_train, y_train, x_test, y_test, gz=False)
    first = data.load_dataset("kmnist", root=tmp_path, download=False)
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == ["kmnist-test.pt", "kmnist-train.pt"]
    assert not list(tmp_path.glob(".*.tmp"))
    for f in raw.iterdir():  # the cache alone must suffice now
        f.unlink()
    second = data.load_dataset("kmnist", root=tmp_path, download=False)
    assert torch.equal(first.x_train, second.x_train) and torch.equal(first.y_test, second.y_test)
    assert second.source == first.source and second.mean == first.mean


def test_data_root_from_environment(tmp_path, monkeypatch):
    assert data.data_root() == Path("./data")
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    assert data.data_root() == tmp_path
    x_train, y_train, x_test, y_test = _tiny_mnist(np.random.default_rng(6))
    _write_idx_set(tmp_path / "KMNIST" / "raw", x_train, y_train, x_test, y_test, gz=True)
    assert data.load_dataset("kmnist", download=False).n_train == len(y_train)


# --- the cache is checked, storage errors are one line ----------------------------------------------------------


def _kmnist_root(root: Path, seed: int = 8):
    x_train, y_train, x_test, y_test = _tiny_mnist(np.random.default_rng(seed))
    _write_idx_set(root / "KMNIST" / "raw", x_train, y_train, x_test, y_test, gz=False)
    return torch.from_numpy(x_train).unsqueeze(1).float() / 255


def _one_warning(caplog) -> str:
    (message,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert "\n" not in message
    return message


def test_a_cache_with_64_flipped_bytes_is_moved_aside_with_one_warning_and_rebuilt(tmp_path, caplog):
    truth = _kmnist_root(tmp_path)
    data.load_dataset("kmnist", root=tmp_path, download=False)
    cache = tmp_path / "kmnist-train.pt"
    blob = bytearray(cache.read_bytes())
    middle = len(blob) // 2
    blob[middle : middle + 64] = bytes(b ^ 0xFF for b in blob[middle : middle + 64])
    cache.write_bytes(bytes(blob))
    damaged = torch.load(cache, weights_only=True)["x"]  # torch.load alone does not notice:
    assert int((damaged.float() / 255 != truth).sum()) == 64  # 64 wrong pixels
    with caplog.at_level(logging.WARNING):
        d = data.load_dataset("kmnist", root=tmp_path, download=False)
    assert torch.equal(d.x_train, truth)
    message = _one_warning(caplog)
    assert str(cache) in message and "sha256 does not match kmnist-train.pt.sha256" in message
    aside = sorted(p.name for p in tmp_path.glob("kmnist-train.pt.corrupt-*"))
    assert len(aside) == 2 and aside[1] == aside[0] + ".sha256"  # the file and its sidecar, kept for inspection
    assert storage.checksum_problem(cache) is None  # rebuilt, with a matching sidecar


def test_an_unreadable_cache_is_moved_aside_and_rebuilt(tmp_path, caplog):
    truth = _kmnist_root(tmp_path)
    data.load_dataset("kmnist", root=tmp_path, download=False)
    cache = tmp_path / "kmnist-train.pt"
    cache.write_bytes(b"")
    storage.write_sidecar(cache)  # even a matching sidecar cannot make an empty file a cache
    with caplog.at_level(logging.WARNING):
        assert torch.equal(data.load_dataset("kmnist", root=tmp_path, download=False).x_train, truth)
    assert "not a decoded cache" in _one_warning(caplog)


def test_a_cache_without_sidecar_from_an_earlier_version_is_decoded_again(tmp_path, caplog):
    truth = _kmnist_root(tmp_path)
    data.load_dataset("kmnist", root=tmp_path, download=False)
    cache = tmp_path / "kmnist-train.pt"
    blob = torch.load(cache, weights_only=True)
    torch.save({**blob, "x": torch.zeros_like(blob["x"])}, cache)  # unverified: never used
    (tmp_path / "kmnist-train.pt.sha256").unlink()
    with caplog.at_level(logging.WARNING):
        assert torch.equal(data.load_dataset("kmnist", root=tmp_path, download=False).x_train, truth)
    assert not caplog.records and storage.checksum_problem(cache) is None
    assert not list(tmp_path.glob("*.corrupt-*"))


@pytest.mark.parametrize("where", ["root", "parent"])
def test_a_file_in_the_way_of_the_data_root_is_one_line(tmp_path, monkeypatch, where):
    debian = tmp_path / "debian"
    _write_idx_set(debian, *_tiny_mnist(np.random.default_rng(9)), gz=True)
    monkeypatch.setenv(data.DEBIAN_FASHION_MNIST_ENV, str(debian))
    blocker = tmp_path / "data"
    blocker.write_text("not a folder")
    root = blocker if where == "root" else blocker / "inner"
    with pytest.raises(data.StorageError) as err:
        data.load_dataset("fashion_mnist", root=root, download=False)
    assert str(err.value) == (
        f"cannot write the data folder {root}: a file is in the way "
        "(set MIXUP_DATA or root= to a writable folder with free space)"
    )


@pytest.mark.parametrize(("code", "cause"), [(errno.ENOSPC, "no space left on device"), (errno.EROFS, "read-only")])
def test_a_data_root_that_cannot_be_written_is_one_line(tmp_path, monkeypatch, code, cause):
    _write_idx_set(tmp_path / "KMNIST" / "raw", *_tiny_mnist(np.random.default_rng(10)), gz=True)

    def fail_midway(fin, fout, length=0):
        fout.write(fin.read(100))
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(data.shutil, "copyfileobj", fail_midway)
    with pytest.raises(data.StorageError, match=f"^cannot write the data folder {tmp_path}: {cause}"):
        data.load_dataset("kmnist", root=tmp_path, download=False)
    assert not list(tmp_path.rglob(".*.tmp"))  # the partial file is gone


def test_a_cache_that_cannot_be_written_is_one_warning_and_the_data_loads(tmp_path, monkeypatch, caplog):
    truth = _kmnist_root(tmp_path)

    def disk_full(obj, f):
        f.write(b"x" * 10)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with caplog.at_level(logging.WARNING):
        assert torch.equal(data.load_dataset("kmnist", root=tmp_path, download=False).x_train, truth)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and all("no space left on device" in m and "\n" not in m for m in messages)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["KMNIST"]  # no cache, no temp file


def test_an_empty_data_root_means_the_default(tmp_path, monkeypatch):
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv(data.DATA_ENV, "")
    assert data.data_root() == Path("./data")
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path / "root"))
    truth = _kmnist_root(tmp_path / "root")
    assert torch.equal(data.load_dataset("kmnist", root="", download=False).x_train, truth)
    assert not list(work.iterdir())  # nothing decoded into the current folder


def test_temp_files_of_a_killed_process_are_removed_on_the_next_load(tmp_path):
    _kmnist_root(tmp_path)
    code = (
        "import os, sys; from pathlib import Path; from mixup_lib import storage\n"
        "root = Path(sys.argv[1])\n"
        "storage._open_temp(root / 'kmnist-train.pt')\n"
        "storage._open_temp(root / 'KMNIST' / 'raw' / 'train-images-idx3-ubyte')\n"
        "os._exit(0)  # no cleanup, as after kill -9\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert len(list(tmp_path.rglob(".*.tmp"))) == 2
    data.load_dataset("kmnist", root=tmp_path, download=False)
    assert not list(tmp_path.rglob(".*.tmp"))


# --- unavailable ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in data.DATASET_NAMES if n != "two_moons"])
def test_unavailable_is_one_line_with_the_command(tmp_path, name):
    root = tmp_path / "empty"
    root.mkdir()
    with pytest.raises(data.DatasetUnavailable) as info:
        data.load_dataset(name, root=root, download=False)
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert "\n" not in message
    assert message.startswith(f"{name} is not available: no files under {root}")
    assert "download=False" in message
    assert f"python -m mixup_lib download {name}" in message
    assert str(root) in message
    if name == "fashion_mnist":
        assert "apt-get install dataset-fashion-mnist" in message and "Debian" in message
    assert not any(root.iterdir())  # nothing written


def test_unavailable_without_internet_says_so(tmp_path):
    with pytest.raises(data.DatasetUnavailable, match=r"no internet to download them \(ufldl.stanford.edu"):
        data.load_dataset("svhn", root=tmp_path)  # download=None: the (patched) reachability check says no


def test_failed_download_is_caught_and_one_line(tmp_path, monkeypatch):
    def failing_download(self):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried http://x/, got:\nHTTP Error 503")

    monkeypatch.setattr(tvd.KMNIST, "download", failing_download)
    with pytest.raises(data.DatasetUnavailable) as info:
        data.load_dataset("kmnist", root=tmp_path, download=True)
    message = str(info.value)
    assert "\n" not in message and "torchvision's download failed (RuntimeError: Error downloading" in message
    assert info.value.__cause__ is None and info.value.__context__ is None  # no torchvision traceback attached
    with pytest.raises(data.DatasetUnavailable, match="download failed"):
        data.download_dataset("kmnist", root=tmp_path)


def test_unknown_name_lists_the_choices():
    with pytest.raises(ConfigError, match="dataset='mnist' is not allowed: choose one of two_moons, svhn, cifar10"):
        data.load_dataset("mnist")


# --- subsets ----------------------------------------------------------------------------------------------------


@pytest.fixture
def tiny_kmnist(tmp_path):
    x_train, y_train, x_test, y_test = _tiny_mnist(np.random.default_rng(7), n_test=40)
    _write_idx_set(tmp_path / "KMNIST" / "raw", x_train, y_train, x_test, y_test, gz=False)
    return tmp_path


@pytest.mark.parametrize("n_train", [10, 37, 60, 95])
def test_stratified_subset_counts_within_one(tiny_kmnist, n_train):
    d = data.load_dataset("kmnist", root=tiny_kmnist, n_train=n_train, n_test=13, download=False)
    counts = torch.bincount(d.y_train, minlength=10)
    available = torch.tensor([5 + c for c in range(10)])
    assert int(counts.sum()) == n_train and bool((counts <= available).all())
    open_counts = counts[counts < available]  # classes not exhausted: balanced within 1, none below another's share
    if open_counts.numel():
        assert int(counts.max() - open_counts.min()) <= 1
    test_counts = torch.bincount(d.y_test, minlength=10)
    assert int(test_counts.sum()) == 13 and int(test_counts.max() - test_counts.min()) <= 1


def test_stratified_subset_caps_small_classes():
    labels = torch.tensor([0] * 2 + [1] * 100 + [2] * 30)
    idx = data.stratified_subset(labels, 50, torch.Generator().manual_seed(0))
    assert torch.bincount(labels[idx]).tolist() == [2, 24, 24]
    assert torch.equal(idx, idx.sort().values) and len(set(idx.tolist())) == 50
    assert torch.equal(data.stratified_subset(labels, 132, torch.Generator()), torch.arange(132))


def test_subset_seeded(tiny_kmnist):
    def load(seed):
        return data.load_dataset("kmnist", root=tiny_kmnist, n_train=20, n_test=10, seed=seed, download=False)

    a, b, c = load(0), load(0), load(1)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test) and a.mean == b.mean
    assert not torch.equal(a.x_train, c.x_train)
    assert a.mean == pytest.approx((a.x_train.double().mean().item(),), rel=1e-6)  # stats of the subset


def test_subset_larger_than_split_is_a_config_error(tiny_kmnist):
    with pytest.raises(ConfigError, match=r"^n_train=96 is not allowed: kmnist has 95 training images$"):
        data.load_dataset("kmnist", root=tiny_kmnist, n_train=96, download=False)
    with pytest.raises(ConfigError, match=r"^n_test=41 is not allowed: kmnist has 40 test images$"):
        data.load_dataset("kmnist", root=tiny_kmnist, n_test=41, download=False)
    with pytest.raises(ConfigError, match="n_train=0 is not allowed"):
        data.load_dataset("kmnist", root=tiny_kmnist, n_train=0, download=False)


# --- two moons --------------------------------------------------------------------------------------------------


def test_two_moons():
    d = data.load_dataset("two_moons")
    assert d.x_train.shape == (1000, 2) and d.x_test.shape == (1000, 2) and d.x_train.dtype == torch.float32
    assert torch.bincount(d.y_train).tolist() == [500, 500]
    assert (d.num_classes, d.in_channels, d.input_size, d.mean, d.std) == (2, 2, None, None, None)
    assert d.augment.is_identity and "make_moons(noise=0.1, seed=0)" in d.source
    again = data.load_dataset("two_moons")
    assert torch.equal(d.x_train, again.x_train) and not torch.equal(d.x_train, d.x_test)
    assert not torch.equal(d.x_train, data.load_dataset("two_moons", seed=1).x_train)
    exact = data.load_dataset("two_moons", n_train=101, n_test=7, noise=0.0)
    x, y = exact.x_train.double(), exact.y_train
    outer = x[y == 0]  # (cos t, sin t)
    inner = x[y == 1]  # (1 - cos t, 0.5 - sin t)
    torch.testing.assert_close(outer.norm(dim=1), torch.ones(len(outer), dtype=torch.float64), atol=1e-6, rtol=0)
    centred = inner - torch.tensor([1.0, 0.5], dtype=torch.float64)
    torch.testing.assert_close(centred.norm(dim=1), torch.ones(len(inner), dtype=torch.float64), atol=1e-6, rtol=0)
    assert exact.n_train == 101 and exact.n_test == 7


def test_to_device_returns_a_copy():
    d = data.load_dataset("two_moons", n_train=10, n_test=10)
    moved = d.to("cpu")
    assert moved is not d and moved.device == torch.device("cpu") and torch.equal(moved.x_train, d.x_train)
    assert "two_moons" in repr(d) and "(10, 2)" in repr(d)


# --- batches and augmentation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "batch_size", "drop_last"), [(10, 3, False), (10, 3, True), (12, 4, False)])
def test_batch_indices_cover_each_index_once(n, batch_size, drop_last):
    batches = list(data.batch_indices(n, batch_size, torch.Generator().manual_seed(0), drop_last=drop_last))
    flat = torch.cat(batches)
    assert len(set(flat.tolist())) == len(flat)
    if drop_last:
        assert all(len(b) == batch_size for b in batches) and len(flat) == n - n % batch_size
    else:
        assert sorted(flat.tolist()) == list(range(n))
    assert not torch.equal(flat, torch.arange(len(flat)))  # shuffled
    ordered = torch.cat(list(data.batch_indices(n, batch_size, torch.Generator(), shuffle=False)))
    assert torch.equal(ordered, torch.arange(n))
    again = torch.cat(list(data.batch_indices(n, batch_size, torch.Generator().manual_seed(0), drop_last=drop_last)))
    assert torch.equal(flat, again)


def test_identity_spec_is_a_no_op():
    x = torch.rand(4, 3, 8, 8)
    g = torch.Generator().manual_seed(0)
    state = g.get_state()
    assert data.augment_batch(x, data.AugmentSpec(), g) is x
    assert torch.equal(g.get_state(), state)  # nothing drawn


def test_flip_flips_exactly_the_masked_samples():
    x = torch.rand(64, 2, 5, 7)
    out = data.augment_batch(x, data.AugmentSpec(flip=True), torch.Generator().manual_seed(3))
    mask = torch.rand(64, generator=torch.Generator().manual_seed(3)) < 0.5  # the documented draw
    assert 10 < int(mask.sum()) < 54
    assert torch.equal(out[mask], x[mask].flip(3)) and torch.equal(out[~mask], x[~mask])
    assert out.shape == x.shape and out is not x


@pytest.mark.parametrize("mode", ["zeros", "reflect"])
def test_crop_outputs_are_shifted_windows_of_the_padded_input(mode):
    p, n = 2, 40
    x = torch.rand(n, 3, 6, 5)
    spec = data.AugmentSpec(crop_padding=p, padding_mode=mode)
    out = data.augment_batch(x, spec, torch.Generator().manual_seed(1))
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (p, p, p, p), mode="constant" if mode == "zeros" else "reflect")
    offsets = torch.randint(0, 2 * p + 1, (2, n), generator=torch.Generator().manual_seed(1))
    for i in range(n):
        dy, dx = offsets[:, i].tolist()
        assert torch.equal(out[i], padded[i, :, dy : dy + 6, dx : dx + 5])
        windows = [padded[i, :, a : a + 6, b : b + 5] for a in range(2 * p + 1) for b in range(2 * p + 1)]
        assert any(torch.equal(out[i], w) for w in windows)
    assert len({tuple(o) for o in offsets.T.tolist()}) > 5  # offsets differ across samples


def test_crop_and_flip_together_and_recipes():
    x = torch.rand(16, 3, 32, 32)
    spec = data.AugmentSpec(crop_padding=4, flip=True)
    g = torch.Generator().manual_seed(2)
    out = data.augment_batch(x, spec, g)
    g2 = torch.Generator().manual_seed(2)
    offsets = torch.randint(0, 9, (2, 16), generator=g2)
    mask = torch.rand(16, generator=g2) < 0.5
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    for i in range(16):
        window = padded[i, :, offsets[0, i] : offsets[0, i] + 32, offsets[1, i] : offsets[1, i] + 32]
        assert torch.equal(out[i], window.flip(2) if mask[i] else window)
    assert not data.dataset_info("kmnist").augment.flip and not data.dataset_info("svhn").augment.flip
    assert data.dataset_info("cifar10").augment == data.dataset_info("cifar100").augment == spec
    with pytest.raises(ConfigError, match="augmentation needs an image batch"):
        data.augment_batch(torch.rand(4, 2), spec, g)
    with pytest.raises(ConfigError, match="padding_mode='edge' is not allowed"):
        data.AugmentSpec(crop_padding=1, padding_mode="edge")


# --- the real Fashion-MNIST -------------------------------------------------------------------------------------


@pytest.mark.skipif(
    not (REAL_DEBIAN / "train-images-idx3-ubyte.gz").is_file(),
    reason=f"Debian package dataset-fashion-mnist is not installed ({REAL_DEBIAN} absent; make system-deps)",
)
def test_real_fashion_mnist_from_debian(tmp_path, monkeypatch):
    monkeypatch.delenv(data.DEBIAN_FASHION_MNIST_ENV)
    d = data.load_dataset("fashion_mnist", root=tmp_path, download=False)
    assert d.x_train.shape == (60000, 1, 28, 28) and d.x_test.shape == (10000, 1, 28, 28)
    assert torch.bincount(d.y_train).tolist() == [6000] * 10 and torch.bincount(d.y_test).tolist() == [1000] * 10
    assert d.mean[0] == pytest.approx(0.2860, abs=5e-4) and d.std[0] == pytest.approx(0.3530, abs=5e-4)
    assert float(d.x_train.min()) == 0.0 and float(d.x_train.max()) == 1.0
    assert d.source.startswith("Debian package dataset-fashion-mnist")


def test_a_missing_data_set_names_the_data_root_not_the_machines_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MIXUP_DATA", str(tmp_path))
    with pytest.raises(data.DatasetUnavailable) as err:
        data.load_dataset("svhn", n_train=8, n_test=8, download=False)
    assert "no files under $MIXUP_DATA/SVHN" in str(err.value) and str(tmp_path) not in str(err.value)
    monkeypatch.delenv("MIXUP_DATA")
    assert data.shown_path(Path("data") / "SVHN") == "$MIXUP_DATA/SVHN"  # the same text on every machine
    assert data.shown_path(Path("/usr/share/datasets")) == "/usr/share/datasets"  # a system folder, same everywhere
