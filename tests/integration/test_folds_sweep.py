"""A real 3-fold sweep on the shipped sample (DDP engine, 1 worker, a few steps): the runs -f1..-f3 validate
each field of view exactly once between them, and ``mcnn-bench analyze`` pools them into folds.md and the
per-field figure."""

import io
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.columns import read_csv
from benchmark.data.cells import SAMPLE_DIR
from benchmark.record import RunRecord
from slurm.spec import parse_spec
from slurm.sweep import run_sweep

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.ddp


def test_three_folds_validate_every_field_once_and_analyze_pools_them(tmp_path):
    raw = {
        "name": "folds",
        "data": {"source": "bbbc021-cells", "dir": str(SAMPLE_DIR), "image_size": [64, 64], "folds": 3},
        "grid": {"nodes": [1], "workers_per_node": [1], "local_batch_size": [16]},
        "training": {"epochs": 1, "steps_per_epoch": 2, "warmup_steps": 1},
        "run": {"engine": "ddp"},
        "executor": {"kind": "local"},
    }
    statuses = run_sweep(parse_spec(raw, ROOT / "folds.toml"), tmp_path, out=io.StringIO())
    assert [(s.run_id, s.state) for s in statuses] == [(f"n1-w1-b16-f{k}", "completed") for k in (1, 2, 3)]
    records = [RunRecord.load(tmp_path / "folds" / f"n1-w1-b16-f{k}" / "record.json") for k in (1, 2, 3)]
    fields = [f.field for r in records for f in (r.validation.per_field if r.validation else [])]
    assert len(fields) == len(set(fields)) == 12  # the sample's 12 fields, each validated once
    assert [r.config.data.fold for r in records] == [1, 2, 3]
    done = subprocess.run(
        [sys.executable, "-m", "mcnn_bench", "analyze", str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    table = read_csv(tmp_path / "analysis" / "folds.csv")
    assert list(table["estimate"]) == ["n1-w1-b16"] and table["fields_validated"].iloc[0] == 12
    assert table["folds_done"].iloc[0] == 3 and pd.isna(table["note"].iloc[0])
    assert table["kfold_top1_ci_low"].iloc[0] <= table["kfold_top1"].iloc[0] <= table["kfold_top1_ci_high"].iloc[0]
    assert (tmp_path / "analysis" / "folds" / "folds.png").is_file()
    assert "fold 1/3 by field" in (tmp_path / "analysis" / "table1.md").read_text()
