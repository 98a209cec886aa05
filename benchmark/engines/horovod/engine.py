"""The TensorFlow + Horovod engine (Datta et al. 2019, sec. 3), ``run.engine = "horovod"``.

A custom training step with ``tf.GradientTape`` whose gradients, and the loss and the loop's requests with
them, are averaged over all workers in one ``hvd.grouped_allreduce`` (``horovod.tensorflow.keras`` does not
work with Keras 3), so that every worker sees the same loss and a diverging run stops on all of them at
once; variables broadcast from rank 0 at the start; Keras 3 models from :data:`benchmark.models.MODELS`;
the ``tf.data`` input pipeline of :mod:`benchmark.data.pipeline`.
"""

from __future__ import annotations

import hashlib
import math
import os
from typing import Any

import numpy as np

from benchmark.config import TrainConfig
from benchmark.engines.base import Engine, NamedArrays, StepResult
from benchmark.models import MODELS
from benchmark.record import EngineInfo, Threads
from benchmark.train.checkpoint import check_shapes
from benchmark.train.optimizers import OPTIMIZERS
from benchmark.train.task import Task
from benchmark.train.watchdog import collective_timeout
from benchmark.util.launcher import launcher_size
from benchmark.util.provenance import BF16_FLAGS, cpu_model, isa_flags, native_bf16

#: The framework, as the record names it (:attr:`benchmark.record.EngineInfo.framework`).
FRAMEWORK = "tensorflow"
#: Prefixes of the environment variables of OpenMP, Intel's OpenMP runtime (KMP_AFFINITY, KMP_BLOCKTIME),
#: MKL, oneDNN and Horovod's background thread (HOROVOD_CYCLE_TIME) that a worker's record keeps
#: (:attr:`benchmark.record.Threads.env`).
THREAD_ENV_PREFIXES = ("OMP_", "KMP_", "MKL_", "DNNL_", "ONEDNN_", "TF_ENABLE_ONEDNN", "HOROVOD_CYCLE_TIME")
#: Horovod's cycle (``HOROVOD_CYCLE_TIME``, ms) the engine sets unless it is set: for a lone worker, and for
#: several. Horovod's background thread wakes once a cycle (1 ms by default) to negotiate collectives. On a
#: 2-core node at 256x320, local batch 8: alone, it took 2.6 % of a core at 900 wake-ups a second from the
#: compute threads (3-4 % of the images/s); 2 workers together made 22.65 images/s at 1 ms, 23.8 at 2 ms,
#: 24.6 at 5 ms and at 10 ms (2-4 runs each). A lone worker's step has no collective (see
#: :meth:`HorovodEngine._make_train_step`), so it takes the longer cycle; several workers wait up to one
#: cycle for each step's allreduce, a few ms of a step of 0.3 s or more at the paper's sizes.
LONE_WORKER_CYCLE_MS, WORKERS_CYCLE_MS = "10", "5"
#: Keras' dtype policy of each precision of :data:`benchmark.train.precisions.PRECISIONS`.
PRECISION_POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16"}
#: The Keras optimizer of each optimizer of :data:`benchmark.train.optimizers.OPTIMIZERS`, built from the
#: training settings and the first learning rate with the registry's constants (Keras' own defaults).
OPTIMIZER_BUILDERS = {
    "momentum": lambda keras, training, rate: keras.optimizers.SGD(learning_rate=rate, momentum=training.momentum),
    "adam": lambda keras, training, rate: keras.optimizers.Adam(learning_rate=rate, **OPTIMIZERS["adam"].constants),
    "adadelta": lambda keras, training, rate: keras.optimizers.Adadelta(
        learning_rate=rate, **OPTIMIZERS["adadelta"].constants
    ),
}


def set_horovod_cycle() -> None:
    """Before ``hvd.init()``: Horovod's cycle :data:`LONE_WORKER_CYCLE_MS` for a lone worker
    (:func:`~benchmark.util.launcher.launcher_size` 1), else :data:`WORKERS_CYCLE_MS`, unless
    ``HOROVOD_CYCLE_TIME`` is set."""
    os.environ.setdefault("HOROVOD_CYCLE_TIME", LONE_WORKER_CYCLE_MS if launcher_size() == 1 else WORKERS_CYCLE_MS)


def configure_threads(config: TrainConfig, local_size: int) -> Threads:
    """Set TensorFlow's intra-/inter-op threads for one of ``local_size`` workers of a node; returns the
    settings for the record, with the environment variables named by :data:`THREAD_ENV_PREFIXES`.

    By default the cores this process may run on (its affinity mask: SLURM's binding, or the whole
    machine) are split evenly between the node's workers.
    """
    import tensorflow as tf

    cores = len(os.sched_getaffinity(0))
    shared = cores < (os.cpu_count() or cores)
    intra = config.run.intra_op_threads or max(1, cores if shared else cores // local_size)
    inter = config.run.inter_op_threads or 1
    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)
    env = {name: value for name, value in sorted(os.environ.items()) if name.startswith(THREAD_ENV_PREFIXES)}
    return Threads(
        intra_op=intra, inter_op=inter, omp_num_threads=os.environ.get("OMP_NUM_THREADS"), affinity_cores=cores, env=env
    )


def precision_policy(precision: str) -> str:
    """Keras' global dtype policy for ``training.precision``: ``float32``, or ``mixed_bfloat16`` (layers compute
    in bf16, variables stay fp32, and the step casts the logits to fp32 for the loss, as Keras' mixed
    precision guide advises).

    Raises:
        ValueError: bf16 on a CPU without AVX512-BF16 or AMX (emulated bf16 would be slower than fp32).
    """
    if precision == "bf16" and not native_bf16():
        raise ValueError(
            f"training.precision: bf16 needs a CPU with {' or '.join(BF16_FLAGS)} (this one, "
            f"{cpu_model()}, has {', '.join(isa_flags()) or 'none of the flags checked'}); use fp32"
        )
    return PRECISION_POLICIES[precision]


def weights_digest(model) -> str:
    """SHA-256 of ``model``'s trainable weights (their float32 bytes, in layer order, copied out one at a time):
    equal on every worker exactly when the workers hold bit-identical trained weights. Batch normalisation's
    moving statistics (DenseNet-121) are not trained by the allreduced gradients: each worker keeps its own,
    as in Horovod's examples, so they are left out."""
    digest = hashlib.sha256()
    for weight in model.trainable_weights:
        digest.update(np.ascontiguousarray(weight.numpy()).data)
    return digest.hexdigest()


def _stamp_after(tf, tensors):
    """``tf.timestamp()`` (float64 seconds since the epoch) taken once ``tensors`` (tensors or variables)
    are computed: the step's phase boundaries, timed inside its graph at no extra host synchronisation."""
    with tf.control_dependencies([t.value if hasattr(t, "value") else t for t in tensors]):
        return tf.timestamp()


def _no_stamp(tf, tensors):
    """A NaN in place of :func:`_stamp_after`'s timestamp, depending on nothing."""
    return tf.constant(float("nan"), tf.float64)


#: How TensorFlow begins the message of an error raised inside a ``tf.function``: the cause follows the stack of
#: the node where it happened.
GRAPH_ERROR = "Graph execution error:"


def graph_error_cause(message: str) -> str | None:
    """The cause's first line in a TensorFlow "Graph execution error:" message (after the "Detected at node"
    lines and their stacks), with the node it names; None for another message. Horovod's collectives fail this
    way, e.g. ``Horovod has been shut down. This was caused by an exception on one of the ranks ...``."""
    if not message.startswith(GRAPH_ERROR):
        return None
    node = cause = None
    for line in message.splitlines()[1:]:
        if line.startswith("Detected at node "):
            node = node or line.removeprefix("Detected at node ").split(" defined at")[0]
        elif line.strip() and not line.startswith((" ", "\t", "<stack traces")) and cause is None:
            cause = line.strip()
    if cause is None:
        return None
    return f"{cause} (at node {node})" if node else cause


class HorovodEngine(Engine):
    """One Horovod worker of TensorFlow 2.18 with Keras 3 (see the module's docstring)."""

    name = "horovod"

    def __init__(self, hvd):
        import tensorflow as tf

        self.hvd, self.tf = hvd, tf
        self.rank, self.size = hvd.rank(), hvd.size()
        self.local_rank, self.local_size, self.nodes = hvd.local_rank(), hvd.local_size(), hvd.cross_size()

    @classmethod
    def start(cls, config: TrainConfig) -> HorovodEngine:
        """``hvd.init()`` after :func:`set_horovod_cycle` and, unless set, Gloo's timeout
        (``HOROVOD_GLOO_TIMEOUT_SECONDS``, 30 s by default) set to
        :func:`~benchmark.train.watchdog.collective_timeout`, so that a rank paused for longer than 30 s does
        not end a local run before the stall watchdog decides."""
        import horovod.tensorflow as hvd

        set_horovod_cycle()
        os.environ.setdefault("HOROVOD_GLOO_TIMEOUT_SECONDS", str(math.ceil(collective_timeout(config.run))))
        hvd.init()
        return cls(hvd)

    def info(self) -> EngineInfo:
        import horovod

        return EngineInfo(
            name=self.name,
            framework=FRAMEWORK,
            framework_version=self.tf.__version__,
            collectives=f"horovod {horovod.__version__}",
            backend="mpi" if self.hvd.mpi_enabled() else "gloo",
            device="cpu",
        )

    def configure_threads(self, config: TrainConfig) -> Threads:
        return configure_threads(config, self.local_size)

    def build(self, config: TrainConfig, task: Task, first_rate: float) -> None:
        import keras

        from benchmark.data.pipeline import make_pipelines

        keras.utils.set_random_seed(config.training.seed)
        self.task, self.weight_decay = task, config.training.weight_decay
        self.pipes = make_pipelines(config, self.rank, self.size)
        self.steps_per_epoch, self.train_images = self.pipes.steps_per_epoch, self.pipes.train_images
        self.val_images, self.val_fields = self.pipes.val_images, self.pipes.val_fields
        self.has_validation = self.pipes.validation is not None
        keras.mixed_precision.set_global_policy(precision_policy(config.training.precision))
        self.model = MODELS[config.model.name].create(
            *config.data.image_size, 3, config.data.num_classes, config.model.init_weights
        )
        self.optimizer = OPTIMIZER_BUILDERS[config.training.optimizer](keras, config.training, first_rate)
        self.optimizer.build(self.model.trainable_variables)
        self._steps = {timed: self._make_train_step(timed) for timed in (False, True)}
        tf = self.tf
        self._predict = tf.function(lambda x: tf.cast(self.model(x, training=False), tf.float32))

    def train_batches(self, epoch: int, skip: int):
        return self.pipes.train(epoch).skip(skip)

    def batch_images(self, y: Any) -> int:
        return int(y.shape[0])

    def set_learning_rate(self, rate: float) -> None:
        self.optimizer.learning_rate.assign(rate)

    def _make_train_step(self, timed: bool):
        """The training step, a ``tf.function`` of ``(x, y, requests)`` returning the loss averaged over the
        workers, the agreed requests and ``(4,)`` float64 timestamps: its start and the ends of its compute,
        allreduce and update. With ``timed`` they are taken (:func:`_stamp_after`); else they are NaN and the
        step has no phase barriers."""
        tf, hvd, model, optimizer, task = self.tf, self.hvd, self.model, self.optimizer, self.task
        stamp = _stamp_after if timed else _no_stamp
        kernels = [v for v in model.trainable_variables if v.path.endswith("kernel")]
        weight_decay = self.weight_decay
        # One worker's average is its own values: no collective (and no Horovod negotiation) in its step.
        average = (
            (lambda tensors: tensors)
            if self.size == 1
            else (lambda tensors: hvd.grouped_allreduce(tensors, op=hvd.Average))
        )

        @tf.function
        def step(x, y, requests):
            began = stamp(tf, [])
            with tf.control_dependencies([began]), tf.GradientTape() as tape:
                logits = tf.cast(model(x, training=True), tf.float32)
                loss = tf.reduce_mean(task.losses(tf, y, logits))
                l2 = tf.add_n([tf.nn.l2_loss(k.value) for k in kernels])
                total = loss + weight_decay * l2
            grads = tape.gradient(total, model.trainable_variables)
            computed = stamp(tf, [*grads, loss])
            with tf.control_dependencies([computed]):
                *grads, mean_loss, agreed = average([*grads, loss, requests])
            reduced = stamp(tf, [*grads, mean_loss, agreed])
            with tf.control_dependencies([reduced]):
                optimizer.apply_gradients(zip(grads, model.trainable_variables))
            updated = stamp(tf, [optimizer.iterations])  # incremented last, after every variable update
            return mean_loss, agreed, tf.stack([began, computed, reduced, updated])

        return step

    def train_step(self, x: Any, y: Any, requests: np.ndarray, timed: bool) -> StepResult:
        loss, agreed, stamps = self._steps[timed](x, y, self.tf.constant(requests, dtype=self.tf.float32))
        return StepResult(loss=float(loss), agreed=agreed.numpy() > 0, stamps=stamps.numpy())

    def evaluate(self) -> tuple[float, np.ndarray]:
        tf, task = self.tf, self.task
        assert self.pipes.validation is not None, "evaluate() runs only with a validation set (has_validation)"
        loss, outcomes = 0.0, []
        for x, y, fields in self.pipes.validation:
            logits = self._predict(x)
            loss += float(tf.reduce_sum(task.losses(tf, y, logits)))
            outcomes.append(task.outcomes(y.numpy(), logits.numpy(), fields.numpy()))
            self.progress()
        return loss, np.concatenate(outcomes) if outcomes else np.zeros((0, 0))

    def failure_reason(self, exc: BaseException) -> str:
        """TensorFlow's "Graph execution error:" replaced by its cause's line (:func:`graph_error_cause`)."""
        cause = graph_error_cause(str(exc))
        return super().failure_reason(exc) if cause is None else f"{type(exc).__name__}: {cause}"

    def broadcast_object(self, value: Any, name: str) -> Any:
        return self.hvd.broadcast_object(value, root_rank=0, name=name)

    def allgather_object(self, value: Any, name: str) -> list[Any]:
        return self.hvd.allgather_object(value, name=name)

    def barrier(self, name: str) -> None:
        """An allreduce of a scalar (``horovod.tensorflow`` 0.28.1 has no ``barrier``)."""
        self.hvd.allreduce(self.tf.constant(0.0), name=name)

    def broadcast_state(self) -> None:
        if self.size == 1:
            return
        for i, var in enumerate(self.model.variables + self.optimizer.variables):
            var.assign(self.hvd.broadcast(var.value, root_rank=0, name=f"broadcast.{i}"))

    def model_state(self) -> NamedArrays:
        variables = list(self.model.variables)
        return NamedArrays(variables, [v.path for v in variables])

    def optimizer_state(self) -> NamedArrays:
        variables = list(self.optimizer.variables)
        return NamedArrays(variables, [v.path for v in variables])

    def load_model_state(self, arrays: list[np.ndarray], source: str) -> None:
        self._assign(self.model.variables, arrays, source)

    def load_optimizer_state(self, arrays: list[np.ndarray], source: str) -> None:
        self._assign(self.optimizer.variables, arrays, source)

    @staticmethod
    def _assign(variables, arrays: list[np.ndarray], source: str) -> None:
        check_shapes(source, arrays, [(v.path, tuple(v.shape)) for v in variables])
        for var, value in zip(variables, arrays):
            var.assign(value)

    def weights_digest(self) -> str:
        return weights_digest(self.model)

    def parameter_count(self) -> int:
        return self.model.count_params()
