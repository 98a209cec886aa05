"""Real training runs on BBBC021 layouts in the dataset's own format (made by ``make_official_layout`` from
the real tables): Dataset B with two Horovod workers, a run on the official layout and one with a channel
missing, the input benchmark end to end, and a sweep whose spec names a placeholder that ``--data-dir``
replaces. Their logic is tested without workers in tests/unit (test_variants, test_pipeline, test_input,
test_paper_specs)."""

import subprocess
import sys

import numpy as np
import pytest

from benchmark.config import TrainConfig
from benchmark.record import RunRecord


@pytest.fixture
def small_layout(tmp_path, make_official_layout):
    """12 fields of 64x80: 6 DMSO, 6 protein-synthesis inhibitor."""
    return make_official_layout(tmp_path / "layout", [("DMSO", 0.0)] * 6 + [("emetine", 0.3)] * 6, (64, 80))


@pytest.fixture
def official_layout(tmp_path, make_official_layout):
    """8 fields (4 DMSO, 4 of a real treatment) of 128x128 in BBBC021's own format."""
    return make_official_layout(tmp_path, [("DMSO", 0.0)] * 4 + [("emetine", 0.3)] * 4, (128, 128))


@pytest.mark.horovod
def test_two_workers_train_dataset_b_and_record_the_uncertainty(small_layout, tmp_path, check_record):
    from slurm.executor.local import launch_command

    config = TrainConfig.from_flat(
        source="bbbc021",
        dir=str(small_layout),
        val_fraction=0.25,
        variant="dataset-b",
        image_size=(64, 64),
        epochs=2,
        local_batch_size=8,
        steps_per_epoch=3,
        warmup_steps=1,
        target_top1=0.5,
        target_top5=1.0,
        nodes=1,
        workers_per_node=2,
        intra_op_threads=1,
        results_dir=str(tmp_path / "results"),
        run_id="b",
    )
    done = subprocess.run(
        launch_command(config.write_json(tmp_path / "b.json"), 2), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    record = check_record(config.run_dir / "record.json")
    assert RunRecord.load(config.run_dir / "record.json").epochs[-1].val_top1_ci is not None
    validation = record["validation"]
    assert validation["images"] == record["provenance"]["val_images"] == 4 * 48
    assert validation["fields"] == 4 and not validation["leaky"]
    assert [f["images"] for f in validation["per_field"]] == [48] * 4
    for epoch in record["epochs"]:
        low, high = epoch["val_top1_ci"]
        assert low <= epoch["val_top1"] <= high
    last = record["epochs"][-1]
    assert last["val_top1"] == pytest.approx(np.mean([f["top1"] for f in validation["per_field"]]))
    assert record["time_to_train"]["top5"]["target"] == 1.0
    analytic = record["analytic"]
    assert analytic["activation_bytes"] > 0 and analytic["peak_rss_over_lower_bound"] > 1
    assert analytic["achieved_gflops_per_second"] == pytest.approx(
        record["throughput"]["images_per_second"] * analytic["training_gflop_per_image"]
    )


@pytest.mark.horovod
def test_training_on_the_official_layout(official_layout, tmp_path, check_record):
    results = tmp_path / "results"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mcnn_bench",
            "train",
            "--data",
            "bbbc021",
            "--data-dir",
            str(official_layout),
            "--image-size",
            "128",
            "128",
            "--batch-size",
            "2",
            "--epochs",
            "1",
            "--warmup-steps",
            "0",
            "--val-fraction",
            "0.5",
            "--results-dir",
            str(results),
            "--run-id",
            "official",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    record = check_record(results / "adhoc" / "official" / "record.json")
    assert record["status"] == "completed"
    assert record["provenance"]["train_images"] == 4 and record["provenance"]["val_images"] == 4
    assert record["throughput"]["images"] == 4 and record["epochs"][0]["val_top1"] is not None


@pytest.mark.horovod
def test_a_missing_channel_fails_the_run_with_a_record(official_layout, tmp_path, check_record):
    next(official_layout.glob("Week1/*/f5_Actin.tif")).unlink()
    results = tmp_path / "results"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mcnn_bench",
            "train",
            "--data",
            "bbbc021",
            "--data-dir",
            str(official_layout),
            "--image-size",
            "128",
            "128",
            "--batch-size",
            "2",
            "--epochs",
            "1",
            "--val-fraction",
            "0.5",
            "--results-dir",
            str(results),
            "--run-id",
            "gap",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode != 0
    record = check_record(results / "adhoc" / "gap" / "record.json")
    assert record["status"] == "failed"
    assert "Actin" in record["failure"]["reason"] and "f5_Actin.tif" in record["failure"]["reason"]


@pytest.mark.horovod
def test_bench_input_runs_end_to_end(shared_data):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mcnn_bench",
            "bench",
            "input",
            "--tables",
            str(shared_data / "bbbc021"),
            "--size",
            "64",
            "80",
            "--fields-per-class",
            "2",
            "--batch-size",
            "2",
            "--warmup",
            "1",
            "--batches",
            "2",
            "--variants",
            "none",
            "--cores",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    rows = [line.split() for line in lines if line.startswith("none ")]
    assert [row[1] for row in rows] == ["serial", "parallel"]
    assert all(float(row[-2]) > 0 for row in rows), done.stdout  # images/s, then CPU busy
    assert any("model input 64x128" in line for line in lines) and any("images/s" in line for line in lines)
    assert any("per node (none)" in line for line in lines)


@pytest.mark.horovod
def test_status_reads_the_spec_with_the_data_dir_the_sweep_was_run_with(tmp_path, small_layout):
    from slurm.sweep import sweep_status

    spec = tmp_path / "local.toml"
    spec.write_text(
        'name = "moved"\n[data]\nsource = "bbbc021"\ndir = "/data/BBBC021"\nimage_size = [64, 128]\n'
        "[grid]\nnodes = [1]\nworkers_per_node = [1]\nlocal_batch_size = [2]\n"
        '[training]\nepochs = 1\nwarmup_steps = 0\n[executor]\nkind = "local"\n'
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mcnn_bench",
            "sweep",
            str(spec),
            "--data-dir",
            str(small_layout),
            "--results-dir",
            "results",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    statuses = sweep_status(tmp_path / "results" / "moved")
    assert [(s.run_id, s.state, s.stale) for s in statuses] == [("n1-w1-b2", "completed", ())]
