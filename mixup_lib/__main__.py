"""Command line: ``python -m mixup_lib train …``, ``download <name>``, ``sweep <chapter>`` and ``compute <chapter>``.

Example (the paper's optimizer: SGD, batch 64, momentum 0.9, lr 0.1; the rest are our documented defaults)::

    python -m mixup_lib train --dataset fashion_mnist --model wrn-16-2 --method mixup --alpha 1 \\
        --epochs 5 --n-train 10000

Every bad input prints one line ``error: …`` on stderr and exits with code 2, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from mixup_lib.errors import ConfigError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``error: …``) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message} (see '{self.prog} --help')\n")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show ``(default: …)`` only where there is a real default (not None, False or [])."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if (
            action.default is None
            or action.default is False
            or action.default == []
            or action.default is argparse.SUPPRESS
        ):
            return action.help or ""
        return super()._get_help_string(action)


def _model_kwarg(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = {"True": True, "False": False, "None": None}.get(value, value)
    return key, parsed


def _folder_or_unset(text: str) -> str | None:
    """A folder flag's value; an empty one (``--runs-dir ""``, e.g. from an unset shell variable) means unset,
    i.e. the default folder, as an empty ``$MIXUP_RUNS`` does, never the current folder."""
    return text or None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (``train`` and ``download`` subcommands)."""
    from mixup_lib import train

    d = train.default_config()
    parser = _Parser(
        prog="python -m mixup_lib",
        description="Companion to Zhang et al., 'How Does Mixup Help With Robustness and Generalization?' "
        "(ICLR 2021): train and cache models, fetch data sets.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    t = sub.add_parser(
        "train",
        help="train a model with ERM or mixup (or return the finished run from the store)",
        description="Train one config with the run store: a finished run is returned at once, an interrupted one "
        "resumes from its last checkpoint. The paper states SGD, batch 64, momentum 0.9, lr 0.1; epochs, schedule, "
        "weight decay and augmentation are not stated, and the defaults below are this library's choices.",
        formatter_class=_Formatter,
    )
    t.add_argument("--dataset", required=True, help="two_moons, svhn, cifar10, cifar100, fashion_mnist or kmnist")
    t.add_argument("--model", required=True, help="wrn-<depth>-<k>, preact-resnet18, logreg or two-layer-relu")
    t.add_argument(
        "--model-kwarg",
        action="append",
        type=_model_kwarg,
        default=[],
        metavar="KEY=VALUE",
        help="extra model keyword, repeatable (e.g. width=32, hidden=100, dropout=0.3)",
    )
    t.add_argument("--method", default=d["method"], help="erm or mixup")
    t.add_argument("--alpha", type=float, default=d["alpha"], help="mixup's λ ~ Beta(α, α) (ignored by erm)")
    t.add_argument("--mix-mode", default=d["mix_mode"], help="batch (one λ per batch) or sample")
    t.add_argument("--epochs", type=int, required=True, help="number of epochs (not stated in the paper)")
    t.add_argument("--batch-size", type=int, default=d["batch_size"], help="mini-batch size (paper: 64)")
    t.add_argument("--lr", type=float, default=d["lr"], help="peak learning rate (paper: 0.1)")
    t.add_argument("--momentum", type=float, default=d["momentum"], help="SGD momentum (paper: 0.9)")
    t.add_argument("--weight-decay", type=float, default=d["weight_decay"], help="weight decay (not stated)")
    t.add_argument("--schedule", default=d["schedule"], help="onecycle, cosine or constant (not stated)")
    t.add_argument(
        "--warmup-fraction", type=float, default=None, help="linear warm-up share of steps (default: 0.2 for onecycle)"
    )
    t.add_argument("--seed", type=int, default=d["seed"], help="seed for init, batch order, augmentation, mixing")
    t.add_argument("--n-train", type=int, default=None, help="training subset size (default: all)")
    t.add_argument("--n-test", type=int, default=None, help="test subset size (default: all)")
    t.add_argument("--data-seed", type=int, default=d["data_seed"], help="seed for the subsets")
    t.add_argument("--noise", type=float, default=None, help="two moons noise (default 0.1)")
    t.add_argument(
        "--augment", action="store_true", help="apply the data set's standard crop/flip augmentation (not stated)"
    )
    t.add_argument(
        "--eval-batch-size",
        type=int,
        default=d["eval_batch_size"],
        help="evaluation batch size (default: 256 on the CPU, 1024 on a GPU)",
    )
    t.add_argument("--device", default=d["device"], help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:<i> or mps")
    t.add_argument(
        "--name",
        default=d["name"],
        help=f"label of the run directory <name>-<hash>: letters, digits, '-', '_', '.'; "
        f"at most {train.MAX_NAME_BYTES} bytes",
    )
    t.add_argument(
        "--runs-dir",
        type=_folder_or_unset,
        default=None,
        help="run store (default, also when empty: $MIXUP_RUNS or ./runs)",
    )
    t.add_argument(
        "--results-dir",
        type=_folder_or_unset,
        default=None,
        help="committed results (default, also when empty: $MIXUP_RESULTS or <repo>/results)",
    )
    t.add_argument("--no-progress", action="store_true", help="no progress bar or per-epoch lines")

    dl = sub.add_parser("download", help="fetch a data set's files into the data folder (needs internet)")
    dl.add_argument("name", help="two_moons, svhn, cifar10, cifar100, fashion_mnist or kmnist")
    dl.add_argument(
        "--root",
        type=_folder_or_unset,
        default=None,
        help="data root (default, also when empty: $MIXUP_DATA or ./data)",
    )
    from mixup_lib import dispatch

    dispatch.add_sweep_arguments(sub.add_parser(
        "sweep", help="train a chapter's runs: SLURM job array, local worker pool or in-process",
        formatter_class=_Formatter))
    _add_compute_arguments(sub.add_parser(
        "compute", help="a chapter's results object (JSON): committed, cached, or computed now",
        formatter_class=_Formatter))
    return parser


def _add_compute_arguments(parser: argparse.ArgumentParser) -> None:
    from mixup_lib import dispatch

    parser.add_argument("chapter", help="approximation, robustness or generalization")
    dispatch.add_settings_arguments(parser)
    parser.add_argument("--out", default=None, help="also write the results object to this file (e.g. to commit it "
                        "under results/<chapter>/)")
    parser.add_argument("--recompute", action="store_true", help="compute even if committed or cached results exist")
    parser.add_argument("--workers", type=int, default=None, help="training processes (default: usable cores)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--runs-dir", type=_folder_or_unset, default=None,
                        help="run store (default, also when empty: $MIXUP_RUNS or ./runs)")


def config_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The run config described by the parsed ``train`` arguments."""
    config = {
        "name": args.name,
        "dataset": args.dataset,
        "model": args.model,
        "model_kwargs": dict(args.model_kwarg),
        "method": args.method,
        "alpha": args.alpha,
        "mix_mode": args.mix_mode,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "momentum": args.momentum,
        "weight_decay": args.weight_decay,
        "schedule": args.schedule,
        "warmup_fraction": args.warmup_fraction,
        "seed": args.seed,
        "n_train": args.n_train,
        "n_test": args.n_test,
        "augment": args.augment,
        "data_seed": args.data_seed,
        "data_kwargs": {} if args.noise is None else {"noise": args.noise},
        "eval_batch_size": args.eval_batch_size,
        "device": args.device,
    }
    return config


_SOURCE_WORDS = {"trained": "trained", "resumed": "resumed", "store": "from store", "results": "from results/"}


def _train(args: argparse.Namespace) -> int:
    from mixup_lib import runs

    run = runs.get_or_train(
        config_from_args(args), runs_dir=args.runs_dir, results_dir=args.results_dir, progress=not args.no_progress
    )
    final = run.final
    print(f"run: {run.path}")
    print(
        f"test accuracy {final['test_acc']:.4f}, wall time {final['wall_time_s']:.1f} s "
        f"({_SOURCE_WORDS.get(run.source, run.source)})"
    )
    return 0


def _compute(args: argparse.Namespace) -> int:
    from mixup_lib import dispatch, profiles, results

    overrides = {name: dispatch._param_value(value) for name, value in args.param}
    settings = profiles.resolve(args.chapter, args.profile, **overrides)
    found, path = results.obtain(args.chapter, settings, runs_dir=args.runs_dir, recompute=args.recompute,
                                 workers=args.workers, device=args.device)
    print(f"results: {path}")
    if args.out is not None:
        print(f"results: written to {results.save(found, args.out)}")
    return 0


def _download(args: argparse.Namespace) -> int:
    from mixup_lib import data

    path = data.download_dataset(args.name, root=args.root)
    print(f"{args.name}: files in {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (2 for bad input, with a one-line ``error: …`` on stderr)."""
    from mixup_lib import dispatch
    from mixup_lib.data import DatasetUnavailable
    from mixup_lib.runs import RunError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a usage error (2): return the code instead of exiting
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    try:
        if args.command == "sweep":
            return dispatch.run_sweep(args)
        if args.command == "compute":
            return _compute(args)
        return _train(args) if args.command == "train" else _download(args)
    except (ConfigError, DatasetUnavailable, RunError, dispatch.SubmissionError, TimeoutError) as err:
        # RunError covers the results store's StaleResultsError and a failed run of a chapter's compute
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume from the last finished epoch", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
