"""Micro-benchmarks: allreduce sizes, the kernel peak, the input pipeline, the trainer's overhead."""
