"""A real run on a disk too small for its checkpoint (a 1 MiB tmpfs, the ``tiny_fs`` fixture): the run is
recorded as failed, and the recorded reason names the checkpoint file and the cause. One worker, synthetic
data, two steps (about 30 s)."""

import json
import subprocess
import sys

import pytest


@pytest.mark.horovod
def test_a_checkpoint_on_a_full_disk_is_recorded_with_its_file_and_cause(tiny_fs):
    results = tiny_fs.mount("results", "1m")  # the logs and the record fit; M-CNN's checkpoint (~9 MB) does not
    done = subprocess.run(
        [
            *(sys.executable, "-m", "mcnn_bench", "train", "--data", "synthetic", "--image-size", "64", "64"),
            *("--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "4", "--warmup-steps", "0"),
            *("--results-dir", str(results), "--sweep", "s", "--run-id", "r"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    record = json.loads((results / "s" / "r" / "record.json").read_text())
    checkpoint = results / "s" / "r" / "checkpoints" / "ckpt-000001.npz"
    assert record["status"] == "failed"
    assert record["failure"]["reason"] == (
        f"FileAccessError: cannot write {checkpoint} (No space left on device); nothing was written"
    )
    assert not list(checkpoint.parent.iterdir())  # no temporary file left
