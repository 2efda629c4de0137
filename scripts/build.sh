#!/usr/bin/env bash
# Configures and builds vramguard (Release) in ./build, against a CUDA-enabled PyTorch's libtorch where
# python3 has one (scripts/find-torch.sh), else Debian's. Extra arguments are build targets.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/find-torch.sh
./scripts/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
if [ ! -f build/CMakeCache.txt ]; then
  echo "Building against $TORCH_DESCRIPTION (VRAMGUARD_TORCH=debian chooses Debian's)"
  # The Python module is built for the python3 whose torch is the libtorch above.
  # Warnings are errors against Debian's libtorch (CI's gate); another compiler and libtorch may warn
  # where these do not.
  werror=ON
  [ -z "$TORCH_CMAKE_PREFIX" ] || werror=OFF
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DVRAMGUARD_WERROR=$werror -DPython3_EXECUTABLE="$TORCH_PYTHON" \
    ${TORCH_CMAKE_PREFIX:+"-DCMAKE_PREFIX_PATH=$TORCH_CMAKE_PREFIX"}
fi
if [ $# -gt 0 ]; then
  targets=(); for t in "$@"; do targets+=(--target "$t"); done
  cmake --build build --parallel "$jobs" "${targets[@]}"
else
  cmake --build build --parallel "$jobs"
fi
