"""An engine that cannot run in this Python (the Horovod engine on Python >= 3.13, where TensorFlow 2.18.1 has no
wheel): the engine registry's one sentence (benchmark.engines.engine_problem), every command that needs the
engine refused with it (exit status 2, nothing written), and a sweep that leaves out the runs of such engines
when asked (``mcnn-bench sweep --skip-unavailable-engines``, slurm.spec.SweepSpec.runnable_here).

The registry's own checks run on every Python: where the Horovod engine is installed, its entry is made to need a
package that no environment has (:func:`horovod_unavailable`), as TensorFlow and Horovod are missing on 3.13.
Nothing here trains."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
import tomli_w

from benchmark.engines import ENGINES, EngineUnavailable, engine_problem, python_supported
from mcnn_bench.cli import main
from slurm.spec import load_spec

#: A package that no environment has.
ABSENT = "mcnn_bench_absent_package"


@pytest.fixture
def horovod_unavailable(monkeypatch) -> str:
    """The Horovod engine unavailable here (on Python <= 3.12, its registry entry needs :data:`ABSENT` too);
    returns the registry's sentence."""
    entry = ENGINES["horovod"]
    monkeypatch.setitem(ENGINES, "horovod", dataclasses.replace(entry, needs=(*entry.needs, ABSENT)))
    problem = engine_problem("horovod")
    assert problem is not None
    return problem


def write_spec(folder: Path, engines: list[str]) -> Path:
    """A local sweep spec of synthetic runs, 1 and 2 workers, on each of ``engines`` (``grid.engine``)."""
    raw = {
        "name": "engines",
        "data": {"source": "synthetic", "image_size": [64, 64]},
        "grid": {"nodes": [1], "workers_per_node": [1, 2], "local_batch_size": [8], "engine": engines},
        "training": {"epochs": 1, "steps_per_epoch": 2},
        "executor": {"kind": "local"},
    }
    path = folder / "engines.toml"
    path.write_text(tomli_w.dumps(raw))
    return path


def error_line(stderr: str, command: str) -> str:
    """The one line of a refused command, without its ``mcnn-bench COMMAND: error: `` prefix."""
    lines = stderr.strip().splitlines()
    prefix = f"mcnn-bench {command}: error: "
    assert len(lines) == 1 and lines[0].startswith(prefix) and "Traceback" not in stderr, stderr
    return lines[0].removeprefix(prefix)


# --- the registry's sentence --------------------------------------------------------------------------------


def test_the_horovod_engine_can_be_installed_up_to_python_3_12():
    assert python_supported("horovod", (3, 10)) and python_supported("horovod", (3, 12, 7))
    assert not python_supported("horovod", (3, 13)) and not python_supported("horovod", (4, 0))
    assert python_supported("ddp", (3, 13)) and python_supported("ddp", (3, 14))
    assert python_supported("horovod") == (sys.version_info < (3, 13))


def test_on_a_python_too_new_the_sentence_says_which_python_and_how_to_give_setup_another(monkeypatch):
    entry = ENGINES["horovod"]
    monkeypatch.setitem(ENGINES, "horovod", dataclasses.replace(entry, needs=(ABSENT,), newest_python=(3, 0)))
    python = f"Python {sys.version_info.major}.{sys.version_info.minor} ({sys.executable})"
    assert engine_problem("horovod") == (
        f"run.engine = 'horovod': {ABSENT} not installed for {python}; the Horovod engine needs Python <= 3.12 "
        "(TensorFlow 2.18.1, the newest Horovod 0.28.1 builds against, has no wheel for newer ones): run setup.sh "
        'with another interpreter, MCNN_PYTHON=python3.12 MCNN_VENV=.venv312 ./setup.sh, or use run.engine = "ddp"'
    )


def test_on_a_python_it_can_be_installed_for_the_sentence_says_to_run_setup(monkeypatch):
    entry = ENGINES["horovod"]
    monkeypatch.setitem(ENGINES, "horovod", dataclasses.replace(entry, needs=("numpy", ABSENT), newest_python=None))
    python = f"Python {sys.version_info.major}.{sys.version_info.minor} ({sys.executable})"
    assert engine_problem("horovod") == (
        f"run.engine = 'horovod': {ABSENT} not installed for {python}; run ./setup.sh, which installs TensorFlow and "
        "builds Horovod against it"
    )
    monkeypatch.setitem(ENGINES, "horovod", dataclasses.replace(entry, needs=("numpy",), newest_python=(3, 0)))
    assert engine_problem("horovod") is None  # what is installed runs, whatever the Python


def test_the_ddp_engine_runs_on_every_python():
    assert ENGINES["ddp"].newest_python is None and engine_problem("ddp") is None


# --- every command that needs the engine --------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--data", "synthetic", "--image-size", "64", "64", "--epochs", "1", "--steps-per-epoch", "2"],
        ["allreduce", "--iterations", "1", "--warmup", "0"],
        ["peak"],
        ["bench", "overhead", "--steps", "2", "--warmup", "1", "--repeats", "1"],
        ["bench", "input", "--data-dir", "cells", "--engine", "horovod"],
        ["sweep", "SPEC"],
        ["sweep", "SPEC", "--dry-run"],
    ],
    ids=["train", "allreduce", "peak", "bench overhead", "bench input", "sweep", "sweep --dry-run"],
)
def test_a_command_that_needs_the_engine_is_refused_with_the_sentence(
    argv, horovod_unavailable, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MCNN_PEAK_CACHE", str(tmp_path / "peaks"))
    results = tmp_path / "results"
    spec = write_spec(tmp_path, ["ddp", "horovod"])  # a DDP run first: nothing of it may be written either
    argv = [str(spec) if word == "SPEC" else word for word in argv]
    if argv[0] in ("train", "sweep"):
        argv += ["--results-dir", str(results)]
    assert main(argv) == 2
    command = " ".join(argv[:2]) if argv[0] == "bench" else argv[0]
    assert error_line(capsys.readouterr().err, command) == horovod_unavailable
    assert sorted(p.name for p in tmp_path.iterdir()) == ["engines.toml"]  # nothing written


# --- a sweep without the runs whose engine cannot run -------------------------------------------------------


def test_a_sweep_can_leave_out_the_runs_whose_engine_cannot_run(horovod_unavailable, tmp_path, capsys):
    spec = write_spec(tmp_path, ["horovod", "ddp"])
    argv = ["sweep", str(spec), "--results-dir", str(tmp_path / "results"), "--dry-run", "--skip-unavailable-engines"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert err.splitlines()[0] == f"mcnn-bench sweep: leaving out the runs on the horovod engine: {horovod_unavailable}"
    assert "2 job script(s) written" in out
    written = sorted(p.name for p in (tmp_path / "results" / "engines").iterdir() if p.is_dir())
    assert written == ["n1-w1-b8-ddp", "n1-w2-b8-ddp"]


def test_the_runs_kept_are_the_specs_own(horovod_unavailable, tmp_path):
    spec = load_spec(write_spec(tmp_path, ["horovod", "ddp"]))
    narrowed, left_out = spec.runnable_here()
    assert left_out == {"horovod": horovod_unavailable} and narrowed.engines() == ["ddp"]
    kept = {run.run_id: run.config.fingerprint() for run in narrowed.runs(tmp_path)}
    own = {run.run_id: run.config.fingerprint() for run in spec.runs(tmp_path) if run.config.run.engine == "ddp"}
    assert kept == own and list(kept) == ["n1-w1-b8-ddp", "n1-w2-b8-ddp"]


def test_a_spec_whose_engines_all_run_is_kept_whole(monkeypatch, tmp_path):
    entry = ENGINES["horovod"]
    monkeypatch.setitem(ENGINES, "horovod", dataclasses.replace(entry, needs=("numpy",)))
    spec = load_spec(write_spec(tmp_path, ["horovod", "ddp"]))
    assert spec.runnable_here() == (spec, {})


def test_a_sweep_with_no_engine_that_can_run_is_refused_with_the_sentence(horovod_unavailable, tmp_path, capsys):
    spec = write_spec(tmp_path, ["horovod"])
    argv = ["sweep", str(spec), "--results-dir", str(tmp_path / "results"), "--skip-unavailable-engines"]
    assert main(argv) == 2
    line = error_line(capsys.readouterr().err, "sweep")
    assert line == f"no run of sweep engines can run here: {horovod_unavailable}"
    assert not (tmp_path / "results").exists()
    with pytest.raises(EngineUnavailable):
        load_spec(spec).runnable_here()
