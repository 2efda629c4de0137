#!/usr/bin/env bash
# Installs vramguard's Python module into the environment of the python3 on PATH (or PYTHON=...), with
# pip, built against the torch that interpreter imports:
#   ./scripts/install-python.sh [--user]
# The same as `python3 -m pip install --no-build-isolation .` from the repository root (setup.py drives
# CMake; isolation would hide the installed torch). Building needs a compiler, CMake, Ninja, Boost,
# spdlog, nlohmann-json and the interpreter's headers (Debian: ./scripts/install-deps.sh has them all).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
user=()
for arg in "$@"; do
  case $arg in
    --user) user=(--user) ;;
    *) echo "usage: $0 [--user]   (PYTHON=... chooses the interpreter)" >&2; exit 2 ;;
  esac
done
command -v "$python" >/dev/null || { echo "error: no $python on PATH; set PYTHON=/path/to/python3" >&2; exit 2; }
"$python" -c "import torch" 2>/dev/null || { echo "error: $python cannot import torch: install PyTorch into that environment first" >&2; exit 2; }
"$python" -m pip install --no-build-isolation "${user[@]}" .
"$python" -c "import vramguard; print('installed vramguard', vramguard.__version__, 'into', vramguard.__path__[0])"
