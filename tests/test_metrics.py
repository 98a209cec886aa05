"""Global throughput from every rank's step timestamps (pure logic)."""
import pytest

from benchmark.metrics import StepLog, global_throughput


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


def test_gaps_between_steps_are_not_in_the_window():
    log = _log(0, [(0.0, 1.0), (100.0, 101.0)], 4)   # an evaluation between the two steps
    assert global_throughput([log], 0).window_seconds == pytest.approx(2.0)


def test_ranks_with_different_step_counts_are_refused():
    with pytest.raises(ValueError, match="different numbers of steps"):
        global_throughput([_log(0, [(0, 1)], 4), _log(1, [(0, 1), (1, 2)], 4)], 0)


def test_no_timed_step_is_a_clear_error():
    with pytest.raises(ValueError, match="warm-up"):
        global_throughput([StepLog(0)], 5)
