"""One sweep at a time per sweep folder: an exclusive lock (``filelock``, an ``flock`` on Linux) held by
the driver for its whole run, across submit and wait.

The lock file is ``SWEEP_DIR/sweep.lock``; beside it ``sweep.lock.json`` names the holder (host, pid,
start time) for the message a second driver gets. The operating system drops an ``flock`` when its
process dies, so the lock of a killed driver is taken over by the next one without anyone cleaning up.
"""

from __future__ import annotations

import datetime
import json
import os
import socket
from pathlib import Path

from filelock import FileLock, Timeout

from benchmark.errors import McnnBenchError
from benchmark.util.atomic import write_json_atomic

LOCK_NAME = "sweep.lock"
HOLDER_NAME = "sweep.lock.json"


class SweepBusy(McnnBenchError, RuntimeError):
    """Another driver holds the sweep folder; the message names it."""


class SweepLock:
    """Context manager: hold ``sweep_dir``'s lock, or raise :class:`SweepBusy` at once."""

    def __init__(self, sweep_dir: str | Path):
        self.dir = Path(sweep_dir)
        self.lock = FileLock(self.dir / LOCK_NAME, timeout=0)

    def __enter__(self) -> SweepLock:
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            self.lock.acquire()
        except Timeout:
            raise SweepBusy(
                f"{self.dir}: another sweep is running into this folder ({self.holder()}); wait "
                "for it to end, or give this sweep another name or results folder"
            ) from None
        write_json_atomic(
            self.dir / HOLDER_NAME,
            {
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            },
        )
        return self

    def __exit__(self, *exc) -> None:
        (self.dir / HOLDER_NAME).unlink(missing_ok=True)
        self.lock.release()

    def holder(self) -> str:
        """Who holds the lock, as its holder file says."""
        try:
            holder = json.loads((self.dir / HOLDER_NAME).read_text())
            return f"host {holder['host']}, pid {holder['pid']}, since {holder['started_at']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "holder unknown"
