"""The analysis' column vocabulary: every DataFrame column the analysis builds, as a snake_case name with its
display label, unit and meaning, in one place (as :mod:`benchmark.train.mllog` keeps one key list).

Code indexes frames by name only (the constants below, or the same string). Display labels are applied when a
table is written: :func:`csv_text` (CSV headers) and :func:`analysis.markdown.markdown_table` (Markdown headers);
:func:`read_csv` maps a written file's headers back to names. One quantity has one name wherever it appears:
the run table's ``images_per_second`` is Table 1's, the scaling table's and a reference file's
``images_per_second``. A quantity shown in another unit is another column whose name says the unit
(``ttt_seconds``, ``ttt_minutes``). Names and labels are each unique, so a written file reads back unambiguously.

To add a column: one :func:`_column` line here; a frame holding a column that is not here cannot be written
(:func:`labelled` raises), and the unit tests check every frame ``analyze`` builds against :data:`COLUMNS`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import pandas as pd

from benchmark.config import RunSettings
from benchmark.engines import ENGINES
from benchmark.record import StepPart


@dataclass(frozen=True)
class Column:
    """One column: ``name`` (snake_case, what code indexes by), ``label`` (the header written), ``unit`` (None
    for text, names and flags) and ``description`` (one line)."""

    name: str
    label: str
    unit: str | None
    description: str


#: Every column, by name, in definition order.
COLUMNS: dict[str, Column] = {}
_NAME = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")


def _column(name: str, label: str, unit: str | None, description: str) -> str:
    """Register a column; returns its name. Raises ``ValueError`` for a name that is not snake_case or a name
    or label already taken."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"column name {name!r} is not snake_case")
    taken = [column.name for column in COLUMNS.values() if column.name == name or column.label == label]
    if taken:
        raise ValueError(f"column {name!r} ({label!r}): the name or label is already column {taken[0]!r}'s")
    COLUMNS[name] = Column(name, label, unit, description)
    return name


# --- a run: identity, settings, data ------------------------------------------------------------------------
SWEEP = _column("sweep", "sweep", None, "the sweep's name")
RUN_ID = _column("run_id", "run_id", None, "the run's id within its sweep")
STATUS = _column("status", "status", None, "completed or failed")
FAILURE_REASON = _column("failure_reason", "failure reason", None, "why a failed run failed")
DATA_SOURCE = _column("data_source", "data source", None, "data.source: the registered data source")
IMAGE_SIZE = _column("image_size", "image size", "px", "data.image_size as HxW")
IMAGE_HEIGHT = _column("image_height", "image height", "px", "the input's height")
IMAGE_WIDTH = _column("image_width", "image width", "px", "the input's width")
NUM_CLASSES = _column("num_classes", "classes", "classes", "data.num_classes")
VARIANT = _column("variant", "variant", None, "data.variant (none, dataset-a, dataset-b)")
SPLIT = _column("split", "split", None, "data.split: how validation was split off")
FOLDS = _column("folds", "folds", "folds", "data.folds: K of a K-fold estimate (empty: a single split)")
FOLD = _column("fold", "fold", None, "data.fold: which of the K folds the run validated (1..K)")
LEAKY = _column(
    "leaky", "leaky split", None, "whether validation may hold copies of training fields (the paper's split)"
)
MULTI_LABEL = _column("multi_label", "multi-label", None, "whether the data source's task is multi-label")
MODEL = _column("model", "model", None, "model.name")
#: The engine of a run whose settings name none (records made before engines existed, all Horovod): the settings'
#: default, as a run's config reads it.
DEFAULT_ENGINE: str = RunSettings.model_fields["engine"].default
ENGINE = _column(
    "engine", "engine", None, f"run.engine: the training engine ({DEFAULT_ENGINE} in records made before engines)"
)
OPTIMIZER = _column("optimizer", "optimizer", None, "training.optimizer")
LR_SCHEDULE = _column("lr_schedule", "LR schedule", None, "learning_rate.schedule")
THREADS = _column("intra_op_threads", "intra-op threads", "threads", "the intra-op threads a worker ran")
CPU_MODEL = _column("cpu_model", "CPU model", None, "provenance.cpu_model")
LOGICAL_CPUS = _column("logical_cpus", "logical CPUs", "cpus", "provenance.logical_cpus: of rank 0's node")
SOFTWARE = _column("software", "software", None, "provenance.software: the versions of the packages that trained")
FRAMEWORK = _column("framework", "framework", None, "provenance.engine: the engine's framework and version")
COLLECTIVES = _column("collectives", "collectives", None, "provenance.engine: the collectives library and backend")
SLURM_JOB_ID = _column("slurm_job_id", "SLURM job id", None, "slurm.job_id")
RECORD_PATH = _column("path", "record path", None, "the record file the run was read from")
FINGERPRINT = _column(
    "fingerprint", "fingerprint", None, "the record's fingerprint: every setting that changes the run"
)
STARTED_AT = _column("started_at", "started", None, "provenance.started_at: UTC, ISO 8601")
FINISHED_AT = _column(
    "finished_at", "finished", None, "provenance.finished_at (UTC, ISO 8601): when the record was made"
)
HOSTS = _column(
    "hosts", "hosts", None, "where the run ran: its ranks' distinct host names (provenance.hostnames), joined"
)
GIT_COMMIT = _column("git_commit", "commit", None, "provenance.git_commit: the suite's commit the run ran")
WORKLOAD = _column(
    "workload",
    "workload",
    None,
    'what a run trained on: "HxW source variant[, split]" (the split: leaky, by plate or by compound, or fold '
    "k/K; the step breakdown's bars prefix the model, and the engine when the runs span several)",
)

# --- topology -----------------------------------------------------------------------------------------------
NODES = _column("nodes", "nodes", "nodes", "nodes of the run")
NODE = _column("node", "node", None, "the node a fleet sweep pinned the run to (run.node; empty for other runs)")
WORKERS_PER_NODE = _column("workers_per_node", "workers per node", "workers", "workers (ranks) per node")
WORKERS = _column("workers", "workers", "workers", "workers (ranks) of the run: nodes x workers per node")
LOCAL_BATCH = _column("local_batch_size", "local batch size", "images", "images per worker per step")
GLOBAL_BATCH = _column("global_batch_size", "global batch size", "images", "images per step over every worker")

# --- throughput, memory, analytic figures --------------------------------------------------------------------
IMAGES_PER_SECOND = _column(
    "images_per_second", "images/s", "images/s", "global training throughput over the timed window"
)
WINDOW_SECONDS = _column("window_seconds", "timed window (s)", "s", "the timed window's wall time")
MEDIAN_STEP_SECONDS = _column("median_step_seconds", "median step (s)", "s", "median step time over all ranks")
STALLS = _column(
    "stalls",
    "stalls",
    "stalls",
    "pauses the run recovered from: step gaps above its stall threshold (record.stalls; benchmark.train.watchdog)",
)
LONGEST_STALL_SECONDS = _column("longest_stall_seconds", "longest stall (s)", "s", "the run's longest stall (0: none)")
PEAK_RSS_BYTES = _column(
    "peak_rss_bytes_max",
    "peak RSS per worker (bytes)",
    "bytes",
    "largest peak resident memory of any worker (memory.peak_rss_bytes_max)",
)
PEAK_RSS_MIB = _column("peak_rss_mib", "peak RSS per worker (MiB)", "MiB", "peak_rss_bytes_max / 2**20")
TRAINING_GFLOP_PER_IMAGE = _column(
    "training_gflop_per_image",
    "training GFLOP per image",
    "GFLOP",
    "analytic training FLOPs of one image (forward and backward), 1e9 FLOPs",
)
ACHIEVED_GFLOPS = _column(
    "achieved_gflops_per_second", "achieved GFLOP/s", "GFLOP/s", "analytic training FLOPs per image x images/s"
)
ACHIEVED_GFLOPS_PER_WORKER = _column(
    "achieved_gflops_per_second_per_worker", "achieved GFLOP/s per worker", "GFLOP/s", "achieved GFLOP/s / workers"
)
GFLOPS_PER_NODE = _column(
    "achieved_gflops_per_second_per_node", "GFLOP/s per node", "GFLOP/s", "achieved GFLOP/s / nodes"
)
FRACTION_OF_PEAK = _column(
    "fraction_of_peak",
    "fraction of peak",
    "fraction",
    "a worker's GFLOP/s over its node's 5x5-convolution peak (benchmark.microbench.peak)",
)
PEAK_PERCENT = _column("percent_of_peak", "fraction of peak (%)", "%", "100 x fraction_of_peak")
ACTIVATION_BYTES = _column(
    "activation_bytes", "activations (bytes)", "bytes", "analytic float32 activations of one local batch"
)
LOWER_BOUND_BYTES = _column(
    "memory_lower_bound_bytes",
    "memory lower bound (bytes)",
    "bytes",
    "analytic weights, gradients, momentum and one local batch's activations",
)
LOWER_BOUND_MIB = _column(
    "memory_lower_bound_mib", "memory lower bound (MiB)", "MiB", "memory_lower_bound_bytes / 2**20"
)
RSS_OVER_BOUND = _column(
    "peak_rss_over_lower_bound", "peak RSS / lower bound", "ratio", "peak_rss_bytes_max / memory_lower_bound_bytes"
)

# --- the step-time breakdown ----------------------------------------------------------------------------------
#: The phases of the step-time breakdown (the record's ``throughput.breakdown.shares`` keys,
#: :data:`benchmark.record.StepPart`), in the record's order.
BREAKDOWN_PHASES: tuple[StepPart, ...] = get_args(StepPart)
#: ``share_<phase>`` per phase: its fraction of the sampled steps' wall time, averaged over the ranks.
SHARE_COLUMNS: list[str] = [
    _column(
        f"share_{phase}",
        f"{phase.replace('_', ' ')} share",
        "fraction",
        f"the {phase} phase's share of the sampled steps' wall time, averaged over the ranks",
    )
    for phase in BREAKDOWN_PHASES
]
SAMPLED_STEPS = _column(
    "breakdown_sampled_steps", "sampled steps", "steps", "the fewest steps a rank sampled for the step-time breakdown"
)

# --- accuracy and time to train -----------------------------------------------------------------------------
TTT_METRIC = _column("ttt_metric", "TTT metric", None, "what time to train timed: val_top1 or val_auroc_mean")
TTT_TARGET_VALUE = _column("ttt_target", "TTT target value", "fraction", "time to train's target value")
TTT_TARGET = _column(
    "ttt_target_text", "TTT target", None, 'what time to train timed, as text ("top-1 ≥ 90 %", "mean AUROC ≥ 0.8")'
)
TTT_SECONDS = _column(
    "ttt_seconds",
    "TTT (s)",
    "s",
    "time to train to the run's target (target_top1, or target_mean_auroc for multi-label data)",
)
TTT_MINUTES = _column("ttt_minutes", "TTT (minutes)", "minutes", "ttt_seconds / 60")
EPOCHS_TO_TARGET = _column("ttt_epochs", "epochs to target", "epochs", "epochs to the run's target")
TTT_REASON = _column("ttt_reason", "TTT reason", None, "why the run did not reach its target")
TARGET_TOP1 = _column("target_top1", "target top-1", "fraction", "training.target_top1")
TTT_TOP5_SECONDS = _column("ttt_top5_seconds", "TTT top-5 (s)", "s", "time to train to the top-5 target")
TTT_TOP5_MINUTES = _column("ttt_top5_minutes", "TTT top-5 (minutes)", "minutes", "ttt_top5_seconds / 60")
TTT_TOP5_EPOCHS = _column("ttt_top5_epochs", "epochs to top-5 target", "epochs", "epochs to the top-5 target")
TTT_TOP5_REASON = _column("ttt_top5_reason", "TTT top-5 reason", None, "why the run did not reach its top-5 target")
TARGET_TOP5 = _column("target_top5", "target top-5", "fraction", "training.target_top5")
FINAL_TOP1 = _column("final_val_top1", "final top-1", "fraction", "the last epoch's validation top-1")
BEST_TOP1 = _column("best_val_top1", "best top-1", "fraction", "best validation top-1 over the epochs")
BEST_TOP5 = _column("best_val_top5", "best top-5", "fraction", "best validation top-5 over the epochs")
BEST_TOP1_CI_LOW = _column(
    "best_val_top1_ci_low",
    "best top-1 CI low",
    "fraction",
    "the 95 % bootstrap interval's low end at the best top-1 epoch",
)
BEST_TOP1_CI_HIGH = _column(
    "best_val_top1_ci_high",
    "best top-1 CI high",
    "fraction",
    "the 95 % bootstrap interval's high end at the best top-1 epoch",
)
BEST_TOP5_CI_LOW = _column(
    "best_val_top5_ci_low",
    "best top-5 CI low",
    "fraction",
    "the 95 % bootstrap interval's low end at the best top-5 epoch",
)
BEST_TOP5_CI_HIGH = _column(
    "best_val_top5_ci_high",
    "best top-5 CI high",
    "fraction",
    "the 95 % bootstrap interval's high end at the best top-5 epoch",
)
BEST_TOP1_CI = _column(
    "best_val_top1_ci",
    "best top-1 (95 % CI)",
    None,
    "best validation top-1 in % with its 95 % bootstrap interval, as text",
)
BEST_MEAN_AUROC = _column(
    "best_val_auroc_mean",
    "best mean AUROC",
    "fraction",
    "best validation mean per-class AUROC over the epochs (multi-label data)",
)
REASON = _column("reason", "reason", None, "why a run failed, or why it did not reach its target")

# --- an epoch, and the per-class AUROCs -----------------------------------------------------------------------
EPOCH = _column("epoch", "epoch", "epochs", "the epoch's number, from 1")
LEARNING_RATE = _column("learning_rate", "learning rate", None, "the rate at the epoch's first step")
TRAIN_LOSS = _column("train_loss", "training loss", None, "mean training loss over the epoch")
VAL_LOSS = _column("val_loss", "validation loss", None, "mean validation loss")
VAL_TOP1 = _column("val_top1", "validation top-1", "fraction", "validation top-1 accuracy")
VAL_TOP5 = _column("val_top5", "validation top-5", "fraction", "validation top-5 accuracy")
MEAN_AUROC = _column(
    "val_auroc_mean", "mean AUROC", "fraction", "validation mean of the defined per-class AUROCs (multi-label data)"
)
ELAPSED_SECONDS = _column("elapsed_seconds", "elapsed (s)", "s", "since the run's first training step")
VAL_TOP1_CI_LOW = _column("val_top1_ci_low", "validation top-1 CI low", "fraction", "95 % bootstrap interval")
VAL_TOP1_CI_HIGH = _column("val_top1_ci_high", "validation top-1 CI high", "fraction", "95 % bootstrap interval")
VAL_TOP5_CI_LOW = _column("val_top5_ci_low", "validation top-5 CI low", "fraction", "95 % bootstrap interval")
VAL_TOP5_CI_HIGH = _column("val_top5_ci_high", "validation top-5 CI high", "fraction", "95 % bootstrap interval")
CLASS_NAME = _column("class_name", "class", None, "a multi-label class (pathology)")
AUROC = _column("auroc", "AUROC", "fraction", "one class's validation AUROC at one epoch")
UNDEFINED = _column(
    "undefined_aurocs",
    "undefined AUROCs",
    "classes",
    "classes without an AUROC (no positive or no negative validation image)",
)

# --- scaling --------------------------------------------------------------------------------------------------
BASELINE_WORKERS = _column(
    "baseline_workers", "baseline workers", "workers", "the smallest worker count of the run's sweep and local batch"
)
BASELINE_NODES = _column(
    "baseline_nodes", "baseline nodes", "nodes", "the smallest node count of the line's sweep and workers per node"
)
RUNS = _column("runs", "runs", "runs", "how many runs a row pools")
SWEEPS = _column("sweeps", "sweeps", "sweeps", "how many sweeps a row pools")
COMPLETED_RUNS = _column("completed_runs", "completed", "runs", "how many of a row's runs completed")
FAILED_RUNS = _column("failed_runs", "failed", "runs", "how many of a row's runs failed")
BEST_IMAGES_PER_SECOND = _column(
    "best_images_per_second", "best images/s", "images/s", "the highest images/s of a row's runs"
)
BEST_TTT_MINUTES = _column("best_ttt_minutes", "shortest TTT (minutes)", "minutes", "the shortest TTT of a row's runs")
LOCAL_BATCHES = _column("local_batch_sizes", "local batch sizes", None, "the distinct local batch sizes, joined")
SPEEDUP = _column("speedup", "speedup", "x", "images/s over images/s at the baseline")
EFFICIENCY = _column(
    "scaling_efficiency",
    "scaling efficiency (%)",
    "%",
    "100 x speedup / (workers, or nodes, over the baseline's): against the sweep's smallest run "
    "at the same local batch (Datta et al. 2019, sec. 4)",
)

# --- seconds per epoch ----------------------------------------------------------------------------------------
EPOCHS = _column(
    "epochs",
    "epochs",
    "epochs",
    "a number of epochs: a run's recorded epochs, or those a prediction assumes to reach the target",
)
SECONDS_PER_EPOCH = _column(
    "seconds_per_epoch", "seconds per epoch", "s", "mean wall time of a run's epochs (differences of elapsed_seconds)"
)
FASTEST_EPOCH = _column("fastest_epoch_seconds", "fastest epoch (s)", "s", "a run's shortest epoch")
SLOWEST_EPOCH = _column("slowest_epoch_seconds", "slowest epoch (s)", "s", "a run's longest epoch")

# --- ours against Datta et al. 2019 ---------------------------------------------------------------------------
OUR_RUNS = _column("our_runs", "our runs", "runs", "our completed runs behind a row")
OUR_WORKERS_PER_NODE = _column(
    "our_workers_per_node", "workers per node (ours)", None, "our runs' distinct workers per node, joined"
)
OUR_GLOBAL_BATCH = _column(
    "our_global_batch_sizes", "global batch (ours)", None, "our runs' distinct global batch sizes, joined"
)
OUR_IMAGES_PER_SECOND = _column(
    "our_images_per_second", "images/s (ours, median)", "images/s", "median images/s of our runs"
)
OUR_TTT = _column(
    "our_ttt_minutes", "TTT minutes (ours, median)", "minutes", "median TTT of our runs that reached the top-1 target"
)
OUR_WORKLOAD = _column("our_workload", "workload (ours)", None, "our runs' distinct workloads, joined")
PAPER_WORKERS_PER_NODE = _column(
    "paper_workers_per_node", "workers per node (paper)", "workers", "Table 1's workers per node"
)
PAPER_GLOBAL_BATCH = _column("paper_global_batch_size", "global batch (paper)", "images", "Table 1's global batch")
OUR_EPOCHS = _column(
    "our_epochs_to_target",
    "epochs to target (ours, median)",
    "epochs",
    "median epochs to the top-1 target of our runs that reached it",
)
PAPER_EPOCHS = _column("paper_epochs", "epochs (paper)", "epochs", "Table 1's epochs to 99 % top-1 and 100 % top-5")
EPOCHS_RATIO = _column("epochs_ratio", "epochs ours/paper", "ratio", "our median epochs to target over the paper's")
PAPER_IMAGES_PER_SECOND = _column("paper_images_per_second", "images/s (paper)", "images/s", "Table 1's images/s")
PAPER_TTT = _column("paper_ttt_minutes", "TTT minutes (paper)", "minutes", "Table 1's TTT")
IMAGES_PER_SECOND_RATIO = _column(
    "images_per_second_ratio", "images/s ours/paper", "ratio", "our median images/s over the paper's"
)
TTT_RATIO = _column("ttt_ratio", "TTT ours/paper", "ratio", "our median TTT over the paper's")
DIFFERS = _column("differs", "differs from the paper", None, "every way our runs differ from the paper's setting")
FIGURE = _column("figure", "figure", None, "the figure a row compares: a published figure, or a reference's")
PAPER_SOURCE = _column("paper_source", "paper's source", None, "where the paper states the figure")
UNIT = _column("unit", "unit", None, "the figure's unit")
PAPER_VALUE = _column("paper_value", "paper", None, "the published figure")
OUR_VALUE = _column("our_value", "ours", None, "our figure")
RATIO = _column("ratio", "ours/paper", "ratio", "ours over the paper's, where both are numbers")
BASIS = _column("basis", "ours: how", None, "how our figure was obtained")

# --- the published numbers checked against themselves (analysis.papers.consistency) ----------------------------
STUDY = _column("study", "study", None, "the published study a row checks")
CHECK = _column("check", "check", None, "what is checked")
RECOMPUTED = _column("recomputed", "recomputed", None, "the figure recomputed from the study's other numbers")
DISAGREEMENT = _column("disagreement_percent", "disagreement (%)", "%", "100 x (published / recomputed - 1)")
RULE = _column("rule", "rule", None, "how published and recomputed must relate: within 5 %, exact, at least, ...")
AGREES = _column("agrees", "agrees", None, "whether the published figure agrees with the recomputed one")
HOW = _column("how", "recomputed as", None, "the recomputation's arithmetic and its inputs' sources")

# --- acceptance against a reference ---------------------------------------------------------------------------
SHAPE = _column(
    "shape", "shape", None, "a run shape: source, model, image size, nodes, workers per node, local batch, engine"
)
REPEATS = _column("repeats", "n", "runs", "the shape's completed repeats with the figure")
REPEAT_MEDIAN = _column("repeat_median", "median", None, "the median over the repeats, in the figure's unit")
REPEAT_MIN = _column("repeat_min", "min", None, "the least of the repeats, in the figure's unit")
REPEAT_MAX = _column("repeat_max", "max", None, "the largest of the repeats, in the figure's unit")
REFERENCE_VALUE = _column("reference_value", "reference", None, "the reference's value, in the figure's unit")
BOUNDS = _column("bounds", "bounds", None, "the acceptable range, low .. high")
VERDICT = _column("verdict", "verdict", None, "PASS, FAIL or MISSING, and UNSTABLE when the repeats spread")
NOTE = _column("note", "note", None, "a note on the row")
# a fleet: each node against the others (analysis.fleet)
NODE_VALUE = _column("node_value", "node's value", None, "the node's median over its repeats, in the figure's unit")
FLEET_MEDIAN = _column("fleet_median", "fleet median", None, "the median of the nodes' values, in the figure's unit")
FLEET_MAD = _column(
    "fleet_mad",
    "MAD",
    None,
    "the median absolute deviation of the nodes' values from their median, in the figure's unit",
)
MODIFIED_Z = _column(
    "modified_z", "M", None, "the modified z-score 0.6745 (value - median) / MAD (Iglewicz and Hoaglin 1993)"
)
FROM_MEDIAN = _column(
    "from_median_percent", "from the median (%)", "%", "100 x (value - fleet median) / |fleet median|"
)
FLEET_BAND = _column("fleet_band", "fleet band", None, "the values no outlier lies in, low .. high")
FLEET_VERDICT = _column("fleet_verdict", "fleet verdict", None, "PASS or OUTLIER (with its side), or - (no verdict)")
REFERENCE_VERDICT = _column(
    "reference_verdict", "reference verdict", None, "PASS when every figure of the node passed its reference"
)

# --- the results history (analysis.history) and two sweeps compared (analysis.sweep_compare) ------------------------
REFERENCE_SYSTEM = _column(
    "reference_system", "reference system", None, "the system of the reference file a run was accepted against"
)
VALUE = _column("value", "value", None, "the figure's value, in its unit")
REPEATS_A = _column("repeats_a", "n A", "runs", "sweep A's completed repeats of the shape with the figure")
REPEATS_B = _column("repeats_b", "n B", "runs", "sweep B's completed repeats of the shape with the figure")
MEDIAN_A = _column("median_a", "median A", None, "sweep A's median over its repeats, in the figure's unit")
MEDIAN_B = _column("median_b", "median B", None, "sweep B's median over its repeats, in the figure's unit")
RATIO_B_A = _column("ratio_b_a", "B/A", "ratio", "sweep B's median over sweep A's")
RATIO_INTERVAL = _column(
    "ratio_interval", "B/A interval", None, "the bootstrap percentile interval of B/A at 1 - level, low .. high"
)
P_VALUE = _column("p_value", "p", None, "the two-sided Mann-Whitney U test's p-value of A against B")
CHANGE = _column(
    "change", "change", None, "faster, slower, better, worse, no detectable change, too few repeats or missing"
)
OLYMPIC_A = _column(
    "olympic_mean_a", "olympic mean A", None, "sweep A's mean without its fastest and slowest run (MLPerf)"
)
OLYMPIC_B = _column(
    "olympic_mean_b", "olympic mean B", None, "sweep B's mean without its fastest and slowest run (MLPerf)"
)

# --- K-fold accuracy over every field (analysis.folds) ------------------------------------------------------------
FIELD = _column("field", "field of view", None, "a validation field of view: <plate>/<DAPI file name>")
FIELD_IMAGES = _column("field_images", "field's images", "images", "validation images (copies) of the field")
FIELD_TOP1 = _column("field_top1", "field's top-1", "fraction", "top-1 of the field's images at the last epoch")
FIELD_TOP5 = _column("field_top5", "field's top-5", "fraction", "top-5 of the field's images at the last epoch")
ESTIMATE = _column("estimate", "K-fold estimate", None, "the fold runs' id without -f<k>: one K-fold estimate")
FOLDS_DONE = _column("folds_done", "folds done", "folds", "completed runs of the K folds")
FIELDS_VALIDATED = _column("fields_validated", "fields", "fields", "fields of view validated, all folds together")
VALIDATION_IMAGES = _column("validation_images", "validation images", "images", "images validated, all folds")
KFOLD_TOP1 = _column("kfold_top1", "K-fold top-1", "fraction", "top-1 over every validated image of every fold")
KFOLD_TOP1_CI_LOW = _column(
    "kfold_top1_ci_low", "K-fold top-1 low", "fraction", "95 % interval of kfold_top1: cluster bootstrap over fields"
)
KFOLD_TOP1_CI_HIGH = _column("kfold_top1_ci_high", "K-fold top-1 high", "fraction", "its upper end")
FIELD_MEAN_TOP1 = _column("field_mean_top1", "mean field top-1", "fraction", "unweighted mean of the fields' top-1")
T_CI_LOW = _column("t_ci_low", "t low", "fraction", "95 % t-interval of field_mean_top1 over fields, lower end")
T_CI_HIGH = _column("t_ci_high", "t high", "fraction", "its upper end")
WORST_FIELD_TOP1 = _column("worst_field_top1", "worst field's top-1", "fraction", "the lowest per-field top-1")
WORST_FIELD = _column("worst_field", "worst field", None, "the field of view with the lowest top-1")

# --- engines side by side (analysis.engines) ---------------------------------------------------------------------
#: Per engine of :data:`benchmark.engines.ENGINES`: a shape's completed runs on it, their median images/s and peak
#: RSS per worker.
ENGINE_RUNS = {
    engine: _column(f"runs_{engine}", f"runs ({engine})", "runs", f"completed {engine} runs") for engine in ENGINES
}
ENGINE_IMAGES_PER_SECOND = {
    engine: _column(
        f"images_per_second_{engine}", f"images/s ({engine})", "images/s", f"median images/s of the {engine} runs"
    )
    for engine in ENGINES
}
ENGINE_PEAK_RSS_MIB = {
    engine: _column(
        f"peak_rss_mib_{engine}",
        f"peak RSS per worker (MiB, {engine})",
        "MiB",
        f"median peak_rss_mib of the {engine} runs",
    )
    for engine in ENGINES
}
#: Per engine but the default: its median images/s over the default engine's at the same shape.
ENGINE_RATIO = {
    engine: _column(
        f"images_per_second_{engine}_over_{DEFAULT_ENGINE}",
        f"images/s {engine}/{DEFAULT_ENGINE}",
        "ratio",
        f"median images/s of the {engine} runs over the {DEFAULT_ENGINE} runs'",
    )
    for engine in ENGINES
    if engine != DEFAULT_ENGINE
}

# --- the scaling model's prediction (analysis.scaling_model, analysis.predict) ---------------------------------
COMPUTE_SECONDS = _column("compute_seconds", "compute (s)", "s", "a worker's step without the allreduce")
ALLREDUCE_SECONDS = _column("allreduce_seconds", "allreduce (s)", "s", "the modelled gradient allreduce per step")
STEP_SECONDS = _column("step_seconds", "step (s)", "s", "a training step: measured, or compute + allreduce")
EPOCHS_FROM = _column("epochs_from", "epochs from", None, "where a prediction's epochs come from")
TTT_SPEEDUP = _column("ttt_speedup", "TTT speedup", "x", "TTT at the smallest node count over this row's")
PUBLISHED_GLOBAL_BATCH = _column(
    "published_global_batch_size", "published global batch size", "images", "Table 1's global batch beside a prediction"
)
PUBLISHED_EPOCHS = _column("published_epochs", "published epochs", "epochs", "Table 1's epochs beside a prediction")
PUBLISHED_IMAGES_PER_SECOND = _column(
    "published_images_per_second", "published images/s", "images/s", "Table 1's images/s beside a prediction"
)
IMAGES_PER_SECOND_ERROR = _column(
    "images_per_second_error_percent", "images/s error (%)", "%", "100 (predicted - published) / published"
)
PUBLISHED_TTT = _column(
    "published_ttt_minutes", "published TTT (minutes)", "minutes", "Table 1's TTT beside a prediction"
)
TTT_ERROR = _column("ttt_error_percent", "TTT error (%)", "%", "100 (predicted - published) / published")
UPDATES_PER_EPOCH = _column(
    "updates_per_epoch",
    "updates per epoch",
    "updates",
    "images per epoch / global batch: optimizer steps per epoch (Datta et al. 2019's slides: above 150 to converge)",
)
WITHIN_TARGET = _column("within_target", "within target", None, "whether the predicted TTT is within --target-minutes")

# --- internal to a drawing --------------------------------------------------------------------------------------
CURVE_FILE = _column("curve_file", "curve file", None, "a per-run learning-curve PNG, relative to the curves folder")

_BY_LABEL = {column.label: column.name for column in COLUMNS.values()}


def label(name: str) -> str:
    """The display label of column ``name``. Raises ``KeyError`` naming a column outside the vocabulary."""
    try:
        return COLUMNS[name].label
    except KeyError:
        raise KeyError(f"column {name!r} is not in analysis.columns' vocabulary") from None


#: Units a header names (:func:`header`); counts, fractions and ratios are clear from the label.
HEADER_UNITS = {"s", "minutes", "MiB", "bytes", "GFLOP", "GFLOP/s", "images/s", "%", "x"}


def header(name: str) -> str:
    """Column ``name``'s header for people: its label, followed by its unit in parentheses where the unit is one
    of :data:`HEADER_UNITS` and the label does not already name it (``"elapsed (s)"``, ``"images/s"``). Raises
    ``KeyError`` naming a column outside the vocabulary."""
    text, unit = label(name), COLUMNS[name].unit
    return f"{text} ({unit})" if unit in HEADER_UNITS and unit not in text else text


def labelled(frame: pd.DataFrame, verbatim: Iterable[str] = ()) -> pd.DataFrame:
    """``frame`` with its columns renamed to their display labels, for writing; the columns in ``verbatim``
    (named by the data, such as the per-class AUROC's classes) keep their names. Raises ``KeyError`` for any
    other column outside the vocabulary."""
    kept = set(verbatim)
    return frame.rename(columns={name: name if name in kept else label(name) for name in frame.columns})


def csv_text(frame: pd.DataFrame, verbatim: Iterable[str] = ()) -> str:
    """``frame`` as CSV text under its display labels (:func:`labelled`), without the index; missing values
    empty."""
    return labelled(frame, verbatim).to_csv(index=False)


def read_csv(path: str | Path) -> pd.DataFrame:
    """A CSV file the analysis wrote (:func:`csv_text`), its display-label headers mapped back to column names;
    headers that are no label (the per-class AUROC's classes) are kept as they are."""
    frame = pd.read_csv(path)
    return frame.rename(columns={header: _BY_LABEL.get(header, header) for header in frame.columns})
