"""Two real short sweeps with the local executor (M-CNN on the real BBBC021 cells, 64x64, the DDP engine, one worker,
4 repeats), the second honestly slowed: its driver, and so every worker it starts, runs in a cgroup (v1) CPU quota of
half a core. ``mcnn-bench compare`` says slower for images/s and no detectable change for what a quota cannot change
(the fixed seed's accuracies, the epochs to the target); the history of the results folder holds both sweeps' runs
(added by ``mcnn-bench sweep``), is the same after ``mcnn-bench history rebuild``, and reports a corrupted record."""

from __future__ import annotations

import json
import os
import secrets
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w
from conftest import _unavailable

from analysis.history import history_path, query

pytestmark = pytest.mark.ddp
#: The cgroup v1 CPU controller's mount point.
CPU_CGROUPS = Path("/sys/fs/cgroup/cpu")
#: The slowed sweep's quota: 50 ms of CPU time per 100 ms, half a core (the machine has 2).
QUOTA_US, PERIOD_US = 50_000, 100_000
REPEATS = 4  # the fewest a side with which the two-sided Mann-Whitney U test can reach p < 0.05
RUN = "n1-w1-b8"


def start(*args: str, prefix: str = "") -> subprocess.Popen:
    """``python -m mcnn_bench ARGS`` started by ``sh -c`` after ``prefix`` (a shell command) so that the command
    itself is the shell's process, replaced by ``exec``."""
    command = f"{prefix}exec {shlex.join([sys.executable, '-m', 'mcnn_bench', *args])}"
    return subprocess.Popen(["sh", "-c", command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> subprocess.CompletedProcess:
    stdout, stderr = process.communicate(timeout=600)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def cli(*args: str, prefix: str = "") -> subprocess.CompletedProcess:
    return finish(start(*args, prefix=prefix))


@pytest.fixture
def cpu_quota():
    """A fresh cgroup of the CPU controller with a quota of ``QUOTA_US`` per ``PERIOD_US``, removed afterwards
    (what is left in it moved to the root first); skipped where it cannot be made (no cgroup v1 CPU controller, not
    root), failed there with ``MCNN_REQUIRE_MOUNTS=1``."""
    group = CPU_CGROUPS / f"mcnn-test-{secrets.token_hex(4)}"
    try:
        group.mkdir()
        (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
        (group / "cpu.cfs_quota_us").write_text(str(QUOTA_US))
    except OSError as exc:
        if group.exists():
            group.rmdir()
        _unavailable(f"cannot make a CPU-quota cgroup at {group} ({exc}): it needs root and cgroup v1's cpu controller")
    try:
        yield group
    finally:
        for pid in filter(None, (group / "cgroup.procs").read_text().split()):
            with open(CPU_CGROUPS / "cgroup.procs", "w") as procs:
                procs.write(pid)
        group.rmdir()


def write_spec(path: Path, data: Path, name: str) -> Path:
    spec = {
        "name": name,
        "data": {"source": "bbbc021-cells", "dir": str(data), "image_size": [64, 64], "val_fraction": 0.25},
        "grid": {"nodes": [1], "workers_per_node": [1], "local_batch_size": [8], "repeats": REPEATS},
        "run": {"engine": "ddp"},
        "training": {"epochs": 1, "steps_per_epoch": 4, "warmup_steps": 1, "target_top1": 0.05, "seed": 0},
        "learning_rate": {"base_lr": 0.01},
        "executor": {"kind": "local"},
    }
    path.write_text(tomli_w.dumps(spec))
    return path


def dump(results: Path) -> list:
    """What the history holds, without the row ids (which follow the order runs were added in)."""
    with sqlite3.connect(history_path(results)) as connection:
        runs = connection.execute("SELECT * FROM runs ORDER BY sweep, run_id").fetchall()
        figures = connection.execute(
            "SELECT r.sweep, r.run_id, f.figure, f.value, f.unit FROM figures f JOIN runs r ON r.id = f.run "
            "ORDER BY 1, 2, 3"
        ).fetchall()
    return [[row[1:] for row in runs], figures]


def test_a_slowed_sweep_is_slower_and_the_history_keeps_both(shared_data, cpu_quota, tmp_path):
    results, cells = tmp_path / "results", shared_data / "bbbc021" / "cells"
    spec = write_spec(tmp_path / "spec.toml", cells, "before")
    # Both sweeps at once, to spare CI the minutes: the slowed one in its quota of half a core, the other beside it
    # on the rest of the machine (a core and a half), and both add their runs to the one history file.
    slowed = f"echo $$ > {shlex.quote(str(cpu_quota / 'cgroup.procs'))} && "
    later = start("sweep", str(spec), "--results-dir", str(results), "--new-sweep", "after", prefix=slowed)
    before = cli("sweep", str(spec), "--results-dir", str(results))
    after = finish(later)
    assert before.returncode == 0, before.stdout + before.stderr
    assert f"history: {REPEATS} run(s) added to {results / 'history.sqlite'}" in before.stdout
    assert after.returncode == 0, after.stdout + after.stderr

    done = cli("compare", str(results / "before"), str(results / "after"), "--out", str(tmp_path / "compare"))
    assert done.returncode == 1, done.stdout + done.stderr  # images/s worse by more than 5 %
    report = json.loads((tmp_path / "compare" / "compare.json").read_text())
    change = {c["figure"]: c["change"] for c in report["figures"]}
    assert change["images_per_second"] == "slower" and change["median_step_seconds"] == "slower", done.stdout
    for fixed in ("best_val_top1", "best_val_top5", "ttt_epochs"):  # the same seed trains the same model
        assert change[fixed] == "no detectable change", done.stdout
    assert {c["n_a"] for c in report["figures"]} == {REPEATS}

    rows = query(results)
    assert {(sweep, run_id) for sweep, run_id in zip(rows["sweep"], rows["run_id"])} == {
        (sweep, f"{RUN}-r{i}") for sweep in ("before", "after") for i in range(1, REPEATS + 1)
    }
    assert set(rows["hosts"]) == {os.uname().nodename}
    incremental = dump(results)
    broken = results / "after" / "copied" / "record.json"  # a record cut short, beside the real ones
    broken.parent.mkdir()
    broken.write_text((results / "after" / f"{RUN}-r1" / "record.json").read_text()[:500])
    rebuilt = cli("history", "rebuild", str(results))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert f"history rebuilt: {results / 'history.sqlite'}: {2 * REPEATS} completed run(s)" in rebuilt.stdout
    assert f"could not be read: {broken}: invalid JSON (cut short?)" in rebuilt.stdout
    assert dump(results) == incremental
    listed = cli("history", "list", str(results), "--figure", "images_per_second", "--plot", str(tmp_path / "h.png"))
    assert listed.returncode == 0, listed.stderr
    assert sum("images/s" in line for line in listed.stdout.splitlines()) == 2 * REPEATS
    assert f"1 record(s) could not be read (not in the history):\n  {broken}: invalid JSON" in listed.stdout
    assert (tmp_path / "h.png").stat().st_size > 0
