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

On a GPU (``run.device = "gpu"``, engines that train on GPUs) the same two kernels run on local rank 0's GPU, with
the engine's GPU math (the DDP engine's: fp32 may run in TF32, :attr:`benchmark.record.KernelPeaks.tf32`), each
call waiting for the GPU, at sizes a GPU needs to be timed by the call (:data:`GPU_CONV_SHAPE`, the convolution
at M-CNN's full 1024x1280 field, batch 16: 268 GFLOP a call; :data:`GPU_MATMUL_SIZE`), with
:data:`GPU_WARMUP` untimed calls (cuDNN's autotuner runs in the first) and :data:`GPU_ITERATIONS` timed ones;
bf16 where the GPU computes it. A few seconds on an H100.

:func:`node_peaks` measures once per node, thread setting, framework and GPU model and caches the result beside
the results (``RESULTS_DIR/peaks/``, or ``$MCNN_PEAK_CACHE``): one JSON file per host, threads, framework and its
version (and GPU), written atomically under a file lock so that two workers of a node never measure at once.
"""

from __future__ import annotations

import logging
import os
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from filelock import FileLock, Timeout
from pydantic import ValidationError

from benchmark.config import Precision
from benchmark.engines import DEFAULT_ENGINE, Device
from benchmark.engines.bench import EngineBench, bench_module
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
#: On a GPU: the convolution's batch, height, width, input and output channels (M-CNN's finest pathway at the
#: paper's full field, 1024x1280; batch 16: 268 GFLOP a call, milliseconds on an H100, so that the call's own
#: overhead and the wait for the GPU stay small beside it); 1.3 GiB of input in fp32.
GPU_CONV_SHAPE = (16, 1024, 1280, 16, 16)
#: On a GPU: the matmul's M = N = K (1.1 TFLOP a call).
GPU_MATMUL_SIZE = 8192
#: On a GPU: untimed calls before the timed ones (cuDNN's autotuner times its algorithms in the first, and the
#: GPU's clocks rise).
GPU_WARMUP = 3
#: On a GPU: timed calls per kernel and precision.
GPU_ITERATIONS = 10
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


def native_precisions(device: Device = "cpu", bench: EngineBench | None = None) -> tuple[Precision, ...]:
    """The precisions ``device`` computes natively: fp32, and bf16 on a CPU with
    ``benchmark.util.provenance.BF16_FLAGS``, or on a GPU that has it (as ``bench``, the engine's bench module,
    asks its framework)."""
    if device == "cpu":
        return ("fp32", "bf16") if native_bf16() else ("fp32",)
    assert bench is not None, "a GPU's precisions are the framework's to say"
    return ("fp32", "bf16") if bench.native_bf16(device) else ("fp32",)


def kernel_sizes(device: Device = "cpu") -> tuple[tuple[int, int, int, int, int], int, int, int]:
    """The convolution's shape, the matmul's size and the untimed and timed calls of the peak on ``device``: on
    the CPU :data:`CONV_SHAPE`, :data:`MATMUL_SIZE`, :data:`WARMUP`, :data:`ITERATIONS`; on a GPU the ``GPU_``
    ones."""
    if device == "cpu":
        return CONV_SHAPE, MATMUL_SIZE, WARMUP, ITERATIONS
    return GPU_CONV_SHAPE, GPU_MATMUL_SIZE, GPU_WARMUP, GPU_ITERATIONS


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
    conv_shape: tuple[int, int, int, int, int] | None = None,
    matmul_size: int | None = None,
    warmup: int | None = None,
    iterations: int | None = None,
    engine: str = DEFAULT_ENGINE,
    device: Device = "cpu",
) -> KernelPeaks:
    """Time the 5x5 convolution and the matmul (see the module) in this process, in each of ``precisions``.

    Args:
        intra_op_threads, inter_op_threads: the framework's threads (a worker's); set here unless the framework
            already runs with them.
        precisions: of ``fp32`` and ``bf16``; bf16 is measured only where the device computes it natively,
            else (and for a precision not asked for) its rate is null.
        conv_shape: the convolution's (batch, height, width, in channels, out channels); None: the device's
            (:func:`kernel_sizes`), as the sizes below.
        matmul_size: the matmul's M = N = K.
        warmup, iterations: untimed, then timed calls per kernel and precision.
        engine: the ``run.engine`` whose framework's kernels are timed (its
            :func:`~benchmark.engines.bench.bench_module`).
        device: ``run.device``: the CPU, or the framework's current GPU.

    Returns:
        The rates, GFLOP/s, with the host, CPU model, threads, the framework and its version, and the GPU.

    Raises:
        ValueError: the framework already runs with other threads (its ``use_threads``), or ``iterations``
            is not positive.
        EngineUnavailable: ``engine``'s framework is not installed here.
        DeviceUnavailable: ``device`` is a GPU and the framework sees none (or ``engine`` trains on CPUs only).
    """
    sizes_here = kernel_sizes(device)
    conv_shape = sizes_here[0] if conv_shape is None else conv_shape
    matmul_size = sizes_here[1] if matmul_size is None else matmul_size
    warmup = sizes_here[2] if warmup is None else warmup
    iterations = sizes_here[3] if iterations is None else iterations
    if iterations < 1:
        raise ValueError(f"iterations must be positive, got {iterations}")
    bench = bench_module(engine)
    bench.use_threads(intra_op_threads, inter_op_threads)
    gpu = bench.device_name(device)  # raises where there is no such device, before anything is measured
    measured = set(precisions) & set(native_precisions(device, bench))
    # each kernel's shape and FLOPs per call
    sizes: dict[Kernel, tuple[list[int], int]] = {
        "conv5x5": (list(conv_shape), conv_flop(*conv_shape)),
        "matmul": ([matmul_size] * 3, matmul_flop(matmul_size, matmul_size, matmul_size)),
    }
    rates: dict[tuple[Kernel, Precision], float] = {}
    for precision in PRECISIONS:
        if precision in measured:
            calls = bench.peak_kernels(conv_shape, matmul_size, precision, device)
            for name, (_, flop) in sizes.items():
                rates[name, precision] = _median_gflops(calls[name], flop, warmup, iterations)
            del calls  # a GPU's inputs freed before the next precision's are made
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
        gpu=gpu,
        tf32=bench.tf32(device),
        measured_at=utc_iso(),
        kernels=peaks,
    )


def cache_dir(results_dir: str | Path) -> Path:
    """Where peaks are cached: ``$MCNN_PEAK_CACHE`` if set, else ``results_dir/peaks`` (beside the sweeps)."""
    return Path(os.environ.get(CACHE_VARIABLE) or Path(results_dir) / CACHE_DIR)


def cache_path(
    folder: str | Path,
    intra_op_threads: int,
    inter_op_threads: int,
    engine: str = DEFAULT_ENGINE,
    device: Device = "cpu",
) -> Path:
    """The cache file of this host at these threads and ``engine``'s framework and its version, in ``folder``:
    ``HOST-intraN-interM-FRAMEWORKVERSION.json`` (e.g. ``...-tensorflow2.18.1.json``, ``...-pytorch2.14.1.json``);
    on a GPU, ``...-FRAMEWORKVERSION-gpu-MODEL.json`` (the GPU's name in lower case, its runs of other characters
    as one dash: ``...-pytorch2.14.1-gpu-nvidia-h100-80gb-hbm3.json``).

    Raises:
        EngineUnavailable: ``engine``'s framework is not installed here.
        DeviceUnavailable: ``device`` is a GPU and the framework sees none.
    """
    bench = bench_module(engine)
    framework = f"{bench.FRAMEWORK}{bench.framework_version()}"
    gpu = bench.device_name(device)
    suffix = "" if gpu is None else "-gpu-" + (re.sub(r"[^a-z0-9.]+", "-", gpu.lower()).strip("-") or "unnamed")
    return Path(folder) / f"{hostname()}-intra{intra_op_threads}-inter{inter_op_threads}-{framework}{suffix}.json"


def _cached(
    path: Path, intra_op_threads: int, inter_op_threads: int, device: Device = "cpu", gpu: str | None = None
) -> KernelPeaks | None:
    """The peaks in ``path`` if it holds this machine's at these threads, kernel sizes (``device``'s) and GPU
    (``gpu``, its name; None: the CPU); None if there is none, or it is of another CPU, GPU or kernel sizes
    (logged), or corrupt (a warning)."""

    if not path.exists():
        return None
    try:
        peaks = KernelPeaks.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        log.warning("peak cache %s is unreadable or corrupt, measuring again: %s", path, str(exc).splitlines()[0])
        return None
    shapes = {k.kernel: k.shape for k in peaks.kernels}
    conv_shape, matmul_size, _, _ = kernel_sizes(device)
    current = {"conv5x5": list(conv_shape), "matmul": [matmul_size] * 3}
    if (peaks.cpu_model, peaks.gpu, peaks.intra_op_threads, peaks.inter_op_threads, shapes) != (
        cpu_model(),
        gpu,
        intra_op_threads,
        inter_op_threads,
        current,
    ):
        log.info("peak cache %s is of another CPU, GPU, threads or kernel size; measuring again", path)
        return None
    return peaks


def node_peaks(
    folder: str | Path,
    intra_op_threads: int,
    inter_op_threads: int,
    refresh: bool = False,
    engine: str = DEFAULT_ENGINE,
    device: Device = "cpu",
) -> KernelPeaks:
    """This node's peaks at these threads in ``engine``'s framework on ``device`` (a GPU: the framework's current
    one): read from the cache in ``folder`` (:func:`cache_path`), else (or with ``refresh``) measured with
    :func:`measure_peaks` at the device's default sizes and written there atomically.

    A file lock (``<cache file>.lock``) keeps two processes of a node from measuring at once: the second
    waits, then reads the first one's result. A corrupt cache file is measured again with a warning; a
    cache that cannot be written, or a lock held longer than :data:`LOCK_SECONDS`, costs only the caching
    (a warning), never the run.

    Raises:
        ValueError: the framework already runs with other threads (see :func:`measure_peaks`).
        EngineUnavailable: ``engine``'s framework is not installed here.
        DeviceUnavailable: ``device`` is a GPU and the framework sees none.
    """
    path = cache_path(folder, intra_op_threads, inter_op_threads, engine, device)
    lock = FileLock(path.with_name(path.name + ".lock"), timeout=LOCK_SECONDS)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except (OSError, Timeout) as exc:
        log.warning("peak cache %s not used (%s); measuring without it", path, exc)
        return measure_peaks(intra_op_threads, inter_op_threads, engine=engine, device=device)
    try:
        gpu = bench_module(engine).device_name(device)
        peaks = None if refresh else _cached(path, intra_op_threads, inter_op_threads, device, gpu)
        if peaks is None:
            peaks = measure_peaks(intra_op_threads, inter_op_threads, engine=engine, device=device)
            try:
                write_atomic(path, peaks.model_dump_json(indent=2) + "\n")
            except OSError as exc:
                log.warning("peak cache %s not written: %s", path, exc)
        return peaks
    finally:
        lock.release()


class PeakWorker(Protocol):
    """What :func:`worker_peaks` asks of a worker's engine (:class:`benchmark.engines.base.Engine`, which calls it):
    its ``run.engine`` name, its rank on its node, and a barrier of all workers."""

    @property
    def name(self) -> str: ...

    @property
    def local_rank(self) -> int: ...

    def barrier(self, name: str) -> None: ...


def worker_peaks(
    engine: PeakWorker, results_dir: str | Path, intra_op_threads: int, inter_op_threads: int, device: Device = "cpu"
) -> KernelPeaks | None:
    """Collective, before training: local rank 0 of each node reads or measures its node's peaks in ``engine``'s
    framework on ``device`` (on a GPU, its own: :func:`node_peaks`, cached in :func:`cache_dir` of ``results_dir``)
    while the node's other workers wait (:meth:`~benchmark.engines.base.Engine.barrier`), so that nothing else runs
    on the node meanwhile. Returns the peaks on local rank 0, None elsewhere.

    Raises:
        ValueError: the framework already runs with other threads (see :func:`measure_peaks`).
    """
    peaks = (
        node_peaks(cache_dir(results_dir), intra_op_threads, inter_op_threads, engine=engine.name, device=device)
        if engine.local_rank == 0
        else None
    )
    engine.barrier("peak.wait")
    return peaks
