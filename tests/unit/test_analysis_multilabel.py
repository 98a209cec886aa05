"""``analyze`` on CheXNet/VGG-16 records (multi-label ChestX-ray14, Wilson et al., Dell EMC): per-class AUROC
table and bars, seconds per epoch against threads and batch, validation loss per sweep; Table 1's model,
optimizer and TTT target; nothing new for M-CNN-only results. Records are built with the record model and
the trainer's own time-to-train function, and written as files, as tests/unit/test_analysis.py does."""

from __future__ import annotations

import json
import math
import random
import struct
from pathlib import Path

import pandas as pd
import pytest
from test_analysis import PNG_SIGNATURE, make_record, write_record

from analysis.columns import (
    BEST_MEAN_AUROC,
    BEST_TOP1_CI,
    EPOCH,
    FASTEST_EPOCH,
    IMAGES_PER_SECOND,
    MEAN_AUROC,
    MODEL,
    OPTIMIZER,
    RUN_ID,
    SECONDS_PER_EPOCH,
    SLOWEST_EPOCH,
    SWEEP,
    THREADS,
    TTT_MINUTES,
    TTT_TARGET,
    UNDEFINED,
    read_csv,
)
from analysis.differences import per_run_or_pooled, run_labels, settings
from analysis.records import load_records
from analysis.report import analyze, format_summary
from benchmark.config import TrainConfig
from benchmark.data.chestxray14 import CHEXNET_CLASSES
from benchmark.record import (
    Epoch,
    Failure,
    Memory,
    ModelInfo,
    Provenance,
    RunRecord,
    StepSeconds,
    Threads,
    Throughput,
    Topology,
)
from benchmark.train.metrics import time_to_train

#: CheXNet's test AUROCs (Rajpurkar et al. 2017, Table 1), the level the generated runs approach.
CHEXNET_AUROC = dict(
    zip(
        CHEXNET_CLASSES,
        (
            0.8094,
            0.9248,
            0.8638,
            0.7345,
            0.8676,
            0.7802,
            0.7680,
            0.8887,
            0.7901,
            0.8878,
            0.9371,
            0.8047,
            0.8062,
            0.9164,
        ),
    )
)
#: CheXNet's published split (chexnet_{train,val}_list.txt): training and validation images.
TRAIN_IMAGES, VAL_IMAGES = 78_468, 11_219
PARAMETERS = {"densenet121": 6_968_206, "vgg16": 14_721_870}
EPOCHS = 4
THREADS_SWEEP, OPTIMIZER_SWEEP, MCNN_THREADS_SWEEP = "chexnet-threads", "chexnet-optim", "mcnn-threads"
NEW_FILES = ("auroc_per_class.csv", "auroc_per_class.md", "epoch_time.csv")
NEW_FOLDERS = ("auroc", "epoch_time", "val_loss")


def chexnet_record(
    sweep: str,
    run_id: str,
    model: str = "densenet121",
    optimizer: str = "adam",
    batch: int = 8,
    threads: int = 4,
    seed: int = 0,
    undefined: tuple[str, ...] = (),
    status: str = "completed",
) -> dict:
    """A CheXNet-style run record as JSON data: 1 node x 1 worker at local batch ``batch`` and ``threads``
    intra-op threads, ``EPOCHS`` epochs whose per-class AUROCs approach CheXNet's, the classes in
    ``undefined`` without an AUROC (null) in every epoch, wall time per epoch falling with threads."""
    config = TrainConfig.from_flat(
        source="chestxray14",
        dir="/data/chestxray14",
        image_size=(224, 224),
        split="lists",
        name=model,
        optimizer=optimizer,
        epochs=EPOCHS,
        target_mean_auroc=0.8,
        sweep=sweep,
        run_id=run_id,
        nodes=1,
        workers_per_node=1,
        local_batch_size=batch,
        intra_op_threads=threads,
    )
    if status == "failed":
        return RunRecord.failed(config, Failure(reason="MemoryError: out of memory")).model_dump(mode="json")
    rng = random.Random(seed)
    images_per_second = 6.0 * threads**0.8 * (batch / 8) ** 0.1 * rng.uniform(0.95, 1.05)
    epochs, elapsed = [], 0.0
    for epoch in range(1, EPOCHS + 1):
        tracing = 40.0 if epoch == 1 else 0.0  # the first epoch traces the step
        elapsed += (TRAIN_IMAGES + VAL_IMAGES / 3) / images_per_second * rng.uniform(0.97, 1.03) + tracing
        reached = 0.8 + 0.2 * epoch / EPOCHS
        auroc = {
            name: None if name in undefined else min(1.0, value * reached + rng.uniform(-0.02, 0.02))
            for name, value in CHEXNET_AUROC.items()
        }
        defined = [value for value in auroc.values() if value is not None]
        epochs.append(
            Epoch(
                epoch=epoch,
                learning_rate=0.001 * 0.9 ** (epoch - 1),
                train_loss=0.2 - 0.015 * epoch,
                val_loss=0.19 - 0.01 * epoch + rng.uniform(0, 0.01),
                val_auroc=auroc,
                val_auroc_mean=sum(defined) / len(defined),
                elapsed_seconds=elapsed,
            )
        )
    steps = TRAIN_IMAGES // batch
    step = batch / images_per_second
    record = RunRecord(
        sweep=sweep,
        run_id=run_id,
        status="completed",
        config=config,
        topology=Topology.of(1, 1, batch),
        provenance=Provenance(
            hostnames=["node1"],
            cpu_model="Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz",
            logical_cpus=80,
            threads=Threads(intra_op=threads, inter_op=2, omp_num_threads=str(threads), affinity_cores=20),
            software={"tensorflow-cpu": "2.18.1"},
            horovod_controller="gloo",
            git_commit=None,
            started_at="2026-11-22T00:00:00+00:00",
            train_images=TRAIN_IMAGES,
            val_images=VAL_IMAGES,
            steps_per_epoch=steps,
        ),
        model=ModelInfo(parameters=PARAMETERS[model], initial_weights_sha256="a", final_weights_sha256_per_rank=["b"]),
        throughput=Throughput(
            warmup_steps=2,
            timed_steps=steps - 2,
            images=(steps - 2) * batch,
            window_seconds=(steps - 2) * step,
            images_per_second=images_per_second,
            step_seconds=StepSeconds(per_rank=[], min=0.9 * step, median=step, max=1.2 * step),
        ),
        memory=Memory(peak_rss_bytes_per_rank=[6 * 2**30], peak_rss_bytes_max=6 * 2**30),
        epochs=epochs,
        time_to_train=time_to_train(epochs, 0.8, metric="val_auroc_mean"),
    )
    return record.model_dump(mode="json")


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) in pixels, from the PNG's IHDR chunk."""
    return struct.unpack(">II", path.read_bytes()[16:24])


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """A thread sweep (threads 1, 2, 4 x local batch 8, 16 x 2 repeats, Hernia undefined in the repeats at
    one thread), an optimizer/model comparison (DenseNet-121 with Adam and Adadelta, VGG-16 with Adam, Hernia
    undefined there; a failed VGG-16 run), and an M-CNN sweep at two thread counts."""
    root = tmp_path_factory.mktemp("chexnet") / "results"
    seed = 0
    for threads in (1, 2, 4):
        for batch in (8, 16):
            for repeat in (1, 2):
                seed += 1
                undefined = ("Hernia",) if threads == 1 and repeat == 2 else ()
                write_record(
                    root,
                    chexnet_record(
                        THREADS_SWEEP,
                        f"n1-w1-b{batch}-t{threads}-r{repeat}",
                        batch=batch,
                        threads=threads,
                        seed=seed,
                        undefined=undefined,
                    ),
                )
    for model, optimizer in (("densenet121", "adam"), ("densenet121", "adadelta"), ("vgg16", "adam")):
        undefined = ("Hernia",) if model == "vgg16" else ()
        write_record(
            root,
            chexnet_record(
                OPTIMIZER_SWEEP,
                f"{model}-{optimizer}",
                model,
                optimizer,
                batch=16,
                seed=len(model + optimizer),
                undefined=undefined,
            ),
        )
    write_record(root, chexnet_record(OPTIMIZER_SWEEP, "vgg16-adadelta", "vgg16", "adadelta", status="failed"))
    for threads in (1, 2):
        record = make_record(run_id=f"n1-w1-b16-t{threads}")
        record["sweep"] = record["config"]["run"]["sweep"] = MCNN_THREADS_SWEEP
        record["provenance"]["threads"]["intra_op"] = threads
        for epoch in record["epochs"]:
            epoch["elapsed_seconds"] *= 2 / threads
        write_record(root, record)
    return root


@pytest.fixture(scope="module")
def analysed(results):
    return analyze(results, jobs=1)


def records_of(results: Path, sweep: str) -> dict[str, dict]:
    return {path.parent.name: json.loads(path.read_text()) for path in (results / sweep).glob("*/record.json")}


def test_every_new_file_is_written(analysed):
    out = analysed.out_dir
    names = {path.relative_to(out).as_posix() for path in analysed.files}
    expected = {
        *NEW_FILES,
        f"auroc/{THREADS_SWEEP}.png",
        f"auroc/{OPTIMIZER_SWEEP}.png",
        f"epoch_time/{THREADS_SWEEP}.png",
        f"epoch_time/{MCNN_THREADS_SWEEP}.png",
        f"val_loss/{THREADS_SWEEP}.png",
        f"val_loss/{OPTIMIZER_SWEEP}.png",
    }
    assert expected <= names
    assert not {name for name in names if name.split("/")[0] in NEW_FOLDERS} - expected  # no M-CNN AUROC or loss
    for name in expected:
        assert (out / name).stat().st_size > 1000, name
    for folder in NEW_FOLDERS:
        for png in (out / folder).glob("*.png"):
            assert png.read_bytes().startswith(PNG_SIGNATURE)
    assert png_size(out / "auroc" / f"{THREADS_SWEEP}.png") == png_size(out / "auroc" / f"{OPTIMIZER_SWEEP}.png")
    assert out / "auroc_per_class.md" in analysed.files and "report: " in format_summary(analysed)


def test_per_class_auroc_equals_the_records_last_epoch(analysed, results):
    table = read_csv(analysed.out_dir / "auroc_per_class.csv")
    for sweep in (THREADS_SWEEP, OPTIMIZER_SWEEP):
        records = {run_id: r for run_id, r in records_of(results, sweep).items() if r["status"] == "completed"}
        rows = table[table[SWEEP] == sweep].set_index(RUN_ID)
        assert sorted(rows.index) == sorted(records)  # the failed run has no AUROC, so no row
        for run_id, record in records.items():
            last = record["epochs"][-1]
            row = rows.loc[run_id]
            assert row[EPOCH] == last["epoch"]
            for name, value in last["val_auroc"].items():
                assert math.isnan(row[name]) if value is None else row[name] == pytest.approx(value, abs=1e-12), name
            assert row[MEAN_AUROC] == pytest.approx(last["val_auroc_mean"])
            assert row[UNDEFINED] == sum(value is None for value in last["val_auroc"].values())
            assert (row[MODEL], row[OPTIMIZER], row[THREADS]) == (
                record["config"]["model"]["name"],
                record["config"]["training"]["optimizer"],
                record["provenance"]["threads"]["intra_op"],
            )
    assert list(table.columns[table.columns.get_loc(EPOCH) + 1 :][:14]) == list(CHEXNET_CLASSES)
    assert table["Hernia"].isna().sum() == 3 and table.drop(columns="Hernia").notna().all().all()


def test_undefined_aurocs_stay_empty_and_are_counted(analysed):
    text = (analysed.out_dir / "auroc_per_class.md").read_text()
    assert text.splitlines()[0].endswith(
        "3 undefined AUROC(s) (a class with no positive or no negative validation image) left empty."
    )
    vgg = next(line for line in text.splitlines() if "| vgg16-adam " in line)
    cells = [cell.strip() for cell in vgg.strip("|").split("|")]
    header = [cell.strip() for cell in text.splitlines()[2].strip("|").split("|")]
    assert cells[header.index("Hernia")] == "" and cells[header.index("Cardiomegaly")] != ""
    loaded = load_records(analysed.out_dir.parent)
    hernia = loaded.auroc[(loaded.auroc["run_id"] == "vgg16-adam") & (loaded.auroc["class_name"] == "Hernia")]
    assert len(hernia) == EPOCHS and hernia["auroc"].isna().all()


def test_seconds_per_epoch_are_the_mean_wall_time_per_epoch(analysed, results):
    table = read_csv(analysed.out_dir / "epoch_time.csv")
    assert set(table[SWEEP]) == {THREADS_SWEEP, MCNN_THREADS_SWEEP}  # the optimizer sweep varies neither
    for sweep in (THREADS_SWEEP, MCNN_THREADS_SWEEP):
        for run_id, record in records_of(results, sweep).items():
            elapsed = [epoch["elapsed_seconds"] for epoch in record["epochs"]]
            per_epoch = [later - earlier for earlier, later in zip([0.0, *elapsed], elapsed)]
            row = table[(table[SWEEP] == sweep) & (table[RUN_ID] == run_id)].iloc[0]
            assert row[SECONDS_PER_EPOCH] == pytest.approx(sum(per_epoch) / len(per_epoch))
            assert (row[FASTEST_EPOCH], row[SLOWEST_EPOCH]) == pytest.approx((min(per_epoch), max(per_epoch)))
            assert row[THREADS] == record["provenance"]["threads"]["intra_op"]
            assert row[IMAGES_PER_SECOND] == pytest.approx(record["throughput"]["images_per_second"])
    chexnet = table[table[SWEEP] == THREADS_SWEEP]
    medians = chexnet.groupby(THREADS)[SECONDS_PER_EPOCH].median()
    assert medians.is_monotonic_decreasing and len(medians) == 3  # more threads, shorter epochs


def test_table1_shows_model_optimizer_and_the_ttt_metric(analysed, results):
    table = read_csv(analysed.out_dir / "table1.csv").set_index([SWEEP, RUN_ID])
    for sweep in (THREADS_SWEEP, OPTIMIZER_SWEEP, MCNN_THREADS_SWEEP):
        for run_id, record in records_of(results, sweep).items():
            row = table.loc[(sweep, run_id)]
            assert (row[MODEL], row[OPTIMIZER]) == (
                record["config"]["model"]["name"],
                record["config"]["training"]["optimizer"],
            )
            if record["status"] == "failed":
                assert pd.isna(row[BEST_MEAN_AUROC]) and pd.isna(row[TTT_TARGET])
                continue
            ttt = record["time_to_train"]
            if sweep == MCNN_THREADS_SWEEP:
                assert row[TTT_TARGET] == f"top-1 ≥ {100 * ttt['target']:g} %" and pd.isna(row[BEST_MEAN_AUROC])
                continue
            best = max(epoch["val_auroc_mean"] for epoch in record["epochs"])
            assert row[BEST_MEAN_AUROC] == pytest.approx(best) and pd.isna(row[BEST_TOP1_CI])
            assert row[TTT_TARGET] == f"mean AUROC ≥ {ttt['target']:g}" and ttt["metric"] == "val_auroc_mean"
            assert row[TTT_MINUTES] == pytest.approx(ttt["seconds"] / 60)


def test_labels_name_what_differs_and_many_runs_are_pooled(results):
    loaded = load_records(results)
    runs = settings(loaded.runs)
    optim = runs[(runs[SWEEP] == OPTIMIZER_SWEEP) & (runs["status"] == "completed")].sort_values(RUN_ID)
    assert run_labels(optim) == ["densenet121, adadelta", "densenet121, adam", "vgg16, adam"]
    threads = runs[runs[SWEEP] == THREADS_SWEEP].sort_values(RUN_ID)
    labels = run_labels(threads)
    assert "batch 8, 1 thread (n1-w1-b8-t1-r1)" in labels  # repeats: the run id tells them apart
    groups = per_run_or_pooled(threads, 8)  # 12 runs > 8 bars: the repeats of each shape pooled
    assert [label for label, _ in groups][:2] == ["batch 8, 1 thread (2 runs)", "batch 8, 2 threads (2 runs)"]
    assert len(groups) == 6 and all(len(rows) == 2 for _, rows in groups)
    coarse = per_run_or_pooled(threads, 3)
    assert [label for label, _ in coarse] == ["batch 8 (6 runs)", "batch 16 (6 runs)"]


def test_mcnn_only_results_get_none_of_the_new_files(tmp_path):
    for nodes, workers in ((1, 1), (1, 2)):
        write_record(tmp_path, make_record(nodes, workers))
    outputs = analyze(tmp_path, jobs=1)
    out = outputs.out_dir
    for name in (*NEW_FILES, *NEW_FOLDERS):
        assert not (out / name).exists(), name
    assert not [path for path in outputs.files if path.parent.name in NEW_FOLDERS]
    table = read_csv(out / "table1.csv")
    assert set(table[MODEL]) == {"mcnn"} and set(table[TTT_TARGET]) == {"top-1 ≥ 90 %"}
    assert table[BEST_MEAN_AUROC].isna().all()
