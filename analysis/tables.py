"""Result tables built from ``LoadedRecords.runs``: Datta et al. 2019 Table 1, throughput scaling,
and peak memory per worker. Column names are the module constants below (plots.py reads them)."""

from __future__ import annotations

import pandas as pd

SWEEP = "sweep"
RUN_ID = "run_id"
STATUS = "status"
NODES = "nodes"
WORKERS_PER_NODE = "workers per node"
WORKERS = "workers"
LOCAL_BATCH = "local batch size"
GLOBAL_BATCH = "global batch size"
EPOCHS_TO_TARGET = "epochs to target"
TTT_MINUTES = "TTT (minutes)"
IMAGES_PER_SECOND = "images/s"
REASON = "reason"
BASELINE_WORKERS = "baseline workers"
SPEEDUP = "speedup"
EFFICIENCY = "scaling efficiency (%)"
PEAK_RSS_MIB = "peak RSS per worker (MiB)"

TABLE1_COLUMNS = [
    NODES, WORKERS_PER_NODE, EPOCHS_TO_TARGET, GLOBAL_BATCH, TTT_MINUTES, IMAGES_PER_SECOND,
    LOCAL_BATCH, STATUS, RUN_ID, SWEEP, REASON,
]
SCALING_COLUMNS = [
    SWEEP, LOCAL_BATCH, WORKERS, NODES, WORKERS_PER_NODE, RUN_ID, IMAGES_PER_SECOND,
    BASELINE_WORKERS, SPEEDUP, EFFICIENCY,
]
MEMORY_COLUMNS = [NODES, WORKERS_PER_NODE, WORKERS, LOCAL_BATCH, PEAK_RSS_MIB, STATUS, RUN_ID, SWEEP]

SECONDS_PER_MINUTE = 60
BYTES_PER_MIB = 2**20

# runs column (records.RUN_COLUMNS) -> table column
_RENAMES = {
    "sweep": SWEEP, "run_id": RUN_ID, "status": STATUS, "nodes": NODES,
    "workers_per_node": WORKERS_PER_NODE, "workers": WORKERS, "local_batch_size": LOCAL_BATCH,
    "global_batch_size": GLOBAL_BATCH, "ttt_epochs": EPOCHS_TO_TARGET, "images_per_second": IMAGES_PER_SECOND,
}
_TABLE_ORDER = [NODES, WORKERS_PER_NODE, GLOBAL_BATCH, SWEEP, RUN_ID]
_SCALING_GROUP = [SWEEP, LOCAL_BATCH]


def table1(runs: pd.DataFrame) -> pd.DataFrame:
    """Datta et al. 2019, Table 1: one row per run (completed or failed), columns ``TABLE1_COLUMNS``.

    ``TTT (minutes)`` = ``time_to_train.seconds`` / 60 (time to reach the target validation top-1);
    ``epochs to target`` = ``time_to_train.epochs``; ``images/s`` = global training throughput over the
    timed window. ``reason`` is the failure reason of a failed run, or why a completed run did not reach
    the target; it is empty when the target was reached. Figures a run never reached are missing (NA).
    Rows are sorted by nodes, workers per node and global batch size (then sweep and run id).
    """
    table = _renamed(runs)
    table[TTT_MINUTES] = runs["ttt_seconds"] / SECONDS_PER_MINUTE
    table[REASON] = runs["failure_reason"].combine_first(runs["ttt_reason"])
    return _sorted(table, _TABLE_ORDER)[TABLE1_COLUMNS]


def scaling(runs: pd.DataFrame) -> pd.DataFrame:
    """Throughput scaling per local batch size: one row per completed run, columns ``SCALING_COLUMNS``.

    Runs are grouped by (sweep, local batch size), i.e. weak scaling at a fixed per-worker batch. With
    ``baseline workers`` the smallest worker count of the group and ``images/s`` global throughput:
    ``speedup`` = images/s / images/s at the baseline (the median, should several runs share the
    baseline worker count), and ``scaling efficiency (%)`` = 100 * speedup / (workers / baseline workers),
    the standard definition, in which Datta et al. 2019 (sec. 4) report scaling efficiency.
    Failed runs and runs without a throughput figure are left out. Sorted by sweep, local batch, workers.
    """
    usable = (runs["status"] == "completed") & runs["images_per_second"].notna() & runs["workers"].notna()
    table = _renamed(runs[usable])
    groups = [table[column] for column in _SCALING_GROUP]
    baseline_workers = table[WORKERS].groupby(groups).transform("min")
    at_baseline = table[IMAGES_PER_SECOND].where(table[WORKERS] == baseline_workers)
    baseline_throughput = at_baseline.groupby(groups).transform("median")
    table[BASELINE_WORKERS] = baseline_workers
    table[SPEEDUP] = (table[IMAGES_PER_SECOND] / baseline_throughput).astype("float64")
    table[EFFICIENCY] = (100 * table[SPEEDUP] / (table[WORKERS] / baseline_workers)).astype("float64")
    return _sorted(table, [*_SCALING_GROUP, WORKERS, NODES, RUN_ID])[SCALING_COLUMNS]


def memory_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Peak resident memory per worker, as Datta et al. 2019 report memory: one row per run.

    Columns ``MEMORY_COLUMNS``; ``peak RSS per worker (MiB)`` = ``memory.peak_rss_bytes_max`` / 2**20,
    the largest peak RSS of any one worker (rank) of the run. Failed runs stay as rows (their memory
    figure is NA when the run never reached the measurement). Sorted as ``table1``.
    """
    table = _renamed(runs)
    table[PEAK_RSS_MIB] = runs["peak_rss_bytes_max"].astype("float64") / BYTES_PER_MIB
    return _sorted(table, _TABLE_ORDER)[MEMORY_COLUMNS]


def _renamed(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[list(_RENAMES)].rename(columns=_RENAMES)


def _sorted(table: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    return table.sort_values(order, na_position="last", kind="stable").reset_index(drop=True)
