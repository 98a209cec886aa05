"""``mcnn-bench analyze``: the paper's tables and figures rebuilt from run records."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import add_command
from .history import record_runs


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "analyze",
        run,
        help="rebuild the paper's tables and figures from run records",
        description="Load every record.json under RESULTS_DIR (one that cannot be used, malformed, unreadable, "
        "not a file or larger than 16 MiB, is skipped and counted with its reason) and "
        "write Table 1 (CSV and Markdown), the scaling and memory tables, throughput and "
        "scaling-efficiency plots, the paper's Figs. 2, 5, 7, 8, 9 and 10 with its published points, "
        "and each sweep's top-1 / learning-rate curves (curves/SWEEP.png, one cell per run), then the "
        "HTML report of them all (report.html, as mcnn-bench report writes it). A figure no run can feed is "
        "listed as not drawn, with the reason. Legends and figure sizes stay bounded at any number of runs. "
        "Prints Table 1 to fit a 120-column terminal (table1.md has every column) and where the report is. "
        "The completed runs are added to RESULTS_DIR/history.sqlite (`mcnn-bench history`).",
    )
    add_analysis_arguments(parser)
    parser.add_argument(
        "--per-run-curves",
        action="store_true",
        help="also one PNG per completed run, curves/RUN_ID.png (curves/SWEEP/RUN_ID.png with "
        "several sweeps), drawn in parallel",
    )


def add_analysis_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags ``analyze`` and ``report`` share: the results folder, ``--out``, ``--compare``, ``--jobs``."""
    parser.add_argument(
        "results_dir", type=Path, metavar="RESULTS_DIR", help="the results folder: every record.json under it is read"
    )
    parser.add_argument("--out", type=Path, help="output folder (default: RESULTS_DIR/analysis)")
    parser.add_argument(
        "--compare",
        choices=("paper",),
        help="paper: also write table1_vs_paper.md/.csv (ours vs Datta et al. 2019, Table 1, per "
        "node count, with what differs) and sections_vs_paper.md/.csv (Fig. 2, sec. 5.2-5.4)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="processes for loading many records and drawing (default: the usable CPUs, at most 8)",
    )


def run(args: argparse.Namespace) -> int:
    from analysis.history import add
    from analysis.report import analyze, format_summary

    outputs = analyze(
        args.results_dir, args.out, compare=args.compare, per_run_curves=args.per_run_curves, jobs=args.jobs
    )
    print(format_summary(outputs))
    record_runs(lambda: add(args.results_dir, outputs.runs, outputs.problems), args.prog)
    return 0
