"""A run's progress, written by rank 0 to ``run_dir/progress.json`` for the sweep driver to show. The file
changes at least once a second while the run trains or evaluates; the driver shows a run whose file has not
changed for :data:`QUIET_SECONDS` as making no progress."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from benchmark.util.atomic import write_json_atomic

PROGRESS_NAME = "progress.json"
#: At most one write per this many seconds, so that short steps are not slowed down by file I/O.
MIN_INTERVAL = 1.0
#: A running run whose progress file has not changed for this long is shown as making no progress.
QUIET_SECONDS = 300.0


class ProgressWriter:
    """Writes ``{"epoch", "epochs", "step", "steps_per_epoch", "last_epoch"}`` at most once a second."""

    def __init__(self, run_dir: str | Path, epochs: int, steps_per_epoch: int):
        self.path = Path(run_dir) / PROGRESS_NAME
        self.state: dict[str, Any] = {
            "epoch": 0,
            "epochs": epochs,
            "step": 0,
            "steps_per_epoch": steps_per_epoch,
            "last_epoch": None,
        }
        self.written = 0.0

    def update(self, epoch: int, step: int) -> None:
        """Note that ``step`` (1-based) of ``epoch`` (1-based) is done."""
        self.state.update(epoch=epoch, step=step)
        if time.monotonic() - self.written >= MIN_INTERVAL:
            self._write()

    def touch(self) -> None:
        """Note that the run advanced without finishing a step (a validation batch): the file is written again
        (at most once a second), so that the sweep driver sees it change."""
        if time.monotonic() - self.written >= MIN_INTERVAL:
            self._write()

    def epoch_done(self, row: dict) -> None:
        """Note a finished epoch and its figures (always written)."""
        self.state["last_epoch"] = row
        self._write()

    def _write(self) -> None:
        write_json_atomic(self.path, self.state)
        self.written = time.monotonic()


def read_progress(run_dir: str | Path) -> dict | None:
    """The last progress written in ``run_dir``, or None."""
    try:
        return json.loads((Path(run_dir) / PROGRESS_NAME).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def quiet_seconds(run_dir: str | Path, now: float | None = None) -> float | None:
    """Seconds since the progress file in ``run_dir`` last changed (its modification time), or None without one."""
    try:
        changed = (Path(run_dir) / PROGRESS_NAME).stat().st_mtime
    except OSError:
        return None
    return max(0.0, (time.time() if now is None else now) - changed)
