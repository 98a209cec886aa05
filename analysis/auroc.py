"""Per-class validation AUROC of multi-label runs, as Wilson et al. (Dell EMC, "Fast and Accurate Training of an
AI Radiologist on Intel Xeon-based Dell EMC Supercomputers", Figs. 3, 7, 10, 14) judge CheXNet: the AUROC of
each of ChestX-ray14's 14 pathologies. A table with a row per run (:func:`per_class_auroc`) and a grouped bar
chart per sweep (:func:`plot_auroc`).

Each run is shown at its **last epoch** with per-class AUROCs: the model the run ended with, whose figures the
record holds as final. The epoch with the best mean would be picked on the very validation set it is then
scored on, which flatters it (Table 1's ``best mean AUROC`` gives that figure). A class whose validation images
are all positive or all negative has no AUROC (null in the record, :mod:`benchmark.train.task`): an empty cell, a gap
among the bars, counted in the caption and the title.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from benchmark.util.atomic import write_atomic

from .columns import EPOCH, MEAN_AUROC, RUN_ID, STATUS, SWEEP, UNDEFINED, csv_text, label
from .differences import SETTINGS, per_run_or_pooled, settings
from .markdown import markdown_table
from .outputs import FigureOutput, TableOutput
from .plots import IDEAL_STYLE, save_png
from .records import LoadedRecords

#: The folder of the figures, one per sweep.
AUROC_DIR = "auroc"
#: The AUROC of a classifier that guesses (Hanley & McNeil 1982): the dashed reference of the bar charts.
CHANCE = 0.5
#: The y axis' lowest AUROC, unless some run's is lower.
AXIS_BOTTOM = 0.4
#: Bars per class group at most: beyond, runs are pooled (median bar, min-max whiskers; :mod:`analysis.differences`).
MAX_BARS = 8
#: Characters of legend text that fit across the figure (13 in, small font), handles included.
LEGEND_CHARACTERS = 190
#: The columns before the classes.
LEADING_COLUMNS = [SWEEP, RUN_ID, STATUS, *SETTINGS, EPOCH]


def per_class_auroc(loaded: LoadedRecords) -> tuple[pd.DataFrame, list[str]]:
    """A row per run with per-class AUROCs (multi-label data) at its last epoch that has them, and the
    classes in the records' order.

    Columns: ``LEADING_COLUMNS`` (sweep, run id, status, the settings of :func:`analysis.differences.settings`,
    the epoch shown), one per class, named by the class (AUROC in [0, 1]; NaN where undefined),
    ``val_auroc_mean`` (``Epoch.val_auroc_mean``: the mean of the defined per-class AUROCs) and
    ``undefined_aurocs`` (how many classes have none). Sorted by sweep and run id; no rows without multi-label
    runs.

    Raises:
        ValueError: a class is named as one of the other columns or their labels.
    """
    auroc = loaded.auroc
    classes = list(pd.unique(auroc["class_name"]))
    others = [*LEADING_COLUMNS, MEAN_AUROC, UNDEFINED]
    clashes = sorted(set(classes) & {*others, *map(label, others)})
    if clashes:
        raise ValueError(f"per-class AUROC: class name(s) {clashes} clash with the table's own columns")
    if auroc.empty:
        return pd.DataFrame(columns=[*LEADING_COLUMNS, MEAN_AUROC, UNDEFINED]), classes
    keys = ["sweep", "run_id"]
    last = auroc[auroc["epoch"] == auroc.groupby(keys)["epoch"].transform("max")]
    wide = last.pivot(index=[*keys, "epoch"], columns="class_name", values="auroc").reindex(columns=classes)
    wide.columns.name = None
    wide = wide.reset_index().merge(loaded.epochs[[*keys, "epoch", "val_auroc_mean"]], on=[*keys, "epoch"], how="left")
    wide[UNDEFINED] = wide[classes].isna().sum(axis=1)
    table = settings(loaded.runs).merge(wide, on=[SWEEP, RUN_ID])
    columns = [*LEADING_COLUMNS, *classes, MEAN_AUROC, UNDEFINED]
    return table[columns].sort_values([SWEEP, RUN_ID], kind="stable").reset_index(drop=True), classes


def caption(table: pd.DataFrame, classes: list[str]) -> str:
    """One line saying what :func:`per_class_auroc`'s ``table`` shows, with its count of undefined AUROCs."""
    undefined = int(table[classes].isna().sum().sum())
    return (
        f"Validation AUROC per class at each run's last epoch ({len(table)} run(s)); {label(MEAN_AUROC)}: "
        f"the mean of the defined AUROCs; {undefined} undefined AUROC(s) (a class with no positive or no negative "
        f"validation image) left empty."
    )


def markdown(table: pd.DataFrame, classes: list[str]) -> str:
    """:func:`per_class_auroc`'s ``table`` (of ``classes``) as Markdown: AUROCs to 3 decimals, undefined ones
    empty."""
    return markdown_table(table, formats=dict.fromkeys([*classes, MEAN_AUROC], ".3f"), verbatim=classes)


def plot_auroc(rows: pd.DataFrame, classes: list[str], sweep: str, path: str | Path) -> Path:
    """One sweep's per-class AUROCs as grouped bars, to a PNG of a fixed size: a group per class (and one for
    the mean), a bar per run (``rows``: :func:`per_class_auroc` rows of the sweep), labelled by what differs
    between the runs. Beyond ``MAX_BARS`` runs, a bar per group of runs (repeats of a shape first, then
    coarser; :func:`analysis.differences.per_run_or_pooled`) at the median of their defined AUROCs, with
    whiskers from the minimum to the maximum. A dashed line marks chance (0.5); the y axis starts at 0.4 (lower
    when some AUROC is below 0.5) so that differences between runs show. An undefined AUROC (of every run of a
    bar) is a gap with a small cross at its foot; the title counts them all. Returns ``path``; raises
    ``OSError`` if unwritable.
    """
    names = [*classes, MEAN_AUROC]
    groups = per_run_or_pooled(rows, MAX_BARS)
    positions = np.arange(len(names), dtype=float)
    positions[-1] += 0.5  # the mean apart from the classes
    width = 0.84 / len(groups)
    figure = Figure(figsize=(13, 6.2), layout="constrained")
    axes = figure.add_subplot()
    lowest = np.nanmin(rows[names].to_numpy(dtype="float64"), initial=1.0)
    bottom = min(AXIS_BOTTOM, math.floor(10 * lowest) / 10 - 0.1)
    pooled = False
    for index, (legend, group) in enumerate(groups):
        color, x = f"C{index % 10}", positions - 0.42 + width * (index + 0.5)
        values = group[names].astype("float64")
        heights = values.median().to_numpy()
        whiskers = None
        if len(group) > 1:
            pooled = True
            whiskers = np.nan_to_num(np.vstack([heights - values.min().to_numpy(), values.max().to_numpy() - heights]))
        axes.bar(
            x,
            np.nan_to_num(heights, nan=bottom),
            width,
            yerr=whiskers,
            color=color,
            label=legend,
            error_kw={"ecolor": "black", "elinewidth": 0.8, "capsize": 2},
        )
        gaps = np.isnan(heights)
        axes.plot(x[gaps], np.full(gaps.sum(), bottom + 0.015), "x", color=color, markersize=5)
    axes.axhline(CHANCE, color="gray", **IDEAL_STYLE)
    axes.set_xticks(positions, [*classes, label(MEAN_AUROC)], rotation=35, ha="right")
    axes.set_ylim(max(0.0, bottom), 1)
    axes.set_ylabel("validation AUROC at the run's last epoch")
    axes.grid(axis="y", alpha=0.3)
    undefined = int(rows[classes].isna().sum().sum())
    axes.set_title(
        f"{sweep}: validation AUROC per class, {len(rows)} run(s)"
        + (f" in {len(groups)} groups (bar: median, whiskers: min to max)" if pooled else "")
        + f"\n{undefined} undefined AUROC(s) (no positive or no negative validation image): "
        + ("left out of a bar's median, × where a bar has none" if pooled else "gaps marked ×")
    )
    handles = [
        *axes.get_legend_handles_labels()[0],
        Line2D([], [], color="gray", label=f"{CHANCE:g}: chance", **IDEAL_STYLE),
    ]
    longest = max(len(str(handle.get_label())) for handle in handles)
    columns = max(1, min(len(handles), LEGEND_CHARACTERS // (longest + 8)))  # + 8: the handle and the gap
    figure.legend(handles=handles, loc="outside lower center", ncols=columns, fontsize="small")
    return save_png(figure, path, tight=False)


class AurocTable(TableOutput):
    name = "auroc_per_class"
    files = "auroc_per_class.csv, auroc_per_class.md"
    description = (
        "validation AUROC per class at each multi-label run's last epoch, its mean and its undefined "
        "AUROCs (the Markdown under a caption counting them)"
    )

    def write(self, records: LoadedRecords, out_dir: Path) -> list[Path]:
        table, classes = per_class_auroc(records)
        if table.empty:
            return []
        return [
            write_atomic(out_dir / "auroc_per_class.csv", csv_text(table, verbatim=classes)),
            write_atomic(out_dir / "auroc_per_class.md", f"{caption(table, classes)}\n\n{markdown(table, classes)}\n"),
        ]


class AurocFigure(FigureOutput):
    name = "auroc"
    files = f"{AUROC_DIR}/<sweep>.png"
    description = "each multi-label sweep's per-class AUROCs as grouped bars, a bar per run (or group of runs)"
    summary = False

    def parts(self, records: LoadedRecords) -> list[LoadedRecords]:
        return records.by_sweep(sorted(records.auroc["sweep"].unique()))

    def draw(self, records: LoadedRecords, out_dir: Path) -> list[Path]:
        table, classes = per_class_auroc(records)
        return [
            plot_auroc(rows, classes, sweep, out_dir / AUROC_DIR / f"{sweep}.png")
            for sweep, rows in table.groupby(SWEEP, sort=True)
        ]
