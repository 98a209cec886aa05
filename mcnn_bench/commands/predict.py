"""``mcnn-bench predict``: the scaling model's Table 1 from measured step and allreduce times, or from the
paper's own text; the fewest nodes for a target time to train (:func:`analysis.predict.run_predict`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.models import MODELS

from . import add_command


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "predict",
        run,
        help="predict Table 1 (throughput, speedup, TTT vs nodes) from measured step and allreduce times, "
        "or from the paper's text",
        description="The scaling model (analysis/scaling_model.py; the command: analysis/predict.py): step = "
        "a + c b + ring allreduce(workers) (alpha-beta model), a the per-step fixed cost; images/s, speedup, "
        "scaling efficiency and TTT for nodes x workers per node, with the global-batch cap. "
        "Compute times come from a one-node batch sweep (--step-times), whose batch sizes give a; allreduce from "
        "`mcnn-bench allreduce` results or --bandwidth-gbits/--latency-us. --paper predicts Datta et al. 2019's "
        "Table 1 from the paper's text (Table 1's one-node row, the 100 Gb/s link, sec. 5.3's 162 MB of "
        "gradients and 450-858 ms of MPI negotiation per step, the 2048 cap) and prints the error per row. "
        "--target-minutes answers the fewest nodes predicted to train within a target.",
    )
    parser.add_argument(
        "--step-times",
        type=Path,
        metavar="RESULTS_DIR",
        help="records of a one-node batch sweep (every nodes=1 run is used)",
    )
    parser.add_argument(
        "--step-time-from",
        choices=("throughput", "median"),
        default="throughput",
        help="a run's step time: global batch / images/s, or the median step (default: %(default)s)",
    )
    parser.add_argument(
        "--allreduce",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="`mcnn-bench allreduce` results to fit the alpha-beta ring model to",
    )
    parser.add_argument(
        "--bandwidth-gbits", type=float, help="link bandwidth, Gb/s (1/beta; e.g. 100 for Omni-Path): fixes beta"
    )
    parser.add_argument(
        "--latency-us",
        type=float,
        help="per-step latency alpha, microseconds: fixes alpha (assumed 5 when it cannot be fitted)",
    )
    parser.add_argument(
        "--overlap",
        type=float,
        default=0.0,
        help="fraction in [0, 1] of the allreduce hidden behind the backward pass (default: %(default)s)",
    )
    parser.add_argument(
        "--model",
        choices=MODELS,
        default="mcnn",
        help="the model predicted: its step-time records and its analytic gradient bytes "
        "(default: %(default)s; --paper takes mcnn only)",
    )
    parser.add_argument(
        "--image-size",
        type=int,
        nargs=2,
        metavar=("H", "W"),
        help="the model's input (gradient bytes); default: the step-time records' (with --paper: sec. 5.3's "
        "162 MB unless given)",
    )
    parser.add_argument(
        "--local-batch-size",
        type=int,
        help="local batch per worker before the cap (default: the largest measured per "
        "workers per node; with --paper: the paper's one-node local batch)",
    )
    parser.add_argument(
        "--max-global-batch",
        type=int,
        help="global-batch cap: local batch = min(local, cap // workers) (with --paper: in place of 2048)",
    )
    parser.add_argument(
        "--epochs",
        type=float,
        help="epochs to target for every row (default: Table 1's per row where published, else no TTT)",
    )
    parser.add_argument(
        "--images-per-epoch", type=int, help="images per epoch for TTT (default: the paper's Dataset B, 313,282)"
    )
    parser.add_argument(
        "--nodes", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64, 128], help="node counts (default: %(default)s)"
    )
    parser.add_argument(
        "--workers-per-node", type=int, nargs="+", help="workers per node (default: 1 2 4 8; with --paper: the paper's)"
    )
    parser.add_argument(
        "--measured",
        type=Path,
        metavar="RESULTS_DIR",
        help="records of a measured scaling sweep, plotted beside the prediction",
    )
    parser.add_argument(
        "--paper",
        action="store_true",
        help="predict Datta et al. 2019's Table 1 from the paper's text: its one-node row, 100 Gb/s, 162 MB of "
        "gradients, the 450-858 ms negotiation per step, 8 workers per node, the 2048 cap, Table 1's epochs; "
        "prints predicted vs published images/s and TTT per row and the errors",
    )
    parser.add_argument(
        "--one-node-images-per-second",
        type=float,
        help="with --paper: the one-node throughput, images/s, in place of Table 1's 30",
    )
    parser.add_argument(
        "--one-node-workers-per-node",
        type=int,
        help="with --paper: workers per node of that one-node throughput, in place of Table 1's (8)",
    )
    parser.add_argument(
        "--fixed-step-ms",
        type=float,
        help="per-step fixed cost a, ms (with --paper: in place of the midpoint of sec. 5.3's 450-858 ms; with "
        "--step-times: in place of the one the batch sweep gives)",
    )
    parser.add_argument(
        "--gradient-mib",
        type=float,
        help="with --paper: gradients allreduced per step, MiB, in place of sec. 5.3's 162",
    )
    parser.add_argument(
        "--target-minutes",
        type=float,
        help="also print the fewest nodes predicted to train within this many minutes (epochs to target per "
        "global batch: Table 1's, interpolated, or --epochs-from's)",
    )
    parser.add_argument(
        "--epochs-from",
        type=Path,
        metavar="RESULTS_DIR",
        help="with --target-minutes: a measured sweep whose runs' epochs to target per global batch are used",
    )
    parser.add_argument(
        "--min-updates-per-epoch",
        type=float,
        help="with --target-minutes: updates per epoch a global batch must leave (default: the paper's slides, 150)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="write predicted_table1.csv, predicted_table1.md and predicted_speedup.png here (with --paper also "
        "predicted_vs_published.png)",
    )


def run(args: argparse.Namespace) -> int:
    from analysis.predict import run_predict

    print(
        run_predict(
            step_times_dir=args.step_times,
            step_time_from=args.step_time_from,
            allreduce=args.allreduce or (),
            bandwidth_gbits=args.bandwidth_gbits,
            latency_us=args.latency_us,
            overlap=args.overlap,
            image_size=None if args.image_size is None else tuple(args.image_size),
            local_batch_size=args.local_batch_size,
            max_global_batch=args.max_global_batch,
            epochs=args.epochs,
            images_per_epoch=args.images_per_epoch,
            nodes=args.nodes,
            workers_per_node=args.workers_per_node,
            measured_dir=args.measured,
            against_paper=args.paper,
            one_node_images_per_second=args.one_node_images_per_second,
            one_node_workers_per_node=args.one_node_workers_per_node,
            fixed_step_ms=args.fixed_step_ms,
            gradient_mib=args.gradient_mib,
            target_minutes=args.target_minutes,
            epochs_from=args.epochs_from,
            min_updates_per_epoch=args.min_updates_per_epoch,
            model=args.model,
            out=args.out,
        )
    )
    return 0
