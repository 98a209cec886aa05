"""Checks a sweep passes before the driver submits anything, so that a folder it cannot write, a disk too full
for a checkpoint or data it cannot read fail in a second, with one line naming the path and the cause, instead
of minutes into a run; and the one a run started on its own passes before it trains (a folder it can record in).

The driver calls :func:`preflight` before it takes the sweep folder's lock and submits; ``mcnn-bench train``
calls :func:`check_run` before it trains. Everything here reads, except the probe file it creates and removes
(and the results folder, created if missing, as the run would create it anyway).
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from benchmark.config import TrainConfig
from benchmark.data.sources import SOURCES
from benchmark.engines import check_engine
from benchmark.errors import McnnBenchError, os_cause
from benchmark.models import MODELS
from slurm.executor import Run
from slurm.spec import SweepSpec

#: Bytes per parameter in the estimate of a checkpoint (float32).
PARAMETER_BYTES = 4
#: Parameter-sized copies the estimate allows for: the weights, the optimizer's momentum, and as much again
#: as a margin (the temporary file of the atomic write, the step logs, the manifest).
CHECKPOINT_COPIES = 3
#: Parameters of the ``keras.applications`` backbones without their top (``include_top=False``), for the
#: models that have no analytic model (:mod:`benchmark.models`); the head is added per input size and classes.
BACKBONE_PARAMETERS = {"densenet121": 7_037_504, "vgg16": 14_714_688}
#: Features of each backbone that its dense head reads: DenseNet-121's pooled 1024, VGG-16's flattened
#: ``(height // 32) x (width // 32) x 512``.
_HEAD_INPUTS = {
    "densenet121": lambda height, width: 1024,
    "vgg16": lambda height, width: (height // 32) * (width // 32) * 512,
}


class PreflightError(McnnBenchError):
    """A sweep that cannot run here: a results folder that cannot be written, too little free space for a
    checkpoint, data that cannot be read. The message names the path and the cause."""


def parameter_count(config: TrainConfig) -> int | None:
    """The model's parameters for ``config``'s input size and classes, without TensorFlow: M-CNN's analytic
    count, the backbones' from :data:`BACKBONE_PARAMETERS` plus their head; None for a model of neither."""
    name, (height, width), classes = config.model.name, config.data.image_size, config.data.num_classes
    analytic = MODELS[name].analytic
    if analytic is not None:
        return analytic(height, width, 3, classes).parameters
    if name in BACKBONE_PARAMETERS:
        return BACKBONE_PARAMETERS[name] + (_HEAD_INPUTS[name](height, width) + 1) * classes
    return None


def checkpoint_bytes(config: TrainConfig) -> int | None:
    """An estimate of one checkpoint of a run of ``config`` (:mod:`benchmark.train.checkpoint`): its
    parameters x :data:`PARAMETER_BYTES` x :data:`CHECKPOINT_COPIES`; None when the parameters are unknown."""
    parameters = parameter_count(config)
    return None if parameters is None else parameters * PARAMETER_BYTES * CHECKPOINT_COPIES


def check_writable(folder: Path, what: str = "results folder") -> None:
    """Raise unless a file can be created in ``folder`` (created first if missing): a probe file is made
    and removed.

    Raises:
        PreflightError: ``"results folder /x/y is not writable (Permission denied): ..."``.
    """
    probe = folder / f".mcnn-bench-probe-{secrets.token_hex(4)}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        probe.unlink()
    except OSError as exc:
        where = f" at {exc.filename}" if exc.filename is not None and Path(exc.filename) not in (folder, probe) else ""
        raise PreflightError(
            f"{what} {folder} is not writable ({os_cause(exc)}{where}): runs write their configs, records and "
            "checkpoints there; give a folder you can write (--results-dir)"
        ) from exc


def check_free_space(folder: Path, configs: list[tuple[str, TrainConfig]], what: str = "results folder") -> None:
    """Raise unless ``folder``'s file system has room for the first checkpoint of the largest run of
    ``configs`` (``(run id, config)`` each; :func:`checkpoint_bytes`). Runs of a model without a known
    parameter count are not checked.

    Raises:
        PreflightError: naming the folder, the free and the needed space, and the estimate's terms.
    """
    sized = [(size, run_id, config) for run_id, config in configs if (size := checkpoint_bytes(config)) is not None]
    if not sized:
        return
    needed, run_id, config = max(sized, key=lambda item: item[0])
    free = shutil.disk_usage(folder).free
    if free < needed:
        parameters = parameter_count(config)
        raise PreflightError(
            f"{what} {folder} has {free / 2**20:.1f} MiB free, but the first checkpoint of run {run_id} "
            f"needs about {needed / 2**20:.1f} MiB ({parameters:,} parameters x {PARAMETER_BYTES} bytes x "
            f"{CHECKPOINT_COPIES}: weights, optimizer momentum and a margin); free some space or give another "
            "results folder (--results-dir)"
        )


def check_data(config: TrainConfig) -> None:
    """Raise unless the run's data folder (if its source has one) holds its files and they can be read
    (:meth:`benchmark.data.sources.DataSource.problem`: headers only).

    Raises:
        PreflightError: ``"data folder /d cannot be read: /d/images.npz: cannot read (Permission denied)"``.
    """
    if config.data.dir is None:
        return
    problem = SOURCES[config.data.source].problem(config.data.dir)
    if problem is not None:
        raise PreflightError(f"data folder {config.data.dir} cannot be read: {problem}")


def sweep_target(results: Path, sweep_dir: Path) -> tuple[Path, str]:
    """The folder whose writability and room are checked for a sweep (or a run) in ``sweep_dir`` under
    ``results``, and its name for the messages: the sweep folder, else, while it does not exist yet, the
    results folder."""
    return (sweep_dir, "sweep folder") if sweep_dir.is_dir() else (results, "results folder")


def check_run(config: TrainConfig) -> None:
    """Check, before a run of ``config`` trains on its own (``mcnn-bench train``, on every worker), that its engine
    is installed here (:func:`benchmark.engines.check_engine`) and that it can record how it went: its sweep folder
    (else its results folder, while the sweep folder does not exist yet) is writable. Its data is not checked
    here: a run whose data cannot be read is a failed run, recorded with the reader's reason naming the file (as
    acceptance and ReFrame read it), not a gap; a sweep checks the data of all its runs before it submits
    (:func:`preflight`).

    Raises:
        EngineUnavailable: the run's engine cannot run here (why, and how to get it).
        PreflightError: the folder is not writable, in one line naming the path and the cause.
    """
    check_engine(config.run.engine)
    check_writable(*sweep_target(Path(config.run.results_dir), config.run_dir.parent))


def check_engines(runs: list[Run]) -> None:
    """Check that the engine of every run of ``runs`` is installed here (the workers run this Python, on this
    machine or, through SLURM, on the nodes), each engine once, in name order.

    Raises:
        EngineUnavailable: the first engine that cannot run here, with the engine registry's sentence
            (:func:`benchmark.engines.engine_problem`: why, and how to get it).
    """
    for engine in sorted({run.config.run.engine for run in runs}):
        check_engine(engine)


def preflight(spec: SweepSpec, results_dir: str | Path | None = None, checkpoints: bool = True) -> None:
    """Check, before anything is submitted, that the sweep of ``spec`` can run into ``results_dir``
    (default: the spec's, see :meth:`SweepSpec.results_dir`):

    - the sweep folder (``results_dir/NAME``, else ``results_dir`` while it does not exist yet) is
      writable: a probe file is created and removed (:func:`check_writable`);
    - with ``checkpoints``, its file system has room for at least the first checkpoint of the largest run
      (parameters x 4 bytes x 3: weights, optimizer momentum and a margin; :func:`check_free_space`);
    - every data folder holds its source's files and their headers read (:func:`check_data`);
    - every engine of the runs is installed here (:func:`check_engines`: the workers run this Python).

    Raises:
        PreflightError: the first check that fails, in one line naming the path and the cause.
        EngineUnavailable: an engine of the runs cannot run here (why, and how to get it).
    """
    results = spec.results_dir(results_dir)
    runs = spec.runs(results)
    check_engines(runs)
    target, what = sweep_target(results, results / spec.name)
    check_writable(target, what)
    if checkpoints:
        check_free_space(target, [(run.run_id, run.config) for run in runs], what)
    for config in {run.config.data.dir: run.config for run in runs}.values():  # one run per data folder
        check_data(config)
