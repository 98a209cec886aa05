#!/usr/bin/env bash
# The main job: set up (if needed), run the local sweep on the real BBBC021 cells shipped in
# benchmark/sample (1 and 2 workers on this machine, on the Horovod and the DDP engine), then rebuild Table 1,
# the plots and the engines' comparison; then the 3-fold accuracy over every field (local-cells-folds.toml).
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh
VENV="${MCNN_VENV:-.venv}"   # the venv setup.sh made (MCNN_PYTHON, MCNN_VENV: see setup.sh)
status=0
# On a Python where an engine cannot be installed (the Horovod engine on Python >= 3.13), its runs are left out,
# with the engine registry's sentence why; the others run.
"$VENV"/bin/mcnn-bench sweep slurm/examples/local-cells.toml --skip-unavailable-engines "$@" || status=$?
"$VENV"/bin/mcnn-bench analyze results/local-cells
# The accuracy over every field of view: 3 runs of 1 worker, each validating a third of the fields (folds.md).
"$VENV"/bin/mcnn-bench sweep slurm/examples/local-cells-folds.toml "$@" || status=$?
"$VENV"/bin/mcnn-bench analyze results/local-cells-folds
exit "$status"
