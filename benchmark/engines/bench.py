"""What an engine's ``bench`` module gives the micro-benchmarks (:class:`EngineBench`), and the module of an engine
(:func:`bench_module`). The engines' training interface is :mod:`benchmark.engines.base`; this one is apart from it
so that the micro-benchmarks, which the training engines call (:meth:`benchmark.engines.base.Engine.kernel_peaks`),
reach an engine's framework without importing the training interface back.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any, Protocol, cast

from benchmark.config import Precision, TrainConfig
from benchmark.engines import ENGINES, Device, check_engine
from benchmark.record import Kernel


class EngineBench(Protocol):
    """What an engine's ``bench`` module (:attr:`benchmark.engines.EngineEntry.bench`) gives the micro-benchmarks,
    in its framework: the kernels of the node's peak (:mod:`benchmark.microbench.peak`) and the bare training
    loop the trainer is compared with (:mod:`benchmark.microbench.overhead`). Everything else of both (sizes,
    FLOPs, timing, the cache, the interleaving, the report) is framework-free and written once there.

    Attributes:
        FRAMEWORK: the framework's name, as :attr:`benchmark.record.EngineInfo.framework` says it (e.g.
            ``tensorflow``, ``pytorch``).
    """

    FRAMEWORK: str

    def framework_version(self) -> str:
        """The framework's version (``__version__``)."""

    def use_threads(self, intra_op_threads: int, inter_op_threads: int) -> None:
        """Make the framework in this process run with these threads.

        Raises:
            ValueError: they cannot be set any more (the framework's runtime started with others).
        """

    def peak_kernels(
        self,
        conv_shape: tuple[int, int, int, int, int],
        matmul_size: int,
        precision: Precision,
        device: Device = "cpu",
    ) -> dict[Kernel, Callable[[], object]]:
        """Each kernel of the peak as a call without arguments that returns once the kernel has run (on a GPU: once
        the device has finished it), on random inputs made now in ``precision``'s compute dtype on ``device`` (a
        GPU: the current one, with the math settings of the engine's runs): ``conv5x5``, a 5x5 "same" convolution
        of ``conv_shape`` (batch, height, width, in channels, out channels), and ``matmul``, a product of two
        ``matmul_size`` square matrices.

        Raises:
            DeviceUnavailable: ``device`` is a GPU and the framework sees none (or the engine trains on CPUs
                only).
        """

    def device_name(self, device: Device) -> str | None:
        """The GPU the framework computes on for ``device`` "gpu" (its name, e.g. ``NVIDIA H100 80GB HBM3``);
        None for "cpu".

        Raises:
            DeviceUnavailable: ``device`` is a GPU and the framework sees none (or the engine trains on CPUs
                only).
        """

    def native_bf16(self, device: Device) -> bool:
        """Whether ``device`` computes bf16 natively: the CPU's flags
        (:func:`benchmark.util.provenance.native_bf16`), or the GPU's own answer."""

    def tf32(self, device: Device) -> bool | None:
        """On a GPU, whether fp32 matmuls and convolutions may run in TF32 (as the engine's runs); None on CPUs."""

    def bare_training(self, config: TrainConfig) -> tuple[Callable[[Any, Any], Any], Iterable[tuple[Any, Any]]]:
        """The bare loop's training step ``step(x, y) -> loss`` (``float(loss)`` waits for the step) for the
        model, loss, weight decay and optimizer of ``config`` at ``learning_rate.base_lr``, with the engine's
        threads for one worker set; and the synthetic batches of its first epoch, as the engine reads them."""


def bench_module(name: str) -> EngineBench:
    """The ``bench`` module of ``run.engine`` ``name`` (:class:`EngineBench`), imported now (it imports its
    framework only when called).

    Raises:
        KeyError: no engine of that name.
        EngineUnavailable: its framework is not installed here (:func:`benchmark.engines.engine_problem`).
    """
    check_engine(name)
    return cast(EngineBench, importlib.import_module(ENGINES[name].bench))
