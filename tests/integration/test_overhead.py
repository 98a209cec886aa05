"""`mcnn-bench bench overhead`: the trainer and a bare loop of the same run, as real processes, side by side."""

import re
import subprocess
import sys

import pytest

from benchmark.microbench.overhead import bare_run, overhead_config

#: The trainer and the bare loop are the Horovod engine's (TensorFlow).
pytestmark = pytest.mark.horovod


def test_the_bare_loop_times_only_the_steps_after_the_warm_up(tmp_path):
    path = overhead_config(64, 64, 4, 5, 2, 1).write_json(tmp_path / "config.json")
    result = bare_run(path)  # a fresh process, as the comparison runs it (threads are set before TF starts)
    assert result["timed_steps"] == 5 and result["images_per_second"] > 0 and result["peak_rss_bytes"] > 0


def test_bench_overhead_prints_both_sides_and_the_ratios():
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mcnn_bench",
            "bench",
            "overhead",
            "--image-size",
            "64",
            "64",
            "--batch-size",
            "4",
            "--steps",
            "4",
            "--warmup",
            "1",
            "--repeats",
            "1",
            "--threads",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {
        line.split()[0]: line.split()[1:] for line in done.stdout.splitlines() if line.startswith(("suite ", "bare "))
    }
    assert set(rows) == {"suite", "bare"} and all(float(v) > 0 for values in rows.values() for v in values)
    ratios = re.search(r"overhead .*: ([+-][\d.]+) %; memory .*: ([\d.]+)x", done.stdout)
    assert ratios and float(ratios.group(2)) > 0
    suite, bare = float(rows["suite"][0]), float(rows["bare"][0])
    assert float(ratios.group(1)) == pytest.approx(100 * (bare / suite - 1), rel=0.01, abs=0.2)  # of printed figures
