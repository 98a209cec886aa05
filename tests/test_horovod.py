"""Real distributed training: two Horovod worker processes started by horovodrun (Gloo) on real cells."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from slurm.executor.local import launch_command

pytestmark = pytest.mark.horovod


def train(tmp_path, cells_dir, run_id, **overrides):
    from benchmark.config import TrainConfig

    config = TrainConfig.from_flat(source="bbbc021-cells", dir=str(cells_dir), image_size=(64, 64),
                                   local_batch_size=8, epochs=2, steps_per_epoch=3, warmup_steps=1, base_lr=0.01,
                                   target_top1=0.5, nodes=1, workers_per_node=2, intra_op_threads=1,
                                   results_dir=str(tmp_path), sweep="hvd", run_id=run_id).updated(
                                       "learning_rate", **overrides)
    path = config.write_json(tmp_path / f"{run_id}.json")
    done = subprocess.run(launch_command(path, 2), capture_output=True, text=True, timeout=600)
    record = json.loads((tmp_path / "hvd" / run_id / "record.json").read_text())
    return done, record


@pytest.fixture(scope="module")
def two_worker_run(tmp_path_factory, shared_data):
    tmp = tmp_path_factory.mktemp("hvd")
    done, record = train(tmp, shared_data / "bbbc021" / "cells", "ok")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return record


def test_two_workers_ran_as_one_job(two_worker_run):
    r = two_worker_run
    assert r["status"] == "completed"
    assert r["topology"] == {"nodes": 1, "workers_per_node": 2, "workers": 2, "local_batch_size": 8,
                             "global_batch_size": 16}
    assert r["provenance"]["horovod_controller"] == "gloo"
    assert len(r["provenance"]["hostnames"]) == 2
    assert r["provenance"]["threads"]["intra_op"] == 1


def test_workers_end_with_identical_weights(two_worker_run):
    model = two_worker_run["model"]
    final = model["final_weights_sha256_per_rank"]
    assert len(final) == 2 and final[0] == final[1]
    assert final[0] != model["initial_weights_sha256"], "training did not change the weights"


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
    done, record = train(tmp_path, shared_data / "bbbc021" / "cells", "diverges", lr_start=1e30, base_lr=1e30,
                         warmup_epochs=0.0)
    assert done.returncode != 0  # and both workers ended: subprocess.run returned within its timeout
    check_record(record)
    assert record["status"] == "failed"
    reason = record["failure"]["reason"]
    assert reason.startswith("FloatingPointError: the training loss became") and "at epoch 1, step " in reason


def test_a_failing_run_leaves_a_failed_record(tmp_path, shared_data, check_record):
    bad = tmp_path / "not-cells"
    bad.mkdir()
    done, record = train(tmp_path, bad, "broken")
    check_record(record)
    assert done.returncode != 0
    assert record["status"] == "failed"
    assert "DataError" in record["failure"]["reason"] and str(bad) in record["failure"]["reason"]
    assert record["topology"]["workers"] == 2
