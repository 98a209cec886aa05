"""The checkpoint of a run: everything it needs to continue where it stopped, in ``RUN_DIR/checkpoints/``.

A checkpoint holds the model's variables and the optimizer's (momentum and its iteration count); the
position (epochs completed, steps into the next epoch, global step; the learning rate follows from it);
the global numpy and Python random states (Keras' seed-generator states are model variables); the
record's partial state (:class:`RunState`); the config's fingerprint and fingerprinted settings; why it
was written (``periodic``, ``signal`` or ``final``) and when (UTC).

Each checkpoint is two files named by a sequence number that grows with every write: ``ckpt-000007.npz``,
the arrays (an uncompressed ``.npz``: the variables, and every rank's timed steps), then
``ckpt-000007.json``, the manifest, with everything else and the SHA-256 and the shape and dtype of every
array. Both are written atomically (:func:`benchmark.util.atomic.atomic_writer`: temporary file, fsync,
``os.replace``), the manifest last, so a checkpoint without its manifest was cut short. Only rank 0
writes; the newest :data:`KEEP` checkpoints are kept. Reading verifies the digest, the shapes and the
dtypes; a checkpoint that fails is logged and skipped for the one before it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import random
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import ValidationError

from benchmark.config import RunSettings, TrainConfig
from benchmark.errors import McnnBenchError
from benchmark.record import Epoch, InitFrom, ResumeEvent, Stall
from benchmark.train.metrics import StepLog
from benchmark.util.atomic import atomic_writer, write_json_atomic
from benchmark.util.times import utc_iso

log = logging.getLogger(__name__)

#: The folder of a run's checkpoints, inside its RUN_DIR. The sweep driver moves it to ``attempts/`` to
#: start a run from scratch.
CHECKPOINT_DIR = "checkpoints"
#: Checkpoints kept in that folder: the newest, and the one before it in case the newest is cut short.
KEEP = 2
#: The manifest's format; a manifest of another format is not read.
FORMAT = 1
Reason = Literal["periodic", "signal", "final"]
_FILE = re.compile(r"ckpt-(\d{6,})\.(npz|json)")
_CHUNK = 1 << 20


class CheckpointError(McnnBenchError, RuntimeError):
    """A checkpoint that cannot be read, written or used; the message names the file or folder and why."""


@dataclass
class RunState:
    """What a run has done so far: its position and the record's partial state.

    Attributes:
        started_at: UTC, ISO 8601: when the run's first segment started.
        initial_weights_sha256: digest of the weights the run's first step started from.
        init_from: where those weights came from (``training.init_from``), or None.
        epoch: epochs completed, i.e. the 0-based index of the epoch in progress.
        step: steps done in epoch ``epoch`` (0 up to the steps per epoch).
        global_step: training steps done in all.
        loss_sum: sum of the per-step mean training losses of epoch ``epoch`` so far.
        training_seconds: training time so far, in seconds (see :class:`benchmark.record.Epoch`).
        epochs: the completed epochs' rows.
        resumes: the run's resumes so far, oldest first.
        stalls: the pauses the run recovered from so far, oldest first (rank 0 only).
        step_logs: every rank's timed steps gathered so far, index = rank (complete on rank 0 only).
        peak_rss: every rank's peak resident set size so far, bytes, index = rank (rank 0 only).
        device_peak_reserved, device_peak_allocated: on GPUs, every rank's peak GPU memory so far, bytes, index =
            rank (rank 0 only; empty on CPUs): what the framework's allocator reserved, what its tensors held.
    """

    started_at: str
    initial_weights_sha256: str
    init_from: InitFrom | None = None
    epoch: int = 0
    step: int = 0
    global_step: int = 0
    loss_sum: float = 0.0
    training_seconds: float = 0.0
    epochs: list[Epoch] = field(default_factory=list)
    resumes: list[ResumeEvent] = field(default_factory=list)
    stalls: list[Stall] = field(default_factory=list)
    step_logs: list[StepLog] = field(default_factory=list)
    peak_rss: list[int] = field(default_factory=list)
    device_peak_reserved: list[int] = field(default_factory=list)
    device_peak_allocated: list[int] = field(default_factory=list)

    def without_logs(self) -> RunState:
        """A copy without ``step_logs`` and the peak memories (what the ranks other than 0 need)."""
        return dataclasses.replace(
            self,
            epochs=list(self.epochs),
            resumes=list(self.resumes),
            stalls=list(self.stalls),
            step_logs=[],
            peak_rss=[],
            device_peak_reserved=[],
            device_peak_allocated=[],
        )

    def to_json(self) -> dict:
        """Everything but the step logs, as JSON data."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "step_logs"}
        data.update(
            epochs=[e.model_dump(mode="json") for e in self.epochs],
            resumes=[r.model_dump(mode="json") for r in self.resumes],
            stalls=[s.model_dump(mode="json") for s in self.stalls],
            init_from=self.init_from and self.init_from.model_dump(mode="json"),
        )
        return data

    @classmethod
    def from_json(cls, data: dict, step_logs: list[StepLog]) -> RunState:
        """The state :meth:`to_json` wrote, with ``step_logs``.

        Raises:
            KeyError, TypeError, ValueError: ``data`` is not such a state.
        """
        return cls(
            **{
                **data,
                "epochs": [Epoch.model_validate(e) for e in data["epochs"]],
                "resumes": [ResumeEvent.model_validate(r) for r in data["resumes"]],
                "stalls": [Stall.model_validate(s) for s in data.get("stalls", [])],  # none before stalls existed
                "init_from": data["init_from"] and InitFrom.model_validate(data["init_from"]),
                "step_logs": step_logs,
            }
        )


@dataclass
class Checkpoint:
    """One checkpoint of a run (see the module's docstring).

    Attributes:
        state: the position and the record's partial state.
        model: the values of ``model.variables``, in order (numpy arrays, or, when written, the variables
            themselves: each is copied out only while it is written); ``model_paths`` their Keras paths.
        optimizer: the values of ``optimizer.variables`` (iteration count, learning rate, momenta), in
            order, likewise; ``optimizer_paths`` their Keras paths.
        rng: the global random states, from :func:`rng_state`.
        fingerprint: the run's :meth:`~benchmark.config.TrainConfig.fingerprint`; ``settings`` its
            :meth:`~benchmark.config.TrainConfig.fingerprinted` settings.
        reason: why it was written.
        written_at: UTC, ISO 8601 (milliseconds).
        name: the manifest's file name (``ckpt-000007.json``), set by :func:`write_checkpoint` and
            :func:`read_checkpoint`.
    """

    state: RunState
    model: list[np.ndarray]
    model_paths: list[str]
    optimizer: list[np.ndarray]
    optimizer_paths: list[str]
    rng: dict
    fingerprint: str
    settings: dict
    reason: Reason
    written_at: str = field(default_factory=utc_iso)
    name: str = ""

    def arrays(self) -> dict[str, np.ndarray]:
        """Every array of the checkpoint by its key in the ``.npz``: ``model.I``, ``optimizer.I`` and
        ``log.R`` (rank R's timed steps, ``(steps, columns)`` float64, :meth:`StepLog.to_array`). The model's
        and optimizer's entries are as given (arrays, or Keras variables that numpy converts one at a time
        while they are written)."""
        arrays = {f"model.{i}": a for i, a in enumerate(self.model)}
        arrays.update({f"optimizer.{i}": a for i, a in enumerate(self.optimizer)})
        arrays.update({f"log.{rank}": steps.to_array() for rank, steps in enumerate(self.state.step_logs)})
        return arrays


@dataclass(frozen=True)
class Latest:
    """The newest valid checkpoint of a folder (None if there is none) and the newer ones skipped, each as
    ``"name: why"``."""

    checkpoint: Checkpoint | None
    skipped: list[str]


def checkpoint_dir(run_dir: str | Path) -> Path:
    """The checkpoints folder of the run in ``run_dir``."""
    return Path(run_dir) / CHECKPOINT_DIR


def rng_state() -> dict:
    """The global random states this process has: Python's ``random`` and numpy's legacy ``np.random``, as
    JSON data."""
    version, internal, gauss = random.getstate()
    numpy_state = np.random.get_state()
    assert isinstance(numpy_state, tuple), "np.random's legacy MT19937 state is a tuple"
    algorithm, keys, pos, has_gauss, cached = numpy_state
    return {
        "python": [version, list(internal), gauss],
        "numpy": [algorithm, keys.tolist(), int(pos), int(has_gauss), float(cached)],
    }


def restore_rng(state: dict) -> None:
    """Set the global random states to ``state`` (from :func:`rng_state`)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    algorithm, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((algorithm, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))


def _sequences(folder: Path) -> list[int]:
    """The sequence numbers of the checkpoint files in ``folder`` (either file), newest first."""
    found = {int(m.group(1)) for p in folder.glob("ckpt-*") if (m := _FILE.fullmatch(p.name))}
    return sorted(found, reverse=True)


def _stem(sequence: int) -> str:
    return f"ckpt-{sequence:06d}"


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_checkpoint(folder: str | Path, checkpoint: Checkpoint) -> Path:
    """Write ``checkpoint`` into ``folder`` as the newest, then delete all but the newest :data:`KEEP`
    checkpoints (and temporary files of writes that were cut short). Rank 0 only.

    The arrays are written first, one after the other (a variable is copied out of TensorFlow only while
    it is written, so a checkpoint costs about one variable's memory), then the manifest holding their
    SHA-256 (read back from the written file), each atomically. Sets ``checkpoint.name``.

    Returns:
        The manifest's path.

    Raises:
        OSError: the folder or a file cannot be written (what was written stays, without a manifest); a
            failed write is a :class:`benchmark.errors.FileAccessError` naming the file and the cause (a full
            disk: ``cannot write RUN/checkpoints/ckpt-000002.npz (No space left on device)``), and the
            checkpoints written before are kept whole.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = _stem(max(_sequences(folder), default=0) + 1)
    # Any: numpy >= 2.1 types savez's keyword allow_pickle (bool) among the arrays' names (numpy 2.0, which
    # TensorFlow 2.18 pins, has no such keyword: passing it would save it as an array)
    arrays: dict[str, Any] = checkpoint.arrays()
    npz = folder / f"{stem}.npz"
    with atomic_writer(npz) as stream:
        np.savez(stream, **arrays)
    checkpoint.name = f"{stem}.json"
    manifest = {
        "format": FORMAT,
        "name": checkpoint.name,
        "reason": checkpoint.reason,
        "written_at": checkpoint.written_at,
        "fingerprint": checkpoint.fingerprint,
        "settings": checkpoint.settings,
        "arrays": {
            "file": npz.name,
            "sha256": _file_sha256(npz),
            "bytes": npz.stat().st_size,
            "shapes": {key: {"shape": list(a.shape), "dtype": str(a.dtype)} for key, a in arrays.items()},
        },
        "model_paths": checkpoint.model_paths,
        "optimizer_paths": checkpoint.optimizer_paths,
        "rng": checkpoint.rng,
        "ranks_logged": len(checkpoint.state.step_logs),
        "state": checkpoint.state.to_json(),
    }
    path = write_json_atomic(folder / checkpoint.name, manifest)
    _prune(folder)
    return path


def _prune(folder: Path) -> None:
    for sequence in _sequences(folder)[KEEP:]:
        for suffix in (".npz", ".json"):
            (folder / f"{_stem(sequence)}{suffix}").unlink(missing_ok=True)
    for leftover in folder.glob(".ckpt-*.tmp"):
        leftover.unlink(missing_ok=True)


def read_checkpoint(manifest_path: str | Path) -> Checkpoint:
    """Read and verify the checkpoint whose manifest is ``manifest_path``.

    Raises:
        CheckpointError: naming the file: the manifest cannot be read or is malformed or of another format;
            the arrays file is missing, its SHA-256 is not the manifest's (cut short or corrupt), or an
            array is missing or has another shape or dtype than the manifest says.
    """
    path = Path(manifest_path)
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: cannot read the manifest (cut short?): {exc}") from exc
    try:
        if manifest.get("format") != FORMAT:
            raise CheckpointError(f"{path}: manifest format {manifest.get('format')!r}, not {FORMAT}")
        arrays = _read_arrays(path.with_name(manifest["arrays"]["file"]), manifest["arrays"])
        logs = [StepLog.from_array(rank, arrays[f"log.{rank}"]) for rank in range(manifest["ranks_logged"])]
        return Checkpoint(
            state=RunState.from_json(manifest["state"], logs),
            model=[arrays[f"model.{i}"] for i in range(len(manifest["model_paths"]))],
            model_paths=manifest["model_paths"],
            optimizer=[arrays[f"optimizer.{i}"] for i in range(len(manifest["optimizer_paths"]))],
            optimizer_paths=manifest["optimizer_paths"],
            rng=manifest["rng"],
            fingerprint=manifest["fingerprint"],
            settings=manifest["settings"],
            reason=manifest["reason"],
            written_at=manifest["written_at"],
            name=path.name,
        )
    except (KeyError, TypeError, ValueError, AttributeError, ValidationError) as exc:
        raise CheckpointError(f"{path}: malformed manifest: {type(exc).__name__}: {exc}") from exc


def _read_arrays(npz: Path, expected: dict) -> dict[str, np.ndarray]:
    """The arrays of ``npz``, verified against the manifest's ``arrays`` entry (``sha256``, ``shapes``)."""
    try:
        digest = _file_sha256(npz)
    except OSError as exc:
        raise CheckpointError(f"{npz}: cannot read the arrays: {exc.strerror or exc}") from exc
    if digest != expected["sha256"]:
        raise CheckpointError(
            f"{npz}: SHA-256 {digest[:12]}... is not the manifest's {expected['sha256'][:12]}... (cut short or corrupt)"
        )
    try:
        with np.load(npz, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{npz}: not a readable .npz: {exc}") from exc
    for key, spec in expected["shapes"].items():
        if key not in arrays:
            raise CheckpointError(f"{npz}: array {key} is missing")
        if list(arrays[key].shape) != spec["shape"] or str(arrays[key].dtype) != spec["dtype"]:
            raise CheckpointError(
                f"{npz}: array {key} is {arrays[key].dtype}{list(arrays[key].shape)}, the "
                f"manifest says {spec['dtype']}{spec['shape']}"
            )
    return arrays


def latest_checkpoint(folder: str | Path) -> Latest:
    """The newest checkpoint of ``folder`` that reads and verifies; each newer one that does not (no
    manifest: its write was cut short; or see :func:`read_checkpoint`) is logged as a warning and listed
    in ``skipped``. A missing folder has no checkpoint."""
    folder = Path(folder)
    skipped: list[str] = []
    for sequence in _sequences(folder) if folder.is_dir() else []:
        manifest = folder / f"{_stem(sequence)}.json"
        try:
            if not manifest.exists():
                raise CheckpointError(f"{folder / _stem(sequence)}.npz: no manifest (the write was cut short)")
            return Latest(read_checkpoint(manifest), skipped)
        except CheckpointError as exc:
            log.warning("checkpoint skipped: %s", exc)
            skipped.append(str(exc))
    return Latest(None, skipped)


def check_same_run(checkpoint: Checkpoint, config: TrainConfig, folder: str | Path) -> None:
    """Raise unless ``checkpoint`` (found in ``folder``) is of a run with ``config``'s fingerprint.

    Raises:
        CheckpointError: naming the folder and every changed setting (``key: then -> now``).
    """
    if checkpoint.fingerprint == config.fingerprint():
        return
    then, now, unset = checkpoint.settings, config.fingerprinted(), "(unset)"
    changed = [
        f"{key}: {then.get(key, unset)!r} -> {now.get(key, unset)!r}"
        for key in sorted({*then, *now})
        if then.get(key, unset) != now.get(key, unset)
    ]
    raise CheckpointError(
        f"{folder} holds a checkpoint ({checkpoint.name}) of another configuration (fingerprint "
        f"{checkpoint.fingerprint}, this run's {config.fingerprint()}); changed: "
        f"{'; '.join(changed) or 'no setting (the fingerprint is computed differently)'}. Restore those "
        "settings to resume, or move the folder away to start from scratch"
    )


def check_same_engine(checkpoint: Checkpoint, config: TrainConfig, source: str) -> None:
    """Raise unless ``checkpoint`` (named by ``source``) was written by ``config``'s engine (``run.engine``): each
    engine lays its variables out its own way (a convolution's kernel is ``(kh, kw, in, out)`` in Keras,
    ``(out, in, kh, kw)`` in PyTorch), so a checkpoint is read by the engine that wrote it.

    Raises:
        CheckpointError: naming ``source`` and both engines.
    """
    written_by = checkpoint.settings.get("run.engine", RunSettings.model_fields["engine"].default)
    if written_by != config.run.engine:
        raise CheckpointError(
            f"{source}: written by the {written_by} engine, and this run's engine is {config.run.engine}; a "
            "checkpoint is read by the engine that wrote it (their variables are laid out differently)"
        )


def check_shapes(source: str, arrays: list[np.ndarray], here: list[tuple[str, tuple]]) -> None:
    """Raise unless ``arrays`` (from ``source``) fit the variables ``here`` (``(path, shape)`` each, in order).

    Raises:
        CheckpointError: naming ``source``, the first variable whose shape differs and both shapes, or the
            two variable counts.
    """
    if len(arrays) != len(here):
        raise CheckpointError(f"{source}: {len(arrays)} variables there, {len(here)} here (another model?)")
    for array, (path, shape) in zip(arrays, here):
        if tuple(array.shape) != tuple(shape):
            raise CheckpointError(
                f"{source}: variable {path} has shape {tuple(array.shape)} there but "
                f"{tuple(shape)} here (another image size or number of classes?)"
            )
