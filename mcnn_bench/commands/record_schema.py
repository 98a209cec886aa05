"""``mcnn-bench record-schema``: the run record's JSON Schema."""

from __future__ import annotations

import argparse
import sys

from . import add_command


def register(subparsers) -> None:
    add_command(
        subparsers,
        "record-schema",
        run,
        help="print the JSON Schema of the run record",
        description="Print the JSON Schema of record.json (docs/run-record.schema.json).",
    )


def run(args: argparse.Namespace) -> int:
    from benchmark.record import json_schema

    sys.stdout.write(json_schema())
    return 0
