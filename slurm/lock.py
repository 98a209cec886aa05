"""One sweep at a time per sweep folder: an exclusive lock held by the driver for its whole run, across
submit and wait (:class:`benchmark.util.flock.NamedLock`, an ``flock``).

The lock file is ``SWEEP_DIR/sweep.lock``; while held it names the holder as JSON (``host``, ``pid``,
``since``: UTC ISO 8601), for the message a second driver gets. The operating system drops an ``flock``
when its process dies, so the lock of a killed driver is taken over by the next one without anyone
cleaning up.

A sweep folder that cannot be made, and a lock file that cannot be opened, locked or written (no
permission, a full disk, a read-only file system) are :class:`benchmark.errors.FileAccessError`, naming the
file and the cause; the lock is not left held.
"""

from __future__ import annotations

from pathlib import Path

from benchmark.errors import FileAccessError, McnnBenchError, os_cause
from benchmark.util.flock import LockHeld, NamedLock, describe, holder_facts

LOCK_NAME = "sweep.lock"


class SweepBusy(McnnBenchError, RuntimeError):
    """Another driver holds the sweep folder; the message names it."""


class SweepLock:
    """Context manager: hold ``sweep_dir``'s lock, or raise :class:`SweepBusy` at once, or
    :class:`benchmark.errors.FileAccessError` when the folder or the lock file cannot be made, locked or
    written (naming it and the cause)."""

    def __init__(self, sweep_dir: str | Path):
        self.dir = Path(sweep_dir)
        self.lock = NamedLock(self.dir / LOCK_NAME)

    def __enter__(self) -> SweepLock:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FileAccessError.of(
                exc,
                self.dir,
                f"cannot create the sweep folder {self.dir} ({os_cause(exc)}"
                + (f" at {exc.filename}" if exc.filename and str(exc.filename) != str(self.dir) else "")
                + f"): the results folder {self.dir.parent} must be writable, or give another (--results-dir)",
            ) from exc
        try:
            self.lock.acquire(holder_facts())
        except LockHeld as held:
            raise SweepBusy(
                f"{self.dir}: another sweep is running into this folder "
                f"({describe(held.holder, ('host', 'pid', 'since'))}); wait for it to end, or give this sweep "
                "another name or results folder"
            ) from None
        except OSError as exc:
            raise FileAccessError.of(
                exc,
                self.lock.path,
                f"cannot take the sweep lock {self.lock.path} ({os_cause(exc)}): the sweep folder "
                f"{self.dir} must be writable by whoever runs the sweep; nothing was submitted",
            ) from exc
        return self

    def __exit__(self, *exc) -> None:
        self.lock.release()
