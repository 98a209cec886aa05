"""What every engine's local launcher shares: how a worker process runs ``mcnn-bench train``, and the error
of a launcher that cannot start. Each engine's ``launch`` module (:attr:`benchmark.engines.EngineEntry.launch`)
gives ``local_command(config_path, workers) -> list[str]`` and ``WORKER_STDERR``, the pattern that marks a
worker's stderr lines in the launcher's output; it imports no framework."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from benchmark.engines import ENGINES
from benchmark.errors import McnnBenchError


class LaunchError(McnnBenchError, RuntimeError):
    """An engine's launcher cannot start (not installed)."""


def train_module_args(config_path: Path) -> list[str]:
    """``-m mcnn_bench train --config CONFIG``: what a launcher's Python runs in each worker of the run whose
    config is ``config_path``."""
    return ["-m", "mcnn_bench", "train", "--config", str(config_path)]


def launcher(engine: str) -> ModuleType:
    """The launch module of ``run.engine`` ``engine`` (see the module's docstring), imported now.

    Raises:
        KeyError: no engine of that name.
    """
    return importlib.import_module(ENGINES[engine].launch)
