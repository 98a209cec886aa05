"""Two sweeps compared (analysis.sweep_compare): the statistics on constructed samples (a 10 % shift at n = 5 is
slower, identical samples no change, n = 2 too few repeats, each figure's direction, the tolerance, the olympic
mean), and ``mcnn-bench compare`` on records written by the record model: its reports and its exit status."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from test_analysis import write_record
from test_history import run_record

from analysis.sweep_compare import (
    MISSING,
    NO_CHANGE,
    TOO_FEW,
    CompareError,
    compare_figure,
    compare_sweeps,
    olympic_mean,
    repeats_needed,
    smallest_p,
)
from mcnn_bench.cli import main

SHAPE = "synthetic 64x64 n1-w1-b16"
NOISE = [1.000, 1.004, 0.997, 1.002, 0.999]  # small noise, about 0.3 %


def write_sweep(root, sweep, images_per_second, workers=(1,), nodes=1, status="completed"):
    """A sweep folder ``root/sweep``: per workers per node of ``workers``, a repeat per value of
    ``images_per_second``; every repeat's time to train 300 s and its top-1 the same (fixed seeds)."""
    for wpn in workers:
        for i, ips in enumerate(images_per_second, 1):
            record = run_record(
                sweep, f"n{nodes}-w{wpn}-b16-r{i}", ips, nodes=nodes, workers_per_node=wpn, status=status
            )
            write_record(root, record)
    return root / sweep


def figure(name, a, b, tolerance=0.05, level=0.05):
    return compare_figure(SHAPE, name, a, b, tolerance, level)


def test_a_10_percent_slowdown_over_5_repeats_is_slower_beyond_the_tolerance():
    a = [100 * x for x in NOISE]
    c = figure("images_per_second", a, [0.9 * value for value in reversed(a)])
    assert (c.change, c.worse_beyond_tolerance) == ("slower", True)
    assert c.p_value == pytest.approx(2 / 252)  # the exact test: every B below every A
    assert c.ratio == pytest.approx(0.9) and c.ratio_low < 0.9 < c.ratio_high < 0.91
    assert c.note == "slower by 10.0%, beyond the tolerance 5%"


def test_identical_samples_are_no_change():
    a = [100 * x for x in NOISE]
    c = figure("images_per_second", a, list(a))
    assert (c.change, c.worse_beyond_tolerance, c.p_value, c.ratio) == (NO_CHANGE, False, 1.0, 1.0)
    same = figure("best_val_top1", [0.75] * 5, [0.75] * 5)  # fixed seeds: every repeat equal
    assert (same.change, same.p_value, same.ratio_low, same.ratio_high) == (NO_CHANGE, 1.0, 1.0, 1.0)


@pytest.mark.parametrize("n_a, n_b", [(1, 1), (2, 2), (1, 5), (3, 3)])
def test_too_few_repeats_for_any_test_to_decide(n_a, n_b):
    c = figure("images_per_second", [100.0] * n_a, [10.0] * n_b)  # ten times slower, yet undecidable
    assert (c.change, c.worse_beyond_tolerance, c.p_value, c.ratio) == (TOO_FEW, False, None, 0.1)
    assert smallest_p(n_a, n_b) >= 0.05 and "4 a side can" in c.note


def test_the_smallest_p_and_the_repeats_that_can_decide():
    assert smallest_p(2, 2) == pytest.approx(1 / 3) and smallest_p(5, 5) == pytest.approx(2 / 252)
    assert smallest_p(1, 1) == 1.0
    assert (repeats_needed(0.05), repeats_needed(0.01), repeats_needed(0.2)) == (4, 5, 3)
    c = figure("images_per_second", [100.0, 101.0, 99.0], [50.0, 51.0, 49.0, 50.5, 49.5])  # 3 and 5 can
    assert c.change == "slower"


@pytest.mark.parametrize(
    "name, factor, change, fails",
    [
        ("ttt_seconds", 1.2, "slower", True),  # seconds: lower is better
        ("ttt_seconds", 0.8, "faster", False),
        ("median_step_seconds", 1.2, "slower", True),
        ("best_val_top1", 0.8, "worse", True),
        ("best_val_top1", 1.1, "better", False),
        ("peak_rss_bytes_max", 0.8, "better", False),  # bytes: lower is better
        ("peak_rss_bytes_max", 1.03, "worse", False),  # worse, within the tolerance
    ],
)
def test_each_figure_in_its_own_direction(name, factor, change, fails):
    a = [10 * x for x in NOISE]
    c = figure(name, a, [factor * value for value in a])
    assert (c.change, c.worse_beyond_tolerance) == (change, fails)


def test_a_rise_from_zero_is_beyond_any_tolerance():
    c = figure("stalls", [0.0] * 5, [2.0, 3.0, 2.0, 4.0, 2.0])
    assert (c.change, c.ratio, c.worse_beyond_tolerance) == ("worse", None, True)


def test_the_olympic_mean_drops_the_fastest_and_the_slowest():
    assert olympic_mean([300.0, 100.0, 200.0, 900.0, 10.0]) == pytest.approx(200.0)
    with pytest.raises(ValueError, match="3 values or more"):
        olympic_mean([1.0, 2.0])
    five, four = (
        figure("ttt_seconds", [1.0, 2, 3, 4, 50], [2.0, 3, 4, 5, 6]),
        figure("ttt_seconds", [1.0] * 4, [1.0] * 5),
    )
    assert (five.olympic_a, five.olympic_b) == (3.0, 4.0) and (four.olympic_a, four.olympic_b) == (None, 1.0)
    assert figure("images_per_second", [1.0] * 5, [1.0] * 5).olympic_a is None  # time to train's only


def test_the_interval_is_the_same_every_time():
    a, b = [100 * x for x in NOISE], [95 * x for x in NOISE[::-1]]
    assert figure("images_per_second", a, b).ratio_low == figure("images_per_second", a, b).ratio_low


def test_a_side_without_the_figure_is_missing():
    c = compare_figure(SHAPE, "ttt_seconds", [1.0] * 5, [], 0.05, 0.05, "B: target not reached")
    assert (c.change, c.note, c.worse_beyond_tolerance) == (MISSING, "B: target not reached", False)


# --- two sweeps of records --------------------------------------------------------------------------------------


def test_compare_writes_its_reports_and_fails_on_a_slower_sweep(tmp_path, capsys):
    write_sweep(tmp_path, "a", [100 * x for x in NOISE])
    write_sweep(tmp_path, "b", [90 * x for x in NOISE])
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "out")]) == 1
    out = capsys.readouterr().out
    assert f"# {tmp_path / 'b'} (B) against {tmp_path / 'a'} (A): FAIL (1 figure(s) worse" in out
    assert "SLOWER" in out and "no detectable change" in out  # images/s slower; top-1 (fixed) unchanged
    report = json.loads((tmp_path / "out" / "compare.json").read_text())
    by_figure = {c["figure"]: c for c in report["figures"]}
    assert report["passed"] is False and by_figure["images_per_second"]["change"] == "slower"
    assert by_figure["best_val_top1"]["change"] == NO_CHANGE
    suite = ET.parse(tmp_path / "out" / "compare.xml").getroot()
    assert suite.get("failures") == "1" and suite.find("testcase/failure") is not None
    assert (tmp_path / "out" / "compare.md").read_text().startswith("# ")


def test_compare_passes_the_same_sweep_and_reports_too_few_repeats(tmp_path, capsys):
    write_sweep(tmp_path, "a", [100.0, 101.0])
    write_sweep(tmp_path, "b", [50.0, 51.0])
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    assert TOO_FEW in capsys.readouterr().out and (tmp_path / "b" / "compare.xml").exists()
    result = compare_sweeps(tmp_path / "a", tmp_path / "a")
    assert result.passed and {c.change for c in result.figures} == {TOO_FEW}


def test_olympic_means_from_5_repeats_and_shapes_only_one_sweep_ran(tmp_path):
    write_sweep(tmp_path, "a", [100 * x for x in NOISE])
    write_sweep(tmp_path, "b", [100 * x for x in NOISE], workers=(1, 2))
    result = compare_sweeps(tmp_path / "a", tmp_path / "b")
    assert result.only_b == ["synthetic 64x64 n1-w2-b16"] and result.only_a == []
    [ttt] = [c for c in result.figures if c.figure == "ttt_seconds"]
    assert ttt.olympic_a == pytest.approx(300.0) and "olympic mean" in _markdown(result)


def _markdown(result):
    from analysis.sweep_compare import markdown

    return markdown(result)


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda tmp: (tmp / "nowhere", tmp / "b"), "sweep A: {tmp}/nowhere is not a folder"),
        (lambda tmp: write_sweep(tmp, "c", [1.0], nodes=2) and (tmp / "a", tmp / "c"), "no run shape in common"),
        (lambda tmp: write_sweep(tmp, "f", [1.0], status="failed") and (tmp / "a", tmp / "f"), "no completed run"),
    ],
)
def test_bad_input_is_refused_with_a_sentence(tmp_path, capsys, make, problem):
    write_sweep(tmp_path, "a", [1.0])
    write_sweep(tmp_path, "b", [1.0])
    a, b = make(tmp_path)
    with pytest.raises(CompareError, match=problem.format(tmp=tmp_path)):
        compare_sweeps(a, b)
    assert main(["compare", str(a), str(b)]) == 2
    assert capsys.readouterr().err.startswith("mcnn-bench compare: error: ")


def test_a_tolerance_or_level_out_of_range_is_refused(tmp_path):
    write_sweep(tmp_path, "a", [1.0])
    with pytest.raises(CompareError, match="--level must be a probability"):
        compare_sweeps(tmp_path / "a", tmp_path / "a", level=5)
