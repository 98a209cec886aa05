"""``mcnn-bench compare``: two sweeps compared shape by shape and figure by figure, with a verdict that says whether
a difference is real (:mod:`analysis.sweep_compare`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import add_command


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "compare",
        run,
        help="compare two sweeps: faster, slower or no detectable change, per shape and figure",
        description="Compare sweep B with sweep A (before and after an update, say), per run shape both ran and "
        "figure: the repeats' medians, B/A with a percentile bootstrap interval, a two-sided Mann-Whitney U test "
        "and the change at p < LEVEL in the figure's direction (faster, slower, better, worse, no detectable "
        "change; too few repeats where no test could reach p < LEVEL: fewer than 4 a side at 0.05). Time to train "
        "also as MLPerf's olympic mean from 5 repeats. Writes compare.md, compare.json and compare.xml (JUnit). "
        "Exit status 0, 1 when a figure is significantly worse by more than the tolerance, 2 on bad input.",
    )
    parser.add_argument("sweep_a", type=Path, metavar="SWEEP_A", help="RESULTS_DIR/SWEEP_NAME: the baseline")
    parser.add_argument("sweep_b", type=Path, metavar="SWEEP_B", help="RESULTS_DIR/SWEEP_NAME: the sweep compared")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.05,
        help="a significant change worse than this fraction fails (default: %(default)s)",
    )
    parser.add_argument(
        "--level", type=float, default=0.05, help="the test's significance level (default: %(default)s)"
    )
    parser.add_argument("--out", type=Path, help="where the reports go (default: SWEEP_B)")


def run(args: argparse.Namespace) -> int:
    """Exit status 0, or 1 when a figure is worse, significantly, by more than the tolerance."""
    from analysis.sweep_compare import compare_sweeps, markdown, write_report

    result = compare_sweeps(args.sweep_a, args.sweep_b, args.tolerance, args.level)
    paths = write_report(result, args.out or args.sweep_b)
    print(markdown(result))
    print("written: " + ", ".join(map(str, paths)))
    return 0 if result.passed else 1
