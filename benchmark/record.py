"""The run record: one typed, validated JSON file per run, ``RUN_DIR/record.json``, written atomically by
rank 0 (the trainer fills it), annotated by the sweep driver (its executor's view of the job), and read by the
sweep status and the analysis. Its JSON Schema is exported to ``docs/run-record.schema.json``.

A failed run is a record too (``status: failed`` with the reason), never a silent gap. Units: seconds,
bytes, images/s; top-1/top-5 are fractions in [0, 1].
"""

from __future__ import annotations

import json
import os
import stat
import traceback as tb
from pathlib import Path
from typing import Annotated, Final, Literal

from pydantic import BeforeValidator, Field, ValidationError, model_validator

from benchmark.config import Precision, TrainConfig
from benchmark.engines import Device
from benchmark.errors import McnnBenchError
from benchmark.schema import Model, PlainName, describe_all
from benchmark.util.atomic import write_atomic

SCHEMA_VERSION: Final = 3
RECORD_NAME = "record.json"
#: The largest record file that is read, in bytes (16 MiB). A run's record holds kilobytes (its epochs and
#: per-rank figures: about 10 kB for a run of 10 epochs, a few hundred kB for thousands of ranks); a larger
#: file is not a record the suite wrote, and is refused after a ``stat`` without being read (validating a
#: 140 MB file took 3 GB of memory).
MAX_RECORD_BYTES: Final = 16 * 2**20
#: The short name of each main validation figure (``TimeToTrain.metric``), for terminals and logs.
METRIC_NAMES = {"val_top1": "top-1", "val_auroc_mean": "mean AUROC"}


class RecordError(McnnBenchError, ValueError):
    """A record that cannot be read or does not follow the schema; the message names the file and field."""


Fraction = Annotated[float, Field(ge=0, le=1)]
Count = Annotated[int, Field(ge=0)]
Positive = Annotated[int, Field(gt=0)]
#: A [low, high] interval of fractions (a JSON array, held as a tuple).
Interval = Annotated[tuple[Fraction, Fraction], BeforeValidator(lambda v: tuple(v) if isinstance(v, list) else v)]


class Failure(Model):
    """Why a run failed: a one-line ``reason`` and, when known, the traceback text."""

    reason: str
    traceback: str | None = None

    @classmethod
    def of_exception(cls, exc: BaseException) -> Failure:
        """The failure of a run that raised ``exc``."""
        return cls(reason=f"{type(exc).__name__}: {exc}", traceback="".join(tb.format_exception(exc)))


class Topology(Model):
    """Nodes, workers (Horovod ranks) and batch sizes of a run (global = local x workers)."""

    nodes: Positive
    workers_per_node: Positive
    workers: Positive
    local_batch_size: Positive
    global_batch_size: Positive

    @classmethod
    def of(cls, nodes: int, workers_per_node: int, local_batch_size: int) -> Topology:
        """The topology of ``nodes`` x ``workers_per_node`` workers at ``local_batch_size`` each."""
        workers = nodes * workers_per_node
        return cls(
            nodes=nodes,
            workers_per_node=workers_per_node,
            workers=workers,
            local_batch_size=local_batch_size,
            global_batch_size=local_batch_size * workers,
        )

    @classmethod
    def expected(cls, config: TrainConfig) -> Topology | None:
        """The topology a sweep asked for (before any worker started), or None for a lone run."""
        run = config.run
        if run.nodes is None or run.workers_per_node is None:
            return None
        return cls.of(run.nodes, run.workers_per_node, run.local_batch_size)


class Threads(Model):
    """TensorFlow's threads per worker, OMP_NUM_THREADS, the cores the worker may run on, and the
    threading environment it saw."""

    intra_op: Positive
    inter_op: Positive
    omp_num_threads: str | None
    affinity_cores: Positive
    env: dict[str, str] = Field(
        default_factory=dict,
        description="the worker's environment variables named "
        "OMP_*, KMP_*, MKL_*, DNNL_*, ONEDNN_*, TF_ENABLE_ONEDNN* or HOROVOD_CYCLE_TIME "
        "(OpenMP, Intel OpenMP, MKL, oneDNN, Horovod's background thread), as set, "
        "whether or not the TensorFlow build reads them (empty in records made before)",
    )


class EngineInfo(Model):
    """The training engine of a run (``run.engine``, :mod:`benchmark.engines`): its framework, collective
    library and backend, and the device the workers trained on."""

    name: str = Field(description="run.engine, e.g. horovod")
    framework: str = Field(description="e.g. tensorflow")
    framework_version: str
    collectives: str = Field(description="the collective library and its version, e.g. horovod 0.28.1")
    backend: str = Field(description="the collective backend the workers used, e.g. mpi, gloo or nccl")
    device: Device = Field(description="run.device: cpu, or gpu (one GPU per worker)")
    tf32: bool | None = Field(
        None,
        description="on GPUs: whether float32 matmuls and convolutions may run in TF32 on the tensor cores (the "
        "DDP engine allows it, so an fp32 run computes them with 10-bit mantissas); null on CPUs and in records "
        "made before it existed",
    )


class Gpu(Model):
    """The GPU one worker trained on (``run.device = "gpu"``), as its framework and the driver report it."""

    rank: Count = Field(description="the worker's rank")
    host: str = Field(description="the worker's host")
    index: Count = Field(description="the device's index among those the worker sees (CUDA_VISIBLE_DEVICES applied)")
    name: str = Field(description="the GPU model, e.g. NVIDIA H100 80GB HBM3")
    memory_bytes: Count = Field(description="the device's total memory")
    compute_capability: str = Field(description="major.minor, e.g. 9.0")
    driver_version: str | None = Field(
        description="the NVIDIA driver (nvidia-smi's driver_version, else /proc/driver/nvidia/version); null: unknown"
    )
    cuda_runtime: str | None = Field(description="the CUDA runtime the framework was built with (torch.version.cuda)")


#: The Horovod engine's controllers (its collective backend, :attr:`EngineInfo.backend`).
HorovodController = Literal["mpi", "gloo"]


class Provenance(Model):
    """Where and with what the run ran."""

    hostnames: list[str] = Field(description="per rank")
    cpu_model: str
    isa_flags: list[str] = Field(
        default_factory=list,
        description="of benchmark.util.provenance.ISA_FLAGS, those the CPU has (empty in records made before)",
    )
    logical_cpus: int | None
    threads: Threads
    software: dict[str, str | None]
    horovod_controller: HorovodController | None = Field(
        description="the Horovod engine's controller (null for another engine)"
    )
    engine: EngineInfo | None = Field(
        None, description="the training engine; null in records made before engines existed (all Horovod)"
    )
    gpus: list[Gpu] | None = Field(
        None, description="the GPU of each rank, by rank (run.device = gpu); null on CPUs and in records made before"
    )
    git_commit: str | None
    allocator: str | None = Field(
        None,
        description="the malloc rank 0 ran with: system (the C library's), "
        "jemalloc or tcmalloc (run.allocator; "
        "benchmark.util.allocator.loaded_allocator); null in records "
        "made before",
    )
    started_at: str = Field(
        description="UTC, ISO 8601: when the run's first segment started (a resumed run keeps its first start)"
    )
    finished_at: str | None = Field(None, description="UTC, ISO 8601: when the record was made")
    train_images: Count
    val_images: Count
    steps_per_epoch: Positive


class InitFrom(Model):
    """Where a run's initial model weights came from (``training.init_from``): another run's checkpoint."""

    run_dir: str = Field(description="the other run's folder, as given")
    checkpoint: str = Field(description="the checkpoint's manifest file name in its checkpoints/ folder")
    epoch: Count = Field(description="epochs that run had completed at the checkpoint")
    global_step: Count = Field(description="training steps that run had done at the checkpoint")


class ModelInfo(Model):
    """The model's size and SHA-256 digests of its weights (equal on every rank when they stayed in sync).
    ``initial_weights_sha256`` is of the weights the first training step started from (after
    ``init_from``); a resumed run keeps its first segment's."""

    parameters: Positive
    initial_weights_sha256: str
    final_weights_sha256_per_rank: list[str]
    init_from: InitFrom | None = Field(None, description="null: the weights started from the seeded initialisation")


class Spread(Model):
    """Minimum, median and maximum of a set of step times, in seconds."""

    min: float
    median: float
    max: float


class RankSteps(Spread):
    """One rank's timed steps: every step's wall time (seconds) and their spread."""

    rank: Count
    steps: list[float]


class StepSeconds(Spread):
    """Step wall times over all ranks, and per rank."""

    per_rank: list[RankSteps]


class RankBreakdown(Model):
    """One rank's training time by what it went to, in seconds (see :func:`benchmark.train.metrics.step_breakdown`)."""

    rank: Count
    sampled_steps: Positive = Field(description="the timed steps that timed their phases")
    wall_seconds: float = Field(
        gt=0,
        description="the sampled steps' call times plus the time before each one "
        "that follows another step within an epoch",
    )
    compute: float = Field(ge=0, description="forward and backward")
    allreduce: float = Field(ge=0, description="the step's grouped allreduce of gradients, loss and requests")
    optimizer: float = Field(ge=0, description="the momentum-SGD update")
    input_wait: float = Field(ge=0, description="waiting for the next batch")
    host: float = Field(ge=0, description="the rest: dispatching the step, the trainer's work between steps")


#: What a sampled step's wall time goes to (:class:`RankBreakdown`'s fields, :class:`StepBreakdown`'s shares).
StepPart = Literal["compute", "allreduce", "optimizer", "input_wait", "host"]


class StepBreakdown(Model):
    """Where the sampled steps' wall time went: per rank, and the shares (fractions) averaged over ranks."""

    per_rank: list[RankBreakdown]
    shares: dict[StepPart, float]


class Throughput(Model):
    """Global training throughput over the timed window (see :mod:`benchmark.train.metrics`)."""

    warmup_steps: Count = Field(description="steps left out at the start of every segment")
    segments: Positive = Field(
        1, description="training segments: 1 + resumes (each re-traces, so each leaves out its first warmup_steps)"
    )
    timed_steps: Positive
    images: Positive = Field(description="images of all ranks in the timed steps")
    window_seconds: float = Field(
        gt=0,
        description="the whole wall-clock span of the timed steps, input waits "
        "included, evaluations between epochs left out",
    )
    images_per_second: float = Field(gt=0, description="images / window_seconds")
    step_seconds: StepSeconds
    breakdown: StepBreakdown | None = Field(
        None, description="null when no timed step was sampled, and in records made before it existed"
    )


class Memory(Model):
    """Peak resident set size of each rank, in bytes; on GPUs (``run.device = "gpu"``) also each rank's peak of its
    GPU's memory, in bytes, as the framework's caching allocator counts it (PyTorch: ``torch.cuda.
    max_memory_reserved``, what the allocator took from the GPU, the figure that runs out; and
    ``max_memory_allocated``, what the tensors held at most), over the whole run, the peak measurement before
    training left out. The device fields are null on CPUs and in records made before they existed."""

    peak_rss_bytes_per_rank: list[Count]
    peak_rss_bytes_max: Count
    device_peak_reserved_bytes_per_rank: list[Count] | None = Field(
        None,
        description="each rank's peak GPU memory reserved by the framework's allocator "
        "(torch.cuda.max_memory_reserved)",
    )
    device_peak_reserved_bytes_max: Count | None = Field(None, description="the largest of those")
    device_peak_allocated_bytes_per_rank: list[Count] | None = Field(
        None, description="each rank's peak GPU memory held by tensors (torch.cuda.max_memory_allocated)"
    )
    device_peak_allocated_bytes_max: Count | None = Field(None, description="the largest of those")

    @classmethod
    def of(
        cls, peak_rss: list[int], device_reserved: list[int] | None = None, device_allocated: list[int] | None = None
    ) -> Memory:
        """The section of these per-rank peaks (bytes, by rank; the device's None or empty: not on a GPU)."""
        return cls(
            peak_rss_bytes_per_rank=peak_rss,
            peak_rss_bytes_max=max(peak_rss),
            device_peak_reserved_bytes_per_rank=device_reserved or None,
            device_peak_reserved_bytes_max=max(device_reserved) if device_reserved else None,
            device_peak_allocated_bytes_per_rank=device_allocated or None,
            device_peak_allocated_bytes_max=max(device_allocated) if device_allocated else None,
        )


class Epoch(Model):
    """One epoch's figures. ``learning_rate`` is the rate at the epoch's first step; ``elapsed_seconds`` is
    training time from the first training step to the end of this epoch's evaluation, summed over the
    run's segments: checkpoint writing, and everything between a checkpoint and the first step of the
    segment resumed from it (lost work, requeue, queue wait, start-up), are left out."""

    epoch: Positive
    learning_rate: float
    train_loss: float
    val_loss: float | None = None
    val_top1: Fraction | None = None
    val_top5: Fraction | None = None
    val_top1_ci: Interval | None = Field(
        None, description="95 % interval of val_top1 from a bootstrap over fields of view"
    )
    val_top5_ci: Interval | None = Field(None, description="95 % interval of val_top5, likewise")
    val_auroc: dict[str, Fraction | None] | None = Field(
        None,
        description="multi-label data: the AUROC of each "
        "class by name (null: the class has no "
        "positive or no negative in validation)",
    )
    val_auroc_mean: Fraction | None = Field(
        None, description="multi-label data: the mean of the defined per-class AUROCs"
    )
    elapsed_seconds: float


class ResumeEvent(Model):
    """One resume: the checkpoint a segment continued from, and the wall time that cost."""

    checkpoint: str = Field(description="the checkpoint's manifest file name in RUN_DIR/checkpoints")
    epoch: Count = Field(description="epochs completed at the checkpoint")
    step: Count = Field(description="steps done in the next epoch at the checkpoint")
    global_step: Count = Field(description="training steps done at the checkpoint")
    reason: Literal["periodic", "signal", "final"] = Field(description="why the checkpoint was written")
    written_at: str = Field(description="UTC, ISO 8601: when the checkpoint was written")
    resumed_at: str = Field(
        description="UTC, ISO 8601: the resumed segment's first step (or, with nothing left to train, when it found so)"
    )
    lost_seconds: float = Field(
        description="resumed_at - written_at: work thrown away, requeue, queue wait and start-up"
    )
    fell_back: bool = Field(description="newer checkpoints were cut short or corrupt and were skipped")
    skipped: list[str] = Field(default_factory=list, description="each skipped checkpoint and why")


class Resumes(Model):
    """The resumes of a run from its own checkpoints (null for a run that never resumed)."""

    count: Positive
    wall_seconds_lost: float = Field(description="sum of the events' lost_seconds")
    events: list[ResumeEvent]

    @classmethod
    def of(cls, events: list[ResumeEvent]) -> Resumes | None:
        """The section for ``events`` (in order), or None when there are none."""
        if not events:
            return None
        return cls(count=len(events), wall_seconds_lost=sum(e.lost_seconds for e in events), events=events)


class Stall(Model):
    """A pause the run recovered from: a gap between training steps longer than the stall threshold, max(
    ``run.stall_floor_seconds``, ``run.stall_step_multiple`` x the median step so far), as rank 0 saw it (the
    steps' collective holds every rank to the slowest). A gap runs from the end of the previous step (or of
    the evaluation or checkpoint before it) to the end of the step; evaluations and checkpoints are no gaps,
    and neither are a segment's first calls of each step variant (graph tracing)."""

    began_at: str = Field(description="UTC, ISO 8601: the end of the previous step, evaluation or checkpoint")
    seconds: float = Field(gt=0, description="the gap's length, the step's own time included")
    epoch: Positive = Field(description="the epoch of the step that ended the gap")
    step: Positive = Field(description="that step within its epoch")
    threshold_seconds: float = Field(gt=0, description="the stall threshold when it was detected")
    ranks: list[Count] | None = Field(
        None,
        description="the ranks that were themselves paused meanwhile (their watchdog thread woke late: "
        "stopped, frozen or starved); null: not known",
    )


class TimeToTarget(Model):
    """Seconds and epochs until a validation figure first reached ``target``; null with a reason if never."""

    target: Fraction | None
    seconds: float | None
    epochs: Positive | None
    reason: str | None


#: The :class:`Epoch` field that time to train is measured on: top-1, or the mean AUROC of multi-label data.
MainMetric = Literal["val_top1", "val_auroc_mean"]


class TimeToTrain(Model):
    """Seconds and epochs until the run's main validation figure (``metric``: top-1 for single-label data, the
    mean per-class AUROC for multi-label data) first reached its target; null with a reason if never. The same
    for top-5 in ``top5`` (Datta et al. 2019, Table 1: 99 % top-1 and 100 % top-5)."""

    metric: MainMetric = Field("val_top1", description="the Epoch field timed")
    target: Fraction | None = Field(
        None, description="the target of metric (records made before it existed: see target_top1)"
    )
    target_top1: Fraction | None = Field(description="single-label data: training.target_top1 (null otherwise)")
    seconds: float | None
    epochs: Positive | None
    reason: str | None
    top5: TimeToTarget | None = Field(
        None, description="time to training.target_top5 (null in records made before it existed)"
    )

    @model_validator(mode="before")
    @classmethod
    def _target_of_older_records(cls, data):
        """A record made before ``target`` existed timed top-1: its target is ``target_top1``."""
        if isinstance(data, dict) and data.get("target") is None and data.get("metric", "val_top1") == "val_top1":
            data = {**data, "target": data.get("target_top1")}
        return data


class FieldAccuracy(Model):
    """One validation field of view's figures at the last epoch."""

    field: str = Field(description="field-of-view id <plate>/<DAPI file name>")
    images: Positive = Field(description="validation images (copies) of the field")
    top1: Fraction
    top5: Fraction


class Validation(Model):
    """How sure the validation figures are: the bootstrap behind the epochs' ``val_top1_ci``/``val_top5_ci``
    (fields of view resampled with replacement, accuracy over their images, percentile interval), and the
    last epoch's accuracy per field."""

    fields: Positive = Field(description="validation fields of view")
    images: Positive = Field(description="validation images")
    resamples: Positive
    level: Fraction = Field(description="coverage of the intervals (0.95)")
    leaky: bool = Field(description="data.split = paper: validation may hold copies of training fields")
    per_field: list[FieldAccuracy]


Kernel = Literal["conv5x5", "matmul"]


class KernelPeak(Model):
    """One kernel's measured rate at one precision."""

    kernel: Kernel
    precision: Precision
    shape: list[int] = Field(
        description="conv5x5: [batch, height, width, in channels, out channels]; matmul: [M, N, K]"
    )
    gflop: float = Field(gt=0, description="FLOPs of one call / 1e9")
    iterations: int = Field(ge=0, description="timed calls (0: not measured)")
    gflops_per_second: float | None = Field(
        gt=0,
        description="median over the timed calls; null: not measured (bf16 on a CPU without native bf16, or on a "
        "GPU without bf16)",
    )


class KernelPeaks(Model):
    """A node's peak GFLOP/s for M-CNN's dominant kernels at one thread setting (one worker's), in the framework
    of the run's engine, on the run's device (the CPU, or one GPU: ``gpu``), as :mod:`benchmark.microbench.peak`
    measures and caches it."""

    host: str
    cpu_model: str
    intra_op_threads: int = Field(gt=0)
    inter_op_threads: int = Field(gt=0)
    framework: str = Field(
        "tensorflow",
        description="the framework whose kernels were timed, as provenance.engine.framework names it: tensorflow "
        "(the Horovod engine's) or pytorch (the DDP engine's); tensorflow in records made before it existed",
    )
    framework_version: str = Field(description="its version")
    gpu: str | None = Field(
        None,
        description="the GPU the kernels ran on (run.device = gpu: local rank 0's), e.g. NVIDIA H100 80GB HBM3; "
        "null: the CPU (and in peaks measured before it existed)",
    )
    tf32: bool | None = Field(
        None, description="on a GPU: whether the fp32 kernels could run in TF32, as the runs' (null on CPUs)"
    )
    measured_at: str = Field(description="UTC, ISO 8601")
    kernels: list[KernelPeak]

    @model_validator(mode="before")
    @classmethod
    def _version_of_older_peaks(cls, data):
        """Peaks measured before ``framework`` existed were TensorFlow's, its version in ``tensorflow``: read
        that as ``framework_version``."""
        if isinstance(data, dict) and "tensorflow" in data and "framework_version" not in data:
            data = {("framework_version" if key == "tensorflow" else key): value for key, value in data.items()}
        return data

    def gflops(self, kernel: Kernel, precision: Precision) -> float | None:
        """The measured GFLOP/s of ``kernel`` at ``precision``, or None (not measured, or not native)."""
        return next((k.gflops_per_second for k in self.kernels if (k.kernel, k.precision) == (kernel, precision)), None)


class Analytic(Model):
    """The analytic model's figures for the run's input size and local batch (:mod:`benchmark.models.analytic`) and
    what the run achieved against them. GFLOP/s counts training FLOPs (forward + backward) of the timed
    images.

    ``fraction_of_peak`` holds the run against the node's own peak (:mod:`benchmark.microbench.peak`): achieved
    GFLOP/s per worker over the 5x5 convolution's GFLOP/s at the run's precision, as one worker measured it
    with the run's threads (on GPUs: on one of the node's GPUs). The 5x5 convolutions are 99.6 % of M-CNN's
    FLOPs, so their kernel's rate is what the model could reach. The peak is rank 0's node's (every node
    measures its own, before training)."""

    parameters: Positive
    parameter_bytes: Positive
    forward_gflop_per_image: float = Field(gt=0)
    training_gflop_per_image: float = Field(gt=0)
    activation_bytes: Positive = Field(description="activations of one local batch (float32)")
    memory_lower_bound_bytes: Positive = Field(
        description="weights + gradients + momentum + activations of one local batch"
    )
    achieved_gflops_per_second: float = Field(gt=0, description="training FLOPs of the run's images/s, all workers")
    achieved_gflops_per_second_per_worker: float = Field(gt=0)
    peak_rss_over_lower_bound: float = Field(gt=0, description="memory.peak_rss_bytes_max / memory_lower_bound_bytes")
    achieved_gflops_per_second_per_node: float | None = Field(
        None,
        gt=0,
        description="achieved_gflops_per_second_per_worker x workers per node (null in records made before it existed)",
    )
    peak: KernelPeaks | None = Field(
        None, description="rank 0's node's peak GFLOP/s per worker (null in records made before it existed)"
    )
    fraction_of_peak: float | None = Field(
        None,
        gt=0,
        description="achieved_gflops_per_second_per_worker / the peak's conv5x5 GFLOP/s at the run's precision",
    )


class SlurmJob(Model):
    """SLURM's own view of the run's job, beside the :class:`Scheduler` fields every scheduler has: the job
    environment (strings made typed, :func:`benchmark.util.provenance.scheduler_job`) and sacct's accounting."""

    nodes: Positive | None = None
    tasks_per_node: Positive | None = None
    cpus_per_task: Positive | None = None
    partition: str | None = None
    queue_wait_seconds: float | None = None


class Requeue(Model):
    """One time the scheduler requeued the run's job under the same id: how that incarnation ended, why it
    was requeued, when it ran (the scheduler's local ISO 8601 times) and on which nodes."""

    state: str = Field(
        description="the scheduler's word for how the incarnation ended (SLURM: NODE_FAIL, PREEMPTED, REQUEUED ...)"
    )
    cause: str = Field(description="why it was requeued, in words")
    started_at: str | None = None
    ended_at: str | None = None
    node_list: str | None = None


class Scheduler(Model):
    """The view of the run's job from what ran it (the sweep's executor, or the job environment the workers
    saw): which scheduler, its job id, how the job ended, its elapsed time in seconds and its nodes, each
    time it was requeued, and the scheduler's own fields (``slurm`` for SLURM)."""

    kind: PlainName = Field(description="the executor that ran the job (executor.kind): slurm, local ...")
    job_id: str | None = None
    state: str | None = Field(
        None,
        description="how the job ended, in the scheduler's words: for SLURM "
        "sacct's State (COMPLETED, FAILED, CANCELLED, TIMEOUT ...); for "
        "the local executor COMPLETED, FAILED, or KILLED (it ended "
        "without a result)",
    )
    elapsed_seconds: float | None = Field(
        None, description="the job's wall time, start to end (SLURM: sacct's ElapsedRaw)"
    )
    node_list: str | None = Field(
        None, description="the nodes the job ran on (SLURM's node list, e.g. node[1-2]; the local executor: this host)"
    )
    requeues: list[Requeue] = Field(
        default_factory=list,
        description="each time the scheduler requeued the job (a node failure, a preemption, a requeue at the "
        "time limit), oldest first; the trainer's resumes are in the record's resumes section",
    )
    slurm: SlurmJob | None = Field(None, description="SLURM's own fields (null for another scheduler)")

    def merged(self, other: Scheduler) -> Scheduler:
        """This view with every field that ``other`` knows taken from ``other`` (SLURM's own fields likewise);
        ``other`` alone when it is another scheduler's."""
        if other.kind != self.kind:
            return other
        slurm = other.slurm or self.slurm
        if self.slurm and other.slurm:
            slurm = self.slurm.model_copy(update=other.slurm.model_dump(exclude_none=True))
        known = other.model_dump(exclude_none=True, exclude={"slurm"})
        return Scheduler.model_validate({**self.model_dump(exclude={"slurm"}), **known, "slurm": slurm})


#: :class:`Scheduler` fields that records of schema version 2 kept in their ``slurm`` section beside SLURM's own.
_GENERIC_FIELDS = ("job_id", "node_list", "state", "elapsed_seconds")


def _scheduler_of_slurm_section(slurm: dict) -> dict:
    """The ``slurm`` section of a record of schema version 2 (:data:`_GENERIC_FIELDS` and SLURM's own fields) as
    the data of a ``scheduler`` section."""
    return {
        "kind": "slurm",
        **{key: slurm[key] for key in _GENERIC_FIELDS if key in slurm},
        "slurm": {key: value for key, value in slurm.items() if key not in _GENERIC_FIELDS},
    }


class RunRecord(Model):
    """Everything known about one run. A completed run has every section but ``failure``; a failed run
    has ``failure`` and whatever it reached (null elsewhere)."""

    schema_version: Literal[3] = Field(
        SCHEMA_VERSION,
        description="3: the job's view is the generic scheduler "
        "section (records of version 2, whose slurm section held SLURM's view, "
        "are read as version 3)",
    )
    sweep: PlainName
    run_id: PlainName
    status: Literal["completed", "failed"]
    failure: Failure | None = None
    config: TrainConfig
    fingerprint: str = Field(
        description="the run's identity: config.fingerprint(), every setting that "
        "changes what is trained or measured (benchmark.config)"
    )
    topology: Topology | None = None
    provenance: Provenance | None = None
    model: ModelInfo | None = None
    throughput: Throughput | None = None
    memory: Memory | None = None
    epochs: list[Epoch] | None = None
    time_to_train: TimeToTrain | None = None
    validation: Validation | None = None
    analytic: Analytic | None = None
    resumes: Resumes | None = None
    scheduler: Scheduler | None = Field(
        None, description="null for a run outside any scheduler (a lone mcnn-bench train)"
    )
    stalls: list[Stall] | None = Field(
        None,
        description="the pauses the run recovered from, oldest first (empty: none); null for a failed "
        "run and in records made before it existed",
    )

    @model_validator(mode="before")
    @classmethod
    def _scheduler_of_older_records(cls, data):
        """A record of schema version 2 kept SLURM's view of its job in ``slurm``: read it as version 3, that
        view moved into ``scheduler`` (:func:`_scheduler_of_slurm_section`)."""
        if not isinstance(data, dict) or data.get("schema_version") != 2:
            return data
        data = {**data, "schema_version": 3}
        if "slurm" in data and "scheduler" not in data:
            slurm = data.pop("slurm")
            data["scheduler"] = _scheduler_of_slurm_section(slurm) if isinstance(slurm, dict) else slurm
        return data

    @model_validator(mode="before")
    @classmethod
    def _fingerprint_of_config(cls, data):
        """Fill in ``fingerprint`` from ``config`` when it is not given (records are built from a config)."""
        if isinstance(data, dict) and "fingerprint" not in data and "config" in data:
            try:
                config = (
                    data["config"]
                    if isinstance(data["config"], TrainConfig)
                    else TrainConfig.model_validate(data["config"])
                )
            except ValidationError:
                return data  # the config's own errors are reported by the field's validation
            data = {**data, "fingerprint": config.fingerprint()}
        return data

    @model_validator(mode="after")
    def _sections_of_status(self) -> RunRecord:
        if self.fingerprint != self.config.fingerprint():
            raise ValueError(
                f"fingerprint: {self.fingerprint} is not the fingerprint of config ({self.config.fingerprint()})"
            )
        if self.status == "failed":
            if self.failure is None:
                raise ValueError("failure: required for a failed run")
            return self
        missing = [
            name
            for name in ("topology", "provenance", "model", "throughput", "memory", "epochs", "time_to_train")
            if getattr(self, name) is None
        ]
        if missing or self.failure is not None:
            raise ValueError(
                f"{', '.join(missing) or 'failure'}: {'required' if missing else 'not allowed'} for a completed run"
            )
        return self

    @classmethod
    def failed(cls, config: TrainConfig, failure: Failure, scheduler: Scheduler | None = None) -> RunRecord:
        """The record of a run of ``config`` that failed, keeping what is known of its topology and job."""
        return cls(
            sweep=config.run.sweep,
            run_id=config.run.run_id,
            status="failed",
            failure=failure,
            config=config,
            fingerprint=config.fingerprint(),
            topology=Topology.expected(config),
            scheduler=scheduler,
        )

    @property
    def best_top1(self) -> float | None:
        """The best validation top-1 over the epochs (a fraction), or None without validation."""
        return max((e.val_top1 for e in self.epochs or [] if e.val_top1 is not None), default=None)

    @property
    def best_main(self) -> tuple[str, float | None]:
        """The run's main validation figure (``time_to_train.metric``: top-1, or the mean per-class AUROC of
        multi-label data) by its short name, and its best value over the epochs (None without validation)."""
        metric = self.time_to_train.metric if self.time_to_train else "val_top1"
        values = [getattr(e, metric) for e in self.epochs or [] if getattr(e, metric) is not None]
        return METRIC_NAMES[metric], max(values, default=None)

    @property
    def elapsed_seconds(self) -> float | None:
        """The job's elapsed time by its scheduler, else the training time of the last epoch, else None."""
        if self.scheduler and self.scheduler.elapsed_seconds is not None:
            return self.scheduler.elapsed_seconds
        return self.epochs[-1].elapsed_seconds if self.epochs else None

    def with_scheduler(self, view: Scheduler) -> RunRecord:
        """This record with the executor's view of its job merged over what the workers saw
        (:meth:`Scheduler.merged`)."""
        return self.model_copy(update={"scheduler": self.scheduler.merged(view) if self.scheduler else view})

    def write(self, run_dir: str | Path) -> Path:
        """Write the record to ``run_dir/record.json`` atomically (strict JSON); returns the path."""
        return write_atomic(record_path(run_dir), self.model_dump_json(indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> RunRecord:
        """Read and validate the record file at ``path``.

        Raises:
            RecordError: the file cannot be read (the cause: no permission, a symlink loop, a folder), is
                larger than :data:`MAX_RECORD_BYTES` (not read), is not JSON (cut short?), or does not follow
                the schema; the message names the path and every offending field.
        """
        path = Path(path)
        try:
            status = os.stat(path)
            if not stat.S_ISREG(status.st_mode):
                kind = "a folder" if stat.S_ISDIR(status.st_mode) else "not a regular file"
                raise RecordError(f"{path}: cannot read: {kind}, not a record file")
            if status.st_size > MAX_RECORD_BYTES:
                raise RecordError(_too_large(path, status.st_size))
            with open(path, "rb") as stream:
                text = stream.read(MAX_RECORD_BYTES + 1)  # the file may have grown since the stat
        except OSError as exc:
            raise RecordError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        if len(text) > MAX_RECORD_BYTES:
            raise RecordError(_too_large(path, len(text)))
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            if any(e["type"] == "json_invalid" for e in exc.errors()):
                raise RecordError(f"{path}: invalid JSON (cut short?): {exc.errors()[0]['msg']}") from None
            raise RecordError(
                f"{path}: not a run record (schema version {SCHEMA_VERSION}): " + "; ".join(describe_all(exc))
            ) from None

    @classmethod
    def read(cls, run_dir: str | Path) -> RunRecord | None:
        """The record in ``run_dir``, or None when there is none.

        Raises:
            RecordError: the record exists (a broken symlink too) but cannot be read or is malformed (see
                :meth:`load`).
        """
        path = record_path(run_dir)
        return cls.load(path) if os.path.lexists(path) else None  # a broken symlink is a record that cannot be read


def _too_large(path: Path, size: int) -> str:
    return (
        f"{path}: {size / 2**20:.1f} MiB, larger than a record can be ({MAX_RECORD_BYTES / 2**20:.0f} MiB, "
        "benchmark.record.MAX_RECORD_BYTES); not read"
    )


def record_path(run_dir: str | Path) -> Path:
    """Where the record of the run in ``run_dir`` lives."""
    return Path(run_dir) / RECORD_NAME


def json_schema() -> str:
    """The JSON Schema of :class:`RunRecord` (what ``docs/run-record.schema.json`` holds), as text."""
    return json.dumps(RunRecord.model_json_schema(), indent=2) + "\n"
