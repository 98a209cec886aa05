"""``mcnn-bench peak``: this node's kernel peaks (GFLOP/s), measured once per thread setting and cached."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from benchmark.engines import DEFAULT_ENGINE, DEVICES, ENGINES, check_engine, device_problem

from . import UsageError, add_command


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "peak",
        run,
        help="this node's peak GFLOP/s for M-CNN's 5x5 convolution and a large matmul, fp32 and bf16",
        description="Time a 5x5 convolution shaped like M-CNN's pathway convolutions and a 2048x2048 matmul, in "
        "fp32 and (on CPUs with native bf16) bf16, with one worker's threads in the framework of the "
        "engine (horovod: TensorFlow's tf.nn.conv2d and tf.linalg.matmul; ddp: PyTorch's channels-last "
        "conv2d and torch.matmul), and print the median GFLOP/s of each. With --device gpu, on the GPU "
        "(ddp: the first GPU PyTorch sees, TF32 allowed for fp32, bf16 where the GPU has it, at sizes a GPU needs). "
        "Measured once per node, thread setting, framework and GPU model and cached in RESULTS/peaks/ (or "
        "$MCNN_PEAK_CACHE); every training run holds its GFLOP/s against its engine's on its device.",
    )
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default=DEFAULT_ENGINE,
        help="the engine whose framework runs the kernels, as run.engine (default: %(default)s)",
    )
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default=DEVICES[0],
        help="where the kernels run, as run.device: the CPU, or a GPU (engines that train on GPUs) "
        "(default: %(default)s)",
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
        help="the framework's intra-op threads (default: the cores this process may use, as a run with one worker "
        "per node)",
    )
    parser.add_argument(
        "--inter-op-threads",
        type=int,
        default=1,
        metavar="N",
        help="the framework's inter-op threads (default: %(default)s, as the trainer)",
    )
    parser.add_argument("--refresh", action="store_true", help="measure again even when cached")


def run(args: argparse.Namespace) -> int:
    """Refused (exit status 2, the engine registry's sentence) where ``--engine``'s framework cannot run, once the
    flags are checked."""
    intra = len(os.sched_getaffinity(0)) if args.intra_op_threads is None else args.intra_op_threads
    if intra < 1 or args.inter_op_threads < 1:
        raise UsageError("--intra-op-threads and --inter-op-threads must be positive")
    problem = device_problem(args.engine, args.device)
    if problem is not None:
        raise UsageError(f"--device {args.device}: {problem.removeprefix('run.device: ')}")
    check_engine(args.engine)
    from benchmark.microbench.peak import cache_dir, cache_path, node_peaks, peak_table

    folder = cache_dir(args.results)
    peaks = node_peaks(
        folder, intra, args.inter_op_threads, refresh=args.refresh, engine=args.engine, device=args.device
    )
    where = f"{peaks.cpu_model}" + ("" if peaks.gpu is None else f"; GPU {peaks.gpu}, TF32 {peaks.tf32}")
    print(
        f"{peaks.host} ({where}), {peaks.framework} {peaks.framework_version}, {peaks.intra_op_threads} "
        f"intra-op and {peaks.inter_op_threads} inter-op threads, measured at {peaks.measured_at}"
    )
    print(peak_table(peaks))
    print(f"cached in {cache_path(folder, intra, args.inter_op_threads, args.engine, args.device)}")
    return 0
