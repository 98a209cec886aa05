"""Thread-count sweeps (Wilson et al., Dell EMC, Figs. 5-8): ``grid.intra_op_threads`` as a grid axis, the
workers' environment from ``executor.env`` (exported in the job script, passed to horovodrun), and what the
record keeps of both; one real local sweep of two thread counts."""

import copy
import io
import json
import os
import subprocess
from pathlib import Path

import pytest

from benchmark.config import TrainConfig
from benchmark.engines.horovod.engine import (
    LONE_WORKER_CYCLE_MS,
    THREAD_ENV_PREFIXES,
    WORKERS_CYCLE_MS,
    set_horovod_cycle,
)
from benchmark.record import RunRecord, Threads
from benchmark.util.launcher import LAUNCHER_SIZE_VARS, launcher_size
from slurm.executor import EXECUTORS
from slurm.spec import SpecError, parse_spec
from slurm.sweep import DRY_RUN_CONFIG, dry_run, run_sweep

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "benchmark" / "sample" / "bbbc021-cells"
CORES = os.cpu_count() or 1
#: The paper's Intel OpenMP settings (Wilson et al., Dell EMC).
PAPER_ENV = {"KMP_AFFINITY": "granularity=fine,compact,1,0", "KMP_BLOCKTIME": "1"}

BASE = {
    "name": "threads",
    "data": {"source": "bbbc021-cells", "dir": str(SAMPLE), "image_size": [64, 64]},
    "grid": {"nodes": [1], "workers_per_node": [1], "local_batch_size": [8, 16]},
    "training": {"epochs": 2},
    "executor": {"kind": "slurm", "cpus_per_task": 4},
}


def spec_with(grid=None, executor=None, **top):
    raw = copy.deepcopy(BASE)
    raw["grid"].update(grid or {})
    if executor is not None:
        raw["executor"] = executor
    raw.update(top)
    return parse_spec(raw, ROOT / "threads.toml")


def error_of(**changes) -> str:
    with pytest.raises(SpecError) as info:
        spec_with(**changes)
    return str(info.value)


def prepared(spec, results: Path) -> dict[str, TrainConfig]:
    """Each run's config as the spec's executor prepares it for its workers, by run id."""
    executor = EXECUTORS[spec.executor.kind](results / "submitit", spec.executor)
    return {run.run_id: executor.prepare(run) for run in spec.runs(results)}


def test_threads_are_a_grid_axis_before_the_repeats(tmp_path):
    spec = spec_with(grid={"intra_op_threads": [1, 4], "repeats": 2})
    runs = spec.runs(tmp_path)
    assert [run.run_id for run in runs] == [f"n1-w1-b{b}-t{t}-r{r}" for b in (8, 16) for t in (1, 4) for r in (1, 2)]
    assert [run.config.run.intra_op_threads for run in runs] == [1, 1, 4, 4] * 2
    configs = prepared(spec, tmp_path)
    assert {run_id: c.run.intra_op_threads for run_id, c in configs.items() if run_id.endswith("-r1")} == {
        "n1-w1-b8-t1-r1": 1,
        "n1-w1-b8-t4-r1": 4,
        "n1-w1-b16-t1-r1": 1,
        "n1-w1-b16-t4-r1": 4,
    }
    assert configs["n1-w1-b8-t1-r1"].fingerprint() != configs["n1-w1-b8-t4-r1"].fingerprint()


def test_without_the_axis_run_ids_and_fingerprints_stay_as_they_were(tmp_path):
    plain, swept = spec_with(), spec_with(grid={"intra_op_threads": [4]})
    assert [run.run_id for run in plain.runs(tmp_path)] == ["n1-w1-b8", "n1-w1-b16"]
    assert all(run.config.run.intra_op_threads is None for run in plain.runs(tmp_path))
    # the executor gives a worker its cpus_per_task = 4 threads, as before; the same count given by the grid is
    # the same run (only its id differs)
    before, after = prepared(plain, tmp_path), prepared(swept, tmp_path)
    assert before["n1-w1-b8"].run.intra_op_threads == 4
    assert before["n1-w1-b8"].fingerprint() == after["n1-w1-b8-t4"].fingerprint()


def test_slurm_exports_the_grid_threads_and_env_but_asks_for_the_cores(tmp_path):
    env = {**PAPER_ENV, "NOTE": "two words; $HOME"}
    spec = spec_with(
        grid={"intra_op_threads": [2], "local_batch_size": [8]},
        executor={"kind": "slurm", "cpus_per_node": 8, "env": env, "setup": ["echo ready"]},
    )
    (path,) = dry_run(spec, tmp_path, out=io.StringIO())
    script = path.read_text()
    assert path.parent.name == "n1-w1-b8-t2" and "#SBATCH --cpus-per-task=8\n" in script
    exports = (
        "export OMP_NUM_THREADS=2\nexport KMP_AFFINITY=granularity=fine,compact,1,0\nexport KMP_BLOCKTIME=1\n"
        "export NOTE='two words; $HOME'\necho ready\n"
    )
    assert exports in script
    config = TrainConfig.from_json(path.parent / DRY_RUN_CONFIG)
    assert config.run.intra_op_threads == 2 and config.run.inter_op_threads == 1
    # the lines, run by bash, set exactly the values given
    shown = subprocess.run(
        ["bash", "-c", exports.replace("echo ready\n", "") + "printenv NOTE KMP_AFFINITY"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert shown == f"{env['NOTE']}\n{env['KMP_AFFINITY']}\n"


@pytest.mark.horovod
def test_local_dry_run_sets_the_threads_and_env_on_the_launcher(tmp_path):
    spec = spec_with(
        grid={"intra_op_threads": [1], "local_batch_size": [8]},
        executor={"kind": "local", "env": {"KMP_BLOCKTIME": "1"}},
    )
    (path,) = dry_run(spec, tmp_path, out=io.StringIO())
    assert path.read_text().splitlines()[1].startswith("OMP_NUM_THREADS=1 KMP_BLOCKTIME=1 ")


@pytest.mark.parametrize(
    "grid,executor,expected",
    [
        (
            {"intra_op_threads": [2, 8]},
            {"kind": "slurm", "cpus_per_task": 4},
            "grid.intra_op_threads: 8 threads per worker, but a worker gets 4 cores at 1 workers per node "
            "(executor.cpus_per_task = 4)",
        ),
        (
            {"intra_op_threads": [4], "workers_per_node": [1, 4]},
            {"kind": "slurm", "cpus_per_node": 8},
            "grid.intra_op_threads: 4 threads per worker, but a worker gets 2 cores at 4 workers per node "
            "(executor.cpus_per_node = 8 / 4 workers)",
        ),
        (
            {"intra_op_threads": [CORES + 1]},
            {"kind": "local"},
            f"grid.intra_op_threads: {CORES + 1} threads per worker, but a worker gets {CORES} cores at 1 workers per "
            f"node (this machine's {CORES} cores / 1 workers)",
        ),
        (
            {"intra_op_threads": [2]},
            {"kind": "local", "cpus": 1},
            "grid.intra_op_threads: 2 threads per worker, but a worker gets 1 cores at 1 workers per node "
            "(executor.cpus = 1 / 1 workers)",
        ),
        ({"intra_op_threads": [0]}, None, "grid.intra_op_threads: item 0 must be > 0"),
        ({"intra_op_threads": [2, 2]}, None, "grid.intra_op_threads: has repeated values"),
    ],
)
def test_more_threads_than_a_worker_has_cores_is_refused(grid, executor, expected):
    message = error_of(grid=grid, executor=executor)
    assert expected in message
    assert sum("grid.intra_op_threads" in line for line in message.splitlines()) == 1


@pytest.mark.parametrize(
    "env,expected",
    [
        ({"OMP_NUM_THREADS": "4"}, "executor.env: OMP_NUM_THREADS is set by the executor"),
        ({"KMP_BLOCKTIME": 1}, "executor.env.KMP_BLOCKTIME: must be a string, got 1"),
        ({"A;rm -rf ~": "1"}, "executor.env: names must be shell variable names"),
        ({"KMP_AFFINITY": "compact\nhostname"}, "executor.env.KMP_AFFINITY: must not hold newlines"),
    ],
)
@pytest.mark.parametrize("kind", ["local", "slurm"])
def test_bad_env_is_refused_naming_the_key(kind, env, expected):
    assert expected in error_of(executor={"kind": kind, "env": env})


@pytest.mark.parametrize(
    "env,size,cycle",
    [
        ({}, 1, LONE_WORKER_CYCLE_MS),
        ({"HOROVOD_SIZE": "1"}, 1, LONE_WORKER_CYCLE_MS),
        ({"HOROVOD_SIZE": "2"}, 2, WORKERS_CYCLE_MS),
        ({"SLURM_STEP_NUM_TASKS": "4", "SLURM_NTASKS": "1"}, 4, WORKERS_CYCLE_MS),
        ({"OMPI_COMM_WORLD_SIZE": "1", "HOROVOD_CYCLE_TIME": "0.5"}, 1, "0.5"),
    ],
)
def test_a_lone_worker_gets_a_longer_horovod_cycle_than_several_unless_one_is_set(monkeypatch, env, size, cycle):
    for name in (
        *LAUNCHER_SIZE_VARS,
        "HOROVOD_CYCLE_TIME",
    ):  # set, then removed: monkeypatch restores what this test's call sets
        monkeypatch.setenv(name, "0")
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert launcher_size() == size
    set_horovod_cycle()
    assert os.environ.get("HOROVOD_CYCLE_TIME") == cycle


def test_records_made_before_the_env_was_kept_still_load():
    assert Threads.model_validate({"intra_op": 1, "inter_op": 1, "omp_num_threads": "1", "affinity_cores": 2}).env == {}


@pytest.mark.horovod
@pytest.mark.skipif(CORES < 2, reason="2 threads per worker need 2 cores")
def test_a_real_local_sweep_of_two_thread_counts(tmp_path, check_record):
    raw = {
        "name": "threads",
        "data": {"source": "synthetic", "image_size": [64, 64]},
        "grid": {"nodes": [1], "workers_per_node": [1], "local_batch_size": [8], "intra_op_threads": [1, 2]},
        "training": {"epochs": 2, "steps_per_epoch": 3, "warmup_steps": 1},
        "executor": {"kind": "local", "env": {"KMP_BLOCKTIME": "1"}},
    }
    statuses = run_sweep(parse_spec(raw, tmp_path / "threads.toml"), tmp_path, out=io.StringIO())
    assert [(s.run_id, s.state) for s in statuses] == [("n1-w1-b8-t1", "completed"), ("n1-w1-b8-t2", "completed")]
    for threads in (1, 2):
        run_dir = tmp_path / "threads" / f"n1-w1-b8-t{threads}"
        check_record(run_dir / "record.json")
        record = RunRecord.read(run_dir)
        seen = record.provenance.threads
        assert seen.intra_op == threads and record.config.run.intra_op_threads == threads
        assert seen.omp_num_threads == str(threads)
        assert seen.env["KMP_BLOCKTIME"] == "1" and seen.env["OMP_NUM_THREADS"] == str(threads)
        assert all(name.startswith(THREAD_ENV_PREFIXES) for name in seen.env)
        assert seen.env["HOROVOD_CYCLE_TIME"] == LONE_WORKER_CYCLE_MS  # a lone worker's Horovod wakes less often
        assert json.loads((run_dir / "config.json").read_text())["run"]["intra_op_threads"] == threads
