"""The second workload end to end: CheXNet's DenseNet-121 and VGG-16 trained by the same trainer on the real
X-rays of the shipped ChestX-ray14 sample, multi-label, with real Horovod workers."""

import json
import subprocess

import numpy as np
import pytest

from benchmark.config import TrainConfig
from benchmark.data.chestxray14 import CHEXNET_CLASSES, SAMPLE_DIR
from slurm.executor.local import launch_command

pytestmark = pytest.mark.horovod

SETTINGS = dict(
    source="chestxray14",
    dir=str(SAMPLE_DIR),
    image_size=(32, 32),
    local_batch_size=8,
    epochs=2,
    steps_per_epoch=3,
    warmup_steps=1,
    intra_op_threads=1,
    sweep="xray",
)


def run(tmp_path, workers: int, **settings):
    config = TrainConfig.from_flat(**{**SETTINGS, "results_dir": str(tmp_path), **settings})
    path = config.write_json(tmp_path / f"{config.run.run_id}.json")
    done = subprocess.run(launch_command(path, workers), capture_output=True, text=True, timeout=900)
    record = config.run_dir / "record.json"
    assert record.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    return done, json.loads(record.read_text())


def test_densenet121_two_workers_multi_label_with_per_class_auroc(tmp_path, check_record):
    done, record = run(
        tmp_path,
        2,
        name="densenet121",
        optimizer="adam",
        base_lr=0.0005,
        target_mean_auroc=0.3,
        run_id="densenet",
        nodes=1,
        workers_per_node=2,
    )
    assert done.returncode == 0 and record["status"] == "completed", record.get("failure")
    check_record(record)
    last = record["epochs"][-1]
    assert list(last["val_auroc"]) == list(CHEXNET_CLASSES)
    defined = [v for v in last["val_auroc"].values() if v is not None]
    assert defined and last["val_auroc_mean"] == pytest.approx(np.mean(defined))
    assert last["val_top1"] is None and last["val_loss"] > 0
    ttt = record["time_to_train"]
    assert ttt["metric"] == "val_auroc_mean" and ttt["target"] == 0.3 and ttt["target_top1"] is None
    assert (ttt["seconds"] is None) == (max(e["val_auroc_mean"] for e in record["epochs"]) < 0.3)
    digests = record["model"]["final_weights_sha256_per_rank"]
    assert len(digests) == 2 and digests[0] == digests[1]  # trained weights stay in sync over the allreduce
    assert record["model"]["parameters"] == 7_037_504 + 1024 * 14 + 14
    assert record["analytic"] is None and record["validation"] is None
    assert record["config"]["training"]["optimizer"] == "adam"


def test_vgg16_adadelta_with_the_step_schedule(tmp_path):
    done, record = run(
        tmp_path,
        1,
        name="vgg16",
        optimizer="adadelta",
        schedule="step",
        base_lr=1.0,
        lr_start=0.1,
        warmup_epochs=1,
        decay_factor=0.5,
        decay_from_epoch=1,
        epochs=3,
        steps_per_epoch=2,
        run_id="vgg",
    )
    assert record["status"] == "completed", record.get("failure")
    assert [e["learning_rate"] for e in record["epochs"]] == pytest.approx([0.1, 0.5, 0.25])
    assert record["model"]["parameters"] == 14_714_688 + 512 * 14 + 14  # 1x1x512 features at 32x32


def test_the_chexnet_lists_that_leave_no_training_image_fail_with_the_reason(tmp_path, shared_data):
    done, record = run(
        tmp_path, 1, dir=str(shared_data / "chestxray14"), name="densenet121", split="lists", run_id="lists"
    )
    assert done.returncode != 0 and record["status"] == "failed"
    assert "0 train" in record["failure"]["reason"] and "380 test" in record["failure"]["reason"]
