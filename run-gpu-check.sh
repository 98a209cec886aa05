#!/usr/bin/env bash
# The GPU check (mcnn-bench bench gpu) on one GPU of this machine: M-CNN in bf16 with the DDP engine at 1024x1280
# batch 32 and at 768x768 batch 64, 5 warm-up and 20 timed steps each, a few minutes; prints images/s, the peak
# GPU memory and the fraction of the GPU's measured peak. Extra arguments go to the command (--results DIR keeps
# the runs' records). Needs no setup.sh, TensorFlow or Horovod: it runs from this checkout with the venv setup.sh
# made if its PyTorch is there (MCNN_VENV, default .venv), else with python3 (or MCNN_PYTHON), whose PyTorch must
# see the GPU. On a machine without network that lacks some of the suite's packages, carry their wheels in a
# folder and name it in MCNN_WHEELS: they are installed into a temporary folder first (see the message below).
set -euo pipefail
cd "$(dirname "$0")"
VENV="${MCNN_VENV:-.venv}"
if [ -n "${MCNN_PYTHON:-}" ]; then
  PYTHON="$MCNN_PYTHON"
elif [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import torch' 2>/dev/null; then
  PYTHON="$VENV/bin/python"
else
  PYTHON=python3
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ -n "${MCNN_WHEELS:-}" ]; then
  site="$(mktemp -d /tmp/mcnn-wheels.XXXXXX)"
  trap 'rm -rf "$site"' EXIT
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --target "$site" "$MCNN_WHEELS"/*.whl
  export PYTHONPATH="$PYTHONPATH:$site"
fi
# The packages the check and its training runs import (module: distribution), besides the standard library.
missing="$("$PYTHON" - <<'PY'
import importlib.util

needs = {
    "torch": "torch", "torchvision": "torchvision", "numpy": "numpy", "pandas": "pandas", "scipy": "scipy",
    "yaml": "pyyaml", "pydantic": "pydantic", "pydantic_core": "pydantic-core", "annotated_types": "annotated-types",
    "typing_inspection": "typing-inspection", "typing_extensions": "typing-extensions", "filelock": "filelock",
    "tifffile": "tifffile", "PIL": "pillow", "mlperf_logging": "mlperf-logging",
}
print(" ".join(dist for module, dist in needs.items() if importlib.util.find_spec(module) is None))
PY
)"
if [ -n "$missing" ]; then
  version="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
  cat >&2 <<MSG
run-gpu-check.sh: $PYTHON (Python $version) lacks: $missing
Install them (pip install $missing), or, where there is no network, download their wheels
(pure-Python ones and those built for this Python and platform) on a machine that has it:
  pip download --no-deps --only-binary=:all: --python-version $version --platform manylinux2014_x86_64 \\
    --platform manylinux_2_17_x86_64 -d wheels $missing
copy the folder here and run MCNN_WHEELS=wheels $0 $*
MSG
  exit 2
fi
exec "$PYTHON" -m mcnn_bench bench gpu "$@"
