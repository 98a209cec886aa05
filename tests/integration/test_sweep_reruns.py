"""Re-running a sweep whose spec changed, and interrupting a sweep, with the real local executor
(submitit + horovodrun): a run is identified by its fingerprint, so an edited spec never passes old
results off as new ones; Ctrl-C stops local runs and records them as failed."""

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import tomli_w
from conftest import TinyFs
from terminal import as_foreground_job

from slurm.executor import EXECUTORS
from slurm.spec import load_spec
from slurm.state import SweepState
from slurm.sweep import StaleRuns, SubmissionUnsaved, run_sweep, sweep_status

pytestmark = pytest.mark.horovod


def write_spec(path: Path, cells: Path, epochs: int = 1, steps: int = 2, name: str = "edits") -> Path:
    raw = {
        "name": name,
        "data": {"source": "bbbc021-cells", "dir": str(cells), "image_size": [64, 64], "val_fraction": 0.25},
        "grid": {"nodes": [1], "workers_per_node": [1], "local_batch_size": [8]},
        "training": {"epochs": epochs, "steps_per_epoch": steps, "warmup_steps": 1},
        "executor": {"kind": "local"},
    }
    path.write_text(tomli_w.dumps(raw))
    return path


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mcnn_bench", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture
def cells(shared_data) -> Path:
    return shared_data / "bbbc021" / "cells"


def test_an_edited_spec_makes_its_runs_stale_and_is_refused(cells, tmp_path):
    spec_path = write_spec(tmp_path / "edits.toml", cells, epochs=1)
    results = tmp_path / "results"
    assert [s.state for s in run_sweep(load_spec(spec_path), results, out=io.StringIO())] == ["completed"]
    record = results / "edits" / "n1-w1-b8" / "record.json"
    first = json.loads(record.read_text())
    assert first["fingerprint"] == SweepState(results / "edits").runs["n1-w1-b8"]["fingerprint"]

    write_spec(spec_path, cells, epochs=2)
    with pytest.raises(StaleRuns, match=r"n1-w1-b8 \(completed\): training.epochs: 1 -> 2") as info:
        run_sweep(load_spec(spec_path), results, out=io.StringIO())
    assert "--rerun-stale" in str(info.value) and "--new-sweep" in str(info.value)
    assert json.loads(record.read_text()) == first  # the old record is left as it was

    done = cli("sweep", str(spec_path), "--results-dir", str(results))
    assert done.returncode == 2 and "training.epochs: 1 -> 2" in done.stderr
    status = cli("status", str(results / "edits"))
    assert status.returncode == 0
    assert "STALE (training.epochs: 1 -> 2)" in status.stdout


def test_rerun_stale_runs_again_and_keeps_the_old_record(cells, tmp_path):
    spec_path = write_spec(tmp_path / "edits.toml", cells, epochs=1)
    results = tmp_path / "results"
    run_sweep(load_spec(spec_path), results, out=io.StringIO())
    write_spec(spec_path, cells, epochs=2)

    done = cli("sweep", str(spec_path), "--results-dir", str(results), "--rerun-stale")
    assert done.returncode == 0, done.stderr
    run_dir = results / "edits" / "n1-w1-b8"
    record = json.loads((run_dir / "record.json").read_text())
    assert record["status"] == "completed" and len(record["epochs"]) == 2
    assert json.loads((run_dir / "attempts" / "record-1.json").read_text())["config"]["training"]["epochs"] == 1
    assert SweepState(results / "edits").runs["n1-w1-b8"]["attempt"] == 2
    assert "STALE" not in cli("status", str(results / "edits")).stdout
    # nothing changed since: the next sweep submits nothing
    again = cli("sweep", str(spec_path), "--results-dir", str(results))
    assert again.returncode == 0 and "0 of 1 runs to submit" in again.stdout


def test_new_sweep_runs_the_edited_spec_beside_the_old_one(cells, tmp_path):
    spec_path = write_spec(tmp_path / "edits.toml", cells, epochs=1)
    results = tmp_path / "results"
    run_sweep(load_spec(spec_path), results, out=io.StringIO())
    write_spec(spec_path, cells, epochs=2)
    done = cli("sweep", str(spec_path), "--results-dir", str(results), "--new-sweep", "edits-2epochs")
    assert done.returncode == 0, done.stderr
    new = json.loads((results / "edits-2epochs" / "n1-w1-b8" / "record.json").read_text())
    old = json.loads((results / "edits" / "n1-w1-b8" / "record.json").read_text())
    assert (len(old["epochs"]), len(new["epochs"])) == (1, 2) and new["sweep"] == "edits-2epochs"
    bad = cli("sweep", str(spec_path), "--results-dir", str(results), "--new-sweep", "../x")
    assert bad.returncode == 2 and "plain name" in bad.stderr


def _workers_of(config: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if str(config) in " ".join(process.info["cmdline"] or []):
            found.append(process)
    return found


def test_ctrl_c_stops_the_local_run_and_records_it_as_failed(cells, tmp_path):
    spec_path = write_spec(tmp_path / "long.toml", cells, epochs=50, steps=50, name="long")
    results = tmp_path / "results"
    driver = subprocess.Popen(
        [sys.executable, "-m", "mcnn_bench", "sweep", str(spec_path), "--results-dir", str(results)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=as_foreground_job,
    )
    run_dir = results / "long" / "n1-w1-b8"
    deadline = time.time() + 120
    while not (run_dir / "progress.json").exists() and time.time() < deadline:
        time.sleep(0.5)
    assert (run_dir / "progress.json").exists(), "training never started"
    os.killpg(driver.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
    out, err = driver.communicate(timeout=60)
    assert driver.returncode == 130, err
    assert "interrupted: stopped n1-w1-b8" in err and "Traceback" not in err
    record = json.loads((run_dir / "record.json").read_text())
    assert record["status"] == "failed" and "interrupted by the user" in record["failure"]["reason"]
    assert SweepState(results / "long").finished("n1-w1-b8")
    assert _workers_of(run_dir / "config.json") == []


class FillsTheDiskAfterSubmitting(EXECUTORS["local"]):  # type: ignore[misc,valid-type]
    """The real local executor, after whose submission the disk of the sweep is full (``tiny_fs.fill``): the
    driver's save of the job fails with ENOSPC, as it did with 8 KiB left."""

    def submit(self, run, config_path, token):
        job = super().submit(run, config_path, token)
        TinyFs.fill(self.folder.parents[2])  # RESULTS/SWEEP/submitit/STAMP
        return job


def test_a_full_disk_between_submit_and_save_loses_nothing_and_starts_no_second_job(
    cells, tmp_path, tiny_fs, monkeypatch
):
    spec = load_spec(write_spec(tmp_path / "full.toml", cells, epochs=3, steps=20, name="full"))
    small_disk = tiny_fs.mount("disk", "512m")
    run_dir = small_disk / "full" / "n1-w1-b8"
    monkeypatch.setitem(EXECUTORS, "local", FillsTheDiskAfterSubmitting)
    with pytest.raises(SubmissionUnsaved, match="No space left on device") as info:
        run_sweep(spec, small_disk, out=io.StringIO())
    for filler in small_disk.glob(".filler*"):  # the space is freed while the job runs on, untracked
        filler.unlink()
    monkeypatch.undo()
    assert str(small_disk / "full" / "sweep.json") in str(info.value)
    (status,) = sweep_status(small_disk / "full")
    assert status.state == "submitting" and "carries its token: the next sweep adopts it" in status.reason
    out = io.StringIO()
    (status,) = run_sweep(spec, small_disk, out=out)
    assert status.state == "completed", status
    assert "n1-w1-b8: adopted local job" in out.getvalue()
    entry = SweepState(small_disk / "full").runs["n1-w1-b8"]
    assert entry["attempt"] == 1 and f"local job {entry['job_id']} started" in str(info.value)
    starts = [line for line in (run_dir / "train.log").read_text().splitlines() if "rank 0 of 1 starting" in line]
    assert len(starts) == 1, starts  # one job trained the run
