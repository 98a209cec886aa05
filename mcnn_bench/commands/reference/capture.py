"""``mcnn-bench reference capture``: a reference file from a known-good sweep."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import add_command


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "capture",
        run,
        help="write a reference file from a known-good sweep",
        description="Write a reference file from a known-good sweep: per shape and figure the median of the "
        "repeats, with bounds the wider of --tolerance and the repeats' own spread. Without --out, "
        "the file is SYSTEM.toml (the --system name) in the current folder.",
    )
    parser.add_argument(
        "sweep_dir", type=Path, metavar="SWEEP_DIR", help="RESULTS_DIR/SWEEP_NAME of the known-good sweep"
    )
    parser.add_argument("--system", required=True, help="the system's name (a plain name)")
    parser.add_argument(
        "--tolerance", type=float, default=0.1, help="bound as a fraction of each value (default: %(default)s)"
    )
    parser.add_argument("--description", help="a line describing the system")
    parser.add_argument("--out", type=Path, help="the file to write (default: SYSTEM.toml in the current folder)")


def run(args: argparse.Namespace) -> int:
    from analysis.acceptance import capture
    from analysis.reference import write_reference

    reference = capture(args.sweep_dir, args.system, args.tolerance, args.description)
    out = args.out or Path(f"{args.system}.toml")
    header = (
        f"# Captured by `mcnn-bench reference capture {args.sweep_dir} --system {args.system} "
        f"--tolerance {args.tolerance}`:\n# each value is the median of the repeats; each bound the wider "
        "of the tolerance and the repeats' spread.\n\n"
    )
    print(f"reference of {len(reference.shape)} shape(s) written to {write_reference(reference, out, header)}")
    return 0
