"""``mcnn-bench report``: the HTML report of a results folder, one self-contained page."""

from __future__ import annotations

import argparse

from . import add_command
from .analyze import add_analysis_arguments


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "report",
        run,
        help="write the HTML report of a results folder (report.html: one page, figures embedded)",
        description="Analyse every record.json under RESULTS_DIR as mcnn-bench analyze does and write "
        "report.html beside the tables and figures: one self-contained page (figures embedded, no scripts, "
        "no network) with a summary (sweeps, runs completed and failed with their reasons, the best images/s "
        "and TTT per workload), Table 1, scaling and efficiency, memory against the analytic bound, the step "
        "breakdown, the engines side by side, the learning curves, the paper comparison (--compare paper), "
        "each sweep's acceptance verdict when mcnn-bench accept ran on it (failures first) and the provenance "
        "of each sweep. Run it again after accept to add the verdict.",
    )
    add_analysis_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from analysis.report import analyze, skipped_summary

    outputs = analyze(args.results_dir, args.out, compare=args.compare, jobs=args.jobs)
    runs = len(outputs.table1)
    print(
        f"report: {outputs.report} ({outputs.report.stat().st_size / 2**20:.1f} MiB, {runs} run"
        f"{'s' if runs != 1 else ''}, {sum(outputs.seconds.values()):.1f} s)"
    )
    print(skipped_summary(outputs.problems))
    return 0
