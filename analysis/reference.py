"""Reference files: what a system should reach, per run shape and figure, with bounds (a TOML file per
system, validated like sweep specs, every error naming its key).

Bounds follow ReFrame's ``(value, lower, upper, unit)`` convention: ``lower`` and ``upper`` are fractions
of the value (``lower = -0.1``: 10 % below it; ``upper = 0.1``: 10 % above it); either may be left out,
not both. Each figure has a direction (higher or lower is better) and a unit, fixed by :data:`FIGURES`; a
figure's name is the run table's column it is read from (:mod:`analysis.columns`), so one quantity has one
name in records' tables, references and acceptance reports.

A file::

    system = "devcluster"
    description = "..."

    [[shape]]
    source = "bbbc021-cells"
    image_size = [64, 64]
    nodes = 1
    workers_per_node = 2
    local_batch_size = 8

    [shape.figures.images_per_second]
    value = 250.0
    lower = -0.5
    unit = "images/s"

    [shape.figures.stalls]
    value = 0
    upper = 0
    unit = "stalls"

A reference of 0 with ``upper`` 0 allows none: ``stalls`` (the pauses a run recovered from, counted in its record's
``stalls``) fails a run that stalled once.

A shape's ``engine`` (``run.engine``) defaults to the default engine, horovod, the engine of every run made before
engines existed, so a file without it means what it meant then; a shape of another engine says so
(``engine = "ddp"``), and the same topology on two engines is two shapes, each held to its own figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeAlias

import tomli_w
from pydantic import Field, field_validator, model_validator

from benchmark.config import EngineName, ImageSize, ModelName, SourceName
from benchmark.errors import McnnBenchError
from benchmark.schema import Line, Model, PlainName, read_toml, validate
from benchmark.util.atomic import write_atomic

from .columns import (
    BEST_MEAN_AUROC,
    BEST_TOP1,
    BEST_TOP5,
    COLUMNS,
    DATA_SOURCE,
    DEFAULT_ENGINE,
    EFFICIENCY,
    ENGINE,
    EPOCHS_TO_TARGET,
    IMAGE_SIZE,
    IMAGES_PER_SECOND,
    LOCAL_BATCH,
    MEDIAN_STEP_SECONDS,
    MODEL,
    NODES,
    PEAK_RSS_BYTES,
    STALLS,
    TTT_SECONDS,
    WORKERS_PER_NODE,
)


@dataclass(frozen=True)
class Figure:
    """A figure a reference can hold: a run-table column (:mod:`analysis.columns`, whose unit and description
    it takes) and whether ``higher`` or ``lower`` is better."""

    column: str
    direction: Literal["higher", "lower"]

    @property
    def speed(self) -> bool:
        """Whether the figure measures speed (images/s, step time, time to train, scaling efficiency): its sides
        read faster and slower, the others' better and worse."""
        return self.column in SPEED_FIGURES

    def side(self, better: bool) -> str:
        """How a value on the better (``better``) or the worse side of another reads: faster/slower for a speed
        figure, else better/worse."""
        return ("faster" if better else "slower") if self.speed else ("better" if better else "worse")

    def better(self, value: float, than: float) -> bool:
        """Whether ``value`` is better than ``than``, by the figure's direction (equal is not better)."""
        return value > than if self.direction == "higher" else value < than

    @property
    def unit(self) -> str:
        unit = COLUMNS[self.column].unit
        assert unit is not None, f"figure {self.column}: its column has no unit"
        return unit

    @property
    def what(self) -> str:
        return COLUMNS[self.column].description


#: The figures whose sides read faster and slower (:attr:`Figure.speed`).
SPEED_FIGURES = frozenset({IMAGES_PER_SECOND, MEDIAN_STEP_SECONDS, TTT_SECONDS, EFFICIENCY})
#: Each figure's column and which way is better.
_DIRECTIONS: tuple[tuple[str, Literal["higher", "lower"]], ...] = (
    (IMAGES_PER_SECOND, "higher"),
    (MEDIAN_STEP_SECONDS, "lower"),
    (EFFICIENCY, "higher"),
    (TTT_SECONDS, "lower"),
    (EPOCHS_TO_TARGET, "lower"),
    (BEST_TOP1, "higher"),
    (BEST_TOP5, "higher"),
    (BEST_MEAN_AUROC, "higher"),
    (PEAK_RSS_BYTES, "lower"),
    (STALLS, "lower"),
)
#: The figures that can be referenced, by name: the column's (achieved GFLOP/s joins them when the record holds
#: it).
FIGURES: dict[str, Figure] = {column: Figure(column, direction) for column, direction in _DIRECTIONS}
# A figure's name, as a Literal built from FIGURES at import: pydantic validates against it. A type checker
# cannot read a Literal made at run time, so it sees a plain string.
if TYPE_CHECKING:
    FigureName: TypeAlias = str
else:
    FigureName = Literal[tuple(FIGURES)]
#: Figure names of reference files made before a figure took its column's name: old name -> the name now.
RENAMED = {
    "best_top1": BEST_TOP1,
    "best_top5": BEST_TOP5,
    "best_mean_auroc": BEST_MEAN_AUROC,
    "peak_rss_bytes_per_worker": PEAK_RSS_BYTES,
}


class ReferenceFileError(McnnBenchError, ValueError):
    """A reference file that cannot be used; the message names the file and every offending key."""


class FigureReference(Model):
    """One figure's reference value and bounds (fractions of the value, ReFrame's convention)."""

    value: float = Field(description="the reference value, in unit")
    lower: float | None = Field(
        None, ge=-1, le=0, description="lowest acceptable, as a fraction of value below it (-0.1: 10 % below)"
    )
    upper: float | None = Field(None, ge=0, description="highest acceptable, as a fraction of value above it")
    unit: Line
    direction: Literal["higher", "lower"] | None = Field(
        None, description="which way is better (default: the figure's)"
    )

    @model_validator(mode="after")
    def _a_bound(self) -> FigureReference:
        if self.lower is None and self.upper is None:
            raise ValueError("lower: give lower, upper or both")
        return self

    def bounds(self) -> tuple[float | None, float | None]:
        """The lowest and highest acceptable values (None: unbounded), in unit."""
        low = None if self.lower is None else self.value * (1 + self.lower)
        high = None if self.upper is None else self.value * (1 + self.upper)
        return low, high

    def band(self) -> float | None:
        """The width of the acceptable band, in unit; None when it is open on one side."""
        low, high = self.bounds()
        return None if low is None or high is None else high - low


class ShapeReference(Model):
    """The references of one run shape: data source, model, image size, nodes, workers per node, local batch and
    engine (default: :data:`analysis.columns.DEFAULT_ENGINE`, as for a run that names none)."""

    source: SourceName
    model: ModelName = "mcnn"
    image_size: ImageSize
    nodes: int = Field(gt=0)
    workers_per_node: int = Field(gt=0)
    local_batch_size: int = Field(gt=0)
    engine: EngineName = DEFAULT_ENGINE
    figures: dict[FigureName, FigureReference] = Field(min_length=1)

    @property
    def key(self) -> tuple:
        """The shape, as :func:`shape_key` gives it for a run."""
        return shape_key(
            self.source,
            "x".join(map(str, self.image_size)),
            self.nodes,
            self.workers_per_node,
            self.local_batch_size,
            self.model,
            self.engine,
        )

    @field_validator("figures", mode="before")
    @classmethod
    def _renamed_figures(cls, figures):
        """A figure under its old name fails, naming its name now (old names are not read)."""
        old = [name for name in (figures if isinstance(figures, dict) else {}) if name in RENAMED]
        if old:
            raise ValueError(
                "; ".join(
                    f"{name} was renamed {RENAMED[name]} (the run table's column): rename "
                    f"[shape.figures.{name}] to [shape.figures.{RENAMED[name]}]"
                    for name in old
                )
            )
        return figures

    @model_validator(mode="after")
    def _units_and_directions(self) -> ShapeReference:
        problems = []
        for name, ref in self.figures.items():
            figure = FIGURES[name]
            if ref.unit != figure.unit:
                problems.append(f"figures.{name}.unit: must be {figure.unit!r}, got {ref.unit!r}")
            if ref.direction not in (None, figure.direction):
                problems.append(
                    f"figures.{name}.direction: {figure.direction} is better for {name}, got {ref.direction!r}"
                )
        if problems:
            raise ValueError("\n".join(problems))
        return self


class Reference(Model):
    """A system's reference file."""

    system: PlainName
    description: str | None = None
    shape: list[ShapeReference] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_shapes(self) -> Reference:
        keys = [s.key for s in self.shape]
        repeated = sorted({shape_name(k) for k in keys if keys.count(k) > 1})
        if repeated:
            raise ValueError(f"shape: the same shape more than once: {', '.join(repeated)}")
        return self


#: The run table's columns (:mod:`analysis.records`) that make a run's shape, in :func:`shape_key`'s order.
SHAPE_COLUMNS = (DATA_SOURCE, IMAGE_SIZE, NODES, WORKERS_PER_NODE, LOCAL_BATCH, MODEL, ENGINE)


def shape_key(
    source: str,
    image_size: str,
    nodes: int,
    workers_per_node: int,
    local_batch_size: int,
    model: str = "mcnn",
    engine: str = DEFAULT_ENGINE,
) -> tuple:
    """A run shape: ``(source, "HxW", nodes, workers per node, local batch size, model, engine)``."""
    return source, image_size, int(nodes), int(workers_per_node), int(local_batch_size), model, engine


def shape_name(key: tuple) -> str:
    """A shape for people: ``bbbc021-cells 64x64 n1-w2-b8`` (M-CNN on the default engine), ``chestxray14
    densenet121 64x64 n1-w1-b8``, ``bbbc021-cells 64x64 n1-w2-b8 ddp`` (another engine)."""
    source, size, nodes, wpn, batch, model, engine = key
    name = f"{source}{'' if model == 'mcnn' else ' ' + model} {size} n{nodes}-w{wpn}-b{batch}"
    return name if engine == DEFAULT_ENGINE else f"{name} {engine}"


def load_reference(path: str | Path) -> Reference:
    """Read and validate a reference file.

    Raises:
        ReferenceFileError: the file is missing, not TOML, or invalid; naming the file and every key.
    """
    reference, problems = validate(Reference, read_toml(path, "reference file", ReferenceFileError))
    if problems:
        raise ReferenceFileError(f"{path}: invalid reference file:\n" + "\n".join(f"  - {p}" for p in problems))
    assert isinstance(reference, Reference), "validate gives the model when it finds no problem"
    return reference


def write_reference(reference: Reference, path: str | Path, header: str = "") -> Path:
    """Write ``reference`` as TOML to ``path`` atomically, after ``header`` (comment lines); returns the path."""
    data = reference.model_dump(mode="json", exclude_none=True)
    return write_atomic(path, header + tomli_w.dumps(data))
