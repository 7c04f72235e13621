"""report/: one HTML table helper (claims, provenance, result rows, the substitution notice) and the panels."""

from __future__ import annotations

import ast
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from mixup_lib import claims, profiles, provenance
from mixup_lib.report import plots, tables
from mixup_lib.report import plots as report_plots

matplotlib.use("Agg")


def test_claims_table_is_unchanged_and_escaped():
    rows = [claims.Claim(1, "L̃ < L & co", "error <1e-3>", claims.SUPPORTED),
            claims.Claim(12, "gap", "n/a", claims.INCONCLUSIVE)]
    expected = ('<table class="table claims"><thead><tr><th>#</th><th>claim</th><th>evidence here</th>'
                "<th>verdict</th></tr></thead><tbody>"
                "<tr><td>1</td><td>L̃ &lt; L &amp; co</td><td>error &lt;1e-3&gt;</td><td>✅ supported</td></tr>"
                "<tr><td>12</td><td>gap</td><td>n/a</td><td>❔ inconclusive at this scale</td></tr></tbody></table>")
    assert claims.claims_table(rows) == expected


def test_provenance_table_is_unchanged_and_escaped():
    expected = ('<table class="table"><caption>What &quot;ran&quot;</caption><tbody>'
                "<tr><td>profile</td><td><code>smoke</code></td></tr>"
                "<tr><td>a&lt;b</td><td><code>[1, &#x27;x&#x27;]</code></td></tr>"
                "<tr><td>none</td><td><code>None</code></td></tr></tbody></table>")
    assert provenance.html_table({"profile": "smoke", "a<b": [1, "x"], "none": None}, 'What "ran"') == expected


def test_table_cells_formats_and_structure():
    rows = [{"a": True, "b": float("nan"), "c": "<x>", "d": 0.12345, "e": np.bool_(False)}, {"a": None}]
    columns = [("A&", "a", ""), ("B", "b", ".2f"), ("C", "c", ""), ("D", "d", ".2e"), ("E", "e", ""),
               ("F", "f", "")]
    html = tables.table(rows, columns, "cap <1>", classes="table x")
    assert html.startswith('<table class="table x"><caption>cap &lt;1&gt;</caption><thead><tr><th>A&amp;</th>')
    assert "<td>yes</td><td>–</td><td>&lt;x&gt;</td><td>1.23e-01</td><td>no</td><td>–</td>" in html
    assert "<tr><td>–</td><td>–</td><td>–</td><td>–</td><td>–</td><td>–</td></tr>" in html
    assert html.count("<tr>") == 3 and html.endswith("</tbody></table>")
    assert "<thead>" not in tables.table(rows, columns, head=False) and "<caption>" not in tables.table(rows, columns)


def test_transposed_table_is_the_table_on_its_side():
    rows = [{"a": 1, "b": 2.5}, {"a": 3, "c": "<y>"}]
    columns = [("A", "a", "d"), ("B", "b", ".1f"), ("C", "c", "")]
    html = tables.transposed_table(rows, columns, "cap")
    assert html == ('<table class="table"><caption>cap</caption><tbody>'
                    "<tr><th>A</th><td>1</td><td>3</td></tr><tr><th>B</th><td>2.5</td><td>–</td></tr>"
                    "<tr><th>C</th><td>–</td><td>&lt;y&gt;</td></tr></tbody></table>")


def test_notice_names_both_data_sets_and_matches_profiles():
    html = tables.notice("svhn", "fashion_mnist", "no <internet>")
    assert html.startswith('<div class="admonition warning"><p class="admonition-title">Data set substituted</p>')
    assert "<strong>svhn</strong>" in html and "uses fashion_mnist instead" in html
    assert html.endswith("<pre>no &lt;internet&gt;</pre></div>")
    choice = profiles.DataChoice("svhn", "fashion_mnist", None, reason="no <internet>")
    assert profiles.fallback_notice(choice) == html  # one wording (profiles should call tables.notice)


def _stacked(offset: float) -> dict[str, np.ndarray]:
    epochs = np.arange(1.0, 4.0)
    base = np.array([[1.0, 0.5, 0.25], [1.2, 0.7, 0.35]]) + offset
    return {"epoch": epochs, "train_loss": base, "test_loss": base + 1, "train_error": base / 4,
            "test_error": base / 2, "loss_gap": np.ones_like(base), "error_gap": base / 4}


def test_draw_curves_draws_seed_means_with_one_set_of_labels():
    fig, axes = matplotlib.pyplot.subplots(1, 4)
    report_plots.draw_curves(axes, {"erm": _stacked(0.0), "mixup": _stacked(1.0)})
    labels = [line.get_label() for line in axes[0].get_lines()]
    assert labels == ["ERM train", "ERM test", "mixup train", "mixup test"]
    np.testing.assert_allclose(axes[0].get_lines()[2].get_ydata(), [2.1, 1.6, 1.3])  # mixup train, seed mean
    assert axes[0].get_lines()[0].get_color() == report_plots.COLORS["erm"]
    matplotlib.pyplot.close(fig)


def test_draw_gap_summary_labels_fall_back_to_the_key():
    rows = [{"dataset": d, "method": m, "quantity": q, "available": d == "a", "n_seeds": 1, "mean": 0.5,
             "min": 0.4, "max": 0.6, "values": [0.5]} for d in ("a", "b") for m in ("erm", "mixup")
            for q in ("loss", "error")]
    fig, axes = matplotlib.pyplot.subplots(1, 2)
    assert report_plots.draw_gap_summary(axes, rows, {"a": "A!"}) == ["b"]
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["A!", "b"]
    assert [p.get_height() for p in axes[1].patches] == pytest.approx([0.5, 0.5])
    matplotlib.pyplot.close(fig)


def test_old_plots_module_is_the_report_module_and_report_is_a_leaf():
    for name in plots.__all__:
        assert getattr(plots, name) is getattr(report_plots, name)
    assert report_plots.method_label("erm") == "ERM" and report_plots.method_label("cutmix") == "cutmix"
    allowed = {"mixup_lib.errors"}
    for path in Path(tables.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        ours = {m for m in imported if m.startswith("mixup_lib")}
        assert ours <= allowed, (path.name, ours - allowed)


def _results(**provenance):
    base = {"date": "2026-12-02 15:28 UTC", "machine": "x86_64, Linux 6.1", "cores": 2, "device": "cpu (1 threads)",
            "git commit": "7c7fd89d27fb", "wall time s": 4380.0}
    return {"chapter": "robustness", "settings": {"profile": "full"}, "provenance": {**base, **provenance}}


def test_results_file_is_repository_relative_or_under_the_run_store(tmp_path, monkeypatch):
    monkeypatch.delenv("MIXUP_RESULTS", raising=False)
    committed = tmp_path / "repo" / "results"
    (committed / "robustness").mkdir(parents=True)
    assert tables.results_file(committed / "robustness" / "full.json", committed) == "results/robustness/full.json"
    cached = tmp_path / "runs" / "results" / "robustness" / "full-0123.json"
    assert tables.results_file(cached, committed) == "$MIXUP_RUNS/results/robustness/full-0123.json"
    monkeypatch.setenv("MIXUP_RESULTS", str(committed))
    shown = tables.results_file(committed / "robustness" / "full.json", committed)
    assert shown == "$MIXUP_RESULTS/robustness/full.json"


def test_provenance_line_says_when_where_which_commit_and_how_to_recompute(tmp_path, monkeypatch):
    monkeypatch.delenv("MIXUP_RESULTS", raising=False)
    committed = tmp_path / "results"
    path = committed / "robustness" / "full.json"
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    line = tables.provenance_line(_results(), path, committed_dir=committed, since=path.stat().st_mtime + 10)
    assert line.startswith('<p class="mixup-provenance">') and str(tmp_path) not in line
    for part in ("computed on 2026-12-02 15:28 UTC on x86_64, Linux 6.1 (2 cores, cpu (1 threads))",
                 "commit <code>7c7fd89d27fb</code>", "wall time 73 min",
                 "read from the committed file <code>results/robustness/full.json</code>",
                 "<code>python -m mixup_lib compute robustness --profile full --recompute "
                 "--out results/robustness/full.json</code>",
                 "<code>make figure NB=robustness PARAMS=&quot;-p profile full&quot;</code>"):
        assert part in line, part
    fresh = tables.provenance_line(_results(**{"wall time s": 12.3}), tmp_path / "runs" / "results" / "r" / "x.json",
                                   committed_dir=committed, since=None)
    assert "run store&#x27;s cache" in fresh or "run store's cache" in fresh
    cache = tmp_path / "runs" / "results" / "robustness" / "full-1.json"
    cache.parent.mkdir(parents=True)
    cache.write_text("{}")
    now = tables.provenance_line(_results(), cache, committed_dir=committed, since=cache.stat().st_mtime - 1)
    assert "computed while this page was built" in now and "--recompute" not in now
    assert "wall time 12 s" in fresh


def test_one_notice_names_every_substituted_data_set():
    assert tables.notices([]) == ""
    assert tables.notices([("svhn", "fashion_mnist", "why")]) == tables.notice("svhn", "fashion_mnist", "why")
    html = tables.notices([("cifar10", "fashion_mnist", "no <net>"), ("kmnist", "fashion_mnist", "none")])
    assert html.count('class="admonition warning"') == 1 and html.count("<li>") == 2
    assert "<strong>cifar10</strong> → fashion_mnist" in html and "no &lt;net&gt;" in html


def test_alpha_explorer_has_one_frame_per_alpha_and_needs_no_network():
    grid = {"x": [0.0, 1.0], "y": [0.0, 1.0], "prob": [[0.1, 0.9], [0.2, 0.8]]}
    boundaries = [{"alpha": a, "test_accuracy": 0.9 - a / 10, "grid": grid} for a in (0.0, 0.5, 2.0)]
    html = report_plots.alpha_explorer_html(boundaries, [[0.1, 0.2], [0.8, 0.9]], [0, 1])
    assert 'type="range"' in html and html.count("data:image/png;base64,") == 3
    assert "font-awesome" not in html.lower() and "https://" not in html and "<link" not in html
    with pytest.raises(Exception, match="at least one"):
        report_plots.alpha_explorer_html([], [], [])


def test_curves_grid_figure_draws_one_block_per_set_of_runs():
    fig = report_plots.curves_grid_figure([({"erm": _stacked(0.0), "mixup": _stacked(1.0)}, "A (also B)"),
                                          ({"erm": _stacked(0.5), "mixup": _stacked(1.5)}, "C")])
    assert len(fig.axes) == 8
    assert [sub._suptitle.get_text() for sub in fig.subfigs] == ["A (also B)", "C"]
    matplotlib.pyplot.close(fig)
