"""The tf.data pipelines: padding to the model's input and worker shards (training runs on the official BBBC021
layout: tests/integration/test_layout_runs.py)."""

import pytest

from benchmark.config import TrainConfig
from benchmark.data.pipeline import fit_to_size, make_pipelines


def test_724_is_zero_padded_to_768_in_the_centre():
    import tensorflow as tf

    images = tf.ones((1, 724, 724, 3))
    padded = fit_to_size(images, 768, 768).numpy()
    assert padded.shape == (1, 768, 768, 3)
    assert padded[0, 22:746, 22:746].min() == 1 and padded.sum() == 724 * 724 * 3
    assert padded[0, :22].max() == 0 and padded[0, 746:].max() == 0


def test_larger_images_are_resized_with_the_aspect_kept():
    import tensorflow as tf

    resized = fit_to_size(tf.ones((2, 128, 256, 3)), 64, 64).numpy()
    assert resized.shape == (2, 64, 64, 3)
    assert resized[:, 16:48].min() == pytest.approx(1) and resized[:, :15].max() == 0


def test_workers_read_disjoint_shards_of_the_same_step_count(shared_data):
    config = TrainConfig.from_flat(
        source="bbbc021-cells",
        dir=str(shared_data / "bbbc021" / "cells"),
        image_size=(64, 64),
        epochs=1,
        local_batch_size=8,
        val_fraction=0.25,
    )
    pipes = [make_pipelines(config, rank, 2) for rank in range(2)]
    assert pipes[0].steps_per_epoch == pipes[1].steps_per_epoch == (pipes[0].train_images // 2) // 8
    seen = [{float(x.numpy().sum()) for x, _ in p.train(0)} for p in pipes]
    assert len(seen[0]) == pipes[0].steps_per_epoch and not seen[0] & seen[1]


@pytest.fixture
def official_layout(tmp_path, make_official_layout):
    """8 fields (4 DMSO, 4 of a real treatment) of 128x128 in BBBC021's own format."""
    return make_official_layout(tmp_path, [("DMSO", 0.0)] * 4 + [("emetine", 0.3)] * 4, (128, 128))
