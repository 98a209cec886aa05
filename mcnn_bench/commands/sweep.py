"""``mcnn-bench sweep``: expand a sweep spec into runs and submit them through its executor."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from benchmark.errors import McnnBenchError

from . import add_command
from .history import record_runs

if TYPE_CHECKING:
    from slurm.spec import SweepSpec


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "sweep",
        run,
        help="run a sweep spec (nodes x workers per node x batch sizes) locally or on SLURM",
        description="Expand a TOML sweep spec into runs and submit each through submitit, with the local "
        "executor (one run after another on this machine) or the SLURM executor (one job per "
        "run). Running it again submits only the runs that are missing or failed. The completed runs are "
        "added to RESULTS_DIR/history.sqlite (`mcnn-bench history`).",
    )
    parser.add_argument("spec", type=Path, help="the sweep spec (TOML); the suite ships examples in slurm/examples/")
    parser.add_argument(
        "--results-dir", type=Path, help="where runs land (default: the spec's results_dir, else ./results)"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="write every run's config and job script (a plain sbatch script for SLURM, "
        "runnable by hand) and submit nothing",
    )
    parser.add_argument(
        "--no-wait", action="store_true", help="submit and return; follow the runs with `mcnn-bench status`"
    )
    parser.add_argument(
        "--no-submit",
        action="store_true",
        help="submit nothing: record the runs whose jobs ended and (unless --no-wait) follow "
        "the ones still pending or running",
    )
    parser.add_argument(
        "--rerun-stale",
        action="store_true",
        help="run again, from scratch, the runs whose settings changed since they ran (their old "
        "records and checkpoints are kept under RUN/attempts/)",
    )
    parser.add_argument(
        "--new-sweep",
        metavar="NAME",
        help="run the spec as the sweep NAME (a new results folder) instead of its own name",
    )
    parser.add_argument(
        "--skip-unavailable-engines",
        action="store_true",
        help="leave out the runs whose engine cannot run in this Python (the horovod engine on Python >= 3.13), "
        "naming each engine left out and why; without it, such runs refuse the whole sweep. The runs kept keep "
        "their ids: the whole spec, run later where every engine can run, runs only the rest",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="use DIR (relative to the current directory) as the spec's data.dir, before the "
        "spec is validated: e.g. the paper's specs (slurm/examples/paper/) name "
        "/data/BBBC021 as a placeholder",
    )


def run(args: argparse.Namespace) -> int:
    """Submit the spec's missing runs and follow them; exit status 1 when any run failed, 130 on Ctrl-C
    (with what became of the runs)."""
    from slurm.display import format_status
    from slurm.spec import load_spec
    from slurm.sweep import SweepInterrupted, run_sweep

    spec = load_spec(args.spec, data_dir=args.data_dir)
    if args.new_sweep:
        spec = spec.renamed(args.new_sweep)
    if args.skip_unavailable_engines:
        spec, left_out = spec.runnable_here()
        for engine, problem in left_out.items():
            print(f"{args.prog}: leaving out the runs on the {engine} engine: {problem}", file=sys.stderr)
    if args.dry_run:
        _dry_run(spec, args.results_dir, args.prog)
        return 0
    try:
        statuses = run_sweep(
            spec, args.results_dir, wait=not args.no_wait, rerun_stale=args.rerun_stale, submit=not args.no_submit
        )
    except SweepInterrupted as exc:
        print(f"{args.prog}: {exc}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"{args.prog}: interrupted before any run was submitted", file=sys.stderr)
        return 130
    print(format_status(statuses))
    if any(s.state == "completed" for s in statuses):
        from analysis.history import add_folder  # only here: the driver itself loads no pandas or matplotlib

        sweep_dir = spec.results_dir(args.results_dir) / spec.name
        record_runs(lambda: add_folder(sweep_dir), args.prog)
    return 1 if any(s.state == "failed" for s in statuses) else 0


def _dry_run(spec: SweepSpec, results_dir: Path | None, prog: str) -> None:
    """Write every run's config and job script, submit nothing, and note (on stderr) what a real submit
    would refuse: an engine that cannot run here (where the scripts could be written all the same: sbatch
    scripts), or what the executor checks first."""
    from slurm.preflight import check_engines
    from slurm.sweep import dry_run, make_executor

    paths = dry_run(spec, results_dir)
    print(
        f"sweep {spec.name}: dry run: {len(paths)} job script(s) written, nothing submitted "
        f"({spec.executor.kind} executor)"
    )
    # What a real submit checks first (the runs' engines are installed here; SLURM: the partition can hold every
    # run, from sinfo), only reported: a dry run needs no cluster, and a cluster too small for the spec, or a
    # Python without an engine of its runs, is worth knowing.
    sweep_dir = spec.results_dir(results_dir) / spec.name
    runs = spec.runs(sweep_dir.parent)
    executor = make_executor(spec.executor.kind, spec.executor, sweep_dir, "sbatch")
    notes: list[str] = []
    for check in (check_engines, executor.check):
        try:
            notes += check(runs) or []
        except McnnBenchError as exc:
            notes.append(
                f"the check a real submit makes first did not pass (the scripts are written all the same): {exc}"
            )
    for note in notes:
        print(f"{prog}: dry run: note: {note}", file=sys.stderr)
