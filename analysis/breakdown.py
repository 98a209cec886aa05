"""Where the training steps' time went, per run: the step-time breakdown of the records
(``throughput.breakdown``, :func:`benchmark.train.metrics.step_breakdown`), as shares of the sampled steps' wall time
spent in compute (forward and backward), the gradients' allreduce, the optimizer update, waiting for input, and
on the host (dispatching the step, the trainer's work between steps), averaged over each run's workers.

``analyze`` writes ``step_breakdown.csv`` and ``step_breakdown.md`` (:class:`StepBreakdownTable`: a row per
completed run with a breakdown) and ``step_breakdown.png`` (:class:`StepBreakdownFigure`, :func:`plot_breakdown`):
a horizontal bar per run, stacked from the five shares, or, beyond ``MAX_BARS`` runs, a bar per shape of each
workload. Runs without a breakdown (failed, made before records had one, or that sampled no step) are left
out and counted. One figure for the whole results folder, not one per sweep: at 10,000 runs in 157 sweeps,
a figure per sweep cost 6 of ``analyze``'s 15 s, and the pooled figure says where the time goes as the
shape grows, which is what a breakdown is read for.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.transforms import ScaledTranslation

from benchmark.util.atomic import write_atomic

from .columns import (
    BREAKDOWN_PHASES,
    ENGINE,
    LOCAL_BATCH,
    NODES,
    RUN_ID,
    SAMPLED_STEPS,
    SHARE_COLUMNS,
    SWEEP,
    WORKERS,
    WORKERS_PER_NODE,
    WORKLOAD,
    csv_text,
)
from .figures import _Texts
from .markdown import markdown_table
from .outputs import FigureOutput, TableOutput
from .plots import save_png
from .records import LoadedRecords
from .tables import workload

#: Bars of the figure before runs of one shape are drawn as one bar (see :func:`bars`).
MAX_BARS = 40
#: The phases' names in the figure's legend.
PHASE_LABELS = {
    "compute": "compute (forward + backward)",
    "allreduce": "allreduce (gradients)",
    "optimizer": "optimizer update",
    "input_wait": "input wait",
    "host": "host (dispatch, between steps)",
}
#: One colour per phase (matplotlib's tab10), the same in every figure.
PHASE_COLORS = {
    "compute": "#1f77b4",
    "allreduce": "#d62728",
    "optimizer": "#2ca02c",
    "input_wait": "#ff7f0e",
    "host": "#7f7f7f",
}
#: How more than ``MAX_BARS`` runs are drawn, finest first: the run columns one bar pools, what the
#: title calls them and each bar's label.
POOLINGS = (
    (
        ("nodes", "workers_per_node", "local_batch_size"),
        "shape (nodes x workers per node x local batch)",
        "n{} x w{} x b{}",
    ),
    (("nodes", "workers_per_node"), "nodes x workers per node", "n{} x w{}"),
    (("workers",), "worker count", "{} workers"),
)
#: The run columns of the table (and of the rows the figure draws).
_TABLE_COLUMNS = [SWEEP, RUN_ID, ENGINE, NODES, WORKERS_PER_NODE, WORKERS, LOCAL_BATCH, SAMPLED_STEPS, *SHARE_COLUMNS]
#: Why the figure cannot be drawn.
NO_BREAKDOWN = (
    "no completed run with a step breakdown (failed runs, records made before it existed, or no sampled step)"
)
#: Longest bar label of a run, characters (longer ones are cut with an ellipsis).
_MAX_LABEL = 48
#: Layout of a figure, inches: least width; bar pitch; margins below (x axis) and right (legend); least width
#: of the bars' plot.
_WIDTH, _PITCH, _BOTTOM, _RIGHT, _PLOT = 9.0, 0.22, 0.6, 2.6, 4.5


def with_breakdown(runs: pd.DataFrame) -> pd.DataFrame:
    """The completed runs of ``runs`` (``LoadedRecords.runs``) that have a step breakdown, ordered by sweep,
    nodes, workers per node, local batch and run id."""
    rows = runs[(runs["status"] == "completed") & runs[SHARE_COLUMNS[0]].notna()]
    return rows.sort_values(["sweep", "nodes", "workers_per_node", "local_batch_size", "run_id"], kind="stable")


def breakdown_table(runs: pd.DataFrame) -> pd.DataFrame:
    """A row per completed run of ``runs`` with a breakdown: sweep, run id, engine, topology, the fewest steps a
    worker sampled for it (``breakdown_sampled_steps``), and the five shares (``share_<phase>``: fractions of
    the sampled steps' wall time, averaged over the workers; they sum to 1 up to rounding)."""
    return with_breakdown(runs)[_TABLE_COLUMNS].reset_index(drop=True)


def bar_rows(runs: pd.DataFrame) -> pd.DataFrame:
    """The rows the figure draws: :func:`breakdown_table`'s, each with its ``workload`` (model, engine when the
    runs span several, input size and data: runs of different workloads never share a bar)."""
    rows = with_breakdown(runs)
    engine = rows[ENGINE] + " " if rows[ENGINE].nunique() > 1 else ""
    return rows[_TABLE_COLUMNS].assign(**{WORKLOAD: rows["model"] + " " + engine + workload(rows)})


class StepBreakdownTable(TableOutput):
    name = "step_breakdown"
    files = "step_breakdown.csv, step_breakdown.md"
    description = (
        "the step-time breakdown of each completed run with one: shares of the sampled steps' wall "
        "time by phase (the Markdown in %, under a line counting the runs left out)"
    )

    def write(self, records: LoadedRecords, out_dir: Path) -> list[Path]:
        runs = records.runs
        table = breakdown_table(runs)
        completed = int((runs["status"] == "completed").sum())
        missing = completed - len(table)
        note = (
            f"Step-time breakdown: share of the sampled steps' wall time by phase (%), averaged over each run's "
            f"workers; {len(table)} of {completed} completed run(s)"
            + (
                f" ({missing} without a breakdown, made before records had one or sampling no step, are not listed)"
                if missing
                else ""
            )
            + "."
        )
        markdown = markdown_table(table, formats=dict.fromkeys(SHARE_COLUMNS, ".1f"), percent=SHARE_COLUMNS)
        return [
            write_atomic(out_dir / "step_breakdown.csv", csv_text(table)),
            write_atomic(out_dir / "step_breakdown.md", f"{note}\n\n{markdown}\n"),
        ]


class StepBreakdownFigure(FigureOutput):
    name = "step_breakdown"
    files = "step_breakdown.png"
    description = (
        f"stacked bars of the step-time phases' shares, a bar per run or, beyond {MAX_BARS} runs, per "
        "shape of each workload"
    )

    def unavailable(self, records: LoadedRecords) -> str | None:
        return NO_BREAKDOWN if with_breakdown(records.runs).empty else None

    def draw(self, records: LoadedRecords, out_dir: Path) -> list[Path]:
        rows = bar_rows(records.runs)
        without = int((records.runs["status"] == "completed").sum()) - len(rows)
        return [plot_breakdown(rows, without, out_dir / self.files)]


def bars(rows: pd.DataFrame) -> tuple[list[str], np.ndarray, str | None]:
    """The bars of the figure from the runs with a breakdown (rows of ``LoadedRecords.runs``, in order, with a
    ``workload`` column): ``(labels, shares, pooled)`` with ``shares`` an ``(bars, 5)`` array of fractions in
    :data:`analysis.records.BREAKDOWN_PHASES`' order. Up to ``MAX_BARS`` runs: a bar per run, labelled with
    its run id (``sweep/run id`` when the runs span several sweeps), and ``pooled`` None. More: a bar per
    group of the first of :data:`POOLINGS` that makes at most ``MAX_BARS`` (else the last), within each
    workload when the runs span several (runs of different models or inputs never share a bar), each phase
    the median over the group's runs, rescaled so that the bar's shares sum to 1, labelled with the group
    (and its workload) and its number of runs; ``pooled`` names the grouping."""
    if len(rows) <= MAX_BARS:
        names = rows["sweep"] + "/" + rows["run_id"] if rows["sweep"].nunique() > 1 else rows["run_id"]
        labels = [text if len(text) <= _MAX_LABEL else text[: _MAX_LABEL - 1] + "…" for text in names]
        return labels, rows[SHARE_COLUMNS].to_numpy(dtype="float64"), None
    by_workload = ["workload"] if rows["workload"].nunique() > 1 else []
    for pooling in POOLINGS:
        groups = rows.groupby(by_workload + list(pooling[0]), sort=True)
        if groups.ngroups <= MAX_BARS or pooling[0] == POOLINGS[-1][0]:
            break
    _, name, label = pooling  # the first pooling that makes few enough bars, else the last
    medians = groups[SHARE_COLUMNS].median()
    shares = medians.to_numpy(dtype="float64")
    keys = [key if isinstance(key, tuple) else (key,) for key in medians.index]
    labels = [
        (f"{key[0]}: " if by_workload else "")
        + label.format(*key[len(by_workload) :])
        + f" ({count} run{'s' if count > 1 else ''})"
        for key, count in zip(keys, groups.size())
    ]
    return labels, shares / shares.sum(axis=1, keepdims=True), name + (" of one workload" if by_workload else "")


def plot_breakdown(rows: pd.DataFrame, without: int, path: str | Path) -> Path:
    """The step-time breakdown as horizontal bars stacked from the five phases' shares (%), one bar per run
    or per group of runs (:func:`bars`: at most ``MAX_BARS``, unless the runs span more worker counts), first
    run on top; the title counts the runs drawn (and their sweeps) and the ``without`` completed runs left
    out for want of a breakdown. The figure is 9 in wide (more for long labels) and grows 0.22 in per bar.
    Each phase is one collection of rectangles and the bar labels are glyph outlines in one more (as the
    per-sweep curves draw theirs, :class:`analysis.figures._Texts`). Returns ``path``; raises ``ValueError``
    if ``rows`` is empty, ``OSError`` if unwritable."""
    if rows.empty:
        raise ValueError("no run with a step breakdown to draw")
    labels, shares, pooled = bars(rows)
    count = len(labels)
    top = 0.35 + (0.36 if pooled else 0.2)  # one or two title lines
    height = top + _BOTTOM + _PITCH * max(count, 3)
    left = 0.3 + 0.065 * max(map(len, labels))  # 8-point labels: about 0.065 in a character
    width = max(_WIDTH, left + _RIGHT + _PLOT)
    figure = Figure(figsize=(width, height))
    axes = figure.add_axes((left / width, _BOTTOM / height, 1 - (left + _RIGHT) / width, 1 - (top + _BOTTOM) / height))
    ends = 100 * np.cumsum(shares, axis=1)
    starts = ends - 100 * shares
    y = np.arange(count)[:, None] + np.array([-0.36, 0.36])  # each bar's lower and upper edge
    for index, phase in enumerate(BREAKDOWN_PHASES):
        x0, x1 = starts[:, index : index + 1], ends[:, index : index + 1]
        corners = np.stack([np.hstack([x0, x0, x1, x1]), np.hstack([y, y[:, ::-1]])], axis=2)
        axes.add_collection(
            PolyCollection(list(corners), facecolors=PHASE_COLORS[phase], linewidths=0, label=PHASE_LABELS[phase])
        )
    axes.set_ylim(count - 0.5, -0.5)
    axes.set_xlim(0, max(100.0, float(ends[:, -1].max())))
    axes.set_yticks([])
    texts = _Texts()
    for row, label in enumerate(labels):
        texts.add(label, (0, row), ha="right", va="center", size=8)
    figure.add_artist(texts.collection(figure, axes.transData + ScaledTranslation(-4 / 72, 0, figure.dpi_scale_trans)))
    axes.set_xlabel("share of the sampled steps' wall time (%), mean over the workers")
    axes.grid(axis="x", alpha=0.3)
    axes.set_axisbelow(True)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    sweeps = rows["sweep"].nunique()
    title = (
        f"Step time by phase, {len(rows)} run(s)"
        + (f" of {sweeps} sweeps" if sweeps > 1 else f", sweep {rows['sweep'].iloc[0]}")
        + (f"; {without} completed run(s) without a breakdown not shown" if without else "")
    )
    if pooled:
        title += f"\neach bar: the median share of each phase over the runs of one {pooled}, rescaled to 100 %"
    axes.set_title(title, fontsize=9, loc="left")
    return save_png(figure, path, tight=False)
