"""Sweep specs: a TOML file that names a grid of runs (nodes x workers per node x batch sizes, optionally
x intra-op threads per worker, optimizers, engines).

Its ``[data]``, ``[model]``, ``[training]``, ``[learning_rate]`` and ``[run]`` sections are the trainer's own
settings (:mod:`benchmark.config`; ``[run]`` without the keys the sweep sets for each run), ``[executor]`` is
the chosen executor's settings (:mod:`slurm.executor`), and
``[grid]`` is defined here. Every problem is reported at once, one line per key, before anything runs:
each section is validated on its own, and a check across sections runs whenever the sections it reads
are valid. Relative paths are resolved from the spec file's folder; ``mcnn-bench sweep --data-dir`` replaces
``data.dir`` before validation (:func:`load_spec`).
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, NamedTuple

from pydantic import AfterValidator, Field, model_validator

from benchmark.config import (
    DataSettings,
    EngineName,
    LearningRateSettings,
    ModelSettings,
    Optimizer,
    RunSettings,
    TrainConfig,
    TrainingSettings,
    data_problems,
    sweep_owner,
)
from benchmark.data.sources import SOURCES
from benchmark.engines import EngineUnavailable, device_problem, engine_problem
from benchmark.errors import McnnBenchError
from benchmark.schema import Line, Model, PlainName, read_toml, validate
from slurm.executor import EXECUTORS, Run
from slurm.executor.base import ExecutorSettings


class SpecError(McnnBenchError, ValueError):
    """A sweep spec that cannot run; the message names the file and every offending key."""


def _unique(values: list) -> list:
    if len(set(values)) != len(values):
        raise ValueError(f"has repeated values: {values!r}")
    return values


Counts = Annotated[list[Annotated[int, Field(gt=0)]], Field(min_length=1), AfterValidator(_unique)]


class Header(Model):
    """The spec's top-level keys."""

    name: PlainName = Field(min_length=1, description="sweep name; runs land in RESULTS/name/<run_id>/")
    results_dir: Line | None = Field(None, min_length=1, description="where sweeps land (relative to the spec)")
    description: str | None = None


class Point(NamedTuple):
    """One run of a grid: its id, topology, the local batch it trains at, and its intra-op threads per
    worker (None: the executor gives each worker its share of the cores)."""

    run_id: str
    nodes: int
    workers_per_node: int
    local_batch_size: int
    intra_op_threads: int | None
    optimizer: str | None = None
    engine: str | None = None
    node: str | None = None


#: What a SLURM host list is made of (``node[001-200],gpu[1-4]``); scontrol expands it when the sweep is planned.
HOST_LIST = re.compile(r"[A-Za-z0-9._,\[\]-]+")


class Grid(Model):
    """``[grid]``: the runs are the Cartesian product nodes x workers per node x batch sizes (x intra-op
    threads per worker, when given), each shape ``repeats`` times. With ``max_global_batch_size``, a run
    whose global batch (local x workers) would exceed the cap trains at local batch ``cap // workers``
    instead (Datta et al. 2019, sec. 5.4: the global batch grows with the nodes up to a cap, then the local
    batch shrinks). ``intra_op_threads`` is the thread-count sweep of Wilson et al. (Dell EMC, "Fast and
    Accurate Training of an AI Radiologist on Intel Xeon-based Dell EMC Supercomputers", Figs. 5-8)."""

    nodes: Counts
    workers_per_node: Counts
    local_batch_size: Counts | None = None
    global_batch_size: Counts | None = None
    max_global_batch_size: int | None = Field(
        None,
        gt=0,
        description="cap on the global batch (with "
        "local_batch_size): a run's local batch is min(local, cap // "
        "workers), and the cap must divide by the workers where it binds",
    )
    intra_op_threads: Counts | None = Field(
        None,
        description="TensorFlow intra-op threads (and OMP_NUM_THREADS) "
        "per worker, one run each (run ids get -t<N>); at most the cores a "
        "worker gets; default: each worker's share of the cores",
    )
    optimizer: Annotated[list[Optimizer], AfterValidator(_unique)] | None = Field(
        None,
        min_length=1,
        description="optimizers to compare, one run "
        "each (run ids get -<optimizer>; Wilson et al., Fig. 12); replaces "
        "training.optimizer",
    )
    engine: Annotated[list[EngineName], AfterValidator(_unique)] | None = Field(
        None,
        min_length=1,
        description="training engines to compare, one run each (run ids get -<engine>); replaces run.engine",
    )
    epochs: Annotated[list[Annotated[int, Field(gt=0)]], Field(min_length=1)] | None = Field(
        None,
        description="epochs to train at each of grid.nodes, in the same order, in place of training.epochs "
        "(which may then be left out): Datta et al. 2019's Table 1 trains each node count to its own",
    )
    repeats: int = Field(
        1,
        ge=1,
        description="runs of each shape (run ids get -r1, -r2 ... when more than 1): "
        "acceptance takes the median over the repeats",
    )
    each_node: bool = Field(
        False,
        description="a fleet sweep: one single-node run per node of the executor's partition, each pinned to its "
        "node (run ids get <node>-), all nodes at once and one run at a time per node; a node that cannot take "
        "a job (drained, down ...) is a skipped run with sinfo's state and reason. The nodes are fixed when the "
        "sweep is first submitted. Needs grid.nodes = [1] and the slurm executor",
    )
    nodes_list: Line | None = Field(
        None,
        min_length=1,
        description="a fleet sweep over a SLURM host list (node[001-200],gpu[1-4]; expanded by scontrol show "
        "hostnames): as grid.each_node, over these nodes",
    )

    @model_validator(mode="after")
    def _one_batch_kind_that_divides(self) -> Grid:
        if (self.local_batch_size is None) == (self.global_batch_size is None):
            raise ValueError(
                "grid.local_batch_size: give exactly one of grid.local_batch_size and grid.global_batch_size"
            )
        if self.epochs is not None and len(self.epochs) != len(self.nodes):
            raise ValueError(
                f"grid.epochs: one per grid.nodes entry, in the same order: {len(self.nodes)} node counts, "
                f"{len(self.epochs)} epochs"
            )
        problems = [
            f"grid.global_batch_size: {batch} does not divide by {nodes} nodes x {wpn} workers per "
            f"node = {nodes * wpn} workers"
            for batch, nodes, wpn in itertools.product(self.global_batch_size or [], self.nodes, self.workers_per_node)
            if batch % (nodes * wpn)
        ]
        problems += self._cap_problems() + self._fleet_problems()
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _cap_problems(self) -> list[str]:
        """Why ``max_global_batch_size`` cannot cap this grid: it is given with global batches, or it does
        not divide by the workers of a run it caps, or it caps two local batches of a shape to the same."""
        cap = self.max_global_batch_size
        if cap is None:
            return []
        if self.local_batch_size is None:
            return [
                "grid.max_global_batch_size: only with grid.local_batch_size (with grid.global_batch_size, "
                "list global batches no larger than the cap)"
            ]
        problems = []
        for nodes, wpn in itertools.product(self.nodes, self.workers_per_node):
            workers = nodes * wpn
            binds = [local for local in self.local_batch_size if local * workers > cap]
            if binds and cap % workers:
                problems.append(
                    f"grid.max_global_batch_size: {cap} does not divide by {nodes} nodes x {wpn} "
                    f"workers per node = {workers} workers, where it caps local batch {binds[0]} "
                    f"(global {binds[0] * workers})"
                )
                continue
            effective = [self._local(local, workers) for local in self.local_batch_size]
            same = sorted({batch for batch in effective if effective.count(batch) > 1})
            problems += [
                f"grid.max_global_batch_size: {cap} makes local batches "
                f"{', '.join(str(b) for b in self.local_batch_size if self._local(b, workers) == batch)} "
                f"the same run at {nodes} nodes x {wpn} workers per node (local batch {batch})"
                for batch in same
            ]
        return problems

    @property
    def fleet(self) -> bool:
        """Whether this is a fleet sweep: one run per node (``each_node`` or ``nodes_list``)."""
        return self.each_node or self.nodes_list is not None

    def _fleet_problems(self) -> list[str]:
        """Why ``each_node`` or ``nodes_list`` cannot make this grid a fleet: both are given, the grid's runs are
        not single-node runs, or the host list holds what no host list does."""
        if not self.fleet:
            return []
        key = "grid.each_node" if self.each_node else "grid.nodes_list"
        problems = []
        if self.each_node and self.nodes_list is not None:
            problems.append("grid.nodes_list: give grid.each_node = true or grid.nodes_list, not both")
        if self.nodes != [1]:
            problems.append(
                f"{key}: a fleet sweep runs one single-node run per node: grid.nodes must be [1], got {self.nodes}"
            )
        if self.nodes_list is not None and not HOST_LIST.fullmatch(self.nodes_list):
            problems.append(
                f"grid.nodes_list: not a SLURM host list (names, ranges in brackets, commas: node[001-200],gpu1), "
                f"got {self.nodes_list!r}"
            )
        return problems

    def epochs_at(self, nodes: int) -> int | None:
        """The epochs ``grid.epochs`` gives the runs on ``nodes`` nodes (None: training.epochs)."""
        return None if self.epochs is None else self.epochs[self.nodes.index(nodes)]

    def _local(self, local: int, workers: int) -> int:
        """The local batch a run of ``workers`` trains at, for a grid local batch ``local`` (capped)."""
        cap = self.max_global_batch_size
        return local if cap is None or local * workers <= cap else cap // workers

    def points(self, fleet_nodes: Sequence[str] | None = None) -> list[Point]:
        """Every run, in grid order (nodes, workers per node, batch, threads, optimizer, engine), each shape
        ``repeats`` times; with ``fleet_nodes`` (a fleet's nodes, :mod:`slurm.fleet`), every run once per node,
        node by node.

        The run id is ``n<nodes>-w<workers per node>-b<local batch>`` (the batch the run trains at, after the
        cap) or ``...-gb<global batch>``, then ``-t<threads>`` when the grid sweeps intra-op threads, then
        ``-<optimizer>`` when it compares optimizers, then ``-<engine>`` when it compares engines, then ``-r<repeat>``
        when ``repeats`` > 1; a fleet's runs put their node in front: ``node3-n1-w1-b8-r2``."""
        points = self._shape_points()
        if fleet_nodes is None:
            return points
        return [point._replace(run_id=f"{node}-{point.run_id}", node=node) for node in fleet_nodes for point in points]

    def _shape_points(self) -> list[Point]:
        """:meth:`points` without the fleet's nodes."""
        per_worker, points = self.local_batch_size is not None, []
        batches = self.local_batch_size or self.global_batch_size
        assert batches is not None, "the grid's validator requires local_batch_size or global_batch_size"
        threads_counts: list[int | None] = list(self.intra_op_threads) if self.intra_op_threads else [None]
        optimizers: list[str | None] = list(self.optimizer) if self.optimizer else [None]
        engines: list[str | None] = list(self.engine) if self.engine else [None]
        for nodes, wpn, batch, threads, optimizer, engine in itertools.product(
            self.nodes, self.workers_per_node, batches, threads_counts, optimizers, engines
        ):
            local = self._local(batch, nodes * wpn) if per_worker else batch // (nodes * wpn)
            shape = f"n{nodes}-w{wpn}-" + (f"b{local}" if per_worker else f"gb{batch}")
            shape += ("" if threads is None else f"-t{threads}") + ("" if optimizer is None else f"-{optimizer}")
            shape += "" if engine is None else f"-{engine}"
            for repeat in range(1, self.repeats + 1):
                run_id = shape if self.repeats == 1 else f"{shape}-r{repeat}"
                points.append(Point(run_id, nodes, wpn, local, threads, optimizer, engine))
        return points


#: The sections of a spec with their models; ``[executor]``'s model depends on its ``kind``; ``[run]`` may not
#: give the keys the sweep sets for each run (:func:`benchmark.config.sweep_owner`).
SECTIONS: dict[str, type[Model]] = {
    "data": DataSettings,
    "model": ModelSettings,
    "grid": Grid,
    "training": TrainingSettings,
    "learning_rate": LearningRateSettings,
    "run": RunSettings,
}
#: The ``[run]`` keys a sweep sets for each run, with what sets them.
SWEEP_SETS = {name: owner for name, field in RunSettings.model_fields.items() if (owner := sweep_owner(field))}


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep spec."""

    path: Path
    header: Header
    data: DataSettings
    model: ModelSettings
    grid: Grid
    training: TrainingSettings
    learning_rate: LearningRateSettings
    run: RunSettings
    executor: ExecutorSettings
    data_dir: Path | None = None  # the --data-dir that replaced the file's data.dir, absolute

    @property
    def name(self) -> str:
        """The sweep's name; results go to ``results_dir / name``."""
        return self.header.name

    def renamed(self, name: str) -> SweepSpec:
        """This spec as the sweep ``name`` (its runs land in ``results_dir / name``).

        Raises:
            SpecError: ``name`` is not a plain name.
        """
        header, problems = validate(Header, {**self.header.model_dump(), "name": name})
        if problems:
            raise SpecError(f"{self.path}: invalid sweep name: {'; '.join(problems)}")
        assert isinstance(header, Header), "validate gives the model when it finds no problem"
        return dataclasses.replace(self, header=header)

    def resolve(self, path: str) -> Path:
        """``path`` made absolute, relative to the spec file's folder."""
        return (self.path.parent / path).resolve()

    def results_dir(self, override: str | Path | None = None) -> Path:
        """Where the sweep's runs land: ``override``, else the spec's ``results_dir`` (relative to the spec
        file), else ``./results``; always absolute."""
        if override is not None:
            return Path(override).resolve()
        return self.resolve(self.header.results_dir) if self.header.results_dir else Path("results").resolve()

    def engines(self) -> list[str]:
        """The engines of the spec's runs, in grid order: ``grid.engine``, else the one ``run.engine``."""
        return list(self.grid.engine) if self.grid.engine else [self.run.engine]

    def runnable_here(self) -> tuple[SweepSpec, dict[str, str]]:
        """This spec without the runs whose engine cannot run in this Python, and why each engine left out
        cannot, by engine (the engine registry's sentence, :func:`benchmark.engines.engine_problem`; empty when
        every engine can run). ``grid.engine`` is narrowed to the engines that can; the runs kept are the spec's
        own, with the same ids and settings, so a sweep of the whole spec later (with another interpreter, into
        the same results folder) finds them done and runs the rest.

        Raises:
            EngineUnavailable: no engine of the spec can run here (the registry's sentence of each).
        """
        engines = self.engines()
        problems = {engine: problem for engine in engines if (problem := engine_problem(engine)) is not None}
        kept = [engine for engine in engines if engine not in problems]
        if not kept:
            raise EngineUnavailable(f"no run of sweep {self.name} can run here: " + "; ".join(problems.values()))
        if not problems:
            return self, {}
        return dataclasses.replace(self, grid=self.grid.model_copy(update={"engine": kept})), problems

    def runs(self, results_dir: Path, fleet_nodes: Sequence[str] | None = None) -> list[Run]:
        """Expand the grid into runs, each with its full training config. With ``data.folds = K``, each grid
        point is K runs, ids ``<point>-f1`` .. ``<point>-fK``, fold ``k`` validating the k-th fold
        (``data.fold = k``). ``fleet_nodes``: a fleet's nodes, as planned (:func:`slurm.fleet.plan`): every run
        once per node, pinned to it (``run.node``); without them, a fleet spec gives the runs of one node, unpinned
        (what the checks before a sweep need: its engines, data, folder and disk)."""
        data = self.data.model_copy(update={"dir": str(self.resolve(self.data.dir))}) if self.data.dir else self.data
        training, model = self.training, self.model
        if model.init_weights:
            model = model.model_copy(update={"init_weights": str(self.resolve(model.init_weights))})
        if training.init_from:
            training = training.model_copy(update={"init_from": str(self.resolve(training.init_from))})
        runs = []
        for point in self.grid.points(fleet_nodes):
            run = self.run.model_copy(
                update={
                    "local_batch_size": point.local_batch_size,
                    "nodes": point.nodes,
                    "workers_per_node": point.workers_per_node,
                    "intra_op_threads": point.intra_op_threads,
                    "results_dir": str(results_dir),
                    "sweep": self.name,
                    "run_id": point.run_id,
                    **({} if point.engine is None else {"engine": point.engine}),
                    **({} if point.node is None else {"node": point.node}),
                }
            )
            changed: dict[str, object] = {} if point.optimizer is None else {"optimizer": point.optimizer}
            epochs = self.grid.epochs_at(point.nodes)
            changed.update({} if epochs is None else {"epochs": epochs})
            trained = training.model_copy(update=changed) if changed else training
            for run_id, fold in fold_ids(point.run_id, data.folds):
                folded = data if fold is None else data.model_copy(update={"fold": fold})
                ided = run if fold is None else run.model_copy(update={"run_id": run_id})
                config = TrainConfig(
                    data=folded, model=model, training=trained, learning_rate=self.learning_rate, run=ided
                )
                runs.append(Run(run_id, point.nodes, point.workers_per_node, config))
        return runs


def fold_ids(run_id: str, folds: int | None) -> list[tuple[str, int | None]]:
    """The runs of one grid point: ``[(run_id, None)]`` without folds, else ``(run_id-f<k>, k)`` for k = 1..K."""
    if folds is None:
        return [(run_id, None)]
    return [(f"{run_id}-f{fold}", fold) for fold in range(1, folds + 1)]


def _executor_section(raw: dict) -> tuple[Model | None, list[str]]:
    """The ``[executor]`` section validated by its kind's model; keys of another kind are named as such."""
    kind = raw.get("kind")
    if kind not in EXECUTORS:
        problem = "required" if kind is None else f"must be one of {', '.join(EXECUTORS)}, got {kind!r}"
        return None, [f"executor.kind: {problem}"]
    own = EXECUTORS[kind].Settings.model_fields
    owner = {key: other for other, e in EXECUTORS.items() for key in e.Settings.model_fields if key not in own}
    errors = [
        f"executor.{key}: only for the {owner[key]} executor, not {kind!r}" for key in sorted(set(raw) & set(owner))
    ]
    settings, problems = validate(
        EXECUTORS[kind].Settings, {k: v for k, v in raw.items() if k not in owner}, "executor"
    )
    return settings, errors + problems


def _run_section(raw: dict) -> tuple[Model | None, list[str]]:
    """``[run]`` validated as :class:`RunSettings`, each key the sweep sets for each run named as such."""
    owned = [f"run.{key}: set by {SWEEP_SETS[key]} in a sweep spec" for key in sorted(set(raw) & set(SWEEP_SETS))]
    settings, problems = validate(RunSettings, {k: v for k, v in raw.items() if k not in SWEEP_SETS}, "run")
    return settings, owned + problems


def _training_with_grid_epochs(tables: dict) -> dict:
    """``[training]`` as given, with ``epochs`` the largest of ``grid.epochs`` when the grid gives epochs per node
    count and training does not (the runs each get theirs: :meth:`SweepSpec.runs`)."""
    training, grid_epochs = tables.get("training", {}), tables.get("grid", {}).get("epochs")
    if "epochs" in training or not isinstance(grid_epochs, list) or not grid_epochs:
        return training
    if not all(isinstance(e, int) and not isinstance(e, bool) for e in grid_epochs):
        return training  # grid.epochs is invalid: the grid's validation says so
    return {**training, "epochs": max(grid_epochs)}


def _sections(raw: dict) -> tuple[dict, list[str]]:
    """Every section validated on its own: the valid ones, and every problem."""
    tables = {key: value for key, value in raw.items() if isinstance(value, dict)}
    errors = [
        f"[{name}]: unknown section; known: {', '.join([*SECTIONS, 'executor'])}"
        for name in sorted(set(tables) - {*SECTIONS, "executor"})
    ]
    header, problems = validate(Header, {k: v for k, v in raw.items() if k not in tables})
    valid, errors = {"header": header}, errors + problems
    for name, model in {**SECTIONS, "executor": None}.items():
        if name not in tables and (model is None or any(f.is_required() for f in model.model_fields.values())):
            errors.append(f"[{name}]: missing section")
            continue
        if model is None:
            section, problems = _executor_section(tables[name])
        elif name == "run":
            section, problems = _run_section(tables.get(name, {}))
        elif name == "training":
            section, problems = validate(model, _training_with_grid_epochs(tables), name)
        else:
            section, problems = validate(model, tables.get(name, {}), name)
        valid[name] = section
        errors += problems
    return valid, errors


def _cross_checks(sections: dict, base: Path) -> list[str]:
    """Checks across sections, each run when the sections it reads are valid."""
    data, grid, training, executor, model = (sections.get(k) for k in ("data", "grid", "training", "executor", "model"))
    run = sections.get("run")
    errors = []
    if data and training and model:
        errors += data_problems(data, training, model)
    if run and grid:  # every engine of the runs must train on run.device
        errors += [p for engine in grid.engine or [run.engine] if (p := device_problem(engine, run.device))]
    if data and data.dir:
        folder = (base / data.dir).resolve()
        problem = SOURCES[data.source].problem(folder)  # present and readable, headers only
        if problem:
            errors.append(f"data.dir: {problem}")
    if training and training.init_from and not (base / training.init_from).is_dir():
        errors.append(f"training.init_from: {(base / training.init_from).resolve()} is not a run's folder")
    if executor and grid and grid.fleet and not EXECUTORS[executor.kind].pins_nodes:
        kinds = " or ".join(repr(kind) for kind, e in EXECUTORS.items() if e.pins_nodes)
        errors.append(
            f"{'grid.each_node' if grid.each_node else 'grid.nodes_list'}: a fleet sweep pins each run to its node, "
            f"which the {executor.kind} executor cannot: use executor.kind = {kinds}"
        )
    if executor and grid:
        errors += EXECUTORS[executor.kind].spec_problems(
            executor, grid.nodes, grid.workers_per_node, grid.intra_op_threads
        )
    return errors


def parse_spec(raw: dict, path: str | Path) -> SweepSpec:
    """Validate a spec already read from TOML (``path`` names it in errors and anchors relative paths).

    Raises:
        SpecError: listing every problem, one per line, each naming its key.
    """
    path = Path(path).resolve()
    sections, errors = _sections(raw)
    errors += _cross_checks(sections, path.parent)
    if errors:
        raise SpecError(f"{path}: invalid sweep spec:\n" + "\n".join(f"  - {e}" for e in errors))
    return SweepSpec(path=path, **sections)


def with_data_dir(raw: dict, data_dir: str | Path) -> dict:
    """``raw`` (a spec as read from TOML) with ``data.dir`` set to ``data_dir``, made absolute from the
    current directory (not the spec's folder): a spec that names the data where it lies on a cluster
    (the paper's specs say /data/BBBC021) can be validated and run against a copy elsewhere."""
    data = raw.get("data")
    if data is not None and not isinstance(data, dict):
        return raw  # the section itself is invalid; parse_spec says so
    return {**raw, "data": {**(data or {}), "dir": str(Path(data_dir).resolve())}}


def load_spec(path: str | Path, data_dir: str | Path | None = None) -> SweepSpec:
    """Read and validate the sweep spec at ``path``; with ``data_dir``, its ``data.dir`` is replaced by
    ``data_dir`` (relative to the current directory) before validation (see :func:`with_data_dir`).

    Raises:
        SpecError: the file is missing, is not valid TOML, or does not validate (see :func:`parse_spec`).
    """
    raw = read_toml(path, "sweep spec", SpecError)
    if data_dir is None:
        return parse_spec(raw, path)
    return dataclasses.replace(parse_spec(with_data_dir(raw, data_dir), path), data_dir=Path(data_dir).resolve())
