"""tools/claims_tables.py: the README's and the intro's claims tables are those the committed results give."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from mixup_lib import claims, results

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("claims_tables", ROOT / "tools" / "claims_tables.py")
claims_tables = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(claims_tables)


@pytest.fixture
def checkout(tmp_path):
    """A copy of what the tool reads and writes: results/, README.md and book/intro.md."""
    shutil.copytree(ROOT / "results", tmp_path / "results")
    (tmp_path / "book").mkdir()
    for name in claims_tables.FILES:
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def _edit(path: Path, change) -> None:
    loaded = json.loads(path.read_text())
    change(loaded)
    path.write_text(json.dumps(loaded))


def test_the_committed_tables_are_those_the_committed_results_give(capsys):
    """A stale table (results committed, table not rewritten, or a table typed by hand) fails here."""
    assert claims_tables.main(["--check"]) == 0, capsys.readouterr().err


def test_a_changed_result_makes_the_check_fail_in_one_line_and_the_tool_rewrites_it(checkout, capsys):
    assert claims_tables.main(["--check", "--root", str(checkout)]) == 0
    committed = claims_tables.strongest("approximation", checkout)[0]

    def break_r3(loaded):  # claim 4: |R3| = 0 for bias-free ReLU nets; make it large
        loaded["bias_free"]["R3"] = 1.0
    _edit(committed, break_r3)
    assert claims_tables.main(["--check", "--root", str(checkout)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "README.md, book/intro.md: the claims table differs" in err
    assert claims_tables.main(["--root", str(checkout)]) == 0  # rewrite
    assert claims_tables.main(["--check", "--root", str(checkout)]) == 0
    row = next(line for line in (checkout / "README.md").read_text().splitlines() if line.startswith("| 4 |"))
    assert "❌ not supported" in row and "1.0e+00" in row


def test_the_strongest_committed_profile_is_used_and_a_smoke_run_is_marked_as_no_evidence(checkout):
    for stronger in ("full", "paper"):  # robustness with only its smoke results, whatever is committed today
        (checkout / "results" / "robustness" / f"{stronger}.json").unlink(missing_ok=True)
    table = claims_tables.table(checkout)
    robustness = [line for line in table.splitlines() if line.startswith(("| 5 |", "| 6 |", "| 7 |", "| 9 |"))]
    assert robustness and all("not evidence (smoke run: " in r and r.endswith("| **smoke** (not evidence) |")
                              for r in robustness)
    assert "| 1 | " in table and "✅ supported | largest relative" in table  # approximation: full, not smoke
    assert "`results/approximation/full.json` (full profile)" in table
    # Full results committed later: the tool picks them up by the profile recorded in the file.
    full = checkout / "results" / "robustness" / "full.json"
    shutil.copy(checkout / "results" / "robustness" / "smoke.json", full)
    _edit(full, lambda loaded: loaded["settings"].update(profile="full"))
    assert claims_tables.strongest("robustness", checkout)[0] == full
    table = claims_tables.table(checkout)
    assert "`results/robustness/full.json` (full profile)" in table and "| 5 | " in table
    assert not [line for line in table.splitlines() if line.startswith("| 5 |") and "smoke" in line]


def test_rows_are_the_chapters_verdicts_escaped_for_markdown(checkout):
    loaded = results.load(checkout / "results" / "approximation" / "full.json")
    rows = [line for line in claims_tables.table(checkout).splitlines() if line.startswith("| ")][1:]
    verdicts = results.chapter_module("approximation").verdicts(loaded)
    for claim, row in zip(verdicts, rows, strict=False):
        assert row.startswith(f"| {claim.number} | ") and f"{claims.MARKS[claim.verdict]} {claim.verdict}" in row
    assert claims_tables._cell("|R3| < 1e-8\n$x$ *a* [b]") == r"\|R3\| \< 1e-8 \$x\$ \*a\* \[b\]"


def test_a_file_without_the_markers_is_refused_in_one_line(checkout):
    (checkout / "book" / "intro.md").write_text("# no table here\n")
    with pytest.raises(SystemExit, match=r"^book/intro.md: needs exactly one <!-- claims-table:start -->"):
        claims_tables.main(["--check", "--root", str(checkout)])
