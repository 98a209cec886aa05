"""A fleet sweep on the development cluster: the shipped slurm/examples/acceptance-fleet.toml (one run per node,
pinned with --nodelist, all nodes at once) over its 4 nodes with one of them slowed by a CPU quota on its slurmd
and every job step it starts (slurm/devcluster/node slow), accepted against a reference: every node passes the
reference's wide bounds, and the slowed node alone is an OUTLIER against the fleet, slower. And a drained node
(scontrol update State=DRAIN) listed as a skipped run with its state and reason, restored afterwards. The pure
logic: tests/unit/test_fleet.py."""

import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import pytest
import tomli_w
import tomllib
from PIL import Image

from analysis.reference import FigureReference, Reference, ShapeReference, write_reference
from slurm.sweep import sweep_status

pytestmark = [pytest.mark.slurm, pytest.mark.ddp]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "slurm" / "examples" / "acceptance-fleet.toml"
NODES = ["node1", "node2", "node3", "node4"]
#: The slowed node and its share of one core: the 4 nodes share this machine's cores, each running one worker
#: of one thread, so on 2 cores a node gets about half a core; 15 % is well below it (about 3x slower).
SLOW, SLOW_PERCENT = "node3", 15
DRAINED, REASON = "node2", "mcnn fleet test"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mcnn_bench", *args], capture_output=True, text=True, timeout=600)


def devcluster_node(*args: str) -> None:
    """slurm/devcluster/node ACTION NUMBER [PERCENT]."""
    subprocess.run([str(ROOT / "slurm" / "devcluster" / "node"), *args], check=True, timeout=180)


def scontrol_update(node: str, *settings: str) -> None:
    subprocess.run(["scontrol", "update", f"NodeName={node}", *settings], check=True, timeout=60)


def wait_idle(node: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = subprocess.run(["sinfo", "-h", "-n", node, "-o", "%t"], capture_output=True, text=True).stdout.strip()
        if state == "idle":
            return
        time.sleep(0.5)
    raise AssertionError(f"{node} is not idle after {timeout} s")


def fleet_spec(folder: Path, name: str, **grid) -> Path:
    """The shipped example as sweep ``name``, one repeat per node (the tests' time), its data where it lies, and
    ``grid`` keys replaced (``each_node`` dropped when ``nodes_list`` is given)."""
    raw = tomllib.loads(EXAMPLE.read_text())
    raw["name"] = name
    raw["data"]["dir"] = str((EXAMPLE.parent / raw["data"]["dir"]).resolve())
    raw["grid"]["repeats"] = 1
    if "nodes_list" in grid:
        del raw["grid"]["each_node"]
    raw["grid"].update(grid)
    path = folder / f"{name}.toml"
    path.write_text(tomli_w.dumps(raw))
    return path


def test_a_drained_node_is_a_skipped_run_with_its_state_and_reason(slurm_cluster, tmp_path):
    scontrol_update(DRAINED, "State=DRAIN", f"Reason={REASON}")
    try:
        spec = fleet_spec(tmp_path, "drained", nodes_list=f"{DRAINED},node9")
        done = cli("sweep", str(spec), "--results-dir", str(tmp_path))
    finally:
        scontrol_update(DRAINED, "State=RESUME")
        wait_idle(DRAINED)
    assert done.returncode == 0, done.stdout + done.stderr  # nothing failed: nothing could run
    assert f"{DRAINED}-n1-w1-b8: skipped: {DRAINED} cannot take a job now: drain ({REASON})" in done.stdout
    status = cli("status", str(tmp_path / "drained"))
    assert status.returncode == 0, status.stderr
    rows = {line.split()[0]: line for line in status.stdout.splitlines()[1:]}
    assert set(rows) == {f"{DRAINED}-n1-w1-b8", "node9-n1-w1-b8"}
    assert all(line.split()[1] == "skipped" for line in rows.values())
    reasons = {s.run_id: s.reason for s in sweep_status(tmp_path / "drained")}  # the table cuts them to 120 columns
    assert f"drain ({REASON})" in reasons[f"{DRAINED}-n1-w1-b8"]
    assert "skipped: node9 is not a node of the executor's partition now" in reasons["node9-n1-w1-b8"]
    state = json.loads((tmp_path / "drained" / "sweep.json").read_text())
    assert state["fleet"]["nodes"] == [DRAINED, "node9"]
    assert {run_id: entry["job_id"] for run_id, entry in state["runs"].items()} == dict.fromkeys(rows)


@pytest.fixture
def slowed(slurm_cluster):
    """:data:`SLOW` slowed to :data:`SLOW_PERCENT` % of one core for the test, at full speed again after it."""
    number = SLOW.removeprefix("node")
    devcluster_node("slow", number, str(SLOW_PERCENT))
    try:
        yield SLOW
    finally:
        devcluster_node("unslow", number)


def reference(path: Path) -> Path:
    """The fleet's shape held to bounds any machine passes (images/s down to 5 %, step time up to 20x): a node is
    only told apart by its fleet."""
    figures = {
        "images_per_second": FigureReference(value=40.0, lower=-0.95, unit="images/s"),
        "median_step_seconds": FigureReference(value=0.2, upper=19.0, unit="s"),
    }
    shape = ShapeReference(
        source="bbbc021-cells",
        image_size=(64, 64),
        nodes=1,
        workers_per_node=1,
        local_batch_size=8,
        engine="ddp",
        figures=figures,
    )
    return write_reference(Reference(system="devcluster-fleet", shape=[shape]), path)


def test_every_node_runs_at_once_and_the_slowed_one_alone_is_an_outlier(slowed, tmp_path):
    done = cli("sweep", str(fleet_spec(tmp_path, "fleet")), "--results-dir", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    sweep = tmp_path / "fleet"
    records = {node: json.loads((sweep / f"{node}-n1-w1-b8" / "record.json").read_text()) for node in NODES}
    assert {node: r["scheduler"]["node_list"] for node, r in records.items()} == {node: node for node in NODES}
    assert {r["config"]["run"]["node"] for r in records.values()} == set(NODES)
    starts = [datetime.fromisoformat(r["provenance"]["started_at"]).timestamp() for r in records.values()]
    fastest = min(r["scheduler"]["elapsed_seconds"] for r in records.values())
    assert max(starts) - min(starts) < fastest  # all at once: every run started before the first one ended

    accepted = cli("accept", str(sweep), "--reference", str(reference(tmp_path / "ref.toml")))
    assert accepted.returncode == 1, accepted.stdout + accepted.stderr  # an OUTLIER on the bad side
    report = json.loads((sweep / "acceptance.json").read_text())
    assert {c["verdict"] for c in report["checks"]} == {"PASS"}, report["checks"]  # all pass the reference
    bad = [c for c in report["fleet"]["checks"] if c["verdict"] == "OUTLIER" and c["side"] == "slower"]
    assert report["fleet"]["outliers"] == [slowed] and {c["node"] for c in bad} == {slowed}, report["fleet"]
    assert "median_step_seconds" in {c["figure"] for c in bad}
    assert f"OUTLIER on the bad side: {slowed} (" in accepted.stdout
    suite = ET.parse(sweep / "acceptance.xml").getroot()
    assert suite.get("tests") == str(len(NODES) * 2) and suite.get("failures") == str(len(bad))
    failed = {
        case.get("classname").split(".")[1] for case in suite.findall("testcase") if case.find("failure") is not None
    }
    assert failed == {slowed}
    with Image.open(sweep / "fleet-bbbc021-cells-64x64-n1-w1-b8-ddp.png") as image:
        assert image.width >= 800
