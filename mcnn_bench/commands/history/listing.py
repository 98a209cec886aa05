"""``mcnn-bench history list``: the history's runs and figures, filtered, as a table or one figure's time series."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import UsageError, add_command


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "list",
        run,
        help="list or plot the history's figures over time, filtered",
        description="List RESULTS/history.sqlite's rows, one per run and figure, oldest first, as a table that fits "
        "120 terminal columns (finished, system, shape, sweep/run, figure, value, unit, commit), then the "
        "records the history could not read (path and reason). Every filter given must match. --plot draws one "
        "figure's values against the time each run finished, a line per shape.",
    )
    parser.add_argument("results_dir", type=Path, metavar="RESULTS_DIR", help="the results folder of the history")
    parser.add_argument("--system", help="runs on this host, or accepted against this reference system")
    parser.add_argument("--shape", help="runs whose shape's name holds this text (n1-w2-b8, 64x64, ddp)")
    parser.add_argument(
        "--figure", help="this figure only: images_per_second, ttt_seconds, best_val_top1 ... (acceptance's names)"
    )
    parser.add_argument("--since", metavar="DATE", help="runs finished at or after DATE (ISO 8601, UTC by default)")
    parser.add_argument("--until", metavar="DATE", help="runs finished at or before DATE (a date: to its end)")
    parser.add_argument(
        "--limit", type=int, default=200, metavar="N", help="print the N newest rows (0: all; default %(default)s)"
    )
    parser.add_argument(
        "--plot", type=Path, metavar="OUT.png", help="draw --figure's values over time, a line per shape, to OUT.png"
    )


def run(args: argparse.Namespace) -> int:
    """Exit status 0; 2 when there is no history, or --plot without --figure."""
    from analysis.history import format_rows, plot, problems, query

    if args.plot and not args.figure:
        raise UsageError("--plot draws one figure: give --figure too")
    if args.limit < 0:
        raise UsageError(f"--limit must be 0 or more, got {args.limit}")
    rows = query(args.results_dir, args.system, args.shape, args.figure, args.since, args.until)
    shown = rows.tail(args.limit) if args.limit else rows
    if rows.empty:
        print("no run of the history matches")
    else:
        print(format_rows(shown))
        if len(shown) < len(rows):
            print(f"... {len(rows) - len(shown)} older row(s) not shown (--limit 0 shows all)")
    unreadable = problems(args.results_dir)
    if unreadable:
        print(f"{len(unreadable)} record(s) could not be read (not in the history):")
        for path, reason in unreadable:
            print(f"  {path}: {reason}")
    if args.plot:
        print(f"written: {plot(rows, args.figure, args.plot)}")
    return 0
