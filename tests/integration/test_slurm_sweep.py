"""SLURM sweeps against the real development cluster (slurmctld, slurmd per node, slurmdbd): Horovod over
MPI across nodes, failed and cancelled jobs as failed rows, re-runs that submit only what is missing, and
the dry-run sbatch script pinned by a golden file and submitted by hand."""

import datetime
import io
import json
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from terminal import as_foreground_job

from benchmark.config import RunSettings
from benchmark.record import RunRecord
from slurm import sweep
from slurm.cluster import SlurmError, job_info
from slurm.display import format_status
from slurm.executor import Job
from slurm.spec import load_spec, parse_spec
from slurm.state import SweepState
from slurm.sweep import dry_run, make_executor, run_sweep, sweep_status

ROOT = Path(__file__).resolve().parents[2]


def read_record(run_dir: Path) -> dict:
    """The run's record, validated by the record model, as JSON data."""
    return RunRecord.read(run_dir).model_dump(mode="json")


GOLDEN = ROOT / "tests" / "integration" / "golden" / "devcluster-scaling-n2-w2-b8.sbatch"
pytestmark = pytest.mark.slurm


#: The engine of a run that names none (Horovod's).
DEFAULT = RunSettings.model_fields["engine"].default


def spec(cells: Path, name: str, nodes=(2,), wpn=(2,), epochs=1, steps=3, size=64, engine=DEFAULT, **executor):
    return parse_spec(raw_spec(cells, name, nodes, wpn, epochs, steps, size, engine, **executor), ROOT / f"{name}.toml")


def raw_spec(
    cells: Path, name: str, nodes=(2,), wpn=(2,), epochs=1, steps=3, size=64, engine=DEFAULT, **executor
) -> dict:
    return {
        "name": name,
        "data": {"source": "bbbc021-cells", "dir": str(cells), "image_size": [size, size], "val_fraction": 0.25},
        "grid": {"nodes": list(nodes), "workers_per_node": list(wpn), "local_batch_size": [8]},
        "run": {"engine": engine},
        "training": {"epochs": epochs, "steps_per_epoch": steps, "warmup_steps": 1, "target_top1": 0.5},
        "learning_rate": {"base_lr": 0.01},
        "executor": {"kind": "slurm", "partition": "debug", "time_minutes": 20, **executor},
    }


@pytest.fixture(scope="module")
def cells(shared_data):
    return shared_data / "bbbc021" / "cells"


@pytest.fixture(scope="module")
def two_by_two(slurm_cluster, cells, tmp_path_factory):
    results = tmp_path_factory.mktemp("slurm")
    statuses = run_sweep(spec(cells, "mpi"), results)
    return results, statuses, read_record(results / "mpi" / "n2-w2-b8")


@pytest.mark.horovod
def test_two_nodes_two_workers_each_over_mpi(two_by_two):
    _, statuses, record = two_by_two
    assert [s.state for s in statuses] == ["completed"], statuses
    assert record["topology"] == {
        "nodes": 2,
        "workers_per_node": 2,
        "workers": 4,
        "local_batch_size": 8,
        "global_batch_size": 32,
    }
    assert record["provenance"]["horovod_controller"] == "mpi"
    hosts = record["provenance"]["hostnames"]
    # ranks 0,1 on one node and 2,3 on another (SLURM's block distribution), both cluster nodes
    assert hosts[0] == hosts[1] != hosts[2] == hosts[3]
    assert set(hosts) <= {f"node{i}" for i in range(1, 9)}


@pytest.mark.horovod
def test_the_record_follows_the_published_schema(two_by_two, check_record):
    results = two_by_two[0]
    check_record(results / "mpi" / "n2-w2-b8" / "record.json")


@pytest.mark.horovod
def test_workers_on_both_nodes_end_with_identical_weights(two_by_two):
    model = two_by_two[2]["model"]
    final = model["final_weights_sha256_per_rank"]
    assert len(final) == 4 and len(set(final)) == 1 and final[0] != model["initial_weights_sha256"]


@pytest.mark.horovod
def test_record_has_slurms_view(two_by_two):
    scheduler = two_by_two[2]["scheduler"]
    slurm = scheduler["slurm"]
    assert scheduler["kind"] == "slurm" and scheduler["state"] == "COMPLETED"
    assert slurm["nodes"] == 2 and slurm["tasks_per_node"] == 2 and slurm["partition"] == "debug"
    assert scheduler["job_id"] and scheduler["node_list"].startswith("node")
    assert slurm["queue_wait_seconds"] >= 0 and scheduler["elapsed_seconds"] > 0
    t = two_by_two[2]["throughput"]
    assert t["images"] == 4 * t["timed_steps"] * 8
    assert t["images_per_second"] == pytest.approx(t["images"] / t["window_seconds"])


@pytest.mark.horovod
def test_rerun_submits_only_missing_runs(two_by_two, cells):
    results, _, record = two_by_two
    first_job = record["scheduler"]["job_id"]
    statuses = run_sweep(spec(cells, "mpi", nodes=(1, 2), wpn=(2,)), results)
    by_id = {s.run_id: s for s in statuses}
    assert by_id["n2-w2-b8"].state == "completed" and by_id["n1-w2-b8"].state == "completed"
    state = SweepState(results / "mpi")
    assert state.runs["n2-w2-b8"]["job_id"] == first_job and state.runs["n2-w2-b8"]["attempt"] == 1
    assert state.runs["n1-w2-b8"]["attempt"] == 1


@pytest.mark.horovod
def test_job_that_raises_is_a_failed_row(slurm_cluster, cells, tmp_path, check_record):
    # cells whose image array holds 3 crops for the index's 2,279 rows: the check of the files' headers before
    # submission passes, the job's trainer raises DataError when it reads them whole
    empty = tmp_path / "no-cells"
    empty.mkdir()
    (empty / "index.csv").write_text((cells.parent / "cells" / "index.csv").read_text())
    np.save(empty / "images.npy", np.zeros((3, 8, 8, 3), np.uint16))
    statuses = run_sweep(spec(empty, "raises", nodes=(1,), wpn=(1,)), tmp_path)
    assert statuses[0].state == "failed"
    assert "DataError" in statuses[0].reason and "no-cells" in statuses[0].reason
    record = read_record(tmp_path / "raises" / "n1-w1-b8")
    assert record["status"] == "failed" and record["scheduler"]["state"] == "FAILED"
    check_record(tmp_path / "raises" / "n1-w1-b8" / "record.json")
    # a failed run is submitted again on the next sweep, and its old record is kept
    (empty / "x").write_text("")
    run_sweep(spec(empty, "raises", nodes=(1,), wpn=(1,)), tmp_path)
    assert (tmp_path / "raises" / "n1-w1-b8" / "attempts" / "record-1.json").exists()
    assert SweepState(tmp_path / "raises").runs["n1-w1-b8"]["attempt"] == 2


@pytest.mark.horovod
def test_cancelled_job_is_a_failed_row_and_does_not_hang(slurm_cluster, cells, tmp_path, check_record):
    long = spec(cells, "cancel", nodes=(1,), wpn=(1,), epochs=50, steps=50)
    run_sweep(long, tmp_path, wait=False)
    job_id = SweepState(tmp_path / "cancel").runs["n1-w1-b8"]["job_id"]
    deadline = time.time() + 60
    while (job_info(job_id) or {}).get("state") not in ("RUNNING",) and time.time() < deadline:
        time.sleep(1)
    subprocess.run(["scancel", job_id], check=True)
    state_before = (tmp_path / "cancel" / "sweep.json").read_text()
    deadline = time.time() + 60
    statuses = sweep_status(tmp_path / "cancel")
    while statuses[0].state != "failed" and time.time() < deadline:
        time.sleep(2)
        statuses = sweep_status(tmp_path / "cancel")
    assert statuses[0].state == "failed"
    assert "CANCELLED" in statuses[0].reason
    # status only reads: the driver records the ended job
    record = tmp_path / "cancel" / "n1-w1-b8" / "record.json"
    assert not record.exists() and (tmp_path / "cancel" / "sweep.json").read_text() == state_before
    (settled,) = run_sweep(long, tmp_path, submit=False)
    assert settled.state == "failed" and "CANCELLED" in settled.reason
    assert check_record(record)["scheduler"]["state"] == "CANCELLED"
    assert SweepState(tmp_path / "cancel").finished("n1-w1-b8")


def scontrol(*args: str) -> None:
    subprocess.run(["scontrol", "update", *args], check=True, capture_output=True, timeout=30)


def wait_for_node(node: str, timeout: float = 90) -> None:
    """Wait until ``node`` answers and is idle again (after a resume it is briefly not responding)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = subprocess.run(["sinfo", "-h", "-n", node, "-o", "%t"], capture_output=True, text=True).stdout
        if state.strip() == "idle":
            return
        time.sleep(1)
    raise AssertionError(f"{node} did not come back: {state.strip()}")


@pytest.mark.horovod
def test_a_drained_node_does_not_count_as_capacity(slurm_cluster, cells, tmp_path):
    scontrol("nodename=node4", "state=drain", "reason=mcnn-bench-test")
    try:
        with pytest.raises(SlurmError, match=r"asks for 4 nodes, partition 'debug' has 3 usable of 4; node4 is drai"):
            run_sweep(spec(cells, "drained", nodes=(4,), wpn=(1,)), tmp_path)
    finally:
        scontrol("nodename=node4", "state=resume")
        wait_for_node("node4")
    assert not (tmp_path / "drained" / "sweep.json").exists()


@pytest.mark.horovod
def test_runs_stuck_pending_show_why_and_are_cancelled(slurm_cluster, cells, tmp_path, monkeypatch):
    stuck = spec(cells, "stuck", nodes=(1, 2), wpn=(1,), max_pending_minutes=0.05)
    out = io.StringIO()
    scontrol("partitionname=debug", "state=down")
    try:
        run_sweep(stuck, tmp_path, wait=False, out=out)
        assert "partition 'debug' is down now" in out.getvalue()
        # status asks SLURM once for all jobs: one sacct call, and one squeue call for the pending reasons
        calls = tmp_path / "calls.log"
        shims = tmp_path / "shims"
        shims.mkdir()
        for command in ("sacct", "squeue"):
            (shims / command).write_text(f'#!/bin/sh\necho {command} >> {calls}\nexec {shutil.which(command)} "$@"\n')
            (shims / command).chmod(0o755)
        with monkeypatch.context() as patch:
            patch.setenv("PATH", f"{shims}:{os.environ['PATH']}")
            statuses = sweep_status(tmp_path / "stuck")
        assert sorted(calls.read_text().split()) == ["sacct", "squeue"]
        assert [(s.state, s.reason) for s in statuses] == [("pending", "PartitionDown")] * 2
        assert "PartitionDown" in format_status(statuses)
        statuses = run_sweep(stuck, tmp_path, submit=False, out=io.StringIO())
    finally:
        scontrol("partitionname=debug", "state=up")
    for status in statuses:
        assert status.state == "failed" and "for a reason that cannot clear by itself: PartitionDown" in status.reason
        record = read_record(tmp_path / "stuck" / status.run_id)
        assert "max_pending_minutes" in record["failure"]["reason"] and record["scheduler"]["job_id"] == status.job_id
        assert job_info(status.job_id)["state"] == "CANCELLED"


@pytest.mark.horovod
def test_ctrl_c_leaves_slurm_jobs_running_and_the_next_sweep_waits_for_them(slurm_cluster, cells, tmp_path):
    spec_path = tmp_path / "interrupt.toml"
    spec_path.write_text(tomli_w.dumps(raw_spec(cells, "interrupt", nodes=(1,), wpn=(1,), epochs=2, steps=3)))
    driver = subprocess.Popen(
        [sys.executable, "-m", "mcnn_bench", "sweep", str(spec_path)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=as_foreground_job,
    )
    state = tmp_path / "results" / "interrupt" / "sweep.json"
    deadline = time.time() + 60
    while not (state.exists() and json.loads(state.read_text())["runs"]) and time.time() < deadline:
        time.sleep(0.2)
    driver.send_signal(signal.SIGINT)
    _, err = driver.communicate(timeout=60)
    assert driver.returncode == 130, err
    assert "the slurm jobs keep running: n1-w1-b8 (job" in err and "Traceback" not in err
    job_id = SweepState(tmp_path / "results" / "interrupt").runs["n1-w1-b8"]["job_id"]
    deadline = time.time() + 30
    while job_info(job_id) is None and time.time() < deadline:  # accounting learns of a job a moment later
        time.sleep(0.5)
    assert job_info(job_id)["state"] in ("PENDING", "RUNNING", "COMPLETED")
    out = io.StringIO()
    (status,) = run_sweep(load_spec(spec_path), tmp_path / "results", out=out)
    assert status.state == "completed" and "n1-w1-b8: " in out.getvalue() and "followed" in out.getvalue()
    assert read_record(tmp_path / "results" / "interrupt" / "n1-w1-b8")["scheduler"]["job_id"] == job_id
    assert SweepState(tmp_path / "results" / "interrupt").runs["n1-w1-b8"]["attempt"] == 1


@pytest.mark.horovod
def test_cluster_too_small_is_refused_before_submission(slurm_cluster, cells, tmp_path):
    with pytest.raises(SlurmError, match="asks for 8 nodes, partition 'debug' has [0-9] usable of 4"):
        run_sweep(spec(cells, "big", nodes=(8,)), tmp_path)
    with pytest.raises(SlurmError, match="4 workers per node x 1 CPUs per task = 4 CPUs per node"):
        run_sweep(spec(cells, "wide", nodes=(1,), wpn=(4,)), tmp_path)
    assert not (tmp_path / "big" / "sweep.json").exists()


def _dry_run_script(results: Path) -> str:
    dry_run(load_spec(ROOT / "slurm" / "examples" / "devcluster-scaling.toml"), results)
    return (results / "devcluster-scaling" / "n2-w2-b8" / "job.sbatch").read_text()


def test_dry_run_sbatch_matches_golden_file(tmp_path):
    text = _dry_run_script(tmp_path)
    text = text.replace(str(tmp_path), "{RESULTS}").replace(shlex.quote(sys.executable), "{PYTHON}")
    assert text == GOLDEN.read_text()


@pytest.mark.horovod
def test_dry_run_script_runs_with_plain_sbatch(slurm_cluster, tmp_path):
    _dry_run_script(tmp_path)
    run_dir = tmp_path / "devcluster-scaling" / "n1-w2-b8"
    # the example trains for 3 full epochs; a short version of the same script is enough here
    config = run_dir / "config.dry-run.json"
    config.write_text(config.read_text().replace('"steps_per_epoch": null', '"steps_per_epoch": 2'))
    done = subprocess.run(
        ["sbatch", "--parsable", "--wait", str(run_dir / "job.sbatch")], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    record = read_record(run_dir)
    assert record["status"] == "completed" and record["topology"]["workers"] == 2
    assert record["provenance"]["horovod_controller"] == "mpi"


def _manifests(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "checkpoints").glob("ckpt-*.json"))


#: The engine of the time-limit, requeue and node-failure tests: they test SLURM's side (the signal, the requeue,
#: the resume from a checkpoint), which is the same for every engine, and the DDP engine starts in seconds where the
#: Horovod engine takes tens; each engine's own stop and resume is tested in test_horovod.py and test_ddp.py.
RELIABILITY = "ddp"


def _wait(predicate, what: str, timeout: float = 180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


#: The time-limit test's runs: two workers on cells padded to 128x128 for LONG_EPOCHS epochs of as many steps as
#: this machine trains in TRAIN_SECONDS (timed by a short run first), so that training outlasts the signal of a
#: LIMIT_MINUTES time limit on a fast machine and a slow one alike: submitit asks for USR2 90 s before the limit,
#: and slurmctld, which checks time limits every 30 s, sends it 30-60 s after the start (sbatch(1), --signal),
#: when a run has started training (a signal that comes before the first step stops it there all the same).
LONG_EPOCHS, LONG_SIZE, TRAIN_SECONDS, LIMIT_MINUTES = 4, 128, 65, 2


@pytest.fixture(scope="module")
def long_run(slurm_cluster, cells, tmp_path_factory) -> dict:
    """The time-limit test's run settings, with steps per epoch from this machine's mean step time."""
    results = tmp_path_factory.mktemp("calibrate")
    (status,) = run_sweep(
        spec(cells, "calibrate", nodes=(1,), wpn=(2,), epochs=1, steps=15, size=LONG_SIZE, engine=RELIABILITY), results
    )
    assert status.state == "completed", status
    throughput = read_record(results / "calibrate" / "n1-w2-b8")["throughput"]
    step_seconds = throughput["window_seconds"] / throughput["timed_steps"]  # input waits included
    return {
        "epochs": LONG_EPOCHS,
        "steps": math.ceil(TRAIN_SECONDS / LONG_EPOCHS / step_seconds),
        "size": LONG_SIZE,
        "engine": RELIABILITY,
    }


@pytest.mark.ddp
def test_a_run_past_its_time_limit_is_requeued_and_resumes(long_run, cells, tmp_path, check_record):
    """SLURM's time limit, submitit's signal before it, the requeue and the resume from the signal's checkpoint.
    That a resumed run ends with the weights of an uninterrupted one is shown by each engine's stop-and-resume
    test (tests/integration/test_horovod.py, test_ddp.py), without SLURM's minutes of waiting."""
    limited = spec(cells, "limit", nodes=(1,), wpn=(2,), **long_run, time_minutes=LIMIT_MINUTES, max_requeues=10)
    run_sweep(limited, tmp_path, wait=False)
    job_id = SweepState(tmp_path / "limit").runs["n1-w2-b8"]["job_id"]
    _wait(lambda: (job_info(job_id) or {}).get("requeues"), "the job to be requeued at its time limit", timeout=600)
    # once is enough: the rest of the run need not be cut into more 2-minute pieces on a slow machine
    subprocess.run(["scontrol", "update", f"JobId={job_id}", "TimeLimit=20"], check=True, timeout=30)
    (status,) = run_sweep(limited, tmp_path, submit=False)
    assert status.state == "completed", status
    record = check_record(tmp_path / "limit" / "n1-w2-b8" / "record.json")
    resumes = record["resumes"]
    assert resumes and resumes["count"] >= 1 and resumes["events"][0]["reason"] == "signal", resumes
    requeues = record["scheduler"]["requeues"]  # SLURM's view: each requeue, by submitit at the time limit
    assert requeues and all(r["state"] == "REQUEUED" and r["started_at"] for r in requeues), requeues
    assert [e["epoch"] for e in record["epochs"]] == list(range(1, LONG_EPOCHS + 1))
    assert record["scheduler"]["job_id"] == SweepState(tmp_path / "limit").runs["n1-w2-b8"]["job_id"]
    final = record["model"]["final_weights_sha256_per_rank"]
    assert len(final) == 2 and final[0] == final[1] != record["model"]["initial_weights_sha256"]
    # time to train counts training time only: less than the wall time from start to finish
    wall = datetime.datetime.fromisoformat(record["provenance"]["finished_at"]) - datetime.datetime.fromisoformat(
        record["provenance"]["started_at"]
    )
    assert record["epochs"][-1]["elapsed_seconds"] < wall.total_seconds() - resumes["wall_seconds_lost"] + 1


@pytest.mark.ddp
def test_scontrol_requeue_resumes_and_a_checkpoint_cut_short_falls_back(slurm_cluster, cells, tmp_path, check_record):
    run = spec(cells, "requeue", nodes=(1,), wpn=(1,), epochs=6, steps=30, engine=RELIABILITY)
    run_sweep(run, tmp_path, wait=False)
    run_dir = tmp_path / "requeue" / "n1-w1-b8"
    job_id = SweepState(tmp_path / "requeue").runs["n1-w1-b8"]["job_id"]
    _wait(lambda: len(_manifests(run_dir)) >= 2, "two periodic checkpoints")
    subprocess.run(["scontrol", "requeuehold", job_id], check=True, timeout=30)
    _wait(lambda: (job_info(job_id) or {}).get("state") == "PENDING", "the job to be requeued and held")
    newest = _manifests(run_dir)[-1]
    npz = newest.with_suffix(".npz")
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])  # cut short, as a full disk would leave it
    subprocess.run(["scontrol", "release", job_id], check=True, timeout=30)
    (status,) = run_sweep(run, tmp_path, submit=False)
    assert status.state == "completed", status
    record = check_record(run_dir / "record.json")
    (event,) = record["resumes"]["events"]
    assert event["fell_back"] and event["checkpoint"] != newest.name and newest.stem in " ".join(event["skipped"])
    assert event["reason"] == "periodic"
    assert [e["epoch"] for e in record["epochs"]] == list(range(1, 7))


def _hostnames(node_list: str) -> list[str]:
    """The nodes of a SLURM node list (``node[1-2]``)."""
    done = subprocess.run(["scontrol", "show", "hostnames", node_list], capture_output=True, text=True, check=True)
    return done.stdout.split()


def _devcluster_node(action: str, node: str) -> None:
    """Fail or restore a node of the development cluster (slurm/devcluster/node)."""
    number = node.removeprefix("node")
    subprocess.run([str(ROOT / "slurm" / "devcluster" / "node"), action, number], check=True, timeout=180)


@pytest.mark.ddp
def test_a_node_failure_requeues_the_job_and_the_run_completes_once(slurm_cluster, cells, tmp_path, check_record):
    run = spec(cells, "nodefail", nodes=(2,), wpn=(1,), epochs=4, steps=15, engine=RELIABILITY)
    run_sweep(run, tmp_path, wait=False)
    run_dir = tmp_path / "nodefail" / "n2-w1-b8"
    job_id = SweepState(tmp_path / "nodefail").runs["n2-w1-b8"]["job_id"]
    _wait(lambda: _manifests(run_dir), "a periodic checkpoint")
    node_list = job_info(job_id)["node_list"]
    lost = subprocess.run(["scontrol", "show", "hostnames", node_list], capture_output=True, text=True).stdout.split()[
        -1
    ]
    _devcluster_node("fail", lost)

    def restarted_elsewhere() -> bool:
        info = job_info(job_id) or {}
        return bool(info.get("requeues")) and info.get("state") == "RUNNING"

    def restore_once_restarted():  # the node comes back while the requeued job trains on other nodes
        try:
            _wait(restarted_elsewhere, "the requeued job to run on other nodes", timeout=300)
        finally:
            _devcluster_node("restore", lost)

    restorer = threading.Thread(target=restore_once_restarted)
    restorer.start()
    try:
        (status,) = run_sweep(run, tmp_path)  # the driver follows the job through its failure and requeue
    finally:
        restorer.join()
    assert status.state == "completed", status
    entry = SweepState(tmp_path / "nodefail").runs["n2-w1-b8"]
    assert (entry["job_id"], entry["attempt"]) == (job_id, 1)  # one job, never submitted again
    record = check_record(run_dir / "record.json")
    (requeue,) = record["scheduler"]["requeues"]
    assert requeue["state"] == "NODE_FAIL" and lost in _hostnames(requeue["node_list"]), requeue
    assert record["resumes"]["count"] == 1 and [e["epoch"] for e in record["epochs"]] == list(range(1, 5))
    finals = [m for m in _manifests(run_dir) if json.loads(m.read_text())["reason"] == "final"]
    assert len(finals) == 1, finals
    assert not (run_dir / "attempts").exists()


@pytest.mark.horovod
def test_a_job_slurm_does_not_know_is_failed_after_a_bounded_number_of_polls(
    slurm_cluster, cells, tmp_path, monkeypatch
):
    run = spec(cells, "purged", nodes=(1,), wpn=(1,))
    (planned,) = run.runs(tmp_path)
    state = SweepState(tmp_path / "purged")
    executor = make_executor("slurm", run.executor, state.dir)
    executor.prepare(planned).write_json(state.config_path(planned.run_id))
    state.data.update(
        name="purged", spec=str(run.path), executor="slurm", executor_settings=run.executor.to_json_dict()
    )
    state.note_submitted(planned.run_id, Job("slurm", "999999", str(executor.folder / "999999")))  # purged, say
    (status,) = sweep_status(state.dir)
    assert status.state == "unknown" and "neither squeue nor sacct knows job 999999" in status.reason, status
    monkeypatch.setattr(sweep, "POLL_SECONDS", 0.2)
    (status,) = run_sweep(run, tmp_path, submit=False)
    assert status.state == "failed" and f"given up after {sweep.UNKNOWN_POLLS} polls" in status.reason, status
    assert read_record(state.run_dir(planned.run_id))["failure"]["reason"] == status.reason
