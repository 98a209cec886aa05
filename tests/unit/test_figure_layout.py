"""Every figure ``analyze`` draws is at least 800 pixels wide and clips no text: each title, label, tick label,
legend entry and glyph text lies inside the canvas, as matplotlib lays it out (analysis.plots.layout_problems).

Drawn from the main job's real records (tests/unit/data/main-job: both engines, 1 and 2 workers, and a 3-fold
sweep), the paper-like sweeps of test_figures.py (Figs. 2-10), a CheXNet thread sweep (multi-label) and a
sweep of 16 runs (the bounded legends and small multiples)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from test_analysis import write_record
from test_analysis_multilabel import chexnet_record
from test_figures import paper_like_record, write_paper_like_results
from test_figures import write_record as write_paper_record
from test_fleet import SPEEDS, write_fleet
from test_fleet import reference as fleet_reference

from analysis import history, plots, registry
from analysis.acceptance import report, write_report
from analysis.plots import MIN_WIDTH_PX, layout_problems
from analysis.report import analyze

MAIN_JOB = Path(__file__).parent / "data" / "main-job"


def results_of_every_kind(root: Path) -> Path:
    shutil.copytree(MAIN_JOB, root)
    write_paper_like_results(root)
    for threads in (1, 2):
        write_record(root, chexnet_record("cx", f"t{threads}", threads=threads, seed=threads))
    for batch in range(1, 17):
        write_paper_record(
            root, paper_like_record("many", 1, 1, batch, 5.0 + batch, image_size=(64, 64), variant="none")
        )
    return root


@pytest.fixture(scope="module")
def drawn(tmp_path_factory) -> dict[Path, list[str]]:
    """Every figure of an analysis of ``results_of_every_kind`` (with the paper comparison) and of the main job's
    (with its per-run curves), a fleet's acceptance figure and the main job's history plot, with the layout problems
    of each."""
    root = results_of_every_kind(tmp_path_factory.mktemp("every-kind") / "results")
    main_job = shutil.copytree(MAIN_JOB, tmp_path_factory.mktemp("main-job") / "results")
    problems: dict[Path, list[str]] = {}
    original = plots.save_png

    def checked(figure, path, tight=True, dpi=plots.DPI, **options):
        written = original(figure, path, tight=tight, dpi=dpi, **options)
        problems[written] = layout_problems(figure, written, tight, dpi)
        return written

    patch = pytest.MonkeyPatch()
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] == "analysis" and getattr(module, "save_png", None) is original:
            patch.setattr(module, "save_png", checked)
    try:
        outputs = analyze(root, compare="paper", jobs=1)
        analyze(main_job, per_run_curves=True, jobs=1)
        history.add_folder(main_job)
        fleet = write_fleet(tmp_path_factory.mktemp("fleet"), SPEEDS)
        write_report(report(fleet, fleet_reference()), fleet)  # the fleet's figure per shape
        history.plot(history.query(main_job), "images_per_second", main_job / "history.png")
    finally:
        patch.undo()
    assert [line.split(":")[0] for line in outputs.skipped] == ["curves/cx.png"]  # multi-label: no top-1
    return problems


def test_every_registered_figure_is_drawn_and_checked(drawn):
    names = {path.name for path in drawn} | {path.parent.name for path in drawn}
    for figure in registry.FIGURES:
        stem = figure.files.split("/")[0].replace(".png", "")
        assert any(stem in name for name in names), f"{figure.name} was not drawn"


def test_the_fleet_and_history_figures_are_checked_too(drawn):
    assert any(path.name.startswith("fleet-") for path in drawn) and any(path.name == "history.png" for path in drawn)


def test_no_figure_is_narrow_or_clips_a_text(drawn):
    bad = {str(path): problems for path, problems in drawn.items() if problems}
    assert bad == {}


def test_the_check_finds_a_clipped_label_and_a_narrow_figure(tmp_path):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4, 3))
    axes = figure.add_axes((0.0, 0.0, 1.0, 1.0))  # no room for the axis labels
    axes.set_ylabel("a label with no room")
    path = plots.save_png(figure, tmp_path / "clipped.png", tight=False)
    problems = layout_problems(figure, path, tight=False)
    assert problems[0] == f"{4 * plots.DPI} px wide, under {MIN_WIDTH_PX}"
    assert any("'a label with no room' outside the canvas" in problem for problem in problems)
