"""The paper's data sets as tensors: where they come from, seeded stratified subsets, batched augmentation.

Data sets (Zhang et al., ICLR 2021) and the figures that use them:

- ``two_moons``: scikit-learn's ``make_moons`` (Pedregosa et al. 2011; Buitinck et al. 2013), the
  numerical check of Eq. (3) and Fig. 2, and the bound checks (Thm 3.1/3.2).
- ``svhn``: Street View House Numbers (Netzer et al. 2011), Fig. 1a (FGSM robustness, WRN-16-8).
- ``cifar10``, ``cifar100``: Krizhevsky (2009), *Learning multiple layers of features from tiny images*,
  Figs. 5–8 (generalization gap).
- ``fashion_mnist``: Xiao, Rasul & Vollgraf (2017), *Fashion-MNIST*, Figs. 5–8.
- ``kmnist``: Kuzushiji-MNIST, Clanuwat et al., *Deep learning for classical Japanese literature*
  (arXiv:1812.01718, 2018; often cited as 2019), Figs. 5–8.

Where image data comes from, in order (the first that works wins):

1. the decoded tensor cache ``<root>/<name>-<split>.pt`` (written by an earlier load, atomically, with a
   SHA-256 sidecar checked on every load: a damaged cache is moved aside with one warning and rebuilt);
2. files already under the root, in torchvision's layout (``cifar-10-batches-py/``, ``cifar-100-python/``,
   ``SVHN/``, ``FashionMNIST/raw/``, ``KMNIST/raw/``); ``.gz`` idx files there are decompressed for torchvision;
3. for Fashion-MNIST only, Debian's ``dataset-fashion-mnist`` package (:data:`DEBIAN_FASHION_MNIST_DIR`,
   overridable with ``$MIXUP_DEBIAN_FASHION_MNIST``), decompressed into ``<root>/FashionMNIST/raw/``;
4. torchvision's download, when allowed (``download=True``, or ``None`` and the host answers within 3 s);
5. otherwise :class:`DatasetUnavailable` with a one-line message: which data set, where it looked, the
   command that gets it.

Files are always decoded by torchvision's own dataset classes (their md5 integrity checks included), which
hold the whole split as one uint8 array; images never pass through PIL. The root is ``$MIXUP_DATA`` or
``./data`` (:func:`data_root`).

Data are then held as tensors (float32 pixels in [0, 1], N×C×H×W) for training on the device in the
style of airbench: batches are index tensors from one permutation per epoch (:func:`batch_indices`), and
augmentation transforms whole batches with tensor ops (:func:`augment_batch`). Normalization is the
model's first layer; :class:`TensorData` carries the per-channel mean/std of the training subset for it.

Augmentation (the paper states none; these are our choices, fields of :class:`AugmentSpec`):

- CIFAR-10/100: random crop with 4 pixels of zero padding + horizontal flip, the standard recipe of
  He et al. (2016) and of the mixup paper's CIFAR code (Zhang et al. 2018).
- SVHN: none, as in the Wide ResNet paper's SVHN protocol (Zagoruyko & Komodakis 2016) whose WRN-16-8
  Fig. 1a uses; never a flip (mirrored digits are not digits).
- Fashion-MNIST: crop with 2 pixels of zero padding (the background is 0) + horizontal flip (a mirrored
  garment keeps its class).
- Kuzushiji-MNIST: crop with 2 pixels of zero padding, no flip (mirrored characters are not characters).
- two moons: none.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gzip
import io
import logging
import os
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mixup_lib import storage
from mixup_lib.errors import check_choice, check_nonnegative, check_positive_int, require
from mixup_lib.storage import StorageError

log = logging.getLogger(__name__)

__all__ = [
    "DATASET_NAMES",
    "DEBIAN_FASHION_MNIST_DIR",
    "AugmentSpec",
    "DatasetInfo",
    "DatasetUnavailable",
    "StorageError",
    "TensorData",
    "augment_batch",
    "batch_indices",
    "data_root",
    "dataset_info",
    "download_dataset",
    "load_dataset",
    "stratified_subset",
]

DATASET_NAMES = ("two_moons", "svhn", "cifar10", "cifar100", "fashion_mnist", "kmnist")

DATA_ENV = "MIXUP_DATA"
"""Environment variable naming the data root (default ``./data``)."""

DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
"""Where Debian's ``dataset-fashion-mnist`` package puts the real Fashion-MNIST ``.gz`` idx files."""

DEBIAN_FASHION_MNIST_ENV = "MIXUP_DEBIAN_FASHION_MNIST"
"""Environment variable that overrides :data:`DEBIAN_FASHION_MNIST_DIR` (tests point it at tiny files)."""

DATA_HINT = "set MIXUP_DATA or root= to a writable folder with free space"
TWO_MOONS_DEFAULT_N = 1000
PADDING_MODES = ("zeros", "reflect")
CACHE_FORMAT = 1
INTERNET_TIMEOUT_S = 3.0
SPLITS = ("train", "test")
_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class DatasetUnavailable(RuntimeError):  # noqa: N818 (the name is part of the public API)
    """A data set cannot be had on this machine; the message is one line and names the command that gets it."""


@dataclass(frozen=True)
class AugmentSpec:
    """A data set's augmentation recipe, applied to whole batches by :func:`augment_batch`.

    ``crop_padding``: pad each side by this many pixels, then crop back to the original size at a random
    offset per sample (0 = no crop). ``flip``: mirror left-right with probability 1/2 per sample.
    ``padding_mode``: ``"zeros"`` (torchvision's ``RandomCrop(padding=p)`` default; black in pixel space)
    or ``"reflect"`` (airbench's choice).
    """

    crop_padding: int = 0
    flip: bool = False
    padding_mode: str = "zeros"

    def __post_init__(self) -> None:
        require(
            isinstance(self.crop_padding, int) and not isinstance(self.crop_padding, bool) and self.crop_padding >= 0,
            f"crop_padding={self.crop_padding!r} is not allowed: it must be an integer >= 0",
        )
        require(isinstance(self.flip, bool), f"flip={self.flip!r} is not allowed: it must be True or False")
        check_choice("padding_mode", self.padding_mode, PADDING_MODES)

    @property
    def is_identity(self) -> bool:
        """True when the spec changes nothing (no crop, no flip)."""
        return self.crop_padding == 0 and not self.flip


@dataclass
class TensorData:
    """One data set held as tensors.

    ``x_*``: float32, pixels in [0, 1], (N, C, H, W) for images; (N, d) raw coordinates for two moons.
    ``y_*``: int64 class indices. ``in_channels``: C (images) or d (vectors); ``input_size``: (H, W) or None.
    ``mean``/``std``: per-channel statistics of the training (sub)set for the model's Normalize layer
    (None for two moons). ``augment``: the data set's recipe for :func:`augment_batch`. ``source``: provenance.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    in_channels: int
    input_size: tuple[int, int] | None
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    augment: AugmentSpec
    source: str

    def to(self, device: torch.device | str) -> TensorData:
        """The same data with all four tensors on ``device`` (a new object; this one is unchanged)."""
        return dataclasses.replace(
            self,
            x_train=self.x_train.to(device),
            y_train=self.y_train.to(device),
            x_test=self.x_test.to(device),
            y_test=self.y_test.to(device),
        )

    @property
    def device(self) -> torch.device:
        return self.x_train.device

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.x_test.shape[0])

    def __repr__(self) -> str:
        return (
            f"TensorData(name={self.name!r}, x_train={tuple(self.x_train.shape)}, x_test={tuple(self.x_test.shape)}, "
            f"num_classes={self.num_classes}, device={self.device}, augment={self.augment}, source={self.source!r})"
        )


@dataclass(frozen=True)
class DatasetInfo:
    """Registry entry for one image data set: torchvision class, on-disk layout, recipe, citation."""

    name: str
    title: str
    citation: str
    figures: str
    torchvision_class: str
    folder: str  # where the files live, relative to the root
    files: dict[str, tuple[str, ...]]  # split -> files that split needs (inside ``folder``)
    num_classes: int
    in_channels: int
    input_size: tuple[int, int]
    augment: AugmentSpec
    download_host: tuple[str, int]
    copy_hint: str  # what to copy where, ``{dir}``/``{root}`` filled in

    def torchvision_root(self, root: Path) -> Path:
        """The ``root`` argument torchvision's class wants (SVHN reads its .mat files from that folder)."""
        return root / "SVHN" if self.name == "svhn" else root


_CIFAR10_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_MNIST_HINT = (
    "or copy train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz "
    "and t10k-labels-idx1-ubyte.gz into {dir}"
)

_REGISTRY: dict[str, DatasetInfo] = {
    "svhn": DatasetInfo(
        name="svhn",
        title="SVHN",
        citation="Netzer et al. 2011, Reading digits in natural images with unsupervised feature learning",
        figures="Fig. 1a",
        torchvision_class="SVHN",
        folder="SVHN",
        files={"train": ("train_32x32.mat",), "test": ("test_32x32.mat",)},
        num_classes=10,
        in_channels=3,
        input_size=(32, 32),
        augment=AugmentSpec(),
        download_host=("ufldl.stanford.edu", 80),
        copy_hint="or copy train_32x32.mat and test_32x32.mat into {dir}",
    ),
    "cifar10": DatasetInfo(
        name="cifar10",
        title="CIFAR-10",
        citation="Krizhevsky 2009, Learning multiple layers of features from tiny images",
        figures="Figs. 5-8",
        torchvision_class="CIFAR10",
        folder="cifar-10-batches-py",
        files={"train": (*_CIFAR10_BATCHES, "batches.meta"), "test": ("test_batch", "batches.meta")},
        num_classes=10,
        in_channels=3,
        input_size=(32, 32),
        augment=AugmentSpec(crop_padding=4, flip=True),
        download_host=("www.cs.toronto.edu", 443),
        copy_hint="or unpack cifar-10-python.tar.gz into {root}",
    ),
    "cifar100": DatasetInfo(
        name="cifar100",
        title="CIFAR-100",
        citation="Krizhevsky 2009, Learning multiple layers of features from tiny images",
        figures="Figs. 5-8",
        torchvision_class="CIFAR100",
        folder="cifar-100-python",
        files={"train": ("train", "meta"), "test": ("test", "meta")},
        num_classes=100,
        in_channels=3,
        input_size=(32, 32),
        augment=AugmentSpec(crop_padding=4, flip=True),
        download_host=("www.cs.toronto.edu", 443),
        copy_hint="or unpack cifar-100-python.tar.gz into {root}",
    ),
    "fashion_mnist": DatasetInfo(
        name="fashion_mnist",
        title="Fashion-MNIST",
        citation="Xiao, Rasul & Vollgraf 2017, Fashion-MNIST: a novel image dataset for benchmarking ML algorithms",
        figures="Figs. 5-8",
        torchvision_class="FashionMNIST",
        folder="FashionMNIST/raw",
        files=_MNIST_FILES,
        num_classes=10,
        in_channels=1,
        input_size=(28, 28),
        augment=AugmentSpec(crop_padding=2, flip=True),
        download_host=("fashion-mnist.s3-website.eu-central-1.amazonaws.com", 80),
        copy_hint=_MNIST_HINT,
    ),
    "kmnist": DatasetInfo(
        name="kmnist",
        title="Kuzushiji-MNIST",
        citation="Clanuwat et al. 2018 (arXiv:1812.01718), Deep learning for classical Japanese literature",
        figures="Figs. 5-8",
        torchvision_class="KMNIST",
        folder="KMNIST/raw",
        files=_MNIST_FILES,
        num_classes=10,
        in_channels=1,
        input_size=(28, 28),
        augment=AugmentSpec(crop_padding=2, flip=False),
        download_host=("codh.rois.ac.jp", 80),
        copy_hint=_MNIST_HINT,
    ),
}


def _check_name(name: str) -> str:
    require(
        name in DATASET_NAMES,
        f"dataset={name!r} is not allowed: choose one of {', '.join(DATASET_NAMES)}",
    )
    return name


def dataset_info(name: str) -> DatasetInfo:
    """The registry entry of an image data set (:class:`ConfigError` for ``two_moons`` or an unknown name)."""
    _check_name(name)
    require(name in _REGISTRY, f"dataset={name!r} has no files: two_moons is generated by scikit-learn")
    return _REGISTRY[name]


def data_root() -> Path:
    """The data root: ``$MIXUP_DATA`` if set (and not empty), else ``./data``."""
    return Path(os.environ.get(DATA_ENV) or "./data").expanduser()


def debian_fashion_mnist_dir() -> Path:
    """Debian's Fashion-MNIST folder: ``$MIXUP_DEBIAN_FASHION_MNIST`` if set, else :data:`DEBIAN_FASHION_MNIST_DIR`."""
    env = os.environ.get(DEBIAN_FASHION_MNIST_ENV)
    return Path(env).expanduser() if env else DEBIAN_FASHION_MNIST_DIR


def _resolve_root(root: str | Path | None) -> Path:
    """The data root: ``root``, else :func:`data_root` (also for ``""``, like an empty ``$MIXUP_DATA``)."""
    return (data_root() if root in (None, "") else Path(root).expanduser()).resolve()


# ----------------------------------------------------------------------------------------------------------------
# Seeds, subsets, batches, augmentation
# ----------------------------------------------------------------------------------------------------------------


def _derived_seed(seed: int, stream: int) -> int:
    """An independent 32-bit seed for one use (``stream``) of the user's ``seed`` (NumPy's SeedSequence)."""
    return int(np.random.SeedSequence([seed, stream]).generate_state(1)[0])


def _class_quotas(counts: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """How many samples to take per class: as equal as possible (within 1), capped by what each class has.

    Water filling: every class not yet exhausted gets the same share; a remainder smaller than the number
    of open classes goes, one each, to open classes drawn at random.
    """
    quota = torch.zeros_like(counts)
    remaining = n
    while remaining > 0:
        open_classes = (quota < counts).nonzero().flatten()
        share = remaining // len(open_classes)
        if share == 0:
            pick = open_classes[torch.randperm(len(open_classes), generator=generator)[:remaining]]
            quota[pick] += 1
            break
        add = torch.clamp(counts[open_classes] - quota[open_classes], max=share)
        quota[open_classes] += add
        remaining -= int(add.sum())
    return quota


def stratified_subset(labels: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """Indices (sorted, int64) of a random subset of size ``n`` whose class counts differ by at most 1.

    A class with fewer than its share contributes all its samples and the rest is spread over the others.
    Same generator state, same subset. ``n`` equal to ``len(labels)`` returns every index.
    """
    labels = labels.detach().cpu()
    require(0 <= n <= len(labels), f"n={n!r} is not allowed: there are {len(labels)} samples")
    classes, counts = torch.unique(labels, return_counts=True)
    quotas = _class_quotas(counts, n, generator)
    chosen = []
    for c, q in zip(classes.tolist(), quotas.tolist(), strict=True):
        members = (labels == c).nonzero().flatten()
        chosen.append(members[torch.randperm(len(members), generator=generator)[:q]])
    return torch.cat(chosen).sort().values if chosen else torch.zeros(0, dtype=torch.long)


def batch_indices(
    n: int, batch_size: int, generator: torch.Generator, shuffle: bool = True, drop_last: bool = False
) -> Iterator[torch.Tensor]:
    """Index batches for one epoch: slices of one permutation of ``range(n)`` (or of ``arange(n)`` without shuffle).

    Every index appears exactly once per epoch (except a dropped short last batch). The indices live on the
    generator's device, so a CUDA generator gives CUDA indices for data held on the GPU.
    """
    require(isinstance(n, int) and n >= 0, f"n={n!r} is not allowed: it must be an integer >= 0")
    check_positive_int("batch_size", batch_size)
    device = generator.device
    order = torch.randperm(n, generator=generator, device=device) if shuffle else torch.arange(n, device=device)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start : start + batch_size]


def augment_batch(x: torch.Tensor, spec: AugmentSpec, generator: torch.Generator) -> torch.Tensor:
    """Augment a whole batch (N, C, H, W) at once with tensor ops; returns a new tensor on ``x``'s device.

    Crop: pad by p = ``spec.crop_padding`` (zeros or reflect), draw one offset (dy, dx) ∈ {0..2p}² per sample
    and gather the H×W window at that offset — equivalent to torchvision's ``RandomCrop(size, padding=p)``.
    Flip: mirror left-right the samples where ``rand(N) < 0.5``. Random draws, in this order, come from
    ``generator`` on its own device: offsets ``randint(0, 2p+1, (2, N))`` (rows dy, then columns dx), then
    the flip draw ``rand(N)``. An identity spec returns ``x`` itself, untouched, and draws nothing.
    """
    if spec.is_identity:
        return x
    require(x.dim() == 4, f"x has shape {tuple(x.shape)}: augmentation needs an image batch (N, C, H, W)")
    n, c, h, w = x.shape
    gdev = generator.device
    out = x
    if spec.crop_padding:
        p = spec.crop_padding
        require(
            spec.padding_mode == "zeros" or p < min(h, w),
            f"crop_padding={p} is not allowed with reflect padding for {h}x{w} images: it must be < {min(h, w)}",
        )
        offsets = torch.randint(0, 2 * p + 1, (2, n), generator=generator, device=gdev).to(x.device)
        mode = "constant" if spec.padding_mode == "zeros" else "reflect"
        padded = F.pad(x, (p, p, p, p), mode=mode)
        rows = offsets[0][:, None] + torch.arange(h, device=x.device)  # (N, H)
        cols = offsets[1][:, None] + torch.arange(w, device=x.device)  # (N, W)
        out = padded.gather(2, rows[:, None, :, None].expand(n, c, h, w + 2 * p))
        out = out.gather(3, cols[:, None, None, :].expand(n, c, h, w))
    if spec.flip:
        mask = (torch.rand(n, generator=generator, device=gdev) < 0.5).to(x.device)
        out = torch.where(mask[:, None, None, None], out.flip(3), out)
    return out


# ----------------------------------------------------------------------------------------------------------------
# Where the files come from
# ----------------------------------------------------------------------------------------------------------------


@functools.cache
def _internet_reachable(host: str, port: int, timeout: float = INTERNET_TIMEOUT_S) -> bool:
    """Whether a TCP connection to ``host:port`` opens within ``timeout`` seconds (cached per host)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    text = text if len(text) <= 200 else text[:197] + "..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _gunzip(src: Path, dst: Path) -> None:
    def write(fout) -> None:
        with gzip.open(src, "rb") as fin:
            shutil.copyfileobj(fin, fout, length=1 << 20)

    storage.atomic_write_with(dst, write)


def _decompress_idx(names: tuple[str, ...], src_dir: Path, raw_dir: Path) -> None:
    """Write each missing idx file ``raw_dir/<name>`` from ``src_dir/<name>.gz`` (where that exists)."""
    for name in names:
        gz = src_dir / f"{name}.gz"
        if not (raw_dir / name).is_file() and gz.is_file():
            raw_dir.mkdir(parents=True, exist_ok=True)
            _gunzip(gz, raw_dir / name)


def _has_files(directory: Path, names: tuple[str, ...]) -> bool:
    return all((directory / name).is_file() for name in names)


def _torchvision_read(info: DatasetInfo, split: str, root: Path, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Read one split through torchvision's class (optionally downloading); uint8 (N, C, H, W) and int64 labels.

    Uses only the class's decoded arrays (``data``, ``targets``/``labels``), never ``__getitem__`` (PIL).
    """
    import torchvision.datasets as tvd

    cls = getattr(tvd, info.torchvision_class)
    tv_root = str(info.torchvision_root(root))
    if info.name == "svhn":
        ds = cls(tv_root, split=split, download=download)
        x = torch.from_numpy(np.ascontiguousarray(ds.data))  # already (N, C, H, W)
        y = torch.from_numpy(np.asarray(ds.labels, dtype=np.int64))  # torchvision maps label 10 -> 0
    else:
        ds = cls(tv_root, train=(split == "train"), download=download)
        if info.in_channels == 1:
            x = torch.as_tensor(ds.data).unsqueeze(1)  # (N, H, W) -> (N, 1, H, W)
        else:
            x = torch.from_numpy(np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2)))  # HWC -> CHW
        y = torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)
    return x.to(torch.uint8).contiguous(), y.contiguous()


def _command_hint(info: DatasetInfo, root: Path) -> str:
    hint = info.copy_hint.format(dir=shown_path(root / info.folder), root=shown_path(root))
    get = f"on a machine with internet run: python -m mixup_lib download {info.name} ({hint})"
    if info.name == "fashion_mnist":
        return f"run: sudo apt-get install dataset-fashion-mnist, or {get}"
    return get


def _unavailable(info: DatasetInfo, root: Path, reason: str) -> DatasetUnavailable:
    message = f"{info.name} is not available: {reason}; {_command_hint(info, root)}"
    if DATA_ROOT_SHOWN in message:
        message += f" ({DATA_ROOT_SHOWN} is the data root: ./data where it is not set)"
    return DatasetUnavailable(message)


def _all_files(info: DatasetInfo) -> tuple[str, ...]:
    """Every file of the data set; torchvision's CIFAR and MNIST classes check both splits' files on any load."""
    return tuple(dict.fromkeys(name for split in SPLITS for name in info.files[split]))


#: How messages name the data root (``$MIXUP_DATA``, ``./data`` when unset): no page shows a machine's folder.
DATA_ROOT_SHOWN = "$" + DATA_ENV


def shown_path(path: Path) -> str:
    """``path`` as a page may show it: under the data root as ``$MIXUP_DATA/…``, whether or not the variable is
    set (the same text on every machine); any other path as it is."""
    try:
        inside = Path(path).resolve().relative_to(data_root().resolve())
    except ValueError:
        return str(path)
    return f"{DATA_ROOT_SHOWN}/{inside}".removesuffix("/.")


def _missing_files(directory: Path, names: tuple[str, ...]) -> str:
    missing = [name for name in names if not (directory / name).is_file()]
    if len(missing) == len(names):
        return f"no files under {shown_path(directory)}"
    return f"incomplete files under {shown_path(directory)} (missing {', '.join(missing)})"


def _read_splits(
    info: DatasetInfo, splits: tuple[str, ...], root: Path, download: bool
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    return {split: _torchvision_read(info, split, root, download) for split in splits}


def _decode(
    info: DatasetInfo, splits: tuple[str, ...], root: Path, download: bool | None
) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], str]:
    """Decode ``splits`` from the first source that has the data set (see the module docstring); raise if none."""
    files_dir = root / info.folder
    names = _all_files(info)
    if info.in_channels == 1:  # MNIST-style: torchvision wants the idx files decompressed in <root>/<Class>/raw
        with _data_writes(root):
            _decompress_idx(names, files_dir, files_dir)
    if _has_files(files_dir, names):
        try:
            return _read_splits(info, splits, root, download=False), f"files under {files_dir}"
        except Exception as err:
            reason = f"the files under {files_dir} could not be read by torchvision ({_one_line(err)})"
            raise _unavailable(info, root, reason) from None
    looked = [_missing_files(files_dir, names)]

    if info.name == "fashion_mnist":
        debian = debian_fashion_mnist_dir()
        if _has_files(debian, tuple(f"{name}.gz" for name in names)):
            with _data_writes(root):
                _decompress_idx(names, debian, files_dir)
            try:
                decoded = _read_splits(info, splits, root, download=False)
            except Exception as err:
                reason = f"the Debian files in {debian} could not be read by torchvision ({_one_line(err)})"
                raise _unavailable(info, root, reason) from None
            return decoded, f"Debian package dataset-fashion-mnist ({debian})"
        looked.append(f"no Debian package files in {debian}")

    host, port = info.download_host
    if download is None:
        download = _internet_reachable(host, port)
        if not download:
            looked.append(f"no internet to download them ({host} unreachable)")
    elif not download:
        looked.append("downloading is switched off (download=False)")
    if download:
        try:
            decoded = _read_splits(info, splits, root, download=True)
        except Exception as err:
            looked.append(f"torchvision's download failed ({_one_line(err)})")
        else:
            return decoded, f"downloaded by torchvision from {host} into {files_dir}"
    raise _unavailable(info, root, ", ".join(looked[:-1]) + (" and " if len(looked) > 1 else "") + looked[-1])


def _cache_path(info: DatasetInfo, split: str, root: Path) -> Path:
    return root / f"{info.name}-{split}.pt"


def _read_cache(info: DatasetInfo, split: str, root: Path) -> tuple[torch.Tensor, torch.Tensor, str] | None:
    """The cached split, or None: absent, written before sidecars existed, or damaged (moved aside, one warning)."""
    cache = _cache_path(info, split, root)
    if not cache.is_file():
        return None
    try:
        data, problem = storage.read_verified(cache)
    except OSError as err:
        log.warning("the decoded cache %s is unreadable (%s); decoding again", cache, storage.describe_os_error(err))
        return None
    if storage.is_missing_sidecar(problem):
        return None  # unverified (an earlier version's cache): decoded again and overwritten
    blob = None
    if problem is None:
        with contextlib.suppress(Exception):  # unpickling failed: handled as damaged below
            blob = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        problem = None if _is_cache_of(blob, info) else "it is not a decoded cache of this data set"
    if problem is not None:
        with contextlib.suppress(OSError):
            storage.move_aside(cache, problem, then="decoding the data set again")
        return None
    return blob["x"], blob["y"], blob["source"]


def _is_cache_of(blob: object, info: DatasetInfo) -> bool:
    return isinstance(blob, dict) and blob.get("format") == CACHE_FORMAT and blob.get("name") == info.name


def _write_cache(info: DatasetInfo, split: str, root: Path, x: torch.Tensor, y: torch.Tensor, source: str) -> None:
    """Write the decoded cache and its sha256 sidecar; a failure is one warning line (loading works without it)."""
    cache = _cache_path(info, split, root)
    blob = {"format": CACHE_FORMAT, "name": info.name, "split": split, "x": x, "y": y, "source": source}
    try:
        root.mkdir(parents=True, exist_ok=True)
        storage.atomic_save(blob, cache, checksum=True)
    except OSError as err:
        log.warning(
            "could not write the decoded cache %s (%s); loading works without it",
            cache,
            storage.describe_os_error(err),
        )


def _data_writes(root: Path) -> contextlib.AbstractContextManager[None]:
    """Writes under the data root: an OSError becomes a one-line :class:`StorageError` naming the root."""
    return storage.writable(root, "the data folder", DATA_HINT)


def _load_splits(
    info: DatasetInfo, root: Path, download: bool | None
) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], str]:
    """Both splits as uint8 images and int64 labels, plus their provenance; from the decoded cache when there.

    The cache ``<root>/<name>-<split>.pt`` holds the uint8 tensors and the original provenance (so a cached
    load reports the same source as the first one); it is written atomically with its SHA-256 sidecar
    ``<name>-<split>.pt.sha256`` and checked on every load. Delete it to force a fresh decode. A cache that
    does not match its sidecar or does not load is moved aside (one warning line) and decoded again; a
    cache without a sidecar (written by an earlier version) is decoded again and overwritten.
    """
    for folder in (root, root / info.folder):
        storage.remove_stale_temps(folder)  # left by a killed process
    decoded: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    sources: dict[str, str] = {}
    for split in SPLITS:
        cached = _read_cache(info, split, root)
        if cached is not None:
            decoded[split], sources[split] = cached[:2], cached[2]
    missing = tuple(split for split in SPLITS if split not in decoded)
    if missing:
        fresh, source = _decode(info, missing, root, download)
        for split, (x, y) in fresh.items():
            _write_cache(info, split, root, x, y, source)
            decoded[split], sources[split] = (x, y), source
    train, test = sources["train"], sources["test"]
    return decoded, train if train == test else f"train: {train}; test: {test}"


def _channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Exact per-channel mean and (population) std of uint8 images in [0, 1] units, from 256-bin histograms."""
    values = torch.arange(256, dtype=torch.float64) / 255
    means, stds = [], []
    for c in range(x.shape[1]):
        counts = torch.bincount(x[:, c].reshape(-1), minlength=256).double()
        total = counts.sum()
        mean = float((counts * values).sum() / total) if total else 0.0
        var = float((counts * (values - mean) ** 2).sum() / total) if total else 0.0
        means.append(mean)
        stds.append(var**0.5)
    return tuple(means), tuple(stds)


def _check_size(name: str, key: str, value: int | None, available: int, what: str) -> None:
    if value is None:
        return
    check_positive_int(key, value)
    require(value <= available, f"{key}={value} is not allowed: {name} has {available} {what}")


def _two_moons(n_train: int | None, n_test: int | None, seed: int, noise: float) -> TensorData:
    """Two moons from scikit-learn's ``make_moons``; train and test are separate draws (classes balanced ±1)."""
    from sklearn.datasets import make_moons

    n_train = TWO_MOONS_DEFAULT_N if n_train is None else check_positive_int("n_train", n_train)
    n_test = TWO_MOONS_DEFAULT_N if n_test is None else check_positive_int("n_test", n_test)
    noise = check_nonnegative("noise", noise)
    parts = []
    for stream, n in ((0, n_train), (1, n_test)):
        x, y = make_moons(n_samples=n, noise=noise, random_state=_derived_seed(seed, stream))
        parts += [torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64)]
    return TensorData(
        name="two_moons",
        x_train=parts[0],
        y_train=parts[1],
        x_test=parts[2],
        y_test=parts[3],
        num_classes=2,
        in_channels=2,
        input_size=None,
        mean=None,
        std=None,
        augment=AugmentSpec(),
        source=f"scikit-learn make_moons(noise={noise}, seed={seed}): {n_train} train and {n_test} test points",
    )


def load_dataset(
    name: str,
    *,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    root: str | Path | None = None,
    download: bool | None = None,
    noise: float = 0.1,
) -> TensorData:
    """Load a data set of the paper as tensors on the CPU (call ``.to(device)`` for training).

    ``n_train``/``n_test``: seeded stratified subsets (class counts within 1; same seed, same subset;
    train and test subsets use independent streams of ``seed``); ``None`` = the full split. Two moons needs
    sizes (default 1000/1000) and uses ``noise``. ``download``: ``None`` tries torchvision's download only
    when the data set's host answers within 3 s, ``True`` always tries, ``False`` never does.
    ``root``: the data root (default :func:`data_root`).

    Raises :class:`ConfigError` for an unknown name or a subset larger than its split,
    :class:`DatasetUnavailable` when the files cannot be had, and :class:`~mixup_lib.storage.StorageError`
    when the root cannot be written to decompress them; all have one-line messages.
    """
    _check_name(name)
    require(
        isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0,
        f"seed={seed!r} is not allowed: it must be an integer >= 0",
    )
    check_choice("download", download, (None, True, False))
    if name == "two_moons":
        return _two_moons(n_train, n_test, seed, noise)
    for key, value in (("n_train", n_train), ("n_test", n_test)):
        if value is not None:
            check_positive_int(key, value)

    info = _REGISTRY[name]
    root = _resolve_root(root)
    decoded, source = _load_splits(info, root, download)
    (x_train, y_train), (x_test, y_test) = decoded["train"], decoded["test"]
    _check_size(name, "n_train", n_train, len(y_train), "training images")
    _check_size(name, "n_test", n_test, len(y_test), "test images")
    if n_train is not None:
        idx = stratified_subset(y_train, n_train, torch.Generator().manual_seed(_derived_seed(seed, 0)))
        x_train, y_train = x_train[idx], y_train[idx]
    if n_test is not None:
        idx = stratified_subset(y_test, n_test, torch.Generator().manual_seed(_derived_seed(seed, 1)))
        x_test, y_test = x_test[idx], y_test[idx]

    mean, std = _channel_stats(x_train)
    return TensorData(
        name=name,
        x_train=x_train.float().div_(255),
        y_train=y_train,
        x_test=x_test.float().div_(255),
        y_test=y_test,
        num_classes=info.num_classes,
        in_channels=info.in_channels,
        input_size=info.input_size,
        mean=mean,
        std=std,
        augment=info.augment,
        source=source,
    )


def download_dataset(name: str, root: str | Path | None = None) -> Path:
    """Get a data set's files (``python -m mixup_lib download <name>``) and decode them into the cache.

    Uses the same sources as :func:`load_dataset`, forcing torchvision's download where nothing is on
    disk. Returns the folder holding the files. Two moons needs nothing: the data root is returned.
    Raises :class:`DatasetUnavailable` (one line) when the download fails.
    """
    _check_name(name)
    root = _resolve_root(root)
    if name == "two_moons":
        return root
    info = _REGISTRY[name]
    _load_splits(info, root, download=True)
    return root / info.folder
