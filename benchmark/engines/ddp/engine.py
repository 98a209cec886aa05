"""The PyTorch DistributedDataParallel engine, ``run.engine = "ddp"``: the suite's runs where Horovod cannot
go (Python >= 3.13, TensorFlow >= 2.19, GPU nodes).

- **Start.** ``torch.distributed`` joins the launch's workers: under ``torchrun`` (the local executor's
  launcher, :mod:`benchmark.engines.ddp.launch`) from its ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
  ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``; under ``srun`` from SLURM's ``SLURM_PROCID``,
  ``SLURM_NTASKS``, ``SLURM_LOCALID`` and ``SLURM_NNODES``, the rendezvous on rank 0's node
  (``SLURM_LAUNCH_NODE_IPADDR``, where srun runs: the job's first node, which holds rank 0) at a port made
  from the job and step ids (:func:`launch_topology`). A lone worker without a launcher joins itself. Gloo on
  CPU nodes, NCCL on GPU nodes.
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

import hashlib
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
from benchmark.engines.base import Engine, NamedArrays, StepResult
from benchmark.errors import McnnBenchError
from benchmark.models import MODELS
from benchmark.models.torch_models import parameter_count
from benchmark.record import EngineInfo, Threads
from benchmark.train.checkpoint import check_shapes
from benchmark.train.optimizers import OPTIMIZERS
from benchmark.train.task import Task
from benchmark.train.watchdog import collective_timeout
from benchmark.util.provenance import BF16_FLAGS, cpu_model, isa_flags, native_bf16

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


def decayed(params: list[torch.nn.Parameter]) -> list[torch.nn.Parameter]:
    """The parameters that ``training.weight_decay`` applies to: the kernels of the convolutions and dense layers
    (more than one dimension; not biases or batch normalisation's scales), the Keras models' ``kernel`` variables."""
    return [p for p in params if p.ndim > 1]


def l2_loss(kernels: list[torch.nn.Parameter]) -> torch.Tensor:
    """The kernels' L2 as ``tf.nn.l2_loss`` sums it: the sum of their squares / 2 (a float32 scalar), which
    ``training.weight_decay`` multiplies in the loss."""
    return torch.stack([k.pow(2).sum() for k in kernels]).sum() / 2


def check_precision(precision: str) -> None:
    """Raise ``ValueError`` for bf16 on a CPU without AVX512-BF16 or AMX (emulated bf16 would be slower than
    fp32)."""
    if precision == "bf16" and not native_bf16():
        raise ValueError(
            f"training.precision: bf16 needs a CPU with {' or '.join(BF16_FLAGS)} (this one, "
            f"{cpu_model()}, has {', '.join(isa_flags()) or 'none of the flags checked'}); use fp32"
        )


class DdpEngine(Engine):
    """One worker of PyTorch DistributedDataParallel (see the module's docstring)."""

    name = "ddp"

    def __init__(self, rank: int, size: int, local_rank: int, local_size: int, nodes: int):
        self.rank, self.size, self.local_rank, self.local_size, self.nodes = rank, size, local_rank, local_size, nodes
        self.device = torch.device("cpu")

    @classmethod
    def start(cls, config: TrainConfig) -> DdpEngine:
        """``dist.init_process_group`` over Gloo with the launcher's topology (:func:`launch_topology`), its
        collectives' timeout :func:`~benchmark.train.watchdog.collective_timeout`; a lone worker without a
        launcher joins a group of its own."""
        topology = launch_topology()
        timeout = timedelta(seconds=collective_timeout(config.run))
        if topology is None:
            dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1, timeout=timeout)
            return cls(0, 1, 0, 1, 1)
        rank, size = topology[:2]
        dist.init_process_group("gloo", init_method="env://", rank=rank, world_size=size, timeout=timeout)
        return cls(*topology)

    def info(self) -> EngineInfo:
        return EngineInfo(
            name=self.name,
            framework=FRAMEWORK,
            framework_version=torch.__version__,
            collectives=f"torch.distributed {torch.__version__}",
            backend=dist.get_backend(),
            device="cpu",
        )

    def configure_threads(self, config: TrainConfig) -> Threads:
        return configure_threads(config, self.local_size)

    def build(self, config: TrainConfig, task: Task, first_rate: float) -> None:
        from benchmark.engines.ddp.data import make_torch_pipelines

        check_precision(config.training.precision)
        torch.manual_seed(config.training.seed)
        self.task, self.weight_decay, self.loss_of = task, config.training.weight_decay, LOSSES[task.name]
        self.compute_dtype = PRECISION_POLICIES[config.training.precision]
        self.pipes = make_torch_pipelines(config, self.rank, self.size, channels_last=True)
        self.steps_per_epoch, self.train_images = self.pipes.steps_per_epoch, self.pipes.train_images
        self.val_images, self.val_fields = self.pipes.val_images, self.pipes.val_fields
        self.has_validation = self.pipes.validation is not None
        if config.model.init_weights is not None:
            raise ValueError("model.init_weights: a Keras weights file; the DDP engine cannot load it")
        model = MODELS[config.model.name].create_torch(*config.data.image_size, 3, config.data.num_classes)
        self.model = model.to(self.device, memory_format=torch.channels_last)
        self.wrapped: torch.nn.Module = (
            self.model if self.size == 1 else DistributedDataParallel(self.model, broadcast_buffers=False)
        )
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.kernels = decayed(self.params)
        self.optimizer = OPTIMIZER_BUILDERS[config.training.optimizer](self.params, config.training, first_rate)
        self._momentum = config.training.optimizer == "momentum"
        self._rate = first_rate
        self._materialise_optimizer_state()

    def _materialise_optimizer_state(self) -> None:
        """Create the optimizer's per-parameter state (zeros, as Keras' ``optimizer.build``), so that a
        checkpoint has the same variables before and after the first step."""
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                state = self.optimizer.state[p]
                if isinstance(self.optimizer, torch.optim.SGD):
                    state.setdefault("momentum_buffer", torch.zeros_like(p))
                elif isinstance(self.optimizer, torch.optim.Adam):
                    state.setdefault("step", torch.tensor(0.0))
                    state.setdefault("exp_avg", torch.zeros_like(p))
                    state.setdefault("exp_avg_sq", torch.zeros_like(p))
                elif isinstance(self.optimizer, torch.optim.Adadelta):
                    state.setdefault("step", torch.tensor(0.0))
                    state.setdefault("square_avg", torch.zeros_like(p))
                    state.setdefault("acc_delta", torch.zeros_like(p))

    def train_batches(self, epoch: int, skip: int) -> Iterable[tuple[Any, Any]]:
        return ((x, y) for x, y in self.pipes.train(epoch).skip(skip))

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
        self.optimizer.zero_grad(set_to_none=False)
        began = time.time()
        small = torch.from_numpy(np.asarray(requests, dtype=np.float32))
        if timed or self.size == 1:
            computed, reduced, loss, agreed = self._separate_step(x, y, small)
        else:
            loss, total = self._loss(x, y)
            total.backward()  # DDP averages the gradients during the backward pass
            summary = torch.cat([loss.detach().reshape(1), small])
            dist.all_reduce(summary)
            summary /= self.size
            loss, agreed = summary[0], summary[1:]
            computed = reduced = float("nan")
        self.optimizer.step()
        updated = time.time()
        stamps = np.array([began, computed, reduced, updated] if timed else [np.nan] * 4, dtype=np.float64)
        return StepResult(loss=float(loss), agreed=agreed.numpy() > 0, stamps=stamps)

    def _separate_step(self, x, y, small: torch.Tensor) -> tuple[float, float, torch.Tensor, torch.Tensor]:
        """Forward and backward without DDP's overlapped allreduce, then one allreduce of the gradients, the
        loss and the requests flattened together (none for a lone worker). Returns the ends of the compute and
        of the allreduce (seconds since the epoch), the averaged loss and requests."""
        sync = getattr(self.wrapped, "no_sync", None)
        if sync is None:
            loss, total = self._loss(x, y)
            total.backward()
        else:
            with sync():
                loss, total = self._loss(x, y)
                total.backward()
        computed = time.time()
        if self.size == 1:
            return computed, time.time(), loss.detach(), small
        grads = [p.grad for p in self.params]
        flat = torch.cat([*(g.reshape(-1) for g in grads), loss.detach().reshape(1), small])
        dist.all_reduce(flat)
        flat /= self.size
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()
        reduced = time.time()
        return computed, reduced, flat[offset], flat[offset + 1 :]

    @torch.no_grad()
    def evaluate(self) -> tuple[float, np.ndarray]:
        assert self.pipes.validation is not None, "evaluate() runs only with a validation set (has_validation)"
        self.model.eval()
        loss, outcomes = 0.0, []
        try:
            for x, y, fields in self.pipes.validation:
                with self._autocast():
                    logits = self.model(x)
                logits = logits.float()
                loss += float(self.loss_of(y, logits).sum())
                outcomes.append(self.task.outcomes(y.numpy(), logits.numpy(), fields.numpy()))
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
        dist.barrier()

    def broadcast_state(self) -> None:
        """Rank 0's parameters, running statistics, optimizer state and learning rate on every worker."""
        if self.size == 1:
            return
        with torch.no_grad():
            for tensor in self._model_tensors() + self._optimizer_tensors():
                dist.broadcast(tensor, src=0)
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
        return NamedArrays([t.detach().numpy() for _, t in named], [name for name, _ in named])

    def optimizer_state(self) -> NamedArrays:
        named = self._optimizer_named()
        rate = np.float64(self._rate)  # the exact rate: a resumed run rescales the momentum as the whole run did
        return NamedArrays([rate, *(t.detach().numpy() for _, t in named)], ["learning_rate", *(n for n, _ in named)])

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
            digest.update(np.ascontiguousarray(p.detach().numpy()).data)
        return digest.hexdigest()

    def parameter_count(self) -> int:
        return parameter_count(self.model)
