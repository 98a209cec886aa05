"""`mcnn-bench bench overhead`: the trainer and a bare loop of the same run, as real processes, side by side, on
each engine (the DDP engine's bare loop in a Python without TensorFlow)."""

import json
import re
import subprocess
import sys

import pytest

from benchmark.microbench.overhead import bare_run, overhead_config

#: The bare loop of a config (its path the first argument) in a Python where TensorFlow, Keras and Horovod
#: cannot be imported.
BARE_WITHOUT_TENSORFLOW = """
import sys
for name in ("tensorflow", "keras", "horovod"):
    sys.modules[name] = None  # any import of them raises ImportError
from benchmark.microbench.overhead import main
sys.exit(main(["--bare", sys.argv[1]]))
"""


@pytest.mark.horovod
def test_the_bare_loop_times_only_the_steps_after_the_warm_up(tmp_path):
    path = overhead_config(64, 64, 4, 5, 2, 1).write_json(tmp_path / "config.json")
    result = bare_run(path)  # a fresh process, as the comparison runs it (threads are set before TF starts)
    assert result["timed_steps"] == 5 and result["images_per_second"] > 0 and result["peak_rss_bytes"] > 0


def test_the_ddp_engines_bare_loop_runs_without_tensorflow(tmp_path):
    path = overhead_config(64, 64, 4, 3, 1, 1, engine="ddp").write_json(tmp_path / "config.json")
    done = subprocess.run(
        [sys.executable, "-c", BARE_WITHOUT_TENSORFLOW, str(path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["timed_steps"] == 3 and result["images_per_second"] > 0 and result["peak_rss_bytes"] > 0


@pytest.mark.parametrize("engine", [pytest.param("horovod", marks=pytest.mark.horovod), "ddp"])
def test_bench_overhead_prints_both_sides_and_the_ratios(engine):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mcnn_bench",
            "bench",
            "overhead",
            "--engine",
            engine,
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
    assert done.stdout.startswith(f"trainer vs bare loop, {engine} engine: mcnn on synthetic 64x64")
    rows = {
        line.split()[0]: line.split()[1:] for line in done.stdout.splitlines() if line.startswith(("suite ", "bare "))
    }
    assert set(rows) == {"suite", "bare"} and all(float(v) > 0 for values in rows.values() for v in values)
    ratios = re.search(r"overhead .*: ([+-][\d.]+) %; memory .*: ([\d.]+)x", done.stdout)
    assert ratios
    (suite, _, suite_rss), (bare, _, bare_rss) = ([float(v) for v in rows[side]] for side in ("suite", "bare"))
    assert float(ratios.group(1)) == pytest.approx(100 * (bare / suite - 1), rel=0.01, abs=0.2)  # of printed figures
    assert float(ratios.group(2)) == pytest.approx(suite_rss / bare_rss, abs=0.02 / bare_rss + 0.01)  # GiB to 0.01
