#!/usr/bin/env bash
# The lint and type gate: ruff's formatter and linter, and mypy over the packages (settings in
# pyproject.toml). Set up first if needed; exits non-zero on the first gate that fails.
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh
.venv/bin/ruff format --check .
.venv/bin/ruff check .
.venv/bin/mypy
