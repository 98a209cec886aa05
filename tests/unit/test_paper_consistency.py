"""analysis.papers.consistency and `mcnn-bench paper-check`: the published numbers against themselves."""

from __future__ import annotations

import pytest

from analysis.columns import read_csv
from analysis.papers.consistency import (
    AT_LEAST,
    EXACT,
    REPORT_CSV,
    REPORT_MD,
    TWO_DECIMALS,
    WITHIN,
    check,
    datta_checks,
    describe,
    disagreements,
    report,
)
from mcnn_bench.cli import main


def test_rules():
    assert check("s", "w", "src", 105, 100, "x", "h").agrees
    assert not check("s", "w", "src", 106, 100, "x", "h").agrees
    assert check("s", "w", "src", 106, 100, "x", "h", WITHIN, tolerance=6).agrees
    assert not check("s", "w", "src", 2, 3, "x", "h", EXACT).agrees
    assert check("s", "w", "src", 120, 146.7, "x", "h", AT_LEAST).agrees
    assert not check("s", "w", "src", 150, 76.5, "x", "h", AT_LEAST).agrees
    assert check("s", "w", "src", 10.28, 10.2881, "%", "h", TWO_DECIMALS).agrees  # cut, not rounded
    assert not check("s", "w", "src", 10.28, 10.309, "%", "h", TWO_DECIMALS).agrees
    assert check("s", "w", "src", 19.2, 52.9, "x", "h").disagreement_percent == pytest.approx(-63.71, abs=0.01)
    with pytest.raises(ValueError, match="unknown rule"):
        check("s", "w", "src", 1, 1, "x", "h", "about")


def test_datta_disagreements_are_the_known_ones():
    """What the paper, its slides and the news item print and do not agree on, with the size of each."""
    off = {c.what: round(c.disagreement_percent, 1) for c in disagreements(datta_checks())}
    assert off == {
        "Table 1, 1 node: TTT": -16.4,
        "Table 1, 2 nodes: TTT": 10.7,
        "1-to-128-node speedup vs Table 1's images/s": -63.7,
        "batch per node on the 128-node plots vs Table 1": 100.0,
        "8-node TTT speedup vs sec. 5.2's one-node TTT": -38.2,
        "memory over activations at batch 32": -7.4,
        "Dataset B images vs fields x copies x rotations": 43.8,
    }
    agreeing = {c.what for c in datta_checks() if c.agrees}
    assert "1-to-128-node speedup vs Table 1's TTT" in agreeing
    assert "updates per epoch at the cap vs the rule > 150" in agreeing
    looser = {c.what for c in disagreements(datta_checks(tolerance=17))}
    assert "Table 1, 1 node: TTT" not in looser and "8-node TTT speedup vs sec. 5.2's one-node TTT" in looser


def test_report_lists_the_disagreements_with_their_size():
    checks, text = report()
    assert len(checks) == len(datta_checks()) + 22
    assert "- Table 1, 1 node: TTT (Table 1): published 960 minutes, recomputed 1,149 (-16.4 %" in text
    assert "- Table 1, 2 nodes: TTT (Table 1): published 642 minutes, recomputed 580.2 (+10.7 %" in text
    assert "- Table I, Mass: percentage (Table I): published 0.05 %, recomputed 5.125 (-99.0 %" in text
    assert "speedup from 1 to 128 nodes" in text and "Effusion count" in text
    assert "not run: give the folder of Data_Entry_2017_v2020.csv" in text
    assert describe(checks[0]).startswith("Table 1, 1 node: TTT (Table 1): published 960 minutes")


def test_cli_paper_check(tmp_path, capsys, shared_data):
    out = tmp_path / "out"
    assert main(["paper-check", "--chestxray14", str(shared_data / "chestxray14"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Table I vs the official label table" in printed and "Table I, Effusion: images" in printed
    assert (out / REPORT_MD).read_text() in printed
    table = read_csv(out / REPORT_CSV)
    assert len(table) == len(datta_checks()) + 22 + 31 and set(table["agrees"]) == {True, False}


def test_cli_paper_check_refuses_a_negative_tolerance(capsys):
    assert main(["paper-check", "--tolerance", "-1"]) == 2
    assert "--tolerance" in capsys.readouterr().err
