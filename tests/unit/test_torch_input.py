"""The DDP engine's PyTorch input path (benchmark.engines.ddp.data) against the tf.data pipelines
(benchmark.data.pipeline): for the same settings, rank and epoch, the same images in the same order, with the
same labels and field codes; and the framework-free plan both read from (benchmark.data.plan).

The normalisation and the zero padding are equal bit for bit; the bilinear steps (the variants' rotated and
scaled copies, the resizes) differ by float32 rounding: both sample the same points, but grid_sample takes them
as float32 coordinates normalised to [-1, 1] where TensorFlow takes float32 pixel coordinates, and the resizes
sum their four weights in another order. Differences stay below ATOL in normalised units."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from benchmark.config import TrainConfig
from benchmark.data import SAMPLE_DIR, DataError
from benchmark.data.chestxray14 import SAMPLE_DIR as XRAY_SAMPLE_DIR

#: The largest difference allowed between the two paths' pixels (normalised units: standard deviations).
ATOL = 1e-4


def cells_config(image_size: tuple[int, int], **settings) -> TrainConfig:
    """The shipped BBBC021 crops (68x68, 12 fields), 6 steps an epoch of local batch 8, for VGG-16 (which takes
    any size from 32x32; M-CNN only multiples of 64)."""
    return TrainConfig.from_flat(
        **{
            "name": "vgg16",
            "source": "bbbc021-cells",
            "dir": str(SAMPLE_DIR),
            "image_size": image_size,
            "epochs": 1,
            "local_batch_size": 8,
            "val_fraction": 0.25,
            "steps_per_epoch": 6,
            "seed": 3,
            **settings,
        }
    )


def tf_batches(config: TrainConfig, rank: int = 0, workers: int = 1) -> list[list[np.ndarray]]:
    """The tf.data pipeline's training batches of epochs 0 and 1, then its validation batches, as numpy."""
    from benchmark.data.pipeline import make_pipelines

    pipes = make_pipelines(config, rank, workers)
    passes = [pipes.train(0), pipes.train(1), pipes.validation]
    return [[t.numpy() for t in batch] for batches in passes for batch in batches]


def torch_batches(config: TrainConfig, rank: int = 0, workers: int = 1, **options) -> list[list[np.ndarray]]:
    """The same from the PyTorch path, ``x`` turned channels last (NCHW -> NHWC) to compare."""
    from benchmark.engines.ddp.data import make_torch_pipelines

    pipes = make_torch_pipelines(config, rank, workers, **options)
    assert pipes.validation is not None
    batches = [batch for batches in (pipes.train(0), pipes.train(1), pipes.validation) for batch in batches]
    return [[batch[0].permute(0, 2, 3, 1).numpy(), *(t.numpy() for t in batch[1:])] for batch in batches]


def assert_same_batches(theirs: list[list[np.ndarray]], mine: list[list[np.ndarray]], atol: float = ATOL) -> None:
    """Batch by batch: pixels within ``atol``, labels and field codes equal (the torch path's int64 where
    tf.data gives int32)."""
    assert len(mine) == len(theirs) > 2
    for index, (want, got) in enumerate(zip(theirs, mine)):
        assert len(got) == len(want), f"batch {index}"
        assert got[0].shape == want[0].shape and got[0].dtype == np.float32, f"batch {index}"
        np.testing.assert_allclose(got[0], want[0], rtol=0, atol=atol, err_msg=f"batch {index}")
        for a, b in zip(got[1:], want[1:]):
            assert a.shape == b.shape and a.dtype == (np.float32 if b.dtype == np.float32 else np.int64)
            np.testing.assert_array_equal(a, b, err_msg=f"batch {index}")


@pytest.mark.horovod
@pytest.mark.parametrize(
    "image_size",
    [(68, 68), (96, 128), (48, 64)],
    ids=["as-read", "zero-padded", "shrunk-with-aspect-then-padded"],
)
def test_cells_are_the_tf_batches_in_the_same_order(image_size):
    config = cells_config(image_size)
    theirs, mine = tf_batches(config), torch_batches(config)
    assert_same_batches(theirs, mine, atol=0 if image_size != (48, 64) else ATOL)
    assert mine[0][0].shape == (8, *image_size, 3) and mine[-1][2].dtype == np.int64
    assert not np.array_equal(mine[0][0], mine[6][0])  # epoch 1 is another order


@pytest.mark.horovod
def test_two_workers_read_disjoint_shards_as_tf_does():
    config = cells_config((68, 68))
    seen = []
    for rank in (0, 1):
        mine = torch_batches(config, rank, 2)
        assert_same_batches(tf_batches(config, rank, 2), mine, atol=0)
        seen.append({float(image.sum()) for x, _ in mine[:6] for image in x})
    assert len(seen[0]) == len(seen[1]) == 6 * 8 and not seen[0] & seen[1]


def test_channels_last_and_serial_reading_give_the_same_batches():
    import torch

    from benchmark.engines.ddp.data import make_torch_pipelines

    config = cells_config((96, 128))
    serial = make_torch_pipelines(config, 0, 1, decode_calls=None)
    ahead = make_torch_pipelines(config, 0, 1, decode_calls=3, channels_last=True)
    pairs = list(zip(serial.train(0), ahead.train(0)))
    assert len(pairs) == serial.steps_per_epoch == 6
    for (x, y), (x_last, y_last) in pairs:
        assert x_last.shape == x.shape == (8, 3, 96, 128) and x.is_contiguous()
        assert x_last.is_contiguous(memory_format=torch.channels_last) and not x_last.is_contiguous()
        assert torch.equal(x, x_last) and torch.equal(y, y_last)
    skipped = [x for x, _ in ahead.train(0).skip(4)]
    assert len(skipped) == 2 and torch.equal(skipped[0], pairs[4][0][0])


@pytest.mark.horovod
def test_xrays_are_resized_with_multi_hot_labels_as_tf_does():
    config = TrainConfig.from_flat(
        name="densenet121",
        source="chestxray14",
        dir=str(XRAY_SAMPLE_DIR),
        image_size=(224, 224),
        epochs=1,
        local_batch_size=8,
        val_fraction=0.2,
        steps_per_epoch=3,
    )
    theirs, mine = tf_batches(config), torch_batches(config)
    assert_same_batches(theirs, mine)
    assert mine[0][1].shape == (8, 14) and mine[0][1].dtype == np.float32
    assert mine[0][0].shape == (8, 224, 224, 3) and mine[0][0].std() > 0.5


@pytest.fixture
def layout(tmp_path, make_official_layout):
    """12 fields of 64x80: 6 DMSO, 6 protein-synthesis inhibitor, in BBBC021's own layout."""
    return make_official_layout(tmp_path, [("DMSO", 0.0)] * 6 + [("emetine", 0.3)] * 6, (64, 80))


@pytest.mark.horovod
@pytest.mark.parametrize("variant, image_size", [("dataset-a", (64, 128)), ("dataset-b", (64, 64))])
def test_the_variants_copies_are_the_tf_batches(layout, variant, image_size):
    config = TrainConfig.from_flat(
        source="bbbc021",
        dir=str(layout),
        image_size=image_size,
        epochs=1,
        local_batch_size=4,
        val_fraction=0.25,
        steps_per_epoch=8,
        variant=variant,
    )
    theirs, mine = tf_batches(config), torch_batches(config)
    assert_same_batches(theirs, mine)
    codes = np.concatenate([batch[2] for batch in mine[16:]])
    copies = 6 if variant == "dataset-a" else 48
    assert np.bincount(codes).tolist() == [copies] * 4  # every copy of the 4 validation fields


@pytest.mark.horovod
def test_project_samples_as_image_projective_transform_v3():
    """Affine and perspective rows, points outside the input and a row whose k is 0 somewhere."""
    import tensorflow as tf
    import torch

    from benchmark.engines.ddp.data import project

    image = np.random.default_rng(0).normal(size=(4, 9, 11, 2)).astype(np.float32)
    rows = np.array(
        [
            [np.cos(0.3), -np.sin(0.3), 2.5, np.sin(0.3), np.cos(0.3), -1.25, 0, 0],
            [0.8, 0.1, 1.0, -0.2, 1.1, 0.5, 0.02, -0.03],
            [1.3, 0, -3, 0, 0.7, 4, 0, 0],
            [1, 0, 0, 0, 1, 0, -0.25, 0],  # k = 1 - x / 4: 0 at x = 4, negative after
        ],
        dtype=np.float32,
    )
    want = tf.raw_ops.ImageProjectiveTransformV3(
        images=image,
        transforms=rows,
        output_shape=[7, 12],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    ).numpy()
    got = project(torch.from_numpy(image).permute(0, 3, 1, 2), rows, (7, 12)).permute(0, 2, 3, 1).numpy()
    assert got.shape == want.shape == (4, 7, 12, 2) and (want == 0).any() and want[3, :, 4].max() == 0
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_synthetic_batches_are_seeded_by_seed_epoch_and_step():
    import torch

    from benchmark.engines.ddp.data import make_torch_pipelines

    config = TrainConfig.from_flat(
        source="synthetic", image_size=(64, 128), epochs=1, steps_per_epoch=3, local_batch_size=2, num_classes=5
    )
    pipes = make_torch_pipelines(config, 0, 1)
    assert pipes.validation is None and pipes.steps_per_epoch == 3 and pipes.train_images == 0
    first, again, other = (list(pipes.train(epoch)) for epoch in (0, 0, 1))
    assert len(first) == 3 and first[0][0].shape == (2, 3, 64, 128) and first[0][0].dtype == torch.float32
    assert first[0][1].dtype == torch.int64 and 0 <= int(first[0][1].min()) and int(first[0][1].max()) < 5
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again))
    assert not torch.equal(first[0][0], other[0][0]) and not torch.equal(first[0][0], first[1][0])
    reseeded = make_torch_pipelines(config.updated("training", seed=1), 0, 1)
    assert not torch.equal(next(iter(reseeded.train(0)))[0], first[0][0])


def test_a_failing_batch_raises_at_its_place_and_stops_the_read_ahead():
    from benchmark.engines.ddp.data import Batches

    made = []

    def make(item):
        made.append(item)
        if item == 3:
            raise DataError("f3_Tubulin.tif: unreadable or corrupt TIFF")
        return (item,)

    got = []
    with pytest.raises(DataError, match="f3_Tubulin.tif"):
        for batch in Batches(list(range(100)), make, read_ahead=2):
            got.append(batch[0])
    assert got == [0, 1, 2] and len(made) <= 6  # read ahead 2 batches past the one that failed, at most
    with pytest.raises(ValueError, match="read_ahead"):
        Batches([], make, read_ahead=0)


@pytest.mark.parametrize(
    "module, absent",
    [("benchmark.data.plan", ("tensorflow", "torch")), ("benchmark.engines.ddp.data", ("tensorflow", "keras"))],
)
def test_the_plan_and_the_torch_path_import_no_other_framework(module, absent):
    code = f"import sys, {module}; print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(absent)!r}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
