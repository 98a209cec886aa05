"""analysis.paper: the published numbers of Datta et al. 2019 are consistent, sourced, and backed by the
abstract's excerpts or marked as quoted by the project's issue 9 (or derived). Checks on figures that were
not transcribed skip (naming what is missing) rather than pass silently."""

from __future__ import annotations

import ast
import dataclasses
import re
import sys
from pathlib import Path

import pytest

from analysis import paper
from analysis.paper import (
    AS_QUOTED,
    DATASET,
    DERIVED,
    EIGHT_NODES,
    EVIDENCE,
    FIG2_ACTIVATIONS,
    HARDWARE,
    HYPERPARAMETERS,
    LARGE_SCALE,
    NOT_TRANSCRIBED,
    PARAMETER_MB,
    PARAMETERS,
    SINGLE_NODE,
    SOURCES,
    TABLE1,
    TABLE1_COLUMNS,
    TARGETS,
    Published,
    Table1Row,
    all_published,
    one_node_images_per_second,
    table1_frame_rows,
)

_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}


def _stated_number(stated: str, unit: str) -> float:
    """The number that the quoted words state, in ``unit``: digits (with a ``K`` suffix) or a number
    word; ``%``/"percent" as a fraction; "hour" as 60 minutes when the unit is minutes."""
    match = re.search(r"(\d+(?:\.\d+)?)\s*([kK])?", stated)
    if match:
        number = float(match.group(1)) * (1000 if match.group(2) else 1)
    else:
        words = [w for w in re.findall(r"[a-z]+", stated.lower()) if w in _WORDS]
        assert words, f"no number in {stated!r}"
        number = float(_WORDS[words[0]])
    if "%" in stated or "percent" in stated:
        number /= 100
    if "hour" in stated and unit == "minutes":
        number *= 60
    return number


def _known(published: Published) -> bool:
    return published.value is not None


# --- every Published: sourced, unit, None <=> "not transcribed" -------------------------------------------


def test_every_published_has_source_and_unit():
    everything = all_published()
    assert everything, "all_published() found nothing"
    for name, published in everything.items():
        assert isinstance(published, Published), name
        assert published.source.strip(), f"{name}: empty source"
        assert published.unit.strip(), f"{name}: empty unit"


def test_none_exactly_when_not_transcribed():
    """None says "not transcribed"; a value says it only when it is derived (not the paper's printed number)."""
    for name, published in all_published().items():
        if published.value is None:
            assert NOT_TRANSCRIBED in published.note, f"{name}: None without the note {NOT_TRANSCRIBED!r}"
        else:
            assert NOT_TRANSCRIBED not in published.note or published.note.startswith(DERIVED), (
                f"{name}: has a value but its note says {NOT_TRANSCRIBED!r} without being {DERIVED!r}"
            )
            assert isinstance(published.value, (int, float)) and not isinstance(published.value, bool), name


def test_all_published_covers_every_dict():
    names = all_published()
    for dict_name, entries in [
        ("DATASET", DATASET),
        ("SINGLE_NODE", SINGLE_NODE),
        ("EIGHT_NODES", EIGHT_NODES),
        ("LARGE_SCALE", LARGE_SCALE),
        ("HARDWARE", HARDWARE),
        ("HYPERPARAMETERS", HYPERPARAMETERS),
        ("TARGETS", TARGETS),
    ]:
        for key in entries:
            assert f"{dict_name}.{key}" in names
    assert names["PARAMETER_MB"] is PARAMETER_MB


def test_published_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        HARDWARE["sockets"].value = 3  # type: ignore[misc]


# --- every transcribed value is backed by a verbatim excerpt that states it --------------------------------


def test_every_value_has_evidence_or_is_quoted_or_derived():
    """A value is backed by an excerpt of the abstract, or marked as issue 9's quotation, or derived."""
    everything = all_published()
    for name, published in everything.items():
        if _known(published):
            assert name in EVIDENCE or AS_QUOTED in published.note or published.note.startswith(DERIVED), (
                f"{name} = {published.value}: no excerpt in EVIDENCE, not quoted from issue 9, not derived"
            )
            if "abstract" in published.source:
                assert name in EVIDENCE, f"{name} cites the abstract but has no excerpt"
    for name in EVIDENCE:
        assert name in everything, f"EVIDENCE names {name}, which is not a published value"
        assert _known(everything[name]), f"EVIDENCE backs {name}, whose value is None"


@pytest.mark.parametrize("name", sorted(EVIDENCE))
def test_excerpt_states_the_value(name):
    evidence = EVIDENCE[name]
    published = all_published()[name]
    assert evidence.source in SOURCES, f"{name}: unknown source {evidence.source!r}"
    assert evidence.stated in evidence.quote, f"{name}: {evidence.stated!r} is not in its excerpt"
    assert _stated_number(evidence.stated, published.unit) == pytest.approx(published.value), (
        f"{name}: the excerpt says {evidence.stated!r}, the value is {published.value} {published.unit}"
    )


def test_no_press_material():
    """Every value is the paper's: the 2018 press release about the same work is not a source."""
    assert not hasattr(paper, "RELATED_PRESS_2018")
    assert not any(key.startswith("press") for key in SOURCES)
    for name, published in all_published().items():
        assert "press" not in (published.source + published.note).lower(), name


def test_quoted_values_name_the_papers_part():
    """Issue 9's values name the table, figure or section of the paper they come from."""
    for name, published in all_published().items():
        if AS_QUOTED in published.note:
            assert re.match(r"(Table \d|Fig\. \d|sec\. \d|parameter size)", published.source), (name, published.source)


def test_sources_are_urls():
    for key, url in SOURCES.items():
        assert url.startswith(("http://", "https://")), key


# --- Table 1 ------------------------------------------------------------------------------------------------


def test_table1_sorted_unique_within_1_to_128():
    nodes = [row.nodes for row in TABLE1]
    assert nodes == sorted(nodes), "TABLE1 is not sorted by nodes"
    assert len(nodes) == len(set(nodes)), "TABLE1 repeats a node count"
    assert all(1 <= n <= LARGE_SCALE["max_nodes"].value for n in nodes)
    for row in TABLE1:
        assert isinstance(row, Table1Row)
        for field in ("epochs", "global_batch_size", "ttt_minutes", "images_per_second"):
            assert getattr(row, field).source == "Table 1", f"nodes={row.nodes}: {field} not from Table 1"


def test_table1_rows_are_the_quoted_node_counts_at_8_workers_per_node():
    assert [row.nodes for row in TABLE1] == [1, 2, 4, 8, 16, 32, 64, 128]
    assert {row.workers_per_node for row in TABLE1} == {8}
    for row in TABLE1:
        for field in ("epochs", "ttt_minutes", "images_per_second"):
            assert getattr(row, field).value is None, f"nodes={row.nodes}: {field} was not transcribed"
        assert row.global_batch_size.note.startswith(DERIVED)


def test_table1_frame_rows_mirror_table1():
    rows = table1_frame_rows()
    assert len(rows) == len(TABLE1)
    for row, source in zip(rows, TABLE1):
        assert tuple(row) == TABLE1_COLUMNS
        assert row["nodes"] == source.nodes
        assert row["workers_per_node"] == source.workers_per_node
        assert row["ttt_minutes"] == source.ttt_minutes.value  # None stays None
        assert row["images_per_second"] == source.images_per_second.value


def test_one_node_images_per_second_matches_table1():
    expected = next((row.images_per_second.value for row in TABLE1 if row.nodes == 1), None)
    assert one_node_images_per_second() == (None if expected is None else float(expected))


def test_global_batch_never_exceeds_cap():
    cap = LARGE_SCALE["max_global_batch_size"].value
    batches = [row.global_batch_size.value for row in TABLE1 if _known(row.global_batch_size)]
    if cap is None or not batches:
        pytest.skip("global batch cap (sec. 5.4) or Table 1 batch sizes not transcribed")
    assert max(batches) <= cap


def test_global_batch_reaches_the_cap_where_the_caps_start():
    """128 at one node, doubling with the nodes, reaches the 2048 cap at 16 nodes: the node count beyond
    which sec. 5.4 caps the global batch and the learning rate."""
    by_nodes = {row.nodes: row.global_batch_size.value for row in TABLE1}
    cap, beyond = LARGE_SCALE["max_global_batch_size"].value, LARGE_SCALE["cap_beyond_nodes"].value
    assert by_nodes[1] == 128
    assert by_nodes[beyond] == cap
    assert all(batch < cap for nodes, batch in by_nodes.items() if nodes < beyond)
    assert all(batch == cap for nodes, batch in by_nodes.items() if nodes > beyond)


def test_1_to_128_speedup_matches_table1_throughput():
    by_nodes = {row.nodes: row.images_per_second.value for row in TABLE1}
    speedup = LARGE_SCALE["speedup_1_to_128"].value
    if by_nodes.get(1) is None or by_nodes.get(128) is None or speedup is None:
        pytest.skip("Table 1 1-/128-node throughput or the sec. 5.4 speedup not transcribed")
    assert by_nodes[128] / by_nodes[1] == pytest.approx(speedup, abs=0.05)


def test_derived_scaling_efficiencies_follow_the_quoted_speedups():
    """Efficiency (%) = 100 x speedup / nodes: 6.6x on 8 nodes (sec. 5.3), 19.2x on 128 (sec. 5.4)."""
    eight = EIGHT_NODES["scaling_efficiency"]
    assert eight.value == pytest.approx(100 * EIGHT_NODES["speedup"].value / EIGHT_NODES["nodes"].value) == 82.5
    large = LARGE_SCALE["scaling_efficiency_128"]
    assert large.value == pytest.approx(100 * LARGE_SCALE["speedup_1_to_128"].value / 128) == 15.0
    assert eight.note.startswith(DERIVED) and large.note.startswith(DERIVED)


# --- other sections -----------------------------------------------------------------------------------------


def test_dataset_a_images_are_six_per_field():
    images, fields = DATASET["dataset_a_images_per_epoch"].value, DATASET["dataset_a_fields"].value
    if images is None or fields is None:
        pytest.skip("Dataset A images/fields (sec. 4) not transcribed")
    assert images == DATASET["dataset_a_copies_per_field"].value * fields == 6 * 1_684


def test_dataset_b_crop_fits_any_rotation_and_pads_to_a_multiple_of_64():
    """724 = floor(1024 / sqrt(2)), the largest square inside a 1024x1280 field under any rotation; 768 is
    the next multiple of 64 (M-CNN's coarsest pooling)."""
    crop, side = DATASET["dataset_b_crop_px"].value, DATASET["dataset_b_image_px"].value
    assert crop == int(DATASET["image_height_px"].value / 2**0.5)
    assert side == -(-crop // 64) * 64 == 768
    assert 360 % DATASET["dataset_b_rotation_step_degrees"].value == 0


def test_dataset_b_split_is_about_90_10():
    train, val = DATASET["dataset_b_train_images"].value, DATASET["dataset_b_val_images"].value
    assert val / (train + val) == pytest.approx(DATASET["val_fraction"].value, abs=0.005)


def test_parameter_size_matches_parameter_count():
    """ "162.2 MB" is 42,577,261 float32 parameters in MiB (162.4) to within 0.2 %."""
    mib = 4 * PARAMETERS.value / 2**20
    assert PARAMETER_MB.value == pytest.approx(mib, rel=0.002)


def test_single_node_ttt_is_5h31():
    ttt = SINGLE_NODE["ttt_minutes_batch32"]
    if ttt.value is None:
        pytest.skip("single-node TTT (sec. 5.2) not transcribed")
    assert ttt.value == 5 * 60 + 31 == 331


def test_fig2_batches_ascending_within_8_to_64():
    batches = [batch for batch, _ in FIG2_ACTIVATIONS]
    assert batches == sorted(set(batches))
    assert all(8 <= b <= 64 for b in batches)
    sizes = [p.value for _, p in FIG2_ACTIVATIONS if _known(p)]
    assert sizes == sorted(sizes), "activation size does not grow with the batch size"


def test_targets_and_hardware_are_plausible():
    assert 0 < TARGETS["top1"].value <= 1
    if _known(TARGETS["top5"]):
        assert TARGETS["top1"].value <= TARGETS["top5"].value <= 1
    assert HARDWARE["sockets"].value == 2
    assert HARDWARE["memory_gb_per_node"].unit == "GB"
    assert HARDWARE["interconnect_gbits_per_second"].unit == "Gb/s"
    if _known(SINGLE_NODE["memory_gb_batch32"]):
        assert SINGLE_NODE["memory_gb_batch32"].value <= HARDWARE["memory_gb_per_node"].value


def test_module_is_pure_python():
    """No TensorFlow, pandas or numpy: only the standard library."""
    tree = ast.parse(Path(paper.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
