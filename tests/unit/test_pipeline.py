"""The input pipelines: padding to the model's input, the same on both engines' paths (the tf.data pipelines,
benchmark.data.pipeline, and the DDP engine's PyTorch path, benchmark.engines.ddp.data), and the tf.data
pipelines' worker shards (training runs on the official BBBC021 layout: tests/integration/test_layout_runs.py)."""

import numpy as np
import pytest

from benchmark.config import TrainConfig


def tf_fit(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """``(n, h, w, c)`` images fitted to ``height x width`` by the tf.data pipelines' ``fit_to_size``."""
    import tensorflow as tf

    from benchmark.data.pipeline import fit_to_size

    return fit_to_size(tf.constant(images), height, width).numpy()


def torch_fit(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """``(n, h, w, c)`` images fitted to ``height x width`` by the DDP engine's ``fit_to_size`` (channels first)."""
    import torch

    from benchmark.engines.ddp.data import fit_to_size

    fitted = fit_to_size(torch.from_numpy(images).permute(0, 3, 1, 2), height, width)
    return fitted.permute(0, 2, 3, 1).numpy()


@pytest.fixture(
    params=[pytest.param(tf_fit, id="tf.data", marks=pytest.mark.horovod), pytest.param(torch_fit, id="torch")]
)
def fit(request):
    """Each engine's ``fit_to_size``, on numpy arrays."""
    return request.param


def test_724_is_zero_padded_to_768_in_the_centre(fit):
    padded = fit(np.ones((1, 724, 724, 3), np.float32), 768, 768)
    assert padded.shape == (1, 768, 768, 3)
    assert padded[0, 22:746, 22:746].min() == 1 and padded.sum() == 724 * 724 * 3
    assert padded[0, :22].max() == 0 and padded[0, 746:].max() == 0


def test_larger_images_are_resized_with_the_aspect_kept(fit):
    resized = fit(np.ones((2, 128, 256, 3), np.float32), 64, 64)
    assert resized.shape == (2, 64, 64, 3)
    assert resized[:, 16:48].min() == pytest.approx(1) and resized[:, :15].max() == 0


@pytest.mark.horovod
def test_workers_read_disjoint_shards_of_the_same_step_count(shared_data):
    from benchmark.data.pipeline import make_pipelines

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
