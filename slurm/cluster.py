"""What SLURM says: partition capacity (``sinfo``) and job accounting (``sacct``).

Runs SLURM's client commands; they find the cluster through ``SLURM_CONF`` or /etc/slurm/slurm.conf.
"""
from __future__ import annotations

import datetime
import subprocess
from dataclasses import dataclass

#: sacct states after which a job will not run again (sacct(1), "JOB STATE CODES").
FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED",
                "BOOT_FAIL", "DEADLINE", "REVOKED"}
SACCT_FIELDS = ("JobID", "State", "Submit", "Start", "End", "ElapsedRaw", "NodeList", "NNodes", "ExitCode")


class SlurmError(RuntimeError):
    """A SLURM command failed, or the cluster cannot hold what was asked."""


def _run(args: list[str]) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    except FileNotFoundError as exc:
        raise SlurmError(f"{args[0]} not found: is this a SLURM login node? (for the development "
                         "cluster: mcnn-bench devcluster start)") from exc
    except subprocess.TimeoutExpired as exc:
        raise SlurmError(f"{' '.join(args)} did not answer in 60 s") from exc
    if done.returncode:
        raise SlurmError(f"{' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


@dataclass(frozen=True)
class Partition:
    """A partition's name, its nodes and their CPUs (from ``sinfo``)."""

    name: str
    nodes: int
    min_cpus_per_node: int


def partition(name: str | None = None) -> Partition:
    """The partition ``name`` (default: the cluster's default partition), from ``sinfo``.

    Raises:
        SlurmError: sinfo fails, or there is no such partition.
    """
    lines = [line.split() for line in _run(["sinfo", "-h", "-N", "-o", "%P %N %c"]).splitlines() if line.strip()]
    if name is None:
        defaults = {p for p, _, _ in lines if p.endswith("*")}
        if not defaults:
            raise SlurmError("the cluster has no default partition; set executor.partition in the spec")
        name = defaults.pop()
    name = name.rstrip("*")
    mine = {(node, int(cpus)) for p, node, cpus in lines if p.rstrip("*") == name}
    if not mine:
        known = sorted({p.rstrip("*") for p, _, _ in lines})
        raise SlurmError(f"partition {name!r} not found; sinfo lists: {', '.join(known)}")
    return Partition(name, len(mine), min(cpus for _, cpus in mine))


def check_capacity(runs, part: Partition, cpus_per_task: int) -> None:
    """Refuse, before anything is submitted, runs the partition cannot hold.

    Raises:
        SlurmError: listing every run that asks for more nodes than the partition has, or more CPUs per
            node (workers per node x cpus_per_task) than its smallest node.
    """
    problems = []
    for run in runs:
        if run.nodes > part.nodes:
            problems.append(f"{run.run_id}: asks for {run.nodes} nodes, partition {part.name!r} has {part.nodes}")
        cpus = run.workers_per_node * cpus_per_task
        if cpus > part.min_cpus_per_node:
            problems.append(f"{run.run_id}: asks for {run.workers_per_node} workers per node x {cpus_per_task} "
                            f"CPUs per task = {cpus} CPUs per node, partition {part.name!r} nodes have "
                            f"{part.min_cpus_per_node}")
    if problems:
        raise SlurmError("the cluster cannot hold these runs (sinfo); nothing was submitted:\n"
                         + "\n".join(f"  - {p}" for p in problems))


def _seconds_between(start: str, end: str) -> float | None:
    try:
        return (datetime.datetime.fromisoformat(end) - datetime.datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return None


def job_info(job_id: str) -> dict | None:
    """SLURM's accounting view of a job: state, node list, nodes, queue wait and elapsed (seconds).

    Returns None while accounting does not know the job yet.
    """
    out = _run(["sacct", "-j", str(job_id), "-X", "-n", "-P", "-o", ",".join(SACCT_FIELDS)])
    rows = [dict(zip(SACCT_FIELDS, line.split("|"))) for line in out.splitlines() if line.strip()]
    rows = [r for r in rows if r["JobID"] == str(job_id)]
    if not rows:
        return None
    row = rows[0]
    state = row["State"].split()[0]
    return {
        "job_id": str(job_id),
        "state": state,
        "final": state in FINAL_STATES,
        "node_list": row["NodeList"],
        "nodes": int(row["NNodes"]) if row["NNodes"].isdigit() else None,
        "queue_wait_seconds": _seconds_between(row["Submit"], row["Start"]),
        "elapsed_seconds": float(row["ElapsedRaw"]) if row["ElapsedRaw"].isdigit() else None,
        "exit_code": row["ExitCode"],
        "raw_state": row["State"],
    }
