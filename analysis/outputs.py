"""The two plug-in shapes of ``mcnn-bench analyze``: a table (:class:`TableOutput`) and a figure
(:class:`FigureOutput`). :mod:`analysis.registry` lists every one ``analyze`` writes, in order; adding an
output is one subclass beside the code it draws or computes and one line there.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from .records import LoadedRecords


class Output(ABC):
    """What every output says of itself: ``name`` (the stem of its file, unique among the outputs), a one-line
    ``description``, ``files`` (the files it writes, relative to the analysis folder, ``<sweep>`` standing for
    each sweep's name) and ``on_request`` (the keyword of :func:`analysis.report.analyze` that asks for it:
    ``"compare"``, ``"per_run_curves"``; None when it is always written)."""

    name: ClassVar[str]
    description: ClassVar[str]
    files: ClassVar[str]
    on_request: ClassVar[str | None] = None


class TableOutput(Output):
    """A table written from the records (CSV under the columns' display labels, :mod:`analysis.columns`, and
    Markdown through :func:`analysis.markdown.markdown_table` where people read it)."""

    @abstractmethod
    def write(self, records: LoadedRecords, out_dir: Path) -> list[Path]:
        """Write the table's files into ``out_dir`` atomically; returns the paths written, none when the records
        hold nothing for it. Raises ``OSError`` if a file cannot be written."""


class FigureOutput(Output):
    """A figure drawn from the records (a PNG through :func:`analysis.plots.save_png`).

    ``analyze`` splits the records into :meth:`parts` (one, unless the figure is a file per sweep or per run),
    asks :meth:`unavailable` of each and draws each part that can be drawn with :meth:`draw`, in another
    process when it draws in parallel (so a figure is a module-level class with no state); the reason of a part
    that cannot be drawn is listed as ``"<files>: <reason>"``. ``summary`` figures (one file for every record)
    are drawn and timed before the others.
    """

    summary: ClassVar[bool] = True

    def unavailable(self, records: LoadedRecords) -> str | None:
        """Why the figure cannot be drawn from ``records`` (a part), or None when it can; by default None."""
        return None

    @abstractmethod
    def draw(self, records: LoadedRecords, out_dir: Path) -> list[Path]:
        """Draw the figure of ``records`` (one part, or all of them) into ``out_dir``, the analysis folder;
        returns the PNGs written. Called only when :meth:`unavailable` is None. Raises ``OSError`` if
        unwritable."""

    def parts(self, records: LoadedRecords) -> list[LoadedRecords]:
        """The records in the pieces that are drawn apart (and may be drawn in parallel): by default all of
        them at once; a figure per sweep returns a part per sweep it applies to (none: nothing to draw and
        nothing to report, :meth:`analysis.records.LoadedRecords.by_sweep`)."""
        return [records]
