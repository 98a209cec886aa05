"""An exclusive lock that names its holder: ``fcntl.flock`` on one file, taken at once or refused (never
waited for), into which the holder writes its facts as JSON once it has the lock. The sweep driver's lock
on a sweep folder (:mod:`slurm.lock`) and a run's lock on its run folder (:mod:`benchmark.train.run_lock`) are
built on it.

It is an ``flock(LOCK_EX | LOCK_NB)``. The kernel drops an ``flock`` when the last descriptor of its open
file closes, so when the holding process ends in any way (``kill -9`` included) the lock is free again. The
file stays behind with the dead holder's facts; such a stale file is no lock, and the next process simply
takes it and writes its own. The file is never removed (a process that had opened the removed file would
lock another file than a newcomer does); on release it is emptied, and then unlocked. Python opens the
descriptor non-inheritable, so programs the holder starts (``subprocess``, ``exec``) do not keep the lock
alive after it (a child forked without ``exec`` would).

Two descriptors conflict even in one process, so a second :class:`NamedLock` on the same file is refused in
the process that holds the first. Across nodes the lock needs a file system that carries ``flock``: NFS
does (Linux maps it onto NFS byte-range locks), Lustre when mounted with ``-o flock``; where it is refused,
:meth:`NamedLock.acquire` raises the ``OSError``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import time
from pathlib import Path

from benchmark.util.provenance import hostname
from benchmark.util.times import utc_iso

#: Times, and seconds between them, that a refused process reads the holder's facts while they are being
#: written (the holder writes them just after it took the lock).
READ_TRIES, READ_PAUSE_SECONDS = 10, 0.05
#: The facts :func:`describe` names, in its order.
DESCRIBED = ("host", "pid", "job", "since")


class LockHeld(Exception):
    """Another open file holds the lock. ``path``: the lock file; ``holder``: the facts its holder wrote
    (``{}`` if none could be read: it has not written them yet, or has just let go)."""

    def __init__(self, path: Path, holder: dict):
        super().__init__(f"{path} is locked by {describe(holder)}")
        self.path, self.holder = path, holder


def holder_facts(**extra) -> dict:
    """This process's facts as a holder: ``host`` (short host name), ``pid``, ``since`` (now, UTC ISO 8601
    with milliseconds), and ``extra``."""
    return {"host": hostname(), "pid": os.getpid(), "since": utc_iso(), **extra}


def describe(holder: dict, keys: tuple[str, ...] = DESCRIBED) -> str:
    """``holder``'s facts of ``keys`` that it has, e.g. ``host n01, pid 4242, job 33, since 2026-...``
    (``job none`` outside any scheduler); ``holder unknown`` if it has none of them."""
    named = [f"{key} {'none' if holder[key] is None else holder[key]}" for key in keys if key in holder]
    return ", ".join(named) if named else "holder unknown"


def read_holder(path: str | Path) -> dict:
    """The facts in the lock file ``path``: a JSON object; ``{}`` if it is missing, empty or not one.
    They name the holder only while the lock is held (see :meth:`NamedLock.held_by`)."""
    try:
        facts = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return facts if isinstance(facts, dict) else {}


class NamedLock:
    """The exclusive lock on the file ``path`` (created, with its folder, if missing), taken at once or
    refused; see the module."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self, facts: dict) -> None:
        """Take the lock and write ``facts`` (JSON-serialisable) into the file, replacing what was there.

        Raises:
            LockHeld: another open file holds it; its holder's facts are read (for up to
                ``READ_TRIES * READ_PAUSE_SECONDS`` seconds while the holder has written none yet).
            OSError: the file cannot be created or opened, or its file system refuses ``flock``.
            RuntimeError: this object holds the lock already.
        """
        if self._fd is not None:
            raise RuntimeError(f"{self.path}: locked twice by the same NamedLock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)  # no O_TRUNC: the holder's facts are read
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise LockHeld(self.path, self.held_by()) from None
            raise
        try:
            data = (json.dumps(facts, indent=2) + "\n").encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
            os.fsync(fd)
        except BaseException:
            os.close(fd)  # closing drops the lock
            raise
        self._fd = fd

    def held_by(self) -> dict:
        """The facts the holder wrote, as the file holds them now (``{}``: none yet, or none left)."""
        for attempt in range(READ_TRIES):
            facts = read_holder(self.path)
            if facts:
                return facts
            if attempt + 1 < READ_TRIES:
                time.sleep(READ_PAUSE_SECONDS)
        return {}

    def release(self) -> None:
        """Empty the file, then let go of the lock; does nothing if not held."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            with contextlib.suppress(OSError):  # the lock goes with the descriptor whatever happens here
                os.ftruncate(fd, 0)
        finally:
            os.close(fd)
