"""Our runs against the published figures of Datta et al. 2019 (:mod:`analysis.papers.datta2019`), for
``mcnn-bench analyze RESULTS --compare paper``.

Two tables, each written as CSV (missing figures blank) and Markdown (a missing published figure says
"not published", ours "no run"), and the published numbers' own consistency check:

- ``table1_vs_paper``: one row per node count of the paper's Table 1 (1..128) and of our completed runs:
  our median epochs to target, images/s and TTT beside the paper's, their ratios ours/paper where both
  exist, and what differs between our runs and the paper's Table 1 (image size, dataset, split, workers per
  node, global batch, hardware).
- ``sections_vs_paper``: the figures of Fig. 2 and sec. 5.2-5.4 (activations and memory at batch 32, the
  one-node TTT and best configuration, the 8- and 128-node TTT, speedups and scaling efficiencies, Table 1's
  images/s speedups) beside ours, where we have a comparable figure.
- ``paper_checks``: :func:`analysis.papers.consistency.write_report` (which published rows disagree with
  themselves, and by how much).

Medians are over our completed runs; a run that never reached the target has no TTT and is left out of
the TTT and epochs medians.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmark.models.analytic import model_figures
from benchmark.util.atomic import write_atomic

from .columns import (
    BASELINE_NODES,
    BASIS,
    DIFFERS,
    EFFICIENCY,
    ENGINE,
    EPOCHS_RATIO,
    FIGURE,
    IMAGES_PER_SECOND_RATIO,
    MODEL,
    NODES,
    OUR_EPOCHS,
    OUR_GLOBAL_BATCH,
    OUR_IMAGES_PER_SECOND,
    OUR_RUNS,
    OUR_TTT,
    OUR_VALUE,
    OUR_WORKERS_PER_NODE,
    OUR_WORKLOAD,
    PAPER_EPOCHS,
    PAPER_GLOBAL_BATCH,
    PAPER_IMAGES_PER_SECOND,
    PAPER_SOURCE,
    PAPER_TTT,
    PAPER_VALUE,
    PAPER_WORKERS_PER_NODE,
    RATIO,
    SPEEDUP,
    SWEEP,
    TTT_RATIO,
    UNIT,
    WORKERS_PER_NODE,
    csv_text,
)
from .markdown import markdown_table
from .outputs import TableOutput
from .papers import consistency
from .papers import datta2019 as paper
from .records import LoadedRecords
from .tables import LEAKY_SPLIT, SECONDS_PER_MINUTE, dataset, distinct, node_scaling, workload

#: The model Datta et al. 2019 train (M-CNN, Godinez et al. 2017; sec. 2), as ``model.name`` names it: only its runs
#: are set beside the paper's figures.
PAPER_MODEL = "mcnn"

TABLE1_VS_PAPER_COLUMNS = [
    NODES,
    OUR_RUNS,
    OUR_WORKERS_PER_NODE,
    OUR_GLOBAL_BATCH,
    OUR_EPOCHS,
    OUR_IMAGES_PER_SECOND,
    OUR_TTT,
    OUR_WORKLOAD,
    PAPER_WORKERS_PER_NODE,
    PAPER_GLOBAL_BATCH,
    PAPER_EPOCHS,
    PAPER_IMAGES_PER_SECOND,
    PAPER_TTT,
    EPOCHS_RATIO,
    IMAGES_PER_SECOND_RATIO,
    TTT_RATIO,
    DIFFERS,
]
SECTIONS_VS_PAPER_COLUMNS = [
    FIGURE,
    PAPER_SOURCE,
    UNIT,
    PAPER_VALUE,
    OUR_VALUE,
    RATIO,
    OUR_RUNS,
    BASIS,
    OUR_WORKLOAD,
    DIFFERS,
]

#: The words of a missing figure in the Markdown tables.
NOT_PUBLISHED = "not published"
NO_RUN = "no run"
#: What differs in a comparison of our images/s speedups with a speedup the paper states of its TTT.
TTT_SPEEDUP = "the paper's is a TTT speedup, ours an images/s one"

BYTES_PER_GB = 10**9
#: Table 1's image size as the suite feeds it (Dataset B's 724x724 padded to 768x768: inferred), as "HxW".
PAPER_TABLE1_IMAGE_SIZE = f"{paper.DATASET['dataset_b_image_px'].value}x{paper.DATASET['dataset_b_image_px'].value}"
#: Dataset A's image size (1024x1280), as "HxW".
PAPER_DATASET_A_IMAGE_SIZE = f"{paper.DATASET['image_height_px'].value}x{paper.DATASET['image_width_px'].value}"
#: The paper's nodes (sec. 5.1).
PAPER_HARDWARE = (
    f"{paper.HARDWARE['sockets'].value}x Xeon {paper.HARDWARE['cpu'].value} + "
    f"{paper.HARDWARE['interconnect_gbits_per_second'].value} Gb/s Omni-Path"
)


@dataclass(frozen=True)
class Setting:
    """The paper's setting behind a figure (None: not stated, not compared).

    ``image_size`` "HxW"; ``dataset`` "source variant" (``bbbc021 dataset-b``); ``workers_per_node``;
    ``global_batch`` (images). The hardware and the leaky split are the paper's throughout.
    """

    image_size: str | None = None
    dataset: str | None = None
    workers_per_node: float | None = None
    global_batch: float | None = None


def table1_vs_paper(runs: pd.DataFrame, paper_rows: Iterable[paper.Table1Row] = paper.TABLE1) -> pd.DataFrame:
    """Our completed runs per node count beside Datta et al. 2019, Table 1: columns
    ``TABLE1_VS_PAPER_COLUMNS``, one row per node count of ``paper_rows`` or of our completed runs, sorted.

    Ours: the completed M-CNN runs with that node count (``our_runs`` of them; runs of other models are left
    out, :data:`PAPER_MODEL`), their workers per node and
    global batch sizes (distinct values, joined), median epochs to target, images/s and TTT (minutes; epochs
    and TTT over the runs that reached the top-1 target), and their workloads
    (:func:`analysis.tables.workload`: "leaky split" for runs on the paper's split). The paper's: workers per
    node, global batch, epochs, images/s and TTT (NA for a node count Table 1 has no row for). Ratios = ours /
    paper where both exist. ``differs`` names every way our runs differ from Table 1's setting
    (:func:`differences`).
    """
    done = _completed(runs)
    by_nodes = {row.nodes: row for row in paper_rows}
    rows = []
    for nodes in sorted(set(by_nodes) | set(int(n) for n in done["nodes"].dropna())):
        ours, theirs = done[done["nodes"] == nodes], by_nodes.get(nodes)
        batch = theirs.global_batch_size.value if theirs else None
        setting = Setting(
            PAPER_TABLE1_IMAGE_SIZE,
            f"bbbc021 {paper.TABLE1_VARIANT}",
            theirs.workers_per_node if theirs else None,
            batch,
        )
        our_ips, our_ttt = _median(ours["images_per_second"]), _median(ours["ttt_seconds"] / SECONDS_PER_MINUTE)
        our_epochs = _median(ours["ttt_epochs"].astype("float64")) if "ttt_epochs" in ours else None
        paper_ips = theirs.images_per_second.value if theirs else None
        paper_ttt = theirs.ttt_minutes.value if theirs else None
        paper_epochs = theirs.epochs.value if theirs else None
        rows.append(
            {
                NODES: nodes,
                OUR_RUNS: len(ours),
                OUR_WORKERS_PER_NODE: distinct(ours["workers_per_node"]),
                OUR_GLOBAL_BATCH: distinct(ours["global_batch_size"]),
                OUR_EPOCHS: our_epochs,
                OUR_IMAGES_PER_SECOND: our_ips,
                OUR_TTT: our_ttt,
                OUR_WORKLOAD: distinct(workload(ours), "; "),
                PAPER_WORKERS_PER_NODE: theirs.workers_per_node if theirs else None,
                PAPER_GLOBAL_BATCH: batch,
                PAPER_EPOCHS: paper_epochs,
                PAPER_IMAGES_PER_SECOND: paper_ips,
                PAPER_TTT: paper_ttt,
                EPOCHS_RATIO: _ratio(our_epochs, paper_epochs),
                IMAGES_PER_SECOND_RATIO: _ratio(our_ips, paper_ips),
                TTT_RATIO: _ratio(our_ttt, paper_ttt),
                DIFFERS: differences(ours, setting),
            }
        )
    table = pd.DataFrame(rows, columns=TABLE1_VS_PAPER_COLUMNS)
    return table.astype(
        {
            NODES: "Int64",
            OUR_RUNS: "Int64",
            PAPER_WORKERS_PER_NODE: "Int64",
            PAPER_GLOBAL_BATCH: "Int64",
            OUR_IMAGES_PER_SECOND: "float64",
            OUR_TTT: "float64",
            OUR_EPOCHS: "float64",
            PAPER_EPOCHS: "float64",
            PAPER_IMAGES_PER_SECOND: "float64",
            PAPER_TTT: "float64",
            EPOCHS_RATIO: "float64",
            IMAGES_PER_SECOND_RATIO: "float64",
            TTT_RATIO: "float64",
        }
    )


def differences(runs: pd.DataFrame, setting: Setting) -> str:
    """How ``runs`` differ from the paper's ``setting``, "; "-joined (empty without runs): image size,
    dataset (source and variant), split (the paper's is leaky: 90/10 over copies), workers per node,
    global batch, and hardware (any CPU model that does not name the paper's Xeon 6148). Settings that
    ``setting`` leaves None are not compared."""
    if runs.empty:
        return ""
    found = []
    sizes = set(runs["image_size"])
    if setting.image_size and sizes != {setting.image_size}:
        found.append(f"image size {', '.join(sorted(sizes))} (paper {setting.image_size})")
    datasets = set(dataset(runs))
    if setting.dataset and datasets != {setting.dataset}:
        found.append(f"dataset {', '.join(sorted(datasets))} (paper {setting.dataset})")
    if not runs["leaky"].fillna(False).astype(bool).all():
        found.append(f"field split (paper: {LEAKY_SPLIT}, 90/10 over copies)")
    per_node = set(runs["workers_per_node"].dropna())
    if setting.workers_per_node and per_node != {setting.workers_per_node}:
        found.append(f"workers per node {distinct(runs['workers_per_node'])} (paper {setting.workers_per_node})")
    batches = set(runs["global_batch_size"].dropna())
    if setting.global_batch and batches != {setting.global_batch}:
        found.append(f"global batch {distinct(runs['global_batch_size'])} (paper {setting.global_batch})")
    cpus = set(runs["cpu_model"].fillna("unknown CPU"))
    if any(str(paper.HARDWARE["cpu"].value) not in cpu for cpu in cpus):
        found.append(f"hardware {' / '.join(sorted(cpus))} (paper {PAPER_HARDWARE})")
    return "; ".join(found)


def sections_vs_paper(runs: pd.DataFrame) -> pd.DataFrame:
    """The figures of Datta et al. 2019, Fig. 2 and sec. 5.2-5.4, beside ours: columns
    ``SECTIONS_VS_PAPER_COLUMNS``, one row per figure (``our_value`` NA without a comparable run).

    Ours: Fig. 2's activations at batch 32 from :func:`benchmark.models.analytic.model_figures` at Dataset A's
    1024x1280x3 (analytic, not measured); the one-node memory at batch 32 as the median peak RSS of the
    largest worker of completed 1-node runs at local batch 32 (GB = 1e9 bytes); TTT medians over completed
    runs that reached the top-1 target; the best one-node configuration as the workers per node x local
    batch with the highest median images/s; speedup and scaling efficiency at 8 and 128 nodes from
    :func:`analysis.tables.node_scaling` (median over lines whose baseline is 1 node; images/s speedup).
    ``ratio`` where both are numbers.
    """
    done = _completed(runs)
    one_node = done[done["nodes"] == 1]
    dataset_a = Setting(PAPER_DATASET_A_IMAGE_SIZE, "bbbc021 dataset-a")
    eight = Setting(workers_per_node=paper.EIGHT_NODES["workers_per_node"].value)
    table1 = Setting(PAPER_TABLE1_IMAGE_SIZE, f"bbbc021 {paper.TABLE1_VARIANT}", paper.TABLE1[0].workers_per_node)
    scaled = node_scaling(runs)
    scaled = scaled[scaled[BASELINE_NODES] == 1]
    rows = [
        _activation_row(),
        _row(
            "one-node memory at batch 32",
            paper.SINGLE_NODE["memory_gb_batch32"],
            one_node[one_node["local_batch_size"] == 32],
            lambda r: _median(r["peak_rss_bytes_max"] / BYTES_PER_GB),
            "median peak RSS of the largest worker, 1-node runs at local batch 32",
            dataset_a,
        ),
        _row(
            "one-node TTT at batch 32",
            paper.SINGLE_NODE["ttt_minutes_batch32"],
            one_node[one_node["global_batch_size"] == 32],
            lambda r: _median(r["ttt_seconds"] / SECONDS_PER_MINUTE),
            "median TTT, 1-node runs at global batch 32",
            dataset_a,
        ),
        _best_configuration_row(one_node, dataset_a),
        _row(
            "TTT on 8 nodes",
            paper.EIGHT_NODES["ttt_minutes"],
            done[done["nodes"] == 8],
            lambda r: _median(r["ttt_seconds"] / SECONDS_PER_MINUTE),
            "median TTT, 8-node runs",
            eight,
        ),
        _scaling_row("speedup on 8 nodes", paper.EIGHT_NODES["speedup"], done, scaled, 8, SPEEDUP, eight, TTT_SPEEDUP),
        _scaling_row(
            "scaling efficiency on 8 nodes",
            paper.EIGHT_NODES["scaling_efficiency"],
            done,
            scaled,
            8,
            EFFICIENCY,
            eight,
            TTT_SPEEDUP,
        ),
        _scaling_row(
            "speedup on 128 nodes",
            paper.LARGE_SCALE["speedup_1_to_128"],
            done,
            scaled,
            128,
            SPEEDUP,
            Setting(),
            TTT_SPEEDUP,
        ),
        _scaling_row(
            "scaling efficiency on 128 nodes",
            paper.LARGE_SCALE["scaling_efficiency_128"],
            done,
            scaled,
            128,
            EFFICIENCY,
            Setting(),
            TTT_SPEEDUP,
        ),
        _scaling_row("images/s speedup on 8 nodes", paper.table1_speedup(8), done, scaled, 8, SPEEDUP, table1),
        _scaling_row("images/s speedup on 128 nodes", paper.table1_speedup(128), done, scaled, 128, SPEEDUP, table1),
    ]
    return pd.DataFrame(rows, columns=SECTIONS_VS_PAPER_COLUMNS).astype({OUR_RUNS: "Int64"})


def table1_note() -> str:
    """What ``table1_vs_paper.md`` says above its table: how ours are taken, Table 1's workload, and which of
    its rows disagree with themselves (:func:`analysis.papers.consistency.datta_checks`)."""
    off = [
        f"{c.what.split(': ')[0].removeprefix('Table 1, ')} ({c.disagreement_percent:+.1f} %)"
        for c in consistency.disagreements(consistency.datta_checks())
        if c.what.startswith("Table 1") and c.what.endswith("TTT")
    ]
    per_epoch = paper.DATASET["dataset_b_train_images"].known
    return (
        "Ours: median over our completed runs with that node count (epochs and TTT over those that reached "
        "the top-1 target). The paper's Table 1 (sec. 5.4): Dataset B, 724x724 images (the suite pads them to "
        f"768x768), {per_epoch:,.0f} training images an epoch, split 90/10 over copies (a leaky split), 8 "
        f"workers per node, {PAPER_HARDWARE} nodes; epochs to 99 % top-1 and 100 % top-5. "
        + (
            "Its own rows disagree with TTT = epochs x images per epoch / images/s at "
            + ", ".join(off)
            + " (paper_checks.md)."
            if off
            else "Its rows agree with TTT = epochs x images per epoch / images/s."
        )
    )


class PaperComparison(TableOutput):
    name = "vs_paper"
    files = (
        "table1_vs_paper.csv, table1_vs_paper.md, sections_vs_paper.csv, sections_vs_paper.md, "
        f"{consistency.REPORT_MD}, {consistency.REPORT_CSV}"
    )
    description = (
        "our runs beside Datta et al. 2019: Table 1 per node count, and the figures of Fig. 2 and sec. 5.2-5.4; "
        "and the published numbers' consistency check"
    )
    on_request = "compare"

    def write(self, records: LoadedRecords, out_dir: Path) -> list[Path]:
        table, sections = table1_vs_paper(records.runs), sections_vs_paper(records.runs)
        sections_note = (
            "The paper's figures with their sources (efficiencies derived from the stated speedups: 100 x "
            "speedup / nodes). Sec. 5.3's 6.6x and sec. 5.4's 19.2x are TTT speedups; Table 1's images/s "
            "speedups (derived from its rows) are the ones comparable with ours, images/s speedups over "
            "one node at the same workers per node."
        )
        return [
            *consistency.write_report(out_dir),
            write_atomic(out_dir / "table1_vs_paper.csv", csv_text(table)),
            write_atomic(
                out_dir / "table1_vs_paper.md",
                _document("Table 1: ours vs Datta et al. 2019", table1_note(), markdown(table)),
            ),
            write_atomic(out_dir / "sections_vs_paper.csv", csv_text(sections)),
            write_atomic(
                out_dir / "sections_vs_paper.md",
                _document("Fig. 2 and sec. 5.2-5.4: ours vs Datta et al. 2019", sections_note, markdown(sections)),
            ),
        ]


def markdown(table: pd.DataFrame) -> str:
    """A comparison table as Markdown: numbers to 4 significant digits, the paper's missing figures
    "not published", our missing figures "no run" (blank in the other columns)."""
    missing = {
        **dict.fromkeys(
            [PAPER_WORKERS_PER_NODE, PAPER_GLOBAL_BATCH, PAPER_EPOCHS, PAPER_IMAGES_PER_SECOND, PAPER_TTT, PAPER_VALUE],
            NOT_PUBLISHED,
        ),
        **dict.fromkeys([OUR_EPOCHS, OUR_IMAGES_PER_SECOND, OUR_TTT, OUR_VALUE], NO_RUN),
    }
    return markdown_table(table, formats=dict.fromkeys(table.columns, ".4g"), missing=missing)


def _activation_row() -> dict:
    """Fig. 2's about 11 GB of activations at batch 32 beside the analytic figure at 1024x1280x3."""
    batch, published = paper.FIG2_ACTIVATIONS[0]
    figures = model_figures(paper.DATASET["image_height_px"].value, paper.DATASET["image_width_px"].value)
    ours = figures.activation_bytes(batch) / BYTES_PER_GB
    return {
        FIGURE: f"activations at batch {batch}, {PAPER_DATASET_A_IMAGE_SIZE}x3",
        PAPER_SOURCE: published.source,
        UNIT: published.unit,
        PAPER_VALUE: published.value,
        OUR_VALUE: ours,
        RATIO: _ratio(ours, published.value),
        OUR_RUNS: 0,
        BASIS: "benchmark.models.analytic (float32 outputs of every layer; not measured)",
        OUR_WORKLOAD: f"{PAPER_DATASET_A_IMAGE_SIZE} (analytic)",
        DIFFERS: "",
    }


def _row(figure: str, published: paper.Published, runs: pd.DataFrame, measure, basis: str, setting: Setting) -> dict:
    """One figure: ``measure(runs)`` (None without runs) beside ``published``."""
    return _comparison(figure, published, measure(runs) if not runs.empty else None, runs, basis, setting)


def _comparison(
    figure: str, published: paper.Published, ours, runs: pd.DataFrame, basis: str, setting: Setting
) -> dict:
    """The row of one figure: ``ours`` (None: not measured) beside ``published``, from ``runs`` on ``basis``."""
    return {
        FIGURE: figure,
        PAPER_SOURCE: published.source,
        UNIT: published.unit,
        PAPER_VALUE: published.value,
        OUR_VALUE: ours,
        RATIO: _ratio(ours, published.value),
        OUR_RUNS: len(runs),
        BASIS: basis,
        OUR_WORKLOAD: distinct(workload(runs), "; "),
        DIFFERS: differences(runs, setting),
    }


def _best_configuration_row(one_node: pd.DataFrame, setting: Setting) -> dict:
    """Sec. 5.2's best one-node configuration (4 workers x local batch 8) beside ours: the workers per node
    x local batch with the highest median images/s over our completed 1-node runs."""
    workers, batch = paper.SINGLE_NODE["best_workers_per_node"], paper.SINGLE_NODE["best_local_batch"]
    measured = one_node.dropna(subset=["images_per_second"])
    ours = None
    if not measured.empty:
        medians = measured.groupby(["workers_per_node", "local_batch_size"])["images_per_second"].median()
        best_workers, best_batch = medians.idxmax()
        ours = f"{best_workers} x {best_batch}"
    return {
        FIGURE: "best one-node configuration",
        PAPER_SOURCE: workers.source,
        UNIT: "workers x local batch",
        PAPER_VALUE: f"{workers.value} x {batch.value}",
        OUR_VALUE: ours,
        RATIO: None,
        OUR_RUNS: len(measured),
        BASIS: "highest median images/s of the 1-node runs",
        OUR_WORKLOAD: distinct(workload(measured), "; "),
        DIFFERS: differences(measured, setting),
    }


def _scaling_row(
    figure: str,
    published: paper.Published,
    done: pd.DataFrame,
    scaled: pd.DataFrame,
    nodes: int,
    column: str,
    setting: Setting,
    kind: str = "",
) -> dict:
    """A speedup or efficiency at ``nodes`` from ``node_scaling`` (lines whose baseline is 1 node); ``kind``, when
    given, is added to what differs (the paper's figure is of another kind than ours)."""
    at = scaled[scaled[NODES] == nodes]
    lines = set(zip(at[SWEEP], at[ENGINE], at[WORKERS_PER_NODE]))
    keys = zip(done["sweep"], done["engine"], done["workers_per_node"])
    on_a_line = pd.Series([key in lines for key in keys], index=done.index, dtype=bool)
    runs = done[on_a_line & (done["nodes"] == nodes)]
    ours = _median(at[column]) if not at.empty else None
    basis = f"median over (sweep, engine, workers per node) lines with 1- and {nodes}-node runs; images/s speedup"
    row = _comparison(figure, published, ours, runs, basis, setting)
    if kind:
        row[DIFFERS] = "; ".join(part for part in (row[DIFFERS], kind) if part)
    return row


def _document(title: str, note: str, table: str) -> str:
    return f"# {title}\n\n{note}\n\n{table}\n"


def _completed(runs: pd.DataFrame) -> pd.DataFrame:
    """The completed runs of :data:`PAPER_MODEL` (runs of other models are no part of the paper's comparison)."""
    return runs[(runs["status"] == "completed") & runs["nodes"].notna() & (runs[MODEL] == PAPER_MODEL)]


def _median(values: pd.Series) -> float | None:
    values = values.dropna()
    return float(values.median()) if len(values) else None


def _ratio(ours, published) -> float | None:
    """ours / published where both are numbers (and published is not 0), else None."""
    if _is_missing(ours) or _is_missing(published) or isinstance(published, str) or published == 0:
        return None
    return float(ours) / float(published)


def _is_missing(value) -> bool:
    return value is None or (not isinstance(value, str) and pd.isna(value))
