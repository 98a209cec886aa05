#!/usr/bin/env bash
# The lint and type gate: ruff's formatter and linter, and mypy over the packages (settings in
# pyproject.toml). Set up first if needed; exits non-zero on the first gate that fails.
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh
VENV="${MCNN_VENV:-.venv}"   # the venv setup.sh made (MCNN_PYTHON, MCNN_VENV: see setup.sh)
"$VENV"/bin/ruff format --check .
"$VENV"/bin/ruff check .
"$VENV"/bin/mypy
