"""K-fold accuracy over every field of view, pooled from the per-field accuracies of the K runs of a
``data.folds = K`` sweep.

The runs (ids ending ``-f1`` to ``-fK``, :func:`slurm.spec.fold_ids`) each validated a different K-th of the
groups (fields, plates or compounds, ``data.split``), so together they validated every field once; their
per-field accuracies (the records' ``validation.per_field``, at each run's last epoch) make one estimate.

The estimate is the top-1 over every validated image of every field (the K runs' images pooled), at each
run's last epoch: choosing each fold's best epoch would select on the validation fields and flatter the
estimate. Its 95 % interval is a cluster bootstrap over fields (:func:`benchmark.train.metrics.bootstrap_interval`,
the method of the record's ``val_top1_ci``): fields, not images, are resampled, so the between-field spread
(one hard field at 0.60 among easy ones) is in the interval, and the images of one field, which are correlated,
are not counted as independent. A bootstrap rather than a t-interval over per-field accuracies because those
are bounded, skewed (many at 1.0, a few low) and of unequal size, and the pooled top-1 is a ratio of per-field
sums; the t-interval over the per-field mean is given beside it (``t_ci_low``/``t_ci_high``) for comparison.
The interval is over fields for the models trained: it leaves out how the K models would differ if retrained.

Outputs: ``folds.csv``/``folds.md`` (:class:`FoldsTable`) and ``folds/<sweep>.png``, the per-field accuracies
(:class:`FoldsFigure`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from benchmark.train.metrics import BOOTSTRAP_RESAMPLES, CI_LEVEL, bootstrap_interval
from benchmark.util.atomic import write_atomic

from .columns import RUN_ID, SWEEP, csv_text
from .markdown import markdown_table
from .outputs import FigureOutput, TableOutput
from .plots import CI_ALPHA, save_png
from .records import LoadedRecords

#: The folder of the per-field figures, one per sweep.
FOLDS_DIR = "folds"
#: Fields labelled by name on the figure's axis, at most; beyond, the axis counts them.
MAX_LABELLED_FIELDS = 40
_FOLD_SUFFIX = re.compile(r"-f\d+$")
#: The table's accuracies (fractions in the CSV, % in the Markdown).
ACCURACY_COLUMNS = [
    "kfold_top1",
    "kfold_top1_ci_low",
    "kfold_top1_ci_high",
    "field_mean_top1",
    "t_ci_low",
    "t_ci_high",
    "worst_field_top1",
]
#: The table's columns, in order.
TABLE_COLUMNS = [
    "sweep",
    "estimate",
    "split",
    "folds",
    "folds_done",
    "fields_validated",
    "validation_images",
    *ACCURACY_COLUMNS,
    "worst_field",
    "note",
]


@dataclass(frozen=True)
class FoldEstimate:
    """Top-1 pooled over fields (see the module): ``top1`` over every image, its cluster-bootstrap ``interval``
    over fields, the unweighted mean of the per-field top-1s with its t-interval, and the worst field."""

    fields: int
    images: int
    top1: float
    interval: tuple[float, float]
    field_mean: float
    t_interval: tuple[float, float]
    worst_top1: float
    worst_field: str


def estimate_id(run_id: str) -> str:
    """The K-fold estimate a run belongs to: its id without the ``-f<k>`` its sweep appended."""
    return _FOLD_SUFFIX.sub("", run_id)


def combine(fields: pd.DataFrame, seed: int = 0, level: float = CI_LEVEL) -> FoldEstimate:
    """One estimate from per-field outcomes: ``fields`` has a row per field with ``field``, ``field_images``
    and ``field_top1`` (a fraction of the field's images right).

    Raises:
        ValueError: no field with images.
    """
    fields = fields[fields["field_images"].fillna(0) > 0]
    if fields.empty:
        raise ValueError("no validated field with images to combine")
    images = fields["field_images"].to_numpy(dtype=np.int64)
    top1 = fields["field_top1"].to_numpy(dtype=np.float64)
    hits = np.rint(top1 * images).astype(np.int64)
    correct = np.concatenate([np.arange(n) < h for n, h in zip(images, hits)]).astype(np.float64)
    groups = np.repeat(np.arange(len(images)), images)
    interval = bootstrap_interval(correct, groups, BOOTSTRAP_RESAMPLES, seed, level)
    mean = float(top1.mean())
    if len(top1) > 1:
        half = stats.t.ppf((1 + level) / 2, len(top1) - 1) * top1.std(ddof=1) / np.sqrt(len(top1))
        t_interval = (max(0.0, mean - half), min(1.0, mean + half))
    else:
        t_interval = (float("nan"), float("nan"))
    worst = int(np.argmin(top1))
    return FoldEstimate(
        fields=len(images),
        images=int(images.sum()),
        top1=float(hits.sum() / images.sum()),
        interval=interval,
        field_mean=mean,
        t_interval=(float(t_interval[0]), float(t_interval[1])),
        worst_top1=float(top1[worst]),
        worst_field=str(fields["field"].iloc[worst]),
    )


def fold_fields(records: LoadedRecords) -> pd.DataFrame:
    """The per-field rows (``LoadedRecords.fields``) of the completed K-fold runs, each with its run's
    ``estimate`` (:func:`estimate_id`), ``split``, ``folds`` and ``fold``."""
    runs = records.runs
    runs = runs[runs["folds"].notna() & (runs["status"] == "completed")]
    info = runs[[SWEEP, RUN_ID, "split", "folds", "fold"]].assign(estimate=runs[RUN_ID].map(estimate_id))
    return records.fields.merge(info, on=[SWEEP, RUN_ID], how="inner")


def folds_table(records: LoadedRecords) -> pd.DataFrame:
    """A row per K-fold estimate (sweep, estimate): the pooled top-1 and its intervals (:func:`combine`), how
    many of the K folds it holds, and notes: folds missing, a field validated by more than one fold."""
    rows = []
    for (sweep, name), group in fold_fields(records).groupby([SWEEP, "estimate"], sort=True):
        folds = int(group["folds"].max())
        done = sorted(group["fold"].dropna().astype(int).unique())
        notes = []
        if len(done) < folds:
            missing = sorted(set(range(1, folds + 1)) - set(done))
            notes.append(f"fold(s) {', '.join(map(str, missing))} missing: not every field validated")
        repeated = group["field"].duplicated(keep=False)
        if repeated.any():
            notes.append(f"{group.loc[repeated, 'field'].nunique()} field(s) validated by more than one fold")
        found = combine(group)
        rows.append(
            {
                "sweep": sweep,
                "estimate": name,
                "split": " ".join(sorted(group["split"].unique())),
                "folds": folds,
                "folds_done": len(done),
                "fields_validated": found.fields,
                "validation_images": found.images,
                "kfold_top1": found.top1,
                "kfold_top1_ci_low": found.interval[0],
                "kfold_top1_ci_high": found.interval[1],
                "field_mean_top1": found.field_mean,
                "t_ci_low": found.t_interval[0],
                "t_ci_high": found.t_interval[1],
                "worst_field_top1": found.worst_top1,
                "worst_field": found.worst_field,
                "note": "; ".join(notes),
            }
        )
    return pd.DataFrame(rows, columns=TABLE_COLUMNS).astype({"folds": "Int64", "folds_done": "Int64"})


def folds_markdown(table: pd.DataFrame) -> str:
    """The table as Markdown, accuracies in %, under a caption saying what the interval is."""
    caption = (
        "K-fold top-1 over every validated field of view, at each fold's last epoch, by split (field, plate "
        f"or compound); {100 * CI_LEVEL:g} % interval: cluster bootstrap over fields ({BOOTSTRAP_RESAMPLES} "
        "resamples); t: t-interval of the mean of the per-field top-1s."
    )
    shown = markdown_table(table, {name: ".1f" for name in ACCURACY_COLUMNS}, percent=ACCURACY_COLUMNS)
    return f"{caption}\n\n{shown}\n"


def plot_fields(fields: pd.DataFrame, table: pd.DataFrame, sweep: str, path: str | Path) -> Path:
    """One sweep's per-field top-1, a panel per K-fold estimate: a point per field (sorted by top-1,
    coloured by the fold that validated it, sized by its images), the pooled top-1 as a line and its
    bootstrap interval as a band. Fields are named on the axis when there are at most
    :data:`MAX_LABELLED_FIELDS` of them. 10 inches (1200 px) wide. Returns ``path``."""
    estimates = list(table.itertuples(index=False))
    most = max(len(fields[fields["estimate"] == e.estimate]) for e in estimates)
    labelled = most <= MAX_LABELLED_FIELDS
    figure = Figure(figsize=(10, (4.6 if labelled else 3.6) * len(estimates)), layout="constrained")
    for index, estimate in enumerate(estimates):
        axes = figure.add_subplot(len(estimates), 1, index + 1)
        rows = fields[fields["estimate"] == estimate.estimate].sort_values(["field_top1", "field"])
        x = np.arange(len(rows))
        axes.axhspan(estimate.kfold_top1_ci_low, estimate.kfold_top1_ci_high, color="C0", alpha=CI_ALPHA, linewidth=0)
        axes.axhline(estimate.kfold_top1, color="C0", linewidth=1.5, label="K-fold top-1, all images")
        sizes = 20 + 60 * rows["field_images"] / max(1, rows["field_images"].max())
        for fold in sorted(rows["fold"].unique()):
            mask = (rows["fold"] == fold).to_numpy()
            axes.scatter(
                x[mask], rows["field_top1"][mask], s=sizes[mask], color=f"C{int(fold) % 9 + 1}", label=f"fold {fold}"
            )
        axes.set_ylim(min(0.0, rows["field_top1"].min()) - 0.02, 1.02)
        axes.set_ylabel("top-1 of the field")
        axes.grid(alpha=0.3)
        if labelled:
            axes.set_xticks(x, [_short(field) for field in rows["field"]], rotation=60, ha="right", fontsize="small")
        else:
            axes.set_xlabel(f"{len(rows)} fields of view, sorted by top-1")
        axes.set_title(
            f"{estimate.estimate} ({estimate.split} split, {estimate.folds_done} of {estimate.folds} folds): "
            f"top-1 {100 * estimate.kfold_top1:.1f} % [{100 * estimate.kfold_top1_ci_low:.1f}, "
            f"{100 * estimate.kfold_top1_ci_high:.1f}] over {estimate.fields_validated} fields",
            fontsize="medium",
        )
        axes.legend(
            loc="lower right", fontsize="small", title="band: 95 % bootstrap over fields", title_fontsize="small"
        )
    figure.suptitle(f"{sweep}: validation top-1 per field of view, K-fold")
    return save_png(figure, path, tight=False)


def _short(field: str) -> str:
    """A field id ``<plate>/<well>_<site>_<rest>.tif`` as ``<plate>/<well>_<site>`` (the rest is a hash)."""
    plate, _, name = field.partition("/")
    return f"{plate}/{'_'.join(name.split('_')[:2])}" if name else field


class FoldsTable(TableOutput):
    name = "folds"
    files = "folds.csv, folds.md"
    description = (
        "each K-fold estimate (data.folds): top-1 over every field of view with a cluster-bootstrap interval "
        "over fields, the per-field mean with its t-interval, the worst field, the split"
    )

    def write(self, records: LoadedRecords, out_dir: Path) -> list[Path]:
        table = folds_table(records)
        if table.empty:
            return []
        return [
            write_atomic(out_dir / "folds.csv", csv_text(table)),
            write_atomic(out_dir / "folds.md", folds_markdown(table)),
        ]


class FoldsFigure(FigureOutput):
    name = "folds"
    files = f"{FOLDS_DIR}/<sweep>.png"
    description = "each K-fold sweep's per-field top-1, coloured by fold, with the pooled estimate and its interval"
    summary = False

    def parts(self, records: LoadedRecords) -> list[LoadedRecords]:
        return records.by_sweep(sorted(fold_fields(records)[SWEEP].unique()))

    def draw(self, records: LoadedRecords, out_dir: Path) -> list[Path]:
        fields, table = fold_fields(records), folds_table(records)
        return [
            plot_fields(
                fields[fields[SWEEP] == sweep],
                table[table[SWEEP] == sweep],
                sweep,
                out_dir / FOLDS_DIR / f"{sweep}.png",
            )
            for sweep in sorted(table[SWEEP].unique())
        ]
