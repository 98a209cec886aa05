"""The Dell EMC paper's experiments as shipped specs (slurm/examples/chestxray14/): each validates against the
shipped ChestX-ray14 sample and dry-runs through the real CLI into the paper's runs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.train.schedule import scaled_peak
from slurm.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "slurm" / "examples" / "chestxray14"
LOCAL = {"chexnet-batch-sweep": 4, "chexnet-threads": 20, "chexnet-optimizers": 3, "vgg16-adadelta": 1}


def dry_run(name: str, tmp_path: Path) -> dict[str, dict]:
    """The configs of the spec's runs as the CLI's dry run wrote them, by run id."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mcnn_bench",
            "sweep",
            str(SPECS / f"{name}.toml"),
            "--dry-run",
            "--results-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return {p.parent.name: json.loads(p.read_text()) for p in (tmp_path / name).glob("*/config.dry-run.json")}


@pytest.mark.horovod
@pytest.mark.parametrize("name, runs", sorted(LOCAL.items()))
def test_local_specs_dry_run_into_their_runs_on_the_shipped_sample(name, runs, tmp_path):
    configs = dry_run(name, tmp_path)
    assert len(configs) == runs
    for config in configs.values():
        assert config["data"]["source"] == "chestxray14" and config["data"]["num_classes"] == 14
        assert Path(config["data"]["dir"]).samefile(ROOT / "benchmark" / "sample" / "chestxray14")


def test_the_batch_sweep_doubles_the_rate_with_the_batch():
    spec = load_spec(SPECS / "chexnet-batch-sweep.toml")
    lr = spec.learning_rate
    peaks = [
        scaled_peak(lr.base_lr, 1, run.config.run.local_batch_size, reference_batch_size=lr.reference_batch_size)
        for run in spec.runs(Path("/tmp"))
    ]
    assert peaks == pytest.approx([0.001, 0.002, 0.004, 0.008])


@pytest.mark.horovod
def test_the_thread_sweep_sets_threads_and_the_papers_openmp_settings_per_worker(tmp_path):
    configs = dry_run("chexnet-threads", tmp_path)
    assert sorted({c["run"]["intra_op_threads"] for c in configs.values()}) == [1, 2]
    job = (tmp_path / "chexnet-threads" / "n1-w1-b16-t2-r5" / "job.sh").read_text()
    assert "OMP_NUM_THREADS=2 KMP_AFFINITY=granularity=fine,compact,1,0 KMP_BLOCKTIME=1 " in job


@pytest.mark.horovod
def test_the_optimizer_comparison_runs_one_optimizer_each(tmp_path):
    configs = dry_run("chexnet-optimizers", tmp_path)
    assert {run_id: c["training"]["optimizer"] for run_id, c in configs.items()} == {
        "n1-w2-b64-adam": "adam",
        "n1-w2-b64-adadelta": "adadelta",
        "n1-w2-b64-momentum": "momentum",
    }


def test_vgg16_uses_adadelta_and_the_step_schedule():
    (run,) = load_spec(SPECS / "vgg16-adadelta.toml").runs(Path("/tmp"))
    c = run.config
    assert (c.model.name, c.training.optimizer, c.learning_rate.schedule, c.learning_rate.warmup_epochs) == (
        "vgg16",
        "adadelta",
        "step",
        5,
    )


def test_the_scaling_spec_makes_two_workers_per_node_at_local_batch_4_and_16():
    runs = load_spec(SPECS / "chexnet-scaling.toml").runs(Path("/tmp"))
    assert sorted(r.run_id for r in runs) == sorted(f"n{n}-w2-b{b}" for n in (1, 2, 4) for b in (4, 16))
    assert all(r.config.model.name == "densenet121" for r in runs)
