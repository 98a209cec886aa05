"""The sweep driver's logic (slurm/sweep.py) over the fake executor (fake_executor.py), in milliseconds: every
run ends with a record, stale runs, a sweep resumed when partly done, Ctrl-C (during a poll and during a
submission), runs stuck pending, a scheduler that cannot be asked, runs refused before submission, jobs that
the run's real lock refuses. The real executors keep their own tests (tests/integration/)."""

from __future__ import annotations

import io
import json
import os
import signal
from pathlib import Path

import pytest
import tomli_w
from fake_executor import NODE, FakeScheduler, completed_record

from benchmark.config import TrainConfig
from benchmark.errors import McnnBenchError
from benchmark.record import RunRecord, Scheduler
from benchmark.train.run_lock import RunLock
from slurm import sweep
from slurm.executor import ExecutorError
from slurm.spec import SweepSpec, load_spec
from slurm.state import SweepState
from slurm.sweep import StaleRuns, SweepInterrupted, run_sweep, sweep_status

W1, W2, W4 = "n1-w1-b8", "n1-w2-b8", "n1-w4-b8"


@pytest.fixture
def scheduler(monkeypatch) -> FakeScheduler:
    """A fake scheduler registered as ``executor.kind = "fake"``, and a driver that does not sleep between polls."""
    fake = FakeScheduler()
    fake.register(monkeypatch)
    monkeypatch.setattr(sweep, "POLL_SECONDS", 0.0)
    return fake


def write_spec(folder: Path, workers_per_node=(1,), epochs: int = 1) -> SweepSpec:
    """A spec of synthetic runs on the fake executor, written as ``folder/fake.toml``, and loaded. Its runs are
    on the DDP engine, which setup.sh installs on every Python (the driver checks that a run's engine is
    installed before it submits anything, whatever executor runs it)."""
    raw = {
        "name": "fake",
        "data": {"source": "synthetic", "image_size": [64, 64]},
        "grid": {"nodes": [1], "workers_per_node": list(workers_per_node), "local_batch_size": [8]},
        "training": {"epochs": epochs, "steps_per_epoch": 2},
        "run": {"engine": "ddp"},
        "executor": {"kind": "fake"},
    }
    path = folder / "fake.toml"
    path.write_text(tomli_w.dumps(raw))
    return load_spec(path)


def record(results: Path, run_id: str) -> RunRecord:
    return RunRecord.read(results / "fake" / run_id)


def press_ctrl_c(*_) -> None:
    """What Ctrl-C in the terminal does to the driver."""
    os.kill(os.getpid(), signal.SIGINT)


@pytest.fixture
def terminal():
    """SIGINT raises KeyboardInterrupt for the test, as in a driver started from a terminal, whatever this
    process inherited (a shell without job control starts background commands with SIGINT ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_every_run_ends_with_a_record_of_how_it_went(scheduler, tmp_path):
    scheduler.script(W2, "fails")
    scheduler.script(W4, "fails with a record")
    out = io.StringIO()
    statuses = run_sweep(write_spec(tmp_path, (1, 2, 4)), tmp_path / "results", out=out)
    assert [(s.run_id, s.state) for s in statuses] == [(W1, "completed"), (W2, "failed"), (W4, "failed")]
    assert "[3/3 runs done]" in out.getvalue()
    results = tmp_path / "results"
    w1, w2, w4 = (scheduler.submissions(run_id)[0].job_id for run_id in (W1, W2, W4))
    assert record(results, W1).scheduler == Scheduler(
        kind="fake", job_id=w1, state="COMPLETED", elapsed_seconds=3.0, node_list=NODE
    )
    # a job that left no record: the driver records the run as failed, with the executor's reason
    config = results / "fake" / W2 / "config.json"
    assert statuses[1].reason == f"fake job {w2} failed: {config}: the trainer crashed"
    assert record(results, W2).failure.reason == statuses[1].reason
    assert (record(results, W2).scheduler.job_id, record(results, W2).scheduler.state) == (w2, "FAILED")
    # the trainer's own failed record is kept, the job's view merged into it
    assert record(results, W4).failure.reason == statuses[2].reason == "DataError: the trainer's own failure"
    assert record(results, W4).scheduler.job_id == w4
    assert all(SweepState(results / "fake").finished(run_id) for run_id in (W1, W2, W4))


def test_a_job_that_vanished_is_a_failed_run_with_the_reason(scheduler, tmp_path):
    scheduler.script(W1, "vanishes")
    (status,) = run_sweep(write_spec(tmp_path), tmp_path / "results", out=io.StringIO())
    job_id = scheduler.submissions(W1)[0].job_id
    assert status.state == "failed" and status.reason == f"fake job {job_id} vanished: the scheduler no longer knows it"
    assert record(tmp_path / "results", W1).scheduler == Scheduler(kind="fake", job_id=job_id)


def test_a_job_the_run_lock_refuses_leaves_the_holders_files_and_the_state_says_why(scheduler, tmp_path):
    spec, results = write_spec(tmp_path, (1, 2)), tmp_path / "results"
    # another process holds both runs' folders (this one, through the real lock): it still trains W1, and it
    # completes W2 while the driver's job for W2 is refused (its record written once the job was submitted)
    holders = {run_id: RunLock(results / "fake" / run_id, run_id) for run_id in (W1, W2)}
    for lock in holders.values():
        lock.acquire()

    def holder_completes(run_id: str) -> None:
        if run_id == W2:
            completed_record(TrainConfig.from_json(results / "fake" / W2 / "config.json")).write(results / "fake" / W2)

    scheduler.on_submit = holder_completes
    try:
        statuses = run_sweep(spec, results, out=io.StringIO())
        w1_job, w2_job = (scheduler.submissions(run_id)[0] for run_id in (W1, W2))
        assert w1_job.error and w2_job.error  # both were refused (their trainers wrote nothing)
        # W1: no failed record over the run its holder still trains; the status says why, naming the holder
        assert record(results, W1) is None
        assert statuses[0].state == "failed" and statuses[0].reason.startswith(
            f"fake job {w1_job.job_id} was refused: another process held the run's folder, and keeps its files: "
        )
        assert f"pid {os.getpid()}, " in statuses[0].reason and "already being trained" in statuses[0].reason
        state = SweepState(results / "fake")
        assert state.finished(W1) and f"pid {os.getpid()}, " in state.refusal(W1)
        # W2: the holder's completed record is left as it wrote it, without the refused job's scheduler section
        assert statuses[1].state == "completed" and state.refusal(W2)
        assert record(results, W2) == completed_record(TrainConfig.from_json(results / "fake" / W2 / "config.json"))
        # once W1's holder completes, its record is the run's; a sweep run again submits nothing
        completed_record(TrainConfig.from_json(results / "fake" / W1 / "config.json")).write(results / "fake" / W1)
    finally:
        for lock in holders.values():
            lock.release()
    assert [status.state for status in sweep_status(results / "fake")] == ["completed", "completed"]
    run_sweep(spec, results, out=io.StringIO())
    assert len(scheduler.jobs) == 2


def test_pending_runs_show_the_schedulers_reason_and_a_later_sweep_follows_them(scheduler, tmp_path):
    scheduler.script(W1, "pends")
    spec, results = write_spec(tmp_path), tmp_path / "results"
    run_sweep(spec, results, wait=False, out=io.StringIO())
    (status,) = sweep_status(results / "fake")
    assert (status.state, status.reason) == ("pending", "Resources")
    assert record(results, W1) is None  # status only reads
    out = io.StringIO()
    (status,) = run_sweep(spec, results, out=out)
    assert status.state == "completed" and f"{W1}: pending (job {status.job_id}), followed" in out.getvalue()
    assert len(scheduler.submissions(W1)) == 1 and SweepState(results / "fake").runs[W1]["attempt"] == 1


def test_stale_runs_are_refused_then_rerun_with_their_old_records_kept(scheduler, tmp_path):
    results = tmp_path / "results"
    run_sweep(write_spec(tmp_path, epochs=1), results, out=io.StringIO())
    first = (results / "fake" / W1 / "record.json").read_text()
    edited = write_spec(tmp_path, epochs=2)
    with pytest.raises(StaleRuns, match=rf"{W1} \(completed\): training.epochs: 1 -> 2") as info:
        run_sweep(edited, results, out=io.StringIO())
    assert "--rerun-stale" in str(info.value) and "--new-sweep" in str(info.value)
    assert len(scheduler.submissions(W1)) == 1 and (results / "fake" / W1 / "record.json").read_text() == first
    (status,) = sweep_status(results / "fake")
    assert status.stale == ("training.epochs: 1 -> 2",)

    (status,) = run_sweep(edited, results, rerun_stale=True, out=io.StringIO())
    assert status.state == "completed" and len(scheduler.submissions(W1)) == 2
    assert (results / "fake" / W1 / "attempts" / "record-1.json").read_text() == first
    assert record(results, W1).config.training.epochs == 2
    assert SweepState(results / "fake").runs[W1]["attempt"] == 2
    assert sweep_status(results / "fake")[0].stale == ()


def test_a_rerun_moves_nothing_from_under_a_process_that_trains_into_the_run_folder(scheduler, tmp_path, caplog):
    results = tmp_path / "results"
    run_sweep(write_spec(tmp_path, epochs=1), results, out=io.StringIO())
    folder = results / "fake" / W1
    first = (folder / "record.json").read_text()
    holder = RunLock(folder, W1)  # a process the driver does not know of trains into the folder
    holder.acquire()
    try:
        (status,) = run_sweep(write_spec(tmp_path, epochs=2), results, rerun_stale=True, out=io.StringIO())
    finally:
        holder.release()
    assert len(scheduler.submissions(W1)) == 1, "no second job while the folder is held"
    assert (folder / "record.json").read_text() == first and not (folder / "attempts").exists()
    assert f"run {W1}: not run again: " in caplog.text and "is already being trained into this folder" in caplog.text
    assert SweepState(results / "fake").submitting(W1) is None
    # once the holder has let go, the same command runs it again
    (status,) = run_sweep(write_spec(tmp_path, epochs=2), results, rerun_stale=True, out=io.StringIO())
    assert status.state == "completed" and len(scheduler.submissions(W1)) == 2
    assert (folder / "attempts" / "record-1.json").read_text() == first


def test_stale_runs_still_running_are_refused_even_with_rerun_stale(scheduler, tmp_path):
    scheduler.script(W1, "runs long")
    results = tmp_path / "results"
    run_sweep(write_spec(tmp_path, epochs=1), results, wait=False, out=io.StringIO())
    with pytest.raises(StaleRuns, match=rf"wait for {W1} to end, or cancel them"):
        run_sweep(write_spec(tmp_path, epochs=2), results, rerun_stale=True, out=io.StringIO())
    assert len(scheduler.submissions(W1)) == 1 and scheduler.cancelled() == []


def test_a_partly_done_sweep_submits_only_its_failed_runs_and_follows_the_running_ones(scheduler, tmp_path):
    scheduler.script(W2, "fails", "completes")
    scheduler.script(W4, "runs long", "completes")
    spec, results = write_spec(tmp_path, (1, 2, 4)), tmp_path / "results"
    run_sweep(spec, results, wait=False, out=io.StringIO())
    for _ in range(3):  # the jobs go on while no driver runs: W1 completes, W2 fails, W4 still runs
        sweep_status(results / "fake")
    assert [job.phase for job in scheduler.jobs.values()] == ["done", "done", "running"]
    long = scheduler.submissions(W4)[0]
    scheduler.on_poll = lambda ids: setattr(long, "cancelled", long.polls > 5)  # then W4's job is cancelled

    out = io.StringIO()
    statuses = run_sweep(spec, results, out=out)
    assert "1 of 3 runs to submit" in out.getvalue()
    assert f"{W4}: running (job {long.job_id}), followed" in out.getvalue()
    assert [len(scheduler.submissions(run_id)) for run_id in (W1, W2, W4)] == [1, 2, 1]
    assert [s.state for s in statuses] == ["completed", "completed", "failed"]
    assert statuses[2].reason == f"fake job {long.job_id} was cancelled"
    runs = SweepState(results / "fake").runs
    assert [runs[run_id]["attempt"] for run_id in (W1, W2, W4)] == [1, 2, 1]
    old = json.loads((results / "fake" / W2 / "attempts" / "record-1.json").read_text())
    assert old["status"] == "failed" and "the trainer crashed" in old["failure"]["reason"]


def test_ctrl_c_stops_a_foreground_executors_run_and_records_it(scheduler, monkeypatch, tmp_path, terminal):
    scheduler.register(monkeypatch, foreground=True)
    scheduler.script(W1, "runs long")
    scheduler.on_poll = lambda ids: press_ctrl_c() if len(scheduler.polls) == 2 else None
    results = tmp_path / "results"
    with pytest.raises(SweepInterrupted, match=f"interrupted: stopped {W1} and recorded it as failed"):
        run_sweep(write_spec(tmp_path, (1, 2)), results, out=io.StringIO())
    assert scheduler.cancelled() == [W1] and scheduler.submissions(W2) == []  # one run at a time
    stopped = record(results, W1)
    assert stopped.failure.reason == "interrupted by the user (Ctrl-C): the run was stopped"
    assert stopped.scheduler.state == "CANCELLED" and SweepState(results / "fake").finished(W1)


def test_ctrl_c_leaves_a_background_executors_jobs_running(scheduler, tmp_path, terminal):
    scheduler.script(W1, "runs long")
    scheduler.on_poll = lambda ids: press_ctrl_c() if len(scheduler.polls) == 2 else None
    results = tmp_path / "results"
    with pytest.raises(SweepInterrupted) as info:
        run_sweep(write_spec(tmp_path), results, out=io.StringIO())
    job_id = scheduler.submissions(W1)[0].job_id
    assert f"the fake jobs keep running: {W1} (job {job_id})" in str(info.value)
    assert scheduler.cancelled() == [] and record(results, W1) is None
    assert not SweepState(results / "fake").finished(W1)


@pytest.mark.parametrize("foreground", [True, False])
def test_ctrl_c_during_a_submission_takes_effect_once_the_job_is_saved(
    scheduler, monkeypatch, tmp_path, foreground, terminal
):
    scheduler.register(monkeypatch, foreground=foreground)
    scheduler.on_submit = press_ctrl_c
    results = tmp_path / "results"
    with pytest.raises(SweepInterrupted) as info:
        run_sweep(write_spec(tmp_path, (1, 2)), results, out=io.StringIO())
    job_id = scheduler.submissions(W1)[0].job_id
    assert SweepState(results / "fake").runs[W1]["job_id"] == job_id and scheduler.submissions(W2) == []
    if foreground:  # the job just submitted is stopped and recorded, like any other
        assert scheduler.cancelled() == [W1] and "interrupted by the user" in record(results, W1).failure.reason
    else:
        assert f"keep running: {W1} (job {job_id})" in str(info.value) and scheduler.cancelled() == []


def test_a_run_stuck_pending_is_cancelled_and_recorded_with_the_reason(scheduler, tmp_path):
    scheduler.script(W1, "stuck")
    (status,) = run_sweep(write_spec(tmp_path), tmp_path / "results", out=io.StringIO())
    reason = "pending for a reason that cannot clear by itself: PartitionDown; cancelled"
    assert (status.state, status.reason) == ("failed", reason)
    assert scheduler.cancelled() == [W1]
    stuck = record(tmp_path / "results", W1)
    assert stuck.failure.reason == reason and stuck.scheduler.state == "CANCELLED"


def test_while_the_scheduler_cannot_be_asked_runs_are_unknown_and_nothing_is_recorded(scheduler, tmp_path):
    spec, results = write_spec(tmp_path), tmp_path / "results"
    run_sweep(spec, results, wait=False, out=io.StringIO())
    job_id = scheduler.submissions(W1)[0].job_id
    scheduler.unreachable = "the fake controller is restarting"
    (status,) = sweep_status(results / "fake")
    assert (status.state, status.reason) == (
        "unknown",
        f"cannot ask the fake executor about job {job_id}: the fake controller is restarting",
    )
    (status,) = run_sweep(spec, results, wait=False, out=io.StringIO())
    assert status.state == "unknown" and record(results, W1) is None and len(scheduler.submissions(W1)) == 1
    scheduler.unreachable = None
    (status,) = run_sweep(spec, results, out=io.StringIO())
    assert status.state == "completed" and len(scheduler.submissions(W1)) == 1


def test_runs_the_executor_refuses_are_refused_before_anything_is_submitted(scheduler, tmp_path):
    scheduler.refuse = "the fake cluster cannot hold these runs"
    with pytest.raises(ExecutorError, match="cannot hold these runs") as info:
        run_sweep(write_spec(tmp_path), tmp_path / "results", out=io.StringIO())
    assert isinstance(info.value, McnnBenchError) and scheduler.jobs == {}
    assert not (tmp_path / "results" / "fake" / "sweep.json").exists()


def fail_to_save(*_) -> None:
    """A driver that stops right after the scheduler took the job, before it saves it (a full disk, a kill)."""
    raise OSError(28, "No space left on device")


def test_a_job_the_driver_never_saved_is_adopted_by_its_token_not_submitted_again(scheduler, tmp_path):
    spec, results = write_spec(tmp_path), tmp_path / "results"
    scheduler.script(W1, "runs long", "completes")
    scheduler.on_submit = fail_to_save
    with pytest.raises(OSError, match="No space left"):
        run_sweep(spec, results, out=io.StringIO())
    (job,) = scheduler.submissions(W1)
    (status,) = sweep_status(results / "fake")
    assert status.state == "submitting" and f"fake job {job.job_id} carries its token" in status.reason
    scheduler.on_submit = None
    out = io.StringIO()
    run_sweep(spec, results, wait=False, out=out)
    assert f"{W1}: adopted fake job {job.job_id}" in out.getvalue()
    assert scheduler.submissions(W1) == [job] and SweepState(results / "fake").runs[W1]["job_id"] == job.job_id
    assert SweepState(results / "fake").runs[W1]["fingerprint"]  # what the submission would have saved


def test_a_submission_that_never_started_is_submitted_again_and_the_old_record_kept(scheduler, tmp_path):
    spec, results = write_spec(tmp_path), tmp_path / "results"
    scheduler.script(W1, "fails", "completes")
    (status,) = run_sweep(spec, results, out=io.StringIO())
    assert status.state == "failed"
    state = SweepState(results / "fake")
    state.note_submitting(W1, "fake", "0123456789abcdef", tmp_path)  # a driver that stopped before submitting
    assert (results / "fake" / W1 / "record.json").exists()  # the record stays until the new job is saved
    (status,) = run_sweep(spec, results, out=io.StringIO())
    assert status.state == "completed" and len(scheduler.submissions(W1)) == 2
    assert (results / "fake" / W1 / "attempts" / "record-1.json").exists()


def test_a_job_the_scheduler_does_not_know_is_failed_after_a_bounded_number_of_polls(scheduler, tmp_path):
    scheduler.script(W1, "unknown")
    results = tmp_path / "results"
    run_sweep(write_spec(tmp_path), results, wait=False, out=io.StringIO())
    (status,) = sweep_status(results / "fake")
    assert status.state == "unknown" and "unknown to the fake scheduler" in status.reason
    (status,) = run_sweep(write_spec(tmp_path), results, out=io.StringIO())
    assert status.state == "failed" and f"given up after {sweep.UNKNOWN_POLLS} polls" in status.reason
    assert len(scheduler.polls) <= sweep.UNKNOWN_POLLS + 2


def test_a_sweep_state_of_another_sweep_is_refused_naming_both(scheduler, tmp_path):
    results = tmp_path / "results"
    run_sweep(write_spec(tmp_path), results, out=io.StringIO())
    other = results / "other"
    other.mkdir()
    (other / "sweep.json").write_bytes((results / "fake" / "sweep.json").read_bytes())
    with pytest.raises(McnnBenchError, match=r"state of sweep 'fake', not of sweep 'other'") as info:
        sweep_status(other)
    assert str(other / "sweep.json") in str(info.value)
    (other / "sweep.json").write_bytes(b'{"runs": {}, "name": "\xff"}')
    with pytest.raises(McnnBenchError, match="sweep.json: sweep state is not valid UTF-8 JSON"):
        sweep_status(other)
