"""Tests of mixup_lib.models: parameter counts, shapes, Normalize, the bias-free ReLU identities, errors."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from mixup_lib import models
from mixup_lib.errors import ConfigError
from mixup_lib.models import MODEL_NAMES, Normalize, build, count_parameters

# --------------------------------------------------------------------------------------------------------
# Parameter counts: the check that the architectures are the canonical ones (SPEC: reference numbers)


def test_wrn_16_8_parameter_count():
    assert count_parameters(build("wrn-16-8", num_classes=10, in_channels=3)) == 10_961_370


def test_preact_resnet18_parameter_count():
    assert count_parameters(build("preact-resnet18", num_classes=10, in_channels=3)) == 11_171_146


def test_width_and_dropout_options_change_the_network():
    assert count_parameters(build("wrn-16-1", 10, 3)) < count_parameters(build("wrn-16-2", 10, 3))
    assert count_parameters(build("preact-resnet18", 10, 3, width=8)) < count_parameters(
        build("preact-resnet18", 10, 3, width=16)
    )
    wrn = build("wrn-16-1", 10, 3, dropout=0.3)
    assert all(block.dropout == 0.3 for block in wrn.block1)



def test_both_networks_are_built_of_one_block_whose_dropout_acts_only_in_training():
    wrn = build("wrn-10-1", 10, 3, dropout=0.5)
    preact = build("preact-resnet18", 10, 3, width=4)
    assert type(wrn.block1[0]) is type(preact.layer1[0]) is models.PreActBlock
    assert all(block.dropout == 0 for layer in (preact.layer1, preact.layer4) for block in layer)
    block, x = wrn.block2[0], torch.rand(2, 16, 8, 8)
    block.train()
    assert not torch.equal(block(x), block(x))
    block.eval()
    assert torch.equal(block(x), block(x))

def test_frozen_parameters_are_not_counted():
    model = build("logreg", 3, in_channels=4)  # 4*3 + 3 = 15
    assert count_parameters(model) == 15
    model.linear.bias.requires_grad_(False)
    assert count_parameters(model) == 12


# --------------------------------------------------------------------------------------------------------
# Output shapes, 32x32 RGB and 28x28 grayscale


@pytest.mark.parametrize(
    ("name", "kw"), [("wrn-16-1", {}), ("wrn-10-2", {"dropout": 0.2}), ("preact-resnet18", {"width": 8})]
)
@pytest.mark.parametrize(("channels", "size", "classes"), [(3, 32, 10), (1, 28, 7)])
def test_conv_nets_output_shape(name, kw, channels, size, classes):
    torch.manual_seed(0)
    model = build(name, classes, channels, input_size=(size, size), **kw).eval()
    with torch.no_grad():
        out = model(torch.rand(2, channels, size, size))
    assert out.shape == (2, classes)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", ["logreg", "two-layer-relu"])
def test_small_models_output_shape(name):
    assert build(name, 10, 1, input_size=(28, 28))(torch.rand(5, 1, 28, 28)).shape == (5, 10)
    assert build(name, 3, 2)(torch.rand(5, 2)).shape == (5, 3)  # vector input: in_features = in_channels
    binary = build(name, 2, 2, binary=True)
    assert binary(torch.rand(5, 2)).shape == (5,)
    assert binary(torch.rand(1, 2)).shape == (1,)  # squeezes the logit axis only


def test_binary_model_has_one_output_unit():
    assert count_parameters(build("logreg", 2, 2, binary=True)) == 3
    assert count_parameters(build("two-layer-relu", 2, 2, hidden=4, binary=True)) == 2 * 4 + 4 + 4 + 1


# --------------------------------------------------------------------------------------------------------
# Normalize


def test_normalize_is_per_channel_affine():
    mean, std = [0.1, 0.2, 0.3], [0.5, 0.25, 2.0]
    x = torch.rand(4, 3, 5, 6)
    expected = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    torch.testing.assert_close(Normalize(mean, std)(x), expected)
    assert {name for name, _ in Normalize(mean, std).named_buffers()} == {"mean", "std"}


def test_normalize_is_per_feature_for_vectors():
    x = torch.rand(7, 2)
    torch.testing.assert_close(
        Normalize([1.0, -1.0], [2.0, 4.0])(x), (x - torch.tensor([1.0, -1.0])) / torch.tensor([2.0, 4.0])
    )


def test_build_prepends_normalize():
    torch.manual_seed(0)
    model = build("logreg", 3, 2, mean=[0.5, -0.5], std=[2.0, 0.5])
    assert isinstance(model, nn.Sequential) and isinstance(model[0], Normalize)
    x = torch.rand(6, 2)
    torch.testing.assert_close(model(x), model[1]((x - torch.tensor([0.5, -0.5])) / torch.tensor([2.0, 0.5])))
    assert isinstance(build("preact-resnet18", 10, 3, width=8, mean=[0.5] * 3, std=[0.25] * 3)[0], Normalize)


# --------------------------------------------------------------------------------------------------------
# Logistic regression and the two-layer ReLU network (the theory's models, Section 3)


def test_logreg_is_affine():
    torch.manual_seed(0)
    model = build("logreg", 4, 3, input_size=(2, 2))
    x = torch.rand(5, 3, 2, 2)
    W, b = model.linear.weight, model.linear.bias
    torch.testing.assert_close(model(x), x.flatten(1) @ W.T + b)
    assert model.linear.weight.shape == (4, 12)
    assert build("logreg", 4, 3, bias=False).linear.bias is None


def _input_gradients(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """∇_x f(x) for each sample of a scalar-output (binary) model."""
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x).sum(), x)
    return grad


def _two_layer(bias: bool) -> nn.Module:
    torch.manual_seed(0)
    model = build("two-layer-relu", 2, 5, hidden=16, bias=bias, binary=True).double()
    if bias:  # make the biases clearly nonzero so that f(x) - ∇f(x)ᵀx = contribution of the biases is large
        with torch.no_grad():
            model.fc1.bias.uniform_(0.5, 1.0)
            model.fc2.bias.fill_(0.7)
    return model


def test_bias_free_two_layer_relu_is_euler_homogeneous():
    model = _two_layer(bias=False)
    assert model.fc1.bias is None and model.fc2.bias is None
    x = torch.randn(50, 5, dtype=torch.float64)
    grad = _input_gradients(model, x)
    torch.testing.assert_close(model(x), (grad * x).sum(dim=1), atol=1e-5, rtol=0)
    torch.testing.assert_close(model(3.0 * x), 3.0 * model(x))  # positive homogeneity


def test_two_layer_relu_with_bias_breaks_the_identity():
    model = _two_layer(bias=True)
    x = torch.randn(50, 5, dtype=torch.float64)
    grad = _input_gradients(model, x)
    assert (model(x) - (grad * x).sum(dim=1)).abs().max() > 1e-2


def test_bias_free_two_layer_relu_has_zero_input_hessian():
    model = _two_layer(bias=False)
    torch.manual_seed(1)
    for x in torch.randn(4, 5, dtype=torch.float64):
        hessian = torch.autograd.functional.hessian(lambda v: model(v.unsqueeze(0)).squeeze(0), x)
        assert hessian.shape == (5, 5)
        assert torch.count_nonzero(hessian) == 0


def test_multiclass_bias_free_identity_per_logit():
    torch.manual_seed(0)
    model = build("two-layer-relu", 3, 4, hidden=8, bias=False).double()
    x = torch.randn(10, 4, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(model, x)  # (10, 3, 10, 4); sample i depends on x_i only
    per_sample = torch.stack([jac[i, :, i, :] for i in range(10)])  # (10, 3, 4)
    torch.testing.assert_close(model(x), torch.einsum("nkd,nd->nk", per_sample, x), atol=1e-5, rtol=0)


# --------------------------------------------------------------------------------------------------------
# Errors: one line, naming the offending value


def _single_line_error(pattern: str, *args, **kw) -> ConfigError:
    with pytest.raises(ConfigError, match=pattern) as info:
        build(*args, **kw)
    assert "\n" not in str(info.value)
    return info.value


@pytest.mark.parametrize("name", ["resnet9", "WRN-16-8", "wrn-16", "wrn-16-8-2", ""])
def test_unknown_name(name):
    err = _single_line_error(re.escape(f"model={name!r}"), name, 10, 3)
    for listed in MODEL_NAMES:
        assert listed in str(err)


def test_non_string_name():
    _single_line_error(r"model=16 is not allowed", 16, 10, 3)


@pytest.mark.parametrize("name", ["wrn-15-8", "wrn-4-8", "wrn-0-1"])
def test_invalid_wrn_depth(name):
    _single_line_error(re.escape(f"model='{name}'") + r".*depth", name, 10, 3)


def test_invalid_wrn_width():
    _single_line_error(r"model='wrn-16-0'.*k=0", "wrn-16-0", 10, 3)


@pytest.mark.parametrize("value", [0, -1, 2.0, True])
def test_bad_num_classes(value):
    _single_line_error(re.escape(f"num_classes={value!r}"), "logreg", value, 3)


@pytest.mark.parametrize("value", [0, -3])
def test_bad_in_channels(value):
    _single_line_error(re.escape(f"in_channels={value!r}"), "preact-resnet18", 10, value)


@pytest.mark.parametrize("name", ["logreg", "two-layer-relu"])
def test_binary_needs_two_classes(name):
    _single_line_error(r"num_classes=3 .*binary=True", name, 3, 2, binary=True)


@pytest.mark.parametrize(
    ("name", "kw", "bad"),
    [
        ("wrn-16-1", {"width": 2}, "width"),
        ("preact-resnet18", {"dropout": 0.1}, "dropout"),
        ("logreg", {"hidden": 10}, "hidden"),
        ("two-layer-relu", {"hiden": 10}, "hiden"),
    ],
)
def test_unknown_keyword(name, kw, bad):
    _single_line_error(re.escape(f"keyword {bad!r}") + r".*allowed are", name, 10 if name != "logreg" else 2, 3, **kw)


@pytest.mark.parametrize(
    ("kw", "pattern"),
    [
        ({"hidden": 0}, r"hidden=0"),
        ({"bias": "no"}, r"bias='no'"),
        ({"binary": 1}, r"binary=1"),
    ],
)
def test_bad_keyword_values(kw, pattern):
    _single_line_error(pattern, "two-layer-relu", 2, 2, **kw)


def test_bad_width_dropout_input_size_and_normalization():
    _single_line_error(r"width=0", "preact-resnet18", 10, 3, width=0)
    _single_line_error(r"dropout=1\.0", "wrn-16-1", 10, 3, dropout=1.0)
    _single_line_error(r"input_size=\(0, 28\)", "logreg", 10, 1, input_size=(0, 28))
    _single_line_error(r"mean=\[0\.5\]", "logreg", 10, 3, mean=[0.5], std=[1.0, 1.0, 1.0])
    _single_line_error(r"std=\[1\.0, 0\.0\]", "logreg", 2, 2, mean=[0.0, 0.0], std=[1.0, 0.0])
    _single_line_error(r"give both", "logreg", 2, 2, mean=[0.0, 0.0])


@pytest.mark.parametrize(
    ("name", "kw"),
    [
        ("wrn-10-1", {}),
        ("wrn-10-1", {"dropout": 0.3}),
        ("wrn-10-1", {"dropout": 1.0}),
        ("wrn-10-1", {"width": 4}),
        ("wrn-15-2", {}),
        ("wrn-10-0", {}),
        ("preact-resnet18", {"width": 4}),
        ("preact-resnet18", {"width": 0}),
        ("logreg", {"bias": False, "binary": True}),
        ("logreg", {"bias": "no"}),
        ("two-layer-relu", {"hidden": 8}),
        ("two-layer-relu", {"hidden": 2.5}),
        ("resnet-9000", {}),
        (7, {}),
    ],
)
def test_check_spec_accepts_and_refuses_exactly_what_build_does(name, kw):
    """The trainer's config check uses check_spec (no model built): it must agree with build, message and all."""
    try:
        models.build(name, 2, 1, **kw)
    except ConfigError as err:
        with pytest.raises(ConfigError) as spec_err:
            models.check_spec(name, kw)
        assert str(spec_err.value) == str(err)
    else:
        models.check_spec(name, kw)


def test_is_convolutional_matches_the_built_models():
    for name in ("wrn-10-1", "wrn-16-8", "preact-resnet18", "logreg", "two-layer-relu"):
        built = models.build(name, 2, 1, input_size=(8, 8))
        has_conv = any(isinstance(m, torch.nn.Conv2d) for m in built.modules())
        assert models.is_convolutional(name) == has_conv
        assert (name in models.VECTOR_MODELS) == (not has_conv)
    with pytest.raises(ConfigError, match="model='resnet-9000'"):
        models.is_convolutional("resnet-9000")
