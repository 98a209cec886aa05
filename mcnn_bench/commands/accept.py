"""``mcnn-bench accept``: PASS/FAIL of a sweep's figures against a system's reference file."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import add_command
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
        "a failed run, the figure absent); UNSTABLE when the repeats spread wider than the "
        "tolerance band. Writes acceptance.md, acceptance.json and acceptance.xml (JUnit), and adds the completed "
        "runs, with the reference's system, to RESULTS_DIR/history.sqlite. Exit "
        "status 0 when every figure passes, 1 when any fails or is missing, 2 on bad input.",
    )
    parser.add_argument("sweep_dir", type=Path, metavar="SWEEP_DIR", help="RESULTS_DIR/SWEEP_NAME")
    parser.add_argument(
        "--reference",
        type=Path,
        required=True,
        help="the system's reference file (TOML); the suite ships analysis/references/",
    )
    parser.add_argument("--out", type=Path, help="where the reports go (default: SWEEP_DIR)")


def run(args: argparse.Namespace) -> int:
    """Exit status 0 when every figure passes, 1 when any fails or is missing (the verdict)."""
    from analysis.acceptance import accept, markdown, passed, write_report
    from analysis.history import add
    from analysis.records import load_records
    from analysis.reference import load_reference

    reference = load_reference(args.reference)
    loaded = load_records(args.sweep_dir)
    checks = accept(args.sweep_dir, reference, loaded)
    paths = write_report(checks, reference.system, args.sweep_dir, args.out or args.sweep_dir)
    print(markdown(checks, reference.system, args.sweep_dir))
    print("written: " + ", ".join(map(str, paths)))
    record_runs(lambda: add(args.sweep_dir, loaded.runs, loaded.problems, reference.system), args.prog)
    return 0 if passed(checks) else 1
