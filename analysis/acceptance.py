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

A fleet sweep (one single-node run per node, ``run.node``: :mod:`slurm.fleet`) is accepted node by node: each
node's runs against the reference as above, and each node against the rest of its fleet (:mod:`analysis.fleet`:
an OUTLIER by the modified z-score, with how far and on which side). A node that could not take a job (skipped)
or whose run failed is MISSING, its note saying why.

The report is written as ``acceptance.md`` (people), ``acceptance.json`` (programs) and ``acceptance.xml``
(JUnit XML, one test case per shape and figure; for a fleet, per node, shape and figure, failing for a figure
that fails its reference or is an OUTLIER on the bad side), each atomically, and for a fleet a figure per shape,
``fleet-<shape>.png`` (:func:`analysis.fleet.plot_fleet`).
"""

from __future__ import annotations

import dataclasses
import re
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
    FLEET_BAND,
    FLEET_MAD,
    FLEET_MEDIAN,
    FLEET_VERDICT,
    FROM_MEDIAN,
    MODIFIED_Z,
    NODE,
    NODE_VALUE,
    NOTE,
    REFERENCE_VALUE,
    REFERENCE_VERDICT,
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
from .fleet import MIN_DIFFERENCE, MIN_NODES, NONE, OUTLIER, Z_THRESHOLD, FleetCheck, judge, natural_key, plot_fleet
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
    node: str | None = None  # a fleet's node (run.node), else None


@dataclass(frozen=True)
class Unreadable:
    """A record of the sweep that could not be used: its path, why, and the shape and node (a fleet's) of its
    run (read from the run's ``config.json``; None when that cannot be read either)."""

    path: Path
    reason: str
    shape: tuple | None
    node: str | None = None


@dataclass(frozen=True)
class SweepRuns:
    """What a sweep's records hold for acceptance: every completed run's figures by shape (``{shape key:
    {figure: [value per repeat]}}``), every readable run's row (run id, status, reasons) by shape, and the
    records that could not be used; for a fleet, the same for each node's runs, by node in natural order
    (node2 before node10; empty for a sweep that is no fleet)."""

    figures: dict[tuple, dict[str, list[float]]]
    runs: dict[tuple, list[dict]] = field(default_factory=dict)
    unreadable: list[Unreadable] = field(default_factory=list)
    sweep_dir: Path = Path()
    nodes: dict[str, SweepRuns] = field(default_factory=dict)

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
    """Every run's figures and status under ``sweep_dir`` by shape, and the records that could not be used;
    for a fleet, also by node (see :class:`SweepRuns`). A record that cannot be read, of a run whose config
    names no node either, is counted against every node. ``loaded``: the records of ``sweep_dir`` when they are
    already read.

    Raises:
        FileNotFoundError, ValueError: see :func:`analysis.records.load_records`.
    """
    loaded = load_records(sweep_dir) if loaded is None else loaded
    runs = _with_efficiency(loaded.runs)
    unreadable = [
        Unreadable(path, reason, *_config_shape(path.parent / RUN_CONFIG))
        for path, reason in loaded.problems
        if not reason.startswith("duplicate run")  # another record of the run was read
    ]
    whole = _grouped(runs, unreadable, Path(sweep_dir))
    names = {*runs[NODE].dropna(), *(u.node for u in unreadable if u.node is not None)}
    nodes = {
        node: _grouped(runs[runs[NODE] == node], [u for u in unreadable if u.node in (node, None)], Path(sweep_dir))
        for node in sorted(names, key=natural_key)
    }
    return dataclasses.replace(whole, nodes=nodes)


def _grouped(runs: pd.DataFrame, unreadable: list[Unreadable], sweep_dir: Path) -> SweepRuns:
    """:class:`SweepRuns` of the rows ``runs`` of the run table and the records ``unreadable``, by shape."""
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
    return SweepRuns(shapes, rows, unreadable, sweep_dir)


def sweep_figures(sweep_dir: str | Path) -> dict[tuple, dict[str, list[float]]]:
    """Every completed run's figures under ``sweep_dir``, grouped by shape: ``{shape key: {figure:
    [value per repeat]}}`` (figures a run lacks are left out of its list).

    Raises:
        FileNotFoundError, ValueError: see :func:`analysis.records.load_records`.
    """
    return sweep_runs(sweep_dir).figures


def _shape_of(run: pd.Series) -> tuple:
    return shape_key(*(run[column] for column in SHAPE_COLUMNS))


def _config_shape(path: Path) -> tuple[tuple | None, str | None]:
    """The shape (None when it names no topology) and the node (a fleet's, else None) of the run whose config is
    ``path``; both None when it cannot be read."""
    try:
        config = TrainConfig.from_json(path)
    except McnnBenchError:
        return None, None
    run, data = config.run, config.data
    if run.nodes is None or run.workers_per_node is None:
        return None, run.node
    size = "x".join(map(str, data.image_size))
    key = shape_key(
        data.source, size, run.nodes, run.workers_per_node, run.local_batch_size, config.model.name, run.engine
    )
    return key, run.node


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


def accept(sweep: str | Path | SweepRuns, reference: Reference) -> list[Check]:
    """Every shape and figure of ``reference`` checked against the sweep (its folder, or its runs as
    :func:`sweep_runs` read them); a fleet's checked against each node's runs, node by node, each check naming
    its node.

    Raises:
        FileNotFoundError, ValueError: see :func:`analysis.records.load_records`.
    """
    measured = sweep if isinstance(sweep, SweepRuns) else sweep_runs(sweep)
    if measured.nodes:
        return [
            dataclasses.replace(c, node=node) for node, runs in measured.nodes.items() for c in accept(runs, reference)
        ]
    return [
        check(shape, name, ref, values, "" if values else measured.why_missing(shape.key, name))
        for shape in reference.shape
        for name, ref in shape.figures.items()
        for values in [measured.figures.get(shape.key, {}).get(name, [])]
    ]


def fleet_checks(measured: SweepRuns, reference: Reference, min_difference: float = MIN_DIFFERENCE) -> list[FleetCheck]:
    """Per shape and figure of ``reference``, every node of a fleet against the others
    (:func:`analysis.fleet.judge`: each node's value the median of its repeats); empty for a sweep that is no
    fleet.

    Raises:
        ValueError: ``min_difference`` is negative.
    """
    return [
        fleet_check
        for shape in reference.shape
        for name in shape.figures
        for fleet_check in judge(
            shape_name(shape.key),
            name,
            {node: runs.figures.get(shape.key, {}).get(name, []) for node, runs in measured.nodes.items()},
            min_difference,
        )
    ]


@dataclass(frozen=True)
class Report:
    """What ``mcnn-bench accept`` finds and writes: the reference's ``system``, the sweep, the checks against the
    reference (:func:`accept`) and, for a fleet, against the fleet (:func:`fleet_checks`, with the
    ``min_difference`` they were judged with; empty for a sweep that is no fleet)."""

    system: str
    sweep_dir: Path
    checks: list[Check]
    fleet: list[FleetCheck] = field(default_factory=list)
    min_difference: float = MIN_DIFFERENCE

    @property
    def passed(self) -> bool:
        """Whether every figure passed its reference and no node is an OUTLIER on the bad side."""
        return all(c.verdict == "PASS" for c in self.checks) and not any(c.bad for c in self.fleet)

    @property
    def nodes(self) -> list[str]:
        """A fleet's nodes, in order (empty for a sweep that is no fleet)."""
        return list(dict.fromkeys(c.node for c in self.checks if c.node is not None))


def report(
    sweep_dir: str | Path,
    reference: Reference,
    min_difference: float = MIN_DIFFERENCE,
    loaded: LoadedRecords | None = None,
) -> Report:
    """The sweep in ``sweep_dir`` accepted against ``reference`` and, for a fleet, against itself (``loaded``: its
    records, when already read).

    Raises:
        FileNotFoundError, ValueError: see :func:`analysis.records.load_records`; ``min_difference`` is negative.
    """
    measured = sweep_runs(sweep_dir, loaded)
    return Report(
        reference.system,
        Path(sweep_dir),
        accept(measured, reference),
        fleet_checks(measured, reference, min_difference),
        min_difference,
    )


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


#: The figures of a fleet, one per shape with a fleet verdict: ``fleet-<shape>.png``.
FLEET_FIGURE = "fleet-{shape}.png"


def markdown(report: Report) -> str:
    """The report for people: the overall verdict, and one table row per shape and figure; for a fleet, first what
    the fleet rule is and which nodes it names, a row per node, and a row per node, shape and figure against the
    fleet, then against the reference."""
    overall = "PASS" if report.passed else "FAIL"
    head = f"# Acceptance of {report.sweep_dir} against {report.system}: {overall}\n\n"
    against_reference = _reference_table(report.checks)
    if not report.nodes:
        return f"{head}{against_reference}\n"
    return (
        f"{head}{_fleet_summary(report)}\n\n## Nodes\n\n{_nodes_table(report)}\n\n"
        f"## Each node against the fleet\n\n{_fleet_table(report.fleet)}\n\n"
        f"## Each node against the reference\n\n{against_reference}\n"
    )


def _reference_table(checks: list[Check]) -> str:
    """One row per (node,) shape and figure against the reference."""
    fleet = any(c.node is not None for c in checks)
    columns = [
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
    ]
    table = pd.DataFrame(
        [
            {
                NODE: c.node,
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
        columns=[NODE, *columns] if fleet else columns,
    )
    return markdown_table(table)


def _fleet_summary(report: Report) -> str:
    """What the fleet rule is, and the nodes it finds on the bad side (or that it gives no verdict)."""
    nodes = report.nodes
    lines = [
        f"A fleet of {len(nodes)} nodes: {', '.join(nodes)}. Against the fleet, per shape and figure, each node's "
        f"value is the median of its repeats, and a node is an OUTLIER when its modified z-score M = 0.6745 (value - "
        f"median) / MAD lies beyond +-{Z_THRESHOLD:g} (Iglewicz and Hoaglin 1993) and it lies more than "
        f"{100 * report.min_difference:g} % from the fleet's median (where MAD = 0, any node that far from it); "
        "its side follows the figure's direction."
    ]
    if not any(c.verdict != NONE for c in report.fleet):
        lines.append(f"No fleet verdict: fewer than {MIN_NODES} nodes have a value of any figure.")
    bad = {node: [f"{c.figure} {c.describe()}" for c in report.fleet if c.node == node and c.bad] for node in nodes}
    named = [f"{node} ({'; '.join(found)})" for node, found in bad.items() if found]
    lines.append(f"OUTLIER on the bad side: {', '.join(named)}." if named else "No node is an OUTLIER on the bad side.")
    return "\n\n".join(lines)


def _nodes_table(report: Report) -> str:
    """A row per node: its verdict against the reference (PASS when every figure passed, else FAIL, else MISSING),
    against the fleet (OUTLIER on the bad side, else PASS, - without a verdict), and what they found."""
    rows = []
    for node in report.nodes:
        checks = [c for c in report.checks if c.node == node]
        fleet = [c for c in report.fleet if c.node == node]
        verdicts = {c.verdict for c in checks}
        reference = "PASS" if verdicts == {"PASS"} else "FAIL" if "FAIL" in verdicts else "MISSING"
        against_fleet = (
            OUTLIER if any(c.bad for c in fleet) else "PASS" if any(c.verdict != NONE for c in fleet) else NONE
        )
        notes = [f"{c.figure} {c.describe()}" for c in fleet if c.verdict == OUTLIER]
        notes += [f"{c.figure} {c.verdict.lower()}s its reference" for c in checks if c.verdict == "FAIL"]
        notes += [next(c.note for c in checks if c.verdict == "MISSING")] if "MISSING" in verdicts else []
        rows.append({NODE: node, REFERENCE_VERDICT: reference, FLEET_VERDICT: against_fleet, NOTE: "; ".join(notes)})
    return markdown_table(pd.DataFrame(rows, columns=[NODE, REFERENCE_VERDICT, FLEET_VERDICT, NOTE]))


def _fleet_table(fleet: list[FleetCheck]) -> str:
    """A row per node, shape and figure against the fleet."""
    table = pd.DataFrame(
        [
            {
                SHAPE: c.shape,
                FIGURE: c.figure,
                NODE: c.node,
                REPEATS: c.repeats,
                NODE_VALUE: _figure(c.value),
                FLEET_MEDIAN: _figure(c.median),
                FLEET_MAD: _figure(c.mad),
                MODIFIED_Z: _z(c),
                FROM_MEDIAN: "-" if c.from_median is None else f"{100 * c.from_median:+.1f}",
                FLEET_BAND: f"{_figure(c.low)} .. {_figure(c.high)}",
                UNIT: c.unit,
                FLEET_VERDICT: c.verdict + (f" ({c.side})" if c.side else ""),
                NOTE: c.note,
            }
            for c in fleet
        ],
        columns=[
            SHAPE,
            FIGURE,
            NODE,
            REPEATS,
            NODE_VALUE,
            FLEET_MEDIAN,
            FLEET_MAD,
            MODIFIED_Z,
            FROM_MEDIAN,
            FLEET_BAND,
            UNIT,
            FLEET_VERDICT,
            NOTE,
        ],
    )
    return markdown_table(table)


def _z(check: FleetCheck) -> str:
    """A modified z-score for people: signed, two decimals; ``unbounded`` off the median of a fleet whose MAD is
    0; ``-`` without a verdict."""
    if check.verdict == NONE:
        return "-"
    return "unbounded" if check.z is None else f"{check.z:+.2f}"


def junit(report: Report) -> str:
    """JUnit XML: one test case per shape and figure, and for a fleet per node, shape and figure (class name
    ``SYSTEM.NODE.SHAPE``); a failure element for FAIL and MISSING, and for an OUTLIER against the fleet on the
    bad side."""
    fleet: dict[tuple[str | None, str, str], FleetCheck] = {(c.node, c.shape, c.figure): c for c in report.fleet}
    suite = ET.Element("testsuite", name=f"mcnn-bench acceptance: {report.system}", tests=str(len(report.checks)))
    failures = 0
    for c in report.checks:
        against = fleet.get((c.node, c.shape, c.figure))
        where = f"{report.system}.{c.node}.{c.shape}" if c.node is not None else f"{report.system}.{c.shape}"
        case = ET.SubElement(suite, "testcase", classname=where, name=c.figure)
        detail = (
            f"median {_figure(c.median)} {c.unit} over {c.n} repeat(s), reference {_figure(c.reference)}, "
            f"bounds {_figure(c.low)} .. {_figure(c.high)}; {c.note}"
        )
        problems = [f"{c.verdict}: {c.note}"] if c.verdict != "PASS" else []
        if against is not None:
            detail += (
                f"\nagainst the fleet: {against.verdict}, value {_figure(against.value)} {c.unit}, fleet median "
                f"{_figure(against.median)}, MAD {_figure(against.mad)}, M {_z(against)}, band {_figure(against.low)}"
                f" .. {_figure(against.high)}; {against.note}"
            )
            problems += [f"OUTLIER against the fleet: {against.describe()}"] if against.bad else []
        if problems:
            failures += 1
            ET.SubElement(case, "failure", message="; ".join(problems)).text = detail
        else:
            ET.SubElement(case, "system-out").text = detail
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def write_report(report: Report, out: Path) -> list[Path]:
    """Write ``acceptance.md``, ``.json`` and ``.xml`` into ``out`` atomically, and for a fleet a figure per shape
    with a fleet verdict (:data:`FLEET_FIGURE`, :func:`analysis.fleet.plot_fleet`); returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    md, js, xml = (out / name for name in OUTPUTS)
    write_atomic(md, markdown(report))
    data: dict = {
        "system": report.system,
        "sweep": str(report.sweep_dir),
        "passed": report.passed,
        "checks": [asdict(c) for c in report.checks],
    }
    if report.nodes:
        data["fleet"] = {
            "nodes": report.nodes,
            "z_threshold": Z_THRESHOLD,
            "min_difference": report.min_difference,
            "min_nodes": MIN_NODES,
            "outliers": sorted({c.node for c in report.fleet if c.bad}, key=natural_key),
            "checks": [asdict(c) for c in report.fleet],
        }
    write_json_atomic(js, data)
    write_atomic(xml, junit(report))
    figures = []
    for shape in dict.fromkeys(c.shape for c in report.fleet if c.median is not None):
        name = FLEET_FIGURE.format(shape=re.sub(r"[^A-Za-z0-9._-]+", "-", shape))
        figures.append(plot_fleet([c for c in report.fleet if c.shape == shape], out / name))
    return [md, js, xml, *figures]
