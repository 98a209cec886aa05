"""The sweep driver behind ``mcnn-bench sweep`` and ``mcnn-bench status``: submit a spec's runs through
its executor and follow them to the end.

Running a sweep again submits only the runs that are missing or failed; a completed, pending or running
run is never submitted twice. Every run ends with a record: the trainer writes it, or, when a job ends
without one (cancelled, killed, crashed before training), the driver records the run as failed with the
reason. Executors only answer questions; the driver alone writes records and ``sweep.json``. Each
invocation uses a fresh submitit folder, so an old job's result is never taken for a new one.
"""
from __future__ import annotations

import datetime
import logging
import sys
import time
from pathlib import Path
from typing import TextIO

from benchmark.config import TrainConfig
from benchmark.record import Failure, RecordError, RunRecord
from slurm.cluster import SlurmError
from slurm.display import Progress
from slurm.executor import EXECUTORS, Executor, Job, JobView, Run
from slurm.lock import SweepLock
from slurm.spec import SweepSpec
from slurm.state import TERMINAL, RunStatus, SweepState, recorded_status

log = logging.getLogger(__name__)
#: Seconds between two looks at the running jobs.
POLL_SECONDS = 2.0


def make_executor(kind: str, settings, sweep_dir: Path, folder_name: str | None = None) -> Executor:
    """The executor of ``kind`` with a submitit folder ``sweep_dir/submitit/<folder_name>`` (default: a
    fresh, time-stamped one)."""
    stamp = folder_name or datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    return EXECUTORS[kind](sweep_dir / "submitit" / stamp, settings)


def saved_executor(state: SweepState) -> Executor:
    """The executor a sweep was run with, rebuilt from its state (its settings are saved there)."""
    kind = state.data["executor"]
    settings = EXECUTORS[kind].Settings.model_validate(state.data.get("executor_settings") or {"kind": kind})
    return make_executor(kind, settings, state.dir)


def live_status(state: SweepState, executor: Executor, run_id: str) -> RunStatus:
    """A run's status. A submitted job is followed until it ends, then finished off (see :func:`finish`)
    once; after that, and for runs without a job, the run's record says how it ended, else ``missing``.
    While SLURM cannot be asked (e.g. accounting is restarting) the state is ``unknown``, with the reason."""
    job = state.job(run_id)
    if job and not state.finished(run_id):
        try:
            view = executor.poll(job)
        except SlurmError as exc:
            return RunStatus(run_id, "unknown", reason=f"cannot ask SLURM about job {job.job_id}: {exc}",
                             job_id=job.job_id)
        if view.phase != "done":
            return RunStatus(run_id, view.phase, job_id=job.job_id, elapsed=view.elapsed_seconds)
        finish(executor, job, TrainConfig.from_json(state.config_path(run_id)), view)
        state.note_finished(run_id)
    return recorded_status(state, run_id) or RunStatus(run_id, "missing")


def finish(executor: Executor, job: Job, config: TrainConfig, view: JobView) -> None:
    """After a job ends: add the executor's view to the run's record, or record the run as failed."""
    outcome = executor.outcome(job, config, view)
    try:
        record = RunRecord.read(config.run_dir)
    except RecordError:
        return  # kept as it is: the status names the damaged file, and a re-run archives it
    if record is None:
        log.info("run %s: job %s ended without a record", config.run.run_id, job.job_id)
        RunRecord.failed(config, Failure(reason=outcome.failure_reason), slurm=outcome.slurm).write(config.run_dir)
    elif outcome.slurm is not None:
        record.with_slurm(outcome.slurm).write(config.run_dir)


def sweep_status(sweep_dir: str | Path) -> list[RunStatus]:
    """The status of every run of the sweep in ``sweep_dir`` (finishing jobs that have ended).

    Raises:
        FileNotFoundError: if ``sweep_dir`` holds no sweep state.
    """
    state = SweepState(sweep_dir)
    if not state.path.exists():
        raise FileNotFoundError(f"{state.path}: no sweep state here; give RESULTS_DIR/SWEEP_NAME of a sweep")
    executor = saved_executor(state)
    return [live_status(state, executor, run_id) for run_id in sorted(state.runs)]


def _write_config(state: SweepState, executor: Executor, run: Run) -> Path:
    """Write the run's config, as the executor prepares it, where its workers will read it."""
    return executor.prepare(run).write_json(state.config_path(run.run_id))


def _submit(state: SweepState, executor: Executor, run: Run) -> None:
    state.archive_record(run.run_id)
    job = executor.submit(run, _write_config(state, executor, run))
    log.info("run %s: submitted as %s job %s", run.run_id, job.executor, job.job_id)
    state.note_submitted(run.run_id, job, nodes=run.nodes, workers_per_node=run.workers_per_node,
                         local_batch_size=run.config.run.local_batch_size)


def dry_run(spec: SweepSpec, results_dir: str | Path | None = None, out: TextIO = sys.stdout) -> list[Path]:
    """Write each run's config and job script (an sbatch script for SLURM) without submitting anything.

    The scripts' logs go to ``<sweep>/submitit/sbatch/``."""
    results = spec.results_dir(results_dir)
    runs = spec.runs(results)
    with SweepLock(results / spec.name):
        state = SweepState(results / spec.name)
        executor = make_executor(spec.executor.kind, spec.executor, state.dir, "sbatch")
        paths = []
        for run in runs:
            paths.append(executor.write_dry_run(run, _write_config(state, executor, run)))
            print(f"{run.run_id}: {paths[-1]}", file=out)
    return paths


def run_sweep(spec: SweepSpec, results_dir: str | Path | None = None, wait: bool = True,
              out: TextIO = sys.stdout) -> list[RunStatus]:
    """Submit the spec's missing and failed runs and (with ``wait``) follow them until all have ended.

    A foreground executor (local) runs one run at a time; the SLURM executor submits every run at once and
    lets the scheduler place them. Progress is one line on ``out``, redrawn in place on a terminal.
    Returns every run's status.

    The driver holds the sweep folder's lock (:class:`slurm.lock.SweepLock`) from start to end.

    Raises:
        SlurmError: the cluster cannot hold a run (checked before anything is submitted).
        SweepBusy: another driver runs a sweep into the same folder.
        ValueError: ``wait`` is false with the local executor, which runs the runs in the foreground.
    """
    kind = spec.executor.kind
    if not wait and EXECUTORS[kind].foreground:
        raise ValueError(f"--no-wait needs the slurm executor: the {kind} executor runs the runs one after "
                         "another in the foreground")
    results = spec.results_dir(results_dir)
    runs = spec.runs(results)
    with SweepLock(results / spec.name):
        return _drive(spec, SweepState(results / spec.name), runs, wait, out)


def _drive(spec: SweepSpec, state: SweepState, runs: list[Run], wait: bool, out: TextIO) -> list[RunStatus]:
    """:func:`run_sweep`'s work, under the sweep folder's lock."""
    kind = spec.executor.kind
    state.data.update(name=spec.name, spec=str(spec.path), executor=kind,
                      executor_settings=spec.executor.to_json_dict())
    executor = make_executor(kind, spec.executor, state.dir)
    executor.check(runs)
    todo = []
    with Progress(out) as progress:
        for run in runs:
            status = live_status(state, executor, run.run_id)
            if status.state in ("missing", "failed"):
                todo.append(run)
            else:
                progress.note(f"{run.run_id}: {status.state}, not submitted again")
        progress.note(f"sweep {spec.name}: {len(todo)} of {len(runs)} runs to submit ({kind} executor); "
                      f"results in {state.dir}")
        progress.start(len(todo))
        pending, running = list(todo), []
        while pending or (running and wait):
            while pending and not (executor.foreground and running):
                run = pending.pop(0)
                _submit(state, executor, run)
                running.append(run.run_id)
            if not wait:
                break
            time.sleep(POLL_SECONDS)
            statuses = [live_status(state, executor, run_id) for run_id in running]
            for status in statuses:
                if status.state in TERMINAL:
                    running.remove(status.run_id)
                    progress.finished(status)
            progress.show(state, [s for s in statuses if s.state not in TERMINAL])
    return [live_status(state, executor, run.run_id) for run in runs]
