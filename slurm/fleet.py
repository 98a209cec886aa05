"""Fleet sweeps: one single-node run per node, each pinned to its node (``grid.each_node``: every node of the
executor's partition; ``grid.nodes_list``: a SLURM host list), every node at once and one run at a time on each
(:class:`slurm.executor.slurm.SlurmExecutor`), so that acceptance can hold every node against the reference and
against the rest of the fleet (:mod:`analysis.fleet`).

The nodes are planned once, when the sweep is first run, and kept in its state (``sweep.json``'s ``fleet``): a
rerun runs over the same nodes, whatever the partition holds by then, and a spec that now names other nodes is
refused (:class:`FleetChanged`). Whenever the driver submits, a run whose node cannot take a job now (drained,
down, not responding, no longer in the partition) is not submitted but skipped (:func:`skips`): its record says
failed with the node's state and the reason given for it, ``sweep.json`` marks it skipped, and ``mcnn-bench
status`` shows it so; the next sweep looks at the node again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from benchmark.errors import McnnBenchError
from benchmark.schema import PlainName
from slurm.executor import Executor, NodeState, Run
from slurm.spec import SweepSpec
from slurm.state import SweepState, now

#: The key of ``sweep.json`` that keeps a fleet's plan.
FLEET_KEY = "fleet"


class FleetError(McnnBenchError, ValueError):
    """A fleet that cannot be planned (its host list gives no usable node name, its partition no node), or a
    sweep whose spec now names other nodes than it was planned over; the message names the key and what to do."""


class FleetChanged(FleetError):
    """The spec names other nodes than the sweep was planned over (or is no fleet any more)."""


@dataclass(frozen=True)
class FleetPlan:
    """A fleet's nodes as planned: what chose them (:func:`origin`), the nodes in order, and when (UTC, ISO 8601)."""

    origin: str
    nodes: tuple[str, ...]
    planned_at: str


def origin(spec: SweepSpec) -> str:
    """What chooses the nodes of ``spec``'s fleet, as the spec says it: ``grid.each_node = true`` or
    ``grid.nodes_list = 'node[1-4]'``."""
    return "grid.each_node = true" if spec.grid.each_node else f"grid.nodes_list = {spec.grid.nodes_list!r}"


def plan(spec: SweepSpec, executor: Executor) -> FleetPlan:
    """``spec``'s fleet planned now: the nodes of the host list (``executor.expand_hosts``), else every node of
    the executor's partition (``executor.nodes``), in the scheduler's order, each once.

    Raises:
        FleetError: a node name is not a plain name (a host list the scheduler expands into what no node is
            called), or there is no node.
        ExecutorError: the scheduler cannot be asked.
    """
    hosts = spec.grid.nodes_list
    names = executor.expand_hosts(hosts) if hosts is not None else list(executor.nodes())
    nodes = tuple(dict.fromkeys(names))
    key = "grid.nodes_list" if hosts is not None else "grid.each_node"
    bad = [name for name in nodes if not _plain(name)]
    if bad:
        raise FleetError(f"{key}: {hosts!r} gives names no node has: {', '.join(map(repr, bad))}")
    if not nodes:
        raise FleetError(f"{key}: no node to run on ({origin(spec)})")
    return FleetPlan(origin(spec), nodes, now())


def planned(state: SweepState, spec: SweepSpec, executor: Executor | None) -> FleetPlan | None:
    """The fleet of ``spec``'s sweep: the plan kept in ``state``, else (with an ``executor`` to ask) one
    planned now (:func:`plan`) and put in ``state.data``, which the state's next save keeps; None when there is
    neither.

    Raises:
        FleetChanged: ``spec`` chooses its nodes otherwise than the sweep was planned with.
        FleetError: the kept plan is malformed; or see :func:`plan`.
        ExecutorError: see :func:`plan`.
    """
    kept = state.data.get(FLEET_KEY)
    if kept is not None:
        try:
            fleet = FleetPlan(str(kept["origin"]), tuple(map(str, kept["nodes"])), str(kept["planned_at"]))
        except (KeyError, TypeError) as exc:
            raise FleetError(
                f"{state.path}: its fleet ({FLEET_KEY}) is malformed ({exc!r}); move the file away to plan the "
                "sweep's nodes afresh (the run records are kept)"
            ) from exc
        if fleet.origin != origin(spec):
            raise FleetChanged(
                f"sweep {state.dir.name} runs over the {len(fleet.nodes)} nodes planned with {fleet.origin} "
                f"({fleet.planned_at}), but its spec now gives {origin(spec)}: a sweep keeps its runs; run the spec "
                "as another sweep with --new-sweep NAME"
            )
        return fleet
    if executor is None:
        return None
    fleet = plan(spec, executor)
    state.data[FLEET_KEY] = {**asdict(fleet), "nodes": list(fleet.nodes)}
    return fleet


def sweep_runs(spec: SweepSpec, state: SweepState, results: Path, executor: Executor | None) -> list[Run]:
    """The runs of ``spec``'s sweep into ``results``: a fleet's over its nodes (:func:`planned`; none while it has
    no plan and no ``executor`` to plan it), every other spec's as it gives them.

    Raises:
        FleetChanged: the sweep was planned as a fleet and the spec is none any more, or names other nodes.
        FleetError, ExecutorError: see :func:`plan`.
    """
    if not spec.grid.fleet:
        if FLEET_KEY in state.data:
            raise FleetChanged(
                f"sweep {state.dir.name} is a fleet planned with {state.data[FLEET_KEY]['origin']}, but its spec "
                "now gives no grid.each_node or grid.nodes_list: run the spec as another sweep with --new-sweep NAME"
            )
        return spec.runs(results)
    fleet = planned(state, spec, executor)
    return [] if fleet is None else spec.runs(results, fleet.nodes)


def skips(runs: list[Run], nodes: dict[str, NodeState]) -> dict[str, str]:
    """Why each of ``runs`` pinned to a node that cannot take a job now is skipped (by run id): the node's state
    and the reason given for it in ``nodes`` (the scheduler's view, :meth:`Executor.nodes`), or its absence
    there. Runs pinned to a node that can, and runs pinned to none, are left out."""
    reasons = {}
    for run in runs:
        node = run.config.run.node
        if node is None or (node in nodes and nodes[node].usable):
            continue
        state = nodes.get(node)
        reasons[run.run_id] = (
            f"skipped: {node} cannot take a job now: {state.why_not()}"
            if state is not None
            else f"skipped: {node} is not a node of the executor's partition now"
        )
    return reasons


def _plain(name: str) -> bool:
    """Whether ``name`` is a plain name (:data:`benchmark.schema.PlainName`), as a node's name in a run id must be."""
    try:
        _PLAIN_NAME.validate_python(name)
    except ValidationError:
        return False
    return True


_PLAIN_NAME = TypeAdapter(PlainName)
