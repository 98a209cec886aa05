"""``mcnn-bench train``: one training run, as one worker of its engine (what every worker executes)."""

from __future__ import annotations

import argparse
import sys
import traceback

from benchmark.config import add_train_arguments

from . import add_command


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "train",
        run,
        help="run one training run (what every Horovod worker executes)",
        description="Train M-CNN as one Horovod worker. Run it under horovodrun, mpirun or srun for "
        "several workers; rank 0 writes RESULTS/SWEEP/RUN_ID/record.json.",
    )
    add_train_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Validate the settings (``SettingsError``, ``AllocatorError``: exit status 2), preload the allocator
    (which may run this command again), check that the run's folder can be written
    (:func:`slurm.preflight.check_run`: ``PreflightError``, exit status 2, before any framework starts), then
    train. A run that fails is recorded as failed by rank 0
    (:func:`benchmark.train.loop.run_training`); its traceback goes to stderr and the exit status is 1. A run
    whose folder another process holds (``RunLocked``, :mod:`benchmark.train.run_lock`) writes nothing and
    exits with status 2, the holder named in one line on stderr. A run on a device this machine does not have
    (``run.device = "gpu"`` where PyTorch sees no GPU: ``DeviceUnavailable``) is recorded as failed too, and exits
    with status 2, what the framework sees in one line on stderr."""
    from benchmark.config import config_from_args
    from benchmark.util.allocator import ensure_allocator
    from slurm.preflight import check_run

    config = config_from_args(args)
    ensure_allocator(config.run.allocator, sys.orig_argv)  # may run this command again, preloaded
    check_run(config)
    from benchmark.engines import DeviceUnavailable
    from benchmark.train.loop import run_training  # TensorFlow starts here, after the allocator is in place
    from benchmark.train.run_lock import RunLockError

    try:
        record = run_training(config)
    except RunLockError:  # nothing written or recorded: the command line prints it (exit status 2)
        raise
    except DeviceUnavailable:  # recorded as failed; the machine, not the run, is to mend (exit status 2)
        raise
    except Exception:  # already recorded as a failed run: what the command reports as exit status 1
        traceback.print_exc()
        return 1
    if record is not None:
        tp, ttt, epochs, topology = record.throughput, record.time_to_train, record.epochs, record.topology
        assert tp is not None and ttt is not None and epochs is not None and topology is not None, (
            "run_training returns a completed record, which has these sections"
        )
        last = epochs[-1]
        value = getattr(last, ttt.metric)
        main = "-" if value is None else f"{value:.3f}"
        if ttt.metric == "val_top1" and last.val_top1_ci is not None:
            main += " (95 % CI {:.3f}-{:.3f} over fields)".format(*last.val_top1_ci)
        print(
            f"run {record.run_id}: {tp.images_per_second:.1f} images/s over {tp.timed_steps} timed steps x "
            f"{topology.workers} workers; last epoch {ttt.metric.removeprefix('val_')} {main}; "
            + (f"TTT {ttt.seconds:.1f} s" if ttt.seconds is not None else f"TTT not reached ({ttt.reason})")
        )
    return 0
