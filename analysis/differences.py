"""What tells the runs of a sweep apart: their settings (model, engine, optimizer, learning-rate schedule,
topology, local batch size, intra-op threads) as table columns, the settings on which they differ as legend labels,
and the runs pooled into coarser groups when one line or bar per run would not stay readable.

Wilson et al. (Dell EMC, "Fast and Accurate Training of an AI Radiologist on Intel Xeon-based Dell EMC
Supercomputers") compare their CheXNet and VGG-16 runs by model, optimizer, batch size and threads
(Figs. 4-14); :mod:`analysis.auroc`, :mod:`analysis.epoch_time` and :mod:`analysis.val_loss` label the runs so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from .columns import (
    ENGINE,
    LOCAL_BATCH,
    LR_SCHEDULE,
    MODEL,
    NODES,
    OPTIMIZER,
    RUN_ID,
    STATUS,
    SWEEP,
    THREADS,
    WORKERS_PER_NODE,
)

#: The ``LoadedRecords.runs`` columns of each setting that can tell runs apart, most telling first (:func:`grouped`
#: drops them from the end when it pools).
SETTINGS = [MODEL, ENGINE, OPTIMIZER, LR_SCHEDULE, NODES, WORKERS_PER_NODE, LOCAL_BATCH, THREADS]
#: Label of a group holding every run (no setting left to tell them apart).
ALL_RUNS = "all runs"


def _plural(value, unit: str) -> str:
    return f"{value} {unit}{'' if value == 1 else 's'}"


#: How a label shows one value of each setting.
_VALUE_TEXT: dict[str, Callable[[Any], str]] = {
    MODEL: str,
    ENGINE: str,
    OPTIMIZER: str,
    LR_SCHEDULE: lambda value: f"{value} LR schedule",
    NODES: lambda value: _plural(value, "node"),
    WORKERS_PER_NODE: lambda value: f"{_plural(value, 'worker')}/node",
    LOCAL_BATCH: lambda value: f"batch {value}",
    THREADS: lambda value: _plural(value, "thread"),
}


def settings(runs: pd.DataFrame) -> pd.DataFrame:
    """Sweep, run id, status and the :data:`SETTINGS` of each of ``runs`` (``LoadedRecords.runs`` rows); the
    index is kept."""
    return runs[[SWEEP, RUN_ID, STATUS, *SETTINGS]]


def varying(runs: pd.DataFrame, exclude: tuple[str, ...] = ()) -> list[str]:
    """The setting columns of ``runs`` (:func:`settings` rows) on which they differ, a missing value counting
    as a value, in :data:`SETTINGS` order, less ``exclude``."""
    return [key for key in SETTINGS if key not in exclude and runs[key].nunique(dropna=False) > 1]


def labels(runs: pd.DataFrame, keys: list[str]) -> list[str]:
    """Per run of ``runs`` (:func:`settings` rows), its values of ``keys`` as text, e.g. ``"adam, batch 8,
    2 threads"`` (``"<key> unknown"`` for a missing value); empty strings without keys."""
    return [
        ", ".join(f"{key} unknown" if pd.isna(value) else _VALUE_TEXT[key](value) for key, value in zip(keys, values))
        for values in runs[keys].itertuples(index=False, name=None)
    ]


def run_labels(runs: pd.DataFrame) -> list[str]:
    """Per run of ``runs`` (:func:`settings` rows of one sweep), what sets it apart: its values of the
    settings that vary (:func:`varying`), followed by its run id in brackets where they do not tell it
    apart (repeats of a shape); the run id alone when no setting varies."""
    texts = labels(runs, varying(runs))
    counts = pd.Series(texts).value_counts()
    return [
        text if text and counts[text] == 1 else f"{text} ({run_id})" if text else str(run_id)
        for text, run_id in zip(texts, runs[RUN_ID])
    ]


def grouped(runs: pd.DataFrame, keys: list[str], limit: int) -> list[tuple[str, pd.DataFrame]]:
    """``runs`` (:func:`settings` rows) in groups of equal values of the longest prefix of ``keys`` that makes
    at most ``limit`` groups (one group of every run when no prefix does), in the order of those values. Each
    group comes with its label: its values (:func:`labels`) or ``"all runs"``, and how many runs it pools when
    more than one, e.g. ``"adam, batch 8 (3 runs)"``."""
    prefix = list(keys)
    while prefix and runs.groupby(prefix, dropna=False).ngroups > limit:
        prefix.pop()
    groups = runs.groupby(prefix, sort=True, dropna=False) if prefix else [((), runs)]
    result = []
    for _, rows in groups:
        label = labels(rows.iloc[:1], prefix)[0] or ALL_RUNS
        result.append((f"{label} ({len(rows)} runs)" if len(rows) > 1 else label, rows))
    return result


def per_run_or_pooled(runs: pd.DataFrame, limit: int) -> list[tuple[str, pd.DataFrame]]:
    """(label, rows) per run of ``runs`` (:func:`settings` rows of one sweep, in order) labelled by
    :func:`run_labels` while there are at most ``limit`` runs; beyond, :func:`grouped` over the settings that
    vary, so repeats of a shape are pooled first and then the least telling settings."""
    if len(runs) <= limit:
        return [(label, runs.iloc[[index]]) for index, label in enumerate(run_labels(runs))]
    return grouped(runs, varying(runs), limit)
