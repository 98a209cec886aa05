"""Engines side by side: where a results folder holds completed runs of one shape (data source, image size,
nodes, workers per node, local batch and model: :data:`analysis.reference.SHAPE_COLUMNS` less the engine) on more
than one training engine (``run.engine``, :data:`benchmark.engines.ENGINES`), the throughput and memory of each.

``analyze`` writes ``engines.csv`` and ``engines.md`` (:class:`EnginesTable`, :func:`engines_table`): a row per such
shape with, per engine, its completed runs, their median images/s and median peak RSS per worker, and each other
engine's median images/s over the default engine's (``images/s ddp/horovod``); and ``engines.png``
(:class:`EnginesFigure`, :func:`plot_engines`): images/s per shape, a bar per engine at the median of its runs with
their min-max as a whisker. Runs pooled into one shape may differ in what a shape leaves out (optimizer,
threads, sweep): the runs per engine are counted beside their figures. Results of one engine get neither output
and no note (there is nothing to compare); results of several engines that share no shape get no table, and the
figure is listed as not drawn, with that reason.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from benchmark.engines import ENGINES
from benchmark.util.atomic import write_atomic

from .columns import (
    DEFAULT_ENGINE,
    ENGINE,
    ENGINE_IMAGES_PER_SECOND,
    ENGINE_PEAK_RSS_MIB,
    ENGINE_RATIO,
    ENGINE_RUNS,
    IMAGES_PER_SECOND,
    PEAK_RSS_BYTES,
    PEAK_RSS_MIB,
    REPEAT_MAX,
    REPEAT_MEDIAN,
    REPEAT_MIN,
    RUNS,
    csv_text,
)
from .markdown import markdown_table
from .outputs import FigureOutput, TableOutput
from .plots import save_png
from .records import LoadedRecords
from .reference import SHAPE_COLUMNS, shape_key, shape_name
from .tables import BYTES_PER_MIB

#: A shape without its engine: what runs on several engines share.
SHAPE_WITHOUT_ENGINE = [column for column in SHAPE_COLUMNS if column != ENGINE]
#: Shapes the figure draws at most, in the table's order (``engines.csv`` has every one).
MAX_SHAPES = 24
#: The medians' spread (largest over smallest) from which the figure's images/s axis is logarithmic.
LOG_FROM = 20
#: Why the figure cannot be drawn from runs of several engines.
NO_SHARED_SHAPE = "the runs of different engines share no shape (data, model, image size, nodes, workers, batch)"


def per_engine(runs: pd.DataFrame) -> pd.DataFrame:
    """The completed runs of ``runs`` (``LoadedRecords.runs``) with a throughput figure, per shape and engine, for
    the shapes run on more than one engine: index ``SHAPE_WITHOUT_ENGINE`` + ``engine``, columns ``runs``, the
    median, least and largest images/s (``repeat_median``, ``repeat_min``, ``repeat_max``) and ``peak_rss_mib``,
    the median peak RSS per worker (MiB) of the runs that recorded it."""
    done = _measured(runs)
    done = done.assign(**{PEAK_RSS_MIB: done[PEAK_RSS_BYTES].astype("float64") / BYTES_PER_MIB})
    stats = done.groupby([*SHAPE_WITHOUT_ENGINE, ENGINE], sort=True).agg(
        **{
            RUNS: (IMAGES_PER_SECOND, "size"),
            REPEAT_MEDIAN: (IMAGES_PER_SECOND, "median"),
            REPEAT_MIN: (IMAGES_PER_SECOND, "min"),
            REPEAT_MAX: (IMAGES_PER_SECOND, "max"),
            PEAK_RSS_MIB: (PEAK_RSS_MIB, "median"),
        }
    )
    engines = stats.groupby(level=SHAPE_WITHOUT_ENGINE, sort=False)[RUNS].transform("size")
    return stats[engines > 1]


def engines_table(runs: pd.DataFrame) -> pd.DataFrame:
    """A row per shape of ``runs`` (``LoadedRecords.runs``) that completed runs on more than one engine: the
    shape's columns (``SHAPE_WITHOUT_ENGINE``), then per engine that has such a shape (in
    :data:`benchmark.engines.ENGINES`' order) its completed runs (``runs_<engine>``), their median images/s
    (``images_per_second_<engine>``), each other engine's median over the default engine's
    (``images_per_second_<engine>_over_<default>``, NA where the default engine has no run of the shape), and the
    median peak RSS per worker in MiB (``peak_rss_mib_<engine>``). A shape an engine did not run has NA in its
    columns. Sorted by the shape; without rows or engine columns when no shape ran on two engines."""
    stats = per_engine(runs)
    if stats.empty:
        return runs[SHAPE_WITHOUT_ENGINE].iloc[:0].reset_index(drop=True)
    wide = stats.unstack(ENGINE)
    present = [engine for engine in ENGINES if engine in stats.index.get_level_values(ENGINE)]
    ratios = [engine for engine in present if engine != DEFAULT_ENGINE and DEFAULT_ENGINE in present]
    columns = {
        **{ENGINE_RUNS[engine]: wide[RUNS, engine].astype("Int64") for engine in present},
        **{ENGINE_IMAGES_PER_SECOND[engine]: wide[REPEAT_MEDIAN, engine] for engine in present},
        **{
            ENGINE_RATIO[engine]: wide[REPEAT_MEDIAN, engine] / wide[REPEAT_MEDIAN, DEFAULT_ENGINE] for engine in ratios
        },
        **{ENGINE_PEAK_RSS_MIB[engine]: wide[PEAK_RSS_MIB, engine] for engine in present},
    }
    return pd.DataFrame(columns, index=wide.index).reset_index()


def engines_markdown(table: pd.DataFrame) -> str:
    """:func:`engines_table` as Markdown under a line saying what its figures are: images/s to one decimal,
    ratios to two, MiB whole."""
    formats = {
        **dict.fromkeys(ENGINE_IMAGES_PER_SECOND.values(), ".1f"),
        **dict.fromkeys(ENGINE_RATIO.values(), ".2f"),
        **dict.fromkeys(ENGINE_PEAK_RSS_MIB.values(), ".0f"),
    }
    note = (
        "Engines side by side: per shape run on more than one engine, each engine's completed runs, the median of "
        "their images/s and of their peak RSS per worker, and each engine's median images/s over "
        f"{DEFAULT_ENGINE}'s."
    )
    return f"{note}\n\n{markdown_table(table, formats=formats)}\n"


def plot_engines(runs: pd.DataFrame, path: str | Path) -> Path:
    """Images/s per shape run on more than one engine (:func:`per_engine`), a bar per engine at the median of its
    completed runs with their min-max as a whisker, each other engine's bar topped by its ratio to the default
    engine's median; the first ``MAX_SHAPES`` shapes (the title says how many there are), the images/s axis
    logarithmic when the medians spread ``LOG_FROM``-fold or more. Returns ``path``.

    Raises:
        ValueError: no shape ran on two engines (:data:`NO_SHARED_SHAPE`).
    """
    stats = per_engine(runs)
    if stats.empty:
        raise ValueError(NO_SHARED_SHAPE)
    shapes = stats.index.droplevel(ENGINE).unique()
    shown = shapes[:MAX_SHAPES]
    stats = stats[stats.index.droplevel(ENGINE).isin(shown)]
    engines = [engine for engine in ENGINES if engine in stats.index.get_level_values(ENGINE)]
    figure = Figure(figsize=(min(16.0, max(7.0, 3 + 0.5 * len(shown) * len(engines))), 5.2), layout="constrained")
    axes = figure.add_subplot()
    x, width = np.arange(len(shown)), 0.8 / len(engines)
    default = stats.xs(DEFAULT_ENGINE, level=ENGINE).reindex(shown) if DEFAULT_ENGINE in engines else None
    for index, engine in enumerate(engines):
        rows = stats.xs(engine, level=ENGINE).reindex(shown)
        at = x - 0.4 + width * (index + 0.5)
        errors = [rows[REPEAT_MEDIAN] - rows[REPEAT_MIN], rows[REPEAT_MAX] - rows[REPEAT_MEDIAN]]
        axes.bar(at, rows[REPEAT_MEDIAN], width, yerr=errors, capsize=2, color=f"C{index % 10}", label=engine)
        if default is None or engine == DEFAULT_ENGINE:
            continue
        for where, top, ratio in zip(at, rows[REPEAT_MAX], rows[REPEAT_MEDIAN] / default[REPEAT_MEDIAN]):
            if pd.notna(ratio):
                axes.annotate(
                    f"{ratio:.2f}x",
                    (where, top),
                    xytext=(0, 2),
                    textcoords="offset points",
                    ha="center",
                    va="bottom",
                    fontsize="x-small",
                )
    medians = stats[REPEAT_MEDIAN]
    if medians.max() >= LOG_FROM * medians.min():
        axes.set_yscale("log")
    axes.set_xticks(x, [shape_name(shape_key(*shape)) for shape in shown], rotation=30, ha="right")
    axes.set_ylabel("throughput (images/s, all workers)")
    axes.grid(alpha=0.3, axis="y")
    axes.legend(title="engine", fontsize="small")
    more = f" (the first {len(shown)} of {len(shapes)} shapes; engines.csv has all)" if len(shapes) > len(shown) else ""
    ratio = f"; above a bar: its median over {DEFAULT_ENGINE}'s" if default is not None else ""
    axes.set_title(
        f"Engines side by side: images/s per shape{more}\nbars: the median of the runs, whiskers: min to max{ratio}",
        fontsize="medium",
    )
    return save_png(figure, path)


def _measured(runs: pd.DataFrame) -> pd.DataFrame:
    """The completed runs of ``runs`` with a throughput figure: those the comparison holds side by side."""
    return runs[(runs["status"] == "completed") & runs[IMAGES_PER_SECOND].notna()]


class EnginesTable(TableOutput):
    name = "engines"
    files = "engines.csv, engines.md"
    description = (
        "per shape run on more than one engine: each engine's runs, median images/s and peak RSS per worker, and "
        "the ratio of the engines' images/s (written only then)"
    )

    def write(self, records: LoadedRecords, out_dir: Path) -> list[Path]:
        table = engines_table(records.runs)
        if table.empty:
            return []
        return [
            write_atomic(out_dir / "engines.csv", csv_text(table)),
            write_atomic(out_dir / "engines.md", engines_markdown(table)),
        ]


class EnginesFigure(FigureOutput):
    name = "engines"
    files = "engines.png"
    description = (
        "images/s per shape run on more than one engine, a bar per engine with the min-max over its runs "
        "(drawn only then)"
    )

    def parts(self, records: LoadedRecords) -> list[LoadedRecords]:
        """The records when their runs span several engines; none (nothing to draw or report) otherwise."""
        return [records] if _measured(records.runs)[ENGINE].nunique() > 1 else []

    def unavailable(self, records: LoadedRecords) -> str | None:
        return NO_SHARED_SHAPE if per_engine(records.runs).empty else None

    def draw(self, records: LoadedRecords, out_dir: Path) -> list[Path]:
        return [plot_engines(records.runs, out_dir / self.files)]
