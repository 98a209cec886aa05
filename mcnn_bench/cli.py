"""``mcnn-bench``: the suite's one command, with a subcommand per task, each a module of
:mod:`mcnn_bench.commands` (``register`` adds its parser, ``run`` does it). The commands import the three
packages lazily, inside ``run``, so that ``status`` or ``analyze`` never load TensorFlow.

Exit status: 0 done; 1 a failed verdict or run (the command returns it); 2 a user error, printed as
``mcnn-bench COMMAND: error: MESSAGE`` without a traceback (:data:`USER_ERRORS`; argparse's own errors
alike), a file or folder the command cannot read or write (an ``OSError``: no permission, a full disk)
among them, its message naming the path and the cause; 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from benchmark.errors import McnnBenchError, describe_os_error

from .commands import (
    accept,
    allreduce,
    analyze,
    bench,
    compare,
    devcluster,
    history,
    paper_check,
    peak,
    predict,
    record_schema,
    reference,
    report,
    status,
    sweep,
    train,
)

# TensorFlow's C++ start-up notices drown the progress lines; warnings and errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: The commands, in the order ``mcnn-bench --help`` lists them.
COMMANDS = (
    train,
    sweep,
    status,
    analyze,
    report,
    accept,
    reference,
    compare,
    history,
    devcluster,
    allreduce,
    peak,
    predict,
    paper_check,
    bench,
    record_schema,
)

#: What exits with status 2 as the user's to mend: :class:`McnnBenchError` (bad settings, specs, records,
#: reference files, data, checkpoints, allocators, a scheduler that refuses; a file that cannot be read or
#: written is its ``FileAccessError``), and the builtins the libraries' own argument checks and file reads
#: raise: ``ValueError`` (a value out of range) and ``OSError`` (a missing input, a folder without
#: permission, a full disk: printed as the path and the cause, :func:`benchmark.errors.describe_os_error`).
USER_ERRORS = (McnnBenchError, ValueError, OSError)


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help, laid out alike on every Python the suite runs on: the column of a command group's
    subcommands is as wide as the longest, counted with its own indent, as Python 3.13's argparse does (3.10 to
    3.12 count it without, so that a name as long as ``record-schema`` wraps its help onto the next line). So
    ``--help``, and the CLI reference generated from it (``docs/generate.py``), read the same everywhere."""

    def add_argument(self, action: argparse.Action) -> None:
        if action.help is not argparse.SUPPRESS:
            invocation = self._format_action_invocation
            lengths = [len(invocation(action)) + self._current_indent]
            # the generator indents while it yields a subcommand, so each is counted at its own indent
            lengths += [len(invocation(sub)) + self._current_indent for sub in self._iter_indented_subactions(action)]
            self._action_max_length = max(self._action_max_length, *lengths)
            self._add_item(self._format_action, [action])


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser with :class:`HelpFormatter`; the parsers of the subcommands are of this class too
    (``add_subparsers`` makes them of its parser's class)."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(**kwargs)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``mcnn-bench`` and its subcommands (:data:`COMMANDS`)."""
    parser = ArgumentParser(
        prog="mcnn-bench",
        description="Benchmark data-parallel M-CNN training (Datta et al. 2019) with Horovod, on one "
        "machine or through SLURM, and rebuild the paper's tables and plots.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mcnn-bench`` console command: parse ``argv`` (default: ``sys.argv[1:]``), run the
    command and return its exit status (see the module). Warnings and errors of the suite's loggers go to
    stderr while the command runs (the handler is removed when it returns, so that a caller in the same
    process keeps its own logging)."""
    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler()
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        return args.run(args)
    except USER_ERRORS as exc:
        message = describe_os_error(exc) if isinstance(exc, OSError) else str(exc)
        print(f"{args.prog}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{args.prog}: interrupted", file=sys.stderr)
        return 130
    finally:
        root.removeHandler(handler)


if __name__ == "__main__":
    sys.exit(main())
