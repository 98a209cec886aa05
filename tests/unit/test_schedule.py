"""Warm-up + polynomial decay learning rate (Datta et al. 2019, sec. 3), against hand-computed values."""

import pytest

from benchmark.train.schedule import LearningRateSchedule, scaled_peak


@pytest.fixture
def schedule():
    # 4 workers x base 0.01 = peak 0.04; warm-up 2 epochs from 0.001; decay to 0.0001 by epoch 10, power 2
    return LearningRateSchedule(
        lr_start=0.001, peak=scaled_peak(0.01, 4, 16), lr_end=0.0001, warmup_epochs=2, total_epochs=10, power=2
    )


@pytest.mark.parametrize(
    "epoch,expected",
    [
        (0, 0.001),
        (1, 0.0205),  # 0.001 + (0.04 - 0.001) * 1/2
        (2, 0.04),  # end of warm-up: the peak
        (6, 0.010075),  # (0.04 - 0.0001) * (1 - 4/8)**2 + 0.0001
        (8, 0.00259375),  # 0.0399 * 0.25**2 + 0.0001
        (10, 0.0001),
        (12, 0.0001),  # past the end: stays at lr_end
    ],
)
def test_rate_at_chosen_epochs(schedule, epoch, expected):
    assert schedule(epoch) == pytest.approx(expected, rel=1e-12)


def test_linear_scaling_rule_and_caps():
    assert scaled_peak(0.01, 8, 16) == pytest.approx(0.08)
    assert scaled_peak(0.01, 8, 16, max_lr=0.05) == pytest.approx(0.05)
    # the scaling stops at a global batch of 64 = 4 workers x 16
    assert scaled_peak(0.01, 8, 16, max_global_batch_size=64) == pytest.approx(0.04)


def test_no_warmup_starts_at_peak():
    s = LearningRateSchedule(0.001, 0.1, 0.0, warmup_epochs=0, total_epochs=4, power=1)
    assert s(0) == pytest.approx(0.1)
    assert s(2) == pytest.approx(0.05)


@pytest.mark.parametrize("kwargs", [dict(total_epochs=0), dict(warmup_epochs=11), dict(power=0)])
def test_bad_schedules_are_refused(kwargs):
    base = dict(lr_start=0.001, peak=0.04, lr_end=0.0001, warmup_epochs=2, total_epochs=10, power=2)
    with pytest.raises(ValueError):
        LearningRateSchedule(**{**base, **kwargs})
