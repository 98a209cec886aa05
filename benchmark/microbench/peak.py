"""The node's own peak for M-CNN's dominant kernels, against which a run's achieved GFLOP/s is held.

Two kernels, each timed in this process with the run's threads, in the framework of the run's engine
(:attr:`benchmark.engines.EngineEntry.bench`: TensorFlow's ``tf.nn.conv2d`` and ``tf.linalg.matmul`` as
``tf.function`` calls for the Horovod engine, :mod:`benchmark.engines.horovod.bench`; PyTorch's channels-last
``torch.nn.functional.conv2d`` and ``torch.matmul`` for the DDP engine, :mod:`benchmark.engines.ddp.bench`), at
the same sizes, with the same FLOP counts and the same timing:

* ``conv5x5``: a 5x5 "same" convolution of :data:`CONV_SHAPE` = batch 2, 256x320 pixels, 16 -> 16 channels: the
  shape of M-CNN's pathway convolutions (:mod:`benchmark.models.mcnn`). 5x5 convolutions hold 99.6 % of M-CNN's
  forward FLOPs at 1024x1280, the 16 -> 16 ones of the three finest pathways 86 %
  (:func:`benchmark.models.analytic.model_figures`), so this kernel is the model's peak. FLOPs per call:
  2 x 5 x 5 x C_in x C_out x H x W x N (2 per multiply-add, as :mod:`benchmark.models.analytic`).
* ``matmul``: a :data:`MATMUL_SIZE` x :data:`MATMUL_SIZE` by :data:`MATMUL_SIZE` x :data:`MATMUL_SIZE`
  matrix product (the dense layers' kernel, and the machine's best case): 2 x M x N x K FLOPs per call.

Each in fp32 and in bf16; bf16 only on CPUs that compute it natively (``benchmark.util.provenance.BF16_FLAGS``),
else its rate is null. Per kernel and precision: :data:`WARMUP` untimed calls (the first traces), then
:data:`ITERATIONS` timed calls; the rate is the median of the calls' GFLOP/s (GFLOP = 1e9 FLOPs). About
3 s of wall time at 2 threads on a Xeon with AVX-512 and AMX (most of it the fp32 matmul).

:func:`node_peaks` measures once per node, thread setting and framework and caches the result beside the
results (``RESULTS_DIR/peaks/``, or ``$MCNN_PEAK_CACHE``): one JSON file per host, threads, framework and its
version, written atomically under a file lock so that two workers of a node never measure at once.
"""

from __future__ import annotations

import logging
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock, Timeout
from pydantic import ValidationError

from benchmark.config import Precision
from benchmark.engines import DEFAULT_ENGINE
from benchmark.engines.base import Engine, bench_module
from benchmark.record import Kernel, KernelPeak, KernelPeaks
from benchmark.train.precisions import PRECISIONS
from benchmark.util.atomic import write_atomic
from benchmark.util.provenance import cpu_model, hostname, native_bf16
from benchmark.util.times import utc_iso

log = logging.getLogger(__name__)

#: The convolution's input and filters: batch, height, width (pixels), input and output channels.
CONV_SHAPE = (2, 256, 320, 16, 16)
#: The convolution's square kernel side (M-CNN's pathway convolutions, Godinez et al. 2017, Fig. 1).
CONV_KERNEL = 5
#: The matmul's M = N = K.
MATMUL_SIZE = 2048
#: Untimed calls before the timed ones (the first call traces the function and sets up its kernel).
WARMUP = 1
#: Timed calls per kernel and precision; the rate is their median.
ITERATIONS = 5
#: The environment variable that, when set, names the cache folder instead of ``RESULTS_DIR/peaks``.
CACHE_VARIABLE = "MCNN_PEAK_CACHE"
#: The cache folder inside the results folder.
CACHE_DIR = "peaks"
#: Seconds a worker waits for another process measuring the same peaks before it measures uncached.
LOCK_SECONDS = 300.0


def peak_table(peaks: KernelPeaks) -> str:
    """The rates of ``peaks`` as lines of text: kernel, precision, shape, GFLOP/s."""
    lines = [f"{'kernel':<8} {'precision':<9} {'shape':<24} {'GFLOP/s':>9}"]
    for k in peaks.kernels:
        rate = "-" if k.gflops_per_second is None else f"{k.gflops_per_second:.1f}"
        lines.append(f"{k.kernel:<8} {k.precision:<9} {'x'.join(map(str, k.shape)):<24} {rate:>9}")
    return "\n".join(lines)


def conv_flop(
    batch: int, height: int, width: int, in_channels: int, out_channels: int, kernel: int = CONV_KERNEL
) -> int:
    """FLOPs of one ``kernel`` x ``kernel`` "same" convolution: 2 x K x K x C_in x C_out x H x W x N."""
    return 2 * kernel * kernel * in_channels * out_channels * height * width * batch


def matmul_flop(m: int, n: int, k: int) -> int:
    """FLOPs of an (M, K) by (K, N) matrix product: 2 x M x N x K."""
    return 2 * m * n * k


def native_precisions() -> tuple[Precision, ...]:
    """The precisions this CPU computes natively: fp32, and bf16 with ``benchmark.util.provenance.BF16_FLAGS``."""

    return ("fp32", "bf16") if native_bf16() else ("fp32",)


def _median_gflops(call: Callable[[], object], flop: int, warmup: int, iterations: int) -> float:
    """The median GFLOP/s of ``iterations`` timed calls of ``call()`` (``flop`` FLOPs each; a call returns once
    its kernel has run) after ``warmup`` untimed ones."""
    for _ in range(warmup):
        call()
    rates = []
    for _ in range(iterations):
        start = time.perf_counter()
        call()
        rates.append(flop / (time.perf_counter() - start) / 1e9)
    return statistics.median(rates)


def measure_peaks(
    intra_op_threads: int,
    inter_op_threads: int,
    precisions: tuple[Precision, ...] = tuple(PRECISIONS),
    conv_shape: tuple[int, int, int, int, int] = CONV_SHAPE,
    matmul_size: int = MATMUL_SIZE,
    warmup: int = WARMUP,
    iterations: int = ITERATIONS,
    engine: str = DEFAULT_ENGINE,
) -> KernelPeaks:
    """Time the 5x5 convolution and the matmul (see the module) in this process, in each of ``precisions``.

    Args:
        intra_op_threads, inter_op_threads: the framework's threads (a worker's); set here unless the framework
            already runs with them.
        precisions: of ``fp32`` and ``bf16``; bf16 is measured only where the CPU computes it natively,
            else (and for a precision not asked for) its rate is null.
        conv_shape: the convolution's (batch, height, width, in channels, out channels).
        matmul_size: the matmul's M = N = K.
        warmup, iterations: untimed, then timed calls per kernel and precision.
        engine: the ``run.engine`` whose framework's kernels are timed (its
            :func:`~benchmark.engines.base.bench_module`).

    Returns:
        The rates, GFLOP/s, with the host, CPU model, threads and the framework and its version.

    Raises:
        ValueError: the framework already runs with other threads (its ``use_threads``), or ``iterations``
            is not positive.
        EngineUnavailable: ``engine``'s framework is not installed here.
    """
    if iterations < 1:
        raise ValueError(f"iterations must be positive, got {iterations}")
    bench = bench_module(engine)
    bench.use_threads(intra_op_threads, inter_op_threads)
    measured = set(precisions) & set(native_precisions())
    # each kernel's shape and FLOPs per call
    sizes: dict[Kernel, tuple[list[int], int]] = {
        "conv5x5": (list(conv_shape), conv_flop(*conv_shape)),
        "matmul": ([matmul_size] * 3, matmul_flop(matmul_size, matmul_size, matmul_size)),
    }
    rates: dict[tuple[Kernel, Precision], float] = {}
    for precision in PRECISIONS:
        if precision in measured:
            calls = bench.peak_kernels(conv_shape, matmul_size, precision)
            for name, (_, flop) in sizes.items():
                rates[name, precision] = _median_gflops(calls[name], flop, warmup, iterations)
    peaks = [
        KernelPeak(
            kernel=name,
            precision=precision,
            shape=shape,
            gflop=flop / 1e9,
            iterations=iterations if (name, precision) in rates else 0,
            gflops_per_second=rates.get((name, precision)),
        )
        for name, (shape, flop) in sizes.items()
        for precision in PRECISIONS
    ]
    return KernelPeaks(
        host=hostname(),
        cpu_model=cpu_model(),
        intra_op_threads=intra_op_threads,
        inter_op_threads=inter_op_threads,
        framework=bench.FRAMEWORK,
        framework_version=bench.framework_version(),
        measured_at=utc_iso(),
        kernels=peaks,
    )


def cache_dir(results_dir: str | Path) -> Path:
    """Where peaks are cached: ``$MCNN_PEAK_CACHE`` if set, else ``results_dir/peaks`` (beside the sweeps)."""
    return Path(os.environ.get(CACHE_VARIABLE) or Path(results_dir) / CACHE_DIR)


def cache_path(folder: str | Path, intra_op_threads: int, inter_op_threads: int, engine: str = DEFAULT_ENGINE) -> Path:
    """The cache file of this host at these threads and ``engine``'s framework and its version, in ``folder``:
    ``HOST-intraN-interM-FRAMEWORKVERSION.json`` (e.g. ``...-tensorflow2.18.1.json``, ``...-pytorch2.14.1.json``).

    Raises:
        EngineUnavailable: ``engine``'s framework is not installed here.
    """
    bench = bench_module(engine)
    framework = f"{bench.FRAMEWORK}{bench.framework_version()}"
    return Path(folder) / f"{hostname()}-intra{intra_op_threads}-inter{inter_op_threads}-{framework}.json"


def _cached(path: Path, intra_op_threads: int, inter_op_threads: int) -> KernelPeaks | None:
    """The peaks in ``path`` if it holds this machine's at these threads and kernel sizes; None if there is
    none, or it is of another CPU or kernel sizes (logged), or corrupt (a warning)."""

    if not path.exists():
        return None
    try:
        peaks = KernelPeaks.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        log.warning("peak cache %s is unreadable or corrupt, measuring again: %s", path, str(exc).splitlines()[0])
        return None
    shapes = {k.kernel: k.shape for k in peaks.kernels}
    current = {"conv5x5": list(CONV_SHAPE), "matmul": [MATMUL_SIZE] * 3}
    if (peaks.cpu_model, peaks.intra_op_threads, peaks.inter_op_threads, shapes) != (
        cpu_model(),
        intra_op_threads,
        inter_op_threads,
        current,
    ):
        log.info("peak cache %s is of another CPU, threads or kernel size; measuring again", path)
        return None
    return peaks


def node_peaks(
    folder: str | Path,
    intra_op_threads: int,
    inter_op_threads: int,
    refresh: bool = False,
    engine: str = DEFAULT_ENGINE,
) -> KernelPeaks:
    """This node's peaks at these threads in ``engine``'s framework: read from the cache in ``folder``
    (:func:`cache_path`), else (or with ``refresh``) measured with :func:`measure_peaks` at the default sizes
    and written there atomically.

    A file lock (``<cache file>.lock``) keeps two processes of a node from measuring at once: the second
    waits, then reads the first one's result. A corrupt cache file is measured again with a warning; a
    cache that cannot be written, or a lock held longer than :data:`LOCK_SECONDS`, costs only the caching
    (a warning), never the run.

    Raises:
        ValueError: the framework already runs with other threads (see :func:`measure_peaks`).
        EngineUnavailable: ``engine``'s framework is not installed here.
    """
    path = cache_path(folder, intra_op_threads, inter_op_threads, engine)
    lock = FileLock(path.with_name(path.name + ".lock"), timeout=LOCK_SECONDS)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except (OSError, Timeout) as exc:
        log.warning("peak cache %s not used (%s); measuring without it", path, exc)
        return measure_peaks(intra_op_threads, inter_op_threads, engine=engine)
    try:
        peaks = None if refresh else _cached(path, intra_op_threads, inter_op_threads)
        if peaks is None:
            peaks = measure_peaks(intra_op_threads, inter_op_threads, engine=engine)
            try:
                write_atomic(path, peaks.model_dump_json(indent=2) + "\n")
            except OSError as exc:
                log.warning("peak cache %s not written: %s", path, exc)
        return peaks
    finally:
        lock.release()


def worker_peaks(
    engine: Engine, results_dir: str | Path, intra_op_threads: int, inter_op_threads: int
) -> KernelPeaks | None:
    """Collective, before training: local rank 0 of each node reads or measures its node's peaks in ``engine``'s
    framework (:func:`node_peaks`, cached in :func:`cache_dir` of ``results_dir``) while the node's other
    workers wait (:meth:`~benchmark.engines.base.Engine.barrier`), so that nothing else runs on the node
    meanwhile. Returns the peaks on local rank 0, None elsewhere.

    Raises:
        ValueError: the framework already runs with other threads (see :func:`measure_peaks`).
    """
    peaks = (
        node_peaks(cache_dir(results_dir), intra_op_threads, inter_op_threads, engine=engine.name)
        if engine.local_rank == 0
        else None
    )
    engine.barrier("peak.wait")
    return peaks
