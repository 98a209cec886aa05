"""``mcnn-bench bench overhead``: what the trainer costs around the model, against a bare loop.

The bare loop is the least a training loop of the same run can be, in the framework of the run's engine
(``run.engine``; its side is the engine's ``bench`` module, :class:`benchmark.engines.bench.EngineBench`): the
same config's synthetic batches as the engine reads them, the same model (``model.name``, any of
:data:`benchmark.models.MODELS`), threads, loss (softmax cross-entropy + weight decay x L2 of the kernels) and
optimizer (``training.optimizer``, momentum SGD by default, at a fixed rate: the engine's
``OPTIMIZER_BUILDERS``), one step function and a Python loop: no collectives, no schedule, no timing per step,
no checkpoints, no record. For the Horovod engine that is a Keras model and one ``tf.function`` step
(:mod:`benchmark.engines.horovod.bench`); for the DDP engine the PyTorch model, channels-last, with
``torch.optim`` and no ``torch.distributed`` (:mod:`benchmark.engines.ddp.bench`, which loads no TensorFlow).
Both sides run as fresh processes, interleaved (suite, bare, bare, suite, ...: the order alternates so that a
drift of the machine's speed falls on both), both with the config's malloc (``run.allocator``,
:mod:`benchmark.util.allocator`), and each reports images/s over the whole wall span of its timed steps and its
peak RSS. The overhead is ``bare images/s / suite images/s - 1`` of each side's best run; the memory ratio
``suite peak RSS / bare peak RSS`` of the medians.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmark.config import TrainConfig
from benchmark.engines import DEFAULT_ENGINE
from benchmark.engines.bench import bench_module
from benchmark.record import RunRecord
from benchmark.util.allocator import ensure_allocator, loaded_allocator
from benchmark.util.provenance import peak_rss_bytes


def bare_loop(config: TrainConfig) -> dict:
    """Train ``config`` (synthetic data) with the bare loop of its engine (:meth:`EngineBench.bare_training
    <benchmark.engines.bench.EngineBench.bare_training>`); returns ``images_per_second`` (images of the timed
    steps, all but the first ``training.warmup_steps``, over their whole wall span, seconds), ``timed_steps``,
    ``peak_rss_bytes`` and the ``allocator`` it ran with (:func:`benchmark.util.allocator.loaded_allocator`)."""
    step, batches = bench_module(config.run.engine).bare_training(config)
    warmup, timed, images = config.training.warmup_steps, 0, 0
    for index, (x, y) in enumerate(batches):
        if index == warmup:
            began = time.time()
        float(step(x, y))
        if index >= warmup:
            timed, images = timed + 1, images + int(y.shape[0])
    return {
        "images_per_second": images / (time.time() - began),
        "timed_steps": timed,
        "peak_rss_bytes": peak_rss_bytes(),
        "allocator": loaded_allocator(),
    }


def suite_run(config_path: Path, results: Path) -> dict:
    """One ``mcnn-bench train --config`` run (a fresh process); its record's images/s and peak RSS."""
    subprocess.run(
        [sys.executable, "-m", "mcnn_bench", "train", "--config", str(config_path)],
        check=True,
        capture_output=True,
        text=True,
    )
    record = RunRecord.load(results)
    assert record.throughput is not None and record.memory is not None, "the run completed (check=True)"
    return {
        "images_per_second": record.throughput.images_per_second,
        "peak_rss_bytes": record.memory.peak_rss_bytes_max,
    }


def bare_run(config_path: Path) -> dict:
    """One bare loop (a fresh process) of the config at ``config_path``."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmark.microbench.overhead", "--bare", str(config_path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(config: TrainConfig, repeats: int) -> dict:
    """``repeats`` interleaved pairs of suite and bare runs of ``config`` (the suite writes its runs under a
    temporary results folder): each side's best images/s (a slower run of the same code on a shared machine
    is interference, not a truer figure; on this machine the bare loop's runs were either about 23.8 or
    about 13.4 images/s at 256x320), its median images/s and median peak RSS, and the overhead and memory
    ratios of the best images/s and the median RSS."""
    with tempfile.TemporaryDirectory(prefix="mcnn-overhead-") as folder:
        config = config.updated("run", results_dir=folder, sweep="overhead", run_id="suite")
        path = config.write_json(Path(folder) / "config.json")
        suite, bare = [], []
        for repeat in range(repeats):
            order = ("suite", "bare") if repeat % 2 == 0 else ("bare", "suite")
            for side in order:
                if side == "suite":
                    suite.append(suite_run(path, config.run_dir / "record.json"))
                    shutil.rmtree(config.run_dir)  # each suite run starts afresh, not from a checkpoint
                else:
                    bare.append(bare_run(path))
    out = {
        side: {
            "images_per_second": max(run["images_per_second"] for run in runs),
            "median_images_per_second": statistics.median(run["images_per_second"] for run in runs),
            "peak_rss_bytes": statistics.median(run["peak_rss_bytes"] for run in runs),
        }
        for side, runs in (("suite", suite), ("bare", bare))
    }
    out["overhead"] = out["bare"]["images_per_second"] / out["suite"]["images_per_second"] - 1
    out["memory_ratio"] = out["suite"]["peak_rss_bytes"] / out["bare"]["peak_rss_bytes"]
    out["runs"] = {"suite": suite, "bare": bare}
    return out


def report(config: TrainConfig, result: dict, repeats: int) -> str:
    """The comparison as a few lines: shape, medians, overhead and memory ratio."""
    h, w = config.data.image_size
    steps = config.training.steps_per_epoch
    assert steps is not None, "synthetic data needs training.steps_per_epoch (TrainConfig requires it)"
    lines = [
        f"trainer vs bare loop, {config.run.engine} engine: {config.model.name} on synthetic {h}x{w}, local batch "
        f"{config.run.local_batch_size}, 1 worker, {config.run.allocator} malloc, "
        f"{steps - config.training.warmup_steps} timed steps after "
        f"{config.training.warmup_steps}, {repeats} interleaved pairs",
        f"{'':8}{'best images/s':>14}{'median images/s':>17}{'median peak RSS GiB':>21}",
    ]
    for side in ("suite", "bare"):
        row = result[side]
        lines.append(
            f"{side:8}{row['images_per_second']:>14.2f}{row['median_images_per_second']:>17.2f}"
            f"{row['peak_rss_bytes'] / 2**30:>21.2f}"
        )
    lines.append(
        f"overhead (bare images/s / suite images/s - 1): {100 * result['overhead']:+.1f} %; "
        f"memory (suite / bare peak RSS): {result['memory_ratio']:.2f}x"
    )
    return "\n".join(lines)


def overhead_config(
    height: int,
    width: int,
    batch: int,
    steps: int,
    warmup: int,
    threads: int | None,
    allocator: str = "system",
    model: str = "mcnn",
    engine: str = DEFAULT_ENGINE,
) -> TrainConfig:
    """The synthetic one-epoch run of ``model`` (``model.name``) both sides train, on ``engine`` (``run.engine``)
    with malloc ``allocator`` (``run.allocator``).

    Raises:
        SettingsError: naming each setting that cannot run (e.g. an input size ``model`` cannot take).
    """
    return TrainConfig.from_flat(
        source="synthetic",
        image_size=(height, width),
        local_batch_size=batch,
        epochs=1,
        steps_per_epoch=warmup + steps,
        warmup_steps=warmup,
        intra_op_threads=threads,
        allocator=allocator,
        name=model,
        engine=engine,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.microbench.overhead")
    parser.add_argument("--bare", type=Path, required=True, help="run the bare loop of this config JSON")
    args = parser.parse_args(argv)
    config = TrainConfig.from_json(args.bare)
    ensure_allocator(config.run.allocator, sys.orig_argv)
    print(json.dumps(bare_loop(config)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
