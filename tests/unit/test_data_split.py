"""benchmark.data.split: field-wise, class-stratified, deterministic splits and Horovod shards."""

import numpy as np
import pytest

from benchmark.data import DataError, load_cells, shard, split_by_field
from benchmark.data.split import fold_split


@pytest.fixture(scope="module")
def cells(shared_data):
    return load_cells(shared_data / "bbbc021" / "cells")


def test_split_keeps_fields_whole_and_both_classes_in_validation(cells):
    train, val = split_by_field(cells.fields, 0.2, seed=0, labels=cells.labels)
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(len(cells.fields)))
    assert not set(cells.fields[train]) & set(cells.fields[val])
    assert set(cells.labels[val]) == set(cells.labels[train]) == set(cells.labels)
    assert len(set(cells.fields[val])) == round(0.2 * 18) + round(0.2 * 20)  # 18 DMSO and 20 Protein synthesis fields


def test_split_is_deterministic_for_a_seed(cells):
    first = split_by_field(cells.fields, 0.25, seed=7, labels=cells.labels)
    again = split_by_field(cells.fields, 0.25, seed=7, labels=cells.labels)
    other = split_by_field(cells.fields, 0.25, seed=8, labels=cells.labels)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[1], other[1])
    order = np.random.default_rng(0).permutation(len(cells.fields))
    _, shuffled_val = split_by_field(cells.fields[order], 0.25, seed=7, labels=cells.labels[order])
    assert set(cells.fields[order][shuffled_val]) == set(cells.fields[first[1]])


def test_split_without_labels_and_small_classes():
    fields = np.array(["a", "a", "b", "c", "c", "d"])
    train, val = split_by_field(fields, 0.5, seed=0)
    assert len(set(fields[val])) == 2 and not set(fields[train]) & set(fields[val])
    train, val = split_by_field(fields, 0.9, seed=0, labels=[0, 0, 0, 1, 1, 2])  # class 2 has one field
    assert set(fields[val]) in ({"a"}, {"b"}) and "d" in set(fields[train])


@pytest.mark.parametrize(
    "fields, fraction, labels, message",
    [
        (["a", "b"], 0.0, None, r"val_fraction must be in \(0, 1\)"),
        (["a", "b"], 1.0, None, r"val_fraction must be in \(0, 1\)"),
        (["a", "a"], 0.5, None, "need at least 2 fields"),
        (["a", "b"], 0.5, [0, 1], "no field can go to validation"),
        (["a", "a", "b"], 0.5, [0, 1, 1], r"more than one class: \['a'\]"),
        (["a", "b"], 0.5, [0], "2 field ids but 1 labels"),
    ],
)
def test_split_rejects_bad_input(fields, fraction, labels, message):
    with pytest.raises(DataError, match=message):
        split_by_field(fields, fraction, seed=0, labels=labels)


def test_shard_partitions_indices():
    indices = np.arange(10, 21)
    shards = [shard(indices, rank, 4) for rank in range(4)]
    assert [len(s) for s in shards] == [3, 3, 3, 2]
    assert np.array_equal(np.sort(np.concatenate(shards)), indices)
    assert shards[1].tolist() == [11, 15, 19]
    assert np.array_equal(shard(indices, 0, 1), indices)
    for rank, size in [(4, 4), (-1, 4), (0, 0)]:
        with pytest.raises(DataError, match="need 0 <= rank < size"):
            shard(indices, rank, size)


def _groups(per_class: dict[int, int], images: int = 3):
    """Samples of fields ``c<class>-<i>``, ``images`` each, ``per_class[c]`` fields of class c."""
    fields = [f"c{c}-{i}" for c, count in per_class.items() for i in range(count) for _ in range(images)]
    labels = [c for c, count in per_class.items() for _ in range(count) for _ in range(images)]
    return np.array(fields), np.array(labels)


@pytest.mark.parametrize("folds", [2, 3, 5])
def test_every_field_is_validated_exactly_once_across_the_folds(folds):
    fields, labels = _groups({0: 7, 1: 12, 2: 5})
    validated: list[str] = []
    for fold in range(1, folds + 1):
        train, val = fold_split(fields, folds, fold, seed=3, labels=labels)
        assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(len(fields)))
        assert not set(fields[train]) & set(fields[val])  # no field on both sides
        assert set(labels[train]) == {0, 1, 2}  # every class still trained
        for c, count in ((0, 7), (1, 12), (2, 5)):  # stratified: each fold a K-th of each class, +-1 field
            held = len(set(fields[val][labels[val] == c]))
            assert count // folds <= held <= -(-count // folds)
        validated += sorted(set(fields[val]))
    assert sorted(validated) == sorted(set(fields))
    sizes = [len(set(fields[fold_split(fields, folds, k, 3, labels)[1]])) for k in range(1, folds + 1)]
    assert max(sizes) - min(sizes) <= 1


def test_folds_depend_on_the_seed_not_the_order():
    fields, labels = _groups({0: 6, 1: 6})
    first = fold_split(fields, 3, 2, seed=1, labels=labels)[1]
    order = np.random.default_rng(0).permutation(len(fields))
    shuffled = fold_split(fields[order], 3, 2, seed=1, labels=labels[order])[1]
    assert set(fields[first]) == set(fields[order][shuffled])
    assert set(fields[first]) != set(fields[fold_split(fields, 3, 2, seed=2, labels=labels)[1]])


def test_a_class_with_one_group_stays_in_training_and_bad_folds_are_refused():
    fields, labels = _groups({0: 4, 1: 1})
    for fold in (1, 2):
        train, val = fold_split(fields, 2, fold, seed=0, labels=labels)
        assert "c1-0" in set(fields[train]) and 1 not in set(labels[val])
    with pytest.raises(DataError, match="fold 3 of 3 validates no group"):
        fold_split(_groups({0: 2})[0], 3, 3, 0, _groups({0: 2})[1])
    for folds, fold in ((1, 1), (3, 0), (3, 4)):
        with pytest.raises(DataError, match="1 <= fold <= folds"):
            fold_split(fields, folds, fold, 0, labels)


@pytest.mark.parametrize("folds", [None, 2])
def test_plate_split_never_shares_a_plate_and_compounds_are_kept_whole(folds):
    """On the shipped sample, through the plan both engines read (plan_worker): no plate on both sides; the
    sample has one compound per class, so a compound split leaves nothing to validate and says so."""
    from benchmark.config import TrainConfig
    from benchmark.data.cells import SAMPLE_DIR
    from benchmark.data.plan import open_source, plan_worker, split_groups

    def config(split):
        data = {"source": "bbbc021-cells", "dir": str(SAMPLE_DIR), "image_size": [64, 64], "split": split}
        data.update({} if folds is None else {"folds": folds, "fold": 1})
        return TrainConfig.parse({"data": data, "training": {"epochs": 1}, "run": {"local_batch_size": 8}})

    images = open_source(config("plate"))
    assert images is not None and images.compounds is not None
    plan = plan_worker(config("plate"), images, 0, 1)
    plates = split_groups(plan.copies.images, "plate")
    train, val = set(plates[plan.copies.field_of(plan.train_shard)]), set(plates[plan.copies.field_of(plan.val_copies)])
    assert train and val and not train & val
    assert all(plate.startswith("Week") and "/" not in plate for plate in train | val)
    with pytest.raises(DataError, match="no class has 2 or more|validates no group"):
        plan_worker(config("compound"), images, 0, 1)


def test_compound_folds_keep_compounds_whole_and_stratify_by_moa():
    compounds = np.repeat([f"k{i}" for i in range(9)], 4)  # 4 fields a compound
    labels = np.repeat([0, 0, 0, 1, 1, 1, 2, 2, 2], 4)  # 3 compounds a class (one MoA each)
    seen: list[str] = []
    for fold in (1, 2, 3):
        train, val = fold_split(compounds, 3, fold, seed=0, labels=labels)
        assert not set(compounds[train]) & set(compounds[val])
        assert sorted(labels[val][::4].tolist()) == [0, 1, 2]  # one compound of each MoA per fold
        seen += sorted(set(compounds[val]))
    assert sorted(seen) == sorted(set(compounds))


def test_a_plate_fold_that_would_leave_a_validated_class_untrained_is_refused():
    from benchmark.config import TrainConfig
    from benchmark.data.imageset import ImageSet
    from benchmark.data.plan import open_copies, split_copies

    fields = np.array([f"P{p}/f{i}.tif" for p in (1, 2, 3, 4) for i in range(2)])
    labels = np.array([0, 0, 0, 0, 0, 0, 1, 1], dtype=np.int32)  # class 1 on plate 4 alone
    images = ImageSet(labels, fields, lambda idx: np.zeros((len(idx), 68, 68, 3), np.uint16))
    data = {"source": "bbbc021-cells", "dir": "/nowhere", "image_size": [64, 64], "split": "plate", "folds": 2}
    outcomes = []
    for fold in (1, 2):
        config = TrainConfig.parse({"data": {**data, "fold": fold}, "training": {"epochs": 1}})
        try:
            split_copies(open_copies(config, images), config)
            outcomes.append("ok")
        except DataError as error:
            assert "no training image has" in str(error) and "[1]" in str(error)
            outcomes.append("refused")
    assert sorted(outcomes) == ["ok", "refused"]  # the fold that validates plate 4 is refused
