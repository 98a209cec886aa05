"""``mcnn-bench bench input``: the training input pipeline alone, in images/s, per way of reading the TIFFs.

The ``bbbc021`` source reads three uint16 TIFFs per field of view. The pipeline of the engine chosen with
``--engine`` (:data:`INPUT_PATHS`: the horovod engine's ``tf.data`` pipelines,
:func:`benchmark.data.pipeline.make_pipelines`, or the DDP engine's PyTorch batches,
:func:`benchmark.engines.ddp.data.make_torch_pipelines`, which are the same images in the same order) reads
``decode_calls`` batches at once, in order; this benchmark runs its training split for a few warm-up batches
and then times a number of batches:

- ``serial``: one batch at a time (``decode_calls=None``), as the pipeline read before, on every core
  the process may use;
- ``parallel``: the default (``tf.data.AUTOTUNE``, or a thread a core, batches at once), pinned to 1, then
  2 ... cores.

Each setting runs in a fresh process pinned with ``sched_setaffinity`` before the framework starts (as
``taskset -c 0`` or ``-c 0,1`` would), so that its thread pools (TensorFlow's and tf.data's tuning, or torch's
and the read-ahead threads) see only those cores. The figures are what the pipeline can feed a trainer;
compare them with the training step's ``throughput.images_per_second``, and from the per-core rate the
benchmark says how many cores a node needs to feed the paper's one-node rate.

    mcnn-bench bench input --tables ../shared/data/bbbc021            # a synthetic 1024x1280 layout
    mcnn-bench bench input --data-dir /scratch/bbbc021 --size 1024 1280  # an official layout
    mcnn-bench bench input --tables ../shared/data/bbbc021 --engine ddp  # the PyTorch input path
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import TextIO

#: Images a second one node trained on in the paper (Datta et al. 2019), which the input must feed.
PAPER_NODE_RATE = 30.0

#: The training step's images/s at 1024x1280 on the 2-core development machine (mcnn-bench train).
TRAIN_RATE_HERE = (0.9, 1.4)

#: What the input pipeline must deliver, as a multiple of what training consumes.
HEADROOM = 3.0

#: M-CNN's input height and width are multiples of this.
SIZE_MULTIPLE = 64


@dataclass(frozen=True)
class InputPath:
    """An engine's input path: ``module:function`` makes a worker's pipelines as ``(config, rank, workers,
    decode_calls=)``, with ``decode_calls`` -1 for its parallel default; ``parallel`` names that default in
    the table."""

    module: str
    function: str
    parallel: str


#: The input path of each engine (``--engine``).
INPUT_PATHS = {
    "horovod": InputPath("benchmark.data.pipeline", "make_pipelines", "parallel (AUTOTUNE, in order)"),
    "ddp": InputPath("benchmark.engines.ddp.data", "make_torch_pipelines", "parallel (threads, in order)"),
}


@dataclass(frozen=True)
class Setting:
    """One way of running the pipeline: ``decode_calls`` (None: serial) on ``cores`` pinned cores."""

    decode: str
    cores: int

    @property
    def decode_calls(self) -> int | None:
        return None if self.decode == "serial" else -1  # tf.data.AUTOTUNE; a thread a core for ddp


def measure(
    data_dir: str,
    variant: str,
    image_size: tuple[int, int],
    batch: int,
    warmup: int,
    batches: int,
    decode_calls: int | None,
    val_fraction: float,
    seed: int,
    engine: str = "horovod",
) -> dict:
    """Run the training pipeline of ``engine``'s input path (:data:`INPUT_PATHS`) for worker 0 of 1 over
    ``data_dir``, epoch after epoch, and time ``batches`` batches in the steady state: the first ``warmup``
    batches and the first batch of every later epoch (the pipeline filling up, once an epoch in training) are
    not timed. Returns images,
    seconds, images_per_second, cpu_busy (process CPU seconds per wall second while timed) and the split's
    sizes."""
    from benchmark.config import TrainConfig

    path = INPUT_PATHS[engine]
    make_pipelines = getattr(import_module(path.module), path.function)
    config = TrainConfig.from_flat(
        source="bbbc021",
        dir=str(data_dir),
        image_size=tuple(image_size),
        epochs=1,
        local_batch_size=batch,
        val_fraction=val_fraction,
        variant=variant,
        seed=seed,
    )
    pipes = make_pipelines(config, 0, 1, decode_calls=decode_calls)
    if pipes.steps_per_epoch < 2 or pipes.steps_per_epoch <= warmup:
        raise ValueError(
            f"{pipes.steps_per_epoch} batches an epoch: too few to time after {warmup} warm-up "
            f"batch(es); use more fields or a smaller batch"
        )
    images = timed = 0
    seconds = cpu = 0.0
    epoch = 0
    while timed < batches:
        iterator = iter(pipes.train(epoch))
        for _ in range(warmup if epoch == 0 else 1):
            next(iterator)
        start, times = time.perf_counter(), os.times()
        for x, _ in iterator:
            images += int(x.shape[0])
            timed += 1
            if timed == batches:
                break
        seconds += time.perf_counter() - start
        after = os.times()
        cpu += after.user + after.system - times.user - times.system
        epoch += 1
    return {
        "images": images,
        "seconds": seconds,
        "images_per_second": images / seconds,
        "cpu_busy": cpu / seconds,
        "train_images": pipes.train_images,
        "steps_per_epoch": pipes.steps_per_epoch,
        "epochs": epoch,
    }


def _child(spec: dict) -> None:
    """Pin this process to ``spec["cpus"]``, then measure (the framework is imported after the pinning)."""
    os.sched_setaffinity(0, spec.pop("cpus"))
    print(json.dumps(measure(**spec)))


def run_setting(spec: dict, cpus: list[int]) -> dict:
    """``measure(**spec)`` in a fresh process pinned to ``cpus``.

    Raises:
        RuntimeError: the process failed (its stderr's end is quoted).
    """
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-m", "benchmark.microbench.input", "--child", json.dumps({**spec, "cpus": cpus})],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the input pipeline failed on cores {cpus}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def model_size(height: int, width: int) -> tuple[int, int]:
    """The model input for fields of ``height x width``: each rounded up to a multiple of 64."""
    return SIZE_MULTIPLE * math.ceil(height / SIZE_MULTIPLE), SIZE_MULTIPLE * math.ceil(width / SIZE_MULTIPLE)


def write_synthetic_layout(tables: Path, out: Path, per_class: int, size: tuple[int, int]) -> int:
    """An official layout under ``out`` with ``per_class`` real rows of each MoA from ``tables`` and
    synthetic uint16 TIFFs of ``size`` (:mod:`benchmark.data.synthetic_layout`). Returns the field count."""
    from benchmark.data.synthetic_layout import real_rows, write_layout

    rows = real_rows(tables, per_class)
    height, width = size  # a list from the command line, too
    write_layout(out, rows, (Path(tables) / "BBBC021_v1_moa.csv").read_bytes(), (height, width))
    return len(rows)


def cores_needed(rate: float, per_core: float) -> int:
    """Cores that deliver ``rate`` images/s at ``per_core`` images/s each."""
    return math.ceil(rate / per_core - 1e-9)


def _cores(count: int) -> str:
    return f"{count} core{'s' if count != 1 else ''}"


def run_bench(
    *,
    data_dir: Path | None,
    tables: Path | None,
    size: tuple[int, int],
    fields_per_class: int,
    variants: Sequence[str],
    batch_size: int,
    warmup: int,
    batches: int,
    cores: Sequence[int],
    val_fraction: float,
    seed: int,
    target: float,
    train_rate: float | None,
    engine: str = "horovod",
    out: TextIO | None = None,
) -> dict:
    """Measure every (variant, setting) and print the table and the cores-per-node figure; returns the
    results as ``{variant: [(setting, result), ...]}``. The parameters are the options of ``mcnn-bench bench
    input`` (:func:`add_arguments`): exactly one of ``data_dir`` (an official layout) and ``tables`` (real
    tables, synthetic TIFFs of ``size`` (H, W) pixels written to a temporary folder); ``target`` and
    ``train_rate`` in images/s; ``engine`` picks the input path (:data:`INPUT_PATHS`); the table goes to
    ``out`` (default: ``sys.stdout`` at the call).

    Raises:
        ValueError: bad arguments (a missing folder, too few cores, both or neither of data_dir and tables).
        RuntimeError: a measurement failed.
    """
    out = sys.stdout if out is None else out
    if (data_dir is None) == (tables is None):
        raise ValueError("give one of --data-dir and --tables")
    available = sorted(os.sched_getaffinity(0))
    wanted = cores
    cores = sorted(set(wanted))
    if not cores or cores[0] < 1:
        raise ValueError(f"--cores must be positive, got {wanted}")
    skipped = [n for n in cores if n > len(available)]
    cores = [n for n in cores if n <= len(available)]
    if not cores:
        raise ValueError(f"this process may run on {len(available)} core(s); --cores {wanted} asks for more")
    settings = [Setting("serial", cores[-1])] + [Setting("parallel", n) for n in cores]
    image_size = model_size(*size)
    path = INPUT_PATHS[engine]
    with tempfile.TemporaryDirectory(prefix="mcnn-input-") as scratch:
        if data_dir:
            if not Path(data_dir).is_dir():
                raise ValueError(f"no such folder: {data_dir}")
            data_dir, where = Path(data_dir), f"the layout in {data_dir}"
        else:
            assert tables is not None, "one of data_dir and tables is given (checked above)"
            data_dir = Path(scratch)
            print(
                f"writing {fields_per_class} fields of each MoA at {size[0]}x{size[1]} to {data_dir} ...",
                file=sys.stderr,
                flush=True,
            )
            height, width = size  # a list from the command line, too
            count = write_synthetic_layout(tables, data_dir, fields_per_class, (height, width))
            where = (
                f"{count} fields ({fields_per_class} of each MoA) with real table rows from {tables} "
                f"and synthetic uncompressed uint16 TIFFs of {size[0]}x{size[1]}"
            )
        print(
            f"Input pipeline alone ({engine} engine's {path.function}, training split of worker 0 of 1), "
            f"bbbc021 source, model input {image_size[0]}x{image_size[1]}, local batch {batch_size}, "
            f"{warmup} warm-up then {batches} timed batches per setting (steady state: an epoch's first batch "
            f"is not timed), each setting in a fresh process pinned to its cores; {where}.",
            file=out,
        )
        print(f"{'variant':<10} {'decode':<29} {'cores':>5} {'images/s':>9} {'CPU busy':>9}", file=out, flush=True)
        results: dict[str, list] = {}
        for variant in variants:
            spec = {
                "data_dir": str(data_dir),
                "variant": variant,
                "image_size": list(image_size),
                "batch": batch_size,
                "warmup": warmup,
                "batches": batches,
                "val_fraction": val_fraction,
                "seed": seed,
                "engine": engine,
            }
            rows = results[variant] = []
            for setting in settings:
                result = run_setting({**spec, "decode_calls": setting.decode_calls}, available[: setting.cores])
                rows.append((setting, result))
                label = "serial (one batch at a time)" if setting.decode == "serial" else path.parallel
                note = ""
                one = next((r for s, r in rows if s == Setting("parallel", 1)), None)
                if setting.decode == "parallel" and setting.cores > 1 and one:
                    note = f"  x{result['images_per_second'] / one['images_per_second']:.2f} of 1 core"
                print(
                    f"{variant:<10} {label:<29} {setting.cores:>5} {result['images_per_second']:>9.1f} "
                    f"{result['cpu_busy']:>9.2f}{note}",
                    file=out,
                    flush=True,
                )
    if skipped:
        print(f"(not measured: {skipped} cores; this process may run on {len(available)})", file=out)
    per_core = {
        variant: min(r["images_per_second"] / s.cores for s, r in rows if s.decode == "parallel")
        for variant, rows in results.items()
    }
    print(
        f"Per core (parallel; the lowest of images/s / cores over {cores} cores): "
        + ", ".join(f"{v} {rate:.1f} images/s" for v, rate in per_core.items())
        + ".",
        file=out,
    )
    print(
        f"To feed {target:g} images/s per node (the paper's one-node rate), the input pipeline needs "
        + ", ".join(f"{_cores(cores_needed(target, rate))} per node ({v})" for v, rate in per_core.items())
        + ".",
        file=out,
    )
    best = {v: max(r["images_per_second"] for _, r in rows) for v, rows in results.items()}
    if train_rate:
        for variant, rate in best.items():
            ratio = rate / train_rate
            print(
                f"{variant}: the pipeline delivers {rate:.1f} images/s = {ratio:.1f}x the training step's "
                f"{train_rate:g} images/s ({'at least' if ratio >= HEADROOM else 'LESS than'} the "
                f"{HEADROOM:g}x it must).",
                file=out,
            )
    else:
        print(
            f"Compare with the training step's images/s (`mcnn-bench train`: throughput.images_per_second; "
            f"about {TRAIN_RATE_HERE[0]}-{TRAIN_RATE_HERE[1]} at 1024x1280 on the 2-core development machine): "
            f"the pipeline must deliver at least {HEADROOM:g}x that (--train-rate checks it).",
            file=out,
        )
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``mcnn-bench bench input``."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="an official BBBC021 layout (the two tables and the WeekN folders of TIFFs)",
    )
    source.add_argument(
        "--tables",
        type=Path,
        metavar="DIR",
        help="folder with the real BBBC021_v1_image.csv and BBBC021_v1_moa.csv: write a layout "
        "with their rows and synthetic TIFFs of --size into a temporary folder",
    )
    parser.add_argument(
        "--size",
        type=int,
        nargs=2,
        default=(1024, 1280),
        metavar=("H", "W"),
        help="field size (of the synthetic TIFFs; the model input is it rounded up to multiples "
        "of 64) (default: 1024 1280)",
    )
    parser.add_argument(
        "--fields-per-class",
        type=int,
        default=4,
        help="with --tables: fields of each of the 13 MoAs (default: %(default)s)",
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["none", "dataset-a"],
        choices=["none", "dataset-a", "dataset-b"],
        help="data.variant (default: none dataset-a)",
    )
    parser.add_argument("--batch-size", type=int, default=4, help="local batch (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=4, help="untimed batches first (default: %(default)s)")
    parser.add_argument("--batches", type=int, default=40, help="timed batches (default: %(default)s)")
    parser.add_argument(
        "--cores",
        type=int,
        nargs="+",
        default=[1, 2],
        help="core counts for the parallel path; the serial path runs on the largest (default: 1 2)",
    )
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="fields held out for validation, not read (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="training.seed (default: %(default)s)")
    parser.add_argument(
        "--engine",
        choices=list(INPUT_PATHS),
        default="horovod",
        help="whose input path: horovod (tf.data) or ddp (PyTorch, the same batches) (default: %(default)s)",
    )
    parser.add_argument(
        "--target",
        type=float,
        default=PAPER_NODE_RATE,
        help="images/s a node must be fed, for the cores-per-node figure (default: %(default)s, "
        "the paper's one-node rate)",
    )
    parser.add_argument(
        "--train-rate",
        type=float,
        metavar="IMAGES_PER_S",
        help="the training step's images/s (from a run record): check the pipeline gives 3x",
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmark.microbench.input --child SPEC`` measures one setting (used by :func:`run_setting`)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        _child(json.loads(argv[1]))
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmark.microbench.input", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    run_bench(**vars(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
