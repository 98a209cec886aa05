"""The two entry points of ``mcnn-bench analyze``: ``analyze()`` writes every table and figure for a
results folder; ``format_summary()`` renders what it did for a terminal."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmark.atomic import write_atomic
from .compare import (OUR_IMAGES_PER_SECOND, OUR_RUNS, OUR_TTT, OUR_WORKLOAD, PAPER_IMAGES_PER_SECOND, PAPER_TTT,
                      write_comparison)
from .compare import markdown as compare_markdown
from .figures import write_figures
from .plots import plot_run_curves, plot_scaling_efficiency, plot_throughput
from .records import LoadedRecords, load_records
from .tables import (IMAGES_PER_SECOND, NODES, REASON, TTT_MINUTES, TTT_TOP5_MINUTES, memory_table, node_scaling,
                     scaling, table1)

ANALYSIS_DIR = "analysis"
CURVES_DIR = "curves"
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
    ``compare="paper"``, ``compare.table1_vs_paper`` (else None).
    """

    out_dir: Path
    files: list[Path]
    table1: pd.DataFrame
    problems: list[tuple[Path, str]]
    skipped: list[str]
    comparison: pd.DataFrame | None = None


def analyze(results_dir: str | Path, out_dir: str | Path | None = None, compare: str | None = None) -> AnalysisOutputs:
    """Analyse every ``record.json`` under ``results_dir`` and write the results to ``out_dir``.

    ``out_dir`` defaults to ``results_dir / "analysis"``. Files, each written atomically (temporary
    file in the same folder, then ``os.replace``): ``table1.csv`` and ``table1.md`` (Datta et al. 2019,
    Table 1), ``scaling.csv`` (over workers), ``node_scaling.csv`` (over nodes), ``memory.csv``,
    ``throughput.png``, ``scaling_efficiency.png``, the paper's figures with its published points
    (:data:`analysis.figures.FIGURES`: ``fig2_activations.png`` ... ``fig10_scaling_efficiency.png``) and
    ``curves/<run_id>.png`` per completed run with epochs (``curves/<sweep>/<run_id>.png`` when the
    records span several sweeps, so equal run ids cannot overwrite each other). A figure that no run can
    feed is skipped and listed, with the reason, in ``skipped`` (the two scaling figures when no completed
    run has a throughput figure). With ``compare="paper"``: also ``table1_vs_paper.csv``/``.md`` and
    ``sections_vs_paper.csv``/``.md`` (:mod:`analysis.compare`). Malformed records are skipped and
    returned in ``problems``. Raises ``FileNotFoundError`` / ``ValueError`` (naming the path) if
    ``results_dir`` is missing or holds no record, ``ValueError`` for an unknown ``compare``, ``OSError``
    if an output cannot be written.
    """
    if compare is not None and compare not in COMPARISONS:
        raise ValueError(f"compare must be one of {', '.join(COMPARISONS)}, got {compare!r}")
    results_dir = Path(results_dir)
    out = results_dir / ANALYSIS_DIR if out_dir is None else Path(out_dir)
    loaded = load_records(results_dir)
    table = table1(loaded.runs)
    scaling_table = scaling(loaded.runs)
    files = [
        write_atomic(out / "table1.csv", table.to_csv(index=False)),
        write_atomic(out / "table1.md", _markdown(table) + "\n"),
        write_atomic(out / "scaling.csv", scaling_table.to_csv(index=False)),
        write_atomic(out / "node_scaling.csv", node_scaling(loaded.runs).to_csv(index=False)),
        write_atomic(out / "memory.csv", memory_table(loaded.runs).to_csv(index=False)),
    ]
    skipped = []
    if scaling_table.empty:
        skipped.append("throughput.png, scaling_efficiency.png: no completed run with a throughput figure")
    else:
        files.append(plot_throughput(scaling_table, out / "throughput.png"))
        files.append(plot_scaling_efficiency(scaling_table, out / "scaling_efficiency.png"))
    figures, not_drawn = write_figures(loaded, out)
    files.extend(figures)
    skipped.extend(not_drawn)
    files.extend(_write_curves(loaded, out / CURVES_DIR))
    comparison = None
    if compare == "paper":
        compared, comparison = write_comparison(loaded.runs, out)
        files.extend(compared)
    return AnalysisOutputs(out, files, table, loaded.problems, skipped, comparison)


def format_summary(outputs: AnalysisOutputs) -> str:
    """A terminal summary of ``analyze``'s outputs: Table 1 as Markdown, where the files are, figures
    not drawn, and the malformed records, one line each with path and reason."""
    lines = ["Table 1 (Datta et al. 2019): TTT = time to reach the target validation top-1 (top-5: the top-5 "
             "target)", "", _markdown(outputs.table1), ""]
    if outputs.comparison is not None:
        lines += ["Table 1, ours vs Datta et al. 2019 (table1_vs_paper.md has the differences):", "",
                  compare_markdown(outputs.comparison[_SUMMARY_COMPARISON]), ""]
    lines.append(f"{len(outputs.files)} files written to {outputs.out_dir}:")
    lines += [f"  {path.relative_to(outputs.out_dir)}" for path in outputs.files]
    lines += [f"not drawn: {note}" for note in outputs.skipped]
    if outputs.problems:
        lines.append(f"{len(outputs.problems)} malformed record(s) skipped:")
        lines += [f"  {path}: {_one_line(reason)}" for path, reason in outputs.problems]
    else:
        lines.append("no malformed records")
    return "\n".join(lines)


def _write_curves(loaded: LoadedRecords, folder: Path) -> list[Path]:
    """``plot_run_curves`` for every completed run that has epochs; returns the PNG paths."""
    runs = loaded.runs
    with_epochs = set(zip(loaded.epochs["sweep"], loaded.epochs["run_id"]))
    several_sweeps = runs["sweep"].nunique() > 1
    paths = []
    for run in runs[runs["status"] == "completed"].itertuples():
        if (run.sweep, run.run_id) not in with_epochs:
            continue
        path = (folder / run.sweep if several_sweeps else folder) / f"{run.run_id}.png"
        target = None if pd.isna(run.target_top1) else run.target_top1
        paths.append(plot_run_curves(loaded.epochs, run.run_id, path, sweep=run.sweep, target_top1=target))
    return paths


def _markdown(table: pd.DataFrame) -> str:
    """Table 1 as a Markdown table: TTT to 2 decimals, images/s to 1, missing figures blank."""
    shown = table.round({TTT_MINUTES: 2, TTT_TOP5_MINUTES: 2, IMAGES_PER_SECOND: 1})
    shown[REASON] = shown[REASON].map(_one_line, na_action="ignore").str.replace("|", r"\|", regex=False)
    shown = shown.astype(object).where(shown.notna(), "")
    return shown.to_markdown(index=False)


def _one_line(text: str) -> str:
    return " ".join(text.split())
