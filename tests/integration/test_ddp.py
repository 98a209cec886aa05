"""Real distributed training with the DDP engine: two PyTorch worker processes started by torchrun (Gloo) on
real cells, a run stopped by a signal and resumed, a diverging run, and a worker that never loads TensorFlow (its
node's peak measured by PyTorch)."""

import shutil
import signal
import subprocess
import sys

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

from benchmark.config import TrainConfig
from benchmark.models.analytic import model_figures
from benchmark.train.checkpoint import checkpoint_dir, latest_checkpoint

pytestmark = pytest.mark.ddp
ENGINE = "ddp"


@pytest.fixture(scope="module")
def two_worker_run(tmp_path_factory, shared_data):
    tmp = tmp_path_factory.mktemp("ddp")
    done, record = train(tmp, shared_data / "bbbc021" / "cells", "ok", ENGINE)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return record


def test_two_workers_ran_as_one_job_over_gloo(two_worker_run, check_record):
    r = check_record(two_worker_run)
    assert r["status"] == "completed"
    assert r["topology"] == {
        "nodes": 1,
        "workers_per_node": 2,
        "workers": 2,
        "local_batch_size": 8,
        "global_batch_size": 16,
    }
    engine = r["provenance"]["engine"]
    assert (engine["name"], engine["framework"], engine["backend"], engine["device"]) == (
        "ddp",
        "pytorch",
        "gloo",
        "cpu",
    )
    assert r["provenance"]["horovod_controller"] is None
    assert r["config"]["run"]["engine"] == "ddp"
    assert r["model"]["parameters"] == model_figures(64, 64, 3, 13).parameters  # as the Keras model counts them


def test_workers_end_with_identical_weights(two_worker_run):
    assert_trained_in_sync(two_worker_run)


def test_throughput_counts_both_workers(two_worker_run):
    t = two_worker_run["throughput"]
    assert t["timed_steps"] == 5 and t["images"] == 2 * 5 * 8
    assert t["images_per_second"] == pytest.approx(t["images"] / t["window_seconds"])
    epochs = two_worker_run["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2] and all(0 <= e["val_top1"] <= e["val_top5"] <= 1 for e in epochs)


def test_the_breakdown_times_compute_allreduce_and_update_apart(uninterrupted):
    breakdown = uninterrupted[0]["throughput"]["breakdown"]
    assert [r["rank"] for r in breakdown["per_rank"]] == [0, 1]
    assert all(r["compute"] > 0 and r["allreduce"] > 0 and r["optimizer"] > 0 for r in breakdown["per_rank"])
    assert sum(breakdown["shares"].values()) == pytest.approx(1.0)


def test_a_diverging_run_stops_on_every_worker_and_is_recorded_as_failed(tmp_path, shared_data, check_record):
    done, record = train(tmp_path, shared_data / "bbbc021" / "cells", "diverges", ENGINE, **DIVERGING)
    assert_diverged(done, check_record(record))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, shared_data):
    tmp = tmp_path_factory.mktemp("ddp-whole")
    config = make_config(tmp, shared_data / "bbbc021" / "cells", "whole", ENGINE, **RESUMABLE)
    done, record = launch(config, tmp)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return record, config.run_dir


def test_a_stopped_run_resumes_and_ends_bit_identical_to_an_uninterrupted_one(
    tmp_path, shared_data, uninterrupted, check_record
):
    config = make_config(tmp_path, shared_data / "bbbc021" / "cells", "stopped", ENGINE, **RESUMABLE)
    code, marks = start_and_signal(config, tmp_path, signal.SIGUSR2, rank=1)  # one rank asked; both stop
    assert code != 0
    assert (marks / "interrupted.0").exists() and (marks / "interrupted.1").exists()
    stopped_at = latest_checkpoint(checkpoint_dir(config.run_dir)).checkpoint
    assert stopped_at.reason == "signal" and stopped_at.state.global_step < 15

    done, record = launch(config, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    check_record(record)
    event = assert_resumed_like(record, uninterrupted[0], "signal")
    assert (event["epoch"], event["step"]) == (stopped_at.state.epoch, stopped_at.state.step)


@pytest.mark.horovod  # the same run launched on the Horovod engine
def test_another_engines_checkpoint_is_not_resumed_silently(tmp_path, shared_data, uninterrupted, check_record):
    """The same run on the other engine: its fingerprint differs (run.engine), so the DDP checkpoint is refused,
    naming the change."""
    config = make_config(tmp_path, shared_data / "bbbc021" / "cells", "whole", "horovod", **RESUMABLE)
    shutil.copytree(uninterrupted[1], config.run_dir)
    done, record = launch(config, tmp_path)
    assert done.returncode != 0
    check_record(record)
    assert record["status"] == "failed"
    assert "run.engine: 'ddp' -> '(unset)'" in record["failure"]["reason"]


#: One DDP worker, in a Python where TensorFlow, Keras and Horovod cannot be imported.
WITHOUT_TENSORFLOW = """
import sys
for name in ("tensorflow", "keras", "horovod"):
    sys.modules[name] = None  # any import of them raises ImportError
from mcnn_bench.cli import main
sys.exit(main(["train", "--config", sys.argv[1]]))
"""


def test_a_ddp_worker_runs_where_tensorflow_cannot_be_imported(tmp_path, shared_data, check_record):
    config = make_config(
        tmp_path,
        shared_data / "bbbc021" / "cells",
        "alone",
        ENGINE,
        epochs=1,
        workers_per_node=1,
        intra_op_threads=2,
    )
    path = config.write_json(tmp_path / "alone.json")
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_TENSORFLOW, str(path)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    record = check_record(config.run_dir / "record.json")
    assert record["status"] == "completed" and record["provenance"]["engine"]["name"] == "ddp"
    assert TrainConfig.from_json(path).run.engine == "ddp"
    peak, torch_version = record["analytic"]["peak"], record["provenance"]["engine"]["framework_version"]
    assert (peak["framework"], peak["framework_version"]) == ("pytorch", torch_version)  # measured by PyTorch
    assert peak["kernels"][0]["gflops_per_second"] > 0 and record["analytic"]["fraction_of_peak"] > 0


@pytest.mark.slurm
def test_two_nodes_of_the_development_cluster_train_one_ddp_run_through_srun(
    slurm_cluster, shared_data, tmp_path, check_record
):
    from slurm.spec import parse_spec
    from slurm.sweep import run_sweep

    raw = {
        "name": "ddp-srun",
        "data": {
            "source": "bbbc021-cells",
            "dir": str(shared_data / "bbbc021" / "cells"),
            "image_size": [64, 64],
            "val_fraction": 0.25,
        },
        "grid": {"nodes": [2], "workers_per_node": [1], "local_batch_size": [8]},
        "training": {"epochs": 1, "steps_per_epoch": 3, "warmup_steps": 1, "target_top1": 0.5},
        "run": {"engine": "ddp"},
        "executor": {"kind": "slurm", "partition": "debug", "time_minutes": 10},
    }
    (status,) = run_sweep(parse_spec(raw, tmp_path / "ddp-srun.toml"), tmp_path / "results")
    assert status.state == "completed", status
    record = check_record(tmp_path / "results" / "ddp-srun" / "n2-w1-b8" / "record.json")
    assert record["topology"]["nodes"] == 2 and record["topology"]["workers"] == 2
    assert record["provenance"]["engine"]["name"] == "ddp" and record["scheduler"]["kind"] == "slurm"
    assert len(set(record["provenance"]["hostnames"])) == 2, "one worker on each of two nodes"
    final = record["model"]["final_weights_sha256_per_rank"]
    assert len(final) == 2 and final[0] == final[1]
