"""``mcnn-bench status``: every run of a sweep, read from its folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import add_command


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "status",
        run,
        help="show each run of a sweep: state, job id, elapsed, reason",
        description="Show every run of a sweep (pending with SLURM's reason, running, completed, failed with "
        "its reason, skipped with its node's state and reason (a fleet sweep's node that could not take a job), "
        "and stale runs with the settings that changed). Reads only: the sweep driver records ended jobs.",
    )
    parser.add_argument("sweep_dir", type=Path, metavar="SWEEP_DIR", help="RESULTS_DIR/SWEEP_NAME")


def run(args: argparse.Namespace) -> int:
    from slurm.display import format_status
    from slurm.sweep import sweep_status

    print(format_status(sweep_status(args.sweep_dir)))
    return 0
