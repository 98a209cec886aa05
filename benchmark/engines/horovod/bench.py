"""The Horovod engine's side of the micro-benchmarks, in TensorFlow: the kernels of the node's peak and the bare
training loop the trainer is compared with (:class:`benchmark.engines.bench.EngineBench`).

The peak's kernels are ``tf.function`` calls (TensorFlow's eager runtime is synchronous by default, so a call
returns once its kernel has run). The bare loop of :mod:`benchmark.microbench.overhead`: the Keras model of the
suite, one ``tf.function`` step with ``tf.GradientTape`` (softmax cross-entropy + weight decay x the kernels'
``tf.nn.l2_loss``), the engine's Keras optimizer, the ``tf.data`` synthetic batches; no Horovod.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from benchmark.config import Precision, TrainConfig
from benchmark.engines import Device, DeviceUnavailable, device_problem
from benchmark.engines.horovod.engine import FRAMEWORK, OPTIMIZER_BUILDERS, configure_threads
from benchmark.microbench.peak import CONV_KERNEL
from benchmark.models import MODELS
from benchmark.record import Kernel
from benchmark.train.precisions import PRECISIONS

__all__ = [
    "FRAMEWORK",
    "bare_model",
    "bare_training",
    "device_name",
    "framework_version",
    "native_bf16",
    "peak_kernels",
    "tf32",
    "use_threads",
]


def _cpu_only(device: Device) -> None:
    """Raise :class:`DeviceUnavailable` for any device but the CPU: the engine trains on CPUs only."""
    problem = device_problem("horovod", device)
    if problem is not None:
        raise DeviceUnavailable(problem)


def device_name(device: Device) -> str | None:
    """None: the CPU (the only device the engine trains on)."""
    _cpu_only(device)
    return None


def native_bf16(device: Device) -> bool:
    """Whether the CPU computes bf16 natively (:func:`benchmark.util.provenance.native_bf16`)."""
    from benchmark.util.provenance import native_bf16 as cpu_bf16

    _cpu_only(device)
    return cpu_bf16()


def tf32(device: Device) -> bool | None:
    """None: no GPU."""
    _cpu_only(device)
    return None


def framework_version() -> str:
    """TensorFlow's version."""
    import tensorflow as tf

    return tf.__version__


def use_threads(intra_op_threads: int, inter_op_threads: int) -> None:
    """Make TensorFlow in this process run with these threads: set them, unless they already are.

    Raises:
        ValueError: TensorFlow already runs with other threads (its runtime started; they cannot change).
    """
    import tensorflow as tf

    threading = tf.config.threading
    try:
        threading.set_intra_op_parallelism_threads(intra_op_threads)
        threading.set_inter_op_parallelism_threads(inter_op_threads)
    except RuntimeError:
        raise ValueError(
            f"TensorFlow already runs with {threading.get_intra_op_parallelism_threads()} intra-op and "
            f"{threading.get_inter_op_parallelism_threads()} inter-op threads (0: its default); cannot measure "
            f"at {intra_op_threads} and {inter_op_threads}: measure in a fresh process"
        ) from None


def peak_kernels(
    conv_shape: tuple[int, int, int, int, int], matmul_size: int, precision: Precision, device: Device = "cpu"
) -> dict[Kernel, Callable[[], object]]:
    """``tf.nn.conv2d`` (NHWC, "SAME") and ``tf.linalg.matmul``, each a ``tf.function``, on normal random inputs
    (seed 0) cast to ``precision``'s compute dtype, on the CPU (``device`` must be "cpu")."""
    _cpu_only(device)
    import tensorflow as tf

    batch, height, width, cin, cout = conv_shape
    generator = tf.random.Generator.from_seed(0)
    dtype = PRECISIONS[precision].compute_dtype

    def normal(*shape: int):
        return tf.cast(generator.normal(shape), dtype)

    x, w = normal(batch, height, width, cin), normal(CONV_KERNEL, CONV_KERNEL, cin, cout)
    a, b = normal(matmul_size, matmul_size), normal(matmul_size, matmul_size)
    conv = tf.function(lambda x, w: tf.nn.conv2d(x, w, strides=1, padding="SAME"))
    matmul = tf.function(tf.linalg.matmul)
    return {"conv5x5": lambda: conv(x, w), "matmul": lambda: matmul(a, b)}


def bare_model(config: TrainConfig):
    """The Keras model the bare loop trains: ``config``'s ``model.name`` for its input size and classes, freshly
    initialised (seeded by ``training.seed``), as the suite builds it (:meth:`benchmark.models.ModelKind.create`;
    no ``init_weights``: both sides start from the seed)."""
    import keras

    keras.utils.set_random_seed(config.training.seed)
    return MODELS[config.model.name].create(*config.data.image_size, 3, config.data.num_classes)


def bare_training(config: TrainConfig) -> tuple[Callable[[Any, Any], Any], Iterable[tuple[Any, Any]]]:
    """The bare step (see the module) and the synthetic batches of
    :func:`benchmark.data.pipeline.synthetic_pipelines`, with TensorFlow's threads of one worker
    (:func:`benchmark.engines.horovod.engine.configure_threads`)."""
    import keras
    import tensorflow as tf

    from benchmark.data.pipeline import synthetic_pipelines

    configure_threads(config, 1)
    model = bare_model(config)
    optimizer = OPTIMIZER_BUILDERS[config.training.optimizer](keras, config.training, config.learning_rate.base_lr)
    kernels = [v for v in model.trainable_variables if v.path.endswith("kernel")]

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
            total = loss + config.training.weight_decay * tf.add_n([tf.nn.l2_loss(k.value) for k in kernels])
        optimizer.apply_gradients(zip(tape.gradient(total, model.trainable_variables), model.trainable_variables))
        return loss

    return step, synthetic_pipelines(config).train(0)
