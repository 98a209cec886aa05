#!/usr/bin/env bash
# The test suite: set up (if needed), install Chromium and start the development SLURM cluster (as root), run
# pytest, and stop the cluster again if this script started it. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh
VENV="${MCNN_VENV:-.venv}"   # the venv setup.sh made (MCNN_PYTHON, MCNN_VENV: see setup.sh)
export MCNN_DEVCLUSTER_DIR="${MCNN_DEVCLUSTER_DIR:-/tmp/mcnn-devcluster}"
if [ "$(id -u)" -eq 0 ]; then
  # The report's browser test opens it in Debian's Chromium, which Playwright (a test dependency) starts.
  if ! command -v chromium >/dev/null || ! dpkg-query -W fonts-dejavu-core >/dev/null 2>&1; then
    echo "run-tests.sh: installing Debian's chromium for the report's browser test" >&2
    apt-get -o DPkg::Lock::Timeout=900 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends \
      chromium fonts-dejavu-core >/dev/null
  fi
  export MCNN_REQUIRE_BROWSER=1   # with the browser installed, its test may not skip
  if ! slurm/devcluster/status >/dev/null 2>&1; then
    slurm/devcluster/start
    trap 'slurm/devcluster/stop' EXIT
  fi
  # shellcheck source=/dev/null
  source "$MCNN_DEVCLUSTER_DIR/env.sh"
  export MCNN_REQUIRE_SLURM=1   # with a cluster up, a SLURM test may not skip
else
  echo "run-tests.sh: not root, so no development SLURM cluster and no Chromium installed: the SLURM tests" \
    "will be skipped, and the browser test unless chromium is installed" >&2
fi
"$VENV"/bin/python -m pytest "$@"
