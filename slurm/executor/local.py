"""The ``local`` executor: runs a sweep's runs one after another on this machine, through submitit's
LocalExecutor, each with W workers started by its engine's own launcher (``horovodrun --gloo`` for Horovod,
``torchrun`` for DDP: :mod:`benchmark.engines.launch`).

The machine's cores are split evenly between the workers: each worker's TensorFlow intra-op threads and
OMP_NUM_THREADS are its share, or the grid's ``intra_op_threads`` (no more than the share); they are
written into the run's config and so into its record. Every worker also gets ``executor.env``. The
launcher's output goes to ``workers.log`` in the run's folder (rank 0's own log is ``train.log``); the
launcher holds the run's lock (:mod:`benchmark.train.run_lock`) for its workers, so that a second launch of
the run is refused before it writes anything. The job id
is the job process's pid; the record's ``scheduler`` section names this host and times the job from its
process's start to the last write of its result or logs (there is no accounting to ask).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import psutil
from pydantic import Field

from benchmark.config import TrainConfig
from benchmark.engines.launch import LaunchError, launcher
from benchmark.record import Scheduler
from benchmark.train.run_lock import RunLock
from benchmark.util.atomic import write_atomic
from benchmark.util.provenance import hostname
from slurm.interrupt import sigint_handler

from .base import (
    Executor,
    ExecutorError,
    ExecutorSettings,
    Job,
    JobView,
    Outcome,
    Run,
    lock_refusal,
    log_tail,
    submitit_error,
)

if TYPE_CHECKING:
    import submitit

LOG_NAME = "workers.log"
#: The environment variable that carries a submission's token into the job's processes (see :meth:`LocalExecutor.find`).
TOKEN_ENV = "MCNN_BENCH_SUBMISSION"
#: Seconds a cancelled local job's processes get to end after SIGTERM before they are killed.
STOP_SECONDS = 5.0


class LocalSettings(ExecutorSettings):
    """``[executor]`` of the local executor."""

    kind: Literal["local"]
    cpus: int | None = Field(None, gt=0, description="cores to split between the workers (default: all)")

    def cores_per_worker(self, workers_per_node: int) -> int:
        """This machine's cores (or ``cpus``) split evenly between the workers, at least 1."""
        return max(1, (self.cpus or os.cpu_count() or 1) // workers_per_node)

    def cores_origin(self, workers_per_node: int) -> str:
        """``executor.cpus`` or this machine's cores, over the workers."""
        cores = f"executor.cpus = {self.cpus}" if self.cpus else f"this machine's {os.cpu_count() or 1} cores"
        return f"{cores} / {workers_per_node} workers"


def launch_command(config_path: Path, workers: int) -> list[str]:
    """The command that starts ``workers`` workers of ``mcnn-bench train`` here, by the launcher of the engine
    the config at ``config_path`` names (``run.engine``: :mod:`benchmark.engines.launch`).

    Raises:
        ExecutorError: the engine's launcher is not installed.
    """
    engine = TrainConfig.from_json(config_path).run.engine
    try:
        return launcher(engine).local_command(Path(config_path), workers)
    except LaunchError as exc:
        raise ExecutorError(str(exc)) from exc


def run_workers(config_path: str, workers: int, worker_env: dict[str, str]) -> str:
    """Run one run's ``workers`` Horovod workers to the end, each with this environment plus
    ``worker_env`` (OMP_NUM_THREADS and ``executor.env``): the submitit job function. Returns the path of
    the launcher's log (``workers.log`` beside the config).

    This launcher is the run's writer of record: before it writes anything into the run's folder it takes
    the run's lock (:class:`benchmark.train.run_lock.RunLock`, ``RUN_DIR/run.lock``) and holds it until the
    workers have ended; the workers get its token (:data:`benchmark.train.run_lock.TOKEN_VAR`), so that
    their rank 0 finds the lock held for it.

    Raises:
        RunLocked: another process holds the run's folder (named in the message); nothing was written.
        RunLockError: the run's folder cannot be locked; nothing was written.
        ExecutorError: if the launcher exits non-zero (or is not installed), with the last lines the workers
            wrote to stderr (else the end of the log).
    """
    config = TrainConfig.from_json(config_path)
    log_path = Path(config_path).parent / LOG_NAME
    with RunLock(config.run_dir, config.run.run_id) as lock:
        env = {**os.environ, **worker_env, **lock.worker_env()}
        with open(log_path, "ab") as log:
            code = subprocess.run(
                launch_command(Path(config_path), workers), stdout=log, stderr=subprocess.STDOUT, env=env
            ).returncode
    if code:
        errors = log_tail(log_path, launcher(config.run.engine).WORKER_STDERR)
        where = f"the workers' last errors in {log_path}" if errors else f"end of {log_path}"
        raise ExecutorError(
            f"the {config.run.engine} engine's launcher exited with status {code}; {where}:\n"
            f"{errors or log_tail(log_path)}"
        )
    return str(log_path)


@contextlib.contextmanager
def _environment(name: str, value: str):
    """``os.environ[name] = value`` for the length of the block."""
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            del os.environ[name]
        else:
            os.environ[name] = previous


def _environ(process: psutil.Process) -> dict[str, str]:
    """The process's environment, or {} where it cannot be read."""
    try:
        return process.environ()
    except psutil.Error:
        return {}


def _process_alive(job: Job) -> bool:
    """Whether the job's process still runs: its pid exists, is not a zombie (ended, not yet reaped by its
    parent, e.g. a driver that started it and no longer follows it) and started when the job did."""
    try:
        process = psutil.Process(int(job.job_id))
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return job.started is None or abs(process.create_time() - job.started) < 1.0
    except (psutil.Error, ValueError):
        return False


class LocalExecutor(Executor[LocalSettings]):
    """Submits runs through ``submitit.LocalExecutor``; the driver runs one at a time and waits."""

    kind = "local"
    Settings = LocalSettings
    foreground = True
    scripts_need_engines = True  # job.sh starts the engine's launcher (horovodrun, torchrun) found here

    def __init__(self, folder: Path, settings: LocalSettings):
        super().__init__(folder, settings)
        self._jobs: dict[str, submitit.Job[str]] = {}  # job id -> the submitit job this instance started

    @classmethod
    def spec_problems(
        cls,
        settings: LocalSettings,
        nodes: list[int],
        workers_per_node: list[int],
        intra_op_threads: list[int] | None = None,
    ) -> list[str]:
        """Several nodes (the local executor runs on this one machine), more workers or cpus than it has
        cores, or more threads than a worker's share of them."""
        cores, problems = os.cpu_count() or 1, []
        if any(n > 1 for n in nodes):
            problems.append(
                f"grid.nodes: the local executor runs on this one machine, so nodes must be [1], got "
                f'{nodes}; use executor.kind = "slurm" for several nodes'
            )
        if max(workers_per_node) > cores:
            problems.append(
                f"grid.workers_per_node: this machine has {cores} cores, so at most {cores} local "
                f"workers, got {max(workers_per_node)}"
            )
        if settings.cpus is not None and settings.cpus > cores:
            problems.append(f"executor.cpus: this machine has {cores} cores, got {settings.cpus}")
        return problems + super().spec_problems(settings, nodes, workers_per_node, intra_op_threads)

    def submit(self, run: Run, config_path: Path, token: str) -> Job:
        """Start the run's workers; the job id is the job process's pid, whose environment carries ``token``
        (:data:`TOKEN_ENV`)."""
        import submitit

        executor = submitit.LocalExecutor(folder=self.folder)
        executor.update_parameters(timeout_min=24 * 60)
        # its processes ignore SIGINT (an ignored signal stays ignored across exec): Ctrl-C in the terminal
        # reaches the sweep driver alone, which stops the run and records it (see cancel); submitit gives
        # the job process this process's environment
        with sigint_handler(signal.SIG_IGN), _environment(TOKEN_ENV, token):
            job = executor.submit(run_workers, str(config_path), run.workers, self.worker_env(run))
        self._jobs[job.job_id] = job
        started = psutil.Process(int(job.job_id)).create_time()
        return Job(self.kind, str(job.job_id), str(job.paths.folder), started)

    def find(self, token: str, folder: Path) -> Job | None:
        """The job process on this machine whose environment carries ``token`` (the topmost one: its workers
        inherit it), its submitit folder ``folder``."""
        for process in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if process.environ().get(TOKEN_ENV) != token:
                    continue
                parent = process.parent()
                if parent is not None and _environ(parent).get(TOKEN_ENV) == token:
                    continue
                return Job(self.kind, str(process.pid), str(folder), process.create_time())
        return None

    def write_dry_run(self, run: Run, config_path: Path) -> Path:
        """Write ``job.sh``: the launcher command the run would execute, in its workers' environment."""
        env = " ".join(f"{name}={shlex.quote(value)}" for name, value in self.worker_env(run).items())
        command = shlex.join(launch_command(config_path, run.workers))
        return write_atomic(config_path.parent / "job.sh", f"#!/bin/bash\n{env} {command}\n")

    def poll(self, jobs: list[Job]) -> dict[str, JobView]:
        """Running while a job's process runs (asked of submitit for jobs this instance started), with the
        seconds since it started."""
        views = {}
        for job in jobs:
            mine = self._jobs.get(job.job_id)
            running = not mine.done() if mine is not None else _process_alive(job)
            elapsed = time.time() - job.started if running and job.started is not None else None
            views[job.job_id] = JobView("running" if running else "done", elapsed)
        return views

    def cancel(self, job: Job) -> None:
        """Stop the job's process and every process under it (the launcher and its workers): SIGTERM, then
        SIGKILL after :data:`STOP_SECONDS`."""
        if not _process_alive(job):
            return
        top = psutil.Process(int(job.job_id))
        processes = [top, *top.children(recursive=True)]
        for process in processes:
            with contextlib.suppress(psutil.Error):
                process.terminate()
        _, alive = psutil.wait_procs(processes, timeout=STOP_SECONDS)
        for process in alive:
            with contextlib.suppress(psutil.Error):
                process.kill()
        psutil.wait_procs(alive, timeout=STOP_SECONDS)

    def outcome(self, job: Job, config: TrainConfig, view: JobView) -> Outcome:
        """The job's end (COMPLETED; FAILED, with its error; KILLED: it ended without a result), on this host,
        timed by :func:`_elapsed`; for a run without a record, the job's error or the end of its launcher log;
        and whether the run's lock refused its launcher (:func:`run_workers` raised ``RunLocked``)."""
        from submitit.local.local import LocalJob

        submitted = self._jobs.get(job.job_id)
        if submitted is None:  # started by an earlier driver: read from its files
            submitted = LocalJob(job.folder, job.job_id)
        error = submitit_error(submitted)
        state = "FAILED" if error else "COMPLETED" if submitted.paths.result_pickle.exists() else "KILLED"
        log = config.run_dir / LOG_NAME
        scheduler = Scheduler(
            kind=self.kind,
            job_id=job.job_id,
            state=state,
            node_list=hostname(),
            elapsed_seconds=_elapsed(
                job, [submitted.paths.result_pickle, submitted.paths.stdout, submitted.paths.stderr, log]
            ),
        )
        reason = error or (
            f"local job {job.job_id} ended without a record (interrupted?); end of {log}:\n{log_tail(log)}"
        )
        return Outcome(scheduler, reason, lock_refusal(error))


def _elapsed(job: Job, outputs: list[Path]) -> float | None:
    """Seconds from the job process's start to the last write of any of its ``outputs`` (result, logs), or
    None when its start is not known or it wrote none."""
    ends = [path.stat().st_mtime for path in outputs if path.exists()]
    return max(0.0, max(ends) - job.started) if job.started is not None and ends else None
