"""Executors: the interface (:mod:`.base`) and the registry that maps ``executor.kind`` to an
implementation. A new executor is one new module and one line in :data:`EXECUTORS`; the contract it keeps
is tests/executor_contract.py, run over each executor in tests/integration/test_executor_contract_real.py."""

from .base import Executor, ExecutorError, Job, JobView, NodeState, Outcome, Run
from .local import LocalExecutor
from .slurm import SlurmExecutor

EXECUTORS: dict[str, type[Executor]] = {executor.kind: executor for executor in (LocalExecutor, SlurmExecutor)}

__all__ = [
    "EXECUTORS",
    "Executor",
    "ExecutorError",
    "Job",
    "JobView",
    "LocalExecutor",
    "NodeState",
    "Outcome",
    "Run",
    "SlurmExecutor",
]
