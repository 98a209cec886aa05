"""Sweep state bookkeeping (pure logic on files; no job is run)."""

import json

import pytest

from benchmark.config import TrainConfig
from benchmark.record import Failure, RunRecord
from slurm.executor import Job
from slurm.state import SweepState, recorded_status


def config(tmp_path):
    return TrainConfig.from_flat(
        source="synthetic",
        image_size=(64, 64),
        epochs=1,
        steps_per_epoch=1,
        results_dir=str(tmp_path),
        sweep="s",
        run_id="r",
        nodes=2,
        workers_per_node=4,
    )


def failed(tmp_path, reason):
    return RunRecord.failed(config(tmp_path), Failure(reason=reason)).write(config(tmp_path).run_dir)


def test_a_record_cut_short_is_a_failed_run_naming_the_file(tmp_path):
    failed(tmp_path, "any")
    path = tmp_path / "s" / "r" / "record.json"
    path.write_text(path.read_text()[:40])
    status = recorded_status(SweepState(tmp_path / "s"), "r")
    assert status.state == "failed" and str(path) in status.reason and "cut short" in status.reason


def test_a_failed_record_is_archived_before_a_new_attempt(tmp_path):
    state = SweepState(tmp_path / "s")
    state.note_submitted("r", Job("slurm", "7", str(tmp_path)))
    failed(tmp_path, "SLURM job 7 ended CANCELLED")
    (archived,) = state.archive("r", "record.json", "checkpoints")  # no checkpoints: nothing to move
    assert archived == tmp_path / "s" / "r" / "attempts" / "record-1.json"
    assert json.loads(archived.read_text())["failure"]["reason"] == "SLURM job 7 ended CANCELLED"
    assert json.loads(archived.read_text())["topology"]["workers"] == 8
    assert recorded_status(state, "r") is None
    state.note_submitted("r", Job("slurm", "8", str(tmp_path)))
    assert SweepState(tmp_path / "s").runs["r"]["attempt"] == 2


@pytest.mark.parametrize(
    "content, problem",
    [
        ("[]", "must be an object"),
        (
            '{"runs": {"n1": {"executor": "slurm", "job_id": 7, "submitit_folder": "x", "attempt": 1}}}',
            "runs.n1.job_id: must be a string, got 7",
        ),
        (
            '{"runs": {"n1": {"executor": "pbs", "job_id": "7", "submitit_folder": "x", "attempt": 1}}}',
            "'pbs' is not one of local, slurm",
        ),
    ],
)
def test_a_sweep_state_of_the_wrong_shape_is_a_clear_error(tmp_path, content, problem):
    (tmp_path / "sweep.json").write_text(content)
    with pytest.raises(ValueError, match="sweep.json: sweep state is malformed") as info:
        SweepState(tmp_path)
    assert problem in str(info.value)


def test_a_corrupt_sweep_state_is_a_clear_error(tmp_path):
    (tmp_path / "sweep.json").write_text("{")
    with pytest.raises(ValueError, match="sweep.json: sweep state is not valid UTF-8 JSON"):
        SweepState(tmp_path)
