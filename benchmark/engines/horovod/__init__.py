"""The TensorFlow + Horovod engine (``run.engine = "horovod"``): :mod:`benchmark.engines.horovod.engine`."""
