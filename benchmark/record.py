"""The run record: one JSON file per run (schema in docs/run-record.md), written atomically by rank 0.

A failed run is a record too (``status: failed`` with the reason), never a silent gap.
"""
from __future__ import annotations

import json
import traceback as tb
from pathlib import Path

from benchmark.atomic import write_json_atomic
from benchmark.config import TrainConfig

SCHEMA_VERSION = 1
RECORD_NAME = "record.json"
SECTIONS = ("topology", "provenance", "model", "throughput", "memory", "epochs", "time_to_train", "slurm")


def record_path(run_dir: str | Path) -> Path:
    """Where the record of the run in ``run_dir`` lives."""
    return Path(run_dir) / RECORD_NAME


def new_record(config: TrainConfig, status: str, **sections) -> dict:
    """A record of ``status`` ("completed" | "failed") for ``config`` with the given sections filled;
    the others are null."""
    unknown = set(sections) - set(SECTIONS) - {"failure"}
    if unknown:
        raise ValueError(f"unknown record section(s): {sorted(unknown)}")
    record = {
        "schema_version": SCHEMA_VERSION,
        "sweep": config.sweep,
        "run_id": config.run_id,
        "status": status,
        "failure": sections.pop("failure", None),
        "config": config.to_dict(),
    }
    record.update({name: sections.get(name) for name in SECTIONS})
    return record


def failure(reason: str, traceback: str | None = None) -> dict:
    """The ``failure`` section: a one-line ``reason`` and, when known, the traceback text."""
    return {"reason": reason, "traceback": traceback}


def exception_failure(exc: BaseException) -> dict:
    """The ``failure`` section for an exception raised by a run."""
    return failure(f"{type(exc).__name__}: {exc}", "".join(tb.format_exception(exc)))


def expected_topology(config: TrainConfig) -> dict | None:
    """The topology a sweep asked for (before any worker started), or None for a lone run."""
    if config.nodes is None or config.workers_per_node is None:
        return None
    workers = config.nodes * config.workers_per_node
    return {"nodes": config.nodes, "workers_per_node": config.workers_per_node, "workers": workers,
            "local_batch_size": config.local_batch_size,
            "global_batch_size": config.local_batch_size * workers}


def write_record(run_dir: str | Path, record: dict) -> Path:
    """Write ``record`` to ``run_dir/record.json`` atomically; returns the path."""
    return write_json_atomic(record_path(run_dir), record)


def write_failure(config: TrainConfig, failure_section: dict, slurm: dict | None = None) -> Path:
    """Record that the run of ``config`` failed, keeping what is known of its topology."""
    record = new_record(config, "failed", failure=failure_section, topology=expected_topology(config),
                        slurm=slurm)
    return write_record(config.run_dir, record)


def read_record(run_dir: str | Path) -> dict | None:
    """The record in ``run_dir``, or None when there is none or it cannot be parsed."""
    try:
        return json.loads(record_path(run_dir).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def time_to_train(epochs: list[dict], target_top1: float | None) -> dict:
    """The ``time_to_train`` section: seconds and epochs until validation top-1 first reaches the target.

    ``epochs`` are the record's epoch rows (``val_top1`` a fraction, ``elapsed_seconds`` from the first
    step). When the target is unset, or never reached, seconds and epochs are null and ``reason`` says why.
    """
    result = {"target_top1": target_top1, "seconds": None, "epochs": None, "reason": None}
    if target_top1 is None:
        result["reason"] = "no target_top1 was set"
        return result
    for row in epochs:
        if row.get("val_top1") is not None and row["val_top1"] >= target_top1:
            result.update(seconds=row["elapsed_seconds"], epochs=row["epoch"])
            return result
    best = max((row["val_top1"] for row in epochs if row.get("val_top1") is not None), default=None)
    result["reason"] = ("no validation set (synthetic data)" if best is None
                        else f"not reached in {len(epochs)} epochs (best top-1 {best:.4f})")
    return result
