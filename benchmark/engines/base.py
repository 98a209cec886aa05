"""The engine interface: what a framework does for the run loop (:mod:`benchmark.train.loop`).

The run loop (epochs, timed steps, checkpoint cadence, stop requests, the divergence stop, TTT, the record,
mllog) is written once and knows no framework; an :class:`Engine` holds what one framework and its
collective library do for it: rank, size and local topology; the model from the registry
(:data:`benchmark.models.MODELS`) and its optimizer; the input pipeline's batches; the training step (loss,
gradients, the average over workers, the update) with its phase timestamps; the evaluation pass; broadcast
and allgather of objects; and the model's and optimizer's state as named arrays for checkpoints.

Engines are registered by name in :data:`benchmark.engines.ENGINES` (``run.engine``). To add one, see
``docs/contributing.md`` ("Add an engine").
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from benchmark.config import TrainConfig
from benchmark.engines import ENGINES, check_engine
from benchmark.record import EngineInfo, Gpu, KernelPeaks, Threads
from benchmark.train.task import Task


@dataclass(frozen=True)
class StepResult:
    """What one training step returns, once its work is done.

    Attributes:
        loss: the training loss averaged over every worker (float).
        agreed: ``(2,)`` bool: some worker asked to stop; some worker's periodic checkpoint is due (the
            requests the loop passed in, reduced over the workers in the step's own collective).
        stamps: ``(4,)`` float64 seconds since the epoch: the step's start and the ends of its compute
            (forward and backward), allreduce and optimizer update; NaN when the step was not timed.
    """

    loss: float
    agreed: np.ndarray
    stamps: np.ndarray


@dataclass(frozen=True)
class NamedArrays:
    """A model's or optimizer's state as the checkpoint keeps it: ``values`` (numpy arrays, or objects numpy
    converts one at a time, so that a checkpoint copies out one variable at a time) and their ``paths``
    (names unique in the model, e.g. Keras' ``mcnn/conv2d/kernel``), in the same order."""

    values: list[Any]
    paths: list[str]


class Engine(ABC):
    """One worker's framework and collectives. Made by :meth:`start` (which joins the other workers), then
    :meth:`build` (the model, optimizer and input pipeline); every method named a *collective* must be
    called by every worker in the same order.

    Attributes (set by :meth:`start`):
        rank, size: this worker's rank and the number of workers.
        local_rank, local_size: the same within this node.
        nodes: the number of nodes.
    Attributes (set by :meth:`build`):
        steps_per_epoch, train_images, val_images: the input pipeline's sizes (steps per epoch; training
            and validation images of the whole run, all workers together).
        val_fields: ``(F,)`` str, the field of view of each validation outcome's ``field`` column.
        has_validation: whether an evaluation pass runs after each epoch.
    """

    #: The engine's name in ``run.engine`` and in the record.
    name: ClassVar[str]

    rank: int
    size: int
    local_rank: int
    local_size: int
    nodes: int
    steps_per_epoch: int
    train_images: int
    val_images: int
    val_fields: np.ndarray
    has_validation: bool

    def on_progress(self, hook: Callable[[], None]) -> None:
        """Have ``hook`` called at each :meth:`progress` (the run loop's stall watchdog,
        :mod:`benchmark.train.watchdog`)."""
        self._progress_hook = hook

    def progress(self) -> None:
        """An engine calls it after each piece of work that takes long outside a training step (a validation
        batch of :meth:`evaluate`), so that the run loop sees the run advance."""
        hook: Callable[[], None] | None = getattr(self, "_progress_hook", None)
        if hook is not None:
            hook()

    def failure_reason(self, exc: BaseException) -> str:
        """A one-line reason for a run that failed with ``exc``: ``Type: message`` by default; an engine whose
        framework wraps the cause (TensorFlow's "Graph execution error:") gives the cause's line instead."""
        return f"{type(exc).__name__}: {exc}"

    @classmethod
    @abstractmethod
    def start(cls, config: TrainConfig) -> Engine:
        """Initialise the framework and join the other workers of the launch (a collective)."""

    @abstractmethod
    def info(self) -> EngineInfo:
        """The engine, framework and version, collective backend and device, for the record."""

    @abstractmethod
    def configure_threads(self, config: TrainConfig) -> Threads:
        """Set the framework's threads for this worker (before anything is built); returns them."""

    def kernel_peaks(self, config: TrainConfig, threads: Threads) -> KernelPeaks | None:
        """Collective: the node's kernel peaks on local rank 0, None elsewhere: measured with this engine's
        framework (its :func:`bench_module`) and ``threads`` on ``run.device`` (on GPUs, local rank 0's), or read
        from the cache (:func:`benchmark.microbench.peak.worker_peaks`)."""
        from benchmark.microbench.peak import worker_peaks

        return worker_peaks(self, config.run.results_dir, threads.intra_op, threads.inter_op, config.run.device)

    def gpu(self) -> Gpu | None:
        """The GPU this worker trains on, for the record's provenance; None on a CPU (the default)."""
        return None

    def device_peak_memory(self) -> tuple[int, int] | None:
        """This worker's peak GPU memory so far, bytes: what the framework's allocator reserved and what its
        tensors held (:class:`benchmark.record.Memory`); None on a CPU (the default)."""
        return None

    @abstractmethod
    def build(self, config: TrainConfig, task: Task, first_rate: float) -> None:
        """Seed, then make the input pipeline, the model of ``model.name`` for ``task`` in
        ``training.precision``, and the optimizer of ``training.optimizer`` at ``first_rate``.

        Raises:
            ValueError: a setting this engine or this machine cannot honour (e.g. bf16 without native
                support), naming the setting.
        """

    @abstractmethod
    def train_batches(self, epoch: int, skip: int) -> Iterable[tuple[Any, Any]]:
        """This worker's training batches ``(x, y)`` of ``epoch`` (0-based), the first ``skip`` left out (a
        resume within the epoch)."""

    @abstractmethod
    def batch_images(self, y: Any) -> int:
        """The number of images of a batch whose labels are ``y``."""

    @abstractmethod
    def set_learning_rate(self, rate: float) -> None:
        """The optimizer's learning rate for the coming steps."""

    @abstractmethod
    def train_step(self, x: Any, y: Any, requests: np.ndarray, timed: bool) -> StepResult:
        """Collective: one training step on every worker: the loss of ``(x, y)`` plus L2 on the kernels,
        gradients, their average over the workers (with the loss and the ``(2,)`` float32 ``requests``,
        1 = asked, in the same collective), the optimizer's update. With ``timed`` the phases are timed."""

    @abstractmethod
    def evaluate(self) -> tuple[float, np.ndarray]:
        """This worker's validation pass: the summed validation loss and the outcomes of its shard
        (``(N, columns)`` float64, :meth:`benchmark.train.task.Task.outcomes`)."""

    @abstractmethod
    def broadcast_object(self, value: Any, name: str) -> Any:
        """Collective: rank 0's ``value`` (any picklable object) on every worker."""

    @abstractmethod
    def allgather_object(self, value: Any, name: str) -> list[Any]:
        """Collective: every worker's ``value``, by rank, on every worker."""

    @abstractmethod
    def barrier(self, name: str) -> None:
        """Collective: return once every worker has called it."""

    @abstractmethod
    def broadcast_state(self) -> None:
        """Collective: the model's and optimizer's state set to rank 0's (a no-op for a lone worker)."""

    @abstractmethod
    def model_state(self) -> NamedArrays:
        """The model's variables (trainable and not) for a checkpoint."""

    @abstractmethod
    def optimizer_state(self) -> NamedArrays:
        """The optimizer's variables (iteration count, learning rate, moments) for a checkpoint."""

    @abstractmethod
    def load_model_state(self, arrays: list[np.ndarray], source: str) -> None:
        """Set the model's variables to ``arrays`` (in :meth:`model_state`'s order).

        Raises:
            CheckpointError: a count or shape differs (the message names ``source``).
        """

    @abstractmethod
    def load_optimizer_state(self, arrays: list[np.ndarray], source: str) -> None:
        """Set the optimizer's variables to ``arrays`` (in :meth:`optimizer_state`'s order).

        Raises:
            CheckpointError: a count or shape differs (the message names ``source``).
        """

    @abstractmethod
    def weights_digest(self) -> str:
        """SHA-256 of the trainable weights' float32 bytes in order: equal on every worker exactly when
        they hold bit-identical trained weights."""

    @abstractmethod
    def parameter_count(self) -> int:
        """The model's parameters (trainable and not)."""


def engine_class(name: str) -> type[Engine]:
    """The :class:`Engine` subclass of ``run.engine`` ``name`` (:data:`benchmark.engines.ENGINES`), its module
    imported now.

    Raises:
        KeyError: no engine of that name.
        EngineUnavailable: its framework is not installed here (:func:`benchmark.engines.engine_problem`).
    """
    check_engine(name)
    entry = ENGINES[name]
    return getattr(importlib.import_module(entry.module), entry.cls)
