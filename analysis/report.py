"""The two entry points of ``mcnn-bench analyze``: ``analyze()`` writes every table and figure for a
results folder; ``format_summary()`` renders what it did for a terminal."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import registry
from .columns import (
    IMAGES_PER_SECOND_RATIO,
    NODES,
    OUR_IMAGES_PER_SECOND,
    OUR_RUNS,
    OUR_TTT,
    OUR_WORKLOAD,
    PAPER_IMAGES_PER_SECOND,
    PAPER_TTT,
    TTT_RATIO,
)
from .compare import markdown as compare_markdown
from .compare import table1_vs_paper
from .outputs import FigureOutput
from .records import LoadedRecords, default_jobs, load_records
from .report_html import write_report
from .tables import table1, table1_terminal

ANALYSIS_DIR = "analysis"
#: Rows of Table 1 that ``format_summary`` prints (``table1.md`` has every run).
SUMMARY_ROWS = 40
#: Completed runs from which ``analyze`` draws its figures in several processes (below, one is faster).
PARALLEL_FROM = 64
#: What ``analyze(compare=...)`` can hold the runs against.
COMPARISONS = ("paper",)
#: The ``on_request`` of the per-run curves (:class:`analysis.plots.RunCurves`).
PER_RUN_CURVES = "per_run_curves"
#: The columns of the comparison that ``format_summary`` prints (the files have them all).
_SUMMARY_COMPARISON = [
    NODES,
    OUR_RUNS,
    OUR_IMAGES_PER_SECOND,
    PAPER_IMAGES_PER_SECOND,
    IMAGES_PER_SECOND_RATIO,
    OUR_TTT,
    PAPER_TTT,
    TTT_RATIO,
    OUR_WORKLOAD,
]


@dataclass(frozen=True)
class AnalysisOutputs:
    """What ``analyze`` wrote.

    ``out_dir``: the output folder. ``files``: every file written, in writing order. ``table1``: the
    Table 1 DataFrame (``tables.table1``). ``problems``: ``(path, reason)`` per record that was skipped
    (malformed, unreadable, not a file, too large; see :func:`analysis.records.load_records`). ``skipped``:
    figures not drawn, each ``"<files>: <reason>"``. ``report``: the HTML report
    (:func:`analysis.report_html.write_report`). ``comparison``: with
    ``compare="paper"``, ``compare.table1_vs_paper`` (else None). ``seconds``: wall seconds per phase,
    ``load`` (reading and validating the records), ``tables`` (the tables and comparison files),
    ``plots`` (the summary figures), ``curves`` (the figures per sweep, and per run with ``per_run_curves``) and
    ``report`` (the HTML report);
    when figures are drawn in parallel, ``plots`` ends when the last summary figure is written and ``curves``
    counts the rest. ``per_run_curves``: the per-run PNGs among ``files`` (with ``per_run_curves=True``). ``runs``:
    the run table the outputs were made from (:attr:`analysis.records.LoadedRecords.runs`).
    """

    out_dir: Path
    files: list[Path]
    table1: pd.DataFrame
    problems: list[tuple[Path, str]]
    skipped: list[str]
    report: Path
    comparison: pd.DataFrame | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    per_run_curves: list[Path] = field(default_factory=list)
    runs: pd.DataFrame = field(default_factory=pd.DataFrame)


def analyze(
    results_dir: str | Path,
    out_dir: str | Path | None = None,
    compare: str | None = None,
    per_run_curves: bool = False,
    jobs: int | None = None,
) -> AnalysisOutputs:
    """Analyse every ``record.json`` under ``results_dir`` and write the results to ``out_dir``.

    ``out_dir`` defaults to ``results_dir / "analysis"``. Writes every table of
    :data:`analysis.registry.TABLES`, then draws every figure of :data:`analysis.registry.FIGURES` (both listed
    below), each file atomically (temporary file in the same folder, then ``os.replace``); the outputs marked
    "on request" only with ``compare="paper"`` or ``per_run_curves``. A figure is drawn in parts (per sweep or
    per run where it is a file per sweep or run); a part that cannot be drawn is listed, with the reason, in
    ``skipped``. Every figure keeps its size and legend bounded whatever the number of runs. Records that cannot
    be used are skipped and returned in ``problems``.

    ``jobs``: processes for loading many records and drawing the figures (default
    :func:`analysis.records.default_jobs`); with ``PARALLEL_FROM`` completed runs or more, or with
    ``per_run_curves``, the figures are drawn in a process pool. Raises ``FileNotFoundError`` /
    ``ValueError`` (naming the path) if ``results_dir`` is missing or holds no record, ``ValueError`` for an
    unknown ``compare``, ``OSError`` if an output cannot be written.
    """
    if compare is not None and compare not in COMPARISONS:
        raise ValueError(f"compare must be one of {', '.join(COMPARISONS)}, got {compare!r}")
    jobs = jobs or default_jobs()
    results_dir = Path(results_dir)
    out = results_dir / ANALYSIS_DIR if out_dir is None else Path(out_dir)
    requested = {None, *(name for name, asked in (("compare", compare), (PER_RUN_CURVES, per_run_curves)) if asked)}
    started = time.perf_counter()
    loaded = load_records(results_dir, jobs)
    loaded_at = time.perf_counter()
    tables = {table.name: table.write(loaded, out) for table in registry.TABLES if table.on_request in requested}
    files = [path for paths in tables.values() for path in paths]
    comparison = table1_vs_paper(loaded.runs) if compare == "paper" else None
    tables_at = time.perf_counter()
    summary: list[tuple[FigureOutput, LoadedRecords]] = []
    rest: list[tuple[FigureOutput, LoadedRecords]] = []
    skipped: list[str] = []
    for figure in registry.FIGURES:
        if figure.on_request not in requested:
            continue
        for part in figure.parts(loaded):
            reason = figure.unavailable(part)
            if reason:
                skipped.append(f"{_files_of(figure, part)}: {reason}")
            else:
                (summary if figure.summary else rest).append((figure, part))
    completed = int((loaded.runs["status"] == "completed").sum())
    parallel = jobs > 1 and (completed >= PARALLEL_FROM or (per_run_curves and len(rest) > 1))
    with _pool(jobs) if parallel else _InProcess() as pool:
        first = [(figure, pool.submit(figure.draw, part, out)) for figure, part in summary]
        then = [(figure, pool.submit(figure.draw, part, out)) for figure, part in rest]
        drawn = [(figure, future.result()) for figure, future in first]
        plots_at = time.perf_counter()
        drawn += [(figure, future.result()) for figure, future in then]
    done_at = time.perf_counter()
    files += [path for _, paths in drawn for path in paths]
    figures: dict[str, list[Path]] = {}
    for figure, paths in drawn:
        figures.setdefault(figure.name, []).extend(paths)
    notes = [f"not drawn: {note}" for note in skipped]
    if loaded.problems:
        notes.append(skipped_summary(loaded.problems) + " (analyze prints each with its reason)")
    table = table1(loaded.runs)
    report = write_report(loaded, table, results_dir, out, tables, figures, notes)
    per_run = [path for figure, paths in drawn if figure.on_request == PER_RUN_CURVES for path in paths]
    seconds = {
        "load": loaded_at - started,
        "tables": tables_at - loaded_at,
        "plots": plots_at - tables_at,
        "curves": done_at - plots_at,
        "report": time.perf_counter() - done_at,
    }
    return AnalysisOutputs(
        out, files, table, loaded.problems, skipped, report, comparison, seconds, per_run, loaded.runs
    )


def _files_of(figure: FigureOutput, part: LoadedRecords) -> str:
    """The files of ``figure`` for ``part``: ``<sweep>`` named when the part holds one sweep."""
    sweeps = part.runs["sweep"].unique()
    return figure.files.replace("<sweep>", str(sweeps[0])) if len(sweeps) == 1 else figure.files


def _outputs_doc() -> str:
    """The outputs of :data:`analysis.registry` as lines of ``analyze``'s docstring."""
    lines = [
        f"    - ``{output.files}`` ({output.kind}"
        + (f", on request: ``{output.on_request}``" if output.on_request else "")
        + f"): {output.description}."
        for output in registry.describe_outputs()
    ]
    return "\n    Outputs (:func:`analysis.registry.describe_outputs`):\n\n" + "\n".join(lines) + "\n"


if analyze.__doc__:  # None under python -OO
    analyze.__doc__ += _outputs_doc()


def format_summary(outputs: AnalysisOutputs) -> str:
    """A terminal summary of ``analyze``'s outputs: Table 1 as Markdown (its first ``SUMMARY_ROWS`` rows;
    ``table1.md`` has them all), where the files are (the per-run curves counted, not listed), figures not
    drawn, and the records skipped (``"skipped N records: ..."``, :func:`skipped_summary`), one line each
    with path and reason."""
    shown = outputs.table1.head(SUMMARY_ROWS)
    more = len(outputs.table1) - len(shown)
    lines = [
        "Table 1 (Datta et al. 2019): TTT = time to reach the target validation top-1 (top-5: the top-5 target)",
        "",
        table1_terminal(shown),
        *([f"... {more} more rows in table1.md"] if more else []),
        "",
    ]
    if outputs.comparison is not None:
        lines += [
            "Table 1, ours vs Datta et al. 2019 (table1_vs_paper.md has the differences):",
            "",
            compare_markdown(outputs.comparison[_SUMMARY_COMPARISON]),
            "",
        ]
    tables = sum(path.suffix in (".csv", ".md") for path in outputs.files)
    lines.append(
        f"{len(outputs.files)} files in {outputs.out_dir} ({tables} tables as CSV and Markdown, "
        f"{len(outputs.files) - tables} figures as PNG, {len(outputs.per_run_curves)} of them per-run curves)"
    )
    lines.append(f"report: {outputs.report}")
    lines += [f"not drawn: {note}" for note in outputs.skipped]
    lines.append(skipped_summary(outputs.problems))
    lines += [f"  {path}: {_one_line(reason)}" for path, reason in outputs.problems]
    return "\n".join(lines)


def skipped_summary(problems: list[tuple[Path, str]]) -> str:
    """The line before the skipped records: ``"skipped 3 records: 1 malformed, 1 unreadable, 1 too large"``
    (each kind counted by its reason: too large, not a file, unreadable, duplicate, malformed), or ``"no
    records skipped"``."""
    if not problems:
        return "no records skipped"
    kinds: dict[str, int] = {}
    for _, reason in problems:
        kind = _kind(reason)
        kinds[kind] = kinds.get(kind, 0) + 1
    counts = ", ".join(f"{count} {kind}" for kind, count in kinds.items())
    return f"skipped {len(problems)} record{'s' if len(problems) != 1 else ''}: {counts}"


def _kind(reason: str) -> str:
    """The kind of a skipped record, from its reason (see :func:`skipped_summary`)."""
    if "MAX_RECORD_BYTES" in reason:
        return "too large"
    if reason.startswith(("a folder", "a symlink loop", "a broken symlink", "not a regular file", "folder cannot")):
        return "not a file"
    if reason.startswith("cannot read"):
        return "unreadable"
    if reason.startswith("duplicate run"):
        return "duplicate"
    return "malformed"


def _pool(jobs: int) -> Executor:
    """A pool of ``jobs`` processes, forked where the platform can (they inherit the loaded modules, so
    start in milliseconds; matplotlib's Agg figures are per-process), else spawned."""
    methods = multiprocessing.get_all_start_methods()
    return ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork" if "fork" in methods else None))


class _InProcess(Executor):
    """An executor that runs each task at once in this process (a small analysis is faster so)."""

    def submit(self, fn: Callable, /, *args, **kwargs):
        from concurrent.futures import Future

        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(exc)
        return future


def _one_line(text: str) -> str:
    return " ".join(text.split())
