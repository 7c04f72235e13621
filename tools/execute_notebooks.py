"""Execute the figure notebooks for the book: jupytext source → papermill → book/generated/<name>.ipynb.

    python tools/execute_notebooks.py --profile quick            # every notebook, skipping up-to-date ones
    python tools/execute_notebooks.py --only approximation -p alpha 0.5 --force
    python tools/execute_notebooks.py --only robustness -y "seeds: [0, 1]" -f my-params.yaml

Parameters as papermill takes them, merged in papermill's order whatever their order on the line: ``-f FILE``
(YAML), then ``-y YAML``, then ``-p NAME VALUE``, then ``-r NAME VALUE`` (a raw string); later ones win.
``-p`` reads a value as papermill does (True/False/None, an int, a float, else the string itself) and also
reads a list or dict literal (``-p seeds "[0, 1]"``) and true/false/null/none in any other letter case, which
papermill would pass on as strings (use ``-y 'seeds: [0, 1]'`` for papermill itself).

Before each chapter starts this prints what it will cost at the chosen profile: "already computed
(results/…): drawing only" when committed or cached results exist, else the time measured for that profile
on the 2-core development machine. While a chapter trains, its progress lines (runs done, time left) are
printed here (the kernel writes them to ``$MIXUP_PROGRESS_FILE``, not into the page); ``MIXUP_PROGRESS=0``
turns them off.

A notebook is re-executed only when its fingerprint changes: the sha256 of its source, its parameters,
the sources of mixup_lib and results/, and whether each data set it asks for is available and from where
(stored in the executed notebook's metadata). The run store makes re-execution cheap anyway; this skips even
the kernel start.

Before any kernel starts, every ``-p`` name must be one the notebook's ``parameters`` cell assigns and every
setting must pass the chapter's rules (:func:`mixup_lib.profiles.resolve`): otherwise one line and exit 2.
A failing notebook (an exception, or a kernel that died) names itself in one line, keeps its partial output in
book/generated/failed/, leaves the last good output untouched, and makes this script exit 1. Scratch folders
(``book/generated/.executing-<pid>-*``) left by a killed executor are removed on the next start.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
GENERATED = ROOT / "book" / "generated"
METADATA_KEY = "mixup_companion"
SCRATCH_PREFIX = ".executing-"
#: Fault injection for tests/test_faults.py: "before-write" kills this executor right before the final write.
FAULT_ENV = "MIXUP_FAULT"
#: Where the kernel appends its training progress lines (mixup_lib.dispatch.PROGRESS_FILE_ENV).
PROGRESS_FILE_ENV = "MIXUP_PROGRESS_FILE"

if (ROOT / "mixup_lib").is_dir() and str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the repository's library, as the kernel (cwd = ROOT) imports it


class UsageError(ValueError):
    """The command line asks for something the notebooks do not have; one line, exit 2."""


def notebook_names() -> list[str]:
    """Every figure notebook (``notebooks/<name>.py``), sorted."""
    return sorted(path.stem for path in NOTEBOOKS.glob("*.py"))


def parse_value(text: str):
    """A ``-p`` value as papermill reads it (``papermill.cli._resolve_type``): ``True``, ``False``, ``None``,
    an int, a float, else the string itself. Two additions, documented in the module docstring: a list or
    dict literal (``[0, 1]``) is read as one, and true/false/null/none in another letter case as bool/None,
    where papermill would pass the string on (and the chapter's rules would refuse it)."""
    if text in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[text]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if text.strip()[:1] in ("[", "{"):
        try:
            return ast.literal_eval(text.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return text
    return {"true": True, "false": False, "none": None, "null": None}.get(text.lower(), text)


class _NoDatesSafeLoader(yaml.SafeLoader):
    """papermill's YAML loader (``papermill.iorw.NoDatesSafeLoader``): safe, and a date stays a string."""

    yaml_implicit_resolvers: ClassVar[dict] = {key: [r for r in resolvers if r[0] != "tag:yaml.org,2002:timestamp"]
                               for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def _is_plain(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(key, str) and _is_plain(item) for key, item in value.items())
    if isinstance(value, list):
        return all(_is_plain(item) for item in value)
    return value is None or isinstance(value, (bool, int, float, str))


def parse_yaml(text: str, where: str) -> dict[str, Any]:
    """The parameters a YAML mapping gives (``-y``/``-f``, as papermill reads them); bad YAML: one-line UsageError."""
    try:
        loaded = yaml.load(text, Loader=_NoDatesSafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(error, "problem", None) or " ".join(str(error).split())
        raise UsageError(f"{where} is not valid YAML: {problem}{at}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict) or not all(isinstance(key, str) for key in loaded):
        raise UsageError(f"{where} is not a YAML mapping of parameter names to values (e.g. 'alpha: 0.5')")
    for key, value in loaded.items():
        if not _is_plain(value):
            raise UsageError(f"{where}: {key} must be a plain value (number, string, bool, null, list or mapping), "
                             f"not {type(value).__name__}")
    return loaded


def merged_parameters(args: argparse.Namespace) -> dict[str, Any]:
    """``-f``, then ``-y``, then ``-p``, then ``-r``, later ones winning: papermill's order (``papermill.cli``)."""
    merged: dict[str, Any] = {}
    for path in args.parameters_file:
        try:
            text = Path(path).read_text()
        except (OSError, UnicodeDecodeError) as error:
            raise UsageError(f"-f {path}: cannot read it: {getattr(error, 'strerror', None) or error}") from None
        merged.update(parse_yaml(text, f"-f {path}"))
    for text in args.parameters_yaml:
        merged.update(parse_yaml(text, f"-y {text!r}"))
    merged.update({key: parse_value(value) for key, value in args.parameter})
    merged.update(dict(args.parameters_raw))
    return merged


_CELL_MARKER = re.compile(r"^# %%(.*)$", re.MULTILINE)


def parameters_cell_source(name: str) -> str:
    """The code of the notebook's cell tagged ``parameters`` (jupytext percent format), "" if it has none."""
    text = (NOTEBOOKS / f"{name}.py").read_text()
    markers = list(_CELL_MARKER.finditer(text))
    for marker, following in zip(markers, [*markers[1:], None], strict=True):
        if re.search(r"""tags\s*=\s*\[[^\]]*["']parameters["']""", marker.group(1)):
            return text[marker.end():following.start() if following else len(text)]
    return ""


def parameters_cell_names(name: str) -> list[str]:
    """The names the notebook's parameters cell assigns, in order (what ``-p`` may set)."""
    names: list[str] = []
    for node in ast.parse(parameters_cell_source(name)).body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        names += [target.id for target in targets if isinstance(target, ast.Name) and target.id not in names]
    return names


def check_parameter_names(name: str, parameters: dict) -> None:
    """Refuse a ``-p`` name the parameters cell lacks (papermill would only warn, and the figure not change)."""
    allowed = parameters_cell_names(name)
    for key in parameters:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UsageError(f"notebook {name} has no parameter {key!r}{hint}: allowed are {', '.join(allowed)}")


def chapter_settings(name: str, parameters: dict) -> dict[str, Any] | None:
    """The chapter's settings at these parameters, checked by its rules (ConfigError: one line); None if it has none."""
    from mixup_lib import profiles
    from mixup_lib.errors import ConfigError

    try:
        chapter_presets = profiles.presets(name)
    except ConfigError:  # a notebook that is not a chapter
        return None
    profile = parameters.get("profile", "quick")
    overrides = {key: value for key, value in parameters.items() if key != "profile"}
    known = chapter_presets.get(profile, {})
    return profiles.resolve(name, profile, **{key: value for key, value in overrides.items() if key in known})


#: Seconds a chapter's notebook took to compute and draw at each profile on the 2-core development machine (CPU,
#: two worker processes), when nothing was stored yet: smoke from the committed results' provenance plus the
#: kernel; quick as measured for the README's make book; full approximation measured (73 min), the other two
#: estimated by their protocols (about two hours each with two workers). The paper profile is for a GPU.
MEASURED_SECONDS = {
    "smoke": {"approximation": 20, "generalization": 35, "robustness": 45},
    "quick": {"approximation": 50, "generalization": 240, "robustness": 330},
    "full": {"approximation": 4400, "generalization": 7200, "robustness": 7200},
}
#: What only drawing from stored results takes (kernel start, imports, figures).
DRAWING_SECONDS = 20


def stored_results(name: str, parameters: dict, *, committed_only: bool = False) -> Path | None:
    """The committed (or, unless ``committed_only``, cached) results file of chapter ``name`` at ``parameters``:
    what the notebook will draw without computing; None if it will compute (or is not a chapter)."""
    settings = chapter_settings(name, parameters)
    if settings is None:
        return None
    from mixup_lib import results

    stored = results.find_committed(name, results.settings_digest(name, settings))
    if stored is None and not committed_only and results.cache_path(name, settings).exists():
        stored = results.cache_path(name, settings)
    return stored


#: ``--profile auto`` (make book's default): per chapter the strongest profile whose results are committed, else
#: the quick profile computed live. With every chapter's full results committed it trains nothing and reads no data.
AUTO = "auto"
STRONGEST_COMMITTED = ("paper", "full")
LIVE_FALLBACK = "quick"


def chapter_parameters(name: str, parameters: dict) -> dict:
    """``parameters`` for notebook ``name``, with the profile ``auto`` made concrete (:data:`STRONGEST_COMMITTED`)."""
    if parameters.get("profile") != AUTO:
        return parameters
    for profile in STRONGEST_COMMITTED:
        candidate = {**parameters, "profile": profile}
        if stored_results(name, candidate, committed_only=True) is not None:
            return candidate
    return {**parameters, "profile": LIVE_FALLBACK}


def will_compute(name: str, parameters: dict) -> bool:
    """Whether executing ``name`` trains or evaluates (no stored results) on a data set that must be read."""
    if stored_results(name, parameters) is not None:
        return False
    return any(state != "generated" for state in data_states(name, parameters).values())


def report_needs_data(names: list[str], parameters: dict) -> int:
    """``--needs-data``: the chapters that will compute on a data set (exit 0), or none (exit 1): make book sets up
    the data only then, so drawing committed results works on a machine without any data set."""
    computing = [name for name in names if will_compute(name, chapter_parameters(name, parameters))]
    print(f"computes on data: {', '.join(computing)}" if computing else "draws stored results only: no data needed")
    return 0 if computing else 1


def expected_cost(name: str, parameters: dict) -> str:
    """What executing ``name`` at ``parameters`` will cost, in words, before it starts.

    "already computed (<file>): drawing only" when committed or cached results exist (nothing trains); else the
    measured time of its profile (:data:`MEASURED_SECONDS`), said to be a rough guide when other parameters change
    the protocol. The store's finished runs are reused, so a chapter partly trained before takes less.
    """
    if chapter_settings(name, parameters) is None:
        return "expected time unknown (not a chapter)"
    from mixup_lib.dispatch import duration_text

    stored = stored_results(name, parameters)
    if stored is not None:
        shown = stored.relative_to(ROOT) if stored.is_relative_to(ROOT) else stored
        return f"already computed ({shown}): drawing only, about {duration_text(DRAWING_SECONDS)}"
    profile = parameters.get("profile", "quick")
    changed = sorted(key for key, value in parameters.items() if key not in ("profile", "device") and value is not None)
    caveat = f"; {', '.join(changed)} changed: a rough guide" if changed else ""
    seconds = MEASURED_SECONDS.get(profile, {}).get(name)
    if seconds is None:
        return (f"computes at profile {profile}: hours on a GPU (make bench projects them), far longer on a CPU"
                f"{caveat}")
    return (f"computes: about {duration_text(seconds)} at profile {profile} on a 2-core CPU (less with runs "
            f"already in the store, or a GPU){caveat}")


def dataset_state(dataset: str) -> str:
    """Whether ``dataset`` is available here and from where, without decoding it (mirrors mixup_lib.data's order).

    The decoded cache, then the files under the data root, then (Fashion-MNIST) Debian's package; a data set
    found nowhere is "unavailable" (torchvision's download is not probed: the notebook falls back visibly).
    """
    from mixup_lib import data

    if dataset == "two_moons":
        return "generated"
    info = data.dataset_info(dataset)
    root = data.data_root()
    root = (root if root.is_absolute() else ROOT / root).resolve()
    if all((root / f"{dataset}-{split}.pt").is_file() for split in data.SPLITS):
        return f"decoded cache in {root}"
    files = tuple(dict.fromkeys(file for split in data.SPLITS for file in info.files[split]))
    folder = root / info.folder
    if all((folder / f).is_file() or (info.in_channels == 1 and (folder / f"{f}.gz").is_file()) for f in files):
        return f"files under {folder}"
    debian = data.debian_fashion_mnist_dir()
    if dataset == "fashion_mnist" and all((debian / f"{f}.gz").is_file() for f in files):
        return f"Debian package files in {debian}"
    return "unavailable"


def report_data_state(dataset: str) -> int:
    """``--data-state``: print the state of one data set; 0 if available, 1 if not, 2 for an unknown name."""
    from mixup_lib.errors import ConfigError

    try:
        state = dataset_state(dataset)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{dataset}: {state}")
    return 1 if state == "unavailable" else 0


def data_states(name: str, parameters: dict) -> dict[str, str]:
    """Each data set the notebook asks for at these parameters → :func:`dataset_state`."""
    from mixup_lib import profiles

    settings = chapter_settings(name, parameters)
    if settings is None:
        return {}
    return {dataset: dataset_state(dataset) for dataset in profiles.requested_datasets(name, settings)}


def _tree_digest(*folders: Path) -> str:
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(ROOT)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def fingerprint(name: str, parameters: dict) -> str:
    """What an executed notebook depends on: its source, its parameters, the library, committed results, and
    the availability and source of each data set it asks for (a page built on a substitute is rebuilt once the
    real data set appears)."""
    digest = hashlib.sha256()
    digest.update((NOTEBOOKS / f"{name}.py").read_bytes())
    digest.update(json.dumps(parameters, sort_keys=True).encode())
    digest.update(_tree_digest(ROOT / "mixup_lib", ROOT / "results").encode())
    digest.update(json.dumps(data_states(name, parameters), sort_keys=True).encode())
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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_scratch() -> list[Path]:
    """Remove the scratch folders of executors that no longer run (killed ones); returns what was removed.

    A scratch folder is ``.executing-<pid>-<random>``: one whose pid is dead, or without a pid (older
    versions), is stale. A running executor's folder is left alone.
    """
    removed = []
    for folder in GENERATED.glob(f"{SCRATCH_PREFIX}*"):
        owner = folder.name.removeprefix(SCRATCH_PREFIX).split("-", 1)[0]
        if owner.isdigit() and _pid_alive(int(owner)):
            continue
        shutil.rmtree(folder, ignore_errors=True) if folder.is_dir() else folder.unlink(missing_ok=True)
        removed.append(folder)
    return removed


def _keep_partial_output(name: str, executed: Path) -> str:
    """Move a failed run's partial notebook to book/generated/failed/ and say where it is."""
    failed = GENERATED / "failed"
    failed.mkdir(exist_ok=True)
    if not executed.exists():
        return "no partial output"
    os.replace(executed, failed / f"{name}.ipynb")
    return f"partial output: book/generated/failed/{name}.ipynb"


def _last_started_cell(executed: Path) -> str:
    """The cell that started last in a partial notebook, "cell N" (N counts code cells, as execution counts do)."""
    try:
        cells = [cell for cell in json.loads(executed.read_text())["cells"] if cell.get("cell_type") == "code"]
    except (OSError, ValueError, KeyError):
        return "a cell"
    started = [number for number, cell in enumerate(cells, start=1)
               if cell.get("metadata", {}).get("papermill", {}).get("start_time")]
    return f"cell {started[-1]}" if started else "a cell"


def _is_reported_here(record: logging.LogRecord) -> bool:
    """papermill's own notice of a dead kernel: this script reports it in its one line instead."""
    return "Kernel died" not in record.getMessage()


def _inject_fault(point: str) -> None:
    """Test hook: with ``MIXUP_FAULT=<point>``, this executor kills itself with SIGKILL here (no cleanup runs)."""
    if os.environ.get(FAULT_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


class _ProgressEcho:
    """Print the lines the kernel appends to ``$MIXUP_PROGRESS_FILE`` (training progress) as they come."""

    def __init__(self, path: Path, poll_s: float = 0.5):
        self.path, self.poll_s, self.offset = path, poll_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress-echo", daemon=True)

    def _echo(self) -> None:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read()
        except OSError:
            return
        complete = chunk[:chunk.rfind(b"\n") + 1]
        self.offset += len(complete)
        for line in complete.decode(errors="replace").splitlines():
            print(f"  {line}", flush=True)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            self._echo()

    def __enter__(self) -> _ProgressEcho:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._echo()


def execute(name: str, parameters: dict) -> float:
    """Run one notebook with papermill; write its output atomically. Returns the wall time in seconds.

    The kernel's training progress goes to a file in the scratch folder (``$MIXUP_PROGRESS_FILE``), echoed here,
    so that it reaches this script's output and not the executed notebook.
    """
    import jupytext
    import nbformat
    import papermill
    from nbclient.exceptions import DeadKernelError

    GENERATED.mkdir(parents=True, exist_ok=True)
    logging.getLogger("papermill").addFilter(_is_reported_here)
    os.environ["MIXUP_BATCH_RUN"] = "1"  # inherited by the kernel: no live widgets (report.plots.interactive_session)
    started = time.time()
    with tempfile.TemporaryDirectory(dir=GENERATED, prefix=f"{SCRATCH_PREFIX}{os.getpid()}-") as scratch:
        source = Path(scratch) / f"{name}.ipynb"
        executed = Path(scratch) / f"{name}.out.ipynb"
        nbformat.write(jupytext.read(NOTEBOOKS / f"{name}.py"), source)
        progress = Path(scratch) / "progress.log"
        os.environ[PROGRESS_FILE_ENV] = str(progress)  # inherited by the kernel (mixup_lib.dispatch)
        try:
            with _ProgressEcho(progress):
                papermill.execute_notebook(
                    str(source), str(executed), parameters=parameters, kernel_name="python3",
                    cwd=str(ROOT), progress_bar=False, log_output=False,
                    extra_arguments=["--IPKernelApp.log_level=ERROR"],  # keep the kernel's start-up notices out
                )
        except papermill.PapermillExecutionError as error:
            where = _keep_partial_output(name, executed)
            raise NotebookFailedError(f"notebook {name} failed in cell {error.exec_count}: {error.ename}: "
                                      f"{error.evalue} ({where})") from None
        except DeadKernelError:
            cell = _last_started_cell(executed)
            where = _keep_partial_output(name, executed)
            cause = "most likely out of memory: try a smaller profile or free memory; else a crash in native code"
            raise NotebookFailedError(f"notebook {name}: the kernel died in {cell} ({cause}) ({where})") from None
        except Exception as error:  # papermill or the kernel machinery failed: still one line
            where = _keep_partial_output(name, executed)
            message = " ".join(str(error).split())
            raise NotebookFailedError(f"notebook {name} could not be executed: {type(error).__name__}: {message} "
                                      f"({where})") from None
        finally:
            os.environ.pop(PROGRESS_FILE_ENV, None)
        notebook = nbformat.read(executed, as_version=4)
        _fold_injected_parameters(notebook)
        notebook.metadata[METADATA_KEY] = {"fingerprint": fingerprint(name, parameters), "parameters": parameters}
        nbformat.write(notebook, executed)
        _inject_fault("before-write")
        os.replace(executed, GENERATED / f"{name}.ipynb")
    return time.time() - started


#: The button that unfolds papermill's injected-parameters cell on the page (MyST-NB's per-cell prompt).
INJECTED_PROMPT = "Show the parameters this page ran with"


def _fold_injected_parameters(notebook) -> None:
    """Papermill's injected-parameters cell shows its code only on a click, like the parameters cell above it: a
    page opens with its title and where its numbers come from, not with code. Its button says what it unfolds."""
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags:
            if "hide-input" not in tags:
                tags.append("hide-input")
            cell.metadata.setdefault("mystnb", {})["code_prompt_show"] = INJECTED_PROMPT


class NotebookFailedError(RuntimeError):
    """A notebook raised; the message names it and the failing cell in one line."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="quick", choices=(AUTO, "smoke", "quick", "full", "paper"),
                        help=f"{AUTO}: per chapter the strongest committed results ({', '.join(STRONGEST_COMMITTED)}),"
                             f" else {LIVE_FALLBACK} computed live")
    parser.add_argument("--needs-data", action="store_true",
                        help="only say whether a chapter will compute on a data set (exit 0) or not (exit 1)")
    parser.add_argument("--only", action="append", metavar="NAME", help="run only this notebook (repeatable)")
    parser.add_argument("--force", action="store_true", help="execute even if up to date")
    parser.add_argument("--data-state", metavar="DATASET",
                        help="only say whether DATASET is available here and from where (exit 1 if it is not)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="papermill parameter, e.g. -p alpha 0.5 (value read as papermill reads it)")
    parser.add_argument("-y", "--parameters-yaml", action="append", default=[], metavar="YAML",
                        help="parameters as a YAML mapping, e.g. -y 'seeds: [0, 1]' (as papermill's -y)")
    parser.add_argument("-f", "--parameters-file", action="append", default=[], metavar="FILE",
                        help="parameters from a YAML file (as papermill's -f)")
    parser.add_argument("-r", "--parameters-raw", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a parameter taken as a string, unparsed (as papermill's -r)")
    args = parser.parse_args(argv)
    if args.data_state:
        return report_data_state(args.data_state)

    names = notebook_names()
    unknown = sorted(set(args.only or []) - set(names))
    if unknown:
        print(f"error: notebook {unknown[0]!r} does not exist: choose one of {', '.join(names)}", file=sys.stderr)
        return 2
    try:
        parameters = {"profile": args.profile, **merged_parameters(args)}
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    selected = args.only or names
    try:
        for name in selected:  # every notebook's parameters are checked before any kernel starts
            check_parameter_names(name, parameters)
            chapter_settings(name, chapter_parameters(name, parameters))
    except ValueError as error:  # UsageError, or ConfigError from the chapter's rules
        print(f"error: notebook {name}: {error}" if not isinstance(error, UsageError) else f"error: {error}",
              file=sys.stderr)
        return 2
    if args.needs_data:
        return report_needs_data(selected, parameters)
    chosen = {name: chapter_parameters(name, parameters) for name in selected}
    for stale in clean_stale_scratch():
        print(f"removed {stale.relative_to(ROOT)} (left by an executor that was killed)")
    todo = []
    for name in selected:
        if not args.force and is_up_to_date(name, chosen[name]):
            print(f"{name}: up to date (profile {chosen[name]['profile']})")
        else:
            todo.append(name)
            print(f"{name}: {expected_cost(name, chosen[name])}", flush=True)
    for name in todo:
        print(f"{name}: executing with {chosen[name]} ...", flush=True)
        try:
            seconds = execute(name, chosen[name])
        except NotebookFailedError as failure:
            print(f"error: {failure}", file=sys.stderr)
            return 1
        print(f"{name}: done in {seconds:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
