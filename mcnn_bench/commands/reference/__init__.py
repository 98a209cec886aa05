"""``mcnn-bench reference``: reference files for ``mcnn-bench accept``, one subcommand a module."""

from __future__ import annotations

from .. import add_group
from . import capture

#: The subcommands, in the order ``mcnn-bench reference --help`` lists them.
SUBCOMMANDS = (capture,)


def register(subparsers) -> None:
    add_group(
        subparsers,
        "reference",
        SUBCOMMANDS,
        help="reference files for `mcnn-bench accept`",
        description="Reference files for `mcnn-bench accept`.",
    )
