"""The results store: committed first, then cached, else computed once; stale formats refused in one line."""

from __future__ import annotations

import json

import pytest

from mixup_lib import results
from mixup_lib.errors import ConfigError

SETTINGS = {"profile": "smoke", "seeds": [0, 1], "alpha": 1.0}


class Counter:
    """A stand-in for a chapter's compute that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, settings, *, runs_dir=None, **options):
        self.calls += 1
        return {"accuracy": 0.5 + 0.1 * self.calls, "nan": float("nan"), "provenance": {"dataset used": "x"}}


def test_digest_depends_on_chapter_settings_and_format(monkeypatch):
    base = results.settings_digest("robustness", SETTINGS)
    assert base == results.settings_digest("robustness", {**SETTINGS, "seeds": (0, 1)})  # tuple == list
    assert base != results.settings_digest("generalization", SETTINGS)
    assert base != results.settings_digest("robustness", {**SETTINGS, "alpha": 0.5})
    monkeypatch.setattr(results, "FORMAT_VERSION", results.FORMAT_VERSION + 1)
    assert base != results.settings_digest("robustness", SETTINGS)


def test_obtain_computes_once_then_reads_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(results.RESULTS_ENV, str(tmp_path / "committed"))
    compute = Counter()
    first, path = results.obtain("robustness", SETTINGS, runs_dir=tmp_path / "runs", compute=compute)
    again, same = results.obtain("robustness", SETTINGS, runs_dir=tmp_path / "runs", compute=compute)
    assert compute.calls == 1 and path == same
    assert again["accuracy"] == first["accuracy"] == 0.6
    assert again["nan"] is None  # strict JSON on disk
    assert again["settings_digest"] == results.settings_digest("robustness", SETTINGS)
    assert again["provenance"]["dataset used"] == "x" and "git commit" in again["provenance"]
    assert json.loads(path.read_text())["format_version"] == results.FORMAT_VERSION
    recomputed, _ = results.obtain("robustness", SETTINGS, runs_dir=tmp_path / "runs", compute=compute,
                                   recompute=True)
    assert compute.calls == 2 and recomputed["accuracy"] == pytest.approx(0.7)


def test_committed_results_come_first(tmp_path, monkeypatch):
    committed = tmp_path / "committed"
    monkeypatch.setenv(results.RESULTS_ENV, str(committed))
    made, _ = results.obtain("generalization", SETTINGS, runs_dir=tmp_path / "runs", compute=Counter())
    results.save({**made, "accuracy": 0.99}, committed / "generalization" / "smoke.json")
    compute = Counter()
    found, path = results.obtain("generalization", SETTINGS, runs_dir=tmp_path / "elsewhere", compute=compute)
    assert compute.calls == 0 and found["accuracy"] == 0.99 and path == committed / "generalization" / "smoke.json"
    _, path = results.obtain("generalization", SETTINGS, runs_dir=tmp_path / "elsewhere", compute=compute,
                             use_committed=False)
    assert compute.calls == 1 and path.is_relative_to(tmp_path / "elsewhere")


def test_stale_format_is_one_line(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"format_version": 0, "chapter": "robustness", "settings": {"profile": "full"}}))
    with pytest.raises(results.StaleResultsError) as err:
        results.load(path)
    message = str(err.value)
    assert "\n" not in message and "format 0" in message and "compute robustness --profile full" in message
    path.write_text("{not json")
    with pytest.raises(results.StaleResultsError, match="not a readable results file"):
        results.load(path)


def test_results_cannot_shadow_store_fields(tmp_path):
    with pytest.raises(results.RunError, match="settings_digest"):
        results.stamp("robustness", SETTINGS, {"settings_digest": "x"}, {})


def test_unknown_chapter_is_one_line():
    with pytest.raises(ConfigError, match=r"chapter=.robustnes. is not allowed"):
        results.chapter_module("robustnes")


def test_differences_are_exact_for_counts_and_tolerant_for_losses():
    committed = {"test_acc": [0.5, 0.75], "loss": 0.123456, "curve": {"train_loss": [1.0, 0.5]}, "verdict": "supported",
                 "n_correct": 3, "provenance": {"date": "then"}}
    assert results.differences(committed, {**committed, "provenance": {"date": "now"}}) == []
    assert results.differences(committed, {**committed, "loss": 0.123456 * (1 + 1e-7)}) == []
    assert results.differences(committed, {**committed, "loss": 0.1235}) == [
        "loss: expected 0.123456, found 0.1235 (rtol 1e-05)"]
    assert results.differences(committed, {**committed, "test_acc": [0.5, 0.75 + 1e-12]}) == [
        "test_acc[1]: expected 0.75, found 0.750000000001"]
    assert results.differences(committed, {**committed, "verdict": "not supported"}) == [
        "verdict: expected 'supported', found 'not supported'"]
    assert results.differences(committed, {**committed, "curve": {"train_loss": [1.0]}}) == [
        "curve.train_loss: 2 items expected, 1 found"]
    missing = dict(committed)
    del missing["n_correct"]
    assert results.differences(committed, missing) == ["n_correct: only in expected"]


def test_timings_and_provenance_are_not_compared():
    committed = {"networks": [{"wall_time_s": 2.7, "test_acc": 0.5}], "provenance": {"wall time s": 1.0}}
    assert results.differences(committed, {"networks": [{"wall_time_s": 9.9, "test_acc": 0.5}],
                                           "provenance": {}}) == []
