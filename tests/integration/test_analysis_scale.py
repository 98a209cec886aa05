"""``analyze`` at scale: records made by analysis.bench's generator; sweep-level outputs only unless
``per_run_curves``; figure sizes and legends that do not grow with the number of runs; parallel loading
equal to serial loading; ``mcnn-bench bench analyze``."""

from __future__ import annotations

import struct
from pathlib import Path

import pandas as pd
import pytest

from analysis import records as records_module
from analysis.bench import RUNS_PER_SWEEP, make_records, template_record
from analysis.columns import LOCAL_BATCH, SWEEP, WORKERS_PER_NODE
from analysis.figures import PAPER_FIGURES
from analysis.plots import MAX_SERIES, series
from analysis.records import load_records
from analysis.report import SUMMARY_ROWS, analyze, format_summary
from analysis.tables import scaling
from mcnn_bench.cli import main

SUMMARY = {
    "table1.csv",
    "table1.md",
    "scaling.csv",
    "node_scaling.csv",
    "memory.csv",
    "step_breakdown.csv",
    "step_breakdown.md",
    "throughput.png",
    "scaling_efficiency.png",
    *(figure.files for figure in PAPER_FIGURES),
    "step_breakdown.png",
}


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) in pixels, from the PNG's IHDR chunk."""
    return struct.unpack(">II", path.read_bytes()[16:24])


@pytest.fixture(scope="module")
def many(tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("many") / "results"
    make_records(results, 300)
    return results


def test_generated_records_are_valid_and_varied(many):
    loaded = load_records(many)
    assert loaded.problems == [] and len(loaded.runs) == 300
    runs = loaded.runs
    assert runs["sweep"].nunique() == -(-300 // RUNS_PER_SWEEP)
    assert runs["nodes"].nunique() == 8 and runs["workers_per_node"].nunique() == 4
    assert runs["local_batch_size"].nunique() == 4 and runs["images_per_second"].nunique() > 250
    assert 0 < (runs["status"] == "failed").sum() < 30
    assert loaded.epochs.groupby(["sweep", "run_id"]).size().nunique() > 3  # 3 to 8 epochs


def test_analyze_writes_sweep_level_outputs_only(many, tmp_path):
    outputs = analyze(many, tmp_path / "out", jobs=2)
    names = {path.relative_to(outputs.out_dir).as_posix() for path in outputs.files}
    sweeps = sorted(load_records(many).runs["sweep"].unique())
    assert names == SUMMARY | {f"curves/{sweep}.png" for sweep in sweeps}
    assert outputs.skipped == [] and outputs.problems == []
    assert sorted(p.relative_to(outputs.out_dir).as_posix() for p in outputs.out_dir.rglob("*.png")) == sorted(
        name for name in names if name.endswith(".png")
    )
    assert set(outputs.seconds) == {"load", "tables", "plots", "curves", "report"}
    assert outputs.report.stat().st_size > 0
    summary = format_summary(outputs)
    assert f"... {300 - SUMMARY_ROWS} more rows in table1.md" in summary
    assert len(summary.splitlines()) < SUMMARY_ROWS + 40
    assert len((outputs.out_dir / "table1.md").read_text().splitlines()) == 2 + 300


def test_figure_size_and_legend_do_not_grow_with_the_runs(many, tmp_path):
    few = tmp_path / "few"
    make_records(few, 12)
    small, large = analyze(few, tmp_path / "small", jobs=1), analyze(many, tmp_path / "large", jobs=2)
    for name in ("throughput.png", "scaling_efficiency.png"):
        assert png_size(small.out_dir / name) == png_size(large.out_dir / name), name
    assert png_size(large.out_dir / "throughput.png") == (900, 576)  # 7.5 x 4.8 in at 120 dpi
    for name in (
        "fig2_activations.png",
        "fig5_batch_size.png",
        "fig7_training_curves.png",
        "fig8_speedup.png",
        "fig10_scaling_efficiency.png",
    ):
        width, height = png_size(large.out_dir / name)
        assert width <= 2200 and height <= 800, name
    table = scaling(load_records(many).runs)
    groupings = ([SWEEP, LOCAL_BATCH, WORKERS_PER_NODE], [LOCAL_BATCH, WORKERS_PER_NODE], [WORKERS_PER_NODE])
    lines = list(series(table, groupings))
    assert 1 <= len(lines) <= MAX_SERIES
    assert sum(len(group) for _, _, group in lines) == len(table)  # pooled, nothing left out
    assert "sweeps" in lines[0][1]  # the label says what it pools


def test_per_run_curves_write_one_png_per_completed_run(tmp_path):
    results = tmp_path / "results"
    make_records(results, 40, seed=1)
    loaded = load_records(results)
    completed = loaded.runs[loaded.runs["status"] == "completed"]
    assert completed["sweep"].nunique() == 1  # 40 runs: one sweep, so curves/<run_id>.png
    outputs = analyze(results, tmp_path / "out", per_run_curves=True, jobs=2)
    assert sorted(outputs.per_run_curves) == sorted(
        p for p in outputs.files if p.stem != "sweep-0000" and p.parent.name == "curves"
    )
    assert f"{len(completed)} of them per-run curves)" in format_summary(outputs)
    curves = {
        path.relative_to(outputs.out_dir / "curves").as_posix()
        for path in outputs.files
        if path.parent.name == "curves"
    }
    assert curves == {"sweep-0000.png"} | {f"{run.run_id}.png" for run in completed.itertuples()}
    for path in outputs.files:
        assert path.is_file() and path.stat().st_size > 1000


def test_parallel_loading_equals_serial_and_reports_problems(many, tmp_path, monkeypatch):
    bad = many / "sweep-0000" / "zz-cut-short" / "record.json"
    bad.parent.mkdir()
    bad.write_text((many / "sweep-0000" / "n1-w1-b8-r0" / "record.json").read_text()[:500])
    try:
        serial = load_records(many, jobs=1)
        monkeypatch.setattr(records_module, "PARALLEL_FROM", 50)
        parallel = load_records(many, jobs=2)
    finally:
        bad.unlink()
        bad.parent.rmdir()
    pd.testing.assert_frame_equal(serial.runs, parallel.runs)
    pd.testing.assert_frame_equal(serial.epochs, parallel.epochs)
    assert serial.problems == parallel.problems and [p for p, _ in parallel.problems] == [bad]
    assert "invalid JSON" in parallel.problems[0][1]


def test_template_must_be_a_completed_run(tmp_path):
    failed = template_record().model_copy(update={"status": "failed"})
    with pytest.raises(ValueError, match="completed run with epochs"):
        make_records(tmp_path, 1, failed)


def test_cli_bench_analyze(tmp_path, capsys):
    assert main(["bench", "analyze", "--records", "5", "20", "--out", str(tmp_path), "--jobs", "1"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if " records: load " in line]
    assert [int(line.split()[0]) for line in lines] == [5, 20]
    assert all(
        "tables" in line and "plots" in line and "total" in line and "files" in line and "bytes" in line
        for line in lines
    )
    assert (tmp_path / "records-20").is_dir() and (tmp_path / "analysis-20" / "throughput.png").is_file()
    assert main(["bench", "analyze", "--records", "0"]) == 2
