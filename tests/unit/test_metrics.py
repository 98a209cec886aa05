"""Global throughput from every rank's step timestamps, and where the steps' time went (pure logic)."""

import pytest

from benchmark.train.metrics import StepLog, global_throughput


def _log(rank, steps, batch):
    log = StepLog(rank)
    for start, end in steps:
        log.add(start, end, batch)
    return log


def test_window_spans_the_slowest_rank_of_each_step():
    a = _log(0, [(10.0, 11.0), (11.0, 12.5)], 8)
    b = _log(1, [(10.2, 11.1), (11.1, 12.4)], 8)
    t = global_throughput([a, b], warmup_steps=3).model_dump()
    assert t["window_seconds"] == pytest.approx((11.1 - 10.0) + (12.5 - 11.0))
    assert t["images"] == 32
    assert t["images_per_second"] == pytest.approx(32 / 2.6)
    assert t["timed_steps"] == 2 and t["warmup_steps"] == 3
    assert t["step_seconds"]["max"] == pytest.approx(1.5)
    assert [r["rank"] for r in t["step_seconds"]["per_rank"]] == [0, 1]
    assert t["step_seconds"]["per_rank"][1]["steps"] == pytest.approx([0.9, 1.3])


def test_gaps_between_epochs_are_not_in_the_window():
    log = _log(0, [(0.0, 1.0), (100.0, 101.0)], 4)  # not joined: an evaluation between the two steps
    assert global_throughput([log], 0).window_seconds == pytest.approx(2.0)


def test_the_window_spans_the_waits_between_joined_steps_and_the_breakdown_adds_up():
    a, b = StepLog(0), StepLog(1)
    # rank 0: two joined steps with a 0.5 s input wait between; rank 1 starts its second step 0.2 s later
    a.add(0.0, 1.0, 8, (0.6, 0.2, 0.1), 0.0, joined=False)
    a.add(1.5, 2.5, 8, (0.6, 0.2, 0.1), 0.5, joined=True)
    b.add(0.0, 1.0, 8, (0.7, 0.2, 0.05), 0.0, joined=False)
    b.add(1.7, 2.6, 8, (0.6, 0.2, 0.05), 0.6, joined=True)
    t = global_throughput([a, b], 0)
    assert t.window_seconds == pytest.approx(1.0 + 0.5 + 1.1)  # step 1, the gap 1.0 -> 1.5, step 2 (1.5 -> 2.6)
    assert t.images_per_second == pytest.approx(32 / 2.6)
    rank0, rank1 = t.breakdown.per_rank
    assert rank0.wall_seconds == pytest.approx(2.5) and rank0.input_wait == pytest.approx(0.5)
    assert (rank0.compute, rank0.allreduce, rank0.optimizer) == pytest.approx((1.2, 0.4, 0.2))
    assert rank0.host == pytest.approx(2.5 - 1.2 - 0.4 - 0.2 - 0.5)
    assert rank1.wall_seconds == pytest.approx(1.0 + 0.7 + 0.9)
    assert sum(t.breakdown.shares.values()) == pytest.approx(1.0)
    assert t.breakdown.shares["compute"] == pytest.approx((1.2 / 2.5 + 1.3 / 2.6) / 2)
    assert rank0.sampled_steps == 2


def test_the_breakdown_counts_only_the_sampled_steps():
    nan = float("nan")
    log = StepLog(0)
    log.add(0.0, 1.0, 8, (0.5, 0.2, 0.1), 0.0, joined=False)  # sampled, first of its epoch: no gap counted
    log.add(1.5, 2.5, 8, (nan, nan, nan), 0.5, joined=True)  # not sampled
    log.add(3.0, 4.0, 8, (0.6, 0.2, 0.1), 0.4, joined=True)  # sampled, 0.5 s after the previous step
    breakdown = global_throughput([log], 0).breakdown.per_rank[0]
    assert breakdown.sampled_steps == 2 and breakdown.wall_seconds == pytest.approx(2.5)
    assert (breakdown.compute, breakdown.input_wait) == pytest.approx((1.1, 0.4))
    assert breakdown.host == pytest.approx(2.5 - 1.1 - 0.4 - 0.2 - 0.4)
    unsampled = StepLog(0)
    unsampled.add(0.0, 1.0, 8, (nan, nan, nan))
    assert global_throughput([unsampled], 0).breakdown is None


def test_ranks_with_different_step_counts_are_refused():
    with pytest.raises(ValueError, match="different numbers of steps"):
        global_throughput([_log(0, [(0, 1)], 4), _log(1, [(0, 1), (1, 2)], 4)], 0)


def test_no_timed_step_is_a_clear_error():
    with pytest.raises(ValueError, match="warm-up"):
        global_throughput([StepLog(0)], 5)
