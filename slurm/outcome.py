"""How a finished job ended, for runs whose trainer could not write their own record."""
from __future__ import annotations

from pathlib import Path

#: Lines of a job's error log quoted in a failed run's reason.
TAIL_LINES = 12


def submitit_error(job) -> str | None:
    """The error a submitit job raised (its last traceback line), or None when it left no result.

    Only reads the result file, so it never waits on a job that was cancelled or killed.
    """
    if not job.paths.result_pickle.exists():
        return None
    error = job.exception()
    if error is None:
        return None
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def log_tail(path: Path) -> str:
    """The last lines of a log file, or '' when it does not exist."""
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-TAIL_LINES:])
