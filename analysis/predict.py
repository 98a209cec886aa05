"""``mcnn-bench predict``: the scaling model (:mod:`analysis.scaling_model`) applied to a one-node batch sweep
and allreduce results, or to Datta et al. 2019's text (:func:`paper_validation`: Table 1 predicted from the
paper's own inputs and set beside it), printed and written as a predicted Table 1 (CSV, Markdown), a speedup
plot and, for the paper, predicted vs published images/s and TTT per row; with ``--target-minutes`` the fewest
nodes predicted to train within a target (:func:`nodes_for_target`). Pandas, numpy and matplotlib Agg: no
TensorFlow.

With measured step times the gradient bytes come from the model's analytic figures
(:meth:`benchmark.models.ModelKind.analytic_model`); a model without them is refused with a message naming it
and the figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.models import MODELS
from benchmark.models.analytic import ModelFigures
from benchmark.util.atomic import write_atomic

from .columns import (
    ALLREDUCE_SECONDS,
    COMPUTE_SECONDS,
    EFFICIENCY,
    EPOCHS,
    EPOCHS_TO_TARGET,
    GLOBAL_BATCH,
    IMAGES_PER_SECOND,
    IMAGES_PER_SECOND_ERROR,
    LOCAL_BATCH,
    NODES,
    PUBLISHED_EPOCHS,
    PUBLISHED_GLOBAL_BATCH,
    PUBLISHED_IMAGES_PER_SECOND,
    PUBLISHED_TTT,
    SPEEDUP,
    STEP_SECONDS,
    TTT_ERROR,
    TTT_MINUTES,
    TTT_SPEEDUP,
    UPDATES_PER_EPOCH,
    WITHIN_TARGET,
    WORKERS,
    WORKERS_PER_NODE,
    csv_text,
)
from .markdown import markdown_table
from .papers.consistency import datta_checks, disagreements
from .scaling_model import (
    DEFAULT_LATENCY_SECONDS,
    ComputeModel,
    EpochsCurve,
    EpochsRule,
    RingModel,
    capped_local_batch,
    compute_models,
    fit_ring,
    fixed_cost_for_speedup,
    largest_global_batch,
    load_allreduce,
    predict,
)

PAPER = "Datta et al. 2019"
#: The model the paper trains (M-CNN, Godinez et al. 2017): what ``--paper`` predicts.
PAPER_MODEL = "mcnn"
#: The input channels and classes at which a model is sized: three-channel images and BBBC021's 13
#: mechanisms of action (Datta et al. 2019's workload, sec. 4).
CHANNELS, CLASSES = 3, 13
DEFAULT_NODES = (1, 2, 4, 8, 16, 32, 64, 128)
DEFAULT_WORKERS_PER_NODE = (1, 2, 4, 8)
PAPER_COLUMNS = [
    PUBLISHED_GLOBAL_BATCH,
    PUBLISHED_EPOCHS,
    PUBLISHED_IMAGES_PER_SECOND,
    IMAGES_PER_SECOND_ERROR,
    PUBLISHED_TTT,
    TTT_ERROR,
]
NOT_PUBLISHED = "not published"
TABLE_CSV, TABLE_MD, SPEEDUP_PNG = "predicted_table1.csv", "predicted_table1.md", "predicted_speedup.png"
#: ``--paper --out``: predicted vs published images/s and TTT per Table 1 row (:func:`plot_vs_published`).
VS_PUBLISHED_PNG = "predicted_vs_published.png"


def _value(published):
    """A :class:`analysis.papers.published.Published`'s value (None: not transcribed), or a plain value as it is."""
    return getattr(published, "value", published)


def sizing(model: str, needed: str):
    """``(height, width) ->`` :class:`~benchmark.models.analytic.ModelFigures` of ``model`` (a name of
    :data:`benchmark.models.MODELS`) at :data:`CHANNELS` and :data:`CLASSES`, for a caller that needs ``needed``
    of it.

    Raises:
        ValueError: an unknown model.
        benchmark.models.FigureNotKnown: the model has no analytic model (naming it and ``needed``).
    """
    if model not in MODELS:
        raise ValueError(f"--model must be one of {', '.join(MODELS)}, got {model!r}")
    analytic = MODELS[model].analytic_model(needed)

    def figures(height: int, width: int) -> ModelFigures:
        return analytic(height, width, CHANNELS, CLASSES)

    return figures


# --- inputs ----------------------------------------------------------------------------------------------


def load_step_times(
    results_dir: str | Path,
    image_size: tuple[int, int] | None = None,
    source: str = "throughput",
    model: str = PAPER_MODEL,
) -> tuple[pd.DataFrame, tuple[int, int]]:
    """The one-node step times of a batch sweep of ``model`` (``model.name``): ``(table, image size)``.

    Every completed ``nodes == 1`` run of ``model`` under ``results_dir`` with a throughput; ``source`` picks its
    step time: ``"throughput"`` = global batch / images/s (the effective step: what the headline figure
    measures) or ``"median"`` = the median timed step. The table (columns workers_per_node,
    local_batch_size, step_seconds, runs) holds the median over repeats. Raises ``ValueError`` without
    such runs, or when they mix image sizes and ``image_size`` does not pick one.
    """
    from .records import load_records

    runs = load_records(results_dir).runs
    runs = runs[(runs["status"] == "completed") & (runs["nodes"] == 1) & runs["images_per_second"].notna()]
    if runs.empty:
        raise ValueError(
            f"{results_dir}: no completed one-node run with a throughput (the step-time sweep must run on one node)"
        )
    models = sorted(runs["model"].unique())
    runs = runs[runs["model"] == model]
    if runs.empty:
        raise ValueError(
            f"{results_dir}: no one-node run of model {model} (found {', '.join(models)}): pick one with --model"
        )
    sizes = sorted(runs["image_size"].unique())
    if image_size is not None:
        wanted = f"{image_size[0]}x{image_size[1]}"
        runs = runs[runs["image_size"] == wanted]
        if runs.empty:
            raise ValueError(f"{results_dir}: no one-node run at {wanted} (found {', '.join(sizes)})")
    elif len(sizes) > 1:
        raise ValueError(
            f"{results_dir}: the one-node runs mix image sizes {', '.join(sizes)}: pick one with --image-size"
        )
    if source == "throughput":
        step = runs["global_batch_size"].astype(float) / runs["images_per_second"]
    elif source == "median":
        step = runs["median_step_seconds"].astype(float)
    else:
        raise ValueError(f"step-time source must be 'throughput' or 'median', got {source!r}")
    frame = pd.DataFrame(
        {
            "workers_per_node": runs["workers_per_node"].astype(int),
            "local_batch_size": runs["local_batch_size"].astype(int),
            "step_seconds": step,
        }
    ).dropna()
    table = frame.groupby(["workers_per_node", "local_batch_size"], as_index=False).agg(
        step_seconds=("step_seconds", "median"), runs=("step_seconds", "size")
    )
    height, width = map(int, runs["image_size"].iloc[0].split("x"))
    return table, (height, width)


def measured_speedups(results_dir: str | Path) -> pd.DataFrame:
    """A measured scaling sweep's speedups: columns nodes, workers per node, local batch size, images/s
    (median of repeats), speedup (against the 1-node run of the same workers per node and local batch;
    NA without one). Completed runs with a throughput only."""
    from .records import load_records

    runs = load_records(results_dir).runs
    runs = runs[(runs["status"] == "completed") & runs["images_per_second"].notna()]
    table = runs.groupby([NODES, WORKERS_PER_NODE, LOCAL_BATCH], as_index=False)[IMAGES_PER_SECOND].median()
    one = table[table[NODES] == 1].set_index([WORKERS_PER_NODE, LOCAL_BATCH])[IMAGES_PER_SECOND]
    keys = zip(table[WORKERS_PER_NODE], table[LOCAL_BATCH])
    table[SPEEDUP] = [ips / one[k] if k in one.index else np.nan for ips, k in zip(table[IMAGES_PER_SECOND], keys)]
    return table


def published_speedups(paper) -> pd.DataFrame:
    """Table 1's images/s speedups (:func:`analysis.papers.datta2019.table1_speedup`: each row's images/s over
    the 1-node row's, x); columns nodes, workers per node, speedup."""
    points = [(row.nodes, row.workers_per_node, paper.table1_speedup(row.nodes).known) for row in paper.TABLE1]
    return pd.DataFrame(points, columns=[NODES, WORKERS_PER_NODE, SPEEDUP])


def epochs_rule(epochs: float | None = None, table1: Sequence = ()) -> EpochsRule:
    """The paper's Table 1 epochs of the row's (nodes, workers per node) where published (a Table 1 row
    without workers per node matches any), else ``epochs`` when given, else none (no TTT). The
    ``epochs from`` column of the prediction says which."""
    published = {(row.nodes, row.workers_per_node): _value(row.epochs) for row in table1}

    def rule(nodes: int, per_node: int) -> tuple[float | None, str]:
        value = published.get((nodes, per_node))
        value = published.get((nodes, None)) if value is None else value
        if value is not None:
            return float(value), f"{PAPER}, Table 1"
        return (epochs, "--epochs") if epochs is not None else (None, "")

    return rule


def table1_epochs_curve(paper) -> EpochsCurve:
    """Table 1's epochs to target read per global batch (:class:`~analysis.scaling_model.EpochsCurve`): 128 ->
    6.6 ... 1024 -> 12, and 2048 -> the mean of its four capped rows (15.9, 14.9, 15, 15.2: 15.25)."""
    points = [(row.global_batch_size.known, row.epochs.known) for row in paper.TABLE1]
    return EpochsCurve.from_points(points, f"{PAPER}, Table 1; repeated batches averaged")


def measured_epochs_curve(results_dir: str | Path) -> EpochsCurve:
    """A measured sweep's epochs to target per global batch: the median ``ttt_epochs`` of the completed runs
    under ``results_dir`` that reached their target, per global batch. Raises ``ValueError`` without any."""
    from .records import load_records

    runs = load_records(results_dir).runs
    runs = runs[(runs["status"] == "completed") & runs[EPOCHS_TO_TARGET].notna() & runs[GLOBAL_BATCH].notna()]
    if runs.empty:
        raise ValueError(f"{results_dir}: no completed run that reached its target (no epochs to target)")
    medians = runs.groupby(GLOBAL_BATCH)[EPOCHS_TO_TARGET].median()
    return EpochsCurve.from_points(
        [(float(b), float(e)) for b, e in medians.items()], f"median epochs to target of the runs in {results_dir}"
    )


# --- the model's set-up, whichever its inputs -------------------------------------------------------------


@dataclass(frozen=True)
class ModelSetup:
    """What :func:`analysis.scaling_model.predict` needs besides the rows: the compute per workers per node
    (``t_c(b) = a + c b``, ``a`` the per-step fixed cost, s), the ring, the gradient bytes, the local batch
    before the cap per workers per node, the cap (images; None: none), images per epoch and the overlap."""

    compute: dict[int, ComputeModel]
    ring: RingModel
    nbytes: float
    local_batch: dict[int, int]
    max_global_batch: int | None
    images_per_epoch: float
    overlap: float = 0.0

    def predict(
        self, nodes: Sequence[int], workers_per_node: Sequence[int], epochs: EpochsRule | None = None
    ) -> pd.DataFrame:
        """The predicted rows (:func:`analysis.scaling_model.predict`)."""
        return predict(
            self.compute,
            self.ring,
            self.nbytes,
            nodes,
            workers_per_node,
            self.local_batch,
            images_per_epoch=self.images_per_epoch,
            max_global_batch=self.max_global_batch,
            epochs=epochs,
            overlap=self.overlap,
        )


# --- the paper -----------------------------------------------------------------------------------------

#: The accuracy asked of the model on Table 1's images/s with inputs from the paper's text only (issue 21):
#: the median absolute error and the worst row's, percent. A row off by more than the median target is named
#: with the reason.
TARGET_MEDIAN_ERROR_PERCENT = 15.0
TARGET_WORST_ERROR_PERCENT = 25.0
#: Bytes in a MiB: the paper's "162 MB" of gradients are MiB (sec. 2: 42,577,261 float32 parameters are
#: 162.4 MiB; :data:`analysis.papers.datta2019.PARAMETERS`).
MIB = 2**20


@dataclass(frozen=True)
class ModelInput:
    """One input of the paper's model: ``value`` in ``unit``, ``source`` (where the paper states it and how it
    is read, or that it was given) and the ``flag`` of ``mcnn-bench predict`` that overrides it."""

    name: str
    value: float
    unit: str
    source: str
    flag: str

    def describe(self) -> str:
        return f"{self.name}: {self.value:,.6g} {self.unit} ({self.source}; {self.flag})"


def _input(name: str, unit: str, flag: str, given: float | None, published: float, source: str) -> ModelInput:
    """The published input, or the given one (saying what the paper's is)."""
    if given is None:
        return ModelInput(name, float(published), unit, source, flag)
    return ModelInput(name, float(given), unit, f"given; the paper's is {published:,.6g}: {source}", flag)


def paper_inputs(
    paper=None,
    *,
    one_node_images_per_second: float | None = None,
    one_node_workers_per_node: int | None = None,
    local_batch: int | None = None,
    max_global_batch: int | None = None,
    bandwidth_gbits: float | None = None,
    gradient_mib: float | None = None,
    image_size: tuple[int, int] | None = None,
    fixed_step_ms: float | None = None,
    latency_us: float | None = None,
    images_per_epoch: float | None = None,
    min_updates_per_epoch: float | None = None,
) -> dict[str, ModelInput]:
    """The inputs of :func:`paper_validation`, each from Datta et al. 2019's text (``paper``: the transcription,
    :mod:`analysis.papers.datta2019`) unless given, by key:

    - ``x1`` images/s, ``w1`` workers and ``b1`` local batch of the reference point: Table 1's 1-node row
      (30 images/s; 8 workers per node, sec. 5.4; global batch 128 / 8 = 16);
    - ``cap``: the global-batch cap, 2048 images (sec. 5.4);
    - ``bandwidth``: the link, 100 Gb/s Omni-Path (sec. 5.1), taken at its peak;
    - ``gradient``: the gradients exchanged per step, 162 MiB (sec. 5.3's "162MB"; with ``image_size`` instead
      M-CNN's analytic float32 parameters at that size);
    - ``fixed``: the per-step fixed cost, ms: the midpoint of Horovod's per-layer MPI negotiation, 450-858 ms
      a step (sec. 5.3);
    - ``alpha``: the ring's latency per step, us: assumed (:data:`~analysis.scaling_model.DEFAULT_LATENCY_SECONDS`),
      the paper gives none;
    - ``images_per_epoch``: Dataset B's 313,282 training images (sec. 4);
    - ``min_updates``: the updates per epoch convergence needs, more than 150 (the ISC slides).
    """
    if paper is None:
        from .papers import datta2019 as paper
    one = next(row for row in paper.TABLE1 if row.nodes == 1)
    w1 = one.workers_per_node
    batch = one.global_batch_size.known
    low, high = (paper.EIGHT_NODES[key].known for key in ("mpi_negotiation_ms_min", "mpi_negotiation_ms_max"))
    inputs = [
        (
            "x1",
            _input(
                "one-node throughput",
                "images/s",
                "--one-node-images-per-second",
                one_node_images_per_second,
                one.images_per_second.known,
                "Table 1, 1-node row",
            ),
        ),
        (
            "w1",
            _input(
                "one-node workers per node",
                "workers",
                "--one-node-workers-per-node",
                one_node_workers_per_node,
                w1,
                "sec. 5.4: Table 1's runs",
            ),
        ),
        (
            "b1",
            _input(
                "one-node local batch",
                "images",
                "--local-batch-size",
                local_batch,
                batch / w1,
                f"Table 1, 1-node global batch {batch:g} / {w1} workers",
            ),
        ),
        (
            "cap",
            _input(
                "global-batch cap",
                "images",
                "--max-global-batch",
                max_global_batch,
                paper.LARGE_SCALE["max_global_batch_size"].known,
                "sec. 5.4",
            ),
        ),
        (
            "bandwidth",
            _input(
                "link bandwidth",
                "Gb/s",
                "--bandwidth-gbits",
                bandwidth_gbits,
                paper.HARDWARE["interconnect_gbits_per_second"].known,
                "sec. 5.1, Omni-Path, at its peak: no protocol overhead, intra-node hops as fast",
            ),
        ),
        (
            "fixed",
            _input(
                "fixed per-step cost",
                "ms",
                "--fixed-step-ms",
                fixed_step_ms,
                (low + high) / 2,
                f"sec. 5.3: the midpoint of Horovod's per-layer MPI negotiation, {low:g}-{high:g} ms",
            ),
        ),
        (
            "alpha",
            _input(
                "ring latency alpha",
                "us",
                "--latency-us",
                latency_us,
                DEFAULT_LATENCY_SECONDS * 1e6,
                "assumed, the paper gives none: 2 x 1023 steps cost 10 ms at 1024 workers",
            ),
        ),
        (
            "images_per_epoch",
            _input(
                "images per epoch",
                "images",
                "--images-per-epoch",
                images_per_epoch,
                paper.DATASET["dataset_b_train_images"].known,
                "sec. 4: Dataset B's training",
            ),
        ),
        (
            "min_updates",
            _input(
                "updates per epoch needed",
                "updates",
                "--min-updates-per-epoch",
                min_updates_per_epoch,
                paper.SLIDES["min_updates_per_epoch"].known,
                "slides: more than 150, behind the cap",
            ),
        ),
    ]
    gradient = paper.EIGHT_NODES["gradient_mb"].known
    if image_size is not None and gradient_mib is None:
        analytic = sizing(PAPER_MODEL, f"{PAPER}'s gradient bytes")(*image_size).parameter_bytes
        found = ModelInput(
            "gradient per step",
            analytic / MIB,
            "MiB",
            f"M-CNN's analytic float32 parameters at {image_size[0]}x{image_size[1]} (--image-size); sec. 5.3's is "
            f"{gradient:g}",
            "--gradient-mib",
        )
    else:
        found = _input(
            "gradient per step",
            "MiB",
            "--gradient-mib",
            gradient_mib,
            gradient,
            "sec. 5.3's 162MB read as MiB: sec. 2's 42.6 M float32 parameters are 162.4 MiB",
        )
    inputs.insert(5, ("gradient", found))
    return dict(inputs)


def paper_setup(
    inputs: dict[str, ModelInput],
    workers_per_node: Sequence[int],
    overlap: float = 0.0,
    fixed_seconds: float | None = None,
) -> ModelSetup:
    """The model of :func:`paper_validation` from ``inputs`` (:func:`paper_inputs`): the fixed cost ``a``
    (``fixed_seconds``, else the input), the ring of the link and the gradient, and the compute per image
    that the one-node point leaves: ``s1 = w1 b1 / x1`` is ``a + tau w1 b1 + (1 - overlap) T(w1)``, so
    ``tau = (s1 - a - (1 - overlap) T(w1)) / (w1 b1)`` seconds per image per node, and a worker of ``w``
    per node computes ``t_c(b) = a + tau w b`` (the node as fast however its cores are split).

    Raises:
        ValueError: the fixed cost and the allreduce leave no compute in the one-node step.
    """
    value = {key: item.value for key, item in inputs.items()}
    a = value["fixed"] / 1e3 if fixed_seconds is None else fixed_seconds
    w1, b1 = int(value["w1"]), int(round(value["b1"]))
    ring = RingModel(
        value["alpha"] * 1e-6, 8 / (value["bandwidth"] * 1e9), f"alpha {inputs['alpha'].source}; beta the link's"
    )
    nbytes = value["gradient"] * MIB
    s1 = w1 * b1 / value["x1"]
    t1 = (1 - overlap) * ring.seconds(w1, nbytes)
    tau = (s1 - a - t1) / (w1 * b1)
    if not tau > 0:
        raise ValueError(
            f"the one-node step ({w1} x {b1} / {value['x1']:g} = {s1:.4g} s) is not longer than the fixed cost "
            f"({a:.4g} s) and the allreduce among its {w1} workers ({t1:.4g} s): lower --fixed-step-ms"
        )
    compute = {
        w: ComputeModel(w, a, tau * w, f"fixed cost {a * 1e3:.4g} ms; tau {tau * 1e3:.4g} ms per image per node")
        for w in workers_per_node
    }
    return ModelSetup(
        compute,
        ring,
        nbytes,
        {w: b1 for w in workers_per_node},
        int(value["cap"]),
        value["images_per_epoch"],
        overlap,
    )


@dataclass
class PaperValidation:
    """What :func:`paper_validation` returns: the predicted table with the published figures beside it
    (:data:`PAPER_COLUMNS`), the inputs, the notes on the derivation, the headline comparisons
    (``comparisons``: (what, predicted, published)), the error summary with each row that misses and why
    (``summary``), what Table 1 itself implies for the fixed cost (``implied``), the predictions at the two
    ends of sec. 5.3's negotiation range (``band``: low, high; None where an end cannot be computed) and the
    set-up, for :func:`nodes_for_target`."""

    table: pd.DataFrame
    inputs: dict[str, ModelInput]
    setup: ModelSetup
    notes: list[str] = field(default_factory=list)
    comparisons: list[tuple[str, float | None, float | None]] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    implied: list[str] = field(default_factory=list)
    band: tuple[pd.DataFrame, pd.DataFrame] | None = None


def _with_published(table: pd.DataFrame, paper) -> pd.DataFrame:
    """``table`` with Table 1's global batch, epochs, images/s and TTT beside each row of the same (nodes,
    workers per node), and the errors ``100 (predicted - published) / published``, %."""
    table = table.copy()
    published = {(row.nodes, row.workers_per_node): row for row in paper.TABLE1}
    keys = list(zip(table[NODES], table[WORKERS_PER_NODE]))
    for column, name in (
        (PUBLISHED_GLOBAL_BATCH, "global_batch_size"),
        (PUBLISHED_EPOCHS, "epochs"),
        (PUBLISHED_IMAGES_PER_SECOND, "images_per_second"),
        (PUBLISHED_TTT, "ttt_minutes"),
    ):
        table[column] = [float(getattr(published[k], name).known) if k in published else np.nan for k in keys]
    table[IMAGES_PER_SECOND_ERROR] = 100 * (table[IMAGES_PER_SECOND] / table[PUBLISHED_IMAGES_PER_SECOND] - 1)
    table[TTT_ERROR] = 100 * (table[TTT_MINUTES] / table[PUBLISHED_TTT] - 1)
    return table


def error_summary(table: pd.DataFrame) -> tuple[float, float, int] | None:
    """``(median |error|, worst |error|, its node count)`` of the images/s errors (%) of the rows with a
    published images/s; None without any."""
    rows = table.dropna(subset=[IMAGES_PER_SECOND_ERROR])
    if rows.empty:
        return None
    errors = rows[IMAGES_PER_SECOND_ERROR].abs()
    worst = errors.idxmax()
    return float(errors.median()), float(errors[worst]), int(rows.loc[worst, NODES])


def _miss_reason(row, x1: float, b1: int, fixed: float) -> str:
    """Why a row's predicted images/s is off Table 1's, from the row's own figures."""
    nodes, published, predicted = int(row[NODES]), row[PUBLISHED_IMAGES_PER_SECOND], row[IMAGES_PER_SECOND]
    efficiency = 100 * published / (nodes * x1)
    step = row[GLOBAL_BATCH] / published
    if efficiency > 100:
        return (
            f"Table 1 is superlinear here: {published:g} images/s is {efficiency:.0f} % of {nodes} x the 1-node "
            f"{x1:g}; the model only adds costs to the one-node step, so it predicts at most linear"
        )
    if predicted > published and row[LOCAL_BATCH] < b1:
        return (
            f"the cap cut the local batch to {row[LOCAL_BATCH]}: the model's {row[STEP_SECONDS]:.3g} s step is "
            f"{100 * fixed / row[STEP_SECONDS]:.0f} % fixed cost, Table 1's row implies a {step:.3g} s step "
            f"(a fixed cost of {fixed + step - row[STEP_SECONDS]:.3g} s at the same compute per image)"
        )
    return (
        f"Table 1's step here is {step:.3g} s ({efficiency:.0f} % efficiency against the 1-node row), the "
        f"model's {row[STEP_SECONDS]:.3g} s"
    )


def paper_validation(
    *,
    nodes: Sequence[int] = DEFAULT_NODES,
    workers_per_node: Sequence[int] | None = None,
    epochs: float | None = None,
    overlap: float = 0.0,
    paper=None,
    **given,
) -> PaperValidation:
    """Predict Datta et al. 2019's Table 1 from its text and set the prediction beside the table.

    The model (:mod:`analysis.scaling_model`), with the inputs of :func:`paper_inputs` (``given`` overrides
    them: its keyword arguments) and :func:`paper_setup`::

        step(N) = a + tau w b(N) + (1 - overlap) T(N w)          b(N) = min(b1, cap // (N w))
        images/s = N w b(N) / step(N)                             TTT = epochs x images per epoch / images/s

    ``a`` the per-step fixed cost (sec. 5.3's MPI negotiation), ``tau`` the compute per image and node that
    Table 1's one-node row leaves (which the model therefore reproduces), ``T`` the ring allreduce of the
    gradients at the link's bandwidth. Rows: ``nodes`` x ``workers_per_node`` (default: the paper's 8);
    epochs per row from Table 1 (else ``epochs``). Nothing is fitted to Table 1's other rows: they are what
    the prediction is checked against (``summary``: the errors against :data:`TARGET_MEDIAN_ERROR_PERCENT`
    and :data:`TARGET_WORST_ERROR_PERCENT`, and the reason for each row off by more than the median target).

    Comparisons: Table 1's 1-to-128-node images/s speedup (1587 / 30 = 52.9x) with the predicted one;
    sec. 5.4's 19.2x, Table 1's TTT ratio 960 / 50, with the predicted TTT ratio; sec. 5.3's 6.6x and 31
    minutes are Dataset A on 8 nodes x 4 workers, another workload than Table 1's, and are not compared.
    ``implied``: the fixed cost at which the model would reproduce Table 1's 128-node images/s exactly
    (:func:`~analysis.scaling_model.fixed_cost_for_speedup`), beside sec. 5.3's range: a check of the text's
    figure, not an input.

    Raises:
        ValueError: an input out of range (:func:`paper_setup`).
    """
    if paper is None:
        from .papers import datta2019 as paper
    inputs = paper_inputs(paper, **given)
    per_node = list(workers_per_node or [int(paper.LARGE_SCALE["workers_per_node"].known)])
    setup = paper_setup(inputs, per_node, overlap)
    rule = epochs_rule(epochs, paper.TABLE1)
    table = _with_published(setup.predict(nodes, per_node, rule), paper)
    notes = [item.describe() for item in inputs.values() if item.flag != "--min-updates-per-epoch"]
    notes += [
        setup.ring.describe(),
        f"compute: tau = (s1 - a - T(w1)) / (w1 b1) = {setup.compute[per_node[0]].how}; a worker of w per node "
        "computes a + tau w b",
        f"epochs per row: {PAPER}, Table 1 (the published epochs, for TTT)"
        + ("" if epochs is None else f"; --epochs {epochs:g} where Table 1 has no row"),
    ]
    ttt_off = [c for c in disagreements(datta_checks()) if c.what.startswith("Table 1") and c.what.endswith(": TTT")]
    if ttt_off:
        notes.append(
            "Table 1's TTT disagrees with its own epochs x images per epoch / images/s on "
            + ", ".join(f"{c.what.split(', ')[1].split(':')[0]} ({c.disagreement_percent:+.1f} %)" for c in ttt_off)
            + ": the TTT errors there hold that disagreement (mcnn-bench paper-check)"
        )

    x1, b1, fixed = inputs["x1"].value, int(round(inputs["b1"].value)), inputs["fixed"].value / 1e3
    low, high = (paper.EIGHT_NODES[key].known for key in ("mpi_negotiation_ms_min", "mpi_negotiation_ms_max"))
    band: tuple[pd.DataFrame, pd.DataFrame] | None = None
    try:
        at_low, at_high = (
            _with_published(paper_setup(inputs, per_node, overlap, end / 1e3).predict(nodes, per_node, rule), paper)
            for end in (low, high)
        )
        band = (at_low, at_high)
    except ValueError as exc:
        notes.append(f"the ends of sec. 5.3's {low:g}-{high:g} ms: not computed ({exc})")

    summary = []
    found = error_summary(table)
    if found is None:
        summary.append("no predicted row has a published images/s: no error to summarise")
    else:
        median, worst, worst_nodes = found
        met = median <= TARGET_MEDIAN_ERROR_PERCENT and worst <= TARGET_WORST_ERROR_PERCENT
        summary.append(
            f"images/s error over the {int(table[IMAGES_PER_SECOND_ERROR].notna().sum())} published rows: median "
            f"|error| {median:.1f} %, worst {worst:.1f} % ({worst_nodes} nodes); the target with inputs from "
            f"the text only is median <= {TARGET_MEDIAN_ERROR_PERCENT:g} % and worst <= "
            f"{TARGET_WORST_ERROR_PERCENT:g} %: {'met' if met else 'missed'}"
        )
        if band is not None:
            ends = []
            for end, frame in zip((low, high), band):
                m, w, n = error_summary(frame) or (math.nan, math.nan, 0)
                ends.append(f"{end:g} ms: median {m:.1f} %, worst {w:.1f} % ({n} nodes)")
            summary.append(f"at the ends of sec. 5.3's negotiation range instead: {'; '.join(ends)}")
        off = table[table[IMAGES_PER_SECOND_ERROR].abs() > TARGET_MEDIAN_ERROR_PERCENT]
        if off.empty:
            summary.append(f"no row is off by more than {TARGET_MEDIAN_ERROR_PERCENT:g} %")
        for _, row in off.iterrows():
            summary.append(
                f"{int(row[NODES])} nodes off by {row[IMAGES_PER_SECOND_ERROR]:+.1f} %: "
                + _miss_reason(row, x1, b1, fixed)
            )

    def at(n: int, column: str) -> float | None:
        rows = table[(table[NODES] == n) & (table[WORKERS_PER_NODE] == per_node[0])]
        return None if rows.empty or pd.isna(rows[column].iloc[0]) else float(rows[column].iloc[0])

    last = max(row.nodes for row in paper.TABLE1)
    ips_speedup = paper.table1_speedup(last)
    ttt_speedup = paper.LARGE_SCALE["speedup_1_to_128"]
    comparisons = [
        (
            f"1-to-{last}-node images/s speedup (x; Table 1's images/s ratio)",
            at(last, SPEEDUP),
            ips_speedup.known,
        ),
        (
            f"1-to-{last}-node TTT speedup (x; {ttt_speedup.source}'s {ttt_speedup.printed}, Table 1's TTT ratio)",
            at(last, TTT_SPEEDUP),
            ttt_speedup.known,
        ),
        (
            f"{last}-node TTT (minutes; {paper.LARGE_SCALE['ttt_minutes_128'].source})",
            at(last, TTT_MINUTES),
            paper.LARGE_SCALE["ttt_minutes_128"].known,
        ),
    ]
    eight = paper.EIGHT_NODES
    notes.append(
        f"not compared: {eight['speedup'].source}'s {eight['speedup'].value:g}x and {eight['ttt_minutes'].value:g} "
        f"minutes are Dataset A on {eight['nodes'].value:g} nodes x {eight['workers_per_node'].value:g} workers, "
        "a TTT ratio of another workload than Table 1's Dataset B rows"
    )

    implied = []
    if {1, last} <= set(table[NODES]) and at(1, STEP_SECONDS) is not None and at(last, STEP_SECONDS) is not None:
        one, big = (table[(table[NODES] == n) & (table[WORKERS_PER_NODE] == per_node[0])].iloc[0] for n in (1, last))
        try:
            a, c = fixed_cost_for_speedup(
                ips_speedup.known,
                one[STEP_SECONDS],
                int(one[LOCAL_BATCH]),
                int(big[LOCAL_BATCH]),
                big[GLOBAL_BATCH] / one[GLOBAL_BATCH],
                one[ALLREDUCE_SECONDS],
                big[ALLREDUCE_SECONDS],
            )
            implied.append(
                f"Table 1 itself (a check, not an input): its {ips_speedup.known:g}x images/s from 1 to {last} "
                f"nodes (local batch {int(one[LOCAL_BATCH])} -> {int(big[LOCAL_BATCH])} under the cap) needs a "
                f"fixed cost a = {a * 1e3:.0f} ms per step (c = {c * 1e3:.4g} ms per image); sec. 5.3 says "
                f"{low:g}-{high:g} ms"
            )
        except ValueError as exc:
            implied.append(f"Table 1's {ips_speedup.known:g}x images/s implies no fixed cost: {exc}")
    return PaperValidation(table, inputs, setup, notes, comparisons, summary, implied, band)


# --- the paper's question: how many nodes for a target TTT ------------------------------------------------


@dataclass
class TargetAnswer:
    """What :func:`nodes_for_target` found: the fewest nodes (None: none within the target), the rows of the
    listed node counts (``table``) and the lines that state the rule, the epochs and the answer."""

    nodes: int | None
    table: pd.DataFrame
    lines: list[str]
    target_minutes: float


def nodes_for_target(
    setup: ModelSetup,
    workers_per_node: Sequence[int],
    curve: EpochsCurve,
    target_minutes: float,
    min_updates_per_epoch: float,
    listed_nodes: Sequence[int],
) -> TargetAnswer:
    """The fewest nodes predicted to train within ``target_minutes``: every node count from 1 to the largest
    of ``listed_nodes``, per workers per node, at the local batch ``setup`` gives it under the cap, with the
    epochs to target of its global batch (``curve``) and the updates-per-epoch rule: a global batch must
    leave more than ``min_updates_per_epoch`` updates per epoch (Datta et al. 2019's slides), so the cap is
    at most :func:`~analysis.scaling_model.largest_global_batch`; without a cap in ``setup`` that bound is
    the cap. TTT = epochs x images per epoch / predicted images/s."""
    if not target_minutes > 0:
        raise ValueError(f"--target-minutes must be positive, got {target_minutes}")
    per_epoch = setup.images_per_epoch
    bound = largest_global_batch(per_epoch, min_updates_per_epoch)
    lines = [
        f"updates-per-epoch rule: more than {min_updates_per_epoch:g} updates per epoch of {per_epoch:,.0f} images, "
        f"so a global batch of at most {bound:,} ({per_epoch:,.0f} / {min_updates_per_epoch:g} = "
        f"{per_epoch / min_updates_per_epoch:,.1f})"
    ]
    cap = setup.max_global_batch
    if cap is None:
        cap = bound
        lines.append(f"no global-batch cap given: the rule's {bound:,} caps the global batch")
    elif cap > bound:
        lines.append(f"the cap {cap:,} breaks the rule: rows above {bound:,} are left out")
    else:
        lines.append(f"the cap {cap:,} keeps the rule ({per_epoch / cap:.1f} updates per epoch at the cap)")
    capped = ModelSetup(setup.compute, setup.ring, setup.nbytes, setup.local_batch, cap, per_epoch, setup.overlap)

    def epochs(nodes: int, per_node: int) -> tuple[float | None, str]:
        workers = nodes * per_node
        batch = capped_local_batch(capped.local_batch[per_node], workers, cap) * workers
        return (curve(batch), "interpolated per global batch") if batch > 0 else (None, "")

    lines.append(curve.describe())
    every = capped.predict(range(1, max(listed_nodes) + 1), workers_per_node, epochs)
    every[UPDATES_PER_EPOCH] = per_epoch / every[GLOBAL_BATCH].astype("float64")
    every[WITHIN_TARGET] = (every[TTT_MINUTES] <= target_minutes) & (every[UPDATES_PER_EPOCH] > min_updates_per_epoch)
    within = every[every[WITHIN_TARGET]]
    listed = every[every[NODES].isin(list(listed_nodes))].reset_index(drop=True)
    if within.empty:
        best = every.loc[every[TTT_MINUTES].idxmin()]
        lines.append(
            f"no node count up to {max(listed_nodes)} is predicted to train within {target_minutes:g} minutes: the "
            f"best is {int(best[NODES])} nodes at {best[TTT_MINUTES]:.1f} minutes"
        )
        return TargetAnswer(None, listed, lines, target_minutes)
    first = within.sort_values([NODES, TTT_MINUTES]).iloc[0]
    lines.append(
        f"fewest nodes within {target_minutes:g} minutes: {int(first[NODES])} ({int(first[WORKERS_PER_NODE])} workers "
        f"per node, local batch {int(first[LOCAL_BATCH])}, global batch {int(first[GLOBAL_BATCH]):,}, "
        f"{first[UPDATES_PER_EPOCH]:.0f} updates per epoch, {first[EPOCHS]:.3g} epochs, "
        f"{first[IMAGES_PER_SECOND]:.0f} images/s): {first[TTT_MINUTES]:.1f} minutes"
    )
    listed_within = listed[listed[WITHIN_TARGET]]
    if not listed_within.empty and int(listed_within[NODES].min()) != int(first[NODES]):
        row = listed_within.sort_values(NODES).iloc[0]
        lines.append(
            f"fewest of the listed node counts ({', '.join(str(n) for n in listed_nodes)}): {int(row[NODES])}, "
            f"{row[TTT_MINUTES]:.1f} minutes"
        )
    return TargetAnswer(int(first[NODES]), listed, lines, target_minutes)


# --- output ----------------------------------------------------------------------------------------------


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` as strings for printing: 3-4 significant figures, NA as "-" and missing published figures
    (and errors without them) as "not published"."""
    integers = (NODES, WORKERS_PER_NODE, WORKERS, LOCAL_BATCH, GLOBAL_BATCH, PUBLISHED_GLOBAL_BATCH)

    def show(column: str, value) -> str:
        if value is None or value is pd.NA or value == "" or (isinstance(value, float) and math.isnan(value)):
            return NOT_PUBLISHED if column in PAPER_COLUMNS else "-"
        if isinstance(value, str):
            return value
        if isinstance(value, (bool, np.bool_)):
            return "yes" if value else "no"
        if column in integers:
            return f"{int(value):d}"
        if column in (IMAGES_PER_SECOND_ERROR, TTT_ERROR):
            return f"{value:+.1f}"
        if column in (EFFICIENCY, UPDATES_PER_EPOCH):
            return f"{value:.1f}"
        return (
            f"{value:,.0f}"
            if abs(value) >= 1e4 and column not in (COMPUTE_SECONDS, ALLREDUCE_SECONDS, STEP_SECONDS)
            else f"{value:.4g}"
        )

    return pd.DataFrame(
        {column: [show(column, v) for v in table[column]] for column in table.columns}, index=table.index
    )


def markdown(table: pd.DataFrame, notes: Sequence[str] = (), title: str = "Predicted Table 1") -> str:
    """The table as Markdown, with the notes as a list under it."""
    text = f"## {title}\n\n" + markdown_table(display_table(table)) + "\n"
    return text + ("\n" + "\n".join(f"- {note}" for note in notes) + "\n" if notes else "")


def plot_speedup(
    table: pd.DataFrame,
    path: str | Path,
    measured: pd.DataFrame | None = None,
    published: pd.DataFrame | None = None,
) -> Path:
    """Predicted images/s speedup vs nodes, one line per workers per node, with the measured speedups (per
    workers per node and local batch), Table 1's images/s speedups (``published``, :func:`published_speedups`)
    and ideal linear speedup, log-log, to a PNG."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    from .plots import IDEAL_STYLE, save_png

    figure = Figure(figsize=(7.5, 5))
    axes = figure.add_subplot()
    colors = {}
    for index, (per_node, group) in enumerate(table.dropna(subset=[SPEEDUP]).groupby(WORKERS_PER_NODE)):
        colors[per_node] = f"C{index % 10}"
        group = group.sort_values(NODES)
        axes.plot(
            group[NODES],
            group[SPEEDUP],
            "o-",
            color=colors[per_node],
            label=f"predicted, {per_node} worker{'s' if per_node > 1 else ''} per node",
        )
    if measured is not None:
        for (per_node, batch), group in measured.dropna(subset=[SPEEDUP]).groupby([WORKERS_PER_NODE, LOCAL_BATCH]):
            group = group.sort_values(NODES)
            axes.plot(
                group[NODES],
                group[SPEEDUP],
                "s:",
                color=colors.get(per_node, "black"),
                markersize=8,
                markerfacecolor="none",
                label=f"measured, {per_node} per node, local batch {batch}",
            )
    if published is not None and not published.empty:
        axes.plot(published[NODES], published[SPEEDUP], "D", color="black", label=f"{PAPER}, Table 1 (images/s)")
    all_nodes = sorted(set(table[NODES]) | (set(measured[NODES]) if measured is not None else set()))
    axes.plot(all_nodes, [n / all_nodes[0] for n in all_nodes], color="gray", label="ideal (linear)", **IDEAL_STYLE)
    axes.set_xscale("log", base=2)
    axes.set_yscale("log", base=2)
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.set_xticks(all_nodes, [str(n) for n in all_nodes])
    axes.set(
        xlabel="nodes",
        ylabel="speedup (images/s vs the smallest node count)",
        title="Predicted speedup vs nodes (scaling model)",
    )
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=8, loc="lower right")
    return save_png(figure, path)


def plot_vs_published(
    table: pd.DataFrame,
    path: str | Path,
    band: tuple[pd.DataFrame, pd.DataFrame] | None = None,
    band_label: str = "",
    budget: tuple[float, str] | None = None,
) -> Path:
    """Predicted and published images/s (left) and TTT (right, minutes, the published epochs) per Table 1 row
    against nodes, log-log, each published point labelled with the prediction's error (%); ``band``: the
    predictions at two other inputs (the ends of sec. 5.3's negotiation range), shaded; ``budget``: (minutes,
    label) of a TTT line (the abstract's one hour). 12 x 5 inches at
    :data:`analysis.plots.DPI`, cropped to what is drawn."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    from .plots import save_png

    rows = table.dropna(subset=[IMAGES_PER_SECOND]).sort_values(NODES)
    figure = Figure(figsize=(12, 5), layout="constrained")
    panels = figure.subplots(1, 2)
    for axes, (column, published, error, ylabel) in zip(
        panels,
        (
            (IMAGES_PER_SECOND, PUBLISHED_IMAGES_PER_SECOND, IMAGES_PER_SECOND_ERROR, "images/s"),
            (TTT_MINUTES, PUBLISHED_TTT, TTT_ERROR, "TTT (minutes), the published epochs"),
        ),
    ):
        if band is not None:
            low, high = (frame.set_index(NODES).loc[rows[NODES], column] for frame in band)
            axes.fill_between(rows[NODES], low, high, color="C0", alpha=0.2, label=band_label or None)
        axes.plot(rows[NODES], rows[column], "o-", color="C0", label="predicted")
        shown = rows.dropna(subset=[published])
        axes.plot(shown[NODES], shown[published], "D", color="black", label=f"{PAPER}, Table 1")
        for _, row in shown.iterrows():
            axes.annotate(
                f"{row[error]:+.0f} %",
                (row[NODES], row[published]),
                textcoords="offset points",
                xytext=(6, -12),
                fontsize=8,
            )
        if column == TTT_MINUTES and budget is not None:
            axes.axhline(budget[0], color="gray", linestyle=":", label=budget[1])
        axes.set_xscale("log", base=2)
        axes.set_yscale("log")
        axes.set_xticks(list(rows[NODES]), [str(n) for n in rows[NODES]])
        axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axes.set(xlabel="nodes", ylabel=ylabel)
        axes.grid(alpha=0.3, which="both")
        axes.legend(fontsize=8)
    panels[0].set_title("images/s: predicted vs published (error of the prediction)")
    panels[1].set_title("TTT: predicted vs published")
    return save_png(figure, path)


def write_outputs(
    table: pd.DataFrame,
    out_dir: str | Path,
    notes: Sequence[str] = (),
    measured: pd.DataFrame | None = None,
    published: pd.DataFrame | None = None,
    title: str = "Predicted Table 1",
) -> list[Path]:
    """Write :data:`TABLE_CSV` (raw numbers; NA empty), :data:`TABLE_MD` (the printed form, with the notes)
    and :data:`SPEEDUP_PNG` into ``out_dir``, each atomically. Returns the paths."""
    out = Path(out_dir)
    return [
        write_atomic(out / TABLE_CSV, csv_text(table)),
        write_atomic(out / TABLE_MD, markdown(table, notes, title)),
        plot_speedup(table, out / SPEEDUP_PNG, measured, published),
    ]


# --- the command ---------------------------------------------------------------------------------------


def _largest_batch(model: ComputeModel) -> int:
    """The largest local batch ``model`` was fitted to (a fitted model has at least one point)."""
    batch = model.largest_batch
    assert batch is not None, f"{model.workers_per_node} worker(s) per node: a compute model without points"
    return batch


def run_predict(
    *,
    step_times_dir: Path | None = None,
    step_time_from: str = "throughput",
    allreduce: Sequence[Path] = (),
    bandwidth_gbits: float | None = None,
    latency_us: float | None = None,
    overlap: float = 0.0,
    image_size: tuple[int, int] | None = None,
    local_batch_size: int | None = None,
    max_global_batch: int | None = None,
    epochs: float | None = None,
    images_per_epoch: int | None = None,
    nodes: Sequence[int] = DEFAULT_NODES,
    workers_per_node: Sequence[int] | None = None,
    measured_dir: Path | None = None,
    against_paper: bool = False,
    one_node_images_per_second: float | None = None,
    one_node_workers_per_node: int | None = None,
    fixed_step_ms: float | None = None,
    gradient_mib: float | None = None,
    target_minutes: float | None = None,
    epochs_from: Path | None = None,
    min_updates_per_epoch: float | None = None,
    model: str = PAPER_MODEL,
    out: Path | None = None,
) -> str:
    """``mcnn-bench predict``: the text it prints (the table, notes, and with ``against_paper`` the error
    summary, comparisons and Table 1's check; with ``target_minutes`` the fewest nodes); writes the outputs
    (:func:`write_outputs`, and :data:`VS_PUBLISHED_PNG` with ``against_paper``) into ``out`` when given.

    Args:
        step_times_dir: results folder of a one-node batch sweep (:func:`load_step_times`); required unless
            ``against_paper``. Its batch sizes give the per-step fixed cost (the intercept of
            ``t_c(b) = a + c b``), unless ``fixed_step_ms`` gives it.
        step_time_from: ``throughput`` (global batch / images/s) or ``median`` (the median step).
        allreduce: ``mcnn-bench allreduce`` result files to fit the ring model to; without them,
            ``bandwidth_gbits`` (Gb/s) fixes beta.
        latency_us: the ring's alpha, microseconds (0 allowed); ``overlap``: the fraction in [0, 1] of the
            allreduce hidden behind the backward pass.
        image_size: the model's input (H, W) for the gradient bytes (default: the records'; with the paper,
            sec. 5.3's 162 MiB unless given).
        local_batch_size, max_global_batch, epochs, images_per_epoch, nodes, workers_per_node: the predicted
            rows (see :func:`analysis.scaling_model.predict`).
        measured_dir: results folder of a measured scaling sweep, plotted beside the prediction.
        against_paper: predict Datta et al. 2019's Table 1 from its text (:func:`paper_validation`);
            ``one_node_images_per_second``, ``one_node_workers_per_node``, ``fixed_step_ms`` (ms),
            ``gradient_mib`` (MiB) and the other numbers override its inputs (:func:`paper_inputs`).
        target_minutes: also answer the fewest nodes predicted to train within it (:func:`nodes_for_target`),
            with the epochs to target per global batch of ``epochs_from`` (a measured sweep's results
            folder) or else Table 1's, and the updates-per-epoch rule (``min_updates_per_epoch``, else the
            slides' 150).
        model: ``model.name`` of the step-time runs (:data:`benchmark.models.MODELS`); its analytic figures
            give the gradient bytes.

    Raises:
        ValueError: a value out of range or inputs missing (naming the flag of ``mcnn-bench predict``), or an
            unreadable record or allreduce result; FileNotFoundError: a missing input.
        FigureNotKnown: ``model`` has no analytic figures (the gradient bytes are not known).
    """
    from .papers import datta2019 as paper

    if not 0 <= overlap <= 1:
        raise ValueError(f"--overlap must be in [0, 1], got {overlap}")
    numbers = {
        "bandwidth-gbits": bandwidth_gbits,
        "latency-us": latency_us,
        "one-node-images-per-second": one_node_images_per_second,
        "epochs": epochs,
        "local-batch-size": local_batch_size,
        "max-global-batch": max_global_batch,
        "images-per-epoch": images_per_epoch,
        "one-node-workers-per-node": one_node_workers_per_node,
        "fixed-step-ms": fixed_step_ms,
        "gradient-mib": gradient_mib,
        "target-minutes": target_minutes,
        "min-updates-per-epoch": min_updates_per_epoch,
    }
    zero_allowed = ("latency-us", "fixed-step-ms")
    for flag, value in numbers.items():
        if value is not None and not (math.isfinite(value) and (value > 0 or (flag in zero_allowed and value == 0))):
            raise ValueError(f"--{flag} must be a positive number, got {value}")
    if any(n < 1 for n in nodes) or any(w < 1 for w in (workers_per_node or [])):
        raise ValueError("--nodes and --workers-per-node must be positive")
    image_size = (*image_size,) if image_size else None  # a tuple, also when given a list
    if against_paper and model != PAPER_MODEL:
        raise ValueError(f"--paper predicts {PAPER}'s Table 1, whose model is {PAPER_MODEL}: drop --model {model}")
    measured = measured_speedups(measured_dir) if measured_dir else None
    curve = measured_epochs_curve(epochs_from) if epochs_from else table1_epochs_curve(paper)
    if against_paper:
        result = paper_validation(
            nodes=nodes,
            workers_per_node=workers_per_node,
            epochs=epochs,
            overlap=overlap,
            paper=paper,
            one_node_images_per_second=one_node_images_per_second,
            one_node_workers_per_node=one_node_workers_per_node,
            local_batch=local_batch_size,
            max_global_batch=max_global_batch,
            bandwidth_gbits=bandwidth_gbits,
            gradient_mib=gradient_mib,
            image_size=image_size,
            fixed_step_ms=fixed_step_ms,
            latency_us=latency_us,
            images_per_epoch=images_per_epoch,
            min_updates_per_epoch=min_updates_per_epoch,
        )
        target = None
        if target_minutes is not None:
            per_node = sorted(result.setup.compute)
            needed = result.inputs["min_updates"].value
            target = nodes_for_target(result.setup, per_node, curve, target_minutes, needed, nodes)
        return _run_paper(result, paper, out, measured, target)

    figures_at = sizing(model, "the gradient bytes n of the scaling model's allreduce")
    if step_times_dir is None:
        raise ValueError("give --step-times RESULTS_DIR (a one-node batch sweep), or --paper")
    if gradient_mib is not None:
        raise ValueError("--gradient-mib is an input of --paper; with --step-times the gradient is the model's")
    latency = None if latency_us is None else latency_us * 1e-6
    step_times, records_size = load_step_times(step_times_dir, image_size, step_time_from, model)
    image_size = image_size or records_size
    nbytes = figures_at(*image_size).parameter_bytes
    notes = [
        f"step times: {len(step_times)} (workers per node, local batch) point(s) of {model} from "
        f"{step_times_dir}, step = "
        f"{'global batch / images/s' if step_time_from == 'throughput' else 'median step'}",
        f"gradient bytes n = {nbytes:,} ({model} float32 parameters at {image_size[0]}x{image_size[1]})",
    ]
    beta = None if bandwidth_gbits is None else 8 / (bandwidth_gbits * 1e9)
    if allreduce:
        measurements = load_allreduce(allreduce)
        ring = fit_ring([(m.workers, m.bytes, m.median_seconds) for m in measurements], latency, beta)
        notes.append(
            "allreduce measurements: "
            + "; ".join(
                f"{m.workers} workers ({m.nodes} node(s), {m.controller}), {m.bytes:,} B: "
                f"{m.median_seconds * 1e3:.4g} ms"
                for m in measurements
            )
        )
    elif beta is not None:
        ring = RingModel(
            DEFAULT_LATENCY_SECONDS if latency is None else latency,
            beta,
            ("alpha given" if latency is not None else f"alpha assumed {DEFAULT_LATENCY_SECONDS * 1e6:g} us")
            + "; beta from --bandwidth-gbits",
        )
    else:
        raise ValueError("give --allreduce FILE... (`mcnn-bench allreduce` results) or --bandwidth-gbits")
    notes.append(ring.describe())
    fixed = None if fixed_step_ms is None else fixed_step_ms / 1e3
    compute = compute_models(step_times, ring, nbytes, overlap, fixed)
    low, high = (paper.EIGHT_NODES[key].known for key in ("mpi_negotiation_ms_min", "mpi_negotiation_ms_max"))
    for fitted in compute.values():
        batches = sorted({p[0] for p in fitted.points})
        if fixed is not None:
            learned = f"per-step fixed cost a = {fitted.a * 1e3:.4g} ms given (--fixed-step-ms)"
        elif len(batches) > 1:
            learned = (
                f"per-step fixed cost a = {fitted.a * 1e3:.4g} ms learned from the batch sweep (the intercept over "
                f"local batches {', '.join(map(str, batches))}; {PAPER}, sec. 5.3, puts Horovod's negotiation at "
                f"{low:g}-{high:g} ms)"
            )
        else:
            learned = (
                f"per-step fixed cost not learned: one local batch ({batches[0]}) cannot tell it from the per-image "
                "cost, so a = 0 (sweep two or more batch sizes, or give --fixed-step-ms)"
            )
        notes.append(
            f"compute, {fitted.workers_per_node} worker(s) per node: t_c(b) = {fitted.a:.4g} + "
            f"{fitted.c:.4g} b s ({fitted.how}; measured step minus the modelled allreduce among its "
            f"{fitted.workers_per_node} workers); {learned}"
        )
    wanted = workers_per_node or list(DEFAULT_WORKERS_PER_NODE)
    per_node = [w for w in wanted if w in compute]
    skipped = [w for w in wanted if w not in compute]
    if skipped:
        notes.append(f"no one-node runs with {skipped} worker(s) per node: not predicted")
    if not per_node:
        raise ValueError(f"the step-time sweep has {sorted(compute)} worker(s) per node, none of {wanted}")
    local = {w: local_batch_size or _largest_batch(compute[w]) for w in per_node}
    if local_batch_size is None:
        notes.append(
            "local batch before the cap: the largest measured per workers per node "
            + ", ".join(f"{w}: {b}" for w, b in local.items())
        )
    per_epoch = images_per_epoch or paper.DATASET["dataset_b_train_images"].known
    notes.append(
        f"images per epoch {per_epoch:,}"
        + ("" if images_per_epoch else f" ({PAPER}, sec. 4: Dataset B; --images-per-epoch)")
    )
    if max_global_batch:
        notes.append(f"global-batch cap {max_global_batch}: local batch = min(local, cap // workers)")
    if overlap:
        notes.append(f"{100 * overlap:g} % of the allreduce hidden behind the backward pass")
    setup = ModelSetup(compute, ring, nbytes, local, max_global_batch, per_epoch, overlap)
    table = setup.predict(nodes, per_node, epochs_rule(epochs, paper.TABLE1))
    text = markdown(table, notes)
    if target_minutes is not None:
        needed = min_updates_per_epoch or paper.SLIDES["min_updates_per_epoch"].known
        target = nodes_for_target(setup, per_node, curve, target_minutes, needed, nodes)
        text += "\n" + _target_text(target)
    if out:
        paths = write_outputs(table, out, notes, measured, published_speedups(paper))
        text += "\nwritten: " + ", ".join(map(str, paths))
    return text


def _target_text(target: TargetAnswer) -> str:
    """The ``--target-minutes`` answer: the rule, the epochs, the answer and the listed node counts' rows."""
    columns = [
        NODES,
        WORKERS_PER_NODE,
        LOCAL_BATCH,
        GLOBAL_BATCH,
        UPDATES_PER_EPOCH,
        EPOCHS,
        IMAGES_PER_SECOND,
        TTT_MINUTES,
        WITHIN_TARGET,
    ]
    return (
        markdown(
            target.table[columns], target.lines, f"Fewest nodes to train within {target.target_minutes:g} minutes"
        ).rstrip("\n")
        + "\n"
    )


def _run_paper(
    result: PaperValidation,
    paper,
    out: Path | None,
    measured: pd.DataFrame | None,
    target: TargetAnswer | None = None,
) -> str:
    """``mcnn-bench predict --paper``: :func:`paper_validation`'s table, inputs and notes, the error summary,
    the comparisons, Table 1's check, and with ``target`` the fewest nodes."""
    columns = [
        NODES,
        WORKERS_PER_NODE,
        LOCAL_BATCH,
        GLOBAL_BATCH,
        PUBLISHED_GLOBAL_BATCH,
        STEP_SECONDS,
        IMAGES_PER_SECOND,
        PUBLISHED_IMAGES_PER_SECOND,
        IMAGES_PER_SECOND_ERROR,
        SPEEDUP,
        EPOCHS,
        TTT_MINUTES,
        PUBLISHED_TTT,
        TTT_ERROR,
    ]
    title = f"Predicted vs published Table 1 ({PAPER})"
    lines = [markdown(result.table[columns], result.notes, title), "Accuracy:"]
    lines += [f"- {line}" for line in result.summary]
    lines.append("")
    for what, predicted, published in result.comparisons:
        shown = "-" if predicted is None else f"{predicted:.4g}"
        if published is None:
            lines.append(f"{what}: predicted {shown}, published: {NOT_PUBLISHED}")
        else:
            error = "" if predicted is None else f" (error {100 * (predicted / published - 1):+.1f} %)"
            lines.append(f"{what}: predicted {shown}, published {published:g}{error}")
    lines += result.implied
    if target is not None:
        lines += ["", _target_text(target)]
    if out:
        low, high = (paper.EIGHT_NODES[key].known for key in ("mpi_negotiation_ms_min", "mpi_negotiation_ms_max"))
        paths = write_outputs(
            result.table,
            out,
            result.notes + result.summary + result.implied,
            measured,
            published_speedups(paper),
            title,
        )
        paths.append(
            plot_vs_published(
                result.table,
                Path(out) / VS_PUBLISHED_PNG,
                result.band,
                f"fixed cost {low:g}-{high:g} ms (sec. 5.3)",
                (
                    paper.TARGETS["ttt_budget_minutes"].known,
                    f"{paper.TARGETS['ttt_budget_minutes'].known:g} minutes (abstract)",
                ),
            )
        )
        lines.append("written: " + ", ".join(map(str, paths)))
    return "\n".join(lines)
