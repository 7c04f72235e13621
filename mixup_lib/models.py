"""Models used by the paper and its theory, and the one factory :func:`build` that makes them.

- ``"wrn-<depth>-<k>"``: Wide ResNet WRN-d-k (Zagoruyko & Komodakis, 2016, "Wide Residual Networks"),
  pre-activation wide basic blocks. The paper's Fig. 1a compares mixup and ERM with WRN-16-8 on SVHN.
- ``"preact-resnet18"``: pre-activation ResNet-18 (He et al., 2016, "Identity Mappings in Deep Residual
  Networks"), laid out as in kuangliu/pytorch-cifar and facebookresearch/mixup-cifar10; the paper's
  Figs. 5-8 use it.
- ``"logreg"``: logistic regression (flatten + one linear layer), the GLM of the paper's Section 3.
- ``"two-layer-relu"``: flatten + Linear + ReLU + Linear. With ``bias=False`` the network is piecewise
  linear and positively homogeneous, so ∇²f = 0 almost everywhere and f(x) = ∇f(x)ᵀx: the assumptions
  under which the R3 term of Eq. (3) vanishes (Section 3).

Inputs live in [0, 1] pixel space. When ``mean``/``std`` are given, :class:`Normalize` is the model's first
layer, so every attack radius ε is measured in pixel units.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mixup_lib.errors import ConfigError, check_positive_int, require

MODEL_NAMES = ("wrn-<depth>-<k>", "preact-resnet18", "logreg", "two-layer-relu")

_WRN_PATTERN = re.compile(r"wrn-(\d+)-(\d+)")
#: Model families that are convolutional (need images); the others are the linear models of Section 3.
CONV_FAMILIES = ("wrn", "preact-resnet18")
#: The models that take vectors (e.g. two moons' 2 features) as well as flattened images.
VECTOR_MODELS = ("logreg", "two-layer-relu")


# ----------------------------------------------------------------------------------------------------------
# Normalization as a layer


class Normalize(nn.Module):
    """(x − mean) / std per channel (image input, N×C×H×W) or per feature (vector input, N×d).

    ``mean`` and ``std`` are buffers, so they follow ``.to(device/dtype)`` and are saved in the state dict.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).reshape(-1))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).reshape(-1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return (x - self.mean.reshape(shape)) / self.std.reshape(shape)

    def extra_repr(self) -> str:
        return f"mean={self.mean.tolist()}, std={self.std.tolist()}"


# ----------------------------------------------------------------------------------------------------------
# The pre-activation basic block both networks are built of


class PreActBlock(nn.Module):
    """Pre-activation basic block: BN-ReLU-conv3×3 (-dropout) BN-ReLU-conv3×3, plus the shortcut.

    When the shape changes the shortcut is a 1×1 convolution of the pre-activated input. With ``dropout`` > 0
    it is the wide basic block of Zagoruyko & Komodakis (2016); with 0, the block of He et al. (2016).
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.dropout = dropout
        self.shortcut = None
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = F.relu(self.bn2(out))
        if self.dropout > 0:
            out = F.dropout(out, p=self.dropout, training=self.training)
        return self.conv2(out) + shortcut


# ----------------------------------------------------------------------------------------------------------
# Wide ResNet (Zagoruyko & Komodakis 2016)


class WideResNet(nn.Module):
    """WRN-depth-k: a 3×3 stem with 16 channels, three groups of (depth − 4)/6 wide basic blocks with
    16k, 32k, 64k channels (strides 1, 2, 2), then BN-ReLU, global average pooling and a linear layer.

    Adaptive average pooling makes any input size work (32×32 RGB, 28×28 grayscale, ...).
    """

    def __init__(self, depth: int, k: int, num_classes: int, in_channels: int = 3, dropout: float = 0.0) -> None:
        super().__init__()
        n = (depth - 4) // 6
        widths = (16, 16 * k, 32 * k, 64 * k)
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, stride=1, padding=1, bias=False)
        self.block1 = self._group(widths[0], widths[1], n, 1, dropout)
        self.block2 = self._group(widths[1], widths[2], n, 2, dropout)
        self.block3 = self._group(widths[2], widths[3], n, 2, dropout)
        self.bn = nn.BatchNorm2d(widths[3])
        self.linear = nn.Linear(widths[3], num_classes)
        _init_weights(self)

    @staticmethod
    def _group(in_planes: int, planes: int, n: int, stride: int, dropout: float) -> nn.Sequential:
        blocks = [
            PreActBlock(in_planes if i == 0 else planes, planes, stride if i == 0 else 1, dropout) for i in range(n)
        ]
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block3(self.block2(self.block1(self.conv1(x))))
        out = F.adaptive_avg_pool2d(F.relu(self.bn(out)), 1).flatten(1)
        return self.linear(out)


# ----------------------------------------------------------------------------------------------------------
# Pre-activation ResNet-18 (He et al. 2016)


class PreActResNet18(nn.Module):
    """Pre-activation ResNet-18 with base width ``width`` (64 is the standard network).

    As in kuangliu/pytorch-cifar (the code of the original mixup paper): a 3×3 stem, four stages of two
    blocks with width, 2·width, 4·width, 8·width channels, then average pooling and a linear layer (no
    final BN-ReLU; with width 64 and 10 classes this has 11,171,146 parameters). Pooling is adaptive, so
    any input size works.
    """

    def __init__(self, num_classes: int, in_channels: int = 3, width: int = 64) -> None:
        super().__init__()
        w = width
        self.conv1 = nn.Conv2d(in_channels, w, 3, stride=1, padding=1, bias=False)
        self.layer1 = nn.Sequential(PreActBlock(w, w, 1), PreActBlock(w, w, 1))
        self.layer2 = nn.Sequential(PreActBlock(w, 2 * w, 2), PreActBlock(2 * w, 2 * w, 1))
        self.layer3 = nn.Sequential(PreActBlock(2 * w, 4 * w, 2), PreActBlock(4 * w, 4 * w, 1))
        self.layer4 = nn.Sequential(PreActBlock(4 * w, 8 * w, 2), PreActBlock(8 * w, 8 * w, 1))
        self.linear = nn.Linear(8 * w, num_classes)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layer4(self.layer3(self.layer2(self.layer1(self.conv1(x)))))
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


def _init_weights(model: nn.Module) -> None:
    """Kaiming-normal convolutions (fan-out, ReLU), BN weight 1 / bias 0, linear bias 0."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)


# ----------------------------------------------------------------------------------------------------------
# Small models of the theory (Section 3)


class LogisticRegression(nn.Module):
    """f(x) = W·flatten(x) + b. With ``binary=True`` there is one logit, returned with shape (N,):
    the paper's binary GLM with h(z) = log(1 + e^z)."""

    def __init__(self, in_features: int, num_classes: int, bias: bool = True, binary: bool = False) -> None:
        super().__init__()
        self.binary = binary
        self.linear = nn.Linear(in_features, 1 if binary else num_classes, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear(x.flatten(1))
        return out.squeeze(-1) if self.binary else out


class TwoLayerReLU(nn.Module):
    """f(x) = W₂·ReLU(W₁·flatten(x) + b₁) + b₂.

    With ``bias=False`` f is piecewise linear and positively homogeneous: ∇²f = 0 almost everywhere and
    f(x) = ∇f(x)ᵀx (the theory's assumptions). ``binary=True`` gives one logit of shape (N,).
    """

    def __init__(
        self, in_features: int, num_classes: int, hidden: int = 100, bias: bool = True, binary: bool = False
    ) -> None:
        super().__init__()
        self.binary = binary
        self.fc1 = nn.Linear(in_features, hidden, bias=bias)
        self.fc2 = nn.Linear(hidden, 1 if binary else num_classes, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.fc2(F.relu(self.fc1(x.flatten(1))))
        return out.squeeze(-1) if self.binary else out


# ----------------------------------------------------------------------------------------------------------
# Factory


_ALLOWED_KW = {
    "wrn": {"dropout": 0.0},
    "preact-resnet18": {"width": 64},
    "logreg": {"bias": True, "binary": False},
    "two-layer-relu": {"hidden": 100, "bias": True, "binary": False},
}


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def build(
    name: str,
    num_classes: int,
    in_channels: int,
    *,
    input_size: tuple[int, int] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    **kw,
) -> nn.Module:
    """Build a model by name; see :data:`MODEL_NAMES`. Bad input raises a one-line :class:`ConfigError`.

    - ``"wrn-<depth>-<k>"`` ((depth − 4) % 6 == 0, depth >= 10, k >= 1), kw ``dropout=0.0``.
    - ``"preact-resnet18"``, kw ``width=64`` (base channels).
    - ``"logreg"``, kw ``bias=True``, ``binary=False``.
    - ``"two-layer-relu"``, kw ``hidden=100``, ``bias=True``, ``binary=False``.

    ``input_size=(H, W)`` is the image size; the linear models then take ``in_channels·H·W`` features, and
    ``None`` means vector input with ``in_channels`` features. The convolutional nets accept any size.
    ``binary=True`` (needs ``num_classes == 2``) gives one logit per sample, shape (N,).
    ``mean``/``std`` (one value per channel, or per feature for vector input) prepend :class:`Normalize`.
    """
    family, depth, k = _parse_name(name)
    check_positive_int("num_classes", num_classes)
    check_positive_int("in_channels", in_channels)
    if input_size is not None:
        require(
            isinstance(input_size, (tuple, list))
            and len(input_size) == 2
            and all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in input_size),
            f"input_size={input_size!r} is not allowed: it must be a pair (H, W) of integers >= 1, or None",
        )
    opts = _check_kw(name, family, kw)

    if family == "wrn":
        model: nn.Module = WideResNet(depth, k, num_classes, in_channels, dropout=opts["dropout"])
    elif family == "preact-resnet18":
        model = PreActResNet18(num_classes, in_channels, width=opts["width"])
    else:
        require(
            not opts["binary"] or num_classes == 2,
            f"num_classes={num_classes!r} is not allowed with binary=True: a single-logit model needs num_classes=2",
        )
        in_features = in_channels * (math.prod(input_size) if input_size is not None else 1)
        if family == "logreg":
            model = LogisticRegression(in_features, num_classes, bias=opts["bias"], binary=opts["binary"])
        else:
            model = TwoLayerReLU(in_features, num_classes, opts["hidden"], bias=opts["bias"], binary=opts["binary"])

    if mean is not None or std is not None:
        model = nn.Sequential(_normalize_layer(mean, std, in_channels), model)
    return model


def check_spec(name: str, kw: dict) -> None:
    """Check a model name and its keywords as :func:`build` does, without building anything.

    (Building on the meta device would check the same, but its first weight initialisation imports
    ``torch._dynamo``: seconds, before a bad config's one-line error.)
    """
    family, _, _ = _parse_name(name)
    _check_kw(name, family, kw)


def is_convolutional(name: str) -> bool:
    """True for the convolutional nets (``wrn-<depth>-<k>``, ``preact-resnet18``): they need image input
    (N, C, H, W); the linear models (``logreg``, ``two-layer-relu``) take vectors or flattened images.
    An unknown name raises the one-line :class:`ConfigError` of :func:`build`."""
    family, _, _ = _parse_name(name)
    return family in CONV_FAMILIES


def _parse_name(name: object) -> tuple[str, int, int]:
    """Return (family, depth, k); depth and k are 0 for families other than WRN."""
    choices = ", ".join(MODEL_NAMES)
    if isinstance(name, str) and name in ("preact-resnet18", "logreg", "two-layer-relu"):
        return name, 0, 0
    match = _WRN_PATTERN.fullmatch(name) if isinstance(name, str) else None
    require(match is not None, f"model={name!r} is not allowed: choose one of {choices}")
    depth, k = int(match.group(1)), int(match.group(2))
    require(
        depth >= 10 and (depth - 4) % 6 == 0,
        f"model={name!r} is not allowed: WRN depth {depth} must satisfy (depth - 4) % 6 == 0 and depth >= 10 "
        "(e.g. 10, 16, 22, 28, 40)",
    )
    require(k >= 1, f"model={name!r} is not allowed: WRN widening factor k={k} must be an integer >= 1")
    return "wrn", depth, k


def _check_kw(name: str, family: str, kw: dict) -> dict:
    """Merge ``kw`` into the family's defaults, rejecting unknown keywords and bad values."""
    defaults = _ALLOWED_KW[family]
    unknown = sorted(set(kw) - set(defaults))
    if unknown:
        raise ConfigError(
            f"keyword {unknown[0]!r} is not allowed for model={name!r}: allowed are {', '.join(defaults)}"
        )
    opts = {**defaults, **kw}
    for key in ("bias", "binary"):
        if key in kw:
            require(isinstance(kw[key], bool), f"{key}={kw[key]!r} is not allowed: it must be True or False")
    for key in ("width", "hidden"):
        if key in kw:
            check_positive_int(key, kw[key])
    if "dropout" in kw:
        p = kw["dropout"]
        require(
            isinstance(p, (int, float)) and not isinstance(p, bool) and 0 <= p < 1,
            f"dropout={p!r} is not allowed: it must be a number in [0, 1)",
        )
        opts["dropout"] = float(p)
    return opts


def _normalize_layer(mean: Sequence[float] | None, std: Sequence[float] | None, in_channels: int) -> Normalize:
    """Validate mean/std (both given, one finite value per channel/feature, std > 0) and make the layer."""
    require(mean is not None and std is not None, f"mean={mean!r}, std={std!r}: give both mean and std, or neither")
    try:
        mean_t = torch.as_tensor(mean, dtype=torch.float64).reshape(-1)
        std_t = torch.as_tensor(std, dtype=torch.float64).reshape(-1)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ConfigError(f"mean={mean!r}, std={std!r} is not allowed: they must be sequences of numbers") from err
    for label, t, value in (("mean", mean_t, mean), ("std", std_t, std)):
        require(
            t.numel() == in_channels,
            f"{label}={value!r} is not allowed: it needs in_channels={in_channels} values (one per channel/feature)",
        )
        require(bool(torch.isfinite(t).all()), f"{label}={value!r} is not allowed: values must be finite")
    require(bool((std_t > 0).all()), f"std={std!r} is not allowed: every value must be > 0")
    return Normalize(mean_t.tolist(), std_t.tolist())
