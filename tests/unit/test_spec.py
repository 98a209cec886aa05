"""Sweep-spec validation and expansion (pure logic: no run is started)."""

import copy
import os
from pathlib import Path

import pytest

from slurm.spec import SpecError, load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "benchmark" / "sample" / "bbbc021-cells"

BASE = {
    "name": "t",
    "data": {"source": "bbbc021-cells", "dir": str(SAMPLE), "image_size": [64, 64]},
    "grid": {"nodes": [1], "workers_per_node": [1, 2], "local_batch_size": [8, 16]},
    "training": {"epochs": 2},
    "executor": {"kind": "local"},
}


def spec_with(**changes):
    raw = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        section, _, key = dotted.partition("__")
        if key:
            raw.setdefault(section, {})[key] = value
        else:
            raw[section] = value
    return raw


def error_of(raw) -> str:
    with pytest.raises(SpecError) as info:
        parse_spec(raw, ROOT / "spec.toml")
    return str(info.value)


def test_expands_the_cartesian_product(tmp_path):
    spec = parse_spec(spec_with(), ROOT / "spec.toml")
    runs = spec.runs(tmp_path)
    assert [r.run_id for r in runs] == ["n1-w1-b8", "n1-w1-b16", "n1-w2-b8", "n1-w2-b16"]
    assert runs[2].config.run.nodes == 1 and runs[2].config.run.workers_per_node == 2
    assert runs[2].config.run_dir == tmp_path / "t" / "n1-w2-b8"


def test_global_batch_size_is_split_over_workers(tmp_path):
    raw = spec_with(
        grid={"nodes": [1, 2], "workers_per_node": [2], "global_batch_size": [32]}, executor={"kind": "slurm"}
    )
    runs = parse_spec(raw, ROOT / "spec.toml").runs(tmp_path)
    assert [(r.run_id, r.config.run.local_batch_size) for r in runs] == [("n1-w2-gb32", 16), ("n2-w2-gb32", 8)]


def test_nodes_to_128_and_8_workers_per_node_are_expressible(tmp_path):
    raw = spec_with(
        grid={"nodes": [1, 2, 4, 8, 16, 32, 64, 128], "workers_per_node": [1, 2, 4, 8], "local_batch_size": [4]},
        executor={"kind": "slurm"},
    )
    runs = parse_spec(raw, ROOT / "spec.toml").runs(tmp_path)
    assert len(runs) == 32 and max(r.workers for r in runs) == 1024


@pytest.mark.parametrize(
    "changes,expected",
    [
        ({"grid__typo": [1]}, "grid.typo: unknown key"),
        ({"extra": {"a": 1}}, "[extra]: unknown section"),
        ({"grid__workers_per_node": []}, "grid.workers_per_node: must be a non-empty list"),
        ({"grid__local_batch_size": [0]}, "grid.local_batch_size: item 0 must be > 0"),
        ({"training__epochs": -1}, "training.epochs: must be > 0"),
        ({"training__epochs": "3"}, "training.epochs: must be an integer"),
        ({"grid__nodes": [1, 2]}, "grid.nodes: the local executor runs on this one machine"),
        ({"data__image_size": [64, 100]}, "data.image_size: M-CNN input width must be a positive multiple of 64"),
        ({"data__dir": "no/such/folder"}, "data.dir: no such folder"),
        ({"data__source": "imagenet"}, "data.source: must be one of"),
        ({"executor__kind": "pbs"}, "executor.kind: must be one of"),
        ({"executor__partition": "debug"}, "executor.partition: only for the slurm executor"),
        ({"grid__global_batch_size": [32]}, "give exactly one of grid.local_batch_size and grid.global_batch_size"),
        ({"name": ""}, "name: must be a non-empty string"),
        ({"learning_rate__base_lr": 0}, "learning_rate.base_lr: must be > 0"),
        (
            {"executor": {"kind": "slurm", "cpus_per_task": 4, "cpus_per_node": 8}},
            "executor.cpus_per_node: give cpus_per_task or cpus_per_node, not both",
        ),
        ({"executor": {"kind": "slurm", "cpus_per_node": 1}}, "executor.cpus_per_node: 1 cores cannot hold 2 workers"),
    ],
)
def test_errors_name_the_key(changes, expected):
    assert expected in error_of(spec_with(**changes))


@pytest.mark.parametrize(
    "changes,expected",
    [
        ({"name": "../../x"}, "name: must be a plain name"),
        ({"name": ".."}, "name: must be a plain name"),
        ({"learning_rate__base_lr": float("nan")}, "learning_rate.base_lr: must be a finite number"),
        ({"training__target_top1": float("inf")}, "training.target_top1: must be a finite number"),
        (
            {"executor": {"kind": "slurm", "sbatch_args": {"mem=1G\nrm -rf ~\n#": "x"}}},
            "executor.sbatch_args: keys must look like sbatch long options",
        ),
        ({"executor": {"kind": "slurm", "sbatch_args": {"--mem": "1G"}}}, "executor.sbatch_args: keys must look like"),
        (
            {"executor": {"kind": "slurm", "sbatch_args": {"mem": "1G\n#SBATCH --time=99999"}}},
            "executor.sbatch_args: must not hold newlines",
        ),
        ({"executor": {"kind": "slurm", "partition": "debug\nhostname"}}, "executor.partition: must not hold newlines"),
        (
            {"executor": {"kind": "slurm", "srun_args": ["--exclusive\r"]}},
            "executor.srun_args: item '--exclusive\\r' must",
        ),
        (
            {"executor": {"kind": "slurm", "time_minutes": 1}},
            "executor.time_minutes: must be more than submitit's signal",
        ),
        ({"grid__workers_per_node": [(os.cpu_count() or 1) + 1]}, "grid.workers_per_node: this machine has"),
        ({"executor": {"kind": "local", "cpus": (os.cpu_count() or 1) + 1}}, "executor.cpus: this machine has"),
    ],
)
def test_specs_cannot_inject_escape_or_overreach(changes, expected):
    assert expected in error_of(spec_with(**changes))


def test_a_data_folder_without_data_is_refused_before_anything_runs(tmp_path):
    message = error_of(spec_with(data__dir=str(tmp_path)))
    assert f"data.dir: {tmp_path} holds no bbbc021-cells data: missing index.csv, images.npy or images.npz" in message


def test_missing_required_key_and_section():
    raw = spec_with()
    del raw["training"]
    del raw["grid"]["nodes"]
    message = error_of(raw)
    assert "[training]: missing section" in message and "grid.nodes: required" in message


def test_global_batch_that_does_not_divide():
    raw = spec_with(grid={"nodes": [1], "workers_per_node": [3], "global_batch_size": [32]})
    assert "32 does not divide by 1 nodes x 3 workers per node = 3 workers" in error_of(raw)


def test_a_global_batch_cap_shrinks_the_local_batch_where_it_binds(tmp_path):
    raw = spec_with(
        grid={"nodes": [1, 2, 4, 8], "workers_per_node": [4], "local_batch_size": [16], "max_global_batch_size": 64},
        executor={"kind": "slurm"},
    )
    runs = parse_spec(raw, ROOT / "spec.toml").runs(tmp_path)
    assert [(r.run_id, r.config.run.local_batch_size) for r in runs] == [
        ("n1-w4-b16", 16),
        ("n2-w4-b8", 8),
        ("n4-w4-b4", 4),
        ("n8-w4-b2", 2),
    ]
    assert max(r.config.run.local_batch_size * r.workers for r in runs) == 64


def test_without_a_cap_the_run_ids_are_as_before(tmp_path):
    runs = parse_spec(spec_with(), ROOT / "spec.toml").runs(tmp_path)
    assert [r.run_id for r in runs] == ["n1-w1-b8", "n1-w1-b16", "n1-w2-b8", "n1-w2-b16"]


@pytest.mark.parametrize(
    "grid,expected",
    [
        (
            {"nodes": [1, 3], "workers_per_node": [2], "local_batch_size": [8], "max_global_batch_size": 10},
            "grid.max_global_batch_size: 10 does not divide by 3 nodes x 2 workers per node = 6 workers, where it "
            "caps local batch 8 (global 48)",
        ),
        (
            {"nodes": [4], "workers_per_node": [2], "local_batch_size": [1], "max_global_batch_size": 4},
            "grid.max_global_batch_size: 4 does not divide by 4 nodes x 2 workers per node = 8 workers",
        ),
        (
            {"nodes": [2], "workers_per_node": [2], "local_batch_size": [8, 16], "max_global_batch_size": 16},
            "grid.max_global_batch_size: 16 makes local batches 8, 16 the same run at 2 nodes x 2 workers per node "
            "(local batch 4)",
        ),
        (
            {"nodes": [1], "workers_per_node": [2], "global_batch_size": [8], "max_global_batch_size": 16},
            "grid.max_global_batch_size: only with grid.local_batch_size",
        ),
        (
            {"nodes": [1], "workers_per_node": [2], "local_batch_size": [8], "max_global_batch_size": 0},
            "grid.max_global_batch_size: must be > 0",
        ),
    ],
)
def test_a_global_batch_cap_that_cannot_apply_is_refused(grid, expected):
    assert expected in error_of(spec_with(grid=grid, executor={"kind": "slurm"}))


def test_a_cap_that_never_binds_needs_not_divide(tmp_path):
    raw = spec_with(
        grid={"nodes": [1], "workers_per_node": [3], "local_batch_size": [2], "max_global_batch_size": 7},
        executor={"kind": "slurm"},
    )
    assert [r.run_id for r in parse_spec(raw, ROOT / "spec.toml").runs(tmp_path)] == ["n1-w3-b2"]


def test_data_dir_overrides_the_spec_from_the_current_directory(tmp_path, monkeypatch):
    spec_file = tmp_path / "specs" / "spec.toml"
    spec_file.parent.mkdir()
    spec_file.write_text(
        'name = "t"\n[data]\nsource = "bbbc021-cells"\ndir = "/no/such/data"\n'
        "image_size = [64, 64]\n[grid]\nnodes = [1]\nworkers_per_node = [1]\n"
        'local_batch_size = [8]\n[training]\nepochs = 1\n[executor]\nkind = "local"\n'
    )
    with pytest.raises(SpecError, match="data.dir: no such folder: /no/such/data"):
        load_spec(spec_file)
    monkeypatch.chdir(SAMPLE.parent)
    spec = load_spec(spec_file, data_dir=SAMPLE.name)  # relative to the current directory, not the spec
    assert spec.runs(tmp_path)[0].config.data.dir == str(SAMPLE)
    with pytest.raises(SpecError, match=f"data.dir: no such folder: {tmp_path / 'elsewhere'}"):
        load_spec(spec_file, data_dir=tmp_path / "elsewhere")


def test_synthetic_data_needs_steps_per_epoch():
    raw = spec_with(data={"source": "synthetic", "image_size": [64, 64]})
    assert "training.steps_per_epoch: required for synthetic data" in error_of(raw)


def test_bad_toml_and_missing_file_are_clear(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 'x'\n[grid\n")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_spec(bad)
    with pytest.raises(SpecError, match="cannot read sweep spec"):
        load_spec(tmp_path / "absent.toml")


@pytest.mark.parametrize("example", sorted((ROOT / "slurm" / "examples").glob("*.toml")), ids=lambda p: p.name)
def test_shipped_examples_validate(example):
    spec = load_spec(example)
    assert spec.runs(Path("/tmp/results"))


def test_init_from_is_resolved_from_the_spec_and_must_exist(tmp_path):
    (tmp_path / "earlier" / "run").mkdir(parents=True)
    spec = parse_spec(spec_with(training__init_from="earlier/run"), tmp_path / "spec.toml")
    assert spec.runs(tmp_path)[0].config.training.init_from == str(tmp_path / "earlier" / "run")
    with pytest.raises(SpecError, match="training.init_from: .*nowhere is not a run's folder"):
        parse_spec(spec_with(training__init_from="nowhere"), tmp_path / "spec.toml")


def test_a_spec_as_another_sweep_keeps_to_plain_names():
    spec = parse_spec(spec_with(), ROOT / "spec.toml")
    assert spec.renamed("t-2").name == "t-2"
    with pytest.raises(SpecError, match="plain name"):
        spec.renamed("../x")


def test_the_run_section_reaches_every_run_and_leaves_the_rest_to_the_grid(tmp_path):
    raw = spec_with(run={"watchdog_floor_seconds": 120, "stall_floor_seconds": 30, "allocator": "jemalloc"})
    runs = parse_spec(raw, ROOT / "spec.toml").runs(tmp_path)
    assert {(r.config.run.watchdog_floor_seconds, r.config.run.stall_floor_seconds) for r in runs} == {(120, 30)}
    assert {r.config.run.allocator for r in runs} == {"jemalloc"}
    assert [r.config.run.local_batch_size for r in runs] == [8, 16, 8, 16]
    # the watchdog's settings are not part of the run's identity; the allocator is (it is not the default)
    plain = parse_spec(spec_with(), ROOT / "spec.toml").runs(tmp_path)
    watched = parse_spec(spec_with(run={"watchdog_floor_seconds": 120}), ROOT / "spec.toml").runs(tmp_path)
    assert [r.config.fingerprint() for r in plain] == [r.config.fingerprint() for r in watched]
    assert plain[0].config.fingerprint() != runs[0].config.fingerprint()


def test_the_run_section_may_not_give_what_the_sweep_sets():
    message = error_of(spec_with(run={"nodes": 2, "local_batch_size": 4, "run_id": "x", "heartbeat_seconds": 0}))
    assert "run.nodes: set by grid.nodes in a sweep spec" in message
    assert "run.local_batch_size: set by grid.local_batch_size or grid.global_batch_size" in message
    assert "run.run_id: set by the grid" in message
    assert "run.heartbeat_seconds" in message  # an ordinary key is still validated


def test_a_grid_of_engines_gives_one_run_per_engine(tmp_path):
    raw = spec_with(grid__engine=["horovod"], run={"engine": "horovod"})
    runs = parse_spec(raw, ROOT / "spec.toml").runs(tmp_path)
    assert [r.run_id for r in runs] == [
        "n1-w1-b8-horovod",
        "n1-w1-b16-horovod",
        "n1-w2-b8-horovod",
        "n1-w2-b16-horovod",
    ]
    assert {r.config.run.engine for r in runs} == {"horovod"}
    assert "grid.engine" in error_of(spec_with(grid__engine=["tensorflow"]))
    assert "grid.engine" in error_of(spec_with(grid__engine=["horovod", "horovod"]))


def test_data_folds_gives_k_runs_per_point_each_validating_its_fold(tmp_path):
    raw = spec_with(grid={"nodes": [1], "workers_per_node": [1], "local_batch_size": [16], "repeats": 2})
    raw["data"]["folds"] = 3
    runs = parse_spec(raw, ROOT / "spec.toml").runs(tmp_path)
    assert [r.run_id for r in runs] == [f"n1-w1-b16-r{r}-f{k}" for r in (1, 2) for k in (1, 2, 3)]
    assert [r.config.data.fold for r in runs] == [1, 2, 3, 1, 2, 3]
    assert {r.config.data.folds for r in runs} == {3}
    assert (
        runs[1].config.run.run_id == "n1-w1-b16-r1-f2" and runs[1].config.run_dir == tmp_path / "t" / "n1-w1-b16-r1-f2"
    )
    assert len({r.config.fingerprint() for r in runs[:3]}) == 3  # the fold is part of the run's identity
    assert "data.folds" in error_of(spec_with(data={**BASE["data"], "folds": 3, "split": "paper"}))
    assert "data.folds" in error_of(spec_with(data={**BASE["data"], "folds": 1}))


def test_without_folds_the_run_ids_and_fingerprints_are_as_before(tmp_path):
    runs = parse_spec(spec_with(), ROOT / "spec.toml").runs(tmp_path)
    assert all(r.config.data.fold is None and "data.folds" not in r.config.fingerprinted() for r in runs)
    assert "data.split" not in runs[0].config.fingerprinted()
