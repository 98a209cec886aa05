"""Tables for people: figures rounded to what they can tell, units in the headers, and on a terminal only the
columns that hold a value, within 120 columns (analysis.people, benchmark.util.readable, slurm.display)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from test_analysis import make_record, write_record

from analysis.columns import header
from analysis.people import count, fit, people_cells, percent
from analysis.records import load_records
from analysis.report import analyze, format_summary
from analysis.tables import table1, table1_markdown, table1_terminal
from benchmark.util.readable import TERMINAL_COLUMNS, cut, significant
from slurm.display import format_status
from slurm.state import RunStatus

MAIN_JOB = Path(__file__).parent / "data" / "main-job"


@pytest.mark.parametrize(
    "value, text",
    [
        (196.79050331399512, "197"),
        (73.35671925606553, "73.4"),
        (0.1409894069035848, "0.141"),
        (0.14, "0.140"),
        (12345.6, "12,300"),
        (999.6, "1,000"),
        (0.0, "0"),
        (-2.345, "-2.35"),
        (float("nan"), "nan"),
    ],
)
def test_three_significant_figures(value, text):
    assert significant(value) == text


def test_percentages_counts_and_cut_lines():
    assert percent(70.5444) == "70.5"
    assert (count(3.0), count(2.5)) == ("3", "2.50")
    assert cut("a  reason\nover two lines", 12) == "a reason ov…"
    with pytest.raises(ValueError, match="at least 1"):
        significant(1.0, 0)


def test_headers_carry_units_once():
    assert header("ttt_seconds") == "TTT (s)"
    assert header("images_per_second") == "images/s"  # the label says it already
    assert header("best_val_top1") == "best top-1"  # a fraction: clear from the label
    with pytest.raises(KeyError, match="vocabulary"):
        header("no_such_column")


def test_the_main_jobs_table1_is_rounded_in_the_markdown_and_whole_in_the_csv(tmp_path):
    results = shutil.copytree(MAIN_JOB, tmp_path / "results")
    outputs = analyze(results)
    markdown = (outputs.out_dir / "table1.md").read_text()
    assert "| 197 |" in markdown.replace(" ", "").replace("|197|", "| 197 |") and "70.5444" not in markdown
    assert "196.79050331399512" in (outputs.out_dir / "table1.csv").read_text()
    cells = people_cells(table1(load_records(results).runs))
    assert set(cells["images/s"]) >= {"197", "73.4", "219", "96.6"}


def test_terminal_table1_fits_120_columns_and_leaves_out_what_no_run_has(tmp_path):
    results = shutil.copytree(MAIN_JOB, tmp_path / "results")
    write_record(results, make_record(2, 2, status="failed"))  # a long reason, another sweep
    table = table1(load_records(results).runs)
    text = table1_terminal(table)
    assert max(map(len, text.splitlines())) <= TERMINAL_COLUMNS, text
    assert "TTT top-5" not in text and "best mean AUROC" not in text  # no run has them
    assert "every run: nodes" not in text  # two node counts: a column, not a line above
    assert "n1-w1-b16-ddp" in text and "MemoryError" in text
    summary = format_summary(analyze(results))
    assert text in summary and f"report: {results / 'analysis' / 'report.html'}" in summary
    assert "table1.csv" not in summary  # the files are counted, not listed


def test_what_every_run_shares_is_said_once_above_the_table():
    frame = pd.DataFrame(
        {"run_id": ["a", "b"], "nodes": [1, 1], "engine": ["ddp", "ddp"], "images_per_second": [1.234, 5.0]}
    )
    fitted = fit(frame, ["run_id", "nodes", "images_per_second", "engine"], hoist=["nodes", "engine"])
    assert fitted.common == [("nodes", "1"), ("engine", "ddp")]
    assert list(fitted.table.columns) == ["run_id", "images_per_second"]
    assert fitted.text().splitlines()[0] == "every run: nodes 1, engine ddp"


def test_a_narrow_terminal_leaves_out_the_last_columns_and_says_which():
    frame = pd.DataFrame({"run_id": ["a-long-run-id"], "images_per_second": [1.0], "workload": ["x" * 30]})
    fitted = fit(frame, ["run_id", "images_per_second", "workload"], width=30)
    assert list(fitted.table.columns) == ["run_id", "images_per_second"] and fitted.left_out == ["workload"]
    assert "(not shown here: workload)" in fitted.text()


def test_table1_markdown_has_units_and_rounding():
    frame = pd.DataFrame({"ttt_minutes": [0.14098], "percent_of_peak": [70.5444], "images_per_second": [196.79]})
    text = table1_markdown(frame)
    assert "0.141" in text and "70.5" in text and "197" in text and "70.54" not in text


def test_status_fits_120_columns_with_a_long_run_id_and_reason():
    statuses = [
        RunStatus(
            run_id="n16-w8-b32-node-with-a-long-name-r3",
            state="failed",
            job_id="123456",
            elapsed=12345.678,
            images_per_second=1234.5678,
            best=0.98765,
            reason="OutOfMemoryError: " + "the allocator could not find room " * 5,
        ),
        RunStatus(run_id="n1-w1-b8", state="completed", job_id="7", elapsed=1.0, images_per_second=2.0, best=0.5),
    ]
    text = format_status(statuses)
    lines = text.splitlines()
    assert all(len(line) <= TERMINAL_COLUMNS for line in lines), text
    assert "12,300" in lines[1] and "1,230" in lines[1] and "0.988" in lines[1] and lines[1].endswith("…")
    assert lines[2].startswith("n1-w1-b8 ")
