"""tf.data input pipelines: each Horovod worker reads its own shard of the training images.

The source (``data.source``) comes from the registry :data:`benchmark.data.sources.SOURCES`: one whose
images are made on the fly (``synthetic``, random images as in tf_cnn_benchmarks), or one that opens a
folder into an :class:`~benchmark.data.imageset.ImageSet` (the real BBBC021 crops or fields). Real images are normalised per channel with the training set's mean and standard
deviation, then zero-padded (or, when larger, resized with their aspect kept) to the model's input size.
Training and validation are split by field of view, never by crop.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import tensorflow as tf

from benchmark.config import TrainConfig
from benchmark.data.imageset import ImageSet
from benchmark.data.sources import SOURCES
from benchmark.data.split import shard, split_by_field

#: Images used to estimate the per-channel mean and standard deviation of full fields of view.
STATS_SAMPLE = 32


@dataclass(frozen=True)
class Pipelines:
    """What the trainer iterates: one epoch of training batches, and the worker's validation batches."""

    train: Callable[[int], tf.data.Dataset]
    validation: tf.data.Dataset | None
    steps_per_epoch: int
    train_images: int
    val_images: int


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


def fit_to_size(images: tf.Tensor, height: int, width: int) -> tf.Tensor:
    """Centre ``(n, h, w, c)`` float32 images in ``height x width``: zero-pad when they fit (as Datta et
    al. 2019 pad 724 -> 768), otherwise resize with the aspect ratio kept, then pad."""
    h, w = images.shape[1], images.shape[2]
    if h <= height and w <= width:
        return tf.image.pad_to_bounding_box(images, (height - h) // 2, (width - w) // 2, height, width)
    return tf.image.resize_with_pad(images, height, width)


def _batches(images: ImageSet, indices: np.ndarray, config: TrainConfig, shape: tuple, mean, std,
             drop_remainder: bool) -> tf.data.Dataset:
    height, width = config.data.image_size

    def load(batch_indices):
        pixels = images.fetch(batch_indices).astype(np.float32)
        return (pixels - mean) / std, images.labels[batch_indices].astype(np.int32)

    def to_tensors(batch_indices):
        x, y = tf.numpy_function(load, [batch_indices], (tf.float32, tf.int32))
        x = tf.ensure_shape(x, [None, *shape])
        return fit_to_size(x, height, width), tf.ensure_shape(y, [None])

    ds = tf.data.Dataset.from_tensor_slices(indices.astype(np.int64))
    return ds.batch(config.run.local_batch_size, drop_remainder=drop_remainder).map(to_tensors)


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

    def epoch(seed: int) -> tf.data.Dataset:
        def make(step):
            pair = tf.stack([tf.cast(seed, tf.int64), step])
            x = tf.random.stateless_uniform(shape, pair)
            y = tf.random.stateless_uniform(shape[:1], pair, maxval=config.data.num_classes, dtype=tf.int32)
            return x, y

        return tf.data.Dataset.range(config.training.steps_per_epoch).map(make).prefetch(tf.data.AUTOTUNE)

    return Pipelines(epoch, None, config.training.steps_per_epoch, 0, 0)


def real_pipelines(config: TrainConfig, images: ImageSet, rank: int, workers: int) -> Pipelines:
    """Pipelines over a real source's ``images`` for worker ``rank`` of ``workers``: its own shard of the
    training split (reshuffled every epoch) and its own shard of the validation split."""
    seed, batch = config.training.seed, config.run.local_batch_size
    train_idx, val_idx = split_by_field(images.fields, config.data.val_fraction, seed, labels=images.labels)
    shape = images.fetch(train_idx[:1]).shape[1:]
    mean, std = channel_stats(images, train_idx, shape)
    steps = steps_per_epoch(len(train_idx), workers, config)
    my_train = shard(train_idx, rank, workers)

    def epoch(epoch_seed: int) -> tf.data.Dataset:
        order = np.random.default_rng([seed, rank, epoch_seed]).permutation(my_train)
        return _batches(images, order[: steps * batch], config, shape, mean, std, True).prefetch(tf.data.AUTOTUNE)

    validation = _batches(images, shard(val_idx, rank, workers), config, shape, mean, std, False)
    return Pipelines(epoch, validation.prefetch(tf.data.AUTOTUNE), steps, len(train_idx), len(val_idx))


def make_pipelines(config: TrainConfig, rank: int, workers: int) -> Pipelines:
    """The pipelines of ``data.source`` as seen by worker ``rank`` of ``workers``.

    Raises:
        DataError: the source's folder holds bad or no data.
    """
    source = SOURCES[config.data.source]
    if source.open is None:
        return synthetic_pipelines(config)
    return real_pipelines(config, source.open(config.data.dir), rank, workers)
