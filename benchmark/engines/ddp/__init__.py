"""The PyTorch DistributedDataParallel engine, which imports no TensorFlow; its input path:
:mod:`benchmark.engines.ddp.data`."""
