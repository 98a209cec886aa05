"""The run loop (Datta et al. 2019, sec. 3): what every worker of a run executes, whatever its engine.

The loop trains epoch by epoch through an engine (:class:`benchmark.engines.base.Engine`, chosen by
``run.engine``): every training step's loss, averaged over all workers in the step's own collective,
stops a diverging run on every worker at once; the learning rate follows :mod:`benchmark.train.schedule`
(warm-up + polynomial decay, the peak scaled linearly with the workers); one step in
:data:`PHASE_EVERY` times its phases for the breakdown. Rank 0 gathers every rank's figures and writes the
run record. Rank 0 writes only while the run's folder lock is held for it (:mod:`benchmark.train.run_lock`):
a second process for the same run is refused on every rank before anything is written.

Training is resumable (:mod:`benchmark.train.checkpoint`). Rank 0 writes a checkpoint every
``training.checkpoint_every_epochs`` epochs (after the evaluation) and/or every
``training.checkpoint_every_minutes``, a final one at the end, and one when asked to stop
(:func:`request_stop`, e.g. from SLURM's warning signal), after which every rank raises
:class:`TrainingInterrupted`. Requests to stop and time-based checkpoints travel in the training step's
collective, so every rank acts at the same step. A run started again in its folder continues from its
newest valid checkpoint, which must carry the run's fingerprint; ``training.init_from`` starts a fresh run
from another run's model weights.

Every rank runs a stall watchdog (:mod:`benchmark.train.watchdog`): the loop reports each step, validation
batch and checkpoint to it; it ends the run, naming the rank that stopped answering, when nothing finished for
its bound, and rank 0 keeps the step gaps above the stall threshold in the record's ``stalls``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import cast

import numpy as np

from benchmark.config import TrainConfig
from benchmark.data.sources import SOURCES
from benchmark.engines.base import Engine, engine_class
from benchmark.models import MODELS
from benchmark.record import (
    Epoch,
    Failure,
    HorovodController,
    InitFrom,
    KernelPeaks,
    Memory,
    ModelInfo,
    Provenance,
    ResumeEvent,
    Resumes,
    RunRecord,
    Stall,
    Threads,
    Topology,
    record_path,
)
from benchmark.train.checkpoint import (
    Checkpoint,
    CheckpointError,
    Reason,
    RunState,
    check_same_engine,
    check_same_run,
    checkpoint_dir,
    latest_checkpoint,
    restore_rng,
    rng_state,
    write_checkpoint,
)
from benchmark.train.metrics import StepLog, analytic_figures, global_throughput, time_to_train, validation_section
from benchmark.train.mllog import SUCCESS, RunLog
from benchmark.train.progress import ProgressWriter
from benchmark.train.run_lock import TOKEN_VAR, RunLock, RunLockError
from benchmark.train.schedule import make_schedule, scaled_peak
from benchmark.train.task import TASKS
from benchmark.train.watchdog import FAILED, Watchdog, attribute, claim_failure, stale_ranks
from benchmark.util.launcher import launcher_rank, launcher_size
from benchmark.util.logfile import LogFile
from benchmark.util.provenance import host_facts, hostname, peak_rss_bytes, scheduler_job
from benchmark.util.times import iso_seconds, utc_iso

log = logging.getLogger(__name__)
#: The training log rank 0 writes in the run's folder: one line per epoch.
LOG_NAME = "train.log"
#: Seconds a failing rank other than 0 waits for rank 0's record before it exits (see :func:`await_record`).
RECORD_WAIT_SECONDS = 30.0

_stop_requested = False


def request_stop() -> None:
    """Ask the running trainer to write a checkpoint and stop at the next step boundary; every rank then
    raises :class:`TrainingInterrupted`. Async-signal-safe (it only sets a flag): call it from a signal
    handler, e.g. for SLURM's SIGUSR2 warning. The ranks agree on the step through the training step's
    allreduce, so asking one rank is enough. A request after the last training step is ignored (the run
    completes); a request is spent when the trainer stops or :func:`run_training` returns."""
    global _stop_requested
    _stop_requested = True


class TrainingInterrupted(Exception):
    """Training stopped on request (:func:`request_stop`) at a step boundary after rank 0 wrote a ``signal``
    checkpoint; raised on every rank, and no record is written. Start the run again in the same folder to
    resume.

    Attributes:
        epoch: epochs completed at the checkpoint.
        step: steps done in the next epoch.
        global_step: training steps done in all.
    """

    def __init__(self, epoch: int, step: int, global_step: int):
        super().__init__(
            f"stopped on request with {epoch} epochs and {step} steps done (global step "
            f"{global_step}); checkpoint written, start the run again to resume"
        )
        self.epoch, self.step, self.global_step = epoch, step, global_step


#: Every this many steps a step times its phases. The timestamps wait for all gradients before the update
#: starts, which keeps the update from overlapping the backward pass: about 3 % of a one-worker step at
#: 256x320 (with several workers the allreduce waits for them anyway), so one step in 10 carries them.
PHASE_EVERY = 10


def check_topology(config: TrainConfig, topology: Topology) -> None:
    """Raise ``RuntimeError`` if the engine's view differs from the nodes/workers the run asked for."""
    for key in ("nodes", "workers_per_node"):
        wanted, seen = getattr(config.run, key), getattr(topology, key)
        if wanted is not None and seen != wanted:
            raise RuntimeError(
                f"asked for {key}={wanted}, but the workers see {seen} "
                f"(topology {topology.model_dump()}); check the launcher's task layout"
            )


class TrainingClock:
    """A run's training time in seconds, carried over its segments: the seconds at the checkpoint the segment
    resumed from, plus this segment's wall time since its training work started, less the time spent
    writing checkpoints."""

    def __init__(self, carried: float):
        self.carried, self.paused_seconds = carried, 0.0
        self.first: float | None = None

    def start(self, at: float) -> None:
        """Start at ``at`` (seconds since the epoch) unless already started."""
        if self.first is None:
            self.first = at

    @contextlib.contextmanager
    def paused(self):
        """Leave the block's wall time out (if the clock has started)."""
        begin = time.time()
        try:
            yield
        finally:
            if self.first is not None:
                self.paused_seconds += time.time() - begin

    def seconds(self) -> float:
        """The training time up to now, in seconds."""
        if self.first is None:
            return self.carried
        return self.carried + time.time() - self.first - self.paused_seconds


@dataclass
class Begin:
    """How a segment begins, as rank 0 decided: the resumed state (None: a fresh start), the random state
    and the resume event's fields known before the first step (for a resume), or where the weights of a
    fresh start came from."""

    state: RunState | None = None
    rng: dict | None = None
    resume: dict | None = None
    init_from: InitFrom | None = None

    def shared(self) -> Begin:
        """What the other ranks need: all but the step logs."""
        return dataclasses.replace(self, state=self.state and self.state.without_logs())


@contextlib.contextmanager
def log_to_file(path: Path | None):
    """While in the block, send this package's log lines (INFO and up) to ``path``, appending; the file is
    closed and detached afterwards. ``None``: no file (the ranks other than 0). A file that cannot be written
    (a full disk) says so once on stderr and takes no further line (:class:`benchmark.util.logfile.LogFile`)."""
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = LogFile(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%dT%H:%M:%S"))
    package = logging.getLogger("benchmark")
    package.addHandler(handler)
    package.setLevel(logging.INFO)
    try:
        yield
    finally:
        package.removeHandler(handler)
        handler.close()


class Trainer:
    """One worker's training run through ``engine`` (started: :meth:`benchmark.engines.base.Engine.start`):
    it builds the engine's model and input pipeline, then resumes from the run's own newest valid
    checkpoint, or starts from ``training.init_from``'s weights or the seeded ones (see :meth:`_start`).
    :meth:`run` returns the record on rank 0 (None elsewhere). ``mllog``: rank 0's MLPerf-style log of the
    segment (:mod:`benchmark.train.mllog`; opened here, truncated on a fresh start, appended to on a
    resume), disabled elsewhere and by default.

    Raises (when built):
        CheckpointError: the run's checkpoint is of another configuration or worker count, or
            ``init_from`` holds no valid checkpoint or one of another shape (on rank 0; the other ranks
            raise ``RuntimeError`` quoting it).
    """

    def __init__(
        self,
        config: TrainConfig,
        engine: Engine,
        started_at: float | None = None,
        mllog: RunLog | None = None,
        watchdog: Watchdog | None = None,
    ):
        self.config, self.engine = config, engine
        self.rank, self.size = engine.rank, engine.size
        # the stall watchdog (started by run_training); without one, steps are still measured for the stalls
        self.watch = watchdog or Watchdog(config.run_dir, self.rank, self.size, config.run)
        self.progress: ProgressWriter | None = None
        self.traced: set[bool] = set()  # the step variants (timed or not) called in this segment
        self.evaluated = False  # whether this segment evaluated (its first evaluation traces)
        engine.on_progress(self._tick)
        self.topology = Topology.of(engine.nodes, engine.local_size, config.run.local_batch_size)
        check_topology(config, self.topology)
        self.source = SOURCES[config.data.source]
        self.task = TASKS[self.source.task]
        lr = config.learning_rate
        peak = scaled_peak(
            lr.base_lr,
            self.size,
            config.run.local_batch_size,
            lr.max_lr,
            lr.max_global_batch_size,
            lr.reference_batch_size,
        )
        self.schedule = make_schedule(lr, peak, config.training.epochs)
        engine.build(config, self.task, self.schedule(0.0))
        self.folder = checkpoint_dir(config.run_dir)
        self.state, self.pending_resume = self._start(time.time() if started_at is None else started_at)
        self.clock = TrainingClock(self.state.training_seconds)
        self.step_log = StepLog(self.rank)  # this segment's timed steps since the last gather
        self.segment_steps, self.last_checkpoint, self.due_at_epoch_end = 0, time.monotonic(), False
        self.join_next = False  # whether the next timed step continues the previous one (same epoch, no checkpoint)
        self.val_outcomes: np.ndarray | None = None
        self.mllog = mllog or RunLog(None, 0.0)
        self.mllog.open(fresh=self.pending_resume is None)
        self.mllog.initialized(
            nodes=self.topology.nodes,
            workers_per_node=self.topology.workers_per_node,
            global_batch_size=self.topology.global_batch_size,
            seed=config.training.seed,
            train_samples=engine.train_images,
            eval_samples=engine.val_images,
            base_lr=peak,
            end_lr=lr.lr_end,
            warmup_epochs=lr.warmup_epochs,
            weight_decay=config.training.weight_decay,
        )

    def _from_rank0(self, work, name: str, share=lambda result: result):
        """``work()`` run on rank 0 only: rank 0 gets its result, the other ranks ``share(result)``
        (broadcast as ``name``). An exception in ``work`` is raised on every rank: the original on rank 0,
        a ``RuntimeError`` quoting it on the others."""
        result = error = None
        if self.rank == 0:
            try:
                result = work()
            except Exception as exc:  # every rank must leave the broadcast below, then raise
                error = exc
        outcome = None if self.rank else (None, f"{type(error).__name__}: {error}") if error else (share(result), None)
        shared, problem = self.engine.broadcast_object(outcome, f"rank0.{name}")
        if error is not None:
            raise error
        if problem is not None:
            raise RuntimeError(f"rank 0 failed: {problem}")
        return result if self.rank == 0 else shared

    def _start(self, started_at: float) -> tuple[RunState, dict | None]:
        """Where this segment starts, the same on every rank: rank 0 loads the run's own checkpoint
        (model, optimizer, position, random state) or ``init_from``'s model weights (see
        :meth:`_load_start`), then every variable is broadcast from rank 0. Returns the state and, for a
        resume, the resume event's fields known so far (completed at the segment's first step)."""
        begin = self._from_rank0(self._load_start, "start", Begin.shared)
        self.engine.broadcast_state()
        if begin.state is None:
            return RunState(
                started_at=utc_iso(started_at),
                initial_weights_sha256=self.engine.weights_digest(),
                init_from=begin.init_from,
            ), None
        restore_rng(begin.rng)
        return begin.state, begin.resume

    def _load_start(self) -> Begin:
        """Rank 0: the run's newest valid checkpoint loaded into the model and optimizer, or else a fresh
        start (from ``init_from`` if set). With checkpoints but none valid, the run starts from scratch
        (logged)."""
        latest = latest_checkpoint(self.folder)
        found = latest.checkpoint
        if found is None:
            if latest.skipped:
                log.warning("no usable checkpoint in %s: starting from the beginning", self.folder)
            return Begin(init_from=self._load_init_from())
        check_same_run(found, self.config, self.folder)
        st = found.state
        if len(st.step_logs) != self.size:
            raise CheckpointError(
                f"{self.folder / found.name}: written by {len(st.step_logs)} workers, this run "
                f"has {self.size}; run it with {len(st.step_logs)} workers to resume"
            )
        source = f"checkpoint {self.folder / found.name}"
        self.engine.load_model_state(found.model, source)
        self.engine.load_optimizer_state(found.optimizer, source)
        log.info(
            "resuming from %s (%s, written %s): %d epochs and %d steps done (global step %d)%s",
            found.name,
            found.reason,
            found.written_at,
            st.epoch,
            st.step,
            st.global_step,
            f"; skipped {len(latest.skipped)} newer checkpoint(s)" if latest.skipped else "",
        )
        resume = {
            "checkpoint": found.name,
            "epoch": st.epoch,
            "step": st.step,
            "global_step": st.global_step,
            "reason": found.reason,
            "written_at": found.written_at,
            "fell_back": bool(latest.skipped),
            "skipped": latest.skipped,
        }
        return Begin(state=st, rng=found.rng, resume=resume)

    def _load_init_from(self) -> InitFrom | None:
        """Rank 0: ``training.init_from``'s newest valid checkpoint's model weights loaded into the model
        (not the optimizer, not the position); None if unset.

        Raises:
            CheckpointError: that folder holds no valid checkpoint, or a variable's shape differs.
        """
        source = self.config.training.init_from
        if source is None:
            return None
        folder = checkpoint_dir(source)
        latest = latest_checkpoint(folder)
        found = latest.checkpoint
        if found is None:
            why = "; ".join(latest.skipped) or "is it the folder of a run (RUN_DIR)? runs write their checkpoints there"
            raise CheckpointError(f"training.init_from: {folder} holds no valid checkpoint ({why})")
        check_same_engine(found, self.config, f"training.init_from: {folder / found.name}")
        self.engine.load_model_state(found.model, f"training.init_from: {folder / found.name}")
        log.info(
            "initial weights from %s (%d epochs, global step %d)",
            folder / found.name,
            found.state.epoch,
            found.state.global_step,
        )
        return InitFrom(
            run_dir=source, checkpoint=found.name, epoch=found.state.epoch, global_step=found.state.global_step
        )

    def _requests(self) -> np.ndarray:
        """This rank's requests for the coming step, ``(2,)`` float32 (1 = asked): stop, and checkpoint now
        (``checkpoint_every_minutes`` passed since this rank's last checkpoint)."""
        minutes = self.config.training.checkpoint_every_minutes
        due = minutes is not None and time.monotonic() - self.last_checkpoint >= 60 * minutes
        return np.array([float(_stop_requested), float(due)], dtype=np.float32)

    def evaluate(self) -> dict:
        """The validation figures of the task (:meth:`benchmark.train.task.Task.figures`: top-1 and top-5 with their
        bootstrap intervals, or the per-class AUROC and its mean) and the mean validation loss, over every
        worker's shard of the validation set, from one allgather of every image's outcome. The outcomes are
        kept in ``self.val_outcomes`` ((N, columns) float64, :meth:`benchmark.train.task.Task.outcomes`) for the
        record's per-field accuracy."""
        everyone = self.engine.allgather_object(self.engine.evaluate(), "gather.validation")
        self.val_outcomes = np.concatenate([table for _, table in everyone if len(table)])
        figures = self.task.figures(self.val_outcomes, self.source.class_names, self.config.training.seed)
        return {"val_loss": sum(part for part, _ in everyone) / len(self.val_outcomes), **figures}

    def run(self, threads: Threads, peaks: KernelPeaks | None = None) -> RunRecord | None:
        """Train from where the run stands up to ``training.epochs`` epochs; returns the completed record on
        rank 0 (its analytic section held against rank 0's node ``peaks``, :mod:`benchmark.microbench.peak`), None on
        other ranks.

        Raises:
            TrainingInterrupted: on every rank, once a stop was requested and the checkpoint written.
            FloatingPointError: the training loss became NaN or infinite (on every rank at the same step).
            CheckpointError: rank 0 could not write a checkpoint (the other ranks raise ``RuntimeError``).
        """
        st = self.state
        progress = self.progress = (
            ProgressWriter(self.config.run_dir, self.config.training.epochs, self.engine.steps_per_epoch)
            if self.rank == 0
            else None
        )
        self.mllog.run_start(self.pending_resume)
        while st.epoch < self.config.training.epochs:
            self.mllog.epoch_start(st.epoch + 1, st.step)
            steps_here = self._train_epoch(progress)
            self._end_epoch(progress, steps_here)
        return self._gather_record(threads, peaks)

    def _train_epoch(self, progress: ProgressWriter | None) -> StepLog:
        """Train the rest of epoch ``state.epoch`` (its batches already trained are skipped); returns this
        rank's steps of it run in this segment."""
        engine, st, steps, here = self.engine, self.state, self.engine.steps_per_epoch, StepLog(self.rank)
        epoch, self.join_next = st.epoch, False
        waited = time.time()
        for x, y in engine.train_batches(epoch, st.step):
            fetched = time.time()
            rate = self.schedule(epoch + st.step / steps)
            engine.set_learning_rate(rate)
            requests = self._requests()
            timed = st.global_step % PHASE_EVERY == 0
            self.watch.expect("training", tracing=timed not in self.traced)  # a variant's first call traces
            start = time.time()
            result = engine.train_step(x, y, requests, timed=timed)
            self.traced.add(timed)
            loss = result.loss
            end = time.time()
            if not math.isfinite(loss):
                raise FloatingPointError(
                    f"the training loss became {loss} at epoch {epoch + 1}, step {st.step + 1} "
                    f"(learning rate {rate:.4g}); the run diverged: lower "
                    "learning_rate.base_lr or lengthen the warm-up"
                )
            self._segment_work_starts(start)
            images = engine.batch_images(y)
            self._time_step(start, end, images, tuple(np.diff(result.stamps)), fetched - waited)
            here.add(start, end, images)
            st.loss_sum, st.step, st.global_step = st.loss_sum + loss, st.step + 1, st.global_step + 1
            self._note_stall(self.watch.step_done(epoch + 1, st.step, st.global_step))
            if progress:
                progress.update(epoch + 1, st.step)
            self._act_on_requests(*result.agreed.tolist())
            waited = time.time()
        return here

    def _note_stall(self, stall: Stall | None) -> None:
        """Rank 0 keeps a stall in the run's state (every rank's watchdog tells its own) and logs it."""
        if stall is None or self.rank != 0:
            return
        self.state.stalls.append(stall)
        log.warning(
            "stall: %.1f s from %s to the end of epoch %d, step %d (threshold %.1f s)",
            stall.seconds,
            stall.began_at,
            stall.epoch,
            stall.step,
            stall.threshold_seconds,
        )

    def _tick(self) -> None:
        """The engine finished a piece of work outside a step (a validation batch): tell the watchdog, and the
        sweep driver through the progress file."""
        self.watch.tick()
        if self.progress:
            self.progress.touch()

    def _act_on_requests(self, stop: bool, due: bool) -> None:
        """After a step, what every rank agreed in its allreduce: ``stop`` (some rank was asked to) writes a
        ``signal`` checkpoint and raises :class:`TrainingInterrupted`; ``due`` (some rank's
        ``checkpoint_every_minutes`` passed) writes a ``periodic`` one, or leaves it to the epoch's end
        when this was the epoch's last step."""
        global _stop_requested
        st = self.state
        if stop:
            self._checkpoint("signal")
            _stop_requested = False
            raise TrainingInterrupted(st.epoch, st.step, st.global_step)
        last_of_epoch = st.step == self.engine.steps_per_epoch
        if due and not last_of_epoch:
            self._checkpoint("periodic")
        self.due_at_epoch_end |= due and last_of_epoch

    def _time_step(
        self, start: float, end: float, images: int, phases: tuple[float, float, float], input_wait: float
    ) -> None:
        """Log a step for the throughput (its call from ``start`` to ``end``, its ``phases``: compute, allreduce
        and optimizer seconds, and the ``input_wait`` before it) unless it is among this segment's first
        ``warmup_steps``; it joins the previous timed step unless an epoch began or a checkpoint was written
        between them."""
        if self.segment_steps >= self.config.training.warmup_steps:
            self.step_log.add(start, end, images, phases, input_wait, joined=self.join_next)
            self.join_next = True
        self.segment_steps += 1

    def _segment_work_starts(self, at: float) -> None:
        """Note that this segment trains (or evaluates) at ``at`` (seconds since the epoch): the first call
        starts the training clock and completes a resume's event."""
        self.clock.start(at)
        if self.pending_resume is not None:
            lost = at - iso_seconds(self.pending_resume["written_at"])
            self.state.resumes.append(ResumeEvent(**self.pending_resume, resumed_at=utc_iso(at), lost_seconds=lost))
            self.pending_resume = None

    def _end_epoch(self, progress: ProgressWriter | None, steps_here: StepLog) -> None:
        """Evaluate, add the epoch's row, and checkpoint if due (``final`` after the last epoch)."""
        st, training = self.state, self.config.training
        self._segment_work_starts(time.time())
        self.mllog.epoch_stop(st.epoch + 1)
        figures = {
            "epoch": st.epoch + 1,
            "learning_rate": self.schedule(st.epoch),
            "train_loss": st.loss_sum / self.engine.steps_per_epoch,
        }
        if self.engine.has_validation:
            self.mllog.eval_start(st.epoch + 1)
            self.watch.expect("evaluation", tracing=not self.evaluated)
            figures.update(self.evaluate())
            self.evaluated = True
            self.watch.tick()
            self.mllog.eval_stop(st.epoch + 1, figures[self.task.main_metric])
        row = Epoch(**figures, elapsed_seconds=self.clock.seconds())
        st.epochs.append(row)
        st.epoch, st.step, st.loss_sum = st.epoch + 1, 0, 0.0
        if progress:
            progress.epoch_done(row.model_dump())
            self._log_epoch(row, steps_here)
        every = training.checkpoint_every_epochs
        if st.epoch == training.epochs:
            self._checkpoint("final")
        elif self.due_at_epoch_end or (every is not None and st.epoch % every == 0):
            self._checkpoint("periodic")

    def _checkpoint(self, reason: Reason) -> None:
        """Checkpoint the run; a collective, called by every rank at the same step. Every rank's new timed
        steps and peak memory go to rank 0, which writes; the ranks leave together, so the writing is in
        no step's throughput window, and it is left out of the training time.

        Raises:
            CheckpointError, OSError: rank 0 could not write (the other ranks raise ``RuntimeError``).
        """
        self.state.training_seconds = self.clock.seconds()
        self.watch.expect("checkpoint")
        with self.clock.paused():
            self._gather()
            self._from_rank0(lambda: self._write_checkpoint(reason), f"checkpoint.{reason}", lambda path: None)
        self.watch.tick()
        self.last_checkpoint, self.due_at_epoch_end, self.join_next = time.monotonic(), False, False

    def _write_checkpoint(self, reason: Reason) -> Path:
        """Rank 0: write the run's checkpoint; returns the manifest's path."""
        st, model, optimizer = self.state, self.engine.model_state(), self.engine.optimizer_state()
        checkpoint = Checkpoint(
            state=st,
            model=model.values,
            model_paths=model.paths,
            optimizer=optimizer.values,
            optimizer_paths=optimizer.paths,
            rng=rng_state(),
            fingerprint=self.config.fingerprint(),
            settings=self.config.fingerprinted(),
            reason=reason,
        )
        path = write_checkpoint(self.folder, checkpoint)
        log.info(
            "checkpoint %s (%s): %d epochs and %d steps done (global step %d)%s",
            path.name,
            reason,
            st.epoch,
            st.step,
            st.global_step,
            "; stopping as requested" if reason == "signal" else "",
        )
        return path

    def _gather(self, **extra) -> list[dict] | None:
        """Collective: every rank's timed steps since the last gather and its peak memory (bytes; on GPUs its
        GPU's too, :meth:`Engine.device_peak_memory`) go to rank 0, which adds them to the run's state. Returns
        every rank's dict (with ``extra``), by rank, on rank 0; None elsewhere."""
        mine = {
            "rank": self.rank,
            "log": self.step_log,
            "peak_rss": peak_rss_bytes(),
            "device_peak": self.engine.device_peak_memory(),
            "pauses": list(self.watch.pauses),
            **extra,
        }
        everyone = sorted(self.engine.allgather_object(mine, "gather.steps"), key=lambda r: r["rank"])
        self.step_log = StepLog(self.rank)
        if self.rank != 0:
            return None
        st = self.state
        if not st.step_logs:
            st.step_logs, st.peak_rss = [StepLog(r["rank"]) for r in everyone], [0] * len(everyone)
        for r in everyone:
            st.step_logs[r["rank"]].extend(r["log"])
            st.peak_rss[r["rank"]] = max(st.peak_rss[r["rank"]], r["peak_rss"])
        if all(r["device_peak"] is not None for r in everyone):
            if len(st.device_peak_reserved) != len(everyone):
                st.device_peak_reserved, st.device_peak_allocated = [0] * len(everyone), [0] * len(everyone)
            for r in everyone:
                reserved, allocated = r["device_peak"]
                st.device_peak_reserved[r["rank"]] = max(st.device_peak_reserved[r["rank"]], reserved)
                st.device_peak_allocated[r["rank"]] = max(st.device_peak_allocated[r["rank"]], allocated)
        # the ranks whose own watchdog saw them paused during a stall (give or take one heartbeat)
        st.stalls = attribute(st.stalls, {r["rank"]: r["pauses"] for r in everyone}, self.config.run.heartbeat_seconds)
        return everyone

    def _log_epoch(self, row: Epoch, steps_here: StepLog) -> None:
        """Rank 0's line for an epoch: loss, top-1, rate and the images/s of the epoch's training steps in this
        segment (the images of all ranks over the wall time from its first step's start to its last step's
        end, input waits included; "-" if none ran in this segment)."""
        value = getattr(row, self.task.main_metric)
        main = "-" if value is None else f"{value:.3f}"
        rate = "-"
        if len(steps_here):
            seconds = steps_here.end[-1] - steps_here.start[0]
            rate = f"{self.topology.global_batch_size * len(steps_here) / seconds:.1f}"
        log.info(
            "epoch %d/%d: train loss %.4f, %s %s, %s images/s, lr %.4g",
            row.epoch,
            self.config.training.epochs,
            row.train_loss,
            self.task.label,
            main,
            rate,
            row.learning_rate,
        )

    def _gather_record(self, threads: Threads, peaks: KernelPeaks | None) -> RunRecord | None:
        self._segment_work_starts(time.time())  # a resume that found nothing left to train
        self.watch.expect("record")
        engine = self.engine
        everyone = self._gather(host=hostname(), digest=engine.weights_digest(), gpu=engine.gpu())
        if everyone is None:  # not rank 0
            return None
        st, config, info = self.state, self.config, engine.info()
        training = config.training
        provenance = Provenance(
            **host_facts(),
            started_at=st.started_at,
            finished_at=utc_iso(),
            hostnames=[r["host"] for r in everyone],
            threads=threads,
            # the Horovod engine's backend is a controller (Provenance validates it)
            horovod_controller=cast(HorovodController, info.backend) if info.name == "horovod" else None,
            engine=info,
            gpus=[r["gpu"] for r in everyone] if all(r["gpu"] is not None for r in everyone) else None,
            train_images=engine.train_images,
            val_images=engine.val_images,
            steps_per_epoch=engine.steps_per_epoch,
        )
        throughput = global_throughput(st.step_logs, training.warmup_steps, segments=1 + len(st.resumes))
        memory = Memory.of(st.peak_rss, st.device_peak_reserved, st.device_peak_allocated)
        return RunRecord(
            sweep=config.run.sweep,
            run_id=config.run.run_id,
            status="completed",
            config=config,
            fingerprint=config.fingerprint(),
            topology=self.topology,
            provenance=provenance,
            throughput=throughput,
            memory=memory,
            epochs=st.epochs,
            time_to_train=time_to_train(
                st.epochs, getattr(training, self.task.target_setting), training.target_top5, self.task.main_metric
            ),
            validation=None
            if self.task.multi_label
            else validation_section(self.val_outcomes, engine.val_fields, config.data.split == "paper"),
            analytic=analytic_figures(config, self.topology, throughput, memory, peaks)
            if MODELS[config.model.name].analytic
            else None,
            resumes=Resumes.of(st.resumes),
            stalls=st.stalls,
            scheduler=scheduler_job(),
            model=ModelInfo(
                parameters=engine.parameter_count(),
                initial_weights_sha256=st.initial_weights_sha256,
                final_weights_sha256_per_rank=[r["digest"] for r in everyone],
                init_from=st.init_from,
            ),
        )


def run_training(config: TrainConfig) -> RunRecord | None:
    """Run one training run as one worker of its engine (``run.engine``); rank 0 writes
    ``config.run_dir/record.json``, logs one line per epoch to ``config.run_dir/train.log`` and writes the
    MLPerf-style log ``config.run_dir/mllog.log`` (:mod:`benchmark.train.mllog`: ``run_stop`` ``success`` once
    the run completed, ``aborted`` when it fails or is stopped). With a valid checkpoint of the same configuration in
    ``config.run_dir/checkpoints``, the run resumes from it (see :class:`Trainer`).

    One writer per run folder (:mod:`benchmark.train.run_lock`): before it writes anything there, rank 0
    takes the run's lock (``config.run_dir/run.lock``), unless the launcher holds it for its workers
    (:data:`~benchmark.train.run_lock.TOKEN_VAR`), and holds it until it returns. Refused, it writes nothing
    (no log line, record, checkpoint or progress) and every rank raises the refusal: a single worker at
    once, several after rank 0 broadcast it once their engine started.

    Returns the record on rank 0 and None on the other ranks.

    Every rank runs a stall watchdog (:mod:`benchmark.train.watchdog`) once the ranks agreed on the lock:
    when it trips, the first rank to trip records the run as failed, naming the ranks that stopped
    answering, and ends its process (exit status :data:`benchmark.train.watchdog.TRIP_EXIT_STATUS`).

    Raises:
        RunLocked: on every rank, when another process holds the run's folder (nothing written).
        RunLockError: on every rank, when the folder cannot be locked (nothing written).
        TrainingInterrupted: on every rank, when :func:`request_stop` stopped the run (checkpoint written,
            no record).
        Exception: any other, recorded by rank 0 as a failed run (with its traceback; unless the watchdog
            recorded the failure first) and then raised again.
    """
    global _stop_requested
    rank0, started = launcher_rank() == 0, time.time()
    lock = RunLock(config.run_dir, config.run.run_id, os.environ.get(TOKEN_VAR)) if rank0 else None
    refusal: RunLockError | None = None
    try:
        if lock is not None:
            try:
                lock.acquire()
            except RunLockError as exc:
                if launcher_size() == 1:  # no other rank to tell: raised before the engine starts
                    raise
                refusal = exc
        return _run_training(config, started, rank0, refusal)
    finally:
        _stop_requested = False
        if lock is not None:
            lock.release()


def _agree_on_lock(engine: Engine, refusal: RunLockError | None) -> None:
    """Collective: rank 0's ``refusal`` of the run's lock (None: it may write) raised on every rank."""
    shared = engine.broadcast_object(None if refusal is None else refusal.shared(), "rank0.run_lock")
    if refusal is not None:
        raise refusal
    if shared is not None:
        raise RunLockError.from_shared(shared)


def _run_training(config: TrainConfig, started: float, rank0: bool, refusal: RunLockError | None) -> RunRecord | None:
    """:func:`run_training` once rank 0 holds the lock or was refused it (``refusal``, rank 0 only): rank 0
    writes only when it was not refused, and the watchdog starts only once the ranks agreed that it may."""
    writer = rank0 and refusal is None
    mllog = RunLog(config.run_dir if writer else None, started)
    engine: Engine | None = None
    watchdog: Watchdog | None = None
    with log_to_file(config.run_dir / LOG_NAME if writer else None):
        try:
            engine = engine_class(config.run.engine).start(config)
            threads = engine.configure_threads(config)  # before any collective: TensorFlow fixes its threads then
            _agree_on_lock(engine, refusal)
            watchdog = Watchdog(
                config.run_dir,
                engine.rank,
                engine.size,
                config.run,
                on_trip=partial(_record_trip, config, started, mllog if rank0 else None),
                since=started,
            ).start()
            # the peaks are held against the analytic model's FLOPs: no other model needs them measured
            peaks = engine.kernel_peaks(config, threads) if MODELS[config.model.name].analytic else None
            log.info(
                "run %s/%s: rank %d of %d starting (%s engine)",
                config.run.sweep,
                config.run.run_id,
                engine.rank,
                engine.size,
                engine.name,
            )
            record = Trainer(config, engine, started, mllog, watchdog).run(threads, peaks)
            if record is not None:
                assert (
                    record.epochs is not None and record.throughput is not None and record.time_to_train is not None
                ), "a completed record has these sections"
                mllog.stop(SUCCESS, epoch_num=len(record.epochs))
                record.write(config.run_dir)
                log.info(
                    "run %s: %.1f images/s; %s",
                    config.run.run_id,
                    record.throughput.images_per_second,
                    f"TTT {record.time_to_train.seconds:.1f} s"
                    if record.time_to_train.seconds is not None
                    else record.time_to_train.reason,
                )
            return record
        except TrainingInterrupted as exc:
            if watchdog:
                watchdog.stop()
            if writer:
                log.info("run %s: %s", config.run.run_id, exc)
                mllog.abort(f"stopped on request: {exc}", epochs_done=exc.epoch, step=exc.step)
            raise
        except RunLockError:
            raise
        except Exception as exc:
            if refusal is not None:  # rank 0, refused, whose engine failed before it could tell the others
                raise refusal from exc
            if watchdog:
                watchdog.stop(f"{FAILED} ({type(exc).__name__})")  # named by the others' reasons
            if writer:
                reason = failure_reason(config, exc, engine, started)
                log.error("run %s failed: %s", config.run.run_id, reason)
                if claim_failure(config.run_dir, started):
                    failure = Failure.of_exception(exc).model_copy(update={"reason": reason})
                    try:  # on a full disk the record may not fit either: the run's own error is the one raised
                        RunRecord.failed(config, failure, scheduler=scheduler_job()).write(config.run_dir)
                    except OSError as problem:
                        log.error("run %s: could not record the failure: %s", config.run.run_id, problem)
                else:
                    log.error("run %s: the watchdog recorded the failure first; its record is kept", config.run.run_id)
                mllog.abort(reason)
            else:
                await_record(config.run_dir, started)
            raise
        finally:
            if watchdog:
                watchdog.stop()
            mllog.close()


def failure_reason(config: TrainConfig, exc: BaseException, engine: Engine | None, started: float) -> str:
    """Why rank 0's run failed with ``exc``: the engine's reason (:meth:`Engine.failure_reason`: the cause of a
    framework's wrapped error), with, on its first line, the ranks whose heartbeat is stale (a stopped rank
    shows as a collective's timeout or shutdown on the others)."""
    reason = engine.failure_reason(exc) if engine else f"{type(exc).__name__}: {exc}"
    stale = (
        stale_ranks(config.run_dir, engine.size, config.run.heartbeat_seconds, time.time(), started, engine.rank)
        if engine and engine.size > 1
        else []
    )
    if not stale:
        return reason
    first, *rest = reason.split("\n", 1)
    return "\n".join([f"{first} [watchdog: {'; '.join(stale)}]", *rest])


def _record_trip(config: TrainConfig, started: float, mllog: RunLog | None, reason: str, where: str) -> None:
    """The watchdog tripped on this rank: record the run as failed with ``reason`` unless another process of the
    segment claimed its failure first (:func:`benchmark.train.watchdog.claim_failure`); rank 0 (``mllog``) also
    logs it and ends its MLPerf-style log."""
    if claim_failure(config.run_dir, started):
        RunRecord.failed(config, Failure(reason=reason, traceback=where), scheduler=scheduler_job()).write(
            config.run_dir
        )
    if mllog is not None:
        log.error("run %s failed: %s", config.run.run_id, reason)
        mllog.abort(reason)
        mllog.close()


def await_record(run_dir: Path, since: float, seconds: float = RECORD_WAIT_SECONDS) -> bool:
    """Wait until rank 0 has written a record in ``run_dir`` after ``since`` (seconds since the epoch), at most
    ``seconds``; returns whether it did. A failing rank other than 0 waits before it exits, because the
    launcher (horovodrun, or srun with --kill-on-bad-exit) kills the other ranks when the first one exits:
    a failure that every rank meets at once (a divergence, bad data) must not cost rank 0 its record."""
    path, deadline = record_path(run_dir), time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_mtime >= since:
            return True
        time.sleep(0.1)
    return False
