"""Unit tests of the analysis package on run records written into tmp_path (benchmark.record)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from analysis.columns import (
    BEST_TOP1_CI,
    EFFICIENCY,
    EPOCHS_TO_TARGET,
    GLOBAL_BATCH,
    IMAGES_PER_SECOND,
    NODES,
    PEAK_RSS_MIB,
    REASON,
    SPEEDUP,
    STATUS,
    TTT_MINUTES,
    TTT_TOP5_MINUTES,
    WORKERS,
    WORKERS_PER_NODE,
    WORKLOAD,
    read_csv,
)
from analysis.columns import header as header_of
from analysis.records import from_records, load_records
from analysis.report import analyze, format_summary
from analysis.tables import memory_table, node_scaling, scaling, table1
from benchmark.config import TrainConfig
from benchmark.record import (
    EngineInfo,
    Epoch,
    Failure,
    Memory,
    ModelInfo,
    Provenance,
    RunRecord,
    Scheduler,
    StepSeconds,
    Threads,
    Throughput,
    TimeToTarget,
    TimeToTrain,
    Topology,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SWEEP = "unit"
CONFIG = TrainConfig.from_flat(source="synthetic", image_size=(64, 64), epochs=3, steps_per_epoch=40)
PROVENANCE = Provenance(
    hostnames=["node1"],
    cpu_model="test CPU",
    logical_cpus=2,
    threads=Threads(intra_op=1, inter_op=1, omp_num_threads="1", affinity_cores=2),
    software={"tensorflow-cpu": "2.18.1"},
    horovod_controller="gloo",
    git_commit=None,
    started_at="2026-11-22T00:00:00+00:00",
    train_images=640,
    val_images=160,
    steps_per_epoch=40,
)


def make_record(
    nodes=1,
    workers_per_node=1,
    local_batch=16,
    images_per_second=100.0,
    ttt_seconds=300.0,
    status="completed",
    run_id=None,
    engine="horovod",
):
    """A record made by the record model, as JSON data; a failed run carries a failure and nulls where it
    never got to. A run of another engine than horovod names it in its settings and provenance."""
    workers = nodes * workers_per_node
    run_id = run_id or f"n{nodes}-w{workers_per_node}-b{local_batch}"
    config = CONFIG.updated(
        "run",
        sweep=SWEEP,
        run_id=run_id,
        nodes=nodes,
        workers_per_node=workers_per_node,
        local_batch_size=local_batch,
        engine=engine,
    )
    if status == "failed":
        failure = Failure(reason="MemoryError: out of memory", traceback="...")
        return RunRecord.failed(config, failure, scheduler=Scheduler(kind="slurm", job_id="42")).model_dump(mode="json")
    epochs = [
        Epoch(
            epoch=e,
            learning_rate=0.001 * e,
            train_loss=2.0 / e,
            val_loss=1.9 / e,
            val_top1=0.3 * e,
            val_top5=1.0,
            elapsed_seconds=100.0 * e,
        )
        for e in (1, 2, 3)
    ]
    record = RunRecord(
        sweep=SWEEP,
        run_id=run_id,
        status="completed",
        config=config,
        topology=Topology.of(nodes, workers_per_node, local_batch),
        provenance=PROVENANCE if engine == "horovod" else PROVENANCE.model_copy(update=_engine_provenance(engine)),
        model=ModelInfo(parameters=1000, initial_weights_sha256="a", final_weights_sha256_per_rank=["b"] * workers),
        throughput=Throughput(
            warmup_steps=5,
            timed_steps=40,
            images=1280,
            window_seconds=1280 / images_per_second,
            images_per_second=images_per_second,
            step_seconds=StepSeconds(per_rank=[], min=0.1, median=0.2, max=0.3),
        ),
        memory=Memory(peak_rss_bytes_per_rank=[3 * 2**20] * workers, peak_rss_bytes_max=3 * 2**20),
        epochs=epochs,
        time_to_train=TimeToTrain(target_top1=0.9, seconds=ttt_seconds, epochs=3, reason=None),
        scheduler=Scheduler(kind="slurm", job_id="42"),
    )
    return record.model_dump(mode="json")


def _engine_provenance(engine: str) -> dict:
    """What a record's provenance says of a run on ``engine`` (PyTorch's, for the DDP engine)."""
    info = EngineInfo(
        name=engine,
        framework="torch",
        framework_version="2.6.0",
        collectives="torch.distributed 2.6.0",
        backend="gloo",
        device="cpu",
    )
    return {"horovod_controller": None, "engine": info}


def write_record(root: Path, record: dict) -> Path:
    path = root / record["sweep"] / record["run_id"] / "record.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(record))
    return path


@pytest.fixture
def sweep_dir(tmp_path: Path) -> Path:
    """Three completed runs at 1/2/4 workers (local batch 16) and one failed run."""
    for nodes, wpn, ips, ttt in ((1, 1, 100.0, 600.0), (1, 2, 180.0, 330.0), (2, 2, 320.0, 180.0)):
        write_record(tmp_path, make_record(nodes, wpn, images_per_second=ips, ttt_seconds=ttt))
    write_record(tmp_path, make_record(4, 2, status="failed"))
    return tmp_path


def test_load_records_flattens_runs_and_epochs(sweep_dir):
    loaded = load_records(sweep_dir)
    assert loaded.problems == []
    assert len(loaded.runs) == 4
    assert len(loaded.epochs) == 9
    run = loaded.runs.set_index("run_id").loc["n1-w2-b16"]
    assert (run["workers"], run["global_batch_size"], run["images_per_second"]) == (2, 32, 180.0)
    assert run["median_step_seconds"] == 0.2
    assert run["final_val_top1"] == pytest.approx(0.9)
    assert run["best_val_top1"] == pytest.approx(0.9)
    assert run["slurm_job_id"] == "42"


def test_records_made_before_the_new_sections_still_load(tmp_path):
    """A record without data.variant/split, training.target_top5, time_to_train.top5, the epochs' intervals,
    validation and analytic (as written before they existed) loads, those columns missing or at the
    settings' defaults."""
    record = make_record()
    for key in ("variant", "split"):
        del record["config"]["data"][key]
    del record["config"]["training"]["target_top5"]
    del record["time_to_train"]["top5"]
    del record["validation"], record["analytic"]
    for epoch in record["epochs"]:
        del epoch["val_top1_ci"], epoch["val_top5_ci"]
    write_record(tmp_path, record)
    loaded = load_records(tmp_path)
    assert loaded.problems == []
    run = loaded.runs.iloc[0]
    assert (run["variant"], run["split"], run["leaky"]) == ("none", "field", False)
    for column in (
        "ttt_top5_seconds",
        "ttt_top5_epochs",
        "target_top5",
        "best_val_top1_ci_low",
        "activation_bytes",
        "achieved_gflops_per_second",
        "peak_rss_over_lower_bound",
    ):
        assert pd.isna(run[column]), column
    assert loaded.epochs[["val_top1_ci_low", "val_top5_ci_high"]].isna().all().all()
    row = table1(loaded.runs).iloc[0]
    assert pd.isna(row[TTT_TOP5_MINUTES]) and row[BEST_TOP1_CI] == "90.0 %" and row[WORKLOAD] == "64x64 synthetic"


def test_intervals_top5_time_and_analytic_reach_the_tables():
    """Records with every new section (read in memory: ``from_records``)."""
    epochs = [
        Epoch(
            epoch=e,
            learning_rate=0.01,
            train_loss=1.0 / e,
            val_top1=top1,
            val_top5=top5,
            val_top1_ci=(top1 - 0.05, min(1.0, top1 + 0.03)),
            val_top5_ci=(top5 - 0.02, top5),
            elapsed_seconds=60.0 * e,
        )
        for e, top1, top5 in ((1, 0.6, 0.9), (2, 0.8, 0.97), (3, 0.7, 0.95))
    ]
    data = make_record()
    record = RunRecord.model_validate(
        {
            **data,
            "epochs": [e.model_dump() for e in epochs],
            "time_to_train": TimeToTrain(
                target_top1=0.9,
                seconds=None,
                epochs=None,
                reason="not reached",
                top5=TimeToTarget(target=0.95, seconds=120.0, epochs=2, reason=None),
            ).model_dump(),
        },
        strict=False,
    )
    loaded = from_records([(record, Path("record.json"))])
    run = loaded.runs.iloc[0]
    assert (run["best_val_top1_ci_low"], run["best_val_top1_ci_high"]) == pytest.approx((0.75, 0.83))
    assert (run["best_val_top5_ci_low"], run["best_val_top5_ci_high"]) == pytest.approx((0.95, 0.97))
    assert (run["ttt_top5_seconds"], run["ttt_top5_epochs"], run["target_top5"]) == (120.0, 2, 0.95)
    assert list(loaded.epochs["val_top1_ci_low"]) == pytest.approx([0.55, 0.75, 0.65])
    row = table1(loaded.runs).iloc[0]
    assert row[TTT_TOP5_MINUTES] == 2.0
    assert row[BEST_TOP1_CI] == "80.0 % [75.0, 83.0]"


def test_record_file_with_intervals_loads(tmp_path):
    """An interval is a JSON array in the file (a tuple in the model)."""
    record = make_record()
    record["epochs"][0]["val_top1_ci"] = [0.2, 0.4]
    write_record(tmp_path, record)
    loaded = load_records(tmp_path)
    assert loaded.problems == []
    assert list(loaded.epochs[["val_top1_ci_low", "val_top1_ci_high"]].iloc[0]) == [0.2, 0.4]


def test_table1_values_come_from_records(sweep_dir):
    table = table1(load_records(sweep_dir).runs)
    for column in (NODES, WORKERS_PER_NODE, EPOCHS_TO_TARGET, GLOBAL_BATCH, TTT_MINUTES, IMAGES_PER_SECOND):
        assert column in table.columns
    assert list(table[NODES]) == [1, 1, 2, 4]
    assert list(table[GLOBAL_BATCH]) == [16, 32, 64, 128]
    assert list(table[TTT_MINUTES][:3]) == pytest.approx([10.0, 5.5, 3.0])
    assert list(table[IMAGES_PER_SECOND][:3]) == [100.0, 180.0, 320.0]
    assert list(table[EPOCHS_TO_TARGET][:3]) == [3, 3, 3]


def test_failed_run_is_a_row_with_its_reason(sweep_dir):
    failed = table1(load_records(sweep_dir).runs).iloc[-1]
    assert failed[STATUS] == "failed"
    assert failed[REASON] == "MemoryError: out of memory"
    assert pd.isna(failed[TTT_MINUTES]) and pd.isna(failed[IMAGES_PER_SECOND])


def test_scaling_speedup_and_efficiency(sweep_dir):
    table = scaling(load_records(sweep_dir).runs)
    assert list(table[WORKERS]) == [1, 2, 4]
    assert list(table[SPEEDUP]) == pytest.approx([1.0, 1.8, 3.2])
    assert list(table[EFFICIENCY]) == pytest.approx([100.0, 90.0, 80.0])


def test_scaling_baseline_is_per_local_batch_size(tmp_path):
    write_record(tmp_path, make_record(1, 2, local_batch=32, images_per_second=200.0))
    write_record(tmp_path, make_record(1, 4, local_batch=32, images_per_second=300.0))
    write_record(tmp_path, make_record(1, 1, local_batch=16, images_per_second=50.0))
    table = scaling(load_records(tmp_path).runs).set_index("run_id")
    assert table.loc["n1-w4-b32", SPEEDUP] == pytest.approx(1.5)
    assert table.loc["n1-w4-b32", EFFICIENCY] == pytest.approx(75.0)
    assert table.loc["n1-w1-b16", SPEEDUP] == pytest.approx(1.0)


def test_node_scaling_per_sweep_and_workers_per_node(sweep_dir):
    table = node_scaling(load_records(sweep_dir).runs)
    assert list(zip(table[WORKERS_PER_NODE], table[NODES])) == [(1, 1), (2, 1), (2, 2)]
    assert list(table[SPEEDUP]) == pytest.approx([1.0, 1.0, 320 / 180])
    assert list(table[EFFICIENCY]) == pytest.approx([100.0, 100.0, 100 * 320 / 180 / 2])


def test_memory_table_in_mib(sweep_dir):
    table = memory_table(load_records(sweep_dir).runs)
    assert list(table[PEAK_RSS_MIB][:3]) == [3.0, 3.0, 3.0]
    assert pd.isna(table[PEAK_RSS_MIB].iloc[-1])


@pytest.mark.parametrize(
    "content, reason",
    [
        ('{"schema_version": 1, "sweep": "unit", "run_', "invalid JSON"),
        ("", "invalid JSON"),
        ('{"schema_version": 2, "sweep": "unit", "run_id": "x", "status": "completed"}', "config: required"),
        (json.dumps({**make_record(), "schema_version": 1}), "schema_version"),
        (json.dumps({**make_record(), "topology": None}), "topology"),
        (json.dumps([1, 2]), "must be an object"),
    ],
)
def test_malformed_record_is_reported_and_skipped(sweep_dir, content, reason):
    bad = sweep_dir / SWEEP / "broken" / "record.json"
    bad.parent.mkdir(parents=True)
    bad.write_text(content)
    loaded = load_records(sweep_dir)
    assert len(loaded.runs) == 4
    [(path, message)] = loaded.problems
    assert path == bad and reason in message


def test_duplicate_run_is_reported(sweep_dir):
    copy = sweep_dir / "copy" / "record.json"
    copy.parent.mkdir()
    copy.write_text((sweep_dir / SWEEP / "n1-w1-b16" / "record.json").read_text())
    loaded = load_records(sweep_dir)
    assert len(loaded.runs) == 4
    [(path, reason)] = loaded.problems
    original = sweep_dir / SWEEP / "n1-w1-b16" / "record.json"
    assert {path, Path(reason.split("already loaded from ")[1])} == {copy, original}
    assert reason.startswith("duplicate run unit/n1-w1-b16")


def test_analyze_writes_every_file(sweep_dir):
    bad = sweep_dir / SWEEP / "broken" / "record.json"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"schema_version": 1')
    outputs = analyze(sweep_dir)
    out = sweep_dir / "analysis"
    assert outputs.out_dir == out
    expected = [
        "table1.csv",
        "table1.md",
        "scaling.csv",
        "node_scaling.csv",
        "memory.csv",
        "step_breakdown.csv",
        "step_breakdown.md",
        "throughput.png",
        "scaling_efficiency.png",
        "fig2_activations.png",
        "fig5_batch_size.png",
        "fig7_training_curves.png",
        "fig8_speedup.png",
        "fig9_top1_lr.png",
        "fig10_scaling_efficiency.png",
        "curves/unit.png",
    ]
    assert sorted(outputs.files) == sorted(out / name for name in expected)
    assert set(outputs.seconds) == {"load", "tables", "plots", "curves", "report"}
    assert outputs.report == out / "report.html" and outputs.report.stat().st_size > 10_000
    for png in out.rglob("*.png"):
        assert png.read_bytes().startswith(PNG_SIGNATURE) and png.stat().st_size > 1000
    assert not list(out.rglob("*.tmp"))
    pd.testing.assert_frame_equal(
        read_csv(out / "table1.csv")[[NODES, TTT_MINUTES]],
        outputs.table1[[NODES, TTT_MINUTES]].astype({NODES: "int64"}),
    )
    assert list(read_csv(out / "scaling.csv")[EFFICIENCY]) == pytest.approx([100.0, 90.0, 80.0])
    assert pd.read_csv(out / "scaling.csv").columns[-2] == "scaling efficiency (%)"  # headers: display labels
    assert len(pd.read_csv(out / "memory.csv")) == 4
    header = (out / "table1.md").read_text().splitlines()[0]
    assert [cell.strip() for cell in header.strip("|").split("|")] == list(map(header_of, outputs.table1.columns))
    assert outputs.problems == [(bad, outputs.problems[0][1])]
    summary = format_summary(outputs)
    assert f"{bad}: invalid JSON" in summary
    assert "MemoryError: out of memory" in summary and str(out) in summary


def test_per_run_curves_are_written_on_request(sweep_dir):
    outputs = analyze(sweep_dir, per_run_curves=True, jobs=2)
    curves = sorted(
        path.relative_to(outputs.out_dir / "curves").as_posix()
        for path in outputs.files
        if path.parent.name == "curves"
    )
    assert curves == ["n1-w1-b16.png", "n1-w2-b16.png", "n2-w2-b16.png", "unit.png"]
    for path in outputs.files:
        assert path.is_file()


def test_analyze_honours_out_dir_and_separates_sweeps(tmp_path):
    results = tmp_path / "results"
    write_record(results, make_record())
    write_record(results, {**make_record(), "sweep": "other"})
    out = tmp_path / "elsewhere"
    outputs = analyze(results, out, per_run_curves=True)
    assert (out / "curves" / f"{SWEEP}.png").is_file() and (out / "curves" / "other.png").is_file()
    assert (out / "curves" / SWEEP / "n1-w1-b16.png").is_file()
    assert (out / "curves" / "other" / "n1-w1-b16.png").is_file()
    assert not (results / "analysis").exists()
    assert [line.split(":")[0] for line in outputs.skipped] == [
        "fig8_speedup.png",
        "fig10_scaling_efficiency.png",
        "step_breakdown.png",
    ]  # these records have no breakdown


def test_analyze_all_runs_failed_skips_scaling_figures(tmp_path):
    write_record(tmp_path, {**make_record(status="failed"), "topology": None, "epochs": None})
    outputs = analyze(tmp_path)
    assert outputs.table1[REASON].tolist() == ["MemoryError: out of memory"]
    assert [path.name for path in outputs.files] == [
        "table1.csv",
        "table1.md",
        "scaling.csv",
        "node_scaling.csv",
        "memory.csv",
        "step_breakdown.csv",
        "step_breakdown.md",
        "fig2_activations.png",
    ]
    assert [line.split(":")[0] for line in outputs.skipped[:2]] == ["throughput.png", "scaling_efficiency.png"]
    assert [line.split(":")[0] for line in outputs.skipped[2:]] == [
        "fig5_batch_size.png",
        "fig7_training_curves.png",
        "fig8_speedup.png",
        "fig9_top1_lr.png",
        "fig10_scaling_efficiency.png",
        "step_breakdown.png",
    ]
    assert "not drawn: throughput.png" in format_summary(outputs)


def test_missing_dir_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nope")):
        load_records(tmp_path / "nope")


def test_dir_without_records_raises(tmp_path):
    (tmp_path / "sweep" / "run").mkdir(parents=True)
    with pytest.raises(ValueError, match="no record.json found under"):
        analyze(tmp_path)
