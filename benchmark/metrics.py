"""The run's figures: throughput across all ranks, from every rank's own step timestamps, time to train, and
validation accuracy with its uncertainty (a bootstrap over fields of view).

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

import numpy as np

from benchmark.analytic import model_figures
from benchmark.config import TrainConfig
from benchmark.record import (Analytic, Epoch, FieldAccuracy, Memory, RankSteps, StepSeconds, Throughput, TimeToTarget,
                              TimeToTrain, Topology, Validation)

#: Bootstrap draws behind every validation interval, and the intervals' coverage.
BOOTSTRAP_RESAMPLES = 1000
CI_LEVEL = 0.95


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


def time_to_target(epochs: list[Epoch], key: str, target: float | None) -> TimeToTarget:
    """Seconds and epochs until the validation figure ``key`` (``val_top1`` or ``val_top5``, a fraction) first
    reaches ``target``.

    Time to train is the ``elapsed_seconds`` (training time from the first training step, summed over a
    resumed run's segments) of the first epoch whose figure reaches the target, as Datta et al. 2019
    (Table 1) report it. When the target is unset, or never reached, seconds and epochs are None and
    ``reason`` says why.
    """
    for row in epochs:
        value = getattr(row, key)
        if target is not None and value is not None and value >= target:
            return TimeToTarget(target=target, seconds=row.elapsed_seconds, epochs=row.epoch, reason=None)
    best = max((getattr(row, key) for row in epochs if getattr(row, key) is not None), default=None)
    name = key.removeprefix("val_")
    if target is None:
        reason = f"no target_{name} was set"
    elif best is None:
        reason = "no validation set (synthetic data)"
    else:
        reason = f"not reached in {len(epochs)} epochs (best {name} {best:.4f})"
    return TimeToTarget(target=target, seconds=None, epochs=None, reason=reason)


def time_to_train(epochs: list[Epoch], target_top1: float | None, target_top5: float | None = None) -> TimeToTrain:
    """The record's ``time_to_train``: to ``target_top1`` (see :func:`time_to_target`) and, in ``top5``, to
    ``target_top5``."""
    top1 = time_to_target(epochs, "val_top1", target_top1)
    return TimeToTrain(target_top1=target_top1, seconds=top1.seconds, epochs=top1.epochs, reason=top1.reason,
                       top5=time_to_target(epochs, "val_top5", target_top5))


def bootstrap_interval(correct: np.ndarray, groups: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES,
                       seed: int = 0, level: float = CI_LEVEL) -> tuple[float, float]:
    """Percentile interval of an accuracy when whole fields of view are resampled, not images.

    The cluster (case) bootstrap (Davison & Hinkley 1997, sec. 3.8; Field & Welsh 2007): ``resamples``
    times, draw as many fields as there are, with replacement, and take the accuracy over all images of the
    drawn fields; the interval is the (1 - level) / 2 and (1 + level) / 2 quantiles of those accuracies.
    Copies of one field are correlated, so resampling images would understate the uncertainty.

    Args:
        correct: (N,) 0/1 per validation image.
        groups: (N,) field of view of each image (any hashable codes).
        resamples: bootstrap draws.
        seed: seed of ``numpy.random.default_rng``.
        level: coverage, e.g. 0.95.
    Returns:
        (low, high) fractions.
    Raises:
        ValueError: no images, or ``correct`` and ``groups`` differ in length.
    """
    correct, groups = np.asarray(correct, dtype=np.float64), np.asarray(groups)
    if len(correct) == 0 or correct.shape != groups.shape:
        raise ValueError(f"need one field per image and at least one image, got {len(correct)} and {len(groups)}")
    _, codes = np.unique(groups, return_inverse=True)
    hits, counts = np.bincount(codes, weights=correct), np.bincount(codes)
    draws = np.random.default_rng(seed).integers(0, len(counts), size=(resamples, len(counts)))
    accuracy = hits[draws].sum(axis=1) / counts[draws].sum(axis=1)
    low, high = np.quantile(accuracy, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def per_field_accuracy(top1: np.ndarray, top5: np.ndarray, codes: np.ndarray, names: np.ndarray) -> list[FieldAccuracy]:
    """Top-1 and top-5 of each field of view.

    Args:
        top1, top5: (N,) 0/1 per validation image.
        codes: (N,) int position of each image's field in ``names``.
        names: (F,) field ids.
    Returns:
        One :class:`FieldAccuracy` per field that has images, in ``names`` order.
    """
    counts = np.bincount(codes, minlength=len(names))
    hits1 = np.bincount(codes, weights=top1, minlength=len(names))
    hits5 = np.bincount(codes, weights=top5, minlength=len(names))
    return [FieldAccuracy(field=str(name), images=int(n), top1=float(h1 / n), top5=float(h5 / n))
            for name, n, h1, h5 in zip(names, counts, hits1, hits5) if n]


def validation_section(outcomes: np.ndarray | None, names: np.ndarray, leaky: bool) -> Validation | None:
    """The record's ``validation`` from the last evaluation's outcomes ((N, 3) int: top-1, top-5, field code
    into ``names``), or None without one (synthetic data, or a resume that evaluated nothing)."""
    if outcomes is None or len(outcomes) == 0:
        return None
    top1, top5, codes = outcomes.T
    per_field = per_field_accuracy(top1, top5, codes, names)
    return Validation(fields=len(per_field), images=len(codes), resamples=BOOTSTRAP_RESAMPLES, level=CI_LEVEL,
                      leaky=leaky, per_field=per_field)


def analytic_figures(config: TrainConfig, topology: Topology, throughput: Throughput, memory: Memory) -> Analytic:
    """The record's ``analytic``: :func:`benchmark.analytic.model_figures` at the run's input size and local
    batch, the training GFLOP/s its images/s mean (run and per worker), and its peak RSS per worker over the
    memory lower bound of one worker."""
    figures = model_figures(*config.data.image_size, 3, config.data.num_classes)
    batch = topology.local_batch_size
    lower_bound = figures.memory_lower_bound_bytes(batch)
    gflops = throughput.images_per_second * figures.training_flops_per_image / 1e9
    return Analytic(
        parameters=figures.parameters, parameter_bytes=figures.parameter_bytes,
        forward_gflop_per_image=figures.forward_flops_per_image / 1e9,
        training_gflop_per_image=figures.training_flops_per_image / 1e9,
        activation_bytes=figures.activation_bytes(batch), memory_lower_bound_bytes=lower_bound,
        achieved_gflops_per_second=gflops, achieved_gflops_per_second_per_worker=gflops / topology.workers,
        peak_rss_over_lower_bound=memory.peak_rss_bytes_max / lower_bound)
