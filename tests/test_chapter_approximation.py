"""The approximation chapter's contract (mixup_lib.chapters.approximation): presets, compute, verdicts.

Every branch of every verdict on small hand-made results objects; a smoke ``compute`` whose JSON round trip gives
the same verdicts and which leaves torch's global state (default dtype, RNG) as it found it.
"""

from __future__ import annotations

import copy
import json

import pytest
import torch

from mixup_lib import approx, profiles
from mixup_lib.chapters import approximation as chapter
from mixup_lib.claims import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from mixup_lib.errors import ConfigError

# --------------------------------------------------------------------------------------------------------
# Hand-made results


def _claim2_record(model: str, slope2: float = 3.0, step: int = 0) -> dict:
    return {"model": model, "step": step, "slopes": [1.0, 2.0, slope2],
            "truncation_errors": {"L_mix": 0.5, "uncertainty": 1e-12,
                                  "errors": dict(zip(approx.TRUNCATIONS, (0.1, 0.05, 0.01, 0.005), strict=True))}}


def _results(**changes) -> dict:
    """A minimal results object on which every claim is supported; ``changes`` replace top-level entries."""
    results = {
        "rewrite": [{"model": "logistic regression", "alpha": 1.0, "beta": 1.0, "16 nodes": 1e-5, "64 nodes": 1e-15},
                    {"model": chapter.RELU, "alpha": 1.0, "beta": 1.0, "16 nodes": 1e-5, "64 nodes": 3e-7}],
        "claim2": [_claim2_record("logistic regression"), _claim2_record(chapter.TANH),
                   _claim2_record(chapter.RELU)],
        "fig2_final": [{"model": kind, "alpha": alpha, "relative_difference": 0.05}
                       for kind in chapter.MODEL_KINDS for alpha in (0.2, 1.0)],
        "bias_free": {"R3": 0.0, "homogeneity_error": 1e-16},
    }
    return {**results, **changes}


def _by_claim(results: dict) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for claim in chapter.verdicts(results):
        out.setdefault(claim.number, []).append(claim.verdict)
    return out


def test_every_claim_is_supported_on_the_hand_made_results():
    assert _by_claim(_results()) == {1: [SUPPORTED], 2: [SUPPORTED, SUPPORTED], 3: [SUPPORTED, SUPPORTED],
                                     4: [SUPPORTED]}


def test_claim1_branches():
    results = _results()
    results["rewrite"][1]["64 nodes"] = chapter.REWRITE_TOLERANCE  # the finest rule decides, at the threshold
    results["rewrite"][1]["16 nodes"] = 0.0
    assert _by_claim(results)[1] == [NOT_SUPPORTED]
    results["rewrite"][1]["64 nodes"] = 0.99 * chapter.REWRITE_TOLERANCE
    (claim,) = [c for c in chapter.verdicts(results) if c.number == 1]
    assert claim.verdict == SUPPORTED and "9.9e-07" in claim.evidence and "64 nodes" in claim.evidence


def test_claim2_judges_smooth_models_and_the_relu_net_apart():
    bad_relu = _results(claim2=[_claim2_record("logistic regression"), _claim2_record(chapter.RELU, 9.4)])
    assert _by_claim(bad_relu)[2] == [SUPPORTED, NOT_SUPPORTED]
    bad_tanh = _results(claim2=[_claim2_record(chapter.TANH, 2.0), _claim2_record(chapter.RELU)])
    assert _by_claim(bad_tanh)[2] == [NOT_SUPPORTED, SUPPORTED]
    noise = _results(claim2=[_claim2_record(chapter.TANH, float("nan")), _claim2_record(chapter.RELU)])
    assert _by_claim(noise)[2] == [INCONCLUSIVE, SUPPORTED]
    assert _by_claim(_results(claim2=[_claim2_record(chapter.TANH)]))[2] == [SUPPORTED]  # no ReLU records


@pytest.mark.parametrize(("gap", "expected"), [
    (0.0, SUPPORTED), (0.0999, SUPPORTED), (0.10, INCONCLUSIVE), (0.2499, INCONCLUSIVE), (0.25, NOT_SUPPORTED),
    (0.9, NOT_SUPPORTED),
])
def test_claim3_branches_at_each_alpha(gap, expected):
    results = _results()
    results["fig2_final"][-1]["relative_difference"] = gap  # the ReLU net at α = 1: the worse kind decides
    assert _by_claim(results)[3] == [SUPPORTED, expected]


@pytest.mark.parametrize(("r3", "error", "expected"), [
    (0.0, 1e-16, SUPPORTED), (2e-8, 1e-16, NOT_SUPPORTED), (0.0, 2e-8, NOT_SUPPORTED),
    (chapter.BIAS_FREE_TOLERANCE, 0.0, NOT_SUPPORTED),
])
def test_claim4_branches(r3, error, expected):
    assert _by_claim(_results(bias_free={"R3": r3, "homogeneity_error": error}))[4] == [expected]


def test_verdicts_refuse_results_of_another_chapter():
    with pytest.raises(ConfigError, match="not the approximation chapter's results"):
        chapter.verdicts({"fig1a": []})


# --------------------------------------------------------------------------------------------------------
# Presets, rules, configs


def test_presets_and_rules_are_registered_by_the_chapter_module():
    presets = profiles.presets("approximation")
    assert list(presets) == ["smoke", "quick", "full", "paper"]
    assert presets["full"] == presets["paper"]  # "full is the same" (the protocol runs in minutes on a CPU)
    assert presets["full"]["steps"] == 2000 and presets["full"]["fig2_alphas"] == [0.2, 0.5]
    assert profiles.requested_datasets("approximation", presets["smoke"]) == ["two_moons"]
    with pytest.raises(ConfigError, match="n_check=17 is not allowed: it must be at most n_train=16"):
        profiles.resolve("approximation", "smoke", n_train=16, n_check=17)
    assert chapter.configs(profiles.resolve("approximation", "smoke")) == []


# --------------------------------------------------------------------------------------------------------
# A smoke compute


@pytest.fixture(scope="module")
def smoke():
    dtype, rng = torch.get_default_dtype(), torch.random.get_rng_state()
    results = chapter.compute(profiles.resolve("approximation", "smoke"), device="cpu", workers=1)
    return results, dtype, rng


def test_smoke_compute_leaves_global_torch_state_alone(smoke):
    _, dtype, rng = smoke
    assert torch.get_default_dtype() == dtype
    assert torch.equal(torch.random.get_rng_state(), rng)


def test_smoke_compute_round_trips_through_json_with_the_same_verdicts(smoke):
    results, _, _ = smoke
    text = json.dumps(results)
    again = json.loads(text)
    assert chapter.verdicts(again) == chapter.verdicts(results)
    assert _by_claim(again)[1] == [SUPPORTED] and _by_claim(again)[4] == [SUPPORTED]
    assert _by_claim(again)[2] == [SUPPORTED, NOT_SUPPORTED]  # smooth models pass, the ReLU net does not (kinks)
    provenance = results["provenance"]
    assert provenance["dataset used"] == provenance["dataset requested"] == "two_moons"
    assert provenance["fallback reason"] is None and provenance["device"].startswith("cpu")
    assert {row["alpha"] for row in results["fig2_final"]} == {0.2, 1.0}
    assert len(results["fig2"]) == 2 * 2 * 1 * 2  # kinds × α × seeds × objectives
    assert [row["step"] for row in results["fig2"][0]["rows"]] == [0, 10, 20]


def test_smoke_numbers_match_the_notebook_before_the_move(smoke):
    # values the notebook printed before the chapter moved here (/work/wt/approx-before.txt, smoke profile)
    results, _, _ = smoke
    finest = max(row["64 nodes"] for row in results["rewrite"])
    assert f"{finest:.1e}" == "2.7e-07"
    gaps = {(row["model"], row["alpha"]): f"{row['relative_difference']:.1%}" for row in results["fig2_final"]}
    assert gaps == {("logistic regression", 0.2): "0.0%", ("logistic regression", 1.0): "2.8%",
                    (chapter.RELU, 0.2): "5.0%", (chapter.RELU, 1.0): "8.6%"}
    relu0 = next(r for r in results["claim2"] if r["model"] == chapter.RELU and r["step"] == 0)
    assert f"{relu0['slopes'][2]:.2f}" == "9.43"


def test_a_broken_result_changes_the_verdicts(smoke):
    results, _, _ = smoke
    broken = copy.deepcopy(results)
    broken["bias_free"]["R3"] = 1e-3
    for record in broken["claim2"]:
        record["slopes"][2] = 2.0
    assert _by_claim(broken)[4] == [NOT_SUPPORTED] and _by_claim(broken)[2] == [NOT_SUPPORTED, NOT_SUPPORTED]


def test_probability_grid_holds_the_models_probabilities():
    from mixup_lib import fullbatch

    model = torch.nn.Sequential(torch.nn.Linear(2, 1, dtype=torch.float64), torch.nn.Flatten(0))
    x = torch.tensor([[0.0, 0.0], [1.0, 2.0]], dtype=torch.float64)
    grid = fullbatch.probability_grid(model, x, resolution=5)
    assert grid["x"][0] == -0.5 and grid["x"][-1] == 1.5 and grid["y"][-1] == 2.5
    point = torch.tensor([[grid["x"][1], grid["y"][3]]], dtype=torch.float64)
    with torch.no_grad():
        assert grid["prob"][3][1] == pytest.approx(float(torch.sigmoid(model(point))[0]), abs=1e-15)
    with pytest.raises(ConfigError, match="2-D inputs"):
        fullbatch.probability_grid(model, torch.zeros(3, 4))
