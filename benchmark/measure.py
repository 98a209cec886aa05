"""Throughput across all ranks, from every rank's own step timestamps.

Each worker records, for every timed training step, its wall-clock start and end (``time.time()``,
seconds) and the images it processed. Rank 0 gathers them and computes the global figure: the images of
all ranks in the timed window divided by the window's length, where the window is the sum over steps of
(the last rank's step end - the first rank's step start). Evaluation between epochs is not in the window.
Never one rank's rate multiplied by the number of ranks.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field


@dataclass
class StepLog:
    """One worker's timed steps: ``starts``/``ends`` in seconds since the epoch, ``images`` per step."""

    rank: int
    starts: list[float] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)
    images: list[int] = field(default_factory=list)

    def add(self, start: float, end: float, images: int) -> None:
        """Record one step that ran from ``start`` to ``end`` (seconds) on ``images`` images."""
        self.starts.append(start)
        self.ends.append(end)
        self.images.append(images)

    def durations(self) -> list[float]:
        """Each step's wall time on this worker, in seconds."""
        return [e - s for s, e in zip(self.starts, self.ends)]


def _stats(values: list[float]) -> dict:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def global_throughput(logs: list[StepLog], warmup_steps: int) -> dict:
    """The ``throughput`` section of the run record (see docs/run-record.md) from every rank's log.

    Args:
        logs: one :class:`StepLog` per rank, each holding the same number of timed steps.
        warmup_steps: steps that ran before the timed window (reported, not used).

    Returns:
        dict with ``warmup_steps``, ``timed_steps``, ``images`` (all ranks), ``window_seconds``,
        ``images_per_second`` (images / window_seconds), and per rank every timed step's wall time
        (``steps``, seconds) with its ``min/median/max``.

    Raises:
        ValueError: if there are no logs, no timed step, or the ranks logged different step counts.
    """
    if not logs:
        raise ValueError("no step logs to measure")
    counts = {len(log.starts) for log in logs}
    if len(counts) != 1:
        raise ValueError(f"ranks timed different numbers of steps: {sorted(counts)}")
    steps = counts.pop()
    if steps == 0:
        raise ValueError(f"no timed step: every step was inside the {warmup_steps}-step warm-up; "
                         "run more steps or lower --warmup-steps")
    window = sum(
        max(log.ends[i] for log in logs) - min(log.starts[i] for log in logs) for i in range(steps)
    )
    images = sum(sum(log.images) for log in logs)
    durations = {log.rank: log.durations() for log in logs}
    return {
        "warmup_steps": warmup_steps,
        "timed_steps": steps,
        "images": images,
        "window_seconds": window,
        "images_per_second": images / window,
        "step_seconds": {
            "per_rank": [{"rank": rank, **_stats(steps), "steps": steps} for rank, steps in durations.items()],
            **_stats([d for steps in durations.values() for d in steps]),
        },
    }
