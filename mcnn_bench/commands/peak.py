"""``mcnn-bench peak``: this node's kernel peaks (GFLOP/s), measured once per thread setting and cached."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from benchmark.engines import check_engine

from . import UsageError, add_command


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "peak",
        run,
        help="this node's peak GFLOP/s for M-CNN's 5x5 convolution and a large matmul, fp32 and bf16",
        description="Time a 5x5 convolution shaped like M-CNN's pathway convolutions and a 2048x2048 matmul, in "
        "fp32 and (on CPUs with native bf16) bf16, with one worker's TensorFlow threads, and print "
        "the median GFLOP/s of each. Measured once per node and thread setting and cached in "
        "RESULTS/peaks/ (or $MCNN_PEAK_CACHE); every training run holds its GFLOP/s against it.",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=Path("results"),
        metavar="DIR",
        help="the results folder whose peaks/ holds the cache (default: %(default)s)",
    )
    parser.add_argument(
        "--intra-op-threads",
        type=int,
        metavar="N",
        help="TensorFlow intra-op threads (default: the cores this process may use, as a run with one worker per node)",
    )
    parser.add_argument(
        "--inter-op-threads",
        type=int,
        default=1,
        metavar="N",
        help="TensorFlow inter-op threads (default: %(default)s, as the trainer)",
    )
    parser.add_argument("--refresh", action="store_true", help="measure again even when cached")


def run(args: argparse.Namespace) -> int:
    """The peaks are TensorFlow's (the Horovod engine's kernels): refused (exit status 2, the engine registry's
    sentence) where the Horovod engine cannot run, once the flags are checked."""
    intra = len(os.sched_getaffinity(0)) if args.intra_op_threads is None else args.intra_op_threads
    if intra < 1 or args.inter_op_threads < 1:
        raise UsageError("--intra-op-threads and --inter-op-threads must be positive")
    check_engine("horovod")
    from benchmark.microbench.peak import cache_dir, cache_path, node_peaks, peak_table

    folder = cache_dir(args.results)
    peaks = node_peaks(folder, intra, args.inter_op_threads, refresh=args.refresh)
    print(
        f"{peaks.host} ({peaks.cpu_model}), TensorFlow {peaks.tensorflow}, {peaks.intra_op_threads} intra-op and "
        f"{peaks.inter_op_threads} inter-op threads, measured at {peaks.measured_at}"
    )
    print(peak_table(peaks))
    print(f"cached in {cache_path(folder, intra, args.inter_op_threads)}")
    return 0
