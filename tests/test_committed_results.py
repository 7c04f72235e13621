"""Committed results (results/<chapter>/*.json): current format, found by their settings, and reproducible.

The smoke results are recomputed here (approximation, generalization) or by the fault-injection test of the
book path (robustness, tests/test_faults.py) and must equal the committed files: counts and accuracies exactly,
losses within :data:`mixup_lib.results.LOSS_RTOL` (floating-point order can differ between CPUs).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mixup_lib import profiles, results

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = sorted((ROOT / "results").glob("*/*.json"))
RECOMPUTED_HERE = ("approximation", "generalization")


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_committed_results_have_the_current_format_and_settings(path):
    committed = results.load(path)  # StaleResultsError (one line: how to recompute) on another format version
    chapter, profile = committed["chapter"], committed["settings"]["profile"]
    assert path.parent.name == chapter
    current = profiles.resolve(chapter, profile)
    assert committed["settings_digest"] == results.settings_digest(chapter, current), (
        f"{path} was computed with other {profile} settings than the preset's: recompute it with "
        f"python -m mixup_lib compute {chapter} --profile {profile} --recompute --out {path.relative_to(ROOT)}")
    assert results.find_committed(chapter, committed["settings_digest"]) == path
    for key in ("git commit", "machine", "cores", "torch threads", "device", "wall time s", "date"):
        assert key in committed["provenance"], f"{path}: provenance lacks {key!r}"


def test_every_chapter_commits_its_smoke_results():
    assert {p.parent.name for p in COMMITTED if p.name == "smoke.json"} == set(results.CHAPTERS)


@pytest.mark.parametrize("chapter", RECOMPUTED_HERE)
def test_smoke_results_recompute_to_the_committed_numbers(chapter, tmp_path):
    committed = json.loads((ROOT / "results" / chapter / "smoke.json").read_text())
    settings = profiles.resolve(chapter, "smoke")
    fresh, _ = results.obtain(chapter, settings, runs_dir=tmp_path, use_committed=False, device="cpu", workers=1)
    assert results.differences(committed, fresh) == []
