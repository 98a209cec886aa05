"""The figures of Datta et al. 2019 rebuilt from run records, each with the paper's published points
overlaid (:mod:`analysis.papers.datta2019`), as PNGs (matplotlib's Agg canvas, no pyplot):

- ``fig2_activations.png`` (Fig. 2): analytic activation size vs batch size 8..64 at the paper's
  1024x1280x3 and at every image size of the runs (:mod:`benchmark.models.analytic`), the runs' measured peak
  RSS per worker at their local batch, and the paper's about 11 GB at batch 32.
- ``fig5_batch_size.png`` (Fig. 5): one-node images/s and peak RSS per worker vs local batch size, one
  line per workers per node; the paper's 47.5 GB at batch 32 and best 4 workers x local batch 8 (sec. 5.2).
- ``fig7_training_curves.png`` (Fig. 7): training loss, validation top-1 (with its 95 % interval) and
  top-5 per epoch, one line per run; the paper's targets (Table 1: 99 % top-1, 100 % top-5).
- ``fig8_speedup.png`` (Fig. 8): images/s speedup vs nodes per (sweep, workers per node) with the ideal; the
  paper's images/s speedups, Table 1's rows over its 1-node row (2.4x on 2 nodes ... 52.9x on 128). The
  speedups its text quotes, 6.6x (sec. 5.3) and 19.2x (sec. 5.4), are TTT ratios and are not drawn on an
  images/s axis (``mcnn-bench paper-check``).
- ``fig9_top1_lr.png`` (Fig. 9): validation top-1 and learning rate per epoch, one panel per run
  (small multiples, :func:`plot_top1_lr_grid`, which also draws each sweep's ``curves/<sweep>.png``).
- ``fig10_scaling_efficiency.png`` (Fig. 10): scaling efficiency vs nodes; the paper's efficiencies derived
  from Table 1's images/s speedups (100 x speedup / nodes: 120 % on 2 nodes ... 41 % on 128).

Each is a :class:`analysis.outputs.FigureOutput` (:data:`PAPER_FIGURES`) whose ``unavailable`` says why no run
can feed it (its drawing function raises ``ValueError`` with that reason). :class:`SweepCurves` draws each
sweep's learning curves, ``curves/<sweep>.png``, as Fig. 9 draws them.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PathCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.path import Path as Path_
from matplotlib.textpath import TextPath, text_to_path
from matplotlib.ticker import (
    FixedLocator,
    FuncFormatter,
    LogLocator,
    MaxNLocator,
    NullFormatter,
    NullLocator,
    ScalarFormatter,
)
from matplotlib.transforms import Affine2D

from benchmark.models.analytic import model_figures

from .columns import BASELINE_NODES, EFFICIENCY, ENGINE, NODES, SPEEDUP, SWEEP, WORKERS_PER_NODE, WORKLOAD
from .outputs import FigureOutput
from .papers import datta2019 as paper
from .plots import (
    CI_ALPHA,
    CURVES_DIR,
    GLYPH_TEXTS,
    IDEAL_STYLE,
    MAX_SERIES,
    interval_band,
    median_band,
    save_png,
    with_epochs,
)
from .records import LoadedRecords
from .tables import distinct, node_scaling, workload

#: Fig. 2's batch sizes (images per worker): 8..64, as the paper's figure.
FIG2_BATCHES = tuple(range(8, 65, 8))
BYTES_PER_GB = 10**9
#: Legend entries for runs before the rest are summarised as "+N more runs".
MAX_LEGEND_RUNS = 12
#: Panels of Fig. 9 at most (``curves/<sweep>.png`` hold each sweep's runs).
MAX_PANELS = 36
#: Cells of a sweep's curves figure at most (``analyze --per-run-curves`` draws every run).
MAX_CELLS = 64
#: Resolution of the small multiples (:func:`plot_top1_lr_grid`): cells are small, and many are drawn.
GRID_DPI = 100
#: The small multiples' least width (pixels: every figure of the analysis is at least this wide) and one cell's
#: width and height with its heading, inches.
GRID_MIN_WIDTH = 800
GRID_CELL_INCHES = (2.0, 1.4)
#: Font sizes of the small multiples' labels and title, points.
LABEL_POINTS = 8
TITLE_POINTS = 11
#: How every published point is drawn: black, above the runs' lines.
PAPER_STYLE: dict[str, Any] = {"color": "black", "zorder": 5, "linestyle": "none", "markersize": 12}
#: How a value derived from published ones is drawn: hollow black.
DERIVED_STYLE: dict[str, Any] = {
    "color": "black",
    "zorder": 5,
    "linestyle": "none",
    "markersize": 10,
    "markerfacecolor": "white",
}


#: Why a figure cannot be drawn (its ``unavailable``; the ``ValueError`` of its drawing function).
NO_ONE_NODE_RUN = "no completed one-node run with a throughput figure"
NO_EPOCH = "no run recorded an epoch"
NO_TOP1 = "no run recorded a validation top-1"
NO_NODE_LINE = "no sweep has completed runs at two or more node counts with the same workers per node"


def plot_fig2_activations(loaded: LoadedRecords, path: str | Path) -> Path:
    """Datta et al. 2019, Fig. 2: activation memory (GB = 1e9 bytes) vs batch size, log scale.

    Lines: :meth:`benchmark.models.analytic.ModelFigures.activation_bytes` (float32 output of every layer, one
    batch) for batches 8..64 at 1024x1280x3, 13 classes (the paper's Dataset A) and at each (image size,
    classes) of the M-CNN runs. Dots: each M-CNN run's measured ``memory.peak_rss_bytes_max`` (the largest
    worker's peak RSS, which also holds weights, gradients, momentum and the framework) at its local batch.
    Runs of other models are left out: the analytic model is M-CNN's. Star: the paper's Fig. 2 point(s).
    Always drawn: the analytic line at the paper's size needs no run.
    """
    runs = loaded.runs[loaded.runs["model"] == "mcnn"]
    shapes = [(paper.DATASET["image_height_px"].value, paper.DATASET["image_width_px"].value, 13)]
    found = {(int(run.image_height), int(run.image_width), int(run.num_classes)) for run in runs.itertuples()}
    shapes += sorted(found - set(shapes))
    figure = Figure(figsize=(8, 5.2))
    axes = figure.add_subplot()
    for index, (height, width, classes) in enumerate(shapes):
        color, figures = f"C{index % 10}", model_figures(height, width, 3, classes)
        name = f"{height}x{width}x3" + (" (the paper's Dataset A)" if index == 0 else "")
        axes.plot(
            FIG2_BATCHES,
            [figures.activation_bytes(b) / BYTES_PER_GB for b in FIG2_BATCHES],
            ".-",
            color=color,
            label=f"analytic activations, {name}",
        )
        measured = runs[
            (runs["image_height"] == height)
            & (runs["image_width"] == width)
            & (runs["num_classes"] == classes)
            & runs["peak_rss_bytes_max"].notna()
            & runs["local_batch_size"].notna()
        ]
        if not measured.empty:
            axes.plot(
                measured["local_batch_size"],
                measured["peak_rss_bytes_max"] / BYTES_PER_GB,
                "o",
                color=color,
                markerfacecolor="none",
                label=f"measured peak RSS per worker (whole process), {height}x{width}",
            )
    for batch, published in paper.FIG2_ACTIVATIONS:
        axes.plot(
            [batch],
            [published.known],
            "*",
            label=f"Datta et al. 2019, Fig. 2: about {published.value:g} {published.unit} at batch {batch}",
            **PAPER_STYLE,
        )
    _plain_log_y(axes)
    axes.set_xticks(sorted({*FIG2_BATCHES, *(int(b) for b in runs["local_batch_size"].dropna())}))
    axes.set_xlabel("batch size (images per worker)")
    axes.set_ylabel("memory (GB = 10^9 bytes, log scale)")
    axes.set_title("Fig. 2: activation memory vs batch size")
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize="small")
    return save_png(figure, path)


def plot_fig5_batch_size(loaded: LoadedRecords, path: str | Path) -> Path:
    """Datta et al. 2019, Fig. 5: on one node, global images/s (left) and peak RSS per worker in GB
    (right, log scale) vs local batch size, one line per workers per node (and image size or sweep when
    the runs have several, and engine when they ran on several; pooled over sweeps, then image sizes, when
    that would make more than ``MAX_SERIES`` lines), each point the median over the completed 1-node runs of
    that setting and a band their min-max. Paper: 47.5 GB at batch 32 (sec. 5.2) on the memory panel, and its
    best setting, 4 workers x local batch 8 (sec. 5.2), as a dotted line on the throughput panel.

    Raises:
        ValueError: no completed 1-node run with a throughput figure (:data:`NO_ONE_NODE_RUN`).
    """
    one_node = _one_node(loaded.runs)
    if one_node.empty:
        raise ValueError(NO_ONE_NODE_RUN)
    figure = Figure(figsize=(12, 4.8))
    speed_axes, memory_axes = figure.subplots(1, 2)
    engines = [ENGINE] if one_node[ENGINE].nunique() > 1 else []  # a line never pools two engines' runs
    groupings = [
        [*keys, *engines]
        for keys in (
            ["sweep", "image_size", "workers_per_node"],
            ["image_size", "workers_per_node"],
            ["workers_per_node"],
        )
    ]
    keys = next((keys for keys in groupings if one_node.groupby(keys).ngroups <= MAX_SERIES), engines)
    varies = {key: one_node[key].nunique() > 1 for key in groupings[0]}
    groups = one_node.groupby(keys, sort=True) if keys else [((), one_node)]
    for index, (values, group) in enumerate(groups):
        named = dict(zip(keys, values if isinstance(values, tuple) else (values,)))
        parts = []
        if "workers_per_node" in named:
            per_node = named["workers_per_node"]
            parts.append(f"{per_node} worker{'s' if per_node > 1 else ''} per node")
        if "image_size" in named and varies["image_size"]:
            parts.append(named["image_size"])
        if "sweep" in named and varies["sweep"]:
            parts.append(f"sweep {named['sweep']}")
        if ENGINE in named:
            parts.append(named[ENGINE])
        if keys != groupings[0] and varies["sweep"]:
            parts.append(f"median of {group['sweep'].nunique()} sweeps")
        label, color = ", ".join(parts) or "all one-node runs", f"C{index % 10}"
        median_band(speed_axes, group["local_batch_size"], group["images_per_second"], color, label)
        median_band(memory_axes, group["local_batch_size"], group["peak_rss_bytes_max"] / BYTES_PER_GB, color, label)
    best_workers, best_batch = paper.SINGLE_NODE["best_workers_per_node"], paper.SINGLE_NODE["best_local_batch"]
    speed_axes.axvline(
        best_batch.value,
        color="black",
        linestyle=":",
        label=f"Datta et al. 2019, {best_batch.source}: best {best_workers.value} workers x "
        f"local batch {best_batch.value}",
    )
    memory = paper.SINGLE_NODE["memory_gb_batch32"]
    memory_axes.plot(
        [32],
        [memory.value],
        "*",
        label=f"Datta et al. 2019, {memory.source}: {memory.value:g} {memory.unit} at batch 32 (1 node)",
        **PAPER_STYLE,
    )
    _plain_log_y(memory_axes)
    batches = sorted({*one_node["local_batch_size"].astype(int), best_batch.value, 32})
    for axes, ylabel in (
        (speed_axes, "throughput (images/s, all workers of the node)"),
        (memory_axes, "peak RSS per worker (GB = 10^9 bytes, log scale)"),
    ):
        _batch_axis(axes, batches)
        axes.set_ylabel(ylabel)
        axes.grid(alpha=0.3, which="both")
        axes.legend(fontsize="small")
    speed_axes.set_ylim(bottom=0)
    speed_axes.set_title("One node: throughput vs local batch size")
    memory_axes.set_title("One node: memory vs local batch size")
    figure.suptitle("Fig. 5: one-node throughput and memory per batch size and workers per node")
    return save_png(figure, path)


def plot_fig7_training_curves(loaded: LoadedRecords, path: str | Path) -> Path:
    """Datta et al. 2019, Fig. 7: training loss, validation top-1 (%) and validation top-5 (%) per epoch,
    each with its 95 % bootstrap interval as a band where recorded; one panel each, one line per run. With
    more than ``MAX_LEGEND_RUNS`` runs: one line per sweep (one over every run with more than
    ``MAX_SERIES`` sweeps), the median of its runs per epoch, with their min-max as a band. The paper's
    targets (Table 1: 99 % top-1, 100 % top-5) are dotted lines.

    Raises:
        ValueError: no run recorded an epoch (:data:`NO_EPOCH`).
    """
    epochs = loaded.epochs
    if epochs.empty:
        raise ValueError(NO_EPOCH)
    figure = Figure(figsize=(17, 5), layout="constrained")
    loss_axes, top1_axes, top5_axes = figure.subplots(1, 3)
    runs = epochs.groupby(["sweep", "run_id"]).ngroups
    bands = runs <= MAX_LEGEND_RUNS
    run_lines = []
    if bands:
        for color, label, rows in _run_series(epochs):
            (line,) = loss_axes.plot(rows["epoch"], rows["train_loss"], "-", color=color, label=label)
            top1_axes.plot(rows["epoch"], 100 * rows["val_top1"], "-", color=color)
            top5_axes.plot(rows["epoch"], 100 * rows["val_top5"], "-", color=color)
            interval_band(top1_axes, rows, "val_top1_ci_low", "val_top1_ci_high", color)
            interval_band(top5_axes, rows, "val_top5_ci_low", "val_top5_ci_high", color)
            run_lines.append(line)
    else:  # a median line per sweep (or over every run) with its runs' min-max as a band
        keys = ["sweep"] if epochs["sweep"].nunique() <= MAX_SERIES else []
        groups = epochs.groupby(keys, sort=True) if keys else [((), epochs)]
        for index, (values, rows) in enumerate(groups):
            count = rows.groupby(["sweep", "run_id"]).ngroups
            label = (
                f"sweep {values[0] if isinstance(values, tuple) else values}"
                if keys
                else f"all {epochs['sweep'].nunique()} sweeps"
            ) + f": median of {count} runs"
            color = f"C{index % 10}"
            median_band(loss_axes, rows["epoch"], rows["train_loss"], color, label, "-")
            median_band(top1_axes, rows["epoch"], 100 * rows["val_top1"], color, None, "-")
            median_band(top5_axes, rows["epoch"], 100 * rows["val_top5"], color, None, "-")
            run_lines.append(loss_axes.lines[-1])
        run_lines.append(Patch(color="gray", alpha=CI_ALPHA, linewidth=0, label="band: min to max over the runs"))
    for axes, key, what in ((top1_axes, "top1", "top-1"), (top5_axes, "top5", "top-5")):
        target = paper.TARGETS[key]
        axes.axhline(
            100 * target.known,
            color="black",
            linestyle=":",
            label=f"Datta et al. 2019, Table 1 target: {100 * target.known:g} % {what}",
        )
        axes.set_ylim(0, 101)
        axes.set_ylabel(f"validation {what} accuracy (%)")
        axes.legend(fontsize="small", loc="lower right")
    loss_axes.set_ylabel("training loss (cross-entropy, mean over the epoch)")
    band_note = " (bands: 95 % CI over fields of view)" if bands else f" (median of {runs} runs)"
    top1_axes.set_title("Validation top-1" + band_note)
    top5_axes.set_title("Validation top-5" + band_note)
    loss_axes.set_title("Training loss")
    for axes in (loss_axes, top1_axes, top5_axes):
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
    figure.legend(
        handles=_limited(run_lines), loc="outside right upper", fontsize="small", title="runs" if bands else "sweeps"
    )
    figure.suptitle("Fig. 7: training loss, validation top-1 and top-5 per epoch")
    return save_png(figure, path)


def plot_fig8_speedup(loaded: LoadedRecords, path: str | Path) -> Path:
    """Datta et al. 2019, Fig. 8: speedup vs nodes (log-log), one line per (sweep, workers per node) from
    :func:`analysis.tables.node_scaling` (images/s over the line's smallest node count), and the dashed
    ideal from one node (speedup = nodes; a line whose smallest node count is not 1 gets its own ideal,
    nodes / baseline nodes). The paper's points: Table 1's images/s speedups
    (:func:`_table1_speedups`), the same measure as ours.

    Raises:
        ValueError: no (sweep, workers per node) has completed runs at two or more node counts
            (:data:`NO_NODE_LINE`).
    """
    lines = _node_lines(loaded)
    if not lines:
        raise ValueError(NO_NODE_LINE)
    figure = Figure(figsize=(8, 5.2))
    axes = figure.add_subplot()
    for color, label, group in lines:
        median_band(axes, group[NODES], group[SPEEDUP], color, label)
        if (group[BASELINE_NODES] != 1).any() and group[BASELINE_NODES].nunique() == 1:
            axes.plot(
                group[NODES],
                group[NODES] / group[BASELINE_NODES],
                color=color,
                label=f"ideal for {label} (nodes / {group[BASELINE_NODES].iloc[0]})",
                **IDEAL_STYLE,
            )
    nodes, speedups = _table1_speedups()
    top = max(max(nodes), *(int(group[NODES].max()) for _, _, group in lines))
    axes.plot([1, top], [1, top], color="gray", **IDEAL_STYLE, label="ideal from 1 node (speedup = nodes)")
    axes.plot(
        nodes,
        speedups,
        "D",
        label=f"Datta et al. 2019, Table 1: images/s over the 1-node row's ({speedups[-1]:.1f}x on {nodes[-1]})",
        **{**PAPER_STYLE, "markersize": 8},
    )
    _nodes_axis(axes, lines)
    axes.set_yscale("log", base=2)
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.set_ylabel("speedup (x images/s at the line's smallest node count)")
    axes.set_title("Fig. 8: speedup (images/s) vs nodes")
    axes.legend(fontsize="small")
    return save_png(figure, path)


def _table1_speedups() -> tuple[list[int], list[float]]:
    """Table 1's node counts and images/s speedups over its 1-node row, x
    (:func:`analysis.papers.datta2019.table1_speedup`): what Figs. 8 and 10 set beside ours."""
    nodes = [row.nodes for row in paper.TABLE1]
    return nodes, [paper.table1_speedup(n).known for n in nodes]


def plot_fig9_top1_lr(loaded: LoadedRecords, path: str | Path) -> Path:
    """Datta et al. 2019, Fig. 9: per run, validation top-1 (%) with its 95 % interval band and the run's
    top-1 target (dotted), and the learning rate (at each epoch's first step), as small multiples
    (:func:`plot_top1_lr_grid`), at most ``MAX_PANELS`` runs; every sweep's runs are in
    ``curves/<sweep>.png``.

    Raises:
        ValueError: no run recorded validation top-1 (:data:`NO_TOP1`).
    """
    epochs = _with_top1(loaded.epochs)
    if epochs.empty:
        raise ValueError(NO_TOP1)
    return plot_top1_lr_grid(
        epochs,
        loaded.runs,
        path,
        "Fig. 9: validation top-1 and learning rate per epoch",
        MAX_PANELS,
        "every sweep's runs are in curves/<sweep>.png",
    )


def plot_sweep_curves(epochs: pd.DataFrame, runs: pd.DataFrame, sweep: str, path: str | Path) -> Path:
    """One sweep's learning curves: Fig. 9's small multiples (:func:`plot_top1_lr_grid`) of the sweep's runs
    in ``epochs``/``runs`` (``LoadedRecords`` frames, possibly of that sweep only), at most ``MAX_CELLS``.

    Raises:
        ValueError: no run of the sweep recorded validation top-1.
    """
    rows = _with_top1(epochs[epochs["sweep"] == sweep])
    if rows.empty:
        raise ValueError(f"no run of sweep {sweep} recorded a validation top-1")
    return plot_top1_lr_grid(
        rows,
        runs[runs["sweep"] == sweep],
        path,
        f"Sweep {sweep}: validation top-1 and learning rate per epoch",
        MAX_CELLS,
        "analyze --per-run-curves draws one PNG per run",
    )


def plot_top1_lr_grid(
    epochs: pd.DataFrame, runs: pd.DataFrame, path: str | Path, title: str, max_cells: int, more_note: str
) -> Path:
    """Small multiples of Datta et al. 2019, Fig. 9, one cell per run of ``epochs`` (in (sweep, run id)
    order, at most ``max_cells``; the title then says how many of how many and ``more_note``): validation
    top-1 (%, blue, 0 to 100 in every cell) with its 95 % interval as a band and the run's top-1 target
    dotted, and the learning rate (orange, dashed, 0 to the largest rate of the figure) per epoch (1 to the
    most epochs of the figure). Each cell is headed by the run id, with its topology when the id does not
    already say it (``n<nodes>-w<workers per node>-b<local batch>``) and its workload when the runs differ
    in workload (else the title names it).

    The cells share one scale, drawn once (top-1 left and learning rate right of the top row, epochs under
    the bottom-left cell), are drawn straight onto the figure (no Axes), and every text is glyph outlines
    in one collection (:class:`_Texts`): a cell costs a few line segments, so a sweep of 64 runs draws in
    well under a tenth of a second, where a grid of full matplotlib axes with a text artist per label
    took seconds.
    """
    # One pass over the frame (a sort and a float conversion), not one per run: this is drawn per sweep.
    ordered = epochs.sort_values(["sweep", "run_id", "epoch"], kind="stable")
    keys = list(dict.fromkeys(zip(ordered["sweep"], ordered["run_id"])))
    shown = keys[:max_cells]
    several_sweeps = ordered["sweep"].nunique() > 1
    values = ordered[["epoch", "val_top1", "val_top1_ci_low", "val_top1_ci_high", "learning_rate"]]
    values = values.astype("float64").to_numpy(na_value=np.nan)
    sweeps, run_ids = ordered["sweep"].to_numpy(dtype=object), ordered["run_id"].to_numpy(dtype=object)
    boundaries = np.flatnonzero(np.r_[True, (sweeps[1:] != sweeps[:-1]) | (run_ids[1:] != run_ids[:-1]), True])
    arrays = [values[boundaries[i] : boundaries[i + 1]].T for i in range(len(shown))]
    columns = len(shown) if len(shown) <= 3 else min(8, math.ceil(math.sqrt(len(shown))))
    rows = math.ceil(len(shown) / columns)
    info = runs.assign(workload=workload(runs)).drop_duplicates(["sweep", "run_id"]).set_index(["sweep", "run_id"])
    cells = info.reindex(pd.MultiIndex.from_tuples(shown, names=["sweep", "run_id"]))
    workloads = set(cells["workload"].dropna())
    last_epoch = int(max(values[0].max() for values in arrays))
    top_rate = float(max(np.nanmax(values[4]) for values in arrays)) or 1.0
    width, gap, height, head = 10.0, 2.0, 100.0, 24.0  # cell units: epochs span ``width``, top-1 ``height``

    def x_of(epoch):
        return (epoch - 1) / max(1, last_epoch - 1) * width

    more = f" ({len(shown)} of {len(keys)} runs; {more_note})" if len(keys) > len(shown) else ""
    headings = [
        f"{title}{more}",
        f"blue: validation top-1 (0 to 100 %), band: its 95 % CI, dotted: target; orange dashed: learning rate "
        f"(0 to {top_rate:.2g})",
        *([f"every run: {next(iter(workloads))}"] if len(workloads) == 1 else []),
    ]
    sizes = [TITLE_POINTS] + [LABEL_POINTS] * (len(headings) - 1)
    # Inches: margins left, right and below the cells; above them, a line per heading.
    left, right, below = 0.6, 0.55, 0.5
    above = (sum(1.5 * size for size in sizes) + 6) / 72
    widest = max(_text_width(text, size) for text, size in zip(headings, sizes)) / 72 + 0.4
    figure = Figure(
        figsize=(
            max(GRID_MIN_WIDTH / GRID_DPI, widest, left + right + GRID_CELL_INCHES[0] * columns),
            below + above + GRID_CELL_INCHES[1] * rows,
        )
    )
    x_range = (-0.3, columns * (width + gap) - gap + 0.3)
    top = rows * (height + head) - head
    y_range = (-2.0, top + head)
    # Cell units to the figure: no Axes (its axis machinery would cost more than the cells), one affine
    # map onto the figure less its margins.
    inches_w, inches_h = figure.get_figwidth(), figure.get_figheight()
    to_figure = (
        Affine2D()
        .translate(-x_range[0], -y_range[0])
        .scale(
            (inches_w - left - right) / (x_range[1] - x_range[0]),
            (inches_h - below - above) / (y_range[1] - y_range[0]),
        )
        .translate(left, below)
        + figure.dpi_scale_trans
    )
    frames, targets, top1, rates, bands = [], [], [], [], []
    texts = _Texts()
    for cell, ((sweep, run_id), run, (epoch, accuracy, low, high, rate)) in enumerate(
        zip(shown, cells.itertuples(), arrays)
    ):
        label = f"{sweep}/{run_id}" if several_sweeps else run_id
        row, column = divmod(cell, columns)
        x0, y0 = column * (width + gap), (rows - 1 - row) * (height + head)
        x = x0 + x_of(epoch)
        frames.append([(x0, y0), (x0 + width, y0), (x0 + width, y0 + height), (x0, y0 + height), (x0, y0)])
        top1.append(np.column_stack([x, y0 + 100 * accuracy]))
        rates.append(np.column_stack([x, y0 + height * rate / top_rate]))
        with_interval = ~(np.isnan(low) | np.isnan(high))
        if with_interval.any():
            xs = x[with_interval]
            bands.append(
                np.column_stack([np.r_[xs, xs[::-1]], y0 + 100 * np.r_[low[with_interval], high[with_interval][::-1]]])
            )
        if pd.notna(run.target_top1):
            targets.append([(x0, y0 + 100 * run.target_top1), (x0 + width, y0 + 100 * run.target_top1)])
        text = label
        if pd.isna(run.nodes) or not str(run.Index[1]).startswith(
            f"n{run.nodes}-w{run.workers_per_node}-b{run.local_batch_size}"
        ):
            text += f" ({_short_topology(run)})"
        lines = [text, str(run.workload)] if len(workloads) > 1 else [text]
        for line, text in enumerate(reversed(lines)):
            texts.add(text, (x0, y0 + height + 3), raise_points=LABEL_POINTS * 1.2 * line)
    # One scale for every cell: top-1 on the left of the top row, learning rate on its right, epochs below
    # the bottom-left cell.
    first = top - height
    for value in (0, 50, 100):
        texts.add(f"{value} %", (-0.5, first + value), "right", "center", "C0")
    right = (min(columns, len(shown)) - 1) * (width + gap) + width  # the top row's last cell
    for offset, text in ((0, "0"), (height, f"{top_rate:.2g}")):
        texts.add(text, (right + 0.5, first + offset), "left", "center", "C1")
    for epoch in sorted({1, (1 + last_epoch) // 2, last_epoch}):
        texts.add(str(epoch), (x_of(epoch), -3), "center", "top")
    texts.add("epoch", (width / 2, -3), "center", "top", raise_points=-1.3 * LABEL_POINTS)
    middle = (x_range[0] + x_range[1]) / 2
    lowered = 0.0
    for text, size in zip(headings, sizes):
        lowered += 1.5 * size
        texts.add(text, (middle, y_range[1]), "center", "bottom", size=size, raise_points=above * 72 - lowered)
    for artist in (
        PolyCollection(bands, facecolor="C0", alpha=CI_ALPHA, linewidth=0, transform=to_figure),
        LineCollection(frames, colors="0.75", linewidths=0.6, transform=to_figure),
        LineCollection(targets, colors="C0", linewidths=0.8, linestyles=":", transform=to_figure),
        LineCollection(top1, colors="C0", linewidths=1.2, transform=to_figure),
        LineCollection(rates, colors="C1", linewidths=1.0, linestyles="--", transform=to_figure),
        texts.collection(figure, to_figure),
    ):
        figure.add_artist(artist)
    return save_png(figure, path, tight=False, dpi=GRID_DPI, palette=True)


class _Texts:
    """Texts drawn as glyph outlines in one :class:`PathCollection`: one pass for every label of a figure,
    where a matplotlib Text artist per label cost more than the rest of a small-multiples figure. Each text
    is placed at a point in cell units, aligned (``ha``: left, center, right; ``va``: bottom, center, top)
    by its advance width and font size, and raised by ``raise_points``."""

    def __init__(self) -> None:
        self.paths: list[Path_] = []
        self.offsets: list[tuple[float, float]] = []
        self.colors: list[str] = []

    def add(
        self,
        text: str,
        at: tuple[float, float],
        ha: str = "left",
        va: str = "bottom",
        color: str = "black",
        size: float | None = None,
        raise_points: float = 0.0,
    ) -> None:
        size = size or LABEL_POINTS
        shift_x = {"left": 0.0, "center": -0.5, "right": -1.0}[ha] * _text_width(text, size)
        shift_y = raise_points + {"bottom": 0.15, "center": -0.35, "top": -0.85}[va] * size
        self.paths.append(_label_path(text, shift_x, shift_y, size))
        self.offsets.append(at)
        self.colors.append(color)

    def collection(self, figure: Figure, to_figure) -> PathCollection:
        return PathCollection(
            self.paths,
            offsets=self.offsets,
            offset_transform=to_figure,
            transform=Affine2D().scale(1 / 72) + figure.dpi_scale_trans,
            facecolors=self.colors,
            linewidths=0,
            gid=GLYPH_TEXTS,
        )


def _text_width(text: str, size: float) -> float:
    return sum(_glyph(character, size)[2] for character in text)


def _label_path(text: str, x: float, baseline: float, size: float) -> Path_:
    """``text`` at ``size`` points as one path of glyph outlines, in points from (``x``, ``baseline``): each
    glyph is made once (:func:`_glyph`) and placed by its advance (no kerning), so a sweep's labels cost
    a millisecond or two rather than a font layout each."""
    vertices, codes = [], []
    for character in text:
        glyph_vertices, glyph_codes, advance = _glyph(character, size)
        if len(glyph_codes):
            vertices.append(glyph_vertices + (x, baseline))
            codes.append(glyph_codes)
        x += advance
    if not codes:
        return Path_(np.zeros((0, 2)))
    return Path_(np.concatenate(vertices), np.concatenate(codes))


@functools.lru_cache(maxsize=1024)
def _glyph(character: str, size: float) -> tuple[np.ndarray, np.ndarray, float]:
    """One character's outline at ``size`` points (vertices in points, origin on the baseline; path
    codes) and its advance width."""
    font = FontProperties(size=size)
    width = text_to_path.get_text_width_height_descent(character, font, ismath=False)[0]
    if character.isspace():  # no outline (and TextPath cannot make an empty one)
        return np.zeros((0, 2)), np.zeros(0, dtype=Path_.code_type), width
    outline = TextPath((0, 0), character, prop=font)
    return np.asarray(outline.vertices), np.asarray(outline.codes, dtype=Path_.code_type), width


def _short_topology(run) -> str:
    """``"2x4, b8"`` (nodes x workers per node, local batch), or "topology not recorded"."""
    if pd.isna(run.nodes):
        return "topology not recorded"
    return f"{run.nodes}x{run.workers_per_node}, b{run.local_batch_size}"


def plot_fig10_scaling_efficiency(loaded: LoadedRecords, path: str | Path) -> Path:
    """Datta et al. 2019, Fig. 10: scaling efficiency (%) = 100 x speedup / (nodes / baseline nodes) vs
    nodes, one line per (sweep, workers per node) (:func:`analysis.tables.node_scaling`), 100 % dashed.
    The paper's points are derived from Table 1's images/s speedups (:func:`_table1_speedups`): 100 x
    speedup / nodes.

    Raises:
        ValueError: as :func:`plot_fig8_speedup`.
    """
    lines = _node_lines(loaded)
    if not lines:
        raise ValueError(NO_NODE_LINE)
    figure = Figure(figsize=(8, 5.2))
    axes = figure.add_subplot()
    for color, label, group in lines:
        median_band(axes, group[NODES], group[EFFICIENCY], color, label)
    axes.axhline(100, color="gray", **IDEAL_STYLE)
    nodes, speedups = _table1_speedups()
    efficiencies = [100 * speedup / n for n, speedup in zip(nodes, speedups)]
    axes.plot(
        nodes,
        efficiencies,
        "D",
        label=f"Datta et al. 2019, derived from Table 1's images/s: 100 x speedup / nodes "
        f"({efficiencies[-1]:.0f} % on {nodes[-1]})",
        **DERIVED_STYLE,
    )
    _nodes_axis(axes, lines)
    axes.set_ylim(0, max(110, 1.1 * max(efficiencies), 1.1 * max(group[EFFICIENCY].max() for _, _, group in lines)))
    axes.set_ylabel("scaling efficiency (%)")
    axes.set_title("Fig. 10: scaling efficiency vs nodes")
    _legend_with_ideal(axes, "ideal (100 %)")
    return save_png(figure, path)


def _one_node(runs: pd.DataFrame) -> pd.DataFrame:
    """The completed one-node runs with a throughput figure (Fig. 5's)."""
    return runs[(runs["status"] == "completed") & (runs["nodes"] == 1) & runs["images_per_second"].notna()]


def _with_top1(epochs: pd.DataFrame) -> pd.DataFrame:
    """The epochs that recorded a validation top-1 (Fig. 9's and the curves')."""
    return epochs[epochs["val_top1"].notna()]


class Fig2Activations(FigureOutput):
    name = "fig2_activations"
    files = "fig2_activations.png"
    description = (
        "Datta et al. 2019, Fig. 2: analytic activation memory vs batch size, the M-CNN runs' peak RSS "
        "per worker and the paper's point"
    )

    def draw(self, records: LoadedRecords, out_dir: Path) -> list[Path]:
        return [plot_fig2_activations(records, out_dir / self.files)]


class Fig5BatchSize(FigureOutput):
    name = "fig5_batch_size"
    files = "fig5_batch_size.png"
    description = (
        "Datta et al. 2019, Fig. 5: one-node images/s and peak RSS per worker vs local batch size, a "
        "line per workers per node"
    )

    def unavailable(self, records: LoadedRecords) -> str | None:
        return NO_ONE_NODE_RUN if _one_node(records.runs).empty else None

    def draw(self, records: LoadedRecords, out_dir: Path) -> list[Path]:
        return [plot_fig5_batch_size(records, out_dir / self.files)]


class Fig7TrainingCurves(FigureOutput):
    name = "fig7_training_curves"
    files = "fig7_training_curves.png"
    description = (
        "Datta et al. 2019, Fig. 7: training loss, validation top-1 and top-5 per epoch, a line per "
        "run (or the median per sweep), with the paper's targets"
    )

    def unavailable(self, records: LoadedRecords) -> str | None:
        return NO_EPOCH if records.epochs.empty else None

    def draw(self, records: LoadedRecords, out_dir: Path) -> list[Path]:
        return [plot_fig7_training_curves(records, out_dir / self.files)]


class _NodeScalingFigure(FigureOutput):
    """A figure of :func:`analysis.tables.node_scaling`'s lines."""

    def unavailable(self, records: LoadedRecords) -> str | None:
        return None if _node_lines(records) else NO_NODE_LINE


class Fig8Speedup(_NodeScalingFigure):
    name = "fig8_speedup"
    files = "fig8_speedup.png"
    description = (
        "Datta et al. 2019, Fig. 8: images/s speedup vs nodes per sweep and workers per node, with the ideal "
        "and Table 1's images/s speedups"
    )

    def draw(self, records: LoadedRecords, out_dir: Path) -> list[Path]:
        return [plot_fig8_speedup(records, out_dir / self.files)]


class Fig9Top1LearningRate(FigureOutput):
    name = "fig9_top1_lr"
    files = "fig9_top1_lr.png"
    description = (
        "Datta et al. 2019, Fig. 9: validation top-1 and learning rate per epoch, a panel per run "
        f"(at most {MAX_PANELS})"
    )

    def unavailable(self, records: LoadedRecords) -> str | None:
        return NO_TOP1 if _with_top1(records.epochs).empty else None

    def draw(self, records: LoadedRecords, out_dir: Path) -> list[Path]:
        return [plot_fig9_top1_lr(records, out_dir / self.files)]


class Fig10ScalingEfficiency(_NodeScalingFigure):
    name = "fig10_scaling_efficiency"
    files = "fig10_scaling_efficiency.png"
    description = (
        "Datta et al. 2019, Fig. 10: scaling efficiency vs nodes, with the efficiencies derived from "
        "Table 1's images/s speedups"
    )

    def draw(self, records: LoadedRecords, out_dir: Path) -> list[Path]:
        return [plot_fig10_scaling_efficiency(records, out_dir / self.files)]


class SweepCurves(FigureOutput):
    name = "curves"
    files = f"{CURVES_DIR}/<sweep>.png"
    description = (
        f"each sweep's learning curves: validation top-1 and learning rate per epoch, a cell per run "
        f"(at most {MAX_CELLS}), for every sweep with a completed run that recorded epochs"
    )
    summary = False

    def parts(self, records: LoadedRecords) -> list[LoadedRecords]:
        return records.by_sweep(sorted(with_epochs(records)["sweep"].unique()))

    def unavailable(self, records: LoadedRecords) -> str | None:
        if not _with_top1(records.epochs).empty:
            return None
        sweeps = sorted(records.epochs["sweep"].unique())
        return f"no run of sweep {', '.join(sweeps)} recorded a validation top-1" if sweeps else NO_TOP1

    def draw(self, records: LoadedRecords, out_dir: Path) -> list[Path]:
        shown = set(_with_top1(records.epochs)["sweep"])
        return [
            plot_sweep_curves(records.epochs, runs, sweep, out_dir / CURVES_DIR / f"{sweep}.png")
            for sweep, runs in with_epochs(records).groupby("sweep", sort=True)
            if sweep in shown
        ]


#: The paper's figures, in its order.
PAPER_FIGURES: list[FigureOutput] = [
    Fig2Activations(),
    Fig5BatchSize(),
    Fig7TrainingCurves(),
    Fig8Speedup(),
    Fig9Top1LearningRate(),
    Fig10ScalingEfficiency(),
]


def _run_series(epochs: pd.DataFrame):
    """(color, label, epoch rows sorted) per run, in (sweep, run id) order; labels carry the sweep when
    the epochs span several sweeps; colours from tab10, or tab20 for more than 10 runs."""
    several_sweeps = epochs["sweep"].nunique() > 1
    groups = epochs.groupby(["sweep", "run_id"], sort=True)
    palette = colormaps["tab10" if groups.ngroups <= 10 else "tab20"]
    for index, ((sweep, run_id), rows) in enumerate(groups):
        yield palette(index % palette.N), f"{sweep}/{run_id}" if several_sweeps else run_id, rows.sort_values("epoch")


def _limited(handles: list[Line2D]) -> list[Line2D]:
    """At most ``MAX_LEGEND_RUNS`` legend handles, then one entry saying how many more runs there are."""
    if len(handles) <= MAX_LEGEND_RUNS:
        return handles
    more = Line2D([], [], linestyle="none", label=f"+{len(handles) - MAX_LEGEND_RUNS} more runs")
    return [*handles[:MAX_LEGEND_RUNS], more]


def _node_lines(loaded: LoadedRecords) -> list[tuple[str, str, pd.DataFrame]]:
    """(color, label, rows) per (sweep, engine, workers per node) of ``node_scaling`` with two or more node
    counts; the label names the workload ("leaky split" for runs on the paper's split) and, when the runs span
    several engines, the engine. With more than ``MAX_SERIES`` such lines, one per workers per node (and
    engine) instead, its rows those of every sweep (drawn as the median per node count with a min-max band).

    None when there is no such line.
    """
    table = node_scaling(loaded.runs)
    engines = table[ENGINE].nunique() > 1
    keys = [SWEEP, ENGINE, WORKERS_PER_NODE]
    groups = [(key, group) for key, group in table.groupby(keys, sort=True) if len(group) > 1]
    if not groups:
        return []
    sweeps = {sweep for (sweep, _, _), _ in groups}
    lines = []
    if len(groups) > MAX_SERIES:  # one line per workers per node (and engine), pooled over the sweeps
        pooled = pd.concat([group for _, group in groups])
        for index, ((engine, per_node), group) in enumerate(pooled.groupby([ENGINE, WORKERS_PER_NODE], sort=True)):
            label = (
                f"{per_node} worker{'s' if per_node > 1 else ''} per node{f', {engine}' if engines else ''}, "
                f"median of {group[SWEEP].nunique()} sweeps (band: min to max)"
            )
            lines.append((f"C{index % 10}", label, group.sort_values(NODES)))
        return lines
    for index, ((sweep, engine, per_node), group) in enumerate(groups):
        label = (
            f"{per_node} worker{'s' if per_node > 1 else ''} per node{f', {engine}' if engines else ''} "
            f"({distinct(group[WORKLOAD], '; ')})"
        )
        lines.append((f"C{index % 10}", f"{sweep}: {label}" if len(sweeps) > 1 else label, group.sort_values(NODES)))
    return lines


def _nodes_axis(axes: Axes, lines: list[tuple[str, str, pd.DataFrame]]) -> None:
    """A log2 nodes axis from 1 to 128 nodes (the paper's range) or beyond, a tick at every power of two
    and at every node count of the lines."""
    ours = {int(n) for _, _, group in lines for n in group[NODES]}
    nodes = sorted(ours | {2**k for k in range(max(7, max(ours).bit_length() - 1) + 1)})
    _log2_axis(axes, nodes, 0.06, "nodes (log scale)")
    axes.grid(alpha=0.3)


def _batch_axis(axes: Axes, batches: list[int]) -> None:
    """A log2 local-batch axis with a tick at every batch size."""
    _log2_axis(axes, batches, 0.08, "local batch size (images per worker, log scale)")


def _log2_axis(axes: Axes, ticks: list[int], margin: float, label: str) -> None:
    """A log2 x axis with plain-number ticks at ``ticks`` only."""
    axes.set_xscale("log", base=2)
    axes.xaxis.set_major_locator(FixedLocator(ticks))
    axes.xaxis.set_minor_locator(NullLocator())
    axes.xaxis.set_major_formatter(ScalarFormatter())
    axes.margins(x=margin)
    axes.set_xlabel(label)


def _plain_log_y(axes: Axes) -> None:
    """A log y axis labelled at 1, 2 and 5 of each decade with plain numbers (``20``, not ``2 x 10^1``)."""
    axes.set_yscale("log")
    axes.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.yaxis.set_minor_formatter(NullFormatter())


def _legend_with_ideal(axes: Axes, ideal_label: str) -> None:
    handles = axes.get_legend_handles_labels()[0]
    axes.legend(handles=[*handles, Line2D([], [], color="gray", label=ideal_label, **IDEAL_STYLE)], fontsize="small")


def _topology(run: pd.Series) -> str:
    """``"2 nodes x 4 workers, local batch 8"``, or that the topology was not recorded."""
    if pd.isna(run["nodes"]):
        return "topology not recorded"
    workers = run["workers_per_node"]
    return (
        f"{run['nodes']} node{'s' if run['nodes'] > 1 else ''} x {workers} worker{'s' if workers > 1 else ''}, "
        f"local batch {run['local_batch_size']}"
    )
