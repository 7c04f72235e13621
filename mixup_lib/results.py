"""The results store: each chapter's results object (plain JSON), keyed by its settings (DESIGN.md, "The shape").

``chapter.compute(settings)`` returns every number a page draws; :func:`obtain` finds it before computing it:

1. committed, under ``results/<chapter>/*.json`` (``$MIXUP_RESULTS``): a file whose ``settings_digest`` matches;
2. cached, under ``<runs>/results/<chapter>/<profile>-<digest>.json`` from an earlier computation;
3. else computed, stamped with the store's fields and provenance, and cached.

The digest hashes the chapter, its resolved settings (:func:`mixup_lib.profiles.resolve`) and
:data:`FORMAT_VERSION`; the device and thread count are not in it (a GPU's results can be drawn anywhere), but the
provenance names them. A file written under another format version is refused with one line
(:class:`StaleResultsError`), so stale evidence cannot be drawn: recompute it with
``python -m mixup_lib compute <chapter> --profile <p>``.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import os
import platform
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from mixup_lib import storage
from mixup_lib.errors import check_choice
from mixup_lib.storage import RunError

#: Bump when the layout or meaning of any chapter's results object changes: older files are then stale.
FORMAT_VERSION = 1
CHAPTERS = ("approximation", "robustness", "generalization")
RESULTS_ENV = "MIXUP_RESULTS"
REPO_ROOT = Path(__file__).resolve().parents[1]
#: Fields the store adds to every results object (a chapter's compute must not use these names).
STORE_FIELDS = ("chapter", "format_version", "settings", "settings_digest", "provenance")


class StaleResultsError(RunError):
    """A results file written under another :data:`FORMAT_VERSION` (or not a results file at all)."""


def chapter_module(chapter: str) -> ModuleType:
    """``mixup_lib.chapters.<chapter>``: its ``configs``, ``compute`` and ``verdicts``."""
    check_choice("chapter", chapter, CHAPTERS)
    return importlib.import_module(f"mixup_lib.chapters.{chapter}")


def committed_dir() -> Path:
    """``$MIXUP_RESULTS``, else the repository's committed ``results/`` folder."""
    return Path(os.environ.get(RESULTS_ENV) or REPO_ROOT / "results")


def _canonical(value: Any) -> Any:
    """Settings as JSON sees them (tuples as lists), so a digest does not depend on container types."""
    return json.loads(json.dumps(value, sort_keys=True))


def settings_digest(chapter: str, settings: Mapping[str, Any]) -> str:
    """16 hex digits of sha256 over the chapter, its resolved settings and :data:`FORMAT_VERSION`."""
    payload = json.dumps({"chapter": chapter, "settings": _canonical(dict(settings)), "format": FORMAT_VERSION},
                         sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def cache_path(chapter: str, settings: Mapping[str, Any], runs_dir: str | os.PathLike | None = None) -> Path:
    """Where :func:`obtain` caches the results of ``chapter`` at ``settings`` in the run store."""
    from mixup_lib.runs import _runs

    profile = settings.get("profile", "custom")
    return _runs(runs_dir) / "results" / chapter / f"{profile}-{settings_digest(chapter, settings)}.json"


def load(path: str | os.PathLike) -> dict[str, Any]:
    """A results object from ``path``; :class:`StaleResultsError` (one line) if its format version is not ours."""
    path = Path(path)
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise StaleResultsError(f"{path} is not a readable results file ({type(err).__name__}: {err})") from None
    if not isinstance(results, dict) or "format_version" not in results:
        raise StaleResultsError(f"{path} is not a results file (no format_version)")
    if results["format_version"] != FORMAT_VERSION:
        raise StaleResultsError(
            f"{path} has results format {results['format_version']}, this library writes {FORMAT_VERSION}: "
            f"recompute it with python -m mixup_lib compute {results.get('chapter', '<chapter>')} "
            f"--profile {results.get('settings', {}).get('profile', '<profile>')}")
    return results


def save(results: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write ``results`` atomically as indented JSON (NaN and infinities as null: strict JSON)."""
    path = Path(path)
    with storage.writable(path.parent, "the results folder", "give a writable --out or set MIXUP_RUNS"):
        path.parent.mkdir(parents=True, exist_ok=True)
        storage.atomic_write_text(path, json.dumps(_strict(results), indent=1, sort_keys=True) + "\n")
    return path


def _strict(value: Any) -> Any:
    """``value`` with non-finite floats as None, so any JSON reader (not just Python's) can read the file."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


#: Relative tolerance for floats that are not counts or accuracies when a recomputation is compared with committed
#: results: floating-point summation order differs between CPUs (and thread counts), so losses may differ in the
#: last digits. Keys naming counts, accuracies or errors must match exactly (they are ratios of counts).
LOSS_RTOL = 1e-5
EXACT_KEYS = re.compile(r"acc|error|count|correct|n_|epochs|seed", re.IGNORECASE)
#: Fields that differ between equal computations (where, when and how fast they ran): not compared.
VOLATILE_FIELDS = ("provenance",)
VOLATILE_KEYS = re.compile(r"wall_time|time_s$|seconds", re.IGNORECASE)


def differences(expected: Any, actual: Any, *, rtol: float = LOSS_RTOL, path: str = "", exact: bool = False
                ) -> list[str]:
    """Where ``actual`` differs from ``expected`` (e.g. a recomputation from committed results), one line each.

    Strings, ints and bools must be equal, and floats under a key matching :data:`EXACT_KEYS` (counts,
    accuracies); other floats within ``rtol`` (:data:`LOSS_RTOL`). None stands for NaN (strict JSON). The
    provenance, timings and fallback reasons (:data:`VOLATILE_KEYS`: the latter name the data root) are not compared.
    """
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        keys = sorted(key for key in (set(expected) | set(actual)) - set(VOLATILE_FIELDS if not path else ())
                      if not VOLATILE_KEYS.search(str(key)))
        out: list[str] = []
        for key in keys:
            where = f"{path}.{key}" if path else str(key)
            if key not in expected or key not in actual:
                out.append(f"{where}: only in {'actual' if key not in expected else 'expected'}")
            else:
                out += differences(expected[key], actual[key], rtol=rtol, path=where,
                                   exact=exact or bool(EXACT_KEYS.search(str(key))))
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{path}: {len(expected)} items expected, {len(actual)} found"]
        return [line for i, (e, a) in enumerate(zip(expected, actual, strict=True))
                for line in differences(e, a, rtol=rtol, path=f"{path}[{i}]", exact=exact)]
    floats = isinstance(expected, float) or isinstance(actual, float)
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (expected, actual))
    if floats and numbers and not exact:
        close = math.isclose(expected, actual, rel_tol=rtol, abs_tol=rtol * 1e-3)
        return [] if close else [f"{path}: expected {expected!r}, found {actual!r} (rtol {rtol:g})"]
    return [] if expected == actual else [f"{path}: expected {expected!r}, found {actual!r}"]


def find_committed(chapter: str, digest: str, folder: str | os.PathLike | None = None) -> Path | None:
    """The committed results file of ``chapter`` whose ``settings_digest`` is ``digest``, if any."""
    root = Path(folder) if folder is not None else committed_dir()
    for path in sorted((root / chapter).glob("*.json")):
        try:
            if json.loads(path.read_text()).get("settings_digest") == digest:
                return path
        except (OSError, ValueError, AttributeError):
            continue
    return None


def base_provenance(settings: Mapping[str, Any], device: str, started: float) -> dict[str, Any]:
    """What every results object records of where and how it was computed (a chapter adds its data sets)."""
    from mixup_lib.provenance import git_commit, package_versions

    return {
        "profile": settings.get("profile", "custom"),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "git commit": git_commit(),
        "machine": f"{platform.machine()}, {platform.system()} {platform.release()}",
        "cores": os.cpu_count(),
        "usable cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch threads": torch.get_num_threads(),
        "device": device,
        "wall time s": round(time.time() - started, 1),
        "versions": package_versions(),
    }


def stamp(chapter: str, settings: Mapping[str, Any], results: Mapping[str, Any], provenance: Mapping[str, Any]
          ) -> dict[str, Any]:
    """``results`` with the store's fields: chapter, format version, settings, their digest, provenance."""
    clash = sorted(set(results) & set(STORE_FIELDS) - {"provenance"})
    if clash:
        raise RunError(f"chapter {chapter}'s results use the store's field(s) {', '.join(clash)}")
    merged = {**provenance, **results.get("provenance", {})}
    return {**results, "chapter": chapter, "format_version": FORMAT_VERSION, "settings": _canonical(dict(settings)),
            "settings_digest": settings_digest(chapter, settings), "provenance": merged}


def obtain(chapter: str, settings: Mapping[str, Any], *, runs_dir: str | os.PathLike | None = None,
           recompute: bool = False, use_committed: bool = True, compute: Callable[..., dict] | None = None,
           **compute_options: Any) -> tuple[dict[str, Any], Path]:
    """The results of ``chapter`` at ``settings`` and the file they live in: committed, cached, or computed now.

    ``recompute`` skips both stores and overwrites the cache. ``compute`` defaults to the chapter's
    ``compute(settings, **compute_options)`` (``compute_options``: e.g. ``device``, ``workers``, ``runs_dir``),
    run with one torch thread in this process (and one per training worker), as the provenance records.
    """
    digest = settings_digest(chapter, settings)
    if not recompute:
        committed = find_committed(chapter, digest) if use_committed else None
        if committed is not None:
            return load(committed), committed
        cached = cache_path(chapter, settings, runs_dir)
        if cached.exists():
            return load(cached), cached
    from mixup_lib.dispatch import one_torch_thread

    compute = compute or chapter_module(chapter).compute
    started = time.time()
    with one_torch_thread():  # training workers use one thread too: the numbers do not depend on the core count
        results = compute(settings, runs_dir=runs_dir, **compute_options)
        device = str(results.get("provenance", {}).get("device") or compute_options.get("device", "cpu"))
        stamped = stamp(chapter, settings, results, base_provenance(settings, device, started))
    path = save(stamped, cache_path(chapter, settings, runs_dir))
    return load(path), path  # as every later reader sees it (NaN as None)
