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


def fold_split(
    groups: ArrayLike, folds: int, fold: int, seed: int, labels: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Fold ``fold`` of a K-fold split by group (field of view, plate or compound), stratified by class.

    The distinct groups of each class (all groups as one class when ``labels`` is None) are permuted by
    ``numpy.random.default_rng(seed)`` and dealt round-robin into ``folds`` folds, each class starting where
    the previous one stopped so that the folds' sizes differ by at most one group. Fold ``fold`` validates
    its groups and trains on the rest, so across the K folds every group is validated exactly once, except
    the groups of a class with a single group, which always stay in training (as in :func:`split_by_field`):
    validating it would leave its class untrained. A class with two or more groups keeps at least one in
    training in every fold. The result depends only on the set of (group, label) pairs and the seed.

    Args:
        groups: (N,) group id per sample (e.g. ``ImageSet.fields``).
        folds: K, at least 2.
        fold: which fold validates, 1..K.
        seed: seed of the permutation (the same for every fold of one estimate).
        labels: optional (N,) class per sample, to stratify by class; every group must hold one class.
    Returns:
        train_idx, val_idx: sorted int64 sample indices; together they are 0..N-1 and share no group.
    Raises:
        DataError: ``folds`` < 2 or ``fold`` outside 1..K; ``labels`` is inconsistent (see
            :func:`field_labels`); or fold ``fold`` validates no group (fewer groups than folds).
    """
    if folds < 2 or not 1 <= fold <= folds:
        raise DataError(f"need folds >= 2 and 1 <= fold <= folds, got fold {fold} of {folds}")
    groups = np.asarray(groups)
    val_groups = fold_groups(groups, folds, seed, labels)[fold - 1]
    if len(val_groups) == 0:
        names = np.unique(groups)
        raise DataError(
            f"fold {fold} of {folds} validates no group: {len(names)} groups cannot fill {folds} folds "
            "(the only group of a class stays in training)"
        )
    is_val = np.isin(groups, val_groups)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def fold_groups(groups: ArrayLike, folds: int, seed: int, labels: ArrayLike | None = None) -> list[np.ndarray]:
    """The groups each of the ``folds`` folds validates (see :func:`fold_split`), fold 1 first; each sorted."""
    groups = np.asarray(groups)
    names, classes = field_labels(groups, np.zeros(len(groups)) if labels is None else labels)
    rng = np.random.default_rng(seed)
    dealt: list[list] = [[] for _ in range(folds)]
    start = 0
    for c in np.unique(classes):
        members = names[classes == c]
        if len(members) < 2:
            continue
        for i, name in enumerate(rng.permutation(members)):
            dealt[(start + i) % folds].append(name)
        start = (start + len(members)) % folds
    return [np.sort(np.asarray(d, dtype=names.dtype)) for d in dealt]
