"""A real short sweep with the local executor (submitit + each engine's launcher: horovodrun, torchrun) that
compares the two engines, then ``mcnn-bench analyze`` and ``mcnn-bench status`` on its results, acceptance
against a reference captured from it, and a re-run that submits nothing that already completed."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from slurm.spec import parse_spec
from slurm.state import SweepState
from slurm.sweep import run_sweep

ROOT = Path(__file__).resolve().parents[2]
RUNS = ["n1-w1-b8-horovod", "n1-w1-b8-ddp", "n1-w2-b8-horovod", "n1-w2-b8-ddp"]
pytestmark = pytest.mark.horovod


def cli(*args):
    return subprocess.run([sys.executable, "-m", "mcnn_bench", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def sweep(shared_data, tmp_path_factory):
    results = tmp_path_factory.mktemp("local")
    raw = {
        "name": "short",
        "data": {
            "source": "bbbc021-cells",
            "dir": str(shared_data / "bbbc021" / "cells"),
            "image_size": [64, 64],
            "val_fraction": 0.25,
        },
        "grid": {"nodes": [1], "workers_per_node": [1, 2], "local_batch_size": [8], "engine": ["horovod", "ddp"]},
        "training": {"epochs": 2, "steps_per_epoch": 3, "warmup_steps": 1, "target_top1": 0.5},
        "learning_rate": {"base_lr": 0.01},
        "executor": {"kind": "local"},
    }
    spec = parse_spec(raw, ROOT / "short.toml")
    out = io.StringIO()
    statuses = run_sweep(spec, results, out=out)
    return spec, results, statuses, out.getvalue()


def test_every_run_completed_with_progress_shown(sweep):
    _, results, statuses, output = sweep
    assert [(s.run_id, s.state) for s in statuses] == [(run_id, "completed") for run_id in RUNS]
    assert "[1/4 runs done] n1-w1-b8-horovod: completed" in output and "[4/4 runs done]" in output
    record = json.loads((results / "short" / "n1-w2-b8-ddp" / "record.json").read_text())
    assert record["provenance"]["engine"]["name"] == "ddp"
    assert record["provenance"]["threads"]["intra_op"] == 1  # 2 cores split over 2 workers
    assert record["config"]["run"]["intra_op_threads"] == 1


def test_every_record_follows_the_published_schema(sweep, check_record):
    _, results, _, _ = sweep
    paths = sorted(results.glob("short/*/record.json"))
    assert len(paths) == 4
    for path in paths:
        check_record(path)


def test_rank0_logs_one_line_per_epoch(sweep):
    _, results, _, _ = sweep
    lines = (results / "short" / "n1-w2-b8-horovod" / "train.log").read_text().splitlines()
    epochs = [line for line in lines if " epoch " in line]
    assert len(epochs) == 2 and "epoch 2/2: train loss" in epochs[1]
    assert "val top-1 " in epochs[1] and "images/s" in epochs[1] and ", lr " in epochs[1]


def test_analyze_rebuilds_table1_and_plots(sweep):
    _, results, _, _ = sweep
    done = cli("analyze", str(results))
    assert done.returncode == 0, done.stderr
    out = results / "analysis"
    table = pd.read_csv(out / "table1.csv")
    assert len(table) == 4 and sorted(table["engine"]) == ["ddp", "ddp", "horovod", "horovod"]
    for _, row in table.iterrows():
        record = json.loads((results / "short" / row["run_id"] / "record.json").read_text())
        assert row["images/s"] == pytest.approx(record["throughput"]["images_per_second"], rel=1e-3)
        assert row["global batch size"] == record["topology"]["global_batch_size"]
    for name in ("throughput.png", "scaling_efficiency.png", "curves/short.png", "table1.md", "engines.png"):
        assert (out / name).stat().st_size > 0
    assert f"report: {out / 'report.html'}" in done.stdout and (out / "report.html").stat().st_size > 0
    # the engines side by side: one row per shape, each engine's images/s and the ratio of the two
    engines = pd.read_csv(out / "engines.csv")
    assert sorted(engines["workers per node"]) == [1, 2]
    ratio = [column for column in engines.columns if "ddp" in column and "horovod" in column]
    assert len(ratio) == 1 and (engines[ratio[0]] > 0).all()


def test_a_reference_captured_from_both_engines_accepts_the_sweep_shape_by_shape(sweep, tmp_path):
    _, results, _, _ = sweep
    reference = tmp_path / "both.toml"
    done = cli(
        "reference",
        "capture",
        str(results / "short"),
        "--system",
        "here",
        "--tolerance",
        "0.9",
        "--out",
        str(reference),
    )
    assert done.returncode == 0, done.stderr
    assert reference.read_text().count('engine = "ddp"') == 2 and reference.read_text().count('engine = "horovod"') == 2
    done = cli("accept", str(results / "short"), "--reference", str(reference))
    assert done.returncode == 0, done.stdout + done.stderr
    assert " ddp" in done.stdout and "FAIL" not in done.stdout


def test_status_lists_every_run(sweep):
    _, results, _, _ = sweep
    done = cli("status", str(results / "short"))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for run_id in RUNS:
        assert any(line.startswith(run_id) and "completed" in line for line in lines)


def test_rerun_submits_nothing_completed(sweep):
    spec, results, _, _ = sweep
    out = io.StringIO()
    run_sweep(spec, results, out=out)
    assert "0 of 4 runs to submit" in out.getvalue()
    assert {r["attempt"] for r in SweepState(results / "short").runs.values()} == {1}


def test_no_wait_is_refused_for_the_local_executor(sweep):
    spec, results, _, _ = sweep
    with pytest.raises(ValueError, match="--no-wait needs the slurm executor"):
        run_sweep(spec, results, wait=False)


def test_bad_spec_is_refused_by_the_cli(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text('name = "x"\n[grid]\nnodes = [2]\n')
    done = cli("sweep", str(spec))
    assert done.returncode == 2
    assert "[data]: missing section" in done.stderr and "Traceback" not in done.stderr
