"""``mcnn-bench``: the suite's one command, with a subcommand per task. It imports the three packages
lazily, per subcommand, so that ``status`` or ``analyze`` never load TensorFlow."""
from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

# TensorFlow's C++ start-up notices drown the progress lines; warnings and errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def cmd_train(args: argparse.Namespace) -> int:
    from benchmark.config import config_from_args
    from benchmark.train import run_training

    try:
        config = config_from_args(args)
    except ValueError as exc:
        raise SystemExit(f"mcnn-bench train: error: {exc}") from None
    record = run_training(config)
    if record is not None:
        tp, ttt, top1 = record.throughput, record.time_to_train, record.epochs[-1].val_top1
        print(f"run {record.run_id}: {tp.images_per_second:.1f} images/s over {tp.timed_steps} timed steps x "
              f"{record.topology.workers} workers; last epoch top-1 {'-' if top1 is None else f'{top1:.3f}'}; "
              + (f"TTT {ttt.seconds:.1f} s" if ttt.seconds is not None else f"TTT not reached ({ttt.reason})"))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from slurm.cluster import SlurmError
    from slurm.lock import SweepBusy
    from slurm.spec import load_spec
    from slurm.display import format_status
    from slurm.sweep import SweepInterrupted, dry_run, run_sweep

    try:
        spec = load_spec(args.spec)
        if args.new_sweep:
            spec = spec.renamed(args.new_sweep)
        if args.dry_run:
            dry_run(spec, args.results_dir)
            return 0
        statuses = run_sweep(spec, args.results_dir, wait=not args.no_wait, rerun_stale=args.rerun_stale,
                             submit=not args.no_submit)
    except (SlurmError, SweepBusy, ValueError) as exc:  # SpecError, SettingsError, StaleRuns are ValueErrors
        print(f"mcnn-bench sweep: error: {exc}", file=sys.stderr)
        return 2
    except SweepInterrupted as exc:
        print(f"mcnn-bench sweep: {exc}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("mcnn-bench sweep: interrupted before any run was submitted", file=sys.stderr)
        return 130
    print(format_status(statuses))
    return 1 if any(s.state == "failed" for s in statuses) else 0


def cmd_status(args: argparse.Namespace) -> int:
    from slurm.display import format_status
    from slurm.sweep import sweep_status

    try:
        print(format_status(sweep_status(args.sweep_dir)))
    except (FileNotFoundError, ValueError) as exc:
        print(f"mcnn-bench status: error: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from analysis.report import analyze, format_summary

    try:
        outputs = analyze(args.results_dir, args.out)
    except (FileNotFoundError, ValueError) as exc:
        print(f"mcnn-bench analyze: error: {exc}", file=sys.stderr)
        return 2
    print(format_summary(outputs))
    return 0


def cmd_accept(args: argparse.Namespace) -> int:
    from analysis.acceptance import accept, markdown, passed, write_report
    from analysis.reference import load_reference

    try:
        reference = load_reference(args.reference)
        checks = accept(args.sweep_dir, reference)
    except (FileNotFoundError, ValueError) as exc:  # ReferenceError is a ValueError
        print(f"mcnn-bench accept: error: {exc}", file=sys.stderr)
        return 2
    paths = write_report(checks, reference.system, args.sweep_dir, args.out or args.sweep_dir)
    print(markdown(checks, reference.system, args.sweep_dir))
    print("written: " + ", ".join(map(str, paths)))
    return 0 if passed(checks) else 1


def cmd_reference_capture(args: argparse.Namespace) -> int:
    from analysis.acceptance import capture
    from analysis.reference import write_reference

    try:
        reference = capture(args.sweep_dir, args.system, args.tolerance, args.description)
    except (FileNotFoundError, ValueError) as exc:
        print(f"mcnn-bench reference capture: error: {exc}", file=sys.stderr)
        return 2
    out = args.out or Path(f"{args.system}.toml")
    header = (f"# Captured by `mcnn-bench reference capture {args.sweep_dir} --system {args.system} "
              f"--tolerance {args.tolerance}`:\n# each value is the median of the repeats; each bound the wider "
              "of the tolerance and the repeats' spread.\n\n")
    print(f"reference of {len(reference.shape)} shape(s) written to {write_reference(reference, out, header)}")
    return 0


def cmd_devcluster(args: argparse.Namespace) -> int:
    script = resources.files("slurm") / "devcluster" / args.action
    extra = ["--nodes", str(args.nodes)] if args.action == "start" else []
    return subprocess.run([str(script), *extra]).returncode


def cmd_record_schema(args: argparse.Namespace) -> int:
    from benchmark.record import json_schema

    sys.stdout.write(json_schema())
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``mcnn-bench`` and its subcommands."""
    from benchmark.config import add_train_arguments

    parser = argparse.ArgumentParser(
        prog="mcnn-bench",
        description="Benchmark data-parallel M-CNN training (Datta et al. 2019) with Horovod, on one "
                    "machine or through SLURM, and rebuild the paper's tables and plots.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train = sub.add_parser(
        "train", help="run one training run (what every Horovod worker executes)",
        description="Train M-CNN as one Horovod worker. Run it under horovodrun, mpirun or srun for "
                    "several workers; rank 0 writes RESULTS/SWEEP/RUN_ID/record.json.",
    )
    add_train_arguments(train)
    train.set_defaults(func=cmd_train)

    sweep = sub.add_parser(
        "sweep", help="run a sweep spec (nodes x workers per node x batch sizes) locally or on SLURM",
        description="Expand a TOML sweep spec into runs and submit each through submitit, with the local "
                    "executor (one run after another on this machine) or the SLURM executor (one job per "
                    "run). Running it again submits only the runs that are missing or failed.",
    )
    sweep.add_argument("spec", type=Path, help="the sweep spec (TOML); the suite ships examples in "
                                              "slurm/examples/")
    sweep.add_argument("--results-dir", type=Path,
                       help="where runs land (default: the spec's results_dir, else ./results)")
    sweep.add_argument("--dry-run", action="store_true",
                       help="write every run's config and job script (a plain sbatch script for SLURM, "
                            "runnable by hand) and submit nothing")
    sweep.add_argument("--no-wait", action="store_true",
                       help="submit and return; follow the runs with `mcnn-bench status`")
    sweep.add_argument("--no-submit", action="store_true",
                       help="submit nothing: record the runs whose jobs ended and (unless --no-wait) follow "
                            "the ones still pending or running")
    sweep.add_argument("--rerun-stale", action="store_true",
                       help="run again, from scratch, the runs whose settings changed since they ran (their old "
                            "records and checkpoints are kept under RUN/attempts/)")
    sweep.add_argument("--new-sweep", metavar="NAME",
                       help="run the spec as the sweep NAME (a new results folder) instead of its own name")
    sweep.set_defaults(func=cmd_sweep)

    status = sub.add_parser("status", help="show each run of a sweep: state, job id, elapsed, reason",
                            description="Show every run of a sweep (pending with SLURM's reason, running, "
                                        "completed, failed with its reason, and stale runs with the settings "
                                        "that changed). Reads only: the sweep driver records ended jobs.")
    status.add_argument("sweep_dir", type=Path, metavar="SWEEP_DIR", help="RESULTS_DIR/SWEEP_NAME")
    status.set_defaults(func=cmd_status)

    analyze = sub.add_parser("analyze", help="rebuild the paper's tables and scaling plots from run records",
                             description="Load every record.json under RESULTS_DIR (malformed ones are "
                                         "reported and skipped) and write Table 1 (CSV and Markdown), the "
                                         "scaling and memory tables, throughput and scaling-efficiency plots "
                                         "and per-run top-1 / learning-rate curves.")
    analyze.add_argument("results_dir", type=Path, metavar="RESULTS_DIR")
    analyze.add_argument("--out", type=Path, help="output folder (default: RESULTS_DIR/analysis)")
    analyze.set_defaults(func=cmd_analyze)

    accept = sub.add_parser(
        "accept", help="PASS/FAIL of a sweep's figures against a system's reference file",
        description="Hold each run shape's median figures (over its completed repeats) against a reference "
                    "file: PASS inside the bounds (or beyond them on the good side), FAIL outside on the bad "
                    "side, MISSING without a completed run; UNSTABLE when the repeats spread wider than the "
                    "tolerance band. Writes acceptance.md, acceptance.json and acceptance.xml (JUnit). Exit "
                    "status 0 when every figure passes, 1 when any fails or is missing, 2 on bad input.")
    accept.add_argument("sweep_dir", type=Path, metavar="SWEEP_DIR", help="RESULTS_DIR/SWEEP_NAME")
    accept.add_argument("--reference", type=Path, required=True, help="the system's reference file (TOML); the "
                                                                      "suite ships analysis/references/")
    accept.add_argument("--out", type=Path, help="where the reports go (default: SWEEP_DIR)")
    accept.set_defaults(func=cmd_accept)

    reference = sub.add_parser("reference", help="reference files for `mcnn-bench accept`")
    reference_sub = reference.add_subparsers(dest="action", required=True, metavar="ACTION")
    capture = reference_sub.add_parser(
        "capture", help="write a reference file from a known-good sweep",
        description="Write a reference file from a known-good sweep: per shape and figure the median of the "
                    "repeats, with bounds the wider of --tolerance and the repeats' own spread.")
    capture.add_argument("sweep_dir", type=Path, metavar="SWEEP_DIR")
    capture.add_argument("--system", required=True, help="the system's name (a plain name)")
    capture.add_argument("--tolerance", type=float, default=0.1, help="bound as a fraction of each value "
                                                                       "(default: %(default)s)")
    capture.add_argument("--description", help="a line describing the system")
    capture.add_argument("--out", type=Path, help="the file to write (default: ./SYSTEM.toml)")
    capture.set_defaults(func=cmd_reference_capture)

    devcluster = sub.add_parser("devcluster", help="start, stop or inspect the development SLURM cluster",
                                description="A real multi-node SLURM cluster (slurmctld, slurmd per node in "
                                            "its own namespaces, slurmdbd + MariaDB) on this one machine; "
                                            "needs root. After start: export SLURM_CONF as printed.")
    devcluster.add_argument("action", choices=("start", "stop", "status"))
    devcluster.add_argument("--nodes", type=int, default=4, help="nodes to start (default: %(default)s)")
    devcluster.set_defaults(func=cmd_devcluster)

    schema = sub.add_parser("record-schema", help="print the JSON Schema of the run record",
                            description="Print the JSON Schema of record.json (docs/run-record.schema.json).")
    schema.set_defaults(func=cmd_record_schema)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mcnn-bench`` console command. Warnings and errors of the suite's loggers go to
    stderr; a run's own log lines go to its ``train.log``."""
    handler = logging.StreamHandler()
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
