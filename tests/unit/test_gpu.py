"""GPU nodes (run.device = "gpu"), as far as a machine without a GPU can check them: the device of each local rank,
the engine registry's devices (the Horovod engine refused at validation), the record's GPU fields (optional: the
records made before them still validate), the SLURM job's --gpus-per-node (a golden sbatch script of
slurm/examples/gpu-node.toml), the peak cache of a GPU, and the commands that need a GPU exiting with status 2 and
one sentence naming what PyTorch sees. Nothing here pretends to have a GPU: the GPU path itself runs only on one
(./run-gpu-check.sh)."""

import io
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmark.config import SettingsError, TrainConfig
from benchmark.engines import ENGINES, DeviceUnavailable, device_problem
from benchmark.engines.bench import bench_module
from benchmark.engines.ddp.engine import choose_gpu, gpu_problem
from benchmark.microbench import peak
from benchmark.microbench.gpu import SHAPES, check_config, report
from benchmark.record import KernelPeak, KernelPeaks, Memory, RunRecord
from benchmark.util import provenance
from benchmark.util.provenance import cpu_model
from slurm.executor import Run
from slurm.executor.slurm import SlurmExecutor, SlurmSettings
from slurm.spec import SpecError, load_spec, parse_spec
from slurm.sweep import dry_run

ROOT = Path(__file__).resolve().parents[2]
GPU_NODE = ROOT / "slurm" / "examples" / "gpu-node.toml"
GOLDEN = ROOT / "tests" / "unit" / "golden" / "gpu-node-n1-w4-b32-r1.sbatch"
OLD_RECORD = ROOT / "tests" / "unit" / "data" / "record-v2-slurm.json"

#: This machine has a GPU that PyTorch sees: then the commands below would train instead of refusing.
HAS_GPU = torch.cuda.is_available() and torch.cuda.device_count() > 0
no_gpu_here = pytest.mark.skipif(HAS_GPU, reason="PyTorch sees a GPU here: the GPU check runs it (run-gpu-check.sh)")


def gpu_config(**settings) -> TrainConfig:
    base = {"source": "synthetic", "image_size": (64, 64), "epochs": 1, "steps_per_epoch": 2, "engine": "ddp"}
    return TrainConfig.from_flat(**{**base, "device": "gpu", **settings})


# --- the device of each worker --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "local_rank, count, index",
    [(0, 8, 0), (3, 8, 3), (7, 8, 7), (0, 1, 0), (3, 1, 0), (5, 4, 1)],
    ids=["first", "fourth-of-8", "last-of-8", "one-per-task", "one-per-task-rank3", "wraps"],
)
def test_each_local_rank_takes_its_own_gpu_or_the_one_it_sees(local_rank, count, index):
    """--gpus-per-node: every task sees the node's GPUs and local rank i takes GPU i; one GPU per task
    (CUDA_VISIBLE_DEVICES per task): each sees one, index 0."""
    assert choose_gpu(local_rank, count) == index


@pytest.mark.parametrize("local_rank, count", [(0, 0), (-1, 2)])
def test_no_gpu_is_chosen_from_none(local_rank, count):
    with pytest.raises(ValueError, match="no GPU"):
        choose_gpu(local_rank, count)


@no_gpu_here
def test_without_a_gpu_the_engine_says_what_pytorch_sees(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    problem = gpu_problem()
    assert problem is not None
    for named in ("run.device = 'gpu'", "torch.cuda.is_available() is False", "device_count() is 0",
                  "CUDA_VISIBLE_DEVICES is '0,1'", "run.device = 'cpu'"):  # fmt: skip
        assert named in problem, problem
    with pytest.raises(DeviceUnavailable, match="sees no GPU"):
        bench_module("ddp").device_name("gpu")
    with pytest.raises(DeviceUnavailable, match="sees no GPU"):
        bench_module("ddp").peak_kernels((1, 8, 8, 2, 2), 8, "fp32", "gpu")
    assert bench_module("ddp").device_name("cpu") is None


# --- the registry's devices and the settings -----------------------------------------------------------------------


def test_the_registry_says_which_engine_trains_on_gpus():
    assert {name: entry.devices for name, entry in ENGINES.items()} == {"horovod": ("cpu",), "ddp": ("cpu", "gpu")}
    assert device_problem("ddp", "gpu") is None and device_problem("horovod", "cpu") is None
    problem = device_problem("horovod", "gpu")
    assert problem is not None and problem.startswith("run.device: the horovod engine trains on cpu only")
    assert "tensorflow-cpu" in problem and "run.engine = 'ddp'" in problem


def test_a_gpu_run_of_the_horovod_engine_is_refused_at_validation():
    with pytest.raises(SettingsError, match=r"run.device: the horovod engine trains on cpu only, not 'gpu'"):
        gpu_config(engine="horovod")
    assert gpu_config().run.device == "gpu"


def test_a_spec_whose_engines_cannot_all_train_on_its_device_is_refused(tmp_path):
    raw = {
        "name": "g",
        "data": {"source": "synthetic", "image_size": [64, 64]},
        "grid": {"nodes": [1], "workers_per_node": [1], "local_batch_size": [8], "engine": ["horovod", "ddp"]},
        "training": {"epochs": 1, "steps_per_epoch": 2},
        "run": {"device": "gpu"},
        "executor": {"kind": "local"},
    }
    with pytest.raises(SpecError, match="run.device: the horovod engine trains on cpu only"):
        parse_spec(raw, tmp_path / "g.toml")
    raw["grid"]["engine"] = ["ddp"]
    assert {r.config.run.device for r in parse_spec(raw, tmp_path / "g.toml").runs(tmp_path)} == {"gpu"}


def test_the_device_is_part_of_the_fingerprint_only_when_not_the_default():
    cpu = gpu_config().updated("run", device="cpu")
    assert "run.device" not in cpu.fingerprinted()  # the runs recorded before the setting keep their fingerprints
    assert gpu_config().fingerprinted()["run.device"] == "gpu"
    assert gpu_config().fingerprint() != cpu.fingerprint()


# --- the record ----------------------------------------------------------------------------------------------------


def test_memory_keeps_the_gpus_peaks_beside_the_rss():
    cpu = Memory.of([5, 7])
    assert cpu.peak_rss_bytes_max == 7 and cpu.device_peak_reserved_bytes_per_rank is None
    assert cpu.device_peak_allocated_bytes_max is None
    gpu = Memory.of([5, 7], [30, 20], [10, 15])
    assert gpu.device_peak_reserved_bytes_per_rank == [30, 20] and gpu.device_peak_reserved_bytes_max == 30
    assert gpu.device_peak_allocated_bytes_per_rank == [10, 15] and gpu.device_peak_allocated_bytes_max == 15


def gpu_record() -> RunRecord:
    """The completed record of a GPU run: an older CPU run's record made a ddp run on one H100."""
    data = json.loads(RunRecord.load(OLD_RECORD).model_dump_json())
    data.pop("fingerprint")
    data["config"]["run"].update(engine="ddp", device="gpu")
    data["provenance"].update(
        horovod_controller=None,
        engine={
            "name": "ddp",
            "framework": "pytorch",
            "framework_version": "2.11.0",
            "collectives": "torch.distributed 2.11.0",
            "backend": "nccl",
            "device": "gpu",
            "tf32": True,
        },
        gpus=[
            {
                "rank": 0,
                "host": "gpu01",
                "index": 0,
                "name": "NVIDIA H100 80GB HBM3",
                "memory_bytes": 85520809984,
                "compute_capability": "9.0",
                "driver_version": "580.159.04",
                "cuda_runtime": "13.0",
            }
        ],
    )
    data["memory"].update(Memory.of([984420352], [12 * 2**30], [10 * 2**30]).model_dump())
    return RunRecord.model_validate(data)


def test_a_gpu_runs_record_validates_and_older_records_still_do(check_record):
    old = RunRecord.load(OLD_RECORD)
    assert old.provenance is not None and old.provenance.gpus is None and old.memory is not None
    assert old.provenance.engine is not None and old.provenance.engine.tf32 is None
    assert old.memory.device_peak_reserved_bytes_max is None
    record = gpu_record()
    assert record.fingerprint == record.config.fingerprint() != old.fingerprint
    assert record.provenance is not None and record.provenance.gpus is not None
    assert record.provenance.gpus[0].compute_capability == "9.0"
    check_record(json.loads(record.model_dump_json()))  # the published JSON Schema too


def test_the_driver_version_comes_from_nvidia_smi_else_the_kernel_module(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi
    proc = tmp_path / "version"
    monkeypatch.setattr(provenance, "NVIDIA_PROC_VERSION", proc)
    assert provenance.gpu_driver_version() is None
    proc.write_text("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.95.05  Release Build  (x)\n")
    assert provenance.gpu_driver_version() == "580.95.05"
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 550.54.15\necho 550.54.15\n")
    smi.chmod(0o755)
    assert provenance.gpu_driver_version() == "550.54.15"


# --- the peak of a GPU ---------------------------------------------------------------------------------------------


def test_a_gpus_cached_peak_is_used_only_for_the_same_gpu_and_sizes(tmp_path):
    conv, matmul, _, _ = peak.kernel_sizes("gpu")
    assert (conv, matmul) == (peak.GPU_CONV_SHAPE, peak.GPU_MATMUL_SIZE) and conv != peak.CONV_SHAPE
    kernels = [
        KernelPeak(kernel="conv5x5", precision="bf16", shape=list(conv), gflop=268.4, iterations=10,
                   gflops_per_second=2e5),
        KernelPeak(kernel="matmul", precision="bf16", shape=[matmul] * 3, gflop=1099.5, iterations=10,
                   gflops_per_second=7e5),
    ]  # fmt: skip
    peaks = KernelPeaks(
        host="gpu01",
        cpu_model=cpu_model(),
        intra_op_threads=8,
        inter_op_threads=1,
        framework="pytorch",
        framework_version=torch.__version__,
        gpu="NVIDIA H100 80GB HBM3",
        tf32=True,
        measured_at="2026-12-05T08:00:00.000+00:00",
        kernels=kernels,
    )
    path = tmp_path / "peak.json"
    path.write_text(peaks.model_dump_json())
    assert peak._cached(path, 8, 1, "gpu", "NVIDIA H100 80GB HBM3") == peaks
    assert peak._cached(path, 8, 1, "gpu", "NVIDIA H200") is None  # another GPU model
    assert peak._cached(path, 8, 1, "cpu", None) is None  # the CPU's peak is another file and size


# --- SLURM: one GPU per worker ---------------------------------------------------------------------------------------


def test_a_gpu_runs_job_asks_one_gpu_per_worker():
    settings = SlurmSettings(kind="slurm", cpus_per_task=8)
    executor = SlurmExecutor(Path("/tmp/submitit"), settings)
    gpu = gpu_config(nodes=2, workers_per_node=4)
    assert executor.parameters(Run("r", 2, 4, gpu))["gpus_per_node"] == 4
    assert "gpus_per_node" not in executor.parameters(Run("r", 2, 4, gpu.updated("run", device="cpu")))


def test_the_gpu_node_example_expands_to_one_node_of_1_to_8_gpus():
    spec = load_spec(GPU_NODE)
    runs = spec.runs(Path("/tmp/results"))
    assert [(r.run_id, r.workers_per_node) for r in runs[::3]] == [
        ("n1-w1-b32-r1", 1),
        ("n1-w2-b32-r1", 2),
        ("n1-w4-b32-r1", 4),
        ("n1-w8-b32-r1", 8),
    ]
    assert len(runs) == 12 and {r.nodes for r in runs} == {1}
    configs = [r.config for r in runs]
    assert {(c.run.engine, c.run.device, c.training.precision, c.model.name) for c in configs} == {
        ("ddp", "gpu", "bf16", "mcnn")
    }
    assert {(c.data.source, c.data.image_size, c.run.local_batch_size) for c in configs} == {
        ("synthetic", (1024, 1280), 32)
    }
    assert spec.executor.kind == "slurm"
    text = GPU_NODE.read_text()  # the comments say how to run it, capture a reference and accept against it
    for command in ("mcnn-bench sweep", "mcnn-bench reference capture", "mcnn-bench accept", "run-gpu-check.sh"):
        assert command in text


def test_the_gpu_node_sbatch_script_matches_the_golden_file(tmp_path):
    dry_run(load_spec(GPU_NODE), tmp_path, out=io.StringIO())
    text = (tmp_path / "gpu-node" / "n1-w4-b32-r1" / "job.sbatch").read_text()
    text = text.replace(str(tmp_path), "{RESULTS}").replace(shlex.quote(sys.executable), "{PYTHON}")
    assert text == GOLDEN.read_text()
    assert "#SBATCH --gpus-per-node=4\n" in text and "#SBATCH --ntasks-per-node=4\n" in text


# --- the commands that need a GPU -----------------------------------------------------------------------------------


def test_the_gpu_checks_runs_are_the_issues_shapes(tmp_path):
    configs = [check_config(shape, tmp_path) for shape in SHAPES]
    assert [(c.data.image_size, c.run.local_batch_size) for c in configs] == [((1024, 1280), 32), ((768, 768), 64)]
    for c in configs:
        assert (c.run.engine, c.run.device, c.training.precision, c.model.name) == ("ddp", "gpu", "bf16", "mcnn")
        assert c.training.steps_per_epoch == c.training.warmup_steps + 20 and c.run.workers_per_node is None


#: ``mcnn-bench bench gpu`` in a Python where TensorFlow, Keras and Horovod cannot be imported.
BENCH_GPU_WITHOUT_TENSORFLOW = """
import sys
for name in ("tensorflow", "keras", "horovod"):
    sys.modules[name] = None  # any import of them raises ImportError
from mcnn_bench.cli import main
sys.exit(main(["bench", "gpu", "--results", sys.argv[1]]))
"""


@no_gpu_here
def test_the_gpu_checks_report_reads_the_records_figures():
    record = gpu_record()
    assert record.analytic is not None and record.analytic.fraction_of_peak is not None
    text = report([(SHAPES[0], record), (SHAPES[1], record)])
    assert text.startswith("GPU: NVIDIA H100 80GB HBM3 (80 GiB, compute capability 9.0), driver 580.159.04, CUDA 13.0")
    rows = [line.split() for line in text.splitlines() if line.startswith(("1024x1280 ", "768x768 "))]
    assert [row[:2] for row in rows] == [["1024x1280", "32"], ["768x768", "64"]]
    assert rows[0][3:5] == ["12.0", "10.0"]  # GiB reserved, and held by tensors
    assert rows[0][-2:] == [f"{100 * record.analytic.fraction_of_peak:.1f}", "%"]  # Table 1's percent of peak


def test_the_commands_that_need_a_gpu_exit_2_saying_what_pytorch_sees(tmp_path):
    train = [
        sys.executable, "-m", "mcnn_bench", "train", "--data", "synthetic", "--image-size", "64", "64", "--epochs",
        "1", "--steps-per-epoch", "2", "--engine", "ddp", "--device", "gpu", "--results-dir", str(tmp_path),
    ]  # fmt: skip
    bench = [sys.executable, "-c", BENCH_GPU_WITHOUT_TENSORFLOW, str(tmp_path / "check")]
    started = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for argv in (train, bench)
    ]
    (train_done, bench_done) = [(p.communicate(timeout=300), p.returncode) for p in started]
    for ((_, err), status), command in zip((train_done, bench_done), ("train", "bench gpu")):
        assert status == 2, err
        line = next(line for line in err.splitlines() if line.startswith(f"mcnn-bench {command}: error: "))
        assert "run.device = 'gpu', but PyTorch" in line and "torch.cuda.device_count() is 0" in line, err
        assert "CUDA_VISIBLE_DEVICES" in line and "Traceback" not in err, err
    # the run is a failed record naming the device, not a gap; the check started no run
    record = RunRecord.load(tmp_path / "adhoc" / "run" / "record.json")
    assert record.status == "failed" and record.failure is not None
    assert record.failure.reason.startswith("DeviceUnavailable: run.device = 'gpu'")
    assert not (tmp_path / "check" / "gpu-check").exists()


@no_gpu_here
def test_the_peak_on_a_gpu_is_refused_where_there_is_none_or_the_engine_trains_on_cpus(tmp_path, capsys):
    from mcnn_bench.cli import main

    assert main(["peak", "--engine", "horovod", "--device", "gpu", "--results", str(tmp_path)]) == 2
    assert "--device gpu: the horovod engine trains on cpu only" in capsys.readouterr().err
    assert main(["peak", "--engine", "ddp", "--device", "gpu", "--results", str(tmp_path)]) == 2
    assert "mcnn-bench peak: error: run.device = 'gpu', but PyTorch" in capsys.readouterr().err
    assert not list(tmp_path.glob("peaks/*.json"))
