"""The docs: the pages generated from code are current (``python docs/generate.py --check``), every relative
link of the README and ``docs/`` resolves to a file and, for a Markdown file, to one of its headings (GitHub's
anchors), and the README stays short."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "docs" / "generate.py"
#: The README's size limit, in bytes: details belong in docs/.
README_LIMIT = 10_240


def _generator():
    spec = importlib.util.spec_from_file_location("docs_generate", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate = _generator()
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])


def links(markdown: str) -> list[str]:
    """The targets of the inline links and images of a Markdown text, outside code blocks and code spans."""
    fence, found = None, []
    for line in markdown.splitlines():
        opened = re.match(r"^ {0,3}(`{3,}|~{3,})", line)
        if opened:
            mark = opened.group(1)
            fence = mark if fence is None else (None if mark[0] == fence[0] and len(mark) >= len(fence) else fence)
            continue
        if fence is None:
            text = re.sub(r"`[^`]*`", "", line)
            found += [target.split()[0] for target in re.findall(r"\]\(([^)\s]+(?:\s+\"[^\"]*\")?)\)", text)]
    return found


def broken_links(page: Path) -> list[str]:
    """Each relative link of ``page`` whose file does not exist or whose ``#anchor`` is no heading there."""
    problems = []
    for target in links(page.read_text()):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.exists():
            problems.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in generate.anchors(resolved.read_text()):
            problems.append(f"{target}: no such heading")
    return problems


def test_generated_pages_are_current():
    done = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:] + done.stdout[-2000:]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    assert broken_links(page) == []


def test_a_broken_link_or_anchor_is_caught(tmp_path):
    (tmp_path / "other.md").write_text("# A `code` title: its part (one)\n\n## Repeat\n\n## Repeat\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#a-code-title-its-part-one) [ok](other.md#repeat-1) [ok](#here)\n"
        "[bad](other.md#nowhere) [bad](missing.md) `[not a link](missing.md)`\n\n# Here\n"
        "```\n[in code](missing.md)\n# not a heading\n```\n"
    )
    assert broken_links(page) == ["other.md#nowhere: no such heading", "missing.md: no such file"]


def test_slugs_follow_githubs_rules():
    assert (
        generate.slug("The trainer's own cost (`mcnn-bench bench overhead`)")
        == "the-trainers-own-cost-mcnn-bench-bench-overhead"
    )
    assert generate.slug("Data sources (`data.source`, `--data`)") == "data-sources-datasource---data"
    assert generate.slug("`[learning_rate]`") == "learning_rate"


def test_readme_is_short():
    size = len((ROOT / "README.md").read_bytes())
    assert size <= README_LIMIT, f"README.md is {size} bytes, more than {README_LIMIT}: move details to docs/"
