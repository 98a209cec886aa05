"""``mcnn-bench accept``: PASS/FAIL of a sweep's figures against a system's reference file."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import UsageError, add_command
from .history import record_runs


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "accept",
        run,
        help="PASS/FAIL of a sweep's figures against a system's reference file",
        description="Hold each run shape's median figures (over its completed repeats) against a reference "
        "file: PASS inside the bounds (or beyond them on the good side), FAIL outside on the bad "
        "side, MISSING without a completed run (the note says why: no record, a record that cannot be read, "
        "a failed or skipped run, the figure absent); UNSTABLE when the repeats spread wider than the "
        "tolerance band. A fleet sweep (grid.each_node, grid.nodes_list) is accepted node by node, against the "
        "reference and against the fleet: a node whose modified z-score |M| = |0.6745 (value - median) / MAD| "
        "exceeds 3.5 and that lies more than the minimum difference from the fleet's median is an OUTLIER, "
        "with how far and on which side (Iglewicz and Hoaglin 1993). Writes acceptance.md, acceptance.json "
        "and acceptance.xml (JUnit; a fleet's: a test case per node and figure), and a fleet's figure per "
        "shape, fleet-SHAPE.png, and adds the completed runs, with the reference's system, to "
        "RESULTS_DIR/history.sqlite. Exit status 0 when every figure passes, 1 when any fails or is missing or "
        "a node is an OUTLIER on the bad side, 2 on bad input.",
    )
    parser.add_argument("sweep_dir", type=Path, metavar="SWEEP_DIR", help="RESULTS_DIR/SWEEP_NAME")
    parser.add_argument(
        "--reference",
        type=Path,
        required=True,
        help="the system's reference file (TOML); the suite ships analysis/references/",
    )
    parser.add_argument("--out", type=Path, help="where the reports go (default: SWEEP_DIR)")
    parser.add_argument(
        "--min-difference",
        type=float,
        metavar="FRACTION",
        help="a fleet's node is an OUTLIER only if it also lies more than this fraction from the fleet's median "
        "(default: 0.02, analysis.fleet.MIN_DIFFERENCE; 0: the modified z-score alone)",
    )


def run(args: argparse.Namespace) -> int:
    """Exit status 0 when every figure passes, 1 when any fails or is missing, or a fleet's node is an OUTLIER on
    the bad side (the verdict)."""
    from analysis.acceptance import markdown, report, write_report
    from analysis.fleet import MIN_DIFFERENCE
    from analysis.history import add
    from analysis.records import load_records
    from analysis.reference import load_reference

    min_difference = MIN_DIFFERENCE if args.min_difference is None else args.min_difference
    if min_difference < 0:
        raise UsageError(f"--min-difference must be >= 0, got {min_difference}")
    reference = load_reference(args.reference)
    loaded = load_records(args.sweep_dir)
    found = report(args.sweep_dir, reference, min_difference, loaded)
    paths = write_report(found, args.out or args.sweep_dir)
    print(markdown(found))
    print("written: " + ", ".join(map(str, paths)))
    record_runs(lambda: add(args.sweep_dir, loaded.runs, loaded.problems, reference.system), args.prog)
    return 0 if found.passed else 1
