#!/usr/bin/env bash
# One-command set-up of mcnn-bench on Debian: system packages, .venv, the engines' frameworks (the DDP engine's
# PyTorch; TensorFlow and Horovod where this Python can have them), the project.
# Idempotent: a second run that finds everything in place returns in seconds.
# MCNN_PYTHON: the interpreter that creates the venv (default python3); MCNN_VENV: the venv's folder (default .venv).
set -euo pipefail
cd "$(dirname "$0")"
VENV="${MCNN_VENV:-.venv}"
export TF_CPP_MIN_LOG_LEVEL=2   # keep TensorFlow's start-up notices out of the checks below

# Pinned versions, and why:
# - tensorflow-cpu 2.18.1 is the newest TensorFlow that horovod 0.28.1 still builds against (2.19+ fails); it has
#   no wheel for Python >= 3.13, so there the Horovod engine is left out and the DDP engine installed alone.
# - horovod 0.28.1 is the last Horovod release; it must be built from source after TensorFlow.
# - torch 2.14.1 with torchvision 0.29.1 (the DDP engine, run.engine = "ddp"): a matching pair (torchvision's
#   operators are built for one torch release); the CUDA build, which runs on CPU nodes and GPU nodes alike.
TF_SPEC="tensorflow-cpu==2.18.1"
HVD_SPEC="horovod==0.28.1"
TORCH_SPECS=("torch==2.14.1" "torchvision==0.29.1")
# System packages: libjemalloc2 and libtcmalloc-minimal4, the mallocs a run can preload (run.allocator,
# benchmark/util/allocator.py); with the Horovod engine also Open MPI and cmake, for Horovod's build and MPI runs.
APT_PACKAGES=(libjemalloc2 libtcmalloc-minimal4)
HOROVOD_APT_PACKAGES=(openmpi-bin libopenmpi-dev cmake)

log() { printf '[setup] %s\n' "$*"; }

pyversion() { "$1" -c 'import platform; print(platform.python_version())'; }
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "${MCNN_PYTHON:-python3}" -m venv "$VENV"
elif [ -n "${MCNN_PYTHON:-}" ] && [ "$(pyversion "$MCNN_PYTHON")" != "$(pyversion "$VENV/bin/python")" ]; then
  echo "setup.sh: $VENV holds Python $(pyversion "$VENV/bin/python"), not MCNN_PYTHON=$MCNN_PYTHON" \
       "(Python $(pyversion "$MCNN_PYTHON")): name a new folder with MCNN_VENV, or remove $VENV" >&2
  exit 1
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check -q)

# Whether this Python can have the Horovod engine: the engine registry decides (benchmark/engines/__init__.py,
# which imports nothing but the standard library), and at the end says why not, as every command that needs
# the Horovod engine does.
if "$PY" -I - "$PWD" <<'EOF'; then
import sys
sys.path.insert(0, sys.argv[1])
from benchmark.engines import python_supported
sys.exit(not python_supported("horovod"))
EOF
  WITH_HOROVOD=1
  APT_PACKAGES+=("${HOROVOD_APT_PACKAGES[@]}")
else
  log "$("$PY" --version): the DDP engine alone (the Horovod engine cannot be installed for it)"
  WITH_HOROVOD=0
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: the system packages ${missing[*]} are missing and installing them needs root." >&2
    echo "  Run: sudo apt-get install -y ${missing[*]}   then run ./setup.sh again." >&2
    exit 1
  fi
  log "installing system packages: ${missing[*]}"
  apt-get -o DPkg::Lock::Timeout=900 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq "${missing[@]}" >/dev/null
fi

installed() {  # installed PACKAGE VERSION: the venv holds exactly that version (read from its metadata)
  "$PY" -c 'import sys; from importlib.metadata import version
try: sys.exit(version(sys.argv[1]) != sys.argv[2])
except Exception: sys.exit(1)' "$1" "$2"
}

if ! installed torch 2.14.1 || ! installed torchvision 0.29.1; then
  log "installing ${TORCH_SPECS[*]} (the DDP engine)"
  "${PIP[@]}" install "${TORCH_SPECS[@]}"
fi

if [ "$WITH_HOROVOD" = 1 ] && ! installed tensorflow-cpu 2.18.1; then
  log "installing $TF_SPEC and Horovod's build requirements"
  "${PIP[@]}" install "$TF_SPEC" cloudpickle psutil pyyaml packaging cffi wheel setuptools
fi

verified="$VENV/.horovod-verified"
if [ "$WITH_HOROVOD" = 1 ] && { ! installed horovod 0.28.1 || [ ! -f "$verified" ]; }; then
  if ! installed horovod 0.28.1; then
    log "building $HVD_SPEC with TensorFlow, Gloo and MPI (about 5 minutes on 2 cores)"
    HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 \
    HOROVOD_WITH_GLOO=1 HOROVOD_WITH_MPI=1 MAKEFLAGS="-j$(nproc)" \
      "${PIP[@]}" install --no-build-isolation --no-cache-dir "$HVD_SPEC"
  fi
  build=$("$VENV/bin/horovodrun" --check-build)
  for part in TensorFlow MPI Gloo; do
    if ! grep -qE "\[X\] $part" <<<"$build"; then
      echo "setup.sh: Horovod was built without $part:" >&2
      echo "$build" >&2
      exit 1
    fi
  done
  log "Horovod built with TensorFlow, MPI and Gloo"
  touch "$verified"
fi

stamp="$VENV/.mcnn-bench-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  log "installing mcnn-bench (editable) with its test dependencies"
  "${PIP[@]}" install -e '.[test]'
  touch "$stamp"
fi

# benchmark, slurm and analysis are also names of unrelated PyPI distributions: make sure that, in this
# venv, each import name is this checkout's package (see docs/architecture.md, "Top-level package names").
"$PY" -I - "$PWD" <<'EOF'   # -I: the checkout itself is not on sys.path
import importlib.util, pathlib, sys
root = pathlib.Path(sys.argv[1]).resolve()
for name in ("mcnn_bench", "benchmark", "slurm", "analysis"):
    spec = importlib.util.find_spec(name)
    origin = pathlib.Path(spec.origin).resolve() if spec and spec.origin else None
    if origin is None or root not in origin.parents:
        sys.exit(f"setup.sh: import name {name!r} resolves to {origin}, not to {root}: another distribution "
                 f"of that name is installed in {sys.prefix}; uninstall it (pip uninstall) and run ./setup.sh again")
EOF
# The engines this venv can run, and, for each one it cannot, the engine registry's sentence why (Python >= 3.13:
# the Horovod engine needs Python <= 3.12, and how to give setup.sh another interpreter).
"$PY" -I - "$VENV" <<'EOF'
import sys
from benchmark.engines import ENGINES, engine_problem
problems = {name: engine_problem(name) for name in ENGINES}
print(f"[setup] ready: {sys.argv[1]}, engines: {', '.join(name for name, problem in problems.items() if not problem)}")
for problem in filter(None, problems.values()):
    print(f"[setup] {problem}")
EOF
