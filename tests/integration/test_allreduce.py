"""`mcnn-bench allreduce` for real: two Horovod workers started by horovodrun (Gloo) on this machine, small
tensors (M-CNN at 64x64; DenseNet-121's, shrunk), and the scaling model's fit of the results."""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.scaling_model import fit_ring, load_allreduce
from benchmark.models import MODELS
from benchmark.models.analytic import model_figures

pytestmark = pytest.mark.horovod


def allreduce_command(out: Path, *flags: str) -> list[str]:
    """horovodrun starting 2 Gloo workers of the installed ``mcnn-bench allreduce`` here."""
    bindir = Path(sys.executable).parent
    horovodrun = shutil.which("horovodrun", path=str(bindir)) or shutil.which("horovodrun")
    command = shutil.which("mcnn-bench", path=str(bindir))
    assert horovodrun and command, "horovodrun and mcnn-bench must be installed (./setup.sh)"
    return [
        horovodrun,
        "-np",
        "2",
        "-H",
        "localhost:2",
        "--gloo",
        command,
        "allreduce",
        "--image-size",
        "64",
        "64",
        "--warmup",
        "1",
        "--iterations",
        "3",
        "--out",
        str(out),
        *flags,
    ]


def run(out: Path, *flags: str) -> tuple[subprocess.CompletedProcess, dict]:
    done = subprocess.run(
        allreduce_command(out, *flags),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done, {**json.loads(out.read_text()), "file": out}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("allreduce")
    return run(tmp / "x.json"), run(tmp / "small.json", "--bytes-scale", "0.01")


def test_two_workers_allreduce_the_models_gradients(results):
    (done, result), _ = results
    shapes = model_figures(64, 64).gradient_shapes
    assert result["kind"] == "mcnn-bench-allreduce" and result["model"] == "mcnn"
    assert (result["workers"], result["nodes"], result["workers_per_node"]) == (2, 1, 2)
    assert result["controller"] == "gloo" and len(result["hostnames"]) == 2
    assert result["tensors"] == len(shapes)
    assert result["bytes"] == sum(4 * math.prod(s) for s in shapes) == model_figures(64, 64).parameter_bytes
    assert result["iterations"] == 3 and len(result["seconds"]) == 3
    assert all(t > 0 for t in result["seconds"])
    assert result["min_seconds"] <= result["median_seconds"] <= result["max_seconds"]
    # per iteration the slowest rank counts, so no rank's own median exceeds the reported maximum
    assert max(result["rank_median_seconds"]) <= result["max_seconds"]
    algorithm = result["bytes"] / result["median_seconds"]
    assert result["algorithm_bandwidth_bytes_per_second"] == pytest.approx(algorithm)
    assert result["bus_bandwidth_bytes_per_second"] == pytest.approx(algorithm * 2 * (2 - 1) / 2)
    lines = [line for line in done.stdout.splitlines() if "allreduce of" in line]
    assert len(lines) == 1 and "median" in lines[0] and "bus bandwidth" in lines[0]  # rank 0 only


def test_bytes_scale_shrinks_every_tensor(results):
    (_, full), (_, small) = results
    assert small["tensors"] == full["tensors"]
    assert small["bytes"] == sum(4 * max(1, round(math.prod(s) * 0.01)) for s in model_figures(64, 64).gradient_shapes)


def test_any_models_gradients_are_reduced(tmp_path):
    done, result = run(tmp_path / "densenet.json", "--model", "densenet121", "--bytes-scale", "0.01")
    shapes = MODELS["densenet121"].gradient_shapes(64, 64, 3, 13)
    assert result["model"] == "densenet121" and result["tensors"] == len(shapes)
    assert result["bytes"] == sum(4 * max(1, round(math.prod(s) * 0.01)) for s in shapes)
    assert "(densenet121's gradients)" in done.stdout


def test_the_ring_model_fits_the_results(results):
    (_, full), (_, small) = results
    measurements = load_allreduce([full["file"], small["file"]])
    one = fit_ring([(m.workers, m.bytes, m.median_seconds) for m in measurements[:1]])
    assert one.beta > 0 and "assumed" in one.how  # one shape: alpha assumed, beta fitted
    both = fit_ring([(m.workers, m.bytes, m.median_seconds) for m in measurements])
    assert both.beta > 0 and both.alpha >= 0 and "fitted" in both.how


def test_a_size_sweep_reports_every_size_as_points_of_the_ring_model(tmp_path):
    out = tmp_path / "sweep.json"
    done, result = run(out, "--sweep", "1K", "1M")
    assert result["kind"] == "mcnn-bench-allreduce-sweep" and result["workers"] == 2
    sizes = [row["bytes"] for row in result["sizes"]]
    assert sizes == [1024, 4096, 16384, 65536, 262144, 1048576]
    for row in result["sizes"]:
        assert row["iterations"] == 3 and row["min_seconds"] <= row["median_seconds"] <= row["max_seconds"]
        assert row["bus_bandwidth_bytes_per_second"] == pytest.approx(row["bytes"] / row["median_seconds"])
    table = [line.split("<stdout>:")[-1].split() for line in done.stdout.splitlines()]
    assert [int(row[0]) for row in table if row and row[0].isdigit()] == sizes  # rank 0 prints one row per size
    points = load_allreduce([out])  # small sizes are latency-bound: fitting them is left to real sweeps
    assert [(p.workers, p.bytes) for p in points] == [(2, size) for size in sizes]


def test_a_bad_sweep_is_refused_before_horovod_starts(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mcnn_bench", "allreduce", "--sweep", "2M", "1K"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--sweep needs 4 <= MIN <= MAX bytes" in done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "mcnn_bench", "allreduce", "--sweep", "1X", "1K"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "not a size in bytes" in done.stderr
