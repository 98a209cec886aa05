"""Tables for people: every figure rounded to what it can tell, units in the headers, and, on a terminal, only
the columns that say something about these runs, within the terminal's width.

One rule for every table shown to a person (the Markdown display copies, the terminal, the HTML report); the
CSV files keep every digit. By a column's unit (:mod:`analysis.columns`): rates, times, sizes, ratios and
fractions to 3 significant figures (:func:`benchmark.util.readable.significant`), percentages to 1 decimal,
counts as whole numbers.
"""

from __future__ import annotations

import functools
import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from benchmark.util.readable import TERMINAL_COLUMNS, cut, significant

from .columns import COLUMNS, header
from .markdown import is_number, markdown_table

#: Units whose values are counts: shown whole when they are whole.
COUNT_UNITS = {"epochs", "images", "runs", "workers", "nodes", "classes", "folds", "px", "threads", "stalls", "steps"}
COUNT_UNITS |= {"fields", "updates", "cpus", "sweeps"}
#: Units shown with one decimal.
PERCENT_UNITS = {"%"}
#: The widest a text cell is shown on a terminal (the files have it whole), and the narrowest the last column
#: of text is cut to, to fit.
TERMINAL_TEXT = 40
MIN_TEXT = 16
COLUMN_GAP = "  "


def percent(value: float) -> str:
    """A percentage to 1 decimal: ``70.5444`` -> ``"70.5"``."""
    return f"{value:.1f}"


def count(value: float) -> str:
    """A count: whole when it is (``3.0`` -> ``"3"``), else 3 significant figures."""
    return f"{value:.0f}" if float(value).is_integer() else significant(value)


def formatter(name: str) -> Callable[[float], str]:
    """How column ``name``'s numbers are shown to a person (by its unit, as the module says). Raises
    ``KeyError`` for a column outside the vocabulary."""
    unit = COLUMNS[name].unit
    if unit in PERCENT_UNITS:
        return percent
    if unit in COUNT_UNITS:
        return count
    return significant


def people_markdown(frame: pd.DataFrame, missing: str = "") -> str:
    """``frame`` as a Markdown table for people (:func:`analysis.markdown.markdown_table`): headers with their
    units (:func:`analysis.columns.header`), numbers by :func:`formatter`. Raises ``KeyError`` for a column
    outside the vocabulary."""
    return markdown_table(frame, formats={name: formatter(name) for name in frame.columns}, missing=missing, units=True)


def people_cells(frame: pd.DataFrame, verbatim: Iterable[str] = ()) -> pd.DataFrame:
    """``frame``'s values as the text a person reads (numbers by :func:`formatter`, missing values empty), under
    the headers of :func:`analysis.columns.header`: what the HTML report shows. Columns in ``verbatim`` (named by
    the data, such as the per-class AUROC's classes) keep their names and show numbers to 3 significant
    figures. Raises ``KeyError`` for any other column outside the vocabulary."""
    kept = set(verbatim)
    shown = {}
    for name in frame.columns:
        values = frame[name]
        number = pd.api.types.is_float_dtype(values)
        show = (significant if name in kept else formatter(name)) if number else str
        title = name if name in kept else header(name)
        shown[title] = [show(value) if not pd.isna(value) else "" for value in values.astype(object)]
    return pd.DataFrame(shown)


@dataclass(frozen=True)
class Fitted:
    """A table cut to a terminal: ``table`` (the columns kept, text cut to :data:`TERMINAL_TEXT`), ``common``
    (``(header, value)`` of each column that holds one value for every row, said once above the table),
    ``left_out`` (the headers of the columns that did not fit) and ``width`` (the terminal's columns)."""

    table: pd.DataFrame
    common: list[tuple[str, str]]
    left_out: list[str]
    width: int

    @property
    def shared(self) -> str:
        """What every row shares, as a sentence: ``"every run: header value, ..."``; '' when nothing is."""
        return "every run: " + ", ".join(f"{name} {value}" for name, value in self.common) if self.common else ""

    def text(self) -> str:
        """The lines a terminal shows: :attr:`shared` (wrapped to the width), the table (:func:`plain_table`) and
        what was left out."""
        lines = textwrap.wrap(self.shared, self.width, subsequent_indent="  ")
        lines.append(plain_table(self.table))
        if self.left_out:
            lines += textwrap.wrap(f"(not shown here: {', '.join(self.left_out)})", self.width)
        return "\n".join(lines)


def plain_table(frame: pd.DataFrame) -> str:
    """``frame`` as an aligned text table for a terminal: each column as wide as its widest cell or the longest
    word of its header (:func:`analysis.columns.header`, wrapped onto as many lines as it needs), two spaces
    between columns, numbers right-aligned and to :func:`formatter`'s figures, missing values blank."""
    cells = people_cells(frame)
    numeric = [is_number(frame[name]) for name in frame]
    widths = [
        max([len(word) for word in title.split()] + [len(text) for text in cells[title]]) for title in cells.columns
    ]
    titles = [textwrap.wrap(title, width) for title, width in zip(cells.columns, widths)]
    depth = max(map(len, titles), default=0)

    def line(texts: Iterable[str]) -> str:
        return COLUMN_GAP.join(
            text.rjust(width) if number else text.ljust(width) for text, width, number in zip(texts, widths, numeric)
        ).rstrip()

    head = [
        line(title[i - depth + len(title)] if i >= depth - len(title) else "" for title in titles) for i in range(depth)
    ]
    return "\n".join([*head, *(line(row) for row in cells.itertuples(index=False))])


def fit(
    frame: pd.DataFrame, order: Sequence[str], width: int | None = TERMINAL_COLUMNS, hoist: Iterable[str] = ()
) -> Fitted:
    """``frame`` for a terminal of ``width`` columns: of the columns in ``order`` (most wanted first) those that
    hold a value for some row; those in ``hoist`` that hold one value for every row are said once above the
    table instead; text cells cut to :data:`TERMINAL_TEXT`; then the last columns of ``order`` left out until
    every line of :func:`plain_table` fits (the first column always stays), the last column of text cut to the
    room left rather than left out where that room is at least :data:`MIN_TEXT` characters. With ``width`` None
    (a page, not a terminal) nothing is cut or left out. Raises ``KeyError`` for a column of ``order`` that is not in
    ``frame``."""
    table = frame[list(order)]
    table = table.loc[:, table.notna().any()]
    common = []
    for name in [name for name in hoist if name in table.columns]:
        values = table[name].dropna().unique()
        if len(values) == 1 and table[name].notna().all():
            common.append((header(name), people_cells(table[[name]]).iloc[0, 0]))
            table = table.drop(columns=name)
    left_out: list[str] = []
    if width is None:
        return Fitted(table, common, left_out, TERMINAL_COLUMNS)
    texts = table.select_dtypes(exclude="number").columns
    table = table.assign(
        **{name: table[name].map(lambda v: cut(str(v), TERMINAL_TEXT), na_action="ignore") for name in texts}
    )
    while len(table.columns) > 1 and _width(table) > width:
        last = table.columns[-1]
        room = width - _width(table.iloc[:, :-1]) - len(COLUMN_GAP)
        if last in texts and room >= MIN_TEXT:  # the last text column takes the room that is left
            return Fitted(
                table.assign(**{last: table[last].map(functools.partial(cut, width=room), na_action="ignore")}),
                common,
                left_out,
                width,
            )
        left_out.insert(0, header(last))
        table = table.iloc[:, :-1]
    return Fitted(table, common, left_out, width)


def _width(table: pd.DataFrame) -> int:
    return max(map(len, plain_table(table).splitlines()))
