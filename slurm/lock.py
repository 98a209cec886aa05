"""One sweep at a time per sweep folder: an exclusive lock (``filelock``, an ``flock`` on Linux) held by
the driver for its whole run, across submit and wait.

The lock file is ``SWEEP_DIR/sweep.lock``; beside it ``sweep.lock.json`` names the holder (host, pid,
start time) for the message a second driver gets. The operating system drops an ``flock`` when its
process dies, so the lock of a killed driver is taken over by the next one without anyone cleaning up.

A sweep folder that cannot be made, a lock file that cannot be opened and a holder file that cannot be
written (no permission, a full disk, a read-only file system) are :class:`benchmark.errors.FileAccessError`,
naming the file and the cause; the lock is not left held.
"""

from __future__ import annotations

import datetime
import json
import os
import socket
from pathlib import Path

from filelock import FileLock, Timeout

from benchmark.errors import FileAccessError, McnnBenchError, os_cause
from benchmark.util.atomic import write_json_atomic

LOCK_NAME = "sweep.lock"
HOLDER_NAME = "sweep.lock.json"


class SweepBusy(McnnBenchError, RuntimeError):
    """Another driver holds the sweep folder; the message names it."""


class SweepLock:
    """Context manager: hold ``sweep_dir``'s lock, or raise :class:`SweepBusy` at once, or
    :class:`benchmark.errors.FileAccessError` when the folder, the lock file or the holder file cannot be
    made or written (naming it and the cause)."""

    def __init__(self, sweep_dir: str | Path):
        self.dir = Path(sweep_dir)
        self.lock = FileLock(self.dir / LOCK_NAME, timeout=0)

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
            self.lock.acquire()
        except Timeout:
            raise SweepBusy(
                f"{self.dir}: another sweep is running into this folder ({self.holder()}); wait "
                "for it to end, or give this sweep another name or results folder"
            ) from None
        except OSError as exc:
            raise FileAccessError.of(
                exc,
                self.lock.lock_file,
                f"cannot take the sweep lock {self.lock.lock_file} ({os_cause(exc)}): the sweep folder "
                f"{self.dir} must be writable by whoever runs the sweep",
            ) from exc
        try:
            write_json_atomic(
                self.dir / HOLDER_NAME,
                {
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                    "started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                },
            )
        except OSError as exc:
            self.lock.release()
            raise FileAccessError.of(
                exc,
                self.dir / HOLDER_NAME,
                f"cannot write the sweep lock's holder file {self.dir / HOLDER_NAME} ({os_cause(exc)}); "
                "nothing was submitted",
            ) from exc
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
