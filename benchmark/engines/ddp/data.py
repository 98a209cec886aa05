"""The DDP engine's input path: the batches of the horovod engine's ``tf.data`` pipelines, as torch tensors.

This module imports no TensorFlow. Both paths (:mod:`benchmark.data.pipeline` is the other) read what
:func:`benchmark.data.plan.plan_worker` gives a worker: the same copies of the same fields,
in the same order for each rank and epoch, normalised per channel with the same statistics. Here each batch is
made with torch ops, as the ``tf.data`` pipeline makes it with TensorFlow's:

- the fields are read (:meth:`benchmark.data.plan.Copies.read`; channels first for the ``bbbc021`` TIFFs,
  without a copy) and normalised, ``(x - mean) / std`` per channel in float32: equal bit for bit;
- the variants' copies (:mod:`benchmark.data.variants`): each copy's projective transform, which TensorFlow
  applies with ``ImageProjectiveTransformV3`` (bilinear, zero fill), is sampled with
  ``torch.nn.functional.grid_sample`` (bilinear, ``padding_mode="zeros"``, ``align_corners=True``, so that
  pixel centres sit at integer coordinates as in TensorFlow) on a grid that holds, for output pixel
  ``(x, y)``, the input point ``((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k)``, ``k = c0 x + c1 y + 1``;
- the fit to the model's input (:func:`fit_to_size`): centred zero padding, as ``tf.image.pad_to_bounding_box``;
  a bilinear resize with half-pixel centres and no antialiasing, as ``tf.image.resize``
  (``F.interpolate(mode="bilinear", align_corners=False, antialias=False)``); or both with the aspect kept,
  as ``tf.image.resize_with_pad``.

The bilinear steps differ from TensorFlow's by float32 rounding only (grid_sample takes its sampling points in
float32 coordinates normalised to [-1, 1]; the resize sums its four weights in another order):
``tests/unit/test_torch_input.py`` compares the two paths batch by batch.

Batches are made ahead in a thread pool, ``decode_calls`` at once (default :data:`CORES`: as many as the
cores the process may run on), and delivered in order: the same batches as serial reading
(``decode_calls=None``). Reading the TIFFs releases the GIL (``readinto``), as do torch's ops.

For a GPU run (``device`` a CUDA device) the batches read from files are made in pinned (page-locked) host
memory, which the engine copies to the GPU without blocking; synthetic batches are drawn on the GPU itself, one
after the other as the GPU queues them, from a CUDA generator seeded by :func:`synthetic_seed` as the CPU's is (other
numbers than the CPU's: a GPU run measures the GPU's step, not the host's random numbers).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.config import TrainConfig
from benchmark.data.plan import WorkerPlan, open_source, plan_worker
from benchmark.data.sources import SOURCES
from benchmark.train.task import TASKS

#: ``decode_calls`` for as many batches at once as the cores the process may run on, counted when the
#: pipelines are made (the default). The value of ``tf.data.AUTOTUNE``, so that one setting means the same to
#: both paths (``mcnn-bench bench input --engine``).
CORES = -1

#: A normalised grid coordinate far outside every image: where a projective transform's ``k`` is 0 (the
#: point at infinity), TensorFlow fills; the sampling point is sent here, where grid_sample fills too.
OUTSIDE = -1e4

#: One batch: ``(x, y)``, or ``(x, y, field)`` for validation (see :class:`TorchPipelines`).
Batch = tuple[torch.Tensor, ...]


class Batches:
    """A worker's batches of one pass (an epoch's training, or validation), made by ``make`` from each of
    ``items`` in order; iterable again and again, each pass made afresh.

    Each pass makes up to ``read_ahead`` batches at once in a thread pool of its own and yields them in order
    (``read_ahead`` None: one after the other in the iterating thread). An error raised while making a batch
    (a :class:`~benchmark.data.errors.DataError` naming a file) is raised by the iteration, at that batch.
    """

    def __init__(self, items: Sequence[Any], make: Callable[[Any], Batch], read_ahead: int | None):
        if read_ahead is not None and read_ahead < 1:
            raise ValueError(f"read_ahead must be None or at least 1, got {read_ahead}")
        self.items, self.make, self.read_ahead = items, make, read_ahead

    def __len__(self) -> int:
        return len(self.items)

    def skip(self, count: int) -> Batches:
        """The batches after the first ``count``, which are not made (a resume within an epoch)."""
        return Batches(self.items[count:], self.make, self.read_ahead)

    def __iter__(self) -> Iterator[Batch]:
        if self.read_ahead is None:
            return map(self.make, self.items)
        return self._ahead(self.read_ahead)

    def _ahead(self, read_ahead: int) -> Iterator[Batch]:
        items = iter(self.items)
        pending: deque[Future[Batch]] = deque()
        with ThreadPoolExecutor(read_ahead, thread_name_prefix="mcnn-input") as pool:
            try:
                pending.extend(pool.submit(self.make, item) for item in islice(items, read_ahead))
                while pending:
                    batch = pending.popleft().result()
                    pending.extend(pool.submit(self.make, item) for item in islice(items, 1))
                    yield batch
            finally:  # an iteration left early: the batches not begun are dropped, those begun finish
                for future in pending:
                    future.cancel()


@dataclass(frozen=True)
class TorchPipelines:
    """What the DDP engine iterates, as :class:`benchmark.data.pipeline.Pipelines` for the horovod engine.

    Attributes:
        train: epoch (0-based) -> its training :class:`Batches` ``(x, y)``: ``x`` ``(N, C, H, W)`` float32
            (normalised intensities; ``(H, W)`` = ``data.image_size``, C = 3; channels-last strides when asked),
            ``y`` ``(N,)`` int64 class indices for a single-label source or ``(N, K)`` float32 multi-hot rows
            for a multi-label one (:mod:`benchmark.train.task`); N = ``run.local_batch_size``.
        validation: the worker's validation :class:`Batches` ``(x, y, field)``, the last one possibly
            smaller, with ``field`` ``(N,)`` int64 the position of each image's field of view in
            ``val_fields``; None for synthetic data.
        steps_per_epoch, train_images, val_images: batches per epoch of every worker; images of the training
            and validation splits, all workers together (0 for synthetic data).
        val_fields: ``(F,)`` str, the validation split's field ids.
    """

    train: Callable[[int], Batches]
    validation: Batches | None
    steps_per_epoch: int
    train_images: int
    val_images: int
    val_fields: np.ndarray = field(default_factory=lambda: np.array([], dtype=str))


def project(images: torch.Tensor, transforms: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """TensorFlow's ``ImageProjectiveTransformV3`` (bilinear, constant zero fill) with ``grid_sample``.

    Args:
        images: ``(n, C, H, W)`` float32.
        transforms: ``(n, 8)`` rows ``[a0, a1, a2, b0, b1, b2, c0, c1]`` (:func:`benchmark.data.variants.
            transforms`): output pixel ``(x, y)`` samples the input at ``((a0 x + a1 y + a2) / k, (b0 x + b1 y
            + b2) / k)``, ``k = c0 x + c1 y + 1``, pixel centres at integer coordinates; 0 outside the input.
        size: ``(h, w)`` of the output, pixels.
    Returns:
        ``(n, C, h, w)`` float32.
    """
    in_h, in_w = images.shape[-2:]
    h, w = size
    rows = torch.from_numpy(np.asarray(transforms, dtype=np.float64))
    xs = torch.arange(w, dtype=torch.float64)[None, None, :]
    ys = torch.arange(h, dtype=torch.float64)[None, :, None]
    a0, a1, a2, b0, b1, b2, c0, c1 = (rows[:, i, None, None] for i in range(8))
    # grid_sample's coordinates run over [-1, 1] from the centre of the first pixel to that of the last
    # (align_corners=True): u = sx X - 1 for the input's X, sx = 2 / (in_w - 1), so u = ((sx a0 - c0) x +
    # (sx a1 - c1) y + sx a2 - 1) / k. Each numerator is the sum of a row and a column vector, made in float64
    # and rounded once into the float32 grid.
    sx, sy = 2.0 / (in_w - 1), 2.0 / (in_h - 1)
    grid = torch.empty((len(rows), h, w, 2), dtype=torch.float32)
    torch.add((sx * a0 - c0) * xs, (sx * a1 - c1) * ys + (sx * a2 - 1.0), out=grid[..., 0])
    torch.add((sy * b0 - c0) * xs, (sy * b1 - c1) * ys + (sy * b2 - 1.0), out=grid[..., 1])
    if rows[:, 6:].any():  # a perspective transform (the variants' are affine: k = 1, nothing to divide)
        grid.div_((c0 * xs + (c1 * ys + 1.0))[..., None])
        torch.nan_to_num_(grid, nan=OUTSIDE, posinf=OUTSIDE, neginf=OUTSIDE)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def padded_resize(height: int, width: int, target_height: int, target_width: int) -> tuple[int, int, int, int]:
    """Where ``tf.image.resize_with_pad`` puts an ``height x width`` image in ``target_height x target_width``:
    the resized ``(h, w)`` (the aspect kept) and the ``(top, left)`` padding, in pixels, computed in float32
    as TensorFlow does."""
    f32 = np.float32
    ratio = max(f32(width) / f32(target_width), f32(height) / f32(target_height))
    resized_h, resized_w = f32(height) / ratio, f32(width) / ratio
    top, left = np.floor((f32(target_height) - resized_h) / f32(2)), np.floor((f32(target_width) - resized_w) / f32(2))
    return int(np.floor(resized_h)), int(np.floor(resized_w)), max(0, int(top)), max(0, int(left))


def _resize(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear resize with half-pixel centres, no antialiasing: ``tf.image.resize``'s default."""
    return F.interpolate(images, size=(height, width), mode="bilinear", align_corners=False, antialias=False)


def _pad(images: torch.Tensor, top: int, left: int, height: int, width: int) -> torch.Tensor:
    """Zero-padded to ``height x width`` with the image's top-left corner at ``(top, left)``."""
    h, w = images.shape[-2:]
    return F.pad(images, (left, width - w - left, top, height - h - top))


def fit_to_size(images: torch.Tensor, height: int, width: int, fit: str = "pad") -> torch.Tensor:
    """``(n, C, h, w)`` float32 images made ``(n, C, height, width)``, as the ``tf.data`` pipeline's
    :func:`benchmark.data.pipeline.fit_to_size`: with ``fit = "pad"``, centred and zero-padded when they fit,
    otherwise resized with the aspect kept, then padded (``tf.image.resize_with_pad``); with ``fit =
    "resize"``, resized bilinearly to the size (``tf.image.resize``)."""
    h, w = images.shape[-2:]
    if (h, w) == (height, width):
        return images
    if fit == "resize":
        return _resize(images, height, width)
    if h <= height and w <= width:
        return _pad(images, (height - h) // 2, (width - w) // 2, height, width)
    resized_h, resized_w, top, left = padded_resize(h, w, height, width)
    return _pad(_resize(images, resized_h, resized_w), top, left, height, width)


def _memory_format(channels_last: bool) -> torch.memory_format:
    return torch.channels_last if channels_last else torch.contiguous_format


def _read_ahead(decode_calls: int | None) -> int | None:
    return len(os.sched_getaffinity(0)) if decode_calls == CORES else decode_calls


def _reader(
    plan: WorkerPlan, config: TrainConfig, channels_last: bool, pin_memory: bool = False
) -> Callable[[np.ndarray], Batch]:
    """A function of a batch's copy indices ((n,) int64) to its ``(x, y)`` (see :class:`TorchPipelines`), in pinned
    host memory with ``pin_memory`` (for a copy to a GPU that does not block)."""
    height, width = config.data.image_size
    source = SOURCES[config.data.source]
    label_dtype = np.float32 if TASKS[source.task].multi_label else np.int64
    copies, memory_format = plan.copies, _memory_format(channels_last)
    mean = torch.from_numpy(plan.mean).reshape(1, -1, 1, 1)
    std = torch.from_numpy(plan.std).reshape(1, -1, 1, 1)

    def read(indices: np.ndarray) -> Batch:
        raw, labels = copies.read(indices)
        x = torch.from_numpy(raw)
        if not copies.planar:
            x = x.permute(0, 3, 1, 2)
        x = x.to(torch.float32).sub_(mean).div_(std)
        if copies.variant.transformed:
            x = project(x, copies.transforms[indices % copies.per_field], copies.canvas)
        x = fit_to_size(x, height, width, source.fit).contiguous(memory_format=memory_format)
        y = torch.from_numpy(labels.astype(label_dtype))
        return (x.pin_memory(), y.pin_memory()) if pin_memory else (x, y)

    return read


def _chunks(indices: np.ndarray, size: int) -> list[np.ndarray]:
    """``indices`` in consecutive pieces of ``size``, the last one possibly shorter."""
    return [indices[start : start + size] for start in range(0, len(indices), size)]


def real_pipelines(
    plan: WorkerPlan,
    config: TrainConfig,
    decode_calls: int | None = CORES,
    channels_last: bool = False,
    pin_memory: bool = False,
) -> TorchPipelines:
    """The batches of a worker's ``plan``: each epoch's training order (:meth:`WorkerPlan.epoch_order`) in
    whole batches, and its validation copies with their field codes, read ``decode_calls`` batches ahead (in
    pinned host memory with ``pin_memory``)."""
    read, ahead, batch = _reader(plan, config, channels_last, pin_memory), _read_ahead(decode_calls), plan.batch

    def epoch(number: int) -> Batches:
        return Batches(_chunks(plan.epoch_order(number), batch), read, ahead)

    def read_validation(item: tuple[np.ndarray, np.ndarray]) -> Batch:
        indices, codes = item
        return (*read(indices), torch.tensor(codes))

    validation = Batches(
        list(zip(_chunks(plan.val_copies, batch), _chunks(plan.val_codes, batch))), read_validation, ahead
    )
    return TorchPipelines(epoch, validation, plan.steps_per_epoch, plan.train_images, plan.val_images, plan.val_fields)


def synthetic_seed(seed: int, epoch: int, step: int) -> int:
    """The seed of the ``torch.Generator`` of a synthetic batch: 64 bits that numpy's ``SeedSequence``
    draws from ``(training.seed, epoch, step)``."""
    return int(np.random.SeedSequence([seed, epoch, step]).generate_state(1, dtype=np.uint64)[0])


def synthetic_pipelines(
    config: TrainConfig,
    decode_calls: int | None = CORES,
    channels_last: bool = False,
    device: torch.device | None = None,
) -> TorchPipelines:
    """Random images (uniform in [0, 1)) and labels made on the fly, ``training.steps_per_epoch`` batches an
    epoch, each from a ``torch.Generator`` seeded by :func:`synthetic_seed`; no validation set. On a CUDA
    ``device`` they are drawn there, in the iterating thread (the GPU queues the work; nothing to read ahead)."""
    height, width = config.data.image_size
    shape = (config.run.local_batch_size, 3, height, width)
    steps = config.training.steps_per_epoch
    assert steps is not None, "synthetic data needs training.steps_per_epoch (TrainConfig requires it)"
    memory_format = _memory_format(channels_last)
    where = device if device is not None and device.type == "cuda" else torch.device("cpu")

    def epoch(number: int) -> Batches:
        def make(step: int) -> Batch:
            generator = torch.Generator(device=where).manual_seed(synthetic_seed(config.training.seed, number, step))
            x = torch.rand(shape, generator=generator, device=where).contiguous(memory_format=memory_format)
            return x, torch.randint(config.data.num_classes, shape[:1], generator=generator, device=where)

        return Batches(range(steps), make, None if where.type == "cuda" else _read_ahead(decode_calls))

    return TorchPipelines(epoch, None, steps, 0, 0)


def make_torch_pipelines(
    config: TrainConfig,
    rank: int,
    workers: int,
    decode_calls: int | None = CORES,
    channels_last: bool = False,
    device: torch.device | None = None,
) -> TorchPipelines:
    """The batches of ``data.source`` that worker ``rank`` of ``workers`` trains and validates on: those of
    :func:`benchmark.data.pipeline.make_pipelines`, as torch tensors (:class:`TorchPipelines`), read
    ``decode_calls`` batches ahead (default :data:`CORES`; None: serially), in the same order; ``channels_last``
    gives ``x`` channels-last strides (``torch.channels_last``), the shape staying ``(N, C, H, W)``; a CUDA ``device``
    (a GPU run's) has the batches read from files made in pinned memory and the synthetic ones made on it.

    Raises:
        DataError: the source's folder holds bad or no data (when a batch is made: its file is named).
        ValueError: a worker's shard holds fewer images than one local batch.
    """
    images = open_source(config)
    if images is None:
        return synthetic_pipelines(config, decode_calls, channels_last, device)
    gpu = device is not None and device.type == "cuda"
    return real_pipelines(plan_worker(config, images, rank, workers), config, decode_calls, channels_last, gpu)
