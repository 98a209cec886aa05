"""Published numbers of Datta et al. 2019, as data (pure Python: no TensorFlow, no pandas).

The paper: K. Datta, I. Hossain, S. Choi, V. Saletore, K. Ambert, W. J. Godinez, X. Zhang, "Training
Multiscale-CNN for Large Microscopy Image Classification in One Hour", arXiv:1910.04852v2 [eess.IV]
(v1 3 Oct 2019, v2 10 Mar 2020); Workshop on Scalable Data Analytics in Scientific Computing, ISC High
Performance 2019, Frankfurt; LNCS 11887, doi:10.1007/978-3-030-34356-9_35.

Where the values come from
--------------------------
- **The abstract**, verbatim (the stored copies in :data:`SOURCES`, the only part of the paper reached
  here): the hardware (two-socket Intel Xeon 6148 nodes, 192 GB DDR4 per node, 100 Gb/s Intel Omni-Path),
  the largest run (128 nodes), the accuracy (99 %) and the time budget (within one hour). Each such value
  has its excerpt in :data:`EVIDENCE`.
- **The project's issue 9**, written by the project owner from the paper, which quotes the body's figures:
  the datasets (sec. 4), Table 1's targets, node counts and workers per node, the one-node, 8-node and
  large-scale figures (sec. 5.2-5.4), Fig. 2's activation size at batch 32 and the parameter size. Each
  such value names the paper's table, figure or section as its ``source`` and carries the note
  :data:`AS_QUOTED`: the paper's full text was not reachable here to re-check them.
- **Derived**: Table 1's per-row global batch size, the implied scaling efficiencies; the note starts
  with ``derived:`` and gives the formula.

Rules: a value is ``None`` exactly when it was not transcribed (its note says "not transcribed"); a
derived value's note says "derived:" and also "not transcribed" (it is not the paper's printed number).
Table 1's per-row epochs, TTT and images/s were not transcribed and stay ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Why a value is None (the same words in every note, so that they can be searched for).
NOT_TRANSCRIBED = "not transcribed"
#: The note of every value taken from the project's issue 9.
AS_QUOTED = "as quoted in the project's issue 9 (the paper's full text was not reachable here to re-check)"
#: How a derived value's note starts.
DERIVED = "derived:"
_NOT_QUOTED = f"{NOT_TRANSCRIBED}: neither the abstract nor the project's issue 9 states it"

#: The stored copies of the paper whose abstract is quoted in :data:`EVIDENCE`.
SOURCES: dict[str, str] = {
    "v2": (
        "https://anonyproxies.com/a2/index.php?q=https%3A%2F%2Fwww.academia.edu%2F97761004%2F"
        "Training_Multiscale_CNN_for_Large_Microscopy_Image_Classification_in_One_Hour"
    ),
    "v1": (
        "https://vdocument.in/arxiv191004852v1-eessiv-3-oct-2019-using-128-two-socket-intel-xeon-6148-processor.html"
    ),
    "abs": "http://arxiv.org/abs/1910.04852",
    "lncs": "https://rd.springer.com/content/pdf/10.1007%2F978-3-030-34356-9_35.pdf",
}


@dataclass(frozen=True)
class Published:
    """One published number: ``value`` (None = not transcribed), its unit, where in the paper it is
    stated (table, figure or section) and a note (how it is stated, where it was read, or why it is None)."""

    value: float | int | None  # None = not transcribed
    unit: str  # "images/s", "minutes", "GB", "epochs", "x", "Gb/s", ...
    source: str  # "Table 1", "sec. 5.3", "Fig. 2" ...
    note: str = ""

    @property
    def known(self) -> float:
        """``value``, for a number that was transcribed. Raises ``ValueError`` for one that was not."""
        if self.value is None:
            raise ValueError(f"{self.source}, {self.unit}: no value ({self.note})")
        return self.value


@dataclass(frozen=True)
class Table1Row:
    """One row of Datta et al. 2019, Table 1 (one node count)."""

    nodes: int
    workers_per_node: int | None
    epochs: Published
    global_batch_size: Published
    ttt_minutes: Published
    images_per_second: Published


@dataclass(frozen=True)
class Evidence:
    """A verbatim excerpt from a stored copy of the paper: ``source`` is a key of :data:`SOURCES`,
    ``stated`` the words in ``quote`` that state the number."""

    source: str
    quote: str
    stated: str


def _quoted(value: float | int, unit: str, source: str, how: str = "") -> Published:
    """A value of issue 9's quotation of the paper (``how``: the paper's wording, when it matters)."""
    return Published(value, unit, source, f"{how}; {AS_QUOTED}" if how else AS_QUOTED)


def _missing(unit: str, source: str, what: str) -> Published:
    return Published(None, unit, source, f"{_NOT_QUOTED} ({what})")


_ABSTRACT_HW = (
    "We achieve fast time to convergence using 128 two socket Intel Xeon 6148 processor nodes "
    "with 192GB DDR4 memory connected with 100Gbps Intel Omnipath architecture."
)
_ABSTRACT_ACC = (
    "In conjunction with large batch sizes, we find a generalized methodology of linearly "
    "scaling of learning rate and train M-CNN to state-of-the-art (SOTA) accuracy of 99% "
    "within one hour."
)

#: Datta et al. 2019, sec. 4: the two datasets. Dataset A: the 1,684 fields in 6 dihedral copies each;
#: Dataset B: 724x724 crops of 15-degree rotations, padded to 768x768. The paper split both 90/10 over the
#: copies, so that validation may hold copies of training fields (a leaky split).
DATASET: dict[str, Published] = {
    "dataset_a_fields": _quoted(1_684, "fields", "sec. 4", "Dataset A: fields of view"),
    "dataset_a_copies_per_field": _quoted(6, "copies", "sec. 4", "Dataset A: dihedral copies of each field"),
    "dataset_a_images_per_epoch": _quoted(10_104, "images", "sec. 4", "Dataset A: images an epoch"),
    "dataset_a_disk_gb": _quoted(38, "GB", "sec. 4", "Dataset A: the copies written to disk"),
    "image_height_px": _quoted(1_024, "px", "sec. 4", "Dataset A: field height"),
    "image_width_px": _quoted(1_280, "px", "sec. 4", "Dataset A: field width"),
    "image_channels": _quoted(3, "channels", "sec. 4", "Dataset A: channels"),
    "dataset_b_crop_px": _quoted(724, "px", "sec. 4", "Dataset B: side of the square crop"),
    "dataset_b_image_px": _quoted(768, "px", "sec. 4", "Dataset B: side after padding, the model's input"),
    "dataset_b_rotation_step_degrees": _quoted(15, "degrees", "sec. 4", "Dataset B: rotation step"),
    "dataset_b_train_images": _quoted(313_282, "images", "sec. 4", "Dataset B: training images"),
    "dataset_b_val_images": _quoted(35_306, "images", "sec. 4", "Dataset B: validation images"),
    "dataset_b_disk_gb": _quoted(512, "GB", "sec. 4", "Dataset B: on disk"),
    "val_fraction": _quoted(
        0.1, "fraction", "sec. 4", "90/10 split over the copies, not over fields of view: a leaky split"
    ),
}

#: Datta et al. 2019, sec. 5.2 (one node, Dataset A; Fig. 5 for throughput per batch size and workers).
SINGLE_NODE: dict[str, Published] = {
    "ttt_minutes_batch32": _quoted(331, "minutes", "sec. 5.2", "batch 32 converged in 5 h 31 min"),
    "memory_gb_batch32": _quoted(47.5, "GB", "sec. 5.2", "memory at batch 32"),
    "best_workers_per_node": _quoted(4, "workers", "sec. 5.2", "best: 4 workers x local batch 8"),
    "best_local_batch": _quoted(8, "images", "sec. 5.2", "best: 4 workers x local batch 8"),
    "images_per_second_best": _missing("images/s", "Fig. 5", "the best one-node throughput"),
}

#: Datta et al. 2019, sec. 5.3 (8 nodes x 4 workers).
EIGHT_NODES: dict[str, Published] = {
    "nodes": _quoted(8, "nodes", "sec. 5.3"),
    "workers_per_node": _quoted(4, "workers", "sec. 5.3"),
    "ttt_minutes": _quoted(31, "minutes", "sec. 5.3", "TTT on 8 nodes x 4 workers"),
    "speedup": _quoted(6.6, "x", "sec. 5.3", "speedup on 8 nodes (over one node)"),
    "scaling_efficiency": Published(
        82.5, "%", "sec. 5.3", f"{DERIVED} 100 x 6.6 / 8 from the quoted speedup; {NOT_TRANSCRIBED} as such"
    ),
}

#: Datta et al. 2019, sec. 5.4 (up to 128 nodes) and the abstract (the 128-node count).
LARGE_SCALE: dict[str, Published] = {
    "max_nodes": Published(
        128, "nodes", "abstract", "'using 128 two socket Intel Xeon 6148 processor nodes' (the fastest TTT)"
    ),
    "max_global_batch_size": _quoted(2_048, "images", "sec. 5.4", "global batch capped beyond 16 nodes"),
    "max_learning_rate": _quoted(0.032, "1", "sec. 5.4", "learning rate capped beyond 16 nodes"),
    "cap_beyond_nodes": _quoted(16, "nodes", "sec. 5.4", "the caps apply beyond 16 nodes"),
    "speedup_1_to_128": _quoted(19.2, "x", "sec. 5.4", "speedup from 1 to 128 nodes"),
    "scaling_efficiency_128": Published(
        15.0,
        "%",
        "sec. 5.4",
        f"{DERIVED} 100 x 19.2 / 128 from the quoted speedup; {NOT_TRANSCRIBED} as such "
        "(Fig. 10 itself was not transcribed)",
    ),
}

_TABLE1_NODES = (1, 2, 4, 8, 16, 32, 64, 128)
_TABLE1_WORKERS_PER_NODE = 8
_TABLE1_ONE_NODE_BATCH = 128
_TABLE1_BATCH_NOTE = (
    f"{DERIVED} 128 at 1 node doubling to the 2048 cap of sec. 5.4, as issue 9 describes Table 1; {NOT_TRANSCRIBED}"
)
_ROW_NOT_TRANSCRIBED = f"{NOT_TRANSCRIBED}: issue 9 does not give Table 1's per-row figures"


def _table1_row(nodes: int) -> Table1Row:
    """Table 1's row for ``nodes``: global batch min(128 x nodes, 2048) (derived), the rest None."""
    cap = LARGE_SCALE["max_global_batch_size"].known
    return Table1Row(
        nodes=nodes,
        workers_per_node=_TABLE1_WORKERS_PER_NODE,
        epochs=Published(None, "epochs", "Table 1", _ROW_NOT_TRANSCRIBED),
        global_batch_size=Published(min(_TABLE1_ONE_NODE_BATCH * nodes, cap), "images", "Table 1", _TABLE1_BATCH_NOTE),
        ttt_minutes=Published(None, "minutes", "Table 1", _ROW_NOT_TRANSCRIBED),
        images_per_second=Published(None, "images/s", "Table 1", _ROW_NOT_TRANSCRIBED),
    )


#: Datta et al. 2019, Table 1 (Dataset B, 8 workers per node; one row per node count, as issue 9 quotes its
#: node counts). Per row: the global batch is derived; epochs, TTT and images/s were not transcribed.
TABLE1: tuple[Table1Row, ...] = tuple(_table1_row(nodes) for nodes in _TABLE1_NODES)

#: Table 1's workload, as issue 9 describes it: Dataset B (``data.variant`` of the same name), whose images
#: are ``DATASET["dataset_b_image_px"]`` square, split as the paper split (``data.split = "paper"``).
TABLE1_VARIANT = "dataset-b"
TABLE1_SPLIT = "paper"

#: The columns of :func:`table1_frame_rows`, for ``pandas.DataFrame(rows, columns=TABLE1_COLUMNS)``.
TABLE1_COLUMNS: tuple[str, ...] = (
    "nodes",
    "workers_per_node",
    "epochs",
    "global_batch_size",
    "ttt_minutes",
    "images_per_second",
    "source",
)

#: Datta et al. 2019, Fig. 2: (batch size, activation size) for batch sizes 8..64; only the point at batch
#: 32 was transcribed (issue 9: "about 11 GB").
FIG2_ACTIVATIONS: tuple[tuple[int, Published], ...] = (
    (32, _quoted(11, "GB", "Fig. 2", "about 11 GB of activations at batch 32")),
)

#: Datta et al. 2019, abstract (and sec. 5): the nodes.
HARDWARE: dict[str, Published] = {
    "sockets": Published(2, "sockets per node", "abstract", "'two socket Intel Xeon 6148 processor nodes'"),
    "cpu": Published(
        6148,
        "Intel Xeon model number",
        "abstract",
        "'Intel Xeon 6148' (the abstract's words; the tier, Gold, is not in the excerpt)",
    ),
    "memory_gb_per_node": Published(192, "GB", "abstract", "'192GB DDR4 memory' per node"),
    "interconnect_gbits_per_second": Published(
        100, "Gb/s", "abstract", "'connected with 100Gbps Intel Omnipath architecture'"
    ),
    "cores_per_socket": _missing("cores", "sec. 5", "cores per socket"),
}

#: Datta et al. 2019, sec. 5: software versions, as numbers where a version is one (None: not transcribed).
SOFTWARE: dict[str, Published] = {
    "tensorflow_version": _missing("version", "sec. 5", "TensorFlow version"),
    "horovod_version": _missing("version", "sec. 5", "Horovod version"),
    "mpi_version": _missing("version", "sec. 5", "MPI version"),
}

#: Datta et al. 2019, sec. 3/5: training hyper-parameters beyond the caps of :data:`LARGE_SCALE`.
HYPERPARAMETERS: dict[str, Published] = {
    "base_learning_rate": _missing("1", "sec. 5", "base learning rate"),
    "warmup_epochs": _missing("epochs", "sec. 5", "learning-rate warm-up"),
    "momentum": _missing("1", "sec. 5", "SGD momentum"),
    "weight_decay": _missing("1", "sec. 5", "weight decay"),
    "decay_power": _missing("1", "sec. 5", "polynomial decay power"),
    "epochs": _missing("epochs", "sec. 5", "training epochs"),
}

#: Datta et al. 2019, Table 1's targets (top-1 also in the abstract) and the abstract's time budget.
TARGETS: dict[str, Published] = {
    "top1": Published(
        0.99,
        "fraction",
        "Table 1; abstract",
        f"Table 1's 99 % top-1 {AS_QUOTED}; the abstract: 'state-of-the-art (SOTA) accuracy of 99%'",
    ),
    "top5": _quoted(1.0, "fraction", "Table 1", "100 % top-5"),
    "ttt_budget_minutes": Published(60, "minutes", "abstract", "'within one hour': an upper bound"),
}

#: Datta et al. 2019: M-CNN's parameter size as the paper prints it ("162.2 MB"; issue 9 does not say in
#: which section). 42,577,261 float32 parameters are 170.3 MB = 162.4 MiB (:mod:`benchmark.models.analytic`).
PARAMETER_MB: Published = _quoted(
    162.2, "MB", "parameter size (section not given in issue 9)", "'162.2 MB', with 42,577,261 parameters"
)

#: M-CNN's parameter count at 1024x1280x3 and 13 classes, as issue 9 gives it beside :data:`PARAMETER_MB`.
PARAMETERS: Published = _quoted(
    42_577_261, "parameters", "parameter size (section not given in issue 9)", "beside '162.2 MB'"
)

#: The excerpt behind each value that the abstract states, by its name in :func:`all_published`.
EVIDENCE: dict[str, Evidence] = {
    "LARGE_SCALE.max_nodes": Evidence("abs", _ABSTRACT_HW, "128"),
    "HARDWARE.sockets": Evidence("abs", _ABSTRACT_HW, "two socket"),
    "HARDWARE.cpu": Evidence("abs", _ABSTRACT_HW, "Xeon 6148"),
    "HARDWARE.memory_gb_per_node": Evidence("abs", _ABSTRACT_HW, "192GB"),
    "HARDWARE.interconnect_gbits_per_second": Evidence("abs", _ABSTRACT_HW, "100Gbps"),
    "TARGETS.top1": Evidence("abs", _ABSTRACT_ACC, "99%"),
    "TARGETS.ttt_budget_minutes": Evidence("abs", _ABSTRACT_ACC, "one hour"),
}

_DICTS: dict[str, dict[str, Published]] = {
    "DATASET": DATASET,
    "SINGLE_NODE": SINGLE_NODE,
    "EIGHT_NODES": EIGHT_NODES,
    "LARGE_SCALE": LARGE_SCALE,
    "HARDWARE": HARDWARE,
    "SOFTWARE": SOFTWARE,
    "HYPERPARAMETERS": HYPERPARAMETERS,
    "TARGETS": TARGETS,
}


def all_published() -> dict[str, Published]:
    """Every :class:`Published` in this module by a dotted name (``"HARDWARE.sockets"``,
    ``"TABLE1[nodes=8].ttt_minutes"``, ``"FIG2_ACTIVATIONS[32]"``, ``"PARAMETER_MB"``)."""
    out: dict[str, Published] = {}
    for dict_name, entries in _DICTS.items():
        for key, published in entries.items():
            out[f"{dict_name}.{key}"] = published
    for row in TABLE1:
        for field in ("epochs", "global_batch_size", "ttt_minutes", "images_per_second"):
            out[f"TABLE1[nodes={row.nodes}].{field}"] = getattr(row, field)
    for batch, published in FIG2_ACTIVATIONS:
        out[f"FIG2_ACTIVATIONS[{batch}]"] = published
    out["PARAMETER_MB"] = PARAMETER_MB
    out["PARAMETERS"] = PARAMETERS
    return out


def table1_frame_rows() -> list[dict]:
    """:data:`TABLE1` as plain dicts with the keys :data:`TABLE1_COLUMNS` (``source`` is "Datta et al.
    2019, Table 1"), for ``pandas.DataFrame(rows, columns=TABLE1_COLUMNS)``. None stays None."""
    return [
        {
            "nodes": row.nodes,
            "workers_per_node": row.workers_per_node,
            "epochs": row.epochs.value,
            "global_batch_size": row.global_batch_size.value,
            "ttt_minutes": row.ttt_minutes.value,
            "images_per_second": row.images_per_second.value,
            "source": "Datta et al. 2019, Table 1",
        }
        for row in TABLE1
    ]


def one_node_images_per_second() -> float | None:
    """Table 1's 1-node throughput (images/s), or None when it was not transcribed (as now)."""
    for row in TABLE1:
        if row.nodes == 1 and row.images_per_second.value is not None:
            return float(row.images_per_second.value)
    return None
