"""What a worker's launcher (horovodrun/Gloo, PyTorch's torchrun, Open MPI's mpirun, PMIx, SLURM's srun) tells
it through its environment, readable before any framework starts."""

from __future__ import annotations

import os

#: The environment variables that carry a worker's rank, and the worker count, as each launcher sets them
#: (Horovod/Gloo, torchrun, Open MPI, PMIx or SLURM's srun), in the order they are read: a launcher started
#: inside a SLURM step (torchrun in a one-task step) comes before SLURM's own.
LAUNCHER_RANK_VARS = ("HOROVOD_RANK", "RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID")
LAUNCHER_SIZE_VARS = ("HOROVOD_SIZE", "WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS")


def _launcher_value(names: tuple[str, ...], default: int) -> int:
    """The first of the environment variables ``names`` that is set, as an int; ``default`` if none is."""
    return next((int(os.environ[name]) for name in names if name in os.environ), default)


def launcher_rank() -> int:
    """This process's rank as the launcher set it (:data:`LAUNCHER_RANK_VARS`), 0 if none."""
    return _launcher_value(LAUNCHER_RANK_VARS, 0)


def launcher_size() -> int:
    """The number of workers as the launcher set it (:data:`LAUNCHER_SIZE_VARS`), 1 if none."""
    return _launcher_value(LAUNCHER_SIZE_VARS, 1)
