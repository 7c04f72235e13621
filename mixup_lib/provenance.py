"""Provenance: what ran, where and how long; every executed notebook ends with it (DESIGN.md)."""

from __future__ import annotations

import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from mixup_lib.devices import device_description
from mixup_lib.report import tables

PACKAGES = ("torch", "torchvision", "numpy", "scipy", "scikit-learn", "matplotlib", "mixup-lib")
REPO_ROOT = Path(__file__).resolve().parents[1]


def package_versions() -> dict[str, str]:
    """Installed versions of the packages the results depend on."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit(root: Path = REPO_ROOT) -> str:
    """The checkout's commit, with ``+dirty`` when tracked files have uncommitted changes; ``unknown`` outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def provenance(profile: str, device: torch.device | str, started: float, **extra: Any) -> dict[str, Any]:
    """A record of the run: profile, device, commit, versions, wall time since ``started`` (``time.time()``)."""
    record = {
        "profile": profile,
        "device": device_description(torch.device(device)),
        "git commit": git_commit(),
        "machine": f"{platform.machine()}, {platform.system()} {platform.release()}",
        "wall time": f"{time.time() - started:.1f} s",
        **extra,
    }
    record.update(package_versions())
    return record


def html_table(record: dict[str, Any], caption: str) -> str:
    """A two-column HTML table (key, value): a page's settings ("what was run") or its provenance."""
    return tables.record_table(record, caption)
