"""The HTML report in a real browser: headless Chromium (the ``browser`` fixture, tests/conftest.py) opens the
main job's report from ``file://``, with a failed acceptance in it, and shows what a person would see.

``MCNN_REPORT_SCREENSHOT=PATH`` also keeps the page's screenshot there (how docs/report.png, the README's
picture, is made: ``MCNN_REPORT_SCREENSHOT=$PWD/docs/report.png ./run-tests.sh
tests/integration/test_report_browser.py``).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageStat

ROOT = Path(__file__).resolve().parents[2]
MAIN_JOB = ROOT / "tests" / "unit" / "data" / "main-job"


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mcnn_bench", *args], capture_output=True, text=True, timeout=600, cwd=cwd
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """The main job's records, the local-cells sweep accepted against a reference whose first images/s it cannot
    meet (exit status 1), then ``mcnn-bench report``."""
    results = shutil.copytree(MAIN_JOB, tmp_path_factory.mktemp("browser") / "results")
    sweep = results / "local-cells"
    reference = results.parent / "reference.toml"
    done = cli(
        "reference", "capture", str(sweep), "--system", "captured", "--tolerance", "0.1", "--out", str(reference)
    )
    assert done.returncode == 0, done.stderr
    text = reference.read_text()
    first = re.search(r"\[shape\.figures\.images_per_second\]\nvalue = ([0-9.]+)", text)
    assert first, text
    reference.write_text(text.replace(f"value = {first[1]}", f"value = {float(first[1]) * 10}", 1))
    assert cli("accept", str(sweep), "--reference", str(reference)).returncode == 1
    done = cli("report", "results", cwd=results.parent)  # as a person types it: the page names the folder so
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("report: results/analysis/report.html (")
    return results / "analysis" / "report.html"


@pytest.fixture
def page(browser, report):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(report.as_uri())
    page.wait_for_load_state("load")
    yield page
    page.close()


def test_the_page_renders(page):
    shot = page.screenshot(full_page=False)
    image = Image.open(io.BytesIO(shot)).convert("L")
    assert image.size == (1400, 1000)
    assert ImageStat.Stat(image).stddev[0] > 20, "a blank screenshot"  # text and tables, not one colour
    assert page.title().startswith("mcnn-bench report: local-cells, local-cells-folds")
    kept = os.environ.get("MCNN_REPORT_SCREENSHOT")
    if kept:
        Path(kept).write_bytes(shot)


def test_every_image_has_loaded(page):
    widths = page.eval_on_selector_all("img", "images => images.map(i => i.complete ? i.naturalWidth : 0)")
    assert len(widths) >= 8 and all(width >= 800 for width in widths), widths


def test_table1_holds_a_row_per_record(page, report):
    records = list(report.parents[1].glob("*/*/record.json"))
    rows = page.locator("#table1-table tbody tr")
    assert rows.count() == len(records) == 7
    assert rows.first.is_visible()


def test_the_acceptance_section_shows_the_fail_row_first(page):
    heading = page.locator("#acceptance h3")
    assert heading.count() == 1 and "local-cells against captured: FAIL" in heading.inner_text()
    failed = page.locator("#acceptance tr.FAIL")
    assert failed.count() == 1 and failed.first.is_visible()
    cells = failed.first.locator("td").all_inner_texts()
    assert cells[1] == "images_per_second" and cells[2] == "FAIL" and "below the lower bound" in cells[-1]
    first_row = page.locator("#acceptance tbody tr").first
    assert first_row.get_attribute("class") == "FAIL"
