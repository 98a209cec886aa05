"""The paper's experiments as shipped specs (slurm/examples/paper/): each validates, expands into the
paper's runs and dry-runs through the real CLI (``mcnn-bench sweep SPEC --dry-run --data-dir DIR``)
against a tiny official BBBC021 layout, without a SLURM cluster."""

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from benchmark.config import TrainConfig
from benchmark.train.schedule import scaled_peak
from slurm.spec import SpecError, load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[2]
PAPER = ROOT / "slurm" / "examples" / "paper"
PLACEHOLDER = "/data/BBBC021"

#: spec file -> (runs, variant, image size).
SPECS = {
    "fig5-one-node.toml": (10, "dataset-a", [1024, 1280]),
    "fig7-8-dataset-a.toml": (4, "dataset-a", [1024, 1280]),
    "table1-fig9-dataset-b.toml": (8, "dataset-b", [768, 768]),
    "fig10-scaling.toml": (7, "dataset-b", [768, 768]),
}
TABLE1 = "table1-fig9-dataset-b.toml"
#: submitit renders a SLURM job script only where srun is on the PATH (no cluster needed).
NO_SRUN = "no srun on this machine: submitit will not render a SLURM job without SLURM's client commands"


def cli(*args, cwd: Path, path: str | None = None) -> subprocess.CompletedProcess:
    env = None if path is None else {**os.environ, "PATH": path}
    return subprocess.run(
        [sys.executable, "-m", "mcnn_bench", *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env
    )


@pytest.fixture(scope="module")
def layout(tmp_path_factory, make_official_layout) -> Path:
    """A tiny official BBBC021 layout (image and MoA tables, one TIFF per channel)."""
    root = tmp_path_factory.mktemp("bbbc021")
    return make_official_layout(root, [("DMSO", 0.0)] * 2 + [("emetine", 0.3)] * 2, (64, 80))


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory, layout) -> dict[str, dict]:
    """Every paper spec dry-run through the CLI, from a working folder where ``--data-dir`` is relative:
    per spec file, its process, results folder and the runs' configs and sbatch scripts by run id."""
    if shutil.which("srun") is None:
        pytest.skip(NO_SRUN)
    work = tmp_path_factory.mktemp("work")
    (work / "BBBC021").symlink_to(layout, target_is_directory=True)
    out = {}
    for name in SPECS:
        results = work / "results"
        done = cli(
            "sweep", str(PAPER / name), "--dry-run", "--data-dir", "BBBC021", "--results-dir", "results", cwd=work
        )
        assert done.returncode == 0, done.stdout + done.stderr
        sweep = tomllib.loads((PAPER / name).read_text())["name"]
        runs = {}
        for line in done.stdout.splitlines():
            run_id, sep, script = line.partition(": ")
            if sep and script.endswith("job.sbatch"):
                script = Path(script)
                runs[run_id] = {
                    "config": TrainConfig.from_json(script.parent / "config.dry-run.json"),
                    "sbatch": script.read_text(),
                    "script": script,
                }
        out[name] = {"done": done, "dir": results / sweep, "runs": runs}
    return out


def test_the_paper_specs_are_the_ones_shipped():
    assert sorted(p.name for p in PAPER.glob("*.toml")) == sorted(SPECS)


@pytest.mark.parametrize("name", SPECS)
def test_each_spec_dry_runs_into_one_sbatch_script_per_run(dry_runs, layout, name):
    count, variant, size = SPECS[name]
    result = dry_runs[name]
    runs = result["runs"]
    assert len(runs) == count
    assert sorted(p.parent.name for p in result["dir"].glob("*/job.sbatch")) == sorted(runs)
    assert f"dry run: {count} job script(s) written, nothing submitted (slurm executor)" in result["done"].stdout
    for run in runs.values():
        config = run["config"]
        assert config.data.source == "bbbc021" and config.data.variant == variant
        assert list(config.data.image_size) == size
        assert Path(config.data.dir) == layout.resolve()  # --data-dir, from the working folder
        assert config.training.epochs == published_setting(name, config.run.nodes)["epochs"]
        assert config.training.momentum == 0.9
        assert config.training.target_top1 == 0.99 and config.training.target_top5 == 1.0


def test_fig5_is_ten_runs_on_one_node(dry_runs):
    runs = dry_runs["fig5-one-node.toml"]["runs"]
    shapes = sorted((r["config"].run.workers_per_node, r["config"].run.local_batch_size) for r in runs.values())
    assert shapes == [(w, b) for w in (1, 4) for b in (4, 8, 16, 32, 64)]
    assert all(r["config"].run.nodes == 1 for r in runs.values())
    # the workers share the 40-core node (executor.cpus_per_node): 40 / workers per node each
    for run in runs.values():
        wpn = run["config"].run.workers_per_node
        assert f"#SBATCH --cpus-per-task={40 // wpn}\n" in run["sbatch"]
        assert run["config"].run.intra_op_threads == 40 // wpn


def test_fig7_8_is_1_to_8_nodes_of_4_workers_at_local_batch_8(dry_runs):
    runs = dry_runs["fig7-8-dataset-a.toml"]["runs"]
    assert list(runs) == ["n1-w4-b8", "n2-w4-b8", "n4-w4-b8", "n8-w4-b8"]
    assert "#SBATCH --nodes=8\n" in runs["n8-w4-b8"]["sbatch"]
    assert "#SBATCH --ntasks-per-node=4\n" in runs["n8-w4-b8"]["sbatch"]
    assert "#SBATCH --cpus-per-task=10\n" in runs["n8-w4-b8"]["sbatch"]


def test_table1_caps_the_global_batch_at_2048_and_the_peak_rate_at_0_032(dry_runs):
    runs = dry_runs[TABLE1]["runs"]
    assert list(runs) == [
        "n1-w8-b16",
        "n2-w8-b16",
        "n4-w8-b16",
        "n8-w8-b16",
        "n16-w8-b16",
        "n32-w8-b8",
        "n64-w8-b4",
        "n128-w8-b2",
    ]
    configs = [run["config"] for run in runs.values()]
    assert [c.run.nodes for c in configs] == [1, 2, 4, 8, 16, 32, 64, 128]
    assert [c.run.local_batch_size for c in configs] == [16, 16, 16, 16, 16, 8, 4, 2]
    globals_ = [c.run.local_batch_size * c.run.nodes * c.run.workers_per_node for c in configs]
    assert globals_ == [128, 256, 512, 1024, 2048, 2048, 2048, 2048]
    for c in configs:
        workers = c.run.nodes * c.run.workers_per_node
        lr = c.learning_rate
        peak = scaled_peak(lr.base_lr, workers, c.run.local_batch_size, lr.max_lr, lr.max_global_batch_size)
        expected = 0.00025 * workers if c.run.nodes <= 16 else 0.032
        assert peak == pytest.approx(expected), c.run.run_id
        assert peak <= 0.032 + 1e-12
    assert scaled_peak(0.00025, 128, 16, 0.032, 2048) == pytest.approx(0.032)  # reached at 16 nodes


def test_sbatch_scripts_ask_for_the_runs_nodes_and_tasks(dry_runs):
    runs = dry_runs[TABLE1]["runs"]
    for run_id, nodes in (("n1-w8-b16", 1), ("n32-w8-b8", 32), ("n128-w8-b2", 128)):
        text = runs[run_id]["sbatch"]
        assert f"#SBATCH --nodes={nodes}\n" in text and "#SBATCH --ntasks-per-node=8\n" in text
        assert "#SBATCH --cpus-per-task=5\n" in text and "#SBATCH --mem=0\n" in text
        assert f"mcnn_bench train --config {runs[run_id]['script'].parent / 'config.dry-run.json'}" in text


def test_fig10_is_1_to_64_nodes_under_the_2048_cap(dry_runs):
    runs = dry_runs["fig10-scaling.toml"]["runs"]
    assert [r["config"].run.nodes for r in runs.values()] == [1, 2, 4, 8, 16, 32, 64]
    for run in runs.values():  # the run id names the local batch the cap leaves
        assert run["config"].run.run_id.endswith(
            f"-b{published_setting('fig10-scaling.toml', run['config'].run.nodes)['local_batch_size']}"
        )
    assert "#SBATCH --nodes=64\n" in runs["n64-w8-b4"]["sbatch"]
    for run in runs.values():
        c = run["config"]
        peak = scaled_peak(
            c.learning_rate.base_lr, c.run.nodes * 8, 16, c.learning_rate.max_lr, c.learning_rate.max_global_batch_size
        )
        assert peak <= 0.032 + 1e-12


def test_dry_run_needs_no_cluster_and_says_so(tmp_path, layout):
    """SLURM's client commands but no sinfo, so no cluster to ask: the scripts are written, and the
    capacity check a real submit makes first is reported as a note, not an error. (submitit's executor,
    which renders the scripts, wants srun on the PATH: without SLURM's client commands at all there is
    no dry run.)"""
    srun = shutil.which("srun")
    if srun is None:
        pytest.skip(NO_SRUN)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").symlink_to(srun)
    done = cli(
        "sweep",
        str(PAPER / TABLE1),
        "--dry-run",
        "--data-dir",
        str(layout),
        "--results-dir",
        str(tmp_path / "results"),
        cwd=tmp_path,
        path=str(bin_dir),
    )
    assert done.returncode == 0, done.stderr
    assert "dry run: 8 job script(s) written" in done.stdout
    assert "note: the check a real submit makes first did not pass" in done.stderr
    assert "sinfo not found" in done.stderr
    assert len(list((tmp_path / "results" / "table1-fig9-dataset-b").glob("*/job.sbatch"))) == 8


def test_the_specs_name_a_placeholder_that_data_dir_replaces(tmp_path):
    for name in SPECS:
        assert tomllib.loads((PAPER / name).read_text())["data"]["dir"] == PLACEHOLDER
    if Path(PLACEHOLDER).exists():
        pytest.skip(f"{PLACEHOLDER} exists on this machine")
    done = cli("sweep", str(PAPER / TABLE1), "--dry-run", "--results-dir", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2
    assert f"data.dir: no such folder: {PLACEHOLDER}" in done.stderr
    assert not list(tmp_path.iterdir())


def test_a_grid_cap_that_does_not_divide_is_refused():
    raw = tomllib.loads((PAPER / TABLE1).read_text())
    raw["grid"]["max_global_batch_size"] = 2000
    with pytest.raises(SpecError) as info:
        parse_spec(raw, PAPER / TABLE1)
    lines = [line for line in str(info.value).splitlines() if "grid.max_global_batch_size" in line]
    assert [line.split(" does not divide by ")[1].split(" nodes")[0] for line in lines] == ["16", "32", "64", "128"]
    assert (
        "grid.max_global_batch_size: 2000 does not divide by 32 nodes x 8 workers per node = 256 workers, "
        "where it caps local batch 16 (global 4096)"
    ) in lines[1]


def test_the_caps_match_the_papers_where_transcribed(layout):
    paper = pytest.importorskip("analysis.papers.datta2019")
    spec = load_spec(PAPER / TABLE1, data_dir=layout)
    published = {
        key: getattr(getattr(paper, "LARGE_SCALE", {}).get(key), "value", None)
        for key in ("max_global_batch_size", "max_learning_rate")
    }
    if all(value is None for value in published.values()):
        pytest.skip("analysis/papers/datta2019.py has the caps of sec. 5.4 as not transcribed")
    if published["max_global_batch_size"] is not None:
        assert spec.grid.max_global_batch_size == published["max_global_batch_size"]
        assert spec.learning_rate.max_global_batch_size == published["max_global_batch_size"]
    if published["max_learning_rate"] is not None:
        assert spec.learning_rate.max_lr == pytest.approx(published["max_learning_rate"])
    beyond = getattr(paper.LARGE_SCALE.get("cap_beyond_nodes"), "value", None)
    if beyond is not None:  # the cap binds exactly on the runs beyond that node count
        runs = spec.runs(Path("/tmp/results"))
        assert [r.nodes for r in runs if r.config.run.local_batch_size < 16] == [
            n for n in spec.grid.nodes if n > beyond
        ]


def published_setting(name: str, nodes: int) -> dict:
    """What Datta et al. 2019 publishes for a run of the spec ``name`` on ``nodes`` nodes, from the transcription
    (analysis/papers/datta2019.py): workers per node, local batch and epochs (Table 1's rounded up to whole
    epochs, training stopping at an epoch's end)."""
    from analysis.papers import datta2019 as paper

    dataset_a = {
        "workers_per_node": paper.EIGHT_NODES["workers_per_node"].known,
        "local_batch_size": paper.SINGLE_NODE["best_local_batch"].known,
        "epochs": paper.EIGHT_NODES["epochs"].known,  # Fig. 7: the paper's only Dataset A epochs
    }
    if name == "fig7-8-dataset-a.toml":
        return dataset_a
    if name == "fig5-one-node.toml":
        return {"epochs": dataset_a["epochs"]}
    per_node = int(paper.LARGE_SCALE["workers_per_node"].known)
    if name == TABLE1:
        row = next(row for row in paper.TABLE1 if row.nodes == nodes)
        assert row.workers_per_node is not None
        return {
            "workers_per_node": row.workers_per_node,
            "local_batch_size": int(row.global_batch_size.known) // (nodes * row.workers_per_node),
            "epochs": math.ceil(row.epochs.known),
        }
    one_node_local = int(paper.TABLE1[0].global_batch_size.known) // per_node
    cap = paper.LARGE_SCALE["max_global_batch_size"].known
    return {
        "workers_per_node": per_node,
        "local_batch_size": min(one_node_local, int(cap) // (nodes * per_node)),
        "epochs": paper.LARGE_SCALE["fixed_epochs"].known,  # Figs. 9-10: a fixed 20 epochs
    }


@pytest.mark.parametrize("name", SPECS)
def test_each_spec_runs_the_papers_setting(layout, name):
    """Each run of each shipped spec has the published workers per node, local batch (under the published cap)
    and epochs for its node count; the node counts are the paper's."""
    from analysis.papers import datta2019 as paper

    spec = load_spec(PAPER / name, data_dir=layout)
    runs = spec.runs(Path("/tmp/results"))
    for run in runs:
        setting = published_setting(name, run.nodes)
        assert run.config.training.epochs == setting["epochs"], run.run_id
        for key in ("workers_per_node", "local_batch_size"):
            if key in setting:
                assert getattr(run.config.run, key) == setting[key], (run.run_id, key)
    nodes = sorted({run.nodes for run in runs})
    if name == TABLE1:
        assert nodes == [row.nodes for row in paper.TABLE1]
    elif name == "fig10-scaling.toml":
        assert nodes == [row.nodes for row in paper.TABLE1 if row.nodes <= paper.LARGE_SCALE["fig10_nodes"].known]
    elif name == "fig7-8-dataset-a.toml":
        assert max(nodes) == paper.EIGHT_NODES["nodes"].known
    else:
        assert nodes == [1]
        assert sorted({run.config.run.local_batch_size for run in runs}) == list(paper.BATCH_SWEEP)
        workers = {run.config.run.workers_per_node for run in runs}
        assert workers <= set(paper.WORKERS_TRIED) and paper.SINGLE_NODE["best_workers_per_node"].known in workers


def test_grid_epochs_must_give_one_per_node_count():
    raw = tomllib.loads((PAPER / TABLE1).read_text())
    raw["grid"]["epochs"] = raw["grid"]["epochs"][:-1]
    with pytest.raises(SpecError, match="grid.epochs: one per grid.nodes entry"):
        parse_spec(raw, PAPER / TABLE1)


def test_the_data_dir_given_is_part_of_the_runs_identity(dry_runs, layout):
    """--data-dir lands in the runs' configs, resolved from the current directory (not the spec's folder),
    and so in their fingerprints."""
    config = next(iter(dry_runs[TABLE1]["runs"].values()))["config"]
    assert config.fingerprinted()["data.dir"] == str(layout.resolve())


def test_dry_run_on_a_cluster_too_small_reports_what_a_submit_would_refuse(tmp_path, layout, monkeypatch, capsys):
    """A reachable cluster of 4 nodes (sinfo stubbed): the 8-node and larger runs are named in a note, the
    scripts are all written, and the exit status is 0. A real submit refuses the same (unchanged)."""
    from mcnn_bench.cli import main
    from slurm import cluster
    from slurm.executor import NodeState

    if shutil.which("srun") is None:
        pytest.skip(NO_SRUN)

    part = cluster.Partition("debug", "up", 40, {f"node{i}": NodeState(True, "idle") for i in range(1, 5)})
    monkeypatch.setattr(cluster, "partition", lambda name=None: part)
    assert (
        main(["sweep", str(PAPER / TABLE1), "--dry-run", "--data-dir", str(layout), "--results-dir", str(tmp_path)])
        == 0
    )
    out, err = capsys.readouterr()
    assert "dry run: 8 job script(s) written" in out
    assert "the cluster cannot hold these runs" in err
    refused = [
        run_id
        for run_id in ("n1-w8-b16", "n2-w8-b16", "n4-w8-b16", "n8-w8-b16", "n128-w8-b2")
        if f"{run_id}: asks for" in err
    ]
    assert refused == ["n8-w8-b16", "n128-w8-b2"]
    assert len(list((tmp_path / "table1-fig9-dataset-b").glob("*/job.sbatch"))) == 8
