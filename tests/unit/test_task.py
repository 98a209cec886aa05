"""Tasks (single- and multi-label), the step-decay schedule and the settings that follow the data and the
model: pure logic, checked against hand-computed values."""

import numpy as np
import pytest

from benchmark.config import SettingsError, TrainConfig
from benchmark.record import Epoch
from benchmark.train.metrics import time_to_train
from benchmark.train.schedule import StepDecaySchedule, make_schedule
from benchmark.train.task import TASKS, class_auroc


def mann_whitney_auroc(labels, scores):
    """AUROC by its definition: the chance that a positive scores above a negative (ties count half)."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (len(pos) * len(neg))


def test_class_auroc_is_the_mann_whitney_statistic_and_none_when_undefined():
    rng = np.random.default_rng(0)
    labels = (rng.random((50, 3)) < 0.4).astype(float)
    labels[:, 2] = 0  # no positive: undefined
    scores = np.round(rng.random((50, 3)), 1)  # ties on purpose
    auroc = class_auroc(labels, scores)
    for k in range(2):
        assert auroc[k] == pytest.approx(mann_whitney_auroc(labels[:, k], scores[:, k]))
    assert auroc[2] is None


def test_multi_label_figures_name_each_class_and_average_the_defined_ones():
    task = TASKS["multi-label"]
    labels = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]], dtype=float)
    probs = np.array([[0.9, 0.2, 0.1], [0.3, 0.8, 0.5], [0.6, 0.4, 0.2], [0.1, 0.3, 0.3]])
    outcomes = np.hstack([probs, labels, np.zeros((4, 1))])
    figures = task.figures(outcomes, ("A", "B", "C"), seed=0)
    assert figures["val_auroc"]["C"] is None
    assert figures["val_auroc"]["A"] == pytest.approx(mann_whitney_auroc(labels[:, 0], probs[:, 0]))
    assert figures["val_auroc_mean"] == pytest.approx((figures["val_auroc"]["A"] + figures["val_auroc"]["B"]) / 2)


@pytest.mark.horovod
def test_losses_are_softmax_and_sigmoid_cross_entropy():
    import tensorflow as tf

    logits = tf.constant([[2.0, -1.0, 0.5]])
    single = TASKS["single-label"].losses(tf, tf.constant([0]), logits).numpy()
    p = np.exp([2.0, -1.0, 0.5]) / np.exp([2.0, -1.0, 0.5]).sum()
    assert single[0] == pytest.approx(-np.log(p[0]), rel=1e-5)
    multi = TASKS["multi-label"].losses(tf, tf.constant([[1.0, 0.0, 1.0]]), logits).numpy()
    s = 1 / (1 + np.exp(-np.array([2.0, -1.0, 0.5])))
    expected = -np.mean([np.log(s[0]), np.log(1 - s[1]), np.log(s[2])])
    assert multi[0] == pytest.approx(expected, rel=1e-5)


@pytest.mark.horovod
def test_single_label_outcomes_are_tensorflow_in_top_k_on_numpy_arrays():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    logits = rng.integers(0, 4, size=(200, 13)).astype(np.float32)  # small integers: many ties at the boundary
    logits[:5, 0] = np.nan
    labels = rng.integers(0, 13, size=200)
    rows = TASKS["single-label"].outcomes(labels, logits, np.arange(200))
    for column, k in ((0, 1), (1, 5)):
        expected = tf.math.in_top_k(tf.constant(labels, tf.int32), tf.constant(logits), k).numpy()
        np.testing.assert_array_equal(rows[:, column], expected.astype(np.float64))
    np.testing.assert_array_equal(rows[:, 2], np.arange(200))


def test_multi_label_outcomes_are_the_sigmoids_then_the_labels_then_the_field():
    logits = np.array([[0.0, 2.0], [-1.0, 40.0]], np.float32)
    labels = np.array([[1, 0], [0, 1]], np.float32)
    rows = TASKS["multi-label"].outcomes(labels, logits, np.array([3, 4]))
    np.testing.assert_allclose(rows[:, :2], 1 / (1 + np.exp(-logits.astype(np.float64))), rtol=1e-6)
    np.testing.assert_array_equal(rows[:, 2:], [[1, 0, 3], [0, 1, 4]])


def test_time_to_train_on_the_mean_auroc():
    epochs = [
        Epoch(epoch=i + 1, learning_rate=0.1, train_loss=1.0, val_auroc_mean=v, elapsed_seconds=10.0 * (i + 1))
        for i, v in enumerate([0.55, 0.71, 0.69])
    ]
    ttt = time_to_train(epochs, 0.7, None, "val_auroc_mean")
    assert (ttt.metric, ttt.target, ttt.target_top1, ttt.seconds, ttt.epochs) == ("val_auroc_mean", 0.7, None, 20.0, 2)
    assert "target_mean_auroc" in time_to_train(epochs, None, None, "val_auroc_mean").reason


def test_step_decay_warms_up_then_decays_once_per_epoch_from_its_epoch():
    schedule = StepDecaySchedule(lr_start=0.0, peak=0.8, warmup_epochs=5, decay_factor=0.5, decay_from_epoch=6)
    assert schedule(0) == 0.0 and schedule(2.5) == pytest.approx(0.4)
    assert schedule(5) == schedule(5.9) == pytest.approx(0.8)
    assert schedule(6) == pytest.approx(0.4) and schedule(7.5) == pytest.approx(0.2)


def test_make_schedule_follows_the_setting():
    config = TrainConfig.from_flat(
        source="synthetic",
        image_size=(64, 64),
        epochs=10,
        steps_per_epoch=1,
        schedule="step",
        decay_factor=0.9,
        decay_from_epoch=5,
        warmup_epochs=5,
    )
    schedule = make_schedule(config.learning_rate, 1.0, 10)
    assert isinstance(schedule, StepDecaySchedule) and schedule(5) == pytest.approx(0.9)
    assert (
        type(make_schedule(config.learning_rate.model_copy(update={"schedule": "poly"}), 1.0, 10)).__name__
        == "LearningRateSchedule"
    )


def test_settings_follow_the_task_of_the_data(tmp_path):
    base = dict(source="bbbc021-cells", dir=str(tmp_path), image_size=(64, 64), epochs=1)
    assert TrainConfig.from_flat(**base).data.num_classes == 13
    with pytest.raises(SettingsError, match="training.target_mean_auroc: not a figure of single-label"):
        TrainConfig.from_flat(**base, target_mean_auroc=0.8)
    with pytest.raises(SettingsError, match="data.num_classes: bbbc021-cells data has 13 classes"):
        TrainConfig.from_flat(**base, num_classes=5)
    with pytest.raises(SettingsError, match="data.split: bbbc021-cells data has no published split lists"):
        TrainConfig.from_flat(**base, split="lists")


def test_settings_at_their_defaults_keep_the_fingerprints_of_earlier_runs():
    config = TrainConfig.from_flat(source="synthetic", image_size=(64, 64), epochs=1, steps_per_epoch=1)
    keys = set(config.fingerprinted())
    assert not keys & {
        "model.name",
        "model.init_weights",
        "training.optimizer",
        "learning_rate.schedule",
        "run.allocator",
        "training.target_mean_auroc",
    }
    changed = config.updated("training", optimizer="adam")
    assert changed.fingerprint() != config.fingerprint()


def test_linear_scaling_over_global_batches_doubles_the_rate_with_the_batch():
    from benchmark.train.schedule import scaled_peak

    assert scaled_peak(0.1, 1, 16, reference_batch_size=8) == pytest.approx(0.2)
    assert scaled_peak(0.1, 4, 16, reference_batch_size=8) == pytest.approx(0.8)
    assert scaled_peak(0.1, 4, 16, max_global_batch_size=32, reference_batch_size=8) == pytest.approx(0.4)
    assert scaled_peak(0.1, 4, 16) == pytest.approx(0.4)  # by workers, as before


def test_train_help_lists_the_new_settings():
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "mcnn_bench", "train", "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    for flag in (
        "--model",
        "--init-weights",
        "--optimizer",
        "--schedule",
        "--target-mean-auroc",
        "--reference-batch-size",
    ):
        assert flag in done.stdout
