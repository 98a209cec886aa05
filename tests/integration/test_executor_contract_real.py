"""The executor contract (tests/executor_contract.py) over the real executors: the local one (submitit +
horovodrun on this machine) and SLURM (the development cluster), with small real runs of the BBBC021
cells at 64x64 (one worker, one epoch of 2 steps; 50 x 50 steps for a run to cancel)."""

from __future__ import annotations

from pathlib import Path

import pytest
from executor_contract import *  # noqa: F403 (the contract's tests)
from executor_contract import Fate, Harness, Submission
from test_slurm_sweep import ROOT, raw_spec

from slurm.executor import EXECUTORS
from slurm.spec import parse_spec

#: Training of each fate (a failing job's config is not a config at all).
TRAINING = {
    "completes": {"epochs": 1, "steps": 2},
    "fails": {"epochs": 1, "steps": 2},
    "runs long": {"epochs": 50, "steps": 50},
}


class RealHarness(Harness):
    """The contract's runs on a real executor of ``kind``, each its own sweep under ``results``."""

    def __init__(self, kind: str, cells: Path, results: Path):
        settings = parse_spec(self._raw(kind, cells, "settings", "completes"), ROOT / "contract.toml").executor
        super().__init__(EXECUTORS[kind](results / "submitit", settings), timeout=300.0, pause=1.0)
        self.kind, self.cells, self.results = kind, cells, results

    @staticmethod
    def _raw(kind: str, cells: Path, name: str, fate: Fate) -> dict:
        raw = raw_spec(cells, name, nodes=(1,), wpn=(1,), **TRAINING[fate])
        return raw if kind == "slurm" else {**raw, "executor": {"kind": kind}}

    def submission(self, name: str, fate: Fate) -> Submission:
        (run,) = parse_spec(self._raw(self.kind, self.cells, name, fate), ROOT / f"{name}.toml").runs(self.results)
        config = self.executor.prepare(run)
        path = config.write_json(config.run_dir / "config.json")
        if fate == "fails":
            path.write_text("not a config\n")  # the job fails before its trainer can write a record
        return Submission(run, config, path)


@pytest.fixture(
    params=[
        pytest.param("local", marks=pytest.mark.horovod),
        pytest.param("slurm", marks=[pytest.mark.slurm, pytest.mark.horovod]),  # its runs are the Horovod engine's
    ]
)
def harness(request, shared_data, tmp_path):
    if request.param == "slurm":
        request.getfixturevalue("slurm_cluster")
    real = RealHarness(request.param, shared_data / "bbbc021" / "cells", tmp_path)
    yield real
    real.cancel_all()
