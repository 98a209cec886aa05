"""The ``slurm`` executor: one SLURM job per run, submitted through submitit.

Each job has ``nodes`` nodes and ``workers_per_node`` tasks per node; ``srun --mpi=pmix`` starts the tasks
and each calls ``hvd.init()`` over MPI (Horovod's MPI controller), or joins torch.distributed (the DDP engine). A
run on GPUs (``run.device = "gpu"``) asks one GPU per worker, ``--gpus-per-node=<workers_per_node>``: every task
of a node sees the node's GPUs and takes the one of its local rank. Tasks are bound to their cores
(``--cpu-bind``), optionally under ``numactl --localalloc`` as Datta et al. 2019 ran one worker per NUMA
domain, with ``cpus_per_task`` intra-op threads and OMP_NUM_THREADS, or the grid's ``intra_op_threads`` (no
more than ``cpus_per_task``), and ``executor.env`` exported in the job script. With ``one_at_a_time`` the jobs share
one name and ``--dependency=singleton``, so SLURM runs them one after another (clean timings where nodes
share hardware, as on the development cluster). A fleet sweep's run (:mod:`slurm.fleet`) asks for its node,
``--nodelist=<node>``, and the runs of one node share a name, ``mcnn-<sweep>-<node>``, with
``--dependency=singleton``: every node at once, one run at a time on each, kept by SLURM itself across drivers
that stop and start again. ``--dry-run`` writes, per run, the
plain sbatch script of the same job (same #SBATCH header and srun flags, from submitit's own generator),
whose task command is ``mcnn-bench train --config`` instead of submitit's pickled call of the same trainer.
"""

from __future__ import annotations

import re
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from benchmark.config import TrainConfig
from benchmark.record import RunRecord, Scheduler, SlurmJob
from benchmark.schema import Line, one_line
from benchmark.util.atomic import write_atomic
from slurm import cluster

from .base import (
    Executor,
    ExecutorSettings,
    Job,
    JobView,
    NodeState,
    Outcome,
    Run,
    lock_refusal,
    log_tail,
    submitit_error,
)

#: srun flags every run needs: PMIx for Open MPI (pmi2 does not work with Debian's Open MPI 4.1), and
#: ending the whole job when one worker fails instead of leaving the others blocked in an allreduce.
BASE_SRUN_ARGS = ("--mpi=pmix", "--kill-on-bad-exit=1")
#: submitit signals a job this many seconds before its time limit (SlurmExecutor's ``signal_delay_s``).
SIGNAL_DELAY_SECONDS = 90
#: Seconds a stopped worker other than rank 0 waits for rank 0's requeue to end it.
REQUEUE_WAIT_SECONDS = 60
#: The job comment (sbatch --comment) that carries a submission's token: ``mcnn-bench:<token>``.
COMMENT_PREFIX = "mcnn-bench:"


class SlurmSettings(ExecutorSettings):
    """``[executor]`` of the SLURM executor: the job's resources and how srun starts the workers."""

    kind: Literal["slurm"]
    partition: Line | None = Field(None, min_length=1, description="default: the cluster's default partition")
    account: Line | None = Field(None, min_length=1)
    time_minutes: int = Field(60, gt=0, description="the job's time limit")
    cpus_per_task: int = Field(
        1, gt=0, description="cores per worker: intra-op threads and OMP_NUM_THREADS (unless grid.intra_op_threads)"
    )
    cpus_per_node: int | None = Field(
        None,
        gt=0,
        description="instead of cpus_per_task: the cores of a node, "
        "shared by its workers (each gets cpus_per_node "
        "// workers per node)",
    )
    cpu_bind: Line = Field("cores", min_length=1, description="srun --cpu-bind=...")
    numactl: bool = Field(False, description="run each worker under numactl --localalloc")
    one_at_a_time: bool = Field(False, description="one job at a time (--dependency=singleton)")
    max_requeues: int = Field(
        3, ge=0, description="times a run that reaches its time limit is requeued to resume from its checkpoint"
    )
    max_pending_minutes: float | None = Field(
        None,
        gt=0,
        description="cancel a run, recorded as failed, that "
        "pends longer than this for a reason that cannot clear by itself "
        "(ReqNodeNotAvail, PartitionDown ...)",
    )
    sbatch_args: dict[str, str | int] | None = Field(None, description="extra #SBATCH flags (long options)")
    srun_args: list[Line] | None = Field(None, description="extra srun flags")
    setup: list[Line] | None = Field(None, description="shell lines before srun")

    @field_validator("time_minutes")
    @classmethod
    def _after_the_signal(cls, minutes: int) -> int:
        if minutes * 60 <= SIGNAL_DELAY_SECONDS:
            raise ValueError(
                f"must be more than submitit's signal delay ({SIGNAL_DELAY_SECONDS} s before the "
                f"time limit, when the job is told to stop), so at least 2, got {minutes}"
            )
        return minutes

    @model_validator(mode="after")
    def _one_way_to_give_cores(self) -> SlurmSettings:
        if self.cpus_per_node is not None and "cpus_per_task" in self.model_fields_set:
            raise ValueError("executor.cpus_per_node: give cpus_per_task or cpus_per_node, not both")
        return self

    def cores_per_worker(self, workers_per_node: int) -> int:
        """``cpus_per_task``, or a worker's share of ``cpus_per_node``."""
        return self.cpus_per_task if self.cpus_per_node is None else self.cpus_per_node // workers_per_node

    def cores_origin(self, workers_per_node: int) -> str:
        """``executor.cpus_per_task``, or ``executor.cpus_per_node`` over the workers."""
        if self.cpus_per_node is None:
            return f"executor.cpus_per_task = {self.cpus_per_task}"
        return f"executor.cpus_per_node = {self.cpus_per_node} / {workers_per_node} workers"

    def cpus_per_task_of(self, run: Run) -> int:
        """Cores per worker of ``run`` (SLURM's ``--cpus-per-task``): :meth:`cores_per_worker`."""
        return self.cores_per_worker(run.workers_per_node)

    @field_validator("sbatch_args")
    @classmethod
    def _long_options(cls, args: dict | None) -> dict | None:
        bad = [key for key in args or {} if not re.fullmatch(r"[a-z][a-z0-9-]*", key)]
        if bad:
            raise ValueError(
                f"keys must look like sbatch long options ([a-z][a-z0-9-]*, no dashes in front), "
                f"got {', '.join(map(repr, bad))}"
            )
        for value in (args or {}).values():
            if isinstance(value, str):
                one_line(value)
        return args


class TrainTask:
    """The submitit job function: every SLURM task runs it as one Horovod worker of the run whose config
    is at ``config_path``.

    Time limits and preemption: submitit asks SLURM to send USR2 :data:`SIGNAL_DELAY_SECONDS` before the
    time limit (and SLURM sends it on preemption). While training, USR2 asks the trainer to stop
    (:func:`benchmark.train.loop.request_stop`): every worker stops at the same step and rank 0 writes a
    checkpoint. Then submitit's own handler takes over: on rank 0 it calls :meth:`checkpoint`, whose
    ``DelayedSubmission`` is this same task, and requeues the job (``scontrol requeue``, the same job id);
    the requeued job's trainer resumes from the checkpoint. A job requeued or restarted without the signal
    (``scontrol requeue``, a node failure) resumes from its last periodic checkpoint.

    Rank 0's run loop holds the run's folder lock (:mod:`benchmark.train.run_lock`): a job started for a run
    that another job still trains (a requeued job beside a resubmitted one) fails on every task with
    ``RunLocked``, naming the holder in the job's error, and writes nothing into the run's folder.
    """

    def __call__(self, config_path: str):
        from benchmark.train.loop import TrainingInterrupted, request_stop, run_training

        submitit_handler = signal.getsignal(signal.SIGUSR2)
        signal.signal(signal.SIGUSR2, lambda signum, frame: request_stop())
        try:
            return run_training(TrainConfig.from_json(config_path))
        except TrainingInterrupted:
            signal.signal(signal.SIGUSR2, submitit_handler)
            assert callable(submitit_handler), "submitit installs its own USR2 handler in the job"
            submitit_handler(signal.SIGUSR2, None)  # rank 0: checkpoint(), requeue, exit; the others: returns
            time.sleep(REQUEUE_WAIT_SECONDS)  # the requeue ends this task; exiting first could end rank 0's
            raise

    def checkpoint(self, config_path: str):
        """What submitit resubmits when the job is signalled: this task again, which resumes from the
        checkpoint the trainer wrote in the run's folder (``submitit.helpers.DelayedSubmission``)."""
        import submitit

        return submitit.helpers.DelayedSubmission(self, config_path)


class SlurmExecutor(Executor[SlurmSettings]):
    """Submits every run of a sweep as its own SLURM job, into the submitit ``folder``."""

    kind = "slurm"
    Settings = SlurmSettings
    pins_nodes = True

    def __init__(self, folder: Path, settings: SlurmSettings):
        super().__init__(folder, settings)
        python = shlex.quote(sys.executable)
        self.python = f"numactl --localalloc {python}" if settings.numactl else python

    def parameters(self, run: Run, token: str | None = None) -> dict:
        """submitit ``SlurmExecutor`` parameters of ``run``'s job (the #SBATCH lines and srun flags; on GPUs
        ``gpus_per_node`` = workers per node; a run pinned to a node, ``nodelist`` and its node's job name with
        ``--dependency=singleton``); with a submission ``token``, the job's comment carries it
        (:data:`COMMENT_PREFIX`, in place of any comment of ``executor.sbatch_args``)."""
        s, node = self.settings, run.config.run.node
        queue = "" if s.one_at_a_time else f"-{node or run.run_id}"  # jobs of one name run one at a time
        params = {
            "job_name": f"mcnn-{run.config.run.sweep}{queue}",
            "nodes": run.nodes,
            "ntasks_per_node": run.workers_per_node,
            "cpus_per_task": s.cpus_per_task_of(run),
            "time": s.time_minutes,
            "srun_args": [*BASE_SRUN_ARGS, f"--cpu-bind={s.cpu_bind}", *(s.srun_args or [])],
            "setup": [
                *(f"export {name}={shlex.quote(value)}" for name, value in self.worker_env(run).items()),
                *(s.setup or []),
            ],
        }
        if run.config.run.device == "gpu":  # one GPU per worker; each task picks its local rank's
            params["gpus_per_node"] = run.workers_per_node
        for key in ("partition", "account"):
            if getattr(s, key):
                params[key] = getattr(s, key)
        if node is not None:
            params["nodelist"] = node
        extra: dict[str, str | int] = {"dependency": "singleton"} if s.one_at_a_time or node else {}
        extra.update(s.sbatch_args or {})
        if token is not None:
            extra["comment"] = f"{COMMENT_PREFIX}{token}"
        if extra:
            params["additional_parameters"] = extra
        return params

    def executor(self, run: Run, token: str | None = None):
        """A submitit ``SlurmExecutor`` set up for ``run`` (:meth:`parameters`)."""
        import submitit

        executor = submitit.SlurmExecutor(
            folder=self.folder / "%j", python=self.python, max_num_timeout=self.settings.max_requeues
        )
        executor.update_parameters(**self.parameters(run, token))
        return executor

    @classmethod
    def spec_problems(
        cls,
        settings: SlurmSettings,
        nodes: list[int],
        workers_per_node: list[int],
        intra_op_threads: list[int] | None = None,
    ) -> list[str]:
        """``cpus_per_node`` that leaves a worker of the grid without a core, or more threads than the cores
        a worker gets."""
        problems = []
        if settings.cpus_per_node is not None and max(workers_per_node) > settings.cpus_per_node:
            problems.append(
                f"executor.cpus_per_node: {settings.cpus_per_node} cores cannot hold "
                f"{max(workers_per_node)} workers per node"
            )
        return problems + super().spec_problems(settings, nodes, workers_per_node, intra_op_threads)

    def check(self, runs: list[Run]) -> list[str]:
        """Refuse runs the partition cannot hold with its usable nodes, before anything is submitted
        (:class:`slurm.cluster.SlurmError`, an :class:`ExecutorError`); note a partition that is down now."""
        part = cluster.partition(self.settings.partition)
        return cluster.check_capacity(runs, part, self.settings.cpus_per_task_of)

    def nodes(self) -> dict[str, NodeState]:
        """Every node of the executor's partition, in sinfo's order, with its state now (one sinfo call).

        Raises:
            SlurmError: sinfo fails, or there is no such partition.
        """
        return cluster.partition(self.settings.partition).states

    def expand_hosts(self, hosts: str) -> list[str]:
        """SLURM's host list ``hosts`` expanded (``scontrol show hostnames``).

        Raises:
            SlurmError: scontrol fails.
        """
        return cluster.hostnames(hosts)

    def submit(self, run: Run, config_path: Path, token: str) -> Job:
        """Submit the run's job, its comment carrying ``token``.

        Raises:
            SlurmError: sbatch refused it.
        """
        from submitit.core.utils import FailedJobError

        try:
            job = self.executor(run, token).submit(TrainTask(), str(config_path))
        except FailedJobError as exc:
            raise cluster.SlurmError(f"sbatch refused the job of run {run.run_id}: {exc}") from exc
        return Job(self.kind, str(job.job_id), str(job.paths.folder))

    def find(self, token: str, folder: Path) -> Job | None:
        """The job squeue holds, not over, whose comment carries ``token`` (one squeue call); its submitit
        folder is ``folder/<job id>``, as :meth:`submit` made it.

        Raises:
            SlurmError: squeue fails.
        """
        comment = f"{COMMENT_PREFIX}{token}"
        for job_id, view in cluster.queued().items():
            if view.comment == comment and view.active:
                return Job(self.kind, job_id, str(Path(folder) / job_id))
        return None

    def sbatch_script(self, run: Run, config_path: Path) -> str:
        """The plain sbatch script of ``run``: what :meth:`submit` submits, runnable with ``sbatch``.

        Its logs go straight into the executor's folder (sbatch, unlike submitit, creates no per-job folder).
        """
        from submitit.slurm.slurm import _make_sbatch_string

        command = f"{self.python} -u -m mcnn_bench train --config {shlex.quote(str(config_path))}"
        return _make_sbatch_string(command=command, folder=self.folder, **self.executor(run).parameters)

    def write_dry_run(self, run: Run, config_path: Path) -> Path:
        """Write :meth:`sbatch_script` to ``job.sbatch`` beside the run's config, and its log folder."""
        self.folder.mkdir(parents=True, exist_ok=True)
        return write_atomic(config_path.parent / "job.sbatch", self.sbatch_script(run, config_path))

    def poll(self, jobs: list[Job]) -> dict[str, JobView]:
        """One sacct call (the jobs' whole history) and one squeue call for all jobs. squeue decides whether a
        job is over: one it holds as waiting or requeued pends (with SLURM's reason), one it holds otherwise
        active runs, though accounting may already say NODE_FAIL or PREEMPTED for an incarnation that SLURM
        is requeuing; a job squeue no longer holds is done when accounting says so. A job neither knows is
        ``unknown``: purged from accounting, or submitted to another cluster."""
        ids = [job.job_id for job in jobs]
        infos, queue = cluster.jobs_info(ids), cluster.queued(ids)
        views = {}
        for job_id in ids:
            info, queued = infos.get(job_id), queue.get(job_id)
            elapsed = info["elapsed_seconds"] if info else None
            if queued is not None and queued.waiting:
                views[job_id] = JobView("pending", accounting=info, reason=queued.reason or None)
            elif queued is not None and queued.active:
                views[job_id] = JobView("running", elapsed, info)
            elif info is None:
                views[job_id] = JobView(
                    "unknown",
                    reason=f"unknown to SLURM: neither squeue nor sacct knows job {job_id} (purged from "
                    "accounting, or a new cluster)",
                )
            elif info["final"]:
                views[job_id] = JobView("done", elapsed, info)
            else:  # squeue let go of it a moment before accounting heard of its end
                views[job_id] = JobView("running" if info["state"] != "PENDING" else "pending", elapsed, info)
        return views

    def stuck(self, view: JobView) -> str | None:
        """Why to give up on a job that has pended longer than ``max_pending_minutes`` for a reason that
        cannot clear by itself (:data:`slurm.cluster.STUCK_REASONS`), or None."""
        limit, waited = self.settings.max_pending_minutes, view.pending_seconds
        if limit is None or waited is None or waited < limit * 60 or not view.reason:
            return None
        if not view.reason.startswith(cluster.STUCK_REASONS):
            return None
        return (
            f"pending {waited / 60:.1f} min (executor.max_pending_minutes = {limit:g}) for a reason that "
            f"cannot clear by itself: {view.reason}; cancelled"
        )

    def cancel(self, job: Job) -> None:
        """``scancel`` the job."""
        cluster.cancel(job.job_id)

    def outcome(self, job: Job, config: TrainConfig, view: JobView) -> Outcome:
        """sacct's view of the ended job for the record; why it failed if it left no record: its SLURM state,
        and its error or the end of its log; and whether the run's lock refused it (its rank 0 raised
        ``RunLocked``, as every task then does: :class:`TrainTask`)."""
        import submitit

        info = view.accounting
        if info is None:  # never known to accounting: cancelled while it pended, or unknown to SLURM
            return Outcome(
                Scheduler(
                    kind=self.kind, job_id=job.job_id, slurm=SlurmJob(tasks_per_node=config.run.workers_per_node)
                ),
                view.reason or f"SLURM job {job.job_id} never started",
            )
        scheduler = Scheduler(
            kind=self.kind,
            job_id=info["job_id"],
            state=info["state"],
            elapsed_seconds=info["elapsed_seconds"],
            node_list=info["node_list"],
            requeues=info["requeues"],
            slurm=SlurmJob(
                nodes=info["nodes"],
                tasks_per_node=config.run.workers_per_node,
                queue_wait_seconds=info["queue_wait_seconds"],
            ),
        )
        submitted: submitit.SlurmJob[RunRecord | None] = submitit.SlurmJob(folder=job.folder, job_id=job.job_id)
        reason = f"SLURM job {job.job_id} ended {info['raw_state']} (exit code {info['exit_code']})"
        error, tail = submitit_error(submitted), log_tail(submitted.paths.stderr)
        if error:
            reason = f"{reason}: {error}"
        elif tail:
            reason = f"{reason}; end of {submitted.paths.stderr}:\n{tail}"
        return Outcome(scheduler, reason, lock_refusal(error))
