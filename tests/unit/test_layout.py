"""The suite's structure: the import rules (import-linter's contracts in pyproject.toml), resources found
through the package, and the run record's published JSON Schema kept in step with the record model."""

import json
import subprocess
import sys
from pathlib import Path

from benchmark.record import json_schema

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("mcnn_bench", "slurm", "analysis", "benchmark")


def test_import_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout and " kept" in done.stdout  # the contracts were read and checked


def test_no_module_finds_files_through_the_repository_layout():
    offenders = [
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "__file__" in path.read_text()
    ]
    assert offenders == []


def test_published_record_schema_is_the_models():
    published = ROOT / "docs" / "run-record.schema.json"
    assert json.loads(published.read_text()) == json.loads(json_schema()), (
        "docs/run-record.schema.json is stale: regenerate it with "
        "`mcnn-bench record-schema > docs/run-record.schema.json`"
    )


def test_test_modules_have_names_unique_across_the_suite():
    """pytest imports test modules by their base name (rootdir-relative, no packages), so two files called
    ``test_x.py`` under tests/unit and tests/integration cannot be collected in one run."""
    names = [path.name for path in (ROOT / "tests").rglob("test_*.py")]
    assert sorted({name for name in names if names.count(name) > 1}) == []
