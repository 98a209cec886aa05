"""The results history: every completed run's figures in one SQLite file per results folder,
``RESULTS/history.sqlite`` (the standard library's :mod:`sqlite3`), kept across sweeps so that a system's figures
can be followed over time (as ReFrame, from 4.7, keeps its results in SQLite).

**What is kept.** One row per completed run (table ``runs``), keyed by its sweep, run id, fingerprint and start
(``provenance.started_at``): adding the same record twice changes nothing, and a run run again from scratch (a new
start) is a new row beside the old one. Its figures are rows of ``figures`` (run, figure, value, unit): the
figures acceptance knows (:data:`analysis.reference.FIGURES`, with their units) that a run holds by itself
(:data:`HISTORY_FIGURES`; scaling efficiency, which depends on the other runs of its sweep, is left out). A run is
identified by where it ran (``hosts``: its ranks' host names; ``reference_system``: the system of the reference
file ``mcnn-bench accept`` first held it against, never changed after), its shape
(:func:`analysis.reference.shape_name` and its parts: source, image size, nodes, workers per node, local batch,
model, engine), when it finished (``finished_at``, UTC ISO 8601 with milliseconds; its start for records made
before the finish was recorded), its sweep, run id, commit, and its record's path relative to the results folder.
The records that could not be read are rows of ``problems`` (path and reason), replaced folder by folder at each
scan, so that ``mcnn-bench history`` lists them until they are mended or removed.

**When.** ``mcnn-bench analyze`` and ``mcnn-bench accept`` add the runs they read, ``mcnn-bench sweep`` those of
its sweep when its driver returns; ``mcnn-bench history rebuild`` recreates the file from the records (keeping the
reference systems, which no record holds).

**The file.** The schema's version is SQLite's ``PRAGMA user_version`` (:data:`SCHEMA_VERSION`). A file of a newer
version is refused (:class:`HistoryError`, naming both versions); one of an older version, which the records can
always recreate, is rebuilt from them. Every write is one transaction (``BEGIN IMMEDIATE``) under SQLite's own file
locks with a busy timeout (:data:`BUSY_TIMEOUT_SECONDS`), so two processes adding runs at once take turns; the
journal is SQLite's default rollback journal, not WAL, whose shared memory does not work on a network file system.
A rebuild writes a new file beside the old one and moves it over it (``os.replace``) while holding the old file's
write lock: a writer that waited for that lock sees the file replaced and writes into the new one.
"""

from __future__ import annotations

import datetime
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from benchmark.errors import McnnBenchError
from benchmark.record import RECORD_NAME
from benchmark.util.readable import TERMINAL_COLUMNS, cut, significant
from benchmark.util.times import iso_seconds, utc_iso

from .columns import (
    DATA_SOURCE,
    EFFICIENCY,
    ENGINE,
    FIGURE,
    FINGERPRINT,
    FINISHED_AT,
    GIT_COMMIT,
    HOSTS,
    IMAGE_SIZE,
    LOCAL_BATCH,
    MODEL,
    NODES,
    RECORD_PATH,
    REFERENCE_SYSTEM,
    RUN_ID,
    SHAPE,
    STARTED_AT,
    SWEEP,
    UNIT,
    VALUE,
    WORKERS_PER_NODE,
    label,
)
from .plots import MAX_SERIES, save_png
from .records import load_records
from .reference import FIGURES, SHAPE_COLUMNS, shape_key, shape_name

#: The history's file name in a results folder.
HISTORY_NAME = "history.sqlite"
#: The schema's version (``PRAGMA user_version``): 1, the first.
SCHEMA_VERSION = 1
#: Seconds a write waits for another process's transaction (SQLite's busy timeout) before it fails.
BUSY_TIMEOUT_SECONDS = 120.0
#: The figures kept per run: acceptance's, less scaling efficiency (it depends on the other runs of the sweep).
HISTORY_FIGURES: tuple[str, ...] = tuple(name for name in FIGURES if name != EFFICIENCY)
#: What identifies a run in the history (the ``runs`` table's key).
RUN_KEY = (SWEEP, RUN_ID, FINGERPRINT, STARTED_AT)
#: The columns of :func:`query`'s rows, in order: one row per run and figure.
HISTORY_COLUMNS = [
    FINISHED_AT,
    HOSTS,
    REFERENCE_SYSTEM,
    SHAPE,
    SWEEP,
    RUN_ID,
    FIGURE,
    VALUE,
    UNIT,
    GIT_COMMIT,
    *SHAPE_COLUMNS,
    STARTED_AT,
    FINGERPRINT,
    RECORD_PATH,
]
#: The ``runs`` table's columns, in order (``id`` first, the key's unique constraint last).
_RUN_TABLE_COLUMNS = [
    SWEEP,
    RUN_ID,
    FINGERPRINT,
    STARTED_AT,
    FINISHED_AT,
    HOSTS,
    REFERENCE_SYSTEM,
    SHAPE,
    *SHAPE_COLUMNS,
    GIT_COMMIT,
    RECORD_PATH,
]
_SCHEMA = (
    f"""CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        {SWEEP} TEXT NOT NULL, {RUN_ID} TEXT NOT NULL, {FINGERPRINT} TEXT NOT NULL, {STARTED_AT} TEXT NOT NULL,
        {FINISHED_AT} TEXT NOT NULL, {HOSTS} TEXT NOT NULL, {REFERENCE_SYSTEM} TEXT, {SHAPE} TEXT NOT NULL,
        {DATA_SOURCE} TEXT NOT NULL, {IMAGE_SIZE} TEXT NOT NULL, {NODES} INTEGER NOT NULL,
        {WORKERS_PER_NODE} INTEGER NOT NULL, {LOCAL_BATCH} INTEGER NOT NULL, {MODEL} TEXT NOT NULL,
        {ENGINE} TEXT NOT NULL, {GIT_COMMIT} TEXT, {RECORD_PATH} TEXT NOT NULL,
        UNIQUE ({", ".join(RUN_KEY)}))""",
    f"""CREATE TABLE figures (
        run INTEGER NOT NULL REFERENCES runs(id), {FIGURE} TEXT NOT NULL, {VALUE} REAL NOT NULL,
        {UNIT} TEXT NOT NULL, PRIMARY KEY (run, {FIGURE}))""",
    f"CREATE TABLE problems ({RECORD_PATH} TEXT PRIMARY KEY, reason TEXT NOT NULL)",
    f"CREATE INDEX runs_by_finish ON runs ({FINISHED_AT})",
    f"CREATE INDEX figures_by_name ON figures ({FIGURE})",
)


class HistoryError(McnnBenchError, ValueError):
    """A history file that cannot be used (missing, of a newer schema, not a history); the message names the file
    and what to do."""


@dataclass(frozen=True)
class Added:
    """What one addition did to the history at ``path``: ``added`` runs new to it, ``known`` runs it already held,
    and ``problems``, the records that could not be read, ``(path, reason)`` (kept in the history too)."""

    path: Path
    added: int
    known: int
    problems: list[tuple[Path, str]]

    def summary(self) -> str:
        """One line for a terminal: ``history: 3 run(s) added to PATH (12 already there), 1 record(s) could not be
        read``."""
        unreadable = f", {len(self.problems)} record(s) could not be read" if self.problems else ""
        return f"history: {self.added} run(s) added to {self.path} ({self.known} already there){unreadable}"


def history_path(results_dir: str | Path) -> Path:
    """The history file of the results folder ``results_dir``."""
    return Path(results_dir) / HISTORY_NAME


def results_dir_of(folder: str | Path, runs: pd.DataFrame, problems: list[tuple[Path, str]]) -> Path:
    """The results folder whose history the records read from ``folder`` belong to: ``folder``'s parent when
    ``folder`` is a sweep folder (every record at ``folder/RUN/record.json`` and every readable one of the sweep
    named as ``folder``), else ``folder`` itself (a results folder: ``RESULTS/SWEEP/RUN/record.json``).

    ``runs``: :attr:`analysis.records.LoadedRecords.runs` of ``folder``; ``problems``: its ``problems``."""
    folder = Path(folder)
    paths = [Path(path) for path in runs[RECORD_PATH]] + [path for path, _ in problems]
    in_runs = all(path.parent.parent == folder and path.name == RECORD_NAME for path in paths)
    of_sweep = bool((runs[SWEEP] == folder.name).all())
    return folder.parent if paths and in_runs and of_sweep else folder


def add(
    folder: str | Path, runs: pd.DataFrame, problems: list[tuple[Path, str]], reference_system: str | None = None
) -> Added:
    """Add the completed runs of ``runs`` (:attr:`analysis.records.LoadedRecords.runs`, read from ``folder``, a
    results or sweep folder) to the history of their results folder (:func:`results_dir_of`), creating it if need
    be, in one transaction; the runs it already holds are left as they are. ``problems`` (``LoadedRecords.problems``)
    replace the history's problems under ``folder``. ``reference_system``: the system the runs were accepted
    against, set on those that have none yet.

    Raises:
        HistoryError: the file is of a newer schema, or no SQLite file.
        sqlite3.OperationalError: another process held the file longer than :data:`BUSY_TIMEOUT_SECONDS`, or the
            disk is full.
        ValueError: the results folder holds no record at all when the file must be rebuilt (an older schema).
    """
    results_dir = results_dir_of(folder, runs, problems)
    rows = _run_rows(runs, results_dir)
    counts: list[int] = []

    def write(connection: sqlite3.Connection) -> None:
        counts.append(_insert(connection, rows, reference_system))
        _replace_problems(connection, results_dir, Path(folder), problems)

    path = _write(results_dir, write)
    return Added(path, counts[-1], len(rows) - counts[-1], list(problems))


def add_folder(folder: str | Path, reference_system: str | None = None) -> Added:
    """Read every record under ``folder`` (a results or sweep folder) and :func:`add` its completed runs.

    Raises:
        FileNotFoundError, ValueError: see :func:`analysis.records.load_records` (no record under ``folder``).
        HistoryError, sqlite3.OperationalError: see :func:`add`.
    """
    loaded = load_records(folder)
    return add(folder, loaded.runs, loaded.problems, reference_system)


def rebuild(results_dir: str | Path) -> Added:
    """Recreate ``results_dir``'s history from every record under it: a new file written beside the old one and
    moved over it (``os.replace``), keeping the old file's reference systems (the only thing no record holds; not
    when the old file cannot be read). The old file's write lock is held throughout, so that no addition is lost.

    Raises:
        FileNotFoundError, ValueError: see :func:`analysis.records.load_records` (no record under ``results_dir``).
        sqlite3.OperationalError: another process held the old file longer than :data:`BUSY_TIMEOUT_SECONDS`.
    """
    results_dir = Path(results_dir)
    path = history_path(results_dir)
    with _held(path) as old:
        loaded = load_records(results_dir)
        labels = _labels(old) if old is not None else []
        rows = _run_rows(loaded.runs, results_dir)
        tmp = path.with_name(f".{HISTORY_NAME}.{secrets.token_hex(6)}.tmp")
        try:
            with closing(_connect(tmp)) as new:
                new.execute("BEGIN IMMEDIATE")
                _create(new)
                _insert(new, rows, None)
                new.executemany(
                    f"UPDATE runs SET {REFERENCE_SYSTEM} = ? WHERE "
                    + " AND ".join(f"{column} = ?" for column in RUN_KEY),
                    labels,
                )
                _replace_problems(new, results_dir, results_dir, loaded.problems)
                new.execute("COMMIT")
            os.replace(tmp, path)
        finally:
            with suppress(OSError):
                tmp.unlink(missing_ok=True)
    return Added(path, len(rows), 0, loaded.problems)


def query(
    results_dir: str | Path,
    system: str | None = None,
    shape: str | None = None,
    figure: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> pd.DataFrame:
    """The history's rows, one per run and figure, columns :data:`HISTORY_COLUMNS` (``value`` in ``unit``), oldest
    run first, that match every filter given:

    - ``system``: one of the run's hosts, or the reference system it was accepted against;
    - ``shape``: text in the shape's name (``n1-w2-b8``, ``64x64``, ``ddp``: :func:`analysis.reference.shape_name`);
    - ``figure``: one of :data:`HISTORY_FIGURES`;
    - ``since``/``until``: ISO 8601 dates or times (UTC when they name no offset) the run finished at or after, at
      or before; a date alone covers its whole day.

    Raises:
        HistoryError: no history file in ``results_dir``, a newer schema, not a history; an unknown ``figure``.
        ValueError: ``since`` or ``until`` is no ISO 8601 date or time.
    """
    if figure is not None and figure not in HISTORY_FIGURES:
        raise HistoryError(f"figure {figure!r}: the history keeps {', '.join(HISTORY_FIGURES)}")
    conditions, values = [], []
    if system is not None:
        conditions.append(f"(r.{REFERENCE_SYSTEM} = ? OR instr(',' || r.{HOSTS} || ',', ',' || ? || ',') > 0)")
        values += [system, system]
    if shape is not None:
        conditions.append(f"instr(r.{SHAPE}, ?) > 0")
        values.append(shape)
    if figure is not None:
        conditions.append(f"f.{FIGURE} = ?")
        values.append(figure)
    if since is not None:
        conditions.append(f"r.{FINISHED_AT} >= ?")
        values.append(_bound(since, "since", end=False))
    if until is not None:
        conditions.append(f"r.{FINISHED_AT} <= ?")
        values.append(_bound(until, "until", end=True))
    selected = ", ".join(
        f"f.{column}" if column in (FIGURE, VALUE, UNIT) else f"r.{column}" for column in HISTORY_COLUMNS
    )
    sql = (
        f"SELECT {selected} FROM runs r JOIN figures f ON f.run = r.id"
        + (" WHERE " + " AND ".join(conditions) if conditions else "")
        + f" ORDER BY r.{FINISHED_AT}, r.{SHAPE}, r.{SWEEP}, r.{RUN_ID}, f.{FIGURE}"
    )
    with _reading(results_dir) as connection:
        rows = connection.execute(sql, values).fetchall()
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


def problems(results_dir: str | Path) -> list[tuple[Path, str]]:
    """The records the history could not read at its last look at their folder: ``(path, reason)``, paths as
    given to ``analyze``/``accept``/``sweep`` relative to the results folder. Raises as :func:`query`."""
    results_dir = Path(results_dir)
    with _reading(results_dir) as connection:
        rows = connection.execute(f"SELECT {RECORD_PATH}, reason FROM problems ORDER BY {RECORD_PATH}").fetchall()
    return [(results_dir / path, reason) for path, reason in rows]


def format_rows(rows: pd.DataFrame, width: int = TERMINAL_COLUMNS) -> str:
    """:func:`query`'s rows as a plain-text table at most ``width`` characters wide: finished (UTC, to the minute),
    system (the reference system, else the hosts), shape, sweep/run, figure (its display label), value, unit and
    commit (its first 8 characters, ``-dirty`` kept); a text cell too long for its share of the width ends in
    ``…``."""
    table = pd.DataFrame(
        {
            "finished (UTC)": rows[FINISHED_AT].str.slice(0, 16).str.replace("T", " "),
            "system": rows[REFERENCE_SYSTEM].fillna(rows[HOSTS]),
            "shape": rows[SHAPE],
            "sweep/run": rows[SWEEP] + "/" + rows[RUN_ID],
            "figure": rows[FIGURE].map(label),
            "value": rows[VALUE].map(significant),
            "unit": rows[UNIT],
            "commit": rows[GIT_COMMIT].map(_short_commit, na_action="ignore").fillna("-"),
        }
    )
    cells = {name: [name, *table[name].astype(str)] for name in table.columns}
    widths = {name: max(map(len, column)) for name, column in cells.items()}
    shrinkable = ["shape", "sweep/run", "system", "figure", "commit"]
    while sum(widths.values()) + 2 * (len(widths) - 1) > width and any(widths[n] > 8 for n in shrinkable):
        widest = max(shrinkable, key=lambda name: widths[name])
        widths[widest] -= 1
    right = {"value"}
    lines = [
        "  ".join(
            cut(cells[name][i], widths[name]).rjust(widths[name])
            if name in right
            else cut(cells[name][i], widths[name]).ljust(widths[name])
            for name in table.columns
        ).rstrip()
        for i in range(len(table) + 1)
    ]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def plot(rows: pd.DataFrame, figure: str, out: str | Path) -> Path:
    """One figure's history: every run's value against the time it finished (a dot), and a line per shape through
    each sweep's median (at its runs' median finish), for the :data:`analysis.plots.MAX_SERIES` shapes with the most
    runs (the legend says how many more were left out), to a PNG of 1200 x 600 pixels written atomically.
    ``rows``: :func:`query`'s rows (others than ``figure``'s are left out). Returns ``out``.

    Raises:
        HistoryError: ``rows`` hold no value of ``figure``.
        OSError: ``out`` cannot be written.
    """
    rows = rows[rows[FIGURE] == figure].assign(time=lambda frame: pd.to_datetime(frame[FINISHED_AT], format="ISO8601"))
    if rows.empty:
        raise HistoryError(f"no run in the history has {figure} under these filters: nothing to plot")
    shapes = rows[SHAPE].value_counts(sort=True)
    drawn = sorted(shapes.index[:MAX_SERIES])
    canvas = Figure(figsize=(10, 5), layout="constrained")
    axes = canvas.add_subplot()
    for index, name in enumerate(drawn):
        runs, color = rows[rows[SHAPE] == name], f"C{index % 10}"
        axes.plot(runs["time"], runs[VALUE], "o", color=color, alpha=0.35, markersize=4)
        sweeps = runs.groupby(SWEEP).agg(time=("time", "median"), value=(VALUE, "median")).sort_values("time")
        axes.plot(sweeps["time"], sweeps["value"], "s-", color=color, label=f"{name} ({len(runs)} runs)")
    locator = AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    unit, name = rows[UNIT].iloc[0], label(figure)
    axes.set_xlabel("when the run finished (UTC)")
    axes.set_ylabel(name if unit in name else f"{name} ({unit})")
    axes.grid(alpha=0.3)
    handles = axes.get_legend_handles_labels()[0]
    handles.append(Line2D([], [], marker="o", linestyle="", color="gray", alpha=0.35, label="a run"))
    handles.append(Line2D([], [], marker="s", linestyle="-", color="gray", label="a sweep's median"))
    left_out = len(shapes) - len(drawn)
    if left_out:
        handles.append(Line2D([], [], linestyle="", label=f"{left_out} more shape(s) not drawn: narrow with --shape"))
    axes.legend(handles=handles, title="shape", fontsize="small", loc="best")
    axes.set_title(f"{name} over time, one line per shape")
    return save_png(canvas, out, tight=False)


# --- writing ---------------------------------------------------------------------------------------------------


def _run_rows(runs: pd.DataFrame, results_dir: Path) -> list[tuple[tuple, list[tuple[str, float, str]]]]:
    """Per completed run of ``runs``: its ``runs`` table row (:data:`_RUN_TABLE_COLUMNS`, without the reference
    system) and its figures ``(figure, value, unit)``."""
    completed = runs[(runs["status"] == "completed") & runs[STARTED_AT].notna()]
    rows = []
    for run in completed.to_dict("records"):
        key = shape_key(*(run[column] for column in SHAPE_COLUMNS))
        started = _utc(run[STARTED_AT])
        finished = _utc(run[FINISHED_AT]) if pd.notna(run[FINISHED_AT]) else started
        values = {
            SWEEP: run[SWEEP],
            RUN_ID: run[RUN_ID],
            FINGERPRINT: run[FINGERPRINT],
            STARTED_AT: started,
            FINISHED_AT: finished,
            HOSTS: run[HOSTS],
            REFERENCE_SYSTEM: None,
            SHAPE: shape_name(key),
            **dict(zip(SHAPE_COLUMNS, key)),
            GIT_COMMIT: run[GIT_COMMIT] if pd.notna(run[GIT_COMMIT]) else None,
            RECORD_PATH: _relative(Path(run[RECORD_PATH]), results_dir),
        }
        figures = [(name, float(run[name]), FIGURES[name].unit) for name in HISTORY_FIGURES if pd.notna(run.get(name))]
        rows.append((tuple(values[column] for column in _RUN_TABLE_COLUMNS), figures))
    return rows


def _insert(
    connection: sqlite3.Connection, rows: list[tuple[tuple, list[tuple[str, float, str]]]], reference: str | None
) -> int:
    """Insert the runs of ``rows`` the history does not hold, with their figures, and set ``reference`` on those
    without a reference system; returns how many were new."""
    columns = ", ".join(_RUN_TABLE_COLUMNS)
    marks = ", ".join("?" * len(_RUN_TABLE_COLUMNS))
    key_at = [_RUN_TABLE_COLUMNS.index(column) for column in RUN_KEY]
    new = 0
    for values, figures in rows:
        cursor = connection.execute(
            f"INSERT INTO runs ({columns}) VALUES ({marks}) ON CONFLICT ({', '.join(RUN_KEY)}) DO NOTHING", values
        )
        if cursor.rowcount == 1:
            new += 1
            connection.executemany(
                f"INSERT INTO figures (run, {FIGURE}, {VALUE}, {UNIT}) VALUES (?, ?, ?, ?)",
                [(cursor.lastrowid, *figure) for figure in figures],
            )
        if reference is not None:
            connection.execute(
                f"UPDATE runs SET {REFERENCE_SYSTEM} = ? WHERE {REFERENCE_SYSTEM} IS NULL AND "
                + " AND ".join(f"{column} = ?" for column in RUN_KEY),
                (reference, *(values[i] for i in key_at)),
            )
    return new


def _replace_problems(
    connection: sqlite3.Connection, results_dir: Path, scanned: Path, found: list[tuple[Path, str]]
) -> None:
    """The history's problems under ``scanned`` replaced by ``found`` (what a scan of it found)."""
    prefix = _relative(scanned, results_dir)
    if prefix == ".":
        connection.execute("DELETE FROM problems")
    else:
        connection.execute(
            f"DELETE FROM problems WHERE {RECORD_PATH} = ? OR substr({RECORD_PATH}, 1, ?) = ?",
            (prefix, len(prefix) + 1, prefix + "/"),
        )
    connection.executemany(
        f"INSERT OR REPLACE INTO problems ({RECORD_PATH}, reason) VALUES (?, ?)",
        [(_relative(path, results_dir), " ".join(reason.split())) for path, reason in found],
    )


def _write(results_dir: Path, write: Callable[[sqlite3.Connection], None]) -> Path:
    """Run ``write`` in one write transaction on ``results_dir``'s history (created if missing, rebuilt when of an
    older schema); returns the file's path. A file replaced by a rebuild while this waited for its lock is
    reopened (see the module)."""
    path = history_path(results_dir)
    for _ in range(5):
        before = _inode(path)
        with closing(_connect(path)) as connection:
            _begin(connection, path)
            if _inode(path) != before:  # created or replaced meanwhile: this connection may hold the old file
                connection.execute("ROLLBACK")
                continue
            version = _version(connection, path)
            if version == 0:
                _create(connection)
            elif version < SCHEMA_VERSION:
                connection.execute("ROLLBACK")
                connection.close()
                rebuild(results_dir)
                continue
            write(connection)
            connection.execute("COMMIT")
            return path
    raise HistoryError(f"{path}: replaced by other processes at every try; run the command again")


@contextmanager
def _held(path: Path) -> Iterator[sqlite3.Connection | None]:
    """The history at ``path`` with its write lock held while the block runs, or None when there is no file or it
    is no history this version can read (its reference systems are then not kept)."""
    if not path.exists():
        yield None
        return
    with closing(_connect(path)) as connection:
        try:
            _begin(connection, path)
            readable = _version(connection, path) == SCHEMA_VERSION
        except HistoryError:
            readable = False
        try:
            yield connection if readable else None
        finally:
            if connection.in_transaction:
                connection.execute("ROLLBACK")


@contextmanager
def _reading(results_dir: str | Path) -> Iterator[sqlite3.Connection]:
    """``results_dir``'s history, opened to read (rebuilt first when of an older schema)."""
    path = history_path(results_dir)
    if not path.is_file():
        raise HistoryError(
            f"{path}: no history yet; `mcnn-bench analyze`, `accept` and `sweep` make it, or "
            f"`mcnn-bench history rebuild {results_dir}` from the records"
        )
    with closing(_connect(path)) as connection:
        version = _version(connection, path)
    if version < SCHEMA_VERSION:
        rebuild(results_dir)
    with closing(_connect(path)) as connection:
        yield connection


def _connect(path: Path) -> sqlite3.Connection:
    """A connection to ``path`` in autocommit mode (transactions are begun explicitly), with the busy timeout."""
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


def _begin(connection: sqlite3.Connection, path: Path) -> None:
    """Begin a write transaction (waiting for another's, up to the busy timeout); :class:`HistoryError` for a file
    that is no SQLite database."""
    try:
        connection.execute("BEGIN IMMEDIATE")
    except sqlite3.DatabaseError as exc:
        raise _not_sqlite(exc, path) from exc


def _not_sqlite(exc: sqlite3.DatabaseError, path: Path) -> Exception:
    """The error to raise for ``exc``: itself when the file is locked (busy), else a :class:`HistoryError`."""
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return exc
    return HistoryError(
        f"{path}: not a history file ({exc}): move it away, or run `mcnn-bench history rebuild {path.parent}`"
    )


def _version(connection: sqlite3.Connection, path: Path) -> int:
    """The schema version of the history at ``path``: 0 for an empty file; raises :class:`HistoryError` for a newer
    version or a file that is no SQLite database."""
    try:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        tables = connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise _not_sqlite(exc, path) from exc
    if version > SCHEMA_VERSION:
        raise HistoryError(
            f"{path}: history schema version {version}, written by a newer mcnn-bench (this one reads up to "
            f"version {SCHEMA_VERSION}): use that version, or `mcnn-bench history rebuild {path.parent}` to recreate "
            "it from the records in this version"
        )
    if version == 0 and tables:
        return -1  # tables without a version: older than the first schema, rebuilt
    return version


def _create(connection: sqlite3.Connection) -> None:
    """The schema, in the open transaction."""
    for statement in _SCHEMA:
        connection.execute(statement)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _labels(connection: sqlite3.Connection) -> list[tuple]:
    """Every ``(reference system, *run key)`` of the history."""
    return connection.execute(
        f"SELECT {REFERENCE_SYSTEM}, {', '.join(RUN_KEY)} FROM runs WHERE {REFERENCE_SYSTEM} IS NOT NULL"
    ).fetchall()


def _inode(path: Path) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino


def _relative(path: Path, results_dir: Path) -> str:
    """``path`` relative to ``results_dir`` (POSIX), or absolute when it lies outside."""
    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(results_dir))
    return Path(os.path.abspath(path)).as_posix() if relative.startswith("..") else Path(relative).as_posix()


def _utc(text: str) -> str:
    """An ISO 8601 time with an offset as the records write it: UTC with milliseconds (so that text order is
    time order)."""
    return utc_iso(iso_seconds(text))


def _bound(text: str, name: str, end: bool) -> str:
    """A ``since``/``until`` filter as :func:`_utc` text: a date alone is its first millisecond, or with ``end``
    its last; a time without an offset is UTC."""
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name}: {text!r} is no ISO 8601 date or time (2026-11-22, 2026-11-22T10:30)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    if end and len(text) == len("2026-11-22"):
        moment += datetime.timedelta(days=1, milliseconds=-1)
    return utc_iso(moment.timestamp())


def _short_commit(commit: str) -> str:
    """A commit as :func:`benchmark.util.provenance.git_commit` gives it, shortened to 8 characters, ``-dirty``
    (a work tree with changes) kept."""
    return commit[:8] + ("-dirty" if commit.endswith("-dirty") else "")
