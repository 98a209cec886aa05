"""Runs of real workers shared by the engines' integration tests (tests/integration/test_horovod.py,
test_ddp.py): two workers on real cells through the engine's own launcher, stopped by a signal or killed, then
resumed from their checkpoints."""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from benchmark.config import TrainConfig
from benchmark.train.checkpoint import checkpoint_dir
from slurm.executor.local import launch_command

#: The settings of these runs: 64x64 crops, 3 steps of 8 images per worker and epoch, 2 workers on 1 node.
SETTINGS = dict(
    source="bbbc021-cells",
    image_size=(64, 64),
    local_batch_size=8,
    epochs=2,
    steps_per_epoch=3,
    warmup_steps=1,
    base_lr=0.01,
    target_top1=0.5,
    nodes=1,
    workers_per_node=2,
    intra_op_threads=1,
    sweep="runs",
)
#: The resumable runs train longer, so that a signal sent after the first checkpoint lands mid-run.
RESUMABLE = dict(epochs=5)
#: A worker as the SLURM side runs it: SIGUSR2 asks the trainer to stop (installed before anything else);
#: it notes its pid and, when stopped, that it was, and exits with 75 (EX_TEMPFAIL).
LAUNCHER = """
import os, signal, sys
from pathlib import Path
from benchmark.train.loop import TrainingInterrupted, request_stop, run_training
from benchmark.util.launcher import launcher_rank
signal.signal(signal.SIGUSR2, lambda *_: request_stop())
marks = Path(sys.argv[2])
(marks / f"pid.{launcher_rank()}").write_text(str(os.getpid()))
from benchmark.config import TrainConfig
try:
    run_training(TrainConfig.from_json(sys.argv[1]))
except TrainingInterrupted:
    (marks / f"interrupted.{launcher_rank()}").touch()
    sys.exit(75)
"""


def make_config(tmp_path, cells_dir, run_id, engine: str = "horovod", **settings) -> TrainConfig:
    """The config of run ``run_id`` of :data:`SETTINGS` on ``engine``, into ``tmp_path``."""
    return TrainConfig.from_flat(
        **{
            **SETTINGS,
            "dir": str(cells_dir),
            "results_dir": str(tmp_path),
            "run_id": run_id,
            "engine": engine,
            **settings,
        }
    )


def launch(config: TrainConfig, tmp_path):
    """Run ``config``'s two workers to the end; returns the launcher's outcome and the record (None if none)."""
    path = config.write_json(tmp_path / f"{config.run.run_id}.json")
    done = subprocess.run(launch_command(path, 2), capture_output=True, text=True, timeout=600)
    record = config.run_dir / "record.json"
    return done, json.loads(record.read_text()) if record.exists() else None


def train(tmp_path, cells_dir, run_id, engine: str = "horovod", **settings):
    return launch(make_config(tmp_path, cells_dir, run_id, engine, **settings), tmp_path)


def start_and_signal(config: TrainConfig, tmp_path, sig: int, rank: int) -> tuple[int, Path]:
    """Start ``config``'s two workers under :data:`LAUNCHER`, wait until the run's first checkpoint is
    written (training is under way), send ``sig`` to worker ``rank`` only, and wait for the launcher to
    end. Returns its exit status and the folder of the workers' marks."""
    script, marks = tmp_path / "launcher.py", tmp_path / f"marks-{config.run.run_id}"
    script.write_text(LAUNCHER)
    marks.mkdir()
    path = config.write_json(tmp_path / f"{config.run.run_id}.json")
    command = launch_command(path, 2)
    module = len(command) - 1 - command[::-1].index("-m")  # the launcher's own -m comes first (torchrun)
    command[module:] = [str(script), str(path), str(marks)]
    folder, deadline = checkpoint_dir(config.run_dir), time.monotonic() + 300
    with (
        open(tmp_path / f"{config.run.run_id}.out", "wb") as out,
        subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT) as launcher,
    ):
        while not list(folder.glob("ckpt-*.json")):
            assert launcher.poll() is None, (tmp_path / f"{config.run.run_id}.out").read_text()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint within 300 s"
            time.sleep(0.02)
        os.kill(int((marks / f"pid.{rank}").read_text()), sig)
        return launcher.wait(timeout=300), marks


def assert_resumed_like(record: dict, uninterrupted: dict, reason: str) -> dict:
    """``record`` is of the same run as ``uninterrupted``, resumed once from a ``reason`` checkpoint, and ends
    as it did; returns the resume event."""
    assert record["status"] == "completed" and record["fingerprint"] == uninterrupted["fingerprint"]
    assert [e["epoch"] for e in record["epochs"]] == [1, 2, 3, 4, 5]
    # CPU training with one thread per worker is bit-identical, resumed or not
    assert set(record["model"]["final_weights_sha256_per_rank"]) == set(
        uninterrupted["model"]["final_weights_sha256_per_rank"]
    )
    assert record["model"]["initial_weights_sha256"] == uninterrupted["model"]["initial_weights_sha256"]
    assert [e["train_loss"] for e in record["epochs"]] == [e["train_loss"] for e in uninterrupted["epochs"]]
    assert [e["val_top1"] for e in record["epochs"]] == [e["val_top1"] for e in uninterrupted["epochs"]]
    elapsed = [e["elapsed_seconds"] for e in record["epochs"]]
    assert elapsed == sorted(elapsed) and elapsed[0] > 0
    resumes = record["resumes"]
    assert resumes["count"] == 1 and len(resumes["events"]) == 1
    event = resumes["events"][0]
    assert event["reason"] == reason and event["fell_back"] == bool(event["skipped"])
    assert event["lost_seconds"] > 0 and resumes["wall_seconds_lost"] == pytest.approx(event["lost_seconds"])
    assert event["global_step"] == 3 * event["epoch"] + event["step"]
    provenance = record["provenance"]
    assert provenance["started_at"] < event["written_at"] < event["resumed_at"] < provenance["finished_at"]
    # 5 epochs x 3 steps, less the first warm-up step of each of the 2 segments
    throughput = record["throughput"]
    assert throughput["segments"] == 2 and throughput["timed_steps"] == 15 - 2
    assert throughput["images"] == 2 * 13 * 8
    # the time between the checkpoint and the resumed segment is not training time
    assert elapsed[-1] < (
        _seconds(provenance["finished_at"]) - _seconds(provenance["started_at"]) - event["lost_seconds"]
    )
    return event


def _seconds(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def assert_trained_in_sync(record: dict) -> None:
    """Every worker of ``record``'s two ended with the same weights, and training changed them."""
    model = record["model"]
    final = model["final_weights_sha256_per_rank"]
    assert len(final) == 2 and final[0] == final[1]
    assert final[0] != model["initial_weights_sha256"], "training did not change the weights"


#: Settings that make a run diverge in its first step.
DIVERGING = dict(lr_start=1e30, base_lr=1e30, warmup_epochs=0.0)


def assert_diverged(done: subprocess.CompletedProcess, record: dict) -> None:
    """The run ended on every worker (the launcher returned, non-zero) with a failed record naming the divergence."""
    assert done.returncode != 0
    assert record["status"] == "failed"
    reason = record["failure"]["reason"]
    assert reason.startswith("FloatingPointError: the training loss became") and "at epoch 1, step " in reason
