"""The report a person reads: one self-contained HTML page per results folder (``report.html`` in the analysis
folder), written by ``mcnn-bench analyze`` and ``mcnn-bench report`` from what ``analyze`` wrote.

The page opens from disk with no network and no scripts: the figures are embedded as PNG data, the style is
inline, and long tables fold into ``<details>``. Its sections: a summary (sweeps, runs completed and failed with
their reasons, the best images/s and TTT per workload), Table 1, then one section per topic (:data:`SECTIONS`:
scaling, memory, the step breakdown, engines, learning curves, the papers), the acceptance verdicts the sweeps
hold (``acceptance.json``, written by ``mcnn-bench accept``; failures first) and the provenance of each sweep.
A table or figure of :mod:`analysis.registry` that no section names is shown under "More tables and figures",
so a new output reaches the page without an edit here. Laid out by a Jinja2 template
(``analysis/templates/report.html.j2``), autoescaped.

It stays a page at any scale: Table 1 pools its runs per shape beyond :data:`MAX_TABLE_ROWS` runs, other tables
show their first :data:`MAX_TABLE_ROWS` rows (the CSV files have them all), and at most :data:`MAX_EMBEDDED`
figures of one output (one per sweep) are embedded, the rest linked.
"""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from benchmark.util.atomic import write_atomic
from benchmark.util.readable import significant

from . import registry
from .columns import (
    BEST_IMAGES_PER_SECOND,
    BEST_TOP1,
    BEST_TTT_MINUTES,
    COLLECTIVES,
    COLUMNS,
    COMPLETED_RUNS,
    CPU_MODEL,
    ENGINE,
    FAILED_RUNS,
    FINISHED_AT,
    FRAMEWORK,
    GIT_COMMIT,
    GLOBAL_BATCH,
    HOSTS,
    IMAGES_PER_SECOND,
    LOGICAL_CPUS,
    NODES,
    RUNS,
    SOFTWARE,
    STARTED_AT,
    SWEEP,
    SWEEPS,
    TTT_MINUTES,
    WORKERS_PER_NODE,
    WORKLOAD,
    read_csv,
)
from .markdown import is_number
from .people import count, fit, people_cells
from .records import LoadedRecords
from .tables import SECONDS_PER_MINUTE, TABLE1_HOISTED, TABLE1_SHOWN, workload

REPORT_NAME = "report.html"
#: Rows a table shows on the page; Table 1 pools its runs per shape beyond this many.
MAX_TABLE_ROWS = 200
#: Sweeps the summary shows one by one (beyond, a row per workload), and failed runs named per reason.
MAX_SUMMARY_SWEEPS = 12
MAX_FAILED_NAMED = 5
#: Text cells longer than this many characters wrap; shorter ones stay on one line.
WRAP_FROM = 32
#: Figures of one output (one file per sweep) embedded in the page; the rest are counted.
MAX_EMBEDDED = 12
#: Acceptance reports (``mcnn-bench accept``) the page looks for in each sweep's folder.
ACCEPTANCE_FILE = "acceptance.json"
_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("analysis", "templates"),
    autoescape=jinja2.select_autoescape(default=True),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Section:
    """One topic of the page: its ``title``, a sentence that says what it shows (``intro``), and the
    :mod:`analysis.registry` outputs it holds by name (``tables``, ``figures``), in order."""

    title: str
    intro: str
    tables: tuple[str, ...] = ()
    figures: tuple[str, ...] = ()


#: The topics after Table 1, in page order; an output none of them names goes under "More tables and figures".
SECTIONS = [
    Section(
        "Scaling and efficiency",
        "Global images/s over the workers and nodes, with the speedup and scaling efficiency against each sweep's "
        "smallest run (Datta et al. 2019, Figs. 8 and 10).",
        ("scaling", "node_scaling"),
        ("throughput", "scaling_efficiency", "fig8_speedup", "fig10_scaling_efficiency"),
    ),
    Section(
        "Memory against the analytic bound",
        "Peak resident memory per worker beside the analytic lower bound (weights, gradients, optimizer state and "
        "activations; Datta et al. 2019, Figs. 2 and 5).",
        ("memory",),
        ("fig2_activations", "fig5_batch_size"),
    ),
    Section(
        "Where a step's time goes",
        "Each run's sampled steps split into compute, the gradient allreduce, the optimizer update, input wait and "
        "host time.",
        ("step_breakdown",),
        ("step_breakdown",),
    ),
    Section(
        "Engines side by side",
        "The same shapes trained by each engine: images/s and memory per engine.",
        ("engines",),
        ("engines",),
    ),
    Section(
        "Learning curves",
        "Validation accuracy, learning rate and loss per epoch (Datta et al. 2019, Figs. 7 and 9).",
        ("epoch_time",),
        ("curves", "fig7_training_curves", "fig9_top1_lr", "val_loss", "epoch_time"),
    ),
    Section(
        "Against the papers",
        "Our runs beside the published numbers (asked for with --compare paper).",
        ("vs_paper",),
    ),
]
#: Table 1 pooled per shape (beyond ``MAX_TABLE_ROWS`` runs).
_SHAPE = [SWEEP, NODES, WORKERS_PER_NODE, GLOBAL_BATCH, ENGINE, WORKLOAD]
_PROVENANCE = [ENGINE, HOSTS, CPU_MODEL, LOGICAL_CPUS, FRAMEWORK, COLLECTIVES, SOFTWARE, GIT_COMMIT]


@dataclass
class Table:
    """A table on the page: ``title``, ``headers``, ``rows`` (text), which columns are ``numeric``
    (right-aligned) and which ``wrap`` (long text; the others stay on one line), and a ``note`` (what every row
    shares, rows left out)."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    numeric: list[bool]
    wrap: list[bool]
    note: str = ""


@dataclass(frozen=True)
class Picture:
    """A figure on the page: ``title`` (its file, relative to the analysis folder), ``alt`` (what it shows) and
    ``source``, the PNG as a data URI."""

    title: str
    alt: str
    source: str


@dataclass
class Topic:
    """A section as the template draws it: its tables and figures, and ``more``: a line per output whose figures
    were not all embedded."""

    title: str
    intro: str
    tables: list[Table] = field(default_factory=list)
    pictures: list[Picture] = field(default_factory=list)
    more: list[str] = field(default_factory=list)


def write_report(
    records: LoadedRecords,
    table: pd.DataFrame,
    results_dir: Path,
    out_dir: Path,
    tables: dict[str, list[Path]],
    figures: dict[str, list[Path]],
    notes: Iterable[str] = (),
) -> Path:
    """Write ``out_dir / report.html`` (atomically) from ``records``, their Table 1 (``table``,
    :func:`analysis.tables.table1`) and the files ``analyze`` wrote into ``out_dir``: ``tables`` and ``figures``
    map each output's name (:mod:`analysis.registry`) to its files. ``notes``: lines for the summary (figures not
    drawn, records skipped). Returns the page's path. Raises ``OSError`` if a file cannot be read or the page
    cannot be written."""
    named = {name for section in SECTIONS for name in (*section.tables, *section.figures)}
    topics = [_topic(s.title, s.intro, s.tables, s.figures, tables, figures, out_dir) for s in SECTIONS]
    rest = _topic(
        "More tables and figures",
        "Every other output of this analysis.",
        tuple(name for name in tables if name not in named and name != "table1"),
        tuple(name for name in figures if name not in named),
        tables,
        figures,
        out_dir,
    )
    page = _TEMPLATES.get_template("report.html.j2").render(
        title=f"mcnn-bench report: {_names(sorted(records.runs[SWEEP].unique()))}",
        results_dir=str(results_dir),
        made=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        summary=_summary(records.runs),
        failed=_failed(records.runs),
        notes=list(notes),
        table1=_table1(table, records.runs),
        topics=[topic for topic in [*topics, rest] if topic.tables or topic.pictures],
        acceptance=_acceptance(records.runs),
        provenance=_provenance(records.runs),
    )
    return write_atomic(out_dir / REPORT_NAME, page.encode())


def _names(sweeps: list[str], shown: int = 3) -> str:
    """``"a, b, c"``, or ``"a, b, c and 4 more sweeps"``."""
    more = len(sweeps) - shown
    return ", ".join(sweeps[:shown]) + (f" and {more} more sweeps" if more > 0 else "")


def _topic(
    title: str,
    intro: str,
    table_names: tuple[str, ...],
    figure_names: tuple[str, ...],
    tables: dict[str, list[Path]],
    figures: dict[str, list[Path]],
    out_dir: Path,
) -> Topic:
    topic = Topic(title, intro)
    descriptions = {output.name: output.description for output in registry.FIGURES}  # alt text and caption
    for name in table_names:
        topic.tables += [_csv_table(path, out_dir) for path in tables.get(name, []) if path.suffix == ".csv"]
    for name in figure_names:
        paths = figures.get(name, [])
        for path in paths[:MAX_EMBEDDED]:
            topic.pictures.append(Picture(str(path.relative_to(out_dir)), descriptions[name], _data_uri(path)))
        if len(paths) > MAX_EMBEDDED:
            folder = paths[MAX_EMBEDDED].parent.relative_to(out_dir)
            topic.more.append(f"{len(paths) - MAX_EMBEDDED} more figures of this kind in {folder}/ (not embedded)")
    return topic


def _csv_table(path: Path, out_dir: Path) -> Table:
    """A CSV that ``analyze`` wrote, for people: its first :data:`MAX_TABLE_ROWS` rows (columns named by the data,
    such as the per-class AUROC's classes, keep their names)."""
    frame = read_csv(path)
    shown = frame.head(MAX_TABLE_ROWS)
    cells = people_cells(shown, verbatim=[name for name in frame.columns if name not in COLUMNS])
    more = len(frame) - len(shown)
    return _as_table(str(path.relative_to(out_dir)), shown, cells, f"{more} more rows in {path.name}" if more else "")


def _as_table(title: str, frame: pd.DataFrame, cells: pd.DataFrame, note: str = "") -> Table:
    """A :class:`Table` of ``cells`` (:func:`analysis.people.people_cells` of ``frame``): numbers right-aligned,
    text longer than :data:`WRAP_FROM` characters wrapped."""
    numeric = [is_number(frame[name]) for name in frame]
    wrap = [bool(len(cells)) and cells[title].str.len().max() > WRAP_FROM for title in cells.columns]
    return Table(title, list(cells.columns), cells.values.tolist(), numeric, wrap, note)


def _table1(table: pd.DataFrame, runs: pd.DataFrame) -> Table:
    """Table 1 (``table``, of the run table ``runs``), a row per run, or pooled per shape (runs, completed, median
    images/s and TTT, best top-1) beyond :data:`MAX_TABLE_ROWS` runs."""
    if len(table) <= MAX_TABLE_ROWS:
        fitted = fit(table, TABLE1_SHOWN, None, TABLE1_HOISTED)
        return _as_table("table1.csv", fitted.table, people_cells(fitted.table), fitted.shared)
    pooled = (
        _with_workload(runs)
        .groupby(_SHAPE, dropna=False)
        .agg(
            **{
                RUNS: ("run_id", "size"),
                COMPLETED_RUNS: ("status", _count("completed")),
                IMAGES_PER_SECOND: (IMAGES_PER_SECOND, "median"),
                TTT_MINUTES: (TTT_MINUTES, "median"),
                BEST_TOP1: (BEST_TOP1, "max"),
            }
        )
        .reset_index()
    )
    return _as_table(
        f"table1.csv, pooled per shape ({len(table)} runs; medians over each shape's runs)",
        pooled,
        people_cells(pooled),
    )


def _with_workload(runs: pd.DataFrame) -> pd.DataFrame:
    """The run table with each run's workload and TTT in minutes, as Table 1 shows them, for pooling."""
    return runs.assign(**{WORKLOAD: workload(runs), TTT_MINUTES: runs["ttt_seconds"] / SECONDS_PER_MINUTE})


def _count(status: str) -> Callable[[pd.Series], int]:
    """An aggregation: how many runs of a group have ``status``."""
    return lambda statuses: int((statuses == status).sum())


def _summary(runs: pd.DataFrame) -> Table:
    """Per sweep and workload (per workload, counting the sweeps, beyond :data:`MAX_SUMMARY_SWEEPS` sweeps): runs,
    completed, failed, the best images/s and the shortest TTT."""
    frame = _with_workload(runs)
    by_sweep = frame[SWEEP].nunique() <= MAX_SUMMARY_SWEEPS
    summary = (
        frame.groupby([SWEEP, WORKLOAD] if by_sweep else [WORKLOAD], dropna=False)
        .agg(
            **({} if by_sweep else {SWEEPS: (SWEEP, "nunique")}),
            **{
                RUNS: ("run_id", "size"),
                COMPLETED_RUNS: ("status", _count("completed")),
                FAILED_RUNS: ("status", _count("failed")),
                BEST_IMAGES_PER_SECOND: (IMAGES_PER_SECOND, "max"),
                BEST_TTT_MINUTES: (TTT_MINUTES, "min"),
            },
        )
        .reset_index()
    )
    return _as_table("", summary, people_cells(summary))


@dataclass(frozen=True)
class Failure:
    """The failed runs that share a ``reason``: how many (``count``) and the first :data:`MAX_FAILED_NAMED` of
    them as ``sweep/run_id`` (``runs``)."""

    reason: str
    count: int
    runs: list[str]


def _failed(runs: pd.DataFrame) -> list[Failure]:
    """The failed runs, grouped by their reason, the most frequent first."""
    failed = runs[runs["status"] == "failed"]
    reasons = failed["failure_reason"].fillna("no reason recorded").astype(str)
    named = failed[SWEEP].astype(str) + "/" + failed["run_id"].astype(str)
    groups = named.groupby(reasons, sort=False).agg(list)
    return sorted(
        (Failure(reason, len(names), names[:MAX_FAILED_NAMED]) for reason, names in groups.items()),
        key=lambda failure: -failure.count,
    )


@dataclass(frozen=True)
class Acceptance:
    """A sweep's acceptance report (``mcnn-bench accept``) on the page: the sweep, the file, and either the
    reference ``system``, the overall ``verdict``, its checks against the reference (``checks``), for a fleet its
    checks against the fleet (``fleet``), the ``outliers`` on the bad side and the fleet's figures
    (``pictures``), or the ``problem`` reading it."""

    sweep: str
    path: str
    system: str = ""
    verdict: str = ""
    checks: Table | None = None
    fleet: Table | None = None
    outliers: list[str] = field(default_factory=list)
    pictures: list[Picture] = field(default_factory=list)
    problem: str = ""


#: The columns of a check against the reference, and of a node's check against its fleet, the page shows.
_CHECK_COLUMNS = ["shape", "node", "figure", "verdict", "n", "median", "reference", "low", "high", "unit", "note"]
_FLEET_COLUMNS = ["shape", "figure", "node", "verdict", "side", "value", "median", "z", "low", "high", "unit", "note"]
_COUNTS = {"n", "repeats", "nodes"}
_FIGURES = {"median", "reference", "low", "high", "value", "z"}


def _acceptance(runs: pd.DataFrame) -> list[Acceptance]:
    """Each sweep's acceptance report (``<sweep>/acceptance.json``): system, verdict and its checks as tables,
    failures (and a fleet's outliers on the bad side) first, with the fleet's figures. A report that cannot be
    read is shown as such."""
    reports: list[Acceptance] = []
    for path in sorted({Path(p).parent.parent / ACCEPTANCE_FILE for p in runs["path"]}):
        if not path.exists():
            continue
        try:
            data = json.loads(path.read_text())
            checks = pd.DataFrame(data["checks"])
            fleet = data.get("fleet") or {}
            fleet_checks = pd.DataFrame(fleet.get("checks", []))
            system, verdict = data["system"], "PASS" if data["passed"] else "FAIL"
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            reports.append(Acceptance(path.parent.name, str(path), problem=f"cannot be read ({exc})"))
            continue
        failed_first = checks.sort_values("verdict", key=lambda v: v == "PASS", kind="stable")
        pictures = [
            Picture(figure.name, "each node's value with the fleet's band; outliers marked", _data_uri(figure))
            for figure in sorted(path.parent.glob("fleet-*.png"))[:MAX_EMBEDDED]
        ]
        reports.append(
            Acceptance(
                path.parent.name,
                str(path),
                system,
                verdict,
                _checks_table(failed_first, _CHECK_COLUMNS),
                None if fleet_checks.empty else _checks_table(_outliers_first(fleet_checks), _FLEET_COLUMNS),
                [str(node) for node in fleet.get("outliers", [])],
                pictures,
            )
        )
    return reports


def _outliers_first(checks: pd.DataFrame) -> pd.DataFrame:
    """A fleet's checks, the outliers on the bad side first, then the other outliers."""
    bad = checks["side"].isin(["slower", "worse"]) & (checks["verdict"] == "OUTLIER")
    rank = (~bad).astype(int) + (checks["verdict"] != "OUTLIER").astype(int)
    return checks.assign(_rank=rank).sort_values("_rank", kind="stable").drop(columns="_rank")


def _checks_table(checks: pd.DataFrame, columns: list[str]) -> Table:
    """Checks (rows of ``acceptance.json``) as a table of ``columns`` (those they hold a value in)."""
    checks = checks[[name for name in columns if name in checks.columns and checks[name].notna().any()]]
    numeric = [name in _COUNTS | _FIGURES for name in checks.columns]
    shown_as = [count if name in _COUNTS else _number if name in _FIGURES else _text for name in checks.columns]
    rows = [[show(value) for show, value in zip(shown_as, row)] for row in checks.itertuples(index=False)]
    return Table("", list(checks.columns), rows, numeric, [name == "note" for name in checks.columns])


def _data_uri(path: Path) -> str:
    return f"data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}"


def _number(value) -> str:
    return "" if value is None or pd.isna(value) else significant(float(value))


def _text(value) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def _provenance(runs: pd.DataFrame) -> Table:
    """Per sweep: the distinct engines, hosts, CPU, framework and collectives, software and commits, and the
    first start and last end."""
    rows = []
    for sweep, group in runs.groupby(SWEEP, sort=True):
        row: dict[str, Any] = {SWEEP: sweep}
        for name in _PROVENANCE:
            row[name] = "; ".join(dict.fromkeys(str(v) for v in group[name].dropna())) or None
        row[STARTED_AT] = group[STARTED_AT].dropna().min() if group[STARTED_AT].notna().any() else None
        row[FINISHED_AT] = group[FINISHED_AT].dropna().max() if group[FINISHED_AT].notna().any() else None
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[SWEEP, *_PROVENANCE, STARTED_AT, FINISHED_AT])
    return _as_table("", frame, people_cells(frame))
