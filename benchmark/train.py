"""The Horovod M-CNN trainer (Datta et al. 2019, sec. 3): what every worker of a run executes.

A custom training step with ``tf.GradientTape`` whose gradients, and the loss with them, are averaged over
all workers in one ``hvd.grouped_allreduce`` (``horovod.tensorflow.keras`` does not work with Keras 3), so
that every worker sees the same loss and a diverging run stops on all of them at once; variables broadcast
from rank 0 at the start, momentum SGD with L2 weight decay, softmax cross-entropy, and the warm-up +
polynomial-decay learning rate of :mod:`benchmark.schedule`. Rank 0 gathers every rank's figures and
writes the run record.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import time
from pathlib import Path

import numpy as np

from benchmark.config import TrainConfig
from benchmark.metrics import StepLog, global_throughput, time_to_train
from benchmark.model import build_mcnn
from benchmark.progress import ProgressWriter
from benchmark.provenance import host_facts, hostname, peak_rss_bytes, slurm_job
from benchmark.record import Epoch, Failure, Memory, ModelInfo, Provenance, RunRecord, Threads, Topology, record_path
from benchmark.schedule import LearningRateSchedule, scaled_peak

log = logging.getLogger(__name__)
#: The training log rank 0 writes in the run's folder: one line per epoch.
LOG_NAME = "train.log"
#: Seconds a failing rank other than 0 waits for rank 0's record before it exits (see :func:`await_record`).
RECORD_WAIT_SECONDS = 30.0


def configure_threads(config: TrainConfig, local_size: int) -> Threads:
    """Set TensorFlow's intra-/inter-op threads for one worker; returns the settings for the record.

    By default the cores this process may run on (its affinity mask: SLURM's binding, or the whole
    machine) are split evenly between the ``local_size`` workers of the node.
    """
    import tensorflow as tf

    cores = len(os.sched_getaffinity(0))
    shared = cores < (os.cpu_count() or cores)
    intra = config.run.intra_op_threads or max(1, cores if shared else cores // local_size)
    inter = config.run.inter_op_threads or 1
    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)
    return Threads(intra_op=intra, inter_op=inter, omp_num_threads=os.environ.get("OMP_NUM_THREADS"),
                   affinity_cores=cores)


def weights_digest(model) -> str:
    """SHA-256 of all of ``model``'s weights (their float32 bytes, in layer order): equal on every worker
    exactly when the workers hold bit-identical models."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()


def check_topology(config: TrainConfig, topology: Topology) -> None:
    """Raise ``RuntimeError`` if Horovod's view differs from the nodes/workers the run asked for."""
    for key in ("nodes", "workers_per_node"):
        wanted, seen = getattr(config.run, key), getattr(topology, key)
        if wanted is not None and seen != wanted:
            raise RuntimeError(f"asked for {key}={wanted}, but Horovod sees {seen} "
                               f"(topology {topology.model_dump()}); check the launcher's task layout")


@contextlib.contextmanager
def log_to_file(path: Path | None):
    """While in the block, send this package's log lines (INFO and up) to ``path``, appending; the file is
    closed and detached afterwards. ``None``: no file (the ranks other than 0)."""
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
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
    """One worker's training run. Build it after ``hvd.init()``; :meth:`run` returns the record on rank 0
    (None elsewhere)."""

    def __init__(self, config: TrainConfig, hvd):
        import keras
        import tensorflow as tf

        from benchmark.pipeline import make_pipelines

        self.config, self.hvd, self.tf = config, hvd, tf
        self.rank, self.size = hvd.rank(), hvd.size()
        self.topology = Topology.of(hvd.cross_size(), hvd.local_size(), config.run.local_batch_size)
        check_topology(config, self.topology)
        keras.utils.set_random_seed(config.training.seed)
        self.pipes = make_pipelines(config, self.rank, self.size)
        self.model = build_mcnn(*config.data.image_size, 3, config.data.num_classes)
        lr = config.learning_rate
        peak = scaled_peak(lr.base_lr, self.size, config.run.local_batch_size, lr.max_lr, lr.max_global_batch_size)
        self.schedule = LearningRateSchedule(lr.lr_start, peak, lr.lr_end, lr.warmup_epochs,
                                             config.training.epochs, lr.power)
        self.optimizer = keras.optimizers.SGD(learning_rate=self.schedule(0.0), momentum=config.training.momentum)
        self.optimizer.build(self.model.trainable_variables)
        self._broadcast_from_rank0()
        self.initial_digest = weights_digest(self.model)
        self.train_step = self._make_train_step()
        self.predict = tf.function(lambda x: self.model(x, training=False))

    def _broadcast_from_rank0(self) -> None:
        for i, var in enumerate(self.model.variables + self.optimizer.variables):
            var.assign(self.hvd.broadcast(var.value, root_rank=0, name=f"broadcast.{i}"))

    def _make_train_step(self):
        tf, hvd, model, optimizer = self.tf, self.hvd, self.model, self.optimizer
        kernels = [v for v in model.trainable_variables if v.path.endswith("kernel")]
        weight_decay = self.config.training.weight_decay

        @tf.function
        def step(x, y):
            with tf.GradientTape() as tape:
                logits = model(x, training=True)
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
                l2 = tf.add_n([tf.nn.l2_loss(k.value) for k in kernels])
                total = loss + weight_decay * l2
            grads = tape.gradient(total, model.trainable_variables)
            *grads, mean_loss = hvd.grouped_allreduce([*grads, loss], op=hvd.Average)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return mean_loss

        return step

    def _sum_over_ranks(self, values: list[float]) -> np.ndarray:
        tensor = self.tf.constant(values, dtype=self.tf.float64)
        return self.hvd.allreduce(tensor, op=self.hvd.Sum).numpy()

    def evaluate(self) -> dict:
        """Validation loss and top-1/top-5 (fractions) over every worker's shard of the validation set."""
        tf = self.tf
        loss = top1 = top5 = count = 0.0
        for x, y in self.pipes.validation:
            logits = self.predict(x)
            loss += float(tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)))
            top1 += float(tf.reduce_sum(tf.cast(tf.math.in_top_k(y, logits, 1), tf.float64)))
            top5 += float(tf.reduce_sum(tf.cast(tf.math.in_top_k(y, logits, 5), tf.float64)))
            count += int(y.shape[0])
        loss, top1, top5, count = self._sum_over_ranks([loss, top1, top5, count])
        return {"val_loss": loss / count, "val_top1": top1 / count, "val_top5": top5 / count}

    def run(self, threads: Threads) -> RunRecord | None:
        """Train ``training.epochs`` epochs; returns the completed record on rank 0, None on other ranks."""
        epochs_total, steps = self.config.training.epochs, self.pipes.steps_per_epoch
        progress = ProgressWriter(self.config.run_dir, epochs_total, steps) if self.rank == 0 else None
        step_log, epochs, first_step, global_step = StepLog(self.rank), [], None, 0
        for epoch in range(epochs_total):
            epoch_lr, loss_sum, epoch_start = self.schedule(epoch), 0.0, None
            for i, (x, y) in enumerate(self.pipes.train(epoch)):
                self.optimizer.learning_rate.assign(self.schedule(epoch + i / steps))
                start = time.time()
                loss = float(self.train_step(x, y))
                end = time.time()
                if not math.isfinite(loss):
                    raise FloatingPointError(f"the training loss became {loss} at epoch {epoch + 1}, step {i + 1} "
                                             f"(learning rate {self.schedule(epoch + i / steps):.4g}); the run "
                                             "diverged: lower learning_rate.base_lr or lengthen the warm-up")
                loss_sum += loss
                first_step, epoch_start = first_step or start, epoch_start or start
                if global_step >= self.config.training.warmup_steps:
                    step_log.add(start, end, int(y.shape[0]))
                global_step += 1
                if progress:
                    progress.update(epoch + 1, i + 1)
            training_seconds = end - epoch_start
            row = {"epoch": epoch + 1, "learning_rate": epoch_lr, "train_loss": loss_sum / steps}
            if self.pipes.validation is not None:
                row.update(self.evaluate())
            row = Epoch(**row, elapsed_seconds=time.time() - first_step)
            epochs.append(row)
            if progress:
                progress.epoch_done(row.model_dump())
                self._log_epoch(row, training_seconds)
        return self._gather_record(step_log, epochs, threads)

    def _log_epoch(self, row: Epoch, training_seconds: float) -> None:
        """Rank 0's line for an epoch: loss, top-1, rate and the images/s of the epoch's training steps (the
        images of all ranks over the wall time from its first step's start to its last step's end, input
        waits included)."""
        images = self.topology.global_batch_size * self.pipes.steps_per_epoch
        top1 = "-" if row.val_top1 is None else f"{row.val_top1:.3f}"
        log.info("epoch %d/%d: train loss %.4f, val top-1 %s, %.1f images/s, lr %.4g", row.epoch,
                 self.config.training.epochs, row.train_loss, top1, images / training_seconds, row.learning_rate)

    def _gather_record(self, step_log: StepLog, epochs: list[Epoch], threads: Threads) -> RunRecord | None:
        mine = {"rank": self.rank, "host": hostname(), "log": step_log, "peak_rss": peak_rss_bytes(),
                "digest": weights_digest(self.model)}
        everyone = sorted(self.hvd.allgather_object(mine), key=lambda r: r["rank"])
        if self.rank != 0:
            return None
        rss = [r["peak_rss"] for r in everyone]
        provenance = Provenance(
            **host_facts(), hostnames=[r["host"] for r in everyone], threads=threads,
            horovod_controller="mpi" if self.hvd.mpi_enabled() else "gloo", train_images=self.pipes.train_images,
            val_images=self.pipes.val_images, steps_per_epoch=self.pipes.steps_per_epoch)
        return RunRecord(
            sweep=self.config.run.sweep, run_id=self.config.run.run_id, status="completed", config=self.config,
            topology=self.topology, provenance=provenance,
            throughput=global_throughput([r["log"] for r in everyone], self.config.training.warmup_steps),
            memory=Memory(peak_rss_bytes_per_rank=rss, peak_rss_bytes_max=max(rss)),
            epochs=epochs, time_to_train=time_to_train(epochs, self.config.training.target_top1), slurm=slurm_job(),
            model=ModelInfo(parameters=self.model.count_params(), initial_weights_sha256=self.initial_digest,
                            final_weights_sha256_per_rank=[r["digest"] for r in everyone]),
        )


def launcher_rank() -> int:
    """This process's rank as the launcher set it (Horovod/Gloo, Open MPI, PMIx or SLURM), 0 if none."""
    for var in ("HOROVOD_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID"):
        if var in os.environ:
            return int(os.environ[var])
    return 0


def run_training(config: TrainConfig) -> RunRecord | None:
    """Run one training run as one Horovod worker; rank 0 writes ``config.run_dir/record.json`` and logs
    one line per epoch to ``config.run_dir/train.log``.

    Returns the record on rank 0 and None on the other ranks. Any exception is recorded by rank 0 as a
    failed run (with its traceback) and then raised again.
    """
    rank0, started = launcher_rank() == 0, time.time()
    with log_to_file(config.run_dir / LOG_NAME if rank0 else None):
        try:
            import horovod.tensorflow as hvd

            hvd.init()
            threads = configure_threads(config, hvd.local_size())
            log.info("run %s/%s: rank %d of %d starting", config.run.sweep, config.run.run_id, hvd.rank(),
                     hvd.size())
            record = Trainer(config, hvd).run(threads)
            if record is not None:
                record.write(config.run_dir)
                log.info("run %s: %.1f images/s; %s", config.run.run_id, record.throughput.images_per_second,
                         f"TTT {record.time_to_train.seconds:.1f} s" if record.time_to_train.seconds is not None
                         else record.time_to_train.reason)
            return record
        except Exception as exc:
            if rank0:
                log.error("run %s failed: %s: %s", config.run.run_id, type(exc).__name__, exc)
                RunRecord.failed(config, Failure.of_exception(exc), slurm=slurm_job()).write(config.run_dir)
            else:
                await_record(config.run_dir, started)
            raise


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
