"""The Horovod M-CNN trainer (Datta et al. 2019, sec. 3): what every worker of a run executes.

A custom training step with ``tf.GradientTape`` whose gradients are averaged over all workers with
``hvd.grouped_allreduce`` (``horovod.tensorflow.keras`` does not work with Keras 3), variables broadcast
from rank 0 at the start, momentum SGD with L2 weight decay, softmax cross-entropy, and the warm-up +
polynomial-decay learning rate of :mod:`benchmark.schedule`. Rank 0 gathers every rank's figures and
writes the run record.
"""
from __future__ import annotations

import hashlib
import os
import time

import numpy as np

from benchmark.config import TrainConfig
from benchmark.measure import StepLog, global_throughput
from benchmark.model import build_mcnn
from benchmark.progress import ProgressWriter
from benchmark.provenance import host_facts, hostname, peak_rss_bytes, slurm_job
from benchmark.record import exception_failure, new_record, time_to_train, write_failure, write_record
from benchmark.schedule import LearningRateSchedule, scaled_peak


def configure_threads(config: TrainConfig, local_size: int) -> dict:
    """Set TensorFlow's intra-/inter-op threads for one worker; returns the settings for the record.

    By default the cores this process may run on (its affinity mask: SLURM's binding, or the whole
    machine) are split evenly between the ``local_size`` workers of the node.
    """
    import tensorflow as tf

    cores = len(os.sched_getaffinity(0))
    shared = cores < (os.cpu_count() or cores)
    intra = config.intra_op_threads or max(1, cores if shared else cores // local_size)
    inter = config.inter_op_threads or 1
    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)
    return {"intra_op": intra, "inter_op": inter, "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "affinity_cores": cores}


def weights_digest(model) -> str:
    """SHA-256 of all of ``model``'s weights (their float32 bytes, in layer order): equal on every worker
    exactly when the workers hold bit-identical models."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()


def check_topology(config: TrainConfig, topology: dict) -> None:
    """Raise ``RuntimeError`` if Horovod's view differs from the nodes/workers the run asked for."""
    for key in ("nodes", "workers_per_node"):
        wanted = getattr(config, key)
        if wanted is not None and topology[key] != wanted:
            raise RuntimeError(f"asked for {key}={wanted}, but Horovod sees {topology[key]} "
                               f"(topology {topology}); check the launcher's task layout")


class Trainer:
    """One worker's training run. Build it after ``hvd.init()``; :meth:`run` returns the record on rank 0
    (None elsewhere)."""

    def __init__(self, config: TrainConfig, hvd):
        import keras
        import tensorflow as tf

        from benchmark.pipeline import make_pipelines

        self.config, self.hvd, self.tf = config, hvd, tf
        self.rank, self.size = hvd.rank(), hvd.size()
        self.topology = {
            "nodes": hvd.cross_size(), "workers_per_node": hvd.local_size(), "workers": self.size,
            "local_batch_size": config.local_batch_size,
            "global_batch_size": config.local_batch_size * self.size,
        }
        check_topology(config, self.topology)
        keras.utils.set_random_seed(config.seed)
        self.pipes = make_pipelines(config, self.rank, self.size)
        self.model = build_mcnn(*config.image_size, 3, config.num_classes)
        peak = scaled_peak(config.base_lr, self.size, config.local_batch_size, config.max_lr,
                           config.max_global_batch_size)
        self.schedule = LearningRateSchedule(config.lr_start, peak, config.lr_end, config.warmup_epochs,
                                             config.epochs, config.poly_power)
        self.optimizer = keras.optimizers.SGD(learning_rate=self.schedule(0.0), momentum=config.momentum)
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
        weight_decay = self.config.weight_decay

        @tf.function
        def step(x, y):
            with tf.GradientTape() as tape:
                logits = model(x, training=True)
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
                l2 = tf.add_n([tf.nn.l2_loss(k.value) for k in kernels])
                total = loss + weight_decay * l2
            grads = tape.gradient(total, model.trainable_variables)
            grads = hvd.grouped_allreduce(grads, op=hvd.Average)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss

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

    def run(self, threads: dict) -> dict | None:
        """Train ``config.epochs`` epochs; returns the completed record on rank 0, None on other ranks."""
        config, steps = self.config, self.pipes.steps_per_epoch
        progress = ProgressWriter(config.run_dir, config.epochs, steps) if self.rank == 0 else None
        log, epochs, first_step, global_step = StepLog(self.rank), [], None, 0
        for epoch in range(config.epochs):
            epoch_lr, loss_sum = self.schedule(epoch), 0.0
            for i, (x, y) in enumerate(self.pipes.train(epoch)):
                self.optimizer.learning_rate.assign(self.schedule(epoch + i / steps))
                start = time.time()
                loss_sum += float(self.train_step(x, y))
                end = time.time()
                first_step = first_step or start
                if global_step >= config.warmup_steps:
                    log.add(start, end, int(y.shape[0]))
                global_step += 1
                if progress:
                    progress.update(epoch + 1, i + 1)
            row = {"epoch": epoch + 1, "learning_rate": epoch_lr,
                   "train_loss": float(self._sum_over_ranks([loss_sum / steps])[0] / self.size)}
            if self.pipes.validation is not None:
                row.update(self.evaluate())
            row["elapsed_seconds"] = time.time() - first_step
            epochs.append(row)
            if progress:
                progress.epoch_done(row)
        return self._gather_record(log, epochs, threads)

    def _gather_record(self, log: StepLog, epochs: list[dict], threads: dict) -> dict | None:
        mine = {"rank": self.rank, "host": hostname(), "log": log, "peak_rss": peak_rss_bytes(),
                "digest": weights_digest(self.model)}
        everyone = sorted(self.hvd.allgather_object(mine), key=lambda r: r["rank"])
        if self.rank != 0:
            return None
        rss = [r["peak_rss"] for r in everyone]
        provenance = {**host_facts(), "hostnames": [r["host"] for r in everyone], "threads": threads,
                      "horovod_controller": "mpi" if self.hvd.mpi_enabled() else "gloo",
                      "train_images": self.pipes.train_images, "val_images": self.pipes.val_images,
                      "steps_per_epoch": self.pipes.steps_per_epoch}
        return new_record(
            self.config, "completed", topology=self.topology, provenance=provenance,
            throughput=global_throughput([r["log"] for r in everyone], self.config.warmup_steps),
            memory={"peak_rss_bytes_per_rank": rss, "peak_rss_bytes_max": max(rss)},
            epochs=epochs, time_to_train=time_to_train(epochs, self.config.target_top1), slurm=slurm_job(),
            model={"parameters": self.model.count_params(), "initial_weights_sha256": self.initial_digest,
                   "final_weights_sha256_per_rank": [r["digest"] for r in everyone]},
        )


def launcher_rank() -> int:
    """This process's rank as the launcher set it (Horovod/Gloo, Open MPI, PMIx or SLURM), 0 if none."""
    for var in ("HOROVOD_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID"):
        if var in os.environ:
            return int(os.environ[var])
    return 0


def run_training(config: TrainConfig) -> dict | None:
    """Run one training run as one Horovod worker; rank 0 writes ``config.run_dir/record.json``.

    Returns the record on rank 0 and None on the other ranks. Any exception is recorded by rank 0 as a
    failed run (with its traceback) and then raised again.
    """
    try:
        import horovod.tensorflow as hvd

        hvd.init()
        threads = configure_threads(config, hvd.local_size())
        record = Trainer(config, hvd).run(threads)
        if record is not None:
            write_record(config.run_dir, record)
        return record
    except Exception as exc:
        if launcher_rank() == 0:
            write_failure(config, exception_failure(exc), slurm=slurm_job())
        raise
