"""The figures of Datta et al. 2019 rebuilt from run records, each with the paper's published points
overlaid (:mod:`analysis.paper`), as PNGs (matplotlib's Agg canvas, no pyplot):

- ``fig2_activations.png`` (Fig. 2): analytic activation size vs batch size 8..64 at the paper's
  1024x1280x3 and at every image size of the runs (:mod:`benchmark.analytic`), the runs' measured peak
  RSS per worker at their local batch, and the paper's about 11 GB at batch 32.
- ``fig5_batch_size.png`` (Fig. 5): one-node images/s and peak RSS per worker vs local batch size, one
  line per workers per node; the paper's 47.5 GB at batch 32 and best 4 workers x local batch 8 (sec. 5.2).
- ``fig7_training_curves.png`` (Fig. 7): training loss, validation top-1 (with its 95 % interval) and
  top-5 per epoch, one line per run; the paper's targets (Table 1: 99 % top-1, 100 % top-5).
- ``fig8_speedup.png`` (Fig. 8): speedup vs nodes per (sweep, workers per node) with the ideal; the
  paper's 6.6x on 8 nodes (sec. 5.3) and 19.2x on 128 (sec. 5.4).
- ``fig9_top1_lr.png`` (Fig. 9): validation top-1 and learning rate per epoch, one panel per run.
- ``fig10_scaling_efficiency.png`` (Fig. 10): scaling efficiency vs nodes; the paper's efficiencies
  derived from its quoted speedups (100 x 6.6 / 8 = 82.5 %, 100 x 19.2 / 128 = 15 %).

Each drawing function raises :class:`NoData` (with the reason) when no run can feed its figure;
:func:`write_figures` draws every figure and collects those reasons.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import (FixedLocator, FuncFormatter, LogLocator, MaxNLocator, NullFormatter, NullLocator,
                               ScalarFormatter)

from benchmark.analytic import model_figures

from . import paper
from .plots import IDEAL_STYLE, interval_band, save_png
from .records import LoadedRecords
from .tables import (BASELINE_NODES, EFFICIENCY, NODES, SPEEDUP, SWEEP, WORKERS_PER_NODE, WORKLOAD, distinct,
                     node_scaling, workload)

#: Fig. 2's batch sizes (images per worker): 8..64, as the paper's figure.
FIG2_BATCHES = tuple(range(8, 65, 8))
BYTES_PER_GB = 10**9
#: Legend entries for runs before the rest are summarised as "+N more runs".
MAX_LEGEND_RUNS = 12
#: Panels of Fig. 9 at most (the per-run ``curves/`` hold every run).
MAX_PANELS = 36
#: How every published point is drawn: black, above the runs' lines.
PAPER_STYLE = {"color": "black", "zorder": 5, "linestyle": "none", "markersize": 12}
#: How a value derived from published ones is drawn: hollow black.
DERIVED_STYLE = {"color": "black", "zorder": 5, "linestyle": "none", "markersize": 10, "markerfacecolor": "white"}


class NoData(ValueError):
    """No run can feed a figure; the message says why."""


def plot_fig2_activations(loaded: LoadedRecords, path: str | Path) -> Path:
    """Datta et al. 2019, Fig. 2: activation memory (GB = 1e9 bytes) vs batch size, log scale.

    Lines: :meth:`benchmark.analytic.ModelFigures.activation_bytes` (float32 output of every layer, one
    batch) for batches 8..64 at 1024x1280x3, 13 classes (the paper's Dataset A) and at each (image size,
    classes) of the runs. Dots: each run's measured ``memory.peak_rss_bytes_max`` (the largest worker's
    peak RSS, which also holds weights, gradients, momentum and the framework) at its local batch. Star:
    the paper's Fig. 2 point(s). Never :class:`NoData`: the analytic line at the paper's size needs no run.
    """
    runs = loaded.runs
    shapes = [(paper.DATASET["image_height_px"].value, paper.DATASET["image_width_px"].value, 13)]
    found = {(int(run.image_height), int(run.image_width), int(run.num_classes)) for run in runs.itertuples()}
    shapes += sorted(found - set(shapes))
    figure = Figure(figsize=(8, 5.2))
    axes = figure.add_subplot()
    for index, (height, width, classes) in enumerate(shapes):
        color, figures = f"C{index % 10}", model_figures(height, width, 3, classes)
        name = f"{height}x{width}x3" + (" (the paper's Dataset A)" if index == 0 else "")
        axes.plot(FIG2_BATCHES, [figures.activation_bytes(b) / BYTES_PER_GB for b in FIG2_BATCHES], ".-",
                  color=color, label=f"analytic activations, {name}")
        measured = runs[(runs["image_height"] == height) & (runs["image_width"] == width)
                        & (runs["num_classes"] == classes) & runs["peak_rss_bytes_max"].notna()
                        & runs["local_batch_size"].notna()]
        if not measured.empty:
            axes.plot(measured["local_batch_size"], measured["peak_rss_bytes_max"] / BYTES_PER_GB, "o", color=color,
                      markerfacecolor="none", label=f"measured peak RSS per worker (whole process), {height}x{width}")
    for batch, published in paper.FIG2_ACTIVATIONS:
        axes.plot([batch], [published.value], "*", label=f"Datta et al. 2019, Fig. 2: about {published.value:g} "
                                                         f"{published.unit} at batch {batch}", **PAPER_STYLE)
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
    the runs have several), each point the median over the completed 1-node runs of that setting. Paper:
    47.5 GB at batch 32 (sec. 5.2) on the memory panel, and its best setting, 4 workers x local batch 8
    (sec. 5.2), as a dotted line on the throughput panel.

    Raises:
        NoData: no completed 1-node run with a throughput figure.
    """
    runs = loaded.runs
    one_node = runs[(runs["status"] == "completed") & (runs["nodes"] == 1) & runs["images_per_second"].notna()]
    if one_node.empty:
        raise NoData("no completed one-node run with a throughput figure")
    figure = Figure(figsize=(12, 4.8))
    speed_axes, memory_axes = figure.subplots(1, 2)
    keys = ["sweep", "image_size", "workers_per_node"]
    varies = {key: one_node[key].nunique() > 1 for key in keys}
    for index, ((sweep, size, per_node), group) in enumerate(one_node.groupby(keys, sort=True)):
        medians = group.groupby("local_batch_size")[["images_per_second", "peak_rss_bytes_max"]].median()
        label = ", ".join([f"{per_node} worker{'s' if per_node > 1 else ''} per node"]
                          + ([size] if varies["image_size"] else []) + ([f"sweep {sweep}"] if varies["sweep"] else []))
        style = {"color": f"C{index % 10}", "label": label}
        speed_axes.plot(medians.index, medians["images_per_second"], "o-", **style)
        memory_axes.plot(medians.index, medians["peak_rss_bytes_max"] / BYTES_PER_GB, "o-", **style)
    best_workers, best_batch = paper.SINGLE_NODE["best_workers_per_node"], paper.SINGLE_NODE["best_local_batch"]
    speed_axes.axvline(best_batch.value, color="black", linestyle=":",
                       label=f"Datta et al. 2019, {best_batch.source}: best {best_workers.value} workers x "
                             f"local batch {best_batch.value}")
    memory = paper.SINGLE_NODE["memory_gb_batch32"]
    memory_axes.plot([32], [memory.value], "*", label=f"Datta et al. 2019, {memory.source}: {memory.value:g} "
                                                      f"{memory.unit} at batch 32 (1 node)", **PAPER_STYLE)
    _plain_log_y(memory_axes)
    batches = sorted({*one_node["local_batch_size"].astype(int), best_batch.value, 32})
    for axes, ylabel in ((speed_axes, "throughput (images/s, all workers of the node)"),
                         (memory_axes, "peak RSS per worker (GB = 10^9 bytes, log scale)")):
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
    more than ``MAX_LEGEND_RUNS`` runs the legend names the first of them and the bands are left out (they
    would cover each other). The paper's targets (Table 1: 99 % top-1, 100 % top-5) are dotted lines.

    Raises:
        NoData: no run recorded an epoch.
    """
    epochs = loaded.epochs
    if epochs.empty:
        raise NoData("no run recorded an epoch")
    figure = Figure(figsize=(17, 5), layout="constrained")
    loss_axes, top1_axes, top5_axes = figure.subplots(1, 3)
    series = list(_run_series(epochs))
    bands = len(series) <= MAX_LEGEND_RUNS
    run_lines = []
    for color, label, rows in series:
        line, = loss_axes.plot(rows["epoch"], rows["train_loss"], "-", color=color, label=label)
        top1_axes.plot(rows["epoch"], 100 * rows["val_top1"], "-", color=color)
        top5_axes.plot(rows["epoch"], 100 * rows["val_top5"], "-", color=color)
        if bands:
            interval_band(top1_axes, rows, "val_top1_ci_low", "val_top1_ci_high", color)
            interval_band(top5_axes, rows, "val_top5_ci_low", "val_top5_ci_high", color)
        run_lines.append(line)
    for axes, key, what in ((top1_axes, "top1", "top-1"), (top5_axes, "top5", "top-5")):
        target = paper.TARGETS[key]
        axes.axhline(100 * target.value, color="black", linestyle=":",
                     label=f"Datta et al. 2019, Table 1 target: {100 * target.value:g} % {what}")
        axes.set_ylim(0, 101)
        axes.set_ylabel(f"validation {what} accuracy (%)")
        axes.legend(fontsize="small", loc="lower right")
    loss_axes.set_ylabel("training loss (cross-entropy, mean over the epoch)")
    band_note = (" (bands: 95 % CI over fields of view)" if bands
                 else f" (no CI bands: more than {MAX_LEGEND_RUNS} runs)")
    top1_axes.set_title("Validation top-1" + band_note)
    top5_axes.set_title("Validation top-5" + band_note)
    loss_axes.set_title("Training loss")
    for axes in (loss_axes, top1_axes, top5_axes):
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
    figure.legend(handles=_limited(run_lines), loc="outside right upper", fontsize="small", title="runs")
    figure.suptitle("Fig. 7: training loss, validation top-1 and top-5 per epoch")
    return save_png(figure, path)


def plot_fig8_speedup(loaded: LoadedRecords, path: str | Path) -> Path:
    """Datta et al. 2019, Fig. 8: speedup vs nodes (log-log), one line per (sweep, workers per node) from
    :func:`analysis.tables.node_scaling` (images/s over the line's smallest node count), and the dashed
    ideal from one node (speedup = nodes; a line whose smallest node count is not 1 gets its own ideal,
    nodes / baseline nodes). The paper's quoted speedups: 6.6x on 8 nodes (sec. 5.3) and 19.2x from 1 to
    128 nodes (sec. 5.4).

    Raises:
        NoData: no (sweep, workers per node) has completed runs at two or more node counts.
    """
    lines = _node_lines(loaded)
    figure = Figure(figsize=(8, 5.2))
    axes = figure.add_subplot()
    for color, label, group in lines:
        axes.plot(group[NODES], group[SPEEDUP], "o-", color=color, label=label)
        if (group[BASELINE_NODES] != 1).any():
            axes.plot(group[NODES], group[NODES] / group[BASELINE_NODES], color=color,
                      label=f"ideal for {label} (nodes / {group[BASELINE_NODES].iloc[0]})", **IDEAL_STYLE)
    eight, large = paper.EIGHT_NODES["speedup"], paper.LARGE_SCALE["speedup_1_to_128"]
    top = max(128, *(int(group[NODES].max()) for _, _, group in lines))
    axes.plot([1, top], [1, top], color="gray", **IDEAL_STYLE, label="ideal from 1 node (speedup = nodes)")
    axes.plot([8], [eight.value], "*", label=f"Datta et al. 2019, {eight.source}: {eight.value:g}x on 8 nodes",
              **PAPER_STYLE)
    axes.plot([128], [large.value], "D", label=f"Datta et al. 2019, {large.source}: {large.value:g}x, 1 to 128 nodes",
              **{**PAPER_STYLE, "markersize": 9})
    _nodes_axis(axes, lines)
    axes.set_yscale("log", base=2)
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.set_ylabel("speedup (x images/s at the line's smallest node count)")
    axes.set_title("Fig. 8: speedup (images/s) vs nodes")
    axes.legend(fontsize="small")
    return save_png(figure, path)


def plot_fig9_top1_lr(loaded: LoadedRecords, path: str | Path) -> Path:
    """Datta et al. 2019, Fig. 9: per run (one panel each, in a grid; at most ``MAX_PANELS``), validation
    top-1 (%) with its 95 % interval band and the run's top-1 target (dotted), and the learning rate (at
    each epoch's first step) on a second axis. Each panel names the run's topology and workload ("leaky
    split" for runs on the paper's split).

    Raises:
        NoData: no run recorded validation top-1.
    """
    epochs = loaded.epochs[loaded.epochs["val_top1"].notna()]
    if epochs.empty:
        raise NoData("no run recorded a validation top-1")
    series = list(_run_series(epochs))
    shown = series[:MAX_PANELS]
    columns = len(shown) if len(shown) <= 3 else min(6, math.ceil(math.sqrt(len(shown))))
    rows = math.ceil(len(shown) / columns)
    figure = Figure(figsize=(5.2 * columns, 3.6 * rows + 0.8), layout="constrained")
    grid = figure.subplots(rows, columns, squeeze=False)
    runs = loaded.runs.assign(workload=workload(loaded.runs)).set_index(["sweep", "run_id"])
    for axes, (_, label, group) in zip(grid.flat, shown):
        run = runs.loc[(group["sweep"].iloc[0], group["run_id"].iloc[0])]
        rate_axes = axes.twinx()
        axes.plot(group["epoch"], 100 * group["val_top1"], "o-", color="C0", markersize=3)
        interval_band(axes, group, "val_top1_ci_low", "val_top1_ci_high", "C0")
        if pd.notna(run["target_top1"]):
            axes.axhline(100 * run["target_top1"], color="C0", linestyle=":")
        rate_axes.plot(group["epoch"], group["learning_rate"], "s--", color="C1", markersize=3)
        rate_axes.set_ylim(bottom=0)
        axes.set_ylim(0, 101)
        axes.set_title(f"{label}: {_topology(run)}\n{run['workload']}", fontsize="small")
        axes.set_xlabel("epoch")
        axes.set_ylabel("val top-1 (%)", color="C0")
        rate_axes.set_ylabel("learning rate", color="C1")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
    for axes in list(grid.flat)[len(shown):]:
        axes.set_visible(False)
    more = f" ({len(shown)} of {len(series)} runs; every run is in curves/)" if len(series) > len(shown) else ""
    figure.suptitle("Fig. 9: validation top-1 (blue, band: 95 % CI; dotted: target) and learning rate (orange) "
                    f"per epoch{more}")
    return save_png(figure, path)


def plot_fig10_scaling_efficiency(loaded: LoadedRecords, path: str | Path) -> Path:
    """Datta et al. 2019, Fig. 10: scaling efficiency (%) = 100 x speedup / (nodes / baseline nodes) vs
    nodes, one line per (sweep, workers per node) (:func:`analysis.tables.node_scaling`), 100 % dashed.
    The paper's points are derived from its quoted speedups: 100 x 6.6 / 8 = 82.5 % (sec. 5.3) and
    100 x 19.2 / 128 = 15 % (sec. 5.4).

    Raises:
        NoData: as :func:`plot_fig8_speedup`.
    """
    lines = _node_lines(loaded)
    figure = Figure(figsize=(8, 5.2))
    axes = figure.add_subplot()
    for color, label, group in lines:
        axes.plot(group[NODES], group[EFFICIENCY], "o-", color=color, label=label)
    axes.axhline(100, color="gray", **IDEAL_STYLE)
    for published, nodes, speedup, marker in (
            (paper.EIGHT_NODES["scaling_efficiency"], 8, paper.EIGHT_NODES["speedup"], "*"),
            (paper.LARGE_SCALE["scaling_efficiency_128"], 128, paper.LARGE_SCALE["speedup_1_to_128"], "D")):
        axes.plot([nodes], [published.value], marker,
                  label=f"Datta et al. 2019, derived from {speedup.source}'s quoted {speedup.value:g}x: "
                        f"100 x {speedup.value:g} / {nodes} = {published.value:g} %", **DERIVED_STYLE)
    _nodes_axis(axes, lines)
    axes.set_ylim(0, max(110, 1.1 * max(group[EFFICIENCY].max() for _, _, group in lines)))
    axes.set_ylabel("scaling efficiency (%)")
    axes.set_title("Fig. 10: scaling efficiency vs nodes")
    _legend_with_ideal(axes, "ideal (100 %)")
    return save_png(figure, path)


#: Every figure of this module: file name -> drawing function.
FIGURES: dict[str, Callable[[LoadedRecords, Path], Path]] = {
    "fig2_activations.png": plot_fig2_activations,
    "fig5_batch_size.png": plot_fig5_batch_size,
    "fig7_training_curves.png": plot_fig7_training_curves,
    "fig8_speedup.png": plot_fig8_speedup,
    "fig9_top1_lr.png": plot_fig9_top1_lr,
    "fig10_scaling_efficiency.png": plot_fig10_scaling_efficiency,
}


def write_figures(loaded: LoadedRecords, out: Path) -> tuple[list[Path], list[str]]:
    """Draw every figure of :data:`FIGURES` into ``out``; returns the PNGs written and, for each figure no
    run could feed, ``"<file>: <reason>"``."""
    files, skipped = [], []
    for name, draw in FIGURES.items():
        try:
            files.append(draw(loaded, out / name))
        except NoData as reason:
            skipped.append(f"{name}: {reason}")
    return files, skipped


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
    """(color, label, rows) per (sweep, workers per node) of ``node_scaling`` with two or more node counts;
    the label names the workload ("leaky split" for runs on the paper's split).

    Raises:
        NoData: there is no such line.
    """
    table = node_scaling(loaded.runs)
    groups = [(key, group) for key, group in table.groupby([SWEEP, WORKERS_PER_NODE], sort=True) if len(group) > 1]
    if not groups:
        raise NoData("no sweep has completed runs at two or more node counts with the same workers per node")
    several_sweeps = len({sweep for (sweep, _), _ in groups}) > 1
    lines = []
    for index, ((sweep, per_node), group) in enumerate(groups):
        label = f"{per_node} worker{'s' if per_node > 1 else ''} per node ({distinct(group[WORKLOAD], '; ')})"
        lines.append((f"C{index % 10}", f"{sweep}: {label}" if several_sweeps else label, group.sort_values(NODES)))
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
    return (f"{run['nodes']} node{'s' if run['nodes'] > 1 else ''} x {workers} worker{'s' if workers > 1 else ''}, "
            f"local batch {run['local_batch_size']}")
