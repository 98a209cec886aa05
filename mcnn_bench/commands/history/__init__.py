"""``mcnn-bench history``: the results history (``RESULTS/history.sqlite``, :mod:`analysis.history`), one
subcommand a module; and :func:`record_runs`, by which ``analyze``, ``accept`` and ``sweep`` add the runs they see."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import add_group
from . import listing, rebuild

if TYPE_CHECKING:
    from analysis.history import Added

#: The subcommands, in the order ``mcnn-bench history --help`` lists them.
SUBCOMMANDS = (listing, rebuild)


def register(subparsers) -> None:
    add_group(
        subparsers,
        "history",
        SUBCOMMANDS,
        help="every completed run's figures over time (RESULTS/history.sqlite): list, plot, rebuild",
        description="The results history: every completed run's figures, kept in RESULTS/history.sqlite by "
        "`analyze`, `accept` and `sweep`, listed and plotted over time, or rebuilt from the records.",
    )


def record_runs(add: Callable[[], Added], prog: str) -> None:
    """Add runs to the history with ``add`` (:func:`analysis.history.add` or ``add_folder``) and print what it did,
    the records it could not read among it (path and reason); or, on stderr, why the history was not updated (a
    file of a newer schema, another process holding it too long, a full disk): the command's own result stands."""
    import sqlite3

    from analysis.history import HistoryError

    try:
        added = add()
    except (HistoryError, sqlite3.Error, OSError) as exc:
        print(f"{prog}: warning: history not updated: {exc}", file=sys.stderr)
        return
    print(added.summary())
    for path, reason in added.problems:
        print(f"  {path}: {' '.join(reason.split())}")
