"""The executor contract: what the sweep driver relies on from every executor (:class:`slurm.executor.Executor`),
as tests over a ``harness`` fixture (:class:`Harness`). tests/unit/test_executor_contract.py runs them over the
fake executor, tests/integration/test_executor_contract_real.py over the local and SLURM executors with real
small runs; a new executor adds its harness there.

A test module takes the contract's tests with ``from executor_contract import *`` (pytest puts tests/, the
folder of tests/conftest.py, on ``sys.path``)."""

from __future__ import annotations

import os
import secrets
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from benchmark.config import TrainConfig
from benchmark.record import RunRecord
from benchmark.train.run_lock import RunLock, lock_path
from benchmark.util.flock import read_holder
from slurm.executor import Executor, Job, JobView, Run

PHASES = ("pending", "running", "done")
#: What a job of a submission does once submitted: train to the end and write its record; fail before its
#: trainer can write any (its config cannot be read); train until it is cancelled.
Fate = Literal["completes", "fails", "runs long"]


@dataclass(frozen=True)
class Submission:
    """A run ready to submit: the run, its config as the executor prepared it, and where the config lies."""

    run: Run
    config: TrainConfig
    config_path: Path


@dataclass
class Harness(ABC):
    """One executor under the contract: ``executor``, runs of each :data:`Fate` for it, how long to wait for a
    job (seconds) and between polls. :meth:`submit` remembers the jobs, so that the fixture cancels those a
    failed test leaves behind (:meth:`cancel_all`)."""

    executor: Executor
    timeout: float
    pause: float
    jobs: list[Job] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)

    @abstractmethod
    def submission(self, name: str, fate: Fate) -> Submission:
        """A run named ``name`` (its own sweep) whose job will meet ``fate``, its config written."""

    def submit(self, submission: Submission) -> Job:
        """``executor.submit`` of the submission, with a fresh token (kept in ``tokens`` by job id)."""
        token = secrets.token_hex(8)
        job = self.executor.submit(submission.run, submission.config_path, token)
        self.jobs.append(job)
        self.tokens[job.job_id] = token
        return job

    def cancel_all(self) -> None:
        """Cancel every job submitted that has not ended."""
        views = self.executor.poll(self.jobs) if self.jobs else {}
        for job in self.jobs:
            if views[job.job_id].phase != "done":
                self.executor.cancel(job)


def wait_for(harness: Harness, jobs: list[Job], phase: str) -> tuple[dict[str, JobView], list[list[str]]]:
    """Poll ``jobs`` (all in one call each time) until every one is at ``phase`` or past it; returns the last
    views and every job's phases as seen, poll by poll. Every poll must answer for every job."""
    seen: dict[str, list[str]] = {job.job_id: [] for job in jobs}
    deadline = time.monotonic() + harness.timeout
    while True:
        views = harness.executor.poll(jobs)
        assert set(views) == set(seen), f"a poll of {sorted(seen)} answered for {sorted(views)}"
        for job_id, view in views.items():
            assert view.phase in PHASES, view
            seen[job_id].append(view.phase)
        if all(PHASES.index(view.phase) >= PHASES.index(phase) for view in views.values()):
            return views, [seen[job.job_id] for job in jobs]
        assert time.monotonic() < deadline, f"jobs still not {phase} after {harness.timeout} s: {seen}"
        time.sleep(harness.pause)


def assert_in_order(phases: list[str]) -> None:
    """A job's phases never go back (pending, running, done)."""
    assert [PHASES.index(p) for p in phases] == sorted(PHASES.index(p) for p in phases), phases


def test_a_job_runs_to_its_record_and_its_outcome_fills_the_scheduler_section(harness, check_record):
    executor = harness.executor
    submission = harness.submission("completes", "completes")
    job = harness.submit(submission)
    assert job.executor == executor.kind and job.job_id
    views, (phases,) = wait_for(harness, [job], "done")
    assert_in_order(phases)
    outcome = executor.outcome(job, submission.config, views[job.job_id])
    scheduler = outcome.scheduler
    assert (scheduler.kind, scheduler.job_id, scheduler.state) == (executor.kind, job.job_id, "COMPLETED")
    assert scheduler.elapsed_seconds is not None and scheduler.elapsed_seconds >= 0 and scheduler.node_list
    record = RunRecord.read(submission.config.run_dir)
    assert record is not None and record.status == "completed"
    merged = check_record(record.with_scheduler(scheduler).model_dump(mode="json"))
    assert merged["scheduler"]["job_id"] == job.job_id and merged["scheduler"]["kind"] == executor.kind
    assert outcome.refused is None


def test_a_job_that_leaves_no_record_has_a_failure_reason(harness):
    submission = harness.submission("fails", "fails")
    job = harness.submit(submission)
    views, (phases,) = wait_for(harness, [job], "done")
    assert_in_order(phases)
    outcome = harness.executor.outcome(job, submission.config, views[job.job_id])
    assert RunRecord.read(submission.config.run_dir) is None
    assert (outcome.scheduler.kind, outcome.scheduler.job_id) == (harness.executor.kind, job.job_id)
    assert outcome.scheduler.state == "FAILED"
    assert str(submission.config_path) in outcome.failure_reason, outcome.failure_reason  # the job's own error
    assert outcome.refused is None  # failed, but not refused by the run's lock


def test_a_job_the_run_lock_refuses_writes_nothing_and_its_outcome_names_the_holder(harness):
    submission = harness.submission("refused", "completes")
    run_dir = submission.config.run_dir
    with RunLock(run_dir, submission.run.run_id) as holder:  # this process trains the run, for the job's eyes
        before = sorted(path.name for path in run_dir.rglob("*"))
        job = harness.submit(submission)
        views, (phases,) = wait_for(harness, [job], "done")
        assert sorted(path.name for path in run_dir.rglob("*")) == before  # nothing written into the folder
        assert read_holder(lock_path(run_dir))["token"] == holder.token
    assert_in_order(phases)
    outcome = harness.executor.outcome(job, submission.config, views[job.job_id])
    assert outcome.refused is not None and "is already being trained into this folder by " in outcome.refused
    assert f"pid {os.getpid()}, " in outcome.refused, outcome.refused
    assert outcome.scheduler.job_id == job.job_id and outcome.scheduler.state not in (None, "COMPLETED")
    assert RunRecord.read(run_dir) is None


def test_cancel_stops_a_running_job_which_ends_without_a_record(harness):
    submission = harness.submission("runs-long", "runs long")
    job = harness.submit(submission)
    wait_for(harness, [job], "running")
    harness.executor.cancel(job)
    views, _ = wait_for(harness, [job], "done")
    outcome = harness.executor.outcome(job, submission.config, views[job.job_id])
    assert RunRecord.read(submission.config.run_dir) is None
    assert outcome.scheduler.job_id == job.job_id and outcome.scheduler.state not in (None, "COMPLETED")
    assert outcome.failure_reason.strip()


def test_a_job_is_found_by_its_token_until_it_is_over(harness):
    executor = harness.executor
    job = harness.submit(harness.submission("found", "runs long"))
    wait_for(harness, [job], "running")
    found = executor.find(harness.tokens[job.job_id], executor.folder)
    assert found is not None and (found.executor, found.job_id, found.folder) == (job.executor, job.job_id, job.folder)
    assert executor.find(secrets.token_hex(8), executor.folder) is None
    executor.cancel(job)
    wait_for(harness, [job], "done")
    assert executor.find(harness.tokens[job.job_id], executor.folder) is None


def test_one_poll_answers_for_every_job(harness):
    assert harness.executor.poll([]) == {}
    jobs = [harness.submit(harness.submission(f"many-{i}", "fails")) for i in range(2)]
    assert len({job.job_id for job in jobs}) == 2
    _, phases = wait_for(harness, jobs, "done")  # each poll is asked for both jobs at once
    for seen in phases:
        assert_in_order(seen)


__all__ = [name for name in dir() if name.startswith("test_")]  # what a test module takes with *
