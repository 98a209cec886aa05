"""analysis.folds: the K-fold estimate over every field of view, from the K runs' per-field outcomes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from test_analysis import make_record

from analysis.folds import FoldsFigure, FoldsTable, combine, estimate_id, folds_table
from analysis.records import from_records
from analysis.tables import table1, workload
from benchmark.config import TrainConfig
from benchmark.data.cells import SAMPLE_DIR
from benchmark.record import FieldAccuracy, RunRecord, Validation
from benchmark.train.metrics import bootstrap_interval

FIELDS = [f"Week1_{plate}/B0{i}_s1_w1X.tif" for plate in (1, 2, 3) for i in range(4)]  # 12 fields


def per_field(top1: list[float], images: int | list[int] = 60) -> pd.DataFrame:
    counts = [images] * len(top1) if isinstance(images, int) else images
    return pd.DataFrame(
        {"field": FIELDS[: len(top1)], "field_images": counts, "field_top1": top1, "field_top5": [1.0] * len(top1)}
    )


def test_the_estimate_pools_images_and_its_interval_is_the_cluster_bootstrap_over_fields():
    top1 = [1.0, 1.0, 0.95, 0.6, 0.9, 1.0]
    images = [60, 60, 40, 60, 20, 60]
    found = combine(per_field(top1, images), seed=4)
    hits = np.rint(np.array(top1) * images)
    assert found.top1 == pytest.approx(hits.sum() / sum(images))
    assert (found.fields, found.images) == (6, 300)
    correct = np.concatenate([np.arange(n) < h for n, h in zip(images, hits)])
    assert found.interval == bootstrap_interval(correct, np.repeat(np.arange(6), images), seed=4)
    assert found.interval[0] < found.top1 < found.interval[1]
    assert (found.worst_top1, found.worst_field) == (0.6, FIELDS[3])
    assert found.field_mean == pytest.approx(np.mean(top1))
    assert found.t_interval[0] < found.field_mean < found.t_interval[1] <= 1.0


def test_between_field_spread_widens_the_interval_where_images_alone_would_not():
    even = combine(per_field([0.9] * 12))  # every field at 0.9: the fields agree
    spread = combine(per_field([1.0] * 9 + [0.6] * 3))  # the same 0.9 overall, one hard field in four
    assert even.top1 == pytest.approx(spread.top1) == pytest.approx(0.9)
    assert even.interval[1] - even.interval[0] == 0.0  # resampling whole fields of equal accuracy: no spread
    assert spread.interval[1] - spread.interval[0] > 0.1
    assert spread.interval[0] <= 0.85  # the hard fields pull the lower end down
    with pytest.raises(ValueError, match="no validated field"):
        combine(per_field([]))


def fold_records(folds: int = 3, done: tuple[int, ...] = (1, 2, 3), split: str = "field") -> list:
    """K-fold run records of the sample: fold k validated fields k-1, k-1+K, ... (a K-th of the 12)."""
    records = []
    for fold in done:
        data = make_record(run_id=f"n1-w1-b16-f{fold}")
        data["config"]["data"] = {
            "source": "bbbc021-cells",
            "dir": str(SAMPLE_DIR),
            "image_size": [64, 64],
            "split": split,
            "folds": folds,
            "fold": fold,
        }
        mine = FIELDS[fold - 1 :: folds]
        data["validation"] = Validation(
            fields=len(mine),
            images=60 * len(mine),
            resamples=1000,
            level=0.95,
            leaky=False,
            per_field=[FieldAccuracy(field=f, images=60, top1=0.5 if f == FIELDS[5] else 1.0, top5=1.0) for f in mine],
        ).model_dump()
        data["fingerprint"] = TrainConfig.model_validate(data["config"]).fingerprint()
        records.append((RunRecord.model_validate(data), Path(f"f{fold}/record.json")))
    return records


def test_the_k_runs_combine_into_one_estimate_over_every_field(tmp_path):
    loaded = from_records(fold_records())
    assert len(loaded.fields) == 12 and set(loaded.runs["fold"]) == {1, 2, 3}
    [row] = folds_table(loaded).to_dict("records")
    assert (row["estimate"], row["split"], row["folds"], row["folds_done"]) == ("n1-w1-b16", "field", 3, 3)
    assert (row["fields_validated"], row["validation_images"], row["note"]) == (12, 720, "")
    assert row["kfold_top1"] == pytest.approx((11 * 60 + 30) / 720)
    assert row["worst_field"] == FIELDS[5] and row["worst_field_top1"] == 0.5
    assert list(workload(loaded.runs)) == [f"64x64 bbbc021-cells, fold {k}/3 by field" for k in (1, 2, 3)]
    assert (table1(loaded.runs)["workload"].str.contains("fold")).all()  # the tables with accuracy name the split
    paths = FoldsTable().write(loaded, tmp_path)
    assert [p.name for p in paths] == ["folds.csv", "folds.md"]
    text = (tmp_path / "folds.md").read_text()
    assert "cluster bootstrap over fields" in text and "| n1-w1-b16" in text and "95.8" in text
    [png] = FoldsFigure().draw(loaded, tmp_path)
    assert png == tmp_path / "folds" / "unit.png"
    with Image.open(png) as image:
        assert image.width >= 800


def test_a_missing_fold_and_a_plate_split_are_said():
    loaded = from_records(fold_records(done=(1, 3), split="plate"))
    [row] = folds_table(loaded).to_dict("records")
    assert row["folds_done"] == 2 and row["fields_validated"] == 8
    assert row["note"] == "fold(s) 2 missing: not every field validated" and row["split"] == "plate"
    assert estimate_id("n1-w2-b16-horovod-r2-f3") == "n1-w2-b16-horovod-r2"
    assert estimate_id("n1-w2-b16") == "n1-w2-b16"
    single = from_records([(RunRecord.model_validate(make_record()), Path("record.json"))])
    assert folds_table(single).empty and FoldsTable().write(single, Path("/nonexistent")) == []
