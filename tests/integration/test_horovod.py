"""Real distributed training: two Horovod worker processes started by horovodrun (Gloo) on real cells,
including runs stopped by a signal or killed and then resumed from their checkpoints."""

import signal

import pytest
from distributed_runs import (
    DIVERGING,
    RESUMABLE,
    assert_diverged,
    assert_resumed_like,
    assert_trained_in_sync,
    launch,
    make_config,
    start_and_signal,
    train,
)

from benchmark.engines.horovod.engine import WORKERS_CYCLE_MS
from benchmark.train.checkpoint import checkpoint_dir, latest_checkpoint

pytestmark = pytest.mark.horovod


@pytest.fixture(scope="module")
def two_worker_run(tmp_path_factory, shared_data):
    tmp = tmp_path_factory.mktemp("hvd")
    done, record = train(tmp, shared_data / "bbbc021" / "cells", "ok")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return record


def test_two_workers_ran_as_one_job(two_worker_run):
    r = two_worker_run
    assert r["status"] == "completed"
    assert r["topology"] == {
        "nodes": 1,
        "workers_per_node": 2,
        "workers": 2,
        "local_batch_size": 8,
        "global_batch_size": 16,
    }
    assert r["provenance"]["horovod_controller"] == "gloo"
    assert len(r["provenance"]["hostnames"]) == 2
    assert r["provenance"]["threads"]["intra_op"] == 1
    assert r["provenance"]["threads"]["env"]["HOROVOD_CYCLE_TIME"] == WORKERS_CYCLE_MS


def test_workers_end_with_identical_weights(two_worker_run):
    assert_trained_in_sync(two_worker_run)


def test_global_throughput_counts_both_workers(two_worker_run):
    t = two_worker_run["throughput"]
    # 2 epochs x 3 steps, minus 1 warm-up step = 5 timed steps on each of the 2 workers, 8 images each
    assert t["timed_steps"] == 5
    assert t["images"] == 2 * 5 * 8
    assert t["images_per_second"] == pytest.approx(t["images"] / t["window_seconds"])
    per_rank = t["step_seconds"]["per_rank"]
    assert [p["rank"] for p in per_rank] == [0, 1]
    # the window holds every timed step of the slowest worker, so it is at least the sum of its medians-ish
    assert t["window_seconds"] >= 5 * max(p["min"] for p in per_rank)


def test_epochs_have_validation_metrics_and_rates(two_worker_run):
    epochs = two_worker_run["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    for e in epochs:
        assert 0 <= e["val_top1"] <= e["val_top5"] <= 1
        assert e["elapsed_seconds"] > 0
    assert epochs[0]["learning_rate"] == pytest.approx(0.001)
    assert two_worker_run["memory"]["peak_rss_bytes_max"] > 100 * 2**20


def test_the_record_follows_the_published_schema(two_worker_run, check_record):
    check_record(two_worker_run)


def test_a_diverging_run_stops_on_every_worker_and_is_recorded_as_failed(tmp_path, shared_data, check_record):
    done, record = train(tmp_path, shared_data / "bbbc021" / "cells", "diverges", **DIVERGING)
    assert_diverged(done, check_record(record))


def test_a_failing_run_leaves_a_failed_record(tmp_path, shared_data, check_record):
    bad = tmp_path / "not-cells"
    bad.mkdir()
    done, record = train(tmp_path, bad, "broken")
    check_record(record)
    assert done.returncode != 0
    assert record["status"] == "failed"
    assert "DataError" in record["failure"]["reason"] and str(bad) in record["failure"]["reason"]
    assert record["topology"]["workers"] == 2


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, shared_data):
    """A resumable run's record and folder, trained in one go."""
    tmp = tmp_path_factory.mktemp("whole")
    config = make_config(tmp, shared_data / "bbbc021" / "cells", "whole", **RESUMABLE)
    done, record = launch(config, tmp)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return record, config.run_dir


def test_a_stopped_run_resumes_where_it_stopped_and_ends_as_if_never_stopped(
    tmp_path, shared_data, uninterrupted, check_record
):
    config = make_config(tmp_path, shared_data / "bbbc021" / "cells", "stopped", **RESUMABLE)
    code, marks = start_and_signal(config, tmp_path, signal.SIGUSR2, rank=1)  # one rank asked; both stop
    assert code != 0
    assert (marks / "interrupted.0").exists() and (marks / "interrupted.1").exists()
    assert not (config.run_dir / "record.json").exists()  # stopped, not failed
    stopped_at = latest_checkpoint(checkpoint_dir(config.run_dir)).checkpoint
    assert stopped_at.reason == "signal" and stopped_at.state.global_step < 15
    assert "stopping as requested" in (config.run_dir / "train.log").read_text()

    done, record = launch(config, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    check_record(record)
    event = assert_resumed_like(record, uninterrupted[0], "signal")
    assert (event["epoch"], event["step"]) == (stopped_at.state.epoch, stopped_at.state.step)
    assert event["checkpoint"] == stopped_at.name and not event["fell_back"]
    final = latest_checkpoint(checkpoint_dir(config.run_dir)).checkpoint
    assert final.reason == "final"

    # started again once complete: nothing left to train, the record is rebuilt from the final checkpoint
    done, again = launch(config, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    check_record(again)
    assert again["epochs"] == record["epochs"] and again["model"] == record["model"]
    assert again["throughput"]["images_per_second"] == record["throughput"]["images_per_second"]
    assert again["resumes"]["count"] == 2 and again["resumes"]["events"][0] == event
    assert (again["resumes"]["events"][1]["reason"], again["resumes"]["events"][1]["global_step"]) == ("final", 15)
    assert latest_checkpoint(checkpoint_dir(config.run_dir)).checkpoint.name == final.name


def test_a_killed_run_resumes_from_its_last_periodic_checkpoint(tmp_path, shared_data, uninterrupted, check_record):
    # time-based checkpoints only (every 6 ms after the last one: every step or two), mid-epoch too; they do
    # not change the run's fingerprint
    config = make_config(
        tmp_path,
        shared_data / "bbbc021" / "cells",
        "killed",
        checkpoint_every_epochs=None,
        checkpoint_every_minutes=1e-4,
        **RESUMABLE,
    )
    code, _ = start_and_signal(config, tmp_path, signal.SIGKILL, rank=1)
    assert code != 0
    # rank 0 may see its peer vanish and record a failure before horovodrun kills it
    failed = config.run_dir / "record.json"
    assert not failed.exists() or check_record(failed)["status"] == "failed"

    done, record = launch(config, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    check_record(record)
    event = assert_resumed_like(record, uninterrupted[0], "periodic")
    assert event["global_step"] < 15


def test_init_from_starts_from_another_runs_final_weights(tmp_path, shared_data, uninterrupted, check_record):
    source, source_dir = uninterrupted
    done, record = train(tmp_path, shared_data / "bbbc021" / "cells", "warm", epochs=1, init_from=str(source_dir))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    check_record(record)
    model = record["model"]
    assert model["initial_weights_sha256"] == source["model"]["final_weights_sha256_per_rank"][0]
    final = latest_checkpoint(checkpoint_dir(source_dir)).checkpoint
    assert final.reason == "final"
    assert model["init_from"] == {"run_dir": str(source_dir), "checkpoint": final.name, "epoch": 5, "global_step": 15}
    assert record["resumes"] is None and record["fingerprint"] != source["fingerprint"]


def test_init_from_a_model_of_another_shape_fails_naming_the_variable(
    tmp_path, shared_data, uninterrupted, check_record
):
    source_dir = uninterrupted[1]
    done, record = train(
        tmp_path, shared_data / "bbbc021" / "cells", "wide", epochs=1, image_size=(64, 192), init_from=str(source_dir)
    )
    assert done.returncode != 0
    check_record(record)
    reason = record["failure"]["reason"]
    assert reason.startswith("CheckpointError: training.init_from: ") and str(source_dir) in reason
    assert "variable fc/kernel has shape (1024, 512) there but (2048, 512) here" in reason


def test_init_from_a_folder_without_checkpoints_fails_clearly(tmp_path, shared_data, check_record):
    empty = tmp_path / "not-a-run"
    empty.mkdir()
    done, record = train(tmp_path, shared_data / "bbbc021" / "cells", "cold", epochs=1, init_from=str(empty))
    assert done.returncode != 0
    check_record(record)
    assert f"{empty / 'checkpoints'} holds no valid checkpoint" in record["failure"]["reason"]
