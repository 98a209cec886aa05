"""The results history (analysis.history): the schema's version (a newer file refused, an older one rebuilt), a record
added twice changing nothing, a rebuild equal to the additions that made the file, the filters, the records that
could not be read, two processes adding at once, the table and the plot, and ``mcnn-bench history``. Records are
written by the record model into tmp_path, as tests/unit/test_analysis.py writes them."""

from __future__ import annotations

import multiprocessing
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image
from test_analysis import PNG_SIGNATURE, make_record, write_record

from analysis import history
from analysis.history import (
    HISTORY_FIGURES,
    SCHEMA_VERSION,
    HistoryError,
    add,
    add_folder,
    format_rows,
    history_path,
    plot,
    query,
    rebuild,
    results_dir_of,
)
from analysis.records import load_records
from mcnn_bench.cli import main


def run_record(sweep: str, run_id: str, images_per_second: float = 100.0, day: int = 1, host: str = "node1", **kw):
    """A completed run's record (JSON data) of ``sweep`` finished on day ``day`` of November 2026 on ``host``."""
    record = make_record(run_id=run_id, images_per_second=images_per_second, **kw)
    record["sweep"] = record["config"]["run"]["sweep"] = sweep
    del record["fingerprint"]  # the record model fills it in from the config
    if record["provenance"]:
        record["provenance"] |= {
            "started_at": f"2026-11-{day:02d}T10:00:00.000+00:00",
            "finished_at": f"2026-11-{day:02d}T10:05:00.000+00:00",
            "hostnames": [host],
            "git_commit": "0123456789abcdef",
        }
    return record


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """Two sweeps: ``before`` (2 runs, day 1, node1) and ``after`` (2 runs and a failed one, day 3, node2)."""
    for i in (1, 2):
        write_record(tmp_path, run_record("before", f"n1-w1-b16-r{i}", 100.0 + i, day=1, host="node1"))
        write_record(tmp_path, run_record("after", f"n1-w1-b16-r{i}", 80.0 + i, day=3, host="node2"))
    write_record(tmp_path, run_record("after", "n2-w2-b16", status="failed"))
    return tmp_path


def dump(results_dir: Path) -> dict[str, list]:
    """Every table of the history, its rows sorted, the ids left out: what the file holds."""
    with sqlite3.connect(history_path(results_dir)) as connection:
        runs = connection.execute("SELECT * FROM runs").fetchall()
        columns = [d[0] for d in connection.execute("SELECT * FROM runs").description]
        by_id = {row[0]: row[1:] for row in runs}
        figures = [(by_id[run], *rest) for run, *rest in connection.execute("SELECT * FROM figures")]
        problems = connection.execute("SELECT * FROM problems").fetchall()
        version = connection.execute("PRAGMA user_version").fetchone()[0]
    return {
        "columns": columns,
        "runs": sorted(by_id.values(), key=str),
        "figures": sorted(figures, key=str),
        "problems": sorted(problems),
        "version": [version],
    }


def test_completed_runs_are_kept_with_what_identifies_them(results):
    added = add_folder(results)
    assert (added.path, added.added, added.known, added.problems) == (results / "history.sqlite", 4, 0, [])
    rows = query(results)
    assert set(rows["sweep"]) == {"before", "after"} and "n2-w2-b16" not in set(rows["run_id"])  # failed: not kept
    ips = rows[rows["figure"] == "images_per_second"].set_index(["sweep", "run_id"])
    assert (
        ips.loc[("after", "n1-w1-b16-r2")].to_dict().items()
        >= {
            "value": 82.0,
            "unit": "images/s",
            "hosts": "node2",
            "shape": "synthetic 64x64 n1-w1-b16",
            "nodes": 1,
            "local_batch_size": 16,
            "engine": "horovod",
            "git_commit": "0123456789abcdef",
            "finished_at": "2026-11-03T10:05:00.000+00:00",
            "path": "after/n1-w1-b16-r2/record.json",
        }.items()
    )
    assert set(rows["figure"]) <= set(HISTORY_FIGURES) and "scaling_efficiency" not in set(rows["figure"])
    assert {"images_per_second", "ttt_seconds", "best_val_top1"} <= set(rows["figure"])


def test_adding_the_same_records_twice_changes_nothing(results):
    add_folder(results)
    before = dump(results)
    again = add_folder(results)
    assert (again.added, again.known) == (0, 4)
    assert dump(results) == before


def test_a_run_run_again_from_scratch_is_a_new_row_beside_the_old(results):
    add_folder(results)
    shutil.rmtree(results / "before" / "n1-w1-b16-r1")
    write_record(results, run_record("before", "n1-w1-b16-r1", 150.0, day=5))
    assert add_folder(results).added == 1
    rows = query(results, figure="images_per_second", shape="n1-w1-b16")
    assert sorted(rows[rows["sweep"] == "before"]["value"]) == [101.0, 102.0, 150.0]


def test_a_rebuild_equals_the_additions_that_made_the_file(results, tmp_path_factory):
    # additions as the commands make them: the sweep's end (a sweep folder), accept with its reference system
    add_folder(results / "after")
    loaded = load_records(results / "before")
    add(results / "before", loaded.runs, loaded.problems, reference_system="cluster-a")
    incremental = dump(results)
    assert rebuild(results).added == 4
    assert dump(results) == incremental  # the reference systems, which no record holds, kept
    assert set(query(results, system="cluster-a")["sweep"]) == {"before"}


def test_the_results_folder_of_a_sweep_folder_is_its_parent(results):
    for folder, expected in ((results, results), (results / "after", results)):
        loaded = load_records(folder)
        assert results_dir_of(folder, loaded.runs, loaded.problems) == expected


def test_a_file_of_a_newer_schema_is_refused_and_an_older_one_rebuilt(results):
    path = history_path(results)
    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    for action in (lambda: add_folder(results), lambda: query(results)):
        with pytest.raises(HistoryError, match=f"schema version {SCHEMA_VERSION + 1}, written by a newer mcnn-bench"):
            action()
    path.unlink()
    with sqlite3.connect(path) as connection:  # a file older than the first version: a table, no version
        connection.execute("CREATE TABLE runs (name TEXT)")
    assert add_folder(results / "before").known == 2  # rebuilt from every record first, then nothing new
    assert dump(results)["version"] == [SCHEMA_VERSION] and len(query(results)["run_id"].unique()) == 2


def test_a_file_that_is_no_database_is_refused_and_a_rebuild_replaces_it(results):
    history_path(results).write_bytes(b"not a database at all" * 100)
    with pytest.raises(HistoryError, match="not a history file"):
        add_folder(results)
    assert rebuild(results).added == 4 and len(query(results)) > 0


@pytest.mark.parametrize(
    "filters, runs",
    [
        ({"system": "node1"}, {"before"}),
        ({"system": "node"}, set()),  # a host is matched whole
        ({"shape": "n1-w1"}, {"before", "after"}),
        ({"shape": "ddp"}, set()),
        ({"since": "2026-11-02"}, {"after"}),
        ({"until": "2026-11-01"}, {"before"}),  # a date alone covers its day
        ({"until": "2026-11-01T10:00"}, set()),
        ({"since": "2026-11-03T10:05:00+00:00", "until": "2026-11-03T10:05:00+00:00"}, {"after"}),
    ],
)
def test_filters(results, filters, runs):
    add_folder(results)
    assert set(query(results, **filters)["sweep"]) == runs


def test_a_figure_filter_and_bad_filters(results):
    add_folder(results)
    assert set(query(results, figure="ttt_seconds")["figure"]) == {"ttt_seconds"}
    with pytest.raises(HistoryError, match="figure 'speed': the history keeps images_per_second"):
        query(results, figure="speed")
    with pytest.raises(ValueError, match="since: 'last week' is no ISO 8601 date"):
        query(results, since="last week")
    with pytest.raises(HistoryError, match="no history yet"):
        query(results / "before")


def test_a_record_that_cannot_be_read_is_reported_until_it_is_mended(results):
    broken = results / "after" / "n1-w1-b16-r2" / "record.json"
    text = broken.read_text()
    broken.write_text(text[: len(text) // 2])
    added = add_folder(results / "after")
    assert [path for path, _ in added.problems] == [broken] and "invalid JSON" in added.problems[0][1]
    assert history.problems(results) == [(broken, added.problems[0][1])]
    add_folder(results / "before")  # a scan of another folder keeps it
    assert len(history.problems(results)) == 1
    broken.write_text(text)
    add_folder(results)
    assert history.problems(results) == []


def _add(folder: str) -> int:
    return add_folder(folder).added


def test_two_processes_adding_at_once_both_land(results):
    with multiprocessing.get_context("fork").Pool(2) as pool:
        counts = pool.map(_add, [str(results / "before"), str(results / "after")])
    assert counts == [2, 2] and len(query(results, figure="images_per_second")) == 4


def test_the_table_fits_120_columns_and_shortens_long_names(results):
    for i in range(3):
        write_record(results, run_record("a-very-long-sweep-name-" + "x" * 40, f"n1-w1-b16-r{i}", host="h" * 60))
    add_folder(results)
    text = format_rows(query(results))
    lines = text.splitlines()
    assert max(map(len, lines)) <= 120 and "…" in text
    assert lines[0].split() == [
        "finished",
        "(UTC)",
        "system",
        "shape",
        "sweep/run",
        "figure",
        "value",
        "unit",
        "commit",
    ]
    assert "2026-11-01 10:05" in text and "images/s" in text and "01234567" in text and "012345678" not in text


def test_the_plot_draws_a_line_per_shape_over_time(results, tmp_path):
    write_record(results, run_record("wide", "n2-w1-b16", nodes=2, day=4))
    add_folder(results)
    out = plot(query(results), "images_per_second", tmp_path / "out" / "ips.png")
    assert out.read_bytes().startswith(PNG_SIGNATURE)
    assert Image.open(out).size == (1200, 600)
    with pytest.raises(HistoryError, match="nothing to plot"):
        plot(query(results, shape="ddp"), "images_per_second", tmp_path / "none.png")


def test_history_commands(results, tmp_path, capsys):
    assert main(["history", "rebuild", str(results)]) == 0
    assert "history rebuilt" in capsys.readouterr().out
    png = tmp_path / "ips.png"
    assert main(["history", "list", str(results), "--figure", "images_per_second", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert (
        sum("images/s" in line for line in out.splitlines()) == 4
        and f"written: {png}" in out
        and png.stat().st_size > 0
    )
    assert main(["history", "list", str(results), "--limit", "1", "--figure", "images_per_second"]) == 0
    assert "3 older row(s) not shown" in capsys.readouterr().out
    assert main(["history", "list", str(results), "--plot", str(png)]) == 2
    assert "--plot draws one figure: give --figure too" in capsys.readouterr().err


def test_analyze_and_accept_add_what_they_read(results, capsys):
    assert main(["analyze", str(results)]) == 0
    assert f"history: 4 run(s) added to {results / 'history.sqlite'}" in capsys.readouterr().out
    reference = results / "ref.toml"
    assert main(["reference", "capture", str(results / "after"), "--system", "cluster-b", "--out", str(reference)]) == 0
    main(["accept", str(results / "after"), "--reference", str(reference)])
    assert "history: 0 run(s) added" in capsys.readouterr().out
    labelled = query(results, system="cluster-b")
    assert set(labelled["sweep"]) == {"after"} and not pd.isna(labelled["reference_system"]).any()
