"""bf16 training (``training.precision``): Keras' mixed_bfloat16 policy on CPUs that compute bf16 natively,
refused elsewhere with the reason; fp32 stays the default and keeps the fingerprints of earlier runs."""

import subprocess
import sys

import pytest

import benchmark.engines.horovod.engine as train
import benchmark.util.provenance as provenance
from benchmark.config import TrainConfig
from benchmark.data import SAMPLE_DIR
from benchmark.record import RunRecord
from benchmark.util.provenance import isa_flags


def test_bf16_is_refused_on_a_cpu_without_native_bf16(monkeypatch):
    for module in (provenance, train):  # what native_bf16 reads, and what the message quotes
        monkeypatch.setattr(module, "isa_flags", lambda: ["avx2", "fma", "avx512f"])
    with pytest.raises(ValueError, match="training.precision: bf16 needs a CPU with avx512_bf16 or amx_bf16"):
        train.precision_policy("bf16")
    assert train.precision_policy("fp32") == "float32"


def test_fp32_is_the_default_and_keeps_old_fingerprints():
    config = TrainConfig.from_flat(source="synthetic", image_size=(64, 64), epochs=1, steps_per_epoch=1)
    assert config.training.precision == "fp32" and "training.precision" not in config.fingerprinted()
    assert "training.precision" in config.updated("training", precision="bf16").fingerprinted()


@pytest.mark.horovod
@pytest.mark.skipif(not {"avx512_bf16", "amx_bf16"} & set(isa_flags()), reason="this CPU has no native bf16")
def test_a_bf16_run_trains_and_records_its_precision(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mcnn_bench",
            "train",
            "--data",
            "bbbc021-cells",
            "--data-dir",
            str(SAMPLE_DIR),
            "--image-size",
            "64",
            "64",
            "--batch-size",
            "8",
            "--epochs",
            "2",
            "--steps-per-epoch",
            "4",
            "--warmup-steps",
            "1",
            "--precision",
            "bf16",
            "--results-dir",
            str(tmp_path),
            "--run-id",
            "bf16",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    record = RunRecord.load(tmp_path / "adhoc" / "bf16" / "record.json")
    assert record.config.training.precision == "bf16" and record.status == "completed"
    assert all(e.val_top1 is not None and e.train_loss > 0 for e in record.epochs)
    assert len(set(record.model.final_weights_sha256_per_rank)) == 1
