"""Fleet sweeps and their acceptance, as far as pure logic goes: the spec's keys (grid.each_node,
grid.nodes_list) and their errors, one run per node planned over a fake list of nodes and states and kept across
reruns, the nodes that cannot take a job skipped with their reason (the sweep driver over the fake executor), the
SLURM job of a pinned run (a golden sbatch script), and the fleet rule: the modified z-score with MAD = 0, the
minimum difference, fewer than 3 nodes and each figure's direction, then a whole report over written records (one
slow node among passing ones named alone, a JUnit test case per node and figure, the figure). The fleet on the
development cluster: tests/integration/test_fleet_devcluster.py."""

from __future__ import annotations

import io
import json
import re
import shlex
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import tomli_w
from fake_executor import FakeScheduler
from PIL import Image
from test_analysis import PNG_SIGNATURE, SWEEP, make_record, write_record

from analysis.acceptance import markdown, report, write_report
from analysis.fleet import MIN_DIFFERENCE, NONE, OUTLIER, PASS, fleet_stats, judge, natural_key, side_of
from analysis.reference import FigureReference, Reference, ShapeReference, write_reference
from benchmark.config import TrainConfig
from mcnn_bench.cli import main
from slurm import fleet, sweep
from slurm.executor import NodeState
from slurm.executor.slurm import SlurmExecutor
from slurm.spec import SpecError, load_spec, parse_spec
from slurm.state import SweepState
from slurm.sweep import make_executor, run_sweep, sweep_status

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "unit" / "golden" / "fleet-node3-n1-w1-b8-r2.sbatch"
IDLE, DRAINED = NodeState(True, "idle"), NodeState(False, "drain", "bad fan")


def fleet_raw(grid: dict | None = None, executor: dict | None = None, repeats: int = 1) -> dict:
    """A fleet spec as read from TOML: synthetic 64x64, one worker, local batch 8, ``repeats`` repeats, each node."""
    return {
        "name": "fleet",
        "data": {"source": "synthetic", "image_size": [64, 64]},
        "grid": {
            "nodes": [1],
            "workers_per_node": [1],
            "local_batch_size": [8],
            "repeats": repeats,
            **(grid if grid is not None else {"each_node": True}),
        },
        "training": {"epochs": 1, "steps_per_epoch": 2},
        "run": {"engine": "ddp"},
        "executor": executor or {"kind": "slurm", "partition": "debug"},
    }


def problems(raw: dict, tmp_path: Path) -> str:
    with pytest.raises(SpecError) as info:
        parse_spec(raw, tmp_path / "fleet.toml")
    return str(info.value)


# --- the spec ------------------------------------------------------------------------------------------------------


def test_each_node_and_a_nodes_list_exclude_each_other(tmp_path):
    text = problems(fleet_raw({"each_node": True, "nodes_list": "node[1-4]"}), tmp_path)
    assert "grid.nodes_list: give grid.each_node = true or grid.nodes_list, not both" in text


@pytest.mark.parametrize("key, value", [("each_node", True), ("nodes_list", "node[1-4]")])
def test_a_fleet_runs_single_node_runs_only(tmp_path, key, value):
    raw = fleet_raw({key: value})
    raw["grid"]["nodes"] = [1, 2]
    assert f"grid.{key}: a fleet sweep runs one single-node run per node: grid.nodes must be [1], got [1, 2]" in (
        problems(raw, tmp_path)
    )


def test_a_fleet_needs_an_executor_that_pins_runs_to_nodes(tmp_path):
    text = problems(fleet_raw(executor={"kind": "local"}), tmp_path)
    assert "grid.each_node: a fleet sweep pins each run to its node, which the local executor cannot: use " in text
    assert "executor.kind = 'slurm'" in text


def test_a_nodes_list_must_look_like_a_host_list(tmp_path):
    text = problems(fleet_raw({"nodes_list": "node1 node2"}), tmp_path)
    assert "grid.nodes_list: not a SLURM host list" in text and "'node1 node2'" in text


def test_the_run_section_may_not_pin_a_node(tmp_path):
    raw = fleet_raw()
    raw["run"]["node"] = "node1"
    assert "run.node: set by grid.each_node or grid.nodes_list in a sweep spec" in problems(raw, tmp_path)


# --- planning ------------------------------------------------------------------------------------------------------


def test_a_fleet_is_every_run_once_per_node_its_id_and_config_naming_the_node(tmp_path):
    spec = parse_spec(fleet_raw(repeats=2), tmp_path / "fleet.toml")
    assert spec.grid.fleet
    runs = spec.runs(tmp_path, ["node2", "node10"])
    assert [run.run_id for run in runs] == [
        "node2-n1-w1-b8-r1",
        "node2-n1-w1-b8-r2",
        "node10-n1-w1-b8-r1",
        "node10-n1-w1-b8-r2",
    ]
    assert [run.config.run.node for run in runs] == ["node2", "node2", "node10", "node10"]
    assert len({run.config.fingerprint() for run in runs[::2]}) == 2  # the node is part of what a run measures
    assert [run.run_id for run in spec.runs(tmp_path)] == ["n1-w1-b8-r1", "n1-w1-b8-r2"]  # what preflight checks
    plain = parse_spec(fleet_raw({}), tmp_path / "plain.toml").runs(tmp_path)  # runs pinned to no node keep theirs
    assert plain[0].config.fingerprint() == runs[0].config.updated("run", node=None).fingerprint()


@pytest.fixture
def scheduler(monkeypatch) -> FakeScheduler:
    """The fake scheduler (``executor.kind = "fake"``) with four nodes, node2 drained, and no sleep between polls."""
    fake = FakeScheduler(nodes={"node1": IDLE, "node2": DRAINED, "node3": IDLE, "node4": NodeState(False, "down*")})
    fake.register(monkeypatch)
    monkeypatch.setattr(sweep, "POLL_SECONDS", 0.0)
    return fake


def fake_spec(folder: Path, grid: dict | None = None, repeats: int = 1):
    path = folder / "fleet.toml"
    path.write_text(tomli_w.dumps(fleet_raw(grid, {"kind": "fake"}, repeats)))
    return load_spec(path)


def test_the_plan_is_every_node_of_the_partition_kept_in_the_state_and_checked_against_the_spec(scheduler, tmp_path):
    spec, state = fake_spec(tmp_path), SweepState(tmp_path / "fleet")
    executor = make_executor("fake", spec.executor, state.dir)
    assert fleet.planned(state, spec, None) is None  # nothing kept, nothing to ask
    plan = fleet.planned(state, spec, executor)
    assert plan is not None and plan.nodes == ("node1", "node2", "node3", "node4")
    assert plan.origin == "grid.each_node = true"
    scheduler.nodes = {"node9": IDLE}  # the partition changes; the sweep keeps its nodes
    assert fleet.planned(state, spec, executor) == plan
    with pytest.raises(fleet.FleetChanged, match="planned with grid.each_node = true .* now gives grid.nodes_list"):
        fleet.planned(state, fake_spec(tmp_path, {"nodes_list": "node1,node2"}), executor)
    with pytest.raises(fleet.FleetChanged, match="now gives no grid.each_node or grid.nodes_list"):
        fleet.sweep_runs(fake_spec(tmp_path, {}), state, tmp_path, executor)


def test_a_host_list_is_expanded_once_its_names_checked(scheduler, tmp_path):
    spec = fake_spec(tmp_path, {"nodes_list": "node3,node1,node3"})
    executor = make_executor("fake", spec.executor, tmp_path / "fleet")
    assert fleet.plan(spec, executor).nodes == ("node3", "node1")
    bad = fake_spec(tmp_path, {"nodes_list": "node[1-,x"})
    with pytest.raises(fleet.FleetError, match=r"grid.nodes_list: 'node\[1-,x' gives names no node has: 'node\[1-'"):
        fleet.plan(bad, executor)


def test_the_nodes_that_cannot_take_a_job_are_skipped_with_their_state_and_reason(tmp_path):
    spec = parse_spec(fleet_raw(), tmp_path / "fleet.toml")
    runs = spec.runs(tmp_path, ["node1", "node2", "node3", "node4"])
    reasons = fleet.skips(runs, {"node1": IDLE, "node2": DRAINED, "node3": NodeState(False, "down*")})
    assert reasons == {
        "node2-n1-w1-b8": "skipped: node2 cannot take a job now: drain (bad fan)",
        "node3-n1-w1-b8": "skipped: node3 cannot take a job now: down*",
        "node4-n1-w1-b8": "skipped: node4 is not a node of the executor's partition now",
    }
    assert fleet.skips(spec.runs(tmp_path), {}) == {}  # runs pinned to no node are never skipped


def test_a_fleet_sweep_runs_each_usable_node_and_lists_the_others_as_skipped(scheduler, tmp_path):
    out = io.StringIO()
    statuses = run_sweep(fake_spec(tmp_path, repeats=2), tmp_path / "results", out=out)
    states = {s.run_id: (s.state, s.reason) for s in statuses}
    assert [run_id for run_id, _ in states.items()] == [f"node{n}-n1-w1-b8-r{r}" for n in range(1, 5) for r in (1, 2)]
    assert states["node1-n1-w1-b8-r2"] == ("completed", None)
    assert states["node2-n1-w1-b8-r1"] == ("skipped", "skipped: node2 cannot take a job now: drain (bad fan)")
    assert states["node4-n1-w1-b8-r2"] == ("skipped", "skipped: node4 cannot take a job now: down*")
    assert "4 of 8 runs to submit, 4 skipped (their nodes cannot take a job now)" in out.getvalue()
    assert sorted(job.run_id for job in scheduler.jobs.values()) == [
        "node1-n1-w1-b8-r1",
        "node1-n1-w1-b8-r2",
        "node3-n1-w1-b8-r1",
        "node3-n1-w1-b8-r2",
    ]
    results = tmp_path / "results" / "fleet"
    skipped = json.loads((results / "node2-n1-w1-b8-r1" / "record.json").read_text())
    assert skipped["status"] == "failed" and skipped["config"]["run"]["node"] == "node2"
    assert [s.state for s in sweep_status(results)] == [s.state for s in statuses]  # status shows the same
    # the next sweep keeps the same runs and looks at the nodes again: node2 is back, node4 still down
    scheduler.nodes = {**scheduler.nodes, "node2": IDLE, "node5": IDLE}
    again = {s.run_id: s.state for s in run_sweep(fake_spec(tmp_path, repeats=2), tmp_path / "results", out=out)}
    assert len(again) == 8 and again["node2-n1-w1-b8-r2"] == "completed" and again["node4-n1-w1-b8-r1"] == "skipped"
    kept = json.loads((results / "node2-n1-w1-b8-r1" / "attempts" / "record-1.json").read_text())  # the skip's
    assert kept["failure"]["reason"].startswith("skipped: node2")
    assert (results / "node4-n1-w1-b8-r1" / "attempts" / "record-1.json").exists()  # skipped twice: both kept


def test_a_fleet_whose_every_node_is_drained_is_recorded_not_refused(scheduler, tmp_path):
    scheduler.nodes = {"node1": DRAINED}
    (status,) = run_sweep(fake_spec(tmp_path), tmp_path / "results", out=io.StringIO())
    assert (status.run_id, status.state) == ("node1-n1-w1-b8", "skipped") and not scheduler.jobs


# --- the SLURM job of a pinned run ----------------------------------------------------------------------------------


def test_a_pinned_run_asks_for_its_node_and_waits_for_the_runs_before_it_there(tmp_path):
    spec = parse_spec(fleet_raw(repeats=2), tmp_path / "fleet.toml")
    executor = SlurmExecutor(tmp_path / "submitit", spec.executor)
    first, second, other = spec.runs(tmp_path, ["node3", "node4"])[:3]
    params = [executor.parameters(run) for run in (first, second, other)]
    assert [p["nodelist"] for p in params] == ["node3", "node3", "node4"]
    assert [p["job_name"] for p in params] == ["mcnn-fleet-node3", "mcnn-fleet-node3", "mcnn-fleet-node4"]
    assert {p["additional_parameters"]["dependency"] for p in params} == {"singleton"}
    unpinned = executor.parameters(spec.runs(tmp_path)[0])
    assert "nodelist" not in unpinned and "additional_parameters" not in unpinned


def test_a_pinned_runs_sbatch_script_matches_the_golden_file(tmp_path):
    spec = parse_spec(fleet_raw(repeats=2), ROOT / "fleet.toml")
    executor = SlurmExecutor(tmp_path / "fleet" / "submitit" / "sbatch", spec.executor)
    run = spec.runs(tmp_path, ["node3"])[1]
    config = executor.prepare(run).write_json(tmp_path / "fleet" / run.run_id / "config.dry-run.json")
    text = executor.write_dry_run(run, config).read_text()
    text = text.replace(str(tmp_path), "{RESULTS}").replace(shlex.quote(sys.executable), "{PYTHON}")
    assert text == GOLDEN.read_text()
    assert "#SBATCH --nodelist=node3\n" in text and "#SBATCH --dependency=singleton\n" in text


# --- the fleet rule -------------------------------------------------------------------------------------------------


def test_the_modified_z_score_of_one_slow_node_among_four():
    stats = fleet_stats([50.0, 52.0, 48.0, 20.0])
    assert stats is not None and (stats.median, stats.mad) == (49.0, 2.0)
    assert stats.z(20.0) == pytest.approx(0.6745 * -29 / 2)
    assert stats.half_width == pytest.approx(3.5 * 2 / 0.6745)
    assert [stats.outlier(v) for v in (50.0, 52.0, 48.0, 20.0)] == [False, False, False, True]
    assert stats.band == pytest.approx((49 - 3.5 * 2 / 0.6745, 49 + 3.5 * 2 / 0.6745))


def test_mad_zero_flags_a_node_off_the_median_beyond_the_minimum_difference():
    stats = fleet_stats([0.9, 0.9, 0.9, 0.85])  # a deterministic figure, one node off
    assert stats is not None and stats.mad == 0
    assert stats.z(0.85) is None and stats.z(0.9) == 0.0  # unbounded off the median
    assert stats.outlier(0.85) and not stats.outlier(0.9)
    assert not fleet_stats([100.0, 100.0, 100.0, 101.0]).outlier(101.0)  # 1 %: below the minimum difference
    assert fleet_stats([0.0, 0.0, 0.0, 1.0]).outlier(1.0)  # a median of 0: any other value


def test_a_tight_fleet_does_not_flag_what_lies_within_the_minimum_difference():
    values = [100.0, 100.1, 99.9, 100.2, 101.5]
    stats = fleet_stats(values)
    assert stats.z(101.5) > 3.5 and not stats.outlier(101.5)  # M alone would flag 1.5 %
    assert fleet_stats(values, min_difference=0).outlier(101.5)
    with pytest.raises(ValueError, match="must be >= 0"):
        fleet_stats(values, -0.1)


def test_fewer_than_three_nodes_give_no_fleet_verdict():
    assert fleet_stats([50.0, 20.0]) is None
    checks = judge("s", "images_per_second", {"node1": [50.0], "node2": [20.0], "node3": []})
    assert [c.verdict for c in checks] == [NONE, NONE, NONE]
    assert checks[0].note == "no fleet verdict: 2 node(s) have a value, at least 3 are needed"
    assert checks[2].note == "no value: the node has no completed run with this figure"


@pytest.mark.parametrize(
    "figure, value, side",
    [
        ("images_per_second", 20.0, "slower"),
        ("images_per_second", 80.0, "faster"),
        ("median_step_seconds", 80.0, "slower"),
        ("median_step_seconds", 20.0, "faster"),
        ("best_val_top1", 20.0, "worse"),
        ("peak_rss_bytes_max", 80.0, "worse"),
    ],
)
def test_the_side_follows_the_figures_direction(figure, value, side):
    assert side_of(figure, value, 50.0) == side
    (check,) = [c for c in judge("s", figure, {"a": [49.0], "b": [50.0], "c": [51.0], "x": [value]}) if c.node == "x"]
    assert (check.verdict, check.side, check.bad) == (OUTLIER, side, side in ("slower", "worse"))


def test_a_nodes_value_is_the_median_of_its_repeats():
    checks = judge("s", "images_per_second", {"a": [50.0, 10.0, 51.0], "b": [50.0], "c": [49.0], "d": [48.0, 52.0]})
    assert [c.value for c in checks] == [50.0, 50.0, 49.0, 50.0] and {c.verdict for c in checks} == {PASS}
    assert [c.repeats for c in checks] == [3, 1, 1, 2]


def test_node_names_sort_as_people_read_them():
    assert sorted(["node10", "node2", "gpu1", "node1"], key=natural_key) == ["gpu1", "node1", "node2", "node10"]


# --- the report over written records -------------------------------------------------------------------------------

SPEEDS = {"node1": 100.0, "node2": 103.0, "node3": 55.0, "node4": 98.0, "node10": 101.0}


def write_fleet(root: Path, speeds: dict[str, float], repeats: int = 2) -> Path:
    """A fleet sweep's records: each node's runs (local batch 16, one worker) at its images/s, +-1 % per repeat."""
    for node, speed in speeds.items():
        for repeat in range(1, repeats + 1):
            record = make_record(
                images_per_second=speed * (1 + (repeat - 1.5) / 50), run_id=f"{node}-n1-w1-b16-r{repeat}"
            )
            write_record(root, pinned(record, node))
    return root / SWEEP


def pinned(record: dict, node: str) -> dict:
    """``record`` (JSON data) of a run pinned to ``node``, its fingerprint again its config's."""
    record["config"]["run"]["node"] = node
    return {**record, "fingerprint": TrainConfig.parse(record["config"]).fingerprint()}


def reference(value=100.0, lower=-0.5) -> Reference:
    figures = {
        "images_per_second": FigureReference(value=value, lower=lower, unit="images/s"),
        "median_step_seconds": FigureReference(value=0.2, upper=1.0, unit="s"),
    }
    shape = ShapeReference(
        source="synthetic", image_size=(64, 64), nodes=1, workers_per_node=1, local_batch_size=16, figures=figures
    )
    return Reference(system="fleet", shape=[shape])


def test_an_all_pass_fleet_with_one_slow_node_names_exactly_that_node(tmp_path):
    found = report(write_fleet(tmp_path, SPEEDS), reference())
    assert {c.verdict for c in found.checks} == {"PASS"}  # every node within the reference's wide bounds
    assert found.nodes == ["node1", "node2", "node3", "node4", "node10"]
    bad = [c for c in found.fleet if c.bad]
    assert [(c.node, c.figure, c.side) for c in bad] == [("node3", "images_per_second", "slower")]
    assert bad[0].from_median == pytest.approx(55 / 100 - 1) and bad[0].z < -3.5
    assert not found.passed
    text = markdown(found)
    assert "against fleet: FAIL" in text and "OUTLIER on the bad side: node3 (images_per_second slower, M = " in text
    assert text.count("OUTLIER (slower)") == 1


def test_the_reports_junit_has_a_case_per_node_and_figure_failing_the_outlier(tmp_path):
    sweep_dir = write_fleet(tmp_path, SPEEDS)
    paths = write_report(report(sweep_dir, reference()), tmp_path / "out")
    assert [p.name for p in paths] == [
        "acceptance.md",
        "acceptance.json",
        "acceptance.xml",
        "fleet-synthetic-64x64-n1-w1-b16.png",
    ]
    suite = ET.parse(tmp_path / "out" / "acceptance.xml").getroot()
    cases = suite.findall("testcase")
    assert len(cases) == len(SPEEDS) * 2 and suite.get("tests") == "10" and suite.get("failures") == "1"
    failed = [(c.get("classname"), c.get("name")) for c in cases if c.find("failure") is not None]
    assert failed == [("fleet.node3.synthetic 64x64 n1-w1-b16", "images_per_second")]
    assert suite.find("testcase/failure").get("message").startswith("OUTLIER against the fleet: slower, M = ")
    data = json.loads((tmp_path / "out" / "acceptance.json").read_text())
    assert data["fleet"]["outliers"] == ["node3"] and data["fleet"]["min_difference"] == MIN_DIFFERENCE
    png = paths[-1].read_bytes()
    assert png.startswith(PNG_SIGNATURE)
    with Image.open(paths[-1]) as image:
        assert image.width >= 800


def test_a_skipped_node_is_missing_with_its_reason_and_the_rest_still_judged(tmp_path):
    sweep_dir = write_fleet(tmp_path, {"node1": 100.0, "node2": 101.0, "node3": 99.0})
    record = make_record(status="failed", run_id="node4-n1-w1-b16-r1")
    record["failure"]["reason"] = "skipped: node4 cannot take a job now: drain (bad fan)"
    write_record(tmp_path, pinned(record, "node4"))
    found = report(sweep_dir, reference())
    node4 = [c for c in found.checks if c.node == "node4"]
    assert {c.verdict for c in node4} == {"MISSING"} and "drain (bad fan)" in node4[0].note
    assert {c.verdict for c in found.fleet if c.node != "node4"} == {PASS}
    assert re.search(r"\| node4 +\| MISSING +\| - +\| run node4-n1-w1-b16-r1 failed: skipped: node4", markdown(found))


def test_two_nodes_give_no_fleet_verdict_and_say_so(tmp_path):
    found = report(write_fleet(tmp_path, {"node1": 100.0, "node2": 50.0}), reference())
    assert {c.verdict for c in found.fleet} == {NONE} and found.passed
    assert "No fleet verdict: fewer than 3 nodes have a value of any figure." in markdown(found)


def test_accept_on_a_fleet_exits_1_and_writes_the_figure(tmp_path, capsys):
    sweep_dir = write_fleet(tmp_path, SPEEDS)
    path = write_reference(reference(), tmp_path / "ref.toml")
    assert main(["accept", str(sweep_dir), "--reference", str(path)]) == 1
    assert "OUTLIER on the bad side: node3" in capsys.readouterr().out
    assert (sweep_dir / "fleet-synthetic-64x64-n1-w1-b16.png").exists()
    assert main(["accept", str(sweep_dir), "--reference", str(path), "--min-difference", "0.5"]) == 0
    assert main(["accept", str(sweep_dir), "--reference", str(path), "--min-difference", "-1"]) == 2
    assert "--min-difference must be >= 0, got -1.0" in capsys.readouterr().err


def test_accepts_help_gives_the_default_minimum_difference(capsys):
    with pytest.raises(SystemExit):
        main(["accept", "--help"])
    assert f"(default: {MIN_DIFFERENCE}, analysis.fleet.MIN_DIFFERENCE;" in " ".join(capsys.readouterr().out.split())
