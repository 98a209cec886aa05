"""The paper's figures (analysis.figures) from run records written into tmp_path: every figure is written
from a paper-like results folder, and a figure no run can feed is skipped with its reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.figures import PAPER_FIGURES
from analysis.records import LoadedRecords, load_records
from analysis.report import analyze, format_summary
from benchmark.config import TrainConfig
from benchmark.models.analytic import model_figures
from benchmark.record import (
    Epoch,
    Failure,
    FieldAccuracy,
    Memory,
    ModelInfo,
    Provenance,
    RunRecord,
    StepSeconds,
    Threads,
    Throughput,
    TimeToTarget,
    TimeToTrain,
    Topology,
    Validation,
)
from benchmark.train.metrics import analytic_figures

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PAPER_FILES = [figure.files for figure in PAPER_FIGURES]
XEON_6148 = "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz"


def paper_like_record(
    sweep: str,
    nodes: int,
    workers_per_node: int,
    local_batch: int,
    images_per_second: float,
    *,
    image_size=(1024, 1280),
    variant="dataset-a",
    split="field",
    cpu_model="AMD EPYC 7742",
    epochs=4,
    ttt_seconds: float | None = 900.0,
    peak_rss_bytes: int | None = None,
    status="completed",
) -> RunRecord:
    """A completed (or failed) run record with every section of the current record: the epochs' bootstrap
    intervals, top-5 time to train, validation and analytic figures (from benchmark.models.analytic at
    ``image_size``)."""
    config = TrainConfig.from_flat(
        source="bbbc021",
        dir="/data/bbbc021",
        image_size=image_size,
        variant=variant,
        split=split,
        epochs=epochs,
        target_top1=0.9,
        target_top5=1.0,
        sweep=sweep,
        run_id=f"n{nodes}-w{workers_per_node}-b{local_batch}",
        nodes=nodes,
        workers_per_node=workers_per_node,
        local_batch_size=local_batch,
    )
    if status == "failed":
        return RunRecord.failed(config, Failure(reason="MemoryError: out of memory"))
    topology = Topology.of(nodes, workers_per_node, local_batch)
    figures = model_figures(*image_size)
    lower_bound = figures.memory_lower_bound_bytes(local_batch)
    peak = peak_rss_bytes or int(1.6 * lower_bound)
    slower = 1 - 0.04 * (nodes.bit_length() + workers_per_node.bit_length())  # curves that differ run to run
    run_epochs = []
    for e in range(1, epochs + 1):
        top1, top5 = min(0.97, 0.25 * e * slower), min(1.0, (0.5 + 0.2 * e) * slower)
        run_epochs.append(
            Epoch(
                epoch=e,
                learning_rate=0.01 * nodes * min(e, 2) / 2 * (1 - (e - 1) / epochs) ** 2 + 1e-5,
                train_loss=2.4 / e / slower,
                val_loss=2.0 / e,
                val_top1=top1,
                val_top5=top5,
                val_top1_ci=(max(0.0, top1 - 0.06), min(1.0, top1 + 0.02)),
                val_top5_ci=(max(0.0, top5 - 0.05), min(1.0, top5 + 0.05)),
                elapsed_seconds=300.0 * e,
            )
        )
    throughput = Throughput(
        warmup_steps=2,
        timed_steps=40,
        images=40 * topology.global_batch_size,
        window_seconds=40 * topology.global_batch_size / images_per_second,
        images_per_second=images_per_second,
        step_seconds=StepSeconds(per_rank=[], min=1.0, median=1.1, max=1.3),
    )
    memory = Memory(peak_rss_bytes_per_rank=[peak] * topology.workers, peak_rss_bytes_max=peak)
    return RunRecord(
        sweep=sweep,
        run_id=config.run.run_id,
        status="completed",
        config=config,
        topology=topology,
        provenance=Provenance(
            hostnames=[f"node{i}" for i in range(topology.workers)],
            cpu_model=cpu_model,
            logical_cpus=80,
            threads=Threads(intra_op=10, inter_op=2, omp_num_threads="10", affinity_cores=10),
            software={"tensorflow-cpu": "2.18.1"},
            horovod_controller="mpi",
            git_commit=None,
            started_at="2026-11-22T00:00:00+00:00",
            train_images=9000,
            val_images=1000,
            steps_per_epoch=40,
        ),
        model=ModelInfo(
            parameters=figures.parameters,
            initial_weights_sha256="a",
            final_weights_sha256_per_rank=["b"] * topology.workers,
        ),
        throughput=throughput,
        memory=memory,
        epochs=run_epochs,
        time_to_train=TimeToTrain(
            target_top1=0.9,
            seconds=ttt_seconds,
            epochs=4 if ttt_seconds else None,
            reason=None if ttt_seconds else "top-1 never reached 0.9",
            top5=TimeToTarget(target=1.0, seconds=900.0, epochs=3, reason=None),
        ),
        validation=Validation(
            fields=2,
            images=12,
            resamples=1000,
            level=0.95,
            leaky=split == "paper",
            per_field=[
                FieldAccuracy(field="p1/a.tif", images=6, top1=1.0, top5=1.0),
                FieldAccuracy(field="p2/b.tif", images=6, top1=0.5, top5=1.0),
            ],
        ),
        analytic=analytic_figures(config, topology, throughput, memory),
    )


def write_record(root: Path, record: RunRecord) -> Path:
    return record.write(root / record.sweep / record.run_id)


def write_figures(records: LoadedRecords, out: Path) -> tuple[list[Path], list[str]]:
    """Every paper figure drawn as ``analyze`` draws it: the PNGs written, and ``"<file>: <reason>"`` for each
    figure that cannot be drawn."""
    files, skipped = [], []
    for figure in PAPER_FIGURES:
        reason = figure.unavailable(records)
        if reason:
            skipped.append(f"{figure.files}: {reason}")
        else:
            files += figure.draw(records, out)
    return files, skipped


def write_paper_like_results(root: Path) -> Path:
    """A one-node batch sweep on Dataset A (1024x1280, field split: Fig. 5), a scaling sweep on Dataset B
    (768x768, the paper's leaky split, 4 workers per node on 1..8 nodes: Figs. 8 and 10) and a failed run."""
    for per_node, batch, images_per_second in (
        (1, 8, 6.0),
        (1, 16, 6.5),
        (1, 32, 6.8),
        (2, 8, 11.0),
        (2, 16, 11.5),
        (4, 8, 19.0),
        (4, 16, 18.0),
    ):
        write_record(root, paper_like_record("batch", 1, per_node, batch, images_per_second, ttt_seconds=19_860.0))
    for nodes, images_per_second in ((1, 40.0), (2, 76.0), (4, 140.0), (8, 250.0)):
        write_record(
            root,
            paper_like_record(
                "scaling",
                nodes,
                4,
                8,
                images_per_second,
                image_size=(768, 768),
                variant="dataset-b",
                split="paper",
                cpu_model=XEON_6148,
                ttt_seconds=120_000.0 / nodes,
            ),
        )
    write_record(
        root,
        paper_like_record(
            "scaling", 16, 4, 8, 1.0, image_size=(768, 768), variant="dataset-b", split="paper", status="failed"
        ),
    )
    return root


@pytest.fixture
def paper_like(tmp_path: Path) -> Path:
    return write_paper_like_results(tmp_path / "results")


def test_every_figure_is_written(paper_like):
    out = paper_like / "analysis"
    files, skipped = write_figures(load_records(paper_like), out)
    assert skipped == []
    assert sorted(path.name for path in files) == sorted(PAPER_FILES)
    for path in files:
        assert path.read_bytes().startswith(PNG_SIGNATURE) and path.stat().st_size > 10_000, path
    assert not list(out.glob("*.tmp"))


def test_analyze_writes_figures_and_comparison(paper_like):
    outputs = analyze(paper_like, compare="paper")
    names = {str(path.relative_to(outputs.out_dir)) for path in outputs.files}
    assert set(PAPER_FILES) <= names
    assert {
        "throughput.png",
        "scaling_efficiency.png",
        "node_scaling.csv",
        "table1_vs_paper.md",
        "table1_vs_paper.csv",
        "sections_vs_paper.md",
        "sections_vs_paper.csv",
        "paper_checks.md",
        "paper_checks.csv",
    } <= names
    assert [line.split(":")[0] for line in outputs.skipped] == ["step_breakdown.png"]  # these records have no breakdown
    assert "leaky split" in (outputs.out_dir / "table1.md").read_text()
    summary = format_summary(outputs)
    assert "images/s ours/paper" in summary and "not published" not in summary


def test_only_failed_runs_skip_every_figure_but_fig2(tmp_path):
    write_record(tmp_path, paper_like_record("s", 2, 4, 8, 1.0, status="failed"))
    files, skipped = write_figures(load_records(tmp_path), tmp_path / "out")
    assert [path.name for path in files] == ["fig2_activations.png"]
    reasons = dict(line.split(": ", 1) for line in skipped)
    assert reasons == {
        "fig5_batch_size.png": "no completed one-node run with a throughput figure",
        "fig7_training_curves.png": "no run recorded an epoch",
        "fig8_speedup.png": "no sweep has completed runs at two or more node counts with the same workers per node",
        "fig9_top1_lr.png": "no run recorded a validation top-1",
        "fig10_scaling_efficiency.png": "no sweep has completed runs at two or more node counts with the same "
        "workers per node",
    }


def test_one_node_count_skips_the_node_scaling_figures(tmp_path):
    write_record(tmp_path, paper_like_record("s", 1, 1, 8, 5.0))
    write_record(tmp_path, paper_like_record("s", 1, 2, 8, 9.0))
    outputs = analyze(tmp_path)
    drawn = {path.name for path in outputs.files}
    assert {"fig2_activations.png", "fig5_batch_size.png", "fig7_training_curves.png", "fig9_top1_lr.png"} <= drawn
    assert not {"fig8_speedup.png", "fig10_scaling_efficiency.png"} & drawn
    assert any(
        line.startswith("fig8_speedup.png: no sweep has completed runs at two or more node counts")
        for line in outputs.skipped
    )
    assert "not drawn: fig10_scaling_efficiency.png" in format_summary(outputs)


def test_many_runs_keep_the_legend_and_grid_bounded(tmp_path):
    for batch in range(1, 41):
        write_record(tmp_path, paper_like_record("many", 1, 1, batch, 5.0 + batch, image_size=(64, 64), variant="none"))
    files, skipped = write_figures(load_records(tmp_path), tmp_path / "out")
    assert [line.split(":")[0] for line in skipped] == ["fig8_speedup.png", "fig10_scaling_efficiency.png"]
    assert {path.name for path in files} >= {"fig7_training_curves.png", "fig9_top1_lr.png"}
