"""tf.data input pipelines: each Horovod worker reads its own shard of the training images.

The source (``data.source``) comes from the registry :data:`benchmark.data.sources.SOURCES`: one whose
images are made on the fly (``synthetic``, random images as in tf_cnn_benchmarks), or one that opens a
folder into an :class:`~benchmark.data.imageset.ImageSet` (the real BBBC021 crops or fields). Real
images are normalised per channel with the training set's mean and standard deviation, turned into the
copies of ``data.variant`` (the paper's Datasets A and B, :mod:`benchmark.data.variants`) on the fly, then
zero-padded (or, when larger, resized with their aspect kept) to the model's input size. Training and
validation are split by field of view, never by crop or copy, unless ``data.split = "paper"``. What each worker
reads (the split, its shards, each epoch's order, the statistics) is decided by :mod:`benchmark.data.plan`,
which the PyTorch path (:mod:`benchmark.engines.ddp.data`) reads from too: both give the same batches.

Batches are read in parallel: ``decode_calls`` batches at once (``tf.data.AUTOTUNE`` by default: as many
as the cores the process may run on), each in its own tf.data thread, delivered in order (the batches of a
seed are the same as with serial reading, ``decode_calls=None``). Reading a batch is the only Python step
(``tf.numpy_function``, stateful so that tf.data never parallelises the serial path on its own); for the
``bbbc021`` source it is parsing each TIFF's header and one ``readinto`` of its pixels, with the GIL
released, into a channels-first array that TensorFlow takes over without a copy (``ImageSet.fetch_planar``,
:func:`benchmark.data.bbbc021.read_fields_planar`). Interleaving the channels, the normalisation, the
copies and the padding are TensorFlow ops, which never hold the GIL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from benchmark.config import TrainConfig
from benchmark.data.imageset import ImageSet
from benchmark.data.plan import WorkerPlan, open_source, plan_worker
from benchmark.data.sources import SOURCES
from benchmark.train.task import TASKS

#: Batches read at once by default: as many as the process has cores, tuned by tf.data.
PARALLEL = tf.data.AUTOTUNE


@dataclass(frozen=True)
class Pipelines:
    """What the trainer iterates: one epoch of training batches ``(x, y)``, and the worker's validation
    batches ``(x, y, field)`` with ``field`` the (n,) int32 position of each image's field of view in
    ``val_fields``."""

    train: Callable[[int], tf.data.Dataset]
    validation: tf.data.Dataset | None
    steps_per_epoch: int
    train_images: int
    val_images: int
    val_fields: np.ndarray = field(default_factory=lambda: np.array([], dtype=str))


def fit_to_size(images: tf.Tensor, height: int, width: int, fit: str = "pad") -> tf.Tensor:
    """``(n, h, w, c)`` float32 images made ``height x width``: with ``fit = "pad"``, centred, zero-padded when
    they fit (as Datta et al. 2019 pad 724 -> 768), otherwise resized with the aspect ratio kept, then padded;
    with ``fit = "resize"``, resized bilinearly to the size (as CheXNet resizes X-rays to 224x224)."""
    h, w = images.shape[1], images.shape[2]
    if (h, w) == (height, width):
        return images
    if fit == "resize":
        return tf.image.resize(images, (height, width))
    if h <= height and w <= width:
        return tf.image.pad_to_bounding_box(images, (height - h) // 2, (width - w) // 2, height, width)
    return tf.image.resize_with_pad(images, height, width)


def _batches(
    plan: WorkerPlan,
    indices: np.ndarray,
    config: TrainConfig,
    drop_remainder: bool,
    field_codes: np.ndarray | None = None,
    decode_calls: int | None = PARALLEL,
) -> tf.data.Dataset:
    """Batches of the copies at ``indices``: ``(x, y)``, or ``(x, y, field code)`` when ``field_codes``
    ((N,) int32, one per index) is given. Each field is read, normalised with the plan's statistics,
    transformed into its copy (when the variant makes copies), and fitted to the model's input size.
    ``decode_calls`` batches are made at once (None: one after the other in the iterator's thread), always
    delivered in order."""
    height, width = config.data.image_size
    source = SOURCES[config.data.source]
    task = TASKS[source.task]
    label_dtype = task.label_dtype()
    copies = plan.copies
    table = tf.constant(copies.transforms)
    mean, std = tf.constant(plan.mean, tf.float32), tf.constant(plan.std, tf.float32)
    planes_mean, planes_std = tf.reshape(mean, [-1, 1, 1]), tf.reshape(std, [-1, 1, 1])

    def load(batch_indices):
        raw, labels = copies.read(batch_indices)
        return raw, labels.astype(label_dtype)

    def to_tensors(batch_indices, *codes):
        raw, y = tf.numpy_function(load, [batch_indices], (tf.uint16, tf.as_dtype(label_dtype)))
        if copies.planar:  # normalised channels first (one scalar a plane: 3-4x faster), then interleaved
            h, w, c = copies.shape
            x = (tf.cast(tf.ensure_shape(raw, [None, c, h, w]), tf.float32) - planes_mean) / planes_std
            x = tf.transpose(x, [0, 2, 3, 1])
        else:
            x = (tf.cast(tf.ensure_shape(raw, [None, *copies.shape]), tf.float32) - mean) / std
        if copies.variant.transformed:
            x = tf.raw_ops.ImageProjectiveTransformV3(
                images=x,
                transforms=tf.gather(table, batch_indices % copies.per_field),
                output_shape=tf.constant(copies.canvas, tf.int32),
                fill_value=0.0,
                interpolation="BILINEAR",
                fill_mode="CONSTANT",
            )
        return (
            fit_to_size(x, height, width, source.fit),
            tf.ensure_shape(y, task.label_shape(config.data.num_classes)),
            *codes,
        )

    slices = indices.astype(np.int64) if field_codes is None else (indices.astype(np.int64), field_codes)
    ds = tf.data.Dataset.from_tensor_slices(slices).batch(config.run.local_batch_size, drop_remainder=drop_remainder)
    if decode_calls is None:
        return ds.map(to_tensors)
    return ds.map(to_tensors, num_parallel_calls=decode_calls, deterministic=True)


def synthetic_pipelines(config: TrainConfig) -> Pipelines:
    """Random images and labels made on the fly; no validation set."""
    height, width = config.data.image_size
    shape = (config.run.local_batch_size, height, width, 3)
    steps = config.training.steps_per_epoch
    assert steps is not None, "synthetic data needs training.steps_per_epoch (TrainConfig requires it)"

    def epoch(seed: int) -> tf.data.Dataset:
        def make(step):
            pair = tf.stack([tf.cast(seed, tf.int64), step])
            x = tf.random.stateless_uniform(shape, pair)
            y = tf.random.stateless_uniform(shape[:1], pair, maxval=config.data.num_classes, dtype=tf.int32)
            return x, y

        return tf.data.Dataset.range(steps).map(make).prefetch(tf.data.AUTOTUNE)

    return Pipelines(epoch, None, steps, 0, 0)


def real_pipelines(
    config: TrainConfig, images: ImageSet, rank: int, workers: int, decode_calls: int | None = PARALLEL
) -> Pipelines:
    """Pipelines over a real source's ``images`` for worker ``rank`` of ``workers``: what
    :func:`benchmark.data.plan.plan_worker` gives it to read (its own shard of the training split, reshuffled
    every epoch, and its own shard of the validation split, as ``data.variant`` copies them and ``data.split``
    splits them); ``decode_calls`` batches are read at once (see :func:`_batches`)."""
    plan = plan_worker(config, images, rank, workers)

    def epoch(epoch_seed: int) -> tf.data.Dataset:
        order = plan.epoch_order(epoch_seed)
        return _batches(plan, order, config, True, decode_calls=decode_calls).prefetch(tf.data.AUTOTUNE)

    codes = plan.val_codes.astype(np.int32)
    validation = _batches(plan, plan.val_copies, config, False, codes, decode_calls=decode_calls)
    return Pipelines(
        epoch,
        validation.prefetch(tf.data.AUTOTUNE),
        plan.steps_per_epoch,
        plan.train_images,
        plan.val_images,
        plan.val_fields,
    )


def make_pipelines(config: TrainConfig, rank: int, workers: int, decode_calls: int | None = PARALLEL) -> Pipelines:
    """The pipelines of ``data.source`` as seen by worker ``rank`` of ``workers``; a real source's batches
    are read ``decode_calls`` at once (default: tuned to the cores; None: serially), in the same order.

    Raises:
        DataError: the source's folder holds bad or no data.
    """
    images = open_source(config)
    if images is None:
        return synthetic_pipelines(config)
    return real_pipelines(config, images, rank, workers, decode_calls)
