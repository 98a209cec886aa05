"""The ``slurm`` executor: one SLURM job per run, submitted through submitit.

Each job has ``nodes`` nodes and ``workers_per_node`` tasks per node; ``srun --mpi=pmix`` starts the tasks
and each calls ``hvd.init()`` over MPI (Horovod's MPI controller). Tasks are bound to their cores
(``--cpu-bind``), optionally under ``numactl --localalloc`` as Datta et al. 2019 ran one worker per NUMA
domain, with ``cpus_per_task`` intra-op threads and OMP_NUM_THREADS. With ``one_at_a_time`` the jobs share
one name and ``--dependency=singleton``, so SLURM runs them one after another (clean timings where nodes
share hardware, as on the development cluster). ``--dry-run`` writes, per run, the
plain sbatch script of the same job (same #SBATCH header and srun flags, from submitit's own generator),
whose task command is ``mcnn-bench train --config`` instead of submitit's pickled call of the same trainer.
"""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

from benchmark.atomic import write_atomic
from benchmark.config import TrainConfig
from slurm import cluster
from slurm.outcome import log_tail, submitit_error

#: srun flags every run needs: PMIx for Open MPI (pmi2 does not work with Debian's Open MPI 4.1), and
#: ending the whole job when one worker fails instead of leaving the others blocked in an allreduce.
BASE_SRUN_ARGS = ("--mpi=pmix", "--kill-on-bad-exit=1")


def train_task(config_path: str) -> dict | None:
    """The submitit job function; every SLURM task runs it as one Horovod worker."""
    from benchmark.train import run_training

    return run_training(TrainConfig.from_json(config_path))


class SlurmRunner:
    """Submits every run of a sweep as its own SLURM job, into the submitit ``folder``."""

    kind = "slurm"

    def __init__(self, folder: Path, settings: dict):
        self.folder = Path(folder)
        self.settings = settings
        python = shlex.quote(sys.executable)
        self.python = f"numactl --localalloc {python}" if settings["numactl"] else python

    def parameters(self, run) -> dict:
        """submitit ``SlurmExecutor`` parameters of ``run``'s job (the #SBATCH lines and srun flags)."""
        s = self.settings
        params = {
            "job_name": f"mcnn-{run.config.sweep}" + ("" if s["one_at_a_time"] else f"-{run.run_id}"),
            "nodes": run.nodes,
            "ntasks_per_node": run.workers_per_node,
            "cpus_per_task": s["cpus_per_task"],
            "time": s["time_minutes"],
            "srun_args": [*BASE_SRUN_ARGS, f"--cpu-bind={s['cpu_bind']}", *(s["srun_args"] or [])],
            "setup": [f"export OMP_NUM_THREADS={s['cpus_per_task']}", *(s["setup"] or [])],
        }
        for key in ("partition", "account"):
            if s[key]:
                params[key] = s[key]
        extra = {"dependency": "singleton"} if s["one_at_a_time"] else {}
        extra.update(s["sbatch_args"] or {})
        if extra:
            params["additional_parameters"] = extra
        return params

    def executor(self, run):
        """A submitit ``SlurmExecutor`` set up for ``run``."""
        import submitit

        executor = submitit.SlurmExecutor(folder=self.folder / "%j", python=self.python)
        executor.update_parameters(**self.parameters(run))
        return executor

    def check(self, runs) -> None:
        """Refuse runs the partition cannot hold, before anything is submitted (``SlurmError``)."""
        part = cluster.partition(self.settings["partition"])
        cluster.check_capacity(runs, part, self.settings["cpus_per_task"])

    def prepare(self, run) -> TrainConfig:
        """The run's config with ``cpus_per_task`` threads per worker."""
        return run.config.replace(intra_op_threads=self.settings["cpus_per_task"], inter_op_threads=1)

    def submit(self, run, config_path: Path):
        """Submit the run's job; returns the submitit job."""
        return self.executor(run).submit(train_task, str(config_path))

    def sbatch_script(self, run, config_path: Path) -> str:
        """The plain sbatch script of ``run``: what :meth:`submit` submits, runnable with ``sbatch``.

        Its logs go straight into the runner's folder (sbatch, unlike submitit, creates no per-job folder).
        """
        from submitit.slurm.slurm import _make_sbatch_string

        command = f"{self.python} -u -m benchmark.cli train --config {shlex.quote(str(config_path))}"
        return _make_sbatch_string(command=command, folder=self.folder, **self.executor(run).parameters)

    def write_dry_run(self, run, config_path: Path) -> Path:
        """Write :meth:`sbatch_script` to ``job.sbatch`` beside the run's config, and its log folder."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = config_path.parent / "job.sbatch"
        write_atomic(path, self.sbatch_script(run, config_path))
        return path

    @staticmethod
    def poll(job_id: str, folder: str) -> tuple[str, dict | None]:
        """``("pending" | "running" | "done", sacct info)`` of a submitted job."""
        info = cluster.job_info(job_id)
        if info is None or info["state"] == "PENDING":
            return "pending", info
        return ("done" if info["final"] else "running"), info

    @staticmethod
    def slurm_view(config: TrainConfig, info: dict) -> dict:
        """The run record's ``slurm`` section from sacct's view of the finished job."""
        return {"job_id": info["job_id"], "node_list": info["node_list"], "nodes": info["nodes"],
                "tasks_per_node": config.workers_per_node, "queue_wait_seconds": info["queue_wait_seconds"],
                "elapsed_seconds": info["elapsed_seconds"], "state": info["state"]}

    @staticmethod
    def failure_reason(job_id: str, folder: str, config: TrainConfig, info: dict) -> str:
        """Why a job that left no record failed: its SLURM state, and its error or the end of its log."""
        import submitit

        job = submitit.SlurmJob(folder=folder, job_id=job_id)
        reason = f"SLURM job {job_id} ended {info['raw_state']} (exit code {info['exit_code']})"
        error = submitit_error(job)
        tail = log_tail(job.paths.stderr)
        return f"{reason}: {error}" if error else (f"{reason}; end of {job.paths.stderr}:\n{tail}" if tail else reason)
