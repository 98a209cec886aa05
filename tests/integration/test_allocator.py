"""run.allocator: real training processes that run themselves again with jemalloc or tcmalloc preloaded, and
record the malloc they ran with."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

import benchmark.util.allocator as allocator
from benchmark.config import TrainConfig
from benchmark.microbench.overhead import bare_run, overhead_config
from benchmark.util.allocator import (
    RERUN_MARKER,
    AllocatorError,
    ensure_allocator,
    library_path,
    loaded_allocator,
    preload,
)
from slurm.executor.local import launch_command

#: What a wrongly started re-run would do: end the test process with status 3, which fails the session.
EXIT_IF_RUN = [sys.executable, "-c", "raise SystemExit(3)"]
#: A tiny synthetic run of one worker: `mcnn-bench train` with these flags and --results-dir.
TRAIN = [
    "train",
    "--data",
    "synthetic",
    "--image-size",
    "64",
    "64",
    "--epochs",
    "1",
    "--steps-per-epoch",
    "3",
    "--intra-op-threads",
    "1",
]


def train(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mcnn_bench", *TRAIN, "--results-dir", str(tmp_path), *flags],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_this_process_runs_the_c_librarys_malloc():
    assert loaded_allocator() == "system"


@pytest.mark.horovod
@pytest.mark.parametrize("name", ["system", "jemalloc", "tcmalloc"])
def test_a_training_run_records_the_malloc_it_ran_with(tmp_path, check_record, name):
    done = train(tmp_path, "--allocator", name)
    assert done.returncode == 0, done.stderr[-3000:]
    (path,) = tmp_path.glob("*/*/record.json")
    record = check_record(path)
    assert record["status"] == "completed" and record["config"]["run"]["allocator"] == name
    assert record["provenance"]["allocator"] == name


@pytest.mark.horovod
def test_two_horovod_workers_each_run_again_preloaded(tmp_path):
    config = TrainConfig.from_flat(
        source="synthetic",
        image_size=(64, 64),
        local_batch_size=4,
        epochs=1,
        steps_per_epoch=3,
        warmup_steps=1,
        nodes=1,
        workers_per_node=2,
        intra_op_threads=1,
        allocator="tcmalloc",
        results_dir=str(tmp_path),
    )
    done = subprocess.run(
        launch_command(config.write_json(tmp_path / "config.json"), 2), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((config.run_dir / "record.json").read_text())
    assert record["topology"]["workers"] == 2 and record["provenance"]["allocator"] == "tcmalloc"


@pytest.mark.horovod
def test_the_overheads_bare_loop_runs_with_the_configs_allocator(tmp_path):
    result = bare_run(overhead_config(64, 64, 4, 2, 1, 1, "jemalloc").write_json(tmp_path / "config.json"))
    assert result["allocator"] == "jemalloc" and result["timed_steps"] == 2


def test_tensorflow_starts_only_after_the_allocator_is_in_place(tmp_path):
    """The train command reaches the re-run (os.execve, replaced here by a report) before importing
    TensorFlow, and asks for the jemalloc library in LD_PRELOAD."""
    script = (
        "import os, sys\n"
        "def report(path, argv, env):\n"
        "    print(path == sys.executable, 'tensorflow' in sys.modules, env['LD_PRELOAD'], env[sys.argv[1]])\n"
        "    sys.exit(0)\n"
        "os.execve = report\n"
        "from mcnn_bench.cli import main\n"
        f"main({TRAIN + ['--results-dir', str(tmp_path), '--allocator', 'jemalloc']!r})\n"
    )
    done = subprocess.run([sys.executable, "-c", script, RERUN_MARKER], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    same_python, tensorflow_loaded, preloaded, marker = done.stdout.split()
    assert (same_python, tensorflow_loaded, marker) == ("True", "False", "jemalloc")
    assert preloaded == str(library_path("jemalloc"))


def test_preload_puts_the_allocator_first_and_drops_other_allocators():
    inherited = f"/opt/lib/libfaketime.so.1 {library_path('tcmalloc')}:/opt/lib/libjemalloc.so.1"
    assert preload("jemalloc", inherited) == f"{library_path('jemalloc')}:/opt/lib/libfaketime.so.1"
    assert preload("system", inherited) == "/opt/lib/libfaketime.so.1"


def test_a_missing_library_says_to_run_setup(monkeypatch):
    missing = dataclasses.replace(allocator.ALLOCATORS["jemalloc"], library="libjemalloc-not-installed.so.9")
    monkeypatch.setitem(allocator.ALLOCATORS, "jemalloc", missing)
    with pytest.raises(AllocatorError, match=r"libjemalloc-not-installed\.so\.9 is not installed .*run \./setup\.sh"):
        ensure_allocator("jemalloc", EXIT_IF_RUN)


def test_a_missing_library_stops_the_train_command_with_that_message(tmp_path):
    script = (
        "import dataclasses, sys\nfrom benchmark.util import allocator\n"
        "allocator.ALLOCATORS['tcmalloc'] = dataclasses.replace(allocator.ALLOCATORS['tcmalloc'], "
        "library='libtcmalloc-not-installed.so.9')\n"
        "from mcnn_bench.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *TRAIN, "--results-dir", str(tmp_path), "--allocator", "tcmalloc"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "mcnn-bench train: error: run.allocator = 'tcmalloc'" in done.stderr and "./setup.sh" in done.stderr


def test_a_re_run_whose_preload_did_not_take_stops_instead_of_running_again(monkeypatch):
    monkeypatch.setenv(RERUN_MARKER, "jemalloc")  # as if this process were the re-run, yet without the preload
    with pytest.raises(AllocatorError, match="run again with LD_PRELOAD=.*still system's"):
        ensure_allocator("jemalloc", EXIT_IF_RUN)


def test_an_unknown_allocator_is_refused():
    with pytest.raises(ValueError, match="unknown allocator 'mimalloc'"):
        ensure_allocator("mimalloc", EXIT_IF_RUN)
