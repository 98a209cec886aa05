#!/usr/bin/env bash
# The main job: set up (if needed), run the local sweep on the real BBBC021 cells shipped in
# benchmark/sample (1 and 2 workers on this machine, on the Horovod and the DDP engine), then rebuild Table 1,
# the plots and the engines' comparison.
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh
status=0
.venv/bin/mcnn-bench sweep slurm/examples/local-cells.toml "$@" || status=$?
.venv/bin/mcnn-bench analyze results/local-cells
exit "$status"
