"""``mcnn-bench predict``: the scaling model (:mod:`analysis.scaling_model`) applied to a one-node batch sweep
and allreduce results, or to Datta et al. 2019 itself (:func:`paper_validation`), printed and written as a
predicted Table 1 (CSV, Markdown) and a speedup plot. Pandas, numpy and matplotlib Agg: no TensorFlow.

The model's gradient bytes (and, for the paper's calibration, its training FLOPs) come from its analytic
model (:meth:`benchmark.models.ModelKind.analytic_model`); a model without one is refused with a message
naming it and the figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from io import BytesIO
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
    WORKERS,
    WORKERS_PER_NODE,
    csv_text,
)
from .markdown import markdown_table
from .scaling_model import (
    DEFAULT_LATENCY_SECONDS,
    ComputeModel,
    EpochsRule,
    RingModel,
    add_speedups,
    bandwidth_for_speedup,
    compute_models,
    fit_ring,
    fixed_cost_for_speedup,
    load_allreduce,
    predict,
    ring_allreduce_seconds,
)

PAPER = "Datta et al. 2019"
#: The model the paper trains (M-CNN, Godinez et al. 2017): what ``--paper`` predicts.
PAPER_MODEL = "mcnn"
#: The input channels and classes at which a model is sized: three-channel images and BBBC021's 13
#: mechanisms of action (Datta et al. 2019's workload, sec. 4).
CHANNELS, CLASSES = 3, 13
DEFAULT_NODES = (1, 2, 4, 8, 16, 32, 64, 128)
DEFAULT_WORKERS_PER_NODE = (1, 2, 4, 8)
#: The image size when neither the records, ``--image-size`` nor the paper's transcription gives one: the
#: full BBBC021 field (Dataset A).
DEFAULT_IMAGE_SIZE = (1024, 1280)
#: Images per epoch for TTT when neither ``--images-per-epoch`` nor the paper's transcription gives it:
#: Datta et al. 2019's Dataset B training images, 313,282, as the project's brief states it.
DEFAULT_IMAGES_PER_EPOCH = 313_282

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
    """The paper's own speedup points: Table 1 rows' images/s over its 1-node row's of the same workers per
    node, where both are published; columns nodes, workers per node, speedup. Empty when none is."""
    rows = [(row.nodes, row.workers_per_node, _value(row.images_per_second)) for row in paper.TABLE1]
    one = {w: ips for n, w, ips in rows if n == 1 and ips is not None}
    points = [(n, w, ips / one[w]) for n, w, ips in rows if ips is not None and w in one]
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


# --- the paper -----------------------------------------------------------------------------------------


@dataclass
class PaperValidation:
    """What :func:`paper_validation` returns: the predicted table with the published figures beside it
    (:data:`PAPER_COLUMNS`), the derivation's steps and assumptions (``notes``), the headline comparisons
    (``comparisons``: (what, predicted, published or None)) and what the model would need to reproduce
    the published speedups (``calibration``: lines of text, :func:`paper_calibration`)."""

    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    comparisons: list[tuple[str, float | None, float | None]] = field(default_factory=list)
    calibration: list[str] = field(default_factory=list)


def paper_validation(
    *,
    one_node_images_per_second: float | None = None,
    one_node_workers_per_node: int | None = None,
    local_batch: int | None = None,
    nodes: Sequence[int] = DEFAULT_NODES,
    workers_per_node: Sequence[int] | None = None,
    image_size: tuple[int, int] | None = None,
    latency_seconds: float | None = None,
    bandwidth_gbits: float | None = None,
    max_global_batch: int | None = None,
    epochs: float | None = None,
    images_per_epoch: float | None = None,
    overlap: float = 0.0,
    paper=None,
) -> PaperValidation:
    """Apply the model to Datta et al. 2019 and set it beside the published Table 1.

    Derivation (each step, and each value the paper's transcription lacks, goes into ``notes``):

    1. The reference point: Table 1's one-node row, throughput ``X`` images/s with ``w1`` workers of local
       batch ``b1`` (its global batch / ``w1``); any of these not published comes from the arguments,
       said so in the notes; missing both ways, ``ValueError`` naming the flags.
    2. The allreduce: the paper's interconnect, 100 Gb/s Intel Omni-Path (abstract), as
       ``beta = 8 / 100e9`` s/B, the link's peak (optimistic: no protocol overhead, one link per node
       shared by its workers' ring hops, intra-node hops at the same speed); alpha
       :data:`~analysis.scaling_model.DEFAULT_LATENCY_SECONDS` unless given. ``n`` = M-CNN's float32
       gradient bytes (its analytic model, :func:`sizing`) at ``image_size``, by default Table 1's
       workload's input (``paper.TABLE1_VARIANT``: Dataset B's 768x768, else Dataset A's fields).
    3. Compute: the one-node step ``s1 = w1 b1 / X`` holds the allreduce among its ``w1`` workers, so the
       compute per node and image is ``tau = (s1 - (1 - overlap) T(w1)) / (w1 b1)``; with ``w`` workers per
       node a worker's compute is ``t_c(b) = tau w b`` (the node's throughput taken as independent of how
       its cores are split, and proportional to the batch: one point cannot show a fixed per-step cost).
       The one-node row is therefore reproduced exactly.
    4. Rows: Table 1's (nodes, workers per node) when transcribed, else ``nodes`` x ``workers_per_node``
       (default ``w1``); local batch ``min(b1, cap // p)`` with the paper's global-batch cap (else
       ``max_global_batch``); epochs per row from Table 1, else ``epochs``; images per epoch
       ``images_per_epoch``, else the paper's for Table 1's workload, else :data:`DEFAULT_IMAGES_PER_EPOCH`.
    5. Errors per row, ``100 (predicted - published) / published``, where both exist; the 8-node speedup
       and TTT (sec. 5.3) and the 1-to-128-node speedup (sec. 5.4) against the prediction's; and
       :func:`paper_calibration`.
    """
    figures_at = sizing(PAPER_MODEL, f"{PAPER}'s gradient bytes")
    if paper is None:
        from .papers import datta2019 as paper
    notes: list[str] = []
    table1 = tuple(paper.TABLE1)
    one_row = next((row for row in table1 if row.nodes == 1), None)

    def pick(name: str, published, given, flag: str):
        if published is not None and given is not None and given != published:
            notes.append(f"{name}: {given:g} (given; the paper's is {published:g})")
            return given
        if published is not None:
            notes.append(f"{name}: {published:g} ({PAPER}, Table 1)")
            return published
        if given is not None:
            notes.append(f"{name}: {given:g} from {flag} (the paper's is {NOT_PUBLISHED})")
        return given

    x = pick(
        "one-node throughput (images/s)",
        paper.one_node_images_per_second(),
        one_node_images_per_second,
        "--one-node-images-per-second",
    )
    w1 = pick(
        "one-node workers per node",
        one_row.workers_per_node if one_row else None,
        one_node_workers_per_node,
        "--one-node-workers-per-node",
    )
    g1 = _value(one_row.global_batch_size) if one_row else None
    b1 = pick("one-node local batch", g1 / w1 if g1 is not None and w1 else None, local_batch, "--local-batch-size")
    missing = [
        flag
        for value, flag in (
            (x, "--one-node-images-per-second"),
            (w1, "--one-node-workers-per-node"),
            (b1, "--local-batch-size"),
        )
        if value is None
    ]
    if missing:
        raise ValueError(
            f"{PAPER}'s one-node reference point is {NOT_PUBLISHED} in analysis/papers/datta2019.py "
            f"(Table 1 has {len(table1)} transcribed rows): give {', '.join(missing)}"
        )
    w1, b1 = int(w1), int(round(b1))
    if one_row is not None and "derived" in one_row.global_batch_size.note and local_batch is None:
        notes.append(
            f"Table 1's global batches are derived in analysis/papers/datta2019.py, not transcribed: "
            f"{one_row.global_batch_size.note}"
        )

    link = _value(paper.HARDWARE.get("interconnect_gbits_per_second"))
    if bandwidth_gbits is not None:
        notes.append(
            f"bandwidth: {bandwidth_gbits:g} Gb/s (given; the paper's interconnect: "
            f"{NOT_PUBLISHED if link is None else f'{link:g} Gb/s'})"
        )
    elif link is not None:
        bandwidth_gbits = link
        notes.append(
            f"bandwidth: {link:g} Gb/s, the paper's Intel Omni-Path link peak (abstract): beta = "
            f"8 / {link:g}e9 s/B, optimistic (no protocol overhead, intra-node hops as fast)"
        )
    else:
        raise ValueError("the paper's interconnect bandwidth is not published: give --bandwidth-gbits")
    alpha = DEFAULT_LATENCY_SECONDS if latency_seconds is None else latency_seconds
    ring = RingModel(
        alpha,
        8 / (bandwidth_gbits * 1e9),
        ("alpha given" if latency_seconds is not None else f"alpha assumed {alpha * 1e6:g} us")
        + f"; beta from {bandwidth_gbits:g} Gb/s",
    )

    variant, dataset = getattr(paper, "TABLE1_VARIANT", None), paper.DATASET
    keys = ("dataset_b_image_px",) * 2 if variant == "dataset-b" else ("image_height_px", "image_width_px")
    published_size = tuple(_value(dataset.get(key)) for key in keys)
    if image_size is not None:
        notes.append(f"image size {image_size[0]}x{image_size[1]} (given)")
    elif None not in published_size:
        height, width = (int(v) for v in published_size)
        image_size = (height, width)
        notes.append(
            f"image size {image_size[0]}x{image_size[1]} ({PAPER}, sec. 4"
            + (", Table 1's workload Dataset B)" if variant == "dataset-b" else ")")
        )
    else:
        image_size = DEFAULT_IMAGE_SIZE
        notes.append(
            f"image size {image_size[0]}x{image_size[1]} assumed (the full BBBC021 field; the "
            f"paper's is {NOT_PUBLISHED})"
        )
    nbytes = figures_at(*image_size).parameter_bytes
    notes.append(f"gradient bytes n = {nbytes:,} (M-CNN float32 parameters at {image_size[0]}x{image_size[1]})")
    notes.append(ring.describe())

    s1 = w1 * b1 / x
    t_ar1 = (1 - overlap) * ring.seconds(w1, nbytes)
    if s1 <= t_ar1:
        raise ValueError(
            f"the one-node step ({s1:.4g} s) is not longer than the modelled allreduce among its {w1} "
            f"workers ({t_ar1:.4g} s)"
        )
    tau = (s1 - t_ar1) / (w1 * b1)
    notes.append(
        f"one-node step s1 = {w1} x {b1} / {x:g} = {s1:.4g} s; minus the modelled allreduce among "
        f"its {w1} workers, {t_ar1:.4g} s (subtracted, not counted as compute): compute "
        f"tau = {tau * 1e3:.4g} ms per image per node, t_c(b) = tau x workers per node x b"
    )

    cap = _value(paper.LARGE_SCALE.get("max_global_batch_size"))
    if cap is not None:
        notes.append(
            f"global-batch cap {cap:g} ({PAPER}, sec. 5.4)"
            + (f"; --max-global-batch {max_global_batch} ignored" if max_global_batch is not None else "")
        )
    elif max_global_batch is not None:
        cap = max_global_batch
        notes.append(f"global-batch cap {cap} from --max-global-batch (the paper's is {NOT_PUBLISHED})")
    else:
        notes.append(f"no global-batch cap (the paper's is {NOT_PUBLISHED}; give --max-global-batch)")
    max_lr = _value(paper.LARGE_SCALE.get("max_learning_rate"))
    notes.append(f"learning-rate cap: {NOT_PUBLISHED if max_lr is None else max_lr} (does not change throughput)")

    if images_per_epoch is not None:
        notes.append(f"images per epoch {images_per_epoch:,} (given)")
    else:
        key, name = (
            ("dataset_a_train_images", "Dataset A")
            if variant == "dataset-a"
            else ("dataset_b_train_images", "Dataset B")
        )
        images_per_epoch = _value(dataset.get(key))
        if images_per_epoch is not None:
            notes.append(f"images per epoch {images_per_epoch:,} ({name}, {PAPER}, sec. 4)")
        else:
            images_per_epoch = DEFAULT_IMAGES_PER_EPOCH
            notes.append(
                f"images per epoch {images_per_epoch:,}: Dataset B's count as the brief gives it (the "
                f"paper's is {NOT_PUBLISHED} in analysis/papers/datta2019.py; give --images-per-epoch)"
            )

    if table1:
        shapes = [(row.nodes, row.workers_per_node or w1) for row in table1]
    else:
        shapes = [(n, w) for w in (workers_per_node or [w1]) for n in nodes]
        notes.append(
            f"Table 1 has no transcribed rows: predicting nodes {list(nodes)} x "
            f"{list(workers_per_node or [w1])} workers per node, every published figure {NOT_PUBLISHED}"
        )
    compute = {w: ComputeModel(w, 0.0, tau * w, "paper: tau x workers per node x b") for _, w in shapes}
    rule = epochs_rule(epochs, table1)
    parts = [
        predict(
            compute,
            ring,
            nbytes,
            [n],
            [w],
            b1,
            max_global_batch=cap,
            epochs=rule,
            images_per_epoch=images_per_epoch,
            overlap=overlap,
        )
        for n, w in shapes
    ]
    table = add_speedups(pd.concat(parts, ignore_index=True).sort_values([WORKERS_PER_NODE, NODES], ignore_index=True))
    if epochs is None and not any(_value(row.epochs) is not None for row in table1):
        notes.append(f"epochs to target {NOT_PUBLISHED}: no TTT predicted (give --epochs)")

    published = {(row.nodes, row.workers_per_node or w1): row for row in table1}
    for column, name in (
        (PUBLISHED_GLOBAL_BATCH, "global_batch_size"),
        (PUBLISHED_EPOCHS, "epochs"),
        (PUBLISHED_IMAGES_PER_SECOND, "images_per_second"),
        (PUBLISHED_TTT, "ttt_minutes"),
    ):
        values = [
            _value(getattr(published[key], name)) if key in published else None
            for key in zip(table[NODES], table[WORKERS_PER_NODE])
        ]
        table[column] = [np.nan if v is None else float(v) for v in values]
    table[IMAGES_PER_SECOND_ERROR] = 100 * (table[IMAGES_PER_SECOND] / table[PUBLISHED_IMAGES_PER_SECOND] - 1)
    table[TTT_ERROR] = 100 * (table[TTT_MINUTES] / table[PUBLISHED_TTT] - 1)

    def figure(n: int, column: str) -> float | None:
        rows = table[(table[NODES] == n) & (table[WORKERS_PER_NODE] == w1)]
        return None if rows.empty or pd.isna(rows[column].iloc[0]) else float(rows[column].iloc[0])

    eight_per_node = _value(paper.EIGHT_NODES.get("workers_per_node"))
    at = "" if eight_per_node in (None, w1) else f"; published at {eight_per_node} workers per node, predicted at {w1}"
    comparisons = [
        (f"8-node speedup (images/s, x{at})", figure(8, SPEEDUP), _value(paper.EIGHT_NODES.get("speedup"))),
        (f"8-node TTT (minutes{at})", figure(8, TTT_MINUTES), _value(paper.EIGHT_NODES.get("ttt_minutes"))),
        ("128-node speedup (images/s, x)", figure(128, SPEEDUP), _value(paper.LARGE_SCALE.get("speedup_1_to_128"))),
        (
            "128-node scaling efficiency (%)",
            figure(128, EFFICIENCY),
            _value(paper.LARGE_SCALE.get("scaling_efficiency_128")),
        ),
    ]
    calibration = paper_calibration(
        paper, table[table[WORKERS_PER_NODE] == w1].set_index(NODES), tau, image_size, ring, link
    )
    return PaperValidation(table, notes, comparisons, calibration)


def paper_calibration(
    paper, rows: pd.DataFrame, tau: float, image_size: tuple[int, int], ring: RingModel, link_gbits: float | None
) -> list[str]:
    """Why the model misses the paper's speedups, as two lines, each effect alone:

    (a) the effective allreduce bandwidth at which it gives the 8-node speedup of sec. 5.3 (Dataset A at
        the paper's image height x width, 4 workers per node at sec. 5.2's best local batch, no cap):
        :func:`~analysis.scaling_model.bandwidth_for_speedup` with compute ``tau x r x w x b``, ``r`` the
        ratio of M-CNN's training FLOPs per image at Dataset A's size to ``image_size``'s (assumed: the
        node is as fast per FLOP at both sizes), ``tau`` held as the one-node point gives it at the link's
        bandwidth;
    (b) the fixed per-step cost ``a`` of ``t_c(b) = a + c b`` at which it gives the 1-to-128-node speedup of
        sec. 5.4 under the cap, the allreduce as ``ring`` models it, the one-node row (``rows``: the
        predicted rows of the one-node workers per node, by nodes) kept:
        :func:`~analysis.scaling_model.fixed_cost_for_speedup`.

    A line says why when its published figures are missing or no value reproduces the speedup.
    """
    figures_at = sizing(PAPER_MODEL, f"{PAPER}'s training FLOPs")
    lines = []
    eight, dataset = paper.EIGHT_NODES, paper.DATASET
    s8, n8, w8 = (_value(eight.get(key)) for key in ("speedup", "nodes", "workers_per_node"))
    b8 = _value(getattr(paper, "SINGLE_NODE", {}).get("best_local_batch"))
    size_a = (_value(dataset.get("image_height_px")), _value(dataset.get("image_width_px")))
    if None in (s8, n8, w8, b8, *size_a):
        lines.append(f"(a) bandwidth: not computed, the 8-node figures of secs. 5.2-5.3 are {NOT_PUBLISHED}")
    else:
        figures_a = figures_at(*size_a)
        ratio = figures_a.training_flops_per_image / figures_at(*image_size).training_flops_per_image
        t_c = tau * ratio * w8 * b8
        p8, nbytes_a = n8 * w8, figures_a.parameter_bytes
        try:
            beta = bandwidth_for_speedup(s8, n8, w8, t_c, nbytes_a, ring.alpha)
            gbits = 8 / beta / 1e9
            share = "" if link_gbits is None else f", {100 * gbits / link_gbits:.2g} % of the {link_gbits:g} Gb/s link"
            found = (
                f"needs an effective allreduce bandwidth of {gbits:.3g} Gb/s{share} "
                f"(T({p8}) = {ring_allreduce_seconds(p8, nbytes_a, ring.alpha, beta):.3g} s"
            )
        except ValueError as exc:
            found = f"cannot be reached ({exc}"
        lines.append(
            f"(a) bandwidth: {s8:g}x on {n8} nodes (sec. 5.3: Dataset A {size_a[0]}x{size_a[1]}, "
            f"n = {nbytes_a:,} B, {w8} workers x local batch {b8}, no cap; compute {t_c:.3g} s per step = "
            f"tau x {ratio:.4g}, the training-FLOPs ratio to {image_size[0]}x{image_size[1]} (the node "
            f"assumed as fast per FLOP), x {w8} x {b8}) {found}; the flat ring gives no less than "
            f"{n8 * (w8 - 1) / w8 * p8 / (p8 - 1):.3g}x however slow)."
        )
    s128 = _value(paper.LARGE_SCALE.get("speedup_1_to_128"))
    if s128 is None or not {1, 128} <= set(rows.index) or pd.isna(rows.loc[128, STEP_SECONDS]):
        lines.append(f"(b) fixed cost: not computed, the 128-node speedup or row is {NOT_PUBLISHED}")
        return lines
    one, big = rows.loc[1], rows.loc[128]
    b1, bn = int(one[LOCAL_BATCH]), int(big[LOCAL_BATCH])
    try:
        a, c = fixed_cost_for_speedup(
            s128,
            one[STEP_SECONDS],
            b1,
            bn,
            big[GLOBAL_BATCH] / one[GLOBAL_BATCH],
            one[ALLREDUCE_SECONDS],
            big[ALLREDUCE_SECONDS],
        )
    except ValueError as exc:
        lines.append(f"(b) fixed cost: the published 128-node speedup {s128:g}x cannot be reached: {exc}")
        return lines
    k = a / c
    lines.append(
        f"(b) fixed cost: {s128:g}x on 128 nodes (sec. 5.4: local batch {b1} -> {bn} under the cap), the "
        f"allreduce at {ring.bandwidth_gbits:.3g} Gb/s, needs t_c(b) = a + c b with a = {a:.3g} s = "
        f"{k:.3g} c (c = {c:.3g} s per image), {100 * a / one[STEP_SECONDS]:.0f} % of the one-node step: "
        f"one-node images/s would rise {16 * (k + 4) / (k + 64):.2g}x from local batch 4 to 64 instead "
        "of staying flat."
    )
    return lines


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
        if column in integers:
            return f"{int(value):d}"
        if column in (IMAGES_PER_SECOND_ERROR, TTT_ERROR):
            return f"{value:+.1f}"
        if column == EFFICIENCY:
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
    headline: Sequence[tuple[str, int, float]] = (),
) -> Path:
    """Predicted speedup vs nodes, one line per workers per node, with the measured speedups (per workers
    per node and local batch), the paper's published points (``published``; ``headline``: (label, nodes,
    speedup) points such as its 1-to-128-node speedup) and ideal linear speedup, log-log, to a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    from .plots import DPI, IDEAL_STYLE

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
        axes.plot(published[NODES], published[SPEEDUP], "D", color="black", label=f"{PAPER}, Table 1")
    for (label, n, value), marker in zip(headline, "*PXv^"):
        axes.plot([n], [value], marker, markersize=11, color="black", label=label)
    if (published is None or published.empty) and not headline:
        axes.text(
            0.02,
            0.98,
            f"{PAPER}: no speedup transcribed (analysis/papers/datta2019.py)",
            transform=axes.transAxes,
            va="top",
            fontsize=8,
            color="gray",
        )
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
    FigureCanvasAgg(figure)
    buffer = BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return write_atomic(Path(path), buffer.getvalue())


def write_outputs(
    table: pd.DataFrame,
    out_dir: str | Path,
    notes: Sequence[str] = (),
    measured: pd.DataFrame | None = None,
    published: pd.DataFrame | None = None,
    headline: Sequence[tuple[str, int, float]] = (),
    title: str = "Predicted Table 1",
) -> list[Path]:
    """Write :data:`TABLE_CSV` (raw numbers; NA empty), :data:`TABLE_MD` (the printed form, with the notes)
    and :data:`SPEEDUP_PNG` into ``out_dir``, each atomically. Returns the paths."""
    out = Path(out_dir)
    return [
        write_atomic(out / TABLE_CSV, csv_text(table)),
        write_atomic(out / TABLE_MD, markdown(table, notes, title)),
        plot_speedup(table, out / SPEEDUP_PNG, measured, published, headline),
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
    model: str = PAPER_MODEL,
    out: Path | None = None,
) -> str:
    """``mcnn-bench predict``: the text it prints (the table, notes, and with ``against_paper`` the comparisons
    and the calibration); writes the outputs (:func:`write_outputs`) into ``out`` when given.

    Args:
        step_times_dir: results folder of a one-node batch sweep (:func:`load_step_times`); required unless
            ``against_paper``.
        step_time_from: ``throughput`` (global batch / images/s) or ``median`` (the median step).
        allreduce: ``mcnn-bench allreduce`` result files to fit the ring model to; without them,
            ``bandwidth_gbits`` (Gb/s) fixes beta.
        latency_us: the ring's alpha, microseconds (0 allowed); ``overlap``: the fraction in [0, 1] of the
            allreduce hidden behind the backward pass.
        image_size: the model's input (H, W) for the gradient bytes (default: the records', else the paper's).
        local_batch_size, max_global_batch, epochs, images_per_epoch, nodes, workers_per_node: the predicted
            rows (see :func:`analysis.scaling_model.predict`).
        measured_dir: results folder of a measured scaling sweep, plotted beside the prediction.
        against_paper: validate against Datta et al. 2019 (:func:`paper_validation`), with
            ``one_node_images_per_second`` and ``one_node_workers_per_node`` where the paper has none.
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
    }
    for flag, value in numbers.items():
        if value is not None and not (math.isfinite(value) and (value > 0 or (flag == "latency-us" and value == 0))):
            raise ValueError(f"--{flag} must be a positive number, got {value}")
    if any(n < 1 for n in nodes) or any(w < 1 for w in (workers_per_node or [])):
        raise ValueError("--nodes and --workers-per-node must be positive")
    latency = None if latency_us is None else latency_us * 1e-6
    image_size = (*image_size,) if image_size else None  # a tuple, also when given a list
    if against_paper and model != PAPER_MODEL:
        raise ValueError(f"--paper predicts {PAPER}'s Table 1, whose model is {PAPER_MODEL}: drop --model {model}")
    measured = measured_speedups(measured_dir) if measured_dir else None
    if against_paper:
        result = paper_validation(
            one_node_images_per_second=one_node_images_per_second,
            one_node_workers_per_node=one_node_workers_per_node,
            local_batch=local_batch_size,
            nodes=nodes,
            workers_per_node=workers_per_node,
            image_size=image_size,
            latency_seconds=latency,
            bandwidth_gbits=bandwidth_gbits,
            max_global_batch=max_global_batch,
            epochs=epochs,
            images_per_epoch=images_per_epoch,
            overlap=overlap,
            paper=paper,
        )
        return _run_paper(result, paper, out, measured)

    figures_at = sizing(model, "the gradient bytes n of the scaling model's allreduce")
    if step_times_dir is None:
        raise ValueError("give --step-times RESULTS_DIR (a one-node batch sweep), or --paper")
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
    compute = compute_models(step_times, ring, nbytes, overlap)
    for fitted in compute.values():
        notes.append(
            f"compute, {fitted.workers_per_node} worker(s) per node: t_c(b) = {fitted.a:.4g} + "
            f"{fitted.c:.4g} b s ({fitted.how}; measured step minus the modelled allreduce among its "
            f"{fitted.workers_per_node} workers)"
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
    per_epoch = images_per_epoch or _value(paper.DATASET.get("dataset_b_train_images")) or DEFAULT_IMAGES_PER_EPOCH
    notes.append(
        f"images per epoch {per_epoch:,}" + ("" if images_per_epoch else " (default: Dataset B; --images-per-epoch)")
    )
    if max_global_batch:
        notes.append(f"global-batch cap {max_global_batch}: local batch = min(local, cap // workers)")
    if overlap:
        notes.append(f"{100 * overlap:g} % of the allreduce hidden behind the backward pass")
    table = predict(
        compute,
        ring,
        nbytes,
        nodes,
        per_node,
        local,
        max_global_batch=max_global_batch,
        epochs=epochs_rule(epochs, paper.TABLE1),
        images_per_epoch=per_epoch,
        overlap=overlap,
    )
    text = markdown(table, notes)
    if out:
        paths = write_outputs(table, out, notes, measured, published_speedups(paper))
        text += "\nwritten: " + ", ".join(map(str, paths))
    return text


def _run_paper(result: PaperValidation, paper, out: Path | None, measured: pd.DataFrame | None) -> str:
    """``mcnn-bench predict --paper``: :func:`paper_validation`'s table, notes, comparisons and calibration."""
    columns = [
        NODES,
        WORKERS_PER_NODE,
        WORKERS,
        LOCAL_BATCH,
        GLOBAL_BATCH,
        PUBLISHED_GLOBAL_BATCH,
        STEP_SECONDS,
        IMAGES_PER_SECOND,
        PUBLISHED_IMAGES_PER_SECOND,
        IMAGES_PER_SECOND_ERROR,
        SPEEDUP,
        EFFICIENCY,
        EPOCHS,
        TTT_MINUTES,
        PUBLISHED_TTT,
        TTT_ERROR,
    ]
    title = f"Predicted vs published Table 1 ({PAPER})"
    lines = [markdown(result.table[columns], result.notes, title), ""]
    for what, predicted, published in result.comparisons:
        shown = "-" if predicted is None else f"{predicted:.4g}"
        if published is None:
            lines.append(f"{what}: predicted {shown}, published: {NOT_PUBLISHED}")
        else:
            error = "" if predicted is None else f" (error {100 * (predicted / published - 1):+.1f} %)"
            lines.append(f"{what}: predicted {shown}, published {published:g}{error}")
    lines += ["", "Why the model misses the paper (each effect alone, the model inverted):", *result.calibration]
    if out:
        eight = _value(paper.EIGHT_NODES.get("workers_per_node"))
        headline = [
            (label, n, float(value))
            for label, n, value in (
                (
                    f"published 8-node speedup{f' ({eight} per node)' if eight else ''}",
                    8,
                    _value(paper.EIGHT_NODES.get("speedup")),
                ),
                ("published 1-to-128-node speedup", 128, _value(paper.LARGE_SCALE.get("speedup_1_to_128"))),
            )
            if value is not None
        ]
        paths = write_outputs(
            result.table, out, result.notes + result.calibration, measured, published_speedups(paper), headline, title
        )
        lines.append("written: " + ", ".join(map(str, paths)))
    return "\n".join(lines)
