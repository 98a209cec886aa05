"""benchmark.data.split: field-wise, class-stratified, deterministic splits and Horovod shards."""

import numpy as np
import pytest

from benchmark.data import DataError, load_cells, shard, split_by_field


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
