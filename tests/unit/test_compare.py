"""analysis.compare and `mcnn-bench analyze --compare paper`: our runs beside Datta et al. 2019's published
figures, on paper-like records written into tmp_path (tests/unit/test_figures.py makes them)."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from test_figures import XEON_6148, paper_like_record, write_paper_like_results, write_record

from analysis.columns import (
    DIFFERS,
    EPOCHS_RATIO,
    FIGURE,
    IMAGES_PER_SECOND_RATIO,
    NODES,
    OUR_EPOCHS,
    OUR_GLOBAL_BATCH,
    OUR_IMAGES_PER_SECOND,
    OUR_RUNS,
    OUR_TTT,
    OUR_VALUE,
    OUR_WORKLOAD,
    PAPER_EPOCHS,
    PAPER_GLOBAL_BATCH,
    PAPER_IMAGES_PER_SECOND,
    PAPER_SOURCE,
    PAPER_TTT,
    PAPER_VALUE,
    PAPER_WORKERS_PER_NODE,
    RATIO,
    TTT_RATIO,
    read_csv,
)
from analysis.compare import (
    NO_RUN,
    NOT_PUBLISHED,
    TABLE1_VS_PAPER_COLUMNS,
    markdown,
    sections_vs_paper,
    table1_vs_paper,
)
from analysis.papers import datta2019 as paper
from analysis.records import load_records
from analysis.report import analyze, format_summary
from mcnn_bench.cli import main


@pytest.fixture
def results(tmp_path):
    return write_paper_like_results(tmp_path / "results")


def _row(table: pd.DataFrame, nodes: int) -> pd.Series:
    [row] = table[table[NODES] == nodes].to_dict("records")
    return pd.Series(row)


def test_every_paper_node_count_is_a_row_with_every_published_column(results):
    table = table1_vs_paper(load_records(results).runs)
    assert list(table.columns) == TABLE1_VS_PAPER_COLUMNS
    assert list(table[NODES]) == [1, 2, 4, 8, 16, 32, 64, 128]
    assert list(table[PAPER_WORKERS_PER_NODE]) == [8] * 8
    assert list(table[PAPER_GLOBAL_BATCH]) == [128, 256, 512, 1024, 2048, 2048, 2048, 2048]
    assert list(table[PAPER_EPOCHS]) == [6.6, 8, 8.7, 12, 15.9, 14.9, 15, 15.2]
    assert list(table[PAPER_IMAGES_PER_SECOND]) == [30, 72, 141, 262, 553, 893, 1284, 1587]
    assert list(table[PAPER_TTT]) == [960, 642, 320, 240, 150, 85, 61, 50]
    # a ratio wherever we have a run: images/s at 1 and 8 nodes, TTT and epochs where a run reached the target
    ours = table[OUR_RUNS] > 0
    assert (table[IMAGES_PER_SECOND_RATIO].notna() == (ours & table[OUR_IMAGES_PER_SECOND].notna())).all()
    assert (table[TTT_RATIO].notna() == table[OUR_TTT].notna()).all()
    assert (table[EPOCHS_RATIO].notna() == table[OUR_EPOCHS].notna()).all()
    assert _row(table, 1)[IMAGES_PER_SECOND_RATIO] == pytest.approx(_row(table, 1)[OUR_IMAGES_PER_SECOND] / 30)
    assert _row(table, 8)[TTT_RATIO] == pytest.approx(250.0 / 240)
    shown = markdown(table)
    assert NOT_PUBLISHED not in shown and NO_RUN in shown
    sixteen = next(line for line in shown.splitlines() if line.startswith("|      16 |"))
    assert sixteen.count(NO_RUN) == 3  # the failed 16-node run is not ours: no epochs, images/s nor TTT


def test_our_medians_per_node_count(results):
    table = table1_vs_paper(load_records(results).runs)
    one, eight = _row(table, 1), _row(table, 8)
    assert one[OUR_RUNS] == 8  # seven batch-sweep runs and the scaling sweep's 1-node run
    one_node_images_per_second = [6.0, 6.5, 6.8, 11.0, 11.5, 19.0, 18.0, 40.0]
    assert one[OUR_IMAGES_PER_SECOND] == pytest.approx(pd.Series(one_node_images_per_second).median())
    assert one[OUR_TTT] == pytest.approx(19_860.0 / 60)
    assert (eight[OUR_RUNS], eight[OUR_IMAGES_PER_SECOND], eight[OUR_TTT]) == (1, 250.0, 250.0)
    assert eight[OUR_GLOBAL_BATCH] == "256"


def test_runs_of_other_models_are_no_part_of_the_paper_comparison(results):
    runs = load_records(results).runs
    other = runs.assign(model="densenet121", images_per_second=runs["images_per_second"] * 100)
    alone, beside = table1_vs_paper(runs), table1_vs_paper(pd.concat([runs, other], ignore_index=True))
    pd.testing.assert_frame_equal(alone, beside)
    assert table1_vs_paper(other)[OUR_RUNS].sum() == 0


def test_ratio_where_both_are_published(results):
    rows = (
        paper.Table1Row(
            1,
            8,
            *(
                paper.Published(value, unit, "Table 1")
                for value, unit in ((10, "epochs"), (128, "images"), (1000.0, "minutes"), (20.0, "images/s"))
            ),
        ),
        paper.Table1Row(
            8,
            8,
            *(
                paper.Published(value, unit, "Table 1")
                for value, unit in ((None, "epochs"), (1024, "images"), (None, "minutes"), (500.0, "images/s"))
            ),
        ),
    )
    table = table1_vs_paper(load_records(results).runs, rows)
    assert list(table[NODES]) == [1, 2, 4, 8]  # the paper's rows and ours
    one, eight, two = _row(table, 1), _row(table, 8), _row(table, 2)
    assert one[IMAGES_PER_SECOND_RATIO] == pytest.approx(one[OUR_IMAGES_PER_SECOND] / 20.0)
    assert one[TTT_RATIO] == pytest.approx(331.0 / 1000.0)
    assert eight[IMAGES_PER_SECOND_RATIO] == pytest.approx(0.5) and pd.isna(eight[TTT_RATIO])
    assert pd.isna(two[PAPER_WORKERS_PER_NODE]) and pd.isna(two[IMAGES_PER_SECOND_RATIO])
    eight_line = next(line for line in markdown(table).splitlines() if line.startswith("|       8 |"))
    assert re.search(r"\|\s+0\.5\s+\|", eight_line) and NOT_PUBLISHED in eight_line


def test_leaky_split_is_flagged_and_differences_are_named(results):
    table = table1_vs_paper(load_records(results).runs)
    eight, one = _row(table, 8), _row(table, 1)
    assert eight[OUR_WORKLOAD] == "768x768 bbbc021 dataset-b, leaky split"
    # the scaling sweep differs from Table 1 only in workers per node and global batch (Xeon 6148, leaky split)
    assert eight[DIFFERS] == "workers per node 4 (paper 8); global batch 256 (paper 1024)"
    assert "1024x1280 bbbc021 dataset-a; 768x768 bbbc021 dataset-b, leaky split" == one[OUR_WORKLOAD]
    for named in (
        "image size 1024x1280, 768x768 (paper 768x768)",
        "dataset bbbc021 dataset-a, bbbc021 dataset-b",
        "field split (paper: leaky split, 90/10 over copies)",
        "workers per node 1, 2, 4 (paper 8)",
        "hardware AMD EPYC 7742 / " + XEON_6148,
    ):
        assert named in one[DIFFERS], named
    assert _row(table, 16)[DIFFERS] == ""


def test_sections_against_ours(results):
    sections = sections_vs_paper(load_records(results).runs).set_index(FIGURE)
    speedup = sections.loc["speedup on 8 nodes"]
    assert (speedup[PAPER_VALUE], speedup[OUR_VALUE]) == (6.6, 250.0 / 40.0)
    assert speedup[RATIO] == pytest.approx(250.0 / 40.0 / 6.6)
    assert sections.loc["scaling efficiency on 8 nodes", OUR_VALUE] == pytest.approx(100 * 250.0 / 40.0 / 8)
    assert sections.loc["scaling efficiency on 8 nodes", PAPER_VALUE] == 82.5
    memory = sections.loc["one-node memory at batch 32"]
    assert memory[PAPER_VALUE] == 47.5 and memory[OUR_RUNS] == 1
    assert memory[OUR_VALUE] == pytest.approx(
        load_records(results).runs.set_index("run_id").loc["n1-w1-b32", "peak_rss_bytes_max"] / 1e9
    )
    assert sections.loc["best one-node configuration", OUR_VALUE] == "4 x 8"  # the scaling sweep's 40 images/s
    assert sections.loc["activations at batch 32, 1024x1280x3", OUR_VALUE] == pytest.approx(11.66, abs=0.005)
    assert pd.isna(sections.loc["speedup on 128 nodes", OUR_VALUE])
    assert sections.loc["TTT on 8 nodes", OUR_WORKLOAD] == "768x768 bbbc021 dataset-b, leaky split"
    # sec. 5.3's and 5.4's speedups are of TTT; Table 1's images/s speedups are the comparable ones
    assert speedup[DIFFERS].endswith("the paper's is a TTT speedup, ours an images/s one")
    table1 = sections.loc["images/s speedup on 8 nodes"]
    assert table1[PAPER_VALUE] == pytest.approx(262 / 30, abs=0.001) and table1[PAPER_SOURCE] == "Table 1"
    assert table1[RATIO] == pytest.approx(250.0 / 40.0 / (262 / 30), abs=0.001)
    assert "TTT speedup" not in table1[DIFFERS]
    assert sections.loc["images/s speedup on 128 nodes", PAPER_VALUE] == pytest.approx(52.9)
    shown = markdown(sections.reset_index())
    assert f"| {NO_RUN} " in next(line for line in shown.splitlines() if "speedup on 128 nodes" in line)


def test_hardware_is_a_difference_unless_the_cpu_is_a_xeon_6148(tmp_path):
    for cpu, sweep in ((XEON_6148, "xeon"), ("AMD EPYC 7742", "epyc")):
        write_record(
            tmp_path,
            paper_like_record(
                sweep, 2, 8, 16, 100.0, image_size=(768, 768), variant="dataset-b", split="paper", cpu_model=cpu
            ),
        )
    runs = load_records(tmp_path).runs
    both = _row(table1_vs_paper(runs), 2)
    assert (
        both[DIFFERS] == "hardware AMD EPYC 7742 / Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz (paper 2x Xeon 6148 + "
        "100 Gb/s Omni-Path)"
    )
    xeon_only = _row(table1_vs_paper(runs[runs["sweep"] == "xeon"]), 2)
    assert xeon_only[DIFFERS] == ""  # 768x768 Dataset B, leaky split, 8 workers x 16 = 256 on a Xeon 6148


def test_analyze_compare_paper_writes_both_tables(results):
    outputs = analyze(results, compare="paper")
    out = outputs.out_dir
    csv = read_csv(out / "table1_vs_paper.csv")
    assert list(csv.columns) == TABLE1_VS_PAPER_COLUMNS and len(csv) == 8
    assert csv[PAPER_IMAGES_PER_SECOND].notna().all()
    text = (out / "table1_vs_paper.md").read_text()
    assert "leaky split" in text and NOT_PUBLISHED not in text and "not transcribed" not in text
    # the note names Table 1's own rows that disagree with TTT = epochs x images / images/s
    assert "at 1 node (-16.4 %), 2 nodes (+10.7 %) (paper_checks.md)" in text
    assert "sec. 5.3" in (out / "sections_vs_paper.md").read_text()
    assert len(read_csv(out / "sections_vs_paper.csv")) == 11
    checks = (out / "paper_checks.md").read_text()
    assert "Table 1, 1 node: TTT (Table 1): published 960 minutes, recomputed 1,149 (-16.4 %" in checks
    assert len(read_csv(out / "paper_checks.csv")) > 50
    pd.testing.assert_frame_equal(outputs.comparison, table1_vs_paper(load_records(results).runs))
    assert "ours vs Datta et al. 2019" in format_summary(outputs)


@pytest.fixture
def one_run(tmp_path):
    write_record(tmp_path / "results", paper_like_record("s", 1, 2, 8, 10.0))
    return tmp_path / "results"


def test_analyze_without_compare_writes_no_comparison(one_run):
    outputs = analyze(one_run)
    assert outputs.comparison is None
    assert not (outputs.out_dir / "table1_vs_paper.md").exists()


def test_unknown_comparison_is_refused(one_run):
    with pytest.raises(ValueError, match="compare must be one of paper"):
        analyze(one_run, compare="mlperf")


def test_cli_analyze_compare_paper(one_run, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["analyze", str(one_run), "--out", str(out), "--compare", "paper"]) == 0
    assert (out / "table1_vs_paper.md").is_file() and (out / "sections_vs_paper.csv").is_file()
    assert "images/s (paper)" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["analyze", str(one_run), "--compare", "mlperf"])
    assert exit_info.value.code == 2
