"""The trainer: config validation, learning-rate schedule, evaluation, determinism, exact state round trip."""

from __future__ import annotations

import dataclasses
import io
import itertools
import math

import pytest
import torch

from mixup_lib import config as schema
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



def test_a_config_is_validated_once_into_a_frozen_object_that_reads_as_its_dict():
    import json
    import pickle

    cfg = schema.validate({**MOONS, "model_kwargs": {"hidden": 8}, "data_kwargs": {"noise": 0.2}})
    assert schema.validate(cfg) is cfg  # validated once: passing it on checks nothing again
    plain = schema.validate_config({**MOONS, "model_kwargs": {"hidden": 8}, "data_kwargs": {"noise": 0.2}})
    assert cfg.as_dict() == plain == dict(cfg) == cfg and type(cfg.as_dict()["model_kwargs"]) is dict
    assert json.loads(json.dumps(cfg.as_dict())) == plain  # what config.json holds
    assert (cfg.epochs, cfg["epochs"], cfg.track_penalty, "track_penalty" in cfg) == (3, 3, 0, False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 1.0
    with pytest.raises(TypeError):
        cfg.model_kwargs["hidden"] = 9
    cfg.as_dict()["model_kwargs"]["hidden"] = 9  # a copy: the config is unchanged
    assert cfg.model_kwargs == {"hidden": 8} and pickle.loads(pickle.dumps(cfg)) == cfg
    assert train.Trainer(cfg, data=None).config is cfg

def test_track_penalty_is_optional_and_leaves_existing_hashes_unchanged():
    from mixup_lib import runs

    assert "track_penalty" not in schema.default_config() and schema.OPTIONAL_DEFAULTS == {"track_penalty": 0}
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
    from mixup_lib.approx import penalty_terms

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


# -- model and data, device, name: one line before anything is trained ---------------------------------------


@pytest.mark.parametrize("model", ["wrn-10-1", "preact-resnet18"])
def test_a_conv_net_on_two_moons_is_refused_in_one_line_naming_what_fits(model):
    with pytest.raises(ConfigError) as err:
        train.validate_config({**MOONS, "model": model})
    message = str(err.value)
    assert "\n" not in message and f"model={model!r}" in message and "dataset='two_moons'" in message
    assert "logreg or two-layer-relu" in message and "image data set" in message and "fashion_mnist" in message
    train.validate_config({**MOONS, "dataset": "fashion_mnist", "model": model})  # images: fine
    for vector_model in ("logreg", "two-layer-relu"):
        train.validate_config({**MOONS, "model": vector_model})


def test_a_conv_net_on_injected_vector_data_is_refused_before_training():
    images = _tiny_images()
    x_train, x_test = images.x_train.flatten(1)[:, :5], images.x_test.flatten(1)[:, :5]
    vectors = dataclasses.replace(
        images, name="vectors", x_train=x_train, x_test=x_test, in_channels=5, input_size=None
    )
    with pytest.raises(ConfigError, match="does not fit the data 'vectors' \\(5 features per point\\): use logreg"):
        train.Trainer({**MOONS, "dataset": "fashion_mnist", "model": "wrn-10-1"}, data=vectors)
    assert train.Trainer({**MOONS, "dataset": "fashion_mnist", "model": "wrn-10-1"}, data=images).model is not None


@pytest.mark.parametrize("device", ["cuda:x", "cpu:-1", "gpu", "cuda:", "cuda:-1", "CPU", "cuda:0:1", "", 0])
def test_a_malformed_device_is_refused_in_one_line_listing_the_allowed_forms(device):
    from mixup_lib.devices import resolve_device

    with pytest.raises(ConfigError) as err:
        train.validate_config({**MOONS, "device": device})
    allowed = "auto, cpu, cuda, cuda:<i> (i = 0, 1, ...) or mps"
    assert str(err.value) == f"device={device!r} is not allowed: choose {allowed}"
    if isinstance(device, str):
        with pytest.raises(ConfigError, match="is not allowed: choose auto, cpu, cuda, cuda:<i>"):
            resolve_device(device)


def test_a_well_formed_device_this_machine_lacks_is_one_line(monkeypatch):
    from mixup_lib.devices import resolve_device

    for device in ("auto", "cpu", "cuda", "cuda:0", "cuda:12", "mps"):
        assert train.validate_config({**MOONS, "device": device})["device"] == device  # valid anywhere
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=r"^device='cuda:0' is not available here: no CUDA GPU"):
        resolve_device("cuda:0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(
        ConfigError, match=r"^device='cuda:2' is not available: 2 CUDA GPU\(s\) here \(cuda:0 to cuda:1\)"
    ):
        resolve_device("cuda:2")


def test_an_over_long_or_odd_name_is_refused_in_one_line_and_the_longest_fits_the_file_system():
    from mixup_lib import runs

    longest = "n" * train.MAX_NAME_BYTES
    assert train.validate_config({**MOONS, "name": longest})["name"] == longest
    # The longest file name derived from a run label: runs.py's corrupt copy, with a 7-digit pid.
    corrupt = f"{runs.run_name({**MOONS, 'name': longest})}.corrupt-20261202-114400-4194304"
    assert len(corrupt.encode()) <= 255
    for name, size in (("n" * 300, 300), ("é" * 65, 130)):  # bytes, not characters, count
        with pytest.raises(ConfigError) as err:
            train.validate_config({**MOONS, "name": name})
        message = str(err.value)
        assert f"it is {size} bytes long (UTF-8), at most {train.MAX_NAME_BYTES}" in message
        assert "\n" not in message and len(message) < 400  # the name is shortened in the message
    for name in ("a/b", "a\x00b", "..", ".hidden", "a b", "", 7):
        with pytest.raises(ConfigError, match="name="):
            train.validate_config({**MOONS, "name": name})


# -- divergence: the message names the likely cause ------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "culprit", "innocent"),
    [
        ({"weight_decay": 1e4}, "weight_decay=10000.0 is too large for lr=0.1", "lr=0.1 is too large"),
        ({"lr": 1e4}, "lr=10000.0 is too large", "weight_decay=0.0005 is too large"),
        ({"lr": 1e3, "schedule": "constant"}, "lr=1000.0 is too large", "weight_decay=0.0005 is too large"),
    ],
)
def test_a_divergence_names_the_likely_cause_in_one_line(change, culprit, innocent):
    with pytest.raises(ConfigError) as err:
        train.train({**MOONS, **change}, progress=False)
    message = str(err.value)
    assert message.startswith("training diverged in epoch ") and "loss is nan" in message and "\n" not in message
    assert culprit in message and innocent not in message


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_the_weight_decay_bound_in_the_divergence_message_is_where_torch_sgd_blows_up(momentum):
    """Weight decay alone (zero loss gradient) under torch's SGD: stable just below lr·wd = 2(1 + μ), not above."""
    lr, bound = 0.1, 2 * (1 + momentum)

    def final_size(ratio: float) -> float:
        w = torch.nn.Parameter(torch.ones(1, dtype=torch.float64))
        opt = torch.optim.SGD([w], lr=lr, momentum=momentum, weight_decay=ratio * bound / lr)
        for _ in range(500):
            w.grad = torch.zeros_like(w)
            opt.step()
        return abs(w.item())

    assert final_size(0.99) < 1e-3 and final_size(1.01) > 1e3
    config = train.validate_config({**MOONS, "momentum": momentum})
    below = train.divergence_message({**config, "weight_decay": 0.99 * bound / lr}, 1, math.nan)
    above = train.divergence_message({**config, "weight_decay": 1.01 * bound / lr}, 1, math.nan)
    assert "likely cause: lr=0.1" in below and "likely cause: weight_decay=" in above


# -- configs that compute the same numbers share one hash ------------------------------------------------------

IMAGES = {"dataset": "fashion_mnist", "model": "wrn-10-1", "epochs": 1, "device": "cpu"}
SAME_NUMBERS = [  # (config, its twin): identical numbers, so one hash
    ({**MOONS, "method": "mixup", "alpha": 0.0}, MOONS),
    ({**MOONS, "method": "mixup", "alpha": 0, "mix_mode": "sample"}, MOONS),
    ({**MOONS, "augment": True}, MOONS),
    ({**MOONS, "data_kwargs": {"noise": 0.1}}, MOONS),
    ({**MOONS, "n_train": 1000, "n_test": 1000}, {**MOONS, "n_train": None, "n_test": None}),
    ({**MOONS, "batch_size": 4096}, {**MOONS, "batch_size": 256}),
    ({**IMAGES, "dataset": "svhn", "augment": True}, {**IMAGES, "dataset": "svhn"}),
    ({**IMAGES, "data_seed": 5}, IMAGES),
]
DIFFERENT_NUMBERS = [  # near misses of the rules above: they must keep their own hash
    ({**MOONS, "method": "mixup", "alpha": 0.05}, MOONS),
    ({**IMAGES, "augment": True}, IMAGES),
    ({**MOONS, "data_kwargs": {"noise": 0.2}}, MOONS),
    ({**MOONS, "n_train": 999}, {**MOONS, "n_train": None}),
    ({**MOONS, "batch_size": 255}, {**MOONS, "batch_size": 256}),
    ({**IMAGES, "data_seed": 5, "n_train": 100}, {**IMAGES, "n_train": 100}),
    ({**IMAGES, "data_seed": 5, "n_test": 100}, {**IMAGES, "n_test": 100}),
    ({**IMAGES, "data_seed": 5, "track_penalty": 8}, {**IMAGES, "track_penalty": 8}),
]


@pytest.mark.parametrize(("config", "twin"), SAME_NUMBERS)
def test_configs_that_compute_the_same_numbers_share_one_hash(config, twin):
    from mixup_lib import runs

    assert train.validate_config(config) == train.validate_config(twin)
    assert runs.config_hash(config) == runs.config_hash(twin)


@pytest.mark.parametrize(("config", "twin"), DIFFERENT_NUMBERS)
def test_configs_that_differ_keep_their_own_hash(config, twin):
    from mixup_lib import runs

    assert runs.config_hash(config) != runs.config_hash(twin)


@pytest.mark.parametrize(("config", "twin"), [pair for pair in SAME_NUMBERS if pair[1]["dataset"] == "two_moons"])
def test_the_merged_configs_really_train_to_the_same_numbers(monkeypatch, config, twin):
    """With the merging switched off, each pair trains to the same weights and metrics (up to float32 rounding
    in ``mix_loss`` for mixup with α = 0, whose soft-label loss rounds differently from ERM's)."""
    monkeypatch.setattr(schema, "_drop_fields_without_effect", lambda cfg: cfg)
    short = {"epochs": 2, "model_kwargs": {"hidden": 16}}
    a = train.Trainer({**config, **short})
    b = train.Trainer({**twin, **short})
    assert a.config != b.config  # the switch is off: two different configs
    a.fit(progress=False)
    b.fit(progress=False)
    for row_a, row_b in zip(_no_time(a.metrics), _no_time(b.metrics), strict=True):
        assert row_a.pop("mix_loss") == pytest.approx(row_b.pop("mix_loss"), rel=1e-6)
        assert row_a == row_b
    for wa, wb in zip(a.model.state_dict().values(), b.model.state_dict().values(), strict=True):
        assert torch.equal(wa, wb)


def test_the_merging_leaves_the_hashes_of_the_chapters_configs_unchanged(monkeypatch):
    """Golden hashes, measured before the merging rules existed (trainer version 2): the merging rules change
    no chapter config's hash input (the version bump to 3, for the log-space λ sampler, changes them all)."""
    from mixup_lib import profiles, runs
    from mixup_lib.chapters import generalization, robustness

    monkeypatch.setattr(train, "TRAINER_VERSION", 2)

    paper = profiles.resolve("generalization", "paper")
    kw = {k: paper[k] for k in ("width", "epochs", "n_train", "n_test", "alpha", "track_penalty")}
    assert runs.config_hash(generalization.run_config("cifar10", "mixup", 0, **kw)) == "3b22dfb64cc210c4"
    quick = profiles.resolve("robustness", "quick")
    assert runs.config_hash(robustness.fig1a_configs(quick, "svhn")["mixup", 1]) == "fcf5e3d6c119f6b6"
    sweep = robustness.alpha_sweep_configs(profiles.resolve("robustness", "paper"), "svhn")
    assert runs.config_hash(sweep[0.0]) == "28833516d603c501"
