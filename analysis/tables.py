"""Result tables built from ``LoadedRecords.runs``: Datta et al. 2019 Table 1, throughput scaling over
workers and over nodes, and peak memory per worker. Columns are names of :mod:`analysis.columns` (plots.py,
figures.py and compare.py read them); the run table's own columns keep their names. Every table that shows a
run on the paper's leaky split says "leaky split" in its workload."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.util.atomic import write_atomic
from benchmark.util.readable import TERMINAL_COLUMNS

from .columns import (
    BASELINE_NODES,
    BASELINE_WORKERS,
    BEST_MEAN_AUROC,
    BEST_TOP1_CI,
    EFFICIENCY,
    ENGINE,
    EPOCHS_TO_TARGET,
    GFLOPS_PER_NODE,
    GLOBAL_BATCH,
    IMAGES_PER_SECOND,
    LOCAL_BATCH,
    LOCAL_BATCHES,
    LOWER_BOUND_MIB,
    MODEL,
    NODES,
    OPTIMIZER,
    PEAK_PERCENT,
    PEAK_RSS_MIB,
    REASON,
    RSS_OVER_BOUND,
    RUN_ID,
    RUNS,
    SPEEDUP,
    STATUS,
    SWEEP,
    TTT_MINUTES,
    TTT_TARGET,
    TTT_TOP5_MINUTES,
    WORKERS,
    WORKERS_PER_NODE,
    WORKLOAD,
    csv_text,
)
from .outputs import TableOutput
from .people import fit, people_markdown
from .records import LoadedRecords

#: What a workload says of a run on the paper's split (validation may hold copies of training fields).
LEAKY_SPLIT = "leaky split"

TABLE1_COLUMNS = [
    NODES,
    WORKERS_PER_NODE,
    EPOCHS_TO_TARGET,
    GLOBAL_BATCH,
    TTT_MINUTES,
    TTT_TARGET,
    TTT_TOP5_MINUTES,
    IMAGES_PER_SECOND,
    GFLOPS_PER_NODE,
    PEAK_PERCENT,
    BEST_TOP1_CI,
    BEST_MEAN_AUROC,
    MODEL,
    ENGINE,
    OPTIMIZER,
    WORKLOAD,
    LOCAL_BATCH,
    STATUS,
    RUN_ID,
    SWEEP,
    REASON,
]
SCALING_COLUMNS = [
    SWEEP,
    ENGINE,
    LOCAL_BATCH,
    WORKERS,
    NODES,
    WORKERS_PER_NODE,
    RUN_ID,
    IMAGES_PER_SECOND,
    BASELINE_WORKERS,
    SPEEDUP,
    EFFICIENCY,
    WORKLOAD,
]
NODE_SCALING_COLUMNS = [
    SWEEP,
    ENGINE,
    WORKERS_PER_NODE,
    NODES,
    WORKERS,
    RUNS,
    LOCAL_BATCHES,
    IMAGES_PER_SECOND,
    BASELINE_NODES,
    SPEEDUP,
    EFFICIENCY,
    WORKLOAD,
]
MEMORY_COLUMNS = [
    NODES,
    WORKERS_PER_NODE,
    WORKERS,
    LOCAL_BATCH,
    PEAK_RSS_MIB,
    LOWER_BOUND_MIB,
    RSS_OVER_BOUND,
    WORKLOAD,
    ENGINE,
    STATUS,
    RUN_ID,
    SWEEP,
]
#: Table 1's columns for people (a terminal, :func:`table1_terminal`, and the HTML report), most wanted first: on a
#: terminal those that do not fit are left out from the end; those of ``TABLE1_HOISTED`` that hold one value for
#: every run are said once above the table.
TABLE1_SHOWN = [
    RUN_ID,
    NODES,
    WORKERS_PER_NODE,
    GLOBAL_BATCH,
    IMAGES_PER_SECOND,
    TTT_MINUTES,
    EPOCHS_TO_TARGET,
    BEST_TOP1_CI,
    BEST_MEAN_AUROC,
    REASON,
    ENGINE,
    TTT_TARGET,
    STATUS,
    WORKLOAD,
    PEAK_PERCENT,
    GFLOPS_PER_NODE,
    TTT_TOP5_MINUTES,
    MODEL,
    OPTIMIZER,
    SWEEP,
]
TABLE1_HOISTED = [NODES, WORKERS_PER_NODE, TTT_TARGET, ENGINE, STATUS, WORKLOAD, MODEL, OPTIMIZER, SWEEP]

SECONDS_PER_MINUTE = 60
BYTES_PER_MIB = 2**20

#: The run table's columns every per-run table starts from.
_RUN_COLUMNS = [
    SWEEP,
    RUN_ID,
    STATUS,
    NODES,
    WORKERS_PER_NODE,
    WORKERS,
    LOCAL_BATCH,
    GLOBAL_BATCH,
    EPOCHS_TO_TARGET,
    IMAGES_PER_SECOND,
    MODEL,
    ENGINE,
    OPTIMIZER,
    BEST_MEAN_AUROC,
    RSS_OVER_BOUND,
    GFLOPS_PER_NODE,
]
_TABLE_ORDER = [NODES, WORKERS_PER_NODE, GLOBAL_BATCH, SWEEP, RUN_ID]
_SCALING_GROUP = [SWEEP, ENGINE, LOCAL_BATCH]


def table1(runs: pd.DataFrame) -> pd.DataFrame:
    """Datta et al. 2019, Table 1: one row per run (completed or failed), columns ``TABLE1_COLUMNS``.

    ``ttt_minutes`` = ``time_to_train.seconds`` / 60, the time to reach the target (``ttt_target_text``,
    :func:`ttt_target`: validation top-1 for single-label data, the mean per-class AUROC for multi-label data);
    ``ttt_top5_minutes`` the same for the top-5 target (``time_to_train.top5``; the paper's Table 1 has both:
    99 % top-1 and 100 % top-5); ``ttt_epochs`` = ``time_to_train.epochs``; ``images_per_second`` = global
    training throughput over the timed window; ``achieved_gflops_per_second_per_node`` the training GFLOP/s a
    node achieved and ``percent_of_peak`` = 100 x ``analytic.fraction_of_peak`` (a worker's GFLOP/s over its
    node's 5x5-convolution peak, :mod:`benchmark.microbench.peak`); ``best_val_top1_ci`` the best validation
    top-1 in % with the bootstrap interval of that epoch (:func:`top1_with_interval`), empty for multi-label
    data, whose runs have ``best_val_auroc_mean``, the best validation mean per-class AUROC over the epochs
    (Wilson et al., Dell EMC); ``model`` (``model.name``), ``engine`` (``run.engine``: the default engine in
    records made before engines existed), ``optimizer`` (``training.optimizer``); ``workload`` as
    :func:`workload`. ``reason`` is the failure reason of a failed run, or why a completed run did not reach
    its TTT target; it is empty when the target was reached. Figures a run never reached (or a record made
    before they existed) are missing (NA). Rows are sorted by nodes, workers per node and global batch size
    (then sweep and run id).
    """
    table = _per_run(runs)
    table[TTT_MINUTES] = runs["ttt_seconds"] / SECONDS_PER_MINUTE
    table[TTT_TOP5_MINUTES] = runs["ttt_top5_seconds"] / SECONDS_PER_MINUTE
    table[BEST_TOP1_CI] = top1_with_interval(runs)
    table[WORKLOAD] = workload(runs)
    table[REASON] = runs["failure_reason"].combine_first(runs["ttt_reason"])
    table[PEAK_PERCENT] = 100 * runs["fraction_of_peak"]
    table[TTT_TARGET] = ttt_target(runs)
    return _sorted(table, _TABLE_ORDER)[TABLE1_COLUMNS]


def table1_markdown(table: pd.DataFrame) -> str:
    """Table 1 (:func:`table1`, or some of its rows) as Markdown for people (:func:`analysis.people.people_markdown`:
    rounded to what the figures can tell, units in the headers, missing figures blank)."""
    return people_markdown(table)


def table1_terminal(table: pd.DataFrame, width: int = TERMINAL_COLUMNS) -> str:
    """Table 1 (:func:`table1`, or some of its rows) for a terminal of ``width`` columns
    (:func:`analysis.people.fit` over ``TABLE1_SHOWN``): only the columns that hold a value for these runs,
    those with one value for every run said once above it; ``table1.md`` has every column."""
    return fit(table, TABLE1_SHOWN, width, TABLE1_HOISTED).text()


def ttt_target(runs: pd.DataFrame) -> pd.Series:
    """What each run's time to train timed, as text: ``"top-1 ≥ 90 %"`` (``time_to_train.metric`` =
    ``val_top1``: validation top-1, in %) or ``"mean AUROC ≥ 0.8"`` (``val_auroc_mean``: the mean per-class
    AUROC); NA without a target."""
    texts = [
        None
        if pd.isna(target)
        else f"mean AUROC ≥ {target:g}"
        if metric == "val_auroc_mean"
        else f"top-1 ≥ {100 * target:g} %"
        for metric, target in zip(runs["ttt_metric"], runs["ttt_target"])
    ]
    return pd.Series(texts, index=runs.index, dtype="object")


def workload(runs: pd.DataFrame) -> pd.Series:
    """What each run trained on, as text: ``"HxW dataset[, split]"``, e.g. ``"768x768 bbbc021
    dataset-b, leaky split"`` (``dataset`` as :func:`dataset`; the split as :func:`split_text`)."""
    text = runs["image_size"] + " " + dataset(runs)
    return text + split_text(runs)


def split_text(runs: pd.DataFrame) -> pd.Series:
    """How each run's validation was split off, as a suffix of its workload: "" for the default split by field
    of view, ``", leaky split"`` for the paper's (``data.split = "paper"``), ``", split by plate"`` or
    ``", split by compound"``, and ``", fold k/K by <group>"`` for a run of a K-fold estimate (``data.folds``)."""
    leaky = runs["leaky"].fillna(False).astype(bool)
    split = runs["split"] if "split" in runs else pd.Series("field", index=runs.index)
    folds = runs["folds"] if "folds" in runs else pd.Series(pd.NA, index=runs.index, dtype="Int64")
    fold = runs["fold"] if "fold" in runs else pd.Series(pd.NA, index=runs.index, dtype="Int64")
    texts = []
    for is_leaky, by, k, of in zip(leaky, split.fillna("field"), fold, folds):
        if is_leaky:
            texts.append(f", {LEAKY_SPLIT}")
        elif not pd.isna(of):
            texts.append(f", fold {'?' if pd.isna(k) else int(k)}/{int(of)} by {by}")
        elif by in ("plate", "compound"):
            texts.append(f", split by {by}")
        else:
            texts.append("")
    return pd.Series(texts, index=runs.index, dtype="object")


def dataset(runs: pd.DataFrame) -> pd.Series:
    """Each run's data as ``"source variant"`` (``"bbbc021 dataset-b"``), the source alone when the
    variant is ``none`` (or unknown)."""
    variant = runs["variant"].where(runs["variant"].notna() & (runs["variant"] != "none"))
    return runs["data_source"] + (" " + variant).fillna("")


def top1_with_interval(runs: pd.DataFrame) -> pd.Series:
    """The best validation top-1 in %, with its epoch's 95 % bootstrap interval over fields of view when
    the record has one: ``"92.1 % [88.0, 95.0]"``, ``"92.1 %"`` without it, NA without validation."""

    def text(run) -> str | None:
        if pd.isna(run.best_val_top1):
            return None
        best = f"{100 * run.best_val_top1:.1f} %"
        if pd.isna(run.best_val_top1_ci_low) or pd.isna(run.best_val_top1_ci_high):
            return best
        return f"{best} [{100 * run.best_val_top1_ci_low:.1f}, {100 * run.best_val_top1_ci_high:.1f}]"

    return pd.Series([text(run) for run in runs.itertuples()], index=runs.index, dtype="object")


def scaling(runs: pd.DataFrame) -> pd.DataFrame:
    """Throughput scaling per engine and local batch size: one row per completed run, columns ``SCALING_COLUMNS``.

    Runs are grouped by (sweep, engine, local batch size), i.e. weak scaling at a fixed per-worker batch on one
    engine (a sweep that compares engines scales each against its own smallest run). With
    ``baseline_workers`` the smallest worker count of the group and ``images_per_second`` global throughput:
    ``speedup`` = images/s / images/s at the baseline (the median, should several runs share the
    baseline worker count), and ``scaling_efficiency`` = 100 * speedup / (workers / baseline workers),
    the standard definition, in which Datta et al. 2019 (sec. 4) report scaling efficiency.
    ``workload`` as :func:`workload`. Failed runs and runs without a throughput figure are left out. Sorted
    by sweep, engine, local batch, workers.
    """
    usable = (runs["status"] == "completed") & runs["images_per_second"].notna() & runs["workers"].notna()
    table = _per_run(runs[usable])
    table[WORKLOAD] = workload(runs[usable])
    groups = [table[column] for column in _SCALING_GROUP]
    baseline_workers = table[WORKERS].groupby(groups).transform("min")
    at_baseline = table[IMAGES_PER_SECOND].where(table[WORKERS] == baseline_workers)
    baseline_throughput = at_baseline.groupby(groups).transform("median")
    table[BASELINE_WORKERS] = baseline_workers
    table[SPEEDUP] = (table[IMAGES_PER_SECOND] / baseline_throughput).astype("float64")
    table[EFFICIENCY] = (100 * table[SPEEDUP] / (table[WORKERS] / baseline_workers)).astype("float64")
    return _sorted(table, [*_SCALING_GROUP, WORKERS, NODES, RUN_ID])[SCALING_COLUMNS]


def node_scaling(runs: pd.DataFrame) -> pd.DataFrame:
    """Throughput scaling over nodes at a fixed workers per node (Datta et al. 2019, Figs. 8 and 10): one
    row per (sweep, engine, workers per node, nodes) with completed runs, columns ``NODE_SCALING_COLUMNS``.

    ``images_per_second`` is the median global throughput of the row's completed runs (``runs`` of them, at the
    ``local_batch_sizes`` listed: the paper's Table 1 lowers the local batch once the global batch is
    capped). With ``baseline_nodes`` the smallest node count of the (sweep, engine, workers per node) line:
    ``speedup`` = images/s / images/s at the baseline, ``scaling_efficiency`` = 100 * speedup /
    (nodes / baseline nodes). ``workload`` lists the runs' workloads (:func:`workload`). Sorted by sweep,
    engine, workers per node, nodes.
    """
    usable = (runs["status"] == "completed") & runs["images_per_second"].notna() & runs["nodes"].notna()
    done = runs[usable].assign(**{WORKLOAD: workload(runs[usable])})
    keys = [SWEEP, ENGINE, WORKERS_PER_NODE, NODES]
    groups = done.groupby(keys, sort=True)
    table = groups[IMAGES_PER_SECOND].agg(["size", "median"]).reset_index()
    table.columns = [*keys, RUNS, IMAGES_PER_SECOND]
    table[WORKERS] = table[NODES] * table[WORKERS_PER_NODE]
    table[LOCAL_BATCHES] = _distinct_per_group(done, keys, LOCAL_BATCH, ", ")
    table[WORKLOAD] = _distinct_per_group(done, keys, WORKLOAD, "; ")
    table = table[[SWEEP, ENGINE, WORKERS_PER_NODE, NODES, WORKERS, RUNS, LOCAL_BATCHES, IMAGES_PER_SECOND, WORKLOAD]]
    table = table.astype(
        {
            WORKERS_PER_NODE: "Int64",
            NODES: "Int64",
            WORKERS: "Int64",
            RUNS: "Int64",
            IMAGES_PER_SECOND: "float64",
            SWEEP: "str",
            ENGINE: "str",
            LOCAL_BATCHES: "str",
            WORKLOAD: "str",
        }
    )
    line = [table[SWEEP], table[ENGINE], table[WORKERS_PER_NODE]]
    baseline_nodes = table[NODES].groupby(line).transform("min")
    baseline = table[IMAGES_PER_SECOND].where(table[NODES] == baseline_nodes).groupby(line).transform("first")
    table[BASELINE_NODES] = baseline_nodes
    table[SPEEDUP] = (table[IMAGES_PER_SECOND] / baseline).astype("float64")
    table[EFFICIENCY] = (100 * table[SPEEDUP] / (table[NODES] / baseline_nodes)).astype("float64")
    return table[NODE_SCALING_COLUMNS].reset_index(drop=True)


def memory_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Peak resident memory per worker, as Datta et al. 2019 report memory: one row per run.

    Columns ``MEMORY_COLUMNS``; ``peak_rss_mib`` = ``memory.peak_rss_bytes_max`` / 2**20,
    the largest peak RSS of any one worker (rank) of the run; ``memory_lower_bound_mib`` =
    ``analytic.memory_lower_bound_bytes`` / 2**20 (weights, gradients, momentum and one local batch's
    activations, :mod:`benchmark.models.analytic`) and ``peak_rss_over_lower_bound`` =
    ``analytic.peak_rss_over_lower_bound`` (NA in records made before the analytic model). Failed runs
    stay as rows (their memory figure is NA when the run never reached the measurement). Sorted as
    ``table1``.
    """
    table = _per_run(runs)
    table[PEAK_RSS_MIB] = runs["peak_rss_bytes_max"].astype("float64") / BYTES_PER_MIB
    table[LOWER_BOUND_MIB] = runs["memory_lower_bound_bytes"].astype("float64") / BYTES_PER_MIB
    table[WORKLOAD] = workload(runs)
    return _sorted(table, _TABLE_ORDER)[MEMORY_COLUMNS]


def _per_run(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[_RUN_COLUMNS].copy()


def distinct(values: pd.Series, separator: str = ", ") -> str:
    """The distinct values, sorted, joined with ``separator`` (``"8, 16"``); empty without values.
    Workloads are joined with "; " (a workload may itself hold ", leaky split")."""
    return separator.join(map(str, sorted(values.dropna().unique())))


def _distinct_per_group(frame: pd.DataFrame, keys: list[str], column: str, separator: str) -> list[str]:
    """:func:`distinct` of ``column`` per group of ``keys`` (sorted by the keys, as ``groupby``), computed
    once per distinct (group, value) rather than once per group: tens of thousands of groups stay fast."""
    pairs = frame[[*keys, column]].dropna(subset=[column]).drop_duplicates()
    pairs = pairs.sort_values([*keys, column], kind="stable")
    texts = pairs.groupby(keys, sort=True)[column].agg(lambda values: separator.join(map(str, values)))
    index = frame.groupby(keys, sort=True).size().index
    return list(texts.reindex(index, fill_value=""))


def _sorted(table: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    return table.sort_values(order, na_position="last", kind="stable").reset_index(drop=True)


class Table1(TableOutput):
    name = "table1"
    files = "table1.csv, table1.md"
    description = (
        "Datta et al. 2019, Table 1: a row per run (completed or failed) with its TTT, epochs, images/s, "
        "GFLOP/s, accuracy, workload and, for a failed run or a missed target, the reason"
    )

    def write(self, records: LoadedRecords, out_dir: Path) -> list[Path]:
        table = table1(records.runs)
        return [
            write_atomic(out_dir / "table1.csv", csv_text(table)),
            write_atomic(out_dir / "table1.md", table1_markdown(table) + "\n"),
        ]


class ScalingTable(TableOutput):
    name = "scaling"
    files = "scaling.csv"
    description = "throughput scaling over workers: speedup and scaling efficiency per completed run"

    def write(self, records: LoadedRecords, out_dir: Path) -> list[Path]:
        return [write_atomic(out_dir / self.files, csv_text(scaling(records.runs)))]


class NodeScalingTable(TableOutput):
    name = "node_scaling"
    files = "node_scaling.csv"
    description = "throughput scaling over nodes at a fixed workers per node (Datta et al. 2019, Figs. 8 and 10)"

    def write(self, records: LoadedRecords, out_dir: Path) -> list[Path]:
        return [write_atomic(out_dir / self.files, csv_text(node_scaling(records.runs)))]


class MemoryTable(TableOutput):
    name = "memory"
    files = "memory.csv"
    description = "peak RSS per worker of each run beside its analytic memory lower bound"

    def write(self, records: LoadedRecords, out_dir: Path) -> list[Path]:
        return [write_atomic(out_dir / self.files, csv_text(memory_table(records.runs)))]
