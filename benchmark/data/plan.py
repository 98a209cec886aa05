"""What each worker reads, decided once for every engine's input path: the images, their order, their
normalisation.

The ``tf.data`` pipelines of :mod:`benchmark.data.pipeline` and the PyTorch batches of
:mod:`benchmark.engines.ddp.data` both read what this module decides, so both give the same batches.

A real source's images (an :class:`~benchmark.data.imageset.ImageSet` opened from ``data.dir``) become the
copies of ``data.variant`` (:class:`Copies`, :mod:`benchmark.data.variants`), are split into training and
validation by ``data.split`` (by field of view, never by crop or copy, unless ``"paper"``), and each worker
takes its shard of both (``rank::workers``): :func:`plan_worker` gives a worker's :class:`WorkerPlan`, with its
training order for any epoch, its validation copies with their field codes, and the training split's
per-channel mean and standard deviation. Pure numpy: imports neither TensorFlow nor PyTorch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.config import TrainConfig
from benchmark.data.errors import DataError
from benchmark.data.imageset import ImageSet
from benchmark.data.sources import SOURCES
from benchmark.data.split import fold_split, shard, split_by_field
from benchmark.data.variants import VARIANTS, Variant, select_fields, transforms

#: Images used to estimate the per-channel mean and standard deviation of full fields of view.
STATS_SAMPLE = 32


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
        """``(h, w)`` of a copy (pixels): the variant's canvas for the fields' ``(H, W)``."""
        return self.variant.canvas(*self.shape[:2])

    @property
    def planar(self) -> bool:
        """Whether :meth:`read` gives the fields channels first (the source has ``ImageSet.fetch_planar``)."""
        return self.images.fetch_planar is not None

    def read(self, copies: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The fields of ``copies`` ((n,) int64 copy indices) as stored, before normalisation and transform:
        ``(n, C, H, W)`` uint16 when :attr:`planar`, else ``(n, H, W, C)`` uint16 (an 8-bit source's pixels
        widened), and their labels, the rows of ``ImageSet.labels`` (``(n,)`` int32 or ``(n, K)`` float32).
        Thread-safe; releases the GIL while reading the ``bbbc021`` source's TIFFs.

        Raises:
            DataError: a file is missing, unreadable or of another shape (named).
        """
        fields = self.field_of(copies)
        fetch = self.images.fetch_planar or self.images.fetch
        return np.asarray(fetch(fields), dtype=np.uint16), self.images.labels[fields]


@dataclass(frozen=True)
class WorkerPlan:
    """What worker ``rank`` of ``workers`` reads of a real source (:func:`plan_worker`).

    Attributes:
        copies: the variant's copies of the source's fields.
        seed: ``training.seed``, which with ``rank`` and the epoch draws each epoch's order.
        rank: the worker's rank.
        batch: ``run.local_batch_size``.
        steps_per_epoch: training steps of every worker per epoch (:func:`steps_per_epoch`).
        train_shard: ``(M,)`` int64 copy indices of the worker's shard of the training split.
        val_copies: ``(V,)`` int64 copy indices of its shard of the validation split, in order.
        val_codes: ``(V,)`` int64 position of each of ``val_copies``' field in ``val_fields``.
        val_fields: ``(F,)`` str, the sorted field ids (``ImageSet.fields``) of the whole validation split.
        mean, std: ``(C,)`` float32 per-channel mean and standard deviation of the training split's pixels
            (:func:`channel_stats`; raw intensity units), which every image is normalised with.
        train_images, val_images: the sizes of the two splits, all workers together.
    """

    copies: Copies
    seed: int
    rank: int
    batch: int
    steps_per_epoch: int
    train_shard: np.ndarray
    val_copies: np.ndarray
    val_codes: np.ndarray
    val_fields: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    train_images: int
    val_images: int

    def epoch_order(self, epoch: int) -> np.ndarray:
        """``(steps_per_epoch * batch,)`` int64 copy indices the worker trains on in ``epoch``, in order: its
        shard permuted by ``numpy.random.default_rng([seed, rank, epoch])``, cut to whole steps."""
        order = np.random.default_rng([self.seed, self.rank, epoch]).permutation(self.train_shard)
        return order[: self.steps_per_epoch * self.batch]


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


def open_source(config: TrainConfig) -> ImageSet | None:
    """The images of ``data.source`` in ``data.dir``, or None for a source whose images are made on the fly.

    Raises:
        DataError: the source's folder holds bad or no data.
    """
    source = SOURCES[config.data.source]
    if source.open is None:
        return None
    assert config.data.dir is not None, f"data source {config.data.source} needs data.dir (TrainConfig requires it)"
    return source.open(config.data.dir)


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
    single-label data), ``plate`` and ``compound`` every field of a plate or of a compound
    (:func:`split_groups`); with ``data.folds``, fold ``data.fold`` of a K-fold split of those groups
    (:func:`fold_split`) instead of ``val_fraction`` of them; ``paper`` draws ``val_fraction`` of the copies
    at random (Datta et al. 2019, sec. 4), so validation may hold a copy of a training field: a leaky split;
    ``lists`` takes the dataset's published lists (``ImageSet.split``: "train" and "val"; the test list is left out).

    Raises:
        DataError: too few fields or copies to split; a split by group that leaves a validated class
            untrained; with ``lists``, a side left empty by the lists.
    """
    seed, fraction, images = config.training.seed, config.data.val_fraction, copies.images
    if config.data.split == "lists":
        train, val = list_split(images, config.data.source)
        return copies.of_fields(train), copies.of_fields(val)
    if config.data.split in ("field", "plate", "compound"):
        groups = split_groups(images, config.data.split)
        single = images.labels.ndim == 1 and config.data.split != "plate"
        labels = images.labels if single else None
        if config.data.folds is not None:
            assert config.data.fold is not None, "TrainConfig requires data.fold with data.folds"
            train, val = fold_split(groups, config.data.folds, config.data.fold, seed, labels=labels)
        else:
            train, val = split_by_field(groups, fraction, seed, labels=labels)
        if images.labels.ndim == 1 and (untrained := np.setdiff1d(images.labels[val], images.labels[train])).size:
            raise DataError(
                f"data.split = {config.data.split}: validation holds class(es) {untrained.tolist()} that no "
                "training image has (a plate split is not stratified by class): use more folds or data.split = field"
            )
        return copies.of_fields(train), copies.of_fields(val)
    total = len(images.labels) * copies.per_field
    count = round(fraction * total)
    if not 0 < count < total:
        raise DataError(f"{total} images cannot be split {1 - fraction:g}/{fraction:g}: a side would be empty")
    order = np.random.default_rng(seed).permutation(total)
    return np.sort(order[count:]), np.sort(order[:count])


def split_groups(images: ImageSet, split: str) -> np.ndarray:
    """``(N,)`` str: the group of each image that a split by ``split`` keeps on one side: its field of view
    (``field``), its plate (``plate``: the part of a BBBC021 field id before the ``/``; a plate holds fields
    of many classes, so this split is not stratified) or its compound (``compound``: ``ImageSet.compounds``;
    every BBBC021 compound has one mechanism of action, so this split is stratified by class).

    Raises:
        DataError: ``compound`` for images without compounds.
    """
    if split == "plate":
        return np.array([field.split("/", 1)[0] for field in images.fields.tolist()], dtype=str)
    if split == "compound":
        if images.compounds is None:
            raise DataError("data.split = compound: the images carry no compound (index.csv has no compound column)")
        return images.compounds
    return images.fields


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


def plan_worker(config: TrainConfig, images: ImageSet, rank: int, workers: int) -> WorkerPlan:
    """What worker ``rank`` of ``workers`` reads of a real source's ``images``: the copies of
    ``data.variant``, split by ``data.split``; its shard of the training split (reshuffled every epoch:
    :meth:`WorkerPlan.epoch_order`) and of the validation split; the training split's channel statistics.

    Raises:
        DataError: too few fields or copies to split (:func:`split_copies`), or unreadable images; or rank
            outside ``[0, workers)``.
        ValueError: a worker's shard holds fewer images than one local batch (:func:`steps_per_epoch`).
    """
    copies = open_copies(config, images)
    train_idx, val_idx = split_copies(copies, config)
    mean, std = channel_stats(copies.images, np.unique(copies.field_of(train_idx)), copies.shape)
    val_fields, codes = np.unique(copies.images.fields[copies.field_of(val_idx)], return_inverse=True)
    return WorkerPlan(
        copies=copies,
        seed=config.training.seed,
        rank=rank,
        batch=config.run.local_batch_size,
        steps_per_epoch=steps_per_epoch(len(train_idx), workers, config),
        train_shard=shard(train_idx, rank, workers),
        val_copies=shard(val_idx, rank, workers),
        val_codes=shard(codes.astype(np.int64), rank, workers),
        val_fields=val_fields,
        mean=mean,
        std=std,
        train_images=len(train_idx),
        val_images=len(val_idx),
    )
