"""A run's log files on a disk that fills up: :class:`LogFile`, a ``logging.FileHandler`` that says once which
file it cannot write and why, then drops that file's further lines, instead of logging's own notice and
traceback on stderr for every line. The run goes on; if the disk stays full, the run's own writes (a checkpoint,
the record) fail it, naming their file (:class:`benchmark.errors.FileAccessError`). Rank 0's ``train.log``
(:func:`benchmark.train.loop.log_to_file`) and its MLPerf-style log (:mod:`benchmark.train.mllog`) are written
through it.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path

#: The level a :class:`LogFile` takes once it cannot write: above every level, so no further line reaches it.
DROPPED = logging.CRITICAL + 1


class LogFile(logging.FileHandler):
    """A ``logging.FileHandler`` (``LogFile(path)`` appends to ``path``, opened at once). When a line
    cannot be written (an ``OSError``: a full disk, a file system gone read-only), its :meth:`handleError`
    (logging's hook for a line a handler could not emit) writes one line on stderr,
    ``train.log: cannot write /r/s/run/train.log: [Errno 28] No space left on device; its further lines are
    dropped``, closes the file (the unwritten line goes with it) and takes no further line (its level becomes
    :data:`DROPPED`). It raises nothing, so the run goes on. A line that cannot be formatted (a wrong argument
    to a log call) is reported as logging reports it, and the file stays open."""

    @property
    def dropped(self) -> bool:
        """Whether the file could not be written and its further lines are dropped."""
        return self.level == DROPPED

    def handleError(self, record: logging.LogRecord) -> None:
        """Called by :meth:`emit` inside its ``except``; see the class."""
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            super().handleError(record)
            return
        self.setLevel(DROPPED)
        with contextlib.suppress(OSError, ValueError):  # closing flushes what could not be written: it fails too
            self.close()
        with contextlib.suppress(OSError, ValueError):  # stderr may be on the full disk too: nothing else to tell
            sys.stderr.write(
                f"{Path(self.baseFilename).name}: cannot write {self.baseFilename}: {error}; its further lines "
                "are dropped\n"
            )
            sys.stderr.flush()
