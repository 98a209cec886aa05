"""tf.data input pipelines: each Horovod worker reads its own shard of the training images.

The source (``data.source``) comes from the registry :data:`benchmark.data.sources.SOURCES`: one whose
images are made on the fly (``synthetic``, random images as in tf_cnn_benchmarks), or one that opens a
folder into an :class:`~benchmark.data.imageset.ImageSet` (the real BBBC021 crops or fields). Real
images are normalised per channel with the training set's mean and standard deviation, turned into the
copies of ``data.variant`` (the paper's Datasets A and B, :mod:`benchmark.data.variants`) on the fly, then
zero-padded (or, when larger, resized with their aspect kept) to the model's input size. Training and
validation are split by field of view, never by crop or copy, unless ``data.split = "paper"``.

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
from benchmark.data.errors import DataError
from benchmark.data.imageset import ImageSet
from benchmark.data.sources import SOURCES
from benchmark.data.split import shard, split_by_field
from benchmark.data.variants import VARIANTS, Variant, select_fields, transforms
from benchmark.train.task import TASKS

#: Images used to estimate the per-channel mean and standard deviation of full fields of view.
STATS_SAMPLE = 32

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


@dataclass(frozen=True)
class Copies:
    """The images a run trains on: ``per_field`` copies of each field of ``images`` (copy ``i`` is copy
    ``i % per_field`` of field ``i // per_field``), each made by the ``transforms`` row of its copy
    (:func:`benchmark.data.variants.transforms`); ``shape`` is a field's ``(H, W, C)``."""

    images: ImageSet
    variant: Variant
    shape: tuple
    transforms: np.ndarray

    @property
    def per_field(self) -> int:
        return len(self.variant.copies)

    def field_of(self, copies: np.ndarray) -> np.ndarray:
        """(n,) int64 field index of each copy index."""
        return np.asarray(copies) // self.per_field

    def of_fields(self, fields: np.ndarray) -> np.ndarray:
        """(len(fields) * per_field,) int64 copy indices of ``fields``, in order."""
        return (np.asarray(fields)[:, None] * self.per_field + np.arange(self.per_field)).ravel()

    @property
    def canvas(self) -> tuple[int, int]:
        return self.variant.canvas(*self.shape[:2])


def channel_stats(images: ImageSet, indices: np.ndarray, shape: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation, ``(3,)`` float32 each, of the images at ``indices``.

    Full fields of view (``shape``, the source's ``(H, W, C)``, larger than 256 pixels) are large, so at
    most :data:`STATS_SAMPLE` evenly spaced images are read.
    """
    if len(indices) > STATS_SAMPLE and shape[0] > 256:
        indices = indices[np.linspace(0, len(indices) - 1, STATS_SAMPLE).astype(int)]
    pixels = images.fetch(np.sort(indices)).astype(np.float32)
    mean = pixels.mean(axis=(0, 1, 2))
    std = np.maximum(pixels.std(axis=(0, 1, 2)), 1e-6)
    return mean.astype(np.float32), std.astype(np.float32)


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
    copies: Copies,
    indices: np.ndarray,
    config: TrainConfig,
    mean,
    std,
    drop_remainder: bool,
    field_codes: np.ndarray | None = None,
    decode_calls: int | None = PARALLEL,
) -> tf.data.Dataset:
    """Batches of the copies at ``indices``: ``(x, y)``, or ``(x, y, field code)`` when ``field_codes``
    ((N,) int32, one per index) is given. Each field is read, normalised, transformed into its copy (when
    the variant makes copies), and fitted to the model's input size. ``decode_calls`` batches are made at
    once (None: one after the other in the iterator's thread), always delivered in order."""
    height, width = config.data.image_size
    source = SOURCES[config.data.source]
    task = TASKS[source.task]
    label_dtype = task.label_dtype()
    images, table = copies.images, tf.constant(copies.transforms)
    mean, std = tf.constant(mean, tf.float32), tf.constant(std, tf.float32)
    planes_mean, planes_std = tf.reshape(mean, [-1, 1, 1]), tf.reshape(std, [-1, 1, 1])

    planar = images.fetch_planar is not None
    fetch = images.fetch_planar if planar else images.fetch

    def load(batch_indices):
        fields = copies.field_of(batch_indices)
        return np.asarray(fetch(fields), dtype=np.uint16), images.labels[fields].astype(label_dtype)

    def to_tensors(batch_indices, *codes):
        raw, y = tf.numpy_function(load, [batch_indices], (tf.uint16, tf.as_dtype(label_dtype)))
        if planar:  # normalised channels first (one scalar a plane: 3-4x faster), then interleaved
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


def steps_per_epoch(train_images: int, workers: int, config: TrainConfig) -> int:
    """Training steps per epoch: every worker runs the same count, ``(train_images // workers) //
    local_batch_size``, capped at ``training.steps_per_epoch``.

    Raises:
        ValueError: if a worker's shard holds fewer images than one local batch.
    """
    steps = (train_images // workers) // config.run.local_batch_size
    if steps == 0:
        raise ValueError(
            f"{train_images} training images over {workers} workers leave fewer than one local batch of "
            f"{config.run.local_batch_size} per worker; use a smaller batch size or fewer workers"
        )
    return min(steps, config.training.steps_per_epoch) if config.training.steps_per_epoch else steps


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


def open_copies(config: TrainConfig, images: ImageSet) -> Copies:
    """The copies ``data.variant`` makes of a real source's ``images`` (its field selection applied)."""
    variant = VARIANTS[config.data.variant]
    if variant.capped_classes:
        images = images.subset(select_fields(images.labels, variant.capped_classes, config.training.seed))
    shape = images.fetch(np.arange(1)).shape[1:]
    return Copies(images, variant, shape, transforms(variant, *shape[:2]))


def split_copies(copies: Copies, config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation copy indices (sorted int64) by ``data.split``: ``field`` keeps every copy of
    a field of view (every image of a patient) on one side (:func:`split_by_field`, stratified by class for
    single-label data); ``paper`` draws ``val_fraction`` of the copies at random (Datta et al. 2019, sec. 4),
    so validation may hold a copy of a training field: a leaky split; ``lists`` takes the dataset's published
    lists (``ImageSet.split``: "train" and "val"; the test list is left out).

    Raises:
        DataError: too few fields or copies to split; with ``lists``, a side left empty by the lists.
    """
    seed, fraction, images = config.training.seed, config.data.val_fraction, copies.images
    if config.data.split == "lists":
        train, val = list_split(images, config.data.source)
        return copies.of_fields(train), copies.of_fields(val)
    if config.data.split == "field":
        single = images.labels.ndim == 1
        train, val = split_by_field(images.fields, fraction, seed, labels=images.labels if single else None)
        return copies.of_fields(train), copies.of_fields(val)
    total = len(images.labels) * copies.per_field
    count = round(fraction * total)
    if not 0 < count < total:
        raise DataError(f"{total} images cannot be split {1 - fraction:g}/{fraction:g}: a side would be empty")
    order = np.random.default_rng(seed).permutation(total)
    return np.sort(order[count:]), np.sort(order[:count])


def list_split(images: ImageSet, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation indices (sorted int64) of ``images`` by their published split lists.

    Raises:
        DataError: the images carry no lists, or the lists put none of the images found on one side.
    """
    if images.split is None:
        raise DataError(f"data.split = lists: the {source} folder has no split lists")
    train, val = np.flatnonzero(images.split == "train"), np.flatnonzero(images.split == "val")
    if not len(train) or not len(val):
        sides = ", ".join(
            f"{np.count_nonzero(images.split == side)} {side or 'in no list'}" for side in ("train", "val", "test", "")
        )
        raise DataError(
            f"data.split = lists: of the {len(images.split)} images found, the split lists put {sides}; "
            "a side to train or validate on is empty: use data.split = field to split the images "
            "found by patient"
        )
    return train, val


def real_pipelines(
    config: TrainConfig, images: ImageSet, rank: int, workers: int, decode_calls: int | None = PARALLEL
) -> Pipelines:
    """Pipelines over a real source's ``images`` for worker ``rank`` of ``workers``: its own shard of the
    training split (reshuffled every epoch) and its own shard of the validation split, as ``data.variant``
    copies them and ``data.split`` splits them; ``decode_calls`` batches are read at once (see
    :func:`_batches`)."""
    seed, batch = config.training.seed, config.run.local_batch_size
    copies = open_copies(config, images)
    train_idx, val_idx = split_copies(copies, config)
    mean, std = channel_stats(copies.images, np.unique(copies.field_of(train_idx)), copies.shape)
    steps = steps_per_epoch(len(train_idx), workers, config)
    my_train = shard(train_idx, rank, workers)

    def epoch(epoch_seed: int) -> tf.data.Dataset:
        order = np.random.default_rng([seed, rank, epoch_seed]).permutation(my_train)
        return _batches(copies, order[: steps * batch], config, mean, std, True, decode_calls=decode_calls).prefetch(
            tf.data.AUTOTUNE
        )

    my_val = shard(val_idx, rank, workers)
    val_fields, codes = np.unique(copies.images.fields[copies.field_of(val_idx)], return_inverse=True)
    my_codes = shard(codes.astype(np.int32), rank, workers)
    validation = _batches(copies, my_val, config, mean, std, False, my_codes, decode_calls=decode_calls)
    return Pipelines(epoch, validation.prefetch(tf.data.AUTOTUNE), steps, len(train_idx), len(val_idx), val_fields)


def make_pipelines(config: TrainConfig, rank: int, workers: int, decode_calls: int | None = PARALLEL) -> Pipelines:
    """The pipelines of ``data.source`` as seen by worker ``rank`` of ``workers``; a real source's batches
    are read ``decode_calls`` at once (default: tuned to the cores; None: serially), in the same order.

    Raises:
        DataError: the source's folder holds bad or no data.
    """
    source = SOURCES[config.data.source]
    if source.open is None:
        return synthetic_pipelines(config)
    assert config.data.dir is not None, f"data source {config.data.source} needs data.dir (TrainConfig requires it)"
    return real_pipelines(config, source.open(config.data.dir), rank, workers, decode_calls)
