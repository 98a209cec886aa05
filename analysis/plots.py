"""PNG figures, rendered with matplotlib's Agg canvas (no display, no global pyplot state):
throughput and scaling efficiency vs workers (from ``tables.scaling``; :class:`Throughput`,
:class:`ScalingEfficiency`), and one run's learning curves in the form of Datta et al. 2019, Fig. 9 (from
``LoadedRecords.epochs``; :class:`RunCurves`). The paper's figures with its published points are in
:mod:`analysis.figures`; both write through :func:`save_png`."""

from __future__ import annotations

from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text
from matplotlib.ticker import (
    FixedLocator,
    FuncFormatter,
    LogLocator,
    MaxNLocator,
    NullFormatter,
    NullLocator,
    ScalarFormatter,
)
from matplotlib.typing import LegendLocType
from PIL import Image

from benchmark.util.atomic import write_atomic

from .columns import (
    BASELINE_WORKERS,
    CURVE_FILE,
    EFFICIENCY,
    ENGINE,
    IMAGES_PER_SECOND,
    LOCAL_BATCH,
    RUN_ID,
    SPEEDUP,
    SWEEP,
    WORKERS,
    WORKERS_PER_NODE,
)
from .outputs import FigureOutput
from .records import LoadedRecords
from .tables import scaling

#: The folder of the learning curves, per sweep (:class:`analysis.figures.SweepCurves`) and per run.
CURVES_DIR = "curves"
#: Runs a part of :class:`RunCurves` draws (a part may be drawn in another process).
RUNS_PER_PART = 25
#: Why the scaling figures cannot be drawn.
NO_THROUGHPUT = "no completed run with a throughput figure"
WORKERS_LABEL = "workers (processes, one per rank)"
IDEAL_STYLE: dict[str, Any] = {"linestyle": "--", "alpha": 0.6}
#: Opacity of a 95 % interval's band (and of a min-max band).
CI_ALPHA = 0.2
#: Lines a plot draws, each with a legend entry, before it pools them more coarsely (:func:`series`).
MAX_SERIES = 10
DPI = 120
#: Every figure of the analysis is at least this many pixels wide (its fonts are then legible at 100 % zoom).
MIN_WIDTH_PX = 800
#: The gid of a collection of texts drawn as glyph outlines (:func:`layout_problems` checks them as texts).
GLYPH_TEXTS = "glyph-texts"


def plot_throughput(scaling_df: pd.DataFrame, path: str | Path) -> Path:
    """Global throughput (images/s) vs total workers, one line per sweep, to a PNG of a fixed size.

    ``scaling_df`` is ``tables.scaling(runs)``. A line joins the median images/s at each worker count, with
    the min-max over its runs as a band (runs of one worker count may differ in workers per node, local
    batch or repeat), and every run is a faint dot; its dashed ideal linear-scaling reference is the median
    at the line's smallest worker count * workers / that count. With more than ``MAX_SERIES`` sweeps the
    lines are per local batch size over all sweeps instead (then per workers per node, then one line), so
    that the legend stays short whatever the number of runs. Returns ``path``; raises ``ValueError`` if
    ``scaling_df`` is empty, ``OSError`` if the file cannot be written.
    """
    if scaling_df.empty:
        raise ValueError(NO_THROUGHPUT)
    figure = Figure(figsize=(7.5, 4.8), layout="constrained")
    axes = figure.add_subplot()
    for color, label, group in series(scaling_df, ([SWEEP], [LOCAL_BATCH], [WORKERS_PER_NODE])):
        axes.plot(group[WORKERS], group[IMAGES_PER_SECOND], "o", color=color, alpha=0.3, markersize=3)
        medians = median_band(
            axes, group[WORKERS], group[IMAGES_PER_SECOND], color, f"{label} (median per worker count)"
        )
        axes.plot(medians.index, medians.iloc[0] * medians.index / medians.index[0], color=color, **IDEAL_STYLE)
    _finish(axes, scaling_df, "throughput (images/s, all workers)", "ideal linear scaling", log_y=True)
    axes.set_title("Training throughput vs workers")
    return save_png(figure, path, tight=False)


def plot_scaling_efficiency(scaling_df: pd.DataFrame, path: str | Path) -> Path:
    """Speedup (left) and scaling efficiency in % (right) vs total workers, to a PNG of a fixed size.

    ``scaling_df`` is ``tables.scaling(runs)``: speedup = images/s relative to the smallest worker count
    of the same local batch size; efficiency = 100 * speedup / (workers / baseline workers)
    (Datta et al. 2019, sec. 4). One line per (sweep, local batch, workers per node), or more coarsely
    grouped when there would be more than ``MAX_SERIES`` (:func:`series`): the median per worker count,
    the min-max over its runs as a band. Dashed references: ideal speedup workers / baseline workers, and
    100 %. Returns ``path``; raises ``ValueError`` if ``scaling_df`` is empty, ``OSError`` if unwritable.
    """
    figure = Figure(figsize=(11, 4.5), layout="constrained")
    speedup_axes, efficiency_axes = figure.subplots(1, 2)
    groupings = (
        [SWEEP, LOCAL_BATCH, WORKERS_PER_NODE],
        [LOCAL_BATCH, WORKERS_PER_NODE],
        [WORKERS_PER_NODE],
        [LOCAL_BATCH],
    )
    for color, label, group in series(scaling_df, groupings):
        median_band(speedup_axes, group[WORKERS], group[SPEEDUP], color, label)
        ideal = (group[WORKERS] / group[BASELINE_WORKERS]).groupby(group[WORKERS]).median()
        speedup_axes.plot(ideal.index, ideal.values, color=color, **IDEAL_STYLE)
        median_band(efficiency_axes, group[WORKERS], group[EFFICIENCY], color, label)
    efficiency_axes.axhline(100, color="gray", **IDEAL_STYLE)
    _finish(speedup_axes, scaling_df, "speedup (× baseline images/s)", "ideal (linear) speedup", log_y=True)
    _finish(efficiency_axes, scaling_df, "scaling efficiency (%)", "ideal (100 %)", loc="lower left")
    efficiency_axes.margins(y=0.1)
    efficiency_axes.set_ylim(bottom=0)
    speedup_axes.set_title("Speedup vs workers")
    efficiency_axes.set_title("Scaling efficiency vs workers")
    figure.suptitle("Scaling relative to the smallest worker count of each local batch size")
    return save_png(figure, path, tight=False)


def series(frame: pd.DataFrame, groupings, max_series: int | None = None) -> Iterator[tuple[str, str, pd.DataFrame]]:
    """(color, legend label, rows) per group of the first of ``groupings`` (lists of columns of ``frame``)
    that makes at most ``max_series`` (default ``MAX_SERIES``) groups, or one group of every row when none
    does: the lines of a plot, as many as stay readable whatever the number of runs. When ``frame`` holds runs
    of several engines, every grouping is also by engine, and the last resort a group per engine: a line never
    pools two engines' runs. The label names the group's values ("sweep a", "local batch 8, 2 workers per
    node", "sweep a, engine ddp") and, for a grouping coarser than the first, how many sweeps and runs it
    pools."""
    if frame.empty:
        raise ValueError(NO_THROUGHPUT)
    if frame[ENGINE].nunique() > 1:
        groupings = [*([*keys, ENGINE] for keys in groupings), [ENGINE]]
    limit = max_series or MAX_SERIES
    keys = next((list(keys) for keys in groupings if frame.groupby(list(keys)).ngroups <= limit), [])
    pooled = keys != list(groupings[0])
    groups = frame.groupby(keys, sort=True) if keys else [((), frame)]
    for index, (values, group) in enumerate(groups):
        values = values if isinstance(values, tuple) else (values,)
        label = ", ".join(_value_label(key, value) for key, value in zip(keys, values)) or "all runs"
        if pooled:
            sweeps = group[SWEEP].nunique() if SWEEP in group else 0
            label += f" ({sweeps} sweep{'s' if sweeps != 1 else ''}, {len(group)} runs)"
        yield f"C{index % 10}", label, group.sort_values(WORKERS) if WORKERS in group else group


def median_band(
    axes: Axes, x: pd.Series, y: pd.Series, color, label: str | None = None, style: str = "o-"
) -> pd.Series:
    """The median of ``y`` per value of ``x`` as a line (labelled ``label``) and, where some ``x`` has
    several values, their min-max as a band of the line's colour; returns the medians (index: x)."""
    stats = y.astype("float64").groupby(x.astype("float64")).agg(["median", "min", "max"]).sort_index()
    axes.plot(stats.index, stats["median"], style, color=color, label=label, markersize=4)
    if (stats["min"] < stats["max"]).any():
        axes.fill_between(stats.index, stats["min"], stats["max"], color=color, alpha=CI_ALPHA, linewidth=0)
    return stats["median"]


def _value_label(key: str, value) -> str:
    if key == SWEEP:
        return str(value)
    if key == LOCAL_BATCH:
        return f"local batch {value}"
    if key == WORKERS_PER_NODE:
        return f"{value} worker{'s' if value != 1 else ''} per node"
    return f"{key} {value}"


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
        axes.fill_between(
            with_interval["epoch"],
            100 * with_interval[low],
            100 * with_interval[high],
            color=color,
            alpha=CI_ALPHA,
            linewidth=0,
            label=label,
        )


def _finish(
    axes: Axes,
    scaling_df: pd.DataFrame,
    ylabel: str,
    ideal_label: str,
    loc: LegendLocType = "upper left",
    log_y: bool = False,
) -> None:
    """Axis labels, a workers axis (:func:`workers_axis`), grid and a legend at ``loc`` (a fixed place: "best"
    would weigh every point) with one entry for the dashed reference and one for the bands. ``log_y``: a
    log y axis too when the workers axis is log (throughput and speedup then scale along a straight line)."""
    axes.set_ylabel(ylabel)
    if workers_axis(axes, scaling_df[WORKERS]) and log_y:
        axes.set_yscale("log")
        axes.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axes.yaxis.set_minor_formatter(NullFormatter())
        axes.set_ylabel(f"{ylabel}, log scale")
    axes.grid(alpha=0.3)
    handles = axes.get_legend_handles_labels()[0]
    extra: list[Artist] = [Line2D([], [], color="gray", label=ideal_label, **IDEAL_STYLE)]
    if axes.collections:
        extra.append(Patch(color="gray", alpha=CI_ALPHA, linewidth=0, label="band: min to max over the runs"))
    axes.legend(handles=[*handles, *extra], loc=loc, fontsize="small")


def workers_axis(axes: Axes, workers: pd.Series) -> bool:
    """The workers axis: linear with a tick per worker count for a narrow range, else log2 with a tick at
    every power of two (or every count, when there are few), so the ticks stay legible at any scale.
    Returns whether the axis is log."""
    counts = sorted(int(w) for w in workers.dropna().unique())
    axes.set_xlabel(WORKERS_LABEL)
    if counts and counts[-1] / counts[0] >= 16:
        axes.set_xscale("log", base=2)
        axes.xaxis.set_minor_locator(NullLocator())
        ticks = counts if len(counts) <= 12 else [2**k for k in range(counts[-1].bit_length())]
        axes.xaxis.set_major_locator(FixedLocator(ticks))
        axes.xaxis.set_major_formatter(ScalarFormatter())
        axes.set_xlabel(f"{WORKERS_LABEL}, log scale")
        return True
    if len(counts) <= 16:
        axes.set_xticks(counts)
    else:
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    return False


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


def save_png(figure: Figure, path: str | Path, tight: bool = True, dpi: int = DPI, palette: bool = False) -> Path:
    """Render ``figure`` with the Agg canvas and write it to ``path`` as a PNG, atomically; returns ``path``.
    ``tight``: crop to what is drawn (the size then follows the content); otherwise the PNG is exactly the
    figure's size at ``dpi``, opaque RGB at zlib level 1 (a render pass cheaper and encoded about a third
    faster than matplotlib's RGBA at level 6, for the figures drawn per sweep; a few % larger). With
    ``palette`` (and not ``tight``): 256 colours by Pillow's fast octree instead of RGB, for the figures drawn
    once per sweep: a 1521x1062 curves figure encoded in 17 ms instead of 32 ms and in 87 KB instead of 197 KB,
    its colours within a few levels of the rendered ones (a flat colour may move)."""
    canvas = FigureCanvasAgg(figure)
    buffer = BytesIO()
    if tight:
        figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    else:
        figure.set_dpi(dpi)
        canvas.draw()
        image = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
        image = image.quantize(256, method=Image.Quantize.FASTOCTREE) if palette else image.convert("RGB")
        image.save(buffer, format="png", compress_level=1, dpi=(dpi, dpi))
    return write_atomic(Path(path), buffer.getvalue())


def layout_problems(figure: Figure, png: Path, tight: bool = True, dpi: int = DPI) -> list[str]:
    """What is wrong with the layout of ``figure`` as :func:`save_png` wrote it to ``png`` (with the same
    ``tight`` and ``dpi``): the PNG narrower than :data:`MIN_WIDTH_PX`, and each text (a title, label, tick
    label, legend entry or annotation, and each text of a :data:`GLYPH_TEXTS` collection) whose extent, as
    matplotlib lays it out at ``dpi``, reaches outside the canvas (beyond half a pixel), as ``"'<text>' outside
    the canvas: ..."``. Empty when the figure is fine. Draws ``figure`` again. For the figure tests, and for
    anyone adding a figure."""
    with Image.open(png) as image:
        width = image.size[0]
    problems = [f"{width} px wide, under {MIN_WIDTH_PX}"] if width < MIN_WIDTH_PX else []
    figure.set_dpi(dpi)
    canvas_agg = FigureCanvasAgg(figure)
    canvas_agg.draw()
    renderer = canvas_agg.get_renderer()
    canvas = figure.bbox
    if tight:  # savefig cropped the canvas to what is drawn, with its padding
        canvas = figure.get_tightbbox(renderer).padded(0.1).transformed(figure.dpi_scale_trans)
    hidden = _hidden_tick_labels(figure)
    boxes = [
        (text.get_text(), text.get_window_extent(renderer))
        for text in figure.findobj(Text)
        if text.get_visible() and text.get_text().strip() and id(text) not in hidden
    ]
    for collection in figure.findobj(PathCollection):
        if collection.get_gid() != GLYPH_TEXTS:
            continue
        offsets = collection.get_offset_transform().transform(collection.get_offsets())
        boxes += [
            (f"glyphs {index}", path.get_extents(collection.get_transform()).translated(*offset))
            for index, (path, offset) in enumerate(zip(collection.get_paths(), offsets))
            if np.asarray(path.vertices).size
        ]
    for text, box in boxes:
        if box.x0 < canvas.x0 - 0.5 or box.y0 < canvas.y0 - 0.5 or box.x1 > canvas.x1 + 0.5 or box.y1 > canvas.y1 + 0.5:
            problems.append(f"{text!r} outside the canvas: {box.bounds} beyond {canvas.bounds}")
    return problems


def _hidden_tick_labels(figure: Figure) -> set[int]:
    """The ids of the tick labels of ``figure`` that are not drawn: those of ticks outside their axis' view."""
    hidden = set()
    for axes in figure.axes:
        for axis in (axes.xaxis, axes.yaxis):
            low, high = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not low <= tick.get_loc() <= high:
                    hidden |= {id(tick.label1), id(tick.label2)}
    return hidden


def with_epochs(records: LoadedRecords) -> pd.DataFrame:
    """The completed runs of ``records`` (rows of ``LoadedRecords.runs``) that recorded epochs: the runs whose
    learning curves are drawn."""
    runs, epochs = records.runs, records.epochs
    done = runs[runs["status"] == "completed"]
    if epochs.empty:
        return done.iloc[:0]
    keys = pd.MultiIndex.from_frame(epochs[[SWEEP, RUN_ID]])
    return done[pd.MultiIndex.from_frame(done[[SWEEP, RUN_ID]]).isin(keys)]


class _ScalingFigure(FigureOutput):
    """A figure of the scaling table (:func:`analysis.tables.scaling`)."""

    def unavailable(self, records: LoadedRecords) -> str | None:
        return NO_THROUGHPUT if scaling(records.runs).empty else None


class Throughput(_ScalingFigure):
    name = "throughput"
    files = "throughput.png"
    description = "global images/s vs workers, a line per sweep (pooled beyond a few), with the ideal linear scaling"

    def draw(self, records: LoadedRecords, out_dir: Path) -> list[Path]:
        return [plot_throughput(scaling(records.runs), out_dir / self.files)]


class ScalingEfficiency(_ScalingFigure):
    name = "scaling_efficiency"
    files = "scaling_efficiency.png"
    description = (
        "speedup and scaling efficiency vs workers against the smallest worker count of each local "
        "batch size, with the ideal"
    )

    def draw(self, records: LoadedRecords, out_dir: Path) -> list[Path]:
        return [plot_scaling_efficiency(scaling(records.runs), out_dir / self.files)]


class RunCurves(FigureOutput):
    name = "run_curves"
    files = f"{CURVES_DIR}/<run_id>.png"
    description = (
        f"each completed run's validation top-1 and learning rate per epoch ({CURVES_DIR}/<sweep>/"
        "<run_id>.png when the records span several sweeps, so equal run ids cannot overwrite each other)"
    )
    summary = False
    on_request = "per_run_curves"

    def parts(self, records: LoadedRecords) -> list[LoadedRecords]:
        """Parts of ``RUNS_PER_PART`` runs, each with only its runs' epochs and each run's ``curve_file`` (the
        layout depends on every sweep of ``records``, which a part no longer holds)."""
        runs = _with_curve_files(records)
        keys = pd.MultiIndex.from_frame(records.epochs[[SWEEP, RUN_ID]])
        chunks = [runs.iloc[start : start + RUNS_PER_PART] for start in range(0, len(runs), RUNS_PER_PART)]
        return [
            LoadedRecords(chunk, records.epochs[keys.isin(pd.MultiIndex.from_frame(chunk[[SWEEP, RUN_ID]]))], [])
            for chunk in chunks
        ]

    def draw(self, records: LoadedRecords, out_dir: Path) -> list[Path]:
        runs = records.runs if CURVE_FILE in records.runs else _with_curve_files(records)
        return [
            plot_run_curves(
                records.epochs,
                run.run_id,
                out_dir / CURVES_DIR / run.curve_file,
                sweep=run.sweep,
                target_top1=None if pd.isna(run.target_top1) else run.target_top1,
            )
            for run in runs.itertuples()
        ]


def _with_curve_files(records: LoadedRecords) -> pd.DataFrame:
    """:func:`with_epochs` with each run's ``curve_file``: ``<run_id>.png``, or ``<sweep>/<run_id>.png`` when the
    records span several sweeps."""
    runs = with_epochs(records)
    several_sweeps = records.runs[SWEEP].nunique() > 1
    files = (runs[SWEEP] + "/" if several_sweeps else "") + runs[RUN_ID] + ".png"
    return runs.assign(**{CURVE_FILE: files})
