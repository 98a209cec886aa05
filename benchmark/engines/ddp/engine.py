"""The PyTorch DistributedDataParallel engine, ``run.engine = "ddp"``: the suite's runs where Horovod cannot
go (Python >= 3.13, TensorFlow >= 2.19, GPU nodes).

- **Start.** ``torch.distributed`` joins the launch's workers: under ``torchrun`` (the local executor's
  launcher, :mod:`benchmark.engines.ddp.launch`) from its ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
  ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``; under ``srun`` from SLURM's ``SLURM_PROCID``,
  ``SLURM_NTASKS``, ``SLURM_LOCALID`` and ``SLURM_NNODES``, the rendezvous on rank 0's node
  (``SLURM_LAUNCH_NODE_IPADDR``, where srun runs: the job's first node, which holds rank 0) at a port made
  from the job and step ids (:func:`launch_topology`). A lone worker without a launcher joins itself. Gloo on
  CPU nodes, NCCL on GPU nodes.
- **GPUs** (``run.device = "gpu"``). One worker per GPU: each takes ``cuda:{local rank % visible GPUs}``
  (:func:`choose_gpu`; under ``--gpus-per-node`` every task sees the node's GPUs, with one GPU per task each sees
  its own as ``cuda:0``), and joins over NCCL bound to it. fp32 runs may compute matmuls and convolutions in
  TF32 (:func:`configure_gpu_math`, recorded in :attr:`benchmark.record.EngineInfo.tf32`), cuDNN picks its
  fastest algorithms for the run's shapes (``cudnn.benchmark``: the warm-up steps pay for it); bf16 needs a GPU
  that has it natively (:func:`gpu_bf16`). The model, its optimizer state and every batch live on the
  GPU (batches copied from pinned memory without blocking; synthetic batches drawn on the GPU itself, from a
  CUDA generator seeded as the CPU's); a timed step waits for the GPU (``torch.cuda.synchronize``) before each
  timestamp. A GPU run's record holds each rank's GPU (:meth:`DdpEngine.gpu`) and its peak GPU memory
  (:meth:`DdpEngine.device_peak_memory`). No GPU, and the run fails at the start with
  :class:`~benchmark.engines.DeviceUnavailable` (:func:`gpu_problem`).
- **Model and update.** The models of :data:`benchmark.models.MODELS` built by PyTorch
  (:mod:`benchmark.models.torch_models`), wrapped in ``DistributedDataParallel`` when there are several
  workers; the optimizers of :data:`benchmark.train.optimizers.OPTIMIZERS` from ``torch.optim`` with the
  registry's constants; the loss plus ``training.weight_decay`` x the kernels' L2 (sum of squares / 2, as
  ``tf.nn.l2_loss``); bf16 through ``torch.autocast``. Batch normalisation's running statistics stay each
  worker's own (``broadcast_buffers=False``), as in the Horovod engine.
- **Momentum as Keras computes it.** ``torch.optim.SGD`` keeps ``b = m b + g`` and steps ``w -= rate b``;
  Keras (and the registry, Sutskever et al. 2013) keeps the velocity ``v = m v - rate g`` and steps
  ``w += v``. They agree while the rate is constant; when it changes (every step of the warm-up and the
  decay) SGD's buffer is rescaled by ``old rate / new rate`` (:meth:`DdpEngine.set_learning_rate`), which
  makes ``-rate b`` exactly Keras' velocity, so both engines train the same update.
- **The step and its phases.** An untimed step is DDP's own: the gradients' allreduce runs bucket by
  bucket while the backward pass goes on, then the loss and the loop's requests are averaged in one more
  (small) allreduce. A timed step (one in :data:`benchmark.train.loop.PHASE_EVERY`) runs the backward pass
  under ``no_sync()`` and then allreduces the gradients itself, flattened into one buffer with the loss and
  the requests, so that compute, allreduce and update are timed apart: its "allreduce" is the time the
  gradients' average takes when nothing overlaps it, the cost that DDP's overlap hides in the other steps
  (the breakdown's step is then a little longer than the untimed ones). Both average the same gradients.
- **Input.** :mod:`benchmark.engines.ddp.data`: the same images, copies, splits and shards as the tf.data
  pipeline, without TensorFlow.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
import math
import os
import time
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from benchmark.config import TrainConfig
from benchmark.engines import Device, DeviceUnavailable
from benchmark.engines.base import Engine, NamedArrays, StepResult
from benchmark.errors import McnnBenchError
from benchmark.models import MODELS
from benchmark.models.torch_models import parameter_count
from benchmark.record import EngineInfo, Gpu, KernelPeaks, Threads
from benchmark.train.checkpoint import check_shapes
from benchmark.train.optimizers import OPTIMIZERS
from benchmark.train.task import Task
from benchmark.train.watchdog import collective_timeout
from benchmark.util.provenance import BF16_FLAGS, cpu_model, gpu_driver_version, hostname, isa_flags, native_bf16

log = logging.getLogger(__name__)

#: The framework, as the record names it (:attr:`benchmark.record.EngineInfo.framework`).
FRAMEWORK = "pytorch"
#: Prefixes of the environment variables of OpenMP, Intel's OpenMP runtime, MKL and oneDNN that a worker's
#: record keeps (:attr:`benchmark.record.Threads.env`).
THREAD_ENV_PREFIXES = ("OMP_", "KMP_", "MKL_", "DNNL_", "ONEDNN_")
#: The rendezvous port under srun is this plus (job id x 16 + step id) modulo :data:`PORT_SPAN`, unless
#: ``MASTER_PORT`` is set: distinct for the jobs and steps that share a node.
PORT_BASE, PORT_SPAN = 20000, 20000

#: The ``torch.optim`` optimizer of each optimizer of :data:`benchmark.train.optimizers.OPTIMIZERS`, built from
#: the parameters, the training settings and the first learning rate with the registry's constants.
OPTIMIZER_BUILDERS = {
    "momentum": lambda params, training, rate: torch.optim.SGD(params, lr=rate, momentum=training.momentum),
    "adam": lambda params, training, rate: torch.optim.Adam(
        params,
        lr=rate,
        betas=(OPTIMIZERS["adam"].constants["beta_1"], OPTIMIZERS["adam"].constants["beta_2"]),
        eps=OPTIMIZERS["adam"].constants["epsilon"],
    ),
    "adadelta": lambda params, training, rate: torch.optim.Adadelta(
        params, lr=rate, rho=OPTIMIZERS["adadelta"].constants["rho"], eps=OPTIMIZERS["adadelta"].constants["epsilon"]
    ),
}
#: The per-parameter state of each optimizer's ``torch.optim`` class, by the names its first step gives it: whether it
#: counts its steps (``step``, a float32 scalar on the CPU) and the slots of zeros shaped like the parameter.
OPTIMIZER_SLOTS: dict[str, tuple[bool, tuple[str, ...]]] = {
    "momentum": (False, ("momentum_buffer",)),
    "adam": (True, ("exp_avg", "exp_avg_sq")),
    "adadelta": (True, ("square_avg", "acc_delta")),
}
#: The dtype ``torch.autocast`` computes the layers in, for each precision of
#: :data:`benchmark.train.precisions.PRECISIONS` (None: no autocast, float32); weights, their updates and the
#: loss stay float32.
PRECISION_POLICIES = {"fp32": None, "bf16": torch.bfloat16}
#: The loss of each image, ``(n,)`` float32, of each task (:data:`benchmark.train.task.TASKS`), from float32
#: ``(n, K)`` logits: softmax cross-entropy of int64 labels ``(n,)``, or binary cross-entropy averaged over the
#: classes of float32 multi-hot labels ``(n, K)``.
LOSSES = {
    "single-label": lambda labels, logits: F.cross_entropy(logits, labels, reduction="none"),
    "multi-label": lambda labels, logits: F.binary_cross_entropy_with_logits(logits, labels, reduction="none").mean(
        dim=1
    ),
}


class LaunchVariableMissing(McnnBenchError, RuntimeError):
    """A worker started by a launcher that did not say what torch.distributed needs; names the variable."""


def _env_int(name: str) -> int:
    try:
        return int(os.environ[name])
    except KeyError:
        raise LaunchVariableMissing(f"the DDP engine needs {name} from its launcher (torchrun or srun)") from None


def launch_topology() -> tuple[int, int, int, int, int] | None:
    """``(rank, size, local_rank, local_size, nodes)`` as the launcher tells them, with ``MASTER_ADDR`` and
    ``MASTER_PORT`` set for the rendezvous; None when no launcher started this process (a lone worker).

    Raises:
        LaunchVariableMissing: a launcher's variables are partly missing (named).
    """
    if "RANK" in os.environ or "WORLD_SIZE" in os.environ:  # torchrun
        for name in ("MASTER_ADDR", "MASTER_PORT"):
            if name not in os.environ:
                raise LaunchVariableMissing(f"the DDP engine needs {name} from its launcher (torchrun sets it)")
        size, local_size = _env_int("WORLD_SIZE"), _env_int("LOCAL_WORLD_SIZE")
        return _env_int("RANK"), size, _env_int("LOCAL_RANK"), local_size, max(1, size // local_size)
    if "SLURM_PROCID" in os.environ and "SLURM_STEP_ID" in os.environ:  # a task of srun
        size = _env_int("SLURM_NTASKS")
        nodes = _env_int("SLURM_NNODES")
        if "MASTER_ADDR" not in os.environ:
            os.environ["MASTER_ADDR"] = os.environ.get("SLURM_LAUNCH_NODE_IPADDR") or _first_node()
        if "MASTER_PORT" not in os.environ:
            stream = _env_int("SLURM_JOB_ID") * 16 + _env_int("SLURM_STEP_ID")
            os.environ["MASTER_PORT"] = str(PORT_BASE + stream % PORT_SPAN)
        return _env_int("SLURM_PROCID"), size, _env_int("SLURM_LOCALID"), size // nodes, nodes
    return None


def _first_node() -> str:
    """The first host of the step's nodes (``scontrol show hostnames $SLURM_STEP_NODELIST``)."""
    import subprocess

    nodelist = os.environ.get("SLURM_STEP_NODELIST") or os.environ.get("SLURM_JOB_NODELIST")
    if not nodelist:
        raise LaunchVariableMissing("the DDP engine needs SLURM_LAUNCH_NODE_IPADDR or SLURM_STEP_NODELIST from srun")
    hosts = subprocess.run(
        ["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True, check=True
    ).stdout.split()
    return hosts[0]


def configure_threads(config: TrainConfig, local_size: int) -> Threads:
    """Set PyTorch's intra-op threads (``torch.set_num_threads``: by default the cores this process may run on,
    its affinity mask, split evenly between the node's ``local_size`` workers) and inter-op threads for one
    worker; returns the settings for the record, with the environment variables named by
    :data:`THREAD_ENV_PREFIXES`."""
    cores = len(os.sched_getaffinity(0))
    shared = cores < (os.cpu_count() or cores)
    intra = config.run.intra_op_threads or max(1, cores if shared else cores // local_size)
    inter = config.run.inter_op_threads or 1
    torch.set_num_threads(intra)
    torch.set_num_interop_threads(inter)
    env = {name: value for name, value in sorted(os.environ.items()) if name.startswith(THREAD_ENV_PREFIXES)}
    return Threads(
        intra_op=intra,
        inter_op=inter,
        omp_num_threads=os.environ.get("OMP_NUM_THREADS"),
        affinity_cores=cores,
        env=env,
    )


def materialise_optimizer_state(optimizer: torch.optim.Optimizer, name: str) -> None:
    """Create ``optimizer``'s per-parameter state before its first step (:data:`OPTIMIZER_SLOTS` of the optimizer
    ``name``: zeros, and a step count of 0, as Keras' ``optimizer.build``), so that a checkpoint holds the same
    variables before and after the first step. State already there is kept."""
    counted, slots = OPTIMIZER_SLOTS[name]
    for group in optimizer.param_groups:
        for p in group["params"]:
            state = optimizer.state[p]
            if counted:
                state.setdefault("step", torch.tensor(0.0))
            for slot in slots:
                state.setdefault(slot, torch.zeros_like(p))


def decayed(params: list[torch.nn.Parameter]) -> list[torch.nn.Parameter]:
    """The parameters that ``training.weight_decay`` applies to: the kernels of the convolutions and dense layers
    (more than one dimension; not biases or batch normalisation's scales), the Keras models' ``kernel`` variables."""
    return [p for p in params if p.ndim > 1]


def l2_loss(kernels: list[torch.nn.Parameter]) -> torch.Tensor:
    """The kernels' L2 as ``tf.nn.l2_loss`` sums it: the sum of their squares / 2 (a float32 scalar), which
    ``training.weight_decay`` multiplies in the loss."""
    return torch.stack([k.pow(2).sum() for k in kernels]).sum() / 2


def gpu_bf16() -> bool:
    """Whether the current GPU computes bf16 natively (compute capability 8.0 and newer):
    ``torch.cuda.is_bf16_supported``, without the emulation that PyTorch >= 2.4 counts by default (as the CPU's
    emulated bf16, slower than fp32)."""
    if "including_emulation" in inspect.signature(torch.cuda.is_bf16_supported).parameters:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    return bool(torch.cuda.is_bf16_supported())


def check_precision(precision: str, device: torch.device | None = None) -> None:
    """Raise ``ValueError`` for bf16 on a CPU without AVX512-BF16 or AMX (emulated bf16 would be slower than
    fp32), or on a GPU (``device`` a CUDA device) without native bf16 (:func:`gpu_bf16`: compute capability 8.0
    and newer)."""
    if precision != "bf16":
        return
    if device is not None and device.type == "cuda":
        if not gpu_bf16():
            major, minor = torch.cuda.get_device_capability(device)
            raise ValueError(
                f"training.precision: bf16 needs a GPU that computes it (compute capability 8.0 or newer; this "
                f"one, {torch.cuda.get_device_name(device)}, is {major}.{minor}); use fp32 (TF32 on the GPU)"
            )
        return
    if not native_bf16():
        raise ValueError(
            f"training.precision: bf16 needs a CPU with {' or '.join(BF16_FLAGS)} (this one, "
            f"{cpu_model()}, has {', '.join(isa_flags()) or 'none of the flags checked'}); use fp32"
        )


def gpu_problem() -> str | None:
    """Why ``run.device = "gpu"`` cannot run in this process, in one sentence naming what PyTorch sees
    (``torch.cuda.is_available()``, the device count, ``CUDA_VISIBLE_DEVICES``, a build without CUDA); None when
    PyTorch sees a GPU."""
    available, count = torch.cuda.is_available(), torch.cuda.device_count()
    if available and count > 0:
        return None
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    build = f"PyTorch {torch.__version__} " + (
        "(built without CUDA)" if torch.version.cuda is None else f"(CUDA {torch.version.cuda})"
    )
    return (
        f"run.device = 'gpu', but {build} sees no GPU here ({hostname()}): torch.cuda.is_available() is "
        f"{available}, torch.cuda.device_count() is {count}, CUDA_VISIBLE_DEVICES is "
        f"{'unset' if visible is None else repr(visible)}; run it on a GPU node (a SLURM job of a sweep with "
        "run.device = 'gpu' asks --gpus-per-node), or set run.device = 'cpu'"
    )


def choose_gpu(local_rank: int, count: int) -> int:
    """The index of the GPU of the worker of ``local_rank`` among the ``count`` GPUs it sees: ``local_rank %
    count``. Under ``--gpus-per-node`` every task of a node sees all its GPUs, and local rank i takes GPU i; with one
    GPU per task (``CUDA_VISIBLE_DEVICES`` set per task) each sees one, its own, as index 0.

    Raises:
        ValueError: ``count`` is not positive, or ``local_rank`` is negative.
    """
    if count < 1 or local_rank < 0:
        raise ValueError(f"no GPU for local rank {local_rank} among {count} visible GPUs")
    return local_rank % count


def configure_gpu_math() -> None:
    """The math of a GPU run: float32 matmuls and convolutions may use TF32 on the tensor cores
    (``torch.set_float32_matmul_precision("high")``, ``torch.backends.cudnn.allow_tf32``: an fp32 run computes
    them with 10-bit mantissas, as PyTorch's convolutions do by default), and cuDNN picks the fastest algorithm of
    each convolution shape when it first meets it (``torch.backends.cudnn.benchmark``). Idempotent."""
    torch.set_float32_matmul_precision("high")
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True


def tf32_allowed() -> bool | None:
    """Whether float32 matmuls and convolutions may run in TF32 now (:func:`configure_gpu_math`); None when this
    PyTorch will not say (a figure of the record, never worth failing a run for)."""
    try:
        return torch.get_float32_matmul_precision() != "highest" and bool(torch.backends.cudnn.allow_tf32)
    except (RuntimeError, AttributeError):
        return None


def require_gpu() -> None:
    """Set the engine's GPU math (:func:`configure_gpu_math`) where PyTorch sees a GPU.

    Raises:
        DeviceUnavailable: PyTorch sees no GPU (:func:`gpu_problem`'s sentence).
    """
    problem = gpu_problem()
    if problem is not None:
        raise DeviceUnavailable(problem)
    configure_gpu_math()


def use_gpu(local_rank: int) -> torch.device:
    """The GPU of the worker of ``local_rank`` (:func:`choose_gpu`), made this process's current device, with
    the engine's GPU math (:func:`require_gpu`).

    Raises:
        DeviceUnavailable: PyTorch sees no GPU (:func:`gpu_problem`'s sentence).
    """
    require_gpu()
    device = torch.device("cuda", choose_gpu(local_rank, torch.cuda.device_count()))
    torch.cuda.set_device(device)
    return device


def synchronize(device: torch.device) -> None:
    """Wait until ``device`` has done the work queued on it (a CUDA device); nothing on a CPU, whose operators
    return once done."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def torch_device(device: Device) -> torch.device:
    """The torch device of ``run.device`` in this process: the CPU, or the current GPU (:func:`use_gpu` made
    it)."""
    return torch.device("cuda", torch.cuda.current_device()) if device == "gpu" else torch.device("cpu")


@functools.cache
def _driver_version() -> str | None:
    return gpu_driver_version()


def gpu_facts(device: torch.device, rank: int) -> Gpu:
    """The record's view of the GPU ``device`` that worker ``rank`` trains on."""
    props = torch.cuda.get_device_properties(device)
    return Gpu(
        rank=rank,
        host=hostname(),
        index=device.index if device.index is not None else torch.cuda.current_device(),
        name=props.name,
        memory_bytes=props.total_memory,
        compute_capability=f"{props.major}.{props.minor}",
        driver_version=_driver_version(),
        cuda_runtime=torch.version.cuda,
    )


class DdpEngine(Engine):
    """One worker of PyTorch DistributedDataParallel (see the module's docstring)."""

    name = "ddp"

    def __init__(
        self,
        rank: int,
        size: int,
        local_rank: int,
        local_size: int,
        nodes: int,
        device: torch.device | None = None,
    ):
        self.rank, self.size, self.local_rank, self.local_size, self.nodes = rank, size, local_rank, local_size, nodes
        self.device = device or torch.device("cpu")
        self.on_gpu = self.device.type == "cuda"

    @classmethod
    def start(cls, config: TrainConfig) -> DdpEngine:
        """On ``run.device = "gpu"``, take the worker's GPU (:func:`use_gpu`: raises
        :class:`~benchmark.engines.DeviceUnavailable` where PyTorch sees none); then ``dist.init_process_group``
        over Gloo (CPU) or NCCL bound to the GPU, with the launcher's topology (:func:`launch_topology`), its
        collectives' timeout :func:`~benchmark.train.watchdog.collective_timeout`; a lone worker without a
        launcher joins a group of its own."""
        launched = launch_topology()
        topology = launched or (0, 1, 0, 1, 1)
        rank, size, local_rank, local_size = topology[:4]
        device = use_gpu(local_rank) if config.run.device == "gpu" else torch.device("cpu")
        if device.type == "cuda" and local_size > torch.cuda.device_count() > 1:
            log.warning(
                "%d workers on this node share its %d GPUs: run one worker per GPU",
                local_size,
                torch.cuda.device_count(),
            )
        backend = "nccl" if device.type == "cuda" else "gloo"
        options: dict[str, Any] = {"timeout": timedelta(seconds=collective_timeout(config.run))}
        if device.type == "cuda" and "device_id" in inspect.signature(dist.init_process_group).parameters:
            options["device_id"] = device  # NCCL's communicator made now, on this GPU
        if launched is None:
            dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1, **options)
        else:
            dist.init_process_group(backend, init_method="env://", rank=rank, world_size=size, **options)
        return cls(*topology, device=device)

    def info(self) -> EngineInfo:
        return EngineInfo(
            name=self.name,
            framework=FRAMEWORK,
            framework_version=torch.__version__,
            collectives=f"torch.distributed {torch.__version__}",
            backend=dist.get_backend(),
            device="gpu" if self.on_gpu else "cpu",
            tf32=tf32_allowed() if self.on_gpu else None,
        )

    def kernel_peaks(self, config: TrainConfig, threads: Threads) -> KernelPeaks | None:
        """The node's peaks (:meth:`Engine.kernel_peaks`); on a GPU, the memory the peak's kernels took given back
        and the peak memory counters reset, so that the record's GPU memory is the training's."""
        peaks = super().kernel_peaks(config, threads)
        if self.on_gpu:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
        return peaks

    def gpu(self) -> Gpu | None:
        return gpu_facts(self.device, self.rank) if self.on_gpu else None

    def device_peak_memory(self) -> tuple[int, int] | None:
        """``torch.cuda.max_memory_reserved`` and ``max_memory_allocated`` of the worker's GPU, bytes."""
        if not self.on_gpu:
            return None
        return torch.cuda.max_memory_reserved(self.device), torch.cuda.max_memory_allocated(self.device)

    def _stamp(self) -> float:
        """Seconds since the epoch, once the GPU has done the work queued so far (:func:`synchronize`)."""
        synchronize(self.device)
        return time.time()

    def configure_threads(self, config: TrainConfig) -> Threads:
        return configure_threads(config, self.local_size)

    def build(self, config: TrainConfig, task: Task, first_rate: float) -> None:
        from benchmark.engines.ddp.data import make_torch_pipelines

        check_precision(config.training.precision, self.device)
        torch.manual_seed(config.training.seed)
        self.task, self.weight_decay, self.loss_of = task, config.training.weight_decay, LOSSES[task.name]
        self.compute_dtype = PRECISION_POLICIES[config.training.precision]
        self.pipes = make_torch_pipelines(config, self.rank, self.size, channels_last=True, device=self.device)
        self.steps_per_epoch, self.train_images = self.pipes.steps_per_epoch, self.pipes.train_images
        self.val_images, self.val_fields = self.pipes.val_images, self.pipes.val_fields
        self.has_validation = self.pipes.validation is not None
        if config.model.init_weights is not None:
            raise ValueError("model.init_weights: a Keras weights file; the DDP engine cannot load it")
        # the weights are initialised on the CPU (the same seeded weights on every device), then moved
        model = MODELS[config.model.name].create_torch(*config.data.image_size, 3, config.data.num_classes)
        self.model = model.to(self.device, memory_format=torch.channels_last)
        self.wrapped: torch.nn.Module = (
            self.model
            if self.size == 1
            else DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.on_gpu else None, broadcast_buffers=False
            )
        )
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.kernels = decayed(self.params)
        self.optimizer = OPTIMIZER_BUILDERS[config.training.optimizer](self.params, config.training, first_rate)
        self._momentum = config.training.optimizer == "momentum"
        self._rate = first_rate
        materialise_optimizer_state(self.optimizer, config.training.optimizer)

    def train_batches(self, epoch: int, skip: int) -> Iterable[tuple[Any, Any]]:
        """The batches on the worker's device (from pinned memory without blocking; a no-op for those made there)."""
        return (self._to_device(x, y) for x, y in self.pipes.train(epoch).skip(skip))

    def _to_device(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` and ``y`` on the worker's device (a copy that does not block from pinned memory; the tensors
        themselves when already there)."""
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def batch_images(self, y: Any) -> int:
        return int(y.shape[0])

    def set_learning_rate(self, rate: float) -> None:
        """The rate of the coming steps; with momentum, SGD's buffers rescaled so that ``-rate x buffer`` stays
        Keras' velocity (see the module's docstring)."""
        if rate == self._rate:
            return
        if self._momentum and self._rate != 0.0:
            buffers = [self.optimizer.state[p]["momentum_buffer"] for p in self.params]
            torch._foreach_mul_(buffers, self._rate / rate)
        self._set_rate(rate)

    def _autocast(self) -> torch.autocast:
        """The layers' compute in ``training.precision`` (:data:`PRECISION_POLICIES`)."""
        dtype = self.compute_dtype
        return torch.autocast(self.device.type, dtype=dtype or torch.float32, enabled=dtype is not None)

    def _loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch's mean loss, and it plus the weight decay's L2 on the kernels (the loss backpropagated)."""
        with self._autocast():
            logits = self.wrapped(x)
        loss = self.loss_of(y, logits.float()).mean()
        return loss, loss + self.weight_decay * l2_loss(self.kernels)

    def train_step(self, x: Any, y: Any, requests: np.ndarray, timed: bool) -> StepResult:
        """See :meth:`Engine.train_step`; on a GPU a timed step waits for the GPU before each of its timestamps,
        an untimed one only for its loss (at the end)."""
        self.optimizer.zero_grad(set_to_none=False)
        began = self._stamp() if timed else math.nan
        small = torch.from_numpy(np.asarray(requests, dtype=np.float32)).to(self.device)  # NCCL: on the GPU
        if timed or self.size == 1:
            computed, reduced, loss, agreed = self._separate_step(x, y, small, timed)
        else:
            loss, total = self._loss(x, y)
            total.backward()  # DDP averages the gradients during the backward pass
            summary = torch.cat([loss.detach().reshape(1), small])
            dist.all_reduce(summary)
            summary /= self.size
            loss, agreed = summary[0], summary[1:]
            computed = reduced = float("nan")
        self.optimizer.step()
        updated = self._stamp() if timed else math.nan
        stamps = np.array([began, computed, reduced, updated] if timed else [np.nan] * 4, dtype=np.float64)
        return StepResult(loss=float(loss), agreed=agreed.cpu().numpy() > 0, stamps=stamps)

    def _separate_step(
        self, x, y, small: torch.Tensor, timed: bool = True
    ) -> tuple[float, float, torch.Tensor, torch.Tensor]:
        """Forward and backward without DDP's overlapped allreduce, then one allreduce of the gradients, the
        loss and the requests flattened together (none for a lone worker). Returns the ends of the compute and
        of the allreduce (seconds since the epoch; NaN unless ``timed``), the averaged loss and requests."""
        sync = getattr(self.wrapped, "no_sync", None)
        if sync is None:
            loss, total = self._loss(x, y)
            total.backward()
        else:
            with sync():
                loss, total = self._loss(x, y)
                total.backward()
        computed = self._stamp() if timed else math.nan
        if self.size == 1:
            return computed, computed, loss.detach(), small
        grads = [p.grad for p in self.params]
        flat = torch.cat([*(g.reshape(-1) for g in grads), loss.detach().reshape(1), small])
        dist.all_reduce(flat)
        flat /= self.size
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()
        reduced = self._stamp() if timed else math.nan
        return computed, reduced, flat[offset], flat[offset + 1 :]

    @torch.no_grad()
    def evaluate(self) -> tuple[float, np.ndarray]:
        assert self.pipes.validation is not None, "evaluate() runs only with a validation set (has_validation)"
        self.model.eval()
        loss, outcomes = 0.0, []
        try:
            for x, y, fields in self.pipes.validation:
                on_device, labels = self._to_device(x, y)
                with self._autocast():
                    logits = self.model(on_device)
                logits = logits.float()
                loss += float(self.loss_of(labels, logits).sum())
                outcomes.append(self.task.outcomes(y.numpy(), logits.cpu().numpy(), fields.numpy()))
                self.progress()
        finally:
            self.model.train()
        return loss, np.concatenate(outcomes) if outcomes else np.zeros((0, 0))

    def broadcast_object(self, value: Any, name: str) -> Any:
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def allgather_object(self, value: Any, name: str) -> list[Any]:
        gathered: list[Any] = [None] * self.size
        dist.all_gather_object(gathered, value)
        return gathered

    def barrier(self, name: str) -> None:
        if self.on_gpu:
            dist.barrier(device_ids=[self.device.index])
        else:
            dist.barrier()

    def broadcast_state(self) -> None:
        """Rank 0's parameters, running statistics, optimizer state and learning rate on every worker (a tensor
        kept off the worker's device, as Adam's step count on the CPU of a GPU run, through a copy on it)."""
        if self.size == 1:
            return
        with torch.no_grad():
            for tensor in self._model_tensors() + self._optimizer_tensors():
                if tensor.device == self.device:
                    dist.broadcast(tensor, src=0)
                else:
                    moved = tensor.to(self.device)
                    dist.broadcast(moved, src=0)
                    tensor.copy_(moved)
        self._set_rate(self.broadcast_object(self._rate, "broadcast.learning_rate"))

    def _set_rate(self, rate: float) -> None:
        """The optimizer's rate, as it stands (no momentum rescaling: a rate restored, not changed)."""
        self._rate = rate
        for group in self.optimizer.param_groups:
            group["lr"] = rate

    def _model_tensors(self) -> list[torch.Tensor]:
        """The model's parameters and buffers (running statistics), as :meth:`model_state` names them."""
        return [t for _, t in self._model_named()]

    def _model_named(self) -> list[tuple[str, torch.Tensor]]:
        return [
            (name, t)
            for name, t in self.model.state_dict(keep_vars=True).items()
            if not name.endswith("num_batches_tracked")
        ]

    def _optimizer_named(self) -> list[tuple[str, torch.Tensor]]:
        """The optimizer's per-parameter state tensors, named ``<parameter>/<slot>``, in the model's order."""
        names = {id(p): name for name, p in self.model.named_parameters()}
        return [
            (f"{names[id(p)]}/{slot}", value)
            for p in self.params
            for slot, value in sorted(self.optimizer.state[p].items())
            if isinstance(value, torch.Tensor)
        ]

    def _optimizer_tensors(self) -> list[torch.Tensor]:
        return [t for _, t in self._optimizer_named()]

    def model_state(self) -> NamedArrays:
        named = self._model_named()
        return NamedArrays([t.detach().cpu().numpy() for _, t in named], [name for name, _ in named])

    def optimizer_state(self) -> NamedArrays:
        named = self._optimizer_named()
        rate = np.float64(self._rate)  # the exact rate: a resumed run rescales the momentum as the whole run did
        return NamedArrays(
            [rate, *(t.detach().cpu().numpy() for _, t in named)], ["learning_rate", *(n for n, _ in named)]
        )

    def load_model_state(self, arrays: list[np.ndarray], source: str) -> None:
        self._assign(self._model_named(), arrays, source)

    def load_optimizer_state(self, arrays: list[np.ndarray], source: str) -> None:
        check_shapes(source, arrays[:1], [("learning_rate", ())])
        self._assign(self._optimizer_named(), arrays[1:], source)
        self._set_rate(float(arrays[0]))

    @staticmethod
    def _assign(named: list[tuple[str, torch.Tensor]], arrays: list[np.ndarray], source: str) -> None:
        check_shapes(source, arrays, [(name, tuple(t.shape)) for name, t in named])
        with torch.no_grad():
            for (_, tensor), value in zip(named, arrays):
                tensor.copy_(torch.from_numpy(np.asarray(value)))

    def weights_digest(self) -> str:
        """SHA-256 of the trainable parameters' float32 bytes in order (running statistics left out, as the
        Horovod engine's)."""
        digest = hashlib.sha256()
        for p in self.params:
            digest.update(np.ascontiguousarray(p.detach().cpu().numpy()).data)
        return digest.hexdigest()

    def parameter_count(self) -> int:
        return parameter_count(self.model)
