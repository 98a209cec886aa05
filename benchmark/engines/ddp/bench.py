"""The DDP engine's side of the micro-benchmarks, in PyTorch and without TensorFlow: the kernels of the node's peak
and the bare training loop the trainer is compared with (:class:`benchmark.engines.bench.EngineBench`).

The peak's kernels are the engine's: channels-last ``torch.nn.functional.conv2d`` and ``torch.matmul``, on the CPU
(PyTorch's CPU operators are synchronous: a call returns once its kernel has run) or on the current GPU with the
engine's GPU math (:func:`benchmark.engines.ddp.engine.configure_gpu_math`: TF32 for fp32, cuDNN's autotuner),
each call ending with ``torch.cuda.synchronize`` so that it returns once the GPU has run the kernel. The bare loop of
:mod:`benchmark.microbench.overhead`: the engine's model (:meth:`benchmark.models.ModelKind.create_torch`,
channels-last), its loss (:data:`~benchmark.engines.ddp.engine.LOSSES`) + weight decay x the kernels' L2, its
``torch.optim`` optimizer, its synthetic batches; no ``torch.distributed``, no ``DistributedDataParallel``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F

from benchmark.config import Precision, TrainConfig
from benchmark.data.sources import SOURCES
from benchmark.engines import Device
from benchmark.engines.ddp.engine import (
    FRAMEWORK,
    LOSSES,
    OPTIMIZER_BUILDERS,
    configure_threads,
    decayed,
    gpu_bf16,
    l2_loss,
    require_gpu,
    synchronize,
    tf32_allowed,
    torch_device,
)
from benchmark.microbench.peak import CONV_KERNEL
from benchmark.models import MODELS
from benchmark.record import Kernel
from benchmark.train.precisions import PRECISIONS

__all__ = [
    "FRAMEWORK",
    "bare_training",
    "device_name",
    "framework_version",
    "native_bf16",
    "peak_kernels",
    "tf32",
    "use_threads",
]


def framework_version() -> str:
    """PyTorch's version."""
    return torch.__version__


def use_threads(intra_op_threads: int, inter_op_threads: int) -> None:
    """Make PyTorch in this process run with these threads: the intra-op ones set (they can change at any time),
    the inter-op ones unless they already are.

    Raises:
        ValueError: PyTorch already runs with other inter-op threads (set once, or its inter-op pool started).
    """
    torch.set_num_threads(intra_op_threads)
    if torch.get_num_interop_threads() == inter_op_threads:
        return
    try:
        torch.set_num_interop_threads(inter_op_threads)
    except RuntimeError:
        raise ValueError(
            f"PyTorch already runs with {torch.get_num_interop_threads()} inter-op threads; cannot measure at "
            f"{inter_op_threads}: measure in a fresh process"
        ) from None


def device_name(device: Device) -> str | None:
    """The current GPU's name (``torch.cuda.get_device_name``) for "gpu"; None for "cpu".

    Raises:
        DeviceUnavailable: "gpu", and PyTorch sees none.
    """
    if device == "cpu":
        return None
    require_gpu()
    return torch.cuda.get_device_name(torch_device(device))


def native_bf16(device: Device) -> bool:
    """The CPU's flags (:func:`benchmark.util.provenance.native_bf16`), or the current GPU's
    (:func:`benchmark.engines.ddp.engine.gpu_bf16`)."""
    if device == "cpu":
        from benchmark.util.provenance import native_bf16 as cpu_bf16

        return cpu_bf16()
    require_gpu()
    return gpu_bf16()


def tf32(device: Device) -> bool | None:
    """On a GPU, whether fp32 may run in TF32 (:func:`benchmark.engines.ddp.engine.tf32_allowed`); None on CPUs."""
    if device == "cpu":
        return None
    require_gpu()
    return tf32_allowed()


def peak_kernels(
    conv_shape: tuple[int, int, int, int, int], matmul_size: int, precision: Precision, device: Device = "cpu"
) -> dict[Kernel, Callable[[], object]]:
    """``F.conv2d`` (padding "same") of a channels-last input ``(N, C_in, H, W)`` and channels-last weights, as
    the engine's model holds them, and ``torch.matmul``, on normal random inputs (seed 0) in ``precision``'s
    compute dtype, on ``device`` (a GPU: the current one, with the engine's GPU math; each call then waits for the
    GPU); no gradients are recorded.

    Raises:
        DeviceUnavailable: ``device`` is "gpu" and PyTorch sees none.
    """
    if device == "gpu":
        require_gpu()
    where = torch_device(device)
    batch, height, width, cin, cout = conv_shape
    generator = torch.Generator(device=where).manual_seed(0)
    dtype = getattr(torch, PRECISIONS[precision].compute_dtype)

    def normal(*shape: int, memory_format: torch.memory_format = torch.contiguous_format) -> torch.Tensor:
        return torch.randn(shape, generator=generator, device=where).to(dtype=dtype, memory_format=memory_format)

    x = normal(batch, cin, height, width, memory_format=torch.channels_last)
    w = normal(cout, cin, CONV_KERNEL, CONV_KERNEL, memory_format=torch.channels_last)
    a, b = normal(matmul_size, matmul_size), normal(matmul_size, matmul_size)

    def waited(kernel: Callable[[], torch.Tensor]) -> Callable[[], torch.Tensor]:
        """``kernel`` without gradients, returning once ``where`` has run it."""

        @torch.no_grad()
        def call() -> torch.Tensor:
            out = kernel()
            synchronize(where)
            return out

        return call

    return {
        "conv5x5": waited(lambda: F.conv2d(x, w, padding="same")),
        "matmul": waited(lambda: torch.matmul(a, b)),
    }


def bare_training(config: TrainConfig) -> tuple[Callable[[Any, Any], Any], Iterable[tuple[Any, Any]]]:
    """The bare step (see the module) and the synthetic batches of
    :func:`benchmark.engines.ddp.data.synthetic_pipelines` (channels-last, read ahead as the engine reads them),
    with PyTorch's threads of one worker (:func:`benchmark.engines.ddp.engine.configure_threads`)."""
    from benchmark.engines.ddp.data import synthetic_pipelines

    configure_threads(config, 1)
    torch.manual_seed(config.training.seed)
    height, width = config.data.image_size
    model = MODELS[config.model.name].create_torch(height, width, 3, config.data.num_classes)
    model = model.to(memory_format=torch.channels_last)
    params = [p for p in model.parameters() if p.requires_grad]
    kernels = decayed(params)
    optimizer = OPTIMIZER_BUILDERS[config.training.optimizer](params, config.training, config.learning_rate.base_lr)
    loss_of = LOSSES[SOURCES[config.data.source].task]

    def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        optimizer.zero_grad()
        loss = loss_of(y, model(x)).mean()
        (loss + config.training.weight_decay * l2_loss(kernels)).backward()
        optimizer.step()
        return loss.detach()

    return step, ((x, y) for x, y in synthetic_pipelines(config, channels_last=True).train(0))
