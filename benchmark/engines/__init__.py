"""Training engines: a framework and its collectives behind :class:`benchmark.engines.base.Engine`.

:data:`ENGINES` maps each ``run.engine`` to the module and class that implement it; an engine's module is
imported only when a run uses it (:func:`benchmark.engines.base.engine_class`), so choosing an engine
never loads another's framework. This module imports nothing of the suite but its errors: the settings
(:mod:`benchmark.config`) take their choices from it.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from typing import Literal

from benchmark.errors import McnnBenchError

#: What a run's workers train on (``run.device``): the node's CPU cores, or one GPU each.
Device = Literal["cpu", "gpu"]
#: Every :data:`Device`, the default (``run.device``'s) first.
DEVICES: tuple[Device, ...] = ("cpu", "gpu")


@dataclass(frozen=True)
class EngineEntry:
    """An engine in the registry: ``module:cls`` implements it; ``launch`` is the module that says how the local
    executor starts its workers (:mod:`benchmark.engines.launch`); ``bench`` the module of its framework's side
    of the micro-benchmarks (:func:`benchmark.engines.bench.bench_module`: the kernels of the node's peak and the
    bare loop the trainer is compared with); ``description`` is what ``--help`` and the spec-key reference say
    of it. ``needs`` are the packages it imports; ``hint`` says how to install them where they can be;
    ``newest_python`` is the newest Python (major, minor) they can be installed for (None: any), and ``too_new``
    what to do on a newer one. ``devices`` are the ``run.device`` values it can train on, and ``device_note``
    says why it cannot train on the others (:func:`device_problem`)."""

    module: str
    cls: str
    launch: str
    bench: str
    description: str
    needs: tuple[str, ...] = ()
    hint: str = ""
    newest_python: tuple[int, int] | None = None
    too_new: str = ""
    devices: tuple[Device, ...] = ("cpu",)
    device_note: str = ""


#: The newest Python the Horovod engine can be installed for: TensorFlow 2.18.1, the newest TensorFlow Horovod
#: 0.28.1 builds against, has no wheel for newer ones (setup.sh asks :func:`python_supported`).
HOROVOD_PYTHON = (3, 12)
_HOROVOD_PY = "{}.{}".format(*HOROVOD_PYTHON)

#: Every engine, by ``run.engine``. The first is the default.
ENGINES: dict[str, EngineEntry] = {
    "horovod": EngineEntry(
        "benchmark.engines.horovod.engine",
        "HorovodEngine",
        "benchmark.engines.horovod.launch",
        "benchmark.engines.horovod.bench",
        "TensorFlow + Horovod (Datta et al. 2019, sec. 3): tf.GradientTape and hvd.grouped_allreduce, MPI or Gloo",
        needs=("tensorflow", "horovod"),
        hint="run ./setup.sh, which installs TensorFlow and builds Horovod against it",
        newest_python=HOROVOD_PYTHON,
        too_new=f"the Horovod engine needs Python <= {_HOROVOD_PY} (TensorFlow 2.18.1, the newest Horovod 0.28.1 "
        f"builds against, has no wheel for newer ones): run setup.sh with another interpreter, "
        f"MCNN_PYTHON=python{_HOROVOD_PY} MCNN_VENV=.venv{_HOROVOD_PY.replace('.', '')} ./setup.sh, "
        'or use run.engine = "ddp"',
        devices=("cpu",),
        device_note="it trains with tensorflow-cpu, TensorFlow's CPU-only build",
    ),
    "ddp": EngineEntry(
        "benchmark.engines.ddp.engine",
        "DdpEngine",
        "benchmark.engines.ddp.launch",
        "benchmark.engines.ddp.bench",
        "PyTorch DistributedDataParallel: torch.distributed over Gloo on CPU nodes, NCCL on GPU nodes",
        needs=("torch", "torchvision"),
        hint="run ./setup.sh, which installs the DDP engine's torch and torchvision",
        devices=("cpu", "gpu"),
    ),
}


#: The engine of a run that names none (``run.engine``'s default): the first of :data:`ENGINES`.
DEFAULT_ENGINE = next(iter(ENGINES))


class EngineUnavailable(McnnBenchError, RuntimeError):
    """An engine whose framework is not installed here; the message says why and how to get it."""


class DeviceUnavailable(McnnBenchError, RuntimeError):
    """A run's ``run.device`` that this machine does not have (``gpu`` where the framework sees no GPU); the
    message names ``run.device``, what the framework sees (``CUDA_VISIBLE_DEVICES``, the device count) and what
    to do."""


def device_problem(name: str, device: str) -> str | None:
    """Why ``run.engine`` ``name`` cannot train on ``run.device`` ``device``, as a ``run.device: ...`` line
    naming the engines that can (its :attr:`EngineEntry.devices`, :attr:`EngineEntry.device_note`); None when it
    can. A fact of the registry, checked when a config or a sweep spec is validated."""
    entry = ENGINES[name]
    if device in entry.devices:
        return None
    others = [other for other, e in ENGINES.items() if device in e.devices]
    why = f" ({entry.device_note})" if entry.device_note else ""
    instead = f"; use run.engine = {others[0]!r}" if len(others) == 1 else f"; use one of {', '.join(others)}"
    return f"run.device: the {name} engine trains on {', '.join(entry.devices)} only, not {device!r}{why}" + (
        instead if others else ""
    )


def python_supported(name: str, version: tuple[int, ...] | None = None) -> bool:
    """Whether ``run.engine`` ``name``'s packages can be installed for Python ``version`` (default: this one's):
    it is no newer than the engine's :attr:`EngineEntry.newest_python`."""
    newest = ENGINES[name].newest_python
    return newest is None or tuple((version or sys.version_info)[:2]) <= newest


def engine_problem(name: str) -> str | None:
    """Why ``run.engine`` ``name`` cannot run in this Python, in one sentence: the packages it needs that are not
    installed, and what to do, the engine's :attr:`EngineEntry.hint` (or, on a Python newer than it can be
    installed for, its :attr:`EngineEntry.too_new`); None when it can. Looks the packages up without importing
    them."""
    entry = ENGINES[name]
    missing = [package for package in entry.needs if importlib.util.find_spec(package) is None]
    if not missing:
        return None
    python = f"Python {sys.version_info.major}.{sys.version_info.minor} ({sys.executable})"
    advice = entry.hint if python_supported(name) else entry.too_new
    return f"run.engine = {name!r}: {', '.join(missing)} not installed for {python}; {advice}"


def check_engine(name: str) -> None:
    """Raise :class:`EngineUnavailable` with :func:`engine_problem`'s sentence when ``name`` cannot run here."""
    problem = engine_problem(name)
    if problem is not None:
        raise EngineUnavailable(problem)
