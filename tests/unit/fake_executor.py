"""An in-memory executor for the sweep driver's tests: :class:`FakeScheduler` holds the jobs and their
scripted fates (pending with a reason, running, completed with a record, failed with or without one,
stuck, running until cancelled, vanished) and outlives the driver's executor instances, as a real
scheduler does; :meth:`FakeScheduler.executor` is the :class:`slurm.executor.Executor` class to register
as ``executor.kind = "fake"``. Every poll moves each job asked about one phase on, so a test runs in
milliseconds what takes a real executor minutes. A job's trainer writes its record under the run's real lock
(:class:`benchmark.train.run_lock.RunLock`), as the real trainer does: while another holds the lock, the job is
refused, writes nothing, and its error is the refusal, as submitit reports a job's error."""

from __future__ import annotations

import itertools
import json
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from benchmark.config import TrainConfig
from benchmark.record import Failure, RunRecord, Scheduler
from benchmark.train.run_lock import RunLock, RunLocked
from benchmark.util.atomic import write_atomic
from slurm.executor import EXECUTORS, Executor, ExecutorError, Job, JobView, NodeState, Outcome, Run
from slurm.executor.base import ExecutorSettings, lock_refusal, raised

KIND = "fake"
NODE = "fake-node1"
#: A completed record that a real SLURM sweep wrote (schema version 2), the model of the fake's records.
TEMPLATE = Path(__file__).resolve().parent / "data" / "record-v2-slurm.json"
#: Pending reasons the fake gives up on (as SLURM's ``PartitionDown``: an administrator must act).
STUCK_REASONS = ("PartitionDown",)


@dataclass(frozen=True)
class Fate:
    """What becomes of a job: its phase at each poll (the last one repeats), the pending reason while it
    pends, the record its trainer writes when it is done (completed, failed with ``reason``, or none), the
    scheduler's word for its end, and the executor's ``reason`` (``{config}`` is its config's path)."""

    phases: tuple[Literal["pending", "running", "unknown", "done"], ...] = ("pending", "running", "done")
    pending_reason: str | None = None
    record: Literal["completed", "failed"] | None = "completed"
    state: str | None = "COMPLETED"
    reason: str = "fake job {job_id} ended"
    vanishes: bool = False


FATES = {
    "completes": Fate(),
    "pends": Fate(phases=("pending", "pending", "pending", "running", "done"), pending_reason="Resources"),
    "fails": Fate(record=None, state="FAILED", reason="fake job {job_id} failed: {config}: the trainer crashed"),
    "fails with a record": Fate(record="failed", state="FAILED", reason="DataError: the trainer's own failure"),
    "stuck": Fate(phases=("pending",), pending_reason="PartitionDown", record=None, state="CANCELLED"),
    "runs long": Fate(phases=("pending", "running"), record=None),
    "vanishes": Fate(
        phases=("running", "done"),
        record=None,
        state=None,
        vanishes=True,
        reason="fake job {job_id} vanished: the scheduler no longer knows it",
    ),
    "unknown": Fate(phases=("unknown",), record=None, state=None, vanishes=True),
}


@dataclass
class FakeJob:
    """A submitted job: its run, config, fate, the polls it has seen, whether it was cancelled, and the error
    it ended with (the run's lock refused it)."""

    job_id: str
    run_id: str
    config_path: Path
    fate: Fate
    token: str
    polls: int = 0
    cancelled: bool = False
    ended: bool = False
    error: str | None = None

    @property
    def phase(self) -> str:
        """Its phase now: done once cancelled, else its fate's phase at this poll."""
        return "done" if self.cancelled else self.fate.phases[min(max(self.polls, 1), len(self.fate.phases)) - 1]


class FakeSettings(ExecutorSettings):
    """``[executor]`` of the fake: the cores of its one node."""

    kind: Literal["fake"]
    cores: int = 4

    def cores_per_worker(self, workers_per_node: int) -> int:
        """``cores`` split evenly between the workers."""
        return self.cores // workers_per_node

    def cores_origin(self, workers_per_node: int) -> str:
        """``executor.cores`` over the workers."""
        return f"executor.cores = {self.cores} / {workers_per_node} workers"


@dataclass
class FakeScheduler:
    """The scheduler behind the fake executor. ``fates`` scripts each run's submissions in turn (the last
    repeats; default: completes); ``unreachable`` makes polls fail as a scheduler that cannot be asked;
    ``refuse`` makes :meth:`Executor.check` refuse the runs; ``on_submit`` and ``on_poll`` are called at
    each submission and poll (e.g. to press Ctrl-C there). ``polls`` lists the job ids of every poll. ``nodes``:
    the nodes runs can be pinned to, with their states now (a fleet sweep's; a host list is comma-separated)."""

    fates: dict[str, list[str]] = field(default_factory=dict)
    jobs: dict[str, FakeJob] = field(default_factory=dict)
    polls: list[list[str]] = field(default_factory=list)
    unreachable: str | None = None
    refuse: str | None = None
    on_submit: Callable[[str], None] | None = None
    on_poll: Callable[[list[str]], None] | None = None
    nodes: dict[str, NodeState] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(101))

    def script(self, run_id: str, *fates: str) -> None:
        """The fates (names of :data:`FATES`) of ``run_id``'s next submissions, in turn."""
        self.fates[run_id] = list(fates)

    def submissions(self, run_id: str) -> list[FakeJob]:
        """The jobs submitted for ``run_id``, oldest first."""
        return [job for job in self.jobs.values() if job.run_id == run_id]

    def cancelled(self) -> list[str]:
        """The run ids of the cancelled jobs."""
        return [job.run_id for job in self.jobs.values() if job.cancelled]

    def submit(self, run: Run, config_path: Path, token: str) -> FakeJob:
        """Take a job for ``run``, marked with ``token``, its fate the next scripted one; then call
        ``on_submit`` (which may raise, as a driver that stops right after the scheduler took the job)."""
        scripted = self.fates.get(run.run_id) or ["completes"]
        fate = FATES[scripted[min(len(self.submissions(run.run_id)), len(scripted) - 1)]]
        job = FakeJob(str(next(self._ids)), run.run_id, Path(config_path), fate, token)
        self.jobs[job.job_id] = job
        if self.on_submit:
            self.on_submit(run.run_id)
        return job

    def poll(self, job_ids: list[str]) -> dict[str, FakeJob]:
        """Move every job of ``job_ids`` one phase on; a job's trainer leaves its record as the job ends.

        Raises:
            ExecutorError: while ``unreachable``.
        """
        if self.unreachable:
            raise ExecutorError(self.unreachable)
        self.polls.append(job_ids)
        if self.on_poll:
            self.on_poll(job_ids)
        for job_id in job_ids:
            job = self.jobs[job_id]
            job.polls += 1
            if job.phase == "done" and not job.ended:
                job.ended = True
                if not job.cancelled:
                    self._end(job)
        return {job_id: self.jobs[job_id] for job_id in job_ids}

    def _end(self, job: FakeJob) -> None:
        """What the job's trainer leaves as it ends: its fate's record, if any, written under the run's lock;
        refused the lock, nothing, and the refusal as the job's error (the last line of its traceback)."""
        config = TrainConfig.from_json(job.config_path)
        if job.fate.record is None:
            return
        try:
            with RunLock(config.run_dir, config.run.run_id):
                if job.fate.record == "failed":
                    RunRecord.failed(config, Failure(reason=job.fate.reason)).write(config.run_dir)
                else:
                    completed_record(config).write(config.run_dir)
        except RunLocked:
            job.error = raised(traceback.format_exc())

    def executor(self, foreground: bool = False) -> type[Executor]:
        """The executor class of this scheduler (``foreground``: the driver runs one run at a time)."""
        return type("FakeExecutor", (FakeExecutor,), {"scheduler": self, "foreground": foreground})

    def register(self, monkeypatch, foreground: bool = False) -> type[Executor]:
        """Register :meth:`executor` as ``executor.kind = "fake"`` for one test."""
        executor = self.executor(foreground)
        monkeypatch.setitem(EXECUTORS, KIND, executor)
        return executor


def completed_record(config: TrainConfig) -> RunRecord:
    """A completed record of ``config``'s run, its figures those of :data:`TEMPLATE`, no scheduler section."""
    data = json.loads(TEMPLATE.read_text())
    data.update(sweep=config.run.sweep, run_id=config.run.run_id, config=config.to_json_dict())
    del data["fingerprint"], data["slurm"]
    return RunRecord.model_validate_json(json.dumps(data))


class FakeExecutor(Executor):
    """The :class:`Executor` interface over a :class:`FakeScheduler` (``scheduler``, set by
    :meth:`FakeScheduler.executor`)."""

    kind = KIND
    Settings = FakeSettings
    pins_nodes = True
    scheduler: FakeScheduler

    def nodes(self) -> dict[str, NodeState]:
        """The fake scheduler's nodes, with their states now."""
        return dict(self.scheduler.nodes)

    def expand_hosts(self, hosts: str) -> list[str]:
        """A comma-separated list of names."""
        return hosts.split(",")

    def check(self, runs: list[Run]) -> list[str]:
        """Refuse the runs when the scheduler says so."""
        if self.scheduler.refuse:
            raise ExecutorError(self.scheduler.refuse)
        return []

    def submit(self, run: Run, config_path: Path, token: str) -> Job:
        """Submit to the fake scheduler."""
        job = self.scheduler.submit(run, config_path, token)
        return Job(self.kind, job.job_id, str(self.folder))

    def find(self, token: str, folder: Path) -> Job | None:
        """The fake scheduler's job with ``token`` that is not done."""
        for job in self.scheduler.jobs.values():
            if job.token == token and job.phase != "done":
                return Job(self.kind, job.job_id, str(folder))
        return None

    def poll(self, jobs: list[Job]) -> dict[str, JobView]:
        """One call to the fake scheduler for all jobs; each moves one phase on."""
        known = self.scheduler.poll([job.job_id for job in jobs])
        return {
            job_id: JobView(
                job.phase,
                float(job.polls),
                accounting={"pending_seconds": 60.0 * job.polls},
                reason=job.fate.pending_reason
                if job.phase == "pending"
                else f"unknown to the fake scheduler: job {job_id}"
                if job.phase == "unknown"
                else None,
            )
            for job_id, job in known.items()
        }

    def stuck(self, view: JobView) -> str | None:
        """Give up on a job pending for one of :data:`STUCK_REASONS`."""
        if view.reason in STUCK_REASONS:
            return f"pending for a reason that cannot clear by itself: {view.reason}; cancelled"
        return None

    def cancel(self, job: Job) -> None:
        """Cancel the job: done at the next poll, without a record."""
        self.scheduler.jobs[job.job_id].cancelled = True

    def outcome(self, job: Job, config: TrainConfig, view: JobView) -> Outcome:
        """The fate's end, or CANCELLED, or FAILED with its error (refused by the run's lock); a vanished job
        is known by its id alone."""
        fake = self.scheduler.jobs[job.job_id]
        if fake.fate.vanishes:
            scheduler = Scheduler(kind=self.kind, job_id=job.job_id)
        else:
            scheduler = Scheduler(
                kind=self.kind,
                job_id=job.job_id,
                node_list=NODE,
                elapsed_seconds=float(fake.polls),
                state="CANCELLED" if fake.cancelled else "FAILED" if fake.error else fake.fate.state,
            )
        if fake.cancelled:
            reason = f"fake job {job.job_id} was cancelled"
        else:
            reason = fake.error or fake.fate.reason.format(job_id=job.job_id, config=fake.config_path)
        return Outcome(scheduler, reason, lock_refusal(fake.error))

    def write_dry_run(self, run: Run, config_path: Path) -> Path:
        """A one-line script naming the config."""
        return write_atomic(config_path.parent / "job.fake", f"fake-submit {config_path}\n")
