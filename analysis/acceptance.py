"""Acceptance: a sweep's figures held against a system's reference (:mod:`analysis.reference`), one
verdict per run shape and figure, and the capture of a reference from a known-good sweep.

Per shape, a figure's measured value is the median over the shape's completed repeats. Its verdict:

- ``PASS`` inside the bounds; also outside them on the good side (above the upper bound of a
  higher-is-better figure, below the lower bound of a lower-is-better one), with a note;
- ``FAIL`` outside the bounds on the bad side;
- ``MISSING`` when the shape has no completed run, or its runs lack the figure (TTT never reached).

A figure is also flagged ``UNSTABLE`` when its repeats spread (max - min) wider than its tolerance band.
The report is written as ``acceptance.md`` (people), ``acceptance.json`` (programs) and ``acceptance.xml``
(JUnit XML, one test case per shape and figure), each atomically.
"""

from __future__ import annotations

import statistics
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from benchmark.util.atomic import write_atomic, write_json_atomic

from .columns import (
    BOUNDS,
    EFFICIENCY,
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
    UNIT,
    VERDICT,
)
from .markdown import markdown_table
from .records import load_records
from .reference import FIGURES, FigureReference, Reference, ShapeReference, shape_key, shape_name
from .tables import scaling

OUTPUTS = ("acceptance.md", "acceptance.json", "acceptance.xml")


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


def sweep_figures(sweep_dir: str | Path) -> dict[tuple, dict[str, list[float]]]:
    """Every completed run's figures under ``sweep_dir``, grouped by shape: ``{shape key: {figure:
    [value per repeat]}}`` (figures a run lacks are left out of its list).

    Raises:
        FileNotFoundError, ValueError: see :func:`analysis.records.load_records`.
    """
    runs = _with_efficiency(load_records(sweep_dir).runs)
    done = runs[runs["status"] == "completed"]
    shapes: dict[tuple, dict[str, list[float]]] = {}
    for _, run in done.iterrows():
        key = shape_key(
            run["data_source"],
            run["image_size"],
            run["nodes"],
            run["workers_per_node"],
            run["local_batch_size"],
            run["model"],
        )
        figures = shapes.setdefault(key, {name: [] for name in FIGURES})
        for name in FIGURES:
            if pd.notna(run[name]):
                figures[name].append(float(run[name]))
    return shapes


def _with_efficiency(runs: pd.DataFrame) -> pd.DataFrame:
    """The run table with each completed run's scaling efficiency (%) against its sweep's smallest run at
    the same local batch (:func:`analysis.tables.scaling`)."""
    return runs.merge(scaling(runs)[[SWEEP, RUN_ID, EFFICIENCY]], on=[SWEEP, RUN_ID], how="left")


def check(shape: ShapeReference, name: str, ref: FigureReference, values: list[float]) -> Check:
    """The verdict of one figure's measured ``values`` (one per repeat) against ``ref``."""
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
            "no completed run has this figure",
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


def accept(sweep_dir: str | Path, reference: Reference) -> list[Check]:
    """Every shape and figure of ``reference`` checked against the sweep in ``sweep_dir``."""
    measured = sweep_figures(sweep_dir)
    return [
        check(shape, name, ref, measured.get(shape.key, {}).get(name, []))
        for shape in reference.shape
        for name, ref in shape.figures.items()
    ]


def passed(checks: list[Check]) -> bool:
    """Whether every figure passed."""
    return all(c.verdict == "PASS" for c in checks)


def capture(sweep_dir: str | Path, system: str, tolerance: float, description: str | None = None) -> Reference:
    """A reference from a known-good sweep: per shape and figure, the value is the median of the repeats
    and each bound the wider of ``tolerance`` (a fraction) and the repeats' own spread around the median.

    Raises:
        ValueError: the sweep has no completed run.
    """
    shapes = []
    for key, figures in sorted(sweep_figures(sweep_dir).items()):
        source, size, nodes, wpn, batch, model = key
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
