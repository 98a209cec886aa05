"""Sweep specs: a TOML file that names a grid of runs (nodes x workers per node x batch sizes).

Its ``[data]``, ``[training]`` and ``[learning_rate]`` sections are the trainer's own settings
(:mod:`benchmark.config`), ``[executor]`` is the chosen executor's settings (:mod:`slurm.executor`), and
``[grid]`` is defined here. Every problem is reported at once, one line per key, before anything runs:
each section is validated on its own, and a check across sections runs whenever the sections it reads
are valid. Relative paths are resolved from the spec file's folder.
"""
from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from benchmark.config import DataSettings, LearningRateSettings, RunSettings, TrainConfig, TrainingSettings, data_problems
from benchmark.data.sources import SOURCES
from benchmark.schema import Line, Model, PlainName, read_toml, validate
from slurm.executor import EXECUTORS, Run


class SpecError(ValueError):
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


class Grid(Model):
    """``[grid]``: the runs are the Cartesian product nodes x workers per node x batch sizes, each shape
    ``repeats`` times."""

    nodes: Counts
    workers_per_node: Counts
    local_batch_size: Counts | None = None
    global_batch_size: Counts | None = None
    repeats: int = Field(1, ge=1, description="runs of each shape (run ids get -r1, -r2 ... when more than 1): "
                                              "acceptance takes the median over the repeats")

    @model_validator(mode="after")
    def _one_batch_kind_that_divides(self) -> Grid:
        if (self.local_batch_size is None) == (self.global_batch_size is None):
            raise ValueError("grid.local_batch_size: give exactly one of grid.local_batch_size and "
                             "grid.global_batch_size")
        problems = [f"grid.global_batch_size: {batch} does not divide by {nodes} nodes x {wpn} workers per "
                    f"node = {nodes * wpn} workers"
                    for batch, nodes, wpn in itertools.product(self.global_batch_size or [], self.nodes,
                                                               self.workers_per_node)
                    if batch % (nodes * wpn)]
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def points(self):
        """``(run_id, nodes, workers_per_node, local batch size)`` of every run, in grid order, each shape
        ``repeats`` times."""
        per_worker = self.local_batch_size is not None
        for nodes, wpn, batch in itertools.product(self.nodes, self.workers_per_node,
                                                   self.local_batch_size or self.global_batch_size):
            shape = f"n{nodes}-w{wpn}-" + (f"b{batch}" if per_worker else f"gb{batch}")
            for repeat in range(1, self.repeats + 1):
                run_id = shape if self.repeats == 1 else f"{shape}-r{repeat}"
                yield run_id, nodes, wpn, batch if per_worker else batch // (nodes * wpn)


#: The sections of a spec with their models; ``[executor]``'s model depends on its ``kind``.
SECTIONS: dict[str, type[Model]] = {"data": DataSettings, "grid": Grid, "training": TrainingSettings,
                                    "learning_rate": LearningRateSettings}


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep spec."""

    path: Path
    header: Header
    data: DataSettings
    grid: Grid
    training: TrainingSettings
    learning_rate: LearningRateSettings
    executor: Model

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

    def runs(self, results_dir: Path) -> list[Run]:
        """Expand the grid into runs, each with its full training config."""
        data = self.data.model_copy(update={"dir": str(self.resolve(self.data.dir))}) if self.data.dir else self.data
        training = self.training
        if training.init_from:
            training = training.model_copy(update={"init_from": str(self.resolve(training.init_from))})
        runs = []
        for run_id, nodes, wpn, local in self.grid.points():
            run = RunSettings(local_batch_size=local, nodes=nodes, workers_per_node=wpn, results_dir=str(results_dir),
                              sweep=self.name, run_id=run_id)
            config = TrainConfig(data=data, training=training, learning_rate=self.learning_rate, run=run)
            runs.append(Run(run_id, nodes, wpn, config))
        return runs


def _executor_section(raw: dict) -> tuple[Model | None, list[str]]:
    """The ``[executor]`` section validated by its kind's model; keys of another kind are named as such."""
    kind = raw.get("kind")
    if kind not in EXECUTORS:
        problem = "required" if kind is None else f"must be one of {', '.join(EXECUTORS)}, got {kind!r}"
        return None, [f"executor.kind: {problem}"]
    own = EXECUTORS[kind].Settings.model_fields
    owner = {key: other for other, e in EXECUTORS.items() for key in e.Settings.model_fields if key not in own}
    errors = [f"executor.{key}: only for the {owner[key]} executor, not {kind!r}" for key in sorted(set(raw) & set(owner))]
    settings, problems = validate(EXECUTORS[kind].Settings, {k: v for k, v in raw.items() if k not in owner},
                                  "executor")
    return settings, errors + problems


def _sections(raw: dict) -> tuple[dict, list[str]]:
    """Every section validated on its own: the valid ones, and every problem."""
    tables = {key: value for key, value in raw.items() if isinstance(value, dict)}
    errors = [f"[{name}]: unknown section; known: {', '.join([*SECTIONS, 'executor'])}"
              for name in sorted(set(tables) - {*SECTIONS, "executor"})]
    header, problems = validate(Header, {k: v for k, v in raw.items() if k not in tables})
    valid, errors = {"header": header}, errors + problems
    for name, model in {**SECTIONS, "executor": None}.items():
        if name not in tables and (model is None or any(f.is_required() for f in model.model_fields.values())):
            errors.append(f"[{name}]: missing section")
            continue
        section, problems = _executor_section(tables[name]) if model is None else validate(model, tables.get(name, {}), name)
        valid[name] = section
        errors += problems
    return valid, errors


def _cross_checks(sections: dict, base: Path) -> list[str]:
    """Checks across sections, each run when the sections it reads are valid."""
    data, grid, training, executor = (sections.get(k) for k in ("data", "grid", "training", "executor"))
    errors = []
    if data and training:
        errors += data_problems(data, training)
    if data and data.dir:
        folder = (base / data.dir).resolve()
        missing = SOURCES[data.source].missing(folder)
        if missing:
            errors.append(f"data.dir: {missing}")
    if training and training.init_from and not (base / training.init_from).is_dir():
        errors.append(f"training.init_from: {(base / training.init_from).resolve()} is not a run's folder")
    if executor and grid:
        errors += EXECUTORS[executor.kind].spec_problems(executor, grid.nodes, grid.workers_per_node)
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


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate the sweep spec at ``path``.

    Raises:
        SpecError: the file is missing, is not valid TOML, or does not validate (see :func:`parse_spec`).
    """
    return parse_spec(read_toml(path, "sweep spec", SpecError), path)
