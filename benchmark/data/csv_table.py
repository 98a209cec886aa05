"""Reading the CSV tables of a data source (BBBC021's image and MoA tables, a crop index) with pandas."""

from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import pandas as pd

from .errors import DataError


def read_csv_table(path: str | PathLike, columns: Sequence[str | int], **read_csv_args) -> pd.DataFrame:
    """Read a CSV file with pandas and check that it has the given columns.

    Args:
        path: the CSV file.
        columns: column names that must be present (positions, with ``header=None``).
        read_csv_args: passed on to ``pandas.read_csv`` (e.g. ``dtype``).
    Returns:
        The table, one row per CSV line after the header.
    Raises:
        DataError: the file is missing, cannot be parsed (or a ``dtype`` conversion fails), or lacks a column.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        table = pd.read_csv(path, **read_csv_args)
    except (OSError, ValueError) as error:  # pandas' ParserError, EmptyDataError, UnicodeDecodeError
        raise DataError(f"{path}: cannot read as CSV ({type(error).__name__}: {error})") from error
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; found {list(table.columns)}")
    return table


def check_csv_header(path: str | PathLike, columns: Sequence[str]) -> None:
    """Check, before anything runs, that the CSV file ``path`` (``.gz`` too) can be opened and its header
    read, and that it names ``columns``; only the header is read.

    Raises:
        DataError: naming the file: it is missing, cannot be read (the operating system's cause: no
            permission...), is not CSV, or lacks a column.
    """
    path = Path(path)
    try:
        header = pd.read_csv(path, nrows=0)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror or f'{type(error).__name__}: {error}'})") from error
    except ValueError as error:  # pandas' ParserError, EmptyDataError, UnicodeDecodeError
        raise DataError(f"{path}: cannot read as CSV ({type(error).__name__}: {error})") from error
    missing = [column for column in columns if column not in header.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; found {list(header.columns)}")
