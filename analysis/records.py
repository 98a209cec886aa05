"""Load run records (``docs/run-record.md``, schema version 1) into flat pandas DataFrames.

Every ``record.json`` under a results folder is read. A malformed record is reported in
``LoadedRecords.problems`` (path and reason) and skipped; it never stops the analysis.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

SCHEMA_VERSION = 1
RECORD_NAME = "record.json"
STATUSES = ("completed", "failed")
REQUIRED_KEYS = (
    "schema_version", "sweep", "run_id", "status", "failure", "topology",
    "throughput", "memory", "epochs", "time_to_train", "slurm",
)
EPOCH_METRICS = ("learning_rate", "train_loss", "val_loss", "val_top1", "val_top5", "elapsed_seconds")

# Column -> dtype. "Int64" is pandas' nullable integer: a failed run leaves unreached figures missing.
RUN_COLUMNS = {
    "sweep": "object", "run_id": "object", "status": "object", "failure_reason": "object",
    "nodes": "Int64", "workers_per_node": "Int64", "workers": "Int64",
    "local_batch_size": "Int64", "global_batch_size": "Int64",
    "images_per_second": "float64", "window_seconds": "float64", "step_median_seconds": "float64",
    "peak_rss_bytes_max": "Int64",
    "ttt_seconds": "float64", "ttt_epochs": "Int64", "ttt_reason": "object", "target_top1": "float64",
    "final_val_top1": "float64", "best_val_top1": "float64",
    "slurm_job_id": "object", "path": "object",
}
EPOCH_COLUMNS = {"sweep": "object", "run_id": "object", "epoch": "Int64"} | dict.fromkeys(EPOCH_METRICS, "float64")

_INT = (int,)
_NUMBER = (int, float)


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


class _Malformed(Exception):
    """A record that does not follow the run-record schema; the message is the reason."""


def load_records(results_dir: str | Path) -> LoadedRecords:
    """Load every ``record.json`` found (recursively) under ``results_dir``.

    Malformed records (invalid or cut-short JSON, missing keys, wrong ``schema_version``, values of
    the wrong type, a second record for the same sweep and run id) are listed in ``problems`` and
    skipped. Raises ``FileNotFoundError`` if ``results_dir`` does not exist and ``ValueError`` if it
    is not a folder or holds no ``record.json`` at all; both messages name the path.
    """
    runs: list[dict[str, Any]] = []
    epochs: list[dict[str, Any]] = []
    problems: list[tuple[Path, str]] = []
    loaded_from: dict[tuple[str, str], Path] = {}
    for path in _record_paths(Path(results_dir)):
        try:
            run, run_epochs = _parse_record(path)
        except _Malformed as err:
            problems.append((path, str(err)))
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


def _parse_record(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One flat run row and its epoch rows; raises ``_Malformed`` with the reason."""
    record = _read_json(path)
    _check_header(record)
    completed = record["status"] == "completed"
    topology = _section(record, "topology", required=completed)
    throughput = _section(record, "throughput", required=completed)
    memory = _section(record, "memory", required=completed)
    ttt = _section(record, "time_to_train", required=completed)
    failure = _section(record, "failure", required=not completed)
    slurm = _section(record, "slurm", required=False)
    epochs = _epochs(record, required=completed)
    val_top1 = [e["val_top1"] for e in sorted(epochs, key=lambda e: e["epoch"]) if e["val_top1"] is not None]
    job_id = _value(slurm, "slurm", "job_id", (str, int))
    run = {
        "sweep": record["sweep"],
        "run_id": record["run_id"],
        "status": record["status"],
        "failure_reason": _value(failure, "failure", "reason", (str,)),
        **{key: _value(topology, "topology", key, _INT) for key in (
            "nodes", "workers_per_node", "workers", "local_batch_size", "global_batch_size")},
        "images_per_second": _value(throughput, "throughput", "images_per_second", _NUMBER),
        "window_seconds": _value(throughput, "throughput", "window_seconds", _NUMBER),
        "step_median_seconds": _value(
            _section(throughput, "step_seconds", required=completed, where="throughput"),
            "throughput.step_seconds", "median", _NUMBER),
        "peak_rss_bytes_max": _value(memory, "memory", "peak_rss_bytes_max", _INT),
        "ttt_seconds": _value(ttt, "time_to_train", "seconds", _NUMBER),
        "ttt_epochs": _value(ttt, "time_to_train", "epochs", _INT),
        "ttt_reason": _value(ttt, "time_to_train", "reason", (str,)),
        "target_top1": _fraction(ttt, "time_to_train", "target_top1"),
        "final_val_top1": val_top1[-1] if val_top1 else None,
        "best_val_top1": max(val_top1) if val_top1 else None,
        "slurm_job_id": None if job_id is None else str(job_id),
        "path": str(path),
    }
    epoch_rows = [{"sweep": record["sweep"], "run_id": record["run_id"], **e} for e in epochs]
    return run, epoch_rows


def _read_json(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise _Malformed(f"cannot read: {err}") from err
    except json.JSONDecodeError as err:
        raise _Malformed(f"invalid JSON (cut short?): {err}") from err
    if not isinstance(record, dict):
        raise _Malformed(f"top level is a JSON {type(record).__name__}, expected an object")
    return record


def _check_header(record: dict[str, Any]) -> None:
    """Required keys, schema version, status and path-safe sweep/run names."""
    missing = [key for key in REQUIRED_KEYS if key not in record]
    if missing:
        raise _Malformed(f"missing required keys: {', '.join(missing)}")
    if record["schema_version"] != SCHEMA_VERSION:
        raise _Malformed(f"schema_version is {record['schema_version']!r}, expected {SCHEMA_VERSION}")
    if record["status"] not in STATUSES:
        raise _Malformed(f"status is {record['status']!r}, expected one of {', '.join(STATUSES)}")
    for key in ("sweep", "run_id"):
        name = record[key]
        if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name:
            raise _Malformed(f"{key} {name!r} is not a usable name (non-empty, no path separators)")


def _section(parent: dict[str, Any] | None, key: str, required: bool, where: str = "") -> dict[str, Any] | None:
    """``parent[key]`` as an object; None when it is null and not ``required`` or ``parent`` is None."""
    name = f"{where}.{key}" if where else key
    if parent is None:
        return None
    if key not in parent:
        raise _Malformed(f"missing key '{name}'")
    value = parent[key]
    if value is None and not required:
        return None
    if not isinstance(value, dict):
        state = "null" if value is None else f"a JSON {type(value).__name__}"
        raise _Malformed(f"'{name}' is {state}, expected an object")
    return value


def _value(section: dict[str, Any] | None, where: str, key: str, kinds: tuple[type, ...]) -> Any:
    """``section[key]`` checked against ``kinds`` (booleans never count as numbers); None if null."""
    if section is None:
        return None
    if key not in section:
        raise _Malformed(f"missing key '{where}.{key}'")
    value = section[key]
    if value is not None and (isinstance(value, bool) or not isinstance(value, kinds)):
        expected = " or ".join(kind.__name__ for kind in kinds)
        raise _Malformed(f"'{where}.{key}' is {value!r}, expected {expected}")
    return value


def _fraction(section: dict[str, Any] | None, where: str, key: str) -> float | None:
    """An accuracy, which the schema stores as a fraction in [0, 1]."""
    value = _value(section, where, key, _NUMBER)
    if value is not None and not 0 <= value <= 1:
        raise _Malformed(f"'{where}.{key}' is {value!r}, expected a fraction in [0, 1]")
    return value


def _epochs(record: dict[str, Any], required: bool) -> list[dict[str, Any]]:
    """The per-epoch entries as flat dicts (``epoch`` plus ``EPOCH_METRICS``)."""
    entries = record["epochs"]
    if entries is None and not required:
        return []
    if not isinstance(entries, list):
        raise _Malformed(f"'epochs' is {'null' if entries is None else repr(entries)}, expected a list")
    rows = []
    for index, entry in enumerate(entries):
        where = f"epochs[{index}]"
        if not isinstance(entry, dict):
            raise _Malformed(f"'{where}' is {entry!r}, expected an object")
        if _value(entry, where, "epoch", _INT) is None:
            raise _Malformed(f"'{where}.epoch' is null")
        metrics = {
            key: _fraction(entry, where, key) if key in ("val_top1", "val_top5") else _value(entry, where, key, _NUMBER)
            for key in EPOCH_METRICS
        }
        rows.append({"epoch": entry["epoch"], **metrics})
    return rows
