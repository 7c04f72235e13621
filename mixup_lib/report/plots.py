"""Every panel of the book, in one style; colours and method labels in one place.

Plotting never trains or evaluates a model: these functions only draw the numbers of a chapter's results object
(:mod:`mixup_lib.results`). Sections follow the chapters: generalization (Figs. 5–8, the role of Fig. 1b),
robustness (Fig. 1a, the PGD control, the α sweep, Theorems 3.1/3.2, Fig. 3), approximation (Fig. 2, Eq. 3).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from mixup_lib.errors import require

#: One colour per method across the whole book.
COLORS = {"erm": "#4C72B0", "mixup": "#DD8452", "approx": "#55A868", "pgd": "#8172B3"}
#: One display name per training method across the whole book, in the order methods are drawn.
METHOD_LABELS = {"erm": "ERM", "mixup": "mixup"}


def method_label(method: str) -> str:
    """A method's display name (``erm`` → ``ERM``); an unknown name is shown as it is."""
    return METHOD_LABELS.get(method, method)


#: Set by tools/execute_notebooks.py for batch execution, where live widgets cannot be shown.
BATCH_RUN_ENV = "MIXUP_BATCH_RUN"


def interactive_session() -> bool:
    """True in JupyterLab; False when papermill executes a notebook for the book (widgets need a live kernel)."""
    return os.environ.get(BATCH_RUN_ENV) != "1"


def use_style() -> None:
    """The book's matplotlib defaults (readable at page width, PNG output)."""
    plt.rcParams.update({
        "figure.dpi": 110, "savefig.dpi": 110, "axes.grid": True, "grid.alpha": 0.3,
        "axes.spines.top": False, "axes.spines.right": False, "legend.frameon": False, "font.size": 10,
    })


def label_panel(ax, *, title: str | None = None, title_size: float | None = None, xlabel: str | None = None,
                ylabel: str | None = None, xscale: str | None = None, yscale: str | None = None,
                legend: Mapping[str, Any] | None = None) -> None:
    """Scales, axis labels, title and legend of one panel; ``None`` leaves a property as it is.

    ``legend`` holds :meth:`matplotlib.axes.Axes.legend`'s keywords (``{}``: its defaults); call this after the
    panel's last artist, since the legend lists only what is drawn by then.
    """
    for value, setter in ((xscale, ax.set_xscale), (yscale, ax.set_yscale), (xlabel, ax.set_xlabel),
                          (ylabel, ax.set_ylabel)):
        if value is not None:
            setter(value)
    if title is not None:
        ax.set_title(title, **({} if title_size is None else {"fontsize": title_size}))
    if legend is not None:
        ax.legend(**legend)


def range_errorbar(ax, x: Sequence[float], band: Mapping[str, Sequence[float]], **style: Any) -> None:
    """``band``'s mean (over seeds) with whiskers from its ``min`` to its ``max``."""
    mean, low, high = (np.asarray(band[k], dtype=float) for k in ("mean", "min", "max"))
    ax.errorbar(x, mean, yerr=[mean - low, high - mean], **style)


def mean_band(ax, x: Sequence[float], runs: Sequence[Sequence[float]], *, label: str, color: str,
              linestyle: str = "-") -> None:
    """Mean over runs (seeds) as a line, min–max over runs as a shaded band."""
    values = np.asarray(runs, dtype=float)
    ax.plot(x, values.mean(axis=0), color=color, linestyle=linestyle, label=label)
    if len(values) > 1:
        ax.fill_between(x, values.min(axis=0), values.max(axis=0), color=color, alpha=0.2, linewidth=0)


# ----------------------------------------------------------------------------------------------------------
# The generalization chapter's figures


def draw_curves(axes, by_method: Mapping[str, Mapping[str, np.ndarray]], *, with_penalty: bool = False) -> None:
    """One data set's figure (Figs. 5–8): loss, error, loss gap, error gap (and the penalty) against epoch.

    ``axes``: 4 (or 5 with ``with_penalty``) matplotlib axes; ``by_method``: method → stacked curves
    (:func:`mixup_lib.chapters.generalization.stack_curves`). Lines are seed means, bands min–max over seeds; train
    solid, test dashed.
    """
    panels = [("loss", "loss (clean train / test), log scale"), ("error", "error (clean train / test)"),
              ("loss_gap", "loss gap: test − train"), ("error_gap", "error gap: test − train")]
    if with_penalty:
        panels.append(("penalty", "data-adaptive penalty P(θ)"))
    require(len(axes) >= len(panels), f"{len(axes)} axes for {len(panels)} panels")
    for ax, (key, title) in zip(axes, panels, strict=False):
        for method, name in METHOD_LABELS.items():
            curves = by_method.get(method)
            if curves is None:
                continue
            color, epochs = COLORS[method], curves["epoch"]
            if key in ("loss", "error"):
                mean_band(ax, epochs, curves[f"train_{key}"], label=f"{name} train", color=color)
                mean_band(ax, epochs, curves[f"test_{key}"], label=f"{name} test", color=color, linestyle="--")
            elif key in curves:
                mean_band(ax, epochs, curves[key], label=name, color=color)
        if key in ("penalty", "loss"):
            ax.set_yscale("log")
        elif key.endswith("gap"):
            ax.axhline(0, color="k", linewidth=0.5)
        label_panel(ax, title=title, title_size=9, xlabel="epoch")


def draw_gap_summary(axes, rows: Sequence[Mapping[str, Any]], names: Mapping[str, str] | None = None) -> list[str]:
    """The summary of final gaps (the role of Fig. 1b): one panel per quantity, ERM and mixup bars per data set.

    ``rows`` from :func:`mixup_lib.chapters.generalization.summarize_final_gaps` (per data set, method, quantity);
    bars are seed means with min–max whiskers. A data set without runs keeps its place on the axis, with the
    text "not available" instead of bars. ``names`` maps a data set to its tick label (the key itself when
    absent). Returns the data sets drawn as missing.
    """
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    quantities = list(dict.fromkeys(r["quantity"] for r in rows))
    names = dict(names or {})
    require(len(axes) >= len(quantities), f"{len(axes)} axes for {len(quantities)} quantities")
    missing = sorted({r["dataset"] for r in rows if not r["available"]}, key=datasets.index)
    width = 0.38
    for ax, quantity in zip(axes, quantities, strict=False):
        top = max([r["max"] for r in rows if r["quantity"] == quantity and r["available"]] + [0.0])
        for offset, (method, name) in zip((-width / 2, width / 2), METHOD_LABELS.items(), strict=True):
            labelled = False
            for i, dataset in enumerate(datasets):
                row = next(r for r in rows if (r["dataset"], r["method"], r["quantity"]) == (dataset, method, quantity))
                if not row["available"]:
                    continue
                ax.bar(i + offset, row["mean"], width, color=COLORS[method], label=None if labelled else name)
                labelled = True
                range_errorbar(ax, [i + offset], {k: [row[k]] for k in ("mean", "min", "max")}, color="k",
                               linewidth=1, capsize=3)
        for dataset in missing:
            i = datasets.index(dataset)
            ax.text(i, 0.05 * top if top > 0 else 0.05, "not\navailable", ha="center", va="bottom", fontsize=8,
                    color="0.4")
        ax.set_xticks(range(len(datasets)), [names.get(d, d) for d in datasets], fontsize=8)
        ax.set_xlim(-0.6, len(datasets) - 0.4)
        ax.axhline(0, color="k", linewidth=0.5)
        ax.set_title(f"final {quantity} gap (test − train)", fontsize=9)
    return missing


__all__ = [
    "BATCH_RUN_ENV",
    "COLORS",
    "METHOD_LABELS",
    "draw_curves",
    "draw_gap_summary",
    "interactive_session",
    "label_panel",
    "mean_band",
    "method_label",
    "range_errorbar",
    "use_style",
]


# ----------------------------------------------------------------------------------------------------------
# The robustness chapter's figures (Fig. 1a, the PGD control, the α sweep, Theorems 3.1/3.2, Fig. 3). Each takes
# plain numbers from the chapter's results object and returns the figure.


def _eps_axis(ax, levels: Sequence[float], xlabel: str) -> None:
    """A symlog ε axis (× 1/255) with a tick at every grid level."""
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xticks(levels, [f"{v:g}" for v in levels])
    ax.set_xlim(0, levels[-1] * 1.05)
    ax.set_xlabel(xlabel)


def robust_accuracy_figure(eps_255: Sequence[float], curves: Mapping[str, Sequence[Sequence[float]]], *,
                           alpha: float, chance: float, title: str):
    """Fig. 1a: robust accuracy against ε (mean over seeds, min–max band), and the same over the clean accuracy.

    ``curves``: method → seeds × ε accuracies, ε[0] = 0 (the clean accuracy).
    """
    levels = np.asarray(eps_255, dtype=float)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for method in METHOD_LABELS:
        values = np.asarray(curves[method], dtype=float)
        label = method_label(method) + (f" α = {alpha:g}" if method == "mixup" else "")
        mean_band(axes[0], levels, values, label=label, color=COLORS[method])
        mean_band(axes[1], levels, values / values[:, :1], label=label, color=COLORS[method])
    axes[0].axhline(chance, color="gray", linestyle=":", linewidth=1, label="chance")
    for ax in axes:
        _eps_axis(ax, levels, "FGSM ε (× 1/255, pixel scale)")
        ax.set_ylim(0, 1.02)
    label_panel(axes[0], ylabel="robust test accuracy", title=title, title_size=10, legend={})
    label_panel(axes[1], ylabel="robust accuracy / clean accuracy", title_size=10,
                title="Beyond the paper: relative to each network's clean accuracy")
    fig.tight_layout()
    return fig


def attack_comparison_figure(eps_255: Sequence[float], fgsm: Mapping[str, Sequence[Sequence[float]]],
                             pgd: Mapping[str, Sequence[Sequence[float]]], *, chance: float, points: int,
                             title: str):
    """FGSM (solid) against PGD (dashed) on the same test points, per method (mean over seeds, min–max band)."""
    levels = np.asarray(eps_255, dtype=float)
    fig, ax = plt.subplots(figsize=(6.2, 4))
    for method, label in METHOD_LABELS.items():
        for curves, name, style in ((fgsm, "FGSM", "-"), (pgd, "PGD", "--")):
            mean_band(ax, levels, curves[method], label=f"{label}, {name}", color=COLORS[method], linestyle=style)
    ax.axhline(chance, color="gray", linestyle=":", linewidth=1)
    _eps_axis(ax, levels, "ε (× 1/255, pixel scale)")
    ax.set_ylim(0, 1)
    label_panel(ax, ylabel=f"robust accuracy, first {points} test points", title=title, legend={})
    fig.tight_layout()
    return fig


def alpha_sweep_figure(alphas: Sequence[float], accuracy: Sequence[Sequence[float]], eps_255: Sequence[float], *,
                       chance: float, title: str):
    """FGSM robust accuracy against mixup's α (0: ERM), one line per ε of the grid."""
    fig, ax = plt.subplots(figsize=(6.2, 4))
    positions = np.arange(len(alphas))
    cmap = plt.get_cmap("viridis")
    for k, level in enumerate(eps_255):
        ax.plot(positions, [row[k] for row in accuracy], "o-", color=cmap(k / max(1, len(eps_255) - 1)),
                label="clean" if level == 0 else f"ε = {level:g}/255")
    ax.axhline(chance, color="gray", linestyle=":", linewidth=1)
    ax.set_xticks(positions, ["ERM" if a == 0 else f"{a:g}" for a in alphas])
    ax.set_ylim(0, 1)
    label_panel(ax, xlabel="mixup α", ylabel="FGSM robust test accuracy", title=title,
                legend={"fontsize": 7, "ncol": 2})
    fig.tight_layout()
    return fig


def _bound_cases(rows: Sequence[Mapping[str, Any]], data: str, model: str, trained_with: str,
                 alphas: Sequence[float]) -> list[list[Mapping[str, Any]]]:
    wanted = (data, model, trained_with)
    return [[r for r in rows if (r["data"], r["model"], r["trained_with"]) == wanted and r["alpha"] == a]
            for a in alphas]


def bound_check_figure(rows: Sequence[Mapping[str, Any]], variants: Sequence[str], models: Sequence[str],
                       alphas: Sequence[float]):
    """Theorems 3.1/3.2: L̃_mix and L̃_adv(ε_mix√d) against α, per data set and model; filled markers meet the
    assumptions, hollow ones do not (``rows``: the chapter's theorem rows)."""
    fig, axes = plt.subplots(len(variants), 2, figsize=(10, 3.3 * len(variants)), squeeze=False)
    for row_axes, name in zip(axes, variants, strict=True):
        for ax, kind in zip(row_axes, models, strict=True):
            for trained_with, color in (("mixup", COLORS["mixup"]), ("ERM", COLORS["erm"])):
                cases = _bound_cases(rows, name, kind, trained_with, alphas)
                met = [all(r["assumptions_met"] for r in c) for c in cases]
                for key, style, marker, label in (("L_mix_approx", "-", "o", "L̃_mix"),
                                                  ("L_adv_approx", "--", "s", "L̃_adv(ε_mix√d)")):
                    values = [np.mean([r[key] for r in c]) for c in cases]
                    ax.plot(alphas, values, linestyle=style, color=color, label=f"{label}, θ by {trained_with}")
                    ax.scatter(alphas, values, marker=marker, s=28, edgecolors=color,
                               facecolors=[color if m else "white" for m in met], zorder=3)
            ax.set_xscale("log")
            ax.set_xticks(alphas, [f"{a:g}" for a in alphas])
            ax.minorticks_off()
            label_panel(ax, xlabel="α", ylabel="loss", title=f"{kind}, {name}", title_size=9)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Theorems 3.1/3.2: filled markers meet every assumption, hollow ones do not", fontsize=10)
    fig.tight_layout()
    return fig


def bound_radius_figure(rows: Sequence[Mapping[str, Any]], variants: Sequence[str], models: Sequence[str],
                        alphas: Sequence[float]):
    """The guaranteed ℓ2 radius ε_mix√d against ε*, the radius where the inequality stops (mixup-trained θ)."""
    fig, ax = plt.subplots(figsize=(7, 5))
    markers = ("o", "s", "^", "D")
    for name, dash in zip(variants, ("-", "--", ":", "-."), strict=False):
        for kind, marker in zip(models, markers, strict=False):
            cases = _bound_cases(rows, name, kind, "mixup", alphas)
            ax.plot(alphas, [np.mean([r["eps"] for r in c]) for c in cases], dash, marker=marker,
                    color=COLORS["mixup"], label=f"ε_mix√d, {kind}, {name}")
            ax.plot(alphas, [np.mean([r["eps_star"] for r in c]) for c in cases], dash, marker=marker,
                    color=COLORS["pgd"], label=f"ε*, {kind}, {name}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(alphas, [f"{a:g}" for a in alphas])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    label_panel(ax, xlabel="α (mixup-trained θ)", ylabel="ℓ2 radius", title_size=10,
                title="Guaranteed radius ε_mix√d vs the radius ε* where the inequality stops",
                legend={"fontsize": 7, "ncol": 2, "loc": "upper center", "bbox_to_anchor": (0.5, -0.2)})
    fig.tight_layout()
    return fig


def _ecdf(ax, sorted_values: Sequence[float], **kw: Any) -> None:
    v = np.clip(np.asarray(sorted_values, dtype=float), 1e-8, None)
    ax.step(v, np.arange(1, len(v) + 1) / len(v), where="post", **kw)


def cosine_figure(curves: Sequence[Mapping[str, Any]], *, null_images: float, null_moons: float, first_seed: int,
                  titles: tuple[str, str]):
    """Fig. 3 (reconstructed): ECDFs of |cos(∇f(x_i), x_i)| for the image networks (a) and two-moons nets (b).

    ``curves``: the chapter's cosine records (``group`` images or moons, ``ecdf`` sorted values); grey lines:
    the median |cos| of random directions in the same dimension.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    ax = axes[0]
    for c in (c for c in curves if c["group"] == "images"):
        first = c["seed"] == first_seed
        _ecdf(ax, c["ecdf"], color=COLORS[c["method"]], linestyle="-" if c["target"] == "loss" else "--",
              linewidth=1, label=f"{method_label(c['method'])}, ∇ of the {c['target']}" if first else None)
    ax.axvline(null_images, color="gray", linestyle=":", label="random directions")
    label_panel(ax, xscale="log", xlabel="|cos(∇f(x_i), x_i − x̄)|", ylabel="fraction of training points ≤ x",
                title=titles[0], title_size=10, legend={"fontsize": 7})
    ax = axes[1]
    first_variant = next((c["data"] for c in curves if c["group"] == "moons"), None)
    for c in (c for c in curves if c["group"] == "moons"):
        a = c["alpha"]
        _ecdf(ax, c["ecdf"], color=COLORS["erm" if a == 0 else "mixup"],
              linestyle="-" if c["data"] == first_variant else "--",
              label=f"{'ERM' if a == 0 else f'mixup α = {a:g}'}, {c['data']}")
    ax.axvline(null_moons, color="gray", linestyle=":", label="random directions")
    label_panel(ax, xscale="log", xlabel="|cos(∇f(x_i), x_i)|", title=titles[1], title_size=10,
                legend={"fontsize": 7})
    fig.suptitle("Fig. 3 (reconstructed): R is the left end of each curve", fontsize=10)
    fig.tight_layout()
    return fig


__all__ += [
    "alpha_sweep_figure",
    "attack_comparison_figure",
    "bound_check_figure",
    "bound_radius_figure",
    "cosine_figure",
    "robust_accuracy_figure",
]


# ----------------------------------------------------------------------------------------------------------
# The approximation chapter's figures (Fig. 2, the terms of Eq. (3), claim 2 at fixed λ, decision boundaries)

#: Labels of the approximation chapter's two training objectives (Fig. 2).
OBJECTIVE_LABELS = {"mixup": "mixup loss $L^{mix}$", "approx": r"approximate loss $\tilde L^{mix}$"}
#: One colour per term of Eq. (3) and per Taylor truncation order T_0, T_1, T_2.
TERM_COLORS = {"R1": "#C44E52", "R2": "#8172B3", "R3": "#937860"}
ORDER_COLORS = ("#4C72B0", "#DD8452", "#55A868")


def _runs_of(runs: Sequence[Mapping[str, Any]], model: str, alpha: float, objective: str) -> list[Mapping[str, Any]]:
    return [r for r in runs if (r["model"], r["alpha"], r["objective"]) == (model, alpha, objective)]


def draw_fig2(axes, runs: Sequence[Mapping[str, Any]], alphas: Sequence[float], kinds: Sequence[str], *,
              keys: Mapping[str, str] | None = None, ylabel: str = "loss under its own objective") -> None:
    """Fig. 2: per α (rows of ``axes``) and model kind (columns), both objectives' curves on train and test.

    ``runs``: records with ``model``, ``alpha``, ``objective``, ``seed`` and ``rows`` (one per recorded step, with
    ``step`` and the plotted keys). ``keys`` maps the split drawn (train solid, test dashed) to the row key
    (default: ``train`` and ``test``, each model's own objective). Lines are seed means, bands min–max.
    """
    keys = dict(keys or {"train": "train", "test": "test"})
    require(len(axes) >= len(alphas), f"{len(axes)} rows of axes for {len(alphas)} values of α")
    for row_axes, alpha in zip(axes, alphas, strict=False):
        for ax, kind in zip(row_axes, kinds, strict=False):
            for objective, label in OBJECTIVE_LABELS.items():
                here = _runs_of(runs, kind, alpha, objective)
                if not here:
                    continue
                steps = [row["step"] for row in here[0]["rows"]]
                for (split, key), style in zip(keys.items(), ("-", "--"), strict=False):
                    mean_band(ax, steps, [[row[key] for row in r["rows"]] for r in here],
                              label=f"trained on {label}, {split}", color=COLORS[objective], linestyle=style)
            label_panel(ax, title=f"{kind}, α = {alpha}", xlabel="full-batch SGD step", ylabel=ylabel)


def draw_terms(axes, runs: Sequence[Mapping[str, Any]], alpha: float, kinds: Sequence[str]) -> None:
    """R1, R2, R3 of Eq. (3) along the training of the models trained on L̃_mix at ``alpha`` (one panel per kind)."""
    for ax, kind in zip(axes, kinds, strict=False):
        here = _runs_of(runs, kind, alpha, "approx")
        steps = [row["step"] for row in here[0]["rows"]]
        for term, color in TERM_COLORS.items():
            mean_band(ax, steps, [[row[term] for row in r["rows"]] for r in here], label=term, color=color)
        ax.axhline(0, color="k", linewidth=0.5)
        label_panel(ax, title=kind, xlabel="full-batch SGD step")


def draw_fixed_lambda(axes, records: Sequence[Mapping[str, Any]]) -> None:
    """Claim 2 at fixed λ: |g(a) − T_k(a)| against a = 1 − λ, one panel per model (dashed: the first checkpoint).

    ``records``: claim 2's evidence (``model``, ``step``, ``fixed_lambda`` with ``one_minus_lams`` and
    ``errors``, ``slopes``), at most two checkpoints per model.
    """
    names = list(dict.fromkeys(r["model"] for r in records))
    require(len(axes) >= len(names), f"{len(axes)} axes for {len(names)} models")
    for ax, name in zip(axes, names, strict=False):
        for record, style in zip([r for r in records if r["model"] == name], ("--", "-"), strict=False):
            fixed = record["fixed_lambda"]
            for order, color in enumerate(ORDER_COLORS):
                slope = record["slopes"][order]
                slope_text = "undetermined" if slope is None or not np.isfinite(slope) else f"{slope:.2f}"
                ax.loglog(fixed["one_minus_lams"], np.maximum(fixed["errors"][order], 1e-300), style, color=color,
                          label=f"T{order}, step {record['step']} (slope {slope_text})")
        ax.set_ylim(bottom=1e-18)
        label_panel(ax, title=name, title_size=10, xlabel="a = 1 − λ", ylabel="|g(a) − T_k(a)|",
                    legend={"fontsize": 7, "loc": "center left", "bbox_to_anchor": (1.01, 0.5)})


def draw_probability_grid(ax, grid: Mapping[str, Sequence], x: Sequence[Sequence[float]], y: Sequence[int], *,
                          title: str = "") -> None:
    """A decision-boundary panel from numbers: the probability of class 1 on a grid, its 0.5 contour, the data.

    ``grid``: ``x`` and ``y`` axes and ``prob`` rows (:func:`mixup_lib.fullbatch.probability_grid`); ``x``, ``y``:
    the 2-D points and their labels.
    """
    gx, gy = np.meshgrid(np.asarray(grid["x"]), np.asarray(grid["y"]))
    prob = np.asarray(grid["prob"], dtype=float)
    points = np.asarray(x, dtype=float)
    ax.contourf(gx, gy, prob, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.6)
    ax.contour(gx, gy, prob, levels=[0.5], colors="k", linewidths=1)
    ax.scatter(points[:, 0], points[:, 1], c=np.asarray(y), cmap="RdBu_r", s=6, edgecolors="none")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])


#: Frames of the α explorer are small PNGs: the whole slider stays a few tens of kB per α.
EXPLORER_DPI = 60
#: matplotlib's to_jshtml links Font Awesome 4 from a CDN for its buttons; the book must work offline, and its
#: theme already serves Font Awesome (whose ``fa fa-play``… names still resolve), so the link is removed.
_CDN_LINK = re.compile(r"<link[^>]*font-awesome[^>]*>\s*", re.IGNORECASE)


def alpha_explorer_html(boundaries: Sequence[Mapping[str, Any]], x: Sequence[Sequence[float]], y: Sequence[int], *,
                        dpi: int = EXPLORER_DPI) -> str:
    """The decision boundary against α as a slider that works without a kernel (one pre-rendered frame per α).

    ``boundaries``: the approximation chapter's ``results["boundaries"]`` (per α, 0 = ERM: the probability grid and
    the test accuracy); ``x``, ``y``: the training points. Each frame shows the boundary at one α (left) and the
    test accuracy against α with that α marked (right). matplotlib's ``FuncAnimation.to_jshtml`` makes the slider
    (HTML and JavaScript, frames embedded), without its CDN link (:data:`_CDN_LINK`).
    """
    from matplotlib import animation

    require(len(boundaries) > 0, "the α explorer needs at least one entry of results['boundaries']")
    alphas = [entry["alpha"] for entry in boundaries]
    accuracy = [entry["test_accuracy"] for entry in boundaries]
    positions = np.arange(len(alphas))
    ticks = ["0\n(ERM)" if a == 0 else f"{a:g}" for a in alphas]
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.2, 3.0), dpi=dpi, gridspec_kw={"width_ratios": [1, 1.2]})

    def frame(i: int) -> list:
        left.clear()
        right.clear()
        name = "ERM (α = 0)" if alphas[i] == 0 else f"mixup, α = {alphas[i]:g}"
        draw_probability_grid(left, boundaries[i]["grid"], x, y, title=name)
        right.plot(positions, accuracy, marker="o", color=COLORS["mixup"])
        right.plot(positions[i], accuracy[i], marker="o", markersize=14, markerfacecolor="none", color="k")
        right.set_xticks(positions, ticks)
        label_panel(right, xlabel="α", ylabel="test accuracy", title=f"test accuracy {accuracy[i]:.3f} at this α",
                    title_size=10)
        fig.tight_layout()
        return []

    anim = animation.FuncAnimation(fig, frame, frames=len(boundaries), init_func=lambda: frame(0), interval=900)
    with plt.rc_context({"savefig.dpi": dpi}):
        html = anim.to_jshtml(default_mode="once")
    plt.close(fig)
    return _CDN_LINK.sub("", html)


__all__ += [
    "OBJECTIVE_LABELS",
    "ORDER_COLORS",
    "TERM_COLORS",
    "alpha_explorer_html",
    "draw_fig2",
    "draw_fixed_lambda",
    "draw_probability_grid",
    "draw_terms",
]


# ----------------------------------------------------------------------------------------------------------
# The generalization chapter's whole figures (drawn from its results object: lists, not arrays)


def curves_grid_figure(panels: Sequence[tuple[Mapping[str, Mapping[str, Any]], str]]) -> plt.Figure:
    """Figs. 5–8 in one figure: one block of :func:`draw_curves` (four panels, 2 × 2, readable at page width) per
    (curves by method, block title).

    A data set that ran on another's runs is not drawn again: the caller passes one block per distinct set of runs
    and names, in its title, every data set the block stands for.
    """
    require(len(panels) > 0, "curves_grid_figure needs at least one data set")
    fig = plt.figure(figsize=(10, 6.4 * len(panels)), layout="constrained")
    for subfig, (by_method, title) in zip(np.atleast_1d(fig.subfigures(len(panels), 1)), panels, strict=True):
        axes = subfig.subplots(2, 2).ravel()
        draw_curves(axes, by_method)
        axes[0].legend(fontsize=7)
        axes[2].legend(fontsize=7)
        subfig.suptitle(title, fontsize=10)
    return fig


def gap_summary_figure(rows: Sequence[Mapping[str, Any]], names: Mapping[str, str]) -> plt.Figure:
    """The final gaps across data sets (the role of Fig. 1b): :func:`draw_gap_summary` on two panels."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    draw_gap_summary(axes, rows, names)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def n_sweep_figure(summary: Mapping[str, Mapping[str, Mapping[str, Any]]],
                   slopes: Mapping[str, Mapping[str, float | None]]) -> plt.Figure:
    """Final gaps against n on log–log axes (Section 4's √(rank/n)), per quantity, with a slope −1/2 guide.

    ``summary[method][quantity]``: ``x``, ``mean``, ``min``, ``max`` over seeds; ``slopes[method][quantity]``:
    the log–log slope shown in the legend (None or NaN when a gap is not positive).
    """
    quantities = list(next(iter(summary.values())))
    fig, axes = plt.subplots(1, len(quantities), figsize=(10, 3.4))
    for ax, q in zip(np.atleast_1d(axes), quantities, strict=True):
        ax.set_xscale("log")
        ax.set_xticks(summary["erm"][q]["x"], [f"{n:g}" for n in summary["erm"][q]["x"]])
        ax.minorticks_off()
        for method, name in METHOD_LABELS.items():
            slope = slopes[method][q]
            range_errorbar(ax, summary[method][q]["x"], summary[method][q], marker="o", capsize=3, color=COLORS[method],
                           label=f"{name} (slope {np.nan if slope is None else slope:.2f})")
        ref = {k: np.asarray(summary["erm"][q][k], float) for k in ("x", "mean")}
        if (ref["mean"] > 0).all():
            ax.plot(ref["x"], ref["mean"][0] * np.sqrt(ref["x"][0] / ref["x"]), ":", color="gray", label="slope −1/2")
            ax.set_yscale("log")
        label_panel(ax, xlabel="training-set size n", title=f"final {q} gap (test − train)",
                    title_size=9, legend={"fontsize": 7})
    fig.tight_layout()
    return fig


def gap_alpha_sweep_figure(alphas: Sequence[float], summary: Mapping[str, Mapping[str, Any]],
                       penalty_names: Mapping[str, str]) -> plt.Figure:
    """Against α (0 = ERM): the final gaps, the final clean train and test losses, and the final penalties.

    ``summary[key]`` (``loss_gap``, ``error_gap``, ``train_loss``, ``test_loss`` and the keys of
    ``penalty_names`` where measured): ``mean``, ``min``, ``max`` over seeds, in the order of ``alphas``.
    """
    fig, mosaic = plt.subplot_mosaic([["gaps", "losses"], ["penalties", "penalties"]], figsize=(10, 6.4))
    axes = [mosaic["gaps"], mosaic["losses"], mosaic["penalties"]]
    positions = np.arange(len(alphas))
    ticks = ["0 (ERM)" if a == 0 else f"{a:g}" for a in alphas]
    for key, color, style in (("loss_gap", "#C44E52", "-"), ("error_gap", "#8172B3", "--")):
        range_errorbar(axes[0], positions, summary[key], marker="o", capsize=3, color=color, linestyle=style,
                       label=key.replace("_", " "))
    for key, style in (("train_loss", "-"), ("test_loss", "--")):
        axes[1].plot(positions, summary[key]["mean"], marker="o", color="k", linestyle=style,
                     label=key.replace("_", " "))
    for (key, name), style in zip(penalty_names.items(), ("-", "--"), strict=False):
        if key in summary:
            axes[2].plot(positions, summary[key]["mean"], marker="o", color="#937860", linestyle=style, label=name)
            label_panel(axes[2], yscale="log", legend={"fontsize": 7})
    axes[0].axhline(0, color="k", linewidth=0.5)
    titles = ("final gaps (test − train)", "final clean train and test loss", "final penalties on the tracked points")
    for ax, title in zip(axes, titles, strict=True):
        ax.set_xticks(positions, ticks)
        label_panel(ax, xlabel="α", title=title, title_size=9)
    for ax in axes[:2]:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def penalty_figure(rows: Sequence[tuple[Mapping[str, Mapping[str, Any]], str]], names: Mapping[str, str]
                        ) -> plt.Figure:
    """The data-adaptive penalties along training, ERM vs mixup: one row per (curves by method, where), one panel
    per key of ``names`` (log scale)."""
    require(len(rows) > 0, "penalty_figure needs at least one data set")
    fig, axes = plt.subplots(len(rows), len(names), figsize=(10, 3.3 * len(rows)), squeeze=False)
    for row_axes, (by_method, where) in zip(axes, rows, strict=True):
        for ax, (key, name) in zip(row_axes, names.items(), strict=True):
            for method, label in METHOD_LABELS.items():
                c = by_method[method]
                mean_band(ax, c["epoch"], c[key], label=label, color=COLORS[method])
            label_panel(ax, yscale="log", xlabel="epoch", title=f"{name}, {where}", title_size=9,
                        legend={"fontsize": 8})
    fig.tight_layout()
    return fig


__all__ += ["curves_grid_figure", "gap_alpha_sweep_figure", "gap_summary_figure", "n_sweep_figure", "penalty_figure"]
