"""The suite's structure: the import graph between its packages, resources found through the package,
and the run record's published JSON Schema kept in step with the record model."""
import json

from benchmark.record import json_schema
from import_graph import PACKAGES, ROOT, package_edges

#: Each package and the packages it may import: the command line on top, the trainer at the bottom.
ALLOWED = {"mcnn_bench": {"benchmark", "slurm", "analysis"}, "slurm": {"benchmark"}, "analysis": {"benchmark"},
           "benchmark": set()}


def test_no_import_runs_back_up():
    edges = package_edges()
    upward = sorted(edge for edge in edges if edge[1] not in ALLOWED[edge[0]])
    assert upward == [], f"imports against the layout: {upward}"
    assert ("mcnn_bench", "benchmark") in edges and ("slurm", "benchmark") in edges  # the graph was read


def test_no_module_finds_files_through_the_repository_layout():
    offenders = [str(path.relative_to(ROOT)) for package in PACKAGES for path in (ROOT / package).rglob("*.py")
                 if "__file__" in path.read_text()]
    assert offenders == []


def test_published_record_schema_is_the_models():
    published = ROOT / "docs" / "run-record.schema.json"
    assert json.loads(published.read_text()) == json.loads(json_schema()), (
        "docs/run-record.schema.json is stale: regenerate it with "
        "`mcnn-bench record-schema > docs/run-record.schema.json`")
