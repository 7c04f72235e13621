"""The benchmark suite's pieces on tiny inputs: the per-sample R-terms equal the batched ones, the textbook loop and
the arms run, the projection arithmetic, the GPU section's code path (on the CPU), and the page renders."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import gpu, harness, loops, report, rterms
from benchmarks import run as bench_run
from mixup_lib import approx, data, models
from mixup_lib.data import AugmentSpec, TensorData


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _images(n: int = 128, classes: int = 3) -> TensorData:
    g = torch.Generator().manual_seed(0)
    x = (torch.randint(0, 256, (n + 32, 1, 8, 8), generator=g).float() / 255)
    y = torch.arange(n + 32) % classes
    return TensorData("fashion_mnist", x[:n], y[:n], x[n:], y[n:], classes, 1, (8, 8), (0.5,), (0.29,), AugmentSpec(),
                      "synthetic")


@pytest.mark.parametrize("binary", [True, False])
def test_per_sample_loop_equals_batched_terms_on_two_moons(binary):
    moons = data.load_dataset("two_moons", n_train=40, n_test=8, seed=0)
    torch.manual_seed(0)
    model = models.build("two-layer-relu", 2, 2, binary=binary, hidden=8).double()
    x = moons.x_train.double()
    with torch.no_grad():
        batched = {k: float(v) for k, v in approx.approx_terms(model, x, moons.y_train, 1.0).items()}
    loop = rterms.per_sample_terms(model, x, moons.y_train, 1.0)
    assert rterms.check_close(batched, loop, rtol=1e-9, atol=1e-12) < 1e-9
    assert batched["R1"] != 0 and batched["R2"] > 0


def test_per_sample_loop_covers_curvature_and_images():
    moons = data.load_dataset("two_moons", n_train=30, n_test=8, seed=1)
    smooth = rterms.check_smooth(moons.x_train.double(), moons.y_train)
    assert abs(smooth["terms"]["R3"]) > 1e-6 and smooth["max_relative_difference"] < 1e-9
    images = _images(12)
    torch.manual_seed(0)
    mlp = models.build("two-layer-relu", 3, 1, input_size=(8, 8), hidden=6).double()
    x = images.x_train.double()  # n = 12 < d = 64: the factor is the centred data itself
    with torch.no_grad():
        batched = {k: float(v) for k, v in approx.approx_terms(mlp, x, images.y_train, 0.5).items()}
    loop = rterms.per_sample_terms(mlp, x, images.y_train, 0.5)
    rterms.check_close(batched, loop, rtol=1e-9, atol=1e-12)


def test_check_close_rejects_a_wrong_term():
    with pytest.raises(AssertionError, match="R2"):
        rterms.check_close({"R2": 1.0}, {"R2": 1.001}, rtol=1e-6, atol=0.0)


def test_covariance_factor_reproduces_the_covariance():
    x = torch.randn(50, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for rows in (x, x[:2]):  # n > d (eigendecomposition) and n <= d (centred data)
        mean, factor = rterms.covariance_factor(rows)
        centred = rows - rows.mean(dim=0)
        torch.testing.assert_close(factor.T @ factor, centred.T @ centred / len(rows))
        torch.testing.assert_close(mean, rows.mean(dim=0))


def test_textbook_pieces_follow_the_original_mixup_code():
    x, y = torch.arange(8.0).reshape(4, 2), torch.tensor([0, 1, 2, 3])
    np.random.seed(0)
    torch.manual_seed(0)
    mixed, y_a, y_b, lam = loops.mixup_data(x, y, 1.0)
    np.random.seed(0)
    torch.manual_seed(0)
    lam_expected, index = np.random.beta(1.0, 1.0), torch.randperm(4)  # the original's two draws, in order
    assert lam == lam_expected and torch.equal(y_a, y) and torch.equal(y_b, y[index])
    torch.testing.assert_close(mixed, lam * x + (1 - lam) * x[index])
    criterion = torch.nn.CrossEntropyLoss()
    pred = torch.randn(4, 4)
    value = loops.mixup_criterion(criterion, pred, y_a, y_b, 0.25)
    torch.testing.assert_close(value, 0.25 * criterion(pred, y_a) + 0.75 * criterion(pred, y_b))
    # The image dataset returns what torchvision's FashionMNIST returns: a normalized (1, H, W) tensor and an int.
    images = _images(4)
    sample, target = loops.textbook_dataset(images)[1]
    torch.testing.assert_close(sample, (images.x_train[1] - 0.5) / 0.29, atol=1e-6, rtol=0)
    assert target == int(images.y_train[1])


def test_compare_runs_every_arm_on_tiny_models():
    images = _images(128)
    res = loops.compare({"model": "wrn-10-1", "label": "WRN-10-1", "data_label": "tiny", "conv": True,
                         "workers": (0,)}, images, steps=2, repeats=1)
    assert set(res["arms"]) >= {"trainer", "bare", "textbook_w0", "textbook_data_only"}
    assert res["ratio_vs_textbook"] > 0 and res["ratio_vs_bare"] > 0 and 0 < res["textbook_data_fraction"] < 1
    assert res["arms"]["trainer"]["median_eval"] > 0  # the evaluation passes were timed apart
    flops = loops.step_flops({"model": "logreg"}, images)
    # logistic regression: forward 2·n·d·K FLOPs; backward adds the weight gradient only (inputs need none)
    assert flops["forward"] == 2 * 64 * 64 * 3 and flops["forward_backward"] == 2 * flops["forward"]


def test_interleaving_alternates_order_and_medians():
    calls = []
    arms = {"a": lambda: calls.append("a") or {"s": 1.0}, "b": lambda: calls.append("b") or {"s": 3.0}}
    samples = harness.interleaved(arms, repeats=3, warmup=1)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]
    summary = harness.summarize(samples, items=6)
    assert summary["a"]["per_s"] == 6.0 and summary["b"]["median_s"] == 3.0


def test_projection_arithmetic_and_job_deduplication():
    job = gpu.Job("wrn-16-8", (), "svhn", 2, 3, 1000, 500)
    rates = {("wrn-16-8", (), job.shape): {"train_per_s": 100.0, "eval_per_s": 300.0}}
    assert job.shape == (10, 3, 32, 32)
    assert gpu.project([job], rates) == pytest.approx(2 * 3 * 1000 / 100 + 2 * 3 * 1500 / 300)
    config = {"dataset": "svhn", "model": "wrn-16-8", "epochs": 3, "method": "erm", "seed": 0}
    jobs = gpu.config_jobs([config, {**config, "alpha": 0.7}, {**config, "seed": 1}])  # ERM ignores α
    assert len(jobs) == 2 and jobs[0].n_train == gpu.TRAIN_SIZES["svhn"]
    empty, note = gpu.generic_jobs({"steps": 10})
    assert empty == [] and note.startswith("not projected")


def test_every_registered_chapter_gets_a_projection_or_a_reason():
    for chapter, (jobs, note) in gpu.chapter_jobs().items():
        assert note, chapter
        assert all(j.epochs >= 1 and j.n_train >= 1 for j in jobs)


def test_gpu_section_code_path_on_the_cpu():
    jobs = {"toy": ([gpu.Job("wrn-10-1", (), "cifar10", 1, 2, 128, 64)], "1 run"), "none": ([], "not projected")}
    lines = []
    res = gpu.run_gpu("cpu", steps=2, repeats=1, model="wrn-10-1", size=8, jobs=jobs, log=lines.append)
    assert res["fast_path_vs_trainer"] > 0 and res["backend_flags"] == {}
    assert res["projections"]["toy"]["seconds"] > 0 and res["projections"]["none"]["seconds"] is None
    assert any("fast_path" in line for line in lines)


def test_page_renders_from_a_smoke_result(tmp_path):
    out, page = tmp_path / "latest.json", tmp_path / "performance.md"
    bench_run.write_atomic(out, "{}")
    assert json.loads(out.read_text()) == {} and [p.name for p in tmp_path.iterdir()] == ["latest.json"]
    fake = {
        "date": "2026-01-01 00:00", "elapsed_s": 1.0,
        "machine": {"cpu": "X", "logical_cores": 2, "usable_cores": 2, "torch_threads": 1, "platform": "p",
                    "load_average_start": [0.1], "load_average_end": [0.2], "gpu": None},
        "versions": {"torch": "2"}, "settings": {"threads": 1, "repeats": 1, "command": "python benchmarks/run.py"},
        "matmul_peak": {"matmul": {"n": 8, "median_gflops": 1.0, "best_gflops": 1.0},
                        "conv": {"shape": "s", "median_gflops": 2.0, "best_gflops": 2.0}, "limit_gflops": 2.0},
        "verdicts": [{"benchmark": "1", "what": "w", "value": 1.5, "target_text": "≥ 3×", "met": False}],
        "reasons": ["because"], "training": {}, "flops": {}, "rterms": {"cases": []},
        "gpu": {"skipped": "no CUDA"},
    }
    text = report.render(fake)
    assert text.startswith("# Performance\n") and "**not met**" in text and "No GPU was available" in text
    assert "make bench" in text and "- because" in text
    bench_run.write_atomic(page, text)
    assert page.read_text() == text
