"""Load run records (:class:`benchmark.record.RunRecord`, validated by the record's own schema) into flat
pandas DataFrames.

Every ``record.json`` under a results folder is read. A malformed record is reported in
``LoadedRecords.problems`` (path and reason) and skipped; it never stops the analysis.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.record import RECORD_NAME, RecordError, RunRecord

EPOCH_METRICS = ("learning_rate", "train_loss", "val_loss", "val_top1", "val_top5", "elapsed_seconds")

# Column -> dtype. "Int64" is pandas' nullable integer: a failed run leaves unreached figures missing.
RUN_COLUMNS = {
    "sweep": "object", "run_id": "object", "status": "object", "failure_reason": "object",
    "data_source": "object", "image_size": "object",
    "nodes": "Int64", "workers_per_node": "Int64", "workers": "Int64",
    "local_batch_size": "Int64", "global_batch_size": "Int64",
    "images_per_second": "float64", "window_seconds": "float64", "step_median_seconds": "float64",
    "peak_rss_bytes_max": "Int64",
    "ttt_seconds": "float64", "ttt_epochs": "Int64", "ttt_reason": "object", "target_top1": "float64",
    "final_val_top1": "float64", "best_val_top1": "float64", "best_val_top5": "float64",
    "slurm_job_id": "object", "path": "object",
}
EPOCH_COLUMNS = {"sweep": "object", "run_id": "object", "epoch": "Int64"} | dict.fromkeys(EPOCH_METRICS, "float64")



@dataclass(frozen=True)
class LoadedRecords:
    """The records found under a results folder.

    ``runs``: one row per valid record, columns ``RUN_COLUMNS`` (seconds, bytes, images/s; accuracies
    are fractions in [0, 1]; ``path`` is the record's path as a string). ``epochs``: one row per
    (run, epoch), columns ``EPOCH_COLUMNS`` (``elapsed_seconds`` in seconds since the run's first
    training step). ``problems``: ``(path, reason)`` for every malformed record that was skipped.
    """

    runs: pd.DataFrame
    epochs: pd.DataFrame
    problems: list[tuple[Path, str]]


def load_records(results_dir: str | Path) -> LoadedRecords:
    """Load every ``record.json`` found (recursively) under ``results_dir``.

    Malformed records (invalid or cut-short JSON, anything that does not follow the record's schema, a
    second record for the same sweep and run id) are listed in ``problems`` and skipped. Raises ``FileNotFoundError`` if ``results_dir`` does not exist and ``ValueError`` if it
    is not a folder or holds no ``record.json`` at all; both messages name the path.
    """
    runs: list[dict[str, Any]] = []
    epochs: list[dict[str, Any]] = []
    problems: list[tuple[Path, str]] = []
    loaded_from: dict[tuple[str, str], Path] = {}
    for path in _record_paths(Path(results_dir)):
        try:
            run, run_epochs = _rows(RunRecord.load(path), path)
        except RecordError as err:
            problems.append((path, str(err).removeprefix(f"{path}: ")))
            continue
        key = (run["sweep"], run["run_id"])
        if key in loaded_from:
            problems.append((path, f"duplicate run {key[0]}/{key[1]}, already loaded from {loaded_from[key]}"))
            continue
        loaded_from[key] = path
        runs.append(run)
        epochs.extend(run_epochs)
    return LoadedRecords(_frame(runs, RUN_COLUMNS), _frame(epochs, EPOCH_COLUMNS), problems)


def _record_paths(root: Path) -> list[Path]:
    """Every record file under ``root``, sorted; raises if there is none (see ``load_records``)."""
    if not root.exists():
        raise FileNotFoundError(f"results folder {root} does not exist")
    if not root.is_dir():
        raise ValueError(f"results folder {root} is not a folder")
    paths = sorted(p for p in root.rglob(RECORD_NAME) if p.is_file())
    if not paths:
        raise ValueError(f"no {RECORD_NAME} found under {root}")
    return paths


def _frame(rows: list[dict[str, Any]], columns: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns)).astype(columns)


def _rows(record: RunRecord, path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One flat run row (``RUN_COLUMNS``) and its epoch rows (``EPOCH_COLUMNS``)."""
    epochs = sorted(record.epochs or [], key=lambda e: e.epoch)
    top1 = [e.val_top1 for e in epochs if e.val_top1 is not None]
    topology = record.topology.model_dump() if record.topology else {}
    throughput, ttt, slurm = record.throughput, record.time_to_train, record.slurm
    run = {
        "sweep": record.sweep,
        "run_id": record.run_id,
        "status": record.status,
        "failure_reason": record.failure.reason if record.failure else None,
        "data_source": record.config.data.source,
        "image_size": "x".join(map(str, record.config.data.image_size)),
        **{key: topology.get(key) for key in (
            "nodes", "workers_per_node", "workers", "local_batch_size", "global_batch_size")},
        "images_per_second": throughput.images_per_second if throughput else None,
        "window_seconds": throughput.window_seconds if throughput else None,
        "step_median_seconds": throughput.step_seconds.median if throughput else None,
        "peak_rss_bytes_max": record.memory.peak_rss_bytes_max if record.memory else None,
        "ttt_seconds": ttt.seconds if ttt else None,
        "ttt_epochs": ttt.epochs if ttt else None,
        "ttt_reason": ttt.reason if ttt else None,
        "target_top1": ttt.target_top1 if ttt else None,
        "final_val_top1": top1[-1] if top1 else None,
        "best_val_top1": record.best_top1,
        "best_val_top5": max((e.val_top5 for e in epochs if e.val_top5 is not None), default=None),
        "slurm_job_id": slurm.job_id if slurm else None,
        "path": str(path),
    }
    epoch_rows = [{"sweep": record.sweep, "run_id": record.run_id, **e.model_dump(include={"epoch", *EPOCH_METRICS})}
                  for e in epochs]
    return run, epoch_rows
