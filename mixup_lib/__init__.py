"""mixup_lib: the library behind the companion to Zhang et al., *How Does Mixup Help With Robustness
and Generalization?* (ICLR 2021).

Modules: :mod:`~mixup_lib.mixup` (λ samplers, batch mixing, mixup loss), :mod:`~mixup_lib.models`,
:mod:`~mixup_lib.attacks` (FGSM, PGD), :mod:`~mixup_lib.approx` (Lemma 3.1, Eq. 3, the robustness bound),
:mod:`~mixup_lib.data`, :mod:`~mixup_lib.train`, :mod:`~mixup_lib.runs`.
"""

from mixup_lib.errors import ConfigError

__all__ = ["ConfigError"]
__version__ = "0.1.0"
