"""Every output of ``mcnn-bench analyze``, in the order it writes them: the tables (:data:`TABLES`) and the
figures (:data:`FIGURES`), each a :class:`analysis.outputs.TableOutput` or
:class:`analysis.outputs.FigureOutput` defined beside the code that computes or draws it.

To add a figure: a ``FigureOutput`` subclass (``name``, ``files``, ``description``, ``unavailable``, ``draw``)
and one line in :data:`FIGURES`; a table likewise. :func:`describe_outputs` lists them for the docs.
"""

from __future__ import annotations

from dataclasses import dataclass

from .auroc import AurocFigure, AurocTable
from .breakdown import StepBreakdownFigure, StepBreakdownTable
from .compare import PaperComparison
from .engines import EnginesFigure, EnginesTable
from .epoch_time import EpochTimeFigure, EpochTimeTable
from .figures import PAPER_FIGURES, SweepCurves
from .folds import FoldsFigure, FoldsTable
from .outputs import FigureOutput, TableOutput
from .plots import RunCurves, ScalingEfficiency, Throughput
from .tables import MemoryTable, NodeScalingTable, ScalingTable, Table1
from .val_loss import ValLossFigure

#: The tables, in writing order.
TABLES: list[TableOutput] = [
    Table1(),
    ScalingTable(),
    NodeScalingTable(),
    MemoryTable(),
    EnginesTable(),
    StepBreakdownTable(),
    AurocTable(),
    EpochTimeTable(),
    FoldsTable(),
    PaperComparison(),
]
#: The figures, in drawing order: the summary figures (one file for every record), then those drawn per sweep
#: or per run.
FIGURES: list[FigureOutput] = [
    Throughput(),
    ScalingEfficiency(),
    EnginesFigure(),
    *PAPER_FIGURES,
    StepBreakdownFigure(),
    SweepCurves(),
    RunCurves(),
    AurocFigure(),
    EpochTimeFigure(),
    ValLossFigure(),
    FoldsFigure(),
]


@dataclass(frozen=True)
class OutputDescription:
    """One output for people: ``kind`` ("table" or "figure"), its ``files`` (relative to the analysis folder,
    ``<sweep>``/``<run_id>`` standing for each one), ``description`` and ``on_request`` (the ``analyze``
    keyword that asks for it, None when always written)."""

    kind: str
    files: str
    description: str
    on_request: str | None


def describe_outputs() -> list[OutputDescription]:
    """Every output ``analyze`` can write, tables then figures, in order, with its description (what the docs'
    page of outputs and ``analyze``'s docstring list)."""
    return [
        OutputDescription(kind, output.files, output.description, output.on_request)
        for kind, outputs in (("table", TABLES), ("figure", FIGURES))
        for output in outputs
    ]
