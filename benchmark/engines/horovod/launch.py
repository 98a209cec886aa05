"""How the local executor starts the Horovod engine's workers on one machine: Horovod's own launcher,
``horovodrun --gloo``. Imports neither TensorFlow nor Horovod."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

from benchmark.engines.launch import LaunchError, train_module_args

#: How horovodrun marks, in its output, the lines a worker writes to stderr: ``[<rank>]<stderr>:``.
WORKER_STDERR = re.compile(r"\[\d+\]<stderr>:")


def local_command(config_path: Path, workers: int) -> list[str]:
    """The ``horovodrun`` command that starts ``workers`` Gloo workers of ``mcnn-bench train`` here.

    Raises:
        LaunchError: horovodrun is not installed.
    """
    bindir = Path(sys.executable).parent
    horovodrun = shutil.which("horovodrun", path=str(bindir)) or shutil.which("horovodrun")
    if horovodrun is None:
        raise LaunchError("horovodrun not found: run ./setup.sh to build Horovod")
    return [
        horovodrun,
        "-np",
        str(workers),
        "-H",
        f"localhost:{workers}",
        "--gloo",
        sys.executable,
        "-u",
        *train_module_args(config_path),
    ]
