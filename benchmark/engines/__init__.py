"""Training engines: a framework and its collectives behind :class:`benchmark.engines.base.Engine`.

:data:`ENGINES` maps each ``run.engine`` to the module and class that implement it; an engine's module is
imported only when a run uses it (:func:`engine_class`), so choosing an engine never loads another's
framework.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchmark.engines.base import Engine


@dataclass(frozen=True)
class EngineEntry:
    """An engine in the registry: ``module:cls`` implements it; ``description`` is what ``--help`` and the
    spec-key reference say of it."""

    module: str
    cls: str
    description: str


#: Every engine, by ``run.engine``. The first is the default.
ENGINES: dict[str, EngineEntry] = {
    "horovod": EngineEntry("benchmark.engines.horovod.engine", "HorovodEngine",
                           "TensorFlow + Horovod (Datta et al. 2019, sec. 3): tf.GradientTape and "
                           "hvd.grouped_allreduce, MPI or Gloo"),
}


def engine_class(name: str) -> type[Engine]:
    """The :class:`~benchmark.engines.base.Engine` subclass of ``run.engine`` ``name``, imported now.

    Raises:
        KeyError: no engine of that name.
    """
    entry = ENGINES[name]
    return getattr(importlib.import_module(entry.module), entry.cls)
