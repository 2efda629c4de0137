#!/usr/bin/env bash
# Configures and builds vramguard (Release) in ./build. Extra arguments are build targets.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
if [ ! -f build/CMakeCache.txt ]; then
  # The Python module is built for Debian's python3, whose torch (python3-torch) is the libtorch above.
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DVRAMGUARD_WERROR=ON -DPython3_EXECUTABLE=/usr/bin/python3
fi
if [ $# -gt 0 ]; then
  targets=(); for t in "$@"; do targets+=(--target "$t"); done
  cmake --build build --parallel "$jobs" "${targets[@]}"
else
  cmake --build build --parallel "$jobs"
fi
