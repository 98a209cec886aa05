"""What ``mcnn-bench analyze`` writes for the suite's second workload, CheXNet (DenseNet-121) and VGG-16 on
NIH ChestX-ray14 (multi-label, judged by per-class AUROC), after Wilson et al. (Dell EMC, "Fast and Accurate
Training of an AI Radiologist on Intel Xeon-based Dell EMC Supercomputers"), into the analysis folder:

- ``auroc_per_class.csv`` and ``.md``, and ``auroc/<sweep>.png`` per sweep with multi-label runs
  (:mod:`analysis.auroc`; Figs. 3, 7, 10, 14);
- ``epoch_time.csv`` and ``epoch_time/<sweep>.png`` per sweep that varies the intra-op threads, or, with
  multi-label runs, the local batch size (:mod:`analysis.epoch_time`; Figs. 5-6, repeats as Fig. 8);
- ``val_loss/<sweep>.png`` per sweep with completed multi-label runs that recorded a validation loss
  (:mod:`analysis.val_loss`; Figs. 4, 11, 12).

Results holding none of these sweeps get none of these files.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.util.atomic import write_atomic

from .auroc import caption, markdown, per_class_auroc, plot_auroc
from .differences import settings
from .epoch_time import epoch_time_table, plot_epoch_time
from .records import LoadedRecords
from .tables import SWEEP
from .val_loss import plot_val_loss

AUROC_DIR = "auroc"
EPOCH_TIME_DIR = "epoch_time"
VAL_LOSS_DIR = "val_loss"

Task = tuple  # (a module-level function returning (paths, not-drawn reasons), its picklable arguments...)


def write_chexnet_tables(loaded: LoadedRecords, out: Path) -> list[Path]:
    """Write ``out/auroc_per_class.csv`` and ``.md`` (:func:`analysis.auroc.per_class_auroc`; the Markdown
    under a caption counting the undefined AUROCs) when some run has per-class AUROCs, and
    ``out/epoch_time.csv`` (:func:`analysis.epoch_time.epoch_time_table`) when some sweep is timed, atomically;
    returns the paths written. Raises ``OSError`` if unwritable."""
    files = []
    table, classes = per_class_auroc(loaded)
    if not table.empty:
        files += [write_atomic(out / "auroc_per_class.csv", table.to_csv(index=False)),
                  write_atomic(out / "auroc_per_class.md", f"{caption(table, classes)}\n\n{markdown(table)}\n")]
    times = epoch_time_table(loaded)
    if not times.empty:
        files.append(write_atomic(out / "epoch_time.csv", times.to_csv(index=False)))
    return files


def chexnet_tasks(loaded: LoadedRecords, out: Path) -> list[Task]:
    """``analyze``'s tasks for the figures of the module docstring, one per figure, each given only its
    sweep's rows: ``auroc/<sweep>.png``, ``epoch_time/<sweep>.png`` and ``val_loss/<sweep>.png``."""
    table, classes = per_class_auroc(loaded)
    tasks: list[Task] = [(draw_auroc, rows, classes, sweep, out / AUROC_DIR / f"{sweep}.png")
                         for sweep, rows in table.groupby(SWEEP, sort=True)]
    tasks += [(draw_epoch_time, rows, sweep, out / EPOCH_TIME_DIR / f"{sweep}.png")
              for sweep, rows in epoch_time_table(loaded).groupby(SWEEP, sort=True)]
    runs, epochs = loaded.runs, loaded.epochs
    runs = runs[(runs["status"] == "completed") & runs["multi_label"].fillna(False).astype(bool)]
    with_loss = epochs[epochs["sweep"].isin(runs["sweep"].unique()) & epochs["val_loss"].notna()]
    drawn = runs[pd.MultiIndex.from_frame(runs[["sweep", "run_id"]]).isin(
        pd.MultiIndex.from_frame(with_loss[["sweep", "run_id"]]))]
    for sweep, group in settings(drawn).groupby(SWEEP, sort=True):
        rows = with_loss[(with_loss["sweep"] == sweep) & with_loss["run_id"].isin(group["run_id"])]
        tasks.append((draw_val_loss, rows, group, sweep, out / VAL_LOSS_DIR / f"{sweep}.png"))
    return tasks


def draw_auroc(rows: pd.DataFrame, classes: list[str], sweep: str, path: Path) -> tuple[list[Path], list[str]]:
    """:func:`analysis.auroc.plot_auroc` as an ``analyze`` task: ``([path], [])``."""
    return [plot_auroc(rows, classes, sweep, path)], []


def draw_epoch_time(rows: pd.DataFrame, sweep: str, path: Path) -> tuple[list[Path], list[str]]:
    """:func:`analysis.epoch_time.plot_epoch_time` as an ``analyze`` task: ``([path], [])``."""
    return [plot_epoch_time(rows, sweep, path)], []


def draw_val_loss(epochs: pd.DataFrame, runs: pd.DataFrame, sweep: str, path: Path) -> tuple[list[Path], list[str]]:
    """:func:`analysis.val_loss.plot_val_loss` as an ``analyze`` task: ``([path], [])``."""
    return [plot_val_loss(epochs, runs, sweep, path)], []
