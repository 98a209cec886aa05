"""``mcnn-bench bench input``: the training input pipeline alone (:mod:`benchmark.microbench.input`)."""

from __future__ import annotations

import argparse
import sys

from benchmark.engines import check_engine
from benchmark.microbench.input import add_arguments

from .. import add_command


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "input",
        run,
        help="the training input pipeline alone (bbbc021 TIFFs): images/s serial and parallel, per core",
        description="Run the training input pipeline of the bbbc021 source alone (variants none and dataset-a) "
        "and print its images/s with serial reading and with the parallel path on 1 and 2 cores, "
        "and the cores per node it needs to feed the paper's 30 images/s per node. Compare with "
        "the training step's images/s: the pipeline must deliver at least 3x that. --engine ddp measures the "
        "PyTorch input path of the DDP engine instead of the tf.data one.",
    )
    add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Exit status 1 when a measurement's process failed (its stderr's end is printed); an engine that cannot
    run here is refused first (exit status 2, the engine registry's sentence)."""
    from benchmark.microbench.input import run_bench

    check_engine(args.engine)

    try:
        run_bench(
            data_dir=args.data_dir,
            tables=args.tables,
            size=tuple(args.size),
            fields_per_class=args.fields_per_class,
            variants=args.variants,
            batch_size=args.batch_size,
            warmup=args.warmup,
            batches=args.batches,
            cores=args.cores,
            val_fraction=args.val_fraction,
            seed=args.seed,
            target=args.target,
            train_rate=args.train_rate,
            engine=args.engine,
        )
    except RuntimeError as exc:  # a failed measurement, as a failed run
        print(f"{args.prog}: {exc}", file=sys.stderr)
        return 1
    return 0
