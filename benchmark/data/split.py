"""Train/validation splits by field of view, and per-worker shards.

Crops of one field of view are correlated (same well, same illumination), so a split must keep every
field on one side; splitting by crop would leak validation fields into training.
"""

import numpy as np
from numpy.typing import ArrayLike

from .errors import DataError


def field_ids(plates: ArrayLike, names: ArrayLike) -> np.ndarray:
    """Unique field-of-view ids ``"<plate>/<DAPI file name>"``: the one rule for every BBBC021 source.

    Args:
        plates: (N,) plate per image or crop (e.g. ``Week1_22123``).
        names: (N,) the DAPI file name of its field of view.
    Returns:
        (N,) str array.
    """
    return np.char.add(np.char.add(np.asarray(plates, dtype=str), "/"), np.asarray(names, dtype=str))


def field_labels(fields: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The class of each field of view.

    Args:
        fields: (N,) field id per sample.
        labels: (N,) class label per sample.
    Returns:
        names: (F,) the distinct field ids, sorted; classes: (F,) the label of each.
    Raises:
        DataError: fields and labels differ in length, or a field has samples of more than one class.
    """
    fields, labels = np.asarray(fields), np.asarray(labels)
    if fields.shape != labels.shape:
        raise DataError(f"{len(fields)} field ids but {len(labels)} labels")
    names, field_codes = np.unique(fields, return_inverse=True)
    classes, class_codes = np.unique(labels, return_inverse=True)
    pairs = np.unique(np.column_stack([field_codes, class_codes]), axis=0)
    if len(pairs) != len(names):
        mixed = names[np.flatnonzero(np.bincount(pairs[:, 0]) > 1)]
        raise DataError(f"field(s) with samples of more than one class: {mixed[:5].tolist()}")
    return names, classes[pairs[:, 1]]


def split_by_field(
    fields: ArrayLike, val_fraction: float, seed: int, labels: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Split samples into training and validation by field of view, never by sample.

    About ``val_fraction`` of the fields (of each class, when ``labels`` is given) go to validation,
    rounded, but at least one and at most all but one field of every class that has two or more fields,
    so each such class appears in both splits; a class with a single field stays in training. The result
    depends only on the set of (field, label) pairs and the seed, not on the sample order.

    Args:
        fields: (N,) field id per sample (e.g. ``CellSet.fields``).
        val_fraction: share of fields for validation, strictly between 0 and 1.
        seed: seed of the ``numpy.random.default_rng`` that picks the validation fields.
        labels: optional (N,) class per sample, to stratify by class.
    Returns:
        train_idx, val_idx: sorted int64 sample indices; together they are 0..N-1 and share no field.
    Raises:
        DataError: ``val_fraction`` is not in (0, 1); there are fewer than 2 fields; ``labels`` is
            inconsistent (see ``field_labels``); or no field can go to validation.
    """
    if not 0 < val_fraction < 1:
        raise DataError(f"val_fraction must be in (0, 1), got {val_fraction}")
    fields = np.asarray(fields)
    names, classes = field_labels(fields, np.zeros(len(fields)) if labels is None else labels)
    if len(names) < 2:
        raise DataError(f"need at least 2 fields of view to split, got {len(names)}")
    rng = np.random.default_rng(seed)
    val_fields = np.concatenate([_pick(names[classes == c], val_fraction, rng) for c in np.unique(classes)])
    if len(val_fields) == 0:
        raise DataError(f"no class has 2 or more fields, so no field can go to validation ({len(names)} fields)")
    is_val = np.isin(fields, val_fields)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def _pick(names: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """round(fraction * F) of the F names at random, clamped to [1, F - 1] (0 if F == 1)."""
    count = min(max(round(fraction * len(names)), 1), len(names) - 1)
    return rng.permutation(names)[:count]


def shard(indices: ArrayLike, rank: int, size: int) -> np.ndarray:
    """The share of one Horovod worker: ``indices[rank::size]``.

    The shards of ranks 0..size-1 partition ``indices``; their lengths differ by at most one.

    Args:
        indices: (N,) sample indices (e.g. ``train_idx``).
        rank: this worker's rank, 0 <= rank < size.
        size: number of workers, >= 1.
    Returns:
        (ceil((N - rank) / size),) array of the same dtype.
    Raises:
        DataError: size < 1 or rank outside [0, size).
    """
    if size < 1 or not 0 <= rank < size:
        raise DataError(f"need 0 <= rank < size, got rank={rank}, size={size}")
    return np.asarray(indices)[rank::size]
