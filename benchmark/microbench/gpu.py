"""``mcnn-bench bench gpu``: one GPU checked in a few minutes with the suite's own training runs.

Two short runs of M-CNN on synthetic data, each a fresh ``mcnn-bench train`` process (the DDP engine, one worker,
``run.device = "gpu"``, bf16): at the paper's full field, 1024x1280 with a local batch of 32, and at 768x768 with
64 (:data:`SHAPES`), :data:`WARMUP_STEPS` warm-up steps (cuDNN's autotuner, the GPU's clocks) then
:data:`TIMED_STEPS` timed ones. Each run measures the GPU's kernel peak first (:mod:`benchmark.microbench.peak`,
cached in the results folder's ``peaks/``) and writes its record; the check prints, per shape, from the record:
images/s, the peak GPU memory (what PyTorch's allocator reserved, and what the tensors held), the training GFLOP/s
(``analytic.achieved_gflops_per_second_per_worker``) and the fraction of the GPU's measured 5x5-convolution peak
(``analytic.fraction_of_peak``, what Table 1 shows as percent of peak). Nothing here imports PyTorch: the check
asks the DDP engine's bench module whether there is a GPU at all before it starts a run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from benchmark.config import TrainConfig
from benchmark.engines.bench import bench_module
from benchmark.errors import McnnBenchError
from benchmark.record import RunRecord

#: The engine that trains on GPUs.
ENGINE = "ddp"
#: The sweep name the check's runs land under, in the results folder.
SWEEP = "gpu-check"
#: Warm-up steps of each run (left out of its images/s): cuDNN tries its algorithms on the first.
WARMUP_STEPS = 5
#: Timed steps of each run.
TIMED_STEPS = 20
#: Seconds a run may take before the check gives up on it (start-up, the peak and the steps take about a minute).
RUN_SECONDS = 600


@dataclass(frozen=True)
class Shape:
    """One run of the check: M-CNN's input ``height`` x ``width`` and the local ``batch``."""

    height: int
    width: int
    batch: int

    @property
    def run_id(self) -> str:
        return f"mcnn-{self.height}x{self.width}-b{self.batch}"


#: The check's runs: the paper's full field (Dataset A, 1024x1280) at batch 32, and 768x768 at batch 64.
SHAPES = (Shape(1024, 1280, 32), Shape(768, 768, 64))


class GpuCheckFailed(McnnBenchError, RuntimeError):
    """A run of the check failed; the message names the run, its reason and the end of its output."""


def check_config(shape: Shape, results: Path, warmup: int = WARMUP_STEPS, steps: int = TIMED_STEPS) -> TrainConfig:
    """The training config of one run of the check: M-CNN, synthetic data of ``shape``, bf16, the DDP engine on one
    GPU, one epoch of ``warmup`` + ``steps`` steps, landing in ``results/gpu-check/<run id>``."""
    return TrainConfig.from_flat(
        source="synthetic",
        image_size=(shape.height, shape.width),
        name="mcnn",
        local_batch_size=shape.batch,
        epochs=1,
        steps_per_epoch=warmup + steps,
        warmup_steps=warmup,
        precision="bf16",
        engine=ENGINE,
        device="gpu",
        results_dir=str(results),
        sweep=SWEEP,
        run_id=shape.run_id,
    )


def gpu_name() -> str | None:
    """The GPU PyTorch computes on here (the DDP engine's bench module).

    Raises:
        EngineUnavailable: PyTorch is not installed here.
        DeviceUnavailable: PyTorch sees no GPU (the sentence names ``run.device``, ``CUDA_VISIBLE_DEVICES`` and the
            device count).
    """
    return bench_module(ENGINE).device_name("gpu")


def _suite_env() -> dict[str, str]:
    """This process's environment with the suite's folder first on ``PYTHONPATH``, so that the run's process
    finds this checkout's ``mcnn_bench`` wherever it starts."""
    root = str(Path(str(resources.files("benchmark"))).resolve().parent)
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root if not path else f"{root}{os.pathsep}{path}"}


def run_shape(config: TrainConfig, seconds: float = RUN_SECONDS) -> RunRecord:
    """Train ``config`` as a fresh ``mcnn-bench train --config`` process; returns its completed record.

    Raises:
        GpuCheckFailed: the run failed, left no record or ran longer than ``seconds`` (its reason and the end of
            its output named).
    """
    path = config.write_json(config.run_dir / "config.json")
    command = [sys.executable, "-m", "mcnn_bench", "train", "--config", str(path)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds, env=_suite_env())
        output, status = (done.stdout + done.stderr).strip(), done.returncode
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
        raise GpuCheckFailed(f"run {config.run.run_id}: still running after {seconds:.0f} s\n{_tail(out)}") from None
    record = RunRecord.read(config.run_dir)
    if record is None or record.status != "completed":
        reason = record.failure.reason if record is not None and record.failure else f"exit status {status}"
        raise GpuCheckFailed(f"run {config.run.run_id} failed: {reason}\n{_tail(output)}")
    return record


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(f"  | {line}" for line in text.splitlines()[-lines:])


def run_check(
    results: Path,
    shapes: tuple[Shape, ...] = SHAPES,
    warmup: int = WARMUP_STEPS,
    steps: int = TIMED_STEPS,
    progress=print,
) -> list[tuple[Shape, RunRecord]]:
    """Each of ``shapes`` trained once (:func:`run_shape`) into ``results``, in order; each run's record.
    ``progress`` is told of each run as it starts.

    Raises:
        GpuCheckFailed: a run failed (the runs before it are not reported).
    """
    done = []
    for shape in shapes:
        config = check_config(shape, results, warmup, steps)
        progress(
            f"training {shape.run_id}: M-CNN {shape.height}x{shape.width}, local batch {shape.batch}, bf16, "
            f"{warmup} + {steps} steps ..."
        )
        done.append((shape, run_shape(config)))
    return done


def _gib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**30:.1f}"


def report(done: list[tuple[Shape, RunRecord]]) -> str:
    """The check's figures, from the records: the GPU, then one line per shape."""
    first = done[0][1]
    assert first.provenance is not None, "a completed record has its provenance"
    gpus, engine = first.provenance.gpus or [], first.provenance.engine
    gpu = gpus[0] if gpus else None
    head = (
        f"GPU: {gpu.name} ({gpu.memory_bytes / 2**30:.0f} GiB, compute capability {gpu.compute_capability}), driver "
        f"{gpu.driver_version or 'unknown'}, CUDA {gpu.cuda_runtime or 'unknown'}"
        if gpu
        else "GPU: not recorded"
    ) + (f", PyTorch {engine.framework_version}, {engine.backend}" if engine else "")
    lines = [
        head,
        f"{'shape':<10}{'batch':>6}{'images/s':>10}{'GPU mem GiB':>12}{'(tensors)':>10}{'GFLOP/s':>10}"
        f"{'peak GFLOP/s':>13}{'of peak':>9}",
    ]
    for shape, record in done:
        tp, memory, analytic = record.throughput, record.memory, record.analytic
        assert tp is not None and memory is not None, "a completed record has these sections"
        peak = analytic.peak.gflops("conv5x5", record.config.training.precision) if analytic and analytic.peak else None
        fraction = analytic.fraction_of_peak if analytic else None
        lines.append(
            f"{f'{shape.height}x{shape.width}':<10}{shape.batch:>6}{tp.images_per_second:>10.1f}"
            f"{_gib(memory.device_peak_reserved_bytes_max):>12}{_gib(memory.device_peak_allocated_bytes_max):>10}"
            f"{analytic.achieved_gflops_per_second_per_worker if analytic else float('nan'):>10.0f}"
            f"{'-' if peak is None else f'{peak:.0f}':>13}{'-' if fraction is None else f'{100 * fraction:.1f} %':>9}"
        )
    lines += [
        "images/s: over the timed steps; GPU mem: the peak PyTorch's allocator reserved (and the tensors' own);",
        "GFLOP/s: M-CNN's training FLOPs at those images/s; of peak: over the GPU's measured 5x5-convolution GFLOP/s",
        "at the run's precision (the record's analytic.fraction_of_peak, Table 1's percent of peak)",
    ]
    return "\n".join(lines)
