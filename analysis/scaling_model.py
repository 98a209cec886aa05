"""The scaling model of Datta et al. 2019's Table 1: throughput, speedup and time to train against nodes,
from a one-node step time and an allreduce cost. Pure numpy and pandas: no TensorFlow. What
``mcnn-bench predict`` does around it (loading inputs, the paper's validation, outputs) is in
:mod:`analysis.predict`.

The model (no overlap of communication and computation unless ``overlap`` says so)::

    step(b, p)  = t_c(b) + (1 - overlap) * T(p)          seconds per training step of every worker
    images/s    = p * b / step(b, p)
    TTT         = epochs * images_per_epoch / images/s
    speedup     = images/s / images/s at the smallest node count (same workers per node)
    efficiency  = 100 * speedup / (nodes / smallest node count)

* **Compute** ``t_c(b) = a + c * b`` seconds, a worker's step without the gradient allreduce at local batch
  ``b``, one line per number of workers per node (the workers of a node share its cores). ``a`` is the
  **per-step fixed cost**: what a step costs whatever its batch (framework overhead; Horovod's per-layer MPI
  negotiation, which Datta et al. 2019, sec. 5.3, puts at 450-858 ms a step); ``c`` seconds per image. Both
  are fitted (:func:`fit_line`, non-negative least squares) to a one-node batch sweep, the fixed cost being
  the intercept; or ``a`` is given and ``c`` fitted. A one-node step already holds the allreduce among its
  own ``w`` workers: :func:`compute_models` subtracts the modelled ``(1 - overlap) * T(w)`` first, so that
  the prediction reproduces the one-node measurement and adds only the growth of the allreduce from ``w``
  to ``p`` workers (intra-node hops are modelled with the same alpha and beta as the network: a flat ring).
  Under the global-batch cap the local batch shrinks and ``a`` stays: the step stops shrinking in
  proportion, which is what bends the capped rows of Table 1 below linear.
* **Allreduce** ``T(p)`` of ``n`` gradient bytes among ``p`` workers: the ring (reduce-scatter then
  allgather, each ``p - 1`` steps of ``n / p`` bytes) in the alpha-beta (Hockney) cost model,
  ``T(p) = 2(p-1) alpha + 2(p-1)/p n beta``, ``T(1) = 0`` (Thakur, Rabenseifner & Gropp, "Optimization of
  Collective Communication Operations in MPICH", IJHPCA 19(1), 2005, sec. 4; Patarasuk & Yuan, "Bandwidth
  optimal all-reduce algorithms for clusters of workstations", JPDC 69(2), 2009): ``alpha`` seconds of
  latency per step, ``beta`` seconds per byte (1 / bandwidth). Fitted (:func:`fit_ring`) to
  ``mcnn-bench allreduce`` results or given.
* **The global-batch cap** (Datta et al. 2019, sec. 3 and 5.4): beyond it the local batch shrinks,
  ``b = min(local, cap // p)`` (:func:`capped_local_batch`).

* **Epochs to target** per global batch (:class:`EpochsCurve`): Table 1's (nodes -> epochs) read as
  (global batch -> epochs) and interpolated in log2 of the batch, or a measured sweep's; the
  **updates-per-epoch rule** (Datta et al. 2019's ISC slides: more than 150 updates an epoch, the reason for
  the 2048 cap) bounds the global batch (:func:`largest_global_batch`).

One inversion says what fixed cost a published speedup implies (:func:`fixed_cost_for_speedup`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .columns import (
    ALLREDUCE_SECONDS,
    COMPUTE_SECONDS,
    EFFICIENCY,
    EPOCHS,
    EPOCHS_FROM,
    GLOBAL_BATCH,
    IMAGES_PER_SECOND,
    LOCAL_BATCH,
    NODES,
    NOTE,
    SPEEDUP,
    STEP_SECONDS,
    TTT_MINUTES,
    TTT_SPEEDUP,
    WORKERS,
    WORKERS_PER_NODE,
)

#: alpha (s) when the measurements cannot determine it (a single (workers, bytes) shape) and none is given:
#: an assumption, not a measurement. Omni-Path's MPI point-to-point latency is about 1 us; a ring step
#: through Horovod and MPI costs more. It matters little: 2 x 1023 x 5 us = 10 ms at 1024 workers.
DEFAULT_LATENCY_SECONDS = 5e-6

#: The columns of the predicted table (:mod:`analysis.columns`).
PREDICTED_COLUMNS = [
    NODES,
    WORKERS_PER_NODE,
    WORKERS,
    LOCAL_BATCH,
    GLOBAL_BATCH,
    COMPUTE_SECONDS,
    ALLREDUCE_SECONDS,
    STEP_SECONDS,
    IMAGES_PER_SECOND,
    SPEEDUP,
    EFFICIENCY,
    EPOCHS,
    EPOCHS_FROM,
    TTT_MINUTES,
    TTT_SPEEDUP,
    NOTE,
]


# --- the allreduce: alpha-beta ring model ------------------------------------------------------------------


def ring_allreduce_seconds(workers: int, nbytes: float, alpha: float, beta: float) -> float:
    """Seconds of a ring allreduce of ``nbytes`` among ``workers``: ``2(p-1) alpha + 2(p-1)/p n beta``.

    Reduce-scatter and allgather, each ``p - 1`` steps sending ``n / p`` bytes (Thakur, Rabenseifner &
    Gropp 2005; Patarasuk & Yuan 2009). 0 for one worker. Raises ``ValueError`` if ``workers < 1``.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    return 2 * (workers - 1) * alpha + 2 * (workers - 1) / workers * nbytes * beta


@dataclass(frozen=True)
class RingModel:
    """The alpha-beta ring allreduce: ``alpha`` seconds per step, ``beta`` seconds per byte; ``how``
    says where each came from (fitted, given, assumed)."""

    alpha: float
    beta: float
    how: str

    def seconds(self, workers: int, nbytes: float) -> float:
        return ring_allreduce_seconds(workers, nbytes, self.alpha, self.beta)

    @property
    def bandwidth_gbits(self) -> float:
        """1 / beta in Gb/s (1e9 bits per second)."""
        return math.inf if self.beta == 0 else 8 / self.beta / 1e9

    def describe(self) -> str:
        return (
            f"ring allreduce: alpha {self.alpha * 1e6:.3g} us, beta {self.beta:.4g} s/B "
            f"(bandwidth {self.bandwidth_gbits:.3g} Gb/s); {self.how}"
        )


@dataclass(frozen=True)
class AllreduceMeasurement:
    """One ``mcnn-bench allreduce`` result (:mod:`benchmark.microbench.allreduce`): ``bytes`` per worker,
    ``median_seconds`` of the slowest rank."""

    workers: int
    nodes: int
    bytes: int
    median_seconds: float
    controller: str


def load_allreduce(paths: Iterable[str | Path]) -> list[AllreduceMeasurement]:
    """Read ``mcnn-bench allreduce`` result files (one point each; a ``--sweep`` file, one per size), the
    points of :func:`fit_ring`. Raises
    ``FileNotFoundError`` for a missing file and ``ValueError`` (naming the file) for one that is not such
    a result."""
    out = []
    for path in map(Path, paths):
        if not path.is_file():
            raise FileNotFoundError(f"allreduce result {path} does not exist")
        try:
            data = json.loads(path.read_text())
            kind = data.get("kind")
            if kind not in ("mcnn-bench-allreduce", "mcnn-bench-allreduce-sweep"):
                raise ValueError(
                    "not an `mcnn-bench allreduce` result (no kind 'mcnn-bench-allreduce' or "
                    "'mcnn-bench-allreduce-sweep')"
                )
            rows = data["sizes"] if kind == "mcnn-bench-allreduce-sweep" else [data]
            found = [
                AllreduceMeasurement(
                    int(data["workers"]),
                    int(data["nodes"]),
                    int(row["bytes"]),
                    float(row["median_seconds"]),
                    str(data["controller"]),
                )
                for row in rows
            ]
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"{path}: {exc}") from None
        if any(m.workers < 1 or m.bytes <= 0 or not m.median_seconds > 0 for m in found):
            raise ValueError(f"{path}: workers, bytes and median_seconds must be positive")
        out.extend(found)
    return out


def fit_ring(
    points: Sequence[tuple[int, float, float]], alpha: float | None = None, beta: float | None = None
) -> RingModel:
    """Fit the ring model to ``(workers, bytes, seconds)`` points by least squares.

    Points with one worker carry no information (the model says 0 s) and are left out. ``alpha`` or
    ``beta`` given fixes that parameter and fits the other; both given, nothing is fitted. Both are
    fitted only when the points determine them: at least two shapes whose ``2(p-1)`` and
    ``2(p-1)/p * n`` are not proportional (e.g. two worker counts, or two message sizes at p = 2). With
    a single shape alpha is fixed at :data:`DEFAULT_LATENCY_SECONDS` (an assumption, stated in ``how``)
    and beta fitted: at the size of M-CNN's gradients the bandwidth term dominates anyway. A fitted
    negative alpha (noise) is clamped to 0 and beta refitted.

    Raises:
        ValueError: no point with two or more workers (unless both are given), a non-positive fitted
            beta (the times do not grow with the bytes), or a negative given parameter.
    """
    for name, value in (("alpha", alpha), ("beta", beta)):
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a non-negative number, got {value}")
    if alpha is not None and beta is not None:
        return RingModel(alpha, beta, "alpha and beta given")
    used = [(int(p), float(n), float(t)) for p, n, t in points if p >= 2]
    if not used:
        raise ValueError(
            "no allreduce measurement with 2 or more workers to fit the ring model to; give "
            "--bandwidth-gbits (and --latency-us)"
        )
    x1 = np.array([2.0 * (p - 1) for p, _, _ in used])
    x2 = np.array([2.0 * (p - 1) / p * n for p, n, _ in used])
    y = np.array([t for _, _, t in used])
    shapes = f"{len(used)} measurement(s)"
    if beta is not None:
        fitted_alpha = _through_origin(x1, y - beta * x2)
        how = f"beta given, alpha fitted to {shapes}"
        if fitted_alpha < 0:
            fitted_alpha, how = 0.0, how + " (negative, clamped to 0)"
        return RingModel(fitted_alpha, beta, how)
    if alpha is not None:
        how = f"alpha given, beta fitted to {shapes}"
    elif np.linalg.matrix_rank(np.column_stack([x1 / x1.max(), x2 / x2.max()]), tol=1e-9) < 2:
        alpha = DEFAULT_LATENCY_SECONDS
        how = (
            f"one (workers, bytes) shape in {shapes}: alpha cannot be fitted, assumed {alpha * 1e6:g} us "
            "(give --latency-us); beta fitted"
        )
    else:
        (alpha, fitted_beta), *_ = np.linalg.lstsq(np.column_stack([x1, x2]), y, rcond=None)
        how = f"alpha and beta least-squares fitted to {shapes}"
        if alpha < 0:
            alpha, how = 0.0, how + " (alpha negative, clamped to 0, beta refitted)"
    model = RingModel(float(alpha), _through_origin(x2, y - alpha * x1), how)
    if not model.beta > 0:
        raise ValueError(
            f"the fitted beta is {model.beta:.3g} s/B: the allreduce times do not grow with the "
            "bytes sent; measure larger tensors or more workers, or give --bandwidth-gbits"
        )
    return model


def _through_origin(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of ``y = s x``."""
    return float(np.dot(x, y) / np.dot(x, x))


# --- compute time per step -------------------------------------------------------------------------------


def fit_line(
    batches: Sequence[float], seconds: Sequence[float], intercept: float | None = None
) -> tuple[float, float, str]:
    """``(a, c, how)`` of the least-squares line ``seconds = a + c * batch``, non-negative: one distinct
    batch gives the line through the origin (``a = 0``: one batch size cannot tell a fixed cost from a
    per-image one); a negative ``a`` falls back to the origin line, a negative ``c`` to the constant (the
    mean). ``intercept`` given (seconds, >= 0) fixes ``a`` and fits the slope ``c`` alone. Raises
    ``ValueError`` without points, with a non-positive batch, or when the given intercept leaves no
    positive slope (it is not shorter than the steps)."""
    b, t = np.asarray(batches, float), np.asarray(seconds, float)
    if b.size == 0 or b.size != t.size:
        raise ValueError("fit_line needs as many batch sizes as times, at least one")
    if (b <= 0).any():
        raise ValueError(f"batch sizes must be positive, got {b.tolist()}")
    if intercept is not None:
        if not (math.isfinite(intercept) and intercept >= 0):
            raise ValueError(f"the fixed per-step cost must be a non-negative number of seconds, got {intercept}")
        c = _through_origin(b, t - intercept)
        if not c > 0:
            raise ValueError(
                f"a fixed per-step cost of {intercept:.4g} s leaves no time per image: the steps "
                f"({', '.join(f'{x:.4g}' for x in t)} s) are not longer than it"
            )
        return float(intercept), c, "fixed per-step cost given, slope fitted"
    if np.unique(b).size == 1:
        return 0.0, _through_origin(b, t), "one batch size: proportional (through the origin)"
    c, a = np.polyfit(b, t, 1)
    if a < 0:
        return 0.0, _through_origin(b, t), "least squares gave a < 0: proportional (through the origin)"
    if c < 0:
        return float(t.mean()), 0.0, "least squares gave c < 0: constant (the mean)"
    return float(a), float(c), f"least squares over {np.unique(b).size} batch sizes"


@dataclass(frozen=True)
class ComputeModel:
    """A worker's compute time per step, ``a + c * b`` seconds, with ``workers_per_node`` workers per node.
    ``points``: the ``(local batch, measured step s, compute s)`` it was fitted to."""

    workers_per_node: int
    a: float
    c: float
    how: str
    points: tuple[tuple[int, float, float], ...] = ()

    def seconds(self, local_batch: float) -> float:
        return self.a + self.c * local_batch

    @property
    def largest_batch(self) -> int | None:
        return max((p[0] for p in self.points), default=None)


def compute_models(
    step_times: pd.DataFrame, ring: RingModel, nbytes: float, overlap: float = 0.0, fixed_seconds: float | None = None
) -> dict[int, ComputeModel]:
    """One :class:`ComputeModel` per workers-per-node value of ``step_times`` (columns workers_per_node,
    local_batch_size, step_seconds: one-node runs): each measured step minus the modelled
    ``(1 - overlap) * T(w)`` of its own ``w`` workers, then :func:`fit_line`, whose intercept is the per-step
    fixed cost (learned from the batch sweep) unless ``fixed_seconds`` gives it. Raises ``ValueError`` if a
    step is not longer than that allreduce (a slower ``--bandwidth-gbits`` than the node's own?) or than
    the given fixed cost."""
    models = {}
    for per_node, group in step_times.groupby("workers_per_node"):
        per_node = int(per_node)
        hidden = (1 - overlap) * ring.seconds(per_node, nbytes)
        points = []
        for b, step in zip(group["local_batch_size"], group["step_seconds"]):
            if step <= hidden:
                raise ValueError(
                    f"{per_node} worker(s) per node, local batch {b}: the measured step ({step:.4g} s) "
                    f"is not longer than the modelled allreduce among its {per_node} workers "
                    f"({hidden:.4g} s); check --bandwidth-gbits/--latency-us"
                )
            points.append((int(b), float(step), float(step - hidden)))
        a, c, how = fit_line([p[0] for p in points], [p[2] for p in points], fixed_seconds)
        models[per_node] = ComputeModel(per_node, a, c, how, tuple(points))
    return models


# --- the prediction ------------------------------------------------------------------------------------


def capped_local_batch(local_batch: int, workers: int, max_global_batch: int | None) -> int:
    """The local batch under the global-batch cap: ``min(local, cap // workers)`` (0 when the cap is smaller
    than the worker count: the row cannot run). ``local_batch`` without a cap."""
    if local_batch < 1 or workers < 1:
        raise ValueError(f"local batch and workers must be positive, got {local_batch} and {workers}")
    return local_batch if max_global_batch is None else min(local_batch, max_global_batch // workers)


#: epochs for a row: (nodes, workers per node) -> (epochs or None, where they come from)
EpochsRule = Callable[[int, int], tuple[float | None, str]]


def predict(
    compute: dict[int, ComputeModel],
    ring: RingModel,
    nbytes: float,
    nodes: Sequence[int],
    workers_per_node: Sequence[int],
    local_batch: int | dict[int, int],
    *,
    images_per_epoch: float,
    max_global_batch: int | None = None,
    epochs: EpochsRule | None = None,
    overlap: float = 0.0,
) -> pd.DataFrame:
    """The predicted Table 1: one row per (workers per node, nodes), columns :data:`PREDICTED_COLUMNS`.
    Figures a row cannot have are NA, with the reason in ``note`` (cap below the worker count, no epochs).
    ``local_batch``: one value, or one per workers per node; ``epochs``: no TTT without it. Speedup and
    efficiency are against the smallest node count of the same workers per node (:func:`add_speedups`).

    Raises:
        ValueError: a workers-per-node value without a compute model, bad counts or overlap.
    """
    if not 0 <= overlap <= 1:
        raise ValueError(f"--overlap must be in [0, 1], got {overlap}")
    if any(n < 1 for n in nodes) or any(w < 1 for w in workers_per_node) or not images_per_epoch > 0:
        raise ValueError("node counts, workers per node and images per epoch must be positive")
    missing = sorted(set(workers_per_node) - set(compute))
    if missing:
        raise ValueError(f"no compute time for {missing} worker(s) per node (have {sorted(compute)})")
    rows = []
    for per_node in sorted(set(workers_per_node)):
        base = local_batch[per_node] if isinstance(local_batch, dict) else local_batch
        for count in sorted(set(nodes)):
            p = count * per_node
            b = capped_local_batch(base, p, max_global_batch)
            n_epochs, source = epochs(count, per_node) if epochs else (None, "")
            row = {
                NODES: count,
                WORKERS_PER_NODE: per_node,
                WORKERS: p,
                EPOCHS: n_epochs,
                EPOCHS_FROM: source,
                NOTE: "",
            }
            rows.append(row)
            if b < 1:
                row[NOTE] = f"global-batch cap {max_global_batch} < {p} workers"
                continue
            t_c, t_ar = compute[per_node].seconds(b), (1 - overlap) * ring.seconds(p, nbytes)
            ips = p * b / (t_c + t_ar)
            row.update(
                {
                    LOCAL_BATCH: b,
                    GLOBAL_BATCH: p * b,
                    COMPUTE_SECONDS: t_c,
                    ALLREDUCE_SECONDS: t_ar,
                    STEP_SECONDS: t_c + t_ar,
                    IMAGES_PER_SECOND: ips,
                }
            )
            if n_epochs is None:
                row[NOTE] = "no epochs (give --epochs) so no TTT"
            else:
                row[TTT_MINUTES] = n_epochs * images_per_epoch / ips / 60
    table = pd.DataFrame(rows, columns=PREDICTED_COLUMNS)
    table[[LOCAL_BATCH, GLOBAL_BATCH]] = table[[LOCAL_BATCH, GLOBAL_BATCH]].astype("Int64")
    floats = [COMPUTE_SECONDS, ALLREDUCE_SECONDS, STEP_SECONDS, IMAGES_PER_SECOND, EPOCHS, TTT_MINUTES]
    table[floats] = table[floats].astype("float64")
    return add_speedups(table)


def add_speedups(table: pd.DataFrame) -> pd.DataFrame:
    """Speedup, efficiency and TTT speedup against each workers-per-node group's smallest node count."""
    table = table.copy()
    for _, group in table.groupby(WORKERS_PER_NODE):
        first = group.sort_values(NODES).iloc[0]
        speedup = group[IMAGES_PER_SECOND] / first[IMAGES_PER_SECOND]
        table.loc[group.index, SPEEDUP] = speedup
        table.loc[group.index, EFFICIENCY] = 100 * speedup / (group[NODES] / first[NODES])
        table.loc[group.index, TTT_SPEEDUP] = first[TTT_MINUTES] / group[TTT_MINUTES]
    table[[SPEEDUP, EFFICIENCY, TTT_SPEEDUP]] = table[[SPEEDUP, EFFICIENCY, TTT_SPEEDUP]].astype("float64")
    return table


# --- the inversion: the fixed cost a published speedup implies ---------------------------------------------


def fixed_cost_for_speedup(
    speedup: float,
    step_1: float,
    batch_1: int,
    batch_n: int,
    global_batch_ratio: float,
    allreduce_1: float = 0.0,
    allreduce_n: float = 0.0,
) -> tuple[float, float]:
    """``(a, c)`` of ``t_c(b) = a + c b`` at which the model reproduces the one-node step ``step_1`` (s, at
    local batch ``batch_1``) and gives ``speedup`` (images/s) on a row whose local batch the cap shrank to
    ``batch_n``, its global batch ``global_batch_ratio`` times the one-node one, its allreduce
    ``allreduce_n`` s (``allreduce_1`` on one node). From ``a + c b_1 = s_1 - T_1`` and
    ``a + c b_n + T_n = R s_1 / S``::

        c = (s_1 (1 - R/S) - T_1 + T_n) / (b_1 - b_n),    a = s_1 - T_1 - c b_1

    Without the allreduce ``a / c = (R b_1 - S b_n) / (S - R)``: 4.07 for Table 1's images/s speedup 1587 / 30 =
    52.9x with R = 16, b 16 -> 2 (Datta et al. 2019).
    Raises ``ValueError`` unless ``batch_1 > batch_n`` and the solution has ``a >= 0`` and ``c > 0``.
    """
    if not batch_1 > batch_n:
        raise ValueError(f"the local batch must shrink ({batch_1} -> {batch_n}) for a fixed cost to show")
    c = (step_1 * (1 - global_batch_ratio / speedup) - allreduce_1 + allreduce_n) / (batch_1 - batch_n)
    a = step_1 - allreduce_1 - c * batch_1
    if not (c > 0 and a >= 0):
        raise ValueError(
            f"no fixed per-step cost gives {speedup:g}x (a = {a:.3g} s, c = {c:.3g} s): it needs a "
            f"speedup above the global-batch ratio {global_batch_ratio:g}"
        )
    return a, c


# --- epochs to target and the updates-per-epoch rule ---------------------------------------------------------


@dataclass(frozen=True)
class EpochsCurve:
    """Epochs to target as a function of the global batch: ``points`` (global batch, epochs), one per
    distinct batch (repeated batches averaged), interpolated linearly in log2 of the batch and held at the
    nearest end outside them; ``how`` says where the points come from.

    Datta et al. 2019, Table 1, read this way: its epochs grow with the global batch up to the 2048 cap
    (sec. 5.4: more workers, more epochs), and its four capped rows (16-128 nodes) share one batch."""

    points: tuple[tuple[float, float], ...]
    how: str

    def __call__(self, global_batch: float) -> float:
        batches = np.log2([b for b, _ in self.points])
        return float(np.interp(math.log2(global_batch), batches, [e for _, e in self.points]))

    @classmethod
    def from_points(cls, points: Iterable[tuple[float, float]], how: str) -> EpochsCurve:
        """From (global batch, epochs) pairs, averaging repeated batches. Raises ``ValueError`` without
        points or with a non-positive batch or epochs."""
        by_batch: dict[float, list[float]] = {}
        for batch, epochs in points:
            if not (batch > 0 and epochs > 0):
                raise ValueError(f"global batch and epochs must be positive, got {batch} and {epochs}")
            by_batch.setdefault(float(batch), []).append(float(epochs))
        if not by_batch:
            raise ValueError("no (global batch, epochs to target) point to interpolate")
        return cls(tuple((b, float(np.mean(e))) for b, e in sorted(by_batch.items())), how)

    def describe(self) -> str:
        shown = ", ".join(f"{b:g}: {e:.4g}" for b, e in self.points)
        return f"epochs to target per global batch ({self.how}) {shown}; interpolated in log2 of the batch"


def largest_global_batch(images_per_epoch: float, min_updates_per_epoch: float) -> int:
    """The largest global batch that keeps more than ``min_updates_per_epoch`` updates (steps) per epoch of
    ``images_per_epoch`` images: ``ceil(images / min_updates) - 1``. Datta et al. 2019's ISC slides give the
    rule (more than 150 updates per epoch, or M-CNN does not converge) as the reason for the 2048 cap:
    313,282 / 150 = 2088.5, so 2088 at most; Table 1's 2048 gives 153 updates."""
    if not (images_per_epoch > 0 and min_updates_per_epoch > 0):
        raise ValueError("images per epoch and the minimum updates per epoch must be positive")
    return math.ceil(images_per_epoch / min_updates_per_epoch) - 1
