"""Learning-rate schedule of Datta et al. 2019 (sec. 3): linear warm-up to a linearly scaled peak, then
polynomial decay.

The peak rate follows the linear scaling rule (Goyal et al. 2017, used by Datta et al. sec. 3): with k
workers the peak is ``base_lr * k``, optionally capped at ``max_lr``.
"""
from __future__ import annotations

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
            return self.lr_start + (self.peak - self.lr_start) * epoch / self.warmup_epochs
        decay_epochs = self.total_epochs - self.warmup_epochs
        if decay_epochs == 0:
            return self.peak
        remaining = max(0.0, 1.0 - (epoch - self.warmup_epochs) / decay_epochs)
        return (self.peak - self.lr_end) * remaining ** self.power + self.lr_end


def scaled_peak(base_lr: float, workers: int, local_batch_size: int,
                max_lr: float | None = None, max_global_batch_size: int | None = None) -> float:
    """Peak learning rate by the linear scaling rule: ``base_lr * k`` (Datta et al. 2019, sec. 3).

    ``k`` is the number of workers; when ``max_global_batch_size`` is set, ``k`` stops growing once the
    global batch ``local_batch_size * k`` reaches it (k = max_global_batch_size / local_batch_size).
    The result is then capped at ``max_lr`` when given.

    Raises:
        ValueError: if ``workers`` or ``local_batch_size`` is not positive.
    """
    if workers <= 0 or local_batch_size <= 0:
        raise ValueError(f"workers and local_batch_size must be positive, got {workers}, {local_batch_size}")
    k = float(workers)
    if max_global_batch_size is not None:
        k = min(k, max_global_batch_size / local_batch_size)
    peak = base_lr * k
    return peak if max_lr is None else min(peak, max_lr)
