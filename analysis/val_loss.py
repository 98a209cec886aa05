"""Validation loss per epoch across the runs of a multi-label sweep, as Wilson et al. (Dell EMC, "Fast and
Accurate Training of an AI Radiologist on Intel Xeon-based Dell EMC Supercomputers", Figs. 4, 11, 12) compare
CheXNet's and VGG-16's runs by optimizer, batch size and threads: a figure per sweep (:func:`plot_val_loss`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from .columns import RUN_ID, SWEEP
from .differences import per_run_or_pooled, settings
from .outputs import FigureOutput
from .plots import CI_ALPHA, MAX_SERIES, median_band, save_png
from .records import LoadedRecords

#: The folder of the figures, one per sweep.
VAL_LOSS_DIR = "val_loss"


def plot_val_loss(epochs: pd.DataFrame, runs: pd.DataFrame, sweep: str, path: str | Path) -> Path:
    """One sweep's validation loss per epoch, to a PNG of a fixed size.

    ``runs``: :func:`analysis.differences.settings` rows of the sweep's runs to draw; ``epochs``: their
    ``LoadedRecords.epochs`` rows. A line per run labelled by what differs between the runs (optimizer, batch,
    threads, model ...); beyond ``MAX_SERIES`` runs, a line per group of runs (repeats of a shape pooled
    first, then coarser, :func:`analysis.differences.per_run_or_pooled`) at their median per epoch, with their
    minimum to maximum as a band, as :mod:`analysis.plots` pools. The loss is the trainer's (binary
    cross-entropy averaged over the classes for multi-label data, :mod:`benchmark.train.task`), averaged over the
    validation images. Returns ``path``; raises ``OSError`` if unwritable.
    """
    groups = per_run_or_pooled(runs, MAX_SERIES)
    figure = Figure(figsize=(10, 5.4), layout="constrained")
    axes = figure.add_subplot()
    for index, (label, group) in enumerate(groups):
        rows = epochs[epochs["run_id"].isin(group[RUN_ID])].dropna(subset=["val_loss"])
        median_band(axes, rows["epoch"], rows["val_loss"], f"C{index % 10}", label, "o-")
    axes.set_xlabel("epoch")
    axes.set_ylabel("validation loss (cross-entropy, mean over images)")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(alpha=0.3)
    handles = axes.get_legend_handles_labels()[0]
    if len(groups) < len(runs):
        handles.append(
            Patch(color="gray", alpha=CI_ALPHA, linewidth=0, label="median of a group's runs; band: min to max")
        )
    figure.legend(handles=handles, loc="outside right upper", fontsize="small")
    axes.set_title(f"{sweep}: validation loss per epoch, {len(runs)} run(s)")
    return save_png(figure, path, tight=False)


def drawn_runs(records: LoadedRecords) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The completed multi-label runs that recorded a validation loss (:func:`analysis.differences.settings`
    rows) and their epochs with one."""
    runs, epochs = records.runs, records.epochs
    runs = runs[(runs["status"] == "completed") & runs["multi_label"].fillna(False).astype(bool)]
    with_loss = epochs[epochs["sweep"].isin(runs["sweep"].unique()) & epochs["val_loss"].notna()]
    drawn = runs[
        pd.MultiIndex.from_frame(runs[[SWEEP, RUN_ID]]).isin(pd.MultiIndex.from_frame(with_loss[[SWEEP, RUN_ID]]))
    ]
    return settings(drawn), with_loss


class ValLossFigure(FigureOutput):
    name = "val_loss"
    files = f"{VAL_LOSS_DIR}/<sweep>.png"
    description = (
        "each multi-label sweep's validation loss per epoch, a line per run labelled by what differs "
        "(or per group of runs)"
    )
    summary = False

    def parts(self, records: LoadedRecords) -> list[LoadedRecords]:
        return records.by_sweep(sorted(drawn_runs(records)[0][SWEEP].unique()))

    def draw(self, records: LoadedRecords, out_dir: Path) -> list[Path]:
        runs, epochs = drawn_runs(records)
        paths = []
        for sweep, group in runs.groupby(SWEEP, sort=True):
            rows = epochs[(epochs["sweep"] == sweep) & epochs["run_id"].isin(group[RUN_ID])]
            paths.append(plot_val_loss(rows, group, sweep, out_dir / VAL_LOSS_DIR / f"{sweep}.png"))
        return paths
