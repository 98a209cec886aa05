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

from benchmark.util.atomic import write_atomic
from .compare import (OUR_IMAGES_PER_SECOND, OUR_RUNS, OUR_TTT, OUR_WORKLOAD, PAPER_IMAGES_PER_SECOND, PAPER_TTT,
                      write_comparison)
from .compare import markdown as compare_markdown
from .breakdown import breakdown_task, write_breakdown_tables
from .chexnet import chexnet_tasks, write_chexnet_tables
from .figures import FIGURES, NoData, plot_sweep_curves
from .plots import plot_run_curves, plot_scaling_efficiency, plot_throughput
from .records import LoadedRecords, default_jobs, load_records
from .tables import (BEST_MEAN_AUROC, IMAGES_PER_SECOND, NODES, REASON, TTT_MINUTES, TTT_TOP5_MINUTES, memory_table,
                     node_scaling, scaling, table1)

ANALYSIS_DIR = "analysis"
CURVES_DIR = "curves"
#: Rows of Table 1 that ``format_summary`` prints (``table1.md`` has every run).
SUMMARY_ROWS = 40
#: Completed runs from which ``analyze`` draws its figures in several processes (below, one is faster).
PARALLEL_FROM = 64
#: Runs per task of ``--per-run-curves``.
RUNS_PER_TASK = 25
#: What ``analyze(compare=...)`` can hold the runs against.
COMPARISONS = ("paper",)
#: The columns of the comparison that ``format_summary`` prints (the files have them all).
_SUMMARY_COMPARISON = [NODES, OUR_RUNS, OUR_IMAGES_PER_SECOND, PAPER_IMAGES_PER_SECOND, OUR_TTT, PAPER_TTT,
                       OUR_WORKLOAD]


@dataclass(frozen=True)
class AnalysisOutputs:
    """What ``analyze`` wrote.

    ``out_dir``: the output folder. ``files``: every file written, in writing order. ``table1``: the
    Table 1 DataFrame (``tables.table1``). ``problems``: ``(path, reason)`` per malformed record that
    was skipped. ``skipped``: figures not drawn, each with the reason. ``comparison``: with
    ``compare="paper"``, ``compare.table1_vs_paper`` (else None). ``seconds``: wall seconds per phase,
    ``load`` (reading and validating the records), ``tables`` (the tables and comparison files),
    ``plots`` (the summary figures) and ``curves`` (the figures per sweep, and the learning curves per run with
    ``per_run_curves``); when figures are drawn in
    parallel, ``plots`` ends when the last summary figure is written and ``curves`` counts the rest. ``per_run_curves``: the per-run PNGs among ``files``
    (with ``per_run_curves=True``).
    """

    out_dir: Path
    files: list[Path]
    table1: pd.DataFrame
    problems: list[tuple[Path, str]]
    skipped: list[str]
    comparison: pd.DataFrame | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    per_run_curves: list[Path] = field(default_factory=list)


def analyze(results_dir: str | Path, out_dir: str | Path | None = None, compare: str | None = None,
            per_run_curves: bool = False, jobs: int | None = None) -> AnalysisOutputs:
    """Analyse every ``record.json`` under ``results_dir`` and write the results to ``out_dir``.

    ``out_dir`` defaults to ``results_dir / "analysis"``. Files, each written atomically (temporary
    file in the same folder, then ``os.replace``): ``table1.csv`` and ``table1.md`` (Datta et al. 2019,
    Table 1), ``scaling.csv`` (over workers), ``node_scaling.csv`` (over nodes), ``memory.csv``,
    ``throughput.png``, ``scaling_efficiency.png``, the paper's figures with its published points
    (:data:`analysis.figures.FIGURES`: ``fig2_activations.png`` ... ``fig10_scaling_efficiency.png``) and
    ``curves/<sweep>.png`` per sweep with a completed run that has epochs (small multiples of its runs,
    :func:`analysis.figures.plot_sweep_curves`). With ``per_run_curves``: also ``curves/<run_id>.png`` per
    completed run with epochs (``curves/<sweep>/<run_id>.png`` when the records span several sweeps, so
    equal run ids cannot overwrite each other). ``step_breakdown.csv``/``.md`` (a row per completed run with
    a step-time breakdown) and ``step_breakdown.png`` (stacked bars of the phases' shares, a bar per run or,
    beyond 40 runs, per shape of each workload, :mod:`analysis.breakdown`). For multi-label runs and thread
    sweeps (:mod:`analysis.chexnet`): ``auroc_per_class.csv``/``.md`` and ``auroc/<sweep>.png``,
    ``epoch_time.csv`` and ``epoch_time/<sweep>.png``, ``val_loss/<sweep>.png``. Every figure keeps its size and legend bounded whatever
    the number of runs. A figure that no run can feed is skipped and listed, with the reason, in
    ``skipped`` (the two scaling figures when no completed run has a throughput figure). With
    ``compare="paper"``: also ``table1_vs_paper.csv``/``.md`` and ``sections_vs_paper.csv``/``.md``
    (:mod:`analysis.compare`). Malformed records are skipped and returned in ``problems``.

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
    started = time.perf_counter()
    loaded = load_records(results_dir, jobs)
    loaded_at = time.perf_counter()
    table = table1(loaded.runs)
    scaling_table = scaling(loaded.runs)
    files = [
        write_atomic(out / "table1.csv", table.to_csv(index=False)),
        write_atomic(out / "table1.md", _markdown(table) + "\n"),
        write_atomic(out / "scaling.csv", scaling_table.to_csv(index=False)),
        write_atomic(out / "node_scaling.csv", node_scaling(loaded.runs).to_csv(index=False)),
        write_atomic(out / "memory.csv", memory_table(loaded.runs).to_csv(index=False)),
        *write_breakdown_tables(loaded.runs, out),
        *write_chexnet_tables(loaded, out),
    ]
    comparison = None
    if compare == "paper":
        compared, comparison = write_comparison(loaded.runs, out)
        files.extend(compared)
    tables_at = time.perf_counter()
    figures, curves = _figure_tasks(loaded, scaling_table, out), _curve_tasks(loaded, out / CURVES_DIR, per_run_curves)
    curves += chexnet_tasks(loaded, out)
    completed = int((loaded.runs["status"] == "completed").sum())
    parallel = jobs > 1 and (completed >= PARALLEL_FROM or (per_run_curves and len(curves) > 1))
    with _pool(jobs) if parallel else _InProcess() as pool:
        figure_futures = [pool.submit(*task) for task in figures]
        curve_futures = [pool.submit(*task) for task in curves]
        drawn = [future.result() for future in figure_futures]
        plots_at = time.perf_counter()
        drawn += [future.result() for future in curve_futures]
    done_at = time.perf_counter()
    skipped, per_run = [], []
    for task, (paths, reasons) in zip([*figures, *curves], drawn):
        files.extend(paths)
        skipped.extend(reasons)
        if task[0] is _draw_runs:
            per_run.extend(paths)
    seconds = {"load": loaded_at - started, "tables": tables_at - loaded_at, "plots": plots_at - tables_at,
               "curves": done_at - plots_at}
    return AnalysisOutputs(out, files, table, loaded.problems, skipped, comparison, seconds, per_run)


def format_summary(outputs: AnalysisOutputs) -> str:
    """A terminal summary of ``analyze``'s outputs: Table 1 as Markdown (its first ``SUMMARY_ROWS`` rows;
    ``table1.md`` has them all), where the files are (the per-run curves counted, not listed), figures not
    drawn, and the malformed records, one line each with path and reason."""
    shown = outputs.table1.head(SUMMARY_ROWS)
    more = len(outputs.table1) - len(shown)
    lines = ["Table 1 (Datta et al. 2019): TTT = time to reach the target validation top-1 (top-5: the top-5 "
             "target)", "", _markdown(shown), *([f"... {more} more rows in table1.md"] if more else []), ""]
    if outputs.comparison is not None:
        lines += ["Table 1, ours vs Datta et al. 2019 (table1_vs_paper.md has the differences):", "",
                  compare_markdown(outputs.comparison[_SUMMARY_COMPARISON]), ""]
    lines.append(f"{len(outputs.files)} files written to {outputs.out_dir}:")
    per_run = set(outputs.per_run_curves)
    lines += [f"  {path.relative_to(outputs.out_dir)}" for path in outputs.files if path not in per_run]
    if per_run:
        lines.append(f"  {CURVES_DIR}/: {len(per_run)} per-run curve(s), one PNG per completed run")
    lines += [f"not drawn: {note}" for note in outputs.skipped]
    if outputs.problems:
        lines.append(f"{len(outputs.problems)} malformed record(s) skipped:")
        lines += [f"  {path}: {_one_line(reason)}" for path, reason in outputs.problems]
    else:
        lines.append("no malformed records")
    return "\n".join(lines)


Task = tuple  # (a module-level function returning (paths, not-drawn reasons), its picklable arguments...)


def _figure_tasks(loaded: LoadedRecords, scaling_table: pd.DataFrame, out: Path) -> list[Task]:
    """The summary figures: throughput and scaling efficiency (or why not), the paper's figures and the
    step-time breakdown."""
    tasks: list[Task] = []
    if scaling_table.empty:
        tasks.append((_not_drawn, "throughput.png, scaling_efficiency.png: no completed run with a throughput figure"))
    else:
        tasks.append((_draw_scaling, scaling_table, out))
    tasks += [(_draw_figure, name, loaded, out) for name in FIGURES]
    tasks.append(breakdown_task(loaded.runs, out))
    return tasks


def _curve_tasks(loaded: LoadedRecords, folder: Path, per_run: bool) -> list[Task]:
    """``curves/<sweep>.png`` per sweep with a completed run that has epochs and, with ``per_run``, a task
    per ``RUNS_PER_TASK`` such runs drawing ``plot_run_curves`` for each; every task gets only its rows."""
    runs, epochs = loaded.runs, loaded.epochs
    done = runs[runs["status"] == "completed"]
    done = done[pd.MultiIndex.from_frame(done[["sweep", "run_id"]]).isin(
        pd.MultiIndex.from_frame(epochs[["sweep", "run_id"]]))] if not epochs.empty else done.iloc[:0]
    columns = ["sweep", "run_id", "target_top1", "nodes", "workers_per_node", "local_batch_size", "image_size",
               "data_source", "variant", "leaky"]
    done = done[columns]
    by_sweep = dict(tuple(epochs.groupby("sweep", sort=True))) if not done.empty else {}
    tasks: list[Task] = [(_draw_sweep, by_sweep[sweep], group, sweep, folder / f"{sweep}.png")
                         for sweep, group in done.groupby("sweep", sort=True)]
    if per_run and not done.empty:
        several_sweeps = runs["sweep"].nunique() > 1
        for start in range(0, len(done), RUNS_PER_TASK):
            chunk = done.iloc[start:start + RUNS_PER_TASK]
            keys = pd.MultiIndex.from_frame(epochs[["sweep", "run_id"]])
            rows = epochs[keys.isin(pd.MultiIndex.from_frame(chunk[["sweep", "run_id"]]))]
            tasks.append((_draw_runs, rows, chunk, folder, several_sweeps))
    return tasks


def _not_drawn(reason: str) -> tuple[list[Path], list[str]]:
    return [], [reason]


def _draw_scaling(scaling_table: pd.DataFrame, out: Path) -> tuple[list[Path], list[str]]:
    return [plot_throughput(scaling_table, out / "throughput.png"),
            plot_scaling_efficiency(scaling_table, out / "scaling_efficiency.png")], []


def _draw_figure(name: str, loaded: LoadedRecords, out: Path) -> tuple[list[Path], list[str]]:
    try:
        return [FIGURES[name](loaded, out / name)], []
    except NoData as reason:
        return [], [f"{name}: {reason}"]


def _draw_sweep(epochs: pd.DataFrame, runs: pd.DataFrame, sweep: str, path: Path) -> tuple[list[Path], list[str]]:
    try:
        return [plot_sweep_curves(epochs, runs, sweep, path)], []
    except NoData as reason:
        return [], [f"{path.parent.name}/{path.name}: {reason}"]


def _draw_runs(epochs: pd.DataFrame, runs: pd.DataFrame, folder: Path,
               several_sweeps: bool) -> tuple[list[Path], list[str]]:
    """``plot_run_curves`` for each of ``runs`` (rows of ``LoadedRecords.runs``, each with epochs)."""
    paths = []
    for run in runs.itertuples():
        path = (folder / run.sweep if several_sweeps else folder) / f"{run.run_id}.png"
        target = None if pd.isna(run.target_top1) else run.target_top1
        paths.append(plot_run_curves(epochs, run.run_id, path, sweep=run.sweep, target_top1=target))
    return paths, []


def _pool(jobs: int) -> Executor:
    """A pool of ``jobs`` processes, forked where the platform can (they inherit the loaded modules, so
    start in milliseconds; matplotlib's Agg figures are per-process), else spawned."""
    methods = multiprocessing.get_all_start_methods()
    return ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork" if "fork" in methods else None))


class _InProcess(Executor):
    """An executor that runs each task at once in this process (a small analysis is faster so)."""

    def submit(self, fn: Callable, /, *args, **kwargs):
        from concurrent.futures import Future

        future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(exc)
        return future


def _markdown(table: pd.DataFrame) -> str:
    """Table 1 as a Markdown table: TTT to 2 decimals, images/s to 1, mean AUROC to 3, missing figures blank; numbers
    right-aligned (``"g"`` format, as tabulate's), text left-aligned, columns padded to their widest cell.
    Written here rather than by ``DataFrame.to_markdown`` (tabulate), which takes seconds over 10,000 runs
    to guess each cell's type."""
    shown = table.round({TTT_MINUTES: 2, TTT_TOP5_MINUTES: 2, IMAGES_PER_SECOND: 1, BEST_MEAN_AUROC: 3})
    shown[REASON] = shown[REASON].map(_one_line, na_action="ignore").str.replace("|", r"\|", regex=False)
    header, cells, numeric = list(shown.columns), [], []
    for column in header:
        values = shown[column]
        is_number = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        text = values.astype(object).map(lambda v: format(v, "g") if isinstance(v, float) else str(v), na_action="ignore")
        cells.append(text.where(values.notna(), "").tolist())
        numeric.append(is_number)
    widths = [max([len(name), *map(len, column)]) for name, column in zip(header, cells)]

    def line(row):
        return "| " + " | ".join(text.rjust(width) if number else text.ljust(width)
                                 for text, width, number in zip(row, widths, numeric)) + " |"

    rule = "|" + "|".join("-" * (width + 1) + ":" if number else ":" + "-" * (width + 1)
                          for width, number in zip(widths, numeric)) + "|"
    return "\n".join([line(header), rule, *(line(row) for row in zip(*cells))])


def _one_line(text: str) -> str:
    return " ".join(text.split())
