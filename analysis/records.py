"""Load run records (:class:`benchmark.record.RunRecord`, validated by the record's own schema) into flat
pandas DataFrames.

Every ``record.json`` under a results folder is read. A record that is skipped is reported in
``LoadedRecords.problems`` (path and reason), counted, and never stops the analysis: a malformed one, one
that cannot be read (no permission, a folder or a symlink loop named ``record.json``), and one larger than
:data:`benchmark.record.MAX_RECORD_BYTES` (16 MiB), refused after a ``stat`` without being read.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import stat
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.data.sources import SOURCES
from benchmark.record import RECORD_NAME, Epoch, RecordError, RunRecord

from .columns import BREAKDOWN_PHASES

EPOCH_METRICS = ("learning_rate", "train_loss", "val_loss", "val_top1", "val_top5", "val_auroc_mean", "elapsed_seconds")
#: The epochs' 95 % bootstrap intervals (``Epoch.val_top1_ci``/``val_top5_ci``), each as a low and a high column.
EPOCH_INTERVALS = {
    "val_top1_ci": ("val_top1_ci_low", "val_top1_ci_high"),
    "val_top5_ci": ("val_top5_ci_low", "val_top5_ci_high"),
}
#: The record's ``analytic`` figures copied into the run table (:mod:`benchmark.models.analytic`; GFLOP = 1e9 FLOPs).
ANALYTIC_FIGURES = {
    "training_gflop_per_image": "float64",
    "achieved_gflops_per_second": "float64",
    "achieved_gflops_per_second_per_worker": "float64",
    "activation_bytes": "Int64",
    "memory_lower_bound_bytes": "Int64",
    "peak_rss_over_lower_bound": "float64",
    "achieved_gflops_per_second_per_node": "float64",
    "fraction_of_peak": "float64",
}
#: What made a run, from its record's ``provenance`` (the HTML report's provenance per sweep).
PROVENANCE_COLUMNS = {
    "hosts": "object",
    "logical_cpus": "Int64",
    "software": "object",
    "framework": "object",
    "collectives": "object",
    "git_commit": "object",
    "started_at": "object",
    "finished_at": "object",
}
# Column (:mod:`analysis.columns`) -> dtype. "Int64" and "boolean" are pandas' nullable types: a failed run leaves
# unreached figures missing, and records made before a figure existed leave it missing too.
RUN_COLUMNS = {
    "sweep": "object",
    "run_id": "object",
    "status": "object",
    "failure_reason": "object",
    "data_source": "object",
    "image_size": "object",
    "image_height": "Int64",
    "image_width": "Int64",
    "num_classes": "Int64",
    "variant": "object",
    "split": "object",
    "folds": "Int64",
    "fold": "Int64",
    "leaky": "boolean",
    "multi_label": "boolean",
    "model": "object",
    "engine": "object",
    "optimizer": "object",
    "lr_schedule": "object",
    "intra_op_threads": "Int64",
    "ttt_metric": "object",
    "ttt_target": "float64",
    "best_val_auroc_mean": "float64",
    "nodes": "Int64",
    "node": "object",
    "workers_per_node": "Int64",
    "workers": "Int64",
    "local_batch_size": "Int64",
    "global_batch_size": "Int64",
    "images_per_second": "float64",
    "window_seconds": "float64",
    "median_step_seconds": "float64",
    "peak_rss_bytes_max": "Int64",
    "stalls": "Int64",
    "longest_stall_seconds": "float64",
    "ttt_seconds": "float64",
    "ttt_epochs": "Int64",
    "ttt_reason": "object",
    "target_top1": "float64",
    "ttt_top5_seconds": "float64",
    "ttt_top5_epochs": "Int64",
    "ttt_top5_reason": "object",
    "target_top5": "float64",
    "final_val_top1": "float64",
    "best_val_top1": "float64",
    "best_val_top5": "float64",
    "best_val_top1_ci_low": "float64",
    "best_val_top1_ci_high": "float64",
    "best_val_top5_ci_low": "float64",
    "best_val_top5_ci_high": "float64",
    **ANALYTIC_FIGURES,
    **{f"share_{phase}": "float64" for phase in BREAKDOWN_PHASES},
    "breakdown_sampled_steps": "Int64",
    "cpu_model": "object",
    **PROVENANCE_COLUMNS,
    "slurm_job_id": "object",
    "fingerprint": "object",
    "path": "object",
}
#: Records from which ``load_records`` reads and validates in several processes (below, one is faster).
PARALLEL_FROM = 2_000
EPOCH_COLUMNS = (
    {"sweep": "object", "run_id": "object", "epoch": "Int64"}
    | dict.fromkeys(EPOCH_METRICS, "float64")
    | dict.fromkeys([column for pair in EPOCH_INTERVALS.values() for column in pair], "float64")
)
#: One row per (run, validation field of view) at the run's last evaluation: ``Validation.per_field``.
FIELD_COLUMNS = {
    "sweep": "object",
    "run_id": "object",
    "field": "object",
    "field_images": "Int64",
    "field_top1": "float64",
    "field_top5": "float64",
}
#: One row per (run, epoch, class) of multi-label data: ``Epoch.val_auroc``, NaN where a class has no AUROC.
AUROC_COLUMNS = {"sweep": "object", "run_id": "object", "epoch": "Int64", "class_name": "object", "auroc": "float64"}


@dataclass(frozen=True)
class LoadedRecords:
    """The records found under a results folder.

    ``runs``: one row per valid record, columns ``RUN_COLUMNS`` (seconds, bytes, images/s, GFLOP/s; accuracies are
    fractions in [0, 1]; ``path`` is the record's path as a string). ``leaky`` is true for a run on the paper's
    split (``data.split = "paper"``: validation may hold copies of training fields). ``stalls`` counts the pauses
    the run recovered from and ``longest_stall_seconds`` is the longest (0 without any; missing in records made
    before stalls were recorded). ``best_val_top1_ci_low``/``_high`` are the 95 % interval of the epoch with the
    best top-1 (the first such), likewise for top-5. ``share_<phase>`` (:data:`BREAKDOWN_PHASES`) are the step-time
    breakdown's shares (fractions) and ``breakdown_sampled_steps`` the fewest steps a rank sampled for it. Figures a
    record does not hold (a failed run; a record made before the figure existed) are missing (NA). ``epochs``: one
    row per (run, epoch), columns ``EPOCH_COLUMNS`` (``elapsed_seconds`` in seconds since the run's first training
    step). ``problems``: ``(path, reason)`` for every malformed record that was skipped. Multi-label runs
    (``multi_label``: the data source's task, :mod:`benchmark.train.task`) have no top-1/top-5 but
    ``best_val_auroc_mean`` and the epochs' ``val_auroc_mean``; ``auroc``: their per-class AUROCs, one row per (run,
    epoch, class), columns ``AUROC_COLUMNS``, classes in the record's order (empty without multi-label runs).
    ``fields``: one row per (run, validation field of view) at the run's last evaluation (the record's
    ``validation.per_field``), columns ``FIELD_COLUMNS``; ``folds``/``fold`` are ``data.folds``/``data.fold`` (NA
    for a run on a single split).
    ``ttt_metric`` and ``ttt_target`` are what time to train timed (``val_top1`` or ``val_auroc_mean``) and its
    target; ``intra_op_threads`` are the threads a worker ran (``provenance.threads.intra_op``, else the setting);
    ``engine`` is ``run.engine`` (the default engine, horovod, in records made before engines existed); ``node``
    is ``run.node``, the node a fleet sweep pinned the run to (missing for other runs).
    ``fingerprint``, ``started_at``, ``finished_at`` (UTC, ISO 8601; missing in records made before it), ``hosts``
    (the ranks' distinct host names, sorted, comma-joined) and ``git_commit`` identify the run where it ran (NA for
    a failed run without provenance).
    """

    runs: pd.DataFrame
    epochs: pd.DataFrame
    problems: list[tuple[Path, str]]
    auroc: pd.DataFrame = dataclasses.field(default_factory=lambda: _frame([], AUROC_COLUMNS))
    fields: pd.DataFrame = dataclasses.field(default_factory=lambda: _frame([], FIELD_COLUMNS))

    def by_sweep(self, sweeps: Iterable[str]) -> list[LoadedRecords]:
        """The records of each of ``sweeps``, in that order, each with its runs, epochs and per-class AUROCs
        only (and no problems): the parts of a figure drawn per sweep."""
        runs, epochs, auroc, fields = (
            dict(tuple(frame.groupby("sweep", sort=False)))
            for frame in (self.runs, self.epochs, self.auroc, self.fields)
        )
        return [
            LoadedRecords(
                runs.get(sweep, self.runs.iloc[:0]),
                epochs.get(sweep, self.epochs.iloc[:0]),
                [],
                auroc.get(sweep, self.auroc.iloc[:0]),
                fields.get(sweep, self.fields.iloc[:0]),
            )
            for sweep in sweeps
        ]


def load_records(results_dir: str | Path, jobs: int | None = None) -> LoadedRecords:
    """Load every ``record.json`` found (recursively) under ``results_dir``.

    Records that cannot be used (invalid or cut-short JSON, anything that does not follow the record's
    schema, a second record for the same sweep and run id, a file that cannot be read, an entry named
    ``record.json`` that is a folder, a symlink loop or a broken symlink, a folder that cannot be listed, a
    file larger than :data:`benchmark.record.MAX_RECORD_BYTES`, not read) are listed in ``problems`` with
    the reason and skipped. Every record is validated by :class:`benchmark.record.RunRecord`
    (``RunRecord.load``); from ``PARALLEL_FROM`` records
    on, that is spread over ``jobs`` processes (default :func:`default_jobs`), in contiguous slices of the
    sorted paths, so the result does not depend on ``jobs``. Raises ``FileNotFoundError`` if ``results_dir``
    does not exist and ``ValueError`` if it is not a folder or holds no readable ``record.json`` at all;
    both messages name the path.
    """
    paths, unusable = _record_paths(Path(results_dir))
    workers = min(jobs or default_jobs(), -(-len(paths) // PARALLEL_FROM) if len(paths) >= PARALLEL_FROM else 1)
    if workers > 1:
        size = -(-len(paths) // workers)
        with ProcessPoolExecutor(workers) as pool:
            loaded = [
                row
                for rows in pool.map(_load_rows, [paths[i : i + size] for i in range(0, len(paths), size)])
                for row in rows
            ]
    else:
        loaded = _load_rows(paths)
    return _collect([*unusable, *loaded])


def default_jobs() -> int:
    """Processes for the analysis' parallel parts: the CPUs this process may use, at most 8."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(8, cpus))


def from_records(records: list[tuple[RunRecord, Path]]) -> LoadedRecords:
    """The frames of records already read, each with the path it came from (``load_records`` without
    the files). A second record for the same sweep and run id is listed in ``problems`` and skipped."""
    return _collect([(path, (record.sweep, record.run_id), *_rows(record, path)) for record, path in records])


def _load_rows(paths: list[Path]) -> list[tuple]:
    """Per path, ``(path, (sweep, run_id), run row, epoch rows, AUROC rows, field rows)`` of a valid record,
    else ``(path, reason)``."""
    rows: list[tuple] = []
    for path in paths:
        try:
            record = RunRecord.load(path)
        except RecordError as err:
            rows.append((path, str(err).removeprefix(f"{path}: ")))
            continue
        rows.append((path, (record.sweep, record.run_id), *_rows(record, path)))
    return rows


def _collect(loaded: list[tuple]) -> LoadedRecords:
    """The frames of ``_load_rows``' rows, in order; a second record of a (sweep, run id) is a problem."""
    runs: list[dict[str, Any]] = []
    epochs: list[dict[str, Any]] = []
    aurocs: list[dict[str, Any]] = []
    fields: list[dict[str, Any]] = []
    malformed: list[tuple[Path, str]] = []
    duplicates: list[tuple[Path, str]] = []
    loaded_from: dict[tuple[str, str], Path] = {}
    for row in loaded:
        if len(row) == 2:
            malformed.append(row)
            continue
        path, key, run, run_epochs, run_aurocs, run_fields = row
        if key in loaded_from:
            duplicates.append((path, f"duplicate run {key[0]}/{key[1]}, already loaded from {loaded_from[key]}"))
            continue
        loaded_from[key] = path
        runs.append(run)
        epochs.extend(run_epochs)
        aurocs.extend(run_aurocs)
        fields.extend(run_fields)
    return LoadedRecords(
        _frame(runs, RUN_COLUMNS),
        _frame(epochs, EPOCH_COLUMNS),
        malformed + duplicates,
        _frame(aurocs, AUROC_COLUMNS),
        _frame(fields, FIELD_COLUMNS),
    )


def _record_paths(root: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Every record file under ``root``, sorted, and, with the reason, every entry named ``record.json``
    that is no file to read (a folder, a broken symlink, a symlink loop, a socket...) and every folder that
    cannot be listed; raises if there is no record file (see ``load_records``)."""
    if not root.exists():
        raise FileNotFoundError(f"results folder {root} does not exist")
    if not root.is_dir():
        raise ValueError(f"results folder {root} is not a folder")
    # os.walk, as Path.rglob (not into symlinked folders) but a few times faster over 10,000 run folders.
    found: list[str] = []
    unusable: list[tuple[Path, str]] = []

    def unlisted(exc: OSError) -> None:  # a folder os.walk cannot list: its records, if any, are not read
        unusable.append((Path(exc.filename), f"folder cannot be listed ({exc.strerror or exc}); its records not read"))

    for folder, dirs, files in os.walk(root, onerror=unlisted):
        if RECORD_NAME in files:
            path = os.path.join(folder, RECORD_NAME)
            reason = _not_a_file(path)
            if reason is None:
                found.append(path)
            else:
                unusable.append((Path(path), reason))
        if RECORD_NAME in dirs:
            unusable.append((Path(folder) / RECORD_NAME, "a folder, not a record file"))
    paths = [Path(text) for text in sorted(found, key=lambda text: text.split(os.sep))]  # as Paths sort
    if not paths:
        skipped = "".join(f"; {path}: {reason}" for path, reason in unusable)
        raise ValueError(
            f"no {RECORD_NAME} found under {root}" + (f" (skipped {len(unusable)}{skipped})" if unusable else "")
        )
    return paths, sorted(unusable)


def _not_a_file(path: str) -> str | None:
    """Why the entry ``path`` (not a folder) is no file to read, or None when it is one (or a symlink to one)."""
    try:
        mode = os.stat(path).st_mode  # through symlinks
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symlink loop"
        if exc.errno == errno.ENOENT and os.path.islink(path):
            return f"a broken symlink (to {os.readlink(path)}, which does not exist)"
        return f"cannot read: {exc.strerror or exc}"
    return None if stat.S_ISREG(mode) else "not a regular file"


def _provenance(record: RunRecord) -> dict[str, Any]:
    """A record's ``PROVENANCE_COLUMNS``: its ranks' distinct hosts (sorted, comma-joined), logical CPUs, software
    versions (``"name version"``, comma-separated), framework and collectives (the engine's), commit and start and
    end (ISO 8601, UTC); all missing in a record without provenance."""
    provenance = record.provenance
    if provenance is None:
        return dict.fromkeys(PROVENANCE_COLUMNS)
    engine = provenance.engine
    return {
        "hosts": ",".join(sorted(set(provenance.hostnames))),
        "logical_cpus": provenance.logical_cpus,
        "software": ", ".join(f"{name} {version}" for name, version in provenance.software.items() if version),
        "framework": f"{engine.framework} {engine.framework_version}" if engine else None,
        "collectives": f"{engine.collectives} ({engine.backend})" if engine else None,
        "git_commit": provenance.git_commit,
        "started_at": provenance.started_at,
        "finished_at": provenance.finished_at,
    }


def _frame(rows: list[dict[str, Any]], columns: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns)).astype(columns)


def _rows(
    record: RunRecord, path: Path
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """One flat run row (``RUN_COLUMNS``), its epoch rows (``EPOCH_COLUMNS``), per-class AUROC rows
    (``AUROC_COLUMNS``) and per-field rows (``FIELD_COLUMNS``)."""
    epochs = sorted(record.epochs or [], key=lambda e: e.epoch)
    top1 = [e.val_top1 for e in epochs if e.val_top1 is not None]
    topology = record.topology.model_dump() if record.topology else {}
    throughput, ttt, scheduler, data = record.throughput, record.time_to_train, record.scheduler, record.config.data
    provenance = record.provenance
    top5_ttt = ttt.top5 if ttt else None
    analytic = record.analytic.model_dump() if record.analytic else {}
    breakdown = throughput.breakdown if throughput else None
    top1_ci, top5_ci = _best_interval(epochs, "val_top1"), _best_interval(epochs, "val_top5")
    run = {
        "sweep": record.sweep,
        "run_id": record.run_id,
        "status": record.status,
        "failure_reason": record.failure.reason if record.failure else None,
        "data_source": data.source,
        "image_size": "x".join(map(str, data.image_size)),
        "image_height": data.image_size[0],
        "image_width": data.image_size[1],
        "num_classes": data.num_classes,
        "variant": data.variant,
        "split": data.split,
        "folds": data.folds,
        "fold": data.fold,
        "leaky": record.validation.leaky if record.validation else data.split == "paper",
        "multi_label": SOURCES[data.source].task == "multi-label",
        "model": record.config.model.name,
        "engine": record.config.run.engine,
        "optimizer": record.config.training.optimizer,
        "lr_schedule": record.config.learning_rate.schedule,
        "intra_op_threads": provenance.threads.intra_op if provenance else record.config.run.intra_op_threads,
        "ttt_metric": ttt.metric if ttt else None,
        "ttt_target": ttt.target if ttt else None,
        "best_val_auroc_mean": max((e.val_auroc_mean for e in epochs if e.val_auroc_mean is not None), default=None),
        **{
            key: topology.get(key)
            for key in ("nodes", "workers_per_node", "workers", "local_batch_size", "global_batch_size")
        },
        "node": record.config.run.node,
        "images_per_second": throughput.images_per_second if throughput else None,
        "window_seconds": throughput.window_seconds if throughput else None,
        "median_step_seconds": throughput.step_seconds.median if throughput else None,
        "peak_rss_bytes_max": record.memory.peak_rss_bytes_max if record.memory else None,
        "stalls": None if record.stalls is None else len(record.stalls),
        "longest_stall_seconds": None
        if record.stalls is None
        else max((s.seconds for s in record.stalls), default=0.0),
        "ttt_seconds": ttt.seconds if ttt else None,
        "ttt_epochs": ttt.epochs if ttt else None,
        "ttt_reason": ttt.reason if ttt else None,
        "target_top1": ttt.target_top1 if ttt else None,
        "ttt_top5_seconds": top5_ttt.seconds if top5_ttt else None,
        "ttt_top5_epochs": top5_ttt.epochs if top5_ttt else None,
        "ttt_top5_reason": top5_ttt.reason if top5_ttt else None,
        "target_top5": top5_ttt.target if top5_ttt else record.config.training.target_top5,
        "final_val_top1": top1[-1] if top1 else None,
        "best_val_top1": record.best_top1,
        "best_val_top5": max((e.val_top5 for e in epochs if e.val_top5 is not None), default=None),
        "best_val_top1_ci_low": top1_ci[0],
        "best_val_top1_ci_high": top1_ci[1],
        "best_val_top5_ci_low": top5_ci[0],
        "best_val_top5_ci_high": top5_ci[1],
        **{key: analytic.get(key) for key in ANALYTIC_FIGURES},
        **{f"share_{phase}": breakdown.shares.get(phase) if breakdown else None for phase in BREAKDOWN_PHASES},
        "breakdown_sampled_steps": min(r.sampled_steps for r in breakdown.per_rank) if breakdown else None,
        "cpu_model": provenance.cpu_model if provenance else None,
        **_provenance(record),
        "slurm_job_id": scheduler.job_id if scheduler and scheduler.kind == "slurm" else None,
        "fingerprint": record.fingerprint,
        "path": str(path),
    }
    aurocs = [
        {"sweep": record.sweep, "run_id": record.run_id, "epoch": epoch.epoch, "class_name": name, "auroc": value}
        for epoch in epochs
        for name, value in (epoch.val_auroc or {}).items()
    ]
    fields = [
        {
            "sweep": record.sweep,
            "run_id": record.run_id,
            "field": one.field,
            "field_images": one.images,
            "field_top1": one.top1,
            "field_top5": one.top5,
        }
        for one in (record.validation.per_field if record.validation else [])
    ]
    return run, [_epoch_row(record, epoch) for epoch in epochs], aurocs, fields


def _best_interval(epochs: list[Epoch], metric: str) -> tuple[float | None, float | None]:
    """The 95 % interval (``<metric>_ci``) of the first epoch with the best ``metric``; (None, None) when
    there is no such epoch or it has no interval."""
    scored = [e for e in epochs if getattr(e, metric) is not None]
    if not scored:
        return None, None
    best = max(scored, key=lambda e: getattr(e, metric))
    return getattr(best, f"{metric}_ci") or (None, None)


def _epoch_row(record: RunRecord, epoch: Epoch) -> dict[str, Any]:
    """One ``EPOCH_COLUMNS`` row: the epoch's metrics and its intervals as low/high columns."""
    row = {"sweep": record.sweep, "run_id": record.run_id, **epoch.model_dump(include={"epoch", *EPOCH_METRICS})}
    for field, (low, high) in EPOCH_INTERVALS.items():
        row[low], row[high] = getattr(epoch, field) or (None, None)
    return row
