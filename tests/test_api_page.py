"""The API page documents every public module of mixup_lib (issue [chapters]: it once covered 5 of 18)."""

import pkgutil
import re
from pathlib import Path

import mixup_lib

ROOT = Path(__file__).resolve().parents[1]
NOT_PUBLIC = {"mixup_lib.__main__"}  # the command line (README)


def public_modules() -> set[str]:
    found = {info.name for info in pkgutil.walk_packages(mixup_lib.__path__, "mixup_lib.") if not info.ispkg}
    return found - NOT_PUBLIC


def test_every_public_module_is_on_the_api_page():
    documented = set(re.findall(r"^\.\. automodule:: (\S+)$", (ROOT / "book" / "api.md").read_text(), re.M))
    assert public_modules() - documented == set()
    assert documented - public_modules() == set(), "the page names modules that do not exist"
