"""The sweep driver behind ``mcnn-bench sweep`` and ``mcnn-bench status``: submit a spec's runs through
its executor and follow them to the end.

Running a sweep again submits only the runs that are missing, failed or skipped (a fleet's runs whose node
could not take a job: :mod:`slurm.fleet`), and follows those an earlier driver left pending or running; a
completed, pending or running run is never submitted twice. A run is identified by its fingerprint (every
setting that changes what it trains or measures): one submitted with other settings than the spec now gives is
stale, and is refused unless the user asks to re-run it. Every run ends with a record: the trainer writes it,
or, when a job ends without one (cancelled, killed, crashed before training, stuck pending), the driver records
the run as failed with the reason. Executors and ``status`` only read; the driver alone writes records and
``sweep.json``, under the sweep folder's lock. Each invocation uses a fresh submitit folder, so an old job's
result is never taken for a new one.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import secrets
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TextIO

from benchmark.config import TrainConfig
from benchmark.errors import McnnBenchError
from benchmark.record import RECORD_NAME, Failure, RecordError, RunRecord
from benchmark.train.checkpoint import CHECKPOINT_DIR
from benchmark.train.mllog import LOG_NAME as MLLOG_NAME
from benchmark.train.run_lock import RunLock, RunLocked
from slurm import fleet
from slurm.display import Progress
from slurm.executor import EXECUTORS, Executor, ExecutorError, Job, JobView, Outcome, Run
from slurm.executor.base import ExecutorSettings
from slurm.interrupt import deferred_interrupt
from slurm.lock import SweepLock
from slurm.preflight import check_engines, preflight
from slurm.spec import SweepSpec, load_spec
from slurm.state import TERMINAL, RunStatus, SweepState, recorded_status, refused_status

log = logging.getLogger(__name__)
#: Seconds between two looks at the running jobs.
POLL_SECONDS = 2.0
#: The config a dry run writes beside the job script; the run's own config.json is left as submitted.
DRY_RUN_CONFIG = "config.dry-run.json"
#: Polls in a row at which the scheduler knows no such job before the driver records the run as failed.
UNKNOWN_POLLS = 5


class StaleRuns(McnnBenchError, ValueError):
    """Runs whose settings changed since they were submitted; the message names them and the settings."""


class SweepInterrupted(RuntimeError):
    """The driver was interrupted (Ctrl-C); the message says what became of the runs."""


class SubmissionUnsaved(McnnBenchError, OSError):
    """A job started but the sweep state could not be saved (a full disk, say); the message names the job,
    the file and the cause. Nothing is lost: the next driver finds the job by its token and adopts it."""


def make_executor(kind: str, settings: ExecutorSettings, sweep_dir: Path, folder_name: str | None = None) -> Executor:
    """The executor of ``kind`` with a submitit folder ``sweep_dir/submitit/<folder_name>`` (default: a
    fresh, time-stamped one)."""
    stamp = folder_name or datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    return EXECUTORS[kind](sweep_dir / "submitit" / stamp, settings)


def saved_executor(state: SweepState) -> Executor:
    """The executor a sweep was run with, rebuilt from its state (its settings are saved there)."""
    kind = state.data["executor"]
    settings = EXECUTORS[kind].Settings.model_validate(state.data.get("executor_settings") or {"kind": kind})
    return make_executor(kind, settings, state.dir)


def _unsettled(state: SweepState, run_ids: list[str]) -> dict[str, Job]:
    """The jobs of the runs of ``run_ids`` that were submitted and not yet settled, by run id (in that order)."""
    return {run_id: job for run_id in run_ids if (job := state.job(run_id)) and not state.finished(run_id)}


def poll(state: SweepState, executor: Executor, run_ids: list[str]) -> dict[str, JobView | str]:
    """The executor's view of every job of ``run_ids`` that was submitted and not yet settled, asked once
    for all of them; while the executor cannot ask its scheduler (:class:`ExecutorError`, e.g. SLURM's
    accounting is restarting), the reason instead."""
    jobs = _unsettled(state, run_ids)
    if not jobs:
        return {}
    try:
        views = executor.poll(list(jobs.values()))
    except ExecutorError as exc:
        return {
            run_id: f"cannot ask the {executor.kind} executor about job {job.job_id}: {exc}"
            for run_id, job in jobs.items()
        }
    return {run_id: views[job.job_id] for run_id, job in jobs.items()}


def current_status(state: SweepState, executor: Executor, run_id: str, view: JobView | str | None) -> RunStatus:
    """A run's status, read only: a job that has not been settled is pending or running (with the
    scheduler's pending reason) or ``unknown`` (``view`` is why), or, when it has ended, what :func:`settle`
    will record; after that, and for runs without a job, the run's record says how it ended, else the refusal of
    its job by the run's lock (:func:`slurm.state.refused_status`), else it is ``missing``."""
    job = state.job(run_id)
    if (mark := state.submitting(run_id)) is not None:
        return RunStatus(run_id, "submitting", reason=_unsaved_submission(executor, mark))
    if job is None or state.finished(run_id) or view is None:
        return recorded_status(state, run_id) or refused_status(state, run_id) or RunStatus(run_id, "missing")
    if isinstance(view, str):
        return RunStatus(run_id, "unknown", reason=view, job_id=job.job_id)
    if view.phase != "done":
        return RunStatus(run_id, view.phase, reason=view.reason, job_id=job.job_id, elapsed=view.elapsed_seconds)
    recorded = recorded_status(state, run_id)
    if recorded is not None:
        return recorded
    outcome = executor.outcome(job, TrainConfig.from_json(state.config_path(run_id)), view)
    return RunStatus(run_id, "failed", outcome.failure_reason, job.job_id)


def _marked_job(executor: Executor, mark: dict) -> Job | None:
    """The job not yet over that carries the token of a submitting ``mark`` (:meth:`SweepState.note_submitting`),
    or None; a mark of another executor kind has none here."""
    return executor.find(mark["token"], Path(mark["folder"])) if mark["executor"] == executor.kind else None


def _unsaved_submission(executor: Executor, mark: dict) -> str:
    """What became of a submission a driver never saved the job of (its submitting ``mark``), for ``status``."""
    stopped = f"a driver stopped while submitting it ({mark['since']})"
    try:
        job = _marked_job(executor, mark)
    except ExecutorError as exc:
        return f"{stopped}; cannot ask the {executor.kind} executor for the job with its token: {exc}"
    if job is None:
        return f"{stopped}; no job carries its token {mark['token']}: the next sweep submits it again"
    return f"{stopped}; {job.executor} job {job.job_id} carries its token: the next sweep adopts it"


def settle(state: SweepState, executor: Executor, views: dict[str, JobView | str], unknown: Counter) -> None:
    """The driver's commits: finish off every run whose job has ended (:func:`finish`); cancel and record as
    failed every run whose job pends for a reason that cannot clear (:meth:`Executor.stuck`); record as failed
    every run whose job the scheduler has not known for :data:`UNKNOWN_POLLS` polls in a row (``unknown``
    counts them, by run id)."""
    for run_id, view in views.items():
        if isinstance(view, str):
            continue
        job = state.job(run_id)
        assert job is not None, f"run {run_id}: polled, so submitted"
        unknown[run_id] = unknown[run_id] + 1 if view.phase == "unknown" else 0
        if view.phase == "done":
            finish(state, executor, run_id, view)
        elif view.phase == "unknown" and unknown[run_id] >= UNKNOWN_POLLS:
            finish(state, executor, run_id, view, f"{view.reason}; given up after {UNKNOWN_POLLS} polls")
        elif view.phase != "unknown" and (reason := executor.stuck(view)):
            executor.cancel(job)
            finish(state, executor, run_id, view, reason)


def finish(state: SweepState, executor: Executor, run_id: str, view: JobView, reason: str | None = None) -> None:
    """Settle ``run_id``'s job, which has ended (``view``) or been given up on (``reason``): merge the executor's
    view of the job into the run's record (its ``scheduler`` section), or record the run as failed (with
    ``reason``, else the executor's) and that view; then note the run finished in ``state``.

    A job that the run's lock refused (:attr:`Outcome.refused`: another process held the run's folder) wrote
    nothing there, and what the folder holds is that other process's: its record (once it has one), logs and
    checkpoints are left as they are, and the refusal is noted in ``state`` (and logged) instead, which the run's
    status shows while the folder holds no record (:func:`slurm.state.refused_status`)."""
    job, config = state.job(run_id), TrainConfig.from_json(state.config_path(run_id))
    assert job is not None, f"run {run_id}: settled, so submitted"
    outcome = executor.outcome(job, config, view)
    if outcome.refused is not None:
        log.info(
            "run %s: %s job %s was refused; the run's files are left to their holder: %s",
            run_id,
            job.executor,
            job.job_id,
            outcome.refused,
        )
    else:
        _record_end(job, config, outcome, reason)
    state.note_finished(run_id, refused=outcome.refused)


def _record_end(job: Job, config: TrainConfig, outcome: Outcome, reason: str | None) -> None:
    """Merge ``outcome``'s ``scheduler`` section into the run's record, or record the run as failed (with
    ``reason``, else the outcome's) when the job left no record; a record that cannot be read is kept as it is
    (the status names the damaged file, and a re-run archives it)."""
    try:
        record = RunRecord.read(config.run_dir)
    except RecordError:
        return
    if record is None:
        log.info("run %s: job %s ended without a record", config.run.run_id, job.job_id)
        failure = Failure(reason=reason or outcome.failure_reason)
        RunRecord.failed(config, failure, scheduler=outcome.scheduler).write(config.run_dir)
    else:
        record.with_scheduler(outcome.scheduler).write(config.run_dir)


def stale_changes(state: SweepState, spec: SweepSpec, executor: Executor, runs: list[Run]) -> dict[str, tuple]:
    """For each run of ``runs`` that was submitted with other settings than ``spec`` now gives (as
    ``executor`` prepares them), the changed settings (see :meth:`SweepState.changes`)."""
    changes = {run.run_id: state.changes(run.run_id, executor.prepare(run).fingerprinted()) for run in runs}
    return {run_id: changed for run_id, changed in changes.items() if changed}


def _spec_changes(state: SweepState) -> dict[str, tuple]:
    """:func:`stale_changes` against the spec file the sweep was last run from, as it reads now; empty
    (with a warning) when it cannot be read."""
    try:
        spec = load_spec(state.data["spec"], state.data.get("data_dir")).renamed(state.dir.name)
    except (KeyError, ValueError) as exc:
        log.warning("cannot tell stale runs: the sweep's spec cannot be read (%s)", exc)
        return {}
    executor = make_executor(spec.executor.kind, spec.executor, state.dir, "status")
    return stale_changes(state, spec, executor, fleet.sweep_runs(spec, state, state.dir.parent, None))


def sweep_status(sweep_dir: str | Path) -> list[RunStatus]:
    """The status of every run of the sweep in ``sweep_dir``, read only (nothing is written: the sweep
    driver records ended jobs), with the settings that changed for stale runs.

    Raises:
        FileNotFoundError: if ``sweep_dir`` holds no sweep state.
    """
    state = SweepState(sweep_dir)
    if not state.path.exists():
        raise FileNotFoundError(f"{state.path}: no sweep state here; give RESULTS_DIR/SWEEP_NAME of a sweep")
    executor = saved_executor(state)
    run_ids = sorted(state.runs)
    views, changes = poll(state, executor, run_ids), _spec_changes(state)
    return [
        dataclasses.replace(current_status(state, executor, run_id, views.get(run_id)), stale=changes.get(run_id, ()))
        for run_id in run_ids
    ]


def _archive(state: SweepState, run_id: str, names: list[str]) -> bool:
    """Move the run's files ``names`` that exist to ``attempts/`` while holding the run's lock, so that nothing
    is moved from under a process that trains into the folder; False (nothing moved, a warning logged) when
    one does (:class:`~benchmark.train.run_lock.RunLocked`)."""
    run_dir = state.run_dir(run_id)
    if not any((run_dir / name).exists() for name in names):
        return True
    try:
        with RunLock(run_dir, run_id):
            state.archive(run_id, *names)
    except RunLocked as exc:
        log.warning("run %s: not run again: %s", run_id, exc)
        return False
    return True


def _submit(state: SweepState, executor: Executor, run: Run, fresh: bool) -> bool:
    """Submit ``run``; False when it was not, because a process trains into its folder (its old files
    stay). First the state saves, durably, that it is being submitted, with a token the job will carry;
    then, under the run's lock, its old record (and, when it starts ``fresh``, its checkpoints and MLPerf
    log) go to ``attempts/``; its config is written where its workers read it, the job starts, and the job,
    fingerprint and settings are saved. A driver that stops anywhere in between leaves the token, by which
    the next one adopts the job (:func:`adopt`) rather than start a second.

    Raises:
        SubmissionUnsaved: the job started but the state could not be saved.
    """
    config = executor.prepare(run)
    token = secrets.token_hex(8)
    extra = {
        "fingerprint": config.fingerprint(),
        "settings": config.fingerprinted(),
        "nodes": run.nodes,
        "workers_per_node": run.workers_per_node,
        "local_batch_size": run.config.run.local_batch_size,
    }
    state.note_submitting(run.run_id, executor.kind, token, executor.folder, **extra)
    if not _archive(state, run.run_id, [RECORD_NAME, *([CHECKPOINT_DIR, MLLOG_NAME] if fresh else [])]):
        state.forget_submitting(run.run_id)
        return False
    with deferred_interrupt():
        job = executor.submit(run, config.write_json(state.config_path(run.run_id)), token)
        try:
            state.note_submitted(run.run_id, job, **extra)
        except OSError as exc:
            raise SubmissionUnsaved(
                f"run {run.run_id}: {job.executor} job {job.job_id} started, but {state.path} could not be saved "
                f"({exc.strerror or exc}); the job keeps running, and the next sweep finds it by its token "
                f"{token} and follows it. Free the space, then run the sweep again"
            ) from exc
    log.info("run %s: submitted as %s job %s", run.run_id, job.executor, job.job_id)
    return True


def adopt(state: SweepState, executor: Executor, run_ids: list[str]) -> list[str]:
    """For each run of ``run_ids`` that a driver began to submit but never saved the job of (its
    submitting mark): save the job that carries the mark's token, found by the executor, as the run's job;
    or, when no job carries it (it never started, or is already over, having left its record), drop the
    mark. Returns a line for the user per adopted job."""
    notes = []
    for run_id in run_ids:
        mark = state.submitting(run_id)
        if mark is None:
            continue
        job = _marked_job(executor, mark)
        if job is None:
            state.forget_submitting(run_id)
            continue
        state.note_submitted(run_id, job, **mark["extra"])
        notes.append(f"{run_id}: adopted {job.executor} job {job.job_id}, which a driver started but never saved")
    return notes


def dry_run(spec: SweepSpec, results_dir: str | Path | None = None, out: TextIO | None = None) -> list[Path]:
    """Write each run's config and job script (an sbatch script for SLURM) without submitting anything, one
    line each on ``out`` (default: ``sys.stdout`` at the call).

    The scripts' logs go to ``<sweep>/submitit/sbatch/``. A fleet's runs are those of its plan, the one kept in
    the sweep's state or else one made now and not kept (:func:`slurm.fleet.sweep_runs`).

    Raises:
        EngineUnavailable: the executor's scripts name the engine's launcher as installed here
            (:attr:`Executor.scripts_need_engines`: the local executor's) and an engine of the runs cannot run
            here (:func:`slurm.preflight.check_engines`), before anything is written.
    """
    out = sys.stdout if out is None else out
    results = spec.results_dir(results_dir)
    if EXECUTORS[spec.executor.kind].scripts_need_engines:
        check_engines(spec.runs(results))
    with SweepLock(results / spec.name):
        state = SweepState(results / spec.name)
        executor = make_executor(spec.executor.kind, spec.executor, state.dir, "sbatch")
        runs = fleet.sweep_runs(spec, state, results, executor)
        paths = []
        for run in runs:
            config_path = executor.prepare(run).write_json(state.run_dir(run.run_id) / DRY_RUN_CONFIG)
            paths.append(executor.write_dry_run(run, config_path))
            print(f"{run.run_id}: {paths[-1]}", file=out)
    return paths


def run_sweep(
    spec: SweepSpec,
    results_dir: str | Path | None = None,
    wait: bool = True,
    out: TextIO | None = None,
    rerun_stale: bool = False,
    submit: bool = True,
) -> list[RunStatus]:
    """Submit the spec's missing and failed runs and (with ``wait``) follow them, and the runs an earlier
    driver left pending or running, until all have ended.

    A foreground executor (local) runs one run at a time; the SLURM executor submits every run at once and
    lets the scheduler place them. Progress is one line on ``out`` (default: ``sys.stdout`` at the call),
    redrawn in place on a terminal. A run
    whose settings changed since it was submitted (its fingerprint, :meth:`TrainConfig.fingerprint`) is
    stale: refused, unless ``rerun_stale``, which runs it again from scratch (its old record and
    checkpoints kept under ``attempts/``). Without ``submit``, only ended jobs are recorded and (with
    ``wait``) running ones followed. A fleet's runs are those of its nodes as first planned
    (:func:`slurm.fleet.sweep_runs`); a run whose node cannot take a job now is skipped, not submitted
    (:func:`slurm.fleet.skips`). Returns every run's status.

    The driver holds the sweep folder's lock (:class:`slurm.lock.SweepLock`) from start to end.

    Raises:
        ExecutorError: the executor cannot hold a run (checked before anything is submitted), or its
            scheduler refuses a job.
        PreflightError: the results folder cannot be written, its disk has no room for a first checkpoint,
            or the data cannot be read (:func:`slurm.preflight.preflight`, before anything is submitted).
        SweepBusy: another driver runs a sweep into the same folder.
        FleetError: a fleet's nodes cannot be planned, or its spec names other nodes than it was planned over.
        StaleRuns: runs are stale and ``rerun_stale`` is false, or stale runs are still pending or running.
        SweepInterrupted: Ctrl-C; a background executor's jobs (SLURM's) keep running, a foreground
            executor's (local) are stopped and recorded as failed.
        ValueError: ``wait`` is false with the local executor, which runs the runs in the foreground.
    """
    out = sys.stdout if out is None else out
    kind = spec.executor.kind
    if not wait and EXECUTORS[kind].foreground:
        raise ValueError(
            f"--no-wait needs the slurm executor: the {kind} executor runs the runs one after another in the foreground"
        )
    results = spec.results_dir(results_dir)
    if submit:
        preflight(spec, results)
    with SweepLock(results / spec.name):
        return _drive(spec, SweepState(results / spec.name), results, wait, out, rerun_stale, submit)


def _plan(
    state: SweepState,
    spec: SweepSpec,
    executor: Executor,
    runs: list[Run],
    statuses: dict[str, RunStatus],
    rerun_stale: bool,
) -> list[tuple[Run, bool]]:
    """The runs to submit, each with whether it starts fresh (a stale run) or may resume its checkpoint.

    Raises:
        StaleRuns: naming every stale run and its changed settings, when they may not be re-run.
    """
    stale = stale_changes(state, spec, executor, [run for run in runs if statuses[run.run_id].state != "missing"])
    busy = [run_id for run_id in stale if statuses[run_id].state not in TERMINAL]
    if stale and (busy or not rerun_stale):
        lines = "\n".join(
            f"  - {run_id} ({statuses[run_id].state}): {'; '.join(changed)}" for run_id, changed in stale.items()
        )
        advice = (
            f"wait for {', '.join(busy)} to end, or cancel them, then use --rerun-stale"
            if busy
            else "re-run them with --rerun-stale (their old records and checkpoints are kept under "
            "RUN/attempts/), or run the spec as another sweep with --new-sweep NAME"
        )
        raise StaleRuns(
            f"sweep {spec.name}: {len(stale)} run(s) were run with other settings than the spec "
            f"gives now; nothing was submitted:\n{lines}\n{advice}"
        )
    return [
        (run, run.run_id in stale)
        for run in runs
        if run.run_id in stale or statuses[run.run_id].state in ("missing", "failed", "skipped")
    ]


def _skip(
    state: SweepState, executor: Executor, todo: list[tuple[Run, bool]], reasons: dict[str, str], progress: Progress
) -> list[tuple[Run, bool]]:
    """Skip, instead of submitting, each run of ``todo`` that ``reasons`` names (its node cannot take a job now:
    :func:`slurm.fleet.skips`): under the run's lock its old record goes to ``attempts/``, its config and a failed
    record with the reason are written, and ``state`` marks it skipped. Returns the runs left to submit."""
    kept = []
    for run, fresh in todo:
        reason = reasons.get(run.run_id)
        if reason is None:
            kept.append((run, fresh))
        elif _archive(state, run.run_id, [RECORD_NAME]):
            config = executor.prepare(run)
            config.write_json(state.config_path(run.run_id))
            RunRecord.failed(config, Failure(reason=reason)).write(config.run_dir)
            state.note_skipped(run.run_id, executor.kind, reason)
            progress.note(f"{run.run_id}: {reason}")
    return kept


def _drive(
    spec: SweepSpec, state: SweepState, results: Path, wait: bool, out: TextIO, rerun_stale: bool, submit: bool
) -> list[RunStatus]:
    """:func:`run_sweep`'s work, under the sweep folder's lock."""
    kind = spec.executor.kind
    state.data.update(
        name=spec.name,
        spec=str(spec.path),
        data_dir=spec.data_dir and str(spec.data_dir),
        executor=kind,
        executor_settings=spec.executor.to_json_dict(),
    )
    executor = make_executor(kind, spec.executor, state.dir)
    runs = fleet.sweep_runs(spec, state, results, executor)
    run_ids = [run.run_id for run in runs]
    unknown: Counter = Counter()
    with Progress(out) as progress:
        reasons = fleet.skips(runs, executor.nodes()) if spec.grid.fleet and submit else {}
        checked = [run for run in runs if run.run_id not in reasons]
        for note in [*executor.check(checked), *adopt(state, executor, sorted(state.runs))]:
            progress.note(note)
        views = poll(state, executor, run_ids)
        settle(state, executor, views, unknown)
        statuses = {run_id: current_status(state, executor, run_id, views.get(run_id)) for run_id in run_ids}
        planned = _plan(state, spec, executor, runs, statuses, rerun_stale) if submit else []
        todo = _skip(state, executor, planned, reasons, progress)
        running = [run_id for run_id in run_ids if statuses[run_id].state not in (*TERMINAL, "missing")]
        for run_id in running:
            progress.note(f"{run_id}: {statuses[run_id].state} (job {statuses[run_id].job_id}), followed")
        count = sum(run.run_id in reasons for run, _ in planned)
        skipped = f", {count} skipped (their nodes cannot take a job now)" if count else ""
        progress.note(
            f"sweep {spec.name}: {len(todo)} of {len(runs)} runs to submit{skipped} ({kind} executor); "
            f"results in {state.dir}"
        )
        progress.start(len(todo) + len(running))
        try:
            _follow(state, executor, todo, running, wait, progress, unknown)
        except KeyboardInterrupt:
            raise SweepInterrupted(_interrupted(state, executor, run_ids)) from None
    views = poll(state, executor, run_ids)
    return [current_status(state, executor, run_id, views.get(run_id)) for run_id in run_ids]


def _follow(
    state: SweepState,
    executor: Executor,
    todo: list[tuple[Run, bool]],
    running: list[str],
    wait: bool,
    progress: Progress,
    unknown: Counter,
) -> None:
    """Submit ``todo`` (one at a time for a foreground executor) and, with ``wait``, follow the ``running``
    runs (which it extends) until all have ended, recording each ended job (``unknown``: see :func:`settle`)."""
    pending = list(todo)
    while pending or (running and wait):
        while pending and not (executor.foreground and running):
            run, fresh = pending.pop(0)
            if _submit(state, executor, run, fresh):
                running.append(run.run_id)
        if not wait:
            break
        time.sleep(POLL_SECONDS)
        views = poll(state, executor, running)
        settle(state, executor, views, unknown)
        statuses = [current_status(state, executor, run_id, views.get(run_id)) for run_id in running]
        for status in statuses:
            if status.state in TERMINAL:
                running.remove(status.run_id)
                progress.finished(status)
        progress.show(state, [s for s in statuses if s.state not in TERMINAL])


def _interrupted(state: SweepState, executor: Executor, run_ids: list[str]) -> str:
    """After Ctrl-C: stop and record as failed a foreground executor's runs of ``run_ids`` whose jobs have not
    been settled (followed, or submitted as Ctrl-C was pressed: :func:`_submit` saves a job before the
    interrupt takes effect); leave a background executor's jobs running. Returns what happened, for the user."""
    running = _unsettled(state, run_ids)
    if not running:
        return "interrupted; no run was running"
    if executor.foreground:
        for run_id, job in running.items():
            executor.cancel(job)
            view = executor.poll([job])[job.job_id]
            finish(state, executor, run_id, view, "interrupted by the user (Ctrl-C): the run was stopped")
        return (
            f"interrupted: stopped {', '.join(running)} and recorded it as failed; running the sweep again "
            "runs it again"
        )
    jobs = ", ".join(f"{run_id} (job {job.job_id})" for run_id, job in running.items())
    return (
        f"interrupted: the {executor.kind} jobs keep running: {jobs}; the sweep's state is saved in "
        f"{state.path}. `mcnn-bench status {state.dir}` shows them, running the sweep again waits for them "
        "and records them, and scancel stops them"
    )
