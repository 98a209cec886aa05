"""``mcnn-bench``: the suite's one command, with a subcommand per task."""
from __future__ import annotations

import argparse
import os
import sys

# TensorFlow's C++ start-up notices drown the progress lines; warnings and errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def cmd_train(args: argparse.Namespace) -> int:
    from benchmark.config import config_from_args
    from benchmark.train import run_training

    try:
        config = config_from_args(args)
    except ValueError as exc:
        raise SystemExit(f"mcnn-bench train: error: {exc}") from None
    record = run_training(config)
    if record is not None:
        tp, ttt = record["throughput"], record["time_to_train"]
        last = record["epochs"][-1]
        print(f"run {record['run_id']}: {tp['images_per_second']:.2f} images/s over {tp['timed_steps']} timed "
              f"steps x {record['topology']['workers']} workers; last epoch top-1 {last.get('val_top1')}; "
              f"TTT {ttt['seconds']} s ({ttt['reason'] or 'reached'})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``mcnn-bench`` and its subcommands."""
    from benchmark.config import add_train_arguments

    parser = argparse.ArgumentParser(
        prog="mcnn-bench",
        description="Benchmark data-parallel M-CNN training (Datta et al. 2019) with Horovod, on one "
                    "machine or through SLURM, and rebuild the paper's tables and plots.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train = sub.add_parser(
        "train", help="run one training run (what every Horovod worker executes)",
        description="Train M-CNN as one Horovod worker. Run it under horovodrun, mpirun or srun for "
                    "several workers; rank 0 writes RESULTS/SWEEP/RUN_ID/record.json.",
    )
    add_train_arguments(train)
    train.set_defaults(func=cmd_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mcnn-bench`` console command."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
