"""``mcnn-bench bench overhead``: the trainer against a bare loop of the same model, as fresh processes."""

from __future__ import annotations

import argparse

from benchmark.engines import check_engine
from benchmark.models import MODELS
from benchmark.util.allocator import ALLOCATORS

from .. import add_command


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "overhead",
        run,
        help="the trainer's images/s and peak RSS against a bare loop of the same model",
        description="Run `mcnn-bench train` on synthetic data and a bare tf.function loop of the same model, "
        "shape, batch, threads, loss and optimizer, as fresh processes, interleaved; print the "
        "medians, the overhead (bare / suite images/s - 1) and the memory ratio.",
    )
    parser.add_argument(
        "--model", choices=MODELS, default="mcnn", help="the model both sides train (default: %(default)s)"
    )
    parser.add_argument(
        "--image-size",
        type=int,
        nargs=2,
        default=(256, 320),
        metavar=("H", "W"),
        help="the model's input (default: %(default)s)",
    )
    parser.add_argument("--batch-size", type=int, default=8, help="local batch (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=30, help="timed steps (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=3, help="steps before the timed ones (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved pairs (default: %(default)s)")
    parser.add_argument("--threads", type=int, help="intra-op threads (default: the cores)")
    parser.add_argument(
        "--allocator",
        choices=ALLOCATORS,
        default="system",
        help="malloc of both sides: glibc's, or jemalloc or tcmalloc preloaded (default: %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    """Bad settings (``SettingsError``), a missing allocator library (``AllocatorError``) and, where the Horovod
    engine (whose trainer and ``tf.function`` loop are compared) cannot run, the engine registry's sentence
    (``EngineUnavailable``) are raised, in that order, before the first run."""
    from benchmark.microbench.overhead import compare, overhead_config, report
    from benchmark.util.allocator import library_path

    height, width = args.image_size
    config = overhead_config(
        height, width, args.batch_size, args.steps, args.warmup, args.threads, args.allocator, args.model
    )
    if args.allocator != "system":
        library_path(args.allocator)  # a missing library fails here, not inside the first run
    check_engine("horovod")
    print(report(config, compare(config, args.repeats), args.repeats))
    return 0
