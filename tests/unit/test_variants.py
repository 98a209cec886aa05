"""The paper's workloads made on the fly (Datta et al. 2019, sec. 4): Dataset A's 1,684 fields on the real
tables, the dihedral and rotated copies by both engines' paths (exact against numpy where a copy is exact), the
splits by field and the paper's leaky split over copies, and the validation figures with their bootstrap
intervals."""

import numpy as np
import pytest

from benchmark.config import SettingsError, TrainConfig
from benchmark.data import MOA_CLASSES, annotated_fields
from benchmark.data.variants import DATASET_A_CLASS_CAP, VARIANTS, select_fields, transforms
from benchmark.record import Epoch
from benchmark.train.metrics import bootstrap_interval, per_field_accuracy, time_to_train


def tf_moved(image: np.ndarray, variant: str) -> list[np.ndarray]:
    """Every copy ``variant`` makes of one (H, W, C) float32 image, by TensorFlow's projective transform (the
    tf.data pipelines')."""
    import tensorflow as tf

    table = transforms(VARIANTS[variant], *image.shape[:2])
    canvas = VARIANTS[variant].canvas(*image.shape[:2])
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=np.repeat(image[None], len(table), axis=0),
        transforms=table,
        output_shape=canvas,
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    return list(out.numpy())


def torch_moved(image: np.ndarray, variant: str) -> list[np.ndarray]:
    """Every copy ``variant`` makes of one (H, W, C) float32 image, by the DDP engine's PyTorch path
    (:func:`benchmark.engines.ddp.data.project`, channels first)."""
    import torch

    from benchmark.engines.ddp.data import project

    table = transforms(VARIANTS[variant], *image.shape[:2])
    images = torch.from_numpy(np.repeat(image[None], len(table), axis=0)).permute(0, 3, 1, 2)
    return list(project(images, table, VARIANTS[variant].canvas(*image.shape[:2])).permute(0, 2, 3, 1).numpy())


@pytest.fixture(
    params=[pytest.param(tf_moved, id="tf.data", marks=pytest.mark.horovod), pytest.param(torch_moved, id="torch")]
)
def moved(request):
    """Each engine's way of making a variant's copies of an image."""
    return request.param


def test_dataset_a_keeps_1684_fields_of_the_real_tables(shared_data):
    real = shared_data / "bbbc021"
    table = annotated_fields(real / "BBBC021_v1_image.csv", real / "BBBC021_v1_moa.csv")
    labels = np.array([MOA_CLASSES.index(m) for m in table["moa"]])
    counts = dict(zip(*np.unique(table["moa"], return_counts=True)))
    assert counts["DMSO"] == 1320 and counts["Microtubule stabilizers"] == 1428 and len(table) == 3848
    kept = select_fields(labels, DATASET_A_CLASS_CAP, seed=0)
    assert len(kept) == 1684 and len(kept) * len(VARIANTS["dataset-a"].copies) == 10_104
    kept_counts = dict(zip(*np.unique(table["moa"].iloc[kept], return_counts=True)))
    assert kept_counts == {**counts, "DMSO": 292, "Microtubule stabilizers": 292}
    other = select_fields(labels, DATASET_A_CLASS_CAP, seed=1)
    assert len(other) == 1684 and set(other) != set(kept)


def test_dataset_a_copies_are_the_six_dihedral_images(moved):
    image = np.random.default_rng(0).random((6, 6, 2)).astype(np.float32)
    expected = [
        image,
        np.rot90(image),
        np.fliplr(image),
        np.flipud(image),
        np.rot90(np.fliplr(image)),
        np.rot90(np.flipud(image)),
    ]
    for copy, want in zip(moved(image, "dataset-a"), expected):
        np.testing.assert_allclose(copy, want, atol=1e-6)


def test_a_90_degree_copy_of_a_wide_field_is_scaled_to_fit_it(moved):
    image = np.ones((8, 10, 1), dtype=np.float32)
    quarter = moved(image, "dataset-a")[1]
    assert quarter.shape == (8, 10, 1)
    columns = np.flatnonzero(quarter[4, :, 0] > 0.5)
    assert columns.tolist() == [2, 3, 4, 5, 6, 7]  # 8 rows x 0.8 = 6.4 columns, centred, zero-padded
    assert quarter[:, 0].max() == quarter[:, 9].max() == 0 and quarter[:, 3:7].min() == 1


def test_dataset_b_crops_the_square_that_every_rotation_fills(moved):
    assert VARIANTS["dataset-b"].canvas(1024, 1280) == (724, 724)
    assert len(VARIANTS["dataset-b"].copies) == 48
    copies = moved(np.ones((64, 80, 1), dtype=np.float32), "dataset-b")
    assert all(c.shape == (45, 45, 1) for c in copies)
    assert min(c.min() for c in copies) == pytest.approx(1)  # no copy reaches outside the field


def test_dataset_b_holds_the_exact_quarter_turns_and_mirror_of_the_centre(moved):
    image = np.random.default_rng(1).random((12, 12, 1)).astype(np.float32)
    copies = moved(image, "dataset-b")
    centre = image[2:10, 2:10]
    np.testing.assert_allclose(copies[0], centre, atol=1e-6)
    np.testing.assert_allclose(copies[6], np.rot90(centre), atol=1e-6)  # 90 degrees
    np.testing.assert_allclose(copies[24], np.fliplr(centre), atol=1e-6)  # the mirror image
    assert not np.allclose(copies[1], centre)  # 15 degrees


@pytest.fixture
def layout(tmp_path, make_official_layout):
    """12 fields of 64x80: 6 DMSO, 6 protein-synthesis inhibitor."""
    return make_official_layout(tmp_path, [("DMSO", 0.0)] * 6 + [("emetine", 0.3)] * 6, (64, 80))


def config_of(layout, **settings) -> TrainConfig:
    return TrainConfig.from_flat(
        **{
            "source": "bbbc021",
            "dir": str(layout),
            "image_size": (64, 128),
            "epochs": 1,
            "local_batch_size": 4,
            "val_fraction": 0.25,
            **settings,
        }
    )


def fields_of(pipes, split: str) -> list[np.ndarray]:
    """The field codes and the shapes a pipeline yields, for the training or validation side."""
    if split == "val":
        return [f.numpy() for _, _, f in pipes.validation]
    return [x.shape for x, _ in pipes.train(0)]


@pytest.mark.horovod
@pytest.mark.parametrize("variant, copies, image_size", [("dataset-a", 6, (64, 128)), ("dataset-b", 48, (64, 64))])
def test_the_pipeline_makes_every_copy_and_keeps_fields_on_one_side(layout, variant, copies, image_size):
    from benchmark.data.pipeline import make_pipelines

    pipes = make_pipelines(config_of(layout, variant=variant, image_size=image_size), 0, 1)
    assert pipes.train_images + pipes.val_images == 12 * copies
    assert pipes.val_images == 4 * copies and len(pipes.val_fields) == 4  # 25 % of each class's 6 fields
    codes = np.concatenate(fields_of(pipes, "val"))
    assert np.bincount(codes).tolist() == [copies] * 4  # every copy of a validation field, none of others
    shapes = fields_of(pipes, "train")
    assert shapes and all(s == (4, *image_size, 3) for s in shapes)


@pytest.mark.horovod
def test_the_paper_split_draws_copies_so_fields_straddle(layout):
    from benchmark.data.pipeline import make_pipelines

    pipes = make_pipelines(config_of(layout, variant="dataset-a", split="paper", val_fraction=0.1), 0, 1)
    assert pipes.val_images == round(0.1 * 72) and pipes.train_images == 72 - pipes.val_images
    assert len(pipes.val_fields) > pipes.val_images / 6  # copies of more fields than whole fields would fill


def test_variants_need_full_fields_and_a_split_needs_a_validation_set():
    with pytest.raises(SettingsError, match="data.variant: dataset-a is made from full fields"):
        TrainConfig.from_flat(source="bbbc021-cells", dir="x", image_size=(64, 64), epochs=1, variant="dataset-a")
    with pytest.raises(SettingsError, match="data.split: synthetic data has no validation set"):
        TrainConfig.from_flat(source="synthetic", image_size=(64, 64), epochs=1, steps_per_epoch=1, split="paper")


def test_new_settings_at_their_defaults_keep_old_fingerprints():
    config = TrainConfig.from_flat(source="synthetic", image_size=(64, 64), epochs=1, steps_per_epoch=1)
    assert not {"data.variant", "data.split", "training.target_top5"} & set(config.fingerprinted())
    changed = config.updated("training", target_top5=1.0)
    assert changed.fingerprinted()["training.target_top5"] == 1.0 and changed.fingerprint() != config.fingerprint()


def test_the_bootstrap_resamples_fields_not_images():
    # 10 fields of 50 images: 5 fields all right, 5 all wrong. Images look independent, fields do not.
    groups = np.repeat(np.arange(10), 50)
    correct = (groups < 5).astype(int)
    low, high = bootstrap_interval(correct, groups, seed=0)
    assert low < 0.3 and high > 0.7  # about 0.5 +- 1.96 * sqrt(0.25 / 10)
    by_image = bootstrap_interval(correct, np.arange(500), seed=0)
    assert by_image[1] - by_image[0] < 0.1 < high - low
    assert bootstrap_interval(np.ones(20), groups[:20]) == (1.0, 1.0)
    with pytest.raises(ValueError, match="one field per image"):
        bootstrap_interval(np.ones(3), np.zeros(2))


def test_per_field_accuracy():
    rows = per_field_accuracy(
        np.array([1, 0, 1, 1]), np.array([1, 1, 1, 1]), np.array([0, 0, 2, 2]), np.array(["a", "b", "c"])
    )
    assert [(r.field, r.images, r.top1, r.top5) for r in rows] == [("a", 2, 0.5, 1.0), ("c", 2, 1.0, 1.0)]


def test_time_to_train_to_both_targets():
    epochs = [
        Epoch(epoch=e, learning_rate=0.1, train_loss=1.0, val_top1=t1, val_top5=t5, elapsed_seconds=10.0 * e)
        for e, t1, t5 in ((1, 0.5, 0.9), (2, 0.8, 1.0), (3, 0.99, 1.0))
    ]
    ttt = time_to_train(epochs, 0.99, 1.0)
    assert (ttt.seconds, ttt.epochs) == (30.0, 3) and (ttt.top5.seconds, ttt.top5.epochs) == (20.0, 2)
    assert time_to_train(epochs, 0.995).reason == "not reached in 3 epochs (best top1 0.9900)"
    assert time_to_train(epochs, None).top5.reason == "no target_top5 was set"


def test_a_synthetic_layout_has_real_rows_of_every_class(shared_data, tmp_path):
    import subprocess
    import sys

    from benchmark.data import open_fields

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmark.data.synthetic_layout",
            "--tables",
            str(shared_data / "bbbc021"),
            "--out",
            str(tmp_path),
            "--fields-per-class",
            "2",
            "--size",
            "32",
            "40",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    images = open_fields(tmp_path)
    assert np.bincount(images.labels).tolist() == [2] * 13
    assert images.fetch(np.array([0, 25])).shape == (2, 32, 40, 3)
    assert all(name.startswith("Week") for name in images.fields)
