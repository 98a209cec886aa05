"""The one Markdown table writer of the analysis: a DataFrame as a pipe table under its display labels
(:mod:`analysis.columns`).

The layout is tabulate's ``pipe`` format, as ``DataFrame.to_markdown`` writes it: each column as wide as its
widest cell and at least its header plus two; numbers right-aligned, text left-aligned, the rule's colon on
the aligned side. Written here, column by column, rather than by tabulate, which guesses the type of every
cell and so takes seconds over the 10,000 rows of a large Table 1.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from .columns import header, label

#: Header characters a column has beyond its header's, at least (tabulate's ``MIN_PADDING``).
HEADER_PADDING = 2
_LINE_BREAK = re.compile(r"\s*[\r\n]+\s*")


def markdown_table(
    frame: pd.DataFrame,
    formats: Mapping[str, str | Callable[[float], str]] | None = None,
    missing: str | Mapping[str, str] = "",
    percent: Iterable[str] = (),
    verbatim: Iterable[str] = (),
    units: bool = False,
) -> str:
    """``frame`` as a Markdown pipe table (no index), headed by its columns' display labels.

    ``formats``: a format spec per column (``".3f"``), or a function of the value to its text, for its
    floating-point values; others are written with ``"g"`` and every other value with ``str``. ``missing``: the
    text of a missing value (NA, None, NaN), one for every column or one per column (default empty).
    ``percent``: columns of fractions, written x 100 under their label followed by ``" (%)"``. ``verbatim``:
    columns named by the data (a class name), headed by their own names. ``units``: headers with their units
    (:func:`analysis.columns.header`). Line breaks in text become spaces and ``|`` is escaped, so a cell stays
    in its row. Numbers (numeric, non-boolean columns) are right-aligned, the rest left-aligned. Raises
    ``KeyError`` for a column outside :data:`analysis.columns.COLUMNS` and not in ``verbatim``.
    """
    formats, kept, percent = formats or {}, set(verbatim), set(percent)
    headers, cells, numeric = [], [], []
    for name in frame.columns:
        values = frame[name]
        if name in kept:
            headers.append(name)
        else:
            headers.append((header(name) if units else label(name)) + (" (%)" if name in percent else ""))
        if name in percent:
            values = 100 * values
        spec = formats.get(name, "g")
        text = values.astype(object).map(functools.partial(_cell, spec=spec), na_action="ignore")
        blank = missing if isinstance(missing, str) else missing.get(name, "")
        cells.append(text.where(values.notna(), blank).tolist())
        numeric.append(is_number(values))
    widths = [max([len(name) + HEADER_PADDING, *map(len, column)]) for name, column in zip(headers, cells)]

    def line(row) -> str:
        return (
            "| "
            + " | ".join(
                text.rjust(width) if number else text.ljust(width) for text, width, number in zip(row, widths, numeric)
            )
            + " |"
        )

    rule = (
        "|"
        + "|".join(
            "-" * (width + 1) + ":" if number else ":" + "-" * (width + 1) for width, number in zip(widths, numeric)
        )
        + "|"
    )
    return "\n".join([line(headers), rule, *(line(row) for row in zip(*cells))])


def is_number(values: pd.Series) -> bool:
    """Whether a column holds numbers (numeric, not boolean): what every table for people right-aligns."""
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _cell(value, spec: str | Callable[[float], str]) -> str:
    """One cell: a float formatted with ``spec`` (a format spec or a function), text on one line with ``|``
    escaped, anything else ``str``."""
    if isinstance(value, (float, np.floating)):
        return spec(float(value)) if callable(spec) else format(value, spec)
    text = str(value)
    if "\n" in text or "\r" in text:
        text = _LINE_BREAK.sub(" ", text)
    return text.replace("|", r"\|")
