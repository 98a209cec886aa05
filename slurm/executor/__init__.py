"""Executors: the interface (:mod:`.base`) and the registry that maps ``executor.kind`` to an
implementation. A new executor is one new module and one line in :data:`EXECUTORS`."""
from .base import Executor, Job, JobView, Outcome, Run
from .local import LocalExecutor
from .slurm import SlurmExecutor

EXECUTORS: dict[str, type[Executor]] = {executor.kind: executor for executor in (LocalExecutor, SlurmExecutor)}

__all__ = ["EXECUTORS", "Executor", "Job", "JobView", "LocalExecutor", "Outcome", "Run", "SlurmExecutor"]
