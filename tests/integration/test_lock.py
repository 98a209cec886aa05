"""One sweep at a time per sweep folder: a second driver is refused at once, naming the holder; the lock of
a killed driver is taken over. Real processes hold the lock; the drivers are real ``mcnn-bench`` commands."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from benchmark.data import SAMPLE_DIR
from benchmark.util.flock import read_holder

SPEC = f"""
name = "locked"
results_dir = "results"
[data]
source = "bbbc021-cells"
dir = "{SAMPLE_DIR}"
image_size = [64, 64]
[grid]
nodes = [1]
workers_per_node = [1]
local_batch_size = [8]
[training]
epochs = 1
[run]
engine = "ddp"   # installed on every Python: a dry run of the local executor checks its engines first
[executor]
kind = "local"
"""
HOLD = (
    "import sys, time; from slurm.lock import SweepLock\n"
    "with SweepLock(sys.argv[1]):\n    print('held', flush=True); time.sleep(120)"
)


def cli(*args):
    return subprocess.run([sys.executable, "-m", "mcnn_bench", *args], capture_output=True, text=True, timeout=120)


def hold(sweep_dir: Path) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(sweep_dir)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_sweep_into_the_same_folder_is_refused_at_once_naming_the_holder(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    holder = hold(tmp_path / "results" / "locked")
    try:
        started = time.monotonic()
        done = cli("sweep", str(spec), "--dry-run")
        assert done.returncode == 2, done.stdout + done.stderr
        assert time.monotonic() - started < 30
        assert "another sweep is running into this folder" in done.stderr
        assert f"pid {holder.pid}, since " in done.stderr and "host " in done.stderr
        assert not (tmp_path / "results" / "locked" / "n1-w1-b8" / "config.json").exists()
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_of_a_killed_driver_is_taken_over(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    holder = hold(tmp_path / "results" / "locked")
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    lock_file = tmp_path / "results" / "locked" / "sweep.lock"
    assert read_holder(lock_file)["pid"] == holder.pid  # the dead holder's facts stay in the file
    done = cli("sweep", str(spec), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "results" / "locked" / "n1-w1-b8" / "job.sh").is_file()
    assert read_holder(lock_file) == {}  # released again: the file names no holder
