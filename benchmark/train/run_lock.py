"""One writer per run folder: the process that writes a run's files holds an exclusive lock on
``RUN_DIR/run.lock`` (:class:`benchmark.util.flock.NamedLock`, an ``flock``) for the run's whole life, taken
before it writes anything there. A second process for the same run (a requeued SLURM job beside a new one,
two local launches) is refused at once, before it touches the folder, with :class:`RunLocked` naming the
holder; the holder's record, checkpoints and logs are left alone. The kernel frees the lock when its holder
dies (``kill -9`` included), so the next start of the run takes it over.

While held, the lock file holds the holder's facts as JSON: ``host`` (short name), ``pid``, ``job`` (the
scheduler's job: ``SLURM_JOB_ID``, or the local executor's job id, ``SUBMITIT_LOCAL_JOB_ID``; null
outside both), ``run`` (the run id), ``since`` (UTC ISO 8601, milliseconds) and ``token`` (random hex,
this holding's name). On release it is emptied.

Who holds it: the local executor's launcher (:func:`slurm.executor.local.run_workers`, which writes
``workers.log`` and lives as long as the run) takes it before it writes and passes the token to its workers
in :data:`TOKEN_VAR`; their rank 0 then finds the lock held for it. Otherwise rank 0 of the run loop takes it
(:func:`benchmark.train.loop.run_training`: ``mcnn-bench train`` started directly, or under srun in a SLURM
job, where every task runs the loop).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from benchmark.errors import McnnBenchError
from benchmark.util.flock import LockHeld, NamedLock, describe, holder_facts

#: The lock file in the run's folder.
LOCK_NAME = "run.lock"
#: The environment variable through which a launcher that holds the run's lock tells its workers the
#: holding's token: a worker's rank 0 refused by the holder with that token goes ahead.
TOKEN_VAR = "MCNN_RUN_LOCK_TOKEN"
#: The environment variables that name the scheduler's job, in the order they are read: SLURM's, then
#: submitit's local executor's (its job id is the pid of the job's controller process).
JOB_VARS = ("SLURM_JOB_ID", "SUBMITIT_LOCAL_JOB_ID")


class RunLockError(McnnBenchError, RuntimeError):
    """The run's folder could not be locked, so nothing was written there (its file system refuses
    ``flock``, or the lock file cannot be opened). ``holder``: the facts of the process that holds it, or
    None."""

    def __init__(self, message: str, holder: dict | None = None):
        super().__init__(message)
        self.holder = holder

    def shared(self) -> tuple[str, dict | None]:
        """This error as plain data, to raise it again on another rank with :meth:`from_shared`."""
        return str(self), self.holder

    @staticmethod
    def from_shared(shared: tuple[str, dict | None]) -> RunLockError:
        """The error :meth:`shared` describes: a :class:`RunLocked` if it names a holder."""
        message, holder = shared
        return RunLocked(message, holder) if holder is not None else RunLockError(message)


class RunLocked(RunLockError):
    """Another process holds the run's folder; the message names it (host, pid, job, since) and
    ``holder`` holds its facts (see the module)."""


def lock_path(run_dir: str | Path) -> Path:
    """The run's lock file: ``run_dir/run.lock``."""
    return Path(run_dir) / LOCK_NAME


def job_id() -> str | None:
    """The scheduler's job this process runs in (:data:`JOB_VARS`), or None."""
    return next((os.environ[name] for name in JOB_VARS if os.environ.get(name)), None)


class RunLock:
    """The lock on the folder ``run_dir`` of run ``run_id`` (a context manager: :meth:`acquire` on entry,
    :meth:`release` on exit). ``launcher_token``: the token a launcher passed in :data:`TOKEN_VAR`; a lock
    held under that token is held for this process."""

    def __init__(self, run_dir: str | Path, run_id: str, launcher_token: str | None = None):
        self.run_dir, self.run_id, self.launcher_token = Path(run_dir), run_id, launcher_token
        self.lock = NamedLock(lock_path(run_dir))
        self.token = secrets.token_hex(8)

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> bool:
        """Take the lock (creating the run's folder if missing) and write this process's facts into it.
        Returns True when this process took it, False when the launcher holds it for this process (its
        holder's token is ``launcher_token``).

        Raises:
            RunLocked: another process holds it; the message names the holder.
            RunLockError: the lock file cannot be opened or locked (``OSError``).
        """
        path = self.lock.path
        try:
            self.lock.acquire(holder_facts(job=job_id(), run=self.run_id, token=self.token))
        except LockHeld as held:
            if self.launcher_token and held.holder.get("token") == self.launcher_token:
                return False
            raise RunLocked(
                f"{self.run_dir}: run {self.run_id} is already being trained into this folder by "
                f"{describe(held.holder)} (lock {path}); this process stops without writing there. Wait for "
                "that run to end, or stop it: its lock is freed when its process ends",
                held.holder,
            ) from None
        except OSError as exc:
            raise RunLockError(
                f"{path}: cannot lock the run's folder ({exc}); its file system must support flock (NFS "
                "does, Lustre with the flock mount option)"
            ) from exc
        return True

    def release(self) -> None:
        """Let go of the lock if this process holds it (the file is emptied first)."""
        self.lock.release()

    def worker_env(self) -> dict[str, str]:
        """The environment that tells this holder's workers the lock is held for them (:data:`TOKEN_VAR`)."""
        return {TOKEN_VAR: self.token}
