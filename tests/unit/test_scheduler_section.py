"""The run record's ``scheduler`` section: records of schema version 2 (SLURM's view under ``slurm``) still
load, the job environment's view and the executor's merge, and a job's error is read from its traceback."""

from __future__ import annotations

import json
import traceback
from pathlib import Path

import pytest

from benchmark.record import RecordError, RunRecord, Scheduler, SlurmJob
from benchmark.util.provenance import scheduler_job
from slurm.executor.base import raised

#: A record a real SLURM sweep wrote before the scheduler section existed (job 1 on the development cluster).
OLD = Path(__file__).resolve().parent / "data" / "record-v2-slurm.json"


def without_new_nulls(new: dict, old: dict) -> dict:
    """``new`` without the keys ``old`` lacks whose value is null, in every nested object (the fields added since
    ``old`` was written, null for it)."""
    return {
        key: without_new_nulls(value, old[key]) if isinstance(value, dict) and isinstance(old.get(key), dict) else value
        for key, value in new.items()
        if key in old or value is not None
    }


def test_a_record_of_schema_version_2_loads_with_slurms_view_as_its_scheduler_section(tmp_path, check_record):
    old = json.loads(OLD.read_text())
    assert old["schema_version"] == 2 and "scheduler" not in old
    record = RunRecord.load(OLD)
    assert record.schema_version == 3
    assert record.scheduler == Scheduler(
        kind="slurm",
        job_id=old["slurm"]["job_id"],
        state="COMPLETED",
        elapsed_seconds=old["slurm"]["elapsed_seconds"],
        node_list="node1",
        slurm=SlurmJob(
            nodes=1,
            tasks_per_node=1,
            cpus_per_task=1,
            partition="debug",
            queue_wait_seconds=old["slurm"]["queue_wait_seconds"],
        ),
    )
    assert record.elapsed_seconds == old["slurm"]["elapsed_seconds"]
    # written again, it is a record of the published schema, the same in every other section (its config
    # gains the settings added since, at their defaults; its peak names the framework that measured it,
    # TensorFlow, whose version it kept under ``tensorflow``; the fields added since that a CPU run has not, the
    # GPUs' memory and models, are null)
    again = without_new_nulls(check_record(record.write(tmp_path)), old)
    kept = [key for key in old if key not in ("schema_version", "slurm", "config", "analytic")]
    assert "slurm" not in again and {key: again[key] for key in kept} == {key: old[key] for key in kept}
    peak = {key: value for key, value in old["analytic"]["peak"].items() if key != "tensorflow"}
    peak |= {"framework": "tensorflow", "framework_version": old["analytic"]["peak"]["tensorflow"]}
    assert again["analytic"] == {**old["analytic"], "peak": peak}
    assert {
        section: {key: again["config"][section][key] for key in values} for section, values in old["config"].items()
    } == old["config"]


def test_a_version_2_record_off_slurm_has_no_scheduler_section(tmp_path):
    old = {**json.loads(OLD.read_text()), "slurm": None}
    (tmp_path / "record.json").write_text(json.dumps(old))
    assert RunRecord.load(tmp_path / "record.json").scheduler is None


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"scheduler": None}, "slurm: unknown key"),  # both: the old key is not taken for the new one
        ({"schema_version": 3}, "slurm: unknown key"),  # a version 3 record has no slurm section
        ({"slurm": {"job_id": "1", "cluster": "x"}}, "scheduler.slurm.cluster: unknown key"),
    ],
)
def test_a_slurm_section_that_cannot_be_read_is_named(tmp_path, change, problem):
    (tmp_path / "record.json").write_text(json.dumps({**json.loads(OLD.read_text()), **change}))
    with pytest.raises(RecordError, match=problem):
        RunRecord.load(tmp_path / "record.json")


def test_the_job_environments_view_and_the_executors_merge(monkeypatch):
    for name, value in {
        "SLURM_JOB_ID": "7",
        "SLURM_JOB_NODELIST": "node[1-2]",
        "SLURM_JOB_NUM_NODES": "2",
        "SLURM_NTASKS_PER_NODE": "2(x2)",
        "SLURM_CPUS_PER_TASK": "4",
        "SLURM_JOB_PARTITION": "debug",
    }.items():
        monkeypatch.setenv(name, value)
    seen = scheduler_job()
    assert seen == Scheduler(
        kind="slurm",
        job_id="7",
        node_list="node[1-2]",
        slurm=SlurmJob(nodes=2, tasks_per_node=None, cpus_per_task=4, partition="debug"),
    )
    sacct = Scheduler(
        kind="slurm",
        job_id="7",
        state="COMPLETED",
        elapsed_seconds=60.0,
        node_list="node[1-2]",
        slurm=SlurmJob(nodes=2, tasks_per_node=2, queue_wait_seconds=1.0),
    )
    assert seen.merged(sacct) == Scheduler(
        kind="slurm",
        job_id="7",
        state="COMPLETED",
        elapsed_seconds=60.0,
        node_list="node[1-2]",
        slurm=SlurmJob(nodes=2, tasks_per_node=2, cpus_per_task=4, partition="debug", queue_wait_seconds=1.0),
    )
    local = Scheduler(kind="local", job_id="4242", state="COMPLETED", node_list="vm")
    assert seen.merged(local) == local  # another scheduler ran the job: its view replaces the environment's
    monkeypatch.delenv("SLURM_JOB_ID")
    assert scheduler_job() is None


def _traceback_of(action) -> str:
    try:
        action()
    except Exception as exc:  # noqa: BLE001 (any exception, formatted as a job would log it)
        return "".join(traceback.format_exception(exc))
    raise AssertionError("no exception")


def _chained():
    try:
        {}["config"]
    except KeyError as exc:
        raise ValueError(
            "horovodrun exited with status 2; end of workers.log:\n  File x\nTraceback (most "
            "recent call last):\nsettings: bad"
        ) from exc


def test_a_jobs_error_is_the_exception_that_ends_its_traceback():
    assert raised(_traceback_of(lambda: 1 / 0)) == "ZeroDivisionError: division by zero"
    # of chained exceptions the last; a message of several lines (a log's tail, say) is kept whole
    assert raised(_traceback_of(_chained)) == (
        "ValueError: horovodrun exited with status 2; end of workers.log:\n"
        "  File x\nTraceback (most recent call last):\nsettings: bad"
    )
    assert (
        raised("Job 12 has not produced any output (state: CANCELLED)\n")
        == "Job 12 has not produced any output (state: CANCELLED)"
    )
    assert raised("") == ""
