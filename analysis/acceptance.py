"""Acceptance: a sweep's figures held against a system's reference (:mod:`analysis.reference`), one
verdict per run shape and figure, and the capture of a reference from a known-good sweep.

A shape is a run's data source, image size, nodes, workers per node, local batch, model and engine
(:data:`analysis.reference.SHAPE_COLUMNS`; records made before engines existed ran on the default engine): a sweep
that compares engines is accepted shape by shape per engine, and a shape of one engine is MISSING from a sweep of
another. Per shape, a figure's measured value is the median over the shape's completed repeats. Its verdict:

- ``PASS`` inside the bounds; also outside them on the good side (above the upper bound of a
  higher-is-better figure, below the lower bound of a lower-is-better one), with a note;
- ``FAIL`` outside the bounds on the bad side;
- ``MISSING`` when the shape has no completed run, or its runs lack the figure (TTT never reached); its
  note says why: no record of the shape, a record that cannot be read (the file and the cause; the shape of
  its run taken from the run's ``config.json``), a failed run (its reason), or the figure absent from the
  completed runs' records (for TTT, why the target was not reached).

A figure is also flagged ``UNSTABLE`` when its repeats spread (max - min) wider than its tolerance band.
The report is written as ``acceptance.md`` (people), ``acceptance.json`` (programs) and ``acceptance.xml``
(JUnit XML, one test case per shape and figure), each atomically.
"""

from __future__ import annotations

import statistics
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from benchmark.config import TrainConfig
from benchmark.errors import McnnBenchError
from benchmark.util.atomic import write_atomic, write_json_atomic

from .columns import (
    BOUNDS,
    EFFICIENCY,
    EPOCHS_TO_TARGET,
    FIGURE,
    NOTE,
    REFERENCE_VALUE,
    REPEAT_MAX,
    REPEAT_MEDIAN,
    REPEAT_MIN,
    REPEATS,
    RUN_ID,
    SHAPE,
    SWEEP,
    TTT_SECONDS,
    UNIT,
    VERDICT,
)
from .markdown import markdown_table
from .records import LoadedRecords, load_records
from .reference import FIGURES, SHAPE_COLUMNS, FigureReference, Reference, ShapeReference, shape_key, shape_name
from .tables import scaling

OUTPUTS = ("acceptance.md", "acceptance.json", "acceptance.xml")
#: The config the sweep driver writes in each run's folder: it tells the shape of a run whose record is unreadable.
RUN_CONFIG = "config.json"
#: The note of a MISSING figure when nothing more is known.
NO_COMPLETED_RUN = "no completed run has this figure"


@dataclass(frozen=True)
class Check:
    """One figure of one shape against its reference. Values in the figure's unit."""

    shape: str
    figure: str
    unit: str
    direction: str
    verdict: str  # PASS | FAIL | MISSING
    unstable: bool
    n: int
    median: float | None
    min: float | None
    max: float | None
    reference: float
    low: float | None
    high: float | None
    note: str


@dataclass(frozen=True)
class Unreadable:
    """A record of the sweep that could not be used: its path, why, and the shape of its run (read from the
    run's ``config.json``; None when that cannot be read either)."""

    path: Path
    reason: str
    shape: tuple | None


@dataclass(frozen=True)
class SweepRuns:
    """What a sweep's records hold for acceptance: every completed run's figures by shape (``{shape key:
    {figure: [value per repeat]}}``), every readable run's row (run id, status, reasons) by shape, and the
    records that could not be used."""

    figures: dict[tuple, dict[str, list[float]]]
    runs: dict[tuple, list[dict]] = field(default_factory=dict)
    unreadable: list[Unreadable] = field(default_factory=list)
    sweep_dir: Path = Path()

    def why_missing(self, key: tuple, name: str) -> str:
        """Why the shape ``key`` has no value of figure ``name``: the figure absent from its completed runs'
        records, its runs failed, its record unreadable (file and cause), or no record of it at all."""
        runs = self.runs.get(key, [])
        notes = []
        completed = [run["run_id"] for run in runs if run["status"] == "completed"]
        if completed:
            notes.append(f"field absent: the record(s) of {', '.join(completed)} hold no {name}")
            if name in (TTT_SECONDS, EPOCHS_TO_TARGET):
                reasons = sorted(
                    {run["ttt_reason"] for run in runs if run["status"] == "completed" and run["ttt_reason"]}
                )
                notes += [f"time to train: {_one_line(reason)}" for reason in reasons]
        notes += [
            f"run {run['run_id']} failed: {_one_line(run['failure_reason'] or 'no reason recorded')}"
            for run in runs
            if run["status"] != "completed"
        ]
        notes += [f"record unreadable: {u.path} ({_one_line(u.reason)})" for u in self.unreadable if u.shape == key]
        if not runs and not any(u.shape == key for u in self.unreadable):
            notes.append(f"no record of this shape in {self.sweep_dir}")
            unknown = [u for u in self.unreadable if u.shape is None]
            notes += [f"record unreadable, of an unknown shape: {u.path} ({_one_line(u.reason)})" for u in unknown]
        return "; ".join(notes) or NO_COMPLETED_RUN


def sweep_runs(sweep_dir: str | Path, loaded: LoadedRecords | None = None) -> SweepRuns:
    """Every run's figures and status under ``sweep_dir`` by shape, and the records that could not be used
    (see :class:`SweepRuns`); ``loaded``: the records of ``sweep_dir`` when they are already read.

    Raises:
        FileNotFoundError, ValueError: see :func:`analysis.records.load_records`.
    """
    loaded = load_records(sweep_dir) if loaded is None else loaded
    runs = _with_efficiency(loaded.runs)
    shapes: dict[tuple, dict[str, list[float]]] = {}
    rows: dict[tuple, list[dict]] = {}
    for _, run in runs.iterrows():
        key = _shape_of(run)
        rows.setdefault(key, []).append(
            {
                "run_id": run[RUN_ID],
                "status": run["status"],
                "failure_reason": run["failure_reason"] if pd.notna(run["failure_reason"]) else None,
                "ttt_reason": run["ttt_reason"] if pd.notna(run["ttt_reason"]) else None,
            }
        )
        if run["status"] != "completed":
            continue
        figures = shapes.setdefault(key, {name: [] for name in FIGURES})
        for name in FIGURES:
            if pd.notna(run[name]):
                figures[name].append(float(run[name]))
    unreadable = [
        Unreadable(path, reason, _config_shape(path.parent / RUN_CONFIG))
        for path, reason in loaded.problems
        if not reason.startswith("duplicate run")  # another record of the run was read
    ]
    return SweepRuns(shapes, rows, unreadable, Path(sweep_dir))


def sweep_figures(sweep_dir: str | Path) -> dict[tuple, dict[str, list[float]]]:
    """Every completed run's figures under ``sweep_dir``, grouped by shape: ``{shape key: {figure:
    [value per repeat]}}`` (figures a run lacks are left out of its list).

    Raises:
        FileNotFoundError, ValueError: see :func:`analysis.records.load_records`.
    """
    return sweep_runs(sweep_dir).figures


def _shape_of(run: pd.Series) -> tuple:
    return shape_key(*(run[column] for column in SHAPE_COLUMNS))


def _config_shape(path: Path) -> tuple | None:
    """The shape of the run whose config is ``path``, or None when it cannot be read or names no topology."""
    try:
        config = TrainConfig.from_json(path)
    except McnnBenchError:
        return None
    run, data = config.run, config.data
    if run.nodes is None or run.workers_per_node is None:
        return None
    size = "x".join(map(str, data.image_size))
    return shape_key(
        data.source, size, run.nodes, run.workers_per_node, run.local_batch_size, config.model.name, run.engine
    )


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _with_efficiency(runs: pd.DataFrame) -> pd.DataFrame:
    """The run table with each completed run's scaling efficiency (%) against its sweep's smallest run at
    the same local batch (:func:`analysis.tables.scaling`)."""
    return runs.merge(scaling(runs)[[SWEEP, RUN_ID, EFFICIENCY]], on=[SWEEP, RUN_ID], how="left")


def check(
    shape: ShapeReference, name: str, ref: FigureReference, values: list[float], missing: str = NO_COMPLETED_RUN
) -> Check:
    """The verdict of one figure's measured ``values`` (one per repeat) against ``ref``; ``missing``: the note
    of a MISSING verdict (why there is no value)."""
    figure, (low, high) = FIGURES[name], ref.bounds()
    if not values:
        return Check(
            shape_name(shape.key),
            name,
            ref.unit,
            figure.direction,
            "MISSING",
            False,
            0,
            None,
            None,
            None,
            ref.value,
            low,
            high,
            missing,
        )
    median, band = statistics.median(values), ref.band() or abs(ref.value * (ref.lower or ref.upper or 0))
    verdict, note = "PASS", ""
    if low is not None and median < low:
        verdict, note = (
            ("FAIL", "below the lower bound")
            if figure.direction == "higher"
            else ("PASS", "better than the reference: below its lower bound")
        )
    elif high is not None and median > high:
        verdict, note = (
            ("FAIL", "above the upper bound")
            if figure.direction == "lower"
            else ("PASS", "better than the reference: above its upper bound")
        )
    unstable = len(values) > 1 and max(values) - min(values) > band
    if unstable:
        note = "; ".join(
            filter(
                None,
                [
                    note,
                    f"repeats spread {max(values) - min(values):.4g} {ref.unit}, wider "
                    f"than the tolerance band {band:.4g}",
                ],
            )
        )
    return Check(
        shape_name(shape.key),
        name,
        ref.unit,
        figure.direction,
        verdict,
        unstable,
        len(values),
        median,
        min(values),
        max(values),
        ref.value,
        low,
        high,
        note,
    )


def accept(sweep_dir: str | Path, reference: Reference, loaded: LoadedRecords | None = None) -> list[Check]:
    """Every shape and figure of ``reference`` checked against the sweep in ``sweep_dir`` (``loaded``: its
    records, when already read)."""
    measured = sweep_runs(sweep_dir, loaded)
    return [
        check(shape, name, ref, values, "" if values else measured.why_missing(shape.key, name))
        for shape in reference.shape
        for name, ref in shape.figures.items()
        for values in [measured.figures.get(shape.key, {}).get(name, [])]
    ]


def passed(checks: list[Check]) -> bool:
    """Whether every figure passed."""
    return all(c.verdict == "PASS" for c in checks)


def capture(sweep_dir: str | Path, system: str, tolerance: float, description: str | None = None) -> Reference:
    """A reference from a known-good sweep: per shape and figure, the value is the median of the repeats
    and each bound the wider of ``tolerance`` (a fraction) and the repeats' own spread around the median.
    Every shape names its model and engine, the default ones too: a captured file says what made its figures.

    Raises:
        ValueError: the sweep has no completed run.
    """
    shapes = []
    for key, figures in sorted(sweep_figures(sweep_dir).items()):
        source, size, nodes, wpn, batch, model, engine = key
        captured = {name: _captured(name, values, tolerance) for name, values in figures.items() if values}
        refs = {name: ref for name, ref in captured.items() if ref is not None}
        height, width = map(int, size.split("x"))
        shapes.append(
            ShapeReference(
                source=source,
                model=model,
                image_size=(height, width),
                nodes=nodes,
                workers_per_node=wpn,
                local_batch_size=batch,
                engine=engine,
                figures=refs,
            )
        )
    if not shapes:
        raise ValueError(f"{sweep_dir}: no completed run to capture a reference from")
    return Reference(system=system, description=description, shape=shapes)


def _captured(name: str, values: list[float], tolerance: float) -> FigureReference | None:
    median = statistics.median(values)
    if median == 0:
        # no relative bound around zero; a lower-is-better figure at zero (stalls) is held there: none allowed
        return (
            FigureReference(value=0.0, upper=0.0, unit=FIGURES[name].unit)
            if FIGURES[name].direction == "lower"
            else None
        )
    spread = max(abs(max(values) - median), abs(median - min(values))) / abs(median)
    bound = max(tolerance, spread)
    return FigureReference(value=median, lower=-min(bound, 1.0), upper=bound, unit=FIGURES[name].unit)


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def markdown(checks: list[Check], system: str, sweep_dir: Path) -> str:
    """The report for people: one table row per shape and figure, and the overall verdict."""
    table = pd.DataFrame(
        [
            {
                SHAPE: c.shape,
                FIGURE: c.figure,
                REPEATS: c.n,
                REPEAT_MEDIAN: _figure(c.median),
                REPEAT_MIN: _figure(c.min),
                REPEAT_MAX: _figure(c.max),
                REFERENCE_VALUE: _figure(c.reference),
                BOUNDS: f"{_figure(c.low)} .. {_figure(c.high)}",
                UNIT: c.unit,
                VERDICT: c.verdict + (" UNSTABLE" if c.unstable else ""),
                NOTE: c.note,
            }
            for c in checks
        ],
        columns=[
            SHAPE,
            FIGURE,
            REPEATS,
            REPEAT_MEDIAN,
            REPEAT_MIN,
            REPEAT_MAX,
            REFERENCE_VALUE,
            BOUNDS,
            UNIT,
            VERDICT,
            NOTE,
        ],
    )
    overall = "PASS" if passed(checks) else "FAIL"
    return f"# Acceptance of {sweep_dir} against {system}: {overall}\n\n{markdown_table(table)}\n"


def junit(checks: list[Check], system: str) -> str:
    """JUnit XML: one test case per shape and figure (a failure element for FAIL and MISSING)."""
    failures = sum(c.verdict != "PASS" for c in checks)
    suite = ET.Element(
        "testsuite", name=f"mcnn-bench acceptance: {system}", tests=str(len(checks)), failures=str(failures), errors="0"
    )
    for c in checks:
        case = ET.SubElement(suite, "testcase", classname=f"{system}.{c.shape}", name=c.figure)
        detail = (
            f"median {_figure(c.median)} {c.unit} over {c.n} repeat(s), reference {_figure(c.reference)}, "
            f"bounds {_figure(c.low)} .. {_figure(c.high)}; {c.note}"
        )
        if c.verdict != "PASS":
            ET.SubElement(case, "failure", message=f"{c.verdict}: {c.note}").text = detail
        else:
            ET.SubElement(case, "system-out").text = detail
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def write_report(checks: list[Check], system: str, sweep_dir: Path, out: Path) -> list[Path]:
    """Write ``acceptance.md``, ``.json`` and ``.xml`` into ``out`` atomically; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    md, js, xml = (out / name for name in OUTPUTS)
    write_atomic(md, markdown(checks, system, sweep_dir))
    write_json_atomic(
        js, {"system": system, "sweep": str(sweep_dir), "passed": passed(checks), "checks": [asdict(c) for c in checks]}
    )
    write_atomic(xml, junit(checks, system))
    return [md, js, xml]
