"""The published numbers checked against each other, and Wilson et al.'s Table I against the official label table.

Each check sets a published figure beside the same figure recomputed from the study's other numbers (or from
the label table) and says whether they agree under a rule:

- :data:`WITHIN` (the default 5 %): ``|100 (published / recomputed - 1)| <= tolerance``; for figures the
  papers print rounded (times, ratios);
- :data:`EXACT`: equal; for counts and batch sizes;
- :data:`AT_LEAST`: the document gives a lower bound ("more than 120 images/s"): the recomputed figure must
  reach it;
- :data:`TWO_DECIMALS`: a percentage printed to two decimals: within 0.01 of the recomputed one (rounded or
  cut).

Datta et al. 2019 (:func:`datta_checks`): per Table 1 row, TTT against epochs x 313,282 training images /
images/s and the global batch against min(128 x nodes, 2048); the speedups, times and ratios the text, the
slides and the news item quote against the table and each other; the datasets' counts. Wilson et al.
(:func:`wilson_checks`): Table I's percentages against images / 112,120, its totals, the process counts.
:func:`recount_table_i` sets Table I beside the counts of ``Data_Entry_2017_v2020.csv``
(:func:`label_table_counts`).

``mcnn-bench paper-check`` prints :func:`report`; ``mcnn-bench analyze --compare paper`` writes it too
(``paper_checks.md``/``.csv``, without the label table).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING

from . import datta2019, wilson

if TYPE_CHECKING:
    import pandas as pd

#: How a published figure must relate to the recomputed one to agree (see the module's docstring).
WITHIN, EXACT, AT_LEAST, TWO_DECIMALS = "within", "exact", "at least", "to 2 decimals"
#: The default tolerance of :data:`WITHIN`, percent.
TOLERANCE_PERCENT = 5.0


@dataclass(frozen=True)
class Check:
    """One published figure beside its recomputation.

    Attributes:
        study: ``datta2019.PAPER`` or ``wilson.PAPER``.
        what: what is checked (``"Table 1, 1 node: TTT"``).
        source: where the published figure is stated.
        published: the figure as published, in ``unit``.
        recomputed: the same figure from the study's other numbers (or the label table), in ``unit``.
        unit: the figures' unit.
        how: the recomputation's arithmetic, with the sources of its inputs.
        rule: :data:`WITHIN`, :data:`EXACT`, :data:`AT_LEAST` or :data:`TWO_DECIMALS`.
        agrees: whether ``published`` and ``recomputed`` agree under ``rule`` (and ``tolerance`` for
            :data:`WITHIN`).
    """

    study: str
    what: str
    source: str
    published: float
    recomputed: float
    unit: str
    how: str
    rule: str
    agrees: bool

    @property
    def disagreement_percent(self) -> float:
        """``100 (published / recomputed - 1)``: how far the published figure is from the recomputed one, %
        (infinite when the recomputed figure is 0 and the published one is not)."""
        if self.recomputed == 0:
            return 0.0 if self.published == 0 else float("inf")
        return 100 * (self.published / self.recomputed - 1)


def check(
    study: str,
    what: str,
    source: str,
    published: float,
    recomputed: float,
    unit: str,
    how: str,
    rule: str = WITHIN,
    tolerance: float = TOLERANCE_PERCENT,
) -> Check:
    """A :class:`Check`, its ``agrees`` decided by ``rule`` (``tolerance`` in percent for :data:`WITHIN`)."""
    if rule == WITHIN:
        agrees = recomputed != 0 and abs(100 * (published / recomputed - 1)) <= tolerance + 1e-9
    elif rule == EXACT:
        agrees = published == recomputed
    elif rule == AT_LEAST:
        agrees = recomputed >= published
    elif rule == TWO_DECIMALS:
        agrees = abs(published - recomputed) < 0.01
    else:
        raise ValueError(f"unknown rule {rule!r}: one of {WITHIN}, {EXACT}, {AT_LEAST}, {TWO_DECIMALS}")
    return Check(study, what, source, float(published), float(recomputed), unit, how, rule, bool(agrees))


def disagreements(checks: Iterable[Check]) -> list[Check]:
    """The checks that do not agree, in order."""
    return [c for c in checks if not c.agrees]


# --- Datta et al. 2019 ---------------------------------------------------------------------------------------


def datta_checks(tolerance: float = TOLERANCE_PERCENT) -> list[Check]:
    """Datta et al. 2019 against itself (and its slides and news item), ``tolerance`` in percent for the
    figures checked :data:`WITHIN`. Table 1's images per epoch: Dataset B's 313,282 training images (sec. 4)."""
    d = datta2019
    per_epoch = d.DATASET["dataset_b_train_images"].known
    one_node_batch = d.TABLE1[0].global_batch_size.known
    cap = d.LARGE_SCALE["max_global_batch_size"].known
    rows = {row.nodes: row for row in d.TABLE1}
    out: list[Check] = []

    def add(what, source, published, recomputed, unit, how, rule=WITHIN):
        out.append(check(d.PAPER, what, source, published, recomputed, unit, how, rule, tolerance))

    for row in d.TABLE1:
        epochs, ips = row.epochs.known, row.images_per_second.known
        add(
            f"Table 1, {row.nodes} node{'s' if row.nodes > 1 else ''}: TTT",
            "Table 1",
            row.ttt_minutes.known,
            epochs * per_epoch / ips / 60,
            "minutes",
            f"{epochs:g} epochs x {per_epoch:,.0f} images / {ips:g} images/s / 60 (Table 1; sec. 4)",
        )
    for row in d.TABLE1:
        add(
            f"Table 1, {row.nodes} node{'s' if row.nodes > 1 else ''}: global batch",
            "Table 1",
            row.global_batch_size.known,
            min(one_node_batch * row.nodes, cap),
            "images",
            f"min({one_node_batch:g} x {row.nodes}, {cap:g}) (Table 1's 1-node batch; sec. 5.4's cap)",
            EXACT,
        )
    one, last = rows[1], rows[max(rows)]
    speedup = d.LARGE_SCALE["speedup_1_to_128"].known
    add(
        "1-to-128-node speedup vs Table 1's TTT",
        "sec. 5.4; sec. 6",
        speedup,
        one.ttt_minutes.known / last.ttt_minutes.known,
        "x",
        f"{one.ttt_minutes.known:g} / {last.ttt_minutes.known:g} minutes (Table 1)",
    )
    add(
        "1-to-128-node speedup vs Table 1's images/s",
        "sec. 5.4; sec. 6",
        speedup,
        last.images_per_second.known / one.images_per_second.known,
        "x",
        f"{last.images_per_second.known:g} / {one.images_per_second.known:g} images/s (Table 1)",
    )
    add(
        "128-node TTT vs Table 1",
        "sec. 5.4",
        d.LARGE_SCALE["ttt_minutes_128"].known,
        last.ttt_minutes.known,
        "minutes",
        "Table 1's 128-node row",
    )
    add(
        "global-batch cap vs Table 1's largest batch",
        "sec. 5.4",
        cap,
        max(row.global_batch_size.known for row in d.TABLE1),
        "images",
        "Table 1",
        EXACT,
    )
    add(
        "updates per epoch at the cap vs the rule > 150",
        "slides, why cap at 2048",
        d.SLIDES["min_updates_per_epoch"].known,
        per_epoch / cap,
        "updates",
        f"{per_epoch:,.0f} / {cap:g} (sec. 4; sec. 5.4); at twice the cap {per_epoch / (2 * cap):.1f}",
        AT_LEAST,
    )
    add(
        "batch per node on the 128-node plots vs Table 1",
        "slides, 8- and 128-node plots",
        d.SLIDES["batch_per_node"].known,
        last.global_batch_size.known / last.nodes,
        "images",
        f"{last.global_batch_size.known:g} / {last.nodes} nodes (Table 1)",
        EXACT,
    )
    eight = d.EIGHT_NODES
    add(
        "8-node global batch vs 8 nodes x 4 workers x local batch 8",
        "slides, 8-node plot",
        d.SLIDES["eight_node_global_batch"].known,
        eight["nodes"].known * eight["workers_per_node"].known * d.SINGLE_NODE["best_local_batch"].known,
        "images",
        "sec. 5.3's 8 x 4 workers; sec. 5.2's local batch 8",
        EXACT,
    )
    add(
        "8-node TTT speedup vs sec. 5.2's one-node TTT",
        "sec. 5.3",
        eight["speedup"].known,
        d.SINGLE_NODE["ttt_minutes_batch32"].known / eight["ttt_minutes"].known,
        "x",
        "331 minutes (sec. 5.2, batch 32) / 31 minutes (sec. 5.3)",
    )
    news = d.NEWS
    add(
        "speedup 'greater than 20 times' vs 11 hours -> 31 minutes",
        "news item",
        news["speedup_at_least"].known,
        60 * news["baseline_hours"].known / news["ttt_minutes"].known,
        "x",
        "60 x 11 hours / 31 minutes (news item)",
        AT_LEAST,
    )
    epochs_a, train_a = eight["epochs"].known, d.DATASET["dataset_a_train_images"].known
    add(
        "8-node images/s 'more than 120' vs 30 epochs of Dataset A in 31 minutes",
        "news item",
        news["images_per_second_at_least"].known,
        epochs_a * train_a / (60 * eight["ttt_minutes"].known),
        "images/s",
        f"{epochs_a:g} epochs (Fig. 7) x {train_a:,.0f} images (sec. 4) / 31 minutes (sec. 5.3); a mean "
        "including validation",
        AT_LEAST,
    )
    add(
        "memory over activations at batch 32",
        "sec. 5.2",
        d.SINGLE_NODE["memory_over_activations"].known,
        d.SINGLE_NODE["memory_gb_batch32"].known / d.FIG2_ACTIVATIONS[0][1].known,
        "x",
        "47.5 GB / 11 GB (sec. 5.2)",
    )
    gradient = eight["gradient_mb"].known
    add("gradient size vs the parameter size", "sec. 5.3", gradient, d.PARAMETER_MB.known, "MB", "162.2 MB (sec. 2)")
    data = d.DATASET
    fields = data["dataset_a_fields"].known
    add(
        "Dataset A images vs fields x copies",
        "sec. 4",
        data["dataset_a_images"].known,
        fields * data["dataset_a_copies_per_field"].known,
        "images",
        "1684 x 6 (sec. 4)",
        EXACT,
    )
    add(
        "Dataset A images vs training + validation",
        "sec. 4",
        data["dataset_a_images"].known,
        data["dataset_a_train_images"].known + data["dataset_a_val_images"].known,
        "images",
        "9093 + 1011 (sec. 4)",
        EXACT,
    )
    add(
        "Dataset B images vs fields x copies x rotations",
        "sec. 4",
        data["dataset_b_images"].known,
        fields * data["dataset_b_copies_per_field"].known * (1 + data["dataset_b_rotations"].known),
        "images",
        "1684 x 6 x (1 + 23) (sec. 4); published: 313,282 + 35,306",
    )
    add(
        "Dataset B validation share vs the 90/10 split",
        "sec. 4",
        100 * data["val_fraction"].known,
        100 * data["dataset_b_val_images"].known / data["dataset_b_images"].known,
        "%",
        "35,306 / 348,588 (sec. 4)",
    )
    add(
        "field size over an ImageNet image",
        "sec. 6; slides; news item",
        data["imagenet_size_ratio"].known,
        data["image_height_px"].known * data["image_width_px"].known / 224**2,
        "x",
        "1024 x 1280 / (224 x 224) (sec. 4; the slides' 224x224x3)",
    )
    return out


# --- Wilson et al. ---------------------------------------------------------------------------------------


def wilson_checks(tolerance: float = TOLERANCE_PERCENT) -> list[Check]:
    """Wilson et al. against itself: Table I's percentages against images / 112,120 (:data:`TWO_DECIMALS`), its
    totals against the sums of its rows, and the process counts and rates the text derives."""
    w = wilson
    images = w.DATASET["images"].known
    out: list[Check] = []

    def add(what, source, published, recomputed, unit, how, rule=WITHIN):
        out.append(check(w.PAPER, what, source, published, recomputed, unit, how, rule, tolerance))

    for row in w.TABLE_I:
        add(
            f"Table I, {row.finding}: percentage",
            "Table I",
            row.percent.known,
            100 * row.images.known / images,
            "%",
            f"100 x {row.images.known:g} / {images:,.0f} (Table I)",
            TWO_DECIMALS,
        )
    add(
        "Table I, totals: images vs the sum of the rows",
        "Table I",
        images,
        sum(row.images.known for row in w.TABLE_I),
        "images",
        "sum of the 15 rows (multi-label: an image counts under each finding)",
    )
    add(
        "Table I, totals: 100 % vs the sum of the percentages",
        "Table I",
        w.DATASET["percent_total"].known,
        sum(row.percent.known for row in w.TABLE_I),
        "%",
        "sum of the 15 printed percentages",
    )
    multi = w.MULTI_NODE
    for processes, local in (
        ("processes_at_512_lbz4", "local_batch_small"),
        ("processes_at_512_lbz16", "local_batch_large"),
    ):
        add(
            f"processes at global batch 512, local batch {multi[local].known:g}",
            "sec. III-B",
            multi[processes].known,
            multi["global_batch_max"].known / multi[local].known,
            "processes",
            f"512 / {multi[local].known:g} (sec. III-B)",
            EXACT,
        )
    vgg = w.VGG16
    add(
        "nodes of the 64-process DenseNet run",
        "sec. III-C",
        vgg["densenet_adadelta_nodes"].known,
        vgg["densenet_adadelta_processes"].known / multi["processes_per_node"].known,
        "nodes",
        "64 processes / 2 per node (sec. III-B)",
        EXACT,
    )
    mammo = w.MAMMOGRAPHY
    add(
        "mammography global batch vs processes x batch",
        "sec. IV",
        mammo["global_batch"].known,
        mammo["processes"].known * mammo["batch"].known,
        "images",
        "4 x 16 (sec. IV)",
        EXACT,
    )
    add(
        "mammography parallel learning rate vs linear scaling",
        "sec. IV",
        mammo["parallel_learning_rate"].known,
        mammo["processes"].known * mammo["learning_rate"].known,
        "1",
        "4 x 0.001 (sec. IV)",
    )
    return out


def label_table_counts(folder: str | PathLike) -> tuple[dict[str, int], int]:
    """The images per finding of the official label table in ``folder`` (``Data_Entry_2017_v2020.csv`` or
    ``.csv.gz``, read by :mod:`benchmark.data.chestxray14`): ``({finding: images}, images)``, findings named as
    in ``Finding Labels`` (the 14 pathologies and ``"No Finding"``).

    Raises:
        benchmark.data.errors.DataError: no label table in ``folder``, or one without ``Finding Labels``.
    """
    from benchmark.data.chestxray14 import table_path
    from benchmark.data.csv_table import read_csv_table

    path = table_path(folder)
    findings = read_csv_table(path, ("Finding Labels",), usecols=["Finding Labels"], dtype=str)["Finding Labels"]
    counts = Counter(label for labels in findings.dropna() for label in labels.split("|"))
    return dict(counts), len(findings)


def recount_table_i(counts: Mapping[str, int], images: int, source: str = "the label table") -> list[Check]:
    """Table I beside ``counts`` (images per finding, :func:`label_table_counts`) of ``images`` images: per
    row the images (:data:`EXACT`) and the percentage (:data:`TWO_DECIMALS`), and the image count."""
    w = wilson
    out = [
        check(
            w.PAPER,
            "Table I, totals: images",
            "Table I",
            w.DATASET["images"].known,
            images,
            "images",
            f"rows of {source}",
            EXACT,
        )
    ]
    for row in w.TABLE_I:
        found = counts.get(row.label, 0)
        out.append(
            check(
                w.PAPER,
                f"Table I, {row.finding}: images",
                "Table I",
                row.images.known,
                found,
                "images",
                f"images of {source} whose Finding Labels include {row.label}",
                EXACT,
            )
        )
        out.append(
            check(
                w.PAPER,
                f"Table I, {row.finding}: percentage",
                "Table I",
                row.percent.known,
                100 * found / images,
                "%",
                f"100 x {found:,} / {images:,} ({source})",
                TWO_DECIMALS,
            )
        )
    return out


# --- the report ------------------------------------------------------------------------------------------

#: The files :func:`write_report` writes.
REPORT_MD, REPORT_CSV = "paper_checks.md", "paper_checks.csv"


def describe(c: Check) -> str:
    """One line for a check: what, the published and recomputed figures, the disagreement and the rule."""
    return (
        f"{c.what} ({c.source}): published {_number(c.published)} {c.unit}, recomputed {_number(c.recomputed)} "
        f"({c.disagreement_percent:+.1f} %; rule: {c.rule}); recomputed as {c.how}"
    )


def _number(value: float) -> str:
    """A figure for a sentence: a whole number with thousands separators, else 4 significant digits."""
    return f"{value:,.0f}" if value == round(value) and abs(value) < 1e15 else f"{value:,.4g}"


def checks_frame(checks: Iterable[Check]) -> pd.DataFrame:
    """The checks as a DataFrame, a row each: study, check, source, published and recomputed figures, unit,
    disagreement (%), rule, whether they agree, and how (:mod:`analysis.columns` names)."""
    import pandas as pd

    from ..columns import (
        AGREES,
        CHECK,
        DISAGREEMENT,
        HOW,
        PAPER_SOURCE,
        PAPER_VALUE,
        RECOMPUTED,
        RULE,
        STUDY,
        UNIT,
    )

    columns = [STUDY, CHECK, PAPER_SOURCE, PAPER_VALUE, RECOMPUTED, UNIT, DISAGREEMENT, RULE, AGREES, HOW]
    rows = [
        [c.study, c.what, c.source, c.published, c.recomputed, c.unit, c.disagreement_percent, c.rule, c.agrees, c.how]
        for c in checks
    ]
    return pd.DataFrame(rows, columns=columns)


def checks_markdown(checks: Iterable[Check]) -> str:
    """The checks as a Markdown table (figures to 5 significant digits, the disagreement to 0.1 %)."""
    from ..columns import DISAGREEMENT, PAPER_VALUE, RECOMPUTED
    from ..markdown import markdown_table

    frame = checks_frame(checks)
    return markdown_table(frame, formats={PAPER_VALUE: ",.6g", RECOMPUTED: ",.6g", DISAGREEMENT: "+.1f"})


def report(label_folder: str | PathLike | None = None, tolerance: float = TOLERANCE_PERCENT) -> tuple[list[Check], str]:
    """Every check of both studies, and the Markdown text ``mcnn-bench paper-check`` prints: per study the
    checks that disagree (each with its size), every check as a table and the contradictions; then Table I
    beside the label table in ``label_folder`` (not run, saying how, when None)."""
    datta, wil = datta_checks(tolerance), wilson_checks(tolerance)
    lines = ["# Consistency of the published numbers", ""]
    for title, checks, contradictions in (
        (f"{datta2019.PAPER}, with its slides and news item", datta, datta2019.CONTRADICTIONS),
        (f"{wilson.PAPER}: Table I and the text", wil, wilson.CONTRADICTIONS),
    ):
        lines += [*_section(title, checks, tolerance), "", "Contradictions (both values are kept):", ""]
        for contra in contradictions:
            claims = "; ".join(f"{where}: {what}" for where, what in contra.claims)
            lines.append(f"- {contra.topic}: {claims}. {contra.explanation}")
        lines.append("")
    recount: list[Check] = []
    title = f"{wilson.PAPER}: Table I vs the official label table"
    if label_folder is None:
        lines += [f"## {title}", "", "not run: give the folder of Data_Entry_2017_v2020.csv(.gz) (--chestxray14 DIR)"]
    else:
        counts, images = label_table_counts(label_folder)
        recount = recount_table_i(counts, images, "Data_Entry_2017_v2020")
        lines += _section(f"{title} ({label_folder})", recount, tolerance)
    return datta + wil + recount, "\n".join(lines).rstrip() + "\n"


def write_report(
    out_dir: str | PathLike, label_folder: str | PathLike | None = None, tolerance: float = TOLERANCE_PERCENT
) -> list[Path]:
    """Write :data:`REPORT_MD` (:func:`report`'s text) and :data:`REPORT_CSV` (every check, one row each) into
    ``out_dir``, atomically; returns the paths."""
    from benchmark.util.atomic import write_atomic

    from ..columns import csv_text

    checks, text = report(label_folder, tolerance)
    out = Path(out_dir)
    return [write_atomic(out / REPORT_MD, text), write_atomic(out / REPORT_CSV, csv_text(checks_frame(checks)))]


def _section(title: str, checks: list[Check], tolerance: float) -> list[str]:
    off = disagreements(checks)
    head = (
        f"{len(off)} of {len(checks)} checks disagree (rule '{WITHIN}': by more than {tolerance:g} %; "
        f"'{EXACT}', '{AT_LEAST}', '{TWO_DECIMALS}' as named):"
        if off
        else f"all {len(checks)} checks agree"
    )
    return [f"## {title}", "", head, *(f"- {describe(c)}" for c in off), "", checks_markdown(checks)]
