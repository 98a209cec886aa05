"""The tf.data pipelines: padding to the model's input, worker shards, and a training run on the official
BBBC021 layout (image table + MoA table + one TIFF per channel) built from the real tables."""
import subprocess
import sys

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
    config = TrainConfig.from_flat(source="bbbc021-cells", dir=str(shared_data / "bbbc021" / "cells"),
                                   image_size=(64, 64), epochs=1, local_batch_size=8, val_fraction=0.25)
    pipes = [make_pipelines(config, rank, 2) for rank in range(2)]
    assert pipes[0].steps_per_epoch == pipes[1].steps_per_epoch == (pipes[0].train_images // 2) // 8
    seen = [{float(x.numpy().sum()) for x, _ in p.train(0)} for p in pipes]
    assert len(seen[0]) == pipes[0].steps_per_epoch and not seen[0] & seen[1]


@pytest.fixture
def official_layout(tmp_path, make_official_layout):
    """8 fields (4 DMSO, 4 of a real treatment) of 128x128 in BBBC021's own format."""
    return make_official_layout(tmp_path, [("DMSO", 0.0)] * 4 + [("emetine", 0.3)] * 4, (128, 128))


def test_training_on_the_official_layout(official_layout, tmp_path, check_record):
    results = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "mcnn_bench", "train", "--data", "bbbc021", "--data-dir", str(official_layout),
         "--image-size", "128", "128", "--batch-size", "2", "--epochs", "1", "--warmup-steps", "0",
         "--val-fraction", "0.5", "--results-dir", str(results), "--run-id", "official"],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    record = check_record(results / "adhoc" / "official" / "record.json")
    assert record["status"] == "completed"
    assert record["provenance"]["train_images"] == 4 and record["provenance"]["val_images"] == 4
    assert record["throughput"]["images"] == 4 and record["epochs"][0]["val_top1"] is not None


def test_a_missing_channel_fails_the_run_with_a_record(official_layout, tmp_path, check_record):
    next(official_layout.glob("Week1/*/f5_Actin.tif")).unlink()
    results = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "mcnn_bench", "train", "--data", "bbbc021", "--data-dir", str(official_layout),
         "--image-size", "128", "128", "--batch-size", "2", "--epochs", "1", "--val-fraction", "0.5",
         "--results-dir", str(results), "--run-id", "gap"], capture_output=True, text=True, timeout=600)
    assert done.returncode != 0
    record = check_record(results / "adhoc" / "gap" / "record.json")
    assert record["status"] == "failed"
    assert "Actin" in record["failure"]["reason"] and "f5_Actin.tif" in record["failure"]["reason"]
