"""What others measured: published numbers to show beside ours, each with its setup and citation.

These are the anchors of the project's specification ("What others measured"). They are data, not
results of this project: each record names its source (a key of ``book/references.bib``), where in the
source it stands, the setup, and the two numbers (without / with input mixup). :func:`direction_agrees`
says whether a number of ours points the same way, which is all a small-scale reproduction can check.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from mixup_lib.errors import check_choice, require

#: The quantity measured: "higher is better" for accuracies, "lower is better" for errors.
BETTER = {"fgsm_accuracy": "higher", "test_error": "lower", "fgsm_top1_error_ratio": "lower"}


@dataclass(frozen=True)
class Anchor:
    """One published comparison of ERM (no mixup) against input mixup."""

    chapter: str
    quantity: str
    source: str  # bibtex key in book/references.bib
    where: str  # table / section of the source
    setup: str
    erm: float | None
    mixup: float | None
    unit: str
    note: str = ""

    @property
    def mixup_better(self) -> bool | None:
        """Whether the source found mixup better on this quantity (None when only a ratio is given)."""
        if self.erm is None or self.mixup is None:
            return None
        return self.mixup > self.erm if BETTER[self.quantity] == "higher" else self.mixup < self.erm


ANCHORS: tuple[Anchor, ...] = (
    Anchor("robustness", "fgsm_accuracy", "verma2019manifold", "Table 7",
           "CIFAR-10, PreAct ResNet-18, white-box FGSM (ε not stated in the text), input mixup α = 1; "
           "SGD lr 0.1, momentum 0.9, wd 1e-4, 1200 epochs", 36.32, 71.51, "% test accuracy",
           "The same paper: the advantage does not survive stronger, multi-step attacks such as PGD."),
    Anchor("robustness", "fgsm_accuracy", "verma2019manifold", "Table 7",
           "SVHN, WRN-20-10, white-box FGSM (ε not stated in the text), input mixup",
           21.49, 56.98, "% test accuracy"),
    Anchor("robustness", "fgsm_top1_error_ratio", "zhang2018mixup", "Section 3.5",
           "ImageNet, ResNet-101, white-box FGSM", None, None, "",
           "\"the mixup model is 2.7 times more robust than the ERM model in terms of Top-1 error\""),
    Anchor("generalization", "test_error", "verma2019manifold", "Table 1",
           "CIFAR-10, PreAct ResNet-18", 4.83, 3.82, "% test error"),
    Anchor("generalization", "test_error", "verma2019manifold", "Table 1",
           "CIFAR-100, PreAct ResNet-18", 24.01, 22.11, "% test error"),
    Anchor("generalization", "test_error", "zhang2018mixup", "Section 3.2",
           "CIFAR-10, PreAct ResNet-18, 200 epochs", 5.6, 4.2, "% test error"),
    Anchor("generalization", "test_error", "zhang2018mixup", "Section 3.2",
           "CIFAR-100, PreAct ResNet-18, 200 epochs", 25.6, 21.1, "% test error"),
)

CHAPTERS = ("robustness", "generalization")


def anchors(chapter: str) -> list[dict]:
    """The published anchors of a chapter as plain dicts (JSON-ready), with ``mixup_better`` filled in."""
    check_choice("chapter", chapter, CHAPTERS)
    return [{**asdict(a), "mixup_better": a.mixup_better} for a in ANCHORS if a.chapter == chapter]


def direction_agrees(quantity: str, erm_ours: float, mixup_ours: float, *, tie: float = 0.0) -> bool | None:
    """Does our pair point the way every published pair of ``quantity`` points (mixup better)?

    ``None`` when our difference is within ``tie`` (no direction to compare).
    """
    check_choice("quantity", quantity, BETTER)
    require(tie >= 0, f"tie={tie!r} is not allowed: it must be >= 0")
    if abs(mixup_ours - erm_ours) <= tie:
        return None
    ours_better = mixup_ours > erm_ours if BETTER[quantity] == "higher" else mixup_ours < erm_ours
    published = {a.mixup_better for a in ANCHORS if a.quantity == quantity and a.mixup_better is not None}
    require(published == {True}, f"published anchors of {quantity} disagree among themselves: {published}")
    return ours_better
