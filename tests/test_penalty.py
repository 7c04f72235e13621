"""approx.py's Section 4: the data-adaptive penalty and the effective rank, against closed forms."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from mixup_lib import approx
from mixup_lib.chapters import generalization
from mixup_lib.mixup import mixture_moment
from mixup_lib.models import build

DT = torch.float64


def test_penalty_of_binary_logreg_closed_form():
    """P = (1/n) Σ_i σ_i(1−σ_i)(θᵀΣ̂θ + (θᵀ(x̄ − x_i))²), G = θᵀΣ̂θ for one logit."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(15, 4, generator=g, dtype=DT) + 0.7
    y = torch.randint(0, 2, (15,), generator=g)
    theta = np.array([0.8, -1.1, 0.3, 2.0])
    model = build("logreg", 2, 4, bias=False, binary=True).to(DT)
    with torch.no_grad():
        model.linear.weight.copy_(torch.tensor(theta)[None])
    xn = x.numpy()
    s = 1 / (1 + np.exp(-xn @ theta))
    sigma = np.cov(xn.T, bias=True)
    quad = theta @ sigma @ theta
    expected = np.mean(s * (1 - s) * (quad + ((xn.mean(axis=0) - xn) @ theta) ** 2))
    terms = approx.penalty_terms(model, x, y)
    assert terms["penalty"] == pytest.approx(expected, rel=1e-12)
    assert terms["gradient_penalty"] == pytest.approx(quad, rel=1e-12)
    assert approx.data_adaptive_penalty(model, x, y) == terms["penalty"]


@pytest.mark.parametrize("n", [6, 40])  # n ≤ d (the centred data as factor) and n > d (thin SVD)
def test_penalty_is_r2_over_its_weight_for_a_nonlinear_multiclass_net(n):
    g = torch.Generator().manual_seed(n)
    x = torch.randn(n, 12, generator=g, dtype=DT)
    y = torch.randint(0, 3, (n,), generator=g)
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(12, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3)).to(DT)
    penalty = approx.penalty_terms(net, x, y)["penalty"]
    for alpha in (0.3, 1.0):
        with torch.no_grad():
            r2 = float(approx.approx_terms(net, x, y, alpha, r3="skip")["R2"])
        assert penalty == pytest.approx(r2 / (mixture_moment(alpha, None, 2) / 2), rel=1e-12)


def _rotated(coords: np.ndarray, d: int, seed: int) -> torch.Tensor:
    """Rows ``coords`` (n × k) placed on k orthonormal directions of R^d, plus an offset."""
    basis = torch.linalg.qr(torch.randn(d, coords.shape[1], generator=torch.Generator().manual_seed(seed),
                                        dtype=DT))[0]
    return torch.as_tensor(coords, dtype=DT) @ basis.T + 0.25


def test_effective_rank_of_data_with_known_spectrum():
    coords = np.array([[3.0, 1], [3, -1], [-3, 1], [-3, -1]])  # centred; covariance diag(9, 1)
    x = _rotated(coords, 6, seed=2)
    np.testing.assert_allclose(approx.covariance_spectrum(x)[:2], [9, 1], rtol=1e-12)
    assert np.abs(approx.covariance_spectrum(x)[2:]).max() < 1e-12
    r = approx.effective_rank(x, thresholds=(0.85, 0.9, 0.95))
    share = np.array([0.9, 0.1])
    assert (r["n"], r["d"], r["rank"]) == (4, 6, 2)
    assert r["participation_ratio"] == pytest.approx(100 / 82, rel=1e-12)
    assert r["entropy_rank"] == pytest.approx(math.exp(-(share * np.log(share)).sum()), rel=1e-12)
    assert (r["k_0.85"], r["k_0.9"], r["k_0.95"]) == (1, 1, 2)  # the first component holds exactly 90%


def test_effective_rank_of_constant_data_is_zero():
    r = approx.effective_rank(torch.ones(5, 3, dtype=DT))
    assert r["rank"] == 0 and r["participation_ratio"] == 0.0 and r["k_0.9"] == 0


def test_the_generalization_chapter_reuses_approx_and_defines_no_copy():
    for name in ("penalty_terms", "data_adaptive_penalty", "covariance_spectrum", "effective_rank", "loglog_slope"):
        assert getattr(generalization, name, getattr(approx, name)) is getattr(approx, name)
    assert generalization.approx is approx


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_trainer_imports_no_chapter():
    root = Path(approx.__file__).parent
    chapters = {"mixup_lib.generalization", "mixup_lib.robustness", "mixup_lib.chapters"}
    imported = _imported_modules(root / "train.py")
    assert "mixup_lib.approx.penalty_terms" in imported
    assert not {m for m in imported if any(m == c or m.startswith(c + ".") for c in chapters)}
