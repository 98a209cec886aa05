"""``mcnn-bench bench analyze``: ``mcnn-bench analyze`` timed over generated run records."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import UsageError, add_command


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "analyze",
        run,
        help="time `mcnn-bench analyze` over 100, 1,000 and 10,000 generated run records",
        description="Write N valid run records varied from one template (sweep names, nodes, workers per node, "
        "local batch, epochs, images/s, peak RSS; about 3 % failed runs) and time `analyze` over "
        "them: one line per N with the seconds to load, build the tables, draw the summary plots and "
        "the per-sweep curves, write the HTML report (and its size), the total, and the files written with their "
        "bytes.",
    )
    parser.add_argument(
        "--records",
        type=int,
        nargs="+",
        default=[100, 1_000, 10_000],
        metavar="N",
        help="record counts to time (default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="where the records (records-N/, kept and reused) and the analyses (analysis-N/) "
        "go (default: a new temporary folder)",
    )
    parser.add_argument(
        "--template",
        type=Path,
        metavar="RECORD",
        help="a real record.json (a completed run with epochs) to copy (default: a complete "
        "record built with the record model)",
    )
    parser.add_argument(
        "--per-run-curves", action="store_true", help="time `analyze --per-run-curves` (one PNG per run too)"
    )
    parser.add_argument("--jobs", type=int, metavar="N", help="processes (default: the usable CPUs, at most 8)")


def run(args: argparse.Namespace) -> int:
    if any(n < 1 for n in args.records) or (args.jobs is not None and args.jobs < 1):
        raise UsageError("--records and --jobs must be positive")
    from analysis.bench import bench_analyze, load_template

    template = load_template(args.template) if args.template else None
    bench_analyze(args.records, args.out, template, per_run_curves=args.per_run_curves, jobs=args.jobs)
    return 0
