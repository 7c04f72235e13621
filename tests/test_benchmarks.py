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

from benchmarks import gpu, harness, loops, parallel, report, rterms
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
    assert res["ratio_vs_textbook"] > 0 and res["ratio_vs_bare"] > 0
    # two arms timed apart, 2 steps once each: on a busy machine the data-only arm can outlast the whole step
    # (1.02 seen in CI), so only the fraction's sign and finiteness are certain here
    assert 0 < res["textbook_data_fraction"] < float("inf")
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
    assert job.shape == (10, 3, 32, 32) and job.key == ("wrn-16-8", (), (10, 3, 32, 32))
    work = gpu.job_work(job)
    assert (work.train, work.forward, work.input_grad) == (2 * 3 * 1000, 2 * 3 * 1500, 0)
    tracked = gpu.job_work(gpu.Job("preact-resnet18", (("width", 64),), "cifar100", 1, 2, 100, 50, track_penalty=8))
    assert (tracked.forward, tracked.input_grad) == (2 * (150 + 2 * 8), 2 * 100 * 8)  # 2 forwards, K gradients
    flops = {job.key: {"train": 3.0, "forward": 1.0, "input_grad": 1.5}}
    rates = {job.key: {"train_per_s": 100.0, "eval_per_s": 300.0}}
    assert gpu.project({job.key: work}, rates, flops) == pytest.approx(2 * 3 * 1000 / 100 + 2 * 3 * 1500 / 300)
    config = {"dataset": "svhn", "model": "wrn-16-8", "epochs": 3, "method": "erm", "seed": 0}
    jobs = gpu.config_jobs([config, {**config, "alpha": 0.7}, {**config, "seed": 1}])  # ERM ignores α
    assert len(jobs) == 2 and jobs[0].n_train == gpu.TRAIN_SIZES["svhn"]
    analysis = gpu.robustness_analysis({"n_test": 10, "dataset": "svhn", "eps_255": [0, 1, 2], "pgd_eps_255": [0, 4],
                                        "pgd_points": 3, "pgd_steps": 5, "cos_points": 7}, 1, 1)
    # 2 nets × FGSM on 10 points (1 gradient, 1 + 3 forwards); the Fig. 1a net: FGSM on 3 points (1 + 1 + 2),
    # PGD at ε = 4 (5 steps + 1) and at ε = 0 (1), Fig. 3 (2 targets × 7 points)
    assert analysis.input_grad == 2 * 10 + 3 + 3 * 5 + 14
    assert analysis.forward == 2 * 10 * 4 + 3 * 3 + 3 * 7 + 14


def test_the_projection_lists_the_chapters_own_paper_configs():
    """One source of truth: the robustness jobs are robustness.configs of the paper profile on SVHN (not the
    Fashion-MNIST fallback this machine would use), the generalization jobs track Section 4's penalty."""
    from mixup_lib import profiles, runs, train
    from mixup_lib.chapters import robustness

    workloads = gpu.chapter_workloads()
    assert set(workloads) == {"approximation", "robustness", "generalization"}
    assert workloads["approximation"]["note"].startswith("not projected") and not workloads["approximation"]["work"]
    paper = profiles.resolve("robustness", "paper")
    configs = [*robustness.fig1a_configs(paper, "svhn").values(),
               *robustness.alpha_sweep_configs(paper, "svhn").values()]
    expected = {runs.config_hash(train.validate_config(c)) for c in configs}
    rob = workloads["robustness"]["jobs"]
    assert len(rob) == len(expected) == 10 and {(j.model, j.dataset, j.epochs, j.n_train) for j in rob} == {
        ("wrn-16-8", "svhn", paper["epochs"], gpu.TRAIN_SIZES["svhn"])}
    gen = workloads["generalization"]["jobs"]
    assert {j.dataset for j in gen} == {"cifar10", "cifar100", "fashion_mnist", "kmnist"}
    assert all(j.model_kwargs == (("width", 64),) and j.track_penalty > 0 for j in gen)
    assert workloads["robustness"]["work"][rob[0].key].input_grad > 0  # the attacks


def test_flops_counted_on_the_meta_device_equal_those_of_a_real_pass():
    from torch.utils.flop_counter import FlopCounterMode

    counted = gpu.image_flops("wrn-10-1", (), (3, 1, 8, 8))
    torch.manual_seed(0)
    net = models.build("wrn-10-1", 3, 1, input_size=(8, 8))
    x = torch.rand(2, 1, 8, 8)
    with FlopCounterMode(display=False) as counter:
        net(x).sum().backward()
    assert counted["train"] == counter.get_total_flops() / 2
    net.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(x)
    assert counted["forward"] == counter.get_total_flops() / 2
    assert counted["forward"] <= counted["input_grad"] < counted["train"]  # no weight gradients in an input gradient


def test_projection_divides_flops_by_peak_times_utilisation(monkeypatch):
    job = gpu.Job("wrn-10-1", (), "cifar10", 1, 2, 100, 50)
    workloads = {"toy": {"jobs": [job], "work": {job.key: gpu.job_work(job)}, "note": "1 run"},
                 "none": {"jobs": [], "work": {}, "note": "not projected: no runs"}}
    gpus = {"G": {"peak_flops": 1e12, "peak": "1 TFLOP/s", "utilisation": 0.5}}
    proj = gpu.projection(workloads, gpus)
    f = proj["flops_per_image"]["wrn-10-1 on 32×32×3, 10 classes"]
    total = 2 * 100 * f["train"] + 2 * 150 * f["forward"]
    assert proj["chapters"]["toy"]["flops"] == pytest.approx(total)
    assert proj["chapters"]["toy"]["hours"]["G"] == pytest.approx(total / 0.5e12 / 3600)
    assert proj["chapters"]["none"]["hours"] is None
    lines = gpu.projection_lines(proj)
    assert any(line.strip().startswith("toy") and " h" in line for line in lines) and "50% assumed" in lines[-1]


def test_gpu_section_code_path_on_the_cpu():
    job = gpu.Job("wrn-10-1", (), "cifar10", 1, 2, 128, 64)
    workloads = {"toy": {"jobs": [job], "work": {job.key: gpu.job_work(job)}, "note": "1 run"},
                 "none": {"jobs": [], "work": {}, "note": "not projected"}}
    lines = []
    res = gpu.run_gpu("cpu", steps=2, repeats=1, model="wrn-10-1", size=8, workloads=workloads, log=lines.append)
    assert res["fast_path_vs_trainer"] > 0 and res["backend_flags"] == {}
    assert res["projections"]["toy"]["seconds"] > 0 and res["projections"]["none"]["seconds"] is None
    assert any("fast_path" in line for line in lines) and any("TFLOP/s" in line for line in lines)


@pytest.mark.slow
def test_speedup_section_runs_on_the_smoke_profile():
    """Benchmark 5 at a tiny size: both arms train every run into their own store and a ratio comes out."""
    lines = []
    res = parallel.run_speedup("smoke", log=lines.append)
    assert res["runs"] >= 2 and set(res["seconds"]) == {"1", "2"} and all(v > 0 for v in res["seconds"].values())
    assert res["ratio"] == pytest.approx(res["seconds"]["1"] / res["seconds"]["2"]) and res["target"] == 1.6
    assert any("speed-up" in line for line in lines)
    rows, _ = bench_run.verdicts({}, [], res)
    assert rows[-1]["benchmark"] == "5" and rows[-1]["met"] == (res["ratio"] >= 1.6)


def test_only_merges_sections_into_the_results_file(tmp_path, monkeypatch):
    out, page = tmp_path / "latest.json", tmp_path / "performance.md"
    out.write_text(json.dumps({**_fake_result(), "gpu": {"skipped": "no CUDA"}}))
    speedup = {"chapter": "robustness", "profile": "quick", "runs": 8, "workers": [1, 2],
               "seconds": {"1": 10.0, "2": 5.5}, "ratio": 10 / 5.5, "target": 1.6, "usable_cores": 2,
               "what": "8 runs", "load_average_start": [0.1], "load_average_end": [0.2]}
    monkeypatch.setattr(parallel, "run_speedup", lambda profile, log: speedup)
    assert bench_run.main(["--only", "speedup", "--out", str(out), "--page", str(page)]) == 0
    merged = json.loads(out.read_text())
    assert merged["speedup"] == speedup and merged["training"] == {} and "speedup" in merged["sections_updated"]
    assert merged["verdicts"][-1]["benchmark"] == "5" and merged["verdicts"][-1]["met"]
    assert "**1.82×**" in page.read_text()
    with pytest.raises(SystemExit):
        bench_run.main(["--only", "nonsense", "--out", str(out)])


def _fake_result() -> dict:
    return {
        "date": "2026-01-01 00:00", "elapsed_s": 1.0,
        "machine": {"cpu": "X", "logical_cores": 2, "usable_cores": 2, "torch_threads": 1, "platform": "p",
                    "load_average_start": [0.1], "load_average_end": [0.2], "gpu": None},
        "versions": {"torch": "2"}, "settings": {"threads": 1, "repeats": 1, "command": "python benchmarks/run.py"},
        "matmul_peak": {"matmul": {"n": 8, "median_gflops": 1.0, "best_gflops": 1.0},
                        "conv": {"shape": "s", "median_gflops": 2.0, "best_gflops": 2.0}, "limit_gflops": 2.0},
        "verdicts": [{"benchmark": "1", "what": "w", "value": 1.5, "target_text": "≥ 3×", "met": False}],
        "reasons": ["because"], "training": {}, "flops": {}, "rterms": {"cases": []},
    }


def test_page_renders_from_a_smoke_result(tmp_path):
    out, page = tmp_path / "latest.json", tmp_path / "performance.md"
    bench_run.write_atomic(out, "{}")
    assert json.loads(out.read_text()) == {} and [p.name for p in tmp_path.iterdir()] == ["latest.json"]
    fake = {**_fake_result(), "gpu": {"skipped": "no CUDA"}}
    text = report.render(fake)
    assert text.startswith("# Performance\n") and "**not met**" in text and "No GPU was available" in text
    assert "make bench" in text and "- because" in text and "--only speedup" in text  # sections 5, 6 not run
    proj = {"gpus": {"NVIDIA A100": {"peak_flops": 312e12, "peak": "bf16", "utilisation": 0.15}}, "assumption": "A.",
            "flops_per_image": {"wrn-16-8 on 32×32×3, 10 classes": {"train": 9.3e9, "forward": 3.1e9,
                                                                      "input_grad": 3.1e9}},
            "chapters": {"robustness": {"note": "10 runs", "flops": 3e17, "train_flops": 2e17,
                                        "hours": {"NVIDIA A100": 1.8}},
                         "approximation": {"note": "not projected", "flops": None, "hours": None}}}
    text = report.render({**fake, "projection": proj})
    assert "| robustness | 300 | 67% | 1.8 h | 10 runs |" in text and "NVIDIA A100 (15%)" in text
    bench_run.write_atomic(page, text)
    assert page.read_text() == text
