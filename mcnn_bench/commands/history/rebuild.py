"""``mcnn-bench history rebuild``: the history recreated from the records of its results folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import add_command


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "rebuild",
        run,
        help="recreate RESULTS/history.sqlite from the records",
        description="Recreate RESULTS/history.sqlite from every record under RESULTS: a new file moved over the "
        "old one, keeping the reference systems `accept` gave runs. Lists the records that could not be read "
        "(path and reason). Runs whose records were replaced by a re-run (kept only in RUN/attempts/) are not "
        "recreated.",
    )
    parser.add_argument("results_dir", type=Path, metavar="RESULTS_DIR", help="the results folder")


def run(args: argparse.Namespace) -> int:
    from analysis.history import rebuild

    added = rebuild(args.results_dir)
    print(f"history rebuilt: {added.path}: {added.added} completed run(s)")
    for path, reason in added.problems:
        print(f"  could not be read: {path}: {' '.join(reason.split())}")
    return 0
