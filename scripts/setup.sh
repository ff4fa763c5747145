#!/usr/bin/env bash
# Creates .venv (or uses $VENV) and installs xforge with its dev tools.
# torch comes first because sam2 and deepspeed build against the installed torch
# (--no-build-isolation) instead of downloading a second torch into a build environment.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PY="${PYTHON:-python3}"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
. "$VENV/bin/activate"
python -m pip install -q --upgrade "pip>=24,<26.2" setuptools wheel
python -m pip install -q "torch>=2.5,<=2.14.1" "torchvision>=0.20,<=0.29.1"
# sam2's CUDA extension only speeds up video post-processing; image masks do not need it.
SAM2_BUILD_CUDA=0 python -m pip install -q --no-build-isolation "sam2>=1.1"
DS_BUILD_OPS=0 python -m pip install -q --no-build-isolation "deepspeed>=0.15"
python -m pip install -q -e ".[dev]"
echo "xforge installed in $VENV: activate with '. $VENV/bin/activate'"
