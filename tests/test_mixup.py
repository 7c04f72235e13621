"""Mixup core: samplers against closed forms, mixing against torchvision, the loss identity."""

import math

import pytest
import torch
import torch.nn.functional as F
from scipy import stats
from torchvision.transforms import v2

from mixup_lib import mixup
from mixup_lib.errors import ConfigError


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("alpha", [0.2, 1.0, 2.0])
def test_mixture_moments_closed_form_symmetric(alpha):
    """Lemma 3.1 with α = β: E[1−λ] = α/(2α+1), E[(1−λ)²] = α/(2(2α+1))."""
    first, second = mixup.mixture_moments(alpha)
    assert first == pytest.approx(alpha / (2 * alpha + 1), rel=1e-12)
    assert second == pytest.approx(alpha / (2 * (2 * alpha + 1)), rel=1e-12)


def test_mixture_moments_known_values():
    assert mixup.mixture_moments(1.0) == pytest.approx((1 / 3, 1 / 6))
    assert mixup.mixture_moments(0.2) == pytest.approx((1 / 7, 1 / 14))
    assert mixup.mixture_moments(0.0) == (0.0, 0.0)


@pytest.mark.parametrize(("alpha", "beta"), [(0.2, 0.2), (1.0, 1.0), (2.0, 0.5)])
def test_mixture_sampler_moments_within_sampling_error(alpha, beta):
    n = 200_000
    one_minus = 1 - mixup.sample_mixture_lambda(alpha, beta, (n,), _generator(1))
    for k in (1, 2, 3):
        values = one_minus**k
        stderr = values.std().item() / math.sqrt(n)
        assert abs(values.mean().item() - mixup.mixture_moment(alpha, beta, k)) < 4 * stderr


def test_mixture_moment_matches_scipy_quadrature_of_mixture_density():
    alpha, beta = 0.7, 1.9
    w = alpha / (alpha + beta)
    for k in (1, 2, 3):
        expected = w * stats.beta(alpha + 1, beta).expect(lambda t, k=k: (1 - t) ** k) + (1 - w) * stats.beta(
            beta + 1, alpha
        ).expect(lambda t, k=k: (1 - t) ** k)
        assert mixup.mixture_moment(alpha, beta, k) == pytest.approx(expected, rel=1e-9)


def test_beta_sampler_matches_beta_distribution():
    """Kolmogorov–Smirnov against scipy's Beta(α, β), including a small α."""
    for alpha, beta in [(0.2, 0.2), (1.0, 1.0), (3.0, 0.5)]:
        sample = mixup.sample_lambda(alpha, beta, (20_000,), _generator(2)).numpy()
        assert stats.kstest(sample, stats.beta(alpha, beta).cdf).pvalue > 1e-3


def test_sampler_is_reproducible_with_explicit_generator():
    a = mixup.sample_lambda(1.0, size=(5,), generator=_generator(3))
    b = mixup.sample_lambda(1.0, size=(5,), generator=_generator(3))
    c = mixup.sample_lambda(1.0, size=(5,), generator=_generator(4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_alpha_zero_is_erm():
    assert torch.equal(mixup.sample_lambda(0.0, size=(4,)), torch.ones(4, dtype=torch.float64))
    x = torch.rand(6, 3)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    batch = mixup.mixup_batch(x, y, 3, alpha=0.0, generator=_generator())
    assert torch.equal(batch.inputs, x)
    assert torch.equal(batch.targets, F.one_hot(y, 3).float())


def test_mixed_batch_equals_torchvision_mixup_with_roll_partner():
    """With partner roll(1) and the same λ, our mix equals torchvision.transforms.v2.MixUp's."""
    x = torch.rand(8, 3, 5, 5)
    y = torch.randint(0, 4, (8,))
    torch.manual_seed(123)
    lam = float(torch.distributions.Beta(torch.tensor([0.4]), torch.tensor([0.4])).sample(()))
    torch.manual_seed(123)  # torchvision draws λ from the global generator in the same way
    tv_x, tv_y = v2.MixUp(alpha=0.4, num_classes=4)(x, y)
    roll_partner = torch.arange(8).roll(1)
    ours_x, ours_y = mixup.mix(x, mixup.one_hot(y, 4), lam, roll_partner)
    torch.testing.assert_close(ours_x, tv_x, rtol=0, atol=1e-6)
    torch.testing.assert_close(ours_y, tv_y, rtol=0, atol=1e-6)


def test_per_sample_lambda_mixes_each_row_with_its_own_weight():
    x = torch.arange(12.0).reshape(4, 3)
    targets = mixup.one_hot(torch.tensor([0, 1, 0, 1]), 2)
    lam = torch.tensor([1.0, 0.0, 0.25, 0.5])
    perm = torch.tensor([1, 2, 3, 0])
    mx, my = mixup.mix(x, targets, lam, perm)
    for i in range(4):
        torch.testing.assert_close(mx[i], lam[i] * x[i] + (1 - lam[i]) * x[perm[i]])
        torch.testing.assert_close(my[i], lam[i] * targets[i] + (1 - lam[i]) * targets[perm[i]])


def test_mixup_batch_per_sample_mode_draws_one_lambda_per_row():
    x, y = torch.rand(16, 2), torch.randint(0, 2, (16,))
    batch = mixup.mixup_batch(x, y, 2, 1.0, mode="sample", generator=_generator())
    assert batch.lam.shape == (16,)
    assert sorted(batch.perm.tolist()) == list(range(16))
    assert batch.targets.sum(dim=1).allclose(torch.ones(16))


def test_soft_cross_entropy_of_mixed_label_is_linear_in_lambda():
    """CE(f, λ y_a + (1−λ) y_b) = λ CE(f, y_a) + (1−λ) CE(f, y_b): the loss is linear in the label."""
    logits = torch.randn(10, 5, dtype=torch.float64)
    ya, yb = torch.randint(0, 5, (10,)), torch.randint(0, 5, (10,))
    for lam in (0.0, 0.3, 1.0):
        soft = lam * mixup.one_hot(ya, 5).double() + (1 - lam) * mixup.one_hot(yb, 5).double()
        expected = lam * F.cross_entropy(logits, ya) + (1 - lam) * F.cross_entropy(logits, yb)
        torch.testing.assert_close(mixup.soft_cross_entropy(logits, soft), expected)


def test_lambda_one_is_identity_and_loss_is_plain_cross_entropy():
    x = torch.rand(5, 4)
    y = torch.tensor([0, 1, 2, 1, 0])
    mx, my = mixup.mix(x, mixup.one_hot(y, 3), 1.0, torch.randperm(5))
    assert torch.equal(mx, x)
    logits = torch.randn(5, 3)
    torch.testing.assert_close(mixup.soft_cross_entropy(logits, my), F.cross_entropy(logits, y))


def test_binary_scalar_logit_loss_matches_logistic_loss():
    """h(z) = log(1+e^z): the scalar model's loss equals BCE-with-logits and 2-class softmax CE with logits (0, z)."""
    z = torch.randn(7, dtype=torch.float64)
    y = torch.tensor([0, 1, 1, 0, 1, 0, 0])
    expected = F.binary_cross_entropy_with_logits(z, y.double())
    torch.testing.assert_close(mixup.soft_cross_entropy(z, mixup.one_hot(y, 2).double()), expected)
    torch.testing.assert_close(mixup.cross_entropy(z, y), expected)
    two_class = torch.stack([torch.zeros_like(z), z], dim=1)
    torch.testing.assert_close(mixup.cross_entropy(two_class, y), expected)
    assert torch.equal(mixup.predict_labels(z), (z > 0).long())


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (lambda: mixup.sample_lambda(-0.5), r"alpha=-0\.5 .*>= 0"),
        (lambda: mixup.sample_lambda(1.0, beta=-1.0), r"beta=-1\.0 .*>= 0"),
        (lambda: mixup.sample_lambda(float("nan")), r"alpha=nan"),
        (lambda: mixup.mixture_moments(1.0, 0.0), r"both are 0"),
        (lambda: mixup.mixup_batch(torch.rand(1, 3), torch.tensor([0]), 2, 1.0), r"batch size 1 .*at least 2"),
        (lambda: mixup.mixup_batch(torch.rand(4, 3), torch.zeros(4), 2, 1.0, mode="pairs"), r"mode='pairs'.*batch"),
        (
            lambda: mixup.mixup_batch(torch.tensor([[float("nan")], [0.0]]), torch.zeros(2), 2, 1.0),
            r"x contains 1 NaN",
        ),
        (lambda: mixup.mix(torch.rand(4, 2), torch.rand(4, 2), torch.rand(3), torch.arange(4)), r"lam has shape"),
    ],
)
def test_bad_input_gives_one_line_value_error(call, pattern):
    with pytest.raises(ValueError, match=pattern) as info:
        call()
    assert isinstance(info.value, ConfigError)
    assert "\n" not in str(info.value)


# -- integer images and labels (one-line ConfigError, never a silent truncation) -----------------------------

IMAGES = (torch.rand(6, 1, 2, 2) * 255).round()
LABELS = torch.tensor([0, 1, 2, 0, 1, 2])


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64])
@pytest.mark.parametrize(
    "call",
    [
        lambda x: mixup.mixup_batch(x, LABELS, 3, 1.0, generator=_generator()),
        lambda x: mixup.mix(x, mixup.one_hot(LABELS, 3), 0.3, torch.arange(6).roll(1)),
    ],
)
def test_integer_images_are_refused_with_the_fix(dtype, call):
    """An integer batch (0..255 pixels) would be mixed with λ cast to the integer type: refused, not mixed."""
    with pytest.raises(ConfigError, match=rf"x has dtype {dtype}: .*pixels in \[0, 1\].*x\.float\(\) / 255") as info:
        call(IMAGES.to(dtype))
    assert "\n" not in str(info.value)


def test_mix_refuses_integer_targets():
    with pytest.raises(ConfigError, match=r"targets have dtype torch.int64: .*soft labels .*one_hot"):
        mixup.mix(torch.rand(6, 2), LABELS[:, None].expand(6, 3), 0.3, torch.arange(6))


@pytest.mark.parametrize(
    ("y", "num_classes", "alpha", "pattern"),
    [
        (torch.tensor([0, 1, 2, 3, 0, 1]), 3, 1.0, r"y has labels in \[0, 3\]: they must be in \[0, 3\) for 3 classes"),
        (torch.tensor([0, 1, -1, 2, 0, 1]), 3, 1.0, r"y has labels in \[-1, 2\]: they must be in \[0, 3\)"),
        (LABELS[:5], 3, 1.0, r"y has shape \(5,\): it must hold one label per input, \(6,\)"),
        (torch.cat([LABELS, LABELS[:1]]), 3, 1.0, r"y has shape \(7,\): it must hold one label per input"),
        (LABELS[:, None], 3, 1.0, r"y has shape \(6, 1\)"),
        (LABELS.double() + 0.7, 4, 1.0, r"y has dtype torch.float64: labels must be an integer tensor"),
        (LABELS > 0, 2, 1.0, r"y has dtype torch.bool: labels must be an integer tensor"),
        (LABELS.tolist(), 3, 1.0, r"y of type list is not allowed: it must be a torch.Tensor"),
        (torch.zeros(6, dtype=torch.long), 1, 1.0, r"num_classes=1 is not allowed: it must be an integer >= 2"),
        (LABELS, 3.0, 1.0, r"num_classes=3\.0 is not allowed: it must be an integer >= 2"),
        (LABELS.clamp(max=1), True, 1.0, r"num_classes=True is not allowed"),
        (LABELS, 3, True, r"alpha=True is not allowed: it must be a finite number >= 0"),
    ],
)
def test_mixup_batch_refuses_bad_labels_classes_and_alpha(y, num_classes, alpha, pattern):
    """Before: RuntimeError/IndexError from one_hot or indexing, or silent truncation (0.7 → 0, True → 1)."""
    with pytest.raises(ConfigError, match=pattern) as info:
        mixup.mixup_batch(torch.rand(6, 3), y, num_classes, alpha, generator=_generator())
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("call", [lambda: mixup.sample_lambda(True), lambda: mixup.sample_mixture_lambda(1.0, False)])
def test_bool_alpha_or_beta_is_refused(call):
    with pytest.raises(ConfigError, match=r"(alpha=True|beta=False) is not allowed"):
        call()


def test_valid_labels_still_mix():
    batch = mixup.mixup_batch(torch.rand(6, 3), LABELS.int(), 3, 1.0, generator=_generator())
    assert batch.targets.sum(dim=1).allclose(torch.ones(6))
    torch.testing.assert_close(
        batch.targets,
        float(batch.lam) * F.one_hot(LABELS, 3).float()
        + (1 - float(batch.lam)) * F.one_hot(LABELS, 3).float()[batch.perm],
    )
