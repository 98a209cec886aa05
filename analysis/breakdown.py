"""Where the training steps' time went, per run: the step-time breakdown of the records
(``throughput.breakdown``, :func:`benchmark.train.metrics.step_breakdown`), as shares of the sampled steps' wall time
spent in compute (forward and backward), the gradients' allreduce, the optimizer update, waiting for input, and
on the host (dispatching the step, the trainer's work between steps), averaged over each run's workers.

``analyze`` writes ``step_breakdown.csv`` and ``step_breakdown.md`` (:func:`write_breakdown_tables`: a row per
completed run with a breakdown) and ``step_breakdown.png`` (:func:`breakdown_task`, :func:`plot_breakdown`): a
horizontal bar per run, stacked from the five shares, or, beyond ``MAX_BARS`` runs, a bar per shape of each
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

from .figures import _Texts
from .plots import save_png
from .records import BREAKDOWN_PHASES
from .tables import LOCAL_BATCH, NODES, RUN_ID, SWEEP, WORKERS, WORKERS_PER_NODE, workload

STEP_BREAKDOWN_PNG = "step_breakdown.png"
#: Bars of the figure before runs of one shape are drawn as one bar (see :func:`bars`).
MAX_BARS = 40
SAMPLED_STEPS = "sampled steps"
#: The run columns (``LoadedRecords.runs``) of the shares, in :data:`analysis.records.BREAKDOWN_PHASES`' order.
SHARE_COLUMNS = [f"share_{phase}" for phase in BREAKDOWN_PHASES]
PHASE_LABELS = {"compute": "compute (forward + backward)", "allreduce": "allreduce (gradients)",
                "optimizer": "optimizer update", "input_wait": "input wait", "host": "host (dispatch, between steps)"}
#: One colour per phase (matplotlib's tab10), the same in every figure.
PHASE_COLORS = {"compute": "#1f77b4", "allreduce": "#d62728", "optimizer": "#2ca02c", "input_wait": "#ff7f0e",
                "host": "#7f7f7f"}
#: How more than ``MAX_BARS`` runs are drawn, finest first: the run columns one bar pools, what the
#: title calls them and each bar's label.
POOLINGS = ((("nodes", "workers_per_node", "local_batch_size"), "shape (nodes x workers per node x local batch)",
             "n{} x w{} x b{}"),
            (("nodes", "workers_per_node"), "nodes x workers per node", "n{} x w{}"),
            (("workers",), "worker count", "{} workers"))
#: Run columns of the table, and their names in step_breakdown.csv/.md.
_TABLE_COLUMNS = {"sweep": SWEEP, "run_id": RUN_ID, "nodes": NODES, "workers_per_node": WORKERS_PER_NODE,
                  "workers": WORKERS, "local_batch_size": LOCAL_BATCH, "breakdown_sampled_steps": SAMPLED_STEPS,
                  **dict(zip(SHARE_COLUMNS, BREAKDOWN_PHASES))}
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
    """A row per completed run of ``runs`` with a breakdown: sweep, run id, topology, the fewest steps a
    worker sampled for it (``sampled steps``), and the five shares (fractions of the sampled steps' wall
    time, averaged over the workers; they sum to 1 up to rounding)."""
    return with_breakdown(runs)[list(_TABLE_COLUMNS)].rename(columns=_TABLE_COLUMNS).reset_index(drop=True)


def write_breakdown_tables(runs: pd.DataFrame, out: Path) -> list[Path]:
    """Write ``out/step_breakdown.csv`` (:func:`breakdown_table`, shares as fractions) and
    ``out/step_breakdown.md`` (the same in %, one decimal, under a line counting the completed runs left
    out for want of a breakdown), atomically; returns both paths. Raises ``OSError`` if unwritable."""
    table = breakdown_table(runs)
    completed = int((runs["status"] == "completed").sum())
    missing = completed - len(table)
    note = (f"Step-time breakdown: share of the sampled steps' wall time by phase (%), averaged over each run's "
            f"workers; {len(table)} of {completed} completed run(s)"
            + (f" ({missing} without a breakdown, made before records had one or sampling no step, are not "
               f"listed)" if missing else "") + ".")
    return [write_atomic(out / "step_breakdown.csv", table.to_csv(index=False)),
            write_atomic(out / "step_breakdown.md", f"{note}\n\n{_markdown(table)}\n")]


def _markdown(table: pd.DataFrame) -> str:
    """``table`` as a Markdown table, shares in % to one decimal; built column-wise (tabulate, behind
    ``DataFrame.to_markdown``, takes seconds over 10,000 rows)."""
    described = list(table.columns[:-len(BREAKDOWN_PHASES)])
    header = [*described, *(f"{phase} (%)" for phase in BREAKDOWN_PHASES)]
    cells = [table[column].astype(str) for column in described]
    cells += [(100 * table[phase]).map("{:.1f}".format) for phase in BREAKDOWN_PHASES]
    rule = ["---"] * len(described) + ["---:"] * len(BREAKDOWN_PHASES)  # the shares right-aligned
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    if len(table):
        lines += ("| " + cells[0].str.cat(cells[1:], sep=" | ") + " |").tolist()
    return "\n".join(lines)


def breakdown_task(runs: pd.DataFrame, out: Path) -> tuple:
    """What ``analyze`` draws of the breakdowns, as its task (a function returning ``(paths, reasons not
    drawn)`` and its arguments): :func:`draw_breakdown` of the completed runs with a breakdown (each with
    its ``workload``: model, input size and data) to ``out/step_breakdown.png``, or, when no run has one,
    :func:`not_drawn` saying so."""
    rows = with_breakdown(runs)
    completed = int((runs["status"] == "completed").sum())
    if rows.empty:
        return (not_drawn, f"{STEP_BREAKDOWN_PNG}: no completed run with a step breakdown (failed runs, records "
                           "made before it existed, or no sampled step)")
    rows = rows[list(_TABLE_COLUMNS)].assign(workload=rows["model"] + " " + workload(rows))
    return (draw_breakdown, rows, completed - len(rows), out / STEP_BREAKDOWN_PNG)


def not_drawn(reason: str) -> tuple[list[Path], list[str]]:
    """An ``analyze`` task that draws nothing and says why: ``([], [reason])``."""
    return [], [reason]


def draw_breakdown(rows: pd.DataFrame, without: int, path: Path) -> tuple[list[Path], list[str]]:
    """:func:`plot_breakdown` as an ``analyze`` task: ``([path], [])``."""
    return [plot_breakdown(rows, without, path)], []


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
        labels = [text if len(text) <= _MAX_LABEL else text[:_MAX_LABEL - 1] + "…" for text in names]
        return labels, rows[SHARE_COLUMNS].to_numpy(dtype="float64"), None
    by_workload = ["workload"] if rows["workload"].nunique() > 1 else []
    for keys, name, label in POOLINGS:
        groups = rows.groupby(by_workload + list(keys), sort=True)
        if groups.ngroups <= MAX_BARS or keys == POOLINGS[-1][0]:
            break
    medians = groups[SHARE_COLUMNS].median()
    shares = medians.to_numpy(dtype="float64")
    keys = [key if isinstance(key, tuple) else (key,) for key in medians.index]
    labels = [(f"{key[0]}: " if by_workload else "") + label.format(*key[len(by_workload):])
              + f" ({count} run{'s' if count > 1 else ''})" for key, count in zip(keys, groups.size())]
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
    axes = figure.add_axes((left / width, _BOTTOM / height, 1 - (left + _RIGHT) / width,
                            1 - (top + _BOTTOM) / height))
    ends = 100 * np.cumsum(shares, axis=1)
    starts = ends - 100 * shares
    y = np.arange(count)[:, None] + np.array([-0.36, 0.36])  # each bar's lower and upper edge
    for index, phase in enumerate(BREAKDOWN_PHASES):
        x0, x1 = starts[:, index:index + 1], ends[:, index:index + 1]
        corners = np.stack([np.hstack([x0, x0, x1, x1]), np.hstack([y, y[:, ::-1]])], axis=2)
        axes.add_collection(PolyCollection(corners, facecolors=PHASE_COLORS[phase], linewidths=0,
                                           label=PHASE_LABELS[phase]))
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
    title = (f"Step time by phase, {len(rows)} run(s)"
             + (f" of {sweeps} sweeps" if sweeps > 1 else f", sweep {rows['sweep'].iloc[0]}")
             + (f"; {without} completed run(s) without a breakdown not shown" if without else ""))
    if pooled:
        title += f"\neach bar: the median share of each phase over the runs of one {pooled}, rescaled to 100 %"
    axes.set_title(title, fontsize=9, loc="left")
    return save_png(figure, path, tight=False)
