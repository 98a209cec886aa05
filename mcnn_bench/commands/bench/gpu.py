"""``mcnn-bench bench gpu``: one GPU checked in a few minutes (:mod:`benchmark.microbench.gpu`)."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from .. import add_command


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "gpu",
        run,
        help="one GPU checked in minutes: M-CNN images/s, peak GPU memory and fraction of the GPU's peak, bf16",
        description="Train M-CNN on synthetic data on one GPU with the DDP engine, bf16, as two short `mcnn-bench "
        "train` runs (1024x1280 at local batch 32, 768x768 at 64; 5 warm-up and 20 timed steps each), and print "
        "per shape the images/s, the peak GPU memory, the training GFLOP/s and its fraction of the GPU's measured "
        "5x5-convolution peak, from the runs' records, with the GPU and its driver. A few minutes on an H100. "
        "Where PyTorch sees no GPU it stops at once (exit status 2) saying what it sees.",
    )
    parser.add_argument(
        "--results",
        type=Path,
        metavar="DIR",
        help="keep the runs (records, logs, the GPU's cached peak) in DIR/gpu-check/ (default: a temporary folder, "
        "removed afterwards)",
    )


def run(args: argparse.Namespace) -> int:
    """Exit status 2 where the DDP engine cannot run or PyTorch sees no GPU (``EngineUnavailable``,
    ``DeviceUnavailable``), before any run; 1 when a run failed (its reason and output's end on stderr)."""
    from benchmark.microbench.gpu import GpuCheckFailed, gpu_name, report, run_check

    print(f"GPU check on {gpu_name()}", flush=True)
    folder = args.results or Path(tempfile.mkdtemp(prefix="mcnn-gpu-check-"))
    try:
        done = run_check(folder, progress=lambda line: print(line, flush=True))
    except GpuCheckFailed as exc:
        print(f"{args.prog}: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.results is None:
            shutil.rmtree(folder, ignore_errors=True)
    print(report(done))
    if args.results is not None:
        print(f"records in {args.results / 'gpu-check'}")
    return 0
