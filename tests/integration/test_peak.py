"""The node's own peak (benchmark/microbench/peak.py): real measurements in fresh processes (TensorFlow's threads are
set before its runtime starts), the per-node cache and its lock, the record's fraction of peak on a real
training run, and the column `analyze` shows."""

import json
import os
import subprocess
import sys

import pytest

from analysis.columns import GFLOPS_PER_NODE, PEAK_PERCENT, read_csv
from analysis.report import analyze
from benchmark.microbench.peak import (
    CACHE_VARIABLE,
    CONV_KERNEL,
    KernelPeaks,
    cache_dir,
    cache_path,
    conv_flop,
    matmul_flop,
)
from benchmark.models.analytic import model_figures
from benchmark.record import RunRecord
from benchmark.train.metrics import analytic_figures
from benchmark.util.provenance import BF16_FLAGS, cpu_model, hostname, isa_flags

NATIVE_BF16 = bool(set(BF16_FLAGS) & set(isa_flags()))
#: A measurement at tiny sizes, in a fresh process, printed as JSON.
TINY = """
import sys
from benchmark.microbench.peak import measure_peaks
print(measure_peaks(1, 1, conv_shape=(1, 32, 32, 4, 4), matmul_size=64, warmup=1, iterations=3).model_dump_json())
"""


def without_session_cache() -> dict:
    """This environment without the session's peak cache, so that ``--results`` decides the cache folder."""
    return {key: value for key, value in os.environ.items() if key != CACHE_VARIABLE}


def peak_command(results, *extra) -> list[str]:
    return [sys.executable, "-m", "mcnn_bench", "peak", "--results", str(results), "--intra-op-threads", "2", *extra]


def measured_at(stdout: str) -> str:
    return stdout.split("measured at ", 1)[1].split()[0]


def test_conv_flops_are_the_analytic_models():
    figures = model_figures(64, 64)
    layer = next(
        layer
        for layer in figures.layers
        if layer.kind == "conv" and layer.weight_shapes[0] == (CONV_KERNEL, CONV_KERNEL, 16, 16)
    )
    height, width, channels = layer.output_shape
    assert conv_flop(1, height, width, 16, channels) == layer.forward_flops
    assert conv_flop(3, height, width, 16, channels) == 3 * layer.forward_flops
    assert matmul_flop(4, 5, 6) == 2 * 4 * 5 * 6


@pytest.mark.horovod
def test_a_measurement_at_tiny_sizes_has_every_native_precision():
    done = subprocess.run([sys.executable, "-c", TINY], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    peaks = KernelPeaks.model_validate_json(done.stdout.strip().splitlines()[-1])
    assert (peaks.host, peaks.cpu_model, peaks.intra_op_threads, peaks.inter_op_threads) == (
        hostname(),
        cpu_model(),
        1,
        1,
    )
    assert [(k.kernel, k.precision) for k in peaks.kernels] == [
        ("conv5x5", "fp32"),
        ("conv5x5", "bf16"),
        ("matmul", "fp32"),
        ("matmul", "bf16"),
    ]
    for k in peaks.kernels:
        native = k.precision == "fp32" or NATIVE_BF16
        assert (k.gflops_per_second is not None) == native, k
        assert k.iterations == (3 if native else 0)
        assert k.gflops_per_second is None or k.gflops_per_second > 0
    assert peaks.kernels[0].shape == [1, 32, 32, 4, 4] and peaks.kernels[0].gflop == conv_flop(1, 32, 32, 4, 4) / 1e9
    assert peaks.gflops("matmul", "fp32") == peaks.kernels[2].gflops_per_second


def test_the_cache_folder_is_the_variable_else_beside_the_results(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path / "cache"))
    assert cache_dir("results") == tmp_path / "cache"
    monkeypatch.delenv(CACHE_VARIABLE)
    assert cache_dir(tmp_path / "results") == tmp_path / "results" / "peaks"


@pytest.mark.horovod
def test_two_processes_of_a_node_measure_once_and_refresh_measures_again(tmp_path):
    env = without_session_cache()
    both = [
        subprocess.Popen(peak_command(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=300) for process in both]
    assert [process.returncode for process in both] == [0, 0], [err[-2000:] for _, err in outputs]
    path = cache_path(tmp_path / "peaks", 2, 1)
    cached = KernelPeaks.model_validate_json(path.read_text())
    assert {measured_at(out) for out, _ in outputs} == {cached.measured_at}  # the second waited, then read
    lines = outputs[1][0].splitlines()
    assert lines[1].split() == ["kernel", "precision", "shape", "GFLOP/s"]
    rows = {tuple(line.split()[:2]): line.split()[-1] for line in lines[2:6]}
    assert float(rows[("conv5x5", "fp32")]) == pytest.approx(cached.gflops("conv5x5", "fp32"), abs=0.05)
    assert (rows[("matmul", "bf16")] == "-") == (not NATIVE_BF16)
    assert lines[-1] == f"cached in {path}"
    refreshed = subprocess.run(
        peak_command(tmp_path, "--refresh"), capture_output=True, text=True, timeout=300, env=env
    )
    assert refreshed.returncode == 0, refreshed.stderr[-2000:]
    assert measured_at(refreshed.stdout) > cached.measured_at
    assert KernelPeaks.model_validate_json(path.read_text()).measured_at == measured_at(refreshed.stdout)


@pytest.mark.horovod
def test_a_corrupt_cache_is_measured_again_with_a_warning(tmp_path):
    path = cache_path(tmp_path / "peaks", 2, 1)
    path.parent.mkdir(parents=True)
    path.write_text('{"host": "cut short')
    done = subprocess.run(
        peak_command(tmp_path), capture_output=True, text=True, timeout=300, env=without_session_cache()
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"peak cache {path} is unreadable or corrupt, measuring again" in done.stderr
    assert KernelPeaks.model_validate_json(path.read_text()).measured_at == measured_at(done.stdout)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, peak_cache):
    """A real one-worker run on synthetic data at 64x64; its record, and its results folder."""
    results = tmp_path_factory.mktemp("peak-run")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mcnn_bench",
            "train",
            "--data",
            "synthetic",
            "--image-size",
            "64",
            "64",
            "--batch-size",
            "4",
            "--epochs",
            "1",
            "--steps-per-epoch",
            "4",
            "--warmup-steps",
            "1",
            "--intra-op-threads",
            "2",
            "--results-dir",
            str(results),
            "--run-id",
            "peak",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return RunRecord.load(results / "adhoc" / "peak" / "record.json"), results


@pytest.mark.horovod
def test_a_run_holds_its_gflops_against_its_nodes_peak(trained, peak_cache, check_record):
    record, results = trained
    check_record(results / "adhoc" / "peak" / "record.json")
    analytic, threads = record.analytic, record.provenance.threads
    peak = analytic.peak
    assert (peak.host, peak.intra_op_threads, peak.inter_op_threads) == (
        record.provenance.hostnames[0],
        threads.intra_op,
        threads.inter_op,
    )
    assert cache_path(peak_cache, 2, 1).is_file() and not (results / "peaks").exists()
    per_worker = analytic.achieved_gflops_per_second_per_worker
    assert analytic.fraction_of_peak == pytest.approx(per_worker / peak.gflops("conv5x5", "fp32"))
    assert 0 < analytic.fraction_of_peak <= 2  # a 64x64 model's step reaches a fraction of the kernel's rate
    assert analytic.achieved_gflops_per_second_per_node == pytest.approx(per_worker * record.topology.workers_per_node)
    again = analytic_figures(record.config, record.topology, record.throughput, record.memory, peak)
    assert again == analytic
    bare = analytic_figures(record.config, record.topology, record.throughput, record.memory)
    assert (bare.peak, bare.fraction_of_peak) == (None, None)


@pytest.mark.horovod
def test_records_made_before_the_peak_still_load(trained):
    record, _ = trained
    data = json.loads(record.model_dump_json())
    for key in ("peak", "fraction_of_peak", "achieved_gflops_per_second_per_node"):
        del data["analytic"][key]
    older = RunRecord.model_validate_json(json.dumps(data))
    assert (older.analytic.peak, older.analytic.fraction_of_peak) == (None, None)


@pytest.mark.horovod
def test_analyze_shows_each_runs_fraction_of_peak(trained, tmp_path):
    record, results = trained
    outputs = analyze(results, tmp_path / "analysis")
    row = outputs.table1.iloc[0]
    assert row[PEAK_PERCENT] == pytest.approx(100 * record.analytic.fraction_of_peak)
    assert row[GFLOPS_PER_NODE] == pytest.approx(record.analytic.achieved_gflops_per_second_per_node)
    assert list(read_csv(tmp_path / "analysis" / "table1.csv")[PEAK_PERCENT]) == pytest.approx([row[PEAK_PERCENT]])
