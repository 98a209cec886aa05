"""The executor contract (tests/executor_contract.py) over the fake executor (fake_executor.py), and what
the fake adds to it: one scheduler call per poll, and its scripted fates."""

from __future__ import annotations

import pytest
from executor_contract import *  # noqa: F403 (the contract's tests)
from executor_contract import Fate, Harness, Submission, wait_for
from fake_executor import FakeScheduler

from benchmark.config import TrainConfig
from slurm.executor import Run


class FakeHarness(Harness):
    """The contract's runs on a fake scheduler (the fake's fates are named as the contract's), in one sweep
    under ``results``."""

    def __init__(self, scheduler: FakeScheduler, results):
        executor = scheduler.executor()
        super().__init__(executor(results / "submitit", executor.Settings(kind="fake")), timeout=1.0, pause=0.0)
        self.scheduler, self.results = scheduler, results

    def submission(self, name: str, fate: Fate) -> Submission:
        config = TrainConfig.from_flat(
            source="synthetic",
            image_size=(64, 64),
            epochs=1,
            steps_per_epoch=2,
            results_dir=str(self.results),
            sweep="contract",
            run_id=name,
            nodes=1,
            workers_per_node=1,
        )
        run = Run(name, 1, 1, config)
        self.scheduler.script(name, fate)
        prepared = self.executor.prepare(run)
        return Submission(run, prepared, prepared.write_json(prepared.run_dir / "config.json"))


@pytest.fixture
def scheduler() -> FakeScheduler:
    return FakeScheduler()


@pytest.fixture
def harness(scheduler, tmp_path) -> FakeHarness:
    return FakeHarness(scheduler, tmp_path)


def test_a_poll_is_one_call_to_the_scheduler(harness, scheduler):
    jobs = [harness.submit(harness.submission(f"s{i}", "completes")) for i in range(3)]
    views, _ = wait_for(harness, jobs, "done")
    assert all(ids == [job.job_id for job in jobs] for ids in scheduler.polls)
    assert len(scheduler.polls) == 3  # pending, running, done
    assert all(view.phase == "done" for view in views.values())
