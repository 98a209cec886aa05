"""``mcnn-bench allreduce``: the allreduce of a model's gradients, or a sweep of tensor sizes, timed."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.models import MODELS

from . import add_command

#: Binary multiples a ``--sweep`` size may end with.
UNITS = {"K": 2**10, "M": 2**20, "G": 2**30}


def byte_size(text: str) -> int:
    """``1024``, ``1K``, ``4M`` or ``1G`` (binary multiples) as bytes, for ``argparse``.

    Raises:
        argparse.ArgumentTypeError: not such a size (argparse reports it, exit status 2).
    """
    try:
        return int(text[:-1]) * UNITS[text[-1].upper()] if text[-1:].upper() in UNITS else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size in bytes (1024, 1K, 4M, 1G): {text!r}") from None


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "allreduce",
        run,
        help="time the allreduce of a model's gradients (run it under horovodrun, mpirun or srun)",
        description="Every rank allreduces one float32 tensor per gradient of --model in ONE "
        "hvd.grouped_allreduce "
        "(Average) per iteration, as the trainer's step does; per iteration the slowest rank's "
        "time counts. Rank 0 writes the times, algorithm and bus bandwidth (NCCL-tests' "
        "definitions) as JSON and prints one line. `mcnn-bench predict --allreduce` fits them.",
    )
    parser.add_argument(
        "--model", choices=MODELS, default="mcnn", help="the model whose gradients are reduced (default: %(default)s)"
    )
    parser.add_argument(
        "--image-size",
        type=int,
        nargs=2,
        default=(1024, 1280),
        metavar=("H", "W"),
        help="the model's input, whose gradients are reduced (default: %(default)s)",
    )
    parser.add_argument("--channels", type=int, default=3, help="input channels (default: %(default)s)")
    parser.add_argument("--classes", type=int, default=13, help="classes (default: %(default)s)")
    parser.add_argument("--iterations", type=int, default=20, help="timed iterations (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed iterations first (default: %(default)s)")
    parser.add_argument(
        "--bytes-scale",
        type=float,
        default=1.0,
        help="shrink (or grow) every tensor to this fraction of its elements, flattened; "
        "the same number of tensors (default: %(default)s)",
    )
    parser.add_argument(
        "--sweep",
        type=byte_size,
        nargs=2,
        metavar=("MIN", "MAX"),
        help="instead of the model's gradients: one tensor of each size from MIN to MAX bytes, "
        "x4 apart (e.g. 1K 1G), as OSU and nccl-tests sweep; sizes of 64 MiB or more run 3 "
        "timed iterations",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="the JSON result (default: ./allreduce-w{workers}.json, ./allreduce-sweep-w{workers}.json with --sweep)",
    )


def run(args: argparse.Namespace) -> int:
    from benchmark.microbench.allreduce import run_allreduce, run_sweep, summary_line, sweep_table

    if args.sweep:
        smallest, largest = args.sweep
        result = run_sweep(smallest, largest, iterations=args.iterations, warmup=args.warmup, out=args.out)
    else:
        height, width = args.image_size
        result = run_allreduce(
            height,
            width,
            channels=args.channels,
            num_classes=args.classes,
            iterations=args.iterations,
            warmup=args.warmup,
            bytes_scale=args.bytes_scale,
            out=args.out,
            model=args.model,
        )
    if result is not None:  # rank 0
        print(sweep_table(result) if args.sweep else summary_line(result))
    return 0
