"""Seconds per epoch against intra-op threads and local batch size, as Wilson et al. (Dell EMC, "Fast and
Accurate Training of an AI Radiologist on Intel Xeon-based Dell EMC Supercomputers", Figs. 5-6; repeats as box
plots, as their Fig. 8) tune CheXNet on Xeon: a table with a row per run (:func:`epoch_time_table`) and a
figure per sweep (:func:`plot_epoch_time`).

**Seconds per epoch** is the mean, over a run's epochs, of the differences of ``Epoch.elapsed_seconds`` (the
run starting at 0 s): the wall time of an epoch, its training and its evaluation, as one waits for it. Chosen
over the training-only time from throughput (images per epoch / images/s) because it is what time to train is
made of (TTT is the ``elapsed_seconds`` of the target epoch, the sum of these differences up to it), because
it counts what threads and batch change besides the timed steps (the evaluation, the first epoch's tracing),
and because images/s is already in Table 1 and the scaling figures. A resumed run's differences leave out the
time from a checkpoint to the resumed segment's first step, as ``elapsed_seconds`` does. The table also gives
the fastest and slowest epoch of each run (the same differences).

Sweeps shown: those whose completed runs vary the intra-op threads (any model), and multi-label sweeps whose
completed runs vary the local batch size (a single-label batch sweep has ``fig5_batch_size.png``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from benchmark.util.atomic import write_atomic

from .columns import (
    EPOCHS,
    FASTEST_EPOCH,
    IMAGES_PER_SECOND,
    LOCAL_BATCH,
    RUN_ID,
    SECONDS_PER_EPOCH,
    SLOWEST_EPOCH,
    STATUS,
    SWEEP,
    THREADS,
    csv_text,
)
from .differences import SETTINGS, grouped, settings, varying
from .outputs import FigureOutput, TableOutput
from .plots import CI_ALPHA, MAX_SERIES, save_png
from .records import LoadedRecords

#: The folder of the figures, one per sweep.
EPOCH_TIME_DIR = "epoch_time"
EPOCH_TIME_COLUMNS = [
    SWEEP,
    RUN_ID,
    STATUS,
    *SETTINGS,
    EPOCHS,
    SECONDS_PER_EPOCH,
    FASTEST_EPOCH,
    SLOWEST_EPOCH,
    IMAGES_PER_SECOND,
]
_AXIS_LABELS = {THREADS: "intra-op threads per worker", LOCAL_BATCH: "local batch size (images per worker)"}


def timed_sweeps(runs: pd.DataFrame) -> list[str]:
    """The sweeps of ``runs`` (``LoadedRecords.runs``) shown: their completed runs vary the intra-op threads, or,
    for a sweep with multi-label runs, the local batch size. Sorted."""
    done = runs[runs["status"] == "completed"]
    by_sweep = done.groupby("sweep", sort=True).agg(
        threads=("intra_op_threads", "nunique"),
        batches=("local_batch_size", "nunique"),
        multi_label=("multi_label", "any"),
    )
    shown = (by_sweep["threads"] > 1) | (by_sweep["multi_label"] & (by_sweep["batches"] > 1))
    return list(by_sweep.index[shown])


def epoch_time_table(loaded: LoadedRecords) -> pd.DataFrame:
    """A row per completed run with epochs of the :func:`timed_sweeps`, columns ``EPOCH_TIME_COLUMNS``:
    the run's settings (:func:`analysis.differences.settings`), its ``epochs``, ``seconds_per_epoch`` (the mean
    difference of ``elapsed_seconds``, see the module), its fastest and slowest epoch (seconds) and its
    ``images_per_second`` (global training throughput). Sorted by sweep and run id; no rows when no sweep is shown."""
    runs = loaded.runs
    sweeps = timed_sweeps(runs)
    done = runs[(runs["status"] == "completed") & runs["sweep"].isin(sweeps)]
    keys = ["sweep", "run_id"]
    epochs = loaded.epochs[loaded.epochs["sweep"].isin(sweeps)].sort_values([*keys, "epoch"])
    elapsed = epochs["elapsed_seconds"]
    seconds = elapsed - elapsed.groupby([epochs["sweep"], epochs["run_id"]]).shift(fill_value=0.0)
    per_run = seconds.groupby([epochs["sweep"], epochs["run_id"]]).agg(["size", "mean", "min", "max"])
    per_run.columns = [EPOCHS, SECONDS_PER_EPOCH, FASTEST_EPOCH, SLOWEST_EPOCH]
    per_run.index.names = [SWEEP, RUN_ID]
    table = settings(done).assign(**{IMAGES_PER_SECOND: done[IMAGES_PER_SECOND]})
    table = table.merge(per_run.reset_index(), on=[SWEEP, RUN_ID])
    return table[EPOCH_TIME_COLUMNS].sort_values([SWEEP, RUN_ID], kind="stable").reset_index(drop=True)


def plot_epoch_time(rows: pd.DataFrame, sweep: str, path: str | Path) -> Path:
    """One sweep's seconds per epoch (``rows``: :func:`epoch_time_table` rows of the sweep) against intra-op
    threads (or, when the sweep holds one thread count, local batch size), to a PNG of a fixed size.

    The x axis has a slot per value; within a slot, a line of boxes per local batch size (against threads)
    and other setting that varies (pooled, the local batch last, beyond ``MAX_SERIES`` lines,
    :func:`analysis.differences.grouped`). Where a group has several runs at a value (repeats of a
    shape), they are a box plot (quartiles, median, whiskers to the furthest run within 1.5 IQR); the line
    joins the medians. Returns ``path``; raises ``OSError`` if unwritable.
    """
    x_key = THREADS if rows[THREADS].nunique() > 1 else LOCAL_BATCH
    rows = rows[rows[x_key].notna()]
    slots = {value: index for index, value in enumerate(sorted(rows[x_key].unique()))}
    lines = [LOCAL_BATCH] if x_key == THREADS else []
    series = grouped(rows, [*lines, *varying(rows, exclude=(x_key, *lines))], MAX_SERIES)
    width = 0.8 / len(series)
    figure = Figure(figsize=(9, 5.4), layout="constrained")
    axes = figure.add_subplot()
    boxes = False
    for index, (label, group) in enumerate(series):
        color = f"C{index % 10}"
        values = group.groupby(x_key, sort=True)[SECONDS_PER_EPOCH].agg(list)
        x = np.array([slots[value] for value in values.index]) - 0.4 + width * (index + 0.5)
        if values.map(len).max() > 1:
            boxes = True
            axes.boxplot(
                list(values),
                positions=x,
                widths=0.7 * width,
                manage_ticks=False,
                patch_artist=True,
                boxprops={"facecolor": color, "alpha": 2 * CI_ALPHA, "edgecolor": color},
                medianprops={"color": color},
                whiskerprops={"color": color},
                capprops={"color": color},
                flierprops={"markeredgecolor": color, "markersize": 4},
            )
        axes.plot(x, [np.median(v) for v in values], "o-", color=color, markersize=4, label=label)
    axes.set_xticks(list(slots.values()), [f"{value:g}" for value in slots])
    axes.set_xlim(-0.6, len(slots) - 0.4)
    axes.set_ylim(bottom=0)
    axes.set_xlabel(_AXIS_LABELS[x_key])
    axes.set_ylabel("seconds per epoch (wall: training + evaluation, mean over epochs)")
    axes.grid(axis="y", alpha=0.3)
    handles = axes.get_legend_handles_labels()[0]
    if boxes:
        handles.append(
            Patch(
                color="gray",
                alpha=2 * CI_ALPHA,
                label="box: repeats (quartiles, median; whiskers 1.5 IQR); line: medians",
            )
        )
    figure.legend(handles=handles, fontsize="small", loc="outside right upper")
    axes.set_title(f"{sweep}: seconds per epoch vs {_AXIS_LABELS[x_key].split(' (')[0]}, {len(rows)} run(s)")
    return save_png(figure, path, tight=False)


class EpochTimeTable(TableOutput):
    name = "epoch_time"
    files = "epoch_time.csv"
    description = (
        "seconds per epoch (mean, fastest, slowest) of each completed run of the sweeps that vary the "
        "intra-op threads or, multi-label, the local batch size"
    )

    def write(self, records: LoadedRecords, out_dir: Path) -> list[Path]:
        table = epoch_time_table(records)
        return [] if table.empty else [write_atomic(out_dir / "epoch_time.csv", csv_text(table))]


class EpochTimeFigure(FigureOutput):
    name = "epoch_time"
    files = f"{EPOCH_TIME_DIR}/<sweep>.png"
    description = (
        "seconds per epoch against intra-op threads (or local batch size) for each sweep that varies "
        "them, repeats as box plots"
    )
    summary = False

    def parts(self, records: LoadedRecords) -> list[LoadedRecords]:
        return records.by_sweep(timed_sweeps(records.runs))

    def draw(self, records: LoadedRecords, out_dir: Path) -> list[Path]:
        return [
            plot_epoch_time(rows, sweep, out_dir / EPOCH_TIME_DIR / f"{sweep}.png")
            for sweep, rows in epoch_time_table(records).groupby(SWEEP, sort=True)
        ]
