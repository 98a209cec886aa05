"""What SLURM says: partition capacity (``sinfo``) and job accounting (``sacct``).

Runs SLURM's client commands; they find the cluster through ``SLURM_CONF`` or /etc/slurm/slurm.conf.
"""

from __future__ import annotations

import datetime
import subprocess
from dataclasses import dataclass

from slurm.executor.base import ExecutorError, NodeState

#: sacct states after which a job will not run again (sacct(1), "JOB STATE CODES").
FINAL_STATES = {
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "PREEMPTED",
    "BOOT_FAIL",
    "DEADLINE",
    "REVOKED",
}
SACCT_FIELDS = ("JobID", "State", "Submit", "Start", "End", "ElapsedRaw", "NodeList", "NNodes", "ExitCode")


class SlurmError(ExecutorError):
    """A SLURM command failed, or the cluster cannot hold what was asked."""


def _run(args: list[str]) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    except FileNotFoundError as exc:
        raise SlurmError(
            f"{args[0]} not found: is this a SLURM login node? (for the development "
            "cluster: mcnn-bench devcluster start)"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise SlurmError(f"{' '.join(args)} did not answer in 60 s") from exc
    if done.returncode:
        raise SlurmError(f"{' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


#: sinfo node-state words (without the ``*`` of a node that does not respond) of nodes that can take a
#: job now (sinfo(1), "NODE STATE CODES"); any other state (down, drained, draining, failing, maint ...)
#: cannot.
USABLE_NODE_STATES = {"idle", "alloc", "allocated", "mix", "mixed", "comp", "completing", "plnd", "planned"}
#: Pending reasons (squeue %r) that do not clear by themselves: an administrator or the user must act.
#: squeue(1), "JOB REASON CODES".
STUCK_REASONS = (
    "ReqNodeNotAvail",
    "PartitionDown",
    "PartitionInactive",
    "PartitionNodeLimit",
    "PartitionTimeLimit",
    "NodeDown",
    "BadConstraints",
    "InvalidAccount",
    "InvalidQOS",
    "AccountNotAllowed",
    "QOSNotAllowed",
    "DependencyNeverSatisfied",
    "JobHeldAdmin",
)


def usable(state: str) -> bool:
    """Whether a node in sinfo's ``state`` (``%t``) can take a job now (:data:`USABLE_NODE_STATES`, and it
    responds: no ``*``)."""
    return state.rstrip("*~#!%$@^-") in USABLE_NODE_STATES and not state.endswith("*")


@dataclass(frozen=True)
class Partition:
    """A partition's name, availability, its nodes' CPUs, and each node's state (from ``sinfo``: ``%t``, such as
    ``idle``, ``mix``, ``drain``, ``down*``, and ``%E``, the reason given for it), in sinfo's order."""

    name: str
    available: str
    min_cpus_per_node: int
    states: dict[str, NodeState]

    @property
    def nodes(self) -> int:
        """The partition's nodes."""
        return len(self.states)

    @property
    def unusable(self) -> dict[str, str]:
        """Each node that cannot take a job now (down, drained, failing ...), with its state."""
        return {node: state.state for node, state in self.states.items() if not state.usable}

    @property
    def usable_nodes(self) -> int:
        """Nodes that can run a job now."""
        return self.nodes - len(self.unusable)


#: sinfo's fields of :func:`partition`, ``|``-separated, the reason (which may hold spaces) last.
SINFO_NODE_FORMAT = "%P|%N|%c|%t|%a|%E"


def partition(name: str | None = None) -> Partition:
    """The partition ``name`` (default: the cluster's default partition), from one ``sinfo`` call.

    Raises:
        SlurmError: sinfo fails, or there is no such partition.
    """
    out = _run(["sinfo", "-h", "-N", "-o", SINFO_NODE_FORMAT])
    lines = [line.split("|", 5) for line in out.splitlines() if line.count("|") >= 5]
    if name is None:
        defaults = {line[0] for line in lines if line[0].endswith("*")}
        if not defaults:
            raise SlurmError("the cluster has no default partition; set executor.partition in the spec")
        name = defaults.pop()
    name = name.rstrip("*")
    mine = [line for line in lines if line[0].rstrip("*") == name]
    if not mine:
        known = sorted({line[0].rstrip("*") for line in lines})
        raise SlurmError(f"partition {name!r} not found; sinfo lists: {', '.join(known)}")
    states = {
        node: NodeState(usable(state), state, "" if reason.strip() == "none" else reason.strip())
        for _, node, _, state, _, reason in mine
    }
    return Partition(name, mine[0][4], min(int(line[2]) for line in mine), states)


def hostnames(host_list: str) -> list[str]:
    """The node names of a SLURM host list (``node[001-003],gpu1`` -> node001, node002, node003, gpu1), in its
    order, expanded by ``scontrol show hostnames`` (SLURM's own parser).

    Raises:
        SlurmError: scontrol fails (it needs SLURM's configuration: SLURM_CONF or /etc/slurm/slurm.conf).
    """
    return _run(["scontrol", "show", "hostnames", host_list]).split()


def check_capacity(runs, part: Partition, cpus_per_task) -> list[str]:
    """Refuse, before anything is submitted, runs the partition cannot hold; returns notes on what the
    partition cannot do now but may later (it is down or inactive).

    Raises:
        SlurmError: listing every run that asks for more nodes than the partition has usable now (nodes
            that are down, drained, draining or failing are named and not counted), or more CPUs per node
            (workers per node x ``cpus_per_task(run)``) than its smallest node.
    """
    problems = []
    unusable = "".join(f"; {node} is {state}" for node, state in sorted(part.unusable.items()))
    for run in runs:
        if run.nodes > part.usable_nodes:
            problems.append(
                f"{run.run_id}: asks for {run.nodes} nodes, partition {part.name!r} has "
                f"{part.usable_nodes} usable of {part.nodes}{unusable}"
            )
        cpus = run.workers_per_node * cpus_per_task(run)
        if cpus > part.min_cpus_per_node:
            problems.append(
                f"{run.run_id}: asks for {run.workers_per_node} workers per node x {cpus_per_task(run)} "
                f"CPUs per task = {cpus} CPUs per node, partition {part.name!r} nodes have "
                f"{part.min_cpus_per_node}"
            )
    if problems:
        raise SlurmError(
            "the cluster cannot hold these runs (sinfo); nothing was submitted:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    if part.available != "up":
        return [f"partition {part.name!r} is {part.available} now (sinfo): the runs will pend until it is up"]
    return []


def _seconds_between(start: str, end: str) -> float | None:
    try:
        return (datetime.datetime.fromisoformat(end) - datetime.datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return None


def jobs_info(job_ids: list[str]) -> dict[str, dict]:
    """SLURM's accounting view of several jobs, from one ``sacct --duplicates`` call: per job id, its current
    incarnation's state, node list, nodes, queue wait, elapsed and (while pending) pending seconds
    (:func:`_job_row`), and ``requeues``: each earlier incarnation that SLURM requeued under the same id (a
    node failure, a preemption, ``scontrol requeue``, submitit at the time limit), oldest first
    (:func:`_requeue_row`). A job accounting does not know yet is left out.

    Raises:
        SlurmError: sacct fails.
    """
    if not job_ids:
        return {}
    ids = ",".join(map(str, job_ids))
    out = _run(["sacct", "-j", ids, "-X", "-D", "-n", "-P", "-o", ",".join(SACCT_FIELDS)])
    rows = [dict(zip(SACCT_FIELDS, line.split("|"))) for line in out.splitlines() if line.strip()]
    wanted = set(map(str, job_ids))
    history: dict[str, list[dict]] = {}
    for row in rows:  # sacct lists a job's incarnations oldest first
        if row["JobID"] in wanted:
            history.setdefault(row["JobID"], []).append(row)
    return {
        job_id: {**_job_row(incarnations[-1]), "requeues": [_requeue_row(row) for row in incarnations[:-1]]}
        for job_id, incarnations in history.items()
    }


def _job_row(row: dict) -> dict:
    state = row["State"].split()[0]
    now = datetime.datetime.now().isoformat(timespec="seconds")
    return {
        "job_id": row["JobID"],
        "state": state,
        "final": state in FINAL_STATES,
        "node_list": row["NodeList"],
        "nodes": int(row["NNodes"]) if row["NNodes"].isdigit() else None,
        "queue_wait_seconds": _seconds_between(row["Submit"], row["Start"]),
        "pending_seconds": _seconds_between(row["Submit"], now) if state == "PENDING" else None,
        "elapsed_seconds": float(row["ElapsedRaw"]) if row["ElapsedRaw"].isdigit() else None,
        "exit_code": row["ExitCode"],
        "raw_state": row["State"],
    }


#: Why SLURM requeued a job, by the sacct state its ended incarnation was left with.
REQUEUE_CAUSES = {
    "NODE_FAIL": "a node of the job failed",
    "PREEMPTED": "the job was preempted",
    "REQUEUED": "requeued (scontrol requeue, or submitit at the time limit)",
    "TIMEOUT": "the job reached its time limit",
    "BOOT_FAIL": "a node failed to boot",
}


def _requeue_row(row: dict) -> dict:
    """One ended incarnation of a requeued job: its sacct state, the cause (:data:`REQUEUE_CAUSES`), when it
    started and ended (sacct's local ISO 8601 times, None when unknown) and its nodes."""
    state = row["State"].split()[0]
    return {
        "state": state,
        "cause": REQUEUE_CAUSES.get(state, f"it ended {state} and was requeued"),
        "started_at": _time(row["Start"]),
        "ended_at": _time(row["End"]),
        "node_list": row["NodeList"] or None,
    }


def _time(value: str) -> str | None:
    """sacct's time, or None for its words for no time (Unknown, None)."""
    return value if value[:1].isdigit() else None


def job_info(job_id: str) -> dict | None:
    """:func:`jobs_info` of one job, or None while accounting does not know it yet."""
    return jobs_info([str(job_id)]).get(str(job_id))


#: squeue's long job states (%T) of a job that is not over: it waits, runs, ends its processes, or was
#: requeued (squeue(1), "JOB STATE CODES"). A requeued job's accounting may say NODE_FAIL or PREEMPTED a
#: moment before it pends again, so squeue's word decides whether a job is over.
ACTIVE_STATES = {
    "PENDING",
    "RUNNING",
    "CONFIGURING",
    "COMPLETING",
    "SUSPENDED",
    "STOPPED",
    "SIGNALING",
    "STAGE_OUT",
    "RESIZING",
    "REQUEUED",
    "REQUEUE_FED",
    "REQUEUE_HOLD",
    "SPECIAL_EXIT",
    "RESV_DEL_HOLD",
}
#: Of :data:`ACTIVE_STATES`, those of a job that waits to (re)start.
WAITING_STATES = {"PENDING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "SPECIAL_EXIT", "RESV_DEL_HOLD"}
#: What squeue says of a job id it does not know (over for a while, purged, or of another cluster).
INVALID_JOB = "Invalid job id specified"


@dataclass(frozen=True)
class Queued:
    """squeue's view of a job: its state (%T), why it pends (%r), the comment it was submitted with (%k)."""

    state: str
    reason: str
    comment: str

    @property
    def active(self) -> bool:
        """Whether the job is not over (:data:`ACTIVE_STATES`)."""
        return self.state in ACTIVE_STATES

    @property
    def waiting(self) -> bool:
        """Whether the job waits to (re)start (:data:`WAITING_STATES`)."""
        return self.state in WAITING_STATES


def queued(job_ids: list[str] | None = None) -> dict[str, Queued]:
    """squeue's view of these jobs (default: of every job it holds), from one call, by job id; a job squeue
    does not hold (over for a while, purged, of another cluster) is left out.

    Raises:
        SlurmError: squeue fails for another reason than not knowing the jobs.
    """
    if job_ids == []:
        return {}
    args = ["squeue", "-h", "-t", "all", "-o", "%i|%T|%r|%k"]
    try:
        out = _run(args + (["-j", ",".join(map(str, job_ids))] if job_ids else []))
    except SlurmError as exc:
        if INVALID_JOB in str(exc):
            return {}
        raise
    views = {}
    for line in out.splitlines():
        parts = line.split("|", 3)
        if len(parts) == 4:
            views[parts[0]] = Queued(parts[1], parts[2], parts[3])
    return views


def cancel(job_id: str) -> None:
    """Cancel a job (``scancel``).

    Raises:
        SlurmError: scancel fails.
    """
    _run(["scancel", str(job_id)])
