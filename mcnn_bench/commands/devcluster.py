"""``mcnn-bench devcluster``: the development SLURM cluster's scripts (``slurm/devcluster/``)."""

from __future__ import annotations

import argparse
import subprocess
from importlib import resources

from . import add_command


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "devcluster",
        run,
        help="start, stop or inspect the development SLURM cluster",
        description="A real multi-node SLURM cluster (slurmctld, slurmd per node in its own namespaces, "
        "slurmdbd + MariaDB) on this one machine; needs root. After start: export SLURM_CONF as "
        "printed.",
    )
    parser.add_argument(
        "action",
        choices=("start", "stop", "status"),
        help="start the cluster, stop it, or show it (status: exit 0 when the controller answers and every node is up)",
    )
    parser.add_argument("--nodes", type=int, default=4, help="nodes to start (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    """The script's own exit status."""
    script = resources.files("slurm") / "devcluster" / args.action
    extra = ["--nodes", str(args.nodes)] if args.action == "start" else []
    return subprocess.run([str(script), *extra]).returncode
