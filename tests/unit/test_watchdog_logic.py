"""The stall watchdog (benchmark.train.watchdog): its bounds, the stalls it tells, the heartbeats that name a
stopped rank (real files, and a real process stopped with SIGSTOP), its trip, the claim of a run's failure,
and the stall figure of references and the sweep driver's line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from test_analysis import make_record, write_record

from analysis.acceptance import accept, capture
from analysis.records import load_records
from analysis.reference import FIGURES, FigureReference, Reference, ShapeReference
from benchmark.config import RunSettings
from benchmark.engines.horovod.engine import graph_error_cause
from benchmark.record import RunRecord, Stall
from benchmark.train import watchdog as wd
from benchmark.train.checkpoint import RunState
from benchmark.train.progress import QUIET_SECONDS, ProgressWriter, quiet_seconds
from benchmark.train.watchdog import (
    TRIP_EXIT_STATUS,
    Heartbeat,
    StepTimes,
    Watchdog,
    attribute,
    claim_failure,
    failure_claimed,
    heartbeat_path,
    stale_ranks,
    stall_threshold,
    trip_bound,
)
from benchmark.util.times import iso_seconds
from slurm.display import no_progress

ROOT = Path(__file__).resolve().parents[2]


# --- the bounds ----------------------------------------------------------------------------------------------


def test_the_trip_bound_is_the_floor_or_a_multiple_of_the_median_step_and_the_start_bound_before_steps():
    assert trip_bound(None, floor=600, multiple=50, start=1800, starting=False) == 1800  # no step measured yet
    assert trip_bound(0.3, floor=600, multiple=50, start=1800, starting=True) == 1800  # graph tracing
    assert trip_bound(0.3, floor=600, multiple=50, start=1800, starting=False) == 600  # 50 x 0.3 s < floor
    assert trip_bound(20.0, floor=600, multiple=50, start=1800, starting=False) == 1000  # 50 x 20 s


def test_the_stall_threshold_needs_a_measured_step():
    assert stall_threshold(None, floor=60, multiple=10) is None
    assert stall_threshold(2.0, floor=60, multiple=10) == 60
    assert stall_threshold(9.0, floor=60, multiple=10) == 90


def test_step_times_keep_the_median():
    times = StepTimes()
    assert times.median() is None
    for seconds in (5.0, 1.0, 3.0):
        times.add(seconds)
    assert times.median() == 3.0 and len(times) == 3
    times.add(100.0)
    assert times.median() == 4.0


# --- stalls --------------------------------------------------------------------------------------------------


class Clock:
    """A clock the test moves by hand (monotonic and wall time together)."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now


def settings(**changes) -> RunSettings:
    return RunSettings(
        **{
            "watchdog_floor_seconds": 20.0,
            "watchdog_step_multiple": 50.0,
            "watchdog_start_seconds": 60.0,
            "heartbeat_seconds": 1.0,
            "stall_floor_seconds": 3.0,
            "stall_step_multiple": 10.0,
            **changes,
        }
    )


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(wd, "time", fake)
    return fake


def steps(dog: Watchdog, clock: Clock, gaps: list[float], epoch: int = 1, first: int = 1) -> list[Stall | None]:
    out = []
    for i, gap in enumerate(gaps):
        dog.expect("training")
        clock.now += gap
        out.append(dog.step_done(epoch, first + i, first + i))
    return out


def test_a_gap_above_the_threshold_is_a_stall_and_stays_out_of_the_median(tmp_path, clock):
    dog = Watchdog(tmp_path, 0, 1, settings())
    dog.expect("training", tracing=True)
    clock.now += 40.0  # the first step traces: neither measured nor a stall
    assert dog.step_done(1, 1, 1) is None and dog.times.median() is None
    began = clock.now
    found = steps(dog, clock, [0.2, 0.2, 0.2, 8.0, 0.2], first=2)
    assert found[:3] == [None] * 3 and found[4] is None
    stall = found[3]
    assert stall is not None
    assert (stall.epoch, stall.step, stall.seconds, stall.threshold_seconds) == (1, 5, 8.0, 3.0)
    assert iso_seconds(stall.began_at) == pytest.approx(began + 0.6)
    assert dog.times.median() == pytest.approx(0.2)  # the stall did not move the median
    # above the floor, the threshold follows the median: 10 x 1 s
    assert steps(dog, clock, [1.0] * 9 + [8.0], first=7)[-1] is None


def test_evaluations_checkpoints_and_graph_tracing_are_no_stalls(tmp_path, clock):
    dog = Watchdog(tmp_path, 0, 1, settings())
    steps(dog, clock, [0.2] * 4)
    dog.expect("evaluation")
    clock.now += 30.0
    dog.tick()  # a validation batch
    dog.expect("checkpoint")
    clock.now += 30.0
    dog.tick()
    assert steps(dog, clock, [0.2])[0] is None
    dog.expect("training", tracing=True)  # the other step variant's first call
    clock.now += 30.0
    assert dog.step_done(1, 6, 6) is None


def test_the_watchdog_trips_past_its_bound_and_not_before(tmp_path, clock):
    dog = Watchdog(tmp_path, 0, 1, settings(watchdog_floor_seconds=5.0, watchdog_start_seconds=30.0))
    dog.beat()
    clock.now += 29.0
    assert dog.check() is None  # start-up: the start bound
    clock.now += 2.0
    reason = dog.check()
    assert reason and "no progress for 31 s in starting (bound 30 s: run.watchdog_start_seconds 30" in reason
    assert "no step done yet" in reason
    steps(dog, clock, [0.1, 0.1, 0.1])
    dog.beat()
    clock.now += 4.9
    assert dog.check() is None
    clock.now += 0.2
    dog.beat()
    reason = dog.check()
    assert reason and "bound 5 s: max(run.watchdog_floor_seconds 5, 50 x median step 0.1 s)" in reason
    assert "last step done: epoch 1, step 3 (global step 3)" in reason
    assert "every rank answers (fresh heartbeats) but no step finished" in reason


def test_stalls_are_attributed_to_the_ranks_paused_meanwhile():
    stall = Stall(began_at="2026-01-01T00:00:10.000+00:00", seconds=8.0, epoch=1, step=5, threshold_seconds=3.0)
    start = iso_seconds(stall.began_at)
    pauses = {0: [], 1: [(start + 1.0, 6.0)], 2: [(start - 100.0, 5.0)], 3: [(start + 8.5, 2.0)]}
    (found,) = attribute([stall], pauses, slack=1.0)
    assert found.ranks == [1, 3]  # rank 3 within the slack of a heartbeat
    (alone,) = attribute([stall], {0: [], 2: [(start - 100.0, 5.0)]}, slack=1.0)
    assert alone.ranks is None  # not known


def test_the_run_state_keeps_its_stalls_and_reads_states_written_before_them():
    stall = Stall(
        began_at="2026-01-01T00:00:10.000+00:00", seconds=8.0, epoch=1, step=5, threshold_seconds=3.0, ranks=[1]
    )
    state = RunState(started_at="2026-01-01T00:00:00.000+00:00", initial_weights_sha256="a", stalls=[stall])
    data = json.loads(json.dumps(state.to_json()))
    assert RunState.from_json(data, []).stalls == [stall]
    del data["stalls"]
    assert RunState.from_json(data, []).stalls == []


# --- heartbeats: which rank stopped answering ----------------------------------------------------------------


def test_a_stale_heartbeat_names_its_rank_host_and_pid(tmp_path):
    now = time.time()
    for rank, age in ((0, 0.5), (1, 42.0), (2, 1.0)):
        beat = Heartbeat(
            rank=rank,
            host=f"node{rank}",
            pid=100 + rank,
            time=now - age,
            phase="training",
            epoch=2,
            step=3,
            global_step=9,
        )
        heartbeat_path(tmp_path, rank).parent.mkdir(exist_ok=True)
        heartbeat_path(tmp_path, rank).write_text(json.dumps(beat.__dict__))
    (stale,) = stale_ranks(tmp_path, 4, interval=1.0, now=now, since=now - 3600)[:1]
    assert stale.startswith("rank 1 (host node1, pid 101) has not answered for 42 s")
    assert "last seen in training at epoch 2, global step 9" in stale
    missing = stale_ranks(tmp_path, 4, interval=1.0, now=now, since=now - 3600)[1]
    assert missing.startswith("rank 3 has not answered at all")
    # a rank whose last heartbeat says it failed is named at once; the caller's own rank is left out
    failed = Heartbeat(
        rank=2, host="node2", pid=102, time=now, phase="failed (DataError)", epoch=1, step=0, global_step=3
    )
    heartbeat_path(tmp_path, 2).write_text(json.dumps(failed.__dict__))
    assert stale_ranks(tmp_path, 3, interval=1.0, now=now + 1, since=now - 3600, skip=1) == [
        "rank 2 (host node2, pid 102) failed (DataError) 1 s ago (at epoch 1, global step 3)"
    ]
    # a heartbeat of an earlier segment does not count as an answer
    assert [s[:6] for s in stale_ranks(tmp_path, 3, interval=1.0, now=now, since=now - 0.75)] == ["rank 1", "rank 2"]


HEARTBEATING = """
import sys, time
from benchmark.config import RunSettings
from benchmark.train.watchdog import Watchdog
dog = Watchdog(sys.argv[1], int(sys.argv[2]), 2, RunSettings(heartbeat_seconds=0.2, watchdog_floor_seconds=2.0,
               watchdog_start_seconds=2.0))
dog.start()
print("started", flush=True)
deadline = time.monotonic() + 30
while time.monotonic() < deadline:  # the main thread: a step every 0.1 s until told to stop
    dog.expect("training")
    time.sleep(0.1)
    dog.step_done(1, 1, 1)
    if (dog.run_dir / "stop").exists():
        break
dog.stop()
print("pauses", [round(seconds) for _, seconds in dog.pauses], "tripped", dog.tripped, flush=True)
"""


def start_heartbeating(run_dir: Path, rank: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", HEARTBEATING, str(run_dir), str(rank)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "started"
    return process


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_stopped_process_goes_stale_names_itself_and_then_excuses_its_own_pause(tmp_path):
    """A real process (rank 1) beats every 0.2 s; SIGSTOPped, its heartbeat goes stale and names its pid; after
    SIGCONT it beats again, notes its own pause and does not trip for it (its watchdog's bound is 2 s)."""
    since = time.time()
    process = start_heartbeating(tmp_path, 1)
    try:
        assert stale_ranks(tmp_path, 2, 0.2, time.time(), since)[0].startswith("rank 0 has not answered at all")
        assert wait_for(lambda: len(stale_ranks(tmp_path, 2, 0.2, time.time(), since)) == 1, 5)
        os.kill(process.pid, signal.SIGSTOP)
        assert wait_for(lambda: len(stale_ranks(tmp_path, 2, 0.2, time.time(), since)) == 2, 10)
        stale = stale_ranks(tmp_path, 2, 0.2, time.time(), since)[1]
        assert stale.startswith(
            f"rank 1 (host {json.loads(heartbeat_path(tmp_path, 1).read_text())['host']}, "
            f"pid {process.pid}) has not answered for "
        )
        time.sleep(2.5)  # longer than its own watchdog's bound
        os.kill(process.pid, signal.SIGCONT)
        assert wait_for(lambda: len(stale_ranks(tmp_path, 2, 0.2, time.time(), since)) == 1, 5)
        time.sleep(0.5)
        (tmp_path / "stop").touch()
        out, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, out
    pauses = json.loads(out.split("pauses ")[1].split(" tripped")[0])
    assert pauses and max(pauses) >= 5  # SIGSTOPped for about 5-7 s
    assert out.strip().endswith("tripped None")


def test_a_trip_names_the_stale_rank_records_once_and_exits(tmp_path):
    """A real watchdog thread (heartbeats every 0.1 s, bound 1 s) beside a stale rank 1: it calls on_trip with
    the reason and the main thread's stack, then exits with TRIP_EXIT_STATUS."""
    stale = Heartbeat(
        rank=1, host="node7", pid=4242, time=time.time() - 60, phase="training", epoch=1, step=2, global_step=2
    )
    heartbeat_path(tmp_path, 1).parent.mkdir()
    heartbeat_path(tmp_path, 1).write_text(json.dumps(stale.__dict__))
    trips, exits = [], []
    dog = Watchdog(
        tmp_path,
        0,
        2,
        settings(heartbeat_seconds=0.1, watchdog_start_seconds=1.0),
        on_trip=lambda reason, where: trips.append((reason, where)),
        exit=exits.append,
        since=time.time() - 120,
    ).start()
    assert wait_for(lambda: exits, 10)
    dog.stop()
    assert exits == [TRIP_EXIT_STATUS]
    ((reason, where),) = trips
    assert reason.startswith("watchdog (rank 0): no progress for 1 s in starting")
    assert "rank 1 (host node7, pid 4242) has not answered for 6" in reason
    assert "test_a_trip_names_the_stale_rank_records_once_and_exits" in where  # the main thread's stack


def test_one_claim_per_segment(tmp_path):
    before = time.time() - 10
    assert claim_failure(tmp_path, before) and failure_claimed(tmp_path, before)
    assert not claim_failure(tmp_path, before)  # the second rank to trip, or rank 0's later error
    time.sleep(0.01)
    later = time.time()  # a new segment: the old claim is replaced
    assert not failure_claimed(tmp_path, later)
    assert claim_failure(tmp_path, later) and not claim_failure(tmp_path, later)


# --- reasons -------------------------------------------------------------------------------------------------


def test_the_cause_of_a_graph_execution_error_replaces_it():
    message = textwrap.dedent(
        """\
        Graph execution error:

        Detected at node HorovodGroupedAllreduce_grads_0 defined at (most recent call last):
          File "/x/loop.py", line 10, in run
            result = engine.train_step(x, y)
        <stack traces unavailable>
        Horovod has been shut down. This was caused by an exception on one of the ranks.
        \t [[{{node HorovodGroupedAllreduce_grads_0}}]] [Op:__inference_step_123]"""
    )
    assert graph_error_cause(message) == (
        "Horovod has been shut down. This was caused by an exception on one of the ranks. "
        "(at node HorovodGroupedAllreduce_grads_0)"
    )
    assert graph_error_cause("the training loss became nan") is None


# --- the figure of references, and the driver's line ---------------------------------------------------------


def stalled(record: dict, count: int) -> dict:
    stall = {
        "began_at": "2026-01-01T00:00:10.000+00:00",
        "seconds": 210.0,
        "epoch": 1,
        "step": 5,
        "threshold_seconds": 60.0,
        "ranks": [1],
    }
    return {**record, "stalls": [stall] * count}


def test_a_reference_of_no_stalls_fails_a_run_that_stalled(tmp_path, check_record):
    write_record(tmp_path, stalled(make_record(run_id="calm"), 0))
    write_record(tmp_path, stalled(make_record(run_id="paused", nodes=2), 1))
    RunRecord.model_validate(stalled(make_record(), 2))  # the record model takes them, and the published schema
    check_record(stalled(make_record(), 2))
    runs = load_records(tmp_path).runs.set_index("run_id")
    assert runs.loc["paused", "stalls"] == 1 and runs.loc["paused", "longest_stall_seconds"] == 210.0
    assert runs.loc["calm", "stalls"] == 0 and runs.loc["calm", "longest_stall_seconds"] == 0.0
    assert FIGURES["stalls"].unit == "stalls" and FIGURES["stalls"].direction == "lower"

    def shape(nodes: int) -> ShapeReference:
        return ShapeReference(
            source="synthetic",
            image_size=(64, 64),
            nodes=nodes,
            workers_per_node=1,
            local_batch_size=16,
            figures={"stalls": FigureReference(value=0, upper=0, unit="stalls")},
        )

    checks = accept(tmp_path, Reference(system="x", shape=[shape(1), shape(2)]))
    assert [(c.verdict, c.median, c.note) for c in checks] == [
        ("PASS", 0.0, ""),
        ("FAIL", 1.0, "above the upper bound"),
    ]
    # a captured reference holds the calm run to none
    calm = capture(tmp_path, "x", 0.1).shape[0]
    assert calm.nodes == 1 and calm.figures["stalls"].bounds() == (None, 0.0)


def test_records_made_before_stalls_have_no_stall_figure(tmp_path):
    write_record(tmp_path, make_record())
    assert load_records(tmp_path).runs["stalls"].isna().all()


def test_the_driver_shows_a_run_whose_progress_has_not_changed(tmp_path):
    assert no_progress(None) == "" and no_progress(QUIET_SECONDS - 1) == ""
    assert no_progress(QUIET_SECONDS + 61) == " (no progress for 6 min)"
    progress = ProgressWriter(tmp_path, 2, 3)
    assert quiet_seconds(tmp_path) is None
    progress.update(1, 1)
    assert quiet_seconds(tmp_path) < 5
    os.utime(tmp_path / "progress.json", (time.time() - 600, time.time() - 600))
    assert 590 < quiet_seconds(tmp_path) < 620
    progress.touch()  # within a second of the last write: not written again
    assert quiet_seconds(tmp_path) > 590
    time.sleep(1.1)
    progress.touch()  # a validation batch
    assert quiet_seconds(tmp_path) < 5
