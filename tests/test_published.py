"""The published anchors: every citation exists, the stated directions follow from the numbers."""

import re
from pathlib import Path

import pytest

from mixup_lib import published
from mixup_lib.errors import ConfigError

BIB = (Path(__file__).resolve().parents[1] / "book" / "references.bib").read_text()


def test_every_anchor_cites_an_entry_of_the_bibliography():
    keys = set(re.findall(r"@\w+\{([^,]+),", BIB))
    assert {a.source for a in published.ANCHORS} <= keys


def test_specification_numbers():
    table7 = [a for a in published.ANCHORS if a.where == "Table 7"]
    assert [(a.erm, a.mixup) for a in table7] == [(36.32, 71.51), (21.49, 56.98)]
    assert all(a["mixup_better"] for a in published.anchors("generalization"))


@pytest.mark.parametrize(("quantity", "erm", "mix", "expected"), [
    ("fgsm_accuracy", 0.30, 0.40, True), ("fgsm_accuracy", 0.40, 0.30, False), ("fgsm_accuracy", 0.40, 0.405, None),
    ("test_error", 0.10, 0.08, True), ("test_error", 0.08, 0.10, False),
])
def test_direction_agrees(quantity, erm, mix, expected):
    assert published.direction_agrees(quantity, erm, mix, tie=0.01) is expected


def test_bad_input_is_one_line():
    with pytest.raises(ConfigError, match="chapter='approx'"):
        published.anchors("approx")
    with pytest.raises(ConfigError, match="quantity="):
        published.direction_agrees("accuracy", 0.1, 0.2)
