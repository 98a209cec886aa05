"""How the local executor starts the DDP engine's workers on one machine: PyTorch's own launcher,
``torchrun`` (``python -m torch.distributed.run``), standalone (a rendezvous on a free local port). It sets
each worker's ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR`` and
``MASTER_PORT`` (:func:`benchmark.engines.ddp.engine.launch_topology`), and ends every worker when one fails.
Imports nothing of PyTorch."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from benchmark.engines.launch import train_module_args

#: How torchrun (``--tee 2``) marks, in its output, the lines a worker writes to stderr: ``[default<rank>]:``.
WORKER_STDERR = re.compile(r"\[default\d+\]:")


def local_command(config_path: Path, workers: int) -> list[str]:
    """The ``torchrun`` command that starts ``workers`` workers of ``mcnn-bench train`` here."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nnodes=1",
        f"--nproc-per-node={workers}",
        "--tee=2",
        *train_module_args(config_path),  # torchrun runs the module with its own interpreter, unbuffered
    ]
