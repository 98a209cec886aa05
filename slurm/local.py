"""The ``local`` executor: runs a sweep's runs one after another on this machine, through submitit's
LocalExecutor, each with W Horovod workers started by Horovod's own launcher (``horovodrun --gloo``).

The machine's cores are split evenly between the workers (TensorFlow intra-op threads and
OMP_NUM_THREADS); the split is written into the run's config and so into its record.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from benchmark.atomic import write_atomic
from benchmark.config import TrainConfig
from slurm.outcome import log_tail, submitit_error

LOG_NAME = "train.log"


def launch_command(config_path: Path, workers: int) -> list[str]:
    """The ``horovodrun`` command that starts ``workers`` Gloo workers of ``mcnn-bench train`` here."""
    bindir = Path(sys.executable).parent
    horovodrun = shutil.which("horovodrun", path=str(bindir)) or shutil.which("horovodrun")
    if horovodrun is None:
        raise RuntimeError("horovodrun not found: run ./setup.sh to build Horovod")
    return [horovodrun, "-np", str(workers), "-H", f"localhost:{workers}", "--gloo",
            sys.executable, "-u", "-m", "benchmark.cli", "train", "--config", str(config_path)]


def run_workers(config_path: str, workers: int, threads: int) -> str:
    """Run one run's ``workers`` Horovod workers, ``threads`` OpenMP threads each, to the end: the
    submitit job function.

    The launcher's output goes to ``train.log`` beside the config; returns that path.

    Raises:
        RuntimeError: with the end of the log, if the launcher exits non-zero.
    """
    log_path = Path(config_path).parent / LOG_NAME
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    with open(log_path, "ab") as log:
        code = subprocess.run(launch_command(Path(config_path), workers), stdout=log,
                              stderr=subprocess.STDOUT, env=env).returncode
    if code:
        raise RuntimeError(f"horovodrun exited with status {code}; end of {log_path}:\n{log_tail(log_path)}")
    return str(log_path)


def _alive(pid: str) -> bool:
    try:
        return "submitit" in Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return False


class LocalRunner:
    """Submits runs through ``submitit.LocalExecutor`` into ``folder``; the driver runs one at a time."""

    kind = "local"

    def __init__(self, folder: Path, settings: dict):
        self.folder = Path(folder)
        self.cpus = settings["cpus"]

    def check(self, runs) -> None:
        """Nothing to check: the spec already refused several nodes for the local executor."""

    def threads(self, run) -> int:
        """Threads per worker of ``run``: this machine's cores (or ``cpus``) split evenly, at least 1."""
        return max(1, (self.cpus or os.cpu_count() or 1) // run.workers)

    def prepare(self, run) -> TrainConfig:
        """The run's config with this machine's cores split between its workers."""
        return run.config.replace(intra_op_threads=self.threads(run), inter_op_threads=1)

    def submit(self, run, config_path: Path):
        """Start the run's workers; returns the submitit job (its id is the job process's pid)."""
        import submitit

        executor = submitit.LocalExecutor(folder=self.folder)
        executor.update_parameters(timeout_min=24 * 60)
        return executor.submit(run_workers, str(config_path), run.workers, self.threads(run))

    def write_dry_run(self, run, config_path: Path) -> Path:
        """Write ``job.sh``: the launcher command the run would execute."""
        command = shlex.join(launch_command(config_path, run.workers))
        return write_atomic(config_path.parent / "job.sh",
                            f"#!/bin/bash\nOMP_NUM_THREADS={self.threads(run)} {command}\n")

    @staticmethod
    def poll(job_id: str, folder: str) -> tuple[str, dict | None]:
        """``("running" | "done", None)``: whether the local job process is still there."""
        return ("running" if _alive(job_id) else "done"), None

    @staticmethod
    def slurm_view(config: TrainConfig, info: dict | None) -> None:
        """Local runs have no SLURM view."""
        return None

    @staticmethod
    def failure_reason(job_id: str, folder: str, config: TrainConfig, info: dict | None) -> str:
        """Why a local job that left no record failed: its error, or the end of its log."""
        import submitit

        error = submitit_error(submitit.local.local.LocalJob(folder=folder, job_id=job_id))
        if error:
            return error
        log = config.run_dir / LOG_NAME
        return f"local job {job_id} ended without a record (interrupted?); end of {log}:\n{log_tail(log)}"
