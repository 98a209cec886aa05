"""Sweep state, kept beside the results: ``<results>/<sweep>/sweep.json`` lists every submitted run with
its executor, job id and submitit folder; each run's own record says how it ended.

A run's status is derived, in this order, from its record (completed / failed with reason; skipped when the
driver did not submit it because its node could not take a job: :mod:`slurm.fleet`), from the executor's view
of its job (pending / running, or failed when the job ended without a record), from the refusal of its last
job by the run's lock (failed: another process held the run's folder), or is ``missing`` when it was never
submitted.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from benchmark.errors import McnnBenchError
from benchmark.record import RecordError, RunRecord
from benchmark.schema import describe_all
from benchmark.util.atomic import write_json_atomic
from slurm.executor import EXECUTORS, Job

STATE_NAME = "sweep.json"
CONFIG_NAME = "config.json"
TERMINAL = ("completed", "failed", "skipped")


def now() -> str:
    """The current UTC time, ISO 8601, to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class _Entry(BaseModel):
    """One run of ``sweep.json`` (the driver may keep more keys)."""

    model_config = ConfigDict(extra="allow", strict=True)
    executor: str
    job_id: str | None
    submitit_folder: str | None
    attempt: int


class _StateFile(BaseModel):
    """The shape of ``sweep.json`` that the driver relies on."""

    model_config = ConfigDict(extra="allow", strict=True)
    runs: dict[str, _Entry]
    executor: str | None = None

    def kind_problems(self) -> list[str]:
        kinds = {
            kind for kind in (self.executor, *(entry.executor for entry in self.runs.values())) if kind is not None
        }
        return [f"executor: {kind!r} is not one of {', '.join(EXECUTORS)}" for kind in sorted(kinds - set(EXECUTORS))]


class StateError(McnnBenchError, ValueError):
    """``sweep.json`` cannot be read, is not the state of this sweep, or is malformed; the message names the
    file, the cause and what to do."""


@dataclass
class RunStatus:
    """What ``mcnn-bench status`` shows for one run. ``elapsed`` in seconds when known."""

    run_id: str
    state: str  # missing | submitting | pending | running | unknown | completed | failed | skipped
    reason: str | None = None
    job_id: str | None = None
    elapsed: float | None = None
    images_per_second: float | None = None
    best: float | None = None  # the best value of the run's main validation figure, named by metric
    metric: str = "top-1"
    stale: tuple[str, ...] = ()  # the settings that changed since the run was submitted, "key: old -> new"

    @property
    def short_reason(self) -> str:
        """The reason's first line ('' when there is none), for one-line displays."""
        return self.reason.splitlines()[0] if self.reason else ""


class SweepState:
    """The submitted runs of one sweep, persisted atomically in ``sweep_dir / sweep.json``."""

    def __init__(self, sweep_dir: str | Path):
        self.dir = Path(sweep_dir)
        self.path = self.dir / STATE_NAME
        self.data: dict[str, Any] = {"runs": {}}
        if self.path.exists():
            self.data = self._load()

    def _load(self) -> dict:
        """``sweep.json`` as JSON data, checked for the shape the driver relies on and for being this sweep's:
        its ``name`` is the sweep folder's.

        Raises:
            StateError: naming the file and what is wrong: it cannot be read, is not UTF-8 JSON, is of
                another sweep (naming both), or is malformed.
        """
        advice = "move it away to start the sweep's bookkeeping afresh (the run records are kept)"
        try:
            data = json.loads(self.path.read_bytes().decode("utf-8"))
        except OSError as exc:
            raise StateError(f"{self.path}: sweep state cannot be read ({exc.strerror or exc})") from exc
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StateError(f"{self.path}: sweep state is not valid UTF-8 JSON ({exc}); {advice}") from exc
        try:
            problems = _StateFile.model_validate(data).kind_problems()
        except ValidationError as exc:
            problems = describe_all(exc)
        if problems:
            raise StateError(f"{self.path}: sweep state is malformed ({'; '.join(problems)}); {advice}")
        name = data.get("name")
        if name is not None and name != self.dir.name:
            raise StateError(
                f"{self.path}: this is the state of sweep {name!r}, not of sweep {self.dir.name!r} (the folder "
                f"it is in): it was copied or moved here. Move it back to the folder of sweep {name!r}, or "
                "away to start this sweep's bookkeeping afresh (the run records are kept)"
            )
        return data

    @property
    def runs(self) -> dict[str, dict]:
        """``run_id -> {"executor", "job_id", "submitit_folder", "submitted_at", "attempt", ...}``."""
        return self.data["runs"]

    def run_dir(self, run_id: str) -> Path:
        """The folder of one run's config, record, logs."""
        return self.dir / run_id

    def config_path(self, run_id: str) -> Path:
        """Where the run's workers read their training config."""
        return self.run_dir(run_id) / CONFIG_NAME

    def job(self, run_id: str) -> Job | None:
        """The job last submitted for ``run_id``, or None if it never was."""
        entry = self.runs.get(run_id)
        if not entry or not entry.get("job_id"):
            return None
        return Job(entry["executor"], entry["job_id"], entry["submitit_folder"], entry.get("started"))

    def finished(self, run_id: str) -> bool:
        """Whether ``run_id``'s job has ended and its record is final."""
        return bool(self.runs.get(run_id, {}).get("finished"))

    def note_submitting(self, run_id: str, executor: str, token: str, folder: Path, **extra) -> None:
        """Remember, durably, before anything else is done, that ``run_id`` is about to be submitted by
        ``executor`` with ``token`` into submitit ``folder``, and the ``extra`` keys :meth:`note_submitted`
        will save with the job: should the driver stop before it saves the job, the next one finds the job by
        its token (:meth:`submitting`). The run's last job, if any, stays as it was."""
        entry = self.runs.get(run_id) or {"executor": executor, "job_id": None, "submitit_folder": None, "attempt": 0}
        mark = {"token": token, "executor": executor, "folder": str(folder), "since": now(), "extra": extra}
        self.runs[run_id] = {**entry, "submitting": mark}
        self.save()

    def submitting(self, run_id: str) -> dict | None:
        """The mark :meth:`note_submitting` left for ``run_id`` (``token``, ``executor``, ``folder``, ``since``,
        ``extra``) when its job was never saved, else None."""
        return self.runs.get(run_id, {}).get("submitting")

    def forget_submitting(self, run_id: str) -> None:
        """Drop ``run_id``'s submitting mark (no job carries its token) and save; a run never submitted
        before is dropped whole."""
        entry = self.runs[run_id]
        entry.pop("submitting", None)
        if entry.get("job_id") is None:
            del self.runs[run_id]
        self.save()

    def note_submitted(self, run_id: str, job: Job, **extra) -> None:
        """Remember that ``run_id`` was submitted as ``job`` and save the state (its submitting mark goes)."""
        previous = self.runs.get(run_id, {})
        self.runs[run_id] = {
            "executor": job.executor,
            "job_id": job.job_id,
            "submitit_folder": job.folder,
            "started": job.started,
            "submitted_at": now(),
            "attempt": previous.get("attempt", 0) + 1,
            **extra,
        }
        self.save()

    def note_finished(self, run_id: str, refused: str | None = None) -> None:
        """Remember that ``run_id``'s job has ended and its record is final, and save the state. ``refused``: the
        run's lock refused the job (the message names the process that held the run's folder), so the run's
        record, if it has one, is that process's (:meth:`refusal`)."""
        entry = self.runs[run_id]
        entry["finished"] = True
        if refused is not None:
            entry["refused"] = refused
        self.save()

    def note_skipped(self, run_id: str, executor: str, reason: str) -> None:
        """Remember that ``run_id`` was not submitted, for ``reason`` (its node cannot take a job now; the record
        the driver wrote says so too), and save the state. A skip counts as an attempt (so that the record it
        leaves is archived under a name of its own, :meth:`archive`); the run's last job, if any, stays as it
        was; its next submission drops the mark."""
        entry = self.runs.get(run_id) or {"executor": executor, "job_id": None, "submitit_folder": None, "attempt": 0}
        skipped = {"reason": reason, "at": now()}
        self.runs[run_id] = {**entry, "attempt": entry["attempt"] + 1, "skipped": skipped}
        self.save()

    def skipped(self, run_id: str) -> str | None:
        """Why ``run_id`` was last skipped (:meth:`note_skipped`), or None when it was not, or was submitted since."""
        mark = self.runs.get(run_id, {}).get("skipped")
        return None if mark is None else mark["reason"]

    def refusal(self, run_id: str) -> str | None:
        """Why the run's lock refused ``run_id``'s last job (:meth:`note_finished`), or None if it did not."""
        return self.runs.get(run_id, {}).get("refused")

    def save(self) -> None:
        """Write the state atomically."""
        write_json_atomic(self.path, self.data)

    def changes(self, run_id: str, settings: dict[str, object]) -> tuple[str, ...]:
        """The settings (``TrainConfig.fingerprinted()``) that differ from those ``run_id`` was last submitted
        with, as ``key: old -> new`` lines; empty when it never was, or nothing changed."""
        entry = self.runs.get(run_id)
        if not entry or "settings" not in entry:
            return ()
        old = entry["settings"]
        return tuple(
            f"{key}: {old.get(key, '(unset)')} -> {settings.get(key, '(unset)')}"
            for key in sorted(set(old) | set(settings))
            if old.get(key) != settings.get(key)
        )

    def archive(self, run_id: str, *names: str) -> list[Path]:
        """Move the named files or folders of a run (its record, its checkpoints) to
        ``attempts/<name>-<attempt>`` before it is run again, so nothing is lost; returns where they went."""
        attempt = self.runs.get(run_id, {}).get("attempt", 0)
        moved = []
        for name in names:
            source = self.run_dir(run_id) / name
            if not source.exists():
                continue
            stem, dot, suffix = name.partition(".")
            target = self.run_dir(run_id) / "attempts" / f"{stem}-{attempt}{dot}{suffix}"
            target.parent.mkdir(parents=True, exist_ok=True)
            source.replace(target)
            moved.append(target)
        return moved


def status_from_record(run_id: str, record: RunRecord, job_id: str | None) -> RunStatus:
    """The status a run's record gives (completed, or failed with the reason)."""
    metric, best = record.best_main
    return RunStatus(
        run_id,
        record.status,
        record.failure.reason if record.failure else None,
        job_id or (record.scheduler.job_id if record.scheduler else None),
        record.elapsed_seconds,
        record.throughput.images_per_second if record.throughput else None,
        best,
        metric,
    )


def refused_status(state: SweepState, run_id: str) -> RunStatus | None:
    """The status of a run whose last job the run's lock refused (:meth:`SweepState.refusal`): failed, the reason
    naming the job and the process that held the run's folder (whose own record, once written, is the run's);
    None when the job was not refused."""
    refusal, job = state.refusal(run_id), state.job(run_id)
    if refusal is None or job is None:
        return None
    return RunStatus(
        run_id,
        "failed",
        f"{job.executor} job {job.job_id} was refused: another process held the run's folder, and keeps its files: "
        f"{refusal}",
        job.job_id,
    )


def recorded_status(state: SweepState, run_id: str) -> RunStatus | None:
    """The status from the run's record, or None when it has none; ``skipped`` for the failed record of a run
    the driver skipped (:meth:`SweepState.skipped`). A record that cannot be read (cut short, say, or not of
    the schema) makes the run ``failed`` with a reason naming the file, so that a re-run replaces it (the
    damaged file is kept in ``attempts/``)."""
    job_id = state.runs.get(run_id, {}).get("job_id")
    try:
        record = RunRecord.read(state.run_dir(run_id))
    except RecordError as exc:
        return RunStatus(run_id, "failed", f"the record cannot be read: {exc}", job_id)
    if record is None:
        return None
    status = status_from_record(run_id, record, job_id)
    if status.state == "failed" and state.skipped(run_id) is not None:
        status.state = "skipped"
    return status
