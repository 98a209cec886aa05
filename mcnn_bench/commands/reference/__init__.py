"""``mcnn-bench reference``: reference files for ``mcnn-bench accept``, one subcommand a module."""

from __future__ import annotations

from . import capture

#: The subcommands, in the order ``mcnn-bench reference --help`` lists them.
SUBCOMMANDS = (capture,)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "reference",
        help="reference files for `mcnn-bench accept`",
        description="Reference files for `mcnn-bench accept`.",
    )
    group = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for command in SUBCOMMANDS:
        command.register(group)
