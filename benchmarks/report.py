"""Render book/performance.md (the book's "Performance" appendix) from benchmarks/results/latest.json."""

from __future__ import annotations

from typing import Any


def _fmt_rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def _verdict(met: bool | None) -> str:
    return "—" if met is None else ("**met**" if met else "**not met**")


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _arm_label(name: str) -> str:
    return {
        "trainer": "our trainer (`train_epoch`, evaluation excluded)",
        "trainer_channels_last": "our trainer + channels_last (proposed)",
        "bare": "bare loop (forward, backward, step)",
        "textbook_w0": "textbook loop, `num_workers=0`",
        "textbook_w2": "textbook loop, `num_workers=2`",
        "textbook_data_only": "textbook DataLoader + mixup only (no model)",
    }.get(name, name)


def render(result: dict[str, Any]) -> str:
    """The whole page as MyST Markdown."""
    m, v, s = result["machine"], result["versions"], result["settings"]
    peak = result["matmul_peak"]
    out: list[str] = []
    out.append("# Performance\n")
    out.append(
        "How fast the library trains and computes Lemma 3.1's terms, measured against the obvious alternatives "
        "on the machine that generated this page. **This page is generated** by `make bench` "
        "(`python benchmarks/run.py`) from `benchmarks/results/latest.json`; do not edit it by hand.\n"
    )
    out.append(
        "Every comparison runs its arms in one process, warm-up first, then interleaved (A, B, C, C, B, A, …) so "
        "that changes in the machine's load hit every arm alike; each number is the **median over repeats**, and "
        "each ratio is the ratio of two medians measured side by side. Absolute images/s depend on the machine "
        "and its load; the ratios are what this page is about.\n"
    )
    out.append("## Machine\n")
    load = m.get("load_average_start"), m.get("load_average_end")
    out.append(
        _table(
            ["", "value"],
            [
                ["date (UTC)", result["date"]],
                ["CPU", m["cpu"]],
                ["cores (logical / usable)", f"{m['logical_cores']} / {m['usable_cores']}"],
                ["torch intra-op threads", str(m["torch_threads"])],
                ["load average (1, 5, 15 min) at start / end", f"{load[0]} / {load[1]}"],
                ["GPU", m["gpu"] or "none"],
                ["platform", m["platform"]],
                ["float32 matmul (`torch.mm`, " f"{peak['matmul']['n']}³)",
                 f"{peak['matmul']['median_gflops']:.1f} GFLOP/s (median; best {peak['matmul']['best_gflops']:.1f})"],
                ["float32 3×3 convolution (channels_last, " f"{peak['conv']['shape']})",
                 f"{peak['conv']['median_gflops']:.1f} GFLOP/s (median; best {peak['conv']['best_gflops']:.1f})"],
                ["wall time of the benchmark", f"{result['elapsed_s']:.0f} s"],
            ],
        )
        + "\n"
    )
    if m.get("note"):
        out.append(f"{m['note']}\n")
    out.append("## Versions\n")
    out.append(_table(["package", "version"], [[k, f"`{val}`"] for k, val in v.items()]) + "\n")

    out.append("## Targets\n")
    rows = [[t["benchmark"], t["what"], f"{t['value']:.2f}", t["target_text"], _verdict(t["met"])]
            for t in result["verdicts"]]
    out.append(_table(["benchmark", "measured", "value", "target", "verdict"], rows) + "\n")
    if result.get("reasons"):
        out.append("Where a target is not met, the measured reason:\n")
        out.extend(f"- {reason}" for reason in result["reasons"])
        out.append("")

    out.append("## 1–2. Our trainer vs a textbook loop and vs a bare compute loop\n")
    out.append(
        "Same architecture and initial weights, same training images, batch 64, SGD (lr 0.1, momentum 0.9, weight "
        "decay 5·10⁻⁴), mixup with α = 1, the same number of steps per timed call (one epoch). "
        "*Our trainer* is `train.Trainer(config, data=...).train_epoch(progress=False)`; its two evaluation passes "
        "(clean training set and test set) are timed separately and subtracted, and reported as their own column. "
        "*Textbook*: a torchvision `VisionDataset` returning one PIL image per index with "
        "`ToTensor()` + `Normalize()` per sample (vectors: `TensorDataset`), a `DataLoader(batch_size=64, "
        "shuffle=True)`, and mixup written as in facebookresearch/mixup-cifar10 (`np.random.beta`, "
        "`torch.randperm`, `lam * criterion(pred, y_a) + (1 - lam) * criterion(pred, y_b)`, with that loop's "
        "`loss.item()` and accuracy bookkeeping). Both `num_workers=0` and `2` (persistent workers) are measured; "
        "the ratio uses the faster. *Bare*: forward, loss, backward, step over batches mixed and stacked before "
        "the clock starts.\n"
    )
    for res in result["training"].values():
        out.append(f"### {res['model']} on {res['data']}\n")
        opt = res.get("optimizer", {})
        layout = "on" if res.get("trainer_channels_last") else "off"
        out.append(
            f"{res['steps']} steps of {res['batch']} per timed call, {res['repeats']} repeats. "
            f"The trainer as measured: SGD `fused={opt.get('fused')}`, channels_last {layout}; "
            "the bare loop copies both.\n"
        )
        rows = []
        for name, arm in res["arms"].items():
            extra = ""
            if "median_eval" in arm:
                extra = f"evaluation {arm['median_eval'] * 1000:.0f} ms per epoch (not counted)"
            rows.append([_arm_label(name), _fmt_rate(arm["per_s"]), f"{arm['median_s'] * 1000:.1f}", extra])
        out.append(_table(["arm", "images/s (median)", "ms per call (median)", "note"], rows) + "\n")
        lines = [
            f"- trainer / textbook ({res['textbook_baseline'].replace('textbook_', '')}): "
            f"**{res['ratio_vs_textbook']:.2f}×** (target ≥ {res['target_vs_textbook']:g}×)",
            f"- trainer / bare loop: **{res['ratio_vs_bare']:.2f}** (target ≥ 0.90)",
            f"- the textbook's input pipeline (its DataLoader and mixup, no model) is "
            f"{res['textbook_data_fraction']:.0%} of its epoch; the bare loop is "
            f"{res['ceiling_vs_textbook']:.2f}× the textbook: what a trainer with no overhead at all would reach",
            f"- evaluation is {res['eval_fraction_of_epoch']:.0%} of a full `train_epoch` call here "
            f"({res['steps'] * res['batch']} training and {res.get('n_test', '?')} test images evaluated per epoch)",
        ]
        if "ratio_channels_last_vs_textbook" in res:
            lines.append(
                f"- with channels_last (proposed, not yet in the trainer): "
                f"**{res['ratio_channels_last_vs_textbook']:.2f}×** the textbook"
            )
        out.append("\n".join(lines) + "\n")

    out.append("## 3. Achieved FLOP rate vs the machine's dense-kernel limit\n")
    out.append(
        "FLOPs of one training step (batch 64) counted by `torch.utils.flop_counter.FlopCounterMode` over the "
        "forward and backward passes (matmuls and convolutions only), times the measured steps per second. "
        "The limit is the faster of two dense float32 kernels measured in the same run with the same thread "
        "count: a large `torch.mm` and a large 3×3 convolution in channels_last (on AMD processors the MKL "
        f"behind `torch.mm` takes its AVX2 path while oneDNN's convolution uses AVX-512; here "
        f"{peak['matmul']['median_gflops']:.0f} vs {peak['conv']['median_gflops']:.0f} GFLOP/s).\n"
    )
    rows = []
    for key, f in result["flops"].items():
        rows.append([
            result["training"][key]["model"],
            f"{f['forward'] / 1e6:,.2f}",
            f"{f['forward_backward'] / 1e6:,.2f}",
            f"{f['forward_backward'] / max(f['forward'], 1):.2f}",
            f"{f['trainer_gflops']:.2f}",
            f"{f['bare_gflops']:.2f}",
            f"{f['trainer_fraction_of_peak']:.1%}",
        ])
    out.append(
        _table(
            ["model", "forward MFLOP / step", "fwd+bwd MFLOP / step", "fwd+bwd / fwd", "trainer GFLOP/s",
             "bare GFLOP/s", "trainer / limit"],
            rows,
        )
        + "\n"
    )
    out.append(
        "The two-moons models do a few MFLOP per step: their time goes to the per-operation cost of PyTorch "
        "(dispatch, autograd bookkeeping, tiny kernels), not to arithmetic, so their fraction of the peak is "
        "small by construction. The WRN's fraction says how close a convolutional step gets to the machine's "
        "limit.\n"
    )

    out.append("## 4. Batched R1–R3 vs a per-sample loop\n")
    out.append(
        "`approx.approx_terms(model, x, y, α=1, r3=\"exact\")` (under `torch.no_grad()`, as the chapters call it) "
        "against a Python loop over the samples that computes the same L_std, R1, R2, R3 with per-sample autograd "
        "gradients and Hessian-vector products, along the same directions (so the ratio measures batching, not a "
        "different algorithm). Before timing, both are checked to agree term by term.\n"
    )
    rows = []
    for r in result["rterms"]["cases"]:
        rows.append([
            r["case"], str(r["n"]), str(r["d"]), r["dtype"],
            f"{r['arms']['batched']['median_s'] * 1000:.1f}",
            f"{r['arms']['per_sample']['median_s'] * 1000:.0f}",
            f"**{r['ratio']:.0f}×**",
            f"{r['max_relative_difference']:.1e}",
        ])
    out.append(_table(["case", "n", "d", "dtype", "batched ms", "per-sample ms", "ratio", "max rel. difference"],
                      rows) + "\n")
    smooth = result["rterms"].get("smooth_check")
    if smooth:
        out.append(
            "The ReLU and linear models have ∇²f = 0 almost everywhere, so their R3 is 0 in both computations. "
            "A tanh network on two moons (R3 = "
            f"{smooth['terms']['R3']:.3e}) checks the Hessian-vector-product path as well: largest relative "
            f"difference {smooth['max_relative_difference']:.1e}.\n"
        )

    out.extend(_speedup_section(result.get("speedup")))
    out.extend(_projection_section(result.get("projection")))

    out.append("## GPU (measured)\n")
    gpu = result["gpu"]
    if gpu.get("skipped"):
        out.append(
            f"**No GPU was available when this page was generated** ({gpu['skipped']}). On a machine with a CUDA "
            "GPU, `make bench` also reports: WRN-16-8 training images/s on 32×32×3 input, for the trainer as the "
            "chapters run it and for the fast path of `mixup_lib.accel` (data resident on the GPU, channels_last, "
            "bf16 autocast, cudnn.benchmark and TF32; `--compile` adds `torch.compile`), the trainer's images/s and "
            "achieved TFLOP/s for every network and input shape of the paper profiles, and each chapter's paper "
            "profile wall time at those measured rates (the workload of section 6).\n"
        )
    else:
        out.append(f"Device: **{gpu['device']}**; backend flags {gpu['backend_flags']}.\n")
        rows = [[name, _fmt_rate(a["per_s"])] for name, a in gpu["throughput"].items()]
        out.append(_table([f"{gpu['model']} on {gpu['input']}", "training images/s"], rows) + "\n")
        out.append(f"Fast path / trainer: **{gpu['fast_path_vs_trainer']:.2f}×**.\n")
        rates = gpu.get("rates") or {}
        if rates and all(isinstance(r, dict) and "train_tflops" in r for r in rates.values()):
            rows = [[label, _fmt_rate(r["train_per_s"]), f"{r['train_tflops']:.1f}", _fmt_rate(r["eval_per_s"]),
                     f"{r['eval_tflops']:.1f}"] for label, r in rates.items()]
            out.append(_table(["network (trainer)", "training images/s", "TFLOP/s", "evaluation images/s", "TFLOP/s"],
                              rows) + "\n")
        rows = []
        for chapter, p in gpu["projections"].items():
            shown = "not projected" if p["seconds"] is None else f"{p['seconds'] / 3600:.2f} h"
            rows.append([chapter, shown, p["note"]])
        out.append(_table(["chapter", "wall time at the measured rates (paper profile)", "workload"], rows) + "\n")
        out.append(f"Rule: {gpu['projection_rule']}.\n")

    out.append("## Rerunning\n")
    out.append(
        "```bash\n"
        "make bench                                   # every benchmark (+ measured GPU section where CUDA exists)\n"
        ".venv/bin/python benchmarks/run.py --threads 2   # choose the torch thread count\n"
        ".venv/bin/python benchmarks/run.py --only speedup,projection  # only those, merged into latest.json\n"
        ".venv/bin/python benchmarks/run.py --render-only  # re-render this page from latest.json\n"
        "```\n"
    )
    out.append(
        f"Settings of this run: {s['threads']} torch thread(s), repeats {s['repeats']}, "
        f"command `{s['command']}`. The sources of every arm are in `benchmarks/` "
        "(`loops.py`: benchmarks 1–3, `rterms.py`: benchmark 4, `parallel.py`: benchmark 5, `gpu.py`: section 6 and "
        "the measured GPU section).\n"
    )
    return "\n".join(out).rstrip() + "\n"


def _speedup_section(speedup: dict[str, Any] | None) -> list[str]:
    out = ["## 5. Training a chapter's runs on 2 local workers vs 1\n"]
    text = (
        "`dispatch.train_pending(configs, workers=1)` (in-process, one torch thread, one run after another) against "
        "`workers=2` (two worker processes of one torch thread each, their start included), each into a fresh "
        "temporary run store. The configs are the robustness chapter's quick profile, `robustness.configs(...)`: "
        "runs of equal cost, so two workers can split them evenly (`benchmarks/parallel.py`). "
    )
    if not speedup:
        out.append(text + "**Not measured in this run** (`--skip-speedup`, or a results file from before this "
                   "section): `python benchmarks/run.py --only speedup` measures it and updates this page.\n")
        return out
    out.append(text + f"Here: {speedup['what']}; {speedup['usable_cores']} usable cores, load average "
               f"{speedup['load_average_start']} before and {speedup['load_average_end']} after.\n")
    w = [str(v) for v in speedup["workers"]]
    rows = [[f"{v} worker{'s' if v != '1' else ''}", f"{speedup['seconds'][v]:.1f}"] for v in w]
    out.append(_table(["arm", "seconds"], rows) + "\n")
    met = speedup["ratio"] >= speedup["target"]
    out.append(f"Speed-up: **{speedup['ratio']:.2f}×** (target ≥ {speedup['target']:g}× on 2 cores: "
               f"{'met' if met else 'not met'}).\n")
    return out


def _projection_section(proj: dict[str, Any] | None) -> list[str]:
    out = ["## 6. The paper profiles on a GPU: FLOPs and projected wall time\n"]
    if not proj:
        out.append("Not computed in this run: `python benchmarks/run.py --only projection` adds it.\n")
        return out
    out.append(
        "Each chapter's paper-profile runs are its own `configs(settings)` (what `compute` trains), listed as if "
        "every data set of the paper were present, deduplicated by the run store's hash. FLOPs per image are "
        "counted by `torch.utils.flop_counter.FlopCounterMode` (matmuls and convolutions) on the real network and "
        "input shape; a run costs its training images, the trainer's two evaluation passes per epoch (training and "
        "test set), and Section 4's penalty where tracked (two forwards and one input-gradient pass per class over "
        "its points, every epoch); the robustness chapter adds its FGSM/PGD attacks and Fig. 3's input gradients. "
        "Wall time = FLOPs / (peak × utilisation).\n"
    )
    rows = [[label, f"{v['train'] / 1e9:.2f}", f"{v['forward'] / 1e9:.2f}", f"{v['input_grad'] / 1e9:.2f}"]
            for label, v in proj["flops_per_image"].items()]
    out.append(_table(["network and input", "GFLOP / training image", "GFLOP / forward", "GFLOP / input gradient"],
                      rows) + "\n")
    names = list(proj["gpus"])
    rows = []
    for chapter, c in proj["chapters"].items():
        if c["flops"] is None:
            rows.append([chapter, "—", "—", *("—" for _ in names), c["note"]])
            continue
        rows.append([chapter, f"{c['flops'] / 1e15:,.0f}", f"{c['train_flops'] / c['flops']:.0%}",
                     *(f"{c['hours'][n]:.1f} h" for n in names), c["note"]])
    header = ["chapter", "PFLOP", "training share", *(f"{n} ({proj['gpus'][n]['utilisation']:.0%})" for n in names),
              "workload"]
    out.append(_table(header, rows) + "\n")
    out.append("Peaks: " + "; ".join(f"{n}: {g['peak']}" for n, g in proj["gpus"].items()) + ". "
               + proj["assumption"] + "\n")
    return out
