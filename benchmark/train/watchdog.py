"""The stall watchdog, the ranks' heartbeats and the stalls a run recovered from.

A rank that stops (SIGSTOP, a frozen node, a hung file system) holds every other rank in the next collective:
they spin there without an error until the job's time limit, and a run that recovers after a long pause looks
like a slow run. The run loop (:mod:`benchmark.train.loop`) tells its :class:`Watchdog` what it does (a
training step, an evaluation, a checkpoint) and when a piece of work finished; on every rank a daemon thread:

- writes this rank's heartbeat, ``RUN_DIR/heartbeats/rank-<r>.json`` (host, pid, time, phase, last step),
  every ``run.heartbeat_seconds``. A stopped process stops all its threads, so its heartbeat goes stale,
  while a rank blocked in a collective keeps beating;
- trips when nothing finished for the bound (:func:`trip_bound`): max(``run.watchdog_floor_seconds``,
  ``run.watchdog_step_multiple`` x the median step so far), or ``run.watchdog_start_seconds`` before a
  segment's first steps have finished (start-up and graph tracing) and through its first evaluation. The
  reason names each rank whose heartbeat is stale (:func:`stale_ranks`), or says that every rank answers but
  no step finished (a stuck collective). The first rank to trip claims the run's failure
  (:func:`claim_failure`; exactly one failed record, which a later error on rank 0 does not overwrite),
  writes the failed record, logs the reason to stderr and ends its process with
  :data:`TRIP_EXIT_STATUS`; the launcher (horovodrun, srun ``--kill-on-bad-exit``) then ends the other ranks;
- notes when it woke late itself (this process was paused): the pause is not held against the run (a job
  suspended as a whole does not trip) and names this rank in the stalls it overlaps.

A step gap (from the end of the previous step, evaluation or checkpoint to the end of the step) longer than
the stall threshold (:func:`stall_threshold`: max(``run.stall_floor_seconds``, ``run.stall_step_multiple`` x
the median step so far)) is a :class:`benchmark.record.Stall`, kept in the record's ``stalls``. Graph tracing
(a segment's first call of each step variant) is neither measured nor a stall.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmark.config import RunSettings
from benchmark.record import Stall
from benchmark.util.atomic import write_json_atomic
from benchmark.util.provenance import hostname
from benchmark.util.times import iso_seconds, utc_iso

#: The folder of the heartbeats, in the run's folder.
HEARTBEATS = "heartbeats"
#: The file whose creation claims a segment's failure for one writer (in :data:`HEARTBEATS`).
CLAIM_NAME = "failure.claim"
#: The exit status of a process the watchdog ended (EX_SOFTWARE).
TRIP_EXIT_STATUS = 70
#: A heartbeat older than this many intervals (and at least :data:`MIN_STALE_SECONDS`) is stale.
STALE_BEATS = 3
MIN_STALE_SECONDS = 5.0
#: The watchdog thread woke this many intervals late (at least 1 s): its process was paused.
PAUSED_BEATS = 1.0
#: At most this many of a rank's own pauses are kept for the stalls.
MAX_PAUSES = 100
#: How the last heartbeat of a rank that failed begins its phase (``failed (ValueError)``).
FAILED = "failed"


def trip_bound(median_step: float | None, floor: float, multiple: float, start: float, starting: bool) -> float:
    """Seconds without progress after which the watchdog trips: ``start`` while ``starting`` (before a
    segment's first steps finished: graph tracing) or before any step was measured, else max(``floor``,
    ``multiple`` x ``median_step``)."""
    if starting or median_step is None:
        return start
    return max(floor, multiple * median_step)


#: Seconds a collective waits beyond the watchdog's start bound before the collective library gives up.
COLLECTIVE_MARGIN_SECONDS = 60.0


def collective_timeout(run: RunSettings) -> float:
    """Seconds an engine lets a collective wait for the other workers (Gloo's timeout): the watchdog's start
    bound (``run.watchdog_start_seconds``) plus :data:`COLLECTIVE_MARGIN_SECONDS`, and never less than Gloo's own
    default of 30 s, so that the watchdog, which names the rank that stopped answering and lets a run that
    recovers from a pause go on, decides before the collective library does."""
    return max(30.0, run.watchdog_start_seconds + COLLECTIVE_MARGIN_SECONDS)


def stall_threshold(median_step: float | None, floor: float, multiple: float) -> float | None:
    """The step gap above which a step is a stall: max(``floor``, ``multiple`` x ``median_step``); None before
    any step was measured (no stall can be told from a slow start)."""
    return None if median_step is None else max(floor, multiple * median_step)


class StepTimes:
    """Step gaps in seconds, kept sorted so that the median costs nothing."""

    def __init__(self) -> None:
        self._sorted: list[float] = []

    def add(self, seconds: float) -> None:
        bisect.insort(self._sorted, seconds)

    def __len__(self) -> int:
        return len(self._sorted)

    def median(self) -> float | None:
        """The median gap, or None before the first."""
        values, n = self._sorted, len(self._sorted)
        if not n:
            return None
        return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


@dataclass(frozen=True)
class Heartbeat:
    """One rank's heartbeat: where it runs, when it last beat (seconds since the epoch), what it does and its
    last finished step."""

    rank: int
    host: str
    pid: int
    time: float
    phase: str
    epoch: int
    step: int
    global_step: int

    @property
    def name(self) -> str:
        """``rank R (host H, pid P)``."""
        return f"rank {self.rank} (host {self.host}, pid {self.pid})"


def heartbeat_path(run_dir: str | Path, rank: int) -> Path:
    return Path(run_dir) / HEARTBEATS / f"rank-{rank}.json"


def read_heartbeat(run_dir: str | Path, rank: int) -> Heartbeat | None:
    """Rank ``rank``'s last heartbeat in ``run_dir``, or None (none written, or unreadable)."""
    try:
        return Heartbeat(**json.loads(heartbeat_path(run_dir, rank).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def stale_after(interval: float) -> float:
    """Seconds after which a heartbeat written every ``interval`` seconds is stale."""
    return max(STALE_BEATS * interval, MIN_STALE_SECONDS)


def stale_ranks(
    run_dir: str | Path, size: int, interval: float, now: float, since: float = 0.0, skip: int | None = None
) -> list[str]:
    """Each of the ``size`` ranks that does not answer at ``now`` (seconds since the epoch), as a phrase naming its
    rank, host and pid: one whose heartbeat is stale (how long it has not answered), one whose last heartbeat
    says it failed (:meth:`Watchdog.stop` with a phase), and one without a heartbeat written after ``since``
    (this segment's start). Rank ``skip`` (the caller's own) is left out."""
    limit, found = stale_after(interval), []
    for rank in (r for r in range(size) if r != skip):
        beat = read_heartbeat(run_dir, rank)
        if beat is None or beat.time < since:
            found.append(f"rank {rank} has not answered at all (no heartbeat in {Path(run_dir) / HEARTBEATS})")
        elif beat.phase.startswith(FAILED):
            found.append(
                f"{beat.name} {beat.phase} {max(0.0, now - beat.time):.0f} s ago (at epoch {beat.epoch}, "
                f"global step {beat.global_step})"
            )
        elif now - beat.time > limit:
            found.append(
                f"{beat.name} has not answered for {now - beat.time:.0f} s (its heartbeat is stale: "
                f"stopped, frozen or its node is gone; last seen in {beat.phase} at epoch {beat.epoch}, "
                f"global step {beat.global_step})"
            )
    return found


def laggards(run_dir: str | Path, size: int) -> str:
    """With every heartbeat fresh: the ranks behind the others in global steps, as a phrase ('' if none)."""
    beats = [b for b in (read_heartbeat(run_dir, rank) for rank in range(size)) if b is not None]
    if not beats:
        return ""
    ahead = max(b.global_step for b in beats)
    behind = [b for b in beats if b.global_step < ahead]
    if not behind:
        return ""
    names = ", ".join(f"rank {b.rank} at global step {b.global_step} ({b.phase})" for b in behind)
    return f"; behind the others (at global step {ahead}): {names}"


def claim_failure(run_dir: str | Path, since: float) -> bool:
    """Claim the failure of the run's segment that started at ``since`` (seconds since the epoch) for the
    caller: True for the first caller, False once another process of the segment claimed it. A claim of an
    earlier segment (written before ``since``) is replaced."""
    path = Path(run_dir) / HEARTBEATS / CLAIM_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            try:
                claimed = json.loads(path.read_text())["time"]
            except (OSError, ValueError, KeyError, TypeError):
                return False  # being written by the claimant
            if claimed >= since:
                return False
            path.unlink(missing_ok=True)  # an earlier segment's
            continue
        with os.fdopen(fd, "w") as out:
            json.dump({"time": time.time(), "host": hostname(), "pid": os.getpid()}, out)
        return True
    return False


def failure_claimed(run_dir: str | Path, since: float) -> bool:
    """Whether some process of the segment that started at ``since`` claimed its failure."""
    try:
        return json.loads((Path(run_dir) / HEARTBEATS / CLAIM_NAME).read_text())["time"] >= since
    except (OSError, ValueError, KeyError, TypeError):
        return False


def attribute(stalls: list[Stall], pauses: dict[int, list[tuple[float, float]]], slack: float) -> list[Stall]:
    """``stalls`` with ``ranks`` set to the ranks one of whose own ``pauses`` (``(began, seconds)``, seconds since
    the epoch, by rank) overlaps the stall, ``slack`` seconds either side; a stall that no pause overlaps keeps its
    ``ranks``."""
    out = []
    for stall in stalls:
        start = iso_seconds(stall.began_at)
        end = start + stall.seconds
        ranks = sorted(
            rank
            for rank, spans in pauses.items()
            if any(began - slack < end and began + seconds + slack > start for began, seconds in spans)
        )
        out.append(stall.model_copy(update={"ranks": ranks}) if ranks else stall)
    return out


class Watchdog:
    """One rank's watchdog (see the module's docstring): the run loop reports through :meth:`expect`,
    :meth:`step_done` and :meth:`tick`; :meth:`start` starts the heartbeat thread, which calls
    ``on_trip(reason, where)`` (``where``: the main thread's stack) and then ``exit(TRIP_EXIT_STATUS)`` when it
    trips. Without :meth:`start` it only measures steps and tells stalls."""

    def __init__(
        self,
        run_dir: str | Path,
        rank: int,
        size: int,
        settings: RunSettings,
        on_trip: Callable[[str, str], None] | None = None,
        exit: Callable[[int], object] = os._exit,
        since: float | None = None,
    ):
        self.run_dir, self.rank, self.size, self.settings = Path(run_dir), rank, size, settings
        self.on_trip, self.exit = on_trip, exit
        self.since = time.time() if since is None else since
        self.interval = settings.heartbeat_seconds
        self.times = StepTimes()
        self.phase, self.tracing = "starting", True
        self.mark, self.mark_wall, self.excused = time.monotonic(), time.time(), 0.0
        self.epoch = self.step = self.global_step = 0
        self.pauses: list[tuple[float, float]] = []  # this process's own pauses: (began, seconds), wall clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._main = threading.main_thread().ident
        self.tripped: str | None = None

    # --- what the run loop reports (main thread) -------------------------------------------------------------

    def expect(self, phase: str, tracing: bool = False) -> None:
        """The loop starts ``phase`` (``training``, ``evaluation``, ``checkpoint``, ``record`` ...); ``tracing``:
        its first call in this segment (graph tracing: the start bound applies, and a step is not measured)."""
        self.phase, self.tracing = phase, tracing

    def tick(self) -> None:
        """Some work finished (a validation batch, a checkpoint): the clock starts again; no step gap."""
        self.mark, self.mark_wall, self.excused = time.monotonic(), time.time(), 0.0

    def step_done(self, epoch: int, step: int, global_step: int) -> Stall | None:
        """A training step finished: step ``step`` (1-based) of epoch ``epoch`` (1-based). Returns the stall when
        the gap since the last mark exceeded :func:`stall_threshold` (the gap then stays out of the median)."""
        now, wall = time.monotonic(), time.time()
        gap, began = now - self.mark, self.mark_wall
        self.epoch, self.step, self.global_step = epoch, step, global_step
        stall = None
        if not self.tracing:
            s = self.settings
            threshold = stall_threshold(self.times.median(), s.stall_floor_seconds, s.stall_step_multiple)
            if threshold is not None and gap > threshold:
                stall = Stall(began_at=utc_iso(began), seconds=gap, epoch=epoch, step=step, threshold_seconds=threshold)
            else:
                self.times.add(gap)
        self.mark, self.mark_wall, self.excused, self.tracing = now, wall, 0.0, False
        return stall

    # --- the thread ------------------------------------------------------------------------------------------

    def bound(self) -> float:
        """The trip bound now (:func:`trip_bound`)."""
        s = self.settings
        return trip_bound(
            self.times.median(),
            s.watchdog_floor_seconds,
            s.watchdog_step_multiple,
            s.watchdog_start_seconds,
            self.tracing,
        )

    def quiet_seconds(self, now: float | None = None) -> float:
        """Seconds since the last progress, less this process's own pauses since then."""
        return (time.monotonic() if now is None else now) - self.mark - self.excused

    def check(self) -> str | None:
        """The reason to trip now, or None."""
        quiet, bound = self.quiet_seconds(), self.bound()
        if quiet <= bound:
            return None
        s = self.settings
        what = (
            f"run.watchdog_start_seconds {s.watchdog_start_seconds:g}, before the segment's first steps finished"
            if self.tracing or self.times.median() is None
            else f"max(run.watchdog_floor_seconds {s.watchdog_floor_seconds:g}, {s.watchdog_step_multiple:g} x "
            f"median step {self.times.median():.3g} s)"
        )
        where = (
            f"last step done: epoch {self.epoch}, step {self.step} (global step {self.global_step})"
            if self.global_step
            else "no step done yet"
        )
        stale = stale_ranks(self.run_dir, self.size, self.interval, time.time(), self.since)
        cause = (
            "; ".join(stale)
            if stale
            else "every rank answers (fresh heartbeats) but no step finished: a collective is stuck or a rank "
            "is busy elsewhere" + laggards(self.run_dir, self.size)
        )
        return (
            f"watchdog (rank {self.rank}): no progress for {quiet:.0f} s in {self.phase} (bound {bound:.0f} s: "
            f"{what}); {where}. {cause}"
        )

    def beat(self) -> None:
        """Write this rank's heartbeat (atomically); an error is ignored (the next beat tries again)."""
        beat = Heartbeat(
            rank=self.rank,
            host=hostname(),
            pid=os.getpid(),
            time=time.time(),
            phase=self.phase,
            epoch=self.epoch,
            step=self.step,
            global_step=self.global_step,
        )
        with contextlib.suppress(OSError):
            write_json_atomic(heartbeat_path(self.run_dir, self.rank), asdict(beat))

    def start(self) -> Watchdog:
        """Start the heartbeat thread (a daemon); the clock starts now."""
        self.tick()
        self.beat()
        self._thread = threading.Thread(target=self._run, name="mcnn-watchdog", daemon=True)
        self._thread.start()
        return self

    def stop(self, phase: str | None = None) -> None:
        """Stop the thread (it may be mid-beat: it finishes that beat); with ``phase`` (``failed (Type)``, see
        :data:`FAILED`), write a last heartbeat saying so."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2 * self.interval + 5)
        if phase is not None and self._thread is not None:
            self.phase = phase
            self.beat()

    def _run(self) -> None:
        due = time.monotonic() + self.interval
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            now = time.monotonic()
            late = now - due
            if late > max(1.0, PAUSED_BEATS * self.interval):  # this process was paused (or starved)
                self.excused += late
                self.pauses = [*self.pauses[-MAX_PAUSES + 1 :], (time.time() - late, late)]
            self.beat()
            reason = self.check()
            if reason is not None:
                self._trip(reason)
                return
            due = now + self.interval

    def _trip(self, reason: str) -> None:
        self.tripped = reason
        frame = sys._current_frames().get(self._main) if self._main is not None else None
        where = "the main thread's stack when the watchdog tripped:\n" + (
            "".join(traceback.format_stack(frame)) if frame is not None else "(not found)\n"
        )
        print(f"mcnn-bench: {reason}", file=sys.stderr, flush=True)
        try:
            if self.on_trip is not None:
                self.on_trip(reason, where)
        except Exception as exc:  # the process ends anyway
            print(f"mcnn-bench watchdog: could not record the failure: {type(exc).__name__}: {exc}", file=sys.stderr)
        finally:
            sys.stderr.flush()
            self.exit(TRIP_EXIT_STATUS)
