"""Execute the figure notebooks for the book: jupytext source → papermill → book/generated/<name>.ipynb.

    python tools/execute_notebooks.py --profile quick            # every notebook, skipping up-to-date ones
    python tools/execute_notebooks.py --only approximation -p alpha 0.5 --force

A notebook is re-executed only when its fingerprint changes: the sha256 of its source, its parameters,
and the sources of mixup_lib and results/ (stored in the executed notebook's metadata). The run store
makes re-execution cheap anyway; this skips even the kernel start. A failing notebook names itself,
keeps its partial output in book/generated/failed/, leaves the last good output untouched, and makes
this script exit 1.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
GENERATED = ROOT / "book" / "generated"
METADATA_KEY = "mixup_companion"


def notebook_names() -> list[str]:
    """Every figure notebook (``notebooks/<name>.py``), sorted."""
    return sorted(path.stem for path in NOTEBOOKS.glob("*.py"))


def parse_value(text: str):
    """A papermill-style ``-p`` value: a Python/JSON literal where it parses, else the string itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        lowered = text.lower()
        return {"true": True, "false": False, "none": None, "null": None}.get(lowered, text)


def _tree_digest(*folders: Path) -> str:
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(ROOT)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def fingerprint(name: str, parameters: dict) -> str:
    """What an executed notebook depends on: its source, its parameters, the library and committed results."""
    digest = hashlib.sha256()
    digest.update((NOTEBOOKS / f"{name}.py").read_bytes())
    digest.update(json.dumps(parameters, sort_keys=True).encode())
    digest.update(_tree_digest(ROOT / "mixup_lib", ROOT / "results").encode())
    return digest.hexdigest()


def is_up_to_date(name: str, parameters: dict) -> bool:
    target = GENERATED / f"{name}.ipynb"
    if not target.exists():
        return False
    try:
        stored = json.loads(target.read_text())["metadata"].get(METADATA_KEY, {}).get("fingerprint")
    except (json.JSONDecodeError, KeyError):
        return False
    return stored == fingerprint(name, parameters)


def execute(name: str, parameters: dict) -> float:
    """Run one notebook with papermill; write its output atomically. Returns the wall time in seconds."""
    import jupytext
    import nbformat
    import papermill

    GENERATED.mkdir(parents=True, exist_ok=True)
    os.environ["MIXUP_BATCH_RUN"] = "1"  # the kernel inherits it: no live widgets (mixup_lib.plots.interactive_session)
    started = time.time()
    with tempfile.TemporaryDirectory(dir=GENERATED, prefix=".executing-") as scratch:
        source = Path(scratch) / f"{name}.ipynb"
        executed = Path(scratch) / f"{name}.out.ipynb"
        nbformat.write(jupytext.read(NOTEBOOKS / f"{name}.py"), source)
        try:
            papermill.execute_notebook(
                str(source), str(executed), parameters=parameters, kernel_name="python3",
                cwd=str(ROOT), progress_bar=False, log_output=False,
                extra_arguments=["--IPKernelApp.log_level=ERROR"],  # keep the kernel's start-up notices out of logs
            )
        except papermill.PapermillExecutionError as error:
            failed = GENERATED / "failed"
            failed.mkdir(exist_ok=True)
            if executed.exists():
                os.replace(executed, failed / f"{name}.ipynb")
            raise NotebookFailedError(f"notebook {name} failed in cell {error.exec_count}: {error.ename}: "
                                 f"{error.evalue} (partial output: book/generated/failed/{name}.ipynb)") from None
        notebook = nbformat.read(executed, as_version=4)
        notebook.metadata[METADATA_KEY] = {"fingerprint": fingerprint(name, parameters), "parameters": parameters}
        nbformat.write(notebook, executed)
        os.replace(executed, GENERATED / f"{name}.ipynb")
    return time.time() - started


class NotebookFailedError(RuntimeError):
    """A notebook raised; the message names it and the failing cell in one line."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="quick", choices=("smoke", "quick", "paper"))
    parser.add_argument("--only", action="append", metavar="NAME", help="run only this notebook (repeatable)")
    parser.add_argument("--force", action="store_true", help="execute even if up to date")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="papermill parameter, e.g. -p alpha 0.5")
    args = parser.parse_args(argv)

    names = notebook_names()
    unknown = sorted(set(args.only or []) - set(names))
    if unknown:
        print(f"error: notebook {unknown[0]!r} does not exist: choose one of {', '.join(names)}", file=sys.stderr)
        return 2
    parameters = {"profile": args.profile, **{key: parse_value(value) for key, value in args.parameter}}
    for name in args.only or names:
        if not args.force and is_up_to_date(name, parameters):
            print(f"{name}: up to date (profile {args.profile})")
            continue
        print(f"{name}: executing with {parameters} ...", flush=True)
        try:
            seconds = execute(name, parameters)
        except NotebookFailedError as failure:
            print(f"error: {failure}", file=sys.stderr)
            return 1
        print(f"{name}: done in {seconds:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
