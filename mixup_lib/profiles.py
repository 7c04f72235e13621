"""Profiles (smoke | quick | full | paper) for each figure, and the visible data-set fallback.

A notebook's ``parameters`` cell names a profile and may override single settings; :func:`resolve`
merges the two and validates them, so a bad parameter stops the notebook with one line.

- ``smoke``: seconds; what the tests and CI execute.
- ``quick``: the whole protocol at reduced scale, minutes on a laptop CPU.
- ``full``: the strongest protocol a 2-core CPU computes in about two hours per chapter; its results are
  committed under ``results/`` and drawn by the default ``make book``.
- ``paper``: the paper's settings (SGD, batch 64, momentum 0.9, lr 0.1 and the paper's models); for a GPU.

Each chapter registers its presets in :data:`PRESETS` under the notebook's name, and its settings rules
(:class:`SettingsRules`: one check per setting, checks between settings, the data sets it asks for) in
:data:`RULES`; :func:`resolve` applies them, so every bad setting stops the notebook in its first cell, before
any training. The presets and rules of a chapter live in its module (``mixup_lib/chapters/<chapter>.py``), imported
on first use.
"""

from __future__ import annotations

import importlib
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mixup_lib.errors import ConfigError, check_choice, check_positive_int, require
from mixup_lib.report import tables

PROFILES = ("smoke", "quick", "full", "paper")

#: What a figure runs on when the data set it asks for cannot be had (visibly: see :func:`fallback_notice`).
FALLBACK_DATASET = "fashion_mnist"

#: figure (notebook name) → profile → settings. Chapters add their own entry.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {}

#: A check of one setting: (name, value) → the value (normalized), or a one-line :class:`ConfigError`.
Check = Callable[[str, Any], Any]


@dataclass(frozen=True)
class SettingsRules:
    """How a chapter's settings are validated, and which data sets it asks for.

    ``checks`` holds one check per setting (every setting of the chapter's presets must have one);
    ``relations`` are checks between settings (e.g. ``pgd_points <= n_test``), each taking the settings;
    ``datasets`` maps the settings to the names of the data sets the notebook requests (its fallback included),
    for the book executor's fingerprint.
    """

    checks: Mapping[str, Check]
    relations: Sequence[Callable[[Mapping[str, Any]], None]] = ()
    datasets: Callable[[Mapping[str, Any]], Sequence[str]] = field(default=lambda settings: ())

    def validate(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """The settings with each one checked (and normalized), then the relations between them checked."""
        checked = {key: self.checks[key](key, value) if key in self.checks else value
                   for key, value in settings.items()}
        for relation in self.relations:
            relation(checked)
        return checked


#: figure → its settings rules. Chapters with a module register there (see :data:`_CHAPTER_MODULES`).
RULES: dict[str, SettingsRules] = {}

#: The module that registers a chapter's presets and rules, imported on first use.
_CHAPTER_MODULES = {name: f"mixup_lib.chapters.{name}" for name in ("approximation", "robustness", "generalization")}


def _register(figure: str) -> None:
    """Import the chapter module of ``figure`` if its presets or rules are not registered yet."""
    if figure in _CHAPTER_MODULES and (figure not in PRESETS or figure not in RULES):
        importlib.import_module(_CHAPTER_MODULES[figure])


def presets(figure: str) -> dict[str, dict[str, Any]]:
    """profile → settings of ``figure`` (a one-line ConfigError for an unknown figure)."""
    _register(figure)
    check_choice("figure", figure, PRESETS)
    return PRESETS[figure]


def rules(figure: str) -> SettingsRules | None:
    """The settings rules of ``figure`` (importing the chapter's module where they live), or None."""
    _register(figure)
    return RULES.get(figure)


def requested_datasets(figure: str, settings: Mapping[str, Any]) -> list[str]:
    """The data sets ``figure``'s notebook asks for at ``settings`` (fallbacks included), without loading them."""
    chapter = rules(figure)
    return list(dict.fromkeys(chapter.datasets(settings))) if chapter is not None else []


def resolve(figure: str, profile: str, **overrides: Any) -> dict[str, Any]:
    """The settings of ``figure`` at ``profile``, with every override that is not ``None`` applied.

    Overrides must name settings the preset has, and keep their type (an int may stand for a float).
    """
    chapter_presets = presets(figure)
    check_choice("profile", profile, PROFILES)
    check_choice(f"profile of {figure}", profile, chapter_presets)
    settings = dict(chapter_presets[profile])
    for key, value in overrides.items():
        if value is None:
            continue
        require(key in settings, f"parameter {key!r} is not a setting of {figure}: allowed are {', '.join(settings)}")
        settings[key] = _coerce(key, value, settings[key])
    chapter = rules(figure)
    if chapter is not None:
        settings = chapter.validate(settings)
    settings["profile"] = profile
    return settings


def _coerce(key: str, value: Any, default: Any) -> Any:
    """Keep an override's type in line with the preset's (papermill passes numbers and lists as given)."""
    if isinstance(default, bool) or default is None:
        return value
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, (list, tuple)) and isinstance(value, (list, tuple)):
        return type(default)(value)
    require(
        isinstance(value, type(default)),
        f"parameter {key}={value!r} is not allowed: it must be a {type(default).__name__} like {default!r}",
    )
    return value


@dataclass
class DataChoice:
    """The data set a figure asked for, the one it actually used, and why they differ."""

    requested: str
    used: str
    data: Any  # mixup_lib.data.TensorData
    reason: str | None = None

    @property
    def is_fallback(self) -> bool:
        return self.used != self.requested


def load_with_fallback(requested: str, fallback: str = FALLBACK_DATASET, **load_kwargs: Any) -> DataChoice:
    """Load ``requested``; where it cannot be had, load ``fallback`` and remember why (never silently).

    The page must then show :func:`fallback_notice`. Bad arguments (ConfigError) are not swallowed.
    """
    from mixup_lib.data import DatasetUnavailable, load_dataset

    try:
        return DataChoice(requested, requested, load_dataset(requested, **load_kwargs))
    except DatasetUnavailable as unavailable:
        if fallback == requested:
            raise
        return DataChoice(requested, fallback, load_dataset(fallback, **load_kwargs), reason=str(unavailable))


def fallback_notice(choice: DataChoice) -> str:
    """An HTML warning admonition naming the data set actually used (renders in the book and in JupyterLab)."""
    if not choice.is_fallback:
        return ""
    return tables.notice(choice.requested, choice.used, choice.reason or "")


def check_seeds(seeds: Any, name: str = "seeds") -> list[int]:
    """Seeds as a non-empty list of distinct non-negative integers."""
    ok = (
        isinstance(seeds, (list, tuple))
        and len(seeds) > 0
        and all(_is_int(s) and s >= 0 for s in seeds)
        and len(set(seeds)) == len(seeds)
    )
    if not ok:
        raise ConfigError(f"{name}={seeds!r} is not allowed: give a non-empty list of distinct integers >= 0")
    return list(seeds)


# ----------------------------------------------------------------------------------------------------------
# Checks of single settings, for the chapters' SettingsRules: each takes (name, value) and returns the value
# (unchanged: the settings feed run-config hashes).


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def seeds(name: str, value: Any) -> list[int]:
    """A non-empty list of distinct integers >= 0."""
    return check_seeds(value, name)


def positive_int(name: str, value: Any) -> int:
    """An integer >= 1."""
    return check_positive_int(name, value)


def nonnegative_int(name: str, value: Any) -> int:
    """An integer >= 0 (0 switches a feature off, e.g. ``track_penalty``)."""
    require(_is_int(value) and value >= 0, f"{name}={value!r} is not allowed: it must be an integer >= 0")
    return value


def positive_int_or_all(name: str, value: Any) -> int | None:
    """An integer >= 1, or None for "all of it" (a subset size)."""
    return None if value is None else check_positive_int(name, value)


def positive_number(name: str, value: Any) -> float:
    """A finite number > 0 (e.g. mixup's α, where Beta(α, α) needs α > 0)."""
    require(_is_number(value) and value > 0, f"{name}={value!r} is not allowed: it must be a finite number > 0")
    return value


def nonnegative_number(name: str, value: Any) -> float:
    """A finite number >= 0."""
    require(_is_number(value) and value >= 0, f"{name}={value!r} is not allowed: it must be a finite number >= 0")
    return value


def fraction_below_one(name: str, value: Any) -> float:
    """A number in [0, 1) (e.g. momentum)."""
    require(_is_number(value) and 0 <= value < 1, f"{name}={value!r} is not allowed: it must be a number in [0, 1)")
    return value


def boolean(name: str, value: Any) -> bool:
    """True or False."""
    require(isinstance(value, bool), f"{name}={value!r} is not allowed: it must be True or False")
    return value


def number_list(*, minimum: float, inclusive: bool = True, min_length: int = 1) -> Check:
    """A check for a list of at least ``min_length`` finite numbers, each >= ``minimum`` (> if not inclusive)."""
    bound = f"{'>=' if inclusive else '>'} {minimum:g}"

    def check(name: str, value: Any) -> list[float]:
        ok = isinstance(value, (list, tuple)) and len(value) >= min_length and all(
            _is_number(v) and (v >= minimum if inclusive else v > minimum) for v in value)
        size = "a non-empty list of" if min_length == 1 else f"a list of at least {min_length}"
        require(ok, f"{name}={value!r} is not allowed: give {size} numbers {bound}")
        return list(value)

    return check


def int_list(*, min_length: int = 1, increasing: bool = False) -> Check:
    """A check for a list of at least ``min_length`` integers >= 1 (strictly increasing if asked)."""
    order = ", strictly increasing" if increasing else ""

    def check(name: str, value: Any) -> list[int]:
        ok = isinstance(value, (list, tuple)) and len(value) >= min_length and all(_is_int(v) and v >= 1 for v in value)
        ok = ok and (not increasing or all(b > a for a, b in itertools.pairwise(value)))
        size = "a non-empty list of" if min_length == 1 else f"a list of at least {min_length}"
        require(ok, f"{name}={value!r} is not allowed: give {size} integers >= 1{order}")
        return list(value)

    return check


def choice(*allowed: Any) -> Check:
    """A check that the value is one of ``allowed``."""
    return lambda name, value: check_choice(name, value, allowed)


def at_most(small: str, large: str, what: str = "") -> Callable[[Mapping[str, Any]], None]:
    """A relation: ``settings[small] <= settings[large]`` (skipped where ``large`` is None, i.e. "all")."""

    def relation(settings: Mapping[str, Any]) -> None:
        value, limit = settings[small], settings[large]
        if limit is not None:
            require(value <= limit, f"{small}={value!r} is not allowed: it must be at most {large}={limit!r}{what}")

    return relation
