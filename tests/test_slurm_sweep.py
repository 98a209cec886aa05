"""SLURM sweeps against the real development cluster (slurmctld, slurmd per node, slurmdbd): Horovod over
MPI across nodes, failed and cancelled jobs as failed rows, re-runs that submit only what is missing, and
the dry-run sbatch script pinned by a golden file and submitted by hand."""
import copy
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmark.record import RunRecord
from slurm.cluster import SlurmError, job_info
from slurm.spec import load_spec, parse_spec
from slurm.state import SweepState
from slurm.sweep import dry_run, run_sweep, sweep_status

ROOT = Path(__file__).resolve().parents[1]


def read_record(run_dir: Path) -> dict:
    """The run's record, validated by the record model, as JSON data."""
    return RunRecord.read(run_dir).model_dump(mode="json")
GOLDEN = ROOT / "tests" / "golden" / "devcluster-scaling-n2-w2-b8.sbatch"
pytestmark = pytest.mark.slurm


def spec(cells: Path, name: str, nodes=(2,), wpn=(2,), epochs=1, steps=3):
    raw = {
        "name": name,
        "data": {"source": "bbbc021-cells", "dir": str(cells), "image_size": [64, 64], "val_fraction": 0.25},
        "grid": {"nodes": list(nodes), "workers_per_node": list(wpn), "local_batch_size": [8]},
        "training": {"epochs": epochs, "steps_per_epoch": steps, "warmup_steps": 1, "target_top1": 0.5},
        "learning_rate": {"base_lr": 0.01},
        "executor": {"kind": "slurm", "partition": "debug", "time_minutes": 20},
    }
    return parse_spec(raw, ROOT / f"{name}.toml")


@pytest.fixture(scope="module")
def cells(shared_data):
    return shared_data / "bbbc021" / "cells"


@pytest.fixture(scope="module")
def two_by_two(slurm_cluster, cells, tmp_path_factory):
    results = tmp_path_factory.mktemp("slurm")
    statuses = run_sweep(spec(cells, "mpi"), results)
    return results, statuses, read_record(results / "mpi" / "n2-w2-b8")


def test_two_nodes_two_workers_each_over_mpi(two_by_two):
    _, statuses, record = two_by_two
    assert [s.state for s in statuses] == ["completed"], statuses
    assert record["topology"] == {"nodes": 2, "workers_per_node": 2, "workers": 4, "local_batch_size": 8,
                                  "global_batch_size": 32}
    assert record["provenance"]["horovod_controller"] == "mpi"
    hosts = record["provenance"]["hostnames"]
    # ranks 0,1 on one node and 2,3 on another (SLURM's block distribution), both cluster nodes
    assert hosts[0] == hosts[1] != hosts[2] == hosts[3]
    assert set(hosts) <= {f"node{i}" for i in range(1, 9)}


def test_the_record_follows_the_published_schema(two_by_two, check_record):
    results = two_by_two[0]
    check_record(results / "mpi" / "n2-w2-b8" / "record.json")


def test_workers_on_both_nodes_end_with_identical_weights(two_by_two):
    model = two_by_two[2]["model"]
    final = model["final_weights_sha256_per_rank"]
    assert len(final) == 4 and len(set(final)) == 1 and final[0] != model["initial_weights_sha256"]


def test_record_has_slurms_view(two_by_two):
    slurm = two_by_two[2]["slurm"]
    assert slurm["state"] == "COMPLETED" and slurm["nodes"] == 2 and slurm["tasks_per_node"] == 2
    assert slurm["job_id"] and slurm["node_list"].startswith("node")
    assert slurm["queue_wait_seconds"] >= 0 and slurm["elapsed_seconds"] > 0
    t = two_by_two[2]["throughput"]
    assert t["images"] == 4 * t["timed_steps"] * 8
    assert t["images_per_second"] == pytest.approx(t["images"] / t["window_seconds"])


def test_rerun_submits_only_missing_runs(two_by_two, cells):
    results, _, record = two_by_two
    first_job = record["slurm"]["job_id"]
    statuses = run_sweep(spec(cells, "mpi", nodes=(1, 2), wpn=(2,)), results)
    by_id = {s.run_id: s for s in statuses}
    assert by_id["n2-w2-b8"].state == "completed" and by_id["n1-w2-b8"].state == "completed"
    state = SweepState(results / "mpi")
    assert state.runs["n2-w2-b8"]["job_id"] == first_job and state.runs["n2-w2-b8"]["attempt"] == 1
    assert state.runs["n1-w2-b8"]["attempt"] == 1


def test_job_that_raises_is_a_failed_row(slurm_cluster, cells, tmp_path, check_record):
    empty = tmp_path / "no-cells"  # cells whose image array is cut short: the job's trainer raises DataError
    empty.mkdir()
    (empty / "index.csv").write_text((cells.parent / "cells" / "index.csv").read_text())
    (empty / "images.npy").write_bytes(b"\x93NUMPY")
    statuses = run_sweep(spec(empty, "raises", nodes=(1,), wpn=(1,)), tmp_path)
    assert statuses[0].state == "failed"
    assert "DataError" in statuses[0].reason and "no-cells" in statuses[0].reason
    record = read_record(tmp_path / "raises" / "n1-w1-b8")
    assert record["status"] == "failed" and record["slurm"]["state"] == "FAILED"
    check_record(tmp_path / "raises" / "n1-w1-b8" / "record.json")
    # a failed run is submitted again on the next sweep, and its old record is kept
    (empty / "x").write_text("")
    run_sweep(spec(empty, "raises", nodes=(1,), wpn=(1,)), tmp_path)
    assert (tmp_path / "raises" / "n1-w1-b8" / "attempts" / "record-1.json").exists()
    assert SweepState(tmp_path / "raises").runs["n1-w1-b8"]["attempt"] == 2


def test_cancelled_job_is_a_failed_row_and_does_not_hang(slurm_cluster, cells, tmp_path, check_record):
    long = spec(cells, "cancel", nodes=(1,), wpn=(1,), epochs=50, steps=50)
    run_sweep(long, tmp_path, wait=False)
    job_id = SweepState(tmp_path / "cancel").runs["n1-w1-b8"]["job_id"]
    deadline = time.time() + 60
    while (job_info(job_id) or {}).get("state") not in ("RUNNING",) and time.time() < deadline:
        time.sleep(1)
    subprocess.run(["scancel", job_id], check=True)
    deadline = time.time() + 60
    statuses = sweep_status(tmp_path / "cancel")
    while statuses[0].state != "failed" and time.time() < deadline:
        time.sleep(2)
        statuses = sweep_status(tmp_path / "cancel")
    assert statuses[0].state == "failed"
    assert "CANCELLED" in statuses[0].reason
    assert check_record(tmp_path / "cancel" / "n1-w1-b8" / "record.json")["slurm"]["state"] == "CANCELLED"


def test_cluster_too_small_is_refused_before_submission(slurm_cluster, cells, tmp_path):
    with pytest.raises(SlurmError, match="asks for 8 nodes, partition 'debug' has 4"):
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


def test_dry_run_script_runs_with_plain_sbatch(slurm_cluster, tmp_path):
    _dry_run_script(tmp_path)
    run_dir = tmp_path / "devcluster-scaling" / "n1-w2-b8"
    # the example trains for 3 full epochs; a short version of the same script is enough here
    config = run_dir / "config.json"
    config.write_text(config.read_text().replace('"steps_per_epoch": null', '"steps_per_epoch": 2'))
    done = subprocess.run(["sbatch", "--parsable", "--wait", str(run_dir / "job.sbatch")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    record = read_record(run_dir)
    assert record["status"] == "completed" and record["topology"]["workers"] == 2
    assert record["provenance"]["horovod_controller"] == "mpi"
