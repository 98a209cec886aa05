"""One writer per run folder, with real training runs: a second ``mcnn-bench train`` of a run that is
training is refused at once naming the holder, writes nothing, and the first completes intact; a second
launch through the local executor's launcher (``run_workers``) is refused while the first launcher's two
workers train under the lock it holds for them; and a refused run of two Horovod workers ends on both,
without hanging."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmark.config import TrainConfig
from benchmark.train.checkpoint import checkpoint_dir
from benchmark.train.loop import LOG_NAME
from benchmark.train.run_lock import JOB_VARS, TOKEN_VAR, RunLocked, lock_path
from benchmark.util.flock import read_holder
from slurm.executor.local import LOG_NAME as WORKERS_LOG
from slurm.executor.local import launch_command, run_workers

pytestmark = pytest.mark.horovod

#: One worker on 64x64 crops of the real cells, 3 epochs of 4 steps: long enough to be refused beside.
SETTINGS = dict(
    source="bbbc021-cells",
    image_size=(64, 64),
    local_batch_size=8,
    epochs=3,
    steps_per_epoch=4,
    warmup_steps=1,
    base_lr=0.01,
    target_top1=0.5,
    nodes=1,
    workers_per_node=1,
    intra_op_threads=1,
    checkpoint_every_epochs=1,
    sweep="locked",
)
#: Rank 0's line in train.log once the engine has started, by the run's workers (see :func:`starting`).
STARTING = "rank 0 of {} starting"
#: A process that holds a run's lock until killed (as SLURM job 33); it prints its token once it holds it.
HOLD = (
    "import sys, time\nfrom benchmark.train.run_lock import RunLock\n"
    "lock = RunLock(sys.argv[1], sys.argv[2]); lock.acquire(); print(lock.token, flush=True); time.sleep(300)\n"
)


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without a scheduler's job or a launcher's token, plus ``extra``."""
    drop = {*JOB_VARS, TOKEN_VAR}
    return {**{name: value for name, value in os.environ.items() if name not in drop}, **extra}


def make_config(tmp_path: Path, cells: Path, run_id: str, **settings) -> TrainConfig:
    return TrainConfig.from_flat(
        **{**SETTINGS, "dir": str(cells), "results_dir": str(tmp_path / "results"), "run_id": run_id, **settings}
    )


def train_command(path: Path) -> list[str]:
    return [sys.executable, "-m", "mcnn_bench", "train", "--config", str(path)]


def wait_for(condition, seconds: float, what: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert process is None or process.poll() is None, f"the first run ended before {what}"
        assert time.monotonic() < deadline, f"no {what} after {seconds} s"
        time.sleep(0.2)


def log_has(path: Path, text: str) -> bool:
    return path.exists() and text in path.read_text()


def starting(config: TrainConfig) -> str:
    """Rank 0's line in train.log once the run's engine has started (it trains from then on)."""
    return STARTING.format(config.run.workers_per_node)


def assert_one_complete_run(config: TrainConfig) -> None:
    """The run's record is complete and its files are one run's: one final checkpoint, train.log and the
    MLPerf log of one segment."""
    run_dir = config.run_dir
    record = json.loads((run_dir / "record.json").read_text())
    assert record["status"] == "completed" and len(record["epochs"]) == config.training.epochs
    manifests = [json.loads(path.read_text()) for path in checkpoint_dir(run_dir).glob("*.json")]
    assert [m["reason"] for m in manifests].count("final") == 1, [m["name"] for m in manifests]
    log = (run_dir / LOG_NAME).read_text()
    assert log.count(starting(config)) == 1 and log.count(f"epoch 1/{config.training.epochs}:") == 1, log
    assert (run_dir / "mllog.log").read_text().count('"key": "init_start"') == 1
    assert read_holder(lock_path(run_dir)) == {}  # released at the end


def test_a_second_train_of_a_training_run_is_refused_and_the_first_completes_intact(tmp_path, shared_data):
    config = make_config(tmp_path, shared_data / "bbbc021" / "cells", "busy")
    path = config.write_json(tmp_path / "busy.json")
    with open(tmp_path / "first.out", "w") as out:
        first = subprocess.Popen(train_command(path), stdout=out, stderr=subprocess.STDOUT, env=clean_env())
    try:
        wait_for(lambda: log_has(config.run_dir / LOG_NAME, starting(config)), 60, "training", first)
        holder = read_holder(lock_path(config.run_dir))
        assert holder["pid"] == first.pid and holder["run"] == "busy"
        started = time.monotonic()
        second = subprocess.run(train_command(path), capture_output=True, text=True, timeout=60, env=clean_env())
        refused_in = time.monotonic() - started
        assert first.poll() is None, "the first run ended before the second was refused: lengthen it"
        assert second.returncode == 2, second.stdout + second.stderr
        assert refused_in < 20
        assert second.stderr.startswith("mcnn-bench train: error: ") and second.stderr.count("\n") == 1
        assert f"host {holder['host']}, pid {first.pid}, job none, since {holder['since']}" in second.stderr
        assert first.wait(timeout=240) == 0, (tmp_path / "first.out").read_text()[-3000:]
    finally:
        first.kill()
        first.wait()
    assert_one_complete_run(config)


def test_a_second_launch_is_refused_while_the_first_launchers_workers_train_under_its_lock(tmp_path, shared_data):
    config = make_config(
        tmp_path, shared_data / "bbbc021" / "cells", "launched", epochs=2, steps_per_epoch=3, workers_per_node=2
    )
    path = config.write_json(config.run_dir / "config.json")
    launcher = f"from slurm.executor.local import run_workers; run_workers({str(path)!r}, 2, {{}})"
    env = clean_env(SUBMITIT_LOCAL_JOB_ID="777")
    with open(tmp_path / "first.out", "w") as out:
        first = subprocess.Popen([sys.executable, "-c", launcher], stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        # the workers' rank 0 got past the lock their launcher holds for it: they train
        wait_for(lambda: log_has(config.run_dir / LOG_NAME, starting(config)), 60, "training", first)
        holder = read_holder(lock_path(config.run_dir))
        assert holder["pid"] == first.pid and holder["job"] == "777"
        started = time.monotonic()
        with pytest.raises(RunLocked, match=f"pid {first.pid}, job 777, since "):
            run_workers(str(path), 2, {})
        assert time.monotonic() - started < 5
        assert first.wait(timeout=240) == 0, (tmp_path / "first.out").read_text()[-3000:]
    finally:
        first.kill()
        first.wait()
    assert_one_complete_run(config)
    assert (config.run_dir / WORKERS_LOG).is_file()


def test_two_refused_workers_both_end_with_the_refusal(tmp_path, shared_data):
    config = make_config(tmp_path, shared_data / "bbbc021" / "cells", "pair", workers_per_node=2)
    path = config.write_json(tmp_path / "pair.json")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(config.run_dir), "pair"],
        stdout=subprocess.PIPE,
        text=True,
        env=clean_env(SLURM_JOB_ID="33"),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip()
        started = time.monotonic()
        done = subprocess.run(launch_command(path, 2), capture_output=True, text=True, timeout=120, env=clean_env())
        output = done.stdout + done.stderr
        assert done.returncode != 0, output[-3000:]
        assert time.monotonic() - started < 90
        for rank in (0, 1):
            assert f"[{rank}]<stderr>:mcnn-bench train: error: " in output, output[-3000:]
        assert output.count(f"pid {holder.pid}, job 33, since ") >= 2
        assert sorted(p.name for p in config.run_dir.iterdir()) == ["run.lock"]
    finally:
        holder.kill()
        holder.wait()
