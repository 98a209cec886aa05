"""The analysis' plug-in seams: the registry of outputs that ``analyze`` walks (analysis.registry,
analysis.outputs), the column vocabulary (analysis.columns) and the one Markdown table writer
(analysis.markdown), on records written into tmp_path as tests/unit/test_analysis.py writes them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure
from test_analysis import PNG_SIGNATURE, make_record, write_record
from test_analysis_multilabel import chexnet_record

from analysis import columns, registry
from analysis.auroc import per_class_auroc
from analysis.breakdown import bar_rows, breakdown_table
from analysis.columns import COLUMNS, csv_text, label, labelled, read_csv
from analysis.compare import sections_vs_paper, table1_vs_paper
from analysis.engines import engines_table
from analysis.epoch_time import epoch_time_table
from analysis.folds import TABLE_COLUMNS as FOLDS_COLUMNS
from analysis.folds import folds_table
from analysis.markdown import markdown_table
from analysis.outputs import FigureOutput
from analysis.papers.consistency import checks_frame, report
from analysis.plots import save_png
from analysis.records import LoadedRecords, load_records
from analysis.report import analyze
from analysis.tables import memory_table, node_scaling, scaling, table1


class Marker(FigureOutput):
    """A figure a test registers: a dot per completed run, drawn only from records with a completed run."""

    name = "marker"
    files = "marker.png"
    description = "a dot per completed run"

    def unavailable(self, records: LoadedRecords) -> str | None:
        return None if (records.runs["status"] == "completed").any() else "no completed run to mark"

    def draw(self, records: LoadedRecords, out_dir: Path) -> list[Path]:
        figure = Figure(figsize=(2, 2))
        figure.add_subplot().plot(range(int((records.runs["status"] == "completed").sum())), "o")
        return [save_png(figure, out_dir / self.files)]


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """Two M-CNN runs of one sweep, a failed one, and a CheXNet thread sweep (multi-label, two thread counts)."""
    for nodes, workers in ((1, 1), (1, 2)):
        write_record(tmp_path, make_record(nodes, workers))
    write_record(tmp_path, make_record(2, 2, status="failed"))
    for threads in (1, 2):
        write_record(tmp_path, chexnet_record("cx", f"t{threads}", threads=threads, seed=threads))
    return tmp_path


@pytest.mark.parametrize("outputs", [registry.TABLES, registry.FIGURES], ids=["tables", "figures"])
def test_every_output_has_a_unique_name_files_and_a_one_line_description(outputs):
    names = [output.name for output in outputs]
    assert len(set(names)) == len(names)
    for output in outputs:
        assert columns._NAME.fullmatch(output.name), output.name
        assert output.files and output.description, output.name
        assert "\n" not in output.description and len(output.description) < 200, output.name
    assert len({output.description for output in outputs}) == len(outputs)


def test_describe_outputs_lists_every_table_then_every_figure():
    described = registry.describe_outputs()
    assert [d.files for d in described] == [output.files for output in (*registry.TABLES, *registry.FIGURES)]
    assert {d.kind for d in described[: len(registry.TABLES)]} == {"table"}
    assert {d.on_request for d in described} == {None, "compare", "per_run_curves"}
    assert all(f"``{d.files}``" in analyze.__doc__ for d in described)  # analyze's docstring lists them


def test_records_lacking_what_a_figure_needs_list_it_as_skipped_with_its_reason(tmp_path):
    write_record(tmp_path, {**make_record(status="failed"), "topology": None, "epochs": None})
    loaded = load_records(tmp_path)
    outputs = analyze(tmp_path, jobs=1)
    figures = {figure.files: figure for figure in registry.FIGURES}
    assert [line.split(": ")[0] for line in outputs.skipped] == [  # all but Fig. 2; no sweep to draw a figure of
        "throughput.png",
        "scaling_efficiency.png",
        "fig5_batch_size.png",
        "fig7_training_curves.png",
        "fig8_speedup.png",
        "fig9_top1_lr.png",
        "fig10_scaling_efficiency.png",
        "step_breakdown.png",
    ]
    for line in outputs.skipped:
        files, reason = line.split(": ", 1)
        assert reason == figures[files].unavailable(loaded)
    assert "throughput.png: no completed run with a throughput figure" in outputs.skipped
    drawn = {path.name for path in outputs.files if path.suffix == ".png"}
    assert drawn == {"fig2_activations.png"}


def test_a_figure_registered_in_a_test_is_drawn_by_analyze(mixed, monkeypatch):
    monkeypatch.setattr(registry, "FIGURES", [*registry.FIGURES, Marker()])
    outputs = analyze(mixed, jobs=1)
    marker = outputs.out_dir / "marker.png"
    assert marker in outputs.files and marker.read_bytes().startswith(PNG_SIGNATURE)
    assert not any(line.startswith("marker.png") for line in outputs.skipped)


def test_a_figure_registered_in_a_test_is_skipped_with_its_reason(tmp_path, monkeypatch):
    write_record(tmp_path, make_record(status="failed"))
    monkeypatch.setattr(registry, "FIGURES", [Marker()])
    outputs = analyze(tmp_path, jobs=1)
    assert outputs.skipped == ["marker.png: no completed run to mark"]
    assert not (outputs.out_dir / "marker.png").exists()


def test_a_figure_per_sweep_names_the_sweep_it_cannot_draw(mixed):
    outputs = analyze(mixed, jobs=1)
    assert "curves/cx.png: no run of sweep cx recorded a validation top-1" in outputs.skipped  # multi-label
    names = {path.relative_to(outputs.out_dir).as_posix() for path in outputs.files}
    assert {"curves/unit.png", "auroc/cx.png", "epoch_time/cx.png", "val_loss/cx.png"} <= names


def frames(results: Path) -> dict[str, pd.DataFrame]:
    """Every DataFrame the analysis builds from ``results``, by what it is."""
    loaded = load_records(results)
    runs = loaded.runs
    auroc, classes = per_class_auroc(loaded)
    return {
        "runs": runs,
        "epochs": loaded.epochs,
        "auroc": loaded.auroc,
        "fields": loaded.fields,
        "folds": folds_table(loaded),
        "table1": table1(runs),
        "scaling": scaling(runs),
        "node_scaling": node_scaling(runs),
        "memory": memory_table(runs),
        "engines": engines_table(runs),
        "breakdown": breakdown_table(runs),
        "bars": bar_rows(runs),
        "auroc_per_class": auroc.drop(columns=classes),
        "epoch_time": epoch_time_table(loaded),
        "table1_vs_paper": table1_vs_paper(runs),
        "sections_vs_paper": sections_vs_paper(runs),
        "paper_checks": checks_frame(report()[0]),
    }


def test_every_column_the_analysis_builds_is_in_the_vocabulary(mixed):
    for what, frame in frames(mixed).items():
        assert set(frame.columns) <= set(COLUMNS), (what, sorted(set(frame.columns) - set(COLUMNS)))
    assert set(FOLDS_COLUMNS) <= set(COLUMNS)  # the K-fold table, empty without fold runs


def test_names_are_snake_case_and_names_and_labels_unique():
    assert all(columns._NAME.fullmatch(name) for name in COLUMNS)
    labels = [column.label for column in COLUMNS.values()]
    assert len(set(labels)) == len(labels)
    with pytest.raises(ValueError, match="already column 'nodes'"):
        columns._column("nodes_again", "nodes", None, "a second label 'nodes'")
    with pytest.raises(ValueError, match="not snake_case"):
        columns._column("Nodes", "Nodes (x)", None, "not snake_case")


def test_labels_are_applied_when_writing_and_read_back(mixed):
    table = table1(load_records(mixed).runs)
    text = csv_text(table)
    assert text.splitlines()[0].split(",")[:5] == [
        "nodes",
        "workers per node",
        "epochs to target",
        "global batch size",
        "TTT (minutes)",
    ]
    path = mixed / "table1.csv"
    path.write_text(text)
    shown = ["nodes", "ttt_minutes", "model", "run_id"]
    pd.testing.assert_frame_equal(read_csv(path)[shown], table[shown], check_dtype=False)
    with pytest.raises(KeyError, match="'not_a_column' is not in analysis.columns' vocabulary"):
        labelled(table.assign(not_a_column=1))
    assert list(labelled(table[["nodes"]].assign(Hernia=0.5), verbatim=["Hernia"]).columns) == ["nodes", "Hernia"]


def test_the_markdown_writer_lays_out_as_tabulate_does():
    frame = pd.DataFrame({"nodes": [1, 16], "model": ["mcnn", "densenet121"], "speedup": [0.5, 12.5]})
    assert markdown_table(frame) == labelled(frame).to_markdown(index=False)


def test_the_markdown_writer_formats_missing_percent_and_text():
    frame = pd.DataFrame(
        {
            "sweep": ["a|b", "multi\nline"],
            "share_compute": [0.25, None],
            "Hernia": [0.81234, float("nan")],
            "paper_value": [None, 3.0],
        }
    )
    text = markdown_table(
        frame,
        formats={"share_compute": ".1f", "Hernia": ".3f"},
        missing={"paper_value": "not published"},
        percent=["share_compute"],
        verbatim=["Hernia"],
    )
    header, rule, first, second = text.splitlines()
    assert [cell.strip() for cell in header.strip("|").split("|")] == [
        "sweep",
        "compute share (%)",
        "Hernia",
        label("paper_value"),
    ]
    assert rule.startswith("|:") and rule.endswith(":|")  # text left-aligned, numbers right-aligned
    assert [cell.strip() for cell in first[1:-1].split(" | ")] == [r"a\|b", "25.0", "0.812", "not published"]
    assert [cell.strip() for cell in second[1:-1].split(" | ")] == ["multi line", "", "", "3"]
    with pytest.raises(KeyError, match="vocabulary"):
        markdown_table(frame)  # Hernia is no column of the vocabulary
