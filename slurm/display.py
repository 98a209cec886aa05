"""What the sweep driver shows a person: a progress line redrawn in place (rich), the lines of runs that
ended, and the status table of ``mcnn-bench status``. Figures are rounded for reading; the records keep
them whole."""

from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.text import Text

from benchmark.train.progress import QUIET_SECONDS, quiet_seconds, read_progress
from benchmark.util.readable import TERMINAL_COLUMNS, cut, significant
from slurm.state import RunStatus, SweepState


def _figure(value: float | None) -> str:
    return "-" if value is None else significant(value)


def no_progress(quiet: float | None) -> str:
    """`` (no progress for N min)`` for a running run whose progress file has not changed for ``quiet`` seconds,
    at least :data:`benchmark.train.progress.QUIET_SECONDS` (a stall: the run's watchdog ends it at its
    bound, :mod:`benchmark.train.watchdog`); else ''."""
    if quiet is None or quiet < QUIET_SECONDS:
        return ""
    return f" (no progress for {quiet / 60:.0f} min)"


class Progress:
    """The driver's terminal output: permanent lines for notes and ended runs, and one live line (runs done
    / total and each current run's epoch and step) that is redrawn in place on a terminal and left out
    elsewhere. Use as a context manager."""

    def __init__(self, out: TextIO):
        self.console = Console(file=out, soft_wrap=True, highlight=False, markup=False, emoji=False)
        self.live = Live(console=self.console, transient=True, auto_refresh=False)
        self.total = self.done = 0

    def __enter__(self) -> Progress:
        self.live.start()
        return self

    def __exit__(self, *exc) -> None:
        self.live.stop()

    def note(self, line: str) -> None:
        """Print a permanent line."""
        self.console.print(Text(line))

    def start(self, total: int) -> None:
        """Start counting ``total`` runs."""
        self.total, self.done = total, 0

    def show(self, state: SweepState, statuses: list[RunStatus]) -> None:
        """Redraw the live line for the runs that have not ended."""
        parts = []
        for status in statuses:
            p = read_progress(state.run_dir(status.run_id)) if status.state == "running" else None
            detail = f"epoch {p['epoch']}/{p['epochs']} step {p['step']}/{p['steps_per_epoch']}" if p else status.state
            if p:  # a file older than the job is of an earlier attempt: the job's own time counts
                quiet = quiet_seconds(state.run_dir(status.run_id))
                detail += no_progress(quiet if quiet is None or status.elapsed is None else min(quiet, status.elapsed))
            parts.append(f"{status.run_id} {detail}" + (f" ({status.short_reason})" if status.reason else ""))
        self.live.update(Text(f"[{self.done}/{self.total} runs done] " + ("; ".join(parts) or "waiting")), refresh=True)

    def finished(self, status: RunStatus) -> None:
        """Count a run that ended and print how, figures rounded."""
        self.done += 1
        detail = (
            f"{_figure(status.images_per_second)} images/s, best {status.metric} {_figure(status.best)}"
            if status.state == "completed"
            else status.reason
        )
        self.note(f"[{self.done}/{self.total} runs done] {status.run_id}: {status.state}: {detail}")


def format_status(statuses: list[RunStatus], width: int = TERMINAL_COLUMNS) -> str:
    """A table of run statuses for a terminal, one line per run, at most ``width`` characters: the run column
    as wide as the longest run id, figures to 3 significant figures (:func:`benchmark.util.readable.significant`)
    and each reason cut to the rest of the line (``mcnn-bench status`` of one run, or its record, has it
    whole)."""
    run_width = max([len("run"), *(len(s.run_id) for s in statuses)])
    header = f"{'run':<{run_width}} {'state':<10} {'job':<10} {'elapsed s':>9} {'images/s':>9} {'best':>6}  reason"
    reason_width = max(20, width - (len(header) - len("reason")))
    lines = [header]
    for s in statuses:
        reason = f"STALE ({'; '.join(s.stale)}) {s.short_reason}".rstrip() if s.stale else s.short_reason
        lines.append(
            f"{s.run_id:<{run_width}} {s.state:<10} {s.job_id or '-':<10} {_figure(s.elapsed):>9} "
            f"{_figure(s.images_per_second):>9} {_figure(s.best):>6}  {cut(reason, reason_width)}".rstrip()
        )
    return "\n".join(lines)
