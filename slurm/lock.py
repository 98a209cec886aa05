"""One sweep at a time per sweep folder: an exclusive lock held by the driver for its whole run, across
submit and wait (:class:`benchmark.util.flock.NamedLock`, an ``flock``).

The lock file is ``SWEEP_DIR/sweep.lock``; while held it names the holder as JSON (``host``, ``pid``,
``since``: UTC ISO 8601), for the message a second driver gets. The operating system drops an ``flock``
when its process dies, so the lock of a killed driver is taken over by the next one without anyone
cleaning up.
"""

from __future__ import annotations

from pathlib import Path

from benchmark.errors import McnnBenchError
from benchmark.util.flock import LockHeld, NamedLock, describe, holder_facts

LOCK_NAME = "sweep.lock"


class SweepBusy(McnnBenchError, RuntimeError):
    """Another driver holds the sweep folder; the message names it."""


class SweepLock:
    """Context manager: hold ``sweep_dir``'s lock, or raise :class:`SweepBusy` at once (``OSError``: the
    lock file cannot be opened or locked)."""

    def __init__(self, sweep_dir: str | Path):
        self.dir = Path(sweep_dir)
        self.lock = NamedLock(self.dir / LOCK_NAME)

    def __enter__(self) -> SweepLock:
        try:
            self.lock.acquire(holder_facts())
        except LockHeld as held:
            raise SweepBusy(
                f"{self.dir}: another sweep is running into this folder "
                f"({describe(held.holder, ('host', 'pid', 'since'))}); wait for it to end, or give this sweep "
                "another name or results folder"
            ) from None
        return self

    def __exit__(self, *exc) -> None:
        self.lock.release()
