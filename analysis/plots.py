"""PNG figures, rendered with matplotlib's Agg canvas (no display, no global pyplot state):
throughput and scaling efficiency vs workers (from ``tables.scaling``), and one run's learning
curves in the form of Datta et al. 2019, Fig. 9 (from ``LoadedRecords.epochs``). The paper's figures
with its published points are in :mod:`analysis.figures`; both write through :func:`save_png`."""

from __future__ import annotations

from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from benchmark.atomic import write_atomic

from .tables import (BASELINE_WORKERS, EFFICIENCY, IMAGES_PER_SECOND, LOCAL_BATCH, SPEEDUP, SWEEP, WORKERS,
                     WORKERS_PER_NODE)

WORKERS_LABEL = "workers (Horovod processes)"
IDEAL_STYLE = {"linestyle": "--", "alpha": 0.6}
#: Opacity of a 95 % interval's band.
CI_ALPHA = 0.2
DPI = 120


def plot_throughput(scaling_df: pd.DataFrame, path: str | Path) -> Path:
    """Global throughput (images/s) vs total workers, one line per sweep, to a PNG.

    ``scaling_df`` is ``tables.scaling(runs)``. A sweep's line joins its median images/s at each worker
    count (every run is also drawn as a faint dot: runs of one worker count may differ in workers per node
    or local batch); its dashed ideal linear-scaling reference is the median at the sweep's smallest
    worker count * workers / that count. Returns ``path``; raises ``ValueError`` if ``scaling_df`` is
    empty, ``OSError`` if the file cannot be written.
    """
    if scaling_df.empty:
        raise ValueError("no completed run with a throughput figure to plot")
    figure = Figure(figsize=(7.5, 4.8))
    axes = figure.add_subplot()
    for index, (sweep, group) in enumerate(scaling_df.groupby(SWEEP, sort=True)):
        color = f"C{index % 10}"
        medians = group.groupby(WORKERS)[IMAGES_PER_SECOND].median()
        axes.plot(group[WORKERS], group[IMAGES_PER_SECOND], "o", color=color, alpha=0.3, markersize=4)
        axes.plot(medians.index, medians.values, "o-", color=color, label=f"{sweep} (median per worker count)")
        axes.plot(medians.index, medians.iloc[0] * medians.index / medians.index[0], color=color, **IDEAL_STYLE)
    _finish(axes, scaling_df, "throughput (images/s, all workers)", "ideal linear scaling")
    axes.set_title("Training throughput vs workers, per sweep")
    return save_png(figure, path)


def plot_scaling_efficiency(scaling_df: pd.DataFrame, path: str | Path) -> Path:
    """Speedup (left) and scaling efficiency in % (right) vs total workers, to a PNG.

    ``scaling_df`` is ``tables.scaling(runs)``: speedup = images/s relative to the smallest worker count
    of the same local batch size; efficiency = 100 * speedup / (workers / baseline workers)
    (Datta et al. 2019, sec. 4). Dashed references: ideal speedup workers / baseline workers, and 100 %.
    Returns ``path``; raises ``ValueError`` if ``scaling_df`` is empty, ``OSError`` if unwritable.
    """
    figure = Figure(figsize=(11, 4.5))
    speedup_axes, efficiency_axes = figure.subplots(1, 2)
    for color, label, group in _series(scaling_df):
        speedup_axes.plot(group[WORKERS], group[SPEEDUP], "o-", color=color, label=label)
        speedup_axes.plot(group[WORKERS], group[WORKERS] / group[BASELINE_WORKERS], color=color, **IDEAL_STYLE)
        efficiency_axes.plot(group[WORKERS], group[EFFICIENCY], "o-", color=color, label=label)
    efficiency_axes.axhline(100, color="gray", **IDEAL_STYLE)
    _finish(speedup_axes, scaling_df, "speedup (× baseline images/s)", "ideal (linear) speedup")
    _finish(efficiency_axes, scaling_df, "scaling efficiency (%)", "ideal (100 %)")
    efficiency_axes.margins(y=0.1)
    efficiency_axes.set_ylim(bottom=0)
    speedup_axes.set_title("Speedup vs workers")
    efficiency_axes.set_title("Scaling efficiency vs workers")
    figure.suptitle("Scaling relative to the smallest worker count of each local batch size")
    return save_png(figure, path)


def plot_run_curves(
    epochs_df: pd.DataFrame,
    run_id: str,
    path: str | Path,
    *,
    sweep: str | None = None,
    target_top1: float | None = None,
) -> Path:
    """One run's validation top-1 (%) per epoch, and its learning rate per epoch on a second y-axis.

    The form of Datta et al. 2019, Fig. 9. ``epochs_df`` is ``LoadedRecords.epochs`` (accuracies as
    fractions, plotted as %); the learning rate is the rate at each epoch's first step. ``sweep``
    picks the run when the same ``run_id`` occurs in several sweeps; ``target_top1`` (a fraction)
    adds the time-to-train target as a dotted line. Returns ``path``. Raises ``ValueError`` if the run
    has no epochs in ``epochs_df`` or ``run_id`` is ambiguous without ``sweep``; ``OSError`` if unwritable.
    """
    rows = _run_epochs(epochs_df, run_id, sweep)
    figure = Figure(figsize=(7.5, 4.8))
    accuracy_axes = figure.add_subplot()
    rate_axes = accuracy_axes.twinx()
    accuracy_axes.plot(rows["epoch"], 100 * rows["val_top1"], "o-", color="C0", label="validation top-1")
    interval_band(accuracy_axes, rows, "val_top1_ci_low", "val_top1_ci_high", "C0", label="95 % CI over fields")
    if target_top1 is not None:
        accuracy_axes.axhline(100 * target_top1, color="C0", linestyle=":", label=f"target {100 * target_top1:g} %")
    rate_axes.plot(rows["epoch"], rows["learning_rate"], "s--", color="C1", label="learning rate")
    accuracy_axes.set_xlabel("epoch")
    accuracy_axes.set_ylabel("validation top-1 accuracy (%)")
    accuracy_axes.set_ylim(0, 100)
    rate_axes.set_ylabel("learning rate (unitless, at the epoch's first step)")
    rate_axes.set_ylim(bottom=0)
    accuracy_axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    accuracy_axes.grid(alpha=0.3)
    handles = accuracy_axes.get_legend_handles_labels()[0] + rate_axes.get_legend_handles_labels()[0]
    accuracy_axes.legend(handles=handles, loc="best")
    accuracy_axes.set_title(f"Run {rows[SWEEP].iloc[0]}/{run_id}: validation top-1 and learning rate per epoch")
    return save_png(figure, path)


def interval_band(axes: Axes, rows: pd.DataFrame, low: str, high: str, color, label: str | None = None) -> None:
    """The 95 % interval (fraction columns ``low``/``high`` of ``rows``, by ``epoch``) as a shaded band in %,
    where the epochs have one (records from before the intervals have none)."""
    with_interval = rows[rows[low].notna() & rows[high].notna()] if low in rows else rows.iloc[:0]
    if not with_interval.empty:
        axes.fill_between(with_interval["epoch"], 100 * with_interval[low], 100 * with_interval[high],
                          color=color, alpha=CI_ALPHA, linewidth=0, label=label)


def _series(scaling_df: pd.DataFrame) -> Iterator[tuple[str, str, pd.DataFrame]]:
    """(color, legend label, rows sorted by workers) per (sweep, local batch size, workers per node): as
    in Datta et al. 2019's scaling figures, one line per workers-per-node setting as nodes are added, so
    that runs with the same worker count on different node counts are not joined."""
    if scaling_df.empty:
        raise ValueError("no completed run with a throughput figure to plot")
    several_sweeps = scaling_df[SWEEP].nunique() > 1
    groups = scaling_df.groupby([SWEEP, LOCAL_BATCH, WORKERS_PER_NODE], sort=True)
    for index, ((sweep, batch, per_node), group) in enumerate(groups):
        label = f"local batch {batch}, {per_node} worker{'s' if per_node > 1 else ''} per node"
        yield f"C{index % 10}", f"{sweep}, {label}" if several_sweeps else label, group.sort_values(WORKERS)


def _finish(axes: Axes, scaling_df: pd.DataFrame, ylabel: str, ideal_label: str) -> None:
    """Axis labels, worker-count ticks, grid and a legend with one entry for the dashed reference."""
    axes.set_xlabel(WORKERS_LABEL)
    axes.set_ylabel(ylabel)
    axes.set_xticks(sorted(scaling_df[WORKERS].unique()))
    axes.grid(alpha=0.3)
    handles = axes.get_legend_handles_labels()[0]
    axes.legend(handles=[*handles, Line2D([], [], color="gray", label=ideal_label, **IDEAL_STYLE)])


def _run_epochs(epochs_df: pd.DataFrame, run_id: str, sweep: str | None) -> pd.DataFrame:
    rows = epochs_df[epochs_df["run_id"] == run_id]
    if sweep is not None:
        rows = rows[rows[SWEEP] == sweep]
    if rows.empty:
        raise ValueError(f"no epochs recorded for run {run_id!r}" + (f" in sweep {sweep!r}" if sweep else ""))
    sweeps = sorted(rows[SWEEP].unique())
    if len(sweeps) > 1:
        raise ValueError(f"run id {run_id!r} occurs in sweeps {', '.join(sweeps)}; pass sweep=")
    return rows.sort_values("epoch")


def save_png(figure: Figure, path: str | Path) -> Path:
    """Render ``figure`` with the Agg canvas and write it to ``path`` as a PNG, atomically; returns ``path``."""
    FigureCanvasAgg(figure)
    buffer = BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return write_atomic(Path(path), buffer.getvalue())
