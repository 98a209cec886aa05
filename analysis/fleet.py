"""A fleet's nodes held against each other: for each run shape and figure of a fleet sweep (one single-node run
per node, ``run.node``: :mod:`slurm.fleet`), a node whose value lies far from the fleet's is an OUTLIER, with how
far and on which side; and the figure that shows it.

The rule is the modified z-score of B. Iglewicz and D. C. Hoaglin, "How to Detect and Handle Outliers" (ASQC
Basic References in Quality Control: Statistical Techniques, vol. 16, 1993; as the NIST/SEMATECH e-Handbook of
Statistical Methods, sec. 1.3.5.17, gives it). Each node's value x is the median of its repeats; over the n
nodes with a value, with the median m and the median absolute deviation MAD = median(|x - m|),

    M = 0.6745 (x - m) / MAD,

and |M| > 3.5 marks an outlier. 0.6745 is the 0.75 quantile of the standard normal distribution, the MAD of
normal data in units of its standard deviation, so M reads as a z-score, while the median and the MAD, unlike the
mean and the standard deviation, are not dragged by the outliers themselves: one slow node among 200 cannot
widen the band it is judged by. A z-score on the mean and standard deviation can never exceed (n - 1) / sqrt(n)
(R. E. Shiffler, "Maximum Z Scores and Outliers", The American Statistician 42(1), 1988: 1.5 for 4 nodes), so it
cannot find one bad node in a small fleet at all.

Two additions, both to keep a verdict about the node rather than about the statistics:

- **A minimum difference**: a node is an outlier only if it also lies more than ``min_difference`` (a fraction,
  :data:`MIN_DIFFERENCE` by default) from the median. Where the nodes agree very closely (peak memory, or any
  figure of a quiet, uniform fleet), a MAD of a fraction of a percent would make a 0.5 % difference an outlier;
  acceptance is after differences that matter.
- **MAD = 0**: more than half of the nodes have exactly the median value (a deterministic figure: accuracy,
  epochs to target, stalls). M is then unbounded for any other node (reported as none), and such a node is an
  outlier when it lies more than the minimum difference from the median (with a median of 0, any other value).
  Not the common fallback to the mean absolute deviation, M = 0.7979 (x - m) / MeanAD (0.7979 = sqrt(2 / pi),
  the mean absolute deviation of normal data in units of its standard deviation): with one node off among n, that
  M is 0.7979 n whatever the size of the difference, so it could never flag the one node of a 3- or 4-node fleet
  and would always flag it from 5 nodes on, a verdict on the fleet's size rather than on the node.

Together: a node is an OUTLIER when |x - m| exceeds the band's half-width, max(3.5 MAD / 0.6745,
``min_difference`` |m|), which is also the band the figure draws. Fewer than :data:`MIN_NODES` nodes with a value
give no fleet verdict (the median of two is their mean, and no third node says which is off). The side follows
the figure's direction (:data:`analysis.reference.FIGURES`): below the median is worse for a higher-is-better
figure (images/s), above it for a lower-is-better one (seconds); a speed figure's worse side is "slower".
"""

from __future__ import annotations

import dataclasses
import re
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .plots import CI_ALPHA, save_png
from .reference import FIGURES

#: The modified z-score's constant: the 0.75 quantile of the standard normal (Iglewicz and Hoaglin 1993).
Z_CONSTANT = 0.6745
#: |M| beyond which a node is an outlier (Iglewicz and Hoaglin 1993).
Z_THRESHOLD = 3.5
#: The least difference from the fleet's median, as a fraction of it, that makes an outlier (the default).
MIN_DIFFERENCE = 0.02
#: The fewest nodes with a value that give a fleet verdict.
MIN_NODES = 3
#: The verdicts of a node's figure against its fleet.
PASS, OUTLIER, NONE = "PASS", "OUTLIER", "-"
#: Nodes whose names label the figure's axis; beyond, only the outliers are named.
NAMED_NODES = 48


@dataclass(frozen=True)
class FleetStats:
    """One figure over a fleet: the nodes with a value, their median and MAD, and the band's half-width,
    max(3.5 MAD / 0.6745, ``min_difference`` |median|), all in the figure's unit."""

    n: int
    median: float
    mad: float
    half_width: float

    def z(self, value: float) -> float | None:
        """The modified z-score of ``value``: 0.6745 (value - median) / MAD; with MAD = 0, 0 at the median and
        None (unbounded) elsewhere."""
        if self.mad > 0:
            return Z_CONSTANT * (value - self.median) / self.mad
        return 0.0 if value == self.median else None

    def outlier(self, value: float) -> bool:
        """Whether ``value`` lies outside the band (see the module's docstring)."""
        return abs(value - self.median) > self.half_width

    @property
    def band(self) -> tuple[float, float]:
        """The band's low and high ends."""
        return self.median - self.half_width, self.median + self.half_width


def fleet_stats(values: list[float], min_difference: float = MIN_DIFFERENCE) -> FleetStats | None:
    """The fleet's statistics of ``values`` (one per node), or None for fewer than :data:`MIN_NODES`.

    Raises:
        ValueError: ``min_difference`` is negative.
    """
    if min_difference < 0:
        raise ValueError(f"the minimum difference must be >= 0, got {min_difference}")
    if len(values) < MIN_NODES:
        return None
    median = statistics.median(values)
    mad = statistics.median(abs(value - median) for value in values)
    return FleetStats(len(values), median, mad, max(Z_THRESHOLD * mad / Z_CONSTANT, min_difference * abs(median)))


@dataclass(frozen=True)
class FleetCheck:
    """One node's figure of one shape against its fleet. ``value`` (the median of the node's ``repeats``),
    ``median``, ``mad``, ``low`` and ``high`` (the band) in the figure's unit; ``z`` the modified z-score (None:
    unbounded, MAD = 0, or no value); ``from_median`` the difference from the median as a fraction of it; ``side``
    ``slower``/``faster`` (speed figures) or ``worse``/``better`` for an outlier, else ''."""

    shape: str
    figure: str
    unit: str
    direction: str
    node: str
    verdict: str  # PASS | OUTLIER | - (no fleet verdict)
    side: str
    repeats: int
    value: float | None
    nodes: int
    median: float | None
    mad: float | None
    z: float | None
    from_median: float | None
    low: float | None
    high: float | None
    note: str

    @property
    def bad(self) -> bool:
        """Whether this is an outlier on the bad side (it fails the node's test case)."""
        return self.verdict == OUTLIER and self.side in ("slower", "worse")

    def describe(self) -> str:
        """How far and which way: ``slower, M = -15.5, -47.0 % from the median``."""
        z = "unbounded (MAD = 0)" if self.z is None else f"{self.z:.1f}"
        how = f"M = {z}" + ("" if self.from_median is None else f", {100 * self.from_median:+.1f} % from the median")
        return f"{self.side}, {how}" if self.side else how


def side_of(figure: str, value: float, median: float) -> str:
    """The side of ``value`` from ``median`` for ``figure``: worse or better (slower or faster for a speed
    figure), by the figure's direction."""
    return FIGURES[figure].side(FIGURES[figure].better(value, median))


def judge(
    shape: str, figure: str, values: Mapping[str, list[float]], min_difference: float = MIN_DIFFERENCE
) -> list[FleetCheck]:
    """Every node's ``figure`` of ``shape`` against the fleet, in the order of ``values``: each node's repeats,
    in the figure's unit (empty for a node without a value, which gets no verdict).

    Raises:
        ValueError: ``min_difference`` is negative.
    """
    medians = {node: statistics.median(repeats) for node, repeats in values.items() if repeats}
    stats = fleet_stats(list(medians.values()), min_difference)
    unit, direction = FIGURES[figure].unit, FIGURES[figure].direction
    low, high = (None, None) if stats is None else stats.band
    checks = []
    for node, repeats in values.items():
        value = medians.get(node)
        verdict, side, note, z, from_median = NONE, "", "", None, None
        if value is None:
            note = "no value: the node has no completed run with this figure"
        elif stats is None:
            note = f"no fleet verdict: {len(medians)} node(s) have a value, at least {MIN_NODES} are needed"
        else:
            verdict = OUTLIER if stats.outlier(value) else PASS
            side = side_of(figure, value, stats.median) if verdict == OUTLIER else ""
            z = stats.z(value)
            from_median = (value - stats.median) / abs(stats.median) if stats.median else None
        check = FleetCheck(
            shape,
            figure,
            unit,
            direction,
            node,
            verdict,
            side,
            len(repeats),
            value,
            len(medians),
            None if stats is None else stats.median,
            None if stats is None else stats.mad,
            z,
            from_median,
            low,
            high,
            note,
        )
        checks.append(check if verdict != OUTLIER else dataclasses.replace(check, note=check.describe()))
    return checks


def plot_fleet(checks: list[FleetCheck], path: str | Path) -> Path:
    """One shape's fleet as a PNG: a panel per figure with a fleet verdict, every node's value (the median of its
    repeats) as a dot in node order, the fleet's median as a dashed line and its band (median +- the half-width
    of :class:`FleetStats`, the 3.5 threshold of M in the figure's unit, or the minimum difference) shaded, the
    outliers marked (bad side red, good side orange) and named. Nodes are named along the axis up to
    :data:`NAMED_NODES`. Returns ``path``.

    Raises:
        ValueError: no figure of ``checks`` has a fleet verdict.
        OSError: the file cannot be written.
    """
    figures = list(dict.fromkeys(c.figure for c in checks if c.median is not None))
    if not figures:
        raise ValueError("no figure has a fleet verdict: nothing to draw")
    columns = min(2, len(figures))
    rows = -(-len(figures) // columns)
    figure = Figure(figsize=(6.5 * columns, 3.6 * rows + 0.6), layout="constrained")
    panels = figure.subplots(rows, columns, squeeze=False).ravel()
    for axes, name in zip(panels, figures):
        _panel(axes, [c for c in checks if c.figure == name])
    for axes in panels[len(figures) :]:
        axes.set_visible(False)
    shape = checks[0].shape
    figure.suptitle(
        f"{shape}: each node against its fleet (OUTLIER: |M| > {Z_THRESHOLD:g} and beyond the minimum difference)"
    )
    panels[0].legend(
        handles=[
            Line2D([], [], marker="o", linestyle="", color="C0", label="node (median of its repeats)"),
            Line2D([], [], marker="v", linestyle="", color="red", label="OUTLIER, bad side"),
            Line2D([], [], marker="^", linestyle="", color="orange", label="OUTLIER, good side"),
            Line2D([], [], linestyle="--", color="gray", label="fleet median"),
            Patch(color="gray", alpha=CI_ALPHA, linewidth=0, label="fleet band"),
        ],
        loc="best",
        fontsize="small",
    )
    return save_png(figure, path, tight=False)


def _panel(axes, checks: list[FleetCheck]) -> None:
    """One figure's panel of :func:`plot_fleet`."""
    first = checks[0]
    nodes = [c.node for c in checks]
    assert first.median is not None and first.low is not None and first.high is not None, "drawn: a fleet verdict"
    axes.axhspan(first.low, first.high, color="gray", alpha=CI_ALPHA, linewidth=0)
    axes.axhline(first.median, color="gray", linestyle="--", linewidth=1)
    for x, c in enumerate(checks):
        if c.value is None:
            continue
        if c.verdict == OUTLIER:
            color = "red" if c.bad else "orange"
            axes.plot(x, c.value, "v" if c.bad else "^", color=color, markersize=9, zorder=3)
            axes.annotate(c.node, (x, c.value), xytext=(4, 4), textcoords="offset points", color=color, fontsize=8)
        else:
            axes.plot(x, c.value, "o", color="C0", markersize=5, zorder=2)
    missing = sum(c.value is None for c in checks)
    better = "higher" if first.direction == "higher" else "lower"
    axes.set_title(
        f"{first.figure}: {first.nodes} nodes"
        + (f", {missing} without a value" if missing else "")
        + f" ({better} is better)",
        fontsize="medium",
    )
    axes.set_ylabel(first.unit)
    axes.margins(y=0.12)  # room for the outliers' names
    axes.set_xlim(-0.7, len(nodes) - 0.3)
    if len(nodes) <= NAMED_NODES:
        axes.set_xticks(range(len(nodes)), nodes, rotation=90 if len(nodes) > 8 else 0, fontsize="small")
    else:
        axes.set_xticks([])
        axes.set_xlabel(f"{len(nodes)} nodes, in order (outliers named)")
    axes.grid(axis="y", alpha=0.3)


def natural_key(name: str) -> list:
    """A sort key that orders node names as people do: node2 before node10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]
