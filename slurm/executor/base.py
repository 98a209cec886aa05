"""The executor interface: how a sweep's runs are prepared, submitted, polled and finished off, whatever
runs them. The sweep driver (:mod:`slurm.sweep`) talks to executors only through :class:`Executor`; it
alone commits state (records, ``sweep.json``): polling and reading an outcome are pure queries. Where an
executor cannot do what is asked (its scheduler cannot be asked, or cannot hold the runs), it raises
:class:`ExecutorError`, which is all the driver catches.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Generic, Literal, TypeVar

from pydantic import Field, field_validator

from benchmark.config import TrainConfig
from benchmark.errors import McnnBenchError
from benchmark.record import Scheduler
from benchmark.schema import Line, Model
from benchmark.train.run_lock import RunLocked

#: Lines of a job's log quoted in a failed run's reason.
TAIL_LINES = 12


class ExecutorError(McnnBenchError):
    """An executor cannot do what was asked: its scheduler cannot be asked or refuses a job, or it cannot hold
    the runs; the message says what, naming the job, partition or command."""


@dataclass(frozen=True)
class Run:
    """One point of a sweep's grid: ``run_id`` (unique in the sweep) and the trainer's configuration."""

    run_id: str
    nodes: int
    workers_per_node: int
    config: TrainConfig

    @property
    def workers(self) -> int:
        """Horovod ranks of the run: nodes x workers per node."""
        return self.nodes * self.workers_per_node


@dataclass(frozen=True)
class NodeState:
    """A node as its scheduler shows it now: whether it can take a job, its state and the reason given for it,
    in the scheduler's words (SLURM: sinfo's ``drain`` and ``bad fan``; '' when none)."""

    usable: bool
    state: str
    reason: str = ""

    def why_not(self) -> str:
        """Why the node cannot take a job: its state, and the reason in brackets (``drain (bad fan)``)."""
        return self.state + (f" ({self.reason})" if self.reason else "")


#: Set by the executor for every worker (= the worker's intra-op threads), so not in ``executor.env``.
OMP_NUM_THREADS = "OMP_NUM_THREADS"


class ExecutorSettings(Model):
    """What every executor's ``[executor]`` section holds: its ``kind`` (each executor's own model narrows
    it) and the environment of every worker. Each executor's model adds its own keys and says how many
    cores a worker gets (:meth:`cores_per_worker`)."""

    kind: str
    env: dict[str, Line] = Field(
        default_factory=dict,
        description="environment variables exported for every "
        "worker, e.g. KMP_AFFINITY and KMP_BLOCKTIME (Wilson et al., Dell EMC); not "
        "OMP_NUM_THREADS, which the executor sets to the intra-op threads",
    )

    @field_validator("env")
    @classmethod
    def _exportable(cls, env: dict[str, str]) -> dict[str, str]:
        bad = [name for name in env if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)]
        if bad:
            raise ValueError(
                f"names must be shell variable names ([A-Za-z_][A-Za-z0-9_]*), got {', '.join(map(repr, bad))}"
            )
        if OMP_NUM_THREADS in env:
            raise ValueError(
                f"{OMP_NUM_THREADS} is set by the executor to each worker's intra-op threads "
                "(grid.intra_op_threads, else the worker's share of the cores): remove it"
            )
        return env

    @abstractmethod
    def cores_per_worker(self, workers_per_node: int) -> int:
        """Cores each worker of a node with ``workers_per_node`` workers gets (0: too many workers)."""

    @abstractmethod
    def cores_origin(self, workers_per_node: int) -> str:
        """Where :meth:`cores_per_worker` comes from, for a problem's message."""


@dataclass(frozen=True)
class Job:
    """What the sweep state remembers of a submitted run: enough to find the job again later.

    ``started`` is the job process's start time (seconds since the epoch) where the executor uses it to
    tell the job from a later process of the same pid.
    """

    executor: str
    job_id: str
    folder: str
    started: float | None = None


@dataclass(frozen=True)
class JobView:
    """What an executor sees of a job now: its phase and, when known, its elapsed time (seconds), the
    scheduler's accounting of it (for SLURM, sacct's fields: :func:`slurm.cluster.jobs_info`; a
    ``pending_seconds`` entry is the time since submission), and why it still pends (the scheduler's words,
    e.g. SLURM's ``Resources``, ``PartitionDown``) or why it is ``unknown`` (the scheduler knows no such job:
    purged from its accounting, or a new cluster; the driver gives up on it after
    :data:`slurm.sweep.UNKNOWN_POLLS` such polls)."""

    phase: Literal["pending", "running", "unknown", "done"]
    elapsed_seconds: float | None = None
    accounting: dict | None = None
    reason: str | None = None

    @property
    def pending_seconds(self) -> float | None:
        """Seconds since the job was submitted, while it pends (when the scheduler says)."""
        return (self.accounting or {}).get("pending_seconds") if self.phase == "pending" else None


@dataclass(frozen=True)
class Outcome:
    """How an ended job went, as its executor saw it: the record's ``scheduler`` section (its ``kind`` is the
    executor's, its ``job_id`` the job's), and the reason to record when the trainer left no record of its
    own. ``refused``: when the run's lock refused the job (:func:`lock_refusal`: another process held the run's
    folder, so the job wrote nothing there), the refusal's message, which names that process; else None."""

    scheduler: Scheduler
    failure_reason: str
    refused: str | None = None


#: The settings model of an executor (its ``Settings``).
SettingsT = TypeVar("SettingsT", bound=ExecutorSettings)


class Executor(ABC, Generic[SettingsT]):
    """Runs a sweep's runs somewhere. One instance per driver invocation, with its own submitit ``folder``;
    generic in the model of its settings.

    Class attributes: ``kind``, the name in ``executor.kind``; ``Settings``, the model of its
    ``[executor]`` section; ``foreground``, whether the driver must run the runs one at a time and wait
    (the local executor shares this machine with its runs); ``scripts_need_engines``, whether the script of a
    dry run (:meth:`write_dry_run`) names the engine's own launcher as installed here (the local executor's),
    so that it cannot be written for an engine that cannot run here; ``pins_nodes``, whether it runs a run on
    the node its config names (``run.node``: a fleet sweep's, :mod:`slurm.fleet`).
    """

    kind: ClassVar[str]
    Settings: ClassVar[type[ExecutorSettings]]
    foreground: ClassVar[bool] = False
    scripts_need_engines: ClassVar[bool] = False
    pins_nodes: ClassVar[bool] = False

    def __init__(self, folder: Path, settings: SettingsT):
        self.folder = Path(folder)
        self.settings = settings

    @classmethod
    def spec_problems(
        cls,
        settings: SettingsT,
        nodes: list[int],
        workers_per_node: list[int],
        intra_op_threads: list[int] | None = None,
    ) -> list[str]:
        """What this executor, so set, cannot run in a grid of these node and workers-per-node counts and
        (``grid.intra_op_threads``) threads per worker, one ``key: why`` line each. Here: more threads than
        the cores a worker gets."""
        problems = []
        for wpn in workers_per_node:
            cores = settings.cores_per_worker(wpn)
            over = [str(n) for n in intra_op_threads or [] if n > cores]
            if over and cores > 0:
                problems.append(
                    f"grid.intra_op_threads: {', '.join(over)} threads per worker, but a worker gets "
                    f"{cores} cores at {wpn} workers per node ({settings.cores_origin(wpn)})"
                )
        return problems

    def threads(self, run: Run) -> int:
        """Intra-op threads (and OMP_NUM_THREADS) per worker of ``run``: the grid's
        (``grid.intra_op_threads``, already in the run's config), else the cores a worker gets."""
        return run.config.run.intra_op_threads or self.settings.cores_per_worker(run.workers_per_node)

    def worker_env(self, run: Run) -> dict[str, str]:
        """The environment every worker of ``run`` gets on top of the job's: OMP_NUM_THREADS =
        :meth:`threads`, and ``executor.env``."""
        return {OMP_NUM_THREADS: str(self.threads(run)), **self.settings.env}

    def prepare(self, run: Run) -> TrainConfig:
        """The run's config as its workers will read it: :meth:`threads` intra-op threads, 1 inter-op."""
        return run.config.updated("run", intra_op_threads=self.threads(run), inter_op_threads=1)

    def check(self, runs: list[Run]) -> list[str]:
        """Refuse, before anything is submitted, runs that cannot run here (raises :class:`ExecutorError`);
        returns notes on what cannot run now but may later."""
        return []

    def nodes(self) -> dict[str, NodeState]:
        """Every node the runs can be pinned to (``pins_nodes``: a fleet sweep's), in the scheduler's order,
        with its state now. Reads only.

        Raises:
            ExecutorError: the scheduler cannot be asked; or (the default) this executor pins no run.
        """
        raise ExecutorError(f"the {self.kind} executor does not pin runs to nodes")

    def expand_hosts(self, hosts: str) -> list[str]:
        """The node names of the scheduler's host list ``hosts`` (SLURM's ``node[001-200]``), in its order.

        Raises:
            ExecutorError: the list cannot be expanded; or (the default) this executor pins no run.
        """
        raise ExecutorError(f"the {self.kind} executor does not pin runs to nodes")

    @abstractmethod
    def submit(self, run: Run, config_path: Path, token: str) -> Job:
        """Start the run's job, whose workers read ``config_path``, marked with ``token`` (a word of letters and
        digits, unique to this submission) so that :meth:`find` can find it should the driver stop before it
        saves the job."""

    @abstractmethod
    def find(self, token: str, folder: Path) -> Job | None:
        """The job not yet over that an earlier driver, whose submitit folder was ``folder``, submitted with
        ``token``; None when there is none (it never started, or it is over). Reads only."""

    @abstractmethod
    def poll(self, jobs: list[Job]) -> dict[str, JobView]:
        """Every job's phase now, by job id, asking the scheduler once for all of them. Reads only; raises
        :class:`ExecutorError` while the scheduler cannot be asked."""

    def stuck(self, view: JobView) -> str | None:
        """Why to give up on a pending job that will not start by itself, or None (the default: wait)."""
        return None

    @abstractmethod
    def cancel(self, job: Job) -> None:
        """Stop the job (and every process it started)."""

    @abstractmethod
    def outcome(self, job: Job, config: TrainConfig, view: JobView) -> Outcome:
        """How the ended job went (reads only): the ``scheduler`` section, filled as far as the executor knows
        the job, and the reason to record if the trainer left no record (the job's own error where known)."""

    @abstractmethod
    def write_dry_run(self, run: Run, config_path: Path) -> Path:
        """Write the script that would run ``run`` by hand, beside its config; returns its path."""


#: The line submitit's ``FailedJobError`` puts before and after the job's traceback.
SUBMITIT_RULE = "-" * 22
TRACEBACK_HEADER = "Traceback (most recent call last):"
#: The lines Python puts between the tracebacks of chained exceptions (the ``traceback`` module).
CHAINED = (
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)


def raised(text: str) -> str:
    """The exception, with its message, that the Python traceback in ``text`` ends with (of chained
    exceptions, the last one), or the last line of ``text`` when it holds no traceback; '' for empty text.

    A traceback's frames are indented; the exception's line is the first one after them that is not.
    """
    lines = text.strip().splitlines()
    headers = [i for i, line in enumerate(lines) if line == TRACEBACK_HEADER]
    if not headers:
        return lines[-1] if lines else ""

    def before(i: int) -> str:
        """The last non-blank line before line ``i``, or ''."""
        return next((line for line in reversed(lines[:i]) if line.strip()), "")

    last = [headers[0], *(i for i in headers[1:] if before(i) in CHAINED)][-1]
    body = lines[last + 1 :]
    start = next((i for i, line in enumerate(body) if not line.startswith(" ")), len(body))
    return "\n".join(body[start:]).strip()


def submitit_error(job) -> str | None:
    """The error a submitit job raised (the exception and its message, :func:`raised`), or None when it left
    no result or raised nothing.

    Only reads the result file, so it never waits on a job that was cancelled or killed.
    """
    if not job.paths.result_pickle.exists():
        return None
    error = job.exception()
    if error is None:
        return None
    parts = str(error).split(f"\n{SUBMITIT_RULE}\n")  # the message, the job's traceback, where the logs are
    return raised(parts[1] if len(parts) == 3 else str(error)) or type(error).__name__


#: How a job's error (:func:`raised`) begins when the run's lock refused the job: the refusal's class, as a
#: traceback names it.
REFUSAL = f"{RunLocked.__module__}.{RunLocked.__qualname__}: "


def lock_refusal(error: str | None) -> str | None:
    """The message of the run lock's refusal when a job's ``error`` (:func:`submitit_error`) is one
    (:class:`benchmark.train.run_lock.RunLocked`: another process held the run's folder, named in the message);
    None for any other error, or none."""
    return error.removeprefix(REFUSAL) if error is not None and error.startswith(REFUSAL) else None


def log_tail(path: Path, lines_of: re.Pattern | None = None) -> str:
    """The last :data:`TAIL_LINES` lines of a log file (of those that ``lines_of`` matches at their start, when
    given), or '' when it does not exist or has none."""
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join([line for line in lines if lines_of is None or lines_of.match(line)][-TAIL_LINES:])
