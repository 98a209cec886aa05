"""Two sweeps compared, shape by shape and figure by figure (``mcnn-bench compare SWEEP_A SWEEP_B``): whether B is
faster, slower, or not detectably different from A, with statistics that say when a difference is real.

A shape and its figures are acceptance's (:data:`analysis.reference.SHAPE_COLUMNS`, :data:`analysis.reference.FIGURES`
with their units and directions, read by :func:`analysis.acceptance.sweep_runs`): per shape both sweeps ran and per
figure, the completed repeats of each side (``n``), their medians, and:

- **the ratio B/A of the medians** with a percentile bootstrap interval at ``1 - level`` (``scipy.stats.bootstrap``,
  ``paired=False``: each sweep's repeats resampled on their own, :data:`RESAMPLES` times, with
  ``numpy.random.default_rng(SEED)``, so the same runs always give the same interval). The percentile interval
  rather than SciPy's default BCa: BCa's jackknife acceleration is undefined (NaN) when a side's repeats are all
  equal, as fixed-seed accuracies are, and unstable at five repeats; the percentile interval is defined for any
  sample. The interval describes the ratio; the verdict rests on the test.
- **the two-sided Mann-Whitney U test** of A against B (``scipy.stats.mannwhitneyu``, ``method="auto"``: exact
  when a side has at most 8 repeats and no value is tied, else the normal approximation with the tie correction):
  a rank test, which assumes no normality, so that one slow repeat does not sway it as it would a t-test. ``p`` is
  its p-value; all repeats equal on both sides is ``p = 1``.
- **the verdict** (``change``): with ``p < level``, B is ``faster``/``slower`` (images/s, step time, time to train)
  or ``better``/``worse`` (the other figures), in the figure's direction (lower is better for seconds, bytes and
  stalls), the side being the one the ranks put higher (the U statistic against ``n_a n_b / 2``); else
  ``no detectable change``. A side without the figure is ``missing`` (the note says why, as acceptance does).
- **too few repeats.** The smallest two-sided p-value the exact test can give with ``n_a`` and ``n_b`` repeats is
  ``2 / C(n_a + n_b, n_a)`` (all of one side's ranks above the other's; :func:`smallest_p`): with 1 or 2 repeats a
  side, or 3 and 3, it is 0.1 or more, and no difference, however large, can reach ``p < 0.05``. Such a figure is
  reported as ``too few repeats`` with its medians and ratio, never as a change; the note says how many repeats
  can decide (4 and 4, or 3 and 5, at ``level`` 0.05).

The comparison fails (:attr:`SweepComparison.passed` false, exit status 1) when a figure is worse with
``p < level`` **and** by more than ``tolerance``: B/A below ``1 - tolerance`` for a higher-is-better figure, above
``1 + tolerance`` for a lower-is-better one (any significant rise from a median of 0, such as stalls, is beyond
any tolerance). A significant change within the tolerance is reported and passes.

With 5 or more repeats a side, time to train is also given as MLPerf's olympic mean (:func:`olympic_mean`): "each
benchmark result is computed by dropping the fastest and slowest runs, then taking the mean of the remaining
times" (MLPerf Training Rules, section "Benchmark Results", mlcommons/training_policies ``training_rules.adoc``;
5 runs for image classification).

The report is written like acceptance's: ``compare.md`` (people), ``compare.json`` (programs), ``compare.xml``
(JUnit XML, one test case per shape and figure, a failure where the comparison fails, skipped where there are too
few repeats or a side is missing), each atomically.
"""

from __future__ import annotations

import math
import statistics
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from benchmark.errors import McnnBenchError
from benchmark.util.atomic import write_atomic, write_json_atomic

from .acceptance import SweepRuns, sweep_runs
from .columns import (
    CHANGE,
    FIGURE,
    MEDIAN_A,
    MEDIAN_B,
    NOTE,
    OLYMPIC_A,
    OLYMPIC_B,
    P_VALUE,
    RATIO_B_A,
    RATIO_INTERVAL,
    REPEATS_A,
    REPEATS_B,
    SHAPE,
    TTT_SECONDS,
    UNIT,
)
from .markdown import markdown_table
from .reference import FIGURES, shape_name

OUTPUTS = ("compare.md", "compare.json", "compare.xml")
#: Bootstrap resamples of the ratio's interval, and the seed of their generator.
RESAMPLES = 9999
SEED = 0
#: Repeats a side needs for time to train's olympic mean (MLPerf's run count for image classification).
OLYMPIC_FROM = 5
NO_CHANGE = "no detectable change"
TOO_FEW = "too few repeats"
MISSING = "missing"


class CompareError(McnnBenchError, ValueError):
    """Two sweeps that cannot be compared (a missing folder, no completed run, no shape in common, a tolerance or
    level out of range); the message says which and why."""


@dataclass(frozen=True)
class FigureComparison:
    """One figure of one shape in both sweeps. Values in the figure's unit; ``ratio`` is B/A of the medians (None
    when A's median is 0 or a side is missing), ``ratio_low``/``ratio_high`` its interval (None where no test is
    made), ``p_value`` the Mann-Whitney U test's (None likewise), ``olympic_a``/``olympic_b`` time to train's
    olympic mean (None below :data:`OLYMPIC_FROM` repeats, and for the other figures)."""

    shape: str
    figure: str
    unit: str
    direction: str
    n_a: int
    n_b: int
    median_a: float | None
    median_b: float | None
    ratio: float | None
    ratio_low: float | None
    ratio_high: float | None
    p_value: float | None
    change: str
    worse_beyond_tolerance: bool
    olympic_a: float | None
    olympic_b: float | None
    note: str


@dataclass(frozen=True)
class SweepComparison:
    """Sweep B against sweep A: every figure of their common shapes (``figures``), the shapes only one of them ran
    (``only_a``, ``only_b``, by :func:`analysis.reference.shape_name`), and their records that could not be read."""

    sweep_a: Path
    sweep_b: Path
    tolerance: float
    level: float
    figures: list[FigureComparison]
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether no figure is worse, significantly, by more than the tolerance."""
        return not any(c.worse_beyond_tolerance for c in self.figures)


def smallest_p(n_a: int, n_b: int) -> float:
    """The smallest two-sided p-value of the exact Mann-Whitney U test with ``n_a`` and ``n_b`` repeats:
    ``2 / C(n_a + n_b, n_a)`` (one side's ranks all above the other's, either way), at most 1."""
    return min(1.0, 2 / math.comb(n_a + n_b, n_a))


def repeats_needed(level: float) -> int:
    """The fewest repeats a side (the same on both) with which the exact test can reach ``p < level``."""
    n = 1
    while smallest_p(n, n) >= level:
        n += 1
    return n


def olympic_mean(values: list[float]) -> float:
    """MLPerf's olympic mean: the mean of ``values`` without their smallest and their largest (one of each).

    Raises:
        ValueError: fewer than 3 values.
    """
    if len(values) < 3:
        raise ValueError(f"an olympic mean needs 3 values or more, got {len(values)}")
    return statistics.fmean(sorted(values)[1:-1])


def compare_figure(
    shape: str, name: str, a: list[float], b: list[float], tolerance: float, level: float, missing: str = ""
) -> FigureComparison:
    """Figure ``name`` of ``shape``: the values of A's repeats against B's (see the module); ``missing``: why a side
    without values has none."""
    figure = FIGURES[name]
    median_a = statistics.median(a) if a else None
    median_b = statistics.median(b) if b else None
    ratio = median_b / median_a if median_a and median_b is not None else None
    olympic = [
        olympic_mean(values) if name == TTT_SECONDS and len(values) >= OLYMPIC_FROM else None for values in (a, b)
    ]
    low = high = p_value = None
    worse = False
    if not a or not b:
        change, note = MISSING, missing
    elif smallest_p(len(a), len(b)) >= level:
        change = TOO_FEW
        note = (
            f"with {len(a)} and {len(b)} repeats no difference can reach p < {level:g} (the smallest two-sided "
            f"Mann-Whitney p is {smallest_p(len(a), len(b)):.3g}); {repeats_needed(level)} a side can"
        )
    else:
        test = stats.mannwhitneyu(a, b, alternative="two-sided", method="auto")
        p_value = float(test.pvalue) if math.isfinite(test.pvalue) else 1.0
        if median_a:
            low, high = _ratio_interval(a, b, level)
        if p_value < level:
            b_higher = float(test.statistic) < len(a) * len(b) / 2
            better = b_higher == (figure.direction == "higher")
            change = figure.side(better)
            limit = 1 - tolerance if figure.direction == "higher" else 1 + tolerance
            beyond = ratio is None or (ratio < limit if figure.direction == "higher" else ratio > limit)
            worse = not better and beyond
            by = "" if ratio is None else f"by {abs(ratio - 1):.1%}, "
            note = f"{change} {by}{'beyond' if beyond else 'within'} the tolerance {tolerance:.0%}"
        else:
            change, note = NO_CHANGE, ""
    return FigureComparison(
        shape,
        name,
        figure.unit,
        figure.direction,
        len(a),
        len(b),
        median_a,
        median_b,
        ratio,
        low,
        high,
        p_value,
        change,
        worse,
        olympic[0],
        olympic[1],
        note,
    )


def _ratio_interval(a: list[float], b: list[float], level: float) -> tuple[float | None, float | None]:
    """The percentile bootstrap interval of median(B) / median(A) at ``1 - level`` (see the module); None for an
    end that is not finite (a resampled median of A at 0)."""

    def ratio(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.median(y, axis=axis) / np.median(x, axis=axis)

    result = stats.bootstrap(
        (np.asarray(a, dtype=float), np.asarray(b, dtype=float)),
        ratio,
        n_resamples=RESAMPLES,
        confidence_level=1 - level,
        method="percentile",
        paired=False,
        vectorized=True,
        rng=np.random.default_rng(SEED),
    )
    low, high = (float(end) for end in (result.confidence_interval.low, result.confidence_interval.high))
    return (low if math.isfinite(low) else None), (high if math.isfinite(high) else None)


def compare_sweeps(
    sweep_a: str | Path, sweep_b: str | Path, tolerance: float = 0.05, level: float = 0.05
) -> SweepComparison:
    """Sweep B (``sweep_b``) against sweep A (``sweep_a``), every figure of every shape both ran (see the module).
    A figure neither side has (top-1 of multi-label data) is left out.

    Raises:
        CompareError: a folder is missing, a sweep has no completed run, they have no shape in common, or
            ``tolerance`` is not in [0, 1) or ``level`` not in (0, 1).
        ValueError: a folder holds no record at all (:func:`analysis.records.load_records`).
    """
    if not 0 <= tolerance < 1:
        raise CompareError(f"--tolerance must be a fraction in [0, 1) (0.05: 5 %), got {tolerance}")
    if not 0 < level < 1:
        raise CompareError(f"--level must be a probability in (0, 1) (0.05), got {level}")
    measured = []
    for side, folder in (("A", Path(sweep_a)), ("B", Path(sweep_b))):
        if not folder.is_dir():
            raise CompareError(f"sweep {side}: {folder} is not a folder (give RESULTS_DIR/SWEEP_NAME)")
        runs = sweep_runs(folder)
        if not runs.figures:
            raise CompareError(f"sweep {side}: {folder} has no completed run to compare{_unreadable_note(runs)}")
        measured.append(runs)
    a, b = measured
    common = sorted(set(a.figures) & set(b.figures))
    if not common:
        raise CompareError(
            f"{sweep_a} and {sweep_b} have no run shape in common: A ran "
            f"{', '.join(sorted(map(shape_name, a.figures)))}; B ran {', '.join(sorted(map(shape_name, b.figures)))}"
        )
    figures = [
        compare_figure(shape_name(key), name, values_a, values_b, tolerance, level, _why_missing(a, b, key, name))
        for key in common
        for name in FIGURES
        for values_a, values_b in [(a.figures[key][name], b.figures[key][name])]
        if values_a or values_b
    ]
    return SweepComparison(
        Path(sweep_a),
        Path(sweep_b),
        tolerance,
        level,
        figures,
        sorted(shape_name(key) for key in set(a.figures) - set(b.figures)),
        sorted(shape_name(key) for key in set(b.figures) - set(a.figures)),
        [(u.path, u.reason) for u in [*a.unreadable, *b.unreadable]],
    )


def _why_missing(a: SweepRuns, b: SweepRuns, key: tuple, name: str) -> str:
    """Why the side(s) without figure ``name`` of shape ``key`` lack it (acceptance's reasons)."""
    return "; ".join(
        f"{side}: {runs.why_missing(key, name)}"
        for side, runs in (("A", a), ("B", b))
        if not runs.figures.get(key, {}).get(name)
    )


def _unreadable_note(runs: SweepRuns) -> str:
    return "".join(f"; {u.path} could not be read ({' '.join(u.reason.split())})" for u in runs.unreadable)


def _figure(value: float | None, spec: str = ".4g") -> str:
    return "-" if value is None else format(value, spec)


def _interval(c: FigureComparison) -> str:
    return "-" if c.ratio_low is None or c.ratio_high is None else f"{c.ratio_low:.3f} .. {c.ratio_high:.3f}"


def markdown(result: SweepComparison) -> str:
    """The report for people: the verdict, how it is reached, one table row per shape and figure, time to train's
    olympic means where there are enough repeats, the shapes only one sweep ran and the records not read."""
    table = pd.DataFrame(
        [
            {
                SHAPE: c.shape,
                FIGURE: c.figure,
                REPEATS_A: c.n_a,
                REPEATS_B: c.n_b,
                MEDIAN_A: _figure(c.median_a),
                MEDIAN_B: _figure(c.median_b),
                RATIO_B_A: _figure(c.ratio, ".3f"),
                RATIO_INTERVAL: _interval(c),
                P_VALUE: _figure(c.p_value, ".3g"),
                CHANGE: c.change.upper() if c.worse_beyond_tolerance else c.change,
                UNIT: c.unit,
                NOTE: c.note,
            }
            for c in result.figures
        ],
        columns=[
            SHAPE,
            FIGURE,
            REPEATS_A,
            REPEATS_B,
            MEDIAN_A,
            MEDIAN_B,
            RATIO_B_A,
            RATIO_INTERVAL,
            P_VALUE,
            CHANGE,
            UNIT,
            NOTE,
        ],
    )
    failed = [c for c in result.figures if c.worse_beyond_tolerance]
    verdict = (
        "PASS"
        if not failed
        else f"FAIL ({len(failed)} figure(s) worse by more than {result.tolerance:.0%}: "
        + ", ".join(f"{c.figure} of {c.shape}" for c in failed)
        + ")"
    )
    lines = [
        f"# {result.sweep_b} (B) against {result.sweep_a} (A): {verdict}",
        "",
        f"Per shape and figure: the repeats of each sweep (n), their medians, B/A of the medians with its "
        f"{1 - result.level:.0%} percentile bootstrap interval, the two-sided Mann-Whitney U test's p, and the "
        f"change at p < {result.level:g} in the figure's direction. The comparison fails when a figure is worse "
        f"by more than {result.tolerance:.0%}.",
        "",
        markdown_table(table),
    ]
    olympic = [c for c in result.figures if c.olympic_a is not None or c.olympic_b is not None]
    if olympic:
        frame = pd.DataFrame(
            [
                {
                    SHAPE: c.shape,
                    REPEATS_A: c.n_a,
                    REPEATS_B: c.n_b,
                    OLYMPIC_A: _figure(c.olympic_a),
                    OLYMPIC_B: _figure(c.olympic_b),
                    UNIT: c.unit,
                }
                for c in olympic
            ]
        )
        lines += [
            "",
            "Time to train as MLPerf reports it, the olympic mean: the mean without the fastest and the slowest run "
            "(MLPerf Training Rules, Benchmark Results), given from 5 repeats:",
            "",
            markdown_table(frame),
        ]
    lines += [f"\nOnly in A (not compared): {', '.join(result.only_a)}"] if result.only_a else []
    lines += [f"\nOnly in B (not compared): {', '.join(result.only_b)}"] if result.only_b else []
    if result.unreadable:
        lines += ["", f"{len(result.unreadable)} record(s) could not be read:"]
        lines += [f"- {path}: {' '.join(reason.split())}" for path, reason in result.unreadable]
    return "\n".join(lines) + "\n"


def junit(result: SweepComparison) -> str:
    """JUnit XML: one test case per shape and figure, a failure where the figure is worse beyond the tolerance,
    skipped where there are too few repeats or a side lacks the figure."""
    name = f"mcnn-bench compare: {result.sweep_b} against {result.sweep_a}"
    failures = sum(c.worse_beyond_tolerance for c in result.figures)
    skipped = sum(c.change in (TOO_FEW, MISSING) for c in result.figures)
    suite = ET.Element(
        "testsuite",
        name=name,
        tests=str(len(result.figures)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
    )
    for c in result.figures:
        case = ET.SubElement(suite, "testcase", classname=f"compare.{c.shape}", name=c.figure)
        detail = (
            f"A: median {_figure(c.median_a)} {c.unit} over {c.n_a} repeat(s); B: median {_figure(c.median_b)} "
            f"{c.unit} over {c.n_b}; B/A {_figure(c.ratio, '.3f')} ({_interval(c)}); p {_figure(c.p_value, '.3g')}; "
            f"{c.change}" + (f"; {c.note}" if c.note else "")
        )
        if c.worse_beyond_tolerance:
            ET.SubElement(case, "failure", message=f"{c.change}: {c.note}").text = detail
        elif c.change in (TOO_FEW, MISSING):
            ET.SubElement(case, "skipped", message=f"{c.change}: {c.note}").text = detail
        else:
            ET.SubElement(case, "system-out").text = detail
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def write_report(result: SweepComparison, out: str | Path) -> list[Path]:
    """Write ``compare.md``, ``.json`` and ``.xml`` into ``out`` atomically; returns their paths."""
    out = Path(out)
    md, js, xml = (out / name for name in OUTPUTS)
    write_atomic(md, markdown(result))
    write_json_atomic(
        js,
        {
            "sweep_a": str(result.sweep_a),
            "sweep_b": str(result.sweep_b),
            "tolerance": result.tolerance,
            "level": result.level,
            "passed": result.passed,
            "method": {
                "interval": f"percentile bootstrap of median(B)/median(A), scipy.stats.bootstrap, {RESAMPLES} "
                f"resamples, numpy default_rng({SEED})",
                "test": "two-sided Mann-Whitney U, scipy.stats.mannwhitneyu(method='auto')",
                "too_few_repeats": "2 / C(n_a + n_b, n_a) >= level: the test cannot reach p < level",
                "olympic_mean": "time to train without the fastest and slowest run, from 5 repeats (MLPerf)",
            },
            "figures": [asdict(c) for c in result.figures],
            "only_a": result.only_a,
            "only_b": result.only_b,
            "unreadable": [{"path": str(path), "reason": reason} for path, reason in result.unreadable],
        },
    )
    write_atomic(xml, junit(result))
    return [md, js, xml]
