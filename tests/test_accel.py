"""GPU fast-path helpers: exact no-ops on the CPU, channels_last only when asked, GPU paths when a GPU exists."""

from __future__ import annotations

import pytest
import torch

from mixup_lib import accel, models

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _wrn() -> torch.nn.Module:
    torch.manual_seed(0)
    return models.build("wrn-10-1", 3, 1, mean=(0.5,), std=(0.25,))


def test_configure_backends_changes_nothing_on_cpu():
    before = torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    assert accel.configure_backends("cpu") == {}
    assert accel.configure_backends(torch.device("cpu")) == {}
    after = torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    assert after == before


def test_prepare_model_on_cpu_is_a_no_op_by_default():
    model = _wrn()
    params = list(model.parameters())
    state = {k: v.clone() for k, v in model.state_dict().items()}
    out = accel.prepare_model(model, "cpu")
    assert out is model
    assert all(a is b for a, b in zip(params, model.parameters(), strict=True))
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    conv = model[1].block1[0].conv1.weight  # 16 input channels: the two layouts differ
    assert conv.is_contiguous() and not conv.is_contiguous(memory_format=torch.channels_last)
    x = torch.rand(2, 1, 8, 8)
    assert accel.prepare_input(x, model) is x


def test_forced_channels_last_keeps_values_parameters_and_the_optimizer():
    reference, model = _wrn(), _wrn()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    params = list(model.parameters())
    accel.prepare_model(model, "cpu", channels_last=True)
    assert all(a is b for a, b in zip(params, model.parameters(), strict=True))
    assert model[1].block1[0].conv1.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    xc = accel.prepare_input(x, model, channels_last=True)
    assert xc.is_contiguous(memory_format=torch.channels_last) and torch.equal(xc, x)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(xc), reference.eval()(x), rtol=1e-5, atol=1e-6)
    model.train()
    before = model[1].linear.weight.detach().clone()
    model(xc).sum().backward()
    optimizer.step()
    assert not torch.equal(before, model[1].linear.weight)


def test_channels_last_ignores_models_and_inputs_without_convolutions():
    model = models.build("two-layer-relu", 2, 2)
    assert not accel.has_conv(model) and accel.has_conv(_wrn())
    accel.prepare_model(model, "cpu", channels_last=True)
    assert all(p.is_contiguous() for p in model.parameters())
    v = torch.rand(5, 2)
    assert accel.prepare_input(v, model, channels_last=True) is v


def test_autocast_is_a_no_op_on_cpu_and_when_disabled():
    a, b = torch.rand(4, 4), torch.rand(4, 4)
    with accel.autocast("cpu"):
        assert not torch.is_autocast_enabled("cpu")
        assert (a @ b).dtype == torch.float32
    with accel.autocast(torch.device("cuda"), enabled=False):
        assert not torch.is_autocast_enabled("cuda")
    assert not torch.is_autocast_enabled("cuda")


def test_maybe_compile_off_returns_the_model_itself():
    model = _wrn()
    assert accel.maybe_compile(model) is model
    assert accel.maybe_compile(model, enabled=False) is model


@CUDA
def test_cuda_path_channels_last_bf16_and_backend_flags():
    flags = accel.configure_backends("cuda")
    assert flags and torch.backends.cudnn.benchmark
    model = accel.prepare_model(_wrn(), "cuda")
    assert model[1].block1[0].conv1.weight.is_contiguous(memory_format=torch.channels_last)
    x = accel.prepare_input(torch.rand(4, 1, 8, 8, device="cuda"), model)
    with accel.autocast("cuda"):
        assert model(x).dtype == torch.bfloat16
    with accel.autocast("cuda", enabled=False):
        assert model(x).dtype == torch.float32


def test_channels_last_is_off_on_the_cpu_for_convolutions_narrower_than_8():
    from mixup_lib import accel, models

    assert not accel.channels_last_safe_on_cpu(models.build("preact-resnet18", 10, 1, width=4))
    assert accel.channels_last_safe_on_cpu(models.build("preact-resnet18", 10, 1, width=8))
    assert not accel.channels_last_safe_on_cpu(models.build("logreg", 2, 2))
