"""The run's figures: throughput across all ranks, from every rank's own step timestamps, time to train, and
validation accuracy with its uncertainty (a bootstrap over fields of view).

Each worker records, for every timed training step, its wall-clock start and end (``time.time()``,
seconds), the images it processed, the step's compute, allreduce and optimizer time (timestamps taken
inside the step's graph) and the input wait before it. Rank 0 gathers them and computes the global figure:
the images of all ranks divided by the whole wall-clock span of the timed steps (see
:func:`global_throughput`); evaluation between epochs is not in it. Never one rank's rate multiplied by
the number of ranks.

A resumed run trains in segments (see :mod:`benchmark.train.checkpoint`): each rank's log is the concatenation
of its segments' timed steps, each segment leaving out its own first ``warmup_steps`` (it re-traces the
step), so step ``i`` is the same step on every rank and the per-step window stays valid.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import numpy as np

from benchmark.config import TrainConfig
from benchmark.models.analytic import model_figures
from benchmark.record import (
    Analytic,
    Epoch,
    FieldAccuracy,
    KernelPeaks,
    MainMetric,
    Memory,
    RankBreakdown,
    RankSteps,
    StepBreakdown,
    StepPart,
    StepSeconds,
    Throughput,
    TimeToTarget,
    TimeToTrain,
    Topology,
    Validation,
)

#: Bootstrap draws behind every validation interval, and the intervals' coverage.
BOOTSTRAP_RESAMPLES = 1000
CI_LEVEL = 0.95


#: The columns of a step log as an array (what checkpoints store): the step call's start and end (seconds
#: since the epoch), its images, the compute (forward and backward), allreduce and optimizer seconds timed
#: inside the step's graph, the input wait before it (seconds), and 1 when it follows the previous timed
#: step within the same epoch (no evaluation, checkpoint or resume between them), else 0.
STEP_COLUMNS = ("start", "end", "images", "compute", "allreduce", "optimizer", "input_wait", "joined")
PHASES: tuple[StepPart, ...] = ("compute", "allreduce", "optimizer")


@dataclass
class StepLog:
    """One worker's timed steps, one list per :data:`STEP_COLUMNS` entry."""

    rank: int
    start: list[float] = field(default_factory=list)
    end: list[float] = field(default_factory=list)
    images: list[int] = field(default_factory=list)
    compute: list[float] = field(default_factory=list)
    allreduce: list[float] = field(default_factory=list)
    optimizer: list[float] = field(default_factory=list)
    input_wait: list[float] = field(default_factory=list)
    joined: list[bool] = field(default_factory=list)

    def add(
        self,
        start: float,
        end: float,
        images: int,
        phases: tuple[float, float, float] = (0.0, 0.0, 0.0),
        input_wait: float = 0.0,
        joined: bool = False,
    ) -> None:
        """Record one step whose call ran from ``start`` to ``end`` (seconds since the epoch) on ``images``
        images, with its compute, allreduce and optimizer ``phases`` and the ``input_wait`` before it
        (seconds); ``joined``: it follows the previous timed step within an epoch."""
        for name, value in zip(STEP_COLUMNS, (start, end, images, *phases, input_wait, joined)):
            getattr(self, name).append(value)

    def extend(self, other: StepLog) -> None:
        """Append ``other``'s steps (a later stretch of the same rank's training) to this log."""
        for name in STEP_COLUMNS:
            getattr(self, name).extend(getattr(other, name))

    def __len__(self) -> int:
        return len(self.start)

    def durations(self) -> list[float]:
        """Each step's call time on this worker, in seconds."""
        return [e - s for s, e in zip(self.start, self.end)]

    def to_array(self) -> np.ndarray:
        """The log as a ``(steps, len(STEP_COLUMNS))`` float64 array."""
        return (
            np.column_stack([getattr(self, name) for name in STEP_COLUMNS])
            .astype(np.float64)
            .reshape(-1, len(STEP_COLUMNS))
        )

    @classmethod
    def from_array(cls, rank: int, steps: np.ndarray) -> StepLog:
        """Rank ``rank``'s log from :meth:`to_array`'s array; an older array of only start, end and images
        (checkpoints written before the breakdown) gives unsampled phases (NaN), no waits and no joined
        steps."""
        full = np.zeros((len(steps), len(STEP_COLUMNS)))
        full[:, [STEP_COLUMNS.index(name) for name in PHASES]] = np.nan
        full[:, : steps.shape[1]] = steps
        columns = dict(zip(STEP_COLUMNS, full.T))
        return cls(
            rank,
            **{
                name: (
                    values.astype(int) if name == "images" else values.astype(bool) if name == "joined" else values
                ).tolist()
                for name, values in columns.items()
            },
        )


def _spread(values: list[float]) -> dict:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def global_throughput(logs: list[StepLog], warmup_steps: int, segments: int = 1) -> Throughput:
    """The record's ``throughput`` section from every rank's log.

    The window is the whole wall-clock span of the timed steps: per step, the last rank's end minus the
    first rank's start, plus, before a step that follows the previous one within an epoch on every rank,
    the gap from the last rank's previous end to the first rank's start (input waits and the trainer's own
    work between steps). Evaluations, checkpoints and resumes between epochs stay out.

    Args:
        logs: one :class:`StepLog` per rank, each holding the same number of timed steps.
        warmup_steps: steps left out at the start of every segment (reported, not used).
        segments: training segments the logs span (1 + resumes; reported, not used).

    Returns:
        ``warmup_steps``, ``segments``, ``timed_steps``, ``images`` (all ranks), ``window_seconds``,
        ``images_per_second`` (images / window_seconds), per rank every timed step's call time (seconds)
        with its spread, and ``breakdown`` (see :func:`step_breakdown`).

    Raises:
        ValueError: if there are no logs, no timed step, or the ranks logged different step counts.
    """
    if not logs:
        raise ValueError("no step logs to measure")
    counts = {len(log) for log in logs}
    if len(counts) != 1:
        raise ValueError(f"ranks timed different numbers of steps: {sorted(counts)}")
    steps = counts.pop()
    if steps == 0:
        raise ValueError(
            f"no timed step: every step was inside the {warmup_steps}-step warm-up; "
            "run more steps or lower --warmup-steps"
        )
    starts = np.array([log.start for log in logs])
    ends = np.array([log.end for log in logs])
    joined = np.array([log.joined for log in logs]).all(axis=0)
    gaps = np.clip(starts.min(axis=0)[1:] - ends.max(axis=0)[:-1], 0, None)
    window = float((ends.max(axis=0) - starts.min(axis=0)).sum() + gaps[joined[1:]].sum())
    images = sum(sum(log.images) for log in logs)
    durations = {log.rank: log.durations() for log in logs}
    per_rank = [RankSteps(rank=rank, steps=times, **_spread(times)) for rank, times in durations.items()]
    return Throughput(
        warmup_steps=warmup_steps,
        segments=segments,
        timed_steps=steps,
        images=images,
        window_seconds=window,
        images_per_second=images / window,
        step_seconds=StepSeconds(per_rank=per_rank, **_spread([d for times in durations.values() for d in times])),
        breakdown=step_breakdown(logs),
    )


def step_breakdown(logs: list[StepLog]) -> StepBreakdown | None:
    """Where each rank's training time went, over its sampled steps (those that timed their phases, one in
    ``benchmark.train.loop.PHASE_EVERY``): the seconds of compute (forward and backward), allreduce and optimizer
    update (timestamps inside the step's graph), input wait (fetching the batch), and the rest (``host``: the
    step call's dispatch and the trainer's work between steps), over the sampled steps' wall span (each
    one's call time, plus the time before it when it follows another step within an epoch); and the shares
    of that span, averaged over the ranks. None when no step was sampled."""
    ranks = []
    for log in logs:
        start, end, joined = np.array(log.start), np.array(log.end), np.array(log.joined)
        sampled = np.isfinite(np.array(log.compute))
        if not sampled.any():
            return None
        before = np.concatenate([[0.0], np.clip(start[1:] - end[:-1], 0, None)])
        counted = sampled & joined  # a step's gap and input wait lie in the span only when it is joined
        wall = float((end - start)[sampled].sum() + before[counted].sum())
        phases = {name: float(np.array(getattr(log, name))[sampled].sum()) for name in PHASES}
        phases["input_wait"] = float(np.array(log.input_wait)[counted].sum())
        ranks.append(
            RankBreakdown(
                rank=log.rank,
                sampled_steps=int(sampled.sum()),
                wall_seconds=wall,
                **phases,
                host=max(0.0, wall - sum(phases.values())),
            )
        )
    parts: tuple[StepPart, ...] = (*PHASES, "input_wait", "host")
    shares = {name: statistics.fmean(getattr(r, name) / r.wall_seconds for r in ranks) for name in parts}
    return StepBreakdown(per_rank=ranks, shares=shares)


#: The ``[training]`` setting that holds the target of each validation figure.
TARGET_SETTINGS = {"val_top1": "target_top1", "val_top5": "target_top5", "val_auroc_mean": "target_mean_auroc"}


def time_to_target(epochs: list[Epoch], key: str, target: float | None) -> TimeToTarget:
    """Seconds and epochs until the validation figure ``key`` (``val_top1``, ``val_top5`` or ``val_auroc_mean``, a
    fraction) first reaches ``target``.

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
        reason = f"no {TARGET_SETTINGS[key]} was set"
    elif best is None:
        reason = "no validation set (synthetic data)"
    else:
        reason = f"not reached in {len(epochs)} epochs (best {name} {best:.4f})"
    return TimeToTarget(target=target, seconds=None, epochs=None, reason=reason)


def time_to_train(
    epochs: list[Epoch], target: float | None, target_top5: float | None = None, metric: MainMetric = "val_top1"
) -> TimeToTrain:
    """The record's ``time_to_train``: to ``target`` on ``metric`` (an :class:`Epoch` field: ``val_top1``, or
    ``val_auroc_mean`` for multi-label data; see :func:`time_to_target`) and, in ``top5``, to ``target_top5``."""
    main = time_to_target(epochs, metric, target)
    return TimeToTrain(
        metric=metric,
        target=target,
        target_top1=target if metric == "val_top1" else None,
        seconds=main.seconds,
        epochs=main.epochs,
        reason=main.reason,
        top5=time_to_target(epochs, "val_top5", target_top5),
    )


def bootstrap_interval(
    correct: np.ndarray,
    groups: np.ndarray,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    level: float = CI_LEVEL,
) -> tuple[float, float]:
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
    return [
        FieldAccuracy(field=str(name), images=int(n), top1=float(h1 / n), top5=float(h5 / n))
        for name, n, h1, h5 in zip(names, counts, hits1, hits5)
        if n
    ]


def validation_section(outcomes: np.ndarray | None, names: np.ndarray, leaky: bool) -> Validation | None:
    """The record's ``validation`` from the last evaluation's outcomes ((N, 3): top-1, top-5, field code
    into ``names``), or None without one (synthetic data, or a resume that evaluated nothing)."""
    if outcomes is None or len(outcomes) == 0:
        return None
    top1, top5, codes = outcomes.T
    per_field = per_field_accuracy(top1, top5, codes.astype(np.int64), names)
    return Validation(
        fields=len(per_field),
        images=len(codes),
        resamples=BOOTSTRAP_RESAMPLES,
        level=CI_LEVEL,
        leaky=leaky,
        per_field=per_field,
    )


def analytic_figures(
    config: TrainConfig, topology: Topology, throughput: Throughput, memory: Memory, peak: KernelPeaks | None = None
) -> Analytic:
    """The record's ``analytic``: :func:`benchmark.models.analytic.model_figures` at the run's input size and local
    batch, the training GFLOP/s its images/s mean (run, per worker and per node), its peak RSS per worker
    over the memory lower bound of one worker and, given the node's ``peak`` (:mod:`benchmark.microbench.peak`), the
    fraction of the 5x5 convolution's GFLOP/s at the run's precision that a worker achieved (None without
    a peak, or without a rate at that precision)."""
    figures = model_figures(*config.data.image_size, 3, config.data.num_classes)
    batch = topology.local_batch_size
    lower_bound = figures.memory_lower_bound_bytes(batch)
    gflops = throughput.images_per_second * figures.training_flops_per_image / 1e9
    per_worker = gflops / topology.workers
    conv_peak = peak.gflops("conv5x5", config.training.precision) if peak else None
    return Analytic(
        parameters=figures.parameters,
        parameter_bytes=figures.parameter_bytes,
        forward_gflop_per_image=figures.forward_flops_per_image / 1e9,
        training_gflop_per_image=figures.training_flops_per_image / 1e9,
        activation_bytes=figures.activation_bytes(batch),
        memory_lower_bound_bytes=lower_bound,
        achieved_gflops_per_second=gflops,
        achieved_gflops_per_second_per_worker=per_worker,
        achieved_gflops_per_second_per_node=per_worker * topology.workers_per_node,
        peak_rss_over_lower_bound=memory.peak_rss_bytes_max / lower_bound,
        peak=peak,
        fraction_of_peak=per_worker / conv_peak if conv_peak else None,
    )
