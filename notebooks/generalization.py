# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Generalization: mixup's gap against ERM's (Figs. 5–8 and Fig. 1b)
#
# **Downloads:** {download}`this page's source (jupytext, .py) </notebooks/generalization.py>` ·
# {download}`the executed notebook (.ipynb) </book/generated/generalization.ipynb>`

# %% tags=["parameters", "hide-input"] mystnb={"code_prompt_show": "Show the parameters and their defaults"}
from typing import Optional  # papermill --help-notebook reads Optional[X] annotations, not X | None

profile: str = "quick"  # smoke | quick | full | paper: the preset every other None takes its value from
device: str = "auto"  # auto picks cuda, then mps, then cpu; or cpu, cuda, cuda:N, mps
seeds: Optional[list[int]] = None  # seeds of the Figs. 5–8 runs; None: the profile's
width: Optional[int] = None  # base width of the PreAct ResNet-18 (64 in the paper's network); None: the profile's
n_train: Optional[int] = None  # training subset per data set (all of it in paper); None: the profile's
n_test: Optional[int] = None  # test subset per data set (all of it in paper); None: the profile's
epochs: Optional[int] = None  # epochs of every run; None: the profile's
alpha: Optional[float] = None  # mixup α (β equals α); None: the profile's
track_penalty: Optional[int] = None  # points the Section 4 penalty is measured on, each epoch; None: the profile's
n_grid: Optional[list[int]] = None  # training-set sizes of the n sweep (beyond the paper); None: the profile's
alpha_grid: Optional[list[float]] = None  # mixup α of the α sweep (beyond the paper); None: the profile's
sweep_seeds: Optional[list[int]] = None  # seeds of the n and α sweeps; None: the profile's
fallback: Optional[bool] = None  # True: a missing data set runs on Fashion-MNIST, visibly; False: shown as missing

# %% tags=["hide-input"] mystnb={"code_prompt_show": "Show the code that loads this page's results"}
import time

import matplotlib.pyplot as plt
from IPython.display import HTML, Markdown, display

import mixup_lib.results
from mixup_lib import claims, profiles
from mixup_lib.chapters import generalization as chapter
from mixup_lib.report import plots, tables

settings = profiles.resolve("generalization", profile, seeds=seeds, width=width, n_train=n_train, n_test=n_test,
                            epochs=epochs, alpha=alpha, track_penalty=track_penalty, n_grid=n_grid,
                            alpha_grid=alpha_grid, sweep_seeds=sweep_seeds, fallback=fallback)
started = time.time()
results, where = mixup_lib.results.obtain("generalization", settings, device=device)
plots.use_style()
display(HTML(tables.provenance_line(results, where, committed_dir=mixup_lib.results.committed_dir(), since=started)))
# at the top, one notice naming every substituted data set: the page must not hide a substitution
display(HTML(tables.notices([(d["requested"], d["used"], d["reason"]) for d in results["datasets"] if d["substituted"]])))
# the data set whose runs were used → the requested data sets those runs stand for (each set of runs drawn once)
stands_for = {}
for d in results["datasets"]:
    if d["used"] is not None:
        stands_for.setdefault(d["used"], []).append(d)


# the requested data set under which each set of runs is shown (the one that ran itself, where it was asked for)
shown_as = {used: next((d for d in group if d["requested"] == used), group[0])["requested"]
            for used, group in stands_for.items()}


def group_title(used: str, sep: str = " ") -> str:
    """The data set that ran, and every other data set its runs stand for (substituted)."""
    others = [d["title"] for d in stands_for[used] if d["substituted"]]
    ran = chapter.title(used)
    return ran if not others else f"{ran}{sep}(its runs also stand for{sep}{', '.join(others)}: substituted)"


# %% [markdown]
# **What the paper states.** Figs. 5–8 of {cite}`zhang2021how` show, on CIFAR-10, CIFAR-100
# {cite}`krizhevsky2009learning`, Fashion-MNIST {cite}`xiao2017fashion` and Kuzushiji-MNIST
# {cite}`clanuwat2018deep`, the training and test loss and error of a pre-activation ResNet-18
# {cite}`he2016identity` trained with ERM and with mixup, and the *generalization gap* (test − train); Fig. 1b
# summarises the gaps. Training is SGD with mini-batch 64, momentum 0.9 and learning rate 0.1. The claim
# (claim 8 of this book): **mixup's gap is smaller than ERM's on each data set, throughout training.** Section 4
# explains it: mixup adds the data-adaptive penalty
# $\frac{\mathbb E[(1-\lambda)^2]}{2}\cdot\frac1n\sum_i h''(f(x_i))\,\nabla f(x_i)^\top\hat\Sigma_X\nabla f(x_i)$
# (Lemma 3.1's $R_2$), and the set of models it constrains has a Rademacher complexity of order
# $\sqrt{\operatorname{rank}(\Sigma_X)/n}$: smaller when the data lie near a low-dimensional subspace.
#
# **What we chose where the paper is silent.** Epochs, schedule, weight decay, α, seeds and augmentation are
# not stated. We use the trainer's documented defaults (a one-cycle schedule peaking at the paper's lr 0.1,
# weight decay 5e-4, **no augmentation**, as the paper mentions none) and α = 1 (β = α, mixup's usual default).
# A gap needs overfitting, so the `quick` profile trains a narrow PreAct ResNet-18 (base width 8 instead of
# 64) on small stratified subsets of the training set, long enough for ERM to fit them; the test set is a
# subset too. The gap is measured against the **clean** training set: the trainer evaluates the unmixed
# training set in eval mode after every epoch, so both methods are judged on the same data. Every run is
# stored under the hash of its config; `paper` runs the paper's network on the full data sets for 100 epochs
# (our choice: without augmentation ERM fits the training set within a few dozen epochs; the original mixup
# paper trained 200).
#
# **What is reconstructed.** The exact layout of Figs. 5–8 and of Fig. 1b (which panels, which epochs) could
# not be checked; each figure below shows loss, error and both gaps for both methods, and the summary shows
# the final gaps. Everything marked *beyond the paper* tests Section 4's theory rather than a figure.
#
# **At paper scale** (internet for CIFAR and KMNIST, and a GPU):
# `make figure NB=generalization PARAMS="-p profile paper"` (equivalently `PROFILE=paper`); about
# 4 data sets × 2 methods × 3 seeds × 100 epochs of PreAct ResNet-18 plus the two sweeps on Fashion-MNIST.

# %% tags=["hide-input"]
display(HTML(tables.record_table(results["setup"], "What was run")))

# %% [markdown]
# Where a data set was substituted, its runs have **exactly the same configs** as Fashion-MNIST's (the config
# names the data set actually used), so the run store computes them once: each set of runs is **drawn once**
# below, with every data set it stands for named in its title. The cell below checks the coincidence by the runs'
# hashes.

# %% tags=["hide-input"]
count = results["runs"]
print(f"{count['configs']} run configs (figures and sweeps), {count['distinct']} distinct; when the results were "
      f"computed, trained: {count['trained']}, from the store or results/: {count['distinct'] - count['trained']}; "
      f"results read from {where.name}")
if count["coinciding"]:
    print("identical run hashes as Fashion-MNIST (panels coincide): "
          + ", ".join(map(chapter.title, count["coinciding"])))

# %% [markdown]
# ## Figs. 5–8: loss, error and the gap along training, one block per data set that ran
#
# {numref}`fig-curves` has one block of four panels per set of runs. Lines are means over seeds, bands min–max
# over seeds. Training curves (solid) are on the clean training set; test curves dashed. The gap panels show
# test − train for the loss and for the error (1 − accuracy).

# %% tags=["hide-input"]
for d in results["datasets"]:
    if d["used"] is None:
        print(f"{d['title']}: not available on this machine and fallback is off: no figure")

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-curves", "caption": "The paper's Figs. 5\u20138, reproduced: training (solid) and test (dashed) loss and error, and the gaps (test \u2212 train), for ERM and mixup, one block per data set that ran; the block's title names every data set its runs stand for."}}
plots.curves_grid_figure([(results["curves"][used], group_title(used)) for used in stands_for])
plt.show()

# %% [markdown]
# ## The final gaps across data sets (the role of Fig. 1b)
#
# {numref}`fig-gap-summary`: bars are the mean over seeds of the gap at the last epoch; whiskers: min–max over
# seeds. Each set of runs is drawn once, under the data set that ran (its label names the data sets it stands
# for). A data set that could not be had and was not substituted keeps its place, marked "not available".

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-gap-summary", "caption": "The final generalization gaps of ERM and mixup, loss (left) and error (right), per data set that ran (the role of the paper's Fig. 1b)."}}
shown = {*shown_as.values(), *(d["requested"] for d in results["datasets"] if d["used"] is None)}
names = {d["requested"]: d["title"] for d in results["datasets"]}
names.update({requested: group_title(used, "\n") for used, requested in shown_as.items()})
plots.gap_summary_figure([r for r in results["summary"] if r["dataset"] in shown], names)
plt.show()

# %% tags=["hide-input"]
shown_titles = {chapter.title(name) for name in shown}
display(HTML(tables.table([r for r in chapter.final_gap_rows(results) if r["dataset"] in shown_titles], [
    ("data set", "dataset", ""), ("gap", "quantity", ""),
    *((f"{plots.method_label(m)} {k}", f"{m}_{k}", ".3f") for m in chapter.METHODS for k in ("mean", "min", "max")),
], "Final gaps, mean, min and max over seeds")))

# %% [markdown]
# ## Claim 8, "throughout training", computed
#
# For each data set and each gap we count the share of epochs in which mixup's mean gap is below ERM's, and
# the share in which the two are separated across seeds (mixup's largest seed below ERM's smallest). The first
# epochs, where neither method fits the training set yet, count too: "throughout" is taken literally. A
# substituted data set is reported as inconclusive in the claims table: its numbers are Fashion-MNIST's and say
# nothing about the data set that was asked for. Verdict (on the numbers of the data set that ran):

# %% tags=["hide-input"]
display(Markdown(chapter.claim8_rule()))
display(HTML(tables.table(chapter.claim8_rows(results), [
    ("data set", "title", ""), ("gap", "quantity", ""), ("epochs with mixup below (mean)", "fraction_below", ".0%"),
    ("which epochs", "epochs", ""), ("epochs separated across seeds", "fraction_separated", ".0%"),
    ("final ERM", "final_erm", ".3f"),
    ("final mixup", "final_mixup", ".3f"), ("verdict", "verdict", ""),
])))

# %% [markdown]
# ### Does mixup's test loss turn upward late in training?
#
# Liu et al. {cite}`liu2023over` report that mixup's test loss can be U-shaped over long training: it falls,
# then rises again as training continues ("over-training with mixup may hurt generalization"), worse with small
# data sets. The test below looks for that turn in our runs, for both methods, on each data set that ran. Our
# runs are short next to theirs (hundreds of epochs), so a "no upturn" here says only that it has not set in
# within the epochs we trained.

# %% tags=["hide-input"]
display(Markdown(chapter.u_shape_rule()))
display(HTML(tables.table(chapter.u_shape_rows(results), [
    ("data set", "title", ""), ("method", "method_label", ""), ("lowest at epoch", "min_epoch", ""),
    ("of", "last_epoch", ""), ("lowest mean test loss", "min_loss", ".3f"), ("final", "final_loss", ".3f"),
    ("mean rise after it", "rise", "+.3f"), ("SE of the rise", "se", ".3f"), ("seeds", "n_seeds", ""),
    ("finding", "finding", ""),
])))

# %% [markdown]
# ## What others measured
#
# The paper reports no test-error table for Figs. 5–8. Others trained the paper's network, a PreAct ResNet-18,
# with and without input mixup on CIFAR-10 and CIFAR-100: Manifold Mixup {cite}`verma2019manifold` (Table 1)
# and the original mixup paper {cite}`zhang2018mixup` (Section 3.2), both with full data sets, augmentation and
# hundreds of epochs. Beside them: our final test errors (seed means) on the data set that ran, and whether
# ours point the same way (mixup's error lower). Our runs are far smaller, so only the direction can be compared;
# where a data set was substituted, our numbers are Fashion-MNIST's.

# %% tags=["hide-input"]
display(HTML(tables.transposed_table(results["published"], [
    ("source", "source", ""), ("where", "where", ""), ("published setup", "setup", ""),
    ("published ERM", "erm", ".2f"), ("published mixup", "mixup", ".2f"), ("unit", "unit", ""),
    ("ours ran on", "ours_on", ""), ("our ERM", "ours_erm", ".2f"), ("our mixup", "ours_mixup", ".2f"),
    ("same direction", "agrees", ""),
], "Test error (%): published (no mixup vs input mixup) and ours")))

# %% [markdown]
# ## Beyond the paper: the gap against the training-set size $n$
#
# Section 4 bounds the gap of the models mixup favours by a quantity of order $\sqrt{\operatorname{rank}
# (\Sigma_X)/n}$. We train both methods on several $n$ (stratified subsets of Fashion-MNIST, the same test
# subset, the same number of epochs, so a smaller $n$ also gets fewer SGD steps; the table shows how well each
# run fits its training set) and plot the final gaps on log–log axes ({numref}`fig-n-sweep`). At
# `quick` this sweep uses fewer seeds than the figures above (see the table of settings); with one seed there is
# no band.
# The table gives rank(Σ̂_X) of each training subset (pixel space, d = 784) and three softer effective ranks:
# the participation ratio (Σλ)²/Σλ², the entropy rank, and the number of principal components holding 90% and
# 99% of the variance.

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-n-sweep", "caption": "Beyond the paper: the final gaps against the training-set size $n$ on log\u2013log axes (Fashion-MNIST), with a slope \u22121/2 for reference."}}
plots.n_sweep_figure(results["n_sweep"]["summary"], results["n_sweep"]["slopes"])
plt.show()

# %% tags=["hide-input"]
display(HTML(tables.table(results["n_sweep"]["ranks"], [
    ("n", "n", ""), ("rank Σ̂", "rank", ""), ("participation ratio", "participation_ratio", ".1f"),
    ("entropy rank", "entropy_rank", ".1f"), ("PCs for 90%", "k_0.9", ""), ("PCs for 99%", "k_0.99", ""),
    ("√(participation ratio / n)", "sqrt_pr_over_n", ".3f"),
    *((f"final train error {plots.method_label(m)}", f"train_error_{m}", ".3f") for m in chapter.METHODS),
    *((f"loss gap {plots.method_label(m)}", f"loss_gap_{m}", ".3f") for m in chapter.METHODS),
])))

# %% [markdown]
# **Reading the ranks.** rank(Σ̂_X) itself is nearly full (min(n − 1, d)): pixel data have no exactly zero
# direction, so the theorem's rank is not small here. The variance, however, sits in few directions (the
# participation ratio and the 90% count are far below d = 784), the "near a low-dimensional subspace" regime in
# which the theory says a data-adaptive penalty helps most. The theory's statements are for GLMs and two-layer
# networks with a fixed first layer (where Σ is the covariance of hidden features), not for a trained ResNet.

# %% [markdown]
# ## Beyond the paper: the gap against α
#
# Section 4's penalty carries the weight $\mathbb E_{\tilde{\mathcal D}_\lambda}[(1-\lambda)^2]/2 =
# \alpha/(4(2\alpha+1))$, increasing in α, so a larger α should regularize more. We train mixup at each α of the
# grid on the main training subset (α = 0 is ERM), with the sweep seeds, and show the final gaps, the final clean
# training and test losses, and the final data-adaptive penalty ({numref}`fig-gap-alpha`).

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-gap-alpha", "caption": "Beyond the paper: against \u03b1 (0: ERM), the final gaps, the final clean training and test losses, and the final penalties {eq}`eq-penalty`."}}
sweep = results["alpha_sweep"]
plots.gap_alpha_sweep_figure(sweep["alphas"], sweep["summary"], chapter.PENALTY_NAMES)
plt.show()
print(f"Spearman correlation of the final gap with α: loss {sweep['trend']['loss']['rho']:.2f}, "
      f"error {sweep['trend']['error']['rho']:.2f}")

# %% [markdown]
# ## Beyond the paper: the data-adaptive penalty along training
#
# After every epoch the trainer measures, on a fixed random set of $m$ = `track_penalty` training points (the
# same points for both methods and every seed),
#
# $$
# \begin{aligned}
# P(\theta) &= \frac1m\sum_i \mathbb E_r\big[(r-x_i)^\top \nabla f(x_i)^\top h''(f(x_i))\,\nabla f(x_i)\,(r-x_i)\big]\\
# &= \frac1m\sum_i \Big[\operatorname{tr}\big(h''_i J_i \hat\Sigma J_i^\top\big)
# + (J_i\delta_i)^\top h''_i (J_i\delta_i)\Big],
# \end{aligned}
# $$ (eq-penalty)
#
# Lemma 3.1's $R_2$ (in {eq}`eq-approx-loss` of the approximation chapter) divided by its weight $\mathbb E[(1-\lambda)^2]/2$: the quantity mixup's loss adds, on one
# yardstick for ERM and mixup models whatever their α. $J_i$ is the input Jacobian of the logits (pixel space),
# $h''_i = \operatorname{diag}(p_i) - p_i p_i^\top$ the softmax Hessian, $\hat\Sigma$ the covariance of the $m$
# points (the first term is the theory's quadratic form $\nabla f^\top\hat\Sigma_X\nabla f$ with the GLM curvature)
# and $\delta_i = \bar x - x_i$ (the per-sample term). $P$ falls when predictions saturate ($h'' \to 0$) as well as
# when $\nabla f$ is small, so we also record the curvature-free form
# $G(\theta) = \frac1{mK}\sum_{i,k} \nabla f_k(x_i)^\top\hat\Sigma\,\nabla f_k(x_i)$ (mean over classes of
# $\|X_c\nabla f_k\|^2/m$): how fast the logits change along the directions in which the data vary. Both come
# from `approx`'s batched Jacobians and covariance factor, the code that checks Lemma 3.1 in the previous
# chapter (a test checks $P$ against its $R_2$, and both forms against brute force for a linear model).
# {numref}`fig-penalty` shows both along training.

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-penalty", "caption": "Beyond the paper: the data-adaptive penalty $P(\\theta)$ of {eq}`eq-penalty` and its curvature-free form $G(\\theta)$ along training, ERM and mixup, on the tracked training points."}}
penalized = dict.fromkeys(c["dataset"] for c in results["penalty"])
if penalized:
    plots.penalty_figure([(results["curves"][used], f"{chapter.title(used)}, {settings['track_penalty']} "
                                "training points") for used in penalized], chapter.PENALTY_NAMES)
    plt.show()

# %% tags=["hide-input"]
for c in results["penalty"]:
    print(f"{chapter.title(c['dataset'])}, {chapter.PENALTY_NAMES[c['key']]}: mixup below ERM in "
          f"{c['fraction_below']:.0%} of the epochs; final ERM {c['final_erm']:.4g}, mixup {c['final_mixup']:.4g}")
if not results["penalty"]:
    print("track_penalty is 0: the penalties were not measured")

# %% [markdown]
# ## Claims of this chapter
#
# Claim 8 uses the rule stated above, per data set and per gap. The claims marked G are beyond the paper: G1–G4
# test Section 4's consequences, on Fashion-MNIST, with the sweep seeds (with a single seed, G1–G3 rest on one
# run per point: read them as indications); G5 is the U-shape test above {cite}`liu2023over`, per data set that
# ran.

# %% tags=["hide-input"]
display(Markdown(chapter.sweep_rules()))
display(HTML(claims.claims_table(chapter.verdicts(results))))

# %% tags=["hide-input"]
display(HTML(tables.record_table(
    {**results["provenance"], "results file": tables.results_file(where, mixup_lib.results.committed_dir())},
    "Provenance")))
