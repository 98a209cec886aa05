"""``mcnn-bench allreduce``: time the allreduce of a model's gradients, as the trainer does it, on its own.

Every rank runs this under ``horovodrun``, ``mpirun`` or ``srun`` (like ``mcnn-bench train``). It builds one
float32 tensor per trainable variable of a model of :data:`benchmark.models.MODELS` (M-CNN by default; the
shapes of :meth:`benchmark.models.ModelKind.gradient_shapes`, in Keras order) and, after ``warmup`` untimed
iterations, runs ``iterations`` timed iterations of ONE ``hvd.grouped_allreduce(tensors, op=hvd.Average)``
each, inside a ``tf.function`` exactly like the trainer's step (``benchmark/engines/horovod/engine.py``), so
Horovod fuses and negotiates the same set of tensors.

Timing: each rank times each iteration with its own wall clock (``time.perf_counter``), with no barrier
around it (a barrier would add its own latency to every figure). Afterwards every rank's times are gathered
and, per iteration, the **maximum over the ranks** is kept: the collective is done only when its slowest
rank is done, so this is the collective's time as a training step sees it, not one lucky rank's. A rank
that arrives late makes the others wait inside the call, so arrival skew is included (it is small after the
warm-up, as the iterations run back to back).

Bandwidths (the definitions of NCCL's tests, https://github.com/NVIDIA/nccl-tests/blob/master/doc/PERFORMANCE.md):
``algorithm bandwidth = bytes / median time``; ``bus bandwidth = algorithm bandwidth x 2(p-1)/p``, the
bytes each rank actually sends over its link in a ring allreduce, comparable with the link's peak whatever
the number of ranks p (it is 0 for p = 1, when nothing crosses a link).

Rank 0 writes the result, atomically, as JSON (see :func:`run_allreduce`); ``analysis.scaling_model`` fits
the ring allreduce model to one or more of these files.
"""

from __future__ import annotations

import math
import os
import socket
import statistics
import time
from pathlib import Path

from benchmark.engines import check_engine

#: What the result file says it is (``analysis.scaling_model`` checks it); a size sweep's kind.
KIND = "mcnn-bench-allreduce"
SWEEP_KIND = "mcnn-bench-allreduce-sweep"
#: Sizes from which a sweep runs only its ``large_iterations`` (64 MiB).
LARGE_BYTES = 64 * 2**20
#: Horovod's settings that change what is measured; their values (or null) go into the result.
HOROVOD_VARIABLES = (
    "HOROVOD_FUSION_THRESHOLD",
    "HOROVOD_CYCLE_TIME",
    "HOROVOD_CPU_OPERATIONS",
    "HOROVOD_HIERARCHICAL_ALLREDUCE",
    "HOROVOD_GLOO_IFACE",
    "HOROVOD_TIMELINE",
)


def bus_bandwidth(algorithm_bandwidth: float, workers: int) -> float:
    """NCCL-tests' bus bandwidth of an allreduce: ``algorithm_bandwidth * 2(p-1)/p`` (p = ``workers``)."""
    return algorithm_bandwidth * 2 * (workers - 1) / workers


def tensor_shapes(
    height: int, width: int, channels: int = 3, num_classes: int = 13, bytes_scale: float = 1.0, model: str = "mcnn"
) -> list[tuple[int, ...]]:
    """The shapes of the tensors to allreduce: the gradient shapes of ``model`` (a name of
    :data:`benchmark.models.MODELS`) at ``height x width`` (:meth:`~benchmark.models.ModelKind.gradient_shapes`;
    a model without an analytic model is built, with TensorFlow, to read them).

    With ``bytes_scale != 1`` each tensor is flattened to ``max(1, round(elements * bytes_scale))``
    elements: the same number of tensors, each shrunk (or grown) in proportion, for quick tests.

    Raises:
        ValueError: for an unknown model, an image size the model cannot take, bad channels, classes or
            scale.
    """
    from benchmark.models import MODELS

    if model not in MODELS:
        raise ValueError(f"--model must be one of {', '.join(MODELS)}, got {model!r}")
    if not (math.isfinite(bytes_scale) and bytes_scale > 0):
        raise ValueError(f"--bytes-scale must be a positive number, got {bytes_scale}")
    shapes = list(MODELS[model].gradient_shapes(height, width, channels, num_classes))
    if bytes_scale == 1.0:
        return shapes
    return [(max(1, round(math.prod(s) * bytes_scale)),) for s in shapes]


def check_settings(iterations: int, warmup: int) -> None:
    """Raise ``ValueError`` unless ``iterations >= 1`` and ``warmup >= 0``."""
    if iterations < 1:
        raise ValueError(f"--iterations must be at least 1, got {iterations}")
    if warmup < 0:
        raise ValueError(f"--warmup must be 0 or more, got {warmup}")


def default_out(workers: int) -> Path:
    """Where rank 0 writes the result without ``--out``: ``./allreduce-w{workers}.json``."""
    return Path(f"allreduce-w{workers}.json")


def run_allreduce(
    height: int = 1024,
    width: int = 1280,
    channels: int = 3,
    num_classes: int = 13,
    iterations: int = 20,
    warmup: int = 3,
    bytes_scale: float = 1.0,
    out: str | Path | None = None,
    model: str = "mcnn",
) -> dict | None:
    """Run the microbenchmark on this rank (collective: every rank must call it with the same settings).

    Returns the result (also written to ``out``, default :func:`default_out`) on rank 0, None elsewhere.
    The tensors are the gradients of ``model`` (:func:`tensor_shapes`). The result: ``kind``, ``workers``,
    ``nodes`` (``hvd.cross_size()``), ``workers_per_node`` (``hvd.local_size()``), ``model``, ``image_size``
    [H, W], ``channels``, ``num_classes``, ``bytes_scale``,
    ``tensors`` (count), ``bytes`` (total float32 bytes of one worker's tensors), ``tensor_bytes`` (each),
    ``warmup``, ``iterations``, ``seconds`` (per timed iteration, the max over ranks), ``median_seconds``,
    ``min_seconds``, ``max_seconds``, ``rank_median_seconds`` (each rank's own median),
    ``algorithm_bandwidth_bytes_per_second``, ``bus_bandwidth_bytes_per_second`` (from the median),
    ``hostnames`` (per rank), ``controller`` (``mpi`` or ``gloo``), ``horovod_env`` and ``started_at``.

    Raises:
        ValueError: on bad settings, before Horovod starts.
        EngineUnavailable: the Horovod engine cannot run here (the engine registry's sentence), after the settings.
        RuntimeError: if the allreduce returns a wrong average (checked once, after the warm-up).
    """
    from benchmark.util.atomic import write_json_atomic
    from benchmark.util.times import utc_iso

    check_settings(iterations, warmup)
    shapes = tensor_shapes(height, width, channels, num_classes, bytes_scale, model)
    started_at = utc_iso()
    check_engine("horovod")

    import horovod.tensorflow as hvd
    import tensorflow as tf

    hvd.init()
    rank, size = hvd.rank(), hvd.size()
    tensors = [tf.fill(shape, tf.constant(rank + 1.0, tf.float32)) for shape in shapes]

    everyone = time_allreduce(hvd, tf, tensors, warmup, iterations, "model")
    controller = "mpi" if hvd.mpi_enabled() else "gloo"
    nodes, per_node = hvd.cross_size(), hvd.local_size()
    if rank != 0:
        return None
    seconds = slowest(everyone)
    median = statistics.median(seconds)
    tensor_bytes = [4 * math.prod(s) for s in shapes]
    total = sum(tensor_bytes)
    algorithm = total / median
    result = {
        "kind": KIND,
        "workers": size,
        "nodes": nodes,
        "workers_per_node": per_node,
        "model": model,
        "image_size": [height, width],
        "channels": channels,
        "num_classes": num_classes,
        "bytes_scale": bytes_scale,
        "tensors": len(shapes),
        "bytes": total,
        "tensor_bytes": tensor_bytes,
        "warmup": warmup,
        "iterations": iterations,
        "seconds": seconds,
        "median_seconds": median,
        "min_seconds": min(seconds),
        "max_seconds": max(seconds),
        "rank_median_seconds": [statistics.median(r["seconds"]) for r in everyone],
        "algorithm_bandwidth_bytes_per_second": algorithm,
        "bus_bandwidth_bytes_per_second": bus_bandwidth(algorithm, size),
        "hostnames": [r["host"] for r in everyone],
        "controller": controller,
        "horovod_env": {name: os.environ.get(name) for name in HOROVOD_VARIABLES},
        "started_at": started_at,
    }
    path = write_json_atomic(default_out(size) if out is None else out, result)
    result["path"] = str(path)
    return result


def time_allreduce(hvd, tf, tensors: list, warmup: int, iterations: int, name: str) -> list[dict]:
    """Collective: ``warmup`` untimed then ``iterations`` timed calls of ONE ``hvd.grouped_allreduce`` of
    ``tensors`` (each rank's tensors filled with ``rank + 1``) in a ``tf.function``; returns every rank's
    ``{"rank", "seconds" (per iteration), "host"}``, by rank.

    Raises:
        RuntimeError: the allreduce does not average to ``(p + 1) / 2`` (checked once, untimed).
    """
    rank, size = hvd.rank(), hvd.size()

    @tf.function
    def allreduce(values):
        return hvd.grouped_allreduce(values, op=hvd.Average)

    for _ in range(warmup):
        allreduce(tensors)
    check = float(tf.reshape(allreduce(tensors)[0], [-1])[0])
    if abs(check - (size + 1) / 2) > 1e-3 * size:
        raise RuntimeError(f"rank {rank}: the allreduce averaged to {check}, expected {(size + 1) / 2}")
    mine = []
    for _ in range(iterations):
        start = time.perf_counter()
        allreduce(tensors)  # eager call of a graph: returns when the collective's outputs are ready
        mine.append(time.perf_counter() - start)
    return sorted(
        hvd.allgather_object(
            {"rank": rank, "seconds": mine, "host": socket.gethostname()}, name=f"allreduce.times.{name}"
        ),
        key=lambda r: r["rank"],
    )


def slowest(everyone: list[dict]) -> list[float]:
    """Per iteration, the slowest rank's seconds: the collective's time."""
    return [max(r["seconds"][i] for r in everyone) for i in range(len(everyone[0]["seconds"]))]


def sweep_sizes(smallest: int, largest: int) -> list[int]:
    """Message sizes in bytes from ``smallest`` to ``largest``, a factor 4 apart (1 KB, 4 KB ... 1 GB), each a
    multiple of 4 (float32 elements), as OSU's and nccl-tests' size sweeps.

    Raises:
        ValueError: ``smallest`` < 4 or ``largest`` < ``smallest``.
    """
    if smallest < 4 or largest < smallest:
        raise ValueError(f"--sweep needs 4 <= MIN <= MAX bytes, got {smallest} and {largest}")
    sizes = []
    size = smallest
    while size <= largest:
        sizes.append(size // 4 * 4)
        size *= 4
    return sizes


def run_sweep(
    smallest: int = 1024,
    largest: int = 2**30,
    iterations: int = 20,
    warmup: int = 3,
    large_iterations: int = 3,
    out: str | Path | None = None,
) -> dict | None:
    """The allreduce of one float32 tensor of each size of :func:`sweep_sizes`, as OSU's
    ``osu_allreduce`` and nccl-tests' ``all_reduce_perf`` sweep it (collective: every rank calls it).

    Sizes of :data:`LARGE_BYTES` or more run ``large_iterations`` timed iterations (a 1 GB allreduce takes
    seconds here), the others ``iterations``. Returns on rank 0 (written to ``out``, default
    ``./allreduce-sweep-w{workers}.json``) ``kind`` (``mcnn-bench-allreduce-sweep``), ``workers``,
    ``nodes``, ``workers_per_node``, ``controller``, ``hostnames``, ``started_at`` and ``sizes``: per size
    ``bytes``, ``iterations``, ``median_seconds``, ``min_seconds``, ``max_seconds``,
    ``algorithm_bandwidth_bytes_per_second`` and ``bus_bandwidth_bytes_per_second`` (from the median);
    None on the other ranks.

    Raises:
        ValueError: on bad settings, before Horovod starts.
        EngineUnavailable: the Horovod engine cannot run here (the engine registry's sentence), after the settings.
    """
    from benchmark.util.atomic import write_json_atomic
    from benchmark.util.times import utc_iso

    check_settings(iterations, warmup)
    check_settings(large_iterations, warmup)
    sizes, started_at = sweep_sizes(smallest, largest), utc_iso()
    check_engine("horovod")

    import horovod.tensorflow as hvd
    import tensorflow as tf

    hvd.init()
    rows, everyone = [], []
    for size in sizes:
        tensor = tf.fill((size // 4,), tf.constant(hvd.rank() + 1.0, tf.float32))
        count = large_iterations if size >= LARGE_BYTES else iterations
        everyone = time_allreduce(hvd, tf, [tensor], warmup, count, f"sweep.{size}")
        del tensor
        seconds = slowest(everyone)
        median = statistics.median(seconds)
        rows.append(
            {
                "bytes": size,
                "iterations": count,
                "median_seconds": median,
                "min_seconds": min(seconds),
                "max_seconds": max(seconds),
                "algorithm_bandwidth_bytes_per_second": size / median,
                "bus_bandwidth_bytes_per_second": bus_bandwidth(size / median, hvd.size()),
            }
        )
    if hvd.rank() != 0:
        return None
    result = {
        "kind": SWEEP_KIND,
        "workers": hvd.size(),
        "nodes": hvd.cross_size(),
        "workers_per_node": hvd.local_size(),
        "controller": "mpi" if hvd.mpi_enabled() else "gloo",
        "hostnames": [r["host"] for r in everyone],
        "started_at": started_at,
        "sizes": rows,
    }
    path = write_json_atomic(Path(f"allreduce-sweep-w{hvd.size()}.json") if out is None else out, result)
    result["path"] = str(path)
    return result


def sweep_table(result: dict) -> str:
    """The sweep as OSU prints it: size, median latency (us), algorithm and bus bandwidth (GB/s)."""
    lines = [
        f"# allreduce of one float32 tensor, {result['workers']} workers ({result['nodes']} node(s) x "
        f"{result['workers_per_node']}, {result['controller']}); median of the slowest rank per iteration",
        f"{'bytes':>12} {'iterations':>10} {'median us':>12} {'algbw GB/s':>11} {'busbw GB/s':>11}",
    ]
    lines += [
        f"{row['bytes']:>12} {row['iterations']:>10} {row['median_seconds'] * 1e6:>12.1f} "
        f"{row['algorithm_bandwidth_bytes_per_second'] / 1e9:>11.3f} "
        f"{row['bus_bandwidth_bytes_per_second'] / 1e9:>11.3f}"
        for row in result["sizes"]
    ]
    return "\n".join(lines + ([f"-> {result['path']}"] if "path" in result else []))


def summary_line(result: dict) -> str:
    """Rank 0's one line: size, median and bandwidths (GB/s = 1e9 bytes/s; Gb/s = 1e9 bits/s)."""
    algorithm, bus = result["algorithm_bandwidth_bytes_per_second"], result["bus_bandwidth_bytes_per_second"]
    return (
        f"allreduce of {result['tensors']} tensors ({result['model']}'s gradients), "
        f"{result['bytes'] / 1e6:.1f} MB, over {result['workers']} workers ({result['nodes']} node(s) x "
        f"{result['workers_per_node']}, {result['controller']}): "
        f"median {result['median_seconds'] * 1e3:.2f} ms (min {result['min_seconds'] * 1e3:.2f}, max "
        f"{result['max_seconds'] * 1e3:.2f}) over {result['iterations']} iterations; algorithm bandwidth "
        f"{algorithm / 1e9:.3f} GB/s, bus bandwidth {bus / 1e9:.3f} GB/s ({8 * bus / 1e9:.2f} Gb/s)"
        + (f" -> {result['path']}" if "path" in result else "")
    )
