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
    from benchmark.util.allocator import AllocatorError, ensure_allocator
    from benchmark.config import config_from_args

    try:
        config = config_from_args(args)
        ensure_allocator(config.run.allocator, sys.orig_argv)  # may run this command again, preloaded
    except (ValueError, AllocatorError) as exc:
        raise SystemExit(f"mcnn-bench train: error: {exc}") from None
    from benchmark.train.loop import run_training  # TensorFlow starts here, after the allocator is in place

    record = run_training(config)
    if record is not None:
        tp, ttt, last = record.throughput, record.time_to_train, record.epochs[-1]
        value = getattr(last, ttt.metric)
        main = "-" if value is None else f"{value:.3f}"
        if ttt.metric == "val_top1" and last.val_top1_ci is not None:
            main += " (95 % CI {:.3f}-{:.3f} over fields)".format(*last.val_top1_ci)
        print(f"run {record.run_id}: {tp.images_per_second:.1f} images/s over {tp.timed_steps} timed steps x "
              f"{record.topology.workers} workers; last epoch {ttt.metric.removeprefix('val_')} {main}; "
              + (f"TTT {ttt.seconds:.1f} s" if ttt.seconds is not None else f"TTT not reached ({ttt.reason})"))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from slurm.cluster import SlurmError
    from slurm.lock import SweepBusy
    from slurm.spec import load_spec
    from slurm.display import format_status
    from slurm.sweep import SweepInterrupted, dry_run, make_executor, run_sweep

    try:
        spec = load_spec(args.spec, data_dir=args.data_dir)
        if args.new_sweep:
            spec = spec.renamed(args.new_sweep)
        if args.dry_run:
            paths = dry_run(spec, args.results_dir)
            print(f"sweep {spec.name}: dry run: {len(paths)} job script(s) written, nothing submitted "
                  f"({spec.executor.kind} executor)")
            # What a real submit checks first (SLURM: the partition can hold every run, from sinfo), only
            # reported: a dry run needs no cluster, and a cluster too small for the spec is worth knowing.
            sweep_dir = spec.results_dir(args.results_dir) / spec.name
            try:
                notes = make_executor(spec.executor.kind, spec.executor, sweep_dir, "sbatch").check(
                    spec.runs(sweep_dir.parent))
            except SlurmError as exc:
                notes = [f"the check a real submit makes first did not pass (the scripts are written all the "
                         f"same): {exc}"]
            for note in notes:
                print(f"mcnn-bench sweep: dry run: note: {note}", file=sys.stderr)
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
        outputs = analyze(args.results_dir, args.out, compare=args.compare, per_run_curves=args.per_run_curves,
                          jobs=args.jobs)
    except (FileNotFoundError, ValueError) as exc:
        print(f"mcnn-bench analyze: error: {exc}", file=sys.stderr)
        return 2
    print(format_summary(outputs))
    return 0


def cmd_bench_analyze(args: argparse.Namespace) -> int:
    from analysis.bench import bench_analyze, load_template

    if any(n < 1 for n in args.records) or (args.jobs is not None and args.jobs < 1):
        print("mcnn-bench bench analyze: error: --records and --jobs must be positive", file=sys.stderr)
        return 2
    try:
        template = load_template(args.template) if args.template else None
        bench_analyze(args.records, args.out, template, per_run_curves=args.per_run_curves, jobs=args.jobs)
    except (FileNotFoundError, ValueError) as exc:  # RecordError is a ValueError
        print(f"mcnn-bench bench analyze: error: {exc}", file=sys.stderr)
        return 2
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


def cmd_allreduce(args: argparse.Namespace) -> int:
    from benchmark.microbench.allreduce import run_allreduce, run_sweep, summary_line, sweep_table

    try:
        if args.sweep:
            result = run_sweep(*args.sweep, iterations=args.iterations, warmup=args.warmup, out=args.out)
        else:
            result = run_allreduce(*args.image_size, channels=args.channels, num_classes=args.classes,
                                   iterations=args.iterations, warmup=args.warmup, bytes_scale=args.bytes_scale,
                                   out=args.out, model=args.model)
    except ValueError as exc:
        print(f"mcnn-bench allreduce: error: {exc}", file=sys.stderr)
        return 2
    if result is not None:
        print(sweep_table(result) if args.sweep else summary_line(result))
    return 0


def cmd_peak(args: argparse.Namespace) -> int:
    from benchmark.microbench.peak import cache_dir, cache_path, node_peaks, peak_table

    intra = args.intra_op_threads or len(os.sched_getaffinity(0))
    if intra < 1 or args.inter_op_threads < 1:
        print("mcnn-bench peak: error: --intra-op-threads and --inter-op-threads must be positive", file=sys.stderr)
        return 2
    folder = cache_dir(args.results)
    peaks = node_peaks(folder, intra, args.inter_op_threads, refresh=args.refresh)
    print(f"{peaks.host} ({peaks.cpu_model}), TensorFlow {peaks.tensorflow}, {peaks.intra_op_threads} intra-op and "
          f"{peaks.inter_op_threads} inter-op threads, measured at {peaks.measured_at}")
    print(peak_table(peaks))
    print(f"cached in {cache_path(folder, intra, args.inter_op_threads)}")
    return 0


def _byte_size(text: str) -> int:
    """``1024``, ``1K``, ``4M`` or ``1G`` (binary multiples) as bytes, for ``argparse``."""
    units = {"K": 2**10, "M": 2**20, "G": 2**30}
    try:
        return int(text[:-1]) * units[text[-1].upper()] if text[-1:].upper() in units else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size in bytes (1024, 1K, 4M, 1G): {text!r}") from None


def cmd_predict(args: argparse.Namespace) -> int:
    from analysis.predict import run_predict

    try:
        print(run_predict(args))
    except (FileNotFoundError, ValueError) as exc:
        print(f"mcnn-bench predict: error: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_bench_input(args: argparse.Namespace) -> int:
    from benchmark.data import DataError
    from benchmark.microbench.input import run_bench

    try:
        run_bench(args)
    except (ValueError, DataError, RuntimeError) as exc:
        print(f"mcnn-bench bench input: error: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_bench_overhead(args: argparse.Namespace) -> int:
    from benchmark.util.allocator import AllocatorError, library_path
    from benchmark.microbench.overhead import compare, overhead_config, report

    try:
        config = overhead_config(*args.image_size, args.batch_size, args.steps, args.warmup, args.threads,
                                 args.allocator, args.model)
        if args.allocator != "system":
            library_path(args.allocator)  # a missing library fails here, not inside the first run
    except (ValueError, AllocatorError) as exc:
        raise SystemExit(f"mcnn-bench bench overhead: error: {exc}") from None
    print(report(config, compare(config, args.repeats), args.repeats))
    return 0


def cmd_record_schema(args: argparse.Namespace) -> int:
    from benchmark.record import json_schema

    sys.stdout.write(json_schema())
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``mcnn-bench`` and its subcommands."""
    from benchmark.util.allocator import ALLOCATORS
    from benchmark.config import add_train_arguments
    from benchmark.models import MODELS

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
    sweep.add_argument("--data-dir", type=Path, metavar="DIR",
                       help="use DIR (relative to the current directory) as the spec's data.dir, before the "
                            "spec is validated: e.g. the paper's specs (slurm/examples/paper/) name "
                            "/data/BBBC021 as a placeholder")
    sweep.set_defaults(func=cmd_sweep)

    status = sub.add_parser("status", help="show each run of a sweep: state, job id, elapsed, reason",
                            description="Show every run of a sweep (pending with SLURM's reason, running, "
                                        "completed, failed with its reason, and stale runs with the settings "
                                        "that changed). Reads only: the sweep driver records ended jobs.")
    status.add_argument("sweep_dir", type=Path, metavar="SWEEP_DIR", help="RESULTS_DIR/SWEEP_NAME")
    status.set_defaults(func=cmd_status)

    analyze = sub.add_parser("analyze", help="rebuild the paper's tables and figures from run records",
                             description="Load every record.json under RESULTS_DIR (malformed ones are "
                                         "reported and skipped) and write Table 1 (CSV and Markdown), the "
                                         "scaling and memory tables, throughput and scaling-efficiency plots, "
                                         "the paper's Figs. 2, 5, 7, 8, 9 and 10 with its published points, and "
                                         "each sweep's top-1 / learning-rate curves (curves/SWEEP.png, one cell "
                                         "per run). A figure no run can feed is listed as not drawn, with the "
                                         "reason. Legends and figure sizes stay bounded at any number of runs.")
    analyze.add_argument("results_dir", type=Path, metavar="RESULTS_DIR")
    analyze.add_argument("--out", type=Path, help="output folder (default: RESULTS_DIR/analysis)")
    analyze.add_argument("--compare", choices=("paper",),
                         help="paper: also write table1_vs_paper.md/.csv (ours vs Datta et al. 2019, Table 1, per "
                              "node count, with what differs) and sections_vs_paper.md/.csv (Fig. 2, sec. 5.2-5.4)")
    analyze.add_argument("--per-run-curves", action="store_true",
                         help="also one PNG per completed run, curves/RUN_ID.png (curves/SWEEP/RUN_ID.png with "
                              "several sweeps), drawn in parallel")
    analyze.add_argument("--jobs", type=int, metavar="N",
                         help="processes for loading many records and drawing (default: the usable CPUs, at most 8)")
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

    allreduce = sub.add_parser(
        "allreduce", help="time the allreduce of a model's gradients (run it under horovodrun, mpirun or srun)",
        description="Every rank allreduces one float32 tensor per gradient of --model in ONE hvd.grouped_allreduce "
                    "(Average) per iteration, as the trainer's step does; per iteration the slowest rank's "
                    "time counts. Rank 0 writes the times, algorithm and bus bandwidth (NCCL-tests' "
                    "definitions) as JSON and prints one line. `mcnn-bench predict --allreduce` fits them.")
    allreduce.add_argument("--model", choices=MODELS, default="mcnn",
                           help="the model whose gradients are reduced (default: %(default)s)")
    allreduce.add_argument("--image-size", type=int, nargs=2, default=(1024, 1280), metavar=("H", "W"),
                           help="the model's input, whose gradients are reduced (default: %(default)s)")
    allreduce.add_argument("--channels", type=int, default=3, help="input channels (default: %(default)s)")
    allreduce.add_argument("--classes", type=int, default=13, help="classes (default: %(default)s)")
    allreduce.add_argument("--iterations", type=int, default=20, help="timed iterations (default: %(default)s)")
    allreduce.add_argument("--warmup", type=int, default=3, help="untimed iterations first (default: %(default)s)")
    allreduce.add_argument("--bytes-scale", type=float, default=1.0,
                           help="shrink (or grow) every tensor to this fraction of its elements, flattened; "
                                "the same number of tensors (default: %(default)s)")
    allreduce.add_argument("--sweep", type=_byte_size, nargs=2, metavar=("MIN", "MAX"),
                           help="instead of the model's gradients: one tensor of each size from MIN to MAX bytes, "
                                "x4 apart (e.g. 1K 1G), as OSU and nccl-tests sweep; sizes of 64 MiB or more run 3 "
                                "timed iterations")
    allreduce.add_argument("--out", type=Path, help="the JSON result (default: ./allreduce-w{workers}.json, "
                                                    "./allreduce-sweep-w{workers}.json with --sweep)")
    allreduce.set_defaults(func=cmd_allreduce)

    peak = sub.add_parser(
        "peak", help="this node's peak GFLOP/s for M-CNN's 5x5 convolution and a large matmul, fp32 and bf16",
        description="Time a 5x5 convolution shaped like M-CNN's pathway convolutions and a 2048x2048 matmul, in "
                    "fp32 and (on CPUs with native bf16) bf16, with one worker's TensorFlow threads, and print "
                    "the median GFLOP/s of each. Measured once per node and thread setting and cached in "
                    "RESULTS/peaks/ (or $MCNN_PEAK_CACHE); every training run holds its GFLOP/s against it.")
    peak.add_argument("--results", type=Path, default=Path("results"), metavar="DIR",
                      help="the results folder whose peaks/ holds the cache (default: %(default)s)")
    peak.add_argument("--intra-op-threads", type=int, metavar="N",
                      help="TensorFlow intra-op threads (default: the cores this process may use, as a run with "
                           "one worker per node)")
    peak.add_argument("--inter-op-threads", type=int, default=1, metavar="N",
                      help="TensorFlow inter-op threads (default: %(default)s, as the trainer)")
    peak.add_argument("--refresh", action="store_true", help="measure again even when cached")
    peak.set_defaults(func=cmd_peak)

    predict = sub.add_parser(
        "predict", help="predict Table 1 (throughput, speedup, TTT vs nodes) from measured step and "
                        "allreduce times",
        description="The scaling model (analysis/scaling_model.py; the command: analysis/predict.py): step = "
                    "compute(local batch) + ring allreduce(workers) (alpha-beta model); images/s, speedup, "
                    "scaling efficiency and TTT for nodes x workers per node, with the global-batch cap. "
                    "Compute times come from a one-node batch sweep (--step-times), allreduce from "
                    "`mcnn-bench allreduce` results or --bandwidth-gbits/--latency-us. --paper validates the "
                    "model against Datta et al. 2019 and says what it would need to reproduce its speedups.")
    predict.add_argument("--step-times", type=Path, metavar="RESULTS_DIR",
                         help="records of a one-node batch sweep (every nodes=1 run is used)")
    predict.add_argument("--step-time-from", choices=("throughput", "median"), default="throughput",
                         help="a run's step time: global batch / images/s, or the median step "
                              "(default: %(default)s)")
    predict.add_argument("--allreduce", type=Path, nargs="+", metavar="FILE",
                         help="`mcnn-bench allreduce` results to fit the alpha-beta ring model to")
    predict.add_argument("--bandwidth-gbits", type=float,
                         help="link bandwidth, Gb/s (1/beta; e.g. 100 for Omni-Path): fixes beta")
    predict.add_argument("--latency-us", type=float, help="per-step latency alpha, microseconds: fixes alpha "
                                                          "(assumed 5 when it cannot be fitted)")
    predict.add_argument("--overlap", type=float, default=0.0,
                         help="fraction in [0, 1] of the allreduce hidden behind the backward pass "
                              "(default: %(default)s)")
    predict.add_argument("--model", choices=MODELS, default="mcnn",
                         help="the model predicted: its step-time records and its analytic gradient bytes "
                              "(default: %(default)s; --paper takes mcnn only)")
    predict.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"),
                         help="the model's input (gradient bytes); default: the step-time records', else 1024 1280")
    predict.add_argument("--local-batch-size", type=int,
                         help="local batch per worker before the cap (default: the largest measured per "
                              "workers per node; with --paper: the paper's one-node local batch)")
    predict.add_argument("--max-global-batch", type=int,
                         help="global-batch cap: local batch = min(local, cap // workers)")
    predict.add_argument("--epochs", type=float, help="epochs to target for every row (default: Table 1's "
                                                      "per row where published, else no TTT)")
    predict.add_argument("--images-per-epoch", type=int,
                         help="images per epoch for TTT (default: the paper's Dataset B, 313,282)")
    predict.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64, 128],
                         help="node counts (default: %(default)s)")
    predict.add_argument("--workers-per-node", type=int, nargs="+",
                         help="workers per node (default: 1 2 4 8; with --paper: the paper's)")
    predict.add_argument("--measured", type=Path, metavar="RESULTS_DIR",
                         help="records of a measured scaling sweep, plotted beside the prediction")
    predict.add_argument("--paper", action="store_true",
                         help="validate against Datta et al. 2019: the paper's one-node throughput, 100 Gb/s "
                              "Omni-Path, caps and epochs; prints predicted vs published Table 1")
    predict.add_argument("--one-node-images-per-second", type=float,
                         help="with --paper: the one-node throughput when the paper's is not published")
    predict.add_argument("--one-node-workers-per-node", type=int,
                         help="with --paper: workers per node of that one-node throughput, when not published")
    predict.add_argument("--out", type=Path, metavar="DIR",
                         help="write predicted_table1.csv, predicted_table1.md and predicted_speedup.png here")
    predict.set_defaults(func=cmd_predict)

    bench = sub.add_parser("bench", help="benchmarks of the suite itself (its input pipeline, its analysis)",
                           description="Benchmarks of what the suite adds around the model: each prints its "
                                       "figures and how it measured them.")
    bench_sub = bench.add_subparsers(dest="what", required=True, metavar="WHAT")
    overhead = bench_sub.add_parser(
        "overhead", help="the trainer's images/s and peak RSS against a bare loop of the same model",
        description="Run `mcnn-bench train` on synthetic data and a bare tf.function loop of the same model, "
                    "shape, batch, threads, loss and optimizer, as fresh processes, interleaved; print the "
                    "medians, the overhead (bare / suite images/s - 1) and the memory ratio.")
    overhead.add_argument("--model", choices=MODELS, default="mcnn", help="the model both sides train "
                                                                          "(default: %(default)s)")
    overhead.add_argument("--image-size", type=int, nargs=2, default=(256, 320), metavar=("H", "W"))
    overhead.add_argument("--batch-size", type=int, default=8, help="local batch (default: %(default)s)")
    overhead.add_argument("--steps", type=int, default=30, help="timed steps (default: %(default)s)")
    overhead.add_argument("--warmup", type=int, default=3, help="steps before the timed ones (default: %(default)s)")
    overhead.add_argument("--repeats", type=int, default=3, help="interleaved pairs (default: %(default)s)")
    overhead.add_argument("--threads", type=int, help="intra-op threads (default: the cores)")
    overhead.add_argument("--allocator", choices=ALLOCATORS, default="system",
                          help="malloc of both sides: glibc's, or jemalloc or tcmalloc preloaded "
                               "(default: %(default)s)")
    overhead.set_defaults(func=cmd_bench_overhead)
    bench_analyze = bench_sub.add_parser(
        "analyze", help="time `mcnn-bench analyze` over 100, 1,000 and 10,000 generated run records",
        description="Write N valid run records varied from one template (sweep names, nodes, workers per node, "
                    "local batch, epochs, images/s, peak RSS; about 3 %% failed runs) and time `analyze` over "
                    "them: one line per N with the seconds to load, build the tables, draw the summary plots and "
                    "the per-sweep curves, the total, and the files written with their bytes.")
    bench_analyze.add_argument("--records", type=int, nargs="+", default=[100, 1_000, 10_000], metavar="N",
                               help="record counts to time (default: %(default)s)")
    bench_analyze.add_argument("--out", type=Path, metavar="DIR",
                               help="where the records (records-N/, kept and reused) and the analyses (analysis-N/) "
                                    "go (default: a new temporary folder)")
    bench_analyze.add_argument("--template", type=Path, metavar="RECORD",
                               help="a real record.json (a completed run with epochs) to copy (default: a complete "
                                    "record built with the record model)")
    bench_analyze.add_argument("--per-run-curves", action="store_true",
                               help="time `analyze --per-run-curves` (one PNG per run too)")
    bench_analyze.add_argument("--jobs", type=int, metavar="N", help="processes (default: the usable CPUs, at most 8)")
    bench_analyze.set_defaults(func=cmd_bench_analyze)
    bench_input = bench_sub.add_parser(
        "input", help="the training input pipeline alone (bbbc021 TIFFs): images/s serial and parallel, per core",
        description="Run the training input pipeline of the bbbc021 source alone (variants none and dataset-a) "
                    "and print its images/s with serial reading and with the parallel path on 1 and 2 cores, "
                    "and the cores per node it needs to feed the paper's 30 images/s per node. Compare with "
                    "the training step's images/s: the pipeline must deliver at least 3x that.")
    from benchmark.microbench.input import add_arguments as add_input_bench_arguments

    add_input_bench_arguments(bench_input)
    bench_input.set_defaults(func=cmd_bench_input)

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
