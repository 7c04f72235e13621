"""The trainer: config validation, learning-rate schedule, evaluation, determinism, exact state round trip."""

from __future__ import annotations

import io
import itertools
import math

import pytest
import torch

from mixup_lib import train
from mixup_lib.data import AugmentSpec, TensorData
from mixup_lib.errors import ConfigError

MOONS = {"dataset": "two_moons", "model": "two-layer-relu", "epochs": 3, "n_train": 256, "n_test": 128, "device": "cpu"}


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: tiny models gain nothing from more, and on a shared 2-core machine several
    processes spinning two OpenMP threads each slow down a hundredfold. Restored after each test."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _no_time(rows):
    return [{k: v for k, v in row.items() if not k.endswith("time_s")} for row in rows]


def _tiny_images(n_train: int = 40, n_test: int = 20, size: int = 8, classes: int = 3) -> TensorData:
    """A synthetic image data set whose class is the brightest third of the image: learnable, tiny."""
    g = torch.Generator().manual_seed(0)

    def split(n):
        y = torch.arange(n) % classes
        x = torch.rand(n, 1, size, size, generator=g) * 0.3
        for c in range(classes):
            rows = slice(c * size // classes, (c + 1) * size // classes)
            x[y == c, :, rows, :] += 0.6
        return x.clamp(0, 1), y

    x_train, y_train = split(n_train)
    x_test, y_test = split(n_test)
    return TensorData(
        name="tiny",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=classes,
        in_channels=1,
        input_size=(size, size),
        mean=(0.4,),
        std=(0.3,),
        augment=AugmentSpec(crop_padding=1, flip=True),
        source="synthetic",
    )


# -- config -------------------------------------------------------------------------------------------------


def test_default_config_has_the_papers_optimizer_and_every_field():
    cfg = train.default_config()
    assert (cfg["batch_size"], cfg["lr"], cfg["momentum"]) == (64, 0.1, 0.9)  # paper: SGD, batch 64, mom. 0.9, lr 0.1
    assert cfg["schedule"] == "onecycle" and cfg["weight_decay"] == 5e-4 and cfg["device"] == "auto"
    assert cfg["dataset"] is None and cfg["model"] is None and cfg["epochs"] is None  # required
    cfg["model_kwargs"]["x"] = 1
    assert train.default_config()["model_kwargs"] == {}  # a fresh copy each time


def test_validate_config_fills_defaults_and_normalizes_erm():
    cfg = train.validate_config({**MOONS, "method": "erm", "alpha": 0.4, "mix_mode": "sample"})
    assert set(cfg) == set(train.default_config())
    assert cfg["alpha"] == 0.0 and cfg["mix_mode"] == "batch"  # ERM does not fork on mixup-only fields
    assert cfg["warmup_fraction"] == 0.2  # onecycle's default
    assert train.validate_config({**MOONS, "schedule": "constant"})["warmup_fraction"] == 0.0
    mix = train.validate_config({**MOONS, "method": "mixup", "alpha": 2})
    assert mix["alpha"] == 2.0 and isinstance(mix["alpha"], float)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"colour": "red"}, "'colour' is unknown"),
        ({"dataset": "mnist9"}, "dataset='mnist9'"),
        ({"dataset": None}, "dataset is required"),
        ({"model": "resnet-9000"}, "model='resnet-9000'"),
        ({"model_kwargs": {"depth": 3}}, "'depth'"),
        ({"method": "sgd"}, "method='sgd'"),
        ({"method": "mixup", "alpha": -1.0}, "alpha=-1.0"),
        ({"epochs": 0}, "epochs=0"),
        ({"epochs": 2.5}, "epochs=2.5"),
        ({"batch_size": 0}, "batch_size=0"),
        ({"batch_size": 1}, "batch_size=1"),
        ({"lr": 0}, "lr=0.0"),
        ({"momentum": 1.0}, "momentum=1.0"),
        ({"schedule": "step"}, "schedule='step'"),
        ({"warmup_fraction": 1.0}, "warmup_fraction=1.0"),
        ({"n_train": 0}, "n_train=0"),
        ({"augment": "yes"}, "augment='yes'"),
        ({"data_kwargs": {"root": "/"}}, "'root'"),
        ({"dataset": "fashion_mnist", "data_kwargs": {"noise": 0.2}}, "noise is for two_moons"),
        ({"model_kwargs": {"hidden": {1, 2}}}, "JSON"),
        ({"name": "a/b"}, "name='a/b'"),
        ({"seed": -1}, "seed=-1"),
    ],
)
def test_validate_config_rejects_bad_fields_in_one_line(change, fragment):
    with pytest.raises(ConfigError) as err:
        train.validate_config({**MOONS, **change})
    assert fragment in str(err.value) and "\n" not in str(err.value)


# -- learning rate ------------------------------------------------------------------------------------------


def test_onecycle_warms_up_to_the_peak_then_decays_to_zero():
    cfg = train.validate_config(MOONS)
    lrs = [train.learning_rate(s, 100, cfg) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1 / 20) and max(lrs) == pytest.approx(0.1) and lrs[19] == pytest.approx(0.1)
    assert all(a <= b for a, b in itertools.pairwise(lrs[:20]))  # warm-up is increasing
    assert all(a >= b for a, b in itertools.pairwise(lrs[19:]))  # then decreasing
    assert 0 < lrs[-1] < 0.002


def test_constant_and_cosine_schedules():
    const = train.validate_config({**MOONS, "schedule": "constant"})
    assert {train.learning_rate(s, 50, const) for s in range(50)} == {0.1}  # the paper's literal setup
    cos = train.validate_config({**MOONS, "schedule": "cosine"})
    assert train.learning_rate(0, 100, cos) == pytest.approx(0.1)
    assert train.learning_rate(50, 100, cos) == pytest.approx(0.05)
    assert train.learning_rate(99, 100, cos) == pytest.approx(0.05 * (1 + math.cos(math.pi * 0.99)))


# -- training -----------------------------------------------------------------------------------------------


def test_evaluate_matches_a_direct_computation_and_restores_train_mode():
    model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 2))
    x, y = torch.randn(37, 2), torch.randint(0, 2, (37,))
    model.train()
    loss, acc = train.evaluate(model, x, y, batch_size=10)
    assert model.training
    model.eval()
    logits = model(x)
    assert loss == pytest.approx(torch.nn.functional.cross_entropy(logits, y).item(), rel=1e-6)
    assert acc == (logits.argmax(1) == y).sum().item() / 37


def test_a_fixed_seed_gives_identical_metrics_on_rerun_and_the_seed_matters():
    cfg = {**MOONS, "method": "mixup"}
    _, first = train.train(cfg, progress=False)
    _, again = train.train(cfg, progress=False)
    _, other = train.train({**cfg, "seed": 1}, progress=False)
    assert _no_time(first) == _no_time(again)  # bitwise: floats compared with ==
    assert _no_time(first) != _no_time(other)
    assert [r["epoch"] for r in first] == [1, 2, 3]
    assert set(first[0]) == {
        "epoch", "train_loss", "train_acc", "test_loss", "test_acc", "mix_loss", "lr", "epoch_time_s", "wall_time_s"
    }  # fmt: skip
    assert first[-1]["test_acc"] > 0.8  # two moons is learnable in 3 epochs


def test_train_metrics_are_measured_on_the_clean_training_set():
    trainer = train.Trainer({**MOONS, "method": "mixup", "epochs": 1})
    row = trainer.fit(progress=False)[-1]
    loss, acc = train.evaluate(trainer.model, trainer.data.x_train, trainer.data.y_train)
    assert (row["train_loss"], row["train_acc"]) == (loss, acc)
    assert row["mix_loss"] != row["train_loss"]  # the mixup objective is a different number


def test_erm_and_mixup_differ_and_erm_ignores_alpha():
    _, erm = train.train({**MOONS, "method": "erm", "epochs": 1}, progress=False)
    _, erm2 = train.train({**MOONS, "method": "erm", "alpha": 0.3, "epochs": 1}, progress=False)
    _, mix = train.train({**MOONS, "method": "mixup", "epochs": 1}, progress=False)
    assert _no_time(erm) == _no_time(erm2)
    assert _no_time(erm) != _no_time(mix)


def test_a_last_batch_of_one_is_dropped():
    trainer = train.Trainer({**MOONS, "n_train": 129, "method": "mixup", "epochs": 2})
    assert trainer.steps_per_epoch == 2 and trainer.total_steps == 4
    trainer.fit(progress=False)  # mixup_batch would refuse a batch of one
    assert trainer.step == 4
    assert train.Trainer({**MOONS, "n_train": 130}).steps_per_epoch == 3


def test_state_round_trip_continues_exactly_through_weights_only_load(tmp_path):
    """A trainer restored from a saved state (loaded with weights_only=True) continues as if never stopped."""
    cfg = {**MOONS, "method": "mixup", "model_kwargs": {"hidden": 16}}
    straight = train.Trainer(cfg)
    straight.fit(progress=False)

    first = train.Trainer(cfg)
    first.train_epoch(progress=False)
    torch.save(first.state_dict(), tmp_path / "state.pt")
    second = train.Trainer(cfg)
    second.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    second.fit(progress=False)
    assert _no_time(second.metrics) == _no_time(straight.metrics)
    for a, b in zip(second.model.state_dict().values(), straight.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_images_with_augmentation_normalization_and_dropout_are_deterministic():
    data = _tiny_images()
    cfg = {
        "dataset": "fashion_mnist",  # only names the config; the injected data is used
        "model": "wrn-10-1",
        "model_kwargs": {"dropout": 0.3},
        "method": "mixup",
        "augment": True,
        "epochs": 2,
        "batch_size": 16,
        "device": "cpu",
    }
    a = train.Trainer(cfg, data=data)
    a.fit(progress=False)
    b = train.Trainer(cfg, data=data)
    b.fit(progress=False)
    assert _no_time(a.metrics) == _no_time(b.metrics)
    assert isinstance(a.model[0], torch.nn.Module) and type(a.model[0]).__name__ == "Normalize"  # mean/std layer
    assert a.steps_per_epoch == 3  # 40 = 16 + 16 + 8


def test_training_does_not_touch_the_global_rng():
    state = torch.get_rng_state()
    train.train({**MOONS, "epochs": 1, "model_kwargs": {"hidden": 8}}, progress=False)
    assert torch.equal(state, torch.get_rng_state())


def test_progress_off_a_terminal_is_one_readable_line_per_epoch(monkeypatch, capsys):
    fake = io.StringIO()
    monkeypatch.setattr("sys.stderr", fake)
    train.train({**MOONS, "epochs": 2, "model_kwargs": {"hidden": 8}})
    lines = fake.getvalue().splitlines()
    assert "\r" not in fake.getvalue()  # no bar redraws in a papermill log
    assert lines[0].startswith("training two-layer-relu on two_moons (256 examples, erm, 2 epochs)")
    assert lines[1].startswith("epoch 1/2: train loss") and lines[2].startswith("epoch 2/2: train loss")
    assert len(lines) == 3


def test_progress_false_prints_nothing(capsys):
    train.train({**MOONS, "epochs": 1, "model_kwargs": {"hidden": 8}}, progress=False)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


# -- optional field: track_penalty (Section 4's data-adaptive penalty along training) -------------------------


def test_track_penalty_is_optional_and_leaves_existing_hashes_unchanged():
    from mixup_lib import runs

    assert "track_penalty" not in train.default_config() and train.OPTIONAL_DEFAULTS == {"track_penalty": 0}
    plain = train.validate_config(MOONS)
    assert "track_penalty" not in plain  # absent while at its default ...
    assert train.validate_config({**MOONS, "track_penalty": 0}) == plain  # ... also when given as 0
    assert runs.config_hash({**MOONS, "track_penalty": 0}) == runs.config_hash(MOONS)
    tracked = train.validate_config({**MOONS, "track_penalty": 32})
    assert tracked["track_penalty"] == 32 and runs.config_hash(tracked) != runs.config_hash(MOONS)
    for bad in (-1, 1.5, True, "8"):
        with pytest.raises(ConfigError, match="track_penalty"):
            train.validate_config({**MOONS, "track_penalty": bad})


def test_tracking_the_penalty_records_it_and_changes_no_other_number():
    from mixup_lib.generalization import penalty_terms

    cfg = {**MOONS, "method": "mixup", "model_kwargs": {"hidden": 16}}
    plain = train.Trainer(cfg)
    plain.fit(progress=False)
    tracked = train.Trainer({**cfg, "track_penalty": 50})
    tracked.fit(progress=False)
    strip = [{k: v for k, v in row.items() if "penalty" not in k} for row in _no_time(tracked.metrics)]
    assert strip == _no_time(plain.metrics)  # eval mode, no randomness: training is untouched
    assert all(row["penalty"] > 0 and row["gradient_penalty"] > 0 for row in tracked.metrics)
    assert not any("penalty" in key for key in plain.metrics[0])
    points = tracked.penalty_points
    assert len(points) == 50 and len(set(points.tolist())) == 50 and torch.equal(points, points.sort().values)
    again = penalty_terms(tracked.model, tracked.data.x_train[points], tracked.data.y_train[points])
    assert {k: tracked.metrics[-1][k] for k in again} == again
    # The same points for every method and seed (they depend on data_seed only); all points at most.
    erm = train.Trainer({**cfg, "method": "erm", "seed": 3, "track_penalty": 50})
    assert torch.equal(erm.penalty_points, points)
    assert not torch.equal(train.Trainer({**cfg, "data_seed": 1, "track_penalty": 50}).penalty_points, points)
    assert len(train.Trainer({**cfg, "track_penalty": 10_000}).penalty_points) == MOONS["n_train"]
