"""Training engines: a framework and its collectives behind :class:`benchmark.engines.base.Engine`.

:data:`ENGINES` maps each ``run.engine`` to the module and class that implement it; an engine's module is
imported only when a run uses it (:func:`benchmark.engines.base.engine_class`), so choosing an engine
never loads another's framework. This module imports nothing of the suite: the settings
(:mod:`benchmark.config`) take their choices from it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineEntry:
    """An engine in the registry: ``module:cls`` implements it; ``description`` is what ``--help`` and the
    spec-key reference say of it."""

    module: str
    cls: str
    description: str


#: Every engine, by ``run.engine``. The first is the default.
ENGINES: dict[str, EngineEntry] = {
    "horovod": EngineEntry(
        "benchmark.engines.horovod.engine",
        "HorovodEngine",
        "TensorFlow + Horovod (Datta et al. 2019, sec. 3): tf.GradientTape and hvd.grouped_allreduce, MPI or Gloo",
    ),
}
