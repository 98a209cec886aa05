"""The run's figures: throughput across all ranks, from every rank's own step timestamps, and time to train.

Each worker records, for every timed training step, its wall-clock start and end (``time.time()``,
seconds) and the images it processed. Rank 0 gathers them and computes the global figure: the images of
all ranks in the timed window divided by the window's length, where the window is the sum over steps of
(the last rank's step end - the first rank's step start). Evaluation between epochs is not in the window.
Never one rank's rate multiplied by the number of ranks.

A resumed run trains in segments (see :mod:`benchmark.checkpoint`): each rank's log is the concatenation
of its segments' timed steps, each segment leaving out its own first ``warmup_steps`` (it re-traces the
step), so step ``i`` is the same step on every rank and the per-step window stays valid.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from benchmark.record import Epoch, RankSteps, StepSeconds, Throughput, TimeToTrain


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

    def extend(self, other: StepLog) -> None:
        """Append ``other``'s steps (a later stretch of the same rank's training) to this log."""
        self.starts += other.starts
        self.ends += other.ends
        self.images += other.images

    def durations(self) -> list[float]:
        """Each step's wall time on this worker, in seconds."""
        return [e - s for s, e in zip(self.starts, self.ends)]


def _spread(values: list[float]) -> dict:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def global_throughput(logs: list[StepLog], warmup_steps: int, segments: int = 1) -> Throughput:
    """The record's ``throughput`` section from every rank's log.

    Args:
        logs: one :class:`StepLog` per rank, each holding the same number of timed steps.
        warmup_steps: steps left out at the start of every segment (reported, not used).
        segments: training segments the logs span (1 + resumes; reported, not used).

    Returns:
        ``warmup_steps``, ``segments``, ``timed_steps``, ``images`` (all ranks), ``window_seconds``,
        ``images_per_second`` (images / window_seconds), and per rank every timed step's wall time
        (seconds) with its spread.

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
    per_rank = [RankSteps(rank=rank, steps=times, **_spread(times)) for rank, times in durations.items()]
    return Throughput(
        warmup_steps=warmup_steps, segments=segments, timed_steps=steps, images=images, window_seconds=window,
        images_per_second=images / window,
        step_seconds=StepSeconds(per_rank=per_rank, **_spread([d for times in durations.values() for d in times])),
    )


def time_to_train(epochs: list[Epoch], target_top1: float | None) -> TimeToTrain:
    """Seconds and epochs until validation top-1 first reaches ``target_top1`` (a fraction).

    TTT is the ``elapsed_seconds`` (training time from the first training step, summed over a resumed
    run's segments) of the first epoch whose top-1 reaches the target, as Datta et al. 2019 (Table 1)
    report time to train. When the target is unset, or never reached, seconds and epochs are None and
    ``reason`` says why.
    """
    for row in epochs:
        if target_top1 is not None and row.val_top1 is not None and row.val_top1 >= target_top1:
            return TimeToTrain(target_top1=target_top1, seconds=row.elapsed_seconds, epochs=row.epoch, reason=None)
    best = max((row.val_top1 for row in epochs if row.val_top1 is not None), default=None)
    if target_top1 is None:
        reason = "no target_top1 was set"
    elif best is None:
        reason = "no validation set (synthetic data)"
    else:
        reason = f"not reached in {len(epochs)} epochs (best top-1 {best:.4f})"
    return TimeToTrain(target_top1=target_top1, seconds=None, epochs=None, reason=reason)
