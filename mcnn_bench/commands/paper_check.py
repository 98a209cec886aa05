"""``mcnn-bench paper-check``: the published numbers of both studies checked against themselves, and Wilson et
al.'s Table I against the official ChestX-ray14 label table (:func:`analysis.papers.consistency.report`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import UsageError, add_command


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "paper-check",
        run,
        help="check the published numbers of both papers against themselves and the label table",
        description="Recompute what Datta et al. 2019 (Table 1, the text, the slides, the news item) and Wilson "
        "et al. (Table I, the text) print from their own numbers (analysis/papers/consistency.py): per "
        "Table 1 row TTT against epochs x images per epoch / images/s and the global batch against "
        "min(128 x nodes, 2048); the speedups and ratios the text quotes against the table; Table I's "
        "percentages. Lists every check that disagrees, with its size, and the contradictions kept in "
        "analysis/papers. With --chestxray14, also Table I beside the counts of the official label table.",
    )
    parser.add_argument(
        "--chestxray14",
        type=Path,
        metavar="DIR",
        help="a folder holding Data_Entry_2017_v2020.csv(.gz): recount Table I from it",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=5.0,
        metavar="PERCENT",
        help="how far a rounded figure may be from its recomputation (default: %(default)s %%)",
    )
    parser.add_argument("--out", type=Path, metavar="DIR", help="also write paper_checks.md and paper_checks.csv here")


def run(args: argparse.Namespace) -> int:
    from analysis.papers.consistency import report, write_report

    if not args.tolerance >= 0:
        raise UsageError(f"--tolerance must be 0 or more, got {args.tolerance}")
    _, text = report(args.chestxray14, args.tolerance)
    print(text, end="")
    if args.out:
        paths = write_report(args.out, args.chestxray14, args.tolerance)
        print("written: " + ", ".join(map(str, paths)))
    return 0
