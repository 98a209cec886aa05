"""Reference files: what a system should reach, per run shape and figure, with bounds (a TOML file per
system, validated like sweep specs, every error naming its key).

Bounds follow ReFrame's ``(value, lower, upper, unit)`` convention: ``lower`` and ``upper`` are fractions
of the value (``lower = -0.1``: 10 % below it; ``upper = 0.1``: 10 % above it); either may be left out,
not both. Each figure has a direction (higher or lower is better) and a unit, fixed by :data:`FIGURES`.

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
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import tomli_w
from pydantic import Field, model_validator

from benchmark.util.atomic import write_atomic
from benchmark.errors import McnnBenchError
from benchmark.config import ImageSize, ModelName, SourceName
from benchmark.schema import Line, Model, PlainName, read_toml, validate


@dataclass(frozen=True)
class Figure:
    """A figure a reference can hold: the run table's column it is read from, its unit, and whether
    ``higher`` or ``lower`` is better."""

    column: str
    unit: str
    direction: Literal["higher", "lower"]
    what: str


#: The figures that can be referenced (achieved GFLOP/s joins them when the record holds it).
FIGURES: dict[str, Figure] = {
    "images_per_second": Figure("images_per_second", "images/s", "higher", "global training throughput"),
    "median_step_seconds": Figure("step_median_seconds", "s", "lower", "median step time over all ranks"),
    "scaling_efficiency": Figure("scaling_efficiency", "%", "higher",
                                 "against the sweep's smallest run at the same local batch"),
    "ttt_seconds": Figure("ttt_seconds", "s", "lower", "time to train to the run's target (target_top1, or "
                                                      "target_mean_auroc for multi-label data)"),
    "ttt_epochs": Figure("ttt_epochs", "epochs", "lower", "epochs to that target"),
    "best_top1": Figure("best_val_top1", "fraction", "higher", "best validation top-1"),
    "best_top5": Figure("best_val_top5", "fraction", "higher", "best validation top-5"),
    "best_mean_auroc": Figure("best_val_auroc_mean", "fraction", "higher",
                              "best validation mean per-class AUROC (multi-label data)"),
    "peak_rss_bytes_per_worker": Figure("peak_rss_bytes_max", "bytes", "lower",
                                        "largest peak resident memory of any worker"),
}
FigureName = Literal[tuple(FIGURES)]


class ReferenceFileError(McnnBenchError, ValueError):
    """A reference file that cannot be used; the message names the file and every offending key."""


class FigureReference(Model):
    """One figure's reference value and bounds (fractions of the value, ReFrame's convention)."""

    value: float = Field(description="the reference value, in unit")
    lower: float | None = Field(None, ge=-1, le=0, description="lowest acceptable, as a fraction of value "
                                                               "below it (-0.1: 10 % below)")
    upper: float | None = Field(None, ge=0, description="highest acceptable, as a fraction of value above it")
    unit: Line
    direction: Literal["higher", "lower"] | None = Field(None, description="which way is better (default: "
                                                                         "the figure's)")

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
    """The references of one run shape: data source, model, image size, nodes, workers per node, local batch."""

    source: SourceName
    model: ModelName = "mcnn"
    image_size: ImageSize
    nodes: int = Field(gt=0)
    workers_per_node: int = Field(gt=0)
    local_batch_size: int = Field(gt=0)
    figures: dict[FigureName, FigureReference] = Field(min_length=1)

    @property
    def key(self) -> tuple:
        """The shape, as :func:`shape_key` gives it for a run."""
        return shape_key(self.source, "x".join(map(str, self.image_size)), self.nodes, self.workers_per_node,
                         self.local_batch_size, self.model)

    @model_validator(mode="after")
    def _units_and_directions(self) -> ShapeReference:
        problems = []
        for name, ref in self.figures.items():
            figure = FIGURES[name]
            if ref.unit != figure.unit:
                problems.append(f"figures.{name}.unit: must be {figure.unit!r}, got {ref.unit!r}")
            if ref.direction not in (None, figure.direction):
                problems.append(f"figures.{name}.direction: {figure.direction} is better for {name}, got "
                                f"{ref.direction!r}")
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


def shape_key(source: str, image_size: str, nodes: int, workers_per_node: int, local_batch_size: int,
              model: str = "mcnn") -> tuple:
    """A run shape: ``(source, "HxW", nodes, workers per node, local batch size, model)``."""
    return source, image_size, int(nodes), int(workers_per_node), int(local_batch_size), model


def shape_name(key: tuple) -> str:
    """A shape for people: ``bbbc021-cells 64x64 n1-w2-b8`` (M-CNN), ``chestxray14 densenet121 64x64 n1-w1-b8``."""
    source, size, nodes, wpn, batch, model = key
    return f"{source}{'' if model == 'mcnn' else ' ' + model} {size} n{nodes}-w{wpn}-b{batch}"


def load_reference(path: str | Path) -> Reference:
    """Read and validate a reference file.

    Raises:
        ReferenceFileError: the file is missing, not TOML, or invalid; naming the file and every key.
    """
    reference, problems = validate(Reference, read_toml(path, "reference file", ReferenceFileError))
    if problems:
        raise ReferenceFileError(f"{path}: invalid reference file:\n" + "\n".join(f"  - {p}" for p in problems))
    return reference


def write_reference(reference: Reference, path: str | Path, header: str = "") -> Path:
    """Write ``reference`` as TOML to ``path`` atomically, after ``header`` (comment lines); returns the path."""
    data = reference.model_dump(mode="json", exclude_none=True)
    return write_atomic(path, header + tomli_w.dumps(data))
