#!/usr/bin/env bash
# The test suite: set up (if needed), start the development SLURM cluster (as root), run pytest, and stop
# the cluster again if this script started it. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh
VENV="${MCNN_VENV:-.venv}"   # the venv setup.sh made (MCNN_PYTHON, MCNN_VENV: see setup.sh)
export MCNN_DEVCLUSTER_DIR="${MCNN_DEVCLUSTER_DIR:-/tmp/mcnn-devcluster}"
if [ "$(id -u)" -eq 0 ]; then
  if ! slurm/devcluster/status >/dev/null 2>&1; then
    slurm/devcluster/start
    trap 'slurm/devcluster/stop' EXIT
  fi
  # shellcheck source=/dev/null
  source "$MCNN_DEVCLUSTER_DIR/env.sh"
  export MCNN_REQUIRE_SLURM=1   # with a cluster up, a SLURM test may not skip
else
  echo "run-tests.sh: not root, so no development SLURM cluster: the SLURM tests will be skipped" >&2
fi
"$VENV"/bin/python -m pytest "$@"
