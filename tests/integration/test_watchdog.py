"""The stall watchdog with real workers: two Horovod worker processes started by horovodrun (Gloo) on real cells,
one of which the test stops with SIGSTOP. Stopped for good, the watchdog ends the run within its bound and the
failed record names the stopped rank; stopped briefly, the run completes and its record holds the stall; stopped
past Gloo's own timeout, the failed record names the stopped rank instead of TensorFlow's "Graph execution
error"."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from benchmark.config import TrainConfig
from benchmark.train.progress import read_progress
from benchmark.train.watchdog import heartbeat_path
from slurm.executor.local import launch_command

pytestmark = pytest.mark.horovod

#: 64x64 crops, 8 images per worker and step, 2 workers; the watchdog's clocks made small: heartbeats every
#: second (stale after 5 s), a graph-tracing start bound of 120 s on this slow machine, bounds of 5 median
#: steps (so that the floors decide).
SETTINGS = dict(
    source="bbbc021-cells",
    image_size=(64, 64),
    local_batch_size=8,
    epochs=1,
    steps_per_epoch=40,
    warmup_steps=1,
    base_lr=0.01,
    nodes=1,
    workers_per_node=2,
    intra_op_threads=1,
    checkpoint_every_epochs=None,
    sweep="watch",
    heartbeat_seconds=1.0,
    watchdog_start_seconds=120.0,
    watchdog_step_multiple=5.0,
)
#: Seconds without a step after which the watchdog of the stopped-for-good run trips.
FLOOR = 15.0


def make_config(tmp_path: Path, shared_data: Path, run_id: str, **settings) -> TrainConfig:
    cells = shared_data / "bbbc021" / "cells"
    return TrainConfig.from_flat(
        **{**SETTINGS, "dir": str(cells), "results_dir": str(tmp_path), "run_id": run_id, **settings}
    )


def worker(launcher: psutil.Process, rank: int) -> psutil.Process:
    """The Python process of worker ``rank`` among the launcher's descendants (``HOROVOD_RANK`` in its
    environment, ``-m mcnn_bench`` on its command line)."""
    found = []
    for process in launcher.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "mcnn_bench" in process.cmdline() and process.environ().get("HOROVOD_RANK") == str(rank):
                found.append(process)
    assert len(found) == 1, f"worker {rank}: found {found}"
    return found[0]


def start(config: TrainConfig, tmp_path: Path, **env: str) -> tuple[subprocess.Popen, Path]:
    """Start the run's two workers under horovodrun; returns the launcher and its output file."""
    path = config.write_json(tmp_path / f"{config.run.run_id}.json")
    out = tmp_path / f"{config.run.run_id}.out"
    with open(out, "wb") as stream:
        launcher = subprocess.Popen(
            launch_command(path, 2), stdout=stream, stderr=subprocess.STDOUT, env={**os.environ, **env}
        )
    return launcher, out


def wait_for_step(config: TrainConfig, launcher: subprocess.Popen, out: Path, step: int) -> None:
    """Wait until rank 0 has done ``step`` steps of the first epoch (past both step variants' tracing)."""
    deadline = time.monotonic() + 180
    while True:
        progress = read_progress(config.run_dir)
        if progress and progress["step"] >= step:
            return
        assert launcher.poll() is None, out.read_text()[-3000:]
        assert time.monotonic() < deadline, f"no step {step} within 180 s: {out.read_text()[-3000:]}"
        time.sleep(0.05)


def record(config: TrainConfig) -> dict | None:
    path = config.run_dir / "record.json"
    return json.loads(path.read_text()) if path.exists() else None


@contextlib.contextmanager
def running(config: TrainConfig, tmp_path: Path, **env: str):
    """The run's launcher while the block runs; every process it left is killed afterwards."""
    launcher, out = start(config, tmp_path, **env)
    top = psutil.Process(launcher.pid)
    try:
        yield launcher, top, out
    finally:
        left = [top, *top.children(recursive=True)] if launcher.poll() is None else []
        for process in left:
            with contextlib.suppress(psutil.Error):
                process.kill()
        launcher.wait(timeout=30)


def test_a_stopped_worker_ends_the_run_within_the_bound_naming_its_rank(tmp_path, shared_data, check_record):
    config = make_config(tmp_path, shared_data, "stopped", steps_per_epoch=100, watchdog_floor_seconds=FLOOR)
    # Gloo's own 30 s timeout kept out of the way: the watchdog decides
    with running(config, tmp_path, HOROVOD_GLOO_TIMEOUT_SECONDS="300") as (launcher, top, out):
        wait_for_step(config, launcher, out, 4)
        stopped = worker(top, 1)
        stopped.suspend()  # SIGSTOP
        at = time.monotonic()
        while record(config) is None:
            assert time.monotonic() - at < FLOOR + 20, f"no record {FLOOR + 20:.0f} s after SIGSTOP"
            time.sleep(0.1)
        tripped = time.monotonic() - at
        code = launcher.wait(timeout=60)  # horovodrun ends every worker, the stopped one too
        ended = time.monotonic() - at
        assert not stopped.is_running() or stopped.status() == psutil.STATUS_ZOMBIE
    assert code != 0
    assert FLOOR - 3 <= tripped <= FLOOR + 15 and ended <= FLOOR + 45, (tripped, ended)
    r = check_record(record(config))
    assert r["status"] == "failed"
    reason = r["failure"]["reason"]
    host = json.loads(heartbeat_path(config.run_dir, 1).read_text())["host"]
    assert reason.startswith("watchdog (rank 0): no progress for 1"), reason
    assert f"bound {FLOOR:.0f} s: max(run.watchdog_floor_seconds {FLOOR:g}" in reason
    assert f"rank 1 (host {host}, pid {stopped.pid}) has not answered for " in reason
    assert "main thread's stack" in r["failure"]["traceback"]
    assert "mcnn-bench: watchdog (rank 0)" in out.read_text()  # on stderr, in the launcher's output
    assert "watchdog (rank 0)" in (config.run_dir / "train.log").read_text()


def test_a_briefly_stopped_worker_completes_and_the_record_holds_the_stall(tmp_path, shared_data, check_record):
    config = make_config(tmp_path, shared_data, "paused", watchdog_floor_seconds=40.0, stall_floor_seconds=4.0)
    with running(config, tmp_path, HOROVOD_GLOO_TIMEOUT_SECONDS="300") as (launcher, top, out):
        wait_for_step(config, launcher, out, 4)
        paused = worker(top, 1)
        paused.suspend()
        time.sleep(10.0)
        paused.resume()  # SIGCONT
        code = launcher.wait(timeout=180)
    assert code == 0, out.read_text()[-3000:]
    r = check_record(record(config))
    assert r["status"] == "completed"
    longest = max(r["stalls"], key=lambda s: s["seconds"])
    assert 9.0 <= longest["seconds"] <= 20.0 and longest["epoch"] == 1 and longest["step"] >= 4
    assert longest["threshold_seconds"] >= 4.0
    assert 1 in longest["ranks"], longest  # rank 1's own watchdog saw it was paused
    assert "stall: " in (config.run_dir / "train.log").read_text()


def test_gloos_own_timeout_names_the_stopped_rank(tmp_path, shared_data, check_record):
    """Gloo's 30 s timeout fires before the watchdog (bound 120 s): rank 0's failure names the stale rank and
    the collective's cause, not TensorFlow's "Graph execution error:"."""
    config = make_config(tmp_path, shared_data, "gloo", steps_per_epoch=100, watchdog_floor_seconds=120.0)
    with running(config, tmp_path, HOROVOD_GLOO_TIMEOUT_SECONDS="20") as (launcher, top, out):
        wait_for_step(config, launcher, out, 4)
        stopped = worker(top, 1)
        stopped.suspend()
        launcher.wait(timeout=120)
    r = check_record(record(config))
    first = r["failure"]["reason"].splitlines()[0]
    assert "Graph execution error" not in first, first
    assert "[watchdog: rank 1 (host " in first and f"pid {stopped.pid}) has not answered for " in first, first


@pytest.mark.slurm
def test_under_srun_over_mpi_a_stopped_rank_ends_the_job(slurm_cluster, tmp_path, shared_data, check_record):
    """The fault as reported: two nodes of the development cluster, Horovod over MPI (no timeout of its own: the
    others spin in the allreduce), one rank SIGSTOPped. The watchdog of rank 0 records it and exits; srun
    (``--kill-on-bad-exit=1``) ends the stopped rank and the job."""
    from dataclasses import replace

    from slurm.cluster import job_info
    from slurm.executor.slurm import SlurmExecutor
    from slurm.spec import parse_spec

    raw = {
        "name": "watch-mpi",
        "data": {"source": "bbbc021-cells", "dir": str(shared_data / "bbbc021" / "cells"), "image_size": [64, 64]},
        "grid": {"nodes": [2], "workers_per_node": [1], "local_batch_size": [8]},
        "training": {"epochs": 1, "steps_per_epoch": 100, "warmup_steps": 1, "checkpoint_every_epochs": None},
        "executor": {"kind": "slurm", "partition": "debug", "time_minutes": 10},
    }
    spec = parse_spec(raw, tmp_path / "watch-mpi.toml")
    (run,) = spec.runs(tmp_path)
    config = run.config.updated(
        "run",
        watchdog_floor_seconds=FLOOR,
        watchdog_step_multiple=5.0,
        watchdog_start_seconds=180.0,
        heartbeat_seconds=1.0,
    )
    path = config.write_json(config.run_dir / "config.json")
    job = SlurmExecutor(tmp_path / "submitit", spec.executor).submit(replace(run, config=config), path, "watchdog")
    try:
        deadline = time.monotonic() + 300
        while not ((p := read_progress(config.run_dir)) and p["step"] >= 4):
            assert time.monotonic() < deadline, "no step 4 within 300 s"
            ended_early = (info := job_info(job.job_id)) is not None and info["final"]
            assert not ended_early, f"job {job.job_id} ended before its 4th step: {info}"
            time.sleep(0.5)
        (stopped,) = [process for process in psutil.process_iter() if _is_task(process, job.job_id, 1)]
        stopped.suspend()
        at = time.monotonic()
        while (info := job_info(job.job_id)) is None or not info["final"]:
            assert time.monotonic() - at < FLOOR + 90, (
                f"job {job.job_id} still running {FLOOR + 90:.0f} s after SIGSTOP"
            )
            time.sleep(1.0)
        ended = time.monotonic() - at
    finally:
        subprocess.run(["scancel", job.job_id], check=False)
    assert info["state"] != "COMPLETED" and ended <= FLOOR + 90
    r = check_record(record(config))
    host = json.loads(heartbeat_path(config.run_dir, 1).read_text())["host"]
    assert r["status"] == "failed" and r["failure"]["reason"].startswith("watchdog (rank 0): no progress for ")
    assert f"rank 1 (host {host}, pid {stopped.pid}) has not answered for " in r["failure"]["reason"]


def _is_task(process: psutil.Process, job_id: str, rank: int) -> bool:
    """Whether ``process`` is the Python process of task ``rank`` of SLURM job ``job_id`` (submitit's)."""
    try:
        env = process.environ()
        return (
            env.get("SLURM_JOB_ID") == job_id
            and env.get("SLURM_PROCID") == str(rank)
            and "submitit.core._submit" in process.cmdline()
        )
    except psutil.Error:
        return False
