"""The two environment descriptions (pyproject.toml for pip, environment.yml for conda) pin the same packages."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;]+)\s*$")


def _pins(requirements) -> dict[str, str]:
    pins = {}
    for line in requirements:
        match = PIN.match(line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def _pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        lines.extend(extra)
    return _pins(lines)


def _conda_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_lists = [item["pip"] for item in env["dependencies"] if isinstance(item, dict) and "pip" in item]
    return _pins(pip_lists[0])


def test_every_dependency_is_pinned_exactly():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"]) + [d for extra in project["optional-dependencies"].values() for d in extra]
    assert len(_pyproject_pins()) == len(lines), "every dependency in pyproject.toml must be pinned with =="


def test_environment_yml_pins_agree_with_pyproject():
    assert _conda_pins() == _pyproject_pins()


def test_pins_hold_the_documented_traps():
    pins = _pyproject_pins()
    assert pins["jupyter-book"].startswith("1."), "Jupyter Book 2.x is a different tool; the book uses _config.yml"
    assert (pins["torch"], pins["torchvision"]) == ("2.14.1", "0.29.1"), "a matched torch/torchvision pair"
