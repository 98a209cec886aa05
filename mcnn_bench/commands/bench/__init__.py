"""``mcnn-bench bench``: benchmarks of what the suite adds around the model, one subcommand a module."""

from __future__ import annotations

from .. import add_group
from . import analyze, gpu, overhead
from . import input as input_pipeline

#: The subcommands, in the order ``mcnn-bench bench --help`` lists them.
SUBCOMMANDS = (overhead, analyze, input_pipeline, gpu)


def register(subparsers) -> None:
    add_group(
        subparsers,
        "bench",
        SUBCOMMANDS,
        "WHAT",
        help="benchmarks of the suite itself (its input pipeline, its analysis) and a GPU check",
        description="Benchmarks of what the suite adds around the model: each prints "
        "its figures and how it measured them.",
    )
