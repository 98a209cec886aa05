"""The checkpoint of a run (benchmark.train.checkpoint): written and read back from real files, the newest two
kept, a checkpoint cut short or corrupt skipped for the one before, and a checkpoint of another
configuration refused naming what changed. The trainer's use of it runs in tests/integration/test_horovod.py."""

import logging
import random

import numpy as np
import pytest

from benchmark.config import TrainConfig
from benchmark.record import Epoch, InitFrom, ResumeEvent
from benchmark.train.checkpoint import (
    CHECKPOINT_DIR,
    KEEP,
    Checkpoint,
    CheckpointError,
    RunState,
    check_same_run,
    check_shapes,
    checkpoint_dir,
    latest_checkpoint,
    read_checkpoint,
    restore_rng,
    rng_state,
    write_checkpoint,
)
from benchmark.train.metrics import StepLog

CONFIG = TrainConfig.from_flat(source="synthetic", image_size=(64, 64), epochs=3, steps_per_epoch=4)


def make_checkpoint(config=CONFIG, reason="periodic", seed=0) -> Checkpoint:
    """A small checkpoint holding every kind of content the trainer puts in one."""
    rng = np.random.default_rng(seed)
    logs = [StepLog(rank) for rank in range(3)]
    for rank, (start, end) in enumerate([(1.0, 1.5), (2.0, 2.5), (1.1, 1.6), (2.1, 2.4)]):
        logs[rank // 2].add(start, end, 8, (0.3, 0.1, 0.05), 0.01 * rank, joined=rank % 2 == 1)
    state = RunState(
        started_at="2026-11-22T00:00:00.000+00:00",
        initial_weights_sha256="ab" * 32,
        init_from=InitFrom(run_dir="results/s/other", checkpoint="ckpt-000004.json", epoch=2, global_step=8),
        epoch=1,
        step=2,
        global_step=6,
        loss_sum=3.25,
        training_seconds=12.5,
        epochs=[
            Epoch(
                epoch=1,
                learning_rate=0.001,
                train_loss=1.5,
                val_loss=1.2,
                val_top1=0.5,
                val_top5=1.0,
                elapsed_seconds=10.0,
            )
        ],
        resumes=[
            ResumeEvent(
                checkpoint="ckpt-000001.json",
                epoch=1,
                step=0,
                global_step=4,
                reason="signal",
                written_at="2026-11-22T00:01:00.000+00:00",
                resumed_at="2026-11-22T00:03:00.000+00:00",
                lost_seconds=120.0,
                fell_back=False,
            )
        ],
        step_logs=logs,
        peak_rss=[100, 200, 300],
    )
    return Checkpoint(
        state=state,
        model=[rng.standard_normal((3, 4)).astype(np.float32), np.zeros(4, np.float32)],
        model_paths=["fc/kernel", "fc/bias"],
        optimizer=[np.array(6, np.int64), np.array(0.01, np.float32), rng.standard_normal((3, 4)).astype(np.float32)],
        optimizer_paths=["sgd/iteration", "sgd/learning_rate", "sgd/fc_kernel_momentum"],
        rng=rng_state(),
        fingerprint=config.fingerprint(),
        settings=config.fingerprinted(),
        reason=reason,
    )


def test_a_checkpoint_reads_back_as_written(tmp_path):
    written = make_checkpoint()
    path = write_checkpoint(tmp_path, written)
    assert path.name == written.name == "ckpt-000001.json"
    latest = latest_checkpoint(tmp_path)
    read = latest.checkpoint
    assert latest.skipped == [] and read.name == "ckpt-000001.json"
    for ours, theirs in [*zip(written.model, read.model), *zip(written.optimizer, read.optimizer)]:
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape and np.array_equal(ours, theirs)
    assert (read.model_paths, read.optimizer_paths) == (written.model_paths, written.optimizer_paths)
    assert (read.fingerprint, read.settings, read.reason, read.written_at) == (
        written.fingerprint,
        written.settings,
        written.reason,
        written.written_at,
    )
    assert read.state == written.state  # position, epochs, loss sum, seconds, step logs, resumes, init_from
    assert read.state.step_logs[2].start == [] and read.state.step_logs[1].images == [8, 8]
    assert read.state.step_logs[1].joined == [False, True] and read.state.step_logs[1].input_wait == [0.02, 0.03]


def test_the_random_state_is_restored(tmp_path):
    write_checkpoint(tmp_path, make_checkpoint())
    expected = (random.random(), np.random.random())
    random.random(), np.random.random()  # move on, as training would
    restore_rng(latest_checkpoint(tmp_path).checkpoint.rng)
    assert (random.random(), np.random.random()) == expected


def test_only_the_newest_two_are_kept_and_leftovers_are_removed(tmp_path):
    write_checkpoint(tmp_path, make_checkpoint())
    (tmp_path / ".ckpt-000002.npz.0123456789ab.tmp").write_bytes(b"a write cut short")
    for seed in (1, 2):
        write_checkpoint(tmp_path, make_checkpoint(seed=seed))
    assert KEEP == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ckpt-000002.json",
        "ckpt-000002.npz",
        "ckpt-000003.json",
        "ckpt-000003.npz",
    ]
    newest = latest_checkpoint(tmp_path).checkpoint
    assert newest.name == "ckpt-000003.json"
    assert np.array_equal(newest.model[0], make_checkpoint(seed=2).model[0])


def test_a_checkpoint_cut_short_falls_back_to_the_one_before(tmp_path, caplog):
    write_checkpoint(tmp_path, make_checkpoint(seed=1))
    write_checkpoint(tmp_path, make_checkpoint(seed=2, reason="signal"))
    npz = tmp_path / "ckpt-000002.npz"
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
    with caplog.at_level(logging.WARNING, logger="benchmark.train.checkpoint"):
        latest = latest_checkpoint(tmp_path)
    assert latest.checkpoint.name == "ckpt-000001.json"
    assert np.array_equal(latest.checkpoint.model[0], make_checkpoint(seed=1).model[0])
    assert len(latest.skipped) == 1 and str(npz) in latest.skipped[0] and "cut short or corrupt" in latest.skipped[0]
    assert "checkpoint skipped" in caplog.text and str(npz) in caplog.text
    with pytest.raises(CheckpointError, match="SHA-256"):
        read_checkpoint(tmp_path / "ckpt-000002.json")


def test_arrays_without_a_manifest_or_a_broken_manifest_are_skipped(tmp_path):
    write_checkpoint(tmp_path, make_checkpoint(seed=1))
    write_checkpoint(tmp_path, make_checkpoint(seed=2))
    (tmp_path / "ckpt-000002.json").unlink()  # killed between the arrays and the manifest
    (tmp_path / "ckpt-000003.json").write_text('{"format": 1, "arr')  # not ours, but cut short all the same
    latest = latest_checkpoint(tmp_path)
    assert latest.checkpoint.name == "ckpt-000001.json"
    assert "cannot read the manifest" in latest.skipped[0] and "no manifest" in latest.skipped[1]


def test_a_folder_without_checkpoints_has_none(tmp_path):
    assert checkpoint_dir(tmp_path / "run") == tmp_path / "run" / CHECKPOINT_DIR
    assert latest_checkpoint(tmp_path / "run" / CHECKPOINT_DIR).checkpoint is None
    (tmp_path / "ckpt-000001.json").write_text('{"format": 1}')
    latest = latest_checkpoint(tmp_path)
    assert latest.checkpoint is None and "malformed manifest" in latest.skipped[0]


def test_a_checkpoint_of_another_configuration_is_refused_naming_the_changed_setting(tmp_path):
    checkpoint = make_checkpoint()
    write_checkpoint(tmp_path, checkpoint)
    changed = CONFIG.updated("training", epochs=5).updated("learning_rate", base_lr=0.002)
    with pytest.raises(CheckpointError) as error:
        check_same_run(latest_checkpoint(tmp_path).checkpoint, changed, tmp_path)
    message = str(error.value)
    assert str(tmp_path) in message and "ckpt-000001.json" in message
    assert "training.epochs: 3 -> 5" in message and "learning_rate.base_lr: 0.001 -> 0.002" in message
    assert "training.seed" not in message


def test_settings_that_do_not_change_the_run_do_not_refuse_its_checkpoint(tmp_path):
    write_checkpoint(tmp_path, make_checkpoint())
    elsewhere = CONFIG.updated("training", checkpoint_every_epochs=3, checkpoint_every_minutes=2.5).updated(
        "run", results_dir="other", sweep="s2", run_id="r2"
    )
    check_same_run(latest_checkpoint(tmp_path).checkpoint, elsewhere, tmp_path)
    assert elsewhere.fingerprint() == CONFIG.fingerprint()
    assert CONFIG.updated("training", init_from="results/s/r").fingerprint() != CONFIG.fingerprint()


def test_weights_of_another_shape_are_refused_naming_the_variable():
    arrays = make_checkpoint().model
    check_shapes("there", arrays, [("fc/kernel", (3, 4)), ("fc/bias", (4,))])
    with pytest.raises(CheckpointError, match=r"there: variable fc/kernel has shape \(3, 4\) there but \(6, 4\) here"):
        check_shapes("there", arrays, [("fc/kernel", (6, 4)), ("fc/bias", (4,))])
    with pytest.raises(CheckpointError, match="2 variables there, 1 here"):
        check_shapes("there", arrays, [("fc/kernel", (3, 4))])


def test_a_step_log_of_an_older_checkpoint_reads_with_unsampled_phases():
    old = np.array([[1.0, 1.5, 8], [2.0, 2.5, 8]])  # start, end, images: before the breakdown existed
    log = StepLog.from_array(3, old)
    assert (log.rank, log.start, log.end, log.images) == (3, [1.0, 2.0], [1.5, 2.5], [8, 8])
    assert np.isnan(log.compute).all() and log.input_wait == [0.0, 0.0] and log.joined == [False, False]
