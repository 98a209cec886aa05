"""Engines side by side (run.engine: horovod or ddp): a run's engine in the run table, Table 1 and the scaling
tables (records made before engines existed ran on horovod), the engine in acceptance's shapes (a reference
shape names its engine; capture writes it), and the comparison ``analyze`` writes where a results folder holds
one shape on more than one engine (analysis.engines). Records are written into tmp_path as
tests/unit/test_analysis.py writes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_analysis import PNG_SIGNATURE, SWEEP, make_record, write_record

from analysis.acceptance import accept, capture
from analysis.columns import (
    COLUMNS,
    EFFICIENCY,
    ENGINE,
    ENGINE_IMAGES_PER_SECOND,
    ENGINE_PEAK_RSS_MIB,
    ENGINE_RATIO,
    ENGINE_RUNS,
    NODES,
    WORKERS,
    WORKERS_PER_NODE,
    read_csv,
)
from analysis.engines import NO_SHARED_SHAPE, engines_table
from analysis.plots import series
from analysis.records import load_records
from analysis.reference import (
    FigureReference,
    Reference,
    ReferenceFileError,
    ShapeReference,
    load_reference,
    shape_name,
    write_reference,
)
from analysis.report import analyze
from analysis.tables import node_scaling, scaling

ROOT = Path(__file__).resolve().parents[2]
ENGINE_FILES = ["engines.csv", "engines.md", "engines.png"]


def run(engine: str, workers_per_node=2, images_per_second=100.0, repeat=None, rss_mib=3, nodes=1) -> dict:
    """A completed run of local batch 16 on ``engine``, its id as a sweep comparing engines names it."""
    run_id = f"n{nodes}-w{workers_per_node}-b16-{engine}" + (f"-r{repeat}" if repeat else "")
    record = make_record(nodes, workers_per_node, images_per_second=images_per_second, run_id=run_id, engine=engine)
    record["memory"]["peak_rss_bytes_max"] = rss_mib * 2**20
    return record


def shape(engine: str | None = "ddp", value=100.0) -> ShapeReference:
    """A reference shape of 1 node x 2 workers at local batch 16 holding images/s to 10 % below ``value``;
    ``engine`` None: a shape that names no engine, as the files made before engines existed."""
    return ShapeReference(
        source="synthetic",
        image_size=(64, 64),
        nodes=1,
        workers_per_node=2,
        local_batch_size=16,
        **({} if engine is None else {"engine": engine}),
        figures={"images_per_second": FigureReference(value=value, lower=-0.1, unit="images/s")},
    )


@pytest.fixture
def two_engines(tmp_path: Path) -> Path:
    """1 node x 2 workers on both engines (3 repeats each), 1 x 1 once on both, and 2 x 2 on horovod only."""
    for engine, images_per_second, rss_mib in (("horovod", 100.0, 300), ("ddp", 80.0, 500)):
        for repeat, factor in enumerate((0.9, 1.0, 1.3), 1):
            write_record(tmp_path, run(engine, 2, images_per_second * factor, repeat, rss_mib + repeat))
        write_record(tmp_path, run(engine, 1, images_per_second / 2, rss_mib=rss_mib))
    write_record(tmp_path, run("horovod", 2, 300.0, nodes=2))
    return tmp_path


# --- a run's engine in the tables ---------------------------------------------------------------------------


def test_a_run_s_engine_is_in_the_run_table_and_table1_and_a_record_made_before_engines_ran_on_horovod(tmp_path):
    old = make_record(run_id="old")
    del old["config"]["run"]["engine"]  # as written before engines existed
    write_record(tmp_path, old)
    write_record(tmp_path, run("ddp"))
    runs = load_records(tmp_path).runs.set_index("run_id")
    assert runs[ENGINE].to_dict() == {"old": "horovod", "n1-w2-b16-ddp": "ddp"}
    outputs = analyze(tmp_path, jobs=1)
    assert read_csv(outputs.out_dir / "table1.csv").set_index("run_id")[ENGINE].to_dict() == {
        "old": "horovod",
        "n1-w2-b16-ddp": "ddp",
    }
    header = (outputs.out_dir / "table1.md").read_text().splitlines()[0]
    assert "engine" in [cell.strip() for cell in header.strip("|").split("|")]


def test_scaling_is_per_engine_and_a_plot_s_line_never_pools_two_engines(tmp_path):
    for engine, one, two in (("horovod", 100.0, 180.0), ("ddp", 50.0, 100.0)):
        write_record(tmp_path, run(engine, 1, one))
        write_record(tmp_path, run(engine, 2, two))
    runs = load_records(tmp_path).runs
    table = scaling(runs)
    efficiency = {(row[ENGINE], row[WORKERS]): row[EFFICIENCY] for _, row in table.iterrows()}
    assert efficiency == pytest.approx(
        {("ddp", 1): 100.0, ("ddp", 2): 100.0, ("horovod", 1): 100.0, ("horovod", 2): 90.0}
    )
    assert [label for _, label, _ in series(table, ([WORKERS_PER_NODE],))] == [
        "1 worker per node, engine ddp",
        "1 worker per node, engine horovod",
        "2 workers per node, engine ddp",
        "2 workers per node, engine horovod",
    ]
    assert [label for _, label, _ in series(table, ([WORKERS_PER_NODE],), max_series=2)] == [
        "engine ddp (1 sweep, 2 runs)",
        "engine horovod (1 sweep, 2 runs)",
    ]  # pooled to the last resort: a line per engine
    lines = node_scaling(runs)
    assert sorted(zip(lines[ENGINE], lines[NODES], lines[WORKERS_PER_NODE])) == [
        ("ddp", 1, 1),
        ("ddp", 1, 2),
        ("horovod", 1, 1),
        ("horovod", 1, 2),
    ]


# --- the engine in acceptance -------------------------------------------------------------------------------


def test_a_reference_s_ddp_shape_holds_the_ddp_runs_and_not_the_horovod_runs_of_its_topology(tmp_path):
    for repeat, images_per_second in enumerate((95.0, 100.0, 104.0), 1):
        write_record(tmp_path, run("ddp", 2, images_per_second, repeat))
    write_record(tmp_path, run("horovod", 2, 50.0))
    sweep = tmp_path / SWEEP
    [ddp] = accept(sweep, Reference(system="x", shape=[shape("ddp", 100.0)]))
    assert (ddp.shape, ddp.verdict, ddp.n, ddp.median) == ("synthetic 64x64 n1-w2-b16 ddp", "PASS", 3, 100.0)
    [ddp] = accept(sweep, Reference(system="x", shape=[shape("ddp", 200.0)]))
    assert (ddp.verdict, ddp.note) == ("FAIL", "below the lower bound")
    [horovod] = accept(sweep, Reference(system="x", shape=[shape(None, 50.0)]))  # a shape naming no engine
    assert (horovod.shape, horovod.verdict, horovod.n, horovod.median) == ("synthetic 64x64 n1-w2-b16", "PASS", 1, 50.0)


def test_a_ddp_shape_is_missing_from_a_sweep_of_horovod_runs(tmp_path):
    write_record(tmp_path, run("horovod", 2))
    sweep = tmp_path / SWEEP
    [check] = accept(sweep, Reference(system="x", shape=[shape("ddp")]))
    assert (check.verdict, check.note) == ("MISSING", f"no record of this shape in {sweep}")


def test_an_unreadable_ddp_record_is_named_under_its_ddp_shape(tmp_path):
    write_record(tmp_path, run("horovod", 2))
    record = run("ddp", 2)
    bad = write_record(tmp_path, record)
    bad.write_text("{")
    (bad.parent / "config.json").write_text(json.dumps(record["config"]))  # as the driver wrote it
    [ddp, horovod] = accept(tmp_path / SWEEP, Reference(system="x", shape=[shape("ddp"), shape("horovod")]))
    assert ddp.verdict == "MISSING" and ddp.note.startswith(f"record unreadable: {bad} (")
    assert horovod.verdict == "PASS"


def test_capture_over_both_engines_gives_a_shape_per_engine_that_names_it(two_engines, tmp_path):
    reference = capture(two_engines / SWEEP, "x", 0.1)
    captured = {(s.engine, s.nodes, s.workers_per_node): s.figures["images_per_second"].value for s in reference.shape}
    assert captured == pytest.approx(
        {
            ("ddp", 1, 1): 40.0,
            ("ddp", 1, 2): 80.0,
            ("horovod", 1, 1): 50.0,
            ("horovod", 1, 2): 100.0,
            ("horovod", 2, 2): 300.0,
        }
    )
    assert "synthetic 64x64 n1-w2-b16 ddp" in {shape_name(s.key) for s in reference.shape}
    path = write_reference(reference, tmp_path / "x.toml")
    text = path.read_text()
    assert text.count('engine = "ddp"') == 2 and text.count('engine = "horovod"') == 3  # the default too
    assert load_reference(path) == reference
    assert {check.verdict for check in accept(two_engines / SWEEP, reference)} == {"PASS"}


@pytest.mark.parametrize(
    "name, engine",
    [("devcluster.toml", "ddp"), ("example-2socket-node.toml", "horovod")],  # the latter names none
)
def test_the_shipped_references_load_and_hold_one_engines_runs(name, engine):
    assert {s.engine for s in load_reference(ROOT / "analysis" / "references" / name).shape} == {engine}


def test_a_reference_file_names_an_engine_of_the_registry(tmp_path):
    text = (
        'system = "x"\n[[shape]]\nsource = "synthetic"\nimage_size = [64, 64]\nnodes = 1\nworkers_per_node = 2\n'
        'local_batch_size = 16\nengine = "{}"\n[shape.figures.images_per_second]\nvalue = 100.0\nlower = -0.1\n'
        'unit = "images/s"\n'
    )
    path = tmp_path / "ref.toml"
    path.write_text(text.format("ddp"))
    assert [s.key for s in load_reference(path).shape] == [shape("ddp").key]
    path.write_text(text.format("mxnet"))
    with pytest.raises(ReferenceFileError, match="shape.engine: must be one of horovod or ddp, got 'mxnet'"):
        load_reference(path)


# --- engines side by side -----------------------------------------------------------------------------------


def test_the_engines_table_has_a_row_per_shape_run_on_more_than_one_engine(two_engines):
    table = engines_table(load_records(two_engines).runs)
    assert set(table.columns) <= set(COLUMNS)
    assert list(zip(table[NODES], table[WORKERS_PER_NODE])) == [(1, 1), (1, 2)]  # 2 x 2 ran on horovod only
    one, two = (row for _, row in table.iterrows())
    assert (two[ENGINE_RUNS["horovod"]], two[ENGINE_RUNS["ddp"]]) == (3, 3)
    assert two[ENGINE_IMAGES_PER_SECOND["horovod"]] == pytest.approx(100.0)  # the median of 90, 100 and 130
    assert two[ENGINE_IMAGES_PER_SECOND["ddp"]] == pytest.approx(80.0)
    assert two[ENGINE_RATIO["ddp"]] == pytest.approx(0.8)
    assert (two[ENGINE_PEAK_RSS_MIB["horovod"]], two[ENGINE_PEAK_RSS_MIB["ddp"]]) == (302.0, 502.0)
    assert (one[ENGINE_RUNS["ddp"]], one[ENGINE_IMAGES_PER_SECOND["ddp"]], one[ENGINE_RATIO["ddp"]]) == (1, 40.0, 0.8)


def test_analyze_writes_the_engines_table_and_figure_where_a_shape_ran_on_two_engines(two_engines):
    outputs = analyze(two_engines, jobs=1)
    out = outputs.out_dir
    assert {out / name for name in ENGINE_FILES} <= set(outputs.files)
    written = read_csv(out / "engines.csv")
    assert list(written[ENGINE_RATIO["ddp"]]) == pytest.approx([0.8, 0.8])
    markdown = (out / "engines.md").read_text()
    assert "images/s ddp/horovod" in markdown.splitlines()[2] and "0.80" in markdown.splitlines()[5]
    assert (out / "engines.png").read_bytes().startswith(PNG_SIGNATURE)
    assert not any(line.startswith("engines.png") for line in outputs.skipped)


@pytest.mark.parametrize("engine", ["horovod", "ddp"])
def test_results_of_one_engine_get_no_comparison_and_no_note(tmp_path, engine):
    write_record(tmp_path, run(engine, 1))
    write_record(tmp_path, run(engine, 2))
    outputs = analyze(tmp_path, jobs=1)
    assert not any((outputs.out_dir / name).exists() for name in ENGINE_FILES)
    assert not any("engines" in line for line in outputs.skipped)


def test_engines_that_share_no_shape_get_no_table_and_the_figure_is_not_drawn_with_the_reason(tmp_path):
    write_record(tmp_path, run("horovod", 1))
    write_record(tmp_path, run("ddp", 2))
    outputs = analyze(tmp_path, jobs=1)
    assert not any((outputs.out_dir / name).exists() for name in ENGINE_FILES)
    assert f"engines.png: {NO_SHARED_SHAPE}" in outputs.skipped
