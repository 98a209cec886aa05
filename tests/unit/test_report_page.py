"""The HTML report (analysis.report_html): one self-contained page per results folder, read here with the standard
library's HTML parser (tests/integration/test_report_browser.py opens it in Chromium)."""

from __future__ import annotations

import base64
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_analysis import SWEEP, make_record, write_record
from test_fleet import SPEEDS, write_fleet
from test_fleet import reference as fleet_reference

from analysis import report_html
from analysis.acceptance import report, write_report
from analysis.reference import load_reference
from analysis.report import analyze

MAIN_JOB = Path(__file__).parent / "data" / "main-job"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """What a test reads of the page: every tag's attributes, the rows of each table by id, and the text."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.rows: dict[str, list[list[str]]] = {}
        self.text: list[str] = []
        self._table: str | None = None
        self._body = False
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "table":
            self._table = attributes.get("id") or f"table-{len(self.rows)}"
            self.rows[self._table] = []
        elif tag == "tbody":
            self._body = True
        elif tag == "tr" and self._body:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table:
            self.rows[self._table].append(self._row)
            self._row = None
        elif tag == "tbody":
            self._body = False

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture
def main_job(tmp_path) -> Path:
    return shutil.copytree(MAIN_JOB, tmp_path / "results")


@pytest.fixture(scope="module")
def main_job_page(tmp_path_factory) -> tuple[Path, Page]:
    """The main job's records and their page, for the tests that only read it."""
    results = shutil.copytree(MAIN_JOB, tmp_path_factory.mktemp("main-job") / "results")
    return results, page_of(results)[1]


def page_of(results: Path) -> tuple[Path, Page]:
    outputs = analyze(results)
    return outputs.report, Page(outputs.report.read_text())


def test_the_page_stands_alone_with_every_figure_embedded(main_job_page):
    main_job, page = main_job_page
    report = main_job / "analysis" / "report.html"
    tags = [tag for tag, _ in page.tags]
    assert "script" not in tags and "link" not in tags and "iframe" not in tags
    sources = [attributes["src"] for tag, attributes in page.tags if tag == "img"]
    assert len(sources) >= 8 and all(src.startswith("data:image/png;base64,") for src in sources)
    assert all(base64.b64decode(src.split(",", 1)[1])[:8] == PNG_SIGNATURE for src in sources)
    assert all(attributes.get("alt") for tag, attributes in page.tags if tag == "img")
    assert "http://" not in report.read_text() and "https://" not in report.read_text()


def test_table1_has_a_row_per_run_and_the_summary_a_row_per_sweep(main_job_page):
    main_job, page = main_job_page
    runs = sorted(path.parent.name for path in main_job.glob("*/*/record.json"))
    assert sorted(row[0] for row in page.rows["table1-table"]) == runs
    assert [row[:3] for row in page.rows["summary-table"]] == [
        ["local-cells", "64x64 bbbc021-cells", "4"],
        ["local-cells-folds", "64x64 bbbc021-cells, fold 1/3 by field", "1"],
        ["local-cells-folds", "64x64 bbbc021-cells, fold 2/3 by field", "1"],
        ["local-cells-folds", "64x64 bbbc021-cells, fold 3/3 by field", "1"],
    ]
    assert [row[0] for row in page.rows["provenance-table"]] == ["local-cells", "local-cells-folds"]
    assert any("197" in row for row in page.rows["table1-table"])  # images/s to 3 significant figures


def test_a_failed_run_is_listed_with_its_reason(main_job):
    write_record(main_job, make_record(2, 2, status="failed"))
    _, page = page_of(main_job)
    assert "1 run failed:" in " ".join(page.text)
    assert "MemoryError: out of memory" in " ".join(page.text)
    assert any(row[0] == "n2-w2-b16" for row in page.rows["table1-table"])


def test_an_acceptance_that_fails_shows_its_fail_rows_first(main_job, tmp_path):
    sweep = main_job / "local-cells"
    reference = tmp_path / "tight.toml"
    text = (Path(__file__).parents[2] / "analysis" / "references" / "devcluster.toml").read_text()
    reference.write_text(text)
    write_report(report(sweep, load_reference(reference)), sweep)  # another system's shapes: every figure MISSING
    _, page = page_of(main_job)
    verdicts = [row[2] for row in page.rows["acceptance-local-cells-reference"]]  # shape, figure, verdict, ...
    assert verdicts and verdicts == sorted(verdicts, key=lambda v: v == "PASS") and verdicts[0] != "PASS"
    assert "local-cells against devcluster:" in " ".join(page.text)
    assert "mcnn-bench report: local-cells, local-cells-folds" in " ".join(page.text)


def test_a_fleets_outlier_is_named_and_its_rows_and_figure_come_first(tmp_path):
    results = tmp_path / "results"
    sweep = write_fleet(results, SPEEDS)
    write_report(report(sweep, fleet_reference()), sweep)
    _, page = page_of(results)
    text = " ".join(" ".join(page.text).split())
    assert "OUTLIER node3, on the bad side." in text
    fleet = page.rows[f"acceptance-{SWEEP}-fleet"]
    assert fleet[0][:5] == ["synthetic 64x64 n1-w1-b16", "images_per_second", "node3", "OUTLIER", "slower"]
    assert any(
        attributes.get("src", "").startswith("data:image/png") and "fleet" in attributes.get("alt", "")
        for tag, attributes in page.tags
        if tag == "img"
    )


def test_an_acceptance_report_that_cannot_be_read_is_said(main_job):
    (main_job / "local-cells" / "acceptance.json").write_text("{not json")
    _, page = page_of(main_job)
    assert "cannot be read" in " ".join(page.text)


def test_many_runs_pool_table1_per_shape_and_cap_the_embedded_figures(main_job, monkeypatch):
    for repeat in range(3):  # three repeats of one shape: one row
        write_record(main_job, make_record(1, 1, run_id=f"n1-w1-b16-r{repeat}"))
    monkeypatch.setattr(report_html, "MAX_TABLE_ROWS", 3)
    monkeypatch.setattr(report_html, "MAX_EMBEDDED", 1)
    _, page = page_of(main_job)
    rows = page.rows["table1-table"]
    assert len(rows) == 8  # a row per (sweep, nodes, workers per node, global batch, engine, workload)
    assert "pooled per shape (10 runs" in " ".join(page.text)
    (pooled,) = [row for row in rows if row[0] == SWEEP]
    assert pooled[6:8] == ["3", "3"]  # runs, completed
    assert "2 more figures of this kind in curves/ (not embedded)" in " ".join(page.text)  # 3 sweeps, 1 embedded


def test_the_page_is_written_atomically(main_job_page):
    main_job, _ = main_job_page
    assert (main_job / "analysis" / "report.html").exists()
    assert not list((main_job / "analysis").glob("*.tmp"))
