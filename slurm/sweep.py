"""``mcnn-bench sweep`` and ``mcnn-bench status``: submit a spec's runs and follow them to the end.

Running a sweep again submits only the runs that are missing or failed; a completed, pending or running
run is never submitted twice. Every run ends with a record: the trainer writes it, or, when a job ends
without one (cancelled, killed, crashed before training), the driver records the run as failed with the
reason. Each invocation uses a fresh submitit folder, so an old job's result is never taken for a new one.
"""
from __future__ import annotations

import datetime
import sys
import time
from pathlib import Path
from typing import TextIO

from benchmark.config import TrainConfig, write_json
from benchmark.progress import read_progress
from benchmark.record import failure, read_record, write_failure, write_record
from slurm.cluster import SlurmError
from slurm.jobs import SlurmRunner
from slurm.local import LocalRunner
from slurm.spec import Run, SweepSpec
from slurm.state import TERMINAL, RunStatus, SweepState, recorded_status

#: Seconds between two looks at the running jobs.
POLL_SECONDS = 2.0


#: The runner class of each executor kind; their poll/slurm_view/failure_reason need no instance.
RUNNERS = {"local": LocalRunner, "slurm": SlurmRunner}


def make_runner(spec: SweepSpec, sweep_dir: Path, folder_name: str | None = None):
    """The runner of the spec's executor, with a submitit folder ``sweep_dir/submitit/<folder_name>``
    (default: a fresh, time-stamped one)."""
    stamp = folder_name or datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    return RUNNERS[spec.executor["kind"]](sweep_dir / "submitit" / stamp, spec.executor)


def live_status(state: SweepState, run_id: str) -> RunStatus:
    """A run's status. A submitted job is followed until it ends, then finished off (see :func:`finish`)
    once; after that, and for runs without a job, the run's record says how it ended, else ``missing``.
    While SLURM cannot be asked (e.g. accounting is restarting) the state is ``unknown``, with the reason."""
    entry = state.runs.get(run_id)
    if entry and entry.get("job_id") and not entry.get("finished"):
        runner = RUNNERS[entry["executor"]]
        try:
            phase, info = runner.poll(entry["job_id"], entry["submitit_folder"])
        except SlurmError as exc:
            return RunStatus(run_id, "unknown", reason=f"cannot ask SLURM about job {entry['job_id']}: {exc}",
                             job_id=entry["job_id"])
        if phase != "done":
            return RunStatus(run_id, phase, job_id=entry["job_id"], elapsed=(info or {}).get("elapsed_seconds"))
        finish(runner, TrainConfig.from_json(state.config_path(run_id)), entry, info)
        state.note_finished(run_id)
    return recorded_status(state, run_id) or RunStatus(run_id, "missing")


def finish(runner, config: TrainConfig, entry: dict, info: dict | None) -> None:
    """After a job ends: add the executor's view to the run's record, or record the run as failed."""
    view = runner.slurm_view(config, info)
    record = read_record(config.run_dir)
    if record is None:
        reason = runner.failure_reason(entry["job_id"], entry["submitit_folder"], config, info)
        write_failure(config, failure(reason), slurm=view)
    elif view is not None:
        record["slurm"] = {**(record.get("slurm") or {}), **view}
        write_record(config.run_dir, record)


def sweep_status(sweep_dir: str | Path) -> list[RunStatus]:
    """The status of every run of the sweep in ``sweep_dir`` (finishing jobs that have ended).

    Raises:
        FileNotFoundError: if ``sweep_dir`` holds no sweep state.
    """
    state = SweepState(sweep_dir)
    if not state.path.exists():
        raise FileNotFoundError(f"{state.path}: no sweep state here; give RESULTS_DIR/SWEEP_NAME of a sweep")
    return [live_status(state, run_id) for run_id in sorted(state.runs)]


class Progress:
    """Terminal progress: runs done / total and the current runs' epoch and step."""

    def __init__(self, total: int, out: TextIO):
        self.total, self.out, self.last = total, out, None
        self.done = 0

    def show(self, state: SweepState, statuses: list[RunStatus]) -> None:
        """Print one line, when something changed, for the runs that have not ended."""
        parts = []
        for status in statuses:
            p = read_progress(state.run_dir(status.run_id)) if status.state == "running" else None
            detail = f"epoch {p['epoch']}/{p['epochs']} step {p['step']}/{p['steps_per_epoch']}" if p else status.state
            parts.append(f"{status.run_id} {detail}" + (f" ({status.short_reason})" if status.reason else ""))
        line = f"[{self.done}/{self.total} runs done] " + ("; ".join(parts) or "waiting")
        if line != self.last:
            print(line, file=self.out, flush=True)
            self.last = line

    def finished(self, status: RunStatus) -> None:
        """Count a finished run and print how it ended."""
        self.done += 1
        detail = (f"{status.images_per_second:.1f} images/s, best top-1 {status.best_top1}"
                  if status.state == "completed" else status.reason)
        print(f"[{self.done}/{self.total} runs done] {status.run_id}: {status.state}: {detail}",
              file=self.out, flush=True)


def _write_config(state: SweepState, runner, run: Run) -> Path:
    """Write the run's config, as the runner prepares it, where its workers will read it."""
    path = state.config_path(run.run_id)
    write_json(runner.prepare(run), path)
    return path


def _submit(state: SweepState, runner, run: Run) -> None:
    state.archive_record(run.run_id)
    job = runner.submit(run, _write_config(state, runner, run))
    state.note_submitted(run.run_id, runner.kind, str(job.job_id), str(job.paths.folder),
                         nodes=run.nodes, workers_per_node=run.workers_per_node,
                         local_batch_size=run.config.local_batch_size)


def dry_run(spec: SweepSpec, results_dir: str | Path | None = None, out: TextIO = sys.stdout) -> list[Path]:
    """Write each run's config and job script (an sbatch script for SLURM) without submitting anything.

    The scripts' logs go to ``<sweep>/submitit/sbatch/``."""
    results = spec.results_dir(results_dir)
    state = SweepState(results / spec.name)
    runner = make_runner(spec, state.dir, "sbatch")
    paths = []
    for run in spec.runs(results):
        paths.append(runner.write_dry_run(run, _write_config(state, runner, run)))
        print(f"{run.run_id}: {paths[-1]}", file=out)
    return paths


def run_sweep(spec: SweepSpec, results_dir: str | Path | None = None, wait: bool = True,
              out: TextIO = sys.stdout) -> list[RunStatus]:
    """Submit the spec's missing and failed runs and (with ``wait``) follow them until all have ended.

    The local executor runs one run at a time; the SLURM executor submits every run at once and lets the
    scheduler place them. Returns every run's status.

    Raises:
        SlurmError: the cluster cannot hold a run (checked before anything is submitted).
        ValueError: ``wait`` is false with the local executor, which runs the runs in the foreground.
    """
    if not wait and spec.executor["kind"] == "local":
        raise ValueError("--no-wait needs the slurm executor: the local executor runs the runs one after "
                         "another in the foreground")
    results = spec.results_dir(results_dir)
    state = SweepState(results / spec.name)
    state.data.update(name=spec.name, spec=str(spec.path), executor=spec.executor["kind"])
    runner = make_runner(spec, state.dir)
    runs = spec.runs(results)
    runner.check(runs)
    todo = []
    for run in runs:
        status = live_status(state, run.run_id)
        if status.state in ("missing", "failed"):
            todo.append(run)
        else:
            print(f"{run.run_id}: {status.state}, not submitted again", file=out)
    print(f"sweep {spec.name}: {len(todo)} of {len(runs)} runs to submit ({runner.kind} executor); "
          f"results in {state.dir}", file=out, flush=True)
    progress = Progress(len(todo), out)
    one_at_a_time = runner.kind == "local"
    pending, running = list(todo), []
    while pending or (running and wait):
        while pending and not (one_at_a_time and running):
            run = pending.pop(0)
            _submit(state, runner, run)
            running.append(run.run_id)
        if not wait:
            break
        time.sleep(POLL_SECONDS)
        statuses = [live_status(state, run_id) for run_id in running]
        for status in statuses:
            if status.state in TERMINAL:
                running.remove(status.run_id)
                progress.finished(status)
        progress.show(state, [s for s in statuses if s.state not in TERMINAL])
    return [live_status(state, run.run_id) for run in runs]


def format_status(statuses: list[RunStatus]) -> str:
    """A table of run statuses for the terminal."""
    header = f"{'run':<18} {'state':<10} {'job':<10} {'elapsed s':>9} {'images/s':>9} {'top-1':>6}  reason"
    lines = [header]
    for s in statuses:
        fmt = lambda v, spec: format(v, spec) if v is not None else "-"
        lines.append(f"{s.run_id:<18} {s.state:<10} {s.job_id or '-':<10} {fmt(s.elapsed, '9.1f'):>9} "
                     f"{fmt(s.images_per_second, '9.1f'):>9} {fmt(s.best_top1, '6.3f'):>6}  {s.short_reason}")
    return "\n".join(lines)
