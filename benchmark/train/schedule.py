"""Learning-rate schedules: linear warm-up to a linearly scaled peak, then polynomial decay (Datta et al.
2019, sec. 3: :class:`LearningRateSchedule`), or a decay by a constant factor per epoch (Wilson et al., Dell
EMC, for VGG-16: :class:`StepDecaySchedule`). :data:`SCHEDULES`, the registry of ``learning_rate.schedule``,
names them; :func:`make_schedule` builds the one a run's settings name.

The peak rate follows the linear scaling rule (Goyal et al. 2017, used by Datta et al. sec. 3): with k
workers the peak is ``base_lr * k``, optionally capped at ``max_lr``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class LearningRateSchedule:
    """Warm-up then polynomial decay, as a function of the (fractional) epoch.

    Attributes:
        lr_start: rate at epoch 0, where the warm-up starts.
        peak: rate reached at the end of the warm-up (``base_lr * workers``, capped; see :func:`scaled_peak`).
        lr_end: rate at the last epoch.
        warmup_epochs: length of the linear warm-up, in epochs (0 = start at the peak).
        total_epochs: length of the whole schedule, in epochs.
        power: exponent of the polynomial decay (1 = linear).
    """

    lr_start: float
    peak: float
    lr_end: float
    warmup_epochs: float
    total_epochs: float
    power: float = 2.0

    def __post_init__(self) -> None:
        if self.total_epochs <= 0:
            raise ValueError(f"total_epochs must be positive, got {self.total_epochs}")
        if not 0 <= self.warmup_epochs <= self.total_epochs:
            raise ValueError(f"warmup_epochs must be in [0, {self.total_epochs}], got {self.warmup_epochs}")
        if min(self.lr_start, self.peak, self.lr_end) < 0 or self.power <= 0:
            raise ValueError("learning rates must be non-negative and power positive")

    def __call__(self, epoch: float) -> float:
        """The learning rate at ``epoch`` (a float: step / steps per epoch)."""
        if epoch < self.warmup_epochs:
            return _warmup(self.lr_start, self.peak, self.warmup_epochs, epoch)
        decay_epochs = self.total_epochs - self.warmup_epochs
        if decay_epochs == 0:
            return self.peak
        remaining = max(0.0, 1.0 - (epoch - self.warmup_epochs) / decay_epochs)
        return (self.peak - self.lr_end) * remaining**self.power + self.lr_end


def _warmup(lr_start: float, peak: float, warmup_epochs: float, epoch: float) -> float:
    """The linear warm-up's rate at ``epoch`` < ``warmup_epochs``."""
    return lr_start + (peak - lr_start) * epoch / warmup_epochs


@dataclass(frozen=True)
class StepDecaySchedule:
    """Warm-up then a decay by ``decay_factor`` once per epoch, as a function of the (fractional) epoch: the
    rate climbs linearly from ``lr_start`` to ``peak`` over ``warmup_epochs``, holds the peak, and from epoch
    ``decay_from_epoch`` on (0-based, counted in whole epochs) is ``peak * decay_factor ** (e -
    decay_from_epoch + 1)`` for epoch ``e`` (Wilson et al., Dell EMC: VGG-16 with a 5-epoch warm-up, then a
    constant decay per epoch).

    Attributes:
        lr_start: rate at epoch 0.
        peak: rate at the end of the warm-up (see :func:`scaled_peak`).
        warmup_epochs: length of the warm-up, in epochs (0 = start at the peak).
        decay_factor: factor in (0, 1] applied once per epoch.
        decay_from_epoch: the first decayed epoch (0-based).
    """

    lr_start: float
    peak: float
    warmup_epochs: float
    decay_factor: float
    decay_from_epoch: int

    def __post_init__(self) -> None:
        if self.warmup_epochs < 0 or not 0 < self.decay_factor <= 1 or self.decay_from_epoch < 0:
            raise ValueError("warmup_epochs and decay_from_epoch must be non-negative and decay_factor in (0, 1]")
        if min(self.lr_start, self.peak) < 0:
            raise ValueError("learning rates must be non-negative")

    def __call__(self, epoch: float) -> float:
        """The learning rate at ``epoch`` (a float: step / steps per epoch)."""
        if epoch < self.warmup_epochs:
            return _warmup(self.lr_start, self.peak, self.warmup_epochs, epoch)
        return self.peak * self.decay_factor ** max(0, int(epoch) - self.decay_from_epoch + 1)


@dataclass(frozen=True)
class ScheduleKind:
    """A named learning-rate schedule.

    Attributes:
        name: what ``learning_rate.schedule`` says.
        description: one line for ``--help`` and the docs, with its source.
        build: ``(settings, peak, total_epochs) -> schedule``: the schedule of
            :class:`benchmark.config.LearningRateSettings` ``settings`` at ``peak`` (already scaled) over
            ``total_epochs``, a callable from the (fractional) epoch to the rate.
    """

    name: str
    description: str
    build: Callable[..., Callable[[float], float]]


#: Every schedule, by ``learning_rate.schedule``. The first is the default.
SCHEDULES: dict[str, ScheduleKind] = {
    kind.name: kind
    for kind in (
        ScheduleKind(
            "poly",
            "warm-up then polynomial decay to lr_end (Datta et al. 2019, sec. 3)",
            lambda s, peak, total: LearningRateSchedule(s.lr_start, peak, s.lr_end, s.warmup_epochs, total, s.power),
        ),
        ScheduleKind(
            "step",
            "warm-up then the peak times decay_factor per epoch from decay_from_epoch on (Wilson et al., VGG-16)",
            lambda s, peak, total: StepDecaySchedule(
                s.lr_start, peak, s.warmup_epochs, s.decay_factor, s.decay_from_epoch
            ),
        ),
    )
}


def make_schedule(settings, peak: float, total_epochs: float):
    """The schedule ``settings`` (:class:`benchmark.config.LearningRateSettings`) names in :data:`SCHEDULES`, at
    ``peak`` (already scaled), over ``total_epochs``: ``poly`` -> :class:`LearningRateSchedule`, ``step`` ->
    :class:`StepDecaySchedule`.

    Raises:
        ValueError: a warm-up longer than the run (poly), or invalid rates.
    """
    return SCHEDULES[settings.schedule].build(settings, peak, total_epochs)


def scaled_peak(
    base_lr: float,
    workers: int,
    local_batch_size: int,
    max_lr: float | None = None,
    max_global_batch_size: int | None = None,
    reference_batch_size: int | None = None,
) -> float:
    """Peak learning rate by the linear scaling rule (Goyal et al. 2017): ``base_lr * k``.

    ``k`` is the number of workers (Datta et al. 2019, sec. 3: ``base_lr`` is one worker's rate at its local
    batch) or, with ``reference_batch_size``, the global batch over that reference (``base_lr`` is the rate at
    the reference batch; Wilson et al., Dell EMC, double the rate with the batch). When
    ``max_global_batch_size`` is set, ``k`` stops growing once the global batch ``local_batch_size * workers``
    reaches it. The result is then capped at ``max_lr`` when given.

    Raises:
        ValueError: if ``workers``, ``local_batch_size`` or ``reference_batch_size`` is not positive.
    """
    if workers <= 0 or local_batch_size <= 0 or (reference_batch_size is not None and reference_batch_size <= 0):
        raise ValueError(
            f"workers, local_batch_size and reference_batch_size must be positive, got {workers}, "
            f"{local_batch_size}, {reference_batch_size}"
        )
    global_batch = float(local_batch_size * workers)
    if max_global_batch_size is not None:
        global_batch = min(global_batch, max_global_batch_size)
    k = global_batch / (reference_batch_size or local_batch_size)
    peak = base_lr * k
    return peak if max_lr is None else min(peak, max_lr)
