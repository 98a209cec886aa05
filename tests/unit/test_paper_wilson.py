"""analysis.papers.wilson: Wilson et al. (Dell EMC) as data. Every printed value is found in the paper's stored
text; Table I and the settings are checked against the paper's own arithmetic and, with the real data, against
the official ChestX-ray14 label table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from analysis.papers import wilson
from analysis.papers.consistency import disagreements, label_table_counts, recount_table_i, wilson_checks
from analysis.papers.published import NOT_TRANSCRIBED, Published
from analysis.papers.wilson import DATASET, MAMMOGRAPHY, MULTI_NODE, SINGLE_PROCESS, TABLE_I, THREADS, VGG16
from benchmark.data.chestxray14 import CHEXNET_CLASSES, NO_FINDING

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def text() -> str:
    """The paper's stored text, whitespace collapsed (skipped without ``../shared/papers``, failed under
    ``MCNN_REQUIRE_DATA=1``)."""
    import os

    path = ROOT.parent / "shared" / "papers" / wilson.DOCUMENT
    if not path.is_file():
        if os.environ.get("MCNN_REQUIRE_DATA") == "1":
            pytest.fail(f"{path} not found")
        pytest.skip(f"the paper's text not found: {path}")
    return " ".join(path.read_text().split())


def test_every_value_is_printed_or_derived_and_found_in_the_text(text):
    everything = {**wilson.all_published(), **wilson.all_facts()}
    assert len(everything) > 80
    for name, value in everything.items():
        assert value.source.strip(), name
        if isinstance(value, Published):
            assert value.value is not None or NOT_TRANSCRIBED in value.note, name
            assert bool(value.printed) != value.derived, f"{name}: printed xor derived"
        if value.printed:
            assert " ".join(value.printed.split()) in text, f"{name}: {value.printed!r} not in the paper"


def test_table_i_is_the_printed_table(text):
    assert len(TABLE_I) == 15
    for row in TABLE_I:
        cells = rf"\| {re.escape(row.finding)} \| {row.images.printed} \| {re.escape(row.percent.printed)} \|"
        assert re.search(cells, text), row.finding
        assert float(row.images.printed) == row.images.value and float(row.percent.printed) == row.percent.value
    assert {row.label for row in TABLE_I} == {*CHEXNET_CLASSES, NO_FINDING}  # the label table's names


def test_percentages_are_images_over_112120_but_for_the_mass_misprint():
    """Each percentage is 100 x images / 112,120 to the printed two decimals (rounded or cut), except Mass (0.05
    printed, 5.12 by its own count): the one disagreement inside a row, and a kept contradiction."""
    images = DATASET["images"].value
    off = [row.finding for row in TABLE_I if abs(row.percent.value - 100 * row.images.value / images) >= 0.01]
    assert off == ["Mass"]
    assert "Mass percentage" in {c.topic for c in wilson.CONTRADICTIONS}
    by_finding = {row.finding: row for row in TABLE_I}
    assert by_finding["Effusion"].images.value == by_finding["Emphysema"].images.value  # the repeated row


def test_multi_label_totals():
    """An image counts under each of its findings: the rows sum past the image count and past 100 %."""
    assert sum(row.images.value for row in TABLE_I) == 130_610 > DATASET["images"].value
    assert sum(row.percent.value for row in TABLE_I) == pytest.approx(111.36)
    checks = {c.what: c for c in disagreements(wilson_checks())}
    assert set(checks) == {
        "Table I, Mass: percentage",
        "Table I, totals: images vs the sum of the rows",
        "Table I, totals: 100 % vs the sum of the percentages",
    }
    assert checks["Table I, Mass: percentage"].disagreement_percent == pytest.approx(-99.0, abs=0.1)


def test_settings_follow_from_each_other():
    # strong scaling: processes = global batch / local batch; 2 per node
    assert MULTI_NODE["processes_at_512_lbz4"].value == 512 // MULTI_NODE["local_batch_small"].value
    assert MULTI_NODE["processes_at_512_lbz16"].value == 512 // MULTI_NODE["local_batch_large"].value
    assert (
        MULTI_NODE["processes_per_node"].value * MULTI_NODE["threads_per_process"].value == THREADS["all_threads"].value
    )
    # the 6.29x run: 64 processes on 32 nodes, 4096 / 64 = 64 a process; 293 / 6.29 = 46.6x over one process
    assert VGG16["densenet_adadelta_processes"].value == 2 * VGG16["densenet_adadelta_nodes"].value
    assert VGG16["densenet_adadelta_local_batch"].value * 64 == MULTI_NODE["adadelta_global_batch"].value
    ratio = VGG16["speedup_vs_densenet_single"].value / VGG16["speedup_vs_densenet_adadelta"].value
    assert ratio == pytest.approx(VGG16["densenet_parallel_over_single"].value, abs=0.05)
    assert VGG16["classes"].value == DATASET["pathologies"].value == len(CHEXNET_CLASSES)
    # the single-process benchmark is batch 8, among the best AUCs
    best = (SINGLE_PROCESS["best_batch_min"].value, SINGLE_PROCESS["best_batch_max"].value)
    assert best[0] <= SINGLE_PROCESS["base_batch"].value <= best[1]
    # mammography: 4 processes x 16 = 64, the learning rate scaled linearly 0.001 -> 0.004
    assert MAMMOGRAPHY["global_batch"].value == MAMMOGRAPHY["processes"].value * MAMMOGRAPHY["batch"].value
    assert MAMMOGRAPHY["parallel_learning_rate"].value == pytest.approx(4 * MAMMOGRAPHY["learning_rate"].value)
    assert MAMMOGRAPHY["crop_px"].value == 2 * MAMMOGRAPHY["image_px"].value
    aucs = [MAMMOGRAPHY[k].value for k in ("auc_scratch_parallel", "auc_pretrained_parallel", "auc_single_node")]
    assert aucs == sorted(aucs) == [0.90, 0.94, 0.95]


def test_recount_lists_every_disagreement_with_made_up_counts():
    counts = {row.label: row.images.value for row in TABLE_I}
    counts["Effusion"] = 13_317
    checks = recount_table_i(counts, 112_120, "a made-up table")
    off = {c.what for c in disagreements(checks)}
    assert off == {"Table I, Effusion: images", "Table I, Effusion: percentage", "Table I, Mass: percentage"}
    assert len(checks) == 1 + 2 * len(TABLE_I)


def test_recount_from_the_official_label_table(shared_data):
    """The real ``Data_Entry_2017_v2020.csv.gz``: 112,120 images; Table I's counts differ from it on 9 findings
    (Effusion by 10,801: the repeated row), and on 6 percentages beyond their two decimals."""
    counts, images = label_table_counts(shared_data / "chestxray14")
    assert images == DATASET["images"].value
    checks = recount_table_i(counts, images)
    off = {c.what: c.published - c.recomputed for c in disagreements(checks)}
    assert {what for what in off if what.endswith("images")} == {
        f"Table I, {finding}: images"
        for finding in (
            "Atelectasis",
            "Infiltration",
            "Pneumothorax",
            "Effusion",
            "Pneumonia",
            "Cardiomegaly",
            "Nodule",
            "Mass",
            "No Findings",
        )
    }
    assert off["Table I, Effusion: images"] == 2_516 - 13_317
    assert sum(what.endswith("percentage") for what in off) == 6
