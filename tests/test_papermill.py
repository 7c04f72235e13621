"""Papermill's conventions: every notebook parameter has a type and a help that ``papermill --help-notebook``
shows; the executor (``make book``/``make figure``) takes papermill's ``-p``, ``-y``, ``-f`` and ``-r`` with
papermill's order and value parsing, refuses bad ones in one line (exit 2), and says what each chapter will cost
before it starts."""

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import execute_notebooks  # noqa: E402

NOTEBOOKS = sorted(path.stem for path in (ROOT / "notebooks").glob("*.py"))
#: One parameter in papermill's listing: ``  name: type (default value)`` then its help, on the line or the next.
LISTED = re.compile(r"^  (?P<name>\w+): (?P<type>.+?) \(default (?P<default>.*?)\)(?P<help>.*)$")


def _listed(output: str) -> list[dict[str, str]]:
    """The parameters in papermill's ``--help-notebook`` output, in order: name, type, default, help."""
    listed, lines = [], output.splitlines()
    for number, line in enumerate(lines):
        match = LISTED.match(line)
        if match:
            item = match.groupdict()
            follows = lines[number + 1] if number + 1 < len(lines) else ""
            if not item["help"].strip() and follows.startswith(" " * 34) and not LISTED.match(follows):
                item["help"] = follows
            item["help"] = item["help"].strip()
            listed.append(item)
    return listed


def _help_notebook(name: str, tmp_path: Path) -> list[dict[str, str]]:
    """papermill's command ``papermill --help-notebook`` (in this process) on notebooks/<name>.py made an .ipynb."""
    import jupytext
    import nbformat
    from click.testing import CliRunner
    from papermill.cli import papermill

    notebook = tmp_path / f"{name}.ipynb"
    nbformat.write(jupytext.read(ROOT / "notebooks" / f"{name}.py"), notebook)
    done = CliRunner().invoke(papermill, ["--help-notebook", str(notebook)])
    assert done.exit_code == 0, done.output
    return _listed(done.output)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_papermill_help_lists_every_parameter_with_its_type_and_help(name, tmp_path):
    listed = _help_notebook(name, tmp_path)
    assert [item["name"] for item in listed] == execute_notebooks.parameters_cell_names(name)
    assert listed[0]["name"] == "profile"
    for item in listed:
        assert item["type"] != "Unknown type", f"{name}: {item['name']} has no type papermill can read"
        assert item["help"], f"{name}: {item['name']} has no help comment"
    chapter_none = [item for item in listed if item["default"] == "None"]
    assert all(item["type"].startswith("Optional[") for item in chapter_none)


def test_the_readme_pipe_lists_the_parameters():
    """The README's command: ``jupytext --to ipynb -o - notebooks/robustness.py | papermill --help-notebook -``."""
    bin_dir = Path(sys.executable).parent
    done = subprocess.run(f"{bin_dir / 'jupytext'} --to ipynb -o - notebooks/robustness.py | "
                          f"{bin_dir / 'papermill'} --help-notebook -", shell=True, cwd=ROOT, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert [item["name"] for item in _listed(done.stdout)] == execute_notebooks.parameters_cell_names("robustness")


def test_the_parameters_cell_values_are_unchanged_by_the_annotations():
    """What the notebook passes to profiles.resolve: profile and device strings, every other parameter None."""
    for name in NOTEBOOKS:
        namespace: dict = {}
        exec(execute_notebooks.parameters_cell_source(name), namespace)  # the cell: an import and assignments
        values = {key: namespace[key] for key in execute_notebooks.parameters_cell_names(name)}
        assert values.pop("profile") == "quick" and values.pop("device") in ("auto", "cpu")
        assert set(values.values()) == {None}, name


# ---------------------------------------------------------------- -p values as papermill reads them

#: Values on which our -p and papermill's agree (papermill.cli._resolve_type).
SAME = ["0.5", "3", "-2", "1e3", "1_000", " 7", "True", "False", "None", "inf", "nan", "fashion_mnist",
        "wrn-16-8", "'quoted'", "0x10", "(1, 2)", "", "auto", "yes"]
#: The documented additions: a list or dict literal, and true/false/null/none in any other letter case.
EXTRA = {"[0, 1]": [0, 1], "[0.2, 1.0]": [0.2, 1.0], '{"a": 1}': {"a": 1}, "true": True, "FALSE": False,
         "null": None, "none": None, "NULL": None}


@pytest.mark.parametrize("text", SAME)
def test_p_values_are_read_as_papermill_reads_them(text):
    from papermill.cli import _resolve_type

    ours, theirs = execute_notebooks.parse_value(text), _resolve_type(text)
    assert type(ours) is type(theirs)
    assert ours == theirs or (isinstance(ours, float) and math.isnan(ours) and math.isnan(theirs))


@pytest.mark.parametrize(("text", "value"), EXTRA.items())
def test_p_reads_lists_and_yaml_booleans_where_papermill_passes_a_string(text, value):
    from papermill.cli import _resolve_type

    assert execute_notebooks.parse_value(text) == value and _resolve_type(text) == text


def test_yaml_is_read_as_papermill_reads_it():
    parse = execute_notebooks.parse_yaml
    assert parse("seeds: [0, 1]\nalpha: .5\nfallback: no\nmodel: 2021-01-01", "-y") == {
        "seeds": [0, 1], "alpha": 0.5, "fallback": False, "model": "2021-01-01"}  # no dates, as papermill's loader
    assert parse("", "-y") == {} and parse("# nothing", "-y") == {}


# ---------------------------------------------------------------- -y, -f, -r on the executor's command line


@pytest.fixture
def executed(monkeypatch, tmp_path):
    """The parameters each notebook would be executed with (nothing executes), against an empty run store: what
    the executor says of cost must not depend on results this machine happens to have cached."""
    monkeypatch.setenv("MIXUP_RUNS", str(tmp_path / "runs"))
    calls: list[tuple[str, dict]] = []

    def record(name, parameters):
        calls.append((name, parameters))
        return 0.0

    monkeypatch.setattr(execute_notebooks, "execute", record)
    return calls


def _refused(capsys, *args) -> list[str]:
    code = execute_notebooks.main(["--profile", "smoke", "--force", "--only", "robustness", *args])
    captured = capsys.readouterr()
    assert code == 2 and "executing" not in captured.out, captured
    return captured.err.strip().splitlines()


def test_f_y_p_r_merge_in_papermills_order_whatever_their_place(executed, tmp_path, capsys):
    params = tmp_path / "params.yaml"
    params.write_text("alpha: 0.5\nseeds: [0, 1]\nepochs: 3\nn_train: 64\n")
    code = execute_notebooks.main(["--profile", "smoke", "--force", "--only", "robustness",
                                   "-p", "alpha", "0.9", "-r", "model", "wrn-10-1", "-y", "alpha: 0.7\nepochs: 4",
                                   "-f", str(params), "-y", "n_train: 128"])
    assert code == 0, capsys.readouterr()
    assert executed == [("robustness", {"profile": "smoke", "alpha": 0.9, "seeds": [0, 1], "epochs": 4,
                                        "n_train": 128, "model": "wrn-10-1"})]
    value = executed[0][1]
    assert isinstance(value["alpha"], float) and isinstance(value["epochs"], int) and value["seeds"] == [0, 1]


def test_a_yaml_profile_overrides_the_profile_flag(executed, capsys):
    assert execute_notebooks.main(["--profile", "smoke", "--force", "--only", "approximation",
                                   "-y", "profile: quick"]) == 0
    assert executed[0][1]["profile"] == "quick"
    assert "approximation: computes: about 50 s at profile quick" in capsys.readouterr().out


def test_an_unknown_name_in_yaml_or_a_file_is_refused_in_one_line(capsys, tmp_path, executed):
    assert _refused(capsys, "-y", "alpah: 0.5") == [
        "error: notebook robustness has no parameter 'alpah' (did you mean 'alpha'?): allowed are profile, device, "
        "seeds, alpha, model, epochs, n_train, n_test, eps_255, pgd_points, alpha_sweep"]
    params = tmp_path / "p.yml"
    params.write_text("sedes: [0]\n")
    lines = _refused(capsys, "-f", str(params))
    assert len(lines) == 1 and lines[0].startswith("error: notebook robustness has no parameter 'sedes' (did you "
                                                   "mean 'seeds'?)")
    assert executed == []


@pytest.mark.parametrize(("args", "message"), [
    (["-y", "seeds: [0, 1"], "error: -y 'seeds: [0, 1' is not valid YAML: expected ',' or ']', but got "
                             "'<stream end>' (line 1, column 13)"),
    (["-y", "alpha: [0\n  beta: 1"], "is not valid YAML"),
    (["-y", "- 1\n- 2"], "error: -y '- 1\\n- 2' is not a YAML mapping of parameter names to values (e.g. 'alpha: "
                         "0.5')"),
    (["-y", "0.5"], "is not a YAML mapping"),
    (["-y", "seeds: !!set {0: null}"], "error: -y 'seeds: !!set {0: null}': seeds must be a plain value"),
    (["-y", "seeds: !!python/tuple [0]"], "is not valid YAML: could not determine a constructor"),
])
def test_bad_yaml_is_refused_in_one_line(capsys, executed, args, message):
    lines = _refused(capsys, *args)
    assert len(lines) == 1 and message in lines[0], lines
    assert executed == []


def test_a_missing_or_bad_parameters_file_is_refused_in_one_line(capsys, tmp_path, executed):
    missing = tmp_path / "nope.yaml"
    assert _refused(capsys, "-f", str(missing)) == [f"error: -f {missing}: cannot read it: No such file or directory"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("seeds: [0\nalpha: 1\n")
    lines = _refused(capsys, "-f", str(bad))
    assert len(lines) == 1 and lines[0].startswith(f"error: -f {bad} is not valid YAML: ")


def test_a_yaml_value_goes_through_the_chapters_rules(capsys, executed):
    assert _refused(capsys, "-y", "pgd_points: 0") == [
        "error: notebook robustness: pgd_points=0 is not allowed: it must be an integer >= 1"]


# ---------------------------------------------------------------- what each chapter will cost, said first


def test_expected_cost_says_drawing_only_for_committed_results_else_the_measured_time(tmp_path, monkeypatch):
    monkeypatch.setenv("MIXUP_RUNS", str(tmp_path / "runs"))  # an empty store: nothing cached
    cost = execute_notebooks.expected_cost
    assert cost("robustness", {"profile": "smoke"}) == (
        "already computed (results/robustness/smoke.json): drawing only, about 20 s")
    assert cost("approximation", {"profile": "full"}).startswith("already computed (results/approximation/full.json)")
    assert cost("robustness", {"profile": "quick"}) == (
        "computes: about 6 min at profile quick on a 2-core CPU (less with runs already in the store, or a GPU)")
    monkeypatch.setenv("MIXUP_RESULTS", str(tmp_path / "nothing-committed"))  # full results not committed (yet)
    assert cost("generalization", {"profile": "full"}).startswith("computes: about 2.0 h at profile full")
    assert cost("robustness", {"profile": "smoke", "seeds": [1], "device": "cpu"}).endswith(
        "; seeds changed: a rough guide")
    assert cost("robustness", {"profile": "paper"}).startswith("computes at profile paper: hours on a GPU")


def test_expected_cost_finds_the_cached_results(tmp_path, monkeypatch):
    from mixup_lib import profiles, results

    monkeypatch.setenv("MIXUP_RUNS", str(tmp_path / "runs"))
    settings = profiles.resolve("robustness", "quick")
    cached = results.cache_path("robustness", settings)
    cached.parent.mkdir(parents=True)
    cached.write_text("{}")
    assert execute_notebooks.expected_cost("robustness", {"profile": "quick"}) == (
        f"already computed ({cached}): drawing only, about 20 s")


def test_make_book_says_each_chapters_cost_before_any_executes(executed, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("MIXUP_RUNS", str(tmp_path / "runs"))
    assert execute_notebooks.main(["--profile", "smoke", "--force"]) == 0
    out = capsys.readouterr().out.splitlines()
    costs = [line for line in out if ": already computed" in line]
    assert [line.split(":")[0] for line in costs] == NOTEBOOKS
    assert max(out.index(line) for line in costs) < min(i for i, line in enumerate(out) if "executing" in line)


def test_the_kernels_progress_lines_are_echoed(tmp_path, capsys):
    log = tmp_path / "progress.log"
    with execute_notebooks._ProgressEcho(log, poll_s=0.01):
        log.write_text("robustness: training 2 runs (1k example-epochs)\nrobustness: 1/2 runs")
    with log.open("a") as handle:
        handle.write(" done\n")
    execute_notebooks._ProgressEcho(log)._echo()  # a fresh echo starts at the beginning
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "  robustness: training 2 runs (1k example-epochs)"
    assert out[1:] == ["  robustness: training 2 runs (1k example-epochs)", "  robustness: 1/2 runs done"]


# ---------------------------------------------------------------- make book's default: --profile auto


def test_auto_takes_the_strongest_committed_profile_per_chapter_else_quick(tmp_path, monkeypatch):
    monkeypatch.setenv("MIXUP_RUNS", str(tmp_path / "runs"))
    committed = {path.parent.name: path.stem for path in (ROOT / "results").glob("*/*.json")
                 if path.stem in execute_notebooks.STRONGEST_COMMITTED}
    for name in ("approximation", "robustness", "generalization"):
        chosen = execute_notebooks.chapter_parameters(name, {"profile": "auto"})
        assert chosen["profile"] == committed.get(name, "quick"), name
    assert committed.get("approximation") == "full"  # so the test sees both branches while others are pending
    monkeypatch.setenv("MIXUP_RESULTS", str(tmp_path / "nothing-committed"))
    assert execute_notebooks.chapter_parameters("approximation", {"profile": "auto"})["profile"] == "quick"
    assert execute_notebooks.chapter_parameters("approximation", {"profile": "smoke"}) == {"profile": "smoke"}


@pytest.mark.parametrize(("profile", "only", "committed", "expected"), [
    ("smoke", [], True, 1),  # every chapter draws its committed smoke results
    ("auto", ["approximation"], True, 1),  # the committed full results
    ("smoke", ["robustness"], False, 0),  # nothing stored: it trains on Fashion-MNIST
    ("smoke", ["approximation"], False, 1),  # computes, but on generated two moons
])
def test_needs_data_says_whether_a_chapter_will_compute_on_a_data_set(tmp_path, monkeypatch, capsys, profile,
                                                                      only, committed, expected):
    monkeypatch.setenv("MIXUP_RUNS", str(tmp_path / "runs"))
    if not committed:
        monkeypatch.setenv("MIXUP_RESULTS", str(tmp_path / "nothing-committed"))
    argv = ["--profile", profile, "--needs-data", *(item for name in only for item in ("--only", name))]
    assert execute_notebooks.main(argv) == expected
    said = capsys.readouterr().out.strip()
    assert said == ("draws stored results only: no data needed" if expected else "computes on data: robustness")
