"""The subcommands of ``mcnn-bench``, one module each (a command with subcommands, such as ``bench``, one
package, its ``__init__`` registering the group):

- ``register(subparsers) -> None`` adds the command's parser (:func:`add_command`), every flag with its help;
- ``run(args) -> int`` does the command and returns its exit status: 0 done, 1 a failed verdict or run.

What the user must mend (bad flags, settings, a missing or invalid file) is raised, as
:class:`benchmark.errors.McnnBenchError` (or the libraries' ``ValueError`` and ``FileNotFoundError``), and
:func:`mcnn_bench.cli.main` maps it to exit status 2 in one place (``run`` never prints such an error). ``run``
imports the packages it needs, so that a command loads only what it uses (``status`` and ``analyze`` never
TensorFlow).

To add a command: a module here with ``register`` and ``run``, listed in :data:`mcnn_bench.cli.COMMANDS`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from benchmark.errors import McnnBenchError


class UsageError(McnnBenchError, ValueError):
    """Flags that argparse accepts but the command cannot run with (e.g. a count below 1); names the flags."""


def add_group(subparsers, name: str, subcommands: tuple, metavar: str = "ACTION", **kwargs) -> None:
    """Add command group ``name`` (``mcnn-bench reference``, ``bench``, ``history``): its parser (``kwargs``:
    ``help``, ``description``) and under it each module of ``subcommands``, registered in that order (the order
    its ``--help`` lists them); a subcommand is required, named by ``metavar``."""
    parser = subparsers.add_parser(name, **kwargs)
    group = parser.add_subparsers(dest=metavar.lower(), required=True, metavar=metavar)
    for command in subcommands:
        command.register(group)


def add_command(subparsers, name: str, run: Callable[[argparse.Namespace], int], **kwargs) -> argparse.ArgumentParser:
    """Add the parser of command ``name`` to ``subparsers`` (``kwargs``: ``help``, ``description`` as
    :meth:`argparse._SubParsersAction.add_parser` takes them) and bind it to ``run``: the parsed arguments
    carry ``run`` and ``prog`` (``mcnn-bench NAME``, the prefix of its error messages)."""
    parser = subparsers.add_parser(name, **kwargs)
    parser.set_defaults(run=run, prog=parser.prog)
    return parser
