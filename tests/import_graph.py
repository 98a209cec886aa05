"""The suite's import graph between its top-level packages, read from the source with ``ast``.

    python tests/import_graph.py        # prints one line per package: what it imports, with counts

The layout rule (README, "Layout"): ``mcnn_bench`` (the command line) sits above ``slurm`` and
``analysis``, which sit above ``benchmark``; no arrow runs back up.
"""
from __future__ import annotations

import ast
import collections
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mcnn_bench", "slurm", "analysis", "benchmark")


def imported_modules(path: Path) -> list[str]:
    """The absolute module names a file imports (relative imports resolved inside its package)."""
    tree = ast.parse(path.read_text(), str(path))
    package = path.relative_to(ROOT).parent.parts
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            names.append(".".join([*base, *(node.module.split(".") if node.module else [])]))
    return names


def package_edges() -> dict[tuple[str, str], int]:
    """``(importer, imported) -> number of import statements`` between the suite's top-level packages."""
    edges: collections.Counter = collections.Counter()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for name in imported_modules(path):
                top = name.split(".")[0]
                if top in PACKAGES and top != package:
                    edges[(package, top)] += 1
    return dict(edges)


if __name__ == "__main__":
    edges = package_edges()
    for package in PACKAGES:
        targets = [f"{target} ({count})" for (source, target), count in sorted(edges.items()) if source == package]
        print(f"{package:<11} -> {', '.join(targets) or 'nothing of the suite'}")
